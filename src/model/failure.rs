//! The kinds of failure every problem code shares: the middle digit of 1xx (polling),
//! 2xx (DNS) and 3xx (notification) codes (SPEC §6).

/// What kind of failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// 1: a socket error, refused or reset connection, unreachable.
    Network = 1,
    /// 2: no answer in time.
    Timeout = 2,
    /// 3: the peer closed the connection before the answer was complete.
    ClosedEarly = 3,
    /// 4: an answer arrived, but it is wrong or unexpected.
    WrongAnswer = 4,
    /// 5: the monitor's own resources ran out (file descriptors, memory, socket buffers).
    /// It says nothing about the peer, so it is never counted as the peer's failure.
    Local = 5,
}

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

/// Which part a problem comes from: the first digit of its code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Area {
    /// 1xx: polling a server.
    Polling = 1,
    /// 2xx: checking or updating a DNS server.
    Dns = 2,
    /// 3xx: sending a notification.
    Notification = 3,
}

/// A three-digit problem code (SPEC §6): area, kind of failure, stage. Polling, DNS and
/// notifications each have their own stages; [`ProblemCode::new`] is the one place that
/// puts the digits together.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct ProblemCode(u16);

impl ProblemCode {
    /// `area` `kind` `stage`; a stage is one digit (0-9).
    pub const fn new(area: Area, kind: FailureKind, stage: u8) -> Self {
        ProblemCode(100 * area as u16 + 10 * kind as u16 + (stage % 10) as u16)
    }

    /// `x00`: a fault of the area as a whole (a set that cannot poll, the outbox).
    pub const fn of_area(area: Area) -> Self {
        ProblemCode(100 * area as u16)
    }

    /// A code as it was stored or typed (history rows, the wire).
    pub const fn from_number(code: u16) -> Self {
        ProblemCode(code)
    }

    pub const fn get(self) -> u16 {
        self.0
    }

    /// The area, from the first digit; `None` for a number that is no problem code.
    pub fn area(self) -> Option<Area> {
        match self.0 / 100 {
            1 => Some(Area::Polling),
            2 => Some(Area::Dns),
            3 => Some(Area::Notification),
            _ => None,
        }
    }
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

impl PartialEq<u16> for ProblemCode {
    fn eq(&self, other: &u16) -> bool {
        self.0 == *other
    }
}

impl From<ProblemCode> for u16 {
    fn from(code: ProblemCode) -> u16 {
        code.0
    }
}

/// Codes as the engine's book and older callers still pass them.
impl From<u16> for ProblemCode {
    fn from(code: u16) -> Self {
        ProblemCode(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_area_kind_stage() {
        let code = ProblemCode::new(Area::Dns, FailureKind::WrongAnswer, 3);
        assert_eq!(code.get(), 243);
        assert_eq!(code.to_string(), "243");
        assert_eq!(code.area(), Some(Area::Dns));
        assert_eq!(ProblemCode::of_area(Area::Notification), 300);
        assert_eq!(ProblemCode::from_number(42).area(), None);
    }
}

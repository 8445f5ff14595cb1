//! Polling methods: one file per method behind one small trait (SPEC §1).
//!
//! A probe is built once per server set from its [`PollMethod`] (regexes compiled, TLS set
//! up) and then polls any server of the set. It never panics and never returns an error:
//! every way a poll can go wrong is a [`PollOutcome`] that says why, with its problem code.

pub mod certificate;
pub mod command;
pub mod dns;
pub mod ftp;
pub mod http;
pub mod ping;
pub mod tcp;
pub mod tls;

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::model::PollMethod;

/// A boxed future, so that the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One server as a probe sees it.
#[derive(Clone, Debug)]
pub struct PollTarget {
    /// The address to connect to (the poll address).
    pub address: IpAddr,
    /// The public address (for `$PUBLICIP$`).
    pub public_address: IpAddr,
    /// The display name (for `$SERVERNAME$`).
    pub name: String,
    /// The set's main host name (for `$HOST$`).
    pub host: String,
    /// The set's name (for `$SETNAME$`).
    pub set_name: String,
    /// The whole poll must end by then.
    pub timeout: Duration,
}

/// The values of the poll tags (`model::tags::POLL_TAGS`) for one server; `$PORT$` is
/// blank for a method without a port.
pub fn poll_tags(target: &PollTarget, port: Option<u16>) -> crate::model::tags::TagValues {
    crate::model::tags::TagValues::new()
        .with("SERVERIP", target.address.to_string())
        .with("PUBLICIP", target.public_address.to_string())
        .with("SERVERNAME", target.name.clone())
        .with("PORT", port.map(|p| p.to_string()).unwrap_or_default())
        .with("HOST", target.host.clone())
        .with("SETNAME", target.set_name.clone())
        .with("TIMEOUT", target.timeout.as_secs().to_string())
}

/// A polling method, ready to poll.
pub trait Probe: Send + Sync {
    /// Polls one server. Must end by `target.timeout` (a time-out is a failure that says at
    /// which stage it happened).
    fn poll<'a>(&'a self, target: &'a PollTarget) -> BoxFuture<'a, PollOutcome>;
}

/// Why a probe could not be built from its settings (e.g. a bad regex that slipped past
/// validation). The engine shows it as a problem of the set.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("bad regular expression: {0}")]
    Regex(#[from] regex::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} polling is not available in this build")]
    Unsupported(&'static str),
    /// A poll of a set whose probe was never built (the core should not ask for one).
    #[error("the set's polling method is not built")]
    NotBuilt,
}

/// Builds the probe for a set's polling method: the one `match` over the methods.
pub fn build(method: &PollMethod) -> Result<Arc<dyn Probe>, BuildError> {
    Ok(match method {
        PollMethod::Http(h) => Arc::new(http::HttpProbe::new(h)?),
        PollMethod::Tcp(t) => Arc::new(tcp::TcpProbe::new(t)?),
        PollMethod::Ping => Arc::new(ping::PingProbe::new()?),
        PollMethod::Dns(d) => Arc::new(dns::DnsProbe::new(d)?),
        PollMethod::Command(c) => Arc::new(command::CommandProbe::new(c)?),
    })
}

/// What kind of failure: the middle digit of a polling problem code (SPEC §6).
pub use crate::model::failure::FailureKind;
use crate::model::failure::{Area, ProblemCode};

/// Where a poll was when it failed: the last digit of a polling problem code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PollStage {
    /// 1: connecting (or sending the ICMP echo / DNS query, starting the program).
    Connecting = 1,
    /// 2: the TLS handshake.
    Tls = 2,
    /// 3: sending the request.
    Sending = 3,
    /// 4: waiting for the answer (greeting, response head, echo reply, exit).
    Waiting = 4,
    /// 5: reading the response head.
    ReadingHead = 5,
    /// 6: reading the body / output.
    ReadingBody = 6,
    /// 7: judging the response against the criteria.
    Judging = 7,
    /// 8: the answer was slower than the set's response-time limit (HTTP): code 128.
    ResponseTime = 8,
}

/// Why a poll failed, as kind + stage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Failure {
    pub kind: FailureKind,
    pub stage: PollStage,
}

impl Failure {
    pub fn new(kind: FailureKind, stage: PollStage) -> Self {
        Self { kind, stage }
    }

    /// The three-digit problem code: 1 (polling), kind, stage.
    pub fn problem_code(self) -> ProblemCode {
        ProblemCode::new(Area::Polling, self.kind, self.stage as u8)
    }

    /// [`Failure::problem_code`] as a number (the `$PCODE$` tag, history rows).
    pub fn code(self) -> u16 {
        self.problem_code().get()
    }
}

/// The result of one poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollOutcome {
    /// `None` = success.
    pub failure: Option<Failure>,
    /// A short human text: `200 OK`, `220 mail ready`, `timeout after 10 s connecting`.
    pub response: String,
    /// From the start of the poll to its end.
    pub elapsed: Duration,
    /// Something to warn about that does not fail the poll, e.g. `certificate expires in
    /// 5 days (2026-11-30)`. The engine shows it as a low-severity problem of its own.
    pub warning: Option<String>,
    /// HTTPS: the server certificate's notAfter (Unix seconds), when the handshake got
    /// that far (`/metrics` shows the days left).
    pub certificate_not_after: Option<i64>,
}

impl PollOutcome {
    pub fn success(response: impl Into<String>, elapsed: Duration) -> Self {
        Self {
            failure: None,
            response: response.into(),
            elapsed,
            warning: None,
            certificate_not_after: None,
        }
    }

    pub fn failure(failure: Failure, response: impl Into<String>, elapsed: Duration) -> Self {
        Self {
            failure: Some(failure),
            response: response.into(),
            elapsed,
            warning: None,
            certificate_not_after: None,
        }
    }

    /// Adds the certificate's notAfter (kept on success and failure alike).
    pub fn with_certificate(mut self, not_after: Option<i64>) -> Self {
        self.certificate_not_after = not_after;
        self
    }

    /// Adds a warning (kept on success and failure alike).
    pub fn with_warning(mut self, warning: Option<String>) -> Self {
        self.warning = warning;
        self
    }

    pub fn is_success(&self) -> bool {
        self.failure.is_none()
    }

    /// The poll could not run because the monitor itself ran short (kind 5): it says
    /// nothing about the server.
    pub fn is_local_fault(&self) -> bool {
        self.failure.is_some_and(|f| f.kind == FailureKind::Local)
    }
}

/// Runs one stage of a poll against the poll's deadline, turning a late answer into a
/// time-out failure that names the stage.
pub async fn stage<T, F>(
    deadline: Instant,
    stage: PollStage,
    what: &str,
    fut: F,
) -> Result<T, StageError>
where
    F: Future<Output = T>,
{
    tokio::time::timeout_at(deadline, fut)
        .await
        .map_err(|_| StageError {
            failure: Failure::new(FailureKind::Timeout, stage),
            text: format!("timeout {what}"),
        })
}

/// A failed stage: the failure and its text (the elapsed time is added by the caller).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageError {
    pub failure: Failure,
    pub text: String,
}

impl StageError {
    pub fn new(kind: FailureKind, stage: PollStage, text: impl Into<String>) -> Self {
        Self {
            failure: Failure::new(kind, stage),
            text: text.into(),
        }
    }

    pub fn into_outcome(self, elapsed: Duration) -> PollOutcome {
        PollOutcome::failure(self.failure, self.text, elapsed)
    }
}

/// A duration as operators read it in a response text: `10` for whole seconds, else `2.5`.
pub fn seconds(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        duration.as_secs().to_string()
    } else {
        format!("{:.1}", duration.as_secs_f64())
    }
}

/// Classifies an I/O error: a premature close is kind 3, a time-out kind 2, the monitor's
/// own shortage (out of file descriptors, memory, socket buffers) kind 5, the rest 1.
pub fn io_failure(stage: PollStage, error: &std::io::Error) -> StageError {
    use std::io::ErrorKind::*;
    if let Some(shortage) = crate::resources::shortage(error) {
        return local_failure(stage, shortage, error);
    }
    let kind = match error.kind() {
        UnexpectedEof | ConnectionAborted | BrokenPipe => FailureKind::ClosedEarly,
        TimedOut => FailureKind::Timeout,
        _ => FailureKind::Network,
    };
    StageError::new(kind, stage, error.to_string())
}

/// A poll that could not run because the monitor itself ran short: kind 5 (local), which
/// the engine never counts against the server. The text says so first.
pub fn local_failure(
    stage: PollStage,
    shortage: crate::resources::Shortage,
    error: &dyn std::fmt::Display,
) -> StageError {
    StageError::new(
        FailureKind::Local,
        stage,
        format!("{} ({error})", shortage.describe()),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes() {
        assert_eq!(
            Failure::new(FailureKind::Network, PollStage::Connecting).code(),
            111
        );
        assert_eq!(
            Failure::new(FailureKind::Timeout, PollStage::Waiting).code(),
            124
        );
        assert_eq!(
            Failure::new(FailureKind::WrongAnswer, PollStage::Judging).code(),
            147
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_monitors_own_shortage_is_a_local_failure() {
        let emfile = std::io::Error::from_raw_os_error(rustix::io::Errno::MFILE.raw_os_error());
        let failure = io_failure(PollStage::Connecting, &emfile);
        assert_eq!(failure.failure.kind, FailureKind::Local);
        assert_eq!(failure.failure.code(), 151);
        assert!(
            failure
                .text
                .starts_with("this monitor is out of file descriptors"),
            "{}",
            failure.text
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            io_failure(PollStage::Connecting, &refused).failure.kind,
            FailureKind::Network
        );
    }

    #[test]
    fn seconds_text() {
        assert_eq!(seconds(Duration::from_secs(10)), "10");
        assert_eq!(seconds(Duration::from_millis(2500)), "2.5");
    }
}

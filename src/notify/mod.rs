//! Notifications (SPEC §6): one small trait, [`Notifier`], one file per channel, chosen by
//! one `match` on [`NotificationKind`] in [`build`]; and the [`dispatcher`] that picks the
//! methods per set, coalesces repeats, keeps every message in the outbox until it is
//! delivered and retries with back-off.
//!
//! Problem codes of notifications (`3KS`): the second digit K is the kind of failure
//! (1 network error, 2 time-out, 3 connection closed early, 4 wrong or unexpected answer),
//! the third digit S the stage:
//!
//! | S | stage |
//! |---|-------|
//! | 0 | the method cannot be built from its settings (e.g. no recipient, a bad URL) |
//! | 1 | connecting (or starting the program, or reaching the log socket) |
//! | 2 | TLS and authentication |
//! | 3 | sending the message |
//! | 4 | the answer (the server's reply, the program's exit code) |

pub mod announcements;
pub mod command;
pub mod desktop;
pub mod dispatch_rules;
pub mod dispatcher;
pub mod email;
#[cfg(windows)]
pub mod eventlog;
pub mod http;
pub mod service;
pub mod shared;
#[cfg(unix)]
pub mod syslog;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use crate::model::tags::TagValues;
use crate::model::{EmailDefaults, EmailNotification, NotificationKind};

pub use dispatcher::{Dispatcher, Input, Notice, Report};

/// A boxed future, so that the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One way of telling someone. `send` renders the channel's templates with `tags` and
/// delivers; `Ok` carries a short text for the log (e.g. `250 OK`, `exit code 0`).
pub trait Notifier: Send + Sync {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>>;
}

/// What kind of failure (the second digit of the code).
pub use crate::model::failure::FailureKind;
use crate::model::failure::{Area, ProblemCode};

/// Where it failed (the third digit of the code); see the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Settings = 0,
    Connecting = 1,
    TlsAuth = 2,
    Sending = 3,
    Answer = 4,
}

/// A notification that was not delivered. The text names the server, URL or program and
/// carries the peer's answer; it never holds a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct NotifyError {
    pub kind: FailureKind,
    pub stage: Stage,
    pub text: String,
}

impl NotifyError {
    pub fn new(kind: FailureKind, stage: Stage, text: impl Into<String>) -> Self {
        Self {
            kind,
            stage,
            text: text.into(),
        }
    }

    /// Settings that cannot work (code 340).
    pub fn settings(text: impl Into<String>) -> Self {
        Self::new(FailureKind::WrongAnswer, Stage::Settings, text)
    }

    /// The three-digit problem code, `3KS`.
    pub fn problem_code(&self) -> ProblemCode {
        ProblemCode::new(Area::Notification, self.kind, self.stage as u8)
    }

    /// [`NotifyError::problem_code`] as a number.
    pub fn code(&self) -> u16 {
        self.problem_code().get()
    }
}

/// How notifications run on this machine; not part of the settings file.
#[derive(Clone, Debug)]
pub struct NotifyConfig {
    /// The embedded database that holds the outbox (and later the history), e.g.
    /// `standby.db` beside the settings file; `None` = in memory (lost at exit).
    pub database: Option<PathBuf>,
    /// The GUI is running: desktop notifications and sounds may be shown (when the Options
    /// say so). Headless mode leaves this off and never tries either.
    pub desktop: bool,
    /// The syslog socket; `None` = `/dev/log` (which the journal also serves).
    pub syslog_socket: Option<PathBuf>,
    /// Extra trusted root certificates (PEM) for SMTP over TLS, beside the platform roots.
    pub extra_roots_pem: Vec<Vec<u8>>,
    /// The first retry of a failed notification waits this long; each further one twice as
    /// long, up to `retry_max`.
    pub retry_first: Duration,
    pub retry_max: Duration,
    /// A send that takes longer is abandoned (and retried).
    pub send_timeout: Duration,
    /// Where the dispatcher reads the time (reminders, retries, coalescing windows).
    pub clock: NotifyClock,
    /// The dispatcher counts its outbox here; the engine shows it in the snapshot.
    pub outbox: std::sync::Arc<OutboxCounters>,
}

/// The dispatcher's counters, shared with the engine without a lock.
#[derive(Debug, Default)]
pub struct OutboxCounters {
    depth: std::sync::atomic::AtomicU64,
    delivered: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

/// [`OutboxCounters`] as read at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OutboxStats {
    /// Messages waiting in the outbox (being sent, or retried later).
    pub depth: u64,
    /// Deliveries since the start.
    pub delivered: u64,
    /// Failed tries (each retry counts) and dropped messages since the start.
    pub failed: u64,
}

impl OutboxCounters {
    pub fn stats(&self) -> OutboxStats {
        use std::sync::atomic::Ordering::Relaxed;
        OutboxStats {
            depth: self.depth.load(Relaxed),
            delivered: self.delivered.load(Relaxed),
            failed: self.failed.load(Relaxed),
        }
    }

    pub(crate) fn set_depth(&self, depth: usize) {
        let depth = u64::try_from(depth).unwrap_or(u64::MAX);
        self.depth
            .store(depth, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn delivered(&self) {
        self.delivered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(crate) fn failed(&self) {
        self.failed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The dispatcher's clock: the system's, or one the caller moves (tests: a reminder due in
/// 10 minutes is checked without waiting 10 minutes). The dispatcher looks at it whenever an
/// input arrives or a timer it set fires.
#[derive(Clone, Default)]
pub enum NotifyClock {
    #[default]
    System,
    /// Milliseconds since the Unix epoch, as the owner sets them.
    Manual(std::sync::Arc<std::sync::atomic::AtomicI64>),
}

impl NotifyClock {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            NotifyClock::System => announcements::ms_of(std::time::SystemTime::now()),
            NotifyClock::Manual(ms) => ms.load(std::sync::atomic::Ordering::SeqCst),
        }
    }
}

impl std::fmt::Debug for NotifyClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotifyClock::System => f.write_str("System"),
            NotifyClock::Manual(ms) => write!(
                f,
                "Manual({})",
                ms.load(std::sync::atomic::Ordering::SeqCst)
            ),
        }
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            database: None,
            desktop: false,
            syslog_socket: None,
            extra_roots_pem: Vec::new(),
            retry_first: Duration::from_secs(30),
            retry_max: Duration::from_secs(3600),
            send_timeout: Duration::from_secs(60),
            clock: NotifyClock::System,
            outbox: std::sync::Arc::default(),
        }
    }
}

/// Builds the notifier of one method. E-mail fields left to *use the defaults* are filled
/// from `defaults` here, so the outbox stores what will really be sent.
pub fn build(
    kind: &NotificationKind,
    config: &NotifyConfig,
) -> Result<Box<dyn Notifier>, NotifyError> {
    Ok(match kind {
        NotificationKind::Email(email) => Box::new(email::EmailNotifier::new(email, config)?),
        NotificationKind::Http(request) => Box::new(http::HttpNotifier::new(request, config)?),
        NotificationKind::Command(spec) => Box::new(command::CommandNotifier::new(spec)?),
        NotificationKind::SystemLog => system_log(config),
        NotificationKind::Service(s) => Box::new(service::ServiceNotifier::new(s)?),
    })
}

#[cfg(windows)]
fn system_log(_config: &NotifyConfig) -> Box<dyn Notifier> {
    Box::new(eventlog::EventLogNotifier)
}

#[cfg(unix)]
fn system_log(config: &NotifyConfig) -> Box<dyn Notifier> {
    Box::new(syslog::SyslogNotifier::new(config.syslog_socket.clone()))
}

/// The method with every *use the defaults* of an e-mail replaced by the default.
pub fn resolve(kind: &NotificationKind, defaults: &EmailDefaults) -> NotificationKind {
    match kind {
        NotificationKind::Email(email) => NotificationKind::Email(EmailNotification {
            to: email.to.clone(),
            from: Some(email.from.clone().unwrap_or_else(|| defaults.from.clone())),
            message: Some(
                email
                    .message
                    .clone()
                    .unwrap_or_else(|| defaults.message.clone()),
            ),
            smtp: Some(email.smtp.clone().unwrap_or_else(|| defaults.smtp.clone())),
        }),
        other => other.clone(),
    }
}

/// A short name of a method for logs and problem subjects (never a secret).
pub fn describe(kind: &NotificationKind) -> String {
    match kind {
        NotificationKind::Email(email) => format!("e-mail to {}", email.to.join(", ")),
        NotificationKind::Http(request) => {
            // Only up to the query: a token in the query string stays out of the log.
            let url = request.url.split('?').next().unwrap_or_default();
            format!("HTTP {url}")
        }
        NotificationKind::Command(spec) => format!("command {}", spec.program),
        NotificationKind::SystemLog => "system log".into(),
        // The service and its channel or topic only: the URLs of web hooks (and the API
        // paths of some) hold the secrets.
        NotificationKind::Service(s) if s.target.trim().is_empty() => s.service.label().into(),
        NotificationKind::Service(s) => format!("{} {}", s.service.label(), s.target.trim()),
    }
}

/// The name of this computer for `$COMPUTER$`.
pub fn computer_name() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Sends one test notification through `kind` now (the *Test...* button): the tags carry
/// sample values and `$EVENT$` is `Test`. Not stored in the outbox: the person who pressed
/// the button sees the result at once.
pub async fn send_test(
    kind: &NotificationKind,
    defaults: &EmailDefaults,
    config: &NotifyConfig,
) -> Result<String, NotifyError> {
    let resolved = resolve(kind, defaults);
    let notifier = build(&resolved, config)?;
    let tags = dispatch_rules::test_tags();
    match tokio::time::timeout(config.send_timeout, notifier.send(&tags)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(NotifyError::new(
            FailureKind::Timeout,
            Stage::Answer,
            format!(
                "{}: no result after {} s",
                describe(&resolved),
                config.send_timeout.as_secs()
            ),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let e = NotifyError::new(FailureKind::WrongAnswer, Stage::TlsAuth, "535");
        assert_eq!(e.code(), 342);
        assert_eq!(NotifyError::settings("x").code(), 340);
        let e = NotifyError::new(FailureKind::Network, Stage::Connecting, "refused");
        assert_eq!(e.code(), 311);
    }

    #[test]
    fn email_defaults_fill_what_is_left_open() {
        let defaults = EmailDefaults::default();
        let own = NotificationKind::Email(EmailNotification {
            to: vec!["a@example.test".into()],
            from: Some("me@example.test".into()),
            message: None,
            smtp: None,
        });
        let NotificationKind::Email(resolved) = resolve(&own, &defaults) else {
            panic!("not e-mail");
        };
        assert_eq!(resolved.from.as_deref(), Some("me@example.test"));
        assert_eq!(resolved.message.as_ref(), Some(&defaults.message));
        assert_eq!(resolved.smtp.as_ref(), Some(&defaults.smtp));
    }
}

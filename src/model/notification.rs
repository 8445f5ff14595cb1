//! Notification methods and the events they are sent for (SPEC §6).

use serde::{Deserialize, Serialize};

use super::criteria::CommandSpec;
use super::dns_server::HttpRequest;
use super::secret::Secret;

/// A change of state worth telling someone about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    ServerFailed,
    ServerRecovered,
    AllServersFailed,
    DnsUpdated,
    DnsUpdateFailed,
    DnsChangedExternally,
    SetPausedAutomatically,
    /// The built-in DNS server answers other addresses for a set.
    DnsServed,
    /// An operator forced a server up or down, or the override ended or was cleared.
    ServerOverridden,
    /// A server's maintenance window began or ended.
    Maintenance,
    Test,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::ServerFailed,
        EventKind::ServerRecovered,
        EventKind::AllServersFailed,
        EventKind::DnsUpdated,
        EventKind::DnsUpdateFailed,
        EventKind::DnsChangedExternally,
        EventKind::SetPausedAutomatically,
        EventKind::DnsServed,
        EventKind::ServerOverridden,
        EventKind::Maintenance,
        EventKind::Test,
    ];

    pub fn label(self) -> &'static str {
        match self {
            EventKind::ServerFailed => "Server failed",
            EventKind::ServerRecovered => "Server recovered",
            EventKind::AllServersFailed => "All servers failed",
            EventKind::DnsUpdated => "DNS updated",
            EventKind::DnsUpdateFailed => "DNS update failed",
            EventKind::DnsChangedExternally => "DNS records changed by someone else",
            EventKind::SetPausedAutomatically => "Set paused automatically",
            EventKind::DnsServed => "DNS serving changed",
            EventKind::ServerOverridden => "Server forced up/down by an operator",
            EventKind::Maintenance => "Maintenance began or ended",
            EventKind::Test => "Test",
        }
    }

    /// The event that resolves this one for the same subject (a recovery after a failure),
    /// if it has one.
    pub fn resolved_by(self) -> Option<EventKind> {
        match self {
            EventKind::ServerFailed => Some(EventKind::ServerRecovered),
            EventKind::DnsUpdateFailed => Some(EventKind::DnsUpdated),
            _ => None,
        }
    }

    /// The problem this event resolves for the same subject, if any: the reverse of
    /// [`Self::resolved_by`] (records put back after someone changed them also end a
    /// failing update).
    pub fn resolves(self) -> Option<EventKind> {
        match self {
            EventKind::ServerRecovered => Some(EventKind::ServerFailed),
            EventKind::DnsUpdated | EventKind::DnsChangedExternally => {
                Some(EventKind::DnsUpdateFailed)
            }
            _ => None,
        }
    }

    /// `critical`, `error`, `warning` or `info` (the `$SEVERITY$` tag).
    pub fn severity(self) -> &'static str {
        match self {
            EventKind::AllServersFailed => "critical",
            EventKind::ServerFailed | EventKind::DnsUpdateFailed => "error",
            EventKind::DnsChangedExternally
            | EventKind::SetPausedAutomatically
            | EventKind::ServerOverridden => "warning",
            EventKind::ServerRecovered
            | EventKind::DnsUpdated
            | EventKind::DnsServed
            | EventKind::Maintenance
            | EventKind::Test => "info",
        }
    }

    /// Something went wrong: what the desktop balloon and sound ("on problems") are for.
    pub fn is_problem(self) -> bool {
        match self {
            EventKind::ServerFailed
            | EventKind::AllServersFailed
            | EventKind::DnsUpdateFailed
            | EventKind::DnsChangedExternally
            | EventKind::SetPausedAutomatically => true,
            EventKind::ServerRecovered
            | EventKind::DnsUpdated
            | EventKind::DnsServed
            | EventKind::ServerOverridden
            | EventKind::Maintenance
            | EventKind::Test => false,
        }
    }
}

/// One way to tell someone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationMethod {
    pub kind: NotificationKind,
    /// The events this method is sent for.
    pub events: Vec<EventKind>,
    /// Repeat a problem's message every this many minutes while the problem lasts (a
    /// failed server, a failing DNS update); 0 = never.
    pub remind_every_mins: u32,
    pub notes: String,
}

impl Default for NotificationMethod {
    fn default() -> Self {
        Self {
            kind: NotificationKind::default(),
            events: EventKind::ALL.to_vec(),
            remind_every_mins: 0,
            notes: String::new(),
        }
    }
}

/// The channel of a notification method.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationKind {
    Email(EmailNotification),
    Http(HttpRequest),
    Command(CommandSpec),
    /// The Windows Event Log on Windows; syslog / the journal elsewhere.
    SystemLog,
    /// A chat or paging service (Slack, Teams, PagerDuty...): its documented JSON request.
    Service(super::services::ServiceNotification),
}

impl Default for NotificationKind {
    fn default() -> Self {
        NotificationKind::Email(EmailNotification::default())
    }
}

impl NotificationKind {
    pub fn label(&self) -> &'static str {
        match self {
            NotificationKind::Email(_) => "E-mail",
            NotificationKind::Http(_) => "HTTP",
            NotificationKind::Command(_) => "Command line",
            NotificationKind::SystemLog => "System log",
            NotificationKind::Service(_) => "Chat or paging service",
        }
    }
}

/// An e-mail notification; each `None` means *use the defaults* of the E-mail defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailNotification {
    /// Recipients.
    pub to: Vec<String>,
    pub from: Option<String>,
    pub message: Option<EmailMessage>,
    pub smtp: Option<SmtpServer>,
}

/// Subject and body, with tags.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailMessage {
    pub subject: String,
    pub body: String,
}

impl Default for EmailMessage {
    fn default() -> Self {
        Self {
            subject: "Standby: $EVENT$ - $SETNAME$ $SERVERNAME$".into(),
            body: "$EVENT$ at $TIME$\nServer set: $SETNAME$ ($HOST$)\nServer: $SERVERNAME$ ($SERVERIP$)\nStatus: $STATUS$\nResponse: $RESPONSE$\nProblem: $PCODE$ $PROBLEM$\nOld addresses: $OLDIPS$\nNew addresses: $NEWIPS$\n-- Standby on $COMPUTER$\n".into(),
        }
    }
}

/// Connection security of an SMTP server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SmtpSecurity {
    #[default]
    Plain,
    StartTls,
    Tls,
}

/// An SMTP login.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpLogin {
    pub user: String,
    pub password: Secret,
}

/// An SMTP server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpServer {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub login: Option<SmtpLogin>,
}

impl Default for SmtpServer {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 25,
            security: SmtpSecurity::Plain,
            login: None,
        }
    }
}

/// The E-mail defaults dialog.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailDefaults {
    pub from: String,
    pub message: EmailMessage,
    pub smtp: SmtpServer,
}

impl Default for EmailDefaults {
    fn default() -> Self {
        Self {
            from: "standby@localhost".into(),
            message: EmailMessage::default(),
            smtp: SmtpServer::default(),
        }
    }
}

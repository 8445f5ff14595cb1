//! The Options dialog, section by section (SPEC §9).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::dns_server::DnsServer;
use super::notification::NotificationMethod;
use super::secret::Secret;

/// Global options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    pub user_interface: UserInterfaceOptions,
    pub polling: PollingOptions,
    pub notification: NotificationOptions,
    pub dns_updating: DnsUpdatingOptions,
    pub dns_serving: DnsServingOptions,
    pub logging: LoggingOptions,
    pub http_api: HttpApiOptions,
    pub system_log: SystemLogOptions,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserInterfaceOptions {
    /// Start minimised to the tray.
    pub start_in_tray: bool,
    /// Start the window when the operator logs in (the desktop's autostart).
    pub start_at_login: bool,
    /// Closing the main window hides it to the tray instead of quitting the UI.
    pub close_to_tray: bool,
    /// A desktop notification (tray balloon) when a problem appears.
    pub desktop_notification: bool,
    /// Play a sound when a problem appears.
    pub play_sound: bool,
    /// The sound file; `None` = the built-in sound.
    pub sound_file: Option<PathBuf>,
}

impl Default for UserInterfaceOptions {
    fn default() -> Self {
        Self {
            start_in_tray: false,
            start_at_login: false,
            close_to_tray: true,
            desktop_notification: true,
            play_sound: false,
            sound_file: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollingOptions {
    /// The most polls in flight at once, over all sets.
    pub max_concurrent_polls: u32,
    /// All polling paused (the tool bar's toggle).
    pub paused: bool,
    /// Store only changes of status in the history, not every poll.
    pub history_only_changes: bool,
    /// Days after which history is purged.
    pub history_purge_days: u32,
}

impl Default for PollingOptions {
    fn default() -> Self {
        Self {
            max_concurrent_polls: 100,
            paused: false,
            history_only_changes: false,
            history_purge_days: 30,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationOptions {
    /// Methods used by every set that says *use the defaults*.
    pub default_methods: Vec<NotificationMethod>,
    /// Seconds in which repeats of the same event for the same subject are coalesced.
    pub coalesce_secs: u32,
}

impl Default for NotificationOptions {
    fn default() -> Self {
        Self {
            default_methods: Vec::new(),
            coalesce_secs: 300,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsUpdatingOptions {
    /// The most DNS updates in flight at once.
    pub max_concurrent_updates: u32,
    /// DNS servers used by every set that says *use the default DNS servers*.
    pub default_dns_servers: Vec<DnsServer>,
}

impl Default for DnsUpdatingOptions {
    fn default() -> Self {
        Self {
            max_concurrent_updates: 10,
            default_dns_servers: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsServingOptions {
    /// Answer DNS for the sets' host names.
    pub enabled: bool,
    /// Address to listen on (UDP and TCP).
    pub listen_address: String,
    pub port: u16,
    /// Forward other queries instead of refusing them.
    pub forward: bool,
    /// The DNS server that gets forwarded queries.
    pub forward_to: String,
    pub forward_port: u16,
    /// Clear RD in forwarded requests and RA in their answers.
    pub clear_recursion_flags: bool,
    /// The most TCP connections open at once; one more is closed at once (counted and
    /// logged), so that idle connections cannot use up the process's file descriptors.
    pub max_tcp_connections: u32,
    /// Seconds a TCP connection may wait for its next query before it is closed.
    pub tcp_idle_secs: u32,
    /// The most forwarded queries waiting for their answer at once; one more gets
    /// SERVFAIL (counted and logged), so that a slow upstream cannot pile up sockets.
    pub max_forwards_in_flight: u32,
}

impl Default for DnsServingOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            listen_address: "127.0.0.1".into(),
            port: 53,
            forward: false,
            forward_to: String::new(),
            forward_port: 53,
            clear_recursion_flags: false,
            max_tcp_connections: 100,
            tcp_idle_secs: 10,
            max_forwards_in_flight: 100,
        }
    }
}

/// How often a new log file is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogRotation {
    Hourly,
    #[default]
    Daily,
    Monthly,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingOptions {
    /// Lines kept in memory for the Log tab and the API.
    pub memory_lines: u32,
    /// Also write the log to files.
    pub to_files: bool,
    /// Directory of the log files; `None` = `logs` beside the settings file.
    pub directory: Option<PathBuf>,
    pub rotation: LogRotation,
    /// Time stamps in UTC instead of local time.
    pub utc: bool,
}

impl Default for LoggingOptions {
    fn default() -> Self {
        Self {
            memory_lines: 1000,
            to_files: false,
            directory: None,
            rotation: LogRotation::Daily,
            utc: false,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpApiOptions {
    pub enabled: bool,
    /// Address and port, e.g. `127.0.0.1:8100`.
    pub listen: String,
    /// Password of user `admin`; blank = none.
    pub password: Secret,
    /// Log every request.
    pub log_requests: bool,
    /// Host names (besides the listen address, IP literals and `localhost`) that clients
    /// use to reach the API. Requests naming another host are refused (DNS rebinding).
    pub allowed_hosts: Vec<String>,
    /// Tokens that may read but not change (`Authorization: Bearer TOKEN`): dashboards,
    /// Prometheus' `/metrics`. Only with a password set.
    pub read_tokens: Vec<Secret>,
}

impl Default for HttpApiOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            listen: "127.0.0.1:8100".into(),
            password: Secret::default(),
            log_requests: false,
            allowed_hosts: Vec::new(),
            read_tokens: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SystemLogOptions {
    /// Write events to the Windows Event Log / syslog.
    pub enabled: bool,
}

//! UI → engine: one closed set of commands over a bounded channel.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::edit::{EditError, SettingsEdit};
use crate::model::{NotificationMethod, Settings};
use crate::notify::Report;

/// Called by the engine when the snapshot changed; the GUI sets it to
/// `ctx.request_repaint()`. The engine never names egui.
pub type RepaintWaker = Arc<dyn Fn() + Send + Sync>;

/// Where the outcome of a command goes, if the sender wants it.
pub type Reply = oneshot::Sender<Result<(), EditError>>;

/// Everything the UI (or the API) can ask of the engine.
pub enum Command {
    /// Pause all polling; saved in the settings, so it survives a restart.
    PauseAll,
    /// Resume all polling.
    ResumeAll,
    /// Poll every server of every set that is not paused, now.
    PollAll,
    /// Pause one set (by name); saved in the settings.
    PauseSet(String),
    /// Resume one set, also one that paused itself after a failure.
    ResumeSet(String),
    /// Poll every server of one set now.
    PollSet(String),
    /// Replace the settings: validated, saved atomically to the settings file (when there
    /// is one), then applied. Server state is kept for servers that still exist. The reply
    /// gets every validation error, or the write error, and nothing changes then.
    ApplySettings {
        settings: Box<Settings>,
        reply: Option<Reply>,
    },
    /// A typed change of the settings in force (the API's writes): applied to the engine's
    /// current settings, never to a copy read earlier, then validated, saved and installed
    /// like [`Command::ApplySettings`]. With `if_revision` it is refused with
    /// [`EditError::Conflict`] when the settings changed since that revision. The reply gets
    /// the new revision ([`super::Snapshot::settings_revision`]).
    EditSettings {
        edit: SettingsEdit,
        if_revision: Option<u64>,
        reply: oneshot::Sender<Result<u64, EditError>>,
    },
    /// Empty the in-memory log.
    ClearLog,
    /// A line for the log from a part that runs beside the engine (the API and DNS
    /// serving: a port they cannot listen on must show in the Log tab, not on stderr only).
    Log { level: super::Level, text: String },
    /// Ping an address once a second (the Ping window); replies go to `replies` until it
    /// is dropped.
    Ping {
        address: std::net::IpAddr,
        replies: tokio::sync::mpsc::Sender<super::ping::PingReply>,
    },
    /// Read the polling history; the rows (oldest first) or the database error go to `reply`.
    QueryHistory {
        filter: crate::store::history::HistoryFilter,
        reply: crate::store::writer::QueryReply,
    },
    /// Read the polling history like [`Command::QueryHistory`] and write it as CSV to
    /// `path` (the *Save CSV...* button). The file is written on the history thread, never
    /// on the UI thread; the reply gets the number of rows written or the exact error.
    SaveHistoryCsv {
        filter: crate::store::history::HistoryFilter,
        path: std::path::PathBuf,
        reply: oneshot::Sender<Result<usize, String>>,
    },
    /// Write a support file to `path` (File → *Support file...*): the settings with every
    /// secret shown as `***`, the current problems and the live log. Written on a blocking
    /// thread; the reply gets the path written or the exact error.
    WriteSupportFile {
        path: std::path::PathBuf,
        reply: oneshot::Sender<Result<std::path::PathBuf, String>>,
    },
    /// Call this after each new snapshot (the GUI's repaint request).
    SetRepaintWaker(RepaintWaker),
    /// Send a test notification through `method` now (the *Test...* button), with sample
    /// tag values. The reply gets the notifier's text on success (e.g. the SMTP server's
    /// answer) or the exact error with its 3xx code. Routed by [`super::EngineClient`] to
    /// the notification dispatcher, so a slow server never holds up the engine loop.
    TestNotification {
        method: Box<NotificationMethod>,
        reply: oneshot::Sender<Result<String, String>>,
    },
    /// From the notification dispatcher: a message was delivered (the problem of its method
    /// is resolved, the outcome is logged) or failed (a 3xx problem is raised).
    NotificationReport(Report),
    /// Stop every task and end the engine thread.
    Shutdown,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::PauseAll => f.write_str("PauseAll"),
            Command::ResumeAll => f.write_str("ResumeAll"),
            Command::PollAll => f.write_str("PollAll"),
            Command::PauseSet(s) => write!(f, "PauseSet({s:?})"),
            Command::ResumeSet(s) => write!(f, "ResumeSet({s:?})"),
            Command::PollSet(s) => write!(f, "PollSet({s:?})"),
            Command::ApplySettings { .. } => f.write_str("ApplySettings"),
            Command::EditSettings { if_revision, .. } => {
                write!(f, "EditSettings(if revision {if_revision:?})")
            }
            Command::ClearLog => f.write_str("ClearLog"),
            Command::Log { level, text } => write!(f, "Log({level:?}, {text:?})"),
            Command::Ping { address, .. } => write!(f, "Ping({address})"),
            Command::QueryHistory { filter, .. } => write!(f, "QueryHistory({filter:?})"),
            Command::SaveHistoryCsv { filter, path, .. } => {
                write!(f, "SaveHistoryCsv({filter:?}, {})", path.display())
            }
            Command::WriteSupportFile { path, .. } => {
                write!(f, "WriteSupportFile({})", path.display())
            }
            Command::SetRepaintWaker(_) => f.write_str("SetRepaintWaker"),
            Command::TestNotification { .. } => f.write_str("TestNotification"),
            Command::NotificationReport(r) => write!(f, "NotificationReport({r:?})"),
            Command::Shutdown => f.write_str("Shutdown"),
        }
    }
}

//! Into the engine: a closed, serializable set of [`Command`]s (nothing answers them) and
//! [`Request`]s (each gets one [`Response`]). Neither holds a channel, so both can cross a
//! process (an attached window, a remote one): there a request travels with an id and its
//! response comes back with the same id. Inside this process a request travels as a
//! [`Call`], which pairs it with the place its response goes, and a [`Pending`] waits for
//! that response with the right type.
//!
//! What only makes sense inside this process (the GUI's repaint waker, the Ping window's
//! stream of replies, the notification dispatcher's reports) is an [`Inbound`] of its own,
//! not a command.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use super::edit::{EditError, SettingsEdit};
use crate::model::{NotificationMethod, Settings};
use crate::notify::Report;
use crate::store::events::{EventFilter, HistoryEvent};
use crate::store::history::{HistoryFilter, HistoryRow};
use crate::store::report::{SlaReport, UptimeReport};

/// Called by the engine when the snapshot changed; the GUI sets it to
/// `ctx.request_repaint()`. The engine never names egui.
pub type RepaintWaker = Arc<dyn Fn() + Send + Sync>;

/// Everything the UI (or the API) can tell the engine without waiting for an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
    /// Empty the in-memory log.
    ClearLog,
    /// A line for the log from a part that runs beside the engine (the API and DNS
    /// serving: a port they cannot listen on must show in the Log tab, not on stderr only).
    Log { level: super::Level, text: String },
    /// DNS serving now answers `new_ips` for the set's host names (it answered `old_ips`):
    /// logged, and a `DnsServed` event for notifications.
    DnsServed {
        set: String,
        host: String,
        old_ips: Vec<std::net::IpAddr>,
        new_ips: Vec<std::net::IpAddr>,
    },
    /// Stop every task and end the engine thread.
    Shutdown,
}

/// Everything that gets an answer: each request gets exactly one [`Response`], of the
/// variant named beside it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Request {
    /// Replace the settings: validated, saved atomically to the settings file (when there
    /// is one), then applied. Server state is kept for servers that still exist.
    /// → [`Response::Applied`]: every validation error, or the write error, and nothing
    /// changes then.
    ApplySettings(Box<Settings>),
    /// A typed change of the settings in force (the API's writes, a dialog's OK): applied
    /// to the engine's current settings, never to a copy read earlier, then validated,
    /// saved and installed like [`Request::ApplySettings`]. With `if_revision` it is
    /// refused with [`EditError::Conflict`] when the settings changed since that revision.
    /// → [`Response::Edited`] with the new revision ([`super::Snapshot::settings_revision`]).
    EditSettings {
        edit: SettingsEdit,
        if_revision: Option<u64>,
    },
    /// Read the polling history. → [`Response::History`]: the rows (oldest first) or the
    /// database error.
    QueryHistory(HistoryFilter),
    /// Read the polling history like [`Request::QueryHistory`] and write it as CSV to
    /// `path` (the *Save CSV...* button), on the history thread. → [`Response::CsvSaved`]:
    /// the number of rows written or the exact error.
    SaveHistoryCsv {
        filter: HistoryFilter,
        path: PathBuf,
    },
    /// Uptime and response-time percentiles of every server and set over the last 24 h,
    /// 7 d and 30 d, computed on the history thread. → [`Response::Uptime`].
    Uptime,
    /// The SLA report of every set over `[from, to)` (Unix seconds). → [`Response::Sla`].
    SlaReport { from: i64, to: i64 },
    /// Write the SLA report of every set over `[from, to)` to `path`, as an HTML page
    /// (`html`) or CSV, on the history thread. → [`Response::CsvSaved`]: the sets written.
    SaveSlaReport {
        from: i64,
        to: i64,
        html: bool,
        path: PathBuf,
    },
    /// Read the event history (DNS updates, notifications, pauses, overrides, settings
    /// changes). → [`Response::Events`]: the events (oldest first) or the database error.
    QueryEvents(EventFilter),
    /// Read the events like [`Request::QueryEvents`] and write them as CSV to `path`.
    /// → [`Response::CsvSaved`].
    SaveEventsCsv { filter: EventFilter, path: PathBuf },
    /// Write a support file to the path (File → *Support file...*): the settings with
    /// every secret shown as `***`, the current problems and the live log, on a blocking
    /// thread. → [`Response::SupportFile`]: the path written or the exact error.
    WriteSupportFile(PathBuf),
    /// The text of the support file, as [`Request::WriteSupportFile`] would write it (for
    /// the API's `GET /support`: a remote window saves it on its own machine).
    /// → [`Response::SupportText`].
    SupportText,
    /// Send a test notification through the method now (the *Test...* button), with
    /// sample tag values, on the notification dispatcher (a slow server never holds up
    /// the engine loop). → [`Response::TestSent`]: the notifier's text on success (e.g.
    /// the SMTP server's answer) or the exact error with its 3xx code.
    TestNotification(Box<NotificationMethod>),
}

/// The support file's text ([`Request::SupportText`]), already without secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupportText(pub String);

/// The answer to one [`Request`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Response {
    Applied(Result<(), EditError>),
    Edited(Result<u64, EditError>),
    History(Result<Vec<HistoryRow>, CallError>),
    CsvSaved(Result<usize, CallError>),
    SupportFile(Result<PathBuf, CallError>),
    SupportText(Result<SupportText, CallError>),
    TestSent(Result<String, CallError>),
    Uptime(Result<UptimeReport, CallError>),
    Sla(Result<SlaReport, CallError>),
    Events(Result<Vec<HistoryEvent>, CallError>),
}

/// Why a request other than a settings change failed. Plain data, so that it crosses a
/// process like the rest of the response; the texts are those of the part that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CallError {
    #[error("the engine did not answer")]
    NoAnswer,
    /// Too many requests of this kind at once, or the part that serves them is off.
    #[error("{0}")]
    Busy(String),
    /// The history database could not be read.
    #[error("{0}")]
    History(String),
    /// A file could not be written (the CSV, the support file); the text names it.
    #[error("{0}")]
    File(String),
    /// A test notification failed: its 3xx problem code and the exact error.
    #[error("{code} {text}")]
    Notification { code: u16, text: String },
}

/// The typed answer of one kind of request, taken out of its [`Response`].
pub trait Answer: Sized {
    fn from_response(response: Response) -> Option<Self>;
    /// The answer when none came: the engine stopped (or answered another kind, which
    /// would be a bug of the engine, and is reported the same way rather than hidden).
    fn no_answer() -> Self;
}

macro_rules! answer {
    ($ty:ty, $variant:ident, $none:expr) => {
        impl Answer for $ty {
            fn from_response(response: Response) -> Option<Self> {
                match response {
                    Response::$variant(answer) => Some(answer),
                    _ => None,
                }
            }
            fn no_answer() -> Self {
                Err($none)
            }
        }
    };
}

answer!(Result<(), EditError>, Applied, EditError::Stopped);
answer!(Result<u64, EditError>, Edited, EditError::Stopped);
answer!(
    Result<Vec<HistoryRow>, CallError>,
    History,
    CallError::NoAnswer
);
answer!(Result<usize, CallError>, CsvSaved, CallError::NoAnswer);
answer!(Result<PathBuf, CallError>, SupportFile, CallError::NoAnswer);
answer!(Result<String, CallError>, TestSent, CallError::NoAnswer);
answer!(Result<SupportText, CallError>, SupportText, CallError::NoAnswer);
answer!(Result<UptimeReport, CallError>, Uptime, CallError::NoAnswer);
answer!(Result<SlaReport, CallError>, Sla, CallError::NoAnswer);
answer!(
    Result<Vec<HistoryEvent>, CallError>,
    Events,
    CallError::NoAnswer
);

/// A [`Request`] on its way inside this process, with the place its response goes.
pub struct Call {
    pub request: Request,
    reply: oneshot::Sender<Response>,
}

impl Call {
    fn new<T: Answer>(request: Request) -> (Call, Pending<T>) {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            answer: Some(answer),
            kind: PhantomData,
        };
        (Call { request, reply }, pending)
    }

    /// Where the response goes, split from the request (the engine's side).
    pub(crate) fn into_parts(self) -> (Request, Responder) {
        (self.request, Responder(self.reply))
    }

    pub fn apply_settings(settings: Settings) -> (Call, Pending<Result<(), EditError>>) {
        Call::new(Request::ApplySettings(Box::new(settings)))
    }

    pub fn edit_settings(
        edit: SettingsEdit,
        if_revision: Option<u64>,
    ) -> (Call, Pending<Result<u64, EditError>>) {
        Call::new(Request::EditSettings { edit, if_revision })
    }

    pub fn query_history(
        filter: HistoryFilter,
    ) -> (Call, Pending<Result<Vec<HistoryRow>, CallError>>) {
        Call::new(Request::QueryHistory(filter))
    }

    pub fn save_history_csv(
        filter: HistoryFilter,
        path: PathBuf,
    ) -> (Call, Pending<Result<usize, CallError>>) {
        Call::new(Request::SaveHistoryCsv { filter, path })
    }

    pub fn support_text() -> (Call, Pending<Result<SupportText, CallError>>) {
        Call::new(Request::SupportText)
    }

    pub fn uptime() -> (Call, Pending<Result<UptimeReport, CallError>>) {
        Call::new(Request::Uptime)
    }

    pub fn sla_report(from: i64, to: i64) -> (Call, Pending<Result<SlaReport, CallError>>) {
        Call::new(Request::SlaReport { from, to })
    }

    pub fn save_sla_report(
        from: i64,
        to: i64,
        html: bool,
        path: PathBuf,
    ) -> (Call, Pending<Result<usize, CallError>>) {
        Call::new(Request::SaveSlaReport {
            from,
            to,
            html,
            path,
        })
    }

    pub fn query_events(
        filter: EventFilter,
    ) -> (Call, Pending<Result<Vec<HistoryEvent>, CallError>>) {
        Call::new(Request::QueryEvents(filter))
    }

    pub fn save_events_csv(
        filter: EventFilter,
        path: PathBuf,
    ) -> (Call, Pending<Result<usize, CallError>>) {
        Call::new(Request::SaveEventsCsv { filter, path })
    }

    pub fn write_support_file(path: PathBuf) -> (Call, Pending<Result<PathBuf, CallError>>) {
        Call::new(Request::WriteSupportFile(path))
    }

    pub fn test_notification(
        method: NotificationMethod,
    ) -> (Call, Pending<Result<String, CallError>>) {
        Call::new(Request::TestNotification(Box::new(method)))
    }

    /// Any request, answered with the untyped [`Response`] (for a proxy that carries
    /// requests from another process).
    pub fn any(request: Request) -> (Call, oneshot::Receiver<Response>) {
        let (reply, answer) = oneshot::channel();
        (Call { request, reply }, answer)
    }
}

/// The engine's end of a [`Call`]: answers it exactly once.
pub(crate) struct Responder(oneshot::Sender<Response>);

impl Responder {
    pub fn send(self, response: Response) {
        // The caller may have gone (a dialog closed): nobody to tell then.
        let _ = self.0.send(response);
    }

    /// A typed sender for a part below the engine that answers with `T` (the history
    /// thread, the notification dispatcher): its answer is wrapped into the response.
    pub fn typed<T: Send + 'static>(self, wrap: fn(T) -> Response) -> oneshot::Sender<T> {
        let (tx, rx) = oneshot::channel();
        tokio::spawn(async move {
            if let Ok(answer) = rx.await {
                self.send(wrap(answer));
            }
        });
        tx
    }
}

/// Waits for the answer of one [`Call`], typed.
pub struct Pending<T> {
    answer: Option<oneshot::Receiver<Response>>,
    kind: PhantomData<fn() -> T>,
}

impl<T: Answer> Pending<T> {
    /// The answer if it has come (for the UI thread, once a frame); `None` while it has
    /// not, and after it was taken.
    pub fn try_take(&mut self) -> Option<T> {
        match self.try_recv() {
            Ok(answer) => Some(answer),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => Some(T::no_answer()),
        }
    }

    /// Like a oneshot receiver's `try_recv`: `Empty` until the answer comes, `Closed`
    /// when none will (the engine stopped), or after it was taken.
    pub fn try_recv(&mut self) -> Result<T, oneshot::error::TryRecvError> {
        let Some(answer) = self.answer.as_mut() else {
            return Err(oneshot::error::TryRecvError::Closed);
        };
        let taken = match answer.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => {
                return Err(oneshot::error::TryRecvError::Empty);
            }
            Ok(response) => Ok(T::from_response(response).unwrap_or_else(T::no_answer)),
            Err(oneshot::error::TryRecvError::Closed) => Err(oneshot::error::TryRecvError::Closed),
        };
        self.answer = None;
        taken
    }

    /// Waits for the answer.
    pub async fn wait(mut self) -> T {
        match self.answer.take() {
            Some(answer) => match answer.await {
                Ok(response) => T::from_response(response).unwrap_or_else(T::no_answer),
                Err(_) => T::no_answer(),
            },
            None => T::no_answer(),
        }
    }
}

/// What travels down the engine's channel inside this process.
pub enum Inbound {
    Command(Command),
    Call(Call),
    /// Ping an address once a second (the Ping window); replies go to `replies` until it
    /// is dropped.
    Ping {
        address: std::net::IpAddr,
        replies: mpsc::Sender<super::ping::PingReply>,
    },
    /// Call this after each new snapshot (the GUI's repaint request).
    SetRepaintWaker(RepaintWaker),
    /// From the notification dispatcher: a message was delivered (the problem of its
    /// method is resolved, the outcome is logged) or failed (a 3xx problem is raised).
    NotificationReport(Report),
}

impl From<Command> for Inbound {
    fn from(command: Command) -> Self {
        Inbound::Command(command)
    }
}

impl From<Call> for Inbound {
    fn from(call: Call) -> Self {
        Inbound::Call(call)
    }
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Inbound::Command(command) => write!(f, "{command:?}"),
            // Not the request itself: settings hold secrets.
            Inbound::Call(call) => f.write_str(match &call.request {
                Request::ApplySettings(_) => "ApplySettings",
                Request::EditSettings { .. } => "EditSettings",
                Request::QueryHistory(_) => "QueryHistory",
                Request::SaveHistoryCsv { .. } => "SaveHistoryCsv",
                Request::WriteSupportFile(_) => "WriteSupportFile",
                Request::SupportText => "SupportText",
                Request::Uptime => "Uptime",
                Request::SlaReport { .. } => "SlaReport",
                Request::SaveSlaReport { .. } => "SaveSlaReport",
                Request::QueryEvents(_) => "QueryEvents",
                Request::SaveEventsCsv { .. } => "SaveEventsCsv",
                Request::TestNotification(_) => "TestNotification",
            }),
            Inbound::Ping { address, .. } => write!(f, "Ping({address})"),
            Inbound::SetRepaintWaker(_) => f.write_str("SetRepaintWaker"),
            Inbound::NotificationReport(r) => write!(f, "NotificationReport({r:?})"),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn commands_requests_and_responses_cross_a_process_unchanged() {
        let commands = vec![
            Command::PauseSet("web".into()),
            Command::Log {
                level: super::super::Level::Warning,
                text: "port 53 busy".into(),
            },
        ];
        let json = serde_json::to_string(&commands).unwrap();
        assert_eq!(
            serde_json::from_str::<Vec<Command>>(&json).unwrap(),
            commands
        );
        let request = Request::EditSettings {
            edit: SettingsEdit::DeleteSet("web".into()),
            if_revision: Some(7),
        };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), request);
        let response = Response::Edited(Err(EditError::Conflict {
            expected: 7,
            current: 8,
        }));
        let json = serde_json::to_string(&response).unwrap();
        assert_eq!(serde_json::from_str::<Response>(&json).unwrap(), response);
    }

    #[test]
    fn a_pending_answer_is_typed_and_taken_once() {
        let (call, mut pending) = Call::write_support_file(PathBuf::from("/tmp/x"));
        assert!(pending.try_take().is_none());
        let (_, responder) = call.into_parts();
        responder.send(Response::SupportFile(Ok(PathBuf::from("/tmp/x"))));
        assert_eq!(pending.try_take(), Some(Ok(PathBuf::from("/tmp/x"))));
        assert!(pending.try_recv().is_err());
    }

    #[test]
    fn a_dropped_or_mismatched_answer_says_the_engine_did_not_answer() {
        let (call, mut pending) = Call::test_notification(NotificationMethod::default());
        drop(call);
        assert_eq!(pending.try_take(), Some(Err(CallError::NoAnswer)));
        let (call, mut pending) = Call::edit_settings(SettingsEdit::DeleteSet("a".into()), None);
        call.into_parts()
            .1
            .send(Response::TestSent(Ok(String::new())));
        assert_eq!(pending.try_take(), Some(Err(EditError::Stopped)));
    }
}

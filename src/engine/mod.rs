//! The engine: scheduler, server state machines, address decision, problems and events.
//!
//! It runs on its own thread with its own tokio runtime. The UI (or the API, or headless
//! mode) talks to it through an [`EngineHandle`]: [`Command`]s and [`Request`]s in over a
//! bounded channel, an immutable [`Snapshot`] out through `tokio::sync::watch`, and a
//! repaint waker that the engine calls after each new snapshot. The engine never names egui.

pub mod cluster_status;
pub mod command;
pub mod decision;
pub mod delta;
pub mod dns_sync;
mod dns_worker;
pub mod edit;
pub mod events;
pub mod follow;
pub mod machine;
mod notifications;
pub mod ping;
pub mod problem_codes;
pub mod problems;
pub mod scheduler;
pub mod server_state;
mod sets;
mod shared_outbox;
/// The shared outbox over etcd, for the dispatcher's tests against a real etcd.
pub use shared_outbox::EtcdOutbox;
mod shell;
pub mod snapshot;
pub mod support;
pub mod what_if;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

pub use cluster_status::ClusterStatus;
pub use command::{Call, CallError, Command, Inbound, Pending, RepaintWaker, Request, Response};
pub use delta::SnapshotDelta;
pub use dns_sync::PairState;
pub use edit::{EditError, SettingsEdit};
pub use events::{Event, Level, LogLine};
pub use problems::Problem;
pub use snapshot::{AdminView, DnsPairView, PollStats, ServerView, SetHealth, SetStatus, Snapshot};

use crate::model::{NotificationMethod, Settings};
use crate::notify::NotifyConfig;

/// Commands waiting for the engine; the UI never blocks on a full queue (it is told).
const COMMAND_QUEUE: usize = 256;

/// What the engine starts with.
pub struct EngineConfig {
    pub settings: Settings,
    /// Where the settings are saved and watched for external edits; `None` = in memory.
    pub settings_path: Option<PathBuf>,
    /// Why the settings file could not be loaded at start. The engine then runs on
    /// `settings` (the defaults), refuses to overwrite the broken file, and picks the file
    /// up as soon as it is mended.
    pub settings_error: Option<String>,
    /// The history database (`standby.db` beside the settings); `None` = in memory.
    pub database: Option<PathBuf>,
    /// How notifications run here: the outbox database, whether the GUI shows desktop
    /// notifications, retry timing.
    pub notify: NotifyConfig,
}

impl EngineConfig {
    /// Settings without any file: nothing is saved, history and outbox are in memory.
    pub fn in_memory(settings: Settings) -> Self {
        EngineConfig {
            settings,
            settings_path: None,
            settings_error: None,
            database: None,
            notify: NotifyConfig::default(),
        }
    }
}

/// The files of [`EngineConfig`], handed to the engine loop.
struct EngineFiles {
    settings_path: Option<PathBuf>,
    settings_error: Option<String>,
    database: Option<PathBuf>,
}

/// Why a command did not reach the engine.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("the engine is busy: command dropped")]
    Full,
    #[error("the engine has stopped")]
    Stopped,
}

/// The owner's side of the engine: an [`EngineClient`] (every command, every request and
/// the snapshots, reached through `Deref`) plus what only the owner has: the events and
/// stopping.
pub struct EngineHandle {
    client: EngineClient,
    events: broadcast::Sender<Event>,
    /// A channel of its own, so that stopping works even with a full command queue.
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineHandle {
    /// Starts the engine on its own thread.
    pub fn spawn(config: EngineConfig) -> std::io::Result<EngineHandle> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("standby-engine")
            .enable_all()
            .build()?;
        let (inbound, inbound_rx) = mpsc::channel(COMMAND_QUEUE);
        let settings = Arc::new(config.settings);
        let (snapshot_tx, snapshot) = watch::channel(Arc::new(Snapshot::empty(
            settings.clone(),
            config.settings_path.clone(),
        )));
        let (events, _) = broadcast::channel(1024);
        let engine_events = events.clone();
        // Subscribed before the engine starts, so that no early event is missed.
        let notify_events = events.subscribe();
        let (tests, tests_rx) = mpsc::channel(16);
        let notify_snapshot = snapshot.clone();
        let notify_inbound = inbound.clone();
        let (stop, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("standby-engine".into())
            .spawn(move || {
                let files = EngineFiles {
                    settings_path: config.settings_path,
                    settings_error: config.settings_error,
                    database: config.database,
                };
                let channels = shell::Channels {
                    inbound: inbound_rx,
                    stop: stop_rx,
                    snapshot_tx,
                    events_tx: engine_events,
                    tests,
                    outbox: config.notify.outbox.clone(),
                };
                runtime.block_on(async move {
                    notifications::start(
                        config.notify,
                        notify_events,
                        tests_rx,
                        notify_snapshot,
                        notify_inbound,
                    );
                    shell::run(settings, files, channels).await;
                });
            })?;
        Ok(EngineHandle {
            client: EngineClient { inbound, snapshot },
            events,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Every event from now on (for notifications).
    pub fn events(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Stops the engine and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// A cloneable client for other parts (the HTTP API) that send commands and read
    /// snapshots; it does not own the engine.
    pub fn client(&self) -> EngineClient {
        self.client.clone()
    }
}

/// The handle is a client that also owns the engine: the client's methods are its own.
impl std::ops::Deref for EngineHandle {
    type Target = EngineClient;

    fn deref(&self) -> &EngineClient {
        &self.client
    }
}

/// Commands and requests in, snapshots out, without owning the engine. Every
/// [`Command`] and [`Request`] can be sent through it.
#[derive(Clone)]
pub struct EngineClient {
    inbound: mpsc::Sender<Inbound>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
}

impl EngineClient {
    /// Sends a command or a [`Call`] without waiting: a full queue is an error, never a
    /// wait (for the UI thread).
    pub fn try_send(&self, message: impl Into<Inbound>) -> Result<(), SendError> {
        self.inbound.try_send(message.into()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Stopped,
        })
    }

    /// Sends a command or a [`Call`], waiting for room.
    pub async fn send(&self, message: impl Into<Inbound>) -> Result<(), SendError> {
        self.inbound
            .send(message.into())
            .await
            .map_err(|_| SendError::Stopped)
    }

    /// Sends a request and waits for its response (for a proxy of another process).
    pub async fn call(&self, request: Request) -> Result<Response, SendError> {
        let (call, answer) = Call::any(request);
        self.send(call).await?;
        answer.await.map_err(|_| SendError::Stopped)
    }

    /// Sends a typed call and waits for its answer.
    async fn ask<T: command::Answer>(&self, (call, pending): (Call, Pending<T>)) -> T {
        match self.send(call).await {
            Ok(()) => pending.wait().await,
            Err(_) => T::no_answer(),
        }
    }

    /// Sends a test notification through `method` and waits for the outcome: the
    /// notifier's text, or the exact error with its 3xx code.
    pub async fn test_notification(&self, method: NotificationMethod) -> Result<String, CallError> {
        self.ask(Call::test_notification(method)).await
    }

    /// Writes a line to the engine's log (Log tab, log files, stderr); to stderr alone
    /// once the engine has stopped.
    pub async fn log(&self, level: Level, text: String) {
        let line = Command::Log {
            level,
            text: text.clone(),
        };
        if self.send(line).await.is_err() {
            tracing::warn!("{text}");
        }
    }

    /// Applies new settings and waits for the outcome (validation or write errors).
    pub async fn apply_settings(&self, settings: Settings) -> Result<(), EditError> {
        self.ask(Call::apply_settings(settings)).await
    }

    /// Applies a typed edit to the settings in force (see [`Request::EditSettings`]) and
    /// waits for the outcome: the new settings revision, or why nothing changed.
    pub async fn edit_settings(
        &self,
        edit: SettingsEdit,
        if_revision: Option<u64>,
    ) -> Result<u64, EditError> {
        self.ask(Call::edit_settings(edit, if_revision)).await
    }

    /// Reads the polling history (oldest row first).
    pub async fn query_history(
        &self,
        filter: crate::store::history::HistoryFilter,
    ) -> Result<Vec<crate::store::history::HistoryRow>, CallError> {
        self.ask(Call::query_history(filter)).await
    }

    /// Uptime and percentiles of every server and set over 24 h / 7 d / 30 d.
    /// The support file's text (settings redacted, problems, the live log).
    pub async fn support_text(&self) -> Result<String, CallError> {
        self.ask(Call::support_text()).await.map(|t| t.0)
    }

    pub async fn uptime(&self) -> Result<crate::store::report::UptimeReport, CallError> {
        self.ask(Call::uptime()).await
    }

    /// The SLA report of every set over `[from, to)` (Unix seconds).
    pub async fn sla_report(
        &self,
        from: i64,
        to: i64,
    ) -> Result<crate::store::report::SlaReport, CallError> {
        self.ask(Call::sla_report(from, to)).await
    }

    /// Reads the event history (oldest first).
    pub async fn query_events(
        &self,
        filter: crate::store::events::EventFilter,
    ) -> Result<Vec<crate::store::events::HistoryEvent>, CallError> {
        self.ask(Call::query_events(filter)).await
    }

    /// Calls `waker` after each new snapshot (the GUI's repaint request).
    pub fn set_repaint_waker(&self, waker: RepaintWaker) -> Result<(), SendError> {
        self.try_send(Inbound::SetRepaintWaker(waker))
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }

    /// A client whose commands and requests go into `inbound` and whose snapshots come
    /// from `snapshot`: how a window reaches an engine in another process (`attach`, a
    /// proxy that carries both across the local channel).
    pub fn proxy(inbound: mpsc::Sender<Inbound>, snapshot: watch::Receiver<Arc<Snapshot>>) -> Self {
        EngineClient { inbound, snapshot }
    }

    /// A client of snapshots alone, for tests of the parts that follow them.
    #[cfg(test)]
    pub(crate) fn for_watch(snapshot: watch::Receiver<Arc<Snapshot>>) -> Self {
        EngineClient {
            inbound: mpsc::channel(1).0,
            snapshot,
        }
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

//! A window's link to its engine, whichever way it reaches it: one [`Connector`] trait
//! for the local channel (`client::Local`: the socket or named pipe beside the settings
//! file) and the remote one (`remote::Remote`: the HTTP API over TLS). The [`Link`] gives
//! the window an [`EngineClient`] that stays the same while the engine under it goes and
//! comes back: its snapshots keep the last state while the engine is away, its
//! [`LinkStatus`] says so (since when, and why), and it reconnects by itself.
//!
//! The window never learns which connector it has beyond [`Place`] (a label: the
//! engine's host, for the Ping window) and whether it can start an engine.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};

use super::AttachError;
use super::wire::{FrameError, ToEngine, ToWindow};
use crate::engine::command::Responder;
use crate::engine::delta::WIRE_VERSION;
use crate::engine::ping::PingReply;
use crate::engine::{CallError, EngineClient, Inbound, Request, Response, Snapshot};
use crate::model::Secret;

/// How long the engine has to say hello and send its first snapshot.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// The first wait between reconnection attempts, and the longest.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MOST: Duration = Duration::from_secs(5);

/// Who answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    pub pid: u32,
    pub program_version: String,
    pub settings_path: std::path::PathBuf,
}

/// Where the engine runs, as the window names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// On this machine, serving this settings file.
    Local(std::path::PathBuf),
    /// On another host, reached at this address (`host:port`).
    Remote(String),
}

/// A transport's two directions, once connected (before the hello).
pub struct Channel {
    /// The engine's frames; an `Err` (or the end) ends the channel.
    pub incoming: mpsc::Receiver<Result<ToWindow, FrameError>>,
    /// The window's frames; closed by the transport when it cannot carry them.
    pub outgoing: mpsc::Sender<ToEngine>,
    /// The transport's tasks, aborted when the channel is done with.
    pub tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub type Connecting<'a> = Pin<Box<dyn Future<Output = Result<Channel, AttachError>> + Send + 'a>>;
/// The engine's support file on its way (its text).
pub type Fetching<'a> = Pin<Box<dyn Future<Output = Result<String, AttachError>> + Send + 'a>>;

/// One way to reach an engine.
pub trait Connector: Send + Sync + 'static {
    /// Opens a channel to the engine.
    fn connect(&self) -> Connecting<'_>;
    fn place(&self) -> Place;
    /// Starts an engine where none answers, if this connector can (the local one starts
    /// this program detached); `None` when it cannot.
    fn start_engine(&self) -> Option<Result<(), AttachError>> {
        None
    }
    /// Whether [`Connector::start_engine`] can start one.
    fn can_start(&self) -> bool {
        false
    }
    /// Takes the password of the next connections (the login screen's, after the engine
    /// refused the one it had); `false` where the connector has none to change.
    fn set_password(&self, _password: Option<Secret>) -> bool {
        false
    }
    /// Whether files a request names (the CSV, the support file) are written on the
    /// window's machine rather than the engine's (a remote engine: the CSV's rows are
    /// queried, the support file is made from the streamed state, both written here).
    fn saves_locally(&self) -> bool {
        false
    }
    /// Downloads the engine's own support file (the remote API's `GET /support`: its
    /// log and problems as the engine has them); `None` where the connector cannot, and
    /// the file is then made from the streamed state.
    fn support_text(&self) -> Option<Fetching<'_>> {
        None
    }
}

/// Whether the window is attached, as the banner shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum LinkStatus {
    Attached {
        engine: EngineInfo,
        since: SystemTime,
    },
    /// The engine stopped answering at `since`; the snapshot is the last one it sent.
    Lost {
        since: SystemTime,
        why: String,
        /// The last attempt's error, while reconnecting.
        retry_error: Option<String>,
        /// The engine refused the password (it changed there, say): the link stopped
        /// trying and waits for another one ([`LinkControl::Login`]); `retry_error` says
        /// why.
        login: Option<LoginWanted>,
    },
}

/// A link waiting for a password, because the engine refused the one it had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginWanted {
    /// How long the API's login throttle asked to wait before the next try.
    pub retry_after: Option<Duration>,
    /// Refusals so far: grows with each, so that the login screen can tell the answer to
    /// its own try from the one before.
    pub refusals: u64,
}

/// What the window asks of its link itself (not of the engine).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkControl {
    /// Start an engine (the banner's *Start the engine* button).
    StartEngine,
    /// Try again now with this password (the login screen, after a refusal).
    Login(Option<Secret>),
}

/// A window's link: a client that outlives the engines under it.
pub struct Link {
    pub engine: EngineInfo,
    pub client: EngineClient,
    pub status: watch::Receiver<LinkStatus>,
    pub place: Place,
    pub can_start: bool,
    pub control: mpsc::Sender<LinkControl>,
}

/// Reads the hello and the first snapshot of a fresh channel.
async fn handshake(mut channel: Channel) -> Result<(EngineInfo, Snapshot, Channel), AttachError> {
    let first = async {
        let engine = match channel.incoming.recv().await {
            Some(Ok(ToWindow::Hello {
                wire_version,
                program_version,
                pid,
                settings_path,
            })) => {
                if wire_version != WIRE_VERSION {
                    return Err(AttachError::Version {
                        got: wire_version,
                        want: WIRE_VERSION,
                    });
                }
                EngineInfo {
                    pid,
                    program_version,
                    settings_path,
                }
            }
            Some(Ok(other)) => {
                return Err(AttachError::Protocol(format!("{other:?} before hello")));
            }
            Some(Err(e)) => return Err(e.into()),
            None => return Err(FrameError::Closed.into()),
        };
        let snapshot = match channel.incoming.recv().await {
            Some(Ok(ToWindow::Delta(delta))) => delta
                .apply(None)
                .map_err(|e| AttachError::Protocol(e.to_string()))?,
            Some(Ok(other)) => {
                return Err(AttachError::Protocol(format!(
                    "{other:?} before the first snapshot"
                )));
            }
            Some(Err(e)) => return Err(e.into()),
            None => return Err(FrameError::Closed.into()),
        };
        Ok((engine, snapshot))
    };
    let (engine, snapshot) = tokio::time::timeout(ANSWER_WITHIN, first)
        .await
        .map_err(|_| AttachError::Timeout(ANSWER_WITHIN))??;
    Ok((engine, snapshot, channel))
}

async fn open(connector: &dyn Connector) -> Result<(EngineInfo, Snapshot, Channel), AttachError> {
    handshake(connector.connect().await?).await
}

impl Link {
    /// Attaches through `connector` (the first attach must work: its error is the
    /// caller's), then keeps the link on a task of the current runtime: `waker` is called
    /// after each new snapshot and each change of the status.
    pub async fn open(
        connector: Arc<dyn Connector>,
        waker: Arc<dyn Fn() + Send + Sync>,
    ) -> Result<Link, AttachError> {
        let (engine, snapshot, channel) = open(connector.as_ref()).await?;
        let (publish, snapshots) = watch::channel(Arc::new(snapshot));
        let (status_tx, status) = watch::channel(LinkStatus::Attached {
            engine: engine.clone(),
            since: SystemTime::now(),
        });
        let (inbound, inbound_rx) = mpsc::channel(64);
        let (control, control_rx) = mpsc::channel(4);
        let place = connector.place();
        let can_start = connector.can_start();
        tokio::spawn(keep(
            connector,
            channel,
            Keep {
                inbound: inbound_rx,
                control: control_rx,
                publish,
                status: status_tx,
                waker,
            },
        ));
        Ok(Link {
            engine,
            client: EngineClient::proxy(inbound, snapshots),
            status,
            place,
            can_start,
            control,
        })
    }
}

/// The link task's own ends.
struct Keep {
    inbound: mpsc::Receiver<Inbound>,
    control: mpsc::Receiver<LinkControl>,
    publish: watch::Sender<Arc<Snapshot>>,
    status: watch::Sender<LinkStatus>,
    waker: Arc<dyn Fn() + Send + Sync>,
}

/// Why a channel ended.
enum Ended {
    /// The window dropped its last client: the link is done.
    Detached,
    Lost(String),
}

/// Carries the window across channels: proxies one until it ends, then reconnects.
async fn keep(connector: Arc<dyn Connector>, mut channel: Channel, mut k: Keep) {
    let saves_locally = connector.saves_locally();
    loop {
        let why = match proxy(&mut channel, &mut k, &connector, saves_locally).await {
            Ended::Detached => return,
            Ended::Lost(why) => why,
        };
        drop(channel);
        tracing::warn!("the engine link ended: {why}");
        let since = SystemTime::now();
        k.status.send_replace(LinkStatus::Lost {
            since,
            why: why.clone(),
            retry_error: None,
            login: None,
        });
        (k.waker)();
        let mut wait = RETRY_FIRST;
        // Set once the engine refused the password: no more tries of the refused one (each
        // would be a failed login, and the API's throttle would soon close this address
        // out), only of the one the login screen gives.
        let mut login: Option<LoginWanted> = None;
        let mut refusals = 0u64;
        channel = loop {
            let waiting = login.is_some();
            tokio::select! {
                _ = tokio::time::sleep(wait), if !waiting => {}
                message = k.inbound.recv() => {
                    match message {
                        None => return,
                        // Nothing can reach the engine now: a call's responder drops (the
                        // dialog hears "the engine did not answer" and keeps its draft),
                        // a Ping window's replies end.
                        Some(Inbound::SetRepaintWaker(new)) => k.waker = new,
                        Some(other) => tracing::debug!("not sent, no engine: {other:?}"),
                    }
                    continue;
                }
                Some(control) = k.control.recv() => {
                    match control {
                        LinkControl::StartEngine => {
                            let error = match connector.start_engine() {
                                Some(Ok(())) => None,
                                Some(Err(e)) => Some(e.to_string()),
                                None => Some("this window cannot start an engine there".into()),
                            };
                            if let Some(error) = error {
                                k.status.send_replace(LinkStatus::Lost {
                                    since,
                                    why: why.clone(),
                                    retry_error: Some(error),
                                    login: login.clone(),
                                });
                                (k.waker)();
                            }
                            wait = RETRY_FIRST;
                            continue;
                        }
                        // Tried at once, below.
                        LinkControl::Login(password) => {
                            if !connector.set_password(password) {
                                tracing::debug!("a password for a link that takes none");
                            }
                            wait = RETRY_FIRST;
                        }
                    }
                }
            }
            match open(connector.as_ref()).await {
                Ok((engine, snapshot, channel)) => {
                    tracing::info!("attached again (engine process {})", engine.pid);
                    k.publish.send_replace(Arc::new(snapshot));
                    k.status.send_replace(LinkStatus::Attached {
                        engine,
                        since: SystemTime::now(),
                    });
                    (k.waker)();
                    break channel;
                }
                Err(e) if e.wants_password() => {
                    refusals += 1;
                    login = Some(LoginWanted {
                        retry_after: e.retry_after(),
                        refusals,
                    });
                    tracing::info!("the engine refused the password: the login screen asks");
                    // Always sent, even with the same text: it answers the screen's try.
                    k.status.send_replace(LinkStatus::Lost {
                        since,
                        why: why.clone(),
                        retry_error: Some(e.to_string()),
                        login: login.clone(),
                    });
                    (k.waker)();
                }
                Err(e) => {
                    let text = e.to_string();
                    let changed = !matches!(
                        &*k.status.borrow(),
                        LinkStatus::Lost { retry_error: Some(old), .. } if *old == text
                    );
                    // Unreachable with the new password: back to trying by itself (with it).
                    let was_waiting = login.take().is_some();
                    if changed || was_waiting {
                        k.status.send_replace(LinkStatus::Lost {
                            since,
                            why: why.clone(),
                            retry_error: Some(text),
                            login: None,
                        });
                        (k.waker)();
                    }
                    wait = (wait * 2).min(RETRY_MOST);
                }
            }
        };
    }
}

/// Carries the window's commands, requests and pings to the engine and the engine's
/// snapshots, answers and ping replies back, until the channel ends.
async fn proxy(
    channel: &mut Channel,
    k: &mut Keep,
    connector: &Arc<dyn Connector>,
    saves_locally: bool,
) -> Ended {
    let mut waiting: HashMap<u64, (Responder, Then)> = HashMap::new();
    let mut pings: HashMap<u64, mpsc::Sender<PingReply>> = HashMap::new();
    let mut next_id = 0u64;
    let ended = loop {
        tokio::select! {
            frame = channel.incoming.recv() => match frame {
                Some(Ok(ToWindow::Delta(delta))) => {
                    let base = k.publish.borrow().clone();
                    match delta.apply(Some(&base)) {
                        Ok(next) => {
                            k.publish.send_replace(Arc::new(next));
                            (k.waker)();
                        }
                        Err(e) => break Ended::Lost(format!("a snapshot that does not fit: {e}")),
                    }
                }
                Some(Ok(ToWindow::Response { id, response })) => {
                    match waiting.remove(&id) {
                        Some((responder, Then::Answer)) => responder.send(*response),
                        Some((responder, Then::Csv(path))) => save_csv(responder, *response, path),
                        None => {}
                    }
                }
                Some(Ok(ToWindow::PingReply { id, reply })) => {
                    let gone = pings.get(&id).is_some_and(|replies| replies.try_send(reply).is_err_and(|e| {
                        matches!(e, mpsc::error::TrySendError::Closed(_))
                    }));
                    if gone {
                        // The Ping window closed: stop the engine's pings.
                        pings.remove(&id);
                        if channel.outgoing.send(ToEngine::StopPing { id }).await.is_err() {
                            break Ended::Lost("the channel closed".into());
                        }
                    }
                }
                Some(Ok(ToWindow::Hello { .. })) => break Ended::Lost("the engine said hello twice".into()),
                Some(Err(FrameError::Closed)) | None => {
                    break Ended::Lost("the engine closed the channel".into());
                }
                Some(Err(e)) => break Ended::Lost(format!("the channel broke: {e}")),
            },
            message = k.inbound.recv() => {
                let frame = match message {
                    Some(Inbound::Command(command)) => ToEngine::Command(command),
                    Some(Inbound::Call(call)) => {
                        let (request, responder) = call.into_parts();
                        let (request, then) = match request {
                            Request::SaveHistoryCsv { filter, path } if saves_locally => {
                                (Request::QueryHistory(filter), Then::Csv(path))
                            }
                            Request::WriteSupportFile(path) if saves_locally => {
                                let snapshot = k.publish.borrow().clone();
                                save_support_file(responder, connector.clone(), snapshot, path);
                                continue;
                            }
                            request => (request, Then::Answer),
                        };
                        next_id += 1;
                        waiting.insert(next_id, (responder, then));
                        ToEngine::Request { id: next_id, request: Box::new(request) }
                    }
                    Some(Inbound::Ping { address, replies }) => {
                        next_id += 1;
                        pings.insert(next_id, replies);
                        ToEngine::Ping { id: next_id, address }
                    }
                    Some(Inbound::SetRepaintWaker(new)) => {
                        k.waker = new;
                        continue;
                    }
                    Some(Inbound::NotificationReport(_)) => continue,
                    None => break Ended::Detached,
                };
                if channel.outgoing.send(frame).await.is_err() {
                    break Ended::Lost("the channel closed".into());
                }
            }
        }
    };
    // Pending requests get "no answer" as their responders drop.
    drop(waiting);
    ended
}

/// What to do with a request's answer.
enum Then {
    /// Hand it to the window.
    Answer,
    /// The rows of a *Save CSV...*: write them here, then answer.
    Csv(std::path::PathBuf),
}

/// Writes the rows of a remote engine's history as CSV on this machine (a blocking task).
fn save_csv(responder: Responder, response: Response, path: std::path::PathBuf) {
    let rows = match response {
        Response::History(Ok(rows)) => rows,
        Response::History(Err(e)) => return responder.send(Response::CsvSaved(Err(e))),
        _ => return responder.send(Response::CsvSaved(Err(CallError::NoAnswer))),
    };
    tokio::task::spawn_blocking(move || {
        let text = crate::store::history::to_csv(&rows);
        let written = std::fs::write(&path, text)
            .map(|()| rows.len())
            .map_err(|e| CallError::File(format!("{}: {e}", path.display())));
        responder.send(Response::CsvSaved(written));
    });
}

/// Writes the support file of a remote engine on this machine, from the state it
/// streamed (its settings without secrets, its problems and log): in the download
/// directory (else the temp directory) under the name the window chose.
fn save_support_file(
    responder: Responder,
    connector: Arc<dyn Connector>,
    snapshot: Arc<Snapshot>,
    asked: std::path::PathBuf,
) {
    tokio::spawn(async move {
        // The engine's own file where it can be downloaded (its whole live log); else one
        // made from the state it streamed.
        let text = match connector.support_text() {
            Some(fetching) => match fetching.await {
                Ok(text) => text,
                Err(e) => {
                    let why = format!("cannot download the engine's support file: {e}");
                    responder.send(Response::SupportFile(Err(CallError::File(why))));
                    return;
                }
            },
            None => crate::engine::support::bundle(
                &snapshot.settings,
                &snapshot.problems,
                &snapshot.log,
            ),
        };
        let name = asked
            .file_name()
            .map_or_else(|| "standby-support.txt".into(), |n| n.to_os_string());
        let written = tokio::task::spawn_blocking(move || {
            let dir = dirs::download_dir()
                .filter(|d| d.is_dir())
                .unwrap_or_else(std::env::temp_dir);
            let path = dir.join(name);
            std::fs::write(&path, text)
                .map(|()| path.clone())
                .map_err(|e| CallError::File(format!("{}: {e}", path.display())))
        })
        .await
        .unwrap_or_else(|e| Err(CallError::File(e.to_string())));
        responder.send(Response::SupportFile(written));
    });
}

impl From<FrameError> for AttachError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(source) => AttachError::Io {
                socket: std::path::PathBuf::new(),
                source,
            },
            other => AttachError::Protocol(other.to_string()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::engine::delta::SnapshotDelta;
    use crate::model::Settings;
    use std::sync::Mutex;

    /// The engine's ends of one in-memory channel.
    type EngineEnds = (
        mpsc::Sender<Result<ToWindow, FrameError>>,
        mpsc::Receiver<ToEngine>,
    );

    /// A connector over in-memory channels: each connect hands the test the engine's
    /// ends, or fails while `down` is set.
    struct Memory {
        ends: Mutex<mpsc::UnboundedSender<EngineEnds>>,
        down: Mutex<bool>,
    }

    impl Connector for Memory {
        fn connect(&self) -> Connecting<'_> {
            Box::pin(async move {
                if *self.down.lock().unwrap() {
                    return Err(AttachError::NoEngine {
                        settings: "/x".into(),
                        socket: "/x.engine.sock".into(),
                    });
                }
                let (to_window, incoming) = mpsc::channel(8);
                let (outgoing, from_window) = mpsc::channel(8);
                self.ends
                    .lock()
                    .unwrap()
                    .send((to_window, from_window))
                    .unwrap();
                Ok(Channel {
                    incoming,
                    outgoing,
                    tasks: Vec::new(),
                })
            })
        }
        fn place(&self) -> Place {
            Place::Remote("engine.test:8100".into())
        }
    }

    fn hello(pid: u32) -> ToWindow {
        ToWindow::Hello {
            wire_version: WIRE_VERSION,
            program_version: "test".into(),
            pid,
            settings_path: "/x".into(),
        }
    }

    fn snapshot(generation: u64) -> Snapshot {
        let mut s = Snapshot::empty(Arc::new(Settings::default()), None);
        s.generation = generation;
        s
    }

    async fn status_until(link: &Link, done: impl Fn(&LinkStatus) -> bool) -> LinkStatus {
        let mut status = link.status.clone();
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let now = status.borrow_and_update().clone();
                if done(&now) {
                    return now;
                }
                status.changed().await.unwrap();
            }
        })
        .await
        .expect("the status never came")
    }

    #[tokio::test]
    async fn a_lost_engine_keeps_the_last_state_says_so_and_is_reattached() {
        let (ends, mut engines) = mpsc::unbounded_channel();
        let connector = Arc::new(Memory {
            ends: Mutex::new(ends),
            down: Mutex::new(false),
        });
        let opening = tokio::spawn(Link::open(connector.clone(), Arc::new(|| {})));
        let (to_window, _from_window) = engines.recv().await.unwrap();
        to_window.send(Ok(hello(1))).await.unwrap();
        let first = SnapshotDelta::between(None, &snapshot(5));
        to_window
            .send(Ok(ToWindow::Delta(Box::new(first))))
            .await
            .unwrap();
        let link = opening.await.unwrap().unwrap();
        assert_eq!(link.client.snapshot().generation, 5);

        // The engine goes: the window keeps generation 5 and learns why, at once.
        *connector.down.lock().unwrap() = true;
        drop(to_window);
        let lost = status_until(&link, |s| matches!(s, LinkStatus::Lost { .. })).await;
        assert!(
            matches!(&lost, LinkStatus::Lost { why, .. } if why.contains("closed")),
            "{lost:?}"
        );
        assert_eq!(link.client.snapshot().generation, 5);
        // A request meanwhile is answered "no answer", not left hanging.
        let answer = link.client.query_history(Default::default()).await;
        assert_eq!(answer, Err(crate::engine::CallError::NoAnswer));
        status_until(&link, |s| {
            matches!(
                s,
                LinkStatus::Lost {
                    retry_error: Some(_),
                    ..
                }
            )
        })
        .await;

        // It comes back (another process): the link attaches again by itself.
        *connector.down.lock().unwrap() = false;
        let (to_window, mut from_window) = engines.recv().await.unwrap();
        to_window.send(Ok(hello(2))).await.unwrap();
        let again = SnapshotDelta::between(None, &snapshot(1));
        to_window
            .send(Ok(ToWindow::Delta(Box::new(again))))
            .await
            .unwrap();
        let back = status_until(&link, |s| matches!(s, LinkStatus::Attached { .. })).await;
        assert!(matches!(back, LinkStatus::Attached { engine, .. } if engine.pid == 2));
        assert_eq!(link.client.snapshot().generation, 1);

        // Pings cross: the reply reaches the window's channel by its id.
        let (replies, mut window_replies) = mpsc::channel(4);
        link.client
            .send(Inbound::Ping {
                address: "127.0.0.1".parse().unwrap(),
                replies,
            })
            .await
            .unwrap();
        let Some(ToEngine::Ping { id, .. }) = from_window.recv().await else {
            panic!("no ping request");
        };
        let reply = PingReply {
            time: SystemTime::now(),
            success: true,
            text: "echo".into(),
            ms: Some(0.1),
        };
        to_window
            .send(Ok(ToWindow::PingReply {
                id,
                reply: reply.clone(),
            }))
            .await
            .unwrap();
        assert_eq!(window_replies.recv().await, Some(reply.clone()));
        // The Ping window closes: the next reply stops the engine's pings.
        drop(window_replies);
        to_window
            .send(Ok(ToWindow::PingReply { id, reply }))
            .await
            .unwrap();
        assert_eq!(from_window.recv().await, Some(ToEngine::StopPing { id }));
    }
}

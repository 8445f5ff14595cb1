//! The window's side of the local channel: attach to the engine that serves a settings
//! file, or start one (the same program, `--headless`, detached) and attach to it. The
//! snapshots arrive as deltas, are applied to the snapshot held here, and are published
//! through a `watch` exactly like an in-process engine's, so that whatever follows the
//! snapshots need not know where the engine runs.

// The channel is a Unix socket for now: on Windows most of this is not built yet.
#![cfg_attr(not(unix), allow(unused_imports, dead_code))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::AttachError;
use super::wire::{FrameError, ToEngine, ToWindow, read_frame, write_frame};
use crate::engine::command::Responder;
use crate::engine::delta::WIRE_VERSION;
use crate::engine::{EngineClient, Inbound, Snapshot};

/// How long the engine has to say hello and send its first snapshot.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(5);

/// Who answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineInfo {
    pub pid: u32,
    pub program_version: String,
    pub settings_path: PathBuf,
}

/// A window attached to an engine.
pub struct Attached {
    pub engine: EngineInfo,
    /// The engine as an in-process one looks: commands and requests in (carried across
    /// the channel; a request's answer comes back by its id), snapshots out. When the
    /// channel ends its snapshots stop (`changed()` fails) and sends fail.
    pub client: EngineClient,
    /// Why the channel ended, once it has.
    pub ended: tokio::sync::oneshot::Receiver<String>,
}

/// Attaches to the engine of `settings_path`. Call inside a tokio runtime: the snapshots
/// are read by a task of it, which `waker` is called by after each new snapshot.
#[cfg(unix)]
pub async fn attach(
    settings_path: &Path,
    waker: Arc<dyn Fn() + Send + Sync>,
) -> Result<Attached, AttachError> {
    let socket = super::socket_path(settings_path);
    let stream = match tokio::net::UnixStream::connect(&socket).await {
        Ok(stream) => stream,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(AttachError::NoEngine {
                settings: settings_path.to_path_buf(),
                socket,
            });
        }
        Err(source) => return Err(AttachError::Io { socket, source }),
    };
    let (mut read, write) = stream.into_split();
    let first = async {
        let engine = match read_frame(&mut read).await? {
            ToWindow::Hello {
                wire_version,
                program_version,
                pid,
                settings_path,
            } => {
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
            other => return Err(AttachError::Protocol(format!("{other:?} before hello"))),
        };
        let snapshot = match read_frame(&mut read).await? {
            ToWindow::Delta(delta) => delta
                .apply(None)
                .map_err(|e| AttachError::Protocol(e.to_string()))?,
            other => {
                return Err(AttachError::Protocol(format!(
                    "{other:?} before the first snapshot"
                )));
            }
        };
        Ok::<_, AttachError>((engine, snapshot))
    };
    let (engine, snapshot) = tokio::time::timeout(ANSWER_WITHIN, first)
        .await
        .map_err(|_| AttachError::Timeout(ANSWER_WITHIN))?
        .map_err(|e| match e {
            AttachError::Io { source, .. } => AttachError::Io {
                socket: super::socket_path(settings_path),
                source,
            },
            other => other,
        })?;
    let (publish, snapshots) = watch::channel(Arc::new(snapshot));
    let (inbound, inbound_rx) = tokio::sync::mpsc::channel(64);
    let (end, ended) = tokio::sync::oneshot::channel();
    // Frames are read on a task of their own: a read cut off half-way by the select of
    // the proxy would lose its bytes.
    let (frames_tx, frames) = tokio::sync::mpsc::channel(64);
    let reader = tokio::spawn(async move {
        loop {
            let frame = read_frame::<_, ToWindow>(&mut read).await;
            let last = frame.is_err();
            if frames_tx.send(frame).await.is_err() || last {
                return;
            }
        }
    });
    tokio::spawn(async move {
        let why = proxy(write, frames, inbound_rx, &publish, waker).await;
        reader.abort();
        let _ = end.send(why);
    });
    Ok(Attached {
        engine,
        client: EngineClient::proxy(inbound, snapshots),
        ended,
    })
}

/// Carries the window's commands and requests to the engine and the engine's snapshots
/// and answers back, until the channel ends; returns why it ended.
#[cfg(unix)]
async fn proxy(
    mut write: tokio::net::unix::OwnedWriteHalf,
    mut frames: tokio::sync::mpsc::Receiver<Result<ToWindow, FrameError>>,
    mut inbound: tokio::sync::mpsc::Receiver<Inbound>,
    publish: &watch::Sender<Arc<Snapshot>>,
    mut waker: Arc<dyn Fn() + Send + Sync>,
) -> String {
    let mut waiting: std::collections::HashMap<u64, Responder> = Default::default();
    let mut next_id = 0u64;
    let why = loop {
        tokio::select! {
            frame = frames.recv() => match frame {
                Some(Ok(ToWindow::Delta(delta))) => {
                    let base = publish.borrow().clone();
                    match delta.apply(Some(&base)) {
                        Ok(next) => {
                            publish.send_replace(Arc::new(next));
                            waker();
                        }
                        Err(e) => break format!("a snapshot that does not fit: {e}"),
                    }
                }
                Some(Ok(ToWindow::Response { id, response })) => {
                    if let Some(responder) = waiting.remove(&id) {
                        responder.send(*response);
                    }
                }
                Some(Ok(ToWindow::Hello { .. })) => break "the engine said hello twice".into(),
                Some(Err(FrameError::Closed)) | None => {
                    break "the engine closed the channel".into();
                }
                Some(Err(e)) => break format!("the channel broke: {e}"),
            },
            message = inbound.recv() => {
                let frame = match message {
                    Some(Inbound::Command(command)) => ToEngine::Command(command),
                    Some(Inbound::Call(call)) => {
                        let (request, responder) = call.into_parts();
                        next_id += 1;
                        waiting.insert(next_id, responder);
                        ToEngine::Request { id: next_id, request: Box::new(request) }
                    }
                    Some(Inbound::SetRepaintWaker(new)) => {
                        waker = new;
                        continue;
                    }
                    // The Ping window's stream of replies does not cross the channel yet:
                    // dropping its sender ends that window's pings at once.
                    Some(Inbound::Ping { .. }) | Some(Inbound::NotificationReport(_)) => continue,
                    // The window dropped its last client: detach.
                    None => break "the window detached".into(),
                };
                if let Err(e) = write_frame(&mut write, &frame).await {
                    break format!("the channel broke: {e}");
                }
            }
        }
    };
    // Pending requests get "no answer" as their responders drop; the window repaints to
    // show the engine gone.
    drop(waiting);
    waker();
    why
}

#[cfg(not(unix))]
pub async fn attach(
    _settings_path: &Path,
    _waker: Arc<dyn Fn() + Send + Sync>,
) -> Result<Attached, AttachError> {
    Err(AttachError::Unsupported)
}

impl From<FrameError> for AttachError {
    fn from(e: FrameError) -> Self {
        match e {
            FrameError::Io(source) => AttachError::Io {
                socket: PathBuf::new(),
                source,
            },
            other => AttachError::Protocol(other.to_string()),
        }
    }
}

/// Starts the engine of `settings_path` as a background process of its own (this
/// program, `--headless`), detached from this one: it goes on when the window exits. Its
/// standard error (the log) goes to `standby-engine.log` beside the settings file.
pub fn start_detached(
    program: &Path,
    settings_path: &Path,
) -> Result<std::process::Child, AttachError> {
    let log_path = settings_path.with_file_name("standby-engine.log");
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| AttachError::Start(format!("{}: {e}", dir.display())))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| AttachError::Start(format!("{}: {e}", log_path.display())))?;
    let mut command = std::process::Command::new(program);
    command
        .arg("--headless")
        .arg("--config")
        .arg(settings_path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        // A process group of its own: a Ctrl-C in the window's terminal does not stop it.
        command.process_group(0);
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt as _;
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        command.creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP);
    }
    command
        .spawn()
        .map_err(|e| AttachError::Start(format!("{}: {e}", program.display())))
}

/// Attaches to the engine of `settings_path`, starting one first when none runs, and
/// waits (up to `within`) for a started one to listen.
pub async fn attach_or_start(
    program: &Path,
    settings_path: &Path,
    waker: Arc<dyn Fn() + Send + Sync>,
    within: Duration,
) -> Result<Attached, AttachError> {
    match attach(settings_path, waker.clone()).await {
        Err(AttachError::NoEngine { .. }) => {}
        other => return other,
    }
    let mut child = start_detached(program, settings_path)?;
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(AttachError::Start(format!(
                "the engine ended at once ({status}); its log: {}",
                settings_path.with_file_name("standby-engine.log").display()
            )));
        }
        match attach(settings_path, waker.clone()).await {
            Err(AttachError::NoEngine { .. }) if tokio::time::Instant::now() < deadline => {
                // Waiting for the new engine to bind its socket.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(AttachError::NoEngine { .. }) => return Err(AttachError::Timeout(within)),
            other => return other,
        }
    }
}

//! The engine's side of the local channel: it listens beside the settings file and sends
//! each window that attaches a `Hello`, then every new snapshot as a delta from the one
//! sent before, and carries the window's commands and requests (answered by id) to the
//! engine. Each window has its own task; a window that reads slowly only ever gets the
//! newest snapshot (the watch keeps one), so nothing queues up behind it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::wire::{ToEngine, ToWindow, read_frame, write_frame};
use crate::engine::delta::WIRE_VERSION;
use crate::engine::{EngineClient, Level};

/// Serves the windows of `settings_path`'s engine on a thread of its own, until the
/// engine stops (then the socket is removed).
pub fn spawn(
    client: EngineClient,
    settings_path: &Path,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let settings_path = settings_path.to_path_buf();
    std::thread::Builder::new()
        .name("standby-attach".into())
        .spawn(move || runtime.block_on(serve(client, settings_path)))
}

/// Waits (at most `limit`) for the attach thread, which ends and removes its socket once the
/// engine is gone. A process that exits without it may leave the socket behind (seen under
/// load: the test found it after the engine's exit).
pub fn wait_for_end(thread: &std::thread::JoinHandle<()>, limit: Duration) {
    let until = std::time::Instant::now() + limit;
    while !thread.is_finished() && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn hello(settings_path: &Path) -> ToWindow {
    ToWindow::Hello {
        wire_version: WIRE_VERSION,
        program_version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        settings_path: settings_path.to_path_buf(),
    }
}

#[cfg(unix)]
async fn serve(client: EngineClient, settings_path: PathBuf) {
    let path = super::socket_path(&settings_path);
    // The engine holds the settings file's instance lock: a socket left here is from a
    // run that ended without removing it.
    let _ = std::fs::remove_file(&path);
    let listener = match super::bind_owner_only(&path).and_then(tokio::net::UnixListener::from_std)
    {
        Ok(listener) => listener,
        Err(e) => {
            client
                .log(
                    Level::Warning,
                    format!("windows cannot attach: {}: {e}", path.display()),
                )
                .await;
            return;
        }
    };
    tracing::info!("windows attach on {}", path.display());
    let hello = hello(&settings_path);
    let mut engine = client.watch();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if !super::peer_allowed(&stream) {
                        client.log(Level::Warning, format!(
                            "refused a window of another user on {}", path.display()
                        )).await;
                        continue;
                    }
                    let client = client.clone();
                    let hello = hello.clone();
                    tokio::spawn(frames_session(stream, client, hello));
                }
                // Out of descriptors, say: the engine's own problem, not a reason to stop.
                Err(e) => {
                    tracing::warn!("accepting a window on {}: {e}", path.display());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            changed = engine.changed() => if changed.is_err() {
                break;
            },
        }
    }
    let _ = std::fs::remove_file(&path);
}

#[cfg(windows)]
async fn serve(client: EngineClient, settings_path: PathBuf) {
    let name = super::pipe_name(&settings_path);
    let hello = hello(&settings_path);
    let mut engine = client.watch();
    // The first instance refuses a pipe someone else made under the name already.
    let mut server = match super::windows_pipe::create(&name, true) {
        Ok(server) => server,
        Err(e) => {
            client
                .log(
                    Level::Warning,
                    format!("windows cannot attach: {name}: {e}"),
                )
                .await;
            return;
        }
    };
    tracing::info!("windows attach on {name}");
    loop {
        // The instance waiting for a window is kept across snapshots (`connect` loses
        // nothing when the other branch wins): a window that opens the pipe while none
        // is waiting would be told that no engine runs.
        let connected = tokio::select! {
            connected = server.connect() => connected,
            changed = engine.changed() => {
                if changed.is_err() {
                    break;
                }
                continue;
            }
        };
        // The next instance before this one is handed over, so that one always waits.
        let next = loop {
            match super::windows_pipe::create(&name, false) {
                Ok(next) => break next,
                Err(e) => {
                    tracing::warn!("a new instance of {name}: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let taken = std::mem::replace(&mut server, next);
        match connected {
            Ok(()) => {
                tokio::spawn(frames_session(taken, client.clone(), hello.clone()));
            }
            // A window that left at once, say: its instance is dropped.
            Err(e) => tracing::warn!("a window on {name}: {e}"),
        }
    }
}

#[cfg(not(any(unix, windows)))]
async fn serve(client: EngineClient, _settings_path: PathBuf) {
    client
        .log(
            Level::Warning,
            "windows cannot attach to this engine: no local channel on this platform".into(),
        )
        .await;
}

/// Carries one window's session over a byte stream (the socket, the named pipe) as
/// frames: a task reads the window's frames, one writes the session's.
pub(crate) async fn frames_session<S>(stream: S, client: EngineClient, hello: ToWindow)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    let (mut read, mut write) = tokio::io::split(stream);
    let (incoming_tx, incoming) = tokio::sync::mpsc::channel::<ToEngine>(64);
    // Two frames in the pipe at most: a slow window gets the newest snapshot, not a queue.
    let (outgoing, mut to_write) = tokio::sync::mpsc::channel::<ToWindow>(2);
    // Frames are read on a task of their own: a read cut off half-way by a select would
    // lose its bytes.
    let reader = tokio::spawn(async move {
        loop {
            match read_frame::<_, ToEngine>(&mut read).await {
                Ok(message) => {
                    if incoming_tx.send(message).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::debug!("a window's channel: {e}");
                    return;
                }
            }
        }
    });
    let writer = tokio::spawn(async move {
        while let Some(frame) = to_write.recv().await {
            if let Err(e) = write_frame(&mut write, &frame).await {
                tracing::debug!("a window left: {e}");
                return;
            }
        }
    });
    super::session::run(
        client,
        hello,
        incoming,
        outgoing,
        Arc::new(super::session::Open),
    )
    .await;
    reader.abort();
    // The writer ends once the session's last frame is written (its sender is gone).
    let _ = writer.await;
}

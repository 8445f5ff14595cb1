//! The engine's side of the local channel: it listens beside the settings file and sends
//! each window that attaches a `Hello`, then every new snapshot as a delta from the one
//! sent before, and carries the window's commands and requests (answered by id) to the
//! engine. Each window has its own task; a window that reads slowly only ever gets the
//! newest snapshot (the watch keeps one), so nothing queues up behind it.

// The channel is a Unix socket for now: on Windows most of this is not built yet.
#![cfg_attr(not(unix), allow(unused_imports, dead_code))]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::wire::{FrameError, ToEngine, ToWindow, read_frame, write_frame};
use crate::engine::delta::{SnapshotDelta, WIRE_VERSION};
use crate::engine::{EngineClient, Level, Response, Snapshot};

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
                    tokio::spawn(async move {
                        if let Err(e) = stream_to(stream, client, hello).await {
                            tracing::debug!("a window left: {e}");
                        }
                    });
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

#[cfg(not(unix))]
async fn serve(client: EngineClient, _settings_path: PathBuf) {
    client
        .log(
            Level::Warning,
            "windows cannot attach to this engine: the local channel (a named pipe) is not \
             built for Windows yet"
                .into(),
        )
        .await;
}

/// Streams snapshots to one window and carries out its commands and requests, until it
/// leaves or the engine stops.
#[cfg(unix)]
async fn stream_to(
    stream: tokio::net::UnixStream,
    client: EngineClient,
    hello: ToWindow,
) -> Result<(), FrameError> {
    let (mut read, mut write) = stream.into_split();
    let mut watch = client.watch();
    // Answers of requests in flight, written between snapshots.
    let (answers, mut answered) = tokio::sync::mpsc::channel::<(u64, Response)>(64);
    // Frames are read on a task of their own: a read cut off half-way by the select below
    // would lose its bytes.
    let (incoming_tx, mut incoming) = tokio::sync::mpsc::channel::<ToEngine>(64);
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
    write_frame(&mut write, &hello).await?;
    let mut sent: Option<Arc<Snapshot>> = None;
    let mut changed = true;
    let result = loop {
        if changed {
            let now = watch.borrow_and_update().clone();
            let delta = SnapshotDelta::between(sent.as_deref(), &now);
            if let Err(e) = write_frame(&mut write, &ToWindow::Delta(Box::new(delta))).await {
                break Err(e);
            }
            sent = Some(now);
        }
        changed = false;
        tokio::select! {
            next = watch.changed() => match next {
                Ok(()) => changed = true,
                Err(_) => break Ok(()),
            },
            message = incoming.recv() => match message {
                Some(ToEngine::Command(command)) => {
                    if client.send(command).await.is_err() {
                        break Ok(());
                    }
                }
                Some(ToEngine::Request { id, request }) => {
                    let client = client.clone();
                    let answers = answers.clone();
                    tokio::spawn(async move {
                        // No answer when the engine stopped: the channel ends then, and
                        // the window's pending requests learn it from that.
                        if let Ok(response) = client.call(*request).await {
                            let _ = answers.send((id, response)).await;
                        }
                    });
                }
                None => break Err(FrameError::Closed),
            },
            Some((id, response)) = answered.recv() => {
                let answer = ToWindow::Response { id, response: Box::new(response) };
                if let Err(e) = write_frame(&mut write, &answer).await {
                    break Err(e);
                }
            }
        }
    };
    reader.abort();
    result
}

//! One window's session with the engine, whatever carries it (the local socket or named
//! pipe, or the HTTP API's stream for a remote window): `Hello`, then every new snapshot as
//! a delta from the one sent before, the window's commands and id-tagged requests carried
//! to the engine and their answers back, and the pings of its Ping windows.
//!
//! What a window may see and ask is the [`Gate`]'s to say: a local window is the engine's
//! own user and sees everything ([`Open`]); a remote one gets the settings without their
//! secrets and may not name files on the engine's host (the API's gate).

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::wire::{ToEngine, ToWindow};
use crate::engine::delta::SnapshotDelta;
use crate::engine::{EngineClient, Inbound, Request, Response, Snapshot};

/// What a window may see and ask.
pub trait Gate: Send + Sync + 'static {
    /// The snapshot as this window may see it. Called for every snapshot: an
    /// implementation that changes the settings keeps the result while they stay the
    /// same `Arc`, so that the delta shares them.
    fn snapshot(&self, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        snapshot
    }

    /// The request as the engine gets it, or the answer that refuses it.
    fn request(&self, request: Request, _now: &Snapshot) -> Result<Request, Response> {
        Ok(request)
    }

    /// Whether the window may send commands (a read-only caller may not).
    fn may_command(&self) -> bool {
        true
    }

    /// Whether the session may go on with the engine in this state (the API ends a
    /// session when its own options change: the window then reconnects under the new
    /// ones, its password checked again).
    fn still_valid(&self, _now: &Snapshot) -> bool {
        true
    }
}

/// The gate of a window of the engine's own user: everything.
pub struct Open;

impl Gate for Open {}

/// Runs one window's session until it leaves (`incoming` ends, or `outgoing` is closed)
/// or the engine stops. `outgoing` is bounded: while the window reads slowly the newest
/// snapshot waits in the engine's watch, never a queue of old ones.
pub async fn run(
    client: EngineClient,
    hello: ToWindow,
    mut incoming: mpsc::Receiver<ToEngine>,
    outgoing: mpsc::Sender<ToWindow>,
    gate: Arc<dyn Gate>,
) {
    let mut watch = client.watch();
    let mut pings: HashMap<u64, tokio::task::JoinHandle<()>> = HashMap::new();
    if outgoing.send(hello).await.is_err() {
        return;
    }
    let mut sent: Option<Arc<Snapshot>> = None;
    let mut changed = true;
    loop {
        if changed {
            let raw = watch.borrow_and_update().clone();
            if !gate.still_valid(&raw) {
                break;
            }
            let now = gate.snapshot(raw);
            let delta = SnapshotDelta::between(sent.as_deref(), &now);
            if outgoing
                .send(ToWindow::Delta(Box::new(delta)))
                .await
                .is_err()
            {
                break;
            }
            sent = Some(now);
        }
        changed = false;
        tokio::select! {
            next = watch.changed() => match next {
                Ok(()) => changed = true,
                Err(_) => break,
            },
            message = incoming.recv() => match message {
                Some(ToEngine::Command(command)) => {
                    if !gate.may_command() {
                        continue;
                    }
                    if client.send(command).await.is_err() {
                        break;
                    }
                }
                Some(ToEngine::Request { id, request }) => {
                    let now = client.snapshot();
                    let outgoing = outgoing.clone();
                    match gate.request(*request, &now) {
                        Ok(request) => {
                            let client = client.clone();
                            tokio::spawn(async move {
                                // No answer when the engine stopped: the session ends
                                // then, and the window's pending requests learn it from that.
                                if let Ok(response) = client.call(request).await {
                                    let answer = ToWindow::Response { id, response: Box::new(response) };
                                    let _ = outgoing.send(answer).await;
                                }
                            });
                        }
                        Err(refused) => {
                            let answer = ToWindow::Response { id, response: Box::new(refused) };
                            if outgoing.send(answer).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                Some(ToEngine::Ping { id, address }) => {
                    if !gate.may_command() {
                        continue;
                    }
                    let (replies, mut from_engine) = mpsc::channel(16);
                    if client.send(Inbound::Ping { address, replies }).await.is_err() {
                        break;
                    }
                    let outgoing = outgoing.clone();
                    let forward = tokio::spawn(async move {
                        while let Some(reply) = from_engine.recv().await {
                            if outgoing.send(ToWindow::PingReply { id, reply }).await.is_err() {
                                return;
                            }
                        }
                    });
                    // A window reusing an id stops the pings it started before.
                    if let Some(old) = pings.insert(id, forward) {
                        old.abort();
                    }
                }
                Some(ToEngine::StopPing { id }) => {
                    // Dropping the forwarder drops the receiver: the engine's pings end.
                    if let Some(forward) = pings.remove(&id) {
                        forward.abort();
                    }
                }
                None => break,
            },
        }
    }
    for forward in pings.into_values() {
        forward.abort();
    }
}

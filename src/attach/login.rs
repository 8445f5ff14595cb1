//! Logging in to a remote engine: the login screen's side of `--connect` when no password
//! was given or the engine refused it. Each attempt runs on the link's runtime (the window
//! does no I/O): the screen starts one with [`Login::attempt`] and takes its outcome with
//! [`Login::outcome`] in a later frame; a success is the [`Link`] the window then shows.

use std::sync::Arc;

use tokio::sync::oneshot;

use super::AttachError;
use super::link::Link;
use super::remote::Remote;
use crate::model::Secret;

/// A remote engine not attached yet, and the runtime its link will run on.
pub struct Login {
    remote: Arc<Remote>,
    runtime: Option<tokio::runtime::Runtime>,
    pending: Option<oneshot::Receiver<Result<Link, AttachError>>>,
    /// Why the window shows the login screen (the last refusal), until the next attempt.
    pub first_error: Option<AttachError>,
}

impl Login {
    /// `first_error`: the refusal that sent the window here, if any (shown at once).
    pub fn new(
        remote: Arc<Remote>,
        runtime: tokio::runtime::Runtime,
        first_error: Option<AttachError>,
    ) -> Login {
        Login {
            remote,
            runtime: Some(runtime),
            pending: None,
            first_error,
        }
    }

    /// `host:port` of the engine.
    pub fn address(&self) -> String {
        self.remote.address()
    }

    /// Whether an attempt is under way.
    pub fn connecting(&self) -> bool {
        self.pending.is_some()
    }

    /// Tries `password` (user admin; `None` or empty: none sent); `waker` is called when
    /// the outcome is there. An attempt under way is given up.
    pub fn attempt(&mut self, password: Option<Secret>, waker: Arc<dyn Fn() + Send + Sync>) {
        let Some(runtime) = &self.runtime else {
            return;
        };
        self.remote
            .set_password(password.filter(|p| !p.expose().is_empty()));
        let (done, pending) = oneshot::channel();
        let remote = self.remote.clone();
        runtime.spawn(async move {
            let linked = Link::open(remote, waker.clone()).await;
            let _ = done.send(linked);
            waker();
        });
        self.pending = Some(pending);
    }

    /// The outcome of the attempt, once it is there: the link and the runtime it runs
    /// on (to be kept as long as the window), or why not.
    pub fn outcome(&mut self) -> Option<Result<(Link, tokio::runtime::Runtime), AttachError>> {
        let pending = self.pending.as_mut()?;
        let outcome = match pending.try_recv() {
            Err(oneshot::error::TryRecvError::Empty) => return None,
            Err(oneshot::error::TryRecvError::Closed) => Err(AttachError::Protocol(
                "the attempt ended without an answer".into(),
            )),
            Ok(outcome) => outcome,
        };
        self.pending = None;
        Some(match (outcome, self.runtime.take()) {
            (Ok(link), Some(runtime)) => Ok((link, runtime)),
            (Ok(_), None) => Err(AttachError::Protocol("no runtime for the link".into())),
            (Err(e), runtime) => {
                self.runtime = runtime;
                Err(e)
            }
        })
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        // An attempt under way ends with the runtime; the window does not wait for it.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

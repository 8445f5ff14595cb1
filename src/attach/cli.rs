//! `standby engine status | pause | resume | stop`: the running engine of a settings file,
//! from a terminal, over the same local channel a window attaches on (the owner-only Unix
//! socket, the named pipe on Windows). It never starts an engine: none running is its
//! own answer (exit 3, like `service status`). Why over the local channel and not the
//! HTTP API: it works with the API off, needs no password (the channel is the owner's
//! only), and it is how the Windows named pipe is checked for real under Wine
//! (`scripts/check-windows-pipe.sh`).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::AttachError;
use crate::engine::decision::Decision;
use crate::engine::{Command, EngineClient, Snapshot};

/// How long a change has to show in the engine's snapshots, and a stopped engine to close
/// its channel.
pub const WITHIN: Duration = Duration::from_secs(10);

/// What to ask of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ask {
    /// Print its state.
    Status,
    /// Pause all polling (saved in the settings), then print the state.
    Pause,
    /// Resume all polling, then print the state.
    Resume,
    /// Stop the engine, and wait until it is gone.
    Stop,
}

/// What came of it.
#[derive(Debug)]
pub enum Outcome {
    /// The engine's state (after the change asked for), in lines to print.
    State(String),
    /// The engine of this process id stopped.
    Stopped { pid: u32 },
}

/// Why it could not be done.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// No engine serves the settings file: nothing was changed.
    #[error("{0}")]
    NoEngine(AttachError),
    #[error("{0}")]
    Attach(AttachError),
    #[error("{0}")]
    Engine(String),
}

/// Attaches to the engine of `settings_path`, does `ask` and detaches.
pub fn run(settings_path: &Path, ask: Ask) -> Result<Outcome, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Engine(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async {
        let link = super::client::attach(settings_path, Arc::new(|| {}))
            .await
            .map_err(|e| match e {
                e @ AttachError::NoEngine { .. } => CliError::NoEngine(e),
                e => CliError::Attach(e),
            })?;
        let pid = link.engine.pid;
        let client = link.client.clone();
        let wanted = match ask {
            Ask::Status => None,
            Ask::Pause => Some((Command::PauseAll, true)),
            Ask::Resume => Some((Command::ResumeAll, false)),
            Ask::Stop => {
                send(&client, Command::Shutdown).await?;
                return until_stopped(link).await.map(|()| Outcome::Stopped { pid });
            }
        };
        if let Some((command, paused)) = wanted {
            send(&client, command).await?;
            let mut watch = client.watch();
            tokio::time::timeout(WITHIN, watch.wait_for(|s| s.all_paused == paused))
                .await
                .map_err(|_| {
                    CliError::Engine(format!(
                        "the engine (process {pid}) did not show the change within {} s",
                        WITHIN.as_secs()
                    ))
                })?
                .map_err(|_| CliError::Engine("the link to the engine ended".into()))?;
        }
        Ok(Outcome::State(describe(&link.engine, &client.snapshot())))
    })
}

async fn send(client: &EngineClient, command: Command) -> Result<(), CliError> {
    client
        .send(command)
        .await
        .map_err(|e| CliError::Engine(format!("cannot reach the engine: {e}")))
}

/// Waits until the engine closed its channel (the link says it is lost).
async fn until_stopped(link: super::Link) -> Result<(), CliError> {
    let pid = link.engine.pid;
    let mut status = link.status.clone();
    let lost = status.wait_for(|s| matches!(s, super::LinkStatus::Lost { .. }));
    match tokio::time::timeout(WITHIN, lost).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err(CliError::Engine("the link to the engine ended".into())),
        Err(_) => Err(CliError::Engine(format!(
            "the engine (process {pid}) still answers {} s after the stop",
            WITHIN.as_secs()
        ))),
    }
}

/// The state in lines: who answers, polling, then each set and its servers.
pub fn describe(engine: &super::link::EngineInfo, snapshot: &Snapshot) -> String {
    let mut text = format!(
        "engine: process {} (Standby {}) on {}\n",
        engine.pid,
        engine.program_version,
        engine.settings_path.display()
    );
    let polling = if snapshot.all_paused {
        "paused"
    } else {
        "running"
    };
    let _ = writeln!(
        text,
        "polling: {polling} ({} polls completed)",
        snapshot.stats.polls_completed
    );
    if let Some(error) = &snapshot.settings_error {
        let _ = writeln!(text, "settings error: {error}");
    }
    for set in &snapshot.sets {
        let decision = match &set.decision {
            Decision::Waiting => "no change yet (waiting for polls)".to_string(),
            Decision::LeaveAsIs => "no change (every server failed)".to_string(),
            Decision::Publish { addresses, .. } => addresses
                .iter()
                .map(|(address, _)| address.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        let paused = if set.paused { ", paused" } else { "" };
        let _ = writeln!(
            text,
            "set {}: {:?}{paused}, DNS gets {decision}",
            set.name, set.health
        );
        for server in &set.servers {
            let _ = writeln!(
                text,
                "  server {}: {}",
                server.public_ip,
                server.status.label()
            );
        }
    }
    text
}

//! The poller: owns the probes (one per set, built from its polling method, kept by set
//! name while the method stays the same) and runs the polls the core starts, each as a
//! task that reports a [`PollResult`] back to the engine loop.
//!
//! **Invariant:** every started poll reports exactly once (a probe that overruns its time-out
//! is cut off and reported as a time-out), so the core's count of polls in flight is right.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::engine::machine::{PollId, PollStart};
use crate::model::{PollMethod, Settings};
use crate::probe::{self, BuildError, Failure, FailureKind, PollOutcome, PollStage, Probe};

/// Results waiting for the loop. Cannot grow past the polls in flight (the core's limit),
/// since each poll sends once; a task waits rather than drop a result.
const RESULTS: usize = 1024;

/// A finished poll.
pub struct PollResult {
    pub id: PollId,
    /// When the poll really started, and how long after it was due.
    pub started: Instant,
    pub lateness: Duration,
    pub outcome: PollOutcome,
}

/// A built probe, or why not; shared by every poll of the set (hence the `Arc`).
type Built = Result<Arc<dyn Probe>, Arc<BuildError>>;

pub struct Poller {
    probes: HashMap<String, (PollMethod, Built)>,
    results: mpsc::Sender<PollResult>,
}

impl Poller {
    pub fn new() -> (Poller, mpsc::Receiver<PollResult>) {
        let (results, rx) = mpsc::channel(RESULTS);
        let poller = Poller {
            probes: HashMap::new(),
            results,
        };
        (poller, rx)
    }

    /// Builds the probes of new or changed polling methods, forgets those of sets that are
    /// gone, and says which sets cannot poll (by name, and why).
    pub fn prepare(&mut self, settings: &Settings) -> BTreeMap<String, String> {
        let mut probes = HashMap::with_capacity(settings.server_sets.len());
        let mut unavailable = BTreeMap::new();
        // The connectivity guard's references are polled as a set of their own.
        let guard = settings.options.connectivity_guard.as_set();
        for set in settings.server_sets.iter().chain(guard.as_ref()) {
            let entry = match self.probes.remove(&set.name) {
                Some((method, built)) if method == set.polling => (method, built),
                _ => (
                    set.polling.clone(),
                    probe::build(&set.polling).map_err(Arc::new),
                ),
            };
            if let Err(why) = &entry.1 {
                unavailable.insert(set.name.clone(), why.to_string());
            }
            probes.insert(set.name.clone(), entry);
        }
        self.probes = probes;
        unavailable
    }

    /// Runs one poll as a task.
    pub fn start(&self, start: PollStart) {
        let probe = match self.probes.get(&start.target.set_name) {
            Some((_, Ok(probe))) => Ok(probe.clone()),
            Some((_, Err(why))) => Err(why.clone()),
            None => Err(Arc::new(BuildError::NotBuilt)),
        };
        let results = self.results.clone();
        let PollStart { id, target, due } = start;
        tokio::spawn(async move {
            let started = Instant::now();
            let lateness = started.saturating_duration_since(due);
            let outcome = match probe {
                Ok(probe) => {
                    // A probe must end by its time-out; this is the safety net if one does not.
                    let limit = target.timeout + Duration::from_secs(1);
                    match tokio::time::timeout(limit, probe.poll(&target)).await {
                        Ok(outcome) => outcome,
                        Err(_) => PollOutcome::failure(
                            Failure::new(FailureKind::Timeout, PollStage::Waiting),
                            format!("timeout after {} s", target.timeout.as_secs()),
                            started.elapsed(),
                        ),
                    }
                }
                // The core does not poll a set whose probe failed to build; should it, the
                // poll still reports, so that it is counted back.
                Err(why) => PollOutcome::failure(
                    Failure::new(FailureKind::Network, PollStage::Connecting),
                    why.to_string(),
                    Duration::ZERO,
                ),
            };
            let _ = results
                .send(PollResult {
                    id,
                    started,
                    lateness,
                    outcome,
                })
                .await;
        });
    }
}

//! The DNS runner: owns the DNS updaters (built from each DNS server's update method, kept
//! while it stays the same), the limit of DNS runs at once (`max_concurrent_updates`, a
//! semaphore) and the tasks of the runs in flight, so that the core can cancel one. Each
//! run is `dns_worker::run` as a task; its outcome comes back as a [`DnsResult`].

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::AbortHandle;

use crate::dnsupdate::propagation::Resolver;
use crate::dnsupdate::{self, BuildError, DnsError, DnsStage, DnsUpdater, FailureKind};
use crate::engine::dns_sync::Outcome;
use crate::engine::dns_worker;
use crate::engine::machine::{DnsRunId, DnsStart};
use crate::model::{Settings, UpdateMethod};

/// Results waiting for the loop. Cannot grow past the runs in flight (one per DNS pair at
/// most); a task waits rather than drop a result.
const RESULTS: usize = 256;

/// A finished pipeline run.
pub struct DnsResult {
    pub id: DnsRunId,
    pub outcome: Outcome,
}

/// A built updater, or why not; shared by every run on that method (hence the `Arc`).
type Built = Result<Arc<dyn DnsUpdater>, Arc<BuildError>>;

pub struct DnsRunner {
    permits: Arc<Semaphore>,
    max: u32,
    updaters: Vec<(UpdateMethod, Built)>,
    /// `propagation_resolver` of the Options.
    resolver: Resolver,
    /// Runs in flight by number.
    running: HashMap<u64, AbortHandle>,
    results: mpsc::Sender<DnsResult>,
    /// Cluster mode: every write proves leadership first.
    fence: Option<crate::cluster::Fence>,
}

impl DnsRunner {
    pub fn new() -> (DnsRunner, mpsc::Receiver<DnsResult>) {
        let (results, rx) = mpsc::channel(RESULTS);
        let runner = DnsRunner {
            permits: Arc::new(Semaphore::new(1)),
            max: 1,
            updaters: Vec::new(),
            resolver: Resolver::System,
            running: HashMap::new(),
            results,
            fence: None,
        };
        (runner, rx)
    }

    /// Follows new settings: the limit (runs holding permits of the old one finish), and
    /// forgets updaters no DNS server uses any more.
    pub fn prepare(&mut self, settings: &Settings) {
        let max = settings.options.dns_updating.max_concurrent_updates.max(1);
        if max != self.max {
            self.permits = Arc::new(Semaphore::new(max as usize));
            self.max = max;
        }
        let options = &settings.options.dns_updating;
        // Validated settings always parse; should one not, the system's resolver serves.
        self.resolver = Resolver::new(options.resolver().ok().flatten());
        let in_use: Vec<UpdateMethod> = settings
            .server_sets
            .iter()
            .flat_map(|s| crate::engine::dns_sync::SetDns::servers_of(s, options))
            .map(|d| d.update)
            .collect();
        self.updaters.retain(|(method, _)| in_use.contains(method));
    }

    /// Cluster mode's fence for the runs from now on (`None`: alone).
    pub fn set_fence(&mut self, fence: Option<crate::cluster::Fence>) {
        self.fence = fence;
    }

    fn updater(&mut self, method: &UpdateMethod) -> Built {
        if let Some((_, built)) = self.updaters.iter().find(|(m, _)| m == method) {
            return built.clone();
        }
        let built = dnsupdate::build(method).map_err(Arc::new);
        self.updaters.push((method.clone(), built.clone()));
        built
    }

    /// Runs one pair's pipeline as a task.
    pub fn start(&mut self, start: DnsStart) {
        let DnsStart { id, job } = start;
        let updater = self.updater(&job.server.update);
        let permits = self.permits.clone();
        let results = self.results.clone();
        let resolver = self.resolver.clone();
        let fence = self.fence.clone();
        let task = tokio::spawn(async move {
            // The semaphore is never closed; should that change, the run simply goes ahead.
            let _permit = permits.acquire_owned().await.ok();
            let limit = dns_worker::run_limit();
            let outcome = match tokio::time::timeout(
                limit,
                dns_worker::run(&job, &updater, &resolver, fence.as_ref()),
            )
            .await
            {
                Ok(outcome) => outcome,
                // Each step has its own time-out; this is the safety net.
                Err(_) => Outcome::Failed {
                    error: DnsError::new(
                        FailureKind::Timeout,
                        DnsStage::Updating,
                        format!("timeout after {} s", limit.as_secs()),
                    ),
                    served: None,
                },
            };
            let _ = results.send(DnsResult { id, outcome }).await;
        });
        self.running.insert(id.run, task.abort_handle());
    }

    /// Cancels a run; should its result still arrive, the core drops it.
    pub fn cancel(&mut self, run: u64) {
        if let Some(task) = self.running.remove(&run) {
            task.abort();
        }
    }

    /// A run's result arrived.
    pub fn finished(&mut self, run: u64) {
        self.running.remove(&run);
    }
}

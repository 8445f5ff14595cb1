//! One writer (issue 13 item 5): the leader is the instance whose name is in the election
//! key `/standby/<cluster>/leader`, created only if absent and bound to its lease, so it
//! vanishes when the leader dies or loses etcd. The [`Fence`] is what a DNS write asks
//! first.
//!
//! **Why no two writers at any moment:** a write goes ahead only when (1) a transaction
//! proves the election key is still the one this instance created (its create revision),
//! and (2) by this instance's own clock its lease cannot have expired before the write's
//! time-out ends. The lease's end is counted from when the last successful keep-alive was
//! *sent* (etcd renews on receipt, later), minus a margin for clock-rate drift, so this
//! instance's idea of its lease's end is never later than etcd's. A new leader can only
//! create the key after etcd expired the old lease, by which time the old leader's own
//! clock has stopped it, and every write it began was bounded to end before that. (1)
//! alone is not enough: a leader cut off after its proof could write long after.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::etcd::{Compare, Etcd, EtcdError};

/// Kept off the lease's end: clock-rate drift between this machine and etcd's, and the
/// moment between the fence and the write's first packet.
pub const LEASE_MARGIN: Duration = Duration::from_millis(500);

/// Below this much time left a write is not started at all.
pub const MIN_WRITE_BUDGET: Duration = Duration::from_millis(300);

/// Why the fence lets no DNS write through now.
#[derive(Debug, thiserror::Error)]
pub enum NoWrite {
    #[error("this instance does not lead the cluster: no DNS write")]
    NotLeader,
    #[error("no etcd client")]
    NoEtcd,
    #[error("this instance's etcd lease may be about to expire: no DNS write")]
    LeaseEnding,
    #[error("another instance leads the cluster now: no DNS write")]
    AnotherLeads,
    #[error("leadership not proved ({0}): no DNS write")]
    NotProved(EtcdError),
}

/// What a DNS write must pass first. Cheap to clone; shared by the cluster task (which
/// sets and clears it) and the DNS runs (which check it).
#[derive(Clone)]
pub struct Fence {
    etcd: Option<Etcd>,
    key: String,
    state: Arc<Mutex<Held>>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Held {
    /// The election key's create revision while this instance leads.
    create_revision: Option<i64>,
    /// When this instance's lease may end at the earliest, by its own clock.
    lease_until: Option<Instant>,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl Fence {
    pub fn new(etcd: Etcd, key: String) -> Fence {
        Fence {
            etcd: Some(etcd),
            key,
            state: Arc::default(),
        }
    }

    /// A fence that never lets a write through (no cluster client could be built).
    pub fn closed() -> Fence {
        Fence {
            etcd: None,
            key: String::new(),
            state: Arc::default(),
        }
    }

    fn held(&self) -> Held {
        self.state.lock().map(|h| *h).unwrap_or_default()
    }

    fn update(&self, change: impl FnOnce(&mut Held)) {
        if let Ok(mut held) = self.state.lock() {
            change(&mut held);
        }
    }

    /// This instance leads with the election key made at `create_revision`.
    pub fn lead(&self, create_revision: i64) {
        self.update(|h| h.create_revision = Some(create_revision));
    }

    /// This instance does not lead (any more).
    pub fn step_down(&self) {
        self.update(|h| h.create_revision = None);
    }

    /// A keep-alive sent at `sent` renewed the lease for `ttl`.
    pub fn renewed(&self, sent: Instant, ttl: Duration) {
        let until = sent + ttl.saturating_sub(LEASE_MARGIN);
        self.update(|h| h.lease_until = Some(h.lease_until.map_or(until, |u| u.max(until))));
    }

    /// A new lease, granted by a request sent at `sent`.
    pub fn new_lease(&self, sent: Instant, ttl: Duration) {
        self.update(|h| {
            h.lease_until = Some(sent + ttl.saturating_sub(LEASE_MARGIN));
            h.create_revision = None;
        });
    }

    /// The time this instance's lease is known to last, from now, by its own clock.
    fn left(&self) -> Duration {
        self.held().lease_until.map_or(Duration::ZERO, |u| {
            u.saturating_duration_since(Instant::now())
        })
    }

    /// Whether this instance leads by its own clock (without asking etcd).
    pub fn leads_by_clock(&self) -> bool {
        self.held().create_revision.is_some() && self.left() >= MIN_WRITE_BUDGET
    }

    /// Proves leadership for one write: the time the write may take (its time-out must
    /// not exceed it), or why no write may be made now.
    pub async fn check(&self) -> Result<Duration, NoWrite> {
        let held = self.held();
        let Some(revision) = held.create_revision else {
            return Err(NoWrite::NotLeader);
        };
        let Some(etcd) = &self.etcd else {
            return Err(NoWrite::NoEtcd);
        };
        if self.left() < MIN_WRITE_BUDGET {
            return Err(NoWrite::LeaseEnding);
        }
        let proof = Compare::CreateRevision(self.key.clone(), revision);
        match etcd.holds(&proof).await {
            Ok(true) => {}
            Ok(false) => {
                self.step_down();
                return Err(NoWrite::AnotherLeads);
            }
            Err(e) => return Err(NoWrite::NotProved(e)),
        }
        // The proof took time: what is left is measured again, after it.
        let left = self.left();
        if left < MIN_WRITE_BUDGET {
            return Err(NoWrite::LeaseEnding);
        }
        Ok(left)
    }
}

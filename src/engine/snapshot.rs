//! Engine → UI: an immutable picture of everything, published through `tokio::sync::watch`.
//! Parts that did not change are shared (`Arc`) between successive snapshots.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::decision::Decision;
use super::dns_sync::PairState;
use super::events::{Event, LogLine};
use super::problems::Problem;
use super::server_state::ServerStatus;
use crate::dnsupdate::propagation::Propagation;
use crate::model::Settings;

/// Everything the UI shows.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// Grows by one with every published snapshot.
    pub generation: u64,
    /// The settings in force; dialogs copy their drafts from here.
    pub settings: Arc<Settings>,
    /// Grows by one with every change of `settings` (the API's ETag; an edit made from an
    /// older revision can ask to be refused).
    pub settings_revision: u64,
    /// The settings file, if there is one.
    pub settings_path: Option<PathBuf>,
    /// Why the settings file could not be (re)loaded, if it could not.
    pub settings_error: Option<String>,
    pub all_paused: bool,
    /// Sets in the order of the settings.
    pub sets: Vec<Arc<SetStatus>>,
    /// Current problems, oldest first.
    pub problems: Arc<Vec<Problem>>,
    /// Recent events, oldest first.
    pub events: Arc<VecDeque<Event>>,
    /// The live log, oldest first.
    pub log: Arc<VecDeque<LogLine>>,
    /// Polls running right now.
    pub polls_in_flight: usize,
    /// Counters of the scheduler, for the status bar, metrics and benchmarks.
    pub stats: PollStats,
    /// Uptime and response-time percentiles over 24 h / 7 d / 30 d, from the history
    /// (recomputed every minute on the history thread; empty until the first).
    pub uptime: Arc<crate::store::report::UptimeReport>,
    /// The notification outbox, as of this snapshot (`/metrics`).
    #[serde(default)]
    pub outbox: crate::notify::OutboxStats,
    /// Cluster mode: the instances, the leader, etcd's health and each server's cluster
    /// view; `None` when this instance runs alone.
    #[serde(default)]
    pub cluster: Option<Arc<super::ClusterStatus>>,
    /// Cluster mode's shared settings: on or off, the etcd revision in force, etcd's reach.
    #[serde(default)]
    pub shared_settings: crate::cluster::shared_settings::SharedStatus,
}

/// How the scheduler keeps up.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PollStats {
    /// Polls finished since the engine started.
    pub polls_completed: u64,
    /// How late recent polls started after they were due (waiting for a permit included),
    /// median and 99th percentile, in milliseconds.
    pub lateness_p50_ms: f32,
    pub lateness_p99_ms: f32,
    /// Every poll's lateness since the start: sum (seconds) and count, for the summary's
    /// `_sum` and `_count`.
    #[serde(default)]
    pub lateness_sum_secs: f64,
    #[serde(default)]
    pub lateness_count: u64,
    /// The limit of polls in flight in force, and what `max_concurrent_polls: 0` (auto)
    /// gives for the settings in force (the Options dialog shows "auto (N)").
    #[serde(default)]
    pub poll_limit: usize,
    #[serde(default)]
    pub auto_poll_limit: usize,
}

impl Snapshot {
    pub fn empty(settings: Arc<Settings>, settings_path: Option<PathBuf>) -> Self {
        Snapshot {
            generation: 0,
            all_paused: settings.options.polling.paused,
            settings,
            settings_revision: 0,
            settings_path,
            settings_error: None,
            sets: Vec::new(),
            problems: Arc::default(),
            events: Arc::default(),
            log: Arc::default(),
            polls_in_flight: 0,
            stats: PollStats::default(),
            uptime: Arc::default(),
            outbox: crate::notify::OutboxStats::default(),
            cluster: None,
            shared_settings: Default::default(),
        }
    }

    pub fn set(&self, name: &str) -> Option<&SetStatus> {
        self.sets.iter().map(Arc::as_ref).find(|s| s.name == name)
    }
}

/// The summary icon of a set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SetHealth {
    /// Not every server has been polled yet.
    Unknown,
    /// Every server works.
    Ok,
    /// A server is failing, or the set has a problem.
    Problem,
    Paused,
}

/// One server set.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SetStatus {
    pub name: String,
    pub paused: bool,
    pub health: SetHealth,
    /// The polling method's label, e.g. `HTTPS` (borrowed in the engine, owned once it
    /// crossed a process).
    pub method: std::borrow::Cow<'static, str>,
    pub servers: Vec<ServerView>,
    /// What DNS should give now.
    pub decision: Decision,
    /// Host names of the set.
    pub host_names: Vec<String>,
    /// Why the set cannot poll at all (e.g. its method is not available).
    pub error: Option<String>,
    /// Every DNS server × host name the set keeps right (empty when it does not update DNS).
    pub dns: Vec<DnsPairView>,
    /// What the set last published, kept across restarts: DNS serving gives it while the
    /// decision waits or says to leave DNS as it is. `None` = never yet.
    pub published: Option<Vec<(std::net::IpAddr, u32)>>,
    /// The TTL DNS gives now: the set's, or its lower one while it is unsettled.
    #[serde(default)]
    pub ttl: u32,
    /// Why the lower TTL is given; `None` = the normal one.
    #[serde(default)]
    pub low_ttl: Option<crate::engine::machine::LowTtlReason>,
}

/// One DNS server × host name of a set.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DnsPairView {
    /// The DNS server as configured (`address` or `address:port`).
    pub dns_server: String,
    pub host: String,
    pub state: PairState,
    /// What the server gave when last asked, e.g. `192.0.2.1, 2001:db8::1` or `none`.
    pub served: Option<String>,
    /// When the state last changed or the records were last updated.
    pub last_change: Option<SystemTime>,
    /// Why the last check or update failed, and its 2xx code.
    pub error: Option<String>,
    pub error_code: Option<u16>,
    /// Name servers of the zone that give the wanted records, of all of them, and how
    /// many could not be asked: `2 of 3, 1 unknown`.
    pub propagation: Option<Propagation>,
    /// A check or update is running now.
    pub in_flight: bool,
    /// Updates that Standby made and checked, and checks or updates that failed, since the
    /// start (`/metrics`).
    #[serde(default)]
    pub updates: u64,
    #[serde(default)]
    pub update_failures: u64,
}

/// One server of a set.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ServerView {
    pub public_ip: String,
    pub poll_ip: String,
    pub name: String,
    pub status: ServerStatus,
    pub last_response: String,
    pub last_response_time: Option<Duration>,
    pub successes: u64,
    pub failures: u64,
    pub last_success: Option<SystemTime>,
    pub last_failure: Option<SystemTime>,
    /// The problem code of the last poll, if it failed.
    pub problem_code: Option<u16>,
    /// Recent response times in milliseconds (failed polls as `None`), oldest first.
    pub recent_times_ms: Vec<Option<f32>>,
    /// How long after it was due the last poll started (waiting for a permit included).
    #[serde(default)]
    pub last_lateness: Option<Duration>,
    /// What the operator decided for the server beside its polls.
    #[serde(default)]
    pub admin: AdminView,
    /// Response times of the successful polls since the start (`/metrics`).
    #[serde(default)]
    pub response_times: super::server_state::ResponseHistogram,
    /// HTTPS: notAfter of the certificate last seen (Unix seconds).
    #[serde(default)]
    pub certificate_not_after: Option<i64>,
}

/// A server's administrative state: what an operator decided beside its polls.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AdminView {
    /// Weight 0: polled and shown, published only while no other server is functional.
    pub drained: bool,
    /// The override in force: forced up or down, when, until when.
    #[serde(default)]
    pub forced: Option<crate::model::Forced>,
    /// In maintenance until then (treated as disabled, no failed/recovered notifications).
    #[serde(default)]
    pub maintenance_until: Option<SystemTime>,
}

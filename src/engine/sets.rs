//! The core's live state of one server set, and its picture for the snapshot. Plain data:
//! no probe, no task handle, no clock (the shell keeps the probes, by set name).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;

use tokio::time::Instant;

use super::decision::{Candidate, Decision, all_failed, decide};
use super::dns_sync::SetDns;
use super::machine::{Admin, Ttl};
use super::server_state::{ServerState, ServerStatus};
use super::snapshot::{AdminView, ServerView, SetHealth, SetStatus};
use crate::model::options::DnsUpdatingOptions;
use crate::model::{AllFailedPolicy, Server, ServerSet};
use crate::probe::PollTarget;
use crate::store::published::Published;

/// How many response times each server keeps for the small plot.
const RECENT_TIMES: usize = 60;

/// One server as the engine runs it.
pub struct ServerRuntime {
    pub config: Server,
    pub public_ip: IpAddr,
    pub poll_ip: IpAddr,
    pub state: ServerState,
    /// Which arming of the timer is current; a popped timer (or queued poll) with another
    /// value is stale.
    pub arming: u64,
    /// Where the server's next poll stands.
    pub phase: Phase,
    /// Its last poll timed out: its next one goes to the slow lane (`machine/polling.rs`).
    pub timed_out: bool,
    /// How long after it was due its last poll started.
    pub last_lateness: Option<std::time::Duration>,
    pub recent_times_ms: VecDeque<Option<f32>>,
    /// The operator's decision in force (`machine/admin.rs`); `None` until first seen.
    pub admin: Option<Admin>,
    /// Cluster mode: the quorum's verdict over every live instance's view, which the
    /// address decision sees instead of this instance's own status; `None` alone. Boxed:
    /// 80 bytes a server that an instance alone never uses (`BENCHMARKS.md`, RSS).
    pub cluster: Option<Box<super::machine::ServerQuorum>>,
    /// When the last judged poll started (for the guard's references: how recent their
    /// verdict is, `machine/guard.rs`).
    pub last_started: Option<Instant>,
    /// When the first failed poll of the current run of failures started; `None` while
    /// polls succeed.
    pub failing_since: Option<Instant>,
}

/// Where a server's poll stands. Only `Idle` servers are armed; a server has at most one
/// poll armed, queued or running at any time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Not scheduled.
    Idle,
    /// A timer is armed for this time.
    Armed(Instant),
    /// Due at this time, waiting for room under the limit of polls in flight.
    Queued(Instant),
    /// A poll (due at this time) is running.
    Running(Instant),
}

impl Phase {
    /// A poll is queued or running: the server is not armed again until it is back.
    pub fn is_busy(self) -> bool {
        matches!(self, Phase::Queued(_) | Phase::Running(_))
    }
}

/// One server set as the engine runs it.
pub struct SetRuntime {
    /// Changes whenever the set is rebuilt, so that results of older polls are dropped.
    pub id: u64,
    pub config: ServerSet,
    /// Why the set's polling method cannot run (the shell could not build its probe).
    pub probe_error: Option<String>,
    pub fallback: Vec<IpAddr>,
    pub servers: Vec<ServerRuntime>,
    pub decision: Decision,
    pub all_failed: bool,
    /// The DNS servers × host names this set keeps right.
    pub dns: SetDns,
    /// What the set last published (kept across restarts); `None` = never yet.
    pub published: Option<Published>,
    /// When what the set publishes last changed (not across restarts): the window of
    /// the lower TTL starts then (`machine/ttl.rs`).
    pub dns_changed_at: Option<Instant>,
    /// The TTL in force (`machine/ttl.rs`).
    pub ttl: Ttl,
    /// The view needs rebuilding.
    pub dirty: bool,
    pub view: Arc<SetStatus>,
}

impl SetRuntime {
    /// Builds a set from its settings, keeping the state of servers of `previous` (same
    /// public address) when the polling method did not change.
    pub fn build(
        id: u64,
        config: ServerSet,
        previous: Option<&SetRuntime>,
        dns_options: &DnsUpdatingOptions,
        probe_error: Option<String>,
    ) -> SetRuntime {
        let same_method = previous.is_some_and(|p| p.config.polling == config.polling);
        let servers = config
            .servers
            .iter()
            .filter_map(|s| {
                // Validation guarantees these parse; a server that does not is skipped.
                let public_ip: IpAddr = s.public_ip.trim().parse().ok()?;
                let poll_ip: IpAddr = s.poll_address().trim().parse().ok()?;
                let same_server =
                    previous.and_then(|p| p.servers.iter().find(|o| o.public_ip == public_ip));
                let kept = same_server.filter(|_| same_method);
                let state = if s.disabled {
                    ServerState::disabled()
                } else {
                    match kept {
                        Some(old) if old.state.status != ServerStatus::Disabled => {
                            old.state.clone()
                        }
                        _ => ServerState::default(),
                    }
                };
                Some(ServerRuntime {
                    config: s.clone(),
                    public_ip,
                    poll_ip,
                    state,
                    arming: 0,
                    phase: Phase::Idle,
                    timed_out: kept.is_some_and(|o| o.timed_out),
                    last_lateness: kept.and_then(|o| o.last_lateness),
                    recent_times_ms: kept.map(|o| o.recent_times_ms.clone()).unwrap_or_default(),
                    admin: same_server.and_then(|o| o.admin),
                    cluster: kept.and_then(|o| o.cluster.clone()),
                    last_started: kept.and_then(|o| o.last_started),
                    failing_since: kept.and_then(|o| o.failing_since),
                })
            })
            .collect();
        let fallback = match &config.dns.if_all_fail {
            AllFailedPolicy::Fallback(list) => {
                list.iter().filter_map(|a| a.trim().parse().ok()).collect()
            }
            _ => Vec::new(),
        };
        let dns = SetDns::build(&config, dns_options);
        let config_ttl = config.dns.ttl;
        let mut set = SetRuntime {
            id,
            config,
            probe_error,
            fallback,
            servers,
            decision: Decision::Waiting,
            all_failed: false,
            dns,
            published: previous.and_then(|p| p.published.clone()),
            dns_changed_at: previous.and_then(|p| p.dns_changed_at),
            ttl: Ttl {
                ttl: config_ttl,
                low: None,
                window_ends: None,
            },
            dirty: true,
            view: Arc::new(SetStatus {
                name: String::new(),
                paused: false,
                health: SetHealth::Unknown,
                method: "".into(),
                servers: Vec::new(),
                decision: Decision::Waiting,
                host_names: Vec::new(),
                error: None,
                dns: Vec::new(),
                published: None,
                ttl: config_ttl,
                low_ttl: None,
            }),
        };
        set.decision = set.decide();
        set.all_failed = all_failed(&set.candidates());
        set
    }

    pub fn candidates(&self) -> Vec<Candidate> {
        self.servers
            .iter()
            .map(|s| Candidate {
                address: s.public_ip,
                weight: s.config.weight,
                status: s.effective_status(),
            })
            .collect()
    }

    pub fn decide(&self) -> Decision {
        decide(&self.config.dns, &self.candidates(), &self.fallback)
    }

    /// Any server failing or retrying: polls switch to the failed interval.
    pub fn has_failure(&self) -> bool {
        self.servers.iter().any(|s| {
            matches!(
                s.state.status,
                ServerStatus::Failed | ServerStatus::Retrying
            )
        })
    }

    /// In sequential mode a server is polled only while no higher-priority server is OK
    /// and published: a drained one (weight 0) working does not stand in for those below.
    pub fn is_needed(&self, index: usize) -> bool {
        !self.config.frequency.sequential
            || !self.servers[..index]
                .iter()
                .any(|s| s.effective_status() == ServerStatus::Ok && s.config.weight > 0)
    }

    pub fn target(&self, index: usize) -> PollTarget {
        let s = &self.servers[index];
        PollTarget {
            address: s.poll_ip,
            public_address: s.public_ip,
            name: s.config.display_name().to_string(),
            host: self.config.dns.main_host().to_string(),
            set_name: self.config.name.clone(),
            timeout: self
                .config
                .frequency
                .timeout
                .max(crate::engine::server_state::MIN_DELAY),
        }
    }

    /// The subject of a server's problems and events.
    pub fn subject(&self, index: usize) -> String {
        let s = &self.servers[index];
        if s.config.name.is_empty() {
            s.public_ip.to_string()
        } else {
            format!("{} ({})", s.config.name, s.public_ip)
        }
    }

    /// Rebuilds the view if anything changed.
    pub fn refresh_view(&mut self, has_problem: bool) -> Arc<SetStatus> {
        if self.dirty {
            self.dirty = false;
            self.view = Arc::new(self.make_view(has_problem));
        }
        self.view.clone()
    }

    fn make_view(&self, has_problem: bool) -> SetStatus {
        let in_set = || {
            self.servers
                .iter()
                .filter(|s| s.state.status != ServerStatus::Disabled)
        };
        let health = if self.config.paused {
            SetHealth::Paused
        } else if has_problem || self.probe_error.is_some() || self.has_failure() {
            SetHealth::Problem
        } else if in_set().any(|s| s.state.status == ServerStatus::NotTested) {
            SetHealth::Unknown
        } else {
            SetHealth::Ok
        };
        SetStatus {
            name: self.config.name.clone(),
            paused: self.config.paused,
            health,
            method: self.config.polling.label().into(),
            servers: self
                .servers
                .iter()
                .map(|s| ServerView {
                    public_ip: s.public_ip.to_string(),
                    poll_ip: s.poll_ip.to_string(),
                    name: s.config.display_name().to_string(),
                    status: s.state.status,
                    last_response: s.state.last_response.clone(),
                    last_response_time: s.state.last_response_time,
                    successes: s.state.successes,
                    failures: s.state.failures,
                    last_success: s.state.last_success,
                    last_failure: s.state.last_failure,
                    problem_code: s.state.last_failure_kind.map(|f| f.code()),
                    recent_times_ms: s.recent_times_ms.iter().copied().collect(),
                    last_lateness: s.last_lateness,
                    response_times: s.state.response_times,
                    certificate_not_after: s.state.certificate_not_after,
                    admin: AdminView {
                        drained: s.config.weight == 0,
                        forced: match s.admin {
                            Some(Admin::Forced(_)) => s.config.forced.clone(),
                            _ => None,
                        },
                        maintenance_until: match s.admin {
                            Some(Admin::Maintenance(until)) => Some(until),
                            _ => None,
                        },
                    },
                })
                .collect(),
            decision: self.decision.clone(),
            host_names: self.config.dns.host_names.clone(),
            error: self.probe_error.clone(),
            dns: self.dns.views(),
            published: self.published.clone(),
            ttl: self.ttl.ttl,
            low_ttl: self.ttl.low,
        }
    }
}

impl ServerRuntime {
    /// The status the address decision sees: the polls' one, unless an operator decided
    /// otherwise.
    pub fn effective_status(&self) -> ServerStatus {
        use super::machine::quorum::Verdict;
        let status = match (&self.cluster, self.state.status) {
            (_, ServerStatus::Disabled) | (None, _) => self.state.status,
            // In a cluster the quorum decides; until it has spoken, the decision waits.
            (Some(q), _) => match q.verdict {
                Verdict::Up => ServerStatus::Ok,
                Verdict::Down => ServerStatus::Failed,
                Verdict::Undecided => ServerStatus::NotTested,
            },
        };
        self.admin.unwrap_or(Admin::Normal).effective(status)
    }

    pub fn record_time(&mut self, ms: Option<f32>) {
        super::events::push_bounded(&mut self.recent_times_ms, ms, RECENT_TIMES);
    }
}

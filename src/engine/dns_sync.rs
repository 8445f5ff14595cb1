//! Keeping DNS servers right (SPEC §4), per *pair* of DNS server × host name.
//!
//! The pure part is here: the pair's state machine ([`on_wanted`], [`on_outcome`]), its
//! back-off, and the per-set data the core owns (plain data: no updater, no task handle).
//! The core's DNS part (`machine/dns.rs`) drives it; the network work is in `dns_worker`,
//! which the shell (`shell/dns_runner.rs`) runs as tasks.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::decision::Decision;
use super::snapshot::DnsPairView;
use crate::dnsupdate::propagation::Propagation;
use crate::dnsupdate::{DnsError, Records};
use crate::model::options::DnsUpdatingOptions;
use crate::model::{DnsServer, EventKind, ServerSet};

/// First retry after a failure; doubles with each failure in a row.
pub const BACKOFF_FIRST: Duration = Duration::from_secs(5);
/// Retries never wait longer than this.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Where a pair stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PairState {
    /// Not checked yet for the current wanted records.
    Pending,
    /// The server already gave the wanted records.
    Matched,
    /// Standby updated the server and checked the result.
    Updated,
    /// The last check or update failed; retried with back-off.
    Failed,
}

impl PairState {
    pub fn label(self) -> &'static str {
        match self {
            PairState::Pending => "Pending",
            PairState::Matched => "Matched",
            PairState::Updated => "Updated",
            PairState::Failed => "Failed",
        }
    }
}

/// What one run of the pipeline found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The server already gives the wanted records.
    Matched {
        served: Records,
        propagation: Option<Propagation>,
    },
    /// The records were `before`, the update made them the wanted ones.
    Updated {
        before: Records,
        after: Records,
        /// The updater's short text (`NOERROR`, `HTTP 200 OK`, `exit code 0`).
        text: String,
        propagation: Option<Propagation>,
    },
    Failed {
        error: DnsError,
        /// What the server gave, if it was asked before the failure.
        served: Option<Records>,
    },
}

/// The part of a pair the state machine reads and writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairCore {
    pub state: PairState,
    /// Failures in a row, for the back-off.
    pub failures: u32,
    /// When the pipeline should run next; `None` = not scheduled (nothing wanted).
    pub next: Option<Instant>,
}

impl Default for PairCore {
    fn default() -> Self {
        Self {
            state: PairState::Pending,
            failures: 0,
            next: None,
        }
    }
}

/// What the engine must do beside storing the new core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    Event(EventKind),
    RaiseProblem,
    ClearProblem,
}

/// The wait after `failures` failures in a row: 5 s, 10 s, 20 s... up to 5 min.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    BACKOFF_FIRST
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_MAX)
}

/// The wanted records changed (`Some`) or nothing is wanted any more (`None`: the decision
/// is `Waiting` or `LeaveAsIs`). Returns the new core; the caller also cancels any run in
/// flight, whose result is stale now.
pub fn on_wanted(core: &PairCore, wanted: Option<&Records>, now: Instant) -> PairCore {
    match wanted {
        Some(_) => PairCore {
            state: PairState::Pending,
            failures: 0,
            next: Some(now),
        },
        // Nothing is changed: the pair keeps showing what it last knew.
        None => PairCore {
            next: None,
            ..core.clone()
        },
    }
}

/// A run finished at `now`. Returns the new core and what to tell.
pub fn on_outcome(
    core: &PairCore,
    outcome: &Outcome,
    recheck: Duration,
    now: Instant,
) -> (PairCore, Vec<Effect>) {
    let was_right = matches!(core.state, PairState::Matched | PairState::Updated);
    match outcome {
        Outcome::Matched { .. } => (
            PairCore {
                state: PairState::Matched,
                failures: 0,
                next: Some(now + recheck),
            },
            vec![Effect::ClearProblem],
        ),
        Outcome::Updated { before, after, .. } => {
            // Right before and wrong at the re-check: someone else changed the records.
            let event = if was_right {
                Some(EventKind::DnsChangedExternally)
            } else if before.addresses == after.addresses {
                // Only the TTL changed (the lower TTL given or taken back): logged, but
                // nobody is told "DNS updated" for the same addresses.
                None
            } else {
                Some(EventKind::DnsUpdated)
            };
            let mut effects = vec![Effect::ClearProblem];
            effects.extend(event.map(Effect::Event));
            (
                PairCore {
                    state: PairState::Updated,
                    failures: 0,
                    next: Some(now + recheck),
                },
                effects,
            )
        }
        Outcome::Failed { .. } => {
            let failures = core.failures.saturating_add(1);
            let mut effects = vec![Effect::RaiseProblem];
            // One event per fault, not one per retry.
            if core.state != PairState::Failed {
                effects.push(Effect::Event(EventKind::DnsUpdateFailed));
            }
            (
                PairCore {
                    state: PairState::Failed,
                    failures,
                    next: Some(now + backoff(failures)),
                },
                effects,
            )
        }
    }
}

/// The records a decision wants, with the set's TTL.
pub fn wanted_records(decision: &Decision, ttl: u32) -> Option<Records> {
    decision
        .addresses()
        .map(|addresses: Vec<IpAddr>| Records::new(addresses, Some(ttl)))
}

/// One DNS server a set keeps right.
pub struct DnsTarget {
    pub config: DnsServer,
    /// `address` or `address:port` (port when not 53); `$DNSSERVER$` and problem subjects.
    pub label: String,
}

/// One DNS server × host name.
pub struct DnsPair {
    /// Index into [`SetDns::targets`].
    pub target: usize,
    pub host: String,
    pub core: PairCore,
    /// What the server gave when last asked.
    pub served: Option<Records>,
    pub last_change: Option<SystemTime>,
    pub error: Option<DnsError>,
    pub propagation: Option<Propagation>,
    /// The number of the run in flight, if any (the shell holds its task).
    pub running: Option<u64>,
    /// Updates made and runs failed since the start (`/metrics`).
    pub updates: u64,
    pub update_failures: u64,
}

/// The DNS side of one set.
#[derive(Default)]
pub struct SetDns {
    /// The servers in force (`Options` defaults first, then the set's own), for comparing
    /// when settings change.
    pub servers: Vec<DnsServer>,
    pub targets: Vec<DnsTarget>,
    pub pairs: Vec<DnsPair>,
    /// The records currently wanted; `None` = change nothing.
    pub wanted: Option<Records>,
}

impl SetDns {
    /// The DNS servers a set keeps right (none when it does not update DNS).
    pub fn servers_of(set: &ServerSet, options: &DnsUpdatingOptions) -> Vec<DnsServer> {
        if !set.update_dns.enabled {
            return Vec::new();
        }
        let defaults = set
            .update_dns
            .use_default_servers
            .then_some(options.default_dns_servers.iter())
            .into_iter()
            .flatten();
        defaults
            .chain(set.update_dns.dns_servers.iter())
            .cloned()
            .collect()
    }

    /// Builds the pairs of a set; every pair starts `Pending`, unscheduled.
    pub fn build(set: &ServerSet, options: &DnsUpdatingOptions) -> SetDns {
        let servers = Self::servers_of(set, options);
        let targets: Vec<DnsTarget> = servers
            .iter()
            .map(|config| DnsTarget {
                config: config.clone(),
                label: label(config),
            })
            .collect();
        let mut pairs = Vec::new();
        for (target, _) in targets.iter().enumerate() {
            for host in &set.dns.host_names {
                pairs.push(DnsPair {
                    target,
                    // What DNS carries: an international name in punycode (the window
                    // shows it in Unicode again).
                    host: crate::model::idn::ascii_or_same(host),
                    core: PairCore::default(),
                    served: None,
                    last_change: None,
                    error: None,
                    propagation: None,
                    running: None,
                    updates: 0,
                    update_failures: 0,
                });
            }
        }
        SetDns {
            servers,
            targets,
            pairs,
            wanted: None,
        }
    }

    /// `"<dns server> <host>"`: the subject of the pair's problems and events.
    pub fn subject(&self, pair: usize) -> String {
        let p = &self.pairs[pair];
        format!("{} {}", self.targets[p.target].label, p.host)
    }

    /// The earliest time a pair is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pairs
            .iter()
            .filter(|p| p.running.is_none())
            .filter_map(|p| p.core.next)
            .min()
    }

    pub fn views(&self) -> Vec<DnsPairView> {
        self.pairs
            .iter()
            .map(|p| DnsPairView {
                dns_server: self.targets[p.target].label.clone(),
                host: p.host.clone(),
                state: p.core.state,
                served: p.served.as_ref().map(Records::describe),
                last_change: p.last_change,
                error: p.error.as_ref().map(|e| e.text.clone()),
                error_code: p.error.as_ref().map(DnsError::code),
                propagation: p.propagation,
                in_flight: p.running.is_some(),
                updates: p.updates,
                update_failures: p.update_failures,
            })
            .collect()
    }
}

/// How a DNS server is named in the UI, problems and `$DNSSERVER$`.
pub fn label(server: &DnsServer) -> String {
    let address = server.address.trim();
    if address.is_empty() {
        // An API method without a DNS server to ask: the provider is the subject.
        server.update.label().to_string()
    } else if server.port == 53 {
        address.to_string()
    } else if address.contains(':') {
        format!("[{address}]:{}", server.port)
    } else {
        format!("{address}:{}", server.port)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::dnsupdate::{DnsStage, FailureKind};

    const RECHECK: Duration = Duration::from_secs(600);

    /// State before, failures before, outcome, state after, failures after, next run in,
    /// effects.
    type Row = (
        PairState,
        u32,
        Outcome,
        PairState,
        u32,
        Duration,
        Vec<Effect>,
    );

    fn records(list: &[&str]) -> Records {
        Records::new(list.iter().map(|a| a.parse().unwrap()).collect(), Some(60))
    }

    fn core(state: PairState, failures: u32) -> PairCore {
        PairCore {
            state,
            failures,
            next: None,
        }
    }

    fn matched() -> Outcome {
        Outcome::Matched {
            served: records(&["192.0.2.1"]),
            propagation: None,
        }
    }

    fn updated() -> Outcome {
        Outcome::Updated {
            before: records(&["192.0.2.2"]),
            after: records(&["192.0.2.1"]),
            text: "exit code 0".into(),
            propagation: Some(Propagation::known(2, 3)),
        }
    }

    /// Only the TTL changed (the lower TTL given or taken back).
    fn ttl_only() -> Outcome {
        Outcome::Updated {
            before: records(&["192.0.2.1"]),
            after: Records::new(vec!["192.0.2.1".parse().unwrap()], Some(10)),
            text: "NOERROR".into(),
            propagation: None,
        }
    }

    fn failed() -> Outcome {
        Outcome::Failed {
            error: DnsError::new(FailureKind::Timeout, DnsStage::Asking, "timeout after 5 s"),
            served: None,
        }
    }

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        let table = [
            (0, 5),
            (1, 5),
            (2, 10),
            (3, 20),
            (4, 40),
            (6, 160),
            (7, 300),
            (40, 300),
        ];
        for (failures, secs) in table {
            assert_eq!(backoff(failures), Duration::from_secs(secs), "{failures}");
        }
    }

    #[test]
    fn outcomes_table() {
        use Effect::*;
        use EventKind::*;
        use PairState::*;
        let now = Instant::now();
        let table: Vec<Row> = vec![
            (
                Pending,
                0,
                matched(),
                Matched,
                0,
                RECHECK,
                vec![ClearProblem],
            ),
            (
                Failed,
                3,
                matched(),
                Matched,
                0,
                RECHECK,
                vec![ClearProblem],
            ),
            (
                Pending,
                0,
                updated(),
                Updated,
                0,
                RECHECK,
                vec![ClearProblem, Event(DnsUpdated)],
            ),
            (
                Failed,
                2,
                updated(),
                Updated,
                0,
                RECHECK,
                vec![ClearProblem, Event(DnsUpdated)],
            ),
            // Only the TTL changed: no "DNS updated" for the same addresses.
            (
                Pending,
                0,
                ttl_only(),
                Updated,
                0,
                RECHECK,
                vec![ClearProblem],
            ),
            // A re-check found the records changed behind Standby's back and put them back.
            (
                Matched,
                0,
                updated(),
                Updated,
                0,
                RECHECK,
                vec![ClearProblem, Event(DnsChangedExternally)],
            ),
            (
                Updated,
                0,
                updated(),
                Updated,
                0,
                RECHECK,
                vec![ClearProblem, Event(DnsChangedExternally)],
            ),
            (
                Pending,
                0,
                failed(),
                Failed,
                1,
                Duration::from_secs(5),
                vec![RaiseProblem, Event(DnsUpdateFailed)],
            ),
            (
                Matched,
                0,
                failed(),
                Failed,
                1,
                Duration::from_secs(5),
                vec![RaiseProblem, Event(DnsUpdateFailed)],
            ),
            // A retry that fails again: the problem stays, no second event, longer wait.
            (
                Failed,
                1,
                failed(),
                Failed,
                2,
                Duration::from_secs(10),
                vec![RaiseProblem],
            ),
            (
                Failed,
                9,
                failed(),
                Failed,
                10,
                BACKOFF_MAX,
                vec![RaiseProblem],
            ),
        ];
        for (i, (state, failures, outcome, after, failures_after, next, effects)) in
            table.into_iter().enumerate()
        {
            let (new, got) = on_outcome(&core(state, failures), &outcome, RECHECK, now);
            assert_eq!(new.state, after, "row {i}");
            assert_eq!(new.failures, failures_after, "row {i}");
            assert_eq!(new.next, Some(now + next), "row {i}");
            assert_eq!(got, effects, "row {i}");
        }
    }

    #[test]
    fn wanted_changes() {
        let now = Instant::now();
        let wanted = records(&["192.0.2.1"]);
        let before = PairCore {
            state: PairState::Failed,
            failures: 4,
            next: Some(now + Duration::from_secs(80)),
        };
        // New records wanted: start over at once, back-off forgotten.
        assert_eq!(
            on_wanted(&before, Some(&wanted), now),
            PairCore {
                state: PairState::Pending,
                failures: 0,
                next: Some(now)
            }
        );
        // Waiting / leave as is: nothing is changed, nothing scheduled, state kept.
        let after = on_wanted(&before, None, now);
        assert_eq!(after.state, PairState::Failed);
        assert_eq!(after.next, None);
    }

    #[test]
    fn wanted_from_decisions() {
        use crate::engine::decision::Basis;
        assert_eq!(wanted_records(&Decision::Waiting, 60), None);
        assert_eq!(wanted_records(&Decision::LeaveAsIs, 60), None);
        let d = Decision::Publish {
            addresses: vec![
                ("2001:db8::1".parse().unwrap(), 1),
                ("192.0.2.1".parse().unwrap(), 1),
            ],
            basis: Basis::Functional,
        };
        let wanted = wanted_records(&d, 30).unwrap();
        // Sorted for comparing with what servers give; the decision's first kept for $IP$.
        assert_eq!(
            wanted.addresses,
            [
                "192.0.2.1".parse::<IpAddr>().unwrap(),
                "2001:db8::1".parse().unwrap()
            ]
        );
        assert_eq!(wanted.ttl, Some(30));
        assert_eq!(wanted.first, Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn pairs_and_labels() {
        let mut set = ServerSet::default();
        set.dns.host_names = vec!["www.example.test".into(), "example.test".into()];
        set.update_dns.enabled = true;
        set.update_dns.dns_servers = vec![DnsServer {
            address: "ns1.example.test".into(),
            port: 5353,
            ..DnsServer::default()
        }];
        let options = DnsUpdatingOptions {
            default_dns_servers: vec![DnsServer {
                address: "2001:db8::53".into(),
                ..DnsServer::default()
            }],
            ..DnsUpdatingOptions::default()
        };
        let dns = SetDns::build(&set, &options);
        assert_eq!(dns.pairs.len(), 4);
        assert_eq!(dns.subject(0), "2001:db8::53 www.example.test");
        assert_eq!(dns.subject(3), "ns1.example.test:5353 example.test");
        set.update_dns.use_default_servers = false;
        assert_eq!(SetDns::build(&set, &options).pairs.len(), 2);
        set.update_dns.enabled = false;
        assert!(SetDns::build(&set, &options).pairs.is_empty());
        let v6 = DnsServer {
            address: "2001:db8::53".into(),
            port: 5300,
            ..DnsServer::default()
        };
        assert_eq!(label(&v6), "[2001:db8::53]:5300");
    }
}

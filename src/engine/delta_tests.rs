//! A simulated run: many generations of snapshots changing the way the engine changes
//! them (sets added, removed, reordered and edited, servers failing, problems raised and
//! cleared, the log and events growing past their caps, cleared, settings replaced). Each
//! step's delta crosses "the process" as JSON and is applied to the other side's copy,
//! which must equal the engine's snapshot and share its unchanged sets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::*;
use crate::engine::decision::{Basis, Decision};
use crate::engine::dns_sync::PairState;
use crate::engine::events::{EventDetails, Level, push_bounded};
use crate::engine::server_state::ServerStatus;
use crate::engine::snapshot::{DnsPairView, ServerView, SetHealth};
use crate::model::EventKind;

/// xorshift64*: a seeded world without a dependency on rand's API.
struct World(u64);

impl World {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const STATUSES: [ServerStatus; 6] = [
    ServerStatus::NotTested,
    ServerStatus::Ok,
    ServerStatus::Retrying,
    ServerStatus::Failed,
    ServerStatus::Disabled,
    ServerStatus::Skipped,
];

fn time(step: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(1_764_000_000_000 + step * 250)
}

fn server(world: &mut World, k: usize, step: u64) -> ServerView {
    let failed = world.chance(30);
    ServerView {
        public_ip: format!("192.0.2.{k}"),
        poll_ip: format!("192.0.2.{k}"),
        name: format!("web{k}"),
        status: STATUSES[world.below(STATUSES.len())],
        last_response: if failed {
            "timeout after 5 s".into()
        } else {
            "200 OK".into()
        },
        last_response_time: Some(Duration::from_micros(world.next() % 1_000_000)),
        successes: world.next() % 1000,
        failures: world.next() % 100,
        last_success: Some(time(step)),
        last_failure: failed.then(|| time(step)),
        problem_code: failed.then_some(124),
        recent_times_ms: (0..world.below(20))
            .map(|i| (i % 3 != 0).then_some(i as f32 * 1.5))
            .collect(),
        last_lateness: world
            .chance(50)
            .then(|| Duration::from_millis(world.next() % 5_000)),
        response_times: {
            let mut h = crate::engine::server_state::ResponseHistogram::default();
            h.observe(Duration::from_micros(world.next() % 1_000_000));
            h
        },
        certificate_not_after: world.chance(50).then_some(1_800_000_000),
        admin: crate::engine::snapshot::AdminView {
            drained: world.chance(20),
            forced: None,
            maintenance_until: None,
        },
    }
}

fn set(world: &mut World, name: &str, step: u64) -> Arc<SetStatus> {
    let servers: Vec<ServerView> = (0..1 + world.below(5))
        .map(|k| server(world, k, step))
        .collect();
    let decision = match world.below(3) {
        0 => Decision::Waiting,
        1 => Decision::LeaveAsIs,
        _ => Decision::Publish {
            addresses: vec![(
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                1 + world.below(9) as u32,
            )],
            basis: Basis::Functional,
        },
    };
    Arc::new(SetStatus {
        name: name.to_string(),
        paused: world.chance(10),
        health: [
            SetHealth::Unknown,
            SetHealth::Ok,
            SetHealth::Problem,
            SetHealth::Paused,
        ][world.below(4)],
        method: "HTTPS".into(),
        servers,
        decision,
        host_names: vec![format!("{name}.example.test")],
        error: world.chance(5).then(|| "ping is not available".to_string()),
        dns: vec![DnsPairView {
            dns_server: "192.0.2.53".into(),
            host: format!("{name}.example.test"),
            state: [PairState::Matched, PairState::Failed, PairState::Updated][world.below(3)],
            served: Some("192.0.2.1".into()),
            last_change: Some(time(step)),
            error: None,
            error_code: world.chance(20).then_some(223),
            propagation: Some(crate::dnsupdate::propagation::Propagation {
                serving: world.below(3),
                total: 3,
                unknown: world.below(2),
            }),
            in_flight: world.chance(50),
            updates: step,
            update_failures: world.below(3) as u64,
        }],
        published: world
            .chance(50)
            .then(|| vec![(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 1)]),
        ttl: [60, 10][world.below(2)],
        low_ttl: world
            .chance(50)
            .then_some(crate::engine::machine::LowTtlReason::Failed),
    })
}

fn problem(world: &mut World, step: u64) -> Problem {
    Problem {
        first_seen: time(step),
        set: format!("set{}", world.below(6)),
        subject: format!("web{} (192.0.2.{})", world.below(5), world.below(5)),
        code: [111, 124, 149, 223, 311][world.below(5)].into(),
        text: format!("failure {step}"),
    }
}

/// The next generation, changed as the engine would change it: new `Arc`s only for what
/// changed.
fn evolve(world: &mut World, s: &Snapshot, step: u64) -> Snapshot {
    let mut next = s.clone();
    next.generation += 1;
    // Some sets change, one may come or go, rarely they are reordered.
    for i in 0..next.sets.len() {
        if world.chance(15) {
            let name = next.sets[i].name.clone();
            next.sets[i] = set(world, &name, step);
        }
    }
    if world.chance(5) && next.sets.len() < 8 {
        let name = format!("set{step}");
        let at = world.below(next.sets.len() + 1);
        next.sets.insert(at, set(world, &name, step));
    }
    if world.chance(4) && !next.sets.is_empty() {
        let at = world.below(next.sets.len());
        next.sets.remove(at);
    }
    if world.chance(2) {
        next.sets.reverse();
    }
    if world.chance(20) {
        let mut problems = (*next.problems).clone();
        if world.chance(50) || problems.is_empty() {
            problems.push(problem(world, step));
        } else {
            problems.remove(world.below(problems.len()));
        }
        next.problems = Arc::new(problems);
    }
    // The log grows past its cap (lines fall off the front), and is sometimes cleared.
    if world.chance(1) {
        next.log = Arc::default();
    }
    for _ in 0..world.below(4) {
        let line = LogLine {
            time: time(step),
            level: [Level::Info, Level::Warning, Level::Error][world.below(3)],
            text: if world.chance(30) {
                "polling".into() // repeated lines must not confuse the overlap
            } else {
                format!("line {step}")
            },
        };
        push_bounded(Arc::make_mut(&mut next.log), line, 40);
    }
    if world.chance(25) {
        let event = Event {
            time: time(step),
            kind: EventKind::ALL[world.below(EventKind::ALL.len())],
            set: "set1".into(),
            subject: "web1 (192.0.2.1)".into(),
            text: format!("event {step}"),
            details: EventDetails {
                problem_code: Some(124),
                ..EventDetails::default()
            },
        };
        push_bounded(Arc::make_mut(&mut next.events), event, 16);
    }
    if world.chance(3) {
        let mut settings = (*next.settings).clone();
        settings.options.polling.max_concurrent_polls = 1 + world.below(500) as u32;
        next.settings = Arc::new(settings);
        next.settings_revision += 1;
    }
    if world.chance(3) {
        next.settings_error = world.chance(50).then(|| "line 3: expected ']'".to_string());
    }
    if world.chance(2) {
        next.settings_path = Some(format!("/tmp/standby-{step}.ron").into());
    }
    next.all_paused = world.chance(5);
    next.polls_in_flight = world.below(100);
    next.stats = PollStats {
        polls_completed: step * 7,
        lateness_p50_ms: world.below(1000) as f32 / 8.0,
        lateness_p99_ms: world.below(5000) as f32 / 3.0,
        lateness_sum_secs: step as f64 * 0.5,
        lateness_count: step * 7,
        poll_limit: 1 + world.below(500),
        auto_poll_limit: 100 + world.below(5000),
    };
    next.outbox = crate::notify::OutboxStats {
        depth: world.below(5) as u64,
        delivered: step,
        failed: world.below(3) as u64,
    };
    // Cluster mode comes and goes; its status changes now and then.
    if world.chance(10) {
        next.cluster = if world.chance(20) {
            None
        } else {
            Some(Arc::new(cluster(world, step)))
        };
    }
    next
}

fn cluster(world: &mut World, step: u64) -> crate::engine::ClusterStatus {
    use crate::engine::cluster_status::{EtcdHealth, InstanceStatus, ServerClusterView};
    use crate::engine::machine::quorum::Verdict;
    let names = ["berlin", "paris", "london"];
    let leader = names[world.below(3)];
    crate::engine::ClusterStatus {
        cluster: "standby".into(),
        instance: "berlin".into(),
        quorum: crate::model::Quorum::Majority,
        lease_secs: 5,
        etcd: EtcdHealth {
            reachable: world.chance(80),
            error: world.chance(20).then(|| "etcd unreachable".into()),
            since: Some(time(step)),
        },
        instances: names
            .iter()
            .map(|name| InstanceStatus {
                name: (*name).into(),
                live: world.chance(80),
                last_heartbeat: Some(time(step)),
                is_leader: *name == leader,
            })
            .collect(),
        leader: Some(leader.into()),
        leader_since: Some(time(step)),
        is_leader: leader == "berlin",
        servers: vec![ServerClusterView {
            set: "web".into(),
            server: "127.0.0.1".into(),
            verdict: [Verdict::Undecided, Verdict::Up, Verdict::Down][world.below(3)],
            down_at: vec!["paris".into()],
            up_at: vec!["berlin".into(), "london".into()],
            needed: 2,
        }],
        etcd_writes: step,
    }
}

/// The delta as it crosses a process.
fn over_the_wire(delta: &SnapshotDelta) -> SnapshotDelta {
    let text = serde_json::to_string(delta).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn deltas_rebuild_every_generation_of_a_simulated_run() {
    for seed in 1..=8u64 {
        let mut world = World(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut engine = Snapshot::empty(Arc::default(), None);
        engine.sets = (0..3)
            .map(|i| set(&mut world, &format!("set{i}"), 0))
            .collect();
        // The other side starts from a full snapshot.
        let mut remote = over_the_wire(&SnapshotDelta::between(None, &engine))
            .apply(None)
            .unwrap();
        assert_eq!(remote, engine, "seed {seed}: first snapshot");
        let (mut kept, mut sent) = (0, 0);
        for step in 1..=600 {
            let next = evolve(&mut world, &engine, step);
            let delta = SnapshotDelta::between(Some(&engine), &next);
            assert_eq!(delta.since, Some(engine.generation));
            let rebuilt = over_the_wire(&delta).apply(Some(&remote)).unwrap();
            assert_eq!(rebuilt, next, "seed {seed}, generation {}", next.generation);
            // Unchanged sets are shared on the other side too, not copied.
            for (i, part) in delta.sets.iter().enumerate() {
                match part {
                    SetPart::Kept(j) => {
                        assert!(Arc::ptr_eq(&rebuilt.sets[i], &remote.sets[*j]));
                        kept += 1;
                    }
                    SetPart::New(_) => sent += 1,
                }
            }
            if matches!(delta.settings, Part::Same) {
                assert!(Arc::ptr_eq(&rebuilt.settings, &remote.settings));
            }
            engine = next;
            remote = rebuilt;
        }
        assert!(kept > sent, "seed {seed}: {kept} sets kept, {sent} sent");
    }
}

#[test]
fn an_unchanged_snapshot_sends_no_part() {
    let mut world = World(7);
    let mut s = Snapshot::empty(Arc::default(), None);
    s.sets = vec![set(&mut world, "web", 0)];
    push_bounded(
        Arc::make_mut(&mut s.log),
        LogLine {
            time: time(0),
            level: Level::Info,
            text: "started".into(),
        },
        10,
    );
    let mut next = s.clone();
    next.generation += 1;
    let delta = SnapshotDelta::between(Some(&s), &next);
    assert_eq!(delta.sets, vec![SetPart::Kept(0)]);
    assert_eq!(
        (&delta.settings, &delta.problems, &delta.log, &delta.events),
        (&Part::Same, &Part::Same, &RingPart::Same, &RingPart::Same)
    );
}

#[test]
fn a_delta_for_another_generation_or_version_is_refused() {
    let base = Snapshot::empty(Arc::default(), None);
    let mut next = base.clone();
    next.generation = 1;
    let mut later = next.clone();
    later.generation = 2;
    let delta = SnapshotDelta::between(Some(&next), &later);
    assert_eq!(
        delta.clone().apply(Some(&base)),
        Err(DeltaError::Generation {
            since: Some(1),
            have: Some(0)
        })
    );
    assert!(matches!(
        delta.clone().apply(None),
        Err(DeltaError::Generation { have: None, .. })
    ));
    let mut future = delta;
    future.version = WIRE_VERSION + 1;
    assert_eq!(
        future.apply(Some(&next)),
        Err(DeltaError::Version {
            got: WIRE_VERSION + 1
        })
    );
}

#[test]
fn a_ring_that_lost_its_overlap_is_sent_whole() {
    let line = |text: &str| LogLine {
        time: time(0),
        level: Level::Info,
        text: text.into(),
    };
    let base: Arc<VecDeque<LogLine>> = Arc::new([line("a"), line("b")].into());
    let next: Arc<VecDeque<LogLine>> = Arc::new([line("c")].into());
    assert_eq!(
        ring(Some(&base), &next),
        RingPart::Appended {
            dropped: 2,
            appended: vec![line("c")]
        }
    );
    let grown: Arc<VecDeque<LogLine>> = Arc::new([line("b"), line("c")].into());
    assert_eq!(
        ring(Some(&base), &grown),
        RingPart::Appended {
            dropped: 1,
            appended: vec![line("c")]
        }
    );
}

//! Issue 11's overload run on the simulated clock: 10,000 servers in 100 sets, polled every
//! 10 s, of which 30 % are black holes (they never answer: each of their polls ends at its
//! 10 s time-out). On the old scheduler (one FIFO queue, 100 polls in flight) the median
//! healthy server got 0 of its 6 polls a minute and lateness reached 75 s. Here the core
//! runs the same world, its effects carried out by a small event queue, and every healthy
//! server's lateness and poll count is checked.
//!
//! A lean driver, not `sim.rs`'s `World`: that one checks every invariant of every set at
//! every step, which is right for a handful of servers and far too slow for 10,000.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Core, Effect, Input, Now, PollId};
use crate::engine::problems::ProblemSubject;
use crate::model::{PollFrequency, PollMethod, Server, ServerSet, Settings};
use crate::probe::{Failure, FailureKind, PollOutcome, PollStage};

const SETS: u16 = 100;
const PER_SET: u16 = 100;
const INTERVAL: u64 = 10;
const TIMEOUT: u64 = 10;
/// The open-file limit the simulated process runs with (after raising it at start).
const FD_LIMIT: u64 = 65_536;

/// Servers 0, 1 and 2 of every ten are black holes: 30 % of each set.
fn black_hole(server: usize) -> bool {
    server % 10 < 3
}

fn settings(max_concurrent_polls: u32) -> Settings {
    let frequency = PollFrequency {
        interval: Duration::from_secs(INTERVAL),
        failed_interval: Duration::from_secs(INTERVAL),
        retry_interval: Duration::from_secs(INTERVAL),
        timeout: Duration::from_secs(TIMEOUT),
        ..PollFrequency::default()
    };
    let server_sets = (0..SETS)
        .map(|set| ServerSet {
            name: format!("set {set}"),
            // Documentation addresses (2001:db8::/32): never contacted, the world answers.
            servers: (0..PER_SET)
                .map(|k| Server {
                    public_ip: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, set, k).to_string(),
                    ..Server::default()
                })
                .collect(),
            polling: PollMethod::Ping,
            frequency: frequency.clone(),
            ..ServerSet::default()
        })
        .collect();
    let mut settings = Settings {
        server_sets,
        ..Settings::default()
    };
    settings.options.polling.max_concurrent_polls = max_concurrent_polls;
    settings
}

/// What a run saw of the healthy servers (and of the lanes).
struct Seen {
    /// The latest start after its due time of any healthy server's poll due at or after
    /// `from`, and which poll it was.
    worst: Duration,
    worst_poll: Option<(Duration, PollId)>,
    /// Polls due in the run's last minute (from 61 s to 1 s before its end), by healthy
    /// server: 6 each when every poll keeps its 10 s cadence.
    polls: HashMap<IpAddr, u32>,
    /// The most polls in flight, in all and in the slow lane.
    most_in_flight: usize,
    most_slow: usize,
    /// Log lines about lateness.
    late_logs: Vec<String>,
}

/// Runs the world for `seconds` of simulated time; lateness is measured for polls due from
/// `from` on, polls are counted in the last minute.
fn run(max_concurrent_polls: u32, seconds: u64, from: Duration) -> (Core, Seen) {
    let mut core = Core::new(HashMap::new()).with_fd_limit(Some(FD_LIMIT));
    let base = Instant::now();
    let now = |at: Duration| Now {
        at: base + at,
        wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + at,
    };
    // Replies of the world, by time: (at, sequence) → the poll and its outcome.
    let mut replies: BinaryHeap<Reverse<(Duration, u64)>> = BinaryHeap::new();
    let mut pending: HashMap<u64, (PollId, PollOutcome, Duration)> = HashMap::new();
    let mut seq = 0u64;
    let mut rng = 0x5EED_u64;
    let mut seen = Seen {
        worst: Duration::ZERO,
        worst_poll: None,
        polls: HashMap::new(),
        most_in_flight: 0,
        most_slow: 0,
        late_logs: Vec::new(),
    };
    let end = Duration::from_secs(seconds);
    let last_minute = end - Duration::from_secs(61)..end - Duration::from_secs(1);
    let mut at = Duration::ZERO;
    let mut input = Some(Input::Install {
        settings: Arc::new(settings(max_concurrent_polls)),
        unavailable: BTreeMap::new(),
    });
    while at < end {
        let step = match input.take() {
            Some(input) => input,
            None => {
                let reply = replies.peek().map(|Reverse((at, _))| *at);
                let wakeup = core
                    .next_wakeup()
                    .map(|w| w.saturating_duration_since(base));
                let reply_first = match (reply, wakeup) {
                    (Some(r), Some(w)) => r <= w,
                    (Some(_), None) => true,
                    (None, Some(_)) => false,
                    (None, None) => panic!("nothing left to happen at {at:?}"),
                };
                match (reply_first, wakeup) {
                    (true, _) => {
                        let Reverse((t, n)) = replies.pop().unwrap();
                        at = at.max(t);
                        let (id, outcome, started) = pending.remove(&n).unwrap();
                        Input::PollDone {
                            id,
                            outcome,
                            started: base + started,
                        }
                    }
                    (false, w) => {
                        at = at.max(w.unwrap_or(at));
                        Input::Tick
                    }
                }
            }
        };
        for effect in core.step(step, now(at)) {
            match effect {
                Effect::StartPoll(start) => {
                    let id = start.id;
                    let healthy = !black_hole(id.server);
                    let due = start.due.saturating_duration_since(base);
                    if healthy && due >= from {
                        let late = at.saturating_sub(due);
                        if late > seen.worst {
                            seen.worst = late;
                            seen.worst_poll = Some((due, id));
                        }
                    }
                    if healthy && last_minute.contains(&due) {
                        *seen.polls.entry(id.public_ip).or_default() += 1;
                    }
                    rng = rng.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let (latency, outcome) = if healthy {
                        let ms = Duration::from_millis(1 + (rng >> 33) % 20);
                        (ms, PollOutcome::success("reply", ms))
                    } else {
                        let t = Duration::from_secs(TIMEOUT);
                        let failure = Failure::new(FailureKind::Timeout, PollStage::Waiting);
                        (t, PollOutcome::failure(failure, "timeout after 10 s", t))
                    };
                    seq += 1;
                    replies.push(Reverse((at + latency, seq)));
                    pending.insert(seq, (id, outcome, at));
                }
                Effect::Log(_, text) if text.contains("late") => seen.late_logs.push(text),
                _ => {}
            }
        }
        let (in_flight, slow) = (core.polls_in_flight(), core.polling.slow_in_flight());
        assert!(
            in_flight <= core.poll_limit(),
            "{in_flight} polls in flight"
        );
        assert!(
            slow <= core.polling.slow_limit(),
            "{slow} slow polls in flight"
        );
        assert_eq!(
            in_flight,
            pending.len(),
            "the core's count and the world's differ"
        );
        seen.most_in_flight = seen.most_in_flight.max(in_flight);
        seen.most_slow = seen.most_slow.max(slow);
    }
    (core, seen)
}

/// Every healthy server polled within 1 s of schedule, and 6 of its 6 polls in the last
/// minute of the run.
fn assert_on_schedule(seen: &Seen) {
    assert!(
        seen.worst <= Duration::from_secs(1),
        "a healthy server's poll started {:?} late: {:?}",
        seen.worst,
        seen.worst_poll
    );
    let healthy = usize::from(SETS) * usize::from(PER_SET) * 7 / 10;
    assert_eq!(
        seen.polls.len(),
        healthy,
        "healthy servers polled in the last minute"
    );
    let (least, server) = seen.polls.iter().map(|(ip, n)| (*n, *ip)).min().unwrap();
    assert_eq!(
        least, 6,
        "{server} got {least} of its 6 polls in the last minute"
    );
}

/// Issue 11 item 8, the run as reported, on the defaults: the auto limit has room for
/// every server (12,500 for 10,000 servers whose polls may last a whole interval), so
/// nothing waits. On the old default (100, one FIFO queue) the first healthy server late
/// by more than 1 s came within the first interval, and most got none of their polls.
#[test]
fn black_holes_on_the_auto_limit_leave_every_healthy_server_on_schedule() {
    let (core, seen) = run(0, 121, Duration::ZERO);
    assert_eq!(core.poll_limit(), 12_500);
    assert_eq!(core.auto_poll_limit(), 12_500);
    // The black holes are always in flight, and only they are slow.
    assert!(seen.most_in_flight >= 3_000, "{}", seen.most_in_flight);
    assert_on_schedule(&seen);
    let problem = core.problems().get("", &ProblemSubject::Lateness);
    assert!(problem.is_none(), "{problem:?}");
    assert!(seen.late_logs.is_empty(), "{:?}", seen.late_logs);
}

/// The same world on a limit far below what the black holes would hold (1,000 for 3,000
/// black holes that are always in flight): the slow lane holds at most 500 permits, so
/// the healthy servers keep their schedule once every black hole timed out once (its
/// first poll cannot be known to be slow: about 3,000 × 10 s / 500 = 60 s), while the
/// black holes' polls run late — which the lateness problem and its log line say.
#[test]
fn black_holes_hold_at_most_half_the_permits() {
    let from = Duration::from_secs(120);
    let (core, seen) = run(1_000, 181, from);
    assert_eq!(core.poll_limit(), 1_000);
    assert_eq!(seen.most_slow, 500);
    assert_on_schedule(&seen);
    let problem = core.problems().get("", &ProblemSubject::Lateness).unwrap();
    assert!(problem.text.contains("late by"), "{}", problem.text);
    assert!(
        seen.late_logs
            .iter()
            .any(|l| l.starts_with("polling is late by")),
        "{:?}",
        seen.late_logs
    );
    // The slow lane is the black holes': every healthy poll ran in the fast lane.
    let slow_healthy = core
        .sets()
        .iter()
        .flat_map(|s| s.servers.iter().enumerate())
        .any(|(k, s)| !black_hole(k) && s.timed_out);
    assert!(!slow_healthy);
}

//! Scenario tables for the logic between the pure pieces: sequential skipping,
//! pause-set-on-failure, the all-failed event and the problem a server's state calls for.
//! Each drives the whole core on a virtual clock: no sockets, no sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::time::Duration;

use super::*;
use crate::model::{AllFailedPolicy, PollFrequency, Server, ServerSet};
use crate::probe::{Failure, FailureKind, PollStage};

/// A core on a virtual clock that answers every poll it starts.
pub(super) struct Harness {
    pub core: Core,
    pub base: Instant,
    pub at: Duration,
    pub events: Vec<Event>,
    /// Events for the event history only (never notified).
    pub recorded: Vec<Event>,
    pub saves: usize,
    /// Every log line, in order.
    pub logs: Vec<String>,
}

impl Harness {
    pub fn new(sets: Vec<ServerSet>) -> Harness {
        let settings = Settings {
            server_sets: sets,
            ..Settings::default()
        };
        let mut h = Harness {
            core: Core::new(HashMap::new()),
            base: Instant::now(),
            at: Duration::ZERO,
            events: Vec::new(),
            recorded: Vec::new(),
            saves: 0,
            logs: Vec::new(),
        };
        let effects = h.core.step(
            Input::Install {
                settings: Arc::new(settings),
                unavailable: BTreeMap::new(),
            },
            h.now(),
        );
        h.note(&effects);
        h
    }

    pub fn now(&self) -> Now {
        Now {
            at: self.base + self.at,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000) + self.at,
        }
    }

    fn note(&mut self, effects: &[Effect]) -> Vec<PollStart> {
        let mut starts = Vec::new();
        for effect in effects {
            match effect {
                Effect::StartPoll(start) => starts.push(start.clone()),
                Effect::Event(event) => self.events.push(event.clone()),
                Effect::Recorded(event) => self.recorded.push(event.clone()),
                Effect::Save { .. } => self.saves += 1,
                Effect::Log(_, text) => self.logs.push(text.clone()),
                _ => {}
            }
        }
        starts
    }

    pub fn step(&mut self, input: Input) {
        let effects = self.core.step(input, self.now());
        let starts = self.note(&effects);
        assert!(starts.is_empty(), "no poll expected to start: {starts:?}");
    }

    /// One round: the clock jumps 50 ms past the next due poll (first polls are spread
    /// over less than that); every poll that starts then (at the tick or after a result)
    /// is answered at once,
    /// `health[server]` saying how ('+' works, '-' fails). Returns the servers polled, in
    /// order, as digits.
    pub fn round(&mut self, health: &str) -> String {
        let Some(next) = self.core.next_wakeup() else {
            return String::new();
        };
        let next = next.saturating_duration_since(self.base) + Duration::from_millis(50);
        self.at = self.at.max(next);
        let mut polled = String::new();
        loop {
            let effects = self.core.step(Input::Tick, self.now());
            let mut starts: std::collections::VecDeque<PollStart> = self.note(&effects).into();
            if starts.is_empty() {
                return polled;
            }
            while let Some(start) = starts.pop_front() {
                polled.push(char::from(b'0' + start.id.server as u8));
                let ok = health.as_bytes()[start.id.server] == b'+';
                let effects = self.core.step(
                    Input::PollDone {
                        id: start.id,
                        outcome: outcome(ok),
                        started: self.now().at,
                    },
                    self.now(),
                );
                starts.extend(self.note(&effects));
            }
        }
    }

    pub fn statuses(&self, set: usize) -> String {
        self.core.sets()[set]
            .servers
            .iter()
            .map(|s| match s.state.status {
                ServerStatus::NotTested => 'n',
                ServerStatus::Ok => 'O',
                ServerStatus::Retrying => 'R',
                ServerStatus::Failed => 'F',
                ServerStatus::Disabled => 'D',
                ServerStatus::Skipped => 'S',
            })
            .collect()
    }

    pub fn kinds(&self) -> Vec<EventKind> {
        self.events.iter().map(|e| e.kind).collect()
    }
}

pub(super) fn outcome(ok: bool) -> PollOutcome {
    if ok {
        PollOutcome::success("220 hello", Duration::from_millis(3))
    } else {
        PollOutcome::failure(
            Failure::new(FailureKind::Network, PollStage::Connecting),
            "connection refused",
            Duration::from_millis(1),
        )
    }
}

pub(super) fn address(n: usize) -> IpAddr {
    IpAddr::from([192, 0, 2, 1 + n as u8])
}

pub(super) fn set(name: &str, servers: usize, frequency: PollFrequency) -> ServerSet {
    let mut set = ServerSet {
        name: name.into(),
        frequency,
        ..ServerSet::default()
    };
    set.dns.host_names = vec![format!("{name}.example.test")];
    set.servers = (0..servers)
        .map(|n| Server {
            public_ip: address(n).to_string(),
            ..Server::default()
        })
        .collect();
    set
}

fn frequency(retries: u32, recover_after: u32, sequential: bool) -> PollFrequency {
    PollFrequency {
        retries,
        recover_after,
        sequential,
        ..PollFrequency::default()
    }
}

#[test]
fn sequential_skipping() {
    // Rounds of (health of the three servers, servers polled, statuses after).
    let table: &[(&str, &str, &str)] = &[
        // First polls all start before any answer; once the first works the lower two are
        // shown as skipped and not polled again.
        ("+++", "012", "OSS"),
        ("+++", "0", "OSS"),
        // The first fails: the lower ones are needed at once; the second takes over.
        ("-++", "012", "FOS"),
        ("-++", "01", "FOS"),
        // The second fails too: the third.
        ("--+", "012", "FFO"),
        // The first is back: the lower ones are skipped as soon as their polls end.
        ("+++", "012", "OSS"),
        ("+++", "0", "OSS"),
    ];
    let mut h = Harness::new(vec![set("seq", 3, frequency(0, 1, true))]);
    for (i, (health, polled, statuses)) in table.iter().enumerate() {
        assert_eq!(h.round(health), *polled, "round {i}: polled");
        assert_eq!(h.statuses(0), *statuses, "round {i}: statuses");
    }
    // Not sequential: every server is polled every round.
    let mut h = Harness::new(vec![set("all", 3, frequency(0, 1, false))]);
    assert_eq!(h.round("+++"), "012");
    assert_eq!(h.statuses(0), "OOO");
    assert_eq!(h.round("-++"), "012");
    assert_eq!(h.statuses(0), "FOO");
}

/// A drained server (weight 0) working does not stand in for those below it in
/// sequential mode, and the decision passes over it while another works.
#[test]
fn drained_server_in_sequential_mode() {
    let mut config = set("drain", 3, frequency(0, 1, true));
    config.servers[0].weight = 0;
    let mut h = Harness::new(vec![config]);
    // (health, polled, statuses, published)
    let table: &[(&str, &str, &str, Option<usize>)] = &[
        // The drained first works, so the second is needed (and published); the third is
        // below a published one: skipped.
        ("+++", "012", "OOS", Some(1)),
        ("+++", "01", "OOS", Some(1)),
        // The second fails: the third takes over.
        ("+-+", "012", "OFO", Some(2)),
        // Every published one fails: the drained one takes over rather than nothing.
        // (The drained one keeps its own cadence: not due this round.)
        ("+--", "12", "OFF", Some(0)),
        // The third is back: it is published again.
        ("+-+", "012", "OFO", Some(2)),
    ];
    for (i, (health, polled, statuses, published)) in table.iter().enumerate() {
        let got = h.round(health);
        assert_eq!(got, *polled, "round {i}: polled");
        assert_eq!(h.statuses(0), *statuses, "round {i}: statuses");
        let addresses = h.core.sets()[0].decision.addresses();
        assert_eq!(
            addresses,
            published.map(|k| vec![address(k)]),
            "round {i}: published"
        );
    }
}

/// Installs `sets` as new settings at the harness's time.
fn reinstall(h: &mut Harness, sets: Vec<ServerSet>) {
    let settings = Settings {
        server_sets: sets,
        ..Settings::default()
    };
    h.step(Input::Install {
        settings: Arc::new(settings),
        unavailable: BTreeMap::new(),
    });
}

/// A manual override: the decision sees the server as forced while its polls go on; it
/// ends by itself at its time (the core wakes for it) or when cleared, each change one
/// event.
#[test]
fn overrides_force_the_decision_until_they_end() {
    use crate::model::{Forced, ForcedState};
    let config = set("force", 2, frequency(0, 1, false));
    let mut h = Harness::new(vec![config.clone()]);
    let published = |h: &Harness| h.core.sets()[0].decision.addresses();
    let overridden = |h: &Harness| {
        h.kinds()
            .iter()
            .filter(|k| **k == EventKind::ServerOverridden)
            .count()
    };
    h.round("++");
    assert_eq!(published(&h), Some(vec![address(0)]));
    // Forced down for 10 minutes: the second is published, the first still polled.
    let mut forced = config.clone();
    forced.servers[0].forced = Some(Forced::new(
        ForcedState::Down,
        h.now().wall,
        Some(Duration::from_secs(600)),
    ));
    reinstall(&mut h, vec![forced]);
    assert_eq!(published(&h), Some(vec![address(1)]));
    assert_eq!(overridden(&h), 1);
    assert_eq!(h.round("++"), "01");
    assert_eq!(h.statuses(0), "OO");
    assert_eq!(published(&h), Some(vec![address(1)]));
    // The core wakes when the override ends, even with no poll due then.
    let end = h.base + h.at + Duration::from_secs(600) - Duration::from_millis(50);
    assert!(
        h.core
            .next_wakeup()
            .is_some_and(|w| w <= end + Duration::from_secs(1))
    );
    while h.at < Duration::from_secs(700) {
        h.round("++");
    }
    assert_eq!(published(&h), Some(vec![address(0)]), "the override ended");
    assert_eq!(overridden(&h), 2);
    // Forced up while its polls fail: still published; failed as its polls say.
    let mut up = config.clone();
    up.servers[0].forced = Some(Forced::new(ForcedState::Up, h.now().wall, None));
    reinstall(&mut h, vec![up]);
    h.round("-+");
    assert_eq!(h.statuses(0), "FO");
    assert_eq!(published(&h), Some(vec![address(0)]));
    assert_eq!(overridden(&h), 3);
    // Cleared: the polls decide again at once.
    reinstall(&mut h, vec![config]);
    assert_eq!(published(&h), Some(vec![address(1)]));
    assert_eq!(overridden(&h), 4);
}

/// After a restart an override in the settings is in force from the start, and announced
/// as no new event.
#[test]
fn an_override_in_force_at_start_raises_no_event() {
    use crate::model::{Forced, ForcedState};
    let mut config = set("force", 2, frequency(0, 1, false));
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    config.servers[0].forced = Some(Forced::new(ForcedState::Down, start, None));
    let mut h = Harness::new(vec![config]);
    h.round("++");
    assert_eq!(
        h.core.sets()[0].decision.addresses(),
        Some(vec![address(1)])
    );
    assert!(!h.kinds().contains(&EventKind::ServerOverridden));
}

/// During a maintenance window a server counts as disabled, and its failure is neither
/// notified nor pauses the set; the window's start and end are events and wake the core.
#[test]
fn maintenance_windows_take_a_server_out_quietly() {
    use crate::model::Maintenance;
    let mut config = set("maint", 2, frequency(0, 1, false));
    config.servers[0].pause_set_on_failure = true;
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    config.servers[0].maintenance = vec![Maintenance::once(
        start + Duration::from_secs(100),
        Duration::from_secs(600),
    )];
    let mut h = Harness::new(vec![config]);
    let published = |h: &Harness| h.core.sets()[0].decision.addresses();
    let count = |h: &Harness, kind: EventKind| h.kinds().iter().filter(|k| **k == kind).count();
    h.round("++");
    assert_eq!(published(&h), Some(vec![address(0)]));
    // Working until the window begins (at 100 s), then failing inside it.
    while h.at < Duration::from_secs(150) {
        h.round("++");
    }
    assert_eq!(count(&h, EventKind::Maintenance), 1);
    while h.at < Duration::from_secs(300) {
        h.round("-+");
    }
    // In maintenance: the second is published, the first failed without an event or a pause.
    assert_eq!(h.statuses(0), "FO");
    assert_eq!(published(&h), Some(vec![address(1)]));
    assert_eq!(count(&h, EventKind::ServerFailed), 0);
    assert_eq!(count(&h, EventKind::Maintenance), 1);
    assert_eq!(h.saves, 0, "no pause");
    // ... but the event history keeps the failure.
    let recorded: Vec<EventKind> = h.recorded.iter().map(|e| e.kind).collect();
    assert_eq!(recorded, [EventKind::ServerFailed]);
    assert!(
        h.recorded[0]
            .text
            .ends_with("(in maintenance: not notified)")
    );
    assert_eq!(h.recorded[0].details.server_ip, address(0).to_string());
    let view = h.core.views()[0].clone();
    assert_eq!(
        view.servers[0].admin.maintenance_until,
        Some(start + Duration::from_secs(700))
    );
    while h.at < Duration::from_secs(800) {
        h.round("++");
    }
    // The window ended: the first (recovered meanwhile, quietly) is back.
    assert_eq!(published(&h), Some(vec![address(0)]));
    assert_eq!(count(&h, EventKind::Maintenance), 2);
    assert_eq!(count(&h, EventKind::ServerRecovered), 0);
    let recorded: Vec<EventKind> = h.recorded.iter().map(|e| e.kind).collect();
    assert_eq!(
        recorded,
        [EventKind::ServerFailed, EventKind::ServerRecovered]
    );
}

#[test]
fn pause_set_on_failure() {
    // (pausing servers, retries, rounds of health, paused after, events)
    use EventKind::*;
    type Row = (
        &'static [usize],
        u32,
        &'static [&'static str],
        bool,
        &'static [EventKind],
    );
    let table: &[Row] = &[
        (
            &[0],
            0,
            &["++", "-+"],
            true,
            &[ServerFailed, SetPausedAutomatically],
        ),
        // Another server's failure does not pause the set.
        (&[1], 0, &["++", "-+"], false, &[ServerFailed]),
        // Only the failure after the retries pauses.
        (&[0], 1, &["++", "-+"], false, &[]),
        (
            &[0],
            1,
            &["++", "-+", "-+"],
            true,
            &[ServerFailed, SetPausedAutomatically],
        ),
        // A recovery does not pause.
        (
            &[],
            0,
            &["++", "-+", "++"],
            false,
            &[ServerFailed, ServerRecovered],
        ),
    ];
    for (i, (pausing, retries, rounds, paused, events)) in table.iter().enumerate() {
        let mut config = set("guarded", 2, frequency(*retries, 1, false));
        for &k in *pausing {
            config.servers[k].pause_set_on_failure = true;
        }
        let mut h = Harness::new(vec![config]);
        for health in *rounds {
            h.round(health);
        }
        let set = &h.core.sets()[0];
        assert_eq!(set.config.paused, *paused, "row {i}: paused");
        assert_eq!(h.kinds(), *events, "row {i}: events");
        assert_eq!(
            h.core.settings().server_sets[0].paused,
            *paused,
            "row {i}: settings"
        );
        assert_eq!(h.saves, usize::from(*paused), "row {i}: saved once");
        if *paused {
            // DNS moved to the second server before the set stopped polling.
            assert_eq!(set.decision.addresses(), Some(vec![address(1)]), "row {i}");
            assert!(
                set.servers
                    .iter()
                    .all(|s| !matches!(s.phase, Phase::Armed(_) | Phase::Queued(_))),
                "row {i}: nothing armed"
            );
            assert_eq!(h.round("++"), "", "row {i}: a paused set is not polled");
            h.step(Input::ResumeSet("guarded".into()));
            assert_eq!(h.round("++"), "01", "row {i}: polled again after resume");
        }
    }
}

#[test]
fn the_all_failed_event() {
    use EventKind::*;
    // (policy, rounds of health, all-failed events, decision after as addresses)
    type Row = (
        AllFailedPolicy,
        &'static [&'static str],
        usize,
        Option<Vec<IpAddr>>,
    );
    let table: Vec<Row> = vec![
        (
            AllFailedPolicy::AssumeLocalFault,
            &["++", "-+"],
            0,
            Some(vec![address(1)]),
        ),
        (
            AllFailedPolicy::AssumeLocalFault,
            &["++", "--"],
            1,
            Some(vec![address(0)]),
        ),
        // Still all failed: no second event.
        (
            AllFailedPolicy::AssumeLocalFault,
            &["++", "--", "--", "--"],
            1,
            Some(vec![address(0)]),
        ),
        // Back and failed again: a second one.
        (AllFailedPolicy::LeaveAsIs, &["--", "+-", "--"], 2, None),
        (
            AllFailedPolicy::Fallback(vec!["198.51.100.9".into()]),
            &["++", "--"],
            1,
            Some(vec!["198.51.100.9".parse().unwrap()]),
        ),
    ];
    for (i, (policy, rounds, count, addresses)) in table.into_iter().enumerate() {
        let mut config = set("web", 2, frequency(0, 1, false));
        config.dns.if_all_fail = policy;
        let mut h = Harness::new(vec![config]);
        for health in rounds {
            h.round(health);
            h.round(health);
        }
        let got = h.kinds().iter().filter(|k| **k == AllServersFailed).count();
        assert_eq!(got, count, "row {i}: {:?}", h.kinds());
        assert_eq!(h.core.sets()[0].decision.addresses(), addresses, "row {i}");
    }
}

#[test]
fn the_problem_a_server_state_calls_for() {
    let failure = Failure::new(FailureKind::Timeout, PollStage::Waiting);
    let state = |status, kind: Option<Failure>, response: &str, successes| ServerState {
        status,
        last_failure_kind: kind,
        last_response: response.into(),
        successes_while_failed: successes,
        ..ServerState::default()
    };
    use ServerStatus::*;
    let raise = |code: u16, text: &str| ServerProblem::Raise {
        code: code.into(),
        text: text.into(),
    };
    let table = [
        // A failed poll: its code (124: 1 polling, 2 timeout, 4 waiting) and text.
        (
            state(Failed, Some(failure), "timeout after 10 s", 0),
            None,
            raise(124, "timeout after 10 s"),
        ),
        // Recovering: the failure's code stays, the text counts the successes.
        (
            state(Failed, None, "220 hello", 1),
            Some(124),
            raise(124, "recovering: 1 of 3 successful polls"),
        ),
        // Recovering with no problem known (after a restart): the generic code.
        (
            state(Failed, None, "220 hello", 2),
            None,
            raise(100, "recovering: 2 of 3 successful polls"),
        ),
        (
            state(Ok, None, "220 hello", 0),
            Some(124),
            ServerProblem::Clear,
        ),
        // Retrying still counts as working: no problem yet, an old one stays.
        (
            state(Retrying, Some(failure), "timeout", 0),
            Some(124),
            ServerProblem::Keep,
        ),
        (state(NotTested, None, "", 0), None, ServerProblem::Keep),
        (state(Skipped, None, "", 0), None, ServerProblem::Keep),
        (state(Disabled, None, "", 0), None, ServerProblem::Keep),
    ];
    for (i, (state, current, expected)) in table.into_iter().enumerate() {
        let current = current.map(ProblemCode::from_number);
        assert_eq!(server_problem(&state, 3, current), expected, "row {i}");
    }

    // Through the core: the problem is raised on failure, kept while recovering, cleared.
    let mut h = Harness::new(vec![set("web", 1, frequency(0, 2, false))]);
    let problem = |h: &Harness| {
        h.core
            .problems()
            .iter()
            .map(|p| (p.subject.clone(), p.code.get(), p.text.clone()))
            .collect::<Vec<_>>()
    };
    h.round("-");
    let subject = address(0).to_string();
    assert_eq!(
        problem(&h),
        [(subject.clone(), 111, "connection refused".to_string())]
    );
    h.round("+");
    assert_eq!(
        problem(&h),
        [(
            subject,
            111,
            "recovering: 1 of 2 successful polls".to_string()
        )]
    );
    h.round("+");
    assert_eq!(problem(&h), []);
}

#[test]
fn at_most_the_limit_in_flight_and_queued_polls_start_in_order() {
    let mut config = set("many", 5, frequency(0, 1, false));
    config.frequency.interval = std::time::Duration::from_secs(1);
    let mut settings = Settings {
        server_sets: vec![config],
        ..Settings::default()
    };
    settings.options.polling.max_concurrent_polls = 2;
    let mut h = Harness::new(Vec::new());
    let effects = h.core.step(
        Input::Install {
            settings: Arc::new(settings),
            unavailable: BTreeMap::new(),
        },
        h.now(),
    );
    h.note(&effects);
    // Every first poll is due within 50 ms.
    h.at = Duration::from_millis(100);
    let effects = h.core.step(Input::Tick, h.now());
    let starts = h.note(&effects);
    assert_eq!(starts.len(), 2);
    assert_eq!(h.core.polls_in_flight(), 2);
    assert_eq!(h.core.polling.queued(), 3);
    let mut order = Vec::new();
    let mut running = starts;
    while let Some(done) = running.pop() {
        order.push(done.id.server);
        let effects = h.core.step(
            Input::PollDone {
                id: done.id,
                outcome: outcome(true),
                started: h.now().at,
            },
            h.now(),
        );
        running.extend(h.note(&effects));
        assert!(h.core.polls_in_flight() <= 2);
    }
    order.sort_unstable();
    assert_eq!(order, [0, 1, 2, 3, 4]);
    // A paused set's queued polls are dropped, not run.
    h.at += Duration::from_secs(2);
    let starts = {
        let effects = h.core.step(Input::Tick, h.now());
        h.note(&effects)
    };
    assert_eq!(starts.len(), 2);
    h.step(Input::PauseSet("many".into()));
    for done in starts {
        h.step(Input::PollDone {
            id: done.id,
            outcome: outcome(true),
            started: h.now().at,
        });
    }
    assert_eq!(h.core.polls_in_flight(), 0);
}

/// The history problem stays while the database refuses every row (a full disk empties the
/// queue without storing anything) and clears only once rows are stored again.
#[test]
fn the_history_problem_clears_only_when_rows_are_stored_again() {
    let mut h = Harness::new(Vec::new());
    let shown = |h: &Harness| {
        h.core
            .problems()
            .get("", &ProblemSubject::History)
            .is_some()
    };
    // (dropped, stored, queued) as the writer reports them, and whether the problem shows.
    let table = [
        (0, 10, 0, false),
        (3, 10, 0, true),  // a batch refused: raised
        (3, 10, 0, true),  // queue empty, nothing stored: still full
        (6, 10, 2, true),  // another refused batch
        (6, 10, 0, true),  // (cleared here before: the flapping of a full disk)
        (6, 12, 1, true),  // stored, but rows still wait
        (6, 14, 0, false), // stored and nothing waits: cleared
        (6, 14, 0, false),
    ];
    for (row, (dropped, stored, queued, problem)) in table.into_iter().enumerate() {
        if h.core.history_status_news(dropped, stored, queued) {
            h.step(Input::HistoryStatus {
                dropped,
                stored,
                queued,
            });
        }
        assert_eq!(shown(&h), problem, "row {row}");
    }
}

/// Polls that start later than their interval raise the monitor's lateness problem with a
/// log line; it clears, logged, once nothing waits and a poll starts on time again.
#[test]
fn late_polls_raise_the_lateness_problem_until_polling_catches_up() {
    use crate::engine::problems::{POLLING_LATE, ProblemSubject};
    let mut config = set("slow", 3, frequency(0, 1, false));
    config.frequency.interval = std::time::Duration::from_secs(1);
    let mut settings = Settings {
        server_sets: vec![config],
        ..Settings::default()
    };
    settings.options.polling.max_concurrent_polls = 1;
    let mut h = Harness::new(Vec::new());
    let effects = h.core.step(
        Input::Install {
            settings: Arc::new(settings),
            unavailable: BTreeMap::new(),
        },
        h.now(),
    );
    h.note(&effects);
    let late = |h: &Harness| {
        let p = h.core.problems().get("", &ProblemSubject::Lateness)?;
        Some((p.code, p.text.clone()))
    };
    let logs = |effects: &[Effect]| -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Log(_, text) if text.contains("schedule") || text.contains("late") => {
                    Some(text.clone())
                }
                _ => None,
            })
            .collect()
    };
    // (time of the step in ms, answer the running poll?, lateness problem's text, log line)
    // One place for three servers due within 20 ms of each other, answers taking 2.5 s.
    let table: &[(u64, bool, Option<&str>, Option<&str>)] = &[
        (100, false, None, None), // the first poll starts on time, two wait
        // Server 0 answers (and is due again: it waits behind server 2); server 1 starts
        // 2.5 s after it was due (the interval is 1 s).
        (
            2_600,
            true,
            Some("late by 2 s: 2 server(s) wait"),
            Some("polling is late by 2 s"),
        ),
        // Server 2 starts 5 s late: the text follows, no new log line.
        (5_100, true, Some("late by 5 s"), None),
    ];
    let mut running: Vec<PollStart> = Vec::new();
    for (row, (ms, answer, text, logged)) in table.iter().enumerate() {
        h.at = Duration::from_millis(*ms);
        let mut effects = h.core.step(Input::Tick, h.now());
        if *answer && let Some(done) = running.pop() {
            effects.extend(h.core.step(
                Input::PollDone {
                    id: done.id,
                    outcome: outcome(true),
                    started: h.now().at,
                },
                h.now(),
            ));
        }
        running.extend(h.note(&effects));
        assert!(h.core.polls_in_flight() <= 1, "row {row}");
        let shown = late(&h);
        match text {
            Some(part) => {
                let (code, shown) = shown.unwrap_or_else(|| panic!("row {row}: no problem"));
                assert_eq!(code, POLLING_LATE, "row {row}");
                assert!(shown.contains(part), "row {row}: {shown}");
            }
            None => assert_eq!(shown, None, "row {row}"),
        }
        let lines = logs(&effects);
        match logged {
            Some(part) => assert!(
                lines.iter().any(|l| l.contains(part)),
                "row {row}: {lines:?}"
            ),
            None => assert!(lines.is_empty(), "row {row}: {lines:?}"),
        }
    }
    // From now on every poll is answered at once: polling catches up, the problem clears
    // with its log line.
    let mut cleared = Vec::new();
    for _ in 0..1_000 {
        h.at += Duration::from_millis(10);
        let effects = h.core.step(Input::Tick, h.now());
        running.extend(h.note(&effects));
        cleared.extend(logs(&effects));
        while let Some(done) = running.pop() {
            let more = h.core.step(
                Input::PollDone {
                    id: done.id,
                    outcome: outcome(true),
                    started: h.now().at,
                },
                h.now(),
            );
            running.extend(h.note(&more));
            cleared.extend(logs(&more));
            assert!(h.core.polls_in_flight() <= 1);
        }
        if late(&h).is_none() {
            break;
        }
    }
    assert_eq!(late(&h), None, "polling never caught up");
    assert!(
        cleared
            .iter()
            .any(|l| l == "polling keeps its schedule again"),
        "{cleared:?}"
    );
}

/// Due polls start after a poll result too, not only at a tick: the shell takes results
/// before ticks, so a loop busy with results must not hold timers back (with 1,000 black
/// holes answering, healthy polls were seconds late in `bench_polling --black-hole`).
#[test]
fn a_poll_result_also_starts_the_polls_that_fell_due() {
    let mut config = set("busy", 2, frequency(0, 1, false));
    config.frequency.interval = Duration::from_secs(10);
    let mut h = Harness::new(vec![config]);
    let servers = |starts: &[PollStart]| starts.iter().map(|s| s.id.server).collect::<Vec<_>>();
    // First polls are spread: server 0 at 0 ms, server 1 at 10 ms.
    let effects = h.core.step(Input::Tick, h.now());
    let first = h.note(&effects);
    assert_eq!(servers(&first), [0]);
    // Server 1 fell due; server 0's result comes before any tick.
    h.at = Duration::from_millis(20);
    let effects = h.core.step(
        Input::PollDone {
            id: first[0].id,
            outcome: outcome(true),
            started: h.now().at,
        },
        h.now(),
    );
    assert_eq!(servers(&h.note(&effects)), [1]);
}

/// A 200 ms interval and retries 100 ms apart are kept to the millisecond: the core arms
/// each poll at its due time on the virtual clock, and the server fails after the third
/// failed poll, 200 ms after the first one.
#[test]
fn sub_second_intervals_and_retries_keep_their_cadence() {
    let ms = Duration::from_millis;
    let frequency = PollFrequency {
        interval: ms(200),
        failed_interval: ms(300),
        retries: 2,
        retry_interval: ms(100),
        timeout: ms(100),
        ..PollFrequency::default()
    };
    let mut h = Harness::new(vec![set("web", 1, frequency)]);
    // '+' works, '-' fails; each poll answered the moment it starts.
    let health = "+++---+";
    let mut starts = Vec::new();
    let mut statuses = String::new();
    for ok in health.bytes().map(|c| c == b'+') {
        let due = h.core.next_wakeup().expect("a poll is armed");
        h.at = due.saturating_duration_since(h.base);
        let effects = h.core.step(Input::Tick, h.now());
        let started = h.note(&effects);
        assert_eq!(started.len(), 1, "one poll at {:?}", h.at);
        starts.push(h.at);
        let effects = h.core.step(
            Input::PollDone {
                id: started[0].id,
                outcome: outcome(ok),
                started: h.now().at,
            },
            h.now(),
        );
        h.note(&effects);
        statuses.push_str(&h.statuses(0));
    }
    let gaps: Vec<u128> = starts
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis())
        .collect();
    // OK, OK, OK (200 ms apart); fails: retried after 100 ms twice; failed: 300 ms.
    assert_eq!(gaps, [200, 200, 200, 100, 100, 300]);
    assert_eq!(statuses, "OOORRFO");
    assert_eq!(
        h.kinds(),
        [
            EventKind::ServerFailed,
            EventKind::AllServersFailed,
            EventKind::ServerRecovered
        ]
    );
}

/// The connectivity guard through the core: while most references fail too, the servers'
/// failed polls are recorded but not judged (no state moves, no event, the decision
/// stays) and one problem says the network is down; when the references answer, it
/// clears, and a server that fails then is judged as always.
#[test]
fn the_connectivity_guard_holds_judgement_while_the_monitor_is_cut_off() {
    use crate::engine::problems::{NETWORK_DOWN, ProblemSubject};
    use crate::model::guard::{ConnectivityGuard, GUARD_SET};
    let mut settings = Settings {
        server_sets: vec![set("web", 2, frequency(1, 1, false))],
        ..Settings::default()
    };
    settings.options.connectivity_guard = ConnectivityGuard {
        references: vec!["198.51.100.1".into(), "198.51.100.2".into()],
        interval: Duration::from_secs(60),
        ..ConnectivityGuard::default()
    };
    let mut h = Harness::new(Vec::new());
    let effects = h.core.step(
        Input::Install {
            settings: Arc::new(settings),
            unavailable: BTreeMap::new(),
        },
        h.now(),
    );
    h.note(&effects);
    let mut history = Vec::new();
    // One round: every due poll answered, `ok(set, server)` saying how.
    let round =
        |h: &mut Harness, history: &mut Vec<HistoryRow>, ok: &dyn Fn(&str, usize) -> bool| {
            let next = h.core.next_wakeup().unwrap();
            h.at =
                h.at.max(next.saturating_duration_since(h.base) + Duration::from_millis(50));
            let effects = h.core.step(Input::Tick, h.now());
            for start in h.note(&effects) {
                let good = ok(&start.target.set_name, start.id.server);
                let effects = h.core.step(
                    Input::PollDone {
                        id: start.id,
                        outcome: outcome(good),
                        started: h.now().at,
                    },
                    h.now(),
                );
                h.note(&effects);
                history.extend(effects.into_iter().filter_map(|e| match e {
                    Effect::History(row) => Some(row),
                    _ => None,
                }));
            }
        };
    let network = |h: &Harness| h.core.problems().get("", &ProblemSubject::Network).cloned();
    let web = |h: &Harness| {
        h.core
            .sets()
            .iter()
            .position(|s| s.config.name == "web")
            .unwrap()
    };
    round(&mut h, &mut history, &|_, _| true);
    let before = h.core.sets()[web(&h)].decision.clone();
    assert!(before.addresses().is_some(), "{before:?}");
    assert!(h.core.sets().iter().any(|s| s.config.name == GUARD_SET));

    // Cut off: everything fails, for more rounds than the servers' retries.
    for _ in 0..4 {
        round(&mut h, &mut history, &|_, _| false);
    }
    let problem = network(&h).expect("the network-down problem");
    assert_eq!(problem.code, NETWORK_DOWN);
    assert!(
        problem.text.contains("2 of 2 reference targets"),
        "{}",
        problem.text
    );
    // Polled before the references in the first failed round, the servers went on to
    // retry; from then on their failures are not judged: neither fails.
    assert_eq!(h.statuses(web(&h)), "RR", "the servers are not judged");
    assert_eq!(h.core.sets()[web(&h)].decision, before);
    assert!(
        !h.kinds().contains(&EventKind::ServerFailed),
        "{:?}",
        h.kinds()
    );
    assert!(
        history
            .iter()
            .any(|r| r.set == "web" && !r.success && r.response.contains("not judged")),
        "the unjudged polls are recorded: {history:?}"
    );

    // The references answer: judgement is normal again.
    for _ in 0..10 {
        if network(&h).is_none() {
            break;
        }
        round(&mut h, &mut history, &|_, _| true);
    }
    assert_eq!(network(&h), None);
    // The failure is confirmed once the references answered polls started after it
    // began (`a_failure_waits_for_the_guard_but_not_for_a_dead_one`): a few more rounds.
    for _ in 0..20 {
        if h.statuses(web(&h)) == "FO" {
            break;
        }
        round(&mut h, &mut history, &|set, k| set == GUARD_SET || k == 1);
    }
    assert_eq!(h.statuses(web(&h)), "FO");
    assert!(h.kinds().contains(&EventKind::ServerFailed));
    // References' own changes are never events.
    assert!(
        h.events.iter().all(|e| e.set != GUARD_SET),
        "{:?}",
        h.events
    );
}

/// The TTL that follows the state through the core: the lower TTL once a server failed
/// (the failover's records carry it), still after the failback for the window, and the
/// normal one again when the window ends (the core wakes for it). A DNS server that
/// ignores TTLs is always given the normal one.
#[test]
fn the_ttl_follows_the_state_and_dns_follows_the_ttl() {
    use crate::model::{DnsServer, LowTtl};
    let mut web = set("web", 2, frequency(0, 1, false));
    web.dns.ttl = 60;
    web.dns.low_ttl = LowTtl {
        ttl: 10,
        while_failed: true,
        after_change: Duration::from_secs(2),
    };
    web.update_dns.enabled = true;
    web.update_dns.use_default_servers = false;
    web.update_dns.dns_servers = vec![
        DnsServer {
            address: "127.0.0.1".into(),
            ..DnsServer::default()
        },
        DnsServer {
            address: "127.0.0.2".into(),
            ignore_ttl: true,
            ..DnsServer::default()
        },
    ];
    let mut h = Harness::new(vec![web]);
    // One round: every due poll answered by `health`; the DNS runs started, as (server,
    // TTL of the job, TTL of its wanted records).
    let round = |h: &mut Harness, health: &str| -> Vec<(String, u32, Option<u32>)> {
        let next = h.core.next_wakeup().unwrap();
        h.at = h.at.max(next.saturating_duration_since(h.base));
        let mut jobs = Vec::new();
        let mut pending = h.core.step(Input::Tick, h.now());
        while !pending.is_empty() {
            let mut next = Vec::new();
            for effect in pending {
                match effect {
                    Effect::StartPoll(start) => {
                        let ok = health.as_bytes()[start.id.server] == b'+';
                        next.extend(h.core.step(
                            Input::PollDone {
                                id: start.id,
                                outcome: outcome(ok),
                                started: h.now().at,
                            },
                            h.now(),
                        ));
                    }
                    Effect::StartDns(start) => jobs.push((
                        start.job.server.address.clone(),
                        start.job.ttl,
                        start.job.wanted.ttl,
                    )),
                    Effect::Event(event) => h.events.push(event),
                    _ => {}
                }
            }
            pending = next;
        }
        jobs
    };
    let ttl = |h: &Harness| (h.core.sets()[0].ttl.ttl, h.core.sets()[0].ttl.low);
    let view_ttl = |h: &mut Harness| h.core.views()[0].ttl;
    let normal = vec![
        ("127.0.0.1".to_string(), 60, Some(60)),
        ("127.0.0.2".to_string(), 60, Some(60)),
    ];
    let low = vec![
        ("127.0.0.1".to_string(), 10, Some(10)),
        ("127.0.0.2".to_string(), 60, Some(60)),
    ];

    // All well: the normal TTL.
    round(&mut h, "++");
    assert_eq!(ttl(&h), (60, None));
    assert_eq!(round(&mut h, "++"), normal, "the first DNS runs");
    // The first server fails: failover, with the lower TTL.
    while h.statuses(0) != "FO" {
        round(&mut h, "-+");
    }
    assert_eq!(ttl(&h), (10, Some(LowTtlReason::FailedAndJustChanged)));
    assert_eq!(view_ttl(&mut h), 10);
    let mut jobs = Vec::new();
    while jobs.is_empty() {
        jobs = round(&mut h, "-+");
    }
    assert_eq!(jobs, low, "the failover's records carry the lower TTL");
    // Failed for longer than the window: still the lower TTL (a server has failed).
    h.at += Duration::from_secs(5);
    round(&mut h, "-+");
    assert_eq!(ttl(&h), (10, Some(LowTtlReason::Failed)));
    // It recovers: failback, the window starts again.
    while h.statuses(0) != "OO" {
        round(&mut h, "++");
    }
    assert_eq!(ttl(&h), (10, Some(LowTtlReason::JustChanged)));
    let end = h.core.sets()[0].ttl.window_ends.expect("the window's end");
    assert!(
        h.core.next_wakeup().unwrap() <= end,
        "the core wakes at the end"
    );
    // The window ends: the normal TTL, and DNS writes it (no address changed).
    let jobs = loop {
        let jobs = round(&mut h, "++");
        if h.base + h.at >= end && !jobs.is_empty() {
            break jobs;
        }
        assert!(
            h.at < Duration::from_secs(600),
            "no DNS run after the window"
        );
    };
    assert_eq!(ttl(&h), (60, None));
    assert_eq!(view_ttl(&mut h), 60);
    assert_eq!(jobs, normal, "the normal TTL written back");
    assert_eq!(
        h.core.sets()[0].ttl.window_ends,
        None,
        "no wake-up left behind"
    );
}

/// The guard's race through the core: the server (no retries) and the references fail
/// in the same round, the server's result first. Its failure waits for a reference result
/// from after it began; the references then say the network is down, so the server is
/// never failed. With a guard that gives no results (its probe cannot run), the failure
/// waits at most the bound, then is failed over as always.
#[test]
fn a_failure_waits_for_the_guard_but_not_for_a_dead_one() {
    use crate::model::guard::{ConnectivityGuard, GUARD_SET};
    let run = |guard_unavailable: bool| {
        let mut settings = Settings {
            server_sets: vec![set("web", 2, frequency(0, 1, false))],
            ..Settings::default()
        };
        settings.options.connectivity_guard = ConnectivityGuard {
            references: vec!["198.51.100.1".into(), "198.51.100.2".into()],
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            ..ConnectivityGuard::default()
        };
        let mut unavailable = BTreeMap::new();
        if guard_unavailable {
            unavailable.insert(GUARD_SET.to_string(), "no probe".to_string());
        }
        let mut h = Harness::new(Vec::new());
        let effects = h.core.step(
            Input::Install {
                settings: Arc::new(settings),
                unavailable,
            },
            h.now(),
        );
        h.note(&effects);
        let web = h
            .core
            .sets()
            .iter()
            .position(|s| s.config.name == "web")
            .unwrap();
        // One round: the due polls, the servers' results answered before the references'.
        let round = |h: &mut Harness, ok: bool| {
            let next = h.core.next_wakeup().unwrap();
            h.at =
                h.at.max(next.saturating_duration_since(h.base) + Duration::from_millis(50));
            let effects = h.core.step(Input::Tick, h.now());
            let mut starts = h.note(&effects);
            starts.sort_by_key(|s| s.target.set_name == GUARD_SET);
            for start in starts {
                let effects = h.core.step(
                    Input::PollDone {
                        id: start.id,
                        outcome: outcome(ok),
                        started: h.now().at,
                    },
                    h.now(),
                );
                h.note(&effects);
            }
        };
        round(&mut h, true);
        while h.statuses(web) != "OO" {
            round(&mut h, true);
        }
        let cut_at = h.at;
        for _ in 0..6 {
            round(&mut h, false);
        }
        (h.statuses(web), h.kinds(), h.at - cut_at)
    };
    let (statuses, kinds, _) = run(false);
    assert_eq!(
        statuses, "OO",
        "never judged: the guard said the network is down"
    );
    assert!(!kinds.contains(&EventKind::ServerFailed), "{kinds:?}");
    let (statuses, kinds, waited) = run(true);
    assert_eq!(statuses, "FF", "a dead guard holds nothing back for long");
    assert!(kinds.contains(&EventKind::ServerFailed), "{kinds:?}");
    assert!(
        waited >= Duration::from_secs(4),
        "held for the bound first: {waited:?}"
    );
}

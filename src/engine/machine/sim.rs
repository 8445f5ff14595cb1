//! Deterministic simulation of the whole core (FoundationDB's simulation testing,
//! TigerBeetle's VOPR): a seeded random world — servers that fail, recover and flap, poll
//! answers that come late, DNS servers that time out, refuse, answer BADSIG or have their
//! records changed behind our back, settings applied mid-run, pause / resume / poll now —
//! drives the core on a virtual clock, and invariants are checked after every step.
//!
//! `STANDBY_SIM_POLLS` sets how many simulated polls a run makes in all (default one
//! million, spread over worlds of 50,000 polls that run on every core);
//! `STANDBY_SIM_SEED=<n>` replays the one world of seed `n` (a failure prints its seed). It lives inside the crate, not in `tests/`, because it
//! reads the core's private state (phases, queue, pairs) that the public API does not show.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Core, DnsRunId, Effect, Input, Now, PollId};
use crate::dnsupdate::{DnsError, DnsStage, FailureKind as DnsKind, Records};
use crate::engine::decision::{Decision, decide};
use crate::engine::dns_sync::{Outcome, PairState, wanted_records};
use crate::engine::problems::ProblemSubject;
use crate::engine::server_state::ServerStatus;
use crate::engine::sets::Phase;
use crate::model::{
    AddressSelection, AllFailedPolicy, DnsServer, EventKind, PollFrequency, PollMethod, Server,
    ServerSet, Settings,
};
use crate::probe::{Failure, FailureKind, PollOutcome, PollStage};

/// Every server's status, by set id.
type Statuses = Vec<(u64, Vec<ServerStatus>)>;

/// Polls per world: enough for flapping, back-off and settings changes to interleave.
const POLLS_PER_WORLD: u64 = 50_000;

/// splitmix64: small, fast and the same on every platform (the seed must replay).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// 0..n
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// How a simulated server answers.
#[derive(Clone, Copy, Debug)]
enum Health {
    Up,
    Down,
    /// Fails this percentage of polls.
    Flapping(u64),
}

/// How a simulated DNS server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum DnsMode {
    Good,
    Timeout,
    Refused,
    BadSig,
}

/// Something the world does at a time.
#[derive(Debug)]
enum Happening {
    /// A poll's answer; it started at this time.
    PollReply(PollId, PollOutcome, Duration),
    DnsReply(DnsRunId, Outcome),
    /// The operator (or the file) does something.
    Operator,
    /// A server or DNS server changes its ways; someone edits records.
    Weather,
}

struct World {
    seed: u64,
    rng: Rng,
    core: Core,
    base: Instant,
    at: Duration,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    happenings: HashMap<u64, Happening>,
    seq: u64,
    /// Health by public address (shared by sets that have the same address).
    health: HashMap<IpAddr, Health>,
    /// Mode and records of each DNS server label × host.
    dns_mode: HashMap<String, DnsMode>,
    records: HashMap<(String, String), Records>,
    /// Runs the core cancelled (their results still arrive sometimes).
    cancelled: std::collections::HashSet<u64>,
    /// Polls started and not answered yet, and those of them in the slow lane.
    outstanding: usize,
    outstanding_slow: usize,
    /// Servers whose failure was told and whose recovery was not yet: set name → public
    /// addresses. Small vectors searched in order: a handful of sets and servers, and no
    /// hashing (this runs after every step).
    announced: Vec<(String, Vec<IpAddr>)>,
    /// The problem subjects of each current set's DNS pairs, by set id (made once per set).
    pair_subjects: Vec<(u64, Vec<String>)>,
    polls: u64,
    steps: u64,
    settings: Settings,
    unavailable: BTreeMap<String, String>,
}

impl World {
    fn new(seed: u64) -> World {
        let mut rng = Rng(seed);
        let settings = random_settings(&mut rng);
        let mut world = World {
            seed,
            rng,
            core: Core::new(HashMap::new()),
            base: Instant::now(),
            at: Duration::ZERO,
            queue: BinaryHeap::new(),
            happenings: HashMap::new(),
            seq: 0,
            health: HashMap::new(),
            dns_mode: HashMap::new(),
            records: HashMap::new(),
            cancelled: Default::default(),
            outstanding: 0,
            outstanding_slow: 0,
            announced: Vec::new(),
            pair_subjects: Vec::new(),
            polls: 0,
            steps: 0,
            settings: settings.clone(),
            unavailable: BTreeMap::new(),
        };
        world.install(settings);
        world.at_after(Duration::from_secs(30), Happening::Operator);
        world.at_after(Duration::from_secs(20), Happening::Weather);
        world
    }

    fn now(&self) -> Now {
        Now {
            at: self.base + self.at,
            wall: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000) + self.at,
        }
    }

    fn at_after(&mut self, delay: Duration, what: Happening) {
        self.seq += 1;
        self.queue.push(Reverse((self.at + delay, self.seq)));
        self.happenings.insert(self.seq, what);
    }

    fn fail(&self, why: String) -> ! {
        panic!(
            "simulation seed {} failed at step {} ({} polls, t = {:?}): {why}\n\
             replay with STANDBY_SIM_SEED={}",
            self.seed, self.steps, self.polls, self.at, self.seed
        );
    }

    fn install(&mut self, settings: Settings) {
        self.unavailable.clear();
        for set in &settings.server_sets {
            if self.rng.chance(3) {
                self.unavailable
                    .insert(set.name.clone(), "the method cannot run here".into());
            }
        }
        self.settings = settings.clone();
        let input = Input::Install {
            settings: Arc::new(settings),
            unavailable: self.unavailable.clone(),
        };
        self.step(input);
    }

    /// Runs until `budget` polls were made.
    fn run(&mut self, budget: u64) {
        while self.polls < budget {
            let world_next = self.queue.peek().map(|Reverse((at, _))| *at);
            let core_next = self
                .core
                .next_wakeup()
                .map(|due| due.saturating_duration_since(self.base));
            let world_first = match (world_next, core_next) {
                (Some(w), Some(c)) => w <= c,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => self.fail("nothing left to happen".into()),
            };
            if world_first {
                let Reverse((at, seq)) = self.queue.pop().unwrap();
                self.at = self.at.max(at);
                let happening = self.happenings.remove(&seq).unwrap();
                self.happen(happening);
            } else if let Some(c) = core_next {
                self.at = self.at.max(c);
                self.step(Input::Tick);
            }
        }
    }

    fn happen(&mut self, happening: Happening) {
        match happening {
            Happening::PollReply(id, outcome, started) => {
                self.outstanding -= 1;
                if id.lane == super::Lane::Slow {
                    self.outstanding_slow -= 1;
                }
                self.polls += 1;
                let started = self.base + started;
                let local = outcome.is_local_fault();
                let before = self.server_state(id);
                self.step(Input::PollDone {
                    id,
                    outcome,
                    started,
                });
                // A fault of the monitor itself is never a server's failure.
                if local && before.is_some() && self.server_state(id) != before {
                    self.fail(format!("a local fault changed the server {id:?}"));
                }
            }
            Happening::DnsReply(id, outcome) => {
                let stale = self.cancelled.remove(&id.run);
                let before = self.pair_core(id);
                self.step(Input::DnsDone { id, outcome });
                if stale && before != self.pair_core(id) {
                    self.fail(format!("a cancelled run's result changed its pair: {id:?}"));
                }
            }
            Happening::Operator => {
                self.operate();
                let delay = Duration::from_secs(1 + self.rng.below(600));
                self.at_after(delay, Happening::Operator);
            }
            Happening::Weather => {
                self.weather();
                let delay = Duration::from_secs(1 + self.rng.below(120));
                self.at_after(delay, Happening::Weather);
            }
        }
    }

    fn server_state(&self, id: PollId) -> Option<crate::engine::server_state::ServerState> {
        let set = self.core.sets.iter().find(|s| s.id == id.set_id)?;
        set.servers.get(id.server).map(|s| s.state.clone())
    }

    fn pair_core(&self, id: DnsRunId) -> Option<crate::engine::dns_sync::PairCore> {
        let set = self.core.sets.iter().find(|s| s.id == id.set_id)?;
        set.dns.pairs.get(id.pair).map(|p| p.core.clone())
    }

    /// Pause, resume, poll now, new settings.
    fn operate(&mut self) {
        let names: Vec<String> = self
            .settings
            .server_sets
            .iter()
            .map(|s| s.name.clone())
            .collect();
        let name = self.rng.pick(&names).clone();
        let input = match self.rng.below(10) {
            0 => Input::PauseAll,
            1 | 2 => Input::ResumeAll,
            3 => Input::PauseSet(name),
            4 | 5 => Input::ResumeSet(name),
            6 => Input::PollSet(name),
            7 => Input::PollAll,
            _ => {
                // Settings applied: what the core saved, changed a little.
                let mut settings = (**self.core.settings()).clone();
                mutate(&mut self.rng, &mut settings);
                self.install(settings);
                return;
            }
        };
        self.step(input);
    }

    /// Servers change health, DNS servers change ways, someone edits records.
    fn weather(&mut self) {
        let addresses: Vec<IpAddr> = self.health.keys().copied().collect();
        if !addresses.is_empty() {
            let mut sorted = addresses;
            sorted.sort();
            let address = *self.rng.pick(&sorted);
            let health = match self.rng.below(4) {
                0 | 1 => Health::Up,
                2 => Health::Down,
                _ => Health::Flapping(10 + self.rng.below(80)),
            };
            self.health.insert(address, health);
        }
        let mut labels: Vec<String> = self.dns_mode.keys().cloned().collect();
        labels.sort();
        if !labels.is_empty() {
            let label = self.rng.pick(&labels).clone();
            let mode = *self.rng.pick(&[
                DnsMode::Good,
                DnsMode::Good,
                DnsMode::Timeout,
                DnsMode::Refused,
                DnsMode::BadSig,
            ]);
            self.dns_mode.insert(label, mode);
        }
        let mut keys: Vec<(String, String)> = self.records.keys().cloned().collect();
        keys.sort();
        if !keys.is_empty() && self.rng.chance(50) {
            // Someone else changes the records: the next re-check must put them back.
            let key = self.rng.pick(&keys).clone();
            let other = Records::new(
                vec![IpAddr::from([203, 0, 113, self.rng.below(250) as u8])],
                Some(60),
            );
            self.records.insert(key, other);
        }
    }

    /// One step of the core, its effects carried out by the world, then every invariant.
    fn step(&mut self, input: Input) {
        self.steps += 1;
        let installing = matches!(input, Input::Install { .. });
        let before = self.statuses();
        let effects = self.core.step(input, self.now());
        let mut failed_events: HashMap<(String, String), usize> = HashMap::new();
        let mut recovered_events: HashMap<(String, String), usize> = HashMap::new();
        for effect in effects {
            match effect {
                Effect::StartPoll(start) => {
                    let Some(set) = self.core.sets.iter().find(|s| s.id == start.id.set_id) else {
                        self.fail(format!("a poll of an unknown set: {start:?}"));
                    };
                    if set.config.paused || self.core.settings.options.polling.paused {
                        self.fail(format!("a paused set is polled: {}", set.config.name));
                    }
                    if set.probe_error.is_some() {
                        self.fail(format!(
                            "a set that cannot poll is polled: {}",
                            set.config.name
                        ));
                    }
                    if self.outstanding >= self.core.poll_limit() {
                        self.fail(format!(
                            "a poll started with {} in flight, the limit is {}",
                            self.outstanding,
                            self.core.poll_limit()
                        ));
                    }
                    if !set.is_needed(start.id.server) {
                        self.fail(format!(
                            "sequential: a server below a working one is polled: {start:?}"
                        ));
                    }
                    // The slow lane (servers whose last poll timed out) holds at most
                    // half the permits.
                    let slow = start.id.lane == super::Lane::Slow;
                    if slow != set.servers[start.id.server].timed_out {
                        self.fail(format!("a poll in the wrong lane: {start:?}"));
                    }
                    if slow && self.outstanding_slow >= self.core.polling.slow_limit() {
                        self.fail(format!(
                            "a slow poll started with {} slow ones in flight, limit {}",
                            self.outstanding_slow,
                            self.core.polling.slow_limit()
                        ));
                    }
                    self.outstanding += 1;
                    self.outstanding_slow += usize::from(slow);
                    let health = *self.health.entry(start.id.public_ip).or_insert(Health::Up);
                    let ok = match health {
                        Health::Up => true,
                        Health::Down => false,
                        Health::Flapping(p) => !self.rng.chance(p),
                    };
                    let latency =
                        Duration::from_millis(1 + self.rng.below(if ok { 300 } else { 3000 }));
                    let outcome = if self.rng.chance(1) {
                        // The monitor itself is short of file descriptors: no observation.
                        PollOutcome::failure(
                            Failure::new(FailureKind::Local, PollStage::Connecting),
                            "too many open files",
                            latency,
                        )
                    } else if ok {
                        PollOutcome::success("200 OK", latency)
                    } else if self.rng.chance(50) {
                        PollOutcome::failure(
                            Failure::new(FailureKind::Timeout, PollStage::Waiting),
                            "timeout after 3 s",
                            latency,
                        )
                    } else {
                        PollOutcome::failure(
                            Failure::new(FailureKind::Network, PollStage::Connecting),
                            "connection refused",
                            latency,
                        )
                    };
                    self.at_after(latency, Happening::PollReply(start.id, outcome, self.at));
                }
                Effect::StartDns(start) => self.start_dns(start),
                Effect::CancelDns { run } => {
                    self.cancelled.insert(run);
                }
                Effect::Event(event) => {
                    let key = (event.set.clone(), event.subject.clone());
                    match event.kind {
                        EventKind::ServerFailed => *failed_events.entry(key).or_default() += 1,
                        EventKind::ServerRecovered => {
                            *recovered_events.entry(key).or_default() += 1
                        }
                        _ => {}
                    }
                }
                Effect::Save { .. }
                | Effect::Log(..)
                | Effect::Recorded(_)
                | Effect::History(_)
                | Effect::Published { .. } => {}
            }
        }
        self.check_transitions(&before, installing, failed_events, recovered_events);
        // The whole state is checked when the problems changed, after settings were
        // installed and every 256th step; otherwise the sets whose state changed (their
        // `dirty` flag, the one the snapshot relies on) and every server's phase.
        let full =
            installing || self.core.take_problems_changed() || self.steps.is_multiple_of(256);
        self.check_state(full);
        for set in &mut self.core.sets {
            set.dirty = false;
        }
    }

    fn start_dns(&mut self, start: super::DnsStart) {
        let Some(set) = self.core.sets.iter().find(|s| s.id == start.id.set_id) else {
            self.fail(format!("a DNS run of an unknown set: {:?}", start.id));
        };
        // DNS is changed only to what a decision publishes, once every server it needs
        // was polled.
        if !matches!(set.decision, Decision::Publish { .. }) {
            self.fail(format!(
                "a DNS run while the decision is {:?}",
                set.decision
            ));
        }
        if let Some(why) = needed_not_polled(set) {
            self.fail(format!(
                "a DNS run of {:?} before {why} was polled",
                set.config.name
            ));
        }
        if Some(&start.job.wanted) != wanted_records(&set.decision, set.config.dns.ttl).as_ref() {
            self.fail(format!(
                "a DNS run for {:?}, the decision is {:?}",
                start.job.wanted, set.decision
            ));
        }
        let label = start.job.server_label.clone();
        let mode = *self.dns_mode.entry(label.clone()).or_insert(DnsMode::Good);
        let key = (label, start.job.host.clone());
        let latency = Duration::from_millis(1 + self.rng.below(2000));
        let error = |kind, stage, text: &str| Outcome::Failed {
            error: DnsError::new(kind, stage, text),
            served: None,
        };
        let outcome = match mode {
            DnsMode::Timeout => error(DnsKind::Timeout, DnsStage::Asking, "timeout after 5 s"),
            DnsMode::Refused => error(DnsKind::WrongAnswer, DnsStage::Updating, "REFUSED"),
            DnsMode::BadSig => error(
                DnsKind::WrongAnswer,
                DnsStage::Updating,
                "TSIG authentication failed (BADSIG)",
            ),
            DnsMode::Good => {
                let served = self
                    .records
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| Records::new(Vec::new(), None));
                if served.matches(&start.job.wanted, false) {
                    Outcome::Matched {
                        served,
                        propagation: Some(crate::dnsupdate::propagation::Propagation::known(1, 1)),
                    }
                } else {
                    self.records.insert(key, start.job.wanted.clone());
                    Outcome::Updated {
                        before: served,
                        after: start.job.wanted.clone(),
                        text: "NOERROR".into(),
                        propagation: Some(crate::dnsupdate::propagation::Propagation::known(1, 1)),
                    }
                }
            }
        };
        self.at_after(latency, Happening::DnsReply(start.id, outcome));
    }

    /// Every server's status, by set id (cheap: no text, a few small vectors).
    fn statuses(&self) -> Statuses {
        self.core
            .sets
            .iter()
            .map(|set| (set.id, set.servers.iter().map(|s| s.state.status).collect()))
            .collect()
    }

    /// Each failed / recovered transition raises exactly one event, and a recovery is only
    /// told for a failure that was told.
    fn check_transitions(
        &mut self,
        before: &Statuses,
        installing: bool,
        failed: HashMap<(String, String), usize>,
        recovered: HashMap<(String, String), usize>,
    ) {
        let core = &self.core;
        if installing {
            // Servers that are gone, or start over (a new method), take their story along.
            for (name, addresses) in &mut self.announced {
                let set = core.sets.iter().find(|s| s.config.name == *name);
                addresses.retain(|ip| {
                    set.and_then(|set| set.servers.iter().find(|s| s.public_ip == *ip))
                        .is_some_and(|s| s.state.status == ServerStatus::Failed)
                });
            }
        }
        // Events are few: only a step that has some formats the servers' subjects.
        let events = !failed.is_empty() || !recovered.is_empty();
        let mut told = 0;
        let mut failures = Vec::new();
        for set in &core.sets {
            let was_of_set = before.iter().find(|(id, _)| *id == set.id).map(|(_, v)| v);
            let name = &set.config.name;
            for (k, server) in set.servers.iter().enumerate() {
                let now = server.state.status;
                let was = was_of_set.and_then(|v| v.get(k).copied());
                let entered_failed =
                    now == ServerStatus::Failed && was.is_some_and(|w| w != ServerStatus::Failed);
                // Failed → skipped: it recovered, then a higher server took over in the same step.
                let recovered_now = was == Some(ServerStatus::Failed)
                    && matches!(now, ServerStatus::Ok | ServerStatus::Skipped);
                let (f, r) = if events {
                    let key = (name.clone(), set.subject(k));
                    let f = failed.get(&key).copied().unwrap_or(0);
                    let r = recovered.get(&key).copied().unwrap_or(0);
                    told += f + r;
                    (f, r)
                } else {
                    (0, 0)
                };
                let ip = server.public_ip;
                if f != usize::from(entered_failed && !installing) {
                    failures.push(format!(
                        "{name:?} {ip}: {was:?} -> {now:?} with {f} failed event(s)"
                    ));
                }
                if r != usize::from(recovered_now && !installing) {
                    failures.push(format!(
                        "{name:?} {ip}: {was:?} -> {now:?} with {r} recovered event(s)"
                    ));
                }
                let announced = self.announced.iter().find(|(n, _)| n == name);
                let is_announced = announced.is_some_and(|(_, a)| a.contains(&ip));
                if f == 1 && is_announced {
                    failures.push(format!("{name:?} {ip}: failed twice without recovering"));
                }
                if r == 1 && !is_announced {
                    failures.push(format!("{name:?} {ip}: recovered without having failed"));
                }
                if f == 0 && r == 0 && now == ServerStatus::Ok && is_announced {
                    failures.push(format!(
                        "{name:?} {ip}: works again, but its recovery was never told"
                    ));
                }
                if f == 1 {
                    match self.announced.iter_mut().find(|(n, _)| n == name) {
                        Some((_, addresses)) => addresses.push(ip),
                        None => self.announced.push((name.clone(), vec![ip])),
                    }
                }
                if r == 1
                    && let Some((_, addresses)) = self.announced.iter_mut().find(|(n, _)| n == name)
                {
                    addresses.retain(|a| *a != ip);
                }
            }
        }
        if let Some(why) = failures.into_iter().next() {
            self.fail(why);
        }
        let events_in_all: usize = failed.values().chain(recovered.values()).sum();
        if events_in_all != told {
            self.fail(format!(
                "an event for a server that does not exist: {failed:?} {recovered:?}"
            ));
        }
    }

    fn pair_subjects_of(&self, id: u64) -> &[String] {
        let found = self.pair_subjects.iter().find(|(i, _)| *i == id);
        found
            .map(|(_, subjects)| subjects.as_slice())
            .unwrap_or(&[])
    }

    fn check_state(&mut self, full: bool) {
        let sets = &self.core.sets;
        self.pair_subjects
            .retain(|(id, _)| sets.iter().any(|s| s.id == *id));
        for set in sets {
            if !self.pair_subjects.iter().any(|(id, _)| *id == set.id) {
                let subjects = (0..set.dns.pairs.len()).map(|i| set.dns.subject(i));
                self.pair_subjects.push((set.id, subjects.collect()));
            }
        }
        let core = &self.core;
        if core.polls_in_flight() != self.outstanding {
            self.fail(format!(
                "the core counts {} polls in flight, the world {}",
                core.polls_in_flight(),
                self.outstanding
            ));
        }
        for set in &core.sets {
            let name = &set.config.name;
            let allowed = !core.settings.options.polling.paused
                && !set.config.paused
                && set.probe_error.is_none();
            for server in &set.servers {
                if !allowed && matches!(server.phase, Phase::Armed(_) | Phase::Queued(_)) {
                    let ip = server.public_ip;
                    self.fail(format!("{name:?} {ip}: armed while its set may not poll"));
                }
            }
            if !full && !set.dirty {
                continue;
            }
            // The decision is what `decide` gives for the current statuses.
            let expected = decide(&set.config.dns, &set.candidates(), &set.fallback);
            if set.decision != expected {
                self.fail(format!(
                    "{name:?} decided {:?}, decide gives {expected:?}",
                    set.decision
                ));
            }
            if let Decision::Publish { addresses, .. } = &set.decision
                && set.published.as_ref() != Some(addresses)
            {
                self.fail(format!(
                    "{name:?} publishes {:?}, decided {addresses:?}",
                    set.published
                ));
            }
            // A drained server (weight 0) is published only while no other one works.
            if let Decision::Publish { addresses, .. } = &set.decision {
                let others_work = set.servers.iter().any(|s| {
                    s.config.weight > 0
                        && s.state.status != ServerStatus::Disabled
                        && s.state.status.is_functional()
                });
                let drained = set.servers.iter().find(|s| {
                    s.config.weight == 0 && addresses.iter().any(|(a, _)| *a == s.public_ip)
                });
                if let (true, Some(drained)) = (others_work, drained) {
                    self.fail(format!(
                        "{name:?} publishes the drained {} while another server works",
                        drained.public_ip
                    ));
                }
            }
            if set.dns.wanted != wanted_records(&set.decision, set.config.dns.ttl) {
                self.fail(format!(
                    "{name:?}: DNS wants {:?}, decided {:?}",
                    set.dns.wanted, set.decision
                ));
            }
            for server in &set.servers {
                let ip = server.public_ip;
                let problem = core.problems.get(name, &ProblemSubject::Server(ip));
                match server.state.status {
                    ServerStatus::Failed if problem.is_none() => {
                        self.fail(format!("{name:?} {ip}: failed without a problem"));
                    }
                    ServerStatus::Ok if problem.is_some() => {
                        self.fail(format!(
                            "{name:?} {ip}: works, yet has a problem {problem:?}"
                        ));
                    }
                    _ => {}
                }
            }
            let pair_subjects = self.pair_subjects_of(set.id);
            let dns_problems: Vec<&String> = core
                .problems
                .of_set(name)
                .filter_map(|(s, _)| match s {
                    ProblemSubject::Dns(text) => Some(text),
                    _ => None,
                })
                .collect();
            for (pair, subject) in set.dns.pairs.iter().zip(pair_subjects) {
                let problem = dns_problems.contains(&subject);
                match pair.core.state {
                    PairState::Failed if !problem => {
                        self.fail(format!("{name:?} {subject}: DNS failed without a problem"));
                    }
                    PairState::Matched | PairState::Updated if problem => {
                        self.fail(format!("{name:?} {subject}: DNS right, yet a problem"));
                    }
                    _ => {}
                }
            }
            let set_problem = core
                .problems
                .get(name, &ProblemSubject::PollingMethod)
                .is_some();
            if set_problem != set.probe_error.is_some() {
                self.fail(format!(
                    "{name:?}: set problem {set_problem}, probe error {:?}",
                    set.probe_error
                ));
            }
        }
        if !full {
            return;
        }
        // No problem of anything that does not exist, each shown as its subject is.
        for (set_name, subject, p) in core.problems.entries() {
            let set = core.sets.iter().find(|s| s.config.name == set_name);
            let server = |ip: &IpAddr| {
                let set = set?;
                let k = set.servers.iter().position(|s| s.public_ip == *ip)?;
                Some(set.subject(k))
            };
            let shown = match subject {
                ProblemSubject::Monitor if set_name.is_empty() => {
                    if !core.local_faults.active() {
                        self.fail("the monitor's problem stands, its fault does not".into());
                    }
                    continue;
                }
                ProblemSubject::Server(ip) => server(ip),
                ProblemSubject::Certificate(ip) => server(ip)
                    .map(|s| format!("{s}{}", crate::engine::problems::CERTIFICATE_SUFFIX)),
                ProblemSubject::Dns(text) => set.and_then(|set| {
                    let subjects = self.pair_subjects_of(set.id);
                    subjects.iter().find(|s| *s == text).cloned()
                }),
                ProblemSubject::PollingMethod => set.and(subject.fixed_text()),
                // Polls started later than their interval (a small limit, slow answers).
                ProblemSubject::Lateness if set_name.is_empty() => continue,
                _ => None,
            };
            if shown.as_deref() != Some(p.subject.as_str()) {
                self.fail(format!(
                    "a problem of nothing (or shown as {shown:?}): {p:?}"
                ));
            }
        }
    }
}

/// Which server a decision needs that was not polled yet, if any. Drained servers
/// (weight 0) come after all others: they are needed only when no other one works.
fn needed_not_polled(set: &crate::engine::sets::SetRuntime) -> Option<String> {
    let in_set = || {
        set.servers
            .iter()
            .filter(|s| s.state.status != ServerStatus::Disabled)
    };
    let serving = || in_set().filter(|s| s.config.weight > 0);
    let drained = || in_set().filter(|s| s.config.weight == 0);
    let unpolled = |s: &&crate::engine::sets::ServerRuntime| {
        matches!(
            s.state.status,
            ServerStatus::NotTested | ServerStatus::Skipped
        )
    };
    match set.config.dns.addresses_of {
        AddressSelection::FirstFunctional => {
            for s in serving().chain(drained()) {
                if unpolled(&s) {
                    return Some(s.public_ip.to_string());
                }
                if s.state.status.is_functional() {
                    return None;
                }
            }
            None
        }
        _ => {
            let untested =
                |s: &&crate::engine::sets::ServerRuntime| s.state.status == ServerStatus::NotTested;
            if let Some(s) = serving().find(untested) {
                return Some(s.public_ip.to_string());
            }
            if serving().any(|s| s.state.status.is_functional()) {
                return None;
            }
            drained().find(untested).map(|s| s.public_ip.to_string())
        }
    }
}

fn random_frequency(rng: &mut Rng) -> PollFrequency {
    PollFrequency {
        interval: std::time::Duration::from_secs(1 + rng.below(30)),
        failed_interval: std::time::Duration::from_secs(1 + rng.below(15)),
        retries: rng.below(3) as u32,
        retry_interval: std::time::Duration::from_secs(1 + rng.below(5)),
        timeout: std::time::Duration::from_secs(3),
        recover_after: 1 + rng.below(3) as u32,
        sequential: rng.chance(30),
    }
}

fn random_set(rng: &mut Rng, index: usize) -> ServerSet {
    let mut set = ServerSet {
        name: format!("set{index}"),
        frequency: random_frequency(rng),
        polling: PollMethod::Ping,
        ..ServerSet::default()
    };
    let count = 1 + rng.below(6) as usize;
    set.servers = (0..count)
        .map(|k| Server {
            public_ip: IpAddr::from([192, 0, 2, (index * 10 + k + 1) as u8]).to_string(),
            name: if rng.chance(50) {
                format!("s{k}")
            } else {
                String::new()
            },
            // 0 drains the server.
            weight: rng.below(6) as u32,
            pause_set_on_failure: rng.chance(5),
            disabled: rng.chance(10),
            ..Server::default()
        })
        .collect();
    set.dns.host_names = (0..1 + rng.below(2))
        .map(|h| format!("h{h}.set{index}.example.test"))
        .collect();
    set.dns.addresses_of = *rng.pick(&[
        AddressSelection::FirstFunctional,
        AddressSelection::AllFunctional,
        AddressSelection::WeightedRoundRobin,
    ]);
    set.dns.if_all_fail = match rng.below(3) {
        0 => AllFailedPolicy::AssumeLocalFault,
        1 => AllFailedPolicy::LeaveAsIs,
        _ => AllFailedPolicy::Fallback(vec!["198.51.100.7".into()]),
    };
    set.update_dns.enabled = rng.chance(80);
    set.update_dns.use_default_servers = false;
    set.update_dns.dns_servers = (0..1 + rng.below(2))
        .map(|d| DnsServer {
            address: format!("127.0.0.{}", 50 + d),
            port: 5300 + index as u16,
            recheck_minutes: 1 + rng.below(10) as u32,
            ..DnsServer::default()
        })
        .collect();
    set
}

fn random_settings(rng: &mut Rng) -> Settings {
    let mut settings = Settings {
        server_sets: (0..1 + rng.below(3) as usize)
            .map(|i| random_set(rng, i))
            .collect(),
        ..Settings::default()
    };
    // 0: auto (at least 100, more than these worlds ever poll at once).
    settings.options.polling.max_concurrent_polls = rng.below(9) as u32;
    settings
}

/// A small change, as an operator makes in the Options or a set's dialog.
fn mutate(rng: &mut Rng, settings: &mut Settings) {
    let n = settings.server_sets.len();
    match rng.below(7) {
        0 => settings.options.polling.max_concurrent_polls = 1 + rng.below(8) as u32,
        1 => {
            let set = &mut settings.server_sets[rng.below(n as u64) as usize];
            set.frequency = random_frequency(rng);
        }
        2 if n < 4 => {
            // A new set (names are reused: a removed set may come back).
            let index = (0..8).find(|i| {
                !settings
                    .server_sets
                    .iter()
                    .any(|s| s.name == format!("set{i}"))
            });
            if let Some(index) = index {
                settings.server_sets.push(random_set(rng, index));
            }
        }
        3 if n > 1 => {
            settings.server_sets.remove(rng.below(n as u64) as usize);
        }
        4 => {
            let set = &mut settings.server_sets[rng.below(n as u64) as usize];
            let k = rng.below(set.servers.len() as u64) as usize;
            set.servers[k].disabled = !set.servers[k].disabled;
        }
        5 => {
            // Another method (or the same one again): server states start over or stay.
            let set = &mut settings.server_sets[rng.below(n as u64) as usize];
            set.polling = if rng.chance(50) {
                PollMethod::Ping
            } else {
                PollMethod::Tcp(Default::default())
            };
        }
        _ => {
            let set = &mut settings.server_sets[rng.below(n as u64) as usize];
            set.dns.addresses_of = *rng.pick(&[
                AddressSelection::FirstFunctional,
                AddressSelection::AllFunctional,
                AddressSelection::WeightedRoundRobin,
            ]);
            set.update_dns.enabled = !set.update_dns.enabled || rng.chance(50);
        }
    }
}

/// The default count of simulated polls per `cargo test` (issue 10: a million per CI run).
const DEFAULT_POLLS: u64 = 1_000_000;

#[test]
fn simulation() {
    let total: u64 = std::env::var("STANDBY_SIM_POLLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_POLLS);
    let started = std::time::Instant::now();
    if let Some(seed) = std::env::var("STANDBY_SIM_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        let mut world = World::new(seed);
        world.run(total.min(POLLS_PER_WORLD));
        eprintln!("seed {seed}: {} polls, {} steps", world.polls, world.steps);
        return;
    }
    // Worlds are independent (each one its seed), so they run on every core: seeds are
    // handed out in order, and a failing one prints its seed for STANDBY_SIM_SEED.
    let worlds = total.div_ceil(POLLS_PER_WORLD);
    let next = std::sync::atomic::AtomicU64::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let counts: Vec<(u64, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let (mut polls, mut steps) = (0, 0);
                    loop {
                        let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if seed >= worlds {
                            return (polls, steps);
                        }
                        let budget = POLLS_PER_WORLD.min(total - seed * POLLS_PER_WORLD);
                        let mut world = World::new(seed);
                        world.run(budget);
                        polls += world.polls;
                        steps += world.steps;
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let polls: u64 = counts.iter().map(|c| c.0).sum();
    let steps: u64 = counts.iter().map(|c| c.1).sum();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "simulation: {polls} polls, {steps} steps in {worlds} worlds on {threads} threads, \
         {secs:.1} s: {:.0} polls/s",
        polls as f64 / secs
    );
}

//! The core's polling part. It owns the poll timers, the queues of polls waiting for room
//! and the counts of polls in flight under the limit (`max_concurrent_polls`, or the
//! [`auto_limit`] for 0). It decides *when* a server is polled; the set logic in
//! `machine/mod.rs` decides *whether*.
//!
//! **Invariant:** never more than `limit` polls in flight, and never more than half of
//! them (at least one) in the slow [`Lane`]: polls of servers whose last poll timed out.
//! *Why:* a black-holed server holds its permit for its whole time-out; a thousand of
//! them would otherwise hold every permit and starve the servers that answer (issue 11).
//!
//! **Invariant:** a due poll that finds no room waits in its lane's queue, which is fair
//! per set: the sets with waiting polls take turns (round-robin), each set's polls go
//! earliest due first, and a freed permit goes to the lane whose next poll was due
//! earliest. *Why:* one big or slow set cannot make a small one wait behind its backlog.
//! The limit and queues live here, not in a semaphore of the shell, so that the simulation
//! can check them and a paused set's queued polls are dropped instead of run.
//!
//! **Invariant:** a server has at most one poll armed, queued or running ([`Phase`]);
//! a timer or queue entry whose `arming` is not the server's current one is stale and
//! ignored (lazy cancellation: nothing is searched and removed).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use super::Effect;
use crate::engine::scheduler::{TimerKey, Timers, spread_offset};
use crate::engine::sets::{Phase, SetRuntime};
use crate::model::Settings;
use crate::model::options::MAX_CONCURRENT_POLLS;
use crate::probe::PollTarget;

/// The least limit `auto` gives (unless half the open-file limit is less).
pub const AUTO_MIN: usize = 100;

/// Which lane a poll waits and runs in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Lane {
    /// Servers that answered, failed quickly or were never polled.
    Fast,
    /// Servers whose last poll timed out: each holds a permit for its whole time-out, so
    /// together they may hold at most half the permits.
    Slow,
}

/// Which poll a result belongs to. A result whose set id or public address no longer
/// matches (the set was rebuilt, the server changed) is dropped; its lane is counted back
/// all the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollId {
    pub set_id: u64,
    pub server: usize,
    pub public_ip: std::net::IpAddr,
    pub lane: Lane,
}

/// Start this poll now (an [`Effect`]).
#[derive(Clone, Debug)]
pub struct PollStart {
    pub id: PollId,
    pub target: PollTarget,
    /// When it was due; the shell measures lateness from it.
    pub due: Instant,
}

/// One lane's waiting polls: a queue per set (earliest due first) and the sets' turns.
#[derive(Default)]
struct Queue {
    sets: HashMap<u64, BinaryHeap<Reverse<(Instant, TimerKey)>>>,
    /// The sets with waiting polls, the one whose turn it is first.
    turns: VecDeque<u64>,
    len: usize,
}

impl Queue {
    fn push(&mut self, key: TimerKey, due: Instant) {
        let turns = &mut self.turns;
        let set = self.sets.entry(key.set_id).or_insert_with(|| {
            turns.push_back(key.set_id);
            BinaryHeap::new()
        });
        set.push(Reverse((due, key)));
        self.len += 1;
    }

    /// When the poll whose turn it is was due.
    fn peek(&self) -> Option<Instant> {
        let set = self.sets.get(self.turns.front()?)?;
        set.peek().map(|Reverse((due, _))| *due)
    }

    /// The earliest poll of the set whose turn it is; the set's next turn is after all
    /// others' (round-robin).
    fn pop(&mut self) -> Option<(TimerKey, Instant)> {
        let id = self.turns.pop_front()?;
        let set = self.sets.get_mut(&id)?;
        let Reverse((due, key)) = set.pop()?;
        if set.is_empty() {
            self.sets.remove(&id);
        } else {
            self.turns.push_back(id);
        }
        self.len -= 1;
        Some((key, due))
    }

    fn clear(&mut self) {
        self.sets.clear();
        self.turns.clear();
        self.len = 0;
    }
}

/// Timers, the lanes' wait queues and their in-flight counts.
pub struct Polling {
    timers: Timers,
    fast: Queue,
    slow: Queue,
    fast_in_flight: usize,
    slow_in_flight: usize,
    limit: usize,
}

impl Polling {
    pub fn new(limit: usize) -> Polling {
        Polling {
            timers: Timers::default(),
            fast: Queue::default(),
            slow: Queue::default(),
            fast_in_flight: 0,
            slow_in_flight: 0,
            limit: limit.max(1),
        }
    }

    /// A new limit. Polls already running finish; no new one starts above it.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit.max(1);
    }

    pub fn in_flight(&self) -> usize {
        self.fast_in_flight + self.slow_in_flight
    }

    /// Polls in flight in the slow lane.
    #[cfg(test)]
    pub fn slow_in_flight(&self) -> usize {
        self.slow_in_flight
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The most polls the slow lane may have in flight: half the limit, at least one.
    pub fn slow_limit(&self) -> usize {
        (self.limit / 2).max(1)
    }

    /// The next time a timer is due (possibly a stale one: popping it is harmless).
    pub fn next_due(&self) -> Option<Instant> {
        self.timers.next_due()
    }

    /// Forgets every timer and queued poll (before every server is armed afresh).
    pub fn clear(&mut self) {
        self.timers.clear();
        self.fast.clear();
        self.slow.clear();
    }

    /// Arms the timer of one server unless it is disabled or already queued or running.
    pub fn arm(&mut self, set: &mut SetRuntime, server: usize, due: Instant) {
        let set_id = set.id;
        let s = &mut set.servers[server];
        if s.config.disabled || s.phase.is_busy() {
            return;
        }
        s.arming += 1;
        s.phase = Phase::Armed(due);
        self.timers.arm(
            due,
            TimerKey {
                set_id,
                server,
                arming: s.arming,
            },
        );
    }

    /// Stops the server's armed or queued poll (a running one finishes).
    pub fn unschedule(set: &mut SetRuntime, server: usize) {
        let s = &mut set.servers[server];
        s.arming += 1;
        if matches!(s.phase, Phase::Armed(_) | Phase::Queued(_)) {
            s.phase = Phase::Idle;
        }
    }

    /// Arms every server of a set, spread from `start` (first polls, *Poll now*, resume).
    pub fn schedule_set(&mut self, set: &mut SetRuntime, start: Instant) {
        let count = set.servers.len();
        let interval = interval_of(set);
        for k in 0..count {
            self.arm(set, k, start + spread_offset(k, count, interval));
        }
    }

    /// Takes the next timer due at `now`. The caller checks it against the server with
    /// [`Polling::take_armed`].
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        self.timers.pop_due(now)
    }

    /// True when `key` is the server's current arming for `due`; the server is idle then.
    pub fn take_armed(set: &mut SetRuntime, key: TimerKey, due: Instant) -> bool {
        let Some(s) = set.servers.get_mut(key.server) else {
            return false;
        };
        if s.arming != key.arming || s.phase != Phase::Armed(due) {
            return false;
        }
        s.phase = Phase::Idle;
        true
    }

    /// The lane of a server's next poll.
    fn lane_of(set: &SetRuntime, server: usize) -> Lane {
        if set.servers[server].timed_out {
            Lane::Slow
        } else {
            Lane::Fast
        }
    }

    fn queue(&mut self, lane: Lane) -> &mut Queue {
        match lane {
            Lane::Fast => &mut self.fast,
            Lane::Slow => &mut self.slow,
        }
    }

    /// There is a permit for a poll of `lane`.
    fn room(&self, lane: Lane) -> bool {
        self.in_flight() < self.limit
            && (lane == Lane::Fast || self.slow_in_flight < self.slow_limit())
    }

    /// Starts the poll now if its lane has room and nothing of the lane waits, else
    /// queues it.
    pub fn start_or_queue(
        &mut self,
        set: &mut SetRuntime,
        server: usize,
        due: Instant,
        effects: &mut Vec<Effect>,
    ) {
        let lane = Self::lane_of(set, server);
        if self.room(lane) && self.queue(lane).len == 0 {
            self.start(set, server, due, lane, effects);
        } else {
            let s = &mut set.servers[server];
            s.arming += 1;
            s.phase = Phase::Queued(due);
            let key = TimerKey {
                set_id: set.id,
                server,
                arming: s.arming,
            };
            self.queue(lane).push(key, due);
        }
    }

    fn start(
        &mut self,
        set: &mut SetRuntime,
        server: usize,
        due: Instant,
        lane: Lane,
        out: &mut Vec<Effect>,
    ) {
        let target: PollTarget = set.target(server);
        let s = &mut set.servers[server];
        s.phase = Phase::Running(due);
        match lane {
            Lane::Fast => self.fast_in_flight += 1,
            Lane::Slow => self.slow_in_flight += 1,
        }
        out.push(Effect::StartPoll(PollStart {
            id: PollId {
                set_id: set.id,
                server,
                public_ip: s.public_ip,
                lane,
            },
            target,
            due,
        }));
    }

    /// A poll of `lane` finished: one more permit.
    pub fn finished(&mut self, lane: Lane) {
        match lane {
            Lane::Fast => self.fast_in_flight = self.fast_in_flight.saturating_sub(1),
            Lane::Slow => self.slow_in_flight = self.slow_in_flight.saturating_sub(1),
        }
    }

    /// The next queued poll that has a permit: of the lane whose next poll was due
    /// earliest, among the lanes with room. The caller finds its set and calls
    /// [`Polling::start_queued`] (or drops it if polling stopped or it is stale).
    pub fn next_queued(&mut self) -> Option<(TimerKey, Instant, Lane)> {
        if self.in_flight() >= self.limit {
            return None;
        }
        let fast = self.fast.peek();
        let slow = self.slow.peek().filter(|_| self.room(Lane::Slow));
        let lane = match (fast, slow) {
            (Some(f), Some(s)) if s < f => Lane::Slow,
            (Some(_), _) => Lane::Fast,
            (None, Some(_)) => Lane::Slow,
            (None, None) => return None,
        };
        let (key, due) = self.queue(lane).pop()?;
        Some((key, due, lane))
    }

    /// Starts a queued poll if `key` is still the server's current one.
    pub fn start_queued(
        &mut self,
        set: &mut SetRuntime,
        key: TimerKey,
        due: Instant,
        lane: Lane,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let Some(s) = set.servers.get(key.server) else {
            return false;
        };
        if s.arming != key.arming || s.phase != Phase::Queued(due) {
            return false;
        }
        self.start(set, key.server, due, lane, effects);
        true
    }

    /// A result arrived for this server: it is no longer running.
    pub fn done(set: &mut SetRuntime, server: usize) {
        if let Some(s) = set.servers.get_mut(server)
            && matches!(s.phase, Phase::Running(_))
        {
            s.phase = Phase::Idle;
        }
    }

    /// Queued polls (for tests and the simulation).
    #[cfg(test)]
    pub fn queued(&self) -> usize {
        self.queued_len()
    }

    /// Polls waiting for room (stale entries included: an upper bound, for the lateness
    /// problem's text and for telling when nothing waits).
    pub fn queued_len(&self) -> usize {
        self.fast.len + self.slow.len
    }
}

/// The set's normal interval.
pub fn interval_of(set: &SetRuntime) -> Duration {
    set.config
        .frequency
        .interval
        .max(crate::engine::server_state::MIN_DELAY)
}

/// The limit that `max_concurrent_polls: 0` (auto) stands for: room for every enabled
/// server's poll to run to its time-out at the shortest cadence it can have (normal,
/// failed or retry interval), and a quarter more; at least [`AUTO_MIN`]; at most half the
/// process's open-file limit (each poll holds a socket; the other half is for DNS, the
/// API, the files) and [`MAX_CONCURRENT_POLLS`]. `fd_limit`: the soft limit in force, as
/// the shell read it after raising it (`None`: no such limit, as on Windows).
pub fn auto_limit(settings: &Settings, fd_limit: Option<u64>) -> usize {
    let expected: f64 = settings
        .server_sets
        .iter()
        .map(|set| {
            let f = &set.frequency;
            let mut cadence = f.interval.min(f.failed_interval);
            if f.retries > 0 {
                cadence = cadence.min(f.retry_interval);
            }
            let cadence = cadence.max(crate::engine::server_state::MIN_DELAY);
            // A server has at most one poll in flight.
            let share = (f.timeout.as_secs_f64() / cadence.as_secs_f64()).min(1.0);
            let servers = set.servers.iter().filter(|s| !s.disabled).count();
            share * servers as f64
        })
        .sum();
    let most = MAX_CONCURRENT_POLLS as usize;
    let wanted = ((expected * 1.25).ceil() as usize).clamp(AUTO_MIN, most);
    let ceiling = fd_limit.map_or(most, |fds| (fds / 2).min(most as u64) as usize);
    wanted.min(ceiling).max(1)
}

/// The limit in force for these settings: the configured one, or [`auto_limit`] for 0.
pub fn limit_for(settings: &Settings, fd_limit: Option<u64>) -> usize {
    match settings.options.polling.max_concurrent_polls {
        0 => auto_limit(settings, fd_limit),
        n => n as usize,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{PollFrequency, Server, ServerSet};

    fn settings(sets: &[(usize, u64, u64)]) -> Settings {
        let server_sets = sets
            .iter()
            .enumerate()
            .map(|(i, &(servers, interval, timeout))| ServerSet {
                name: format!("s{i}"),
                servers: (0..servers).map(|_| Server::default()).collect(),
                frequency: PollFrequency {
                    interval: std::time::Duration::from_secs(interval),
                    failed_interval: std::time::Duration::from_secs(interval),
                    retry_interval: std::time::Duration::from_secs(interval),
                    timeout: std::time::Duration::from_secs(timeout),
                    ..PollFrequency::default()
                },
                ..ServerSet::default()
            })
            .collect();
        Settings {
            server_sets,
            ..Settings::default()
        }
    }

    /// A set of `servers` servers (192.0.2.x, never contacted) with the id `id`.
    fn runtime(id: u64, servers: usize) -> SetRuntime {
        let config = ServerSet {
            name: format!("set {id}"),
            servers: (0..servers)
                .map(|k| Server {
                    public_ip: format!("192.0.2.{}", id * 20 + k as u64),
                    ..Server::default()
                })
                .collect(),
            ..ServerSet::default()
        };
        SetRuntime::build(id, config, None, &Default::default(), None)
    }

    /// Starts what has a permit now; returns the starts as (set id, server).
    fn drain(p: &mut Polling, sets: &mut [SetRuntime], out: &mut Vec<Effect>) -> Vec<(u64, usize)> {
        let mut started = Vec::new();
        while let Some((key, due, lane)) = p.next_queued() {
            let set = sets.iter_mut().find(|s| s.id == key.set_id).unwrap();
            if p.start_queued(set, key, due, lane, out) {
                started.push((key.set_id, key.server));
            }
        }
        started
    }

    fn finish(p: &mut Polling, set: &mut SetRuntime, server: usize, lane: Lane) {
        p.finished(lane);
        Polling::done(set, server);
    }

    /// A big set's backlog does not hold up a small set: freed permits go to the sets in
    /// turn, each set's polls earliest due first.
    #[test]
    fn sets_take_turns_for_freed_permits() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut sets = [runtime(1, 4), runtime(2, 2)];
        let mut p = Polling::new(1);
        let mut out = Vec::new();
        // (set index, server, due in ms), in the order they fall due.
        for (set, server, due) in [
            (0, 0, 0),
            (0, 1, 1),
            (0, 2, 2),
            (0, 3, 3),
            (1, 1, 10),
            (1, 0, 11),
        ] {
            p.start_or_queue(&mut sets[set], server, ms(due), &mut out);
        }
        assert_eq!(p.in_flight(), 1);
        assert_eq!(p.queued(), 5);
        // One permit: each finished poll frees it for the next in turn. The small set's
        // server 1 fell due before its server 0, so it goes first.
        let mut order = Vec::new();
        let mut running = (0, 0);
        for _ in 0..5 {
            let (set, server) = running;
            finish(&mut p, &mut sets[set], server, Lane::Fast);
            let started = drain(&mut p, &mut sets, &mut out);
            assert_eq!(started.len(), 1);
            let (id, k) = started[0];
            order.push((id, k));
            running = ((id - 1) as usize, k);
        }
        assert_eq!(order, [(1, 1), (2, 1), (1, 2), (2, 0), (1, 3)]);
        // The old single FIFO would have given [(1, 1), (1, 2), (1, 3), (2, 1), (2, 0)].
    }

    /// Servers whose last poll timed out hold at most half the permits; the other half
    /// stays for the servers that answer, even while slow polls wait.
    #[test]
    fn the_slow_lane_holds_at_most_half_the_permits() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut sets = [runtime(1, 8)];
        for k in 0..4 {
            sets[0].servers[k].timed_out = true;
        }
        let mut p = Polling::new(4);
        assert_eq!(p.slow_limit(), 2);
        let mut out = Vec::new();
        let lanes = |out: &[Effect]| -> Vec<(usize, Lane)> {
            out.iter()
                .filter_map(|e| match e {
                    Effect::StartPoll(s) => Some((s.id.server, s.id.lane)),
                    _ => None,
                })
                .collect()
        };
        // (server, due in ms) → what runs after it fell due.
        for (k, due) in [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4)] {
            p.start_or_queue(&mut sets[0], k, ms(due), &mut out);
        }
        // Two slow polls run, two wait; the fast one runs beside them.
        assert_eq!(
            lanes(&out),
            [(0, Lane::Slow), (1, Lane::Slow), (4, Lane::Fast)]
        );
        assert_eq!((p.in_flight(), p.slow_in_flight(), p.queued()), (3, 2, 2));
        // The fast poll ends: its permit is not given to a waiting slow poll...
        finish(&mut p, &mut sets[0], 4, Lane::Fast);
        assert_eq!(drain(&mut p, &mut sets, &mut out), []);
        // ...so the next fast polls start at once, up to the limit.
        out.clear();
        p.start_or_queue(&mut sets[0], 5, ms(10), &mut out);
        p.start_or_queue(&mut sets[0], 6, ms(11), &mut out);
        p.start_or_queue(&mut sets[0], 7, ms(12), &mut out);
        assert_eq!(lanes(&out), [(5, Lane::Fast), (6, Lane::Fast)]);
        assert_eq!((p.in_flight(), p.queued()), (4, 3));
        // A slow poll ends: the permit goes to the poll due earliest among the lanes with
        // room — the slow server 2 (due at 2 ms), not the fast server 7 (12 ms).
        finish(&mut p, &mut sets[0], 0, Lane::Slow);
        assert_eq!(drain(&mut p, &mut sets, &mut out), [(1, 2)]);
        // A fast poll ends: the slow lane is full again, so the fast server 7 runs.
        finish(&mut p, &mut sets[0], 5, Lane::Fast);
        assert_eq!(drain(&mut p, &mut sets, &mut out), [(1, 7)]);
        assert_eq!((p.in_flight(), p.slow_in_flight(), p.queued()), (4, 2, 1));
        // With one permit the slow lane may use it (half of one is none: at least one).
        assert_eq!(Polling::new(1).slow_limit(), 1);
    }

    /// Sets as (servers, interval, time-out).
    type Sets = &'static [(usize, u64, u64)];

    /// (sets, open-file limit, auto limit)
    #[test]
    fn the_auto_limit_fits_the_servers_and_the_open_file_limit() {
        let table: &[(Sets, Option<u64>, usize)] = &[
            (&[], Some(1_048_576), 100),             // nothing to poll: the floor
            (&[(10, 10, 10)], Some(1_048_576), 100), // a few servers: the floor
            (&[(10_000, 10, 10)], Some(1_048_576), 12_500), // issue 11's run: 1.25 × 10,000
            (&[(10_000, 10, 5)], Some(1_048_576), 6_250), // half the interval each
            (&[(10_000, 5, 10)], Some(1_048_576), 12_500), // a poll per server at most
            (&[(6_000, 10, 10), (4_000, 60, 6)], Some(1_048_576), 8_000), // summed per set
            (&[(10_000, 10, 10)], Some(4_096), 2_048), // half the open-file limit
            (&[(10_000, 10, 10)], Some(100), 50),    // below the floor: the files win
            (&[(1_000_000, 1, 10)], None, 100_000),  // no open-file limit: the most
        ];
        for (row, (sets, fds, want)) in table.iter().enumerate() {
            assert_eq!(auto_limit(&settings(sets), *fds), *want, "row {row}");
        }
        // Disabled servers poll nothing; the failed and retry intervals count.
        let mut s = settings(&[(1_000, 60, 10)]);
        assert_eq!(auto_limit(&s, None), 209); // 1,000 × 10/60 × 1.25
        s.server_sets[0].frequency.retries = 2;
        s.server_sets[0].frequency.retry_interval = std::time::Duration::from_secs(10);
        assert_eq!(auto_limit(&s, None), 1_250);
        for server in &mut s.server_sets[0].servers[..600] {
            server.disabled = true;
        }
        assert_eq!(auto_limit(&s, None), 500);
        // An explicit limit is the limit; 0 is auto.
        s.options.polling.max_concurrent_polls = 7;
        assert_eq!(limit_for(&s, None), 7);
        s.options.polling.max_concurrent_polls = 0;
        assert_eq!(limit_for(&s, None), 500);
    }
}

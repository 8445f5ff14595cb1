//! The core's polling part. It owns the poll timers, the queue of polls waiting for room
//! and the count of polls in flight under the limit (`max_concurrent_polls`). It decides
//! *when* a server is polled; the set logic in `machine/mod.rs` decides *whether*.
//!
//! **Invariant:** never more than `limit` polls in flight. A due poll that finds no room
//! waits in the queue (FIFO, so that no server starves) and starts when a poll finishes.
//! The limit lives here, not in a semaphore of the shell, so that the simulation can check
//! it and a paused set's queued polls are dropped instead of run.
//!
//! **Invariant:** a server has at most one poll armed, queued or running ([`Phase`]);
//! a timer or queue entry whose `arming` is not the server's current one is stale and
//! ignored (lazy cancellation: nothing is searched and removed).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use super::Effect;
use crate::engine::scheduler::{TimerKey, Timers, spread_offset};
use crate::engine::sets::{Phase, SetRuntime};
use crate::probe::PollTarget;

/// Which poll a result belongs to. A result whose set id or public address no longer
/// matches (the set was rebuilt, the server changed) is dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollId {
    pub set_id: u64,
    pub server: usize,
    pub public_ip: std::net::IpAddr,
}

/// Start this poll now (an [`Effect`]).
#[derive(Clone, Debug)]
pub struct PollStart {
    pub id: PollId,
    pub target: PollTarget,
    /// When it was due; the shell measures lateness from it.
    pub due: Instant,
}

/// Timers, the wait queue and the in-flight count.
pub struct Polling {
    timers: Timers,
    queue: VecDeque<(TimerKey, Instant)>,
    in_flight: usize,
    limit: usize,
}

impl Polling {
    pub fn new(limit: u32) -> Polling {
        Polling {
            timers: Timers::default(),
            queue: VecDeque::new(),
            in_flight: 0,
            limit: limit.max(1) as usize,
        }
    }

    /// A new limit. Polls already running finish; no new one starts above it.
    pub fn set_limit(&mut self, limit: u32) {
        self.limit = limit.max(1) as usize;
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The next time a timer is due (possibly a stale one: popping it is harmless).
    pub fn next_due(&self) -> Option<Instant> {
        self.timers.next_due()
    }

    /// Forgets every timer and queued poll (before every server is armed afresh).
    pub fn clear(&mut self) {
        self.timers.clear();
        self.queue.clear();
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

    /// Starts the poll now if there is room, else queues it.
    pub fn start_or_queue(
        &mut self,
        set: &mut SetRuntime,
        server: usize,
        due: Instant,
        effects: &mut Vec<Effect>,
    ) {
        if self.in_flight < self.limit {
            self.start(set, server, due, effects);
        } else {
            let s = &mut set.servers[server];
            s.arming += 1;
            s.phase = Phase::Queued(due);
            let key = TimerKey {
                set_id: set.id,
                server,
                arming: s.arming,
            };
            self.queue.push_back((key, due));
        }
    }

    fn start(&mut self, set: &mut SetRuntime, server: usize, due: Instant, out: &mut Vec<Effect>) {
        let target: PollTarget = set.target(server);
        let s = &mut set.servers[server];
        s.phase = Phase::Running(due);
        self.in_flight += 1;
        out.push(Effect::StartPoll(PollStart {
            id: PollId {
                set_id: set.id,
                server,
                public_ip: s.public_ip,
            },
            target,
            due,
        }));
    }

    /// A poll finished: one more place under the limit.
    pub fn finished(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The next queued poll that is still current, if there is room for it. The caller
    /// finds its set and calls [`Polling::start_queued`] (or drops it if polling stopped).
    pub fn next_queued(&mut self) -> Option<(TimerKey, Instant)> {
        if self.in_flight >= self.limit {
            return None;
        }
        self.queue.pop_front()
    }

    /// Starts a queued poll if `key` is still the server's current one.
    pub fn start_queued(
        &mut self,
        set: &mut SetRuntime,
        key: TimerKey,
        due: Instant,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let Some(s) = set.servers.get(key.server) else {
            return false;
        };
        if s.arming != key.arming || s.phase != Phase::Queued(due) {
            return false;
        }
        self.start(set, key.server, due, effects);
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
        self.queue.len()
    }

    /// Polls waiting for room (stale entries included: an upper bound, for the lateness
    /// problem's text and for telling when nothing waits).
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }
}

/// The set's normal interval.
pub fn interval_of(set: &SetRuntime) -> Duration {
    set.config
        .frequency
        .interval
        .max(crate::engine::server_state::MIN_DELAY)
}

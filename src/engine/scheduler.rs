//! Timers of the polls: a heap of due times with lazy cancellation, and the spreading of
//! first polls so that they never all start at one instant.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use tokio::time::Instant;

/// Which server a timer is for, and which arming of it (older armings are stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimerKey {
    pub set_id: u64,
    pub server: usize,
    pub arming: u64,
}

/// Due times of all armed polls.
#[derive(Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, TimerKey)>>,
}

impl Timers {
    pub fn arm(&mut self, due: Instant, key: TimerKey) {
        self.heap.push(Reverse((due, key)));
    }

    /// The earliest due time (possibly of a stale arming).
    pub fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((due, _))| *due)
    }

    /// Takes the next timer that is due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, TimerKey)> {
        match self.heap.peek() {
            Some(Reverse((due, _))) if *due <= now => self.heap.pop().map(|Reverse(t)| t),
            _ => None,
        }
    }

    pub fn clear(&mut self) {
        self.heap.clear();
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

/// How far after `start` the `index`-th of `count` first polls goes: spread evenly over at
/// most one interval, and at no more than 100 first polls a second, so that a handful of
/// servers is polled at once while thousands are spread out.
pub fn spread_offset(index: usize, count: usize, interval: Duration) -> Duration {
    if count <= 1 {
        return Duration::ZERO;
    }
    let window = interval.min(Duration::from_millis(10) * count as u32);
    window.mul_f64(index as f64 / count as f64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_order() {
        let now = Instant::now();
        let mut t = Timers::default();
        let key = |server| TimerKey {
            set_id: 1,
            server,
            arming: 1,
        };
        t.arm(now + Duration::from_secs(2), key(2));
        t.arm(now, key(0));
        t.arm(now + Duration::from_secs(1), key(1));
        assert_eq!(t.pop_due(now).unwrap().1.server, 0);
        assert!(t.pop_due(now).is_none());
        assert_eq!(t.pop_due(now + Duration::from_secs(5)).unwrap().1.server, 1);
        assert_eq!(t.next_due(), Some(now + Duration::from_secs(2)));
    }

    #[test]
    fn spreading() {
        let interval = Duration::from_secs(10);
        assert_eq!(spread_offset(0, 1, interval), Duration::ZERO);
        // Two servers: 20 ms apart, not half an interval.
        assert_eq!(spread_offset(1, 2, interval), Duration::from_millis(10));
        // Ten thousand: spread over the whole interval.
        assert_eq!(
            spread_offset(5_000, 10_000, interval),
            Duration::from_secs(5)
        );
        assert!(spread_offset(9_999, 10_000, interval) < interval);
    }
}

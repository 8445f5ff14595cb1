//! The state machine of one server (SPEC §2). Pure: it takes the state, a poll outcome and
//! the time, and returns the new state and what changed. No sockets, no clock reads.

use std::time::{Duration, SystemTime};

use crate::model::PollFrequency;
use crate::probe::{Failure, PollOutcome};

/// What an operator sees of a server.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum ServerStatus {
    /// Not polled yet.
    #[default]
    NotTested,
    Ok,
    /// Failed, with retries left: still counts as functional.
    Retrying,
    Failed,
    /// Intentionally off line: treated as not in the set.
    Disabled,
    /// Not polled, because a higher-priority server works (sequential mode).
    Skipped,
}

impl ServerStatus {
    /// Counts as working for the address decision.
    pub fn is_functional(self) -> bool {
        matches!(self, ServerStatus::Ok | ServerStatus::Retrying)
    }

    pub fn label(self) -> &'static str {
        match self {
            ServerStatus::NotTested => "not tested",
            ServerStatus::Ok => "OK",
            ServerStatus::Retrying => "retrying",
            ServerStatus::Failed => "failed",
            ServerStatus::Disabled => "disabled",
            ServerStatus::Skipped => "skipped",
        }
    }
}

/// A change worth an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// Counted as failed after its retries.
    Failed,
    /// Counted as working again after `recover_after` successes.
    Recovered,
}

/// Everything kept about one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerState {
    pub status: ServerStatus,
    /// Failed polls in a row (drives the retries).
    pub failures_in_a_row: u32,
    /// Successful polls in a row while failed (drives the recovery).
    pub successes_while_failed: u32,
    pub successes: u64,
    pub failures: u64,
    pub last_success: Option<SystemTime>,
    pub last_failure: Option<SystemTime>,
    pub last_response: String,
    pub last_response_time: Option<Duration>,
    /// The failure of the last poll, if it failed.
    pub last_failure_kind: Option<Failure>,
    /// Response times of the successful polls since the start (`/metrics`).
    pub response_times: ResponseHistogram,
    /// HTTPS: notAfter of the certificate last seen (Unix seconds).
    pub certificate_not_after: Option<i64>,
}

/// Upper bounds of the response-time buckets, in seconds (Prometheus `le`), from 1 ms to 10 s.
pub const RESPONSE_BUCKETS_SECS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// A response-time histogram: how many polls fell into each bucket (not cumulative; the
/// last count is above the largest bound), their sum and count. Integers only, so that a
/// state stays `Eq` and sums never drift. The buckets count in u32 (a poll a second fills
/// one in 136 years; they saturate): every server has two of these, its state's and its
/// view's, and 52 bytes each is a megabyte at 10,000 servers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ResponseHistogram {
    pub buckets: [u32; RESPONSE_BUCKETS_SECS.len() + 1],
    pub sum_micros: u64,
    pub count: u64,
}

impl ResponseHistogram {
    pub fn observe(&mut self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let i = RESPONSE_BUCKETS_SECS
            .iter()
            .position(|&bound| secs <= bound)
            .unwrap_or(RESPONSE_BUCKETS_SECS.len());
        self.buckets[i] = self.buckets[i].saturating_add(1);
        self.sum_micros = self
            .sum_micros
            .saturating_add(u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX));
        self.count += 1;
    }

    /// `(le, cumulative count)` for each bound, then `+Inf` (= `count`).
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut total = 0;
        RESPONSE_BUCKETS_SECS
            .iter()
            .zip(self.buckets)
            .map(|(&bound, n)| {
                total += u64::from(n);
                (bound, total)
            })
            .chain(std::iter::once((f64::INFINITY, self.count)))
            .collect()
    }
}

impl ServerState {
    /// A server that is disabled in the settings.
    pub fn disabled() -> Self {
        ServerState {
            status: ServerStatus::Disabled,
            ..ServerState::default()
        }
    }
}

/// Applies one poll outcome. A poll that failed for the monitor's own shortage (out of
/// file descriptors, memory...) is no observation of the server: nothing moves.
pub fn observe(
    state: &ServerState,
    outcome: &PollOutcome,
    frequency: &PollFrequency,
    now: SystemTime,
) -> (ServerState, Option<Transition>) {
    if outcome.is_local_fault() {
        return (state.clone(), None);
    }
    let mut next = state.clone();
    next.last_response = outcome.response.clone();
    next.last_response_time = Some(outcome.elapsed);
    next.last_failure_kind = outcome.failure;
    if outcome.certificate_not_after.is_some() {
        next.certificate_not_after = outcome.certificate_not_after;
    }
    let mut transition = None;
    if outcome.is_success() {
        next.successes += 1;
        next.response_times.observe(outcome.elapsed);
        next.last_success = Some(now);
        next.failures_in_a_row = 0;
        if state.status == ServerStatus::Failed {
            next.successes_while_failed += 1;
            if next.successes_while_failed >= frequency.recover_after.max(1) {
                next.status = ServerStatus::Ok;
                next.successes_while_failed = 0;
                transition = Some(Transition::Recovered);
            }
        } else {
            next.status = ServerStatus::Ok;
        }
    } else {
        next.failures += 1;
        next.last_failure = Some(now);
        next.successes_while_failed = 0;
        next.failures_in_a_row = state.failures_in_a_row.saturating_add(1);
        if state.status != ServerStatus::Failed {
            if next.failures_in_a_row > frequency.retries {
                next.status = ServerStatus::Failed;
                transition = Some(Transition::Failed);
            } else {
                next.status = ServerStatus::Retrying;
            }
        }
    }
    (next, transition)
}

/// The shortest delay between polls of a server (validation refuses less).
pub const MIN_DELAY: Duration = Duration::from_millis(10);

/// How long until the next poll of this server.
pub fn next_poll_delay(state: &ServerState, set_has_failure: bool, f: &PollFrequency) -> Duration {
    let delay = if state.status == ServerStatus::Retrying {
        f.retry_interval
    } else if set_has_failure {
        f.failed_interval
    } else {
        f.interval
    };
    // Never a busy loop, whatever a hand-made (unvalidated) setting says.
    delay.max(MIN_DELAY)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_response_histogram_is_cumulative_and_ends_with_the_count() {
        let mut h = ResponseHistogram::default();
        for ms in [0, 1, 3, 40, 40, 20_000] {
            h.observe(Duration::from_millis(ms));
        }
        let c = h.cumulative();
        assert_eq!(c[0], (0.001, 2)); // 0 ms and exactly 1 ms: `le` is inclusive
        assert_eq!(c[2], (0.005, 3));
        assert_eq!(c[5], (0.05, 5));
        assert_eq!(c[11], (10.0, 5));
        assert_eq!(c[12], (f64::INFINITY, 6));
        assert_eq!(h.sum_micros, 20_084_000);
    }
    use crate::probe::{FailureKind, PollStage};

    fn ok() -> PollOutcome {
        PollOutcome::success("200 OK", Duration::from_millis(5))
    }

    fn fail() -> PollOutcome {
        PollOutcome::failure(
            Failure::new(FailureKind::Network, PollStage::Connecting),
            "connection refused",
            Duration::from_millis(1),
        )
    }

    /// The monitor itself is out of file descriptors: says nothing about the server.
    fn local() -> PollOutcome {
        PollOutcome::failure(
            Failure::new(FailureKind::Local, PollStage::Connecting),
            "this monitor is out of file descriptors (Too many open files (os error 24))",
            Duration::from_millis(0),
        )
    }

    fn freq(retries: u32, recover_after: u32) -> PollFrequency {
        PollFrequency {
            retries,
            recover_after,
            ..PollFrequency::default()
        }
    }

    /// Runs a scenario: a string of polls ('+' success, '-' failure, 'L' the monitor's own
    /// shortage) and, after each, the expected status letter (n ot tested, O k, R etrying,
    /// F ailed) and transition.
    fn run(f: &PollFrequency, polls: &str, expected: &str, transitions: &[(usize, Transition)]) {
        let mut state = ServerState::default();
        let mut seen = Vec::new();
        let mut statuses = String::new();
        for (i, p) in polls.chars().enumerate() {
            let outcome = match p {
                '+' => ok(),
                'L' => local(),
                _ => fail(),
            };
            let (next, t) = observe(&state, &outcome, f, SystemTime::UNIX_EPOCH);
            if let Some(t) = t {
                seen.push((i, t));
            }
            statuses.push(match next.status {
                ServerStatus::Ok => 'O',
                ServerStatus::Retrying => 'R',
                ServerStatus::Failed => 'F',
                ServerStatus::NotTested => 'n',
                _ => '?',
            });
            state = next;
        }
        assert_eq!(statuses, expected, "polls {polls}");
        assert_eq!(seen, transitions, "polls {polls}");
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn scenarios() {
        use Transition::*;
        // (retries, recover_after, polls, statuses, transitions)
        let table: &[(u32, u32, &str, &str, &[(usize, Transition)])] = &[
            (2, 1, "+++", "OOO", &[]),
            (2, 1, "+-+", "ORO", &[]),
            (2, 1, "+---", "ORRF", &[(3, Failed)]),
            (2, 1, "+---+", "ORRFO", &[(3, Failed), (4, Recovered)]),
            (0, 1, "+-", "OF", &[(1, Failed)]),
            (0, 1, "-", "F", &[(0, Failed)]),
            (1, 1, "--", "RF", &[(1, Failed)]),
            (1, 1, "-+-+", "RORO", &[]),
            // A flapping server with recovery count 3 only recovers after 3 in a row.
            (
                0,
                3,
                "-++-++-+++",
                "FFFFFFFFFO",
                &[(0, Failed), (9, Recovered)],
            ),
            (
                0,
                3,
                "-+++-",
                "FFFOF",
                &[(0, Failed), (3, Recovered), (4, Failed)],
            ),
            // The monitor's own shortage is no observation: a working server never
            // fails over it, a failed one never recovers by it, retries are not used up.
            (0, 1, "+LLLLL", "OOOOOO", &[]),
            (0, 1, "LLL", "nnn", &[]),
            (1, 1, "-LLLL-", "RRRRRF", &[(5, Failed)]),
            (1, 1, "-L+", "RRO", &[]),
            (0, 1, "-LLL+", "FFFFO", &[(0, Failed), (4, Recovered)]),
            (0, 2, "-+L+", "FFFO", &[(0, Failed), (3, Recovered)]),
        ];
        for (retries, recover, polls, expected, transitions) in table {
            run(&freq(*retries, *recover), polls, expected, transitions);
        }
    }

    #[test]
    fn counts_and_times() {
        let f = freq(0, 1);
        let t1 = SystemTime::UNIX_EPOCH + Duration::from_secs(10);
        let t2 = SystemTime::UNIX_EPOCH + Duration::from_secs(20);
        let (s, _) = observe(&ServerState::default(), &ok(), &f, t1);
        let (s, _) = observe(&s, &fail(), &f, t2);
        assert_eq!((s.successes, s.failures), (1, 1));
        assert_eq!(s.last_success, Some(t1));
        assert_eq!(s.last_failure, Some(t2));
        assert_eq!(s.last_response, "connection refused");
        assert_eq!(s.last_failure_kind.unwrap().code(), 111);
    }

    #[test]
    fn a_local_fault_keeps_the_servers_counts_and_last_response() {
        let f = freq(0, 1);
        let (s, _) = observe(&ServerState::default(), &ok(), &f, SystemTime::UNIX_EPOCH);
        let (after, t) = observe(&s, &local(), &f, SystemTime::UNIX_EPOCH);
        assert_eq!((after, t), (s, None));
    }

    #[test]
    fn delays() {
        let f = PollFrequency::default();
        let mut s = ServerState::default();
        assert_eq!(next_poll_delay(&s, false, &f), Duration::from_secs(60));
        assert_eq!(next_poll_delay(&s, true, &f), Duration::from_secs(30));
        s.status = ServerStatus::Retrying;
        assert_eq!(next_poll_delay(&s, true, &f), Duration::from_secs(10));
    }
}

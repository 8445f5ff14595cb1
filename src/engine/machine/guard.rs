//! The connectivity guard in the core: the references' states (polled as the set
//! [`GUARD_SET`]) decide whether this monitor is cut off from the network. While it is,
//! a server's failed poll is no observation of the server (like the monitor's own
//! shortage): no state moves, so no DNS changes and no server-failed notification; one
//! high-severity problem says so. When most references answer again, judgement is normal.
//!
//! **Invariant:** the verdict is a pure function of the references' statuses and the
//! verdict before (table-tested); it changes only when a majority says otherwise.
//!
//! **Invariant (the race):** a server's failure is confirmed only once the guard's verdict
//! rests on polls that started after the failure began (more than half of the references
//! have such a result), or once [`wait_bound`] has passed since: until then its last
//! failed poll is not counted and it is polled again at its retry interval
//! ([`must_wait`], table-tested). *Why:* without it a server whose retries end before
//! the references' next polls is failed over for the monitor's own outage; with the
//! bound, a guard that gives no results never holds a failover back for long.

use std::time::Duration;

use tokio::time::Instant;

use super::{Core, Effect, Now, PollId, log};
use crate::engine::events::Level;
use crate::engine::problems::{NETWORK_DOWN, ProblemSubject};
use crate::engine::server_state::{MIN_DELAY, ServerStatus};
use crate::model::guard::GUARD_SET;
use crate::probe::PollOutcome;
use crate::store::history::HistoryRow;

/// Whether the monitor is cut off, from the references' statuses (each one's last poll,
/// as the guard set fails and recovers at once), the threshold (`failed_at_least`; 0 =
/// more than half) and the verdict before: cut off when at least the threshold failed;
/// back when more answer than could leave the threshold failing; else as before (while
/// too few were polled to tell).
pub fn cut_off(before: bool, references: &[ServerStatus], failed_at_least: u32) -> bool {
    let n = references.len();
    let failed = references
        .iter()
        .filter(|s| **s == ServerStatus::Failed)
        .count();
    let ok = references
        .iter()
        .filter(|s| **s == ServerStatus::Ok)
        .count();
    let threshold = match usize::try_from(failed_at_least).unwrap_or(usize::MAX) {
        0 => n / 2 + 1,
        t => t.min(n),
    };
    if n == 0 {
        false
    } else if failed >= threshold {
        true
    } else if ok > n - threshold {
        false
    } else {
        before
    }
}

/// Whether a server's failure (begun at `since`) must wait for the guard: there are
/// references, no more than half of them have a result from a poll started at or after
/// `since` (`references`: when each one's last judged poll started), and `bound` has not
/// passed since `since`.
pub fn must_wait(
    since: Instant,
    references: &[Option<Instant>],
    now: Instant,
    bound: Duration,
) -> bool {
    if references.is_empty() {
        return false;
    }
    let fresh = references
        .iter()
        .filter(|started| started.is_some_and(|t| t >= since))
        .count();
    fresh * 2 <= references.len() && now < since + bound
}

/// How long a failure waits for the guard at most: two of the references' rounds (an
/// interval and a time-out each), by then a working guard has answered.
pub fn wait_bound(guard: &crate::model::guard::ConnectivityGuard) -> Duration {
    (guard.interval + guard.timeout) * 2
}

impl Core {
    /// A failure begun at `since` must wait for the guard ([`must_wait`]).
    pub(super) fn guard_not_heard_since(&self, since: Instant, now: Now) -> bool {
        let Some(set) = self.sets.iter().find(|s| s.config.name == GUARD_SET) else {
            return false;
        };
        let started: Vec<Option<Instant>> = set.servers.iter().map(|s| s.last_started).collect();
        let bound = wait_bound(&self.settings.options.connectivity_guard);
        must_wait(since, &started, now.at, bound)
    }

    /// The failed poll that would confirm a failure before the guard could tell: recorded
    /// in the history, not counted; the server is polled again at its retry interval.
    pub(super) fn hold_failure(
        &mut self,
        i: usize,
        id: PollId,
        outcome: &PollOutcome,
        due: Instant,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let set = &self.sets[i];
        out.push(Effect::History(HistoryRow {
            time: now.wall,
            set: set.config.name.clone(),
            server: id.public_ip.to_string(),
            status: set.servers[id.server].state.status.label().to_string(),
            success: false,
            response: format!(
                "{} (not counted yet: waiting for the connectivity guard's references)",
                outcome.response
            ),
            response_ms: Some(outcome.elapsed.as_secs_f64() * 1000.0),
            code: outcome.failure.map(|f| f.code()),
            changed: false,
        }));
        let retry = set.config.frequency.retry_interval.max(MIN_DELAY);
        if self.polling_allowed(i) && self.sets[i].is_needed(id.server) {
            self.arm(i, id.server, (due + retry).max(now.at));
        }
    }

    /// Whether the set at `i` is the guard's.
    pub(super) fn is_guard(&self, i: usize) -> bool {
        self.sets[i].config.name == GUARD_SET
    }

    /// After a reference's state changed (or the settings): brings the verdict, its
    /// problem and its log line up to date.
    pub(super) fn update_guard(&mut self, now: Now, out: &mut Vec<Effect>) {
        let statuses: Option<Vec<ServerStatus>> = self
            .sets
            .iter()
            .find(|s| s.config.name == GUARD_SET)
            .map(|s| s.servers.iter().map(|v| v.state.status).collect());
        let before = self.cut_off;
        let threshold = self.settings.options.connectivity_guard.failed_at_least;
        self.cut_off = statuses
            .as_deref()
            .is_some_and(|s| cut_off(before, s, threshold));
        let subject = ProblemSubject::Network;
        if self.cut_off {
            let statuses = statuses.unwrap_or_default();
            let failed = statuses
                .iter()
                .filter(|s| **s == ServerStatus::Failed)
                .count();
            let text = format!(
                "this monitor's network is down: {failed} of {} reference targets fail too \
                 (no DNS change and no server-failed notification until they answer)",
                statuses.len()
            );
            if self
                .problems
                .raise_fixed("", subject, NETWORK_DOWN, &text, now.wall)
                && !before
            {
                log(out, Level::Error, text);
            }
        } else if self.problems.clear("", &subject) {
            log(
                out,
                Level::Info,
                "this monitor's network works again (the reference targets answer): servers are judged again"
                    .into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServerStatus::{Failed as F, NotTested as N, Ok as O, Retrying as R};

    /// case, failure began (ms), references' last poll starts, now (ms), waits.
    type WaitRow = (&'static str, u64, Vec<Option<Instant>>, u64, bool);

    #[test]
    fn a_failure_waits_for_a_reference_result_from_after_it_began_but_not_forever() {
        let base = Instant::now();
        let ms = Duration::from_millis;
        let at = |m: u64| Some(base + ms(m));
        let bound = ms(4000);
        #[rustfmt::skip]
        let table: Vec<WaitRow> = vec![
            ("no guard",                 1000, vec![],                        1100, false),
            ("none polled since",        1000, vec![at(900), at(900), at(950)], 1100, true),
            ("never polled",             1000, vec![None, None],              1100, true),
            ("one of three since",       1000, vec![at(1000), at(900), None],  1100, true),
            ("two of three since",       1000, vec![at(1000), at(1200), None], 1300, false),
            ("half of two: not most",    1000, vec![at(1200), at(900)],        1300, true),
            ("both since",               1000, vec![at(1200), at(1300)],       1400, false),
            ("a dead guard: bound ends", 1000, vec![at(900), at(900)],         5000, false),
            ("just within the bound",    1000, vec![at(900), at(900)],         4999, true),
        ];
        for (case, since, references, now, waits) in table {
            assert_eq!(
                must_wait(base + ms(since), &references, base + ms(now), bound),
                waits,
                "{case}"
            );
        }
    }

    #[test]
    fn most_references_decide_and_a_tie_keeps_the_verdict() {
        #[rustfmt::skip]
        let table: &[(bool, &[ServerStatus], bool)] = &[
            // before, references, after
            (false, &[], false),
            (true, &[], false),          // no references: no guard
            (false, &[N, N, N], false),  // nothing polled yet
            (true, &[N, N, N], true),
            (false, &[F, N, N], false),  // one of three: a reference's own fault
            (false, &[F, F, N], true),   // most fail
            (false, &[F, F, O], true),
            (true, &[F, O, N], true),    // one answers, one fails: not enough to tell
            (true, &[O, O, F], false),   // most answer
            (true, &[F, O], false),      // half answer
            (false, &[F, O], false),     // half fail: not most
            (false, &[F, F], true),
            (false, &[F], true),
            (true, &[R, R, R], true),    // retrying: no verdict yet (the guard retries none)
            (false, &[O, O, O], false),
        ];
        for (before, references, after) in table {
            assert_eq!(
                cut_off(*before, references, 0),
                *after,
                "before {before}, references {references:?}"
            );
        }
        // A threshold of its own: `failed_at_least` of them.
        #[rustfmt::skip]
        let table: &[(bool, &[ServerStatus], u32, bool)] = &[
            // before, references, threshold, after
            (false, &[F, O, O], 1, true),   // any one failing
            (true, &[O, O, N], 1, true),    // back only when all answer
            (true, &[O, O, O], 1, false),
            (false, &[F, F, O], 3, false),  // all three must fail
            (false, &[F, F, F], 3, true),
            (true, &[F, F, O], 3, false),   // one answers: they cannot all be failing
            (true, &[F, F, N], 3, true),
            (false, &[F, F], 5, true),      // above the count: all of them
            (false, &[F, O], 5, false),
        ];
        for (before, references, threshold, after) in table {
            assert_eq!(
                cut_off(*before, references, *threshold),
                *after,
                "before {before}, references {references:?}, threshold {threshold}"
            );
        }
    }
}

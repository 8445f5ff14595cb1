//! The connectivity guard in the core: the references' states (polled as the set
//! [`GUARD_SET`]) decide whether this monitor is cut off from the network. While it is,
//! a server's failed poll is no observation of the server (like the monitor's own
//! shortage): no state moves, so no DNS changes and no server-failed notification; one
//! high-severity problem says so. When most references answer again, judgement is normal.
//!
//! **Invariant:** the verdict is a pure function of the references' statuses and the
//! verdict before (table-tested); it changes only when a majority says otherwise.

use super::{Core, Effect, Now, log};
use crate::engine::events::Level;
use crate::engine::problems::{NETWORK_DOWN, ProblemSubject};
use crate::engine::server_state::ServerStatus;
use crate::model::guard::GUARD_SET;

/// Whether the monitor is cut off, from the references' statuses (each one's last poll,
/// as the guard set fails and recovers at once) and the verdict before: cut off when more
/// than half of all references failed; back when at least half answer; else as before
/// (while too few were polled to tell).
pub fn cut_off(before: bool, references: &[ServerStatus]) -> bool {
    let n = references.len();
    let failed = references
        .iter()
        .filter(|s| **s == ServerStatus::Failed)
        .count();
    let ok = references
        .iter()
        .filter(|s| **s == ServerStatus::Ok)
        .count();
    if n == 0 {
        false
    } else if failed * 2 > n {
        true
    } else if ok * 2 >= n {
        false
    } else {
        before
    }
}

impl Core {
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
        self.cut_off = statuses.as_deref().is_some_and(|s| cut_off(before, s));
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
                cut_off(*before, references),
                *after,
                "before {before}, references {references:?}"
            );
        }
    }
}

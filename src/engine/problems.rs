//! Current problems (SPEC §6): one per set and subject, with a three-digit code; gone when
//! resolved.

use std::collections::BTreeMap;
use std::time::SystemTime;

use crate::model::failure::{Area, FailureKind, ProblemCode};

/// A server's HTTPS certificate expires soon (or has expired while the set does not verify
/// it): 1 polling, 4 wrong answer, 9 — past the last stage (7), so it names no stage and
/// cannot be mistaken for a failed poll. It is a warning: the server stays OK, nothing
/// fails over, and the set's health does not turn to "problem". Its subject is the
/// server's subject followed by [`CERTIFICATE_SUFFIX`].
pub const CERTIFICATE_WARNING: u16 =
    ProblemCode::new(Area::Polling, FailureKind::WrongAnswer, 9).get();

/// Appended to a server's subject for its certificate warning: `web1 (192.0.2.1) certificate`.
pub const CERTIFICATE_SUFFIX: &str = " certificate";

/// The monitor's own shortage (out of file descriptors, memory, socket buffers): 1
/// polling, 5 the monitor's own resources, 0 no stage. A problem of the monitor, not of
/// a set (its set is `""`, its subject [`MONITOR_SUBJECT`]): no server counts it as a
/// failure, so it moves no server's state and no DNS record.
pub const MONITOR_SHORTAGE: u16 = ProblemCode::new(Area::Polling, FailureKind::Local, 0).get();

/// The subject of the monitor's own problems.
pub const MONITOR_SUBJECT: &str = "this monitor";

/// What a poll result changes about the monitor's own problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalChange {
    /// Raise (or update) [`MONITOR_SHORTAGE`] with this text.
    Raise(String),
    /// Polls work again: clear it.
    Clear,
    /// Nothing to do.
    Keep,
}

/// Follows the monitor's own shortage through poll results (pure: the caller passes the
/// times). A poll that failed locally raises the problem; it clears only with a poll that
/// *started after* the last local failure and did not fail locally, so that polls that
/// were in flight across the shortage do not make it flap.
#[derive(Clone, Debug)]
pub struct LocalFaults<T> {
    /// When the last local failure was reported, while the problem stands.
    last: Option<T>,
}

impl<T> Default for LocalFaults<T> {
    fn default() -> Self {
        Self { last: None }
    }
}

impl<T: Copy + Ord> LocalFaults<T> {
    /// `local`: the poll's text if it failed for the monitor's shortage, else `None`.
    pub fn note(&mut self, local: Option<&str>, started: T, finished: T) -> LocalChange {
        match (local, self.last) {
            (Some(text), last) => {
                self.last = Some(last.map_or(finished, |l| l.max(finished)));
                LocalChange::Raise(format!(
                    "{text}: polls cannot run, and no server is counted as failed for it \
                     (raise the open-file limit, e.g. LimitNOFILE= in the systemd unit)"
                ))
            }
            (None, Some(last)) if started > last => {
                self.last = None;
                LocalChange::Clear
            }
            _ => LocalChange::Keep,
        }
    }

    /// True while the problem stands.
    pub fn active(&self) -> bool {
        self.last.is_some()
    }
}

/// A notification's problem (`notification: …`, `notification outbox`): its message stays
/// queued through any settings change (even of its set), so only its delivery clears it.
pub fn is_notification(subject: &str) -> bool {
    subject.starts_with("notification")
}

/// Problems no settings change may clear: a notification's (see [`is_notification`]) and
/// the monitor's own (set `""`: [`MONITOR_SUBJECT`], [`HISTORY_SUBJECT`]): only what
/// resolves them does.
fn outlives_settings(set: &str, subject: &str) -> bool {
    is_notification(subject) || set.is_empty()
}

/// The subject of the monitor's problem of history rows dropped (code [`MONITOR_SHORTAGE`]):
/// the database did not keep up (a stalled or full disk).
pub const HISTORY_SUBJECT: &str = "polling history";

/// Low-severity codes: shown in the list, but the set is not in trouble.
pub fn is_warning(code: u16) -> bool {
    code == CERTIFICATE_WARNING
}

/// A current fault.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// When this problem was first seen (kept while it lasts, even if its text changes).
    pub first_seen: SystemTime,
    pub set: String,
    /// A server, or a DNS server + host name, or the set itself.
    pub subject: String,
    /// 1xx polling, 2xx DNS check/update, 3xx notification; see `probe::Failure::code`.
    pub code: u16,
    pub text: String,
}

/// The book of current problems, keyed by set and subject.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    current: BTreeMap<(String, String), Problem>,
    changed: bool,
}

impl Problems {
    /// Raises or updates a problem. Returns true when it is new.
    pub fn raise(
        &mut self,
        set: &str,
        subject: &str,
        code: u16,
        text: &str,
        now: SystemTime,
    ) -> bool {
        let key = (set.to_string(), subject.to_string());
        match self.current.get_mut(&key) {
            Some(p) => {
                if p.code != code || p.text != text {
                    p.code = code;
                    p.text = text.to_string();
                    self.changed = true;
                }
                false
            }
            None => {
                self.current.insert(
                    key,
                    Problem {
                        first_seen: now,
                        set: set.to_string(),
                        subject: subject.to_string(),
                        code,
                        text: text.to_string(),
                    },
                );
                self.changed = true;
                true
            }
        }
    }

    /// Clears a problem. Returns true when there was one.
    pub fn clear(&mut self, set: &str, subject: &str) -> bool {
        let gone = self
            .current
            .remove(&(set.to_string(), subject.to_string()))
            .is_some();
        self.changed |= gone;
        gone
    }

    /// Clears every problem of a set except those whose subject `keep` accepts (and
    /// those of notifications, see [`is_notification`]).
    pub fn retain_set(&mut self, set: &str, keep: impl Fn(&str) -> bool) {
        let before = self.current.len();
        self.current
            .retain(|(s, subject), _| s != set || keep(subject) || outlives_settings(s, subject));
        self.changed |= before != self.current.len();
    }

    /// Clears every problem of the sets `keep` rejects (but those of notifications, see
    /// [`is_notification`]).
    pub fn retain_sets(&mut self, keep: impl Fn(&str) -> bool) {
        let before = self.current.len();
        self.current
            .retain(|(s, subject), _| keep(s) || outlives_settings(s, subject));
        self.changed |= before != self.current.len();
    }

    /// True when the set has a problem that is more than a warning ([`is_warning`]).
    pub fn has_any(&self, set: &str) -> bool {
        self.current
            .iter()
            .any(|((s, _), p)| s == set && !is_warning(p.code))
    }

    /// The current problem of a set and subject, if any.
    pub fn get(&self, set: &str, subject: &str) -> Option<&Problem> {
        self.current.get(&(set.to_string(), subject.to_string()))
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// Every current problem, in key order (cheaper than [`Problems::list`]).
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.current.values()
    }

    /// True once after any change (for publishing).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Oldest first.
    pub fn list(&self) -> Vec<Problem> {
        let mut list: Vec<Problem> = self.current.values().cloned().collect();
        list.sort_by(|a, b| a.first_seen.cmp(&b.first_seen).then(a.set.cmp(&b.set)));
        list
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_monitors_shortage_is_raised_and_cleared_by_polls_that_work_again() {
        const L: Option<&str> = Some("this monitor is out of file descriptors");
        // (local?, started, finished, expected change, problem standing after it), in the
        // order results arrive.
        let table: &[(Option<&str>, u32, u32, &str, bool)] = &[
            (None, 0, 1, "keep", false),  // all well
            (L, 2, 2, "raise", true),     // out of descriptors
            (None, 1, 3, "keep", true),   // started before the shortage was seen: says nothing
            (L, 4, 4, "raise", true),     // still short
            (None, 3, 5, "keep", true),   // in flight across it
            (None, 5, 6, "clear", false), // started after the last local failure: works again
            (None, 7, 8, "keep", false),  // nothing to clear
            (L, 9, 9, "raise", true),     // short again
        ];
        let mut faults = LocalFaults::default();
        for (i, (local, started, finished, expected, standing)) in table.iter().enumerate() {
            let change = match faults.note(*local, *started, *finished) {
                LocalChange::Raise(text) => {
                    assert!(text.starts_with("this monitor is out of file descriptors"));
                    assert!(text.contains("no server is counted as failed"), "{text}");
                    "raise"
                }
                LocalChange::Clear => "clear",
                LocalChange::Keep => "keep",
            };
            assert_eq!((change, faults.active()), (*expected, *standing), "row {i}");
        }
    }

    #[test]
    fn first_seen_is_kept_and_clear_removes() {
        let t0 = SystemTime::UNIX_EPOCH;
        let t1 = t0 + Duration::from_secs(5);
        let mut p = Problems::default();
        assert!(p.raise("web", "192.0.2.1", 111, "refused", t0));
        assert!(!p.raise("web", "192.0.2.1", 124, "timeout", t1));
        let list = p.list();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].first_seen, list[0].code, list[0].text.as_str()),
            (t0, 124, "timeout")
        );
        assert!(p.take_changed());
        assert!(!p.take_changed());
        assert!(p.clear("web", "192.0.2.1"));
        assert!(!p.clear("web", "192.0.2.1"));
        assert!(p.list().is_empty());
    }

    #[test]
    fn a_certificate_warning_is_listed_but_is_no_fault() {
        let mut p = Problems::default();
        let subject = format!("192.0.2.1{CERTIFICATE_SUFFIX}");
        p.raise(
            "web",
            &subject,
            CERTIFICATE_WARNING,
            "certificate expires in 5 days (2026-11-30)",
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(p.list().len(), 1);
        assert!(!p.has_any("web"));
        p.raise("web", "192.0.2.1", 111, "refused", SystemTime::UNIX_EPOCH);
        assert!(p.has_any("web"));
    }

    #[test]
    fn settings_changes_never_clear_a_notification_problem() {
        let t0 = SystemTime::UNIX_EPOCH;
        let mut p = Problems::default();
        p.raise("web", "192.0.2.1", 111, "refused", t0);
        p.raise("web", "notification: e-mail to ops", 321, "refused", t0);
        p.raise("", "notification outbox", 300, "disk full", t0);
        p.raise("", MONITOR_SUBJECT, MONITOR_SHORTAGE, "out of fds", t0);
        // The server is gone from the set, then the set itself.
        p.retain_set("web", |_| false);
        p.retain_sets(|_| false);
        let subjects: Vec<String> = p.list().into_iter().map(|x| x.subject).collect();
        assert_eq!(subjects.len(), 3, "{subjects:?}");
        assert!(
            subjects
                .iter()
                .all(|s| is_notification(s) || s == MONITOR_SUBJECT)
        );
    }
}

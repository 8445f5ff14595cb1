//! Current problems (SPEC §6): one per set and subject, with a three-digit code; gone when
//! resolved.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::SystemTime;

use crate::model::failure::{Area, FailureKind, ProblemCode};

/// A server's HTTPS certificate expires soon (or has expired while the set does not verify
/// it): 1 polling, 4 wrong answer, 9 — past the last stage (7), so it names no stage and
/// cannot be mistaken for a failed poll. It is a warning: the server stays OK, nothing
/// fails over, and the set's health does not turn to "problem". Its subject is the
/// server's subject followed by [`CERTIFICATE_SUFFIX`].
pub const CERTIFICATE_WARNING: ProblemCode =
    ProblemCode::new(Area::Polling, FailureKind::WrongAnswer, 9);

/// Appended to a server's subject for its certificate warning: `web1 (192.0.2.1) certificate`.
pub const CERTIFICATE_SUFFIX: &str = " certificate";

/// The monitor's own shortage (out of file descriptors, memory, socket buffers): 1
/// polling, 5 the monitor's own resources, 0 no stage. A problem of the monitor, not of
/// a set (its set is `""`, its subject [`MONITOR_SUBJECT`]): no server counts it as a
/// failure, so it moves no server's state and no DNS record.
pub const MONITOR_SHORTAGE: ProblemCode = ProblemCode::new(Area::Polling, FailureKind::Local, 0);

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

/// What a problem is about, as the core keys its book: a type, not a text, so that
/// looking a problem up (on every poll result) formats and allocates nothing. The text
/// shown (`web1 (192.0.2.1)`) is made only when a problem is raised ([`Problems::raise`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemSubject {
    /// The set as a whole: its polling method cannot run ([`SET_SUBJECT`]).
    PollingMethod,
    /// A server of the set, by its public address (unique in a set).
    Server(IpAddr),
    /// A server's certificate warning ([`CERTIFICATE_WARNING`]), by its public address.
    Certificate(IpAddr),
    /// A DNS server × host name pair, by its subject text (`ns1:5353 www.example.test`):
    /// DNS results are few (one per pair and run), so the text may be the key.
    Dns(String),
    /// A notification method or the outbox (`notification: e-mail to ops`,
    /// `notification outbox`), as the dispatcher names it: only its delivery clears it.
    Notification(String),
    /// The monitor's own shortage ([`MONITOR_SUBJECT`]; set `""`).
    Monitor,
    /// History rows dropped ([`HISTORY_SUBJECT`]; set `""`).
    History,
    /// Polling runs late (see `machine/polling.rs`; [`LATE_SUBJECT`], set `""`).
    Lateness,
    /// This monitor's network is down: most reference targets of the connectivity guard
    /// fail ([`NETWORK_SUBJECT`], set `""`).
    Network,
    /// Cluster mode: etcd cannot be reached or has lost its majority
    /// ([`CLUSTER_SUBJECT`], set `""`).
    Cluster,
}

impl ProblemSubject {
    /// A notification's subject as the dispatcher reports it.
    pub fn notification(text: &str) -> ProblemSubject {
        ProblemSubject::Notification(text.to_string())
    }

    /// The subject's text where it needs no server name (every variant but the server's).
    pub fn fixed_text(&self) -> Option<String> {
        match self {
            ProblemSubject::PollingMethod => Some(SET_SUBJECT.into()),
            ProblemSubject::Dns(text) | ProblemSubject::Notification(text) => Some(text.clone()),
            ProblemSubject::Monitor => Some(MONITOR_SUBJECT.into()),
            ProblemSubject::History => Some(HISTORY_SUBJECT.into()),
            ProblemSubject::Lateness => Some(LATE_SUBJECT.into()),
            ProblemSubject::Network => Some(NETWORK_SUBJECT.into()),
            ProblemSubject::Cluster => Some(CLUSTER_SUBJECT.into()),
            ProblemSubject::Server(_) | ProblemSubject::Certificate(_) => None,
        }
    }

    /// Problems no settings change may clear: a notification's and the monitor's own
    /// (set `""`): only what resolves them does.
    fn outlives_settings(&self) -> bool {
        matches!(
            self,
            ProblemSubject::Notification(_)
                | ProblemSubject::Monitor
                | ProblemSubject::History
                | ProblemSubject::Lateness
                | ProblemSubject::Network
                | ProblemSubject::Cluster
        )
    }
}

/// The subject text of a set-level problem (its polling method cannot run).
pub const SET_SUBJECT: &str = "polling method";

/// The subject of the monitor's problem of history rows dropped (code [`MONITOR_SHORTAGE`]):
/// the database did not keep up (a stalled or full disk).
pub const HISTORY_SUBJECT: &str = "polling history";

/// The subject of the monitor's problem of polls starting late (code [`POLLING_LATE`]).
pub const LATE_SUBJECT: &str = "polling schedule";

/// Polls start later than their interval allows (the limit of polls in flight is too
/// small for the servers): 1 polling, 2 time (the schedule could not be kept), 0 no stage.
/// A problem of the monitor: no server's state moves for it.
pub const POLLING_LATE: ProblemCode = ProblemCode::new(Area::Polling, FailureKind::Timeout, 0);

/// The subject of the connectivity guard's problem (code [`NETWORK_DOWN`]).
pub const NETWORK_SUBJECT: &str = "this monitor's network";

/// Most reference targets of the connectivity guard fail: this monitor is cut off. 1
/// polling, 5 the monitor's own (not the servers'), 1 its network. High severity: while
/// it stands, no server's failure is judged.
pub const NETWORK_DOWN: ProblemCode = ProblemCode::new(Area::Polling, FailureKind::Local, 1);

/// The subject of cluster mode's etcd problem (code [`CLUSTER_ETCD`]).
pub const CLUSTER_SUBJECT: &str = "cluster: etcd";

/// Cluster mode without a working etcd (no member answers, or those that answer have lost
/// their majority): 2 DNS (no instance may write DNS meanwhile), 5 this monitor's side, 0
/// no stage. Every instance raises it for itself; it clears when etcd answers again.
pub const CLUSTER_ETCD: ProblemCode = ProblemCode::new(Area::Dns, FailureKind::Local, 0);

/// Low-severity codes: shown in the list, but the set is not in trouble.
pub fn is_warning(code: ProblemCode) -> bool {
    code == CERTIFICATE_WARNING
}

/// A current fault, as published (snapshot, API, notifications): its subject as text.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// When this problem was first seen (kept while it lasts, even if its text changes).
    pub first_seen: SystemTime,
    pub set: String,
    /// A server, or a DNS server + host name, or the set itself.
    pub subject: String,
    /// 1xx polling, 2xx DNS check/update, 3xx notification; see [`ProblemCode`].
    pub code: ProblemCode,
    pub text: String,
}

/// The book of current problems, keyed by set name and [`ProblemSubject`]. Looking up,
/// raising an unchanged problem and clearing allocate nothing.
#[derive(Clone, Debug, Default)]
pub struct Problems {
    current: BTreeMap<String, BTreeMap<ProblemSubject, Problem>>,
    changed: bool,
}

impl Problems {
    /// Raises or updates a problem; `shown` makes the subject's text, called only for a
    /// new problem. Returns true when it is new.
    pub fn raise(
        &mut self,
        set: &str,
        subject: ProblemSubject,
        shown: impl FnOnce() -> String,
        code: ProblemCode,
        text: &str,
        now: SystemTime,
    ) -> bool {
        let of_set = match self.current.get_mut(set) {
            Some(of_set) => of_set,
            None => self.current.entry(set.to_string()).or_default(),
        };
        match of_set.get_mut(&subject) {
            Some(p) => {
                if p.code != code || p.text != text {
                    p.code = code;
                    p.text = text.to_string();
                    self.changed = true;
                }
                false
            }
            None => {
                let problem = Problem {
                    first_seen: now,
                    set: set.to_string(),
                    subject: shown(),
                    code,
                    text: text.to_string(),
                };
                of_set.insert(subject, problem);
                self.changed = true;
                true
            }
        }
    }

    /// [`Problems::raise`] for a subject whose text needs no server name.
    pub fn raise_fixed(
        &mut self,
        set: &str,
        subject: ProblemSubject,
        code: ProblemCode,
        text: &str,
        now: SystemTime,
    ) -> bool {
        let shown = subject.fixed_text().unwrap_or_default();
        self.raise(set, subject, || shown, code, text, now)
    }

    /// Clears a problem. Returns true when there was one.
    pub fn clear(&mut self, set: &str, subject: &ProblemSubject) -> bool {
        let Some(of_set) = self.current.get_mut(set) else {
            return false;
        };
        let gone = of_set.remove(subject).is_some();
        if of_set.is_empty() {
            self.current.remove(set);
        }
        self.changed |= gone;
        gone
    }

    /// Keeps the problems of a set whose subject `keep` accepts (and those that outlive
    /// settings, see [`ProblemSubject::outlives_settings`]); `keep` may also change the
    /// shown text (a server renamed). The rest are cleared.
    pub fn retain_set(
        &mut self,
        set: &str,
        mut keep: impl FnMut(&ProblemSubject, &mut Problem) -> bool,
    ) {
        let Some(of_set) = self.current.get_mut(set) else {
            return;
        };
        let mut changed = false;
        of_set.retain(|subject, p| {
            let before = p.subject.len();
            let kept = subject.outlives_settings() || keep(subject, p);
            changed |= !kept || p.subject.len() != before;
            kept
        });
        if of_set.is_empty() {
            self.current.remove(set);
        }
        self.changed |= changed;
    }

    /// Clears every problem of the sets `keep` rejects (but the monitor's, set `""`, and
    /// those that outlive settings).
    pub fn retain_sets(&mut self, keep: impl Fn(&str) -> bool) {
        let mut changed = false;
        self.current.retain(|set, of_set| {
            if set.is_empty() || keep(set) {
                return true;
            }
            let before = of_set.len();
            of_set.retain(|subject, _| subject.outlives_settings());
            changed |= before != of_set.len();
            !of_set.is_empty()
        });
        self.changed |= changed;
    }

    /// True when the set has a problem that is more than a warning ([`is_warning`]).
    pub fn has_any(&self, set: &str) -> bool {
        self.current
            .get(set)
            .is_some_and(|of_set| of_set.values().any(|p| !is_warning(p.code)))
    }

    /// The current problem of a set and subject, if any.
    pub fn get(&self, set: &str, subject: &ProblemSubject) -> Option<&Problem> {
        self.current.get(set)?.get(subject)
    }

    /// Every current problem of a set, with its subject.
    pub fn of_set(&self, set: &str) -> impl Iterator<Item = (&ProblemSubject, &Problem)> {
        self.current
            .get(set)
            .into_iter()
            .flat_map(|of_set| of_set.iter())
    }

    /// How many problems there are.
    pub fn len(&self) -> usize {
        self.current.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }

    /// Every current problem, in key order (cheaper than [`Problems::list`]).
    pub fn iter(&self) -> impl Iterator<Item = &Problem> {
        self.current.values().flat_map(BTreeMap::values)
    }

    /// Every current problem with its set and subject, in key order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &ProblemSubject, &Problem)> {
        self.current
            .iter()
            .flat_map(|(set, of_set)| of_set.iter().map(move |(s, p)| (set.as_str(), s, p)))
    }

    /// True once after any change (for publishing).
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Oldest first (ties by set and subject text, so that the order is stable).
    pub fn list(&self) -> Vec<Problem> {
        let mut list: Vec<Problem> = self.iter().cloned().collect();
        list.sort_by(|a, b| {
            (a.first_seen, &a.set, &a.subject).cmp(&(b.first_seen, &b.set, &b.subject))
        });
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

    fn server(ip: &str) -> ProblemSubject {
        ProblemSubject::Server(ip.parse().unwrap())
    }

    fn code(n: u16) -> ProblemCode {
        ProblemCode::from_number(n)
    }

    #[test]
    fn first_seen_is_kept_and_clear_removes() {
        let t0 = SystemTime::UNIX_EPOCH;
        let t1 = t0 + Duration::from_secs(5);
        let mut p = Problems::default();
        let shown = || "192.0.2.1".to_string();
        assert!(p.raise("web", server("192.0.2.1"), shown, code(111), "refused", t0));
        // An update keeps the text the subject was first shown with.
        let unused = || panic!("the subject's text is made for a new problem only");
        assert!(!p.raise("web", server("192.0.2.1"), unused, code(124), "timeout", t1));
        let list = p.list();
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].first_seen, list[0].code, list[0].text.as_str()),
            (t0, code(124), "timeout")
        );
        assert_eq!(list[0].subject, "192.0.2.1");
        assert!(p.take_changed());
        assert!(!p.take_changed());
        assert!(p.clear("web", &server("192.0.2.1")));
        assert!(!p.clear("web", &server("192.0.2.1")));
        assert!(p.list().is_empty());
        assert!(p.is_empty());
    }

    #[test]
    fn a_certificate_warning_is_listed_but_is_no_fault() {
        let mut p = Problems::default();
        let ip = "192.0.2.1".parse().unwrap();
        p.raise(
            "web",
            ProblemSubject::Certificate(ip),
            || format!("192.0.2.1{CERTIFICATE_SUFFIX}"),
            CERTIFICATE_WARNING,
            "certificate expires in 5 days (2026-11-30)",
            SystemTime::UNIX_EPOCH,
        );
        assert_eq!(p.list().len(), 1);
        assert!(!p.has_any("web"));
        let t0 = SystemTime::UNIX_EPOCH;
        p.raise(
            "web",
            server("192.0.2.1"),
            String::new,
            code(111),
            "refused",
            t0,
        );
        assert!(p.has_any("web"));
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn settings_changes_never_clear_a_notification_problem() {
        let t0 = SystemTime::UNIX_EPOCH;
        let mut p = Problems::default();
        let notification = ProblemSubject::notification;
        p.raise(
            "web",
            server("192.0.2.1"),
            String::new,
            code(111),
            "refused",
            t0,
        );
        p.raise_fixed(
            "web",
            notification("notification: e-mail to ops"),
            code(321),
            "refused",
            t0,
        );
        p.raise_fixed(
            "",
            notification("notification outbox"),
            code(300),
            "disk full",
            t0,
        );
        p.raise_fixed(
            "",
            ProblemSubject::Monitor,
            MONITOR_SHORTAGE,
            "out of fds",
            t0,
        );
        p.raise_fixed("", ProblemSubject::Lateness, POLLING_LATE, "late", t0);
        // The server is gone from the set, then the set itself.
        p.retain_set("web", |_, _| false);
        p.retain_sets(|_| false);
        let subjects: Vec<String> = p.list().into_iter().map(|x| x.subject).collect();
        assert_eq!(
            subjects,
            [
                "notification outbox",
                LATE_SUBJECT,
                MONITOR_SUBJECT,
                "notification: e-mail to ops"
            ],
        );
    }
}

//! The outbox shared by a cluster's instances (issue 13 item 5): only the leader sends,
//! and each message it is about to send is first stored in the cluster's store (etcd,
//! through the engine's [`SharedOutbox`] implementation), keyed by its stable message id,
//! and deleted there once delivered. A new leader takes over what is left: the messages
//! the old leader had not confirmed. A receiver may get one of them twice (the old leader
//! sent it and died before it could delete it), always with the same id.
//!
//! What the leader announced is shared too: the open problems (the failures announced and
//! not yet resolved, as the dispatcher keeps them) are written to the store in the same
//! transaction as the messages that announce or resolve them ([`SharedOutbox::record`]).
//! A leader that dies between a quorum verdict and that write leaves the store as it was
//! before the verdict; the new leader compares each server's current verdict with the
//! problems it finds open there ([`on_verdict`]) and announces the difference, as a
//! restarted single instance does at its first checks. So no verdict goes unannounced on a
//! leader change, and a recovery names the failure it resolves and how long it lasted.
//!
//! So are the coalescing windows the leader holds open (the repeats it counts and sends
//! as one summary when the window ends): each window's record (its last notice, its count,
//! when it ends) is written in the same transactions as the messages and problems, and
//! deleted in the one that stores its summary. A new leader adopts the windows it finds
//! ([`take_windows`]) and sends each summary when the window would have ended (at once if
//! that time passed); the summary then is a shared message like any other, so a leader
//! that dies with a window open loses no summary, and none is sent twice but across one
//! change (the shared outbox's duplicate).
//!
//! The dispatcher knows nothing of etcd: it gets a [`ClusterRole`] (the store and whether
//! this instance leads) from the engine, and decides what to take over with the pure
//! [`takeover`] and [`on_verdict`].

use std::collections::HashSet;
use std::sync::Arc;

use super::BoxFuture;

/// The shared store failed (unreachable, refused).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the cluster's shared outbox: {0}")]
pub struct SharedError(pub String);

/// The cluster's store of messages not yet delivered: message id → the stored message
/// (the outbox's job text: the method, the tags, the id).
pub trait SharedOutbox: Send + Sync {
    /// Stores (or stores again, unchanged) message `id` before a delivery.
    fn put<'a>(&'a self, id: &'a str, job: &'a str) -> BoxFuture<'a, Result<(), SharedError>>;
    /// Message `id` was delivered.
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), SharedError>>;
    /// Every message stored, as (id, job), in the order they were stored.
    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>>;
    /// Stores `messages` (id, job) and changes the open problems and the open coalescing
    /// windows (key → record, `None`: resolved, closed) in one write, before any of the
    /// messages is sent.
    fn record<'a>(
        &'a self,
        messages: &'a [(String, String)],
        problems: &'a [(String, Option<String>)],
        windows: &'a [(String, Option<String>)],
    ) -> BoxFuture<'a, Result<(), SharedError>>;
    /// Every open problem the leaders recorded, as (key, record).
    fn problems(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>>;
    /// Every open coalescing window the leaders recorded, as (key, record).
    fn windows(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>>;
}

/// What a new leader does with the coalescing windows: its own (from a time it led, or
/// its last run) and those the shared store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WindowsTakeover {
    /// Shared windows to hold as its own (key, how long until each ends: zero when that
    /// time passed, so its summary goes out at once).
    pub adopt: Vec<(String, u64)>,
    /// Its own windows to drop: not in the store, so another leader closed them (and sent
    /// their summaries) meanwhile.
    pub drop: Vec<String>,
}

/// Decides the windows' takeover (pure): `local` is this instance's open windows (keys),
/// `shared` the store's (key, when it ends in ms since the epoch), `now_ms` the time. The
/// store's record of a window this instance holds too is the later one (the last leader
/// counted there), so it replaces the own.
pub fn take_windows(local: &[String], shared: &[(String, i64)], now_ms: i64) -> WindowsTakeover {
    let theirs: HashSet<&str> = shared.iter().map(|(key, _)| key.as_str()).collect();
    WindowsTakeover {
        adopt: shared
            .iter()
            .map(|(key, until_ms)| {
                let left = u64::try_from(until_ms.saturating_sub(now_ms)).unwrap_or(0);
                (key.clone(), left)
            })
            .collect(),
        drop: local
            .iter()
            .filter(|key| !theirs.contains(key.as_str()))
            .cloned()
            .collect(),
    }
}

/// A quorum verdict that a leader checks against what was announced: the server failed
/// for the cluster, or it works.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictCheck {
    Failed,
    Works,
}

/// What a leader does with a verdict it checks (on taking over, or at the first verdict
/// it sees of a server since): announce it, or nothing (already as announced).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckAction {
    /// Announce the failure: no leader announced it (the one that decided it died first).
    AnnounceFailure,
    /// Announce the recovery of the open problem (its id, since when).
    AnnounceRecovery,
    /// As announced: nothing to say.
    Nothing,
}

/// Decides a verdict check (pure): `open` is whether the server's failure is open among
/// the problems announced (the shared ones, after a takeover).
pub fn on_verdict(verdict: VerdictCheck, open: bool) -> CheckAction {
    match (verdict, open) {
        (VerdictCheck::Failed, false) => CheckAction::AnnounceFailure,
        (VerdictCheck::Works, true) => CheckAction::AnnounceRecovery,
        (VerdictCheck::Failed, true) | (VerdictCheck::Works, false) => CheckAction::Nothing,
    }
}

/// The dispatcher's place in a cluster: where the shared outbox is, and whether this
/// instance leads (only the leader sends; a follower stores nothing and sends nothing).
#[derive(Clone)]
pub struct ClusterRole {
    pub shared: Arc<dyn SharedOutbox>,
    pub leading: bool,
}

impl std::fmt::Debug for ClusterRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterRole")
            .field("leading", &self.leading)
            .finish_non_exhaustive()
    }
}

/// A message of this instance's own outbox, as a takeover sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalMessage {
    /// Its outbox row.
    pub row: i64,
    /// Its message id.
    pub id: String,
    /// Stored in the shared outbox by this instance (it was about to send it).
    pub mirrored: bool,
    /// Already waiting when the takeover read the shared outbox (not stored after).
    pub before_read: bool,
}

/// What a new leader does with the shared outbox it read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Takeover {
    /// Messages to send: in the shared outbox, not in this instance's own (id, job).
    pub adopt: Vec<(String, String)>,
    /// Rows of this instance's outbox to drop: it stored them in the shared outbox before,
    /// and they are gone from there, so another leader delivered them meanwhile.
    pub drop: Vec<i64>,
}

/// Decides a takeover (pure): `local` is this instance's outbox, `shared` what the
/// cluster's store holds.
pub fn takeover(local: &[LocalMessage], shared: &[(String, String)]) -> Takeover {
    let mine: HashSet<&str> = local.iter().map(|m| m.id.as_str()).collect();
    let theirs: HashSet<&str> = shared.iter().map(|(id, _)| id.as_str()).collect();
    Takeover {
        adopt: shared
            .iter()
            .filter(|(id, _)| !mine.contains(id.as_str()))
            .cloned()
            .collect(),
        // A message stored after the read may not be in it yet, and one never stored
        // there (its first try is still to come) is no one else's to deliver.
        drop: local
            .iter()
            .filter(|m| m.before_read && m.mirrored && !theirs.contains(m.id.as_str()))
            .map(|m| m.row)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_announces_the_difference_between_the_verdict_and_what_was_announced() {
        use CheckAction::*;
        use VerdictCheck::*;
        // (verdict now, failure open in the shared store) → what the leader does
        let table = [
            // The old leader decided the failure and died before announcing it.
            (Failed, false, AnnounceFailure),
            // It had announced it: said once is enough.
            (Failed, true, Nothing),
            // It had announced the failure, the server recovered, and it died before
            // announcing the recovery: the new leader resolves the open problem.
            (Works, true, AnnounceRecovery),
            // Works, and nothing open: no news (like a first poll that works).
            (Works, false, Nothing),
        ];
        for (verdict, open, want) in table {
            assert_eq!(on_verdict(verdict, open), want, "{verdict:?} open={open}");
        }
    }

    #[test]
    fn a_new_leader_holds_the_shared_windows_until_they_would_have_ended() {
        let keys = |ks: &[&str]| -> Vec<String> { ks.iter().map(|k| k.to_string()).collect() };
        let now = 100_000;
        // (own windows, the store's (key, ends at)) → (adopted (key, ms left), dropped)
        type Case = (
            Vec<String>,
            Vec<(String, i64)>,
            Vec<(&'static str, u64)>,
            Vec<&'static str>,
        );
        let table: Vec<Case> = vec![
            // Nothing anywhere.
            (keys(&[]), vec![], vec![], vec![]),
            // The dead leader's window, 1.5 s to go: its summary goes out then.
            (
                keys(&[]),
                vec![("a".into(), now + 1_500)],
                vec![("a", 1_500)],
                vec![],
            ),
            // Its end passed during the takeover: the summary goes out at once.
            (
                keys(&[]),
                vec![("a".into(), now - 3_000)],
                vec![("a", 0)],
                vec![],
            ),
            // Ends right now: at once too.
            (keys(&[]), vec![("a".into(), now)], vec![("a", 0)], vec![]),
            // Held here too (this instance led before): the store's record wins.
            (
                keys(&["a"]),
                vec![("a".into(), now + 10)],
                vec![("a", 10)],
                vec![],
            ),
            // Held here, gone from the store: another leader closed it and sent its
            // summary; sending it again would be a duplicate.
            (keys(&["a"]), vec![], vec![], vec!["a"]),
            // A mix.
            (
                keys(&["a", "b"]),
                vec![("b".into(), now + 5), ("c".into(), now - 5)],
                vec![("b", 5), ("c", 0)],
                vec!["a"],
            ),
        ];
        for (local, shared, adopt, drop) in table {
            let got = take_windows(&local, &shared, now);
            let adopted: Vec<(&str, u64)> = got
                .adopt
                .iter()
                .map(|(k, left)| (k.as_str(), *left))
                .collect();
            let dropped: Vec<&str> = got.drop.iter().map(String::as_str).collect();
            assert_eq!((adopted, dropped), (adopt, drop), "{local:?} / {shared:?}");
        }
    }

    fn local(row: i64, id: &str, mirrored: bool, before_read: bool) -> LocalMessage {
        LocalMessage {
            row,
            id: id.into(),
            mirrored,
            before_read,
        }
    }

    /// (this instance's outbox, the shared one, adopted ids, dropped rows)
    type Row = (
        Vec<LocalMessage>,
        Vec<(String, String)>,
        Vec<&'static str>,
        Vec<i64>,
    );

    #[test]
    fn a_new_leader_adopts_what_is_not_its_own_and_drops_what_another_delivered() {
        let shared = |ids: &[&str]| -> Vec<(String, String)> {
            ids.iter()
                .map(|id| (id.to_string(), format!("job {id}")))
                .collect()
        };
        // (this instance's outbox, the shared one) → (adopted ids, dropped rows)
        let table: Vec<Row> = vec![
            // Nothing anywhere.
            (vec![], shared(&[]), vec![], vec![]),
            // The old leader's message: adopted.
            (vec![], shared(&["a"]), vec!["a"], vec![]),
            // Its own message, in both: neither adopted nor dropped.
            (
                vec![local(1, "a", true, true)],
                shared(&["a"]),
                vec![],
                vec![],
            ),
            // Its own, stored in the shared outbox once and gone from it: another leader
            // delivered it while this instance followed.
            (
                vec![local(1, "a", true, true)],
                shared(&[]),
                vec![],
                vec![1],
            ),
            // Never stored there (its first try is to come): kept.
            (
                vec![local(1, "a", false, true)],
                shared(&[]),
                vec![],
                vec![],
            ),
            // Stored after the read: kept.
            (
                vec![local(1, "a", true, false)],
                shared(&[]),
                vec![],
                vec![],
            ),
            // A mix.
            (
                vec![local(1, "a", true, true), local(2, "b", true, true)],
                shared(&["b", "c"]),
                vec!["c"],
                vec![1],
            ),
        ];
        for (mine, theirs, adopt, drop) in table {
            let got = takeover(&mine, &theirs);
            let adopted: Vec<&str> = got.adopt.iter().map(|(id, _)| id.as_str()).collect();
            assert_eq!((adopted, got.drop), (adopt, drop), "{mine:?} / {theirs:?}");
        }
    }
}

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
    /// Stores `messages` (id, job) and changes the open problems (key → record, `None`:
    /// resolved) in one write, before any of the messages is sent.
    fn record<'a>(
        &'a self,
        messages: &'a [(String, String)],
        problems: &'a [(String, Option<String>)],
    ) -> BoxFuture<'a, Result<(), SharedError>>;
    /// Every open problem the leaders recorded, as (key, record).
    fn problems(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>>;
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

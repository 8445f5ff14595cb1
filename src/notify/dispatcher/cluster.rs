//! The dispatcher in a cluster (`notify/shared.rs`): only while this instance leads does
//! it store and send; each try first stores the message in the shared outbox (`deliver`),
//! a delivery deletes it there (`confirm`), and on becoming the leader it reads the
//! shared outbox and takes over what the old leader had not confirmed.
//!
//! A leader's messages and the changes of its announced problems go to the shared store
//! in one transaction per notice, before any of them is sent, through one task in order
//! (`recorder`). A new leader adopts the problems the store holds and checks each quorum
//! verdict against them (`Input::Verdict`, `shared::on_verdict`), so a verdict whose
//! leader died before that transaction is announced by the next one. The open coalescing
//! windows go the same way (`shared::take_windows`): a new leader holds them on and sends
//! each summary when its window ends.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Arrival, Dispatcher, Done, Job, Notice};
use crate::model::EventKind;
use crate::model::tags::TagValues;
use crate::notify::announcements::{OpenProblem, SharedWindow, key_text};
use crate::notify::shared::{
    CheckAction, ClusterRole, LocalMessage, SharedError, SharedOutbox, Takeover, VerdictCheck,
    WindowsTakeover, on_verdict, take_windows, takeover,
};
use crate::notify::{FailureKind, Notifier, NotifyError, Stage};
use crate::store::Pending;

/// Tries of one takeover read, and the pause between them.
const READ_TRIES: u32 = 20;
const READ_PAUSE: Duration = Duration::from_millis(500);

/// Tries of a delete after a delivery: one left behind is sent again by the next leader.
const CONFIRM_TRIES: u32 = 3;

/// A takeover's read of the shared outbox, back on the dispatcher's loop.
pub(super) struct TakeoverRead {
    /// This instance's messages when the read began (row, message id).
    before: Vec<(i64, String)>,
    read: Result<Vec<(String, String)>, SharedError>,
    /// The open problems the former leaders announced (key, record).
    problems: Result<Vec<(String, String)>, SharedError>,
    /// The coalescing windows the former leaders held open (key, record).
    windows: Result<Vec<(String, String)>, SharedError>,
}

/// One write to the shared store: a notice's messages (outbox rows, ids, jobs) and the
/// changes of the announced problems and of the open windows.
pub(super) struct Record {
    shared: Arc<dyn SharedOutbox>,
    rows: Vec<i64>,
    messages: Vec<(String, String)>,
    problems: Vec<(String, Option<String>)>,
    windows: Vec<(String, Option<String>)>,
}

impl Record {
    fn ops(&self) -> usize {
        self.messages.len() + self.problems.len() + self.windows.len()
    }
}

/// The last change of each key, in order (etcd refuses a transaction that names a key
/// twice).
fn last_changes(changes: Vec<(String, Option<String>)>) -> Vec<(String, Option<String>)> {
    let mut seen = std::collections::HashSet::new();
    let mut last: Vec<(String, Option<String>)> = changes
        .into_iter()
        .rev()
        .filter(|(key, _)| seen.insert(key.clone()))
        .collect();
    last.reverse();
    last
}

/// One read of the shared store, tried up to `READ_TRIES` times `READ_PAUSE` apart.
async fn with_retries<T, F, Fut>(read: F) -> Result<T, SharedError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, SharedError>>,
{
    let mut got = read().await;
    for _ in 1..READ_TRIES {
        if got.is_ok() {
            break;
        }
        tokio::time::sleep(READ_PAUSE).await;
        got = read().await;
    }
    got
}

/// A write done: its rows may be sent now.
pub(super) struct Recorded {
    rows: Vec<i64>,
    ok: bool,
}

/// Operations of one merged write: below etcd's 128 per transaction.
const RECORD_OPS: usize = 100;

/// The task that writes the records one after the other, in the order made (a problem
/// opened and resolved soon after must not reach etcd the other way round). Records that
/// queued meanwhile go in one transaction (a set whose servers all fail at once: a few
/// writes, not one per server).
pub(super) fn recorder(done: mpsc::UnboundedSender<Recorded>) -> mpsc::UnboundedSender<Record> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Record>();
    tokio::spawn(async move {
        let mut next: Option<Record> = None;
        loop {
            let mut r = match next.take() {
                Some(r) => r,
                None => match rx.recv().await {
                    Some(r) => r,
                    None => break,
                },
            };
            while r.ops() < RECORD_OPS {
                let Ok(more) = rx.try_recv() else { break };
                if !Arc::ptr_eq(&more.shared, &r.shared) || r.ops() + more.ops() > RECORD_OPS {
                    next = Some(more);
                    break;
                }
                r.rows.extend(more.rows);
                r.messages.extend(more.messages);
                r.problems.extend(more.problems);
                r.windows.extend(more.windows);
            }
            let problems = last_changes(r.problems);
            let windows = last_changes(r.windows);
            let outcome = r.shared.record(&r.messages, &problems, &windows).await;
            if let Err(e) = &outcome {
                tracing::warn!(
                    "{e}: {} message(s) go out without it; on a leader change the next leader may announce them again",
                    r.messages.len()
                );
            }
            let _ = done.send(Recorded {
                rows: r.rows,
                ok: outcome.is_ok(),
            });
        }
    });
    tx
}

/// Deletes a delivered message from the shared outbox (a few tries).
pub(super) async fn confirm(shared: &dyn SharedOutbox, id: &str) {
    for attempt in 1..=CONFIRM_TRIES {
        match shared.delete(id).await {
            Ok(()) => return,
            Err(e) if attempt == CONFIRM_TRIES => {
                tracing::warn!(
                    "message {id} delivered but still in the shared outbox ({e}): the next leader may send it again"
                );
            }
            Err(_) => tokio::time::sleep(READ_PAUSE).await,
        }
    }
}

/// One try of one message, as its task carries it out.
pub(super) struct Delivery {
    pub id: i64,
    pub message_id: String,
    pub notifier: Box<dyn Notifier>,
    pub tags: TagValues,
    pub limit: Duration,
    /// In a cluster: the shared outbox, the stored message, and whether it is in the
    /// shared outbox already (recorded with its notice, or adopted from there).
    pub shared: Option<(Arc<dyn SharedOutbox>, String, bool)>,
    pub done: mpsc::UnboundedSender<Done>,
}

/// Sends one message; in a cluster it is in the shared outbox first (so that a new leader
/// finds it) and deleted there once delivered.
pub(super) async fn deliver(d: Delivery) {
    if let Some((shared, job, false)) = &d.shared
        && let Err(e) = shared.put(&d.message_id, job).await
    {
        let outcome = Err(NotifyError::new(
            FailureKind::Network,
            Stage::Sending,
            format!("not sent: {e}"),
        ));
        let _ = d.done.send(Done {
            id: d.id,
            outcome,
            mirrored: false,
        });
        return;
    }
    let outcome = match tokio::time::timeout(d.limit, d.notifier.send(&d.tags)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(NotifyError::new(
            FailureKind::Timeout,
            Stage::Answer,
            format!("no result after {} s", d.limit.as_secs()),
        )),
    };
    if outcome.is_ok()
        && let Some((shared, _, _)) = &d.shared
    {
        confirm(shared.as_ref(), &d.message_id).await;
    }
    let _ = d.done.send(Done {
        id: d.id,
        outcome,
        mirrored: d.shared.is_some(),
    });
}

/// The message id of a stored message (`$MESSAGEID$`).
pub(super) fn message_id(pending: &Pending) -> String {
    job_id(&pending.job, pending.id)
}

/// The message id in a job text; its outbox `row` stands in for a job of an older version.
fn job_id(job: &str, row: i64) -> String {
    match ron::from_str::<Job>(job) {
        Ok(job) if !job.id.is_empty() => job.id,
        _ => format!("standby-outbox-{row}"),
    }
}

impl Dispatcher {
    /// Whether this dispatcher stores and sends: alone always, in a cluster only while
    /// this instance leads.
    pub(super) fn sends(&self) -> bool {
        self.role.as_ref().is_none_or(|r| r.leading)
    }

    /// The shared store, while this instance leads a cluster.
    fn leading(&self) -> Option<Arc<dyn SharedOutbox>> {
        self.role
            .as_ref()
            .filter(|r| r.leading)
            .map(|r| r.shared.clone())
    }

    /// A notice, as it arrives: a follower announces nothing (the leader does), and while
    /// a takeover reads the shared store it waits for what the former leaders announced.
    pub(super) fn arrive(&mut self, notice: Notice, arrival: Arrival) {
        if !self.sends() {
            return;
        }
        if let Some(deferred) = &mut self.deferred {
            deferred.push((notice, arrival));
            return;
        }
        match arrival {
            Arrival::Event => self.on_notice(notice, false),
            Arrival::FirstCheck => self.on_notice(notice, true),
            Arrival::Verdict => self.on_verdict_check(notice),
        }
    }

    /// A quorum verdict checked against the announced problems: announced only where it
    /// differs (a recovery then resolves the open failure, naming it and its duration).
    fn on_verdict_check(&mut self, notice: Notice) {
        let verdict = match notice.kind {
            EventKind::ServerFailed => VerdictCheck::Failed,
            EventKind::ServerRecovered => VerdictCheck::Works,
            _ => return,
        };
        let key = (
            notice.set.clone(),
            notice.subject.clone(),
            EventKind::ServerFailed,
        );
        match on_verdict(verdict, self.problems.contains_key(&key)) {
            CheckAction::AnnounceFailure => {
                tracing::info!(
                    "server {} of {:?} failed for the cluster and no leader announced it: announced now",
                    notice.subject,
                    notice.set
                );
                self.on_notice(notice, false);
            }
            CheckAction::AnnounceRecovery => {
                tracing::info!(
                    "server {} of {:?} works for the cluster and its failure is still open: its recovery is announced now",
                    notice.subject,
                    notice.set
                );
                self.on_notice(notice, true);
            }
            CheckAction::Nothing => {}
        }
    }

    /// A change of the announced problems, for the shared store (leading only).
    pub(super) fn shared_change(&mut self, key: String, record: Option<String>) {
        if self.leading().is_some() {
            self.changes.push((key, record));
        }
    }

    /// A change of the open coalescing windows, for the shared store (leading only).
    pub(super) fn window_change(&mut self, key: String, window: Option<SharedWindow>) {
        if self.leading().is_none() {
            return;
        }
        let record = match window.as_ref().map(ron::to_string) {
            None => None,
            Some(Ok(record)) => Some(record),
            Some(Err(e)) => {
                tracing::error!("cannot serialise a coalescing window: {e}");
                return;
            }
        };
        self.window_changes.push((key, record));
    }

    /// Stored messages (outbox rows and jobs) of one notice: while leading they go to the
    /// shared store with the problems' and windows' changes, in one write, and wait for it.
    pub(super) fn record(&mut self, rows: &[i64], jobs: &[String]) {
        let Some(shared) = self.leading() else {
            return;
        };
        if rows.is_empty() && self.changes.is_empty() && self.window_changes.is_empty() {
            return;
        }
        let messages = rows
            .iter()
            .zip(jobs)
            .map(|(row, job)| (job_id(job, *row), job.clone()))
            .collect();
        self.recording.extend(rows);
        let record = Record {
            shared,
            rows: rows.to_vec(),
            messages,
            problems: std::mem::take(&mut self.changes),
            windows: std::mem::take(&mut self.window_changes),
        };
        if let Err(mpsc::error::SendError(r)) = self.records.send(record) {
            // No recorder (not running yet): the deliveries put the messages themselves.
            for row in r.rows {
                self.recording.remove(&row);
            }
        }
    }

    /// Changes of the announced problems and windows that came with no message (a
    /// reminder's time, a problem that opened while its window holds the message, a
    /// repeat counted).
    pub(super) fn flush_changes(&mut self) {
        if self.changes.is_empty() && self.window_changes.is_empty() {
            return;
        }
        self.record(&[], &[]);
        self.changes.clear();
        self.window_changes.clear();
    }

    pub(super) fn on_recorded(&mut self, recorded: Recorded) {
        for row in recorded.rows {
            if self.recording.remove(&row) && recorded.ok {
                self.mirrored.insert(row);
            }
        }
        self.start_due();
    }

    /// Starts in this role (before the first run reads the outbox).
    pub fn with_role(mut self, role: Option<ClusterRole>) -> Dispatcher {
        self.role = role;
        self
    }

    /// The engine's word on the cluster. Becoming the leader starts a takeover.
    pub(super) fn on_role(&mut self, role: Option<ClusterRole>) {
        let was = self.role.as_ref().is_some_and(|r| r.leading);
        let leads = role.as_ref().is_some_and(|r| r.leading);
        if role.is_none() {
            self.mirrored.clear();
        }
        let shared = role.as_ref().map(|r| r.shared.clone());
        self.role = role;
        if !leads {
            // The notices held for a takeover are the next leader's.
            self.deferred = None;
            self.changes.clear();
            self.window_changes.clear();
        }
        if leads
            && !was
            && let Some(shared) = shared
        {
            self.read_shared(shared);
        }
    }

    pub(super) fn read_shared(&mut self, shared: Arc<dyn SharedOutbox>) {
        let before = self
            .waiting
            .values()
            .map(|p| (p.id, message_id(p)))
            .collect();
        self.deferred.get_or_insert_with(Vec::new);
        let tx = self.takeover_tx.clone();
        tokio::spawn(async move {
            let read = with_retries(|| shared.list()).await;
            let problems = with_retries(|| shared.problems()).await;
            let windows = with_retries(|| shared.windows()).await;
            let _ = tx.send(TakeoverRead {
                before,
                read,
                problems,
                windows,
            });
        });
    }

    /// The problems the former leaders announced become this instance's (its own, from
    /// a time it led before, may be stale): inherited, so a failure still open is not
    /// announced again.
    fn adopt_problems(&mut self, shared: Vec<(String, String)>) {
        let mut adopted = std::collections::HashMap::new();
        for (key, record) in shared {
            match ron::from_str::<OpenProblem>(&record) {
                Ok(mut open) => {
                    open.inherited = true;
                    let n = &open.notice;
                    adopted.insert((n.set.clone(), n.subject.clone(), n.kind), open);
                }
                Err(e) => tracing::warn!("an unreadable announced problem {key:?}: {e}"),
            }
        }
        for key in self.problems.keys() {
            if !adopted.contains_key(key)
                && let Err(e) = self.announced.remove(&key_text(key))
            {
                self.store_error(&e);
            }
        }
        for (key, open) in &adopted {
            if let Ok(record) = ron::to_string(open)
                && let Err(e) = self.announced.put(&key_text(key), &record)
            {
                self.store_error(&e);
            }
        }
        self.problems = adopted;
    }

    /// Takes over the messages the old leader left (and drops those another leader
    /// delivered while this instance followed).
    pub(super) fn on_takeover(&mut self, read: TakeoverRead) {
        if !self.sends() {
            // No longer the leader: the next leader reads it again.
            return;
        }
        match read.problems {
            Ok(problems) => self.adopt_problems(problems),
            Err(e) => tracing::error!(
                "{e}: the problems the former leaders announced are not known; this instance's own are kept"
            ),
        }
        match read.windows {
            Ok(windows) => self.adopt_windows(windows),
            Err(e) => tracing::error!(
                "{e}: the coalescing windows the former leaders held are not known; this instance's own are kept"
            ),
        }
        self.take_messages(read.before, read.read);
        // The notices that came meanwhile, now that what was announced is known.
        for (notice, arrival) in self.deferred.take().unwrap_or_default() {
            self.arrive(notice, arrival);
        }
    }

    /// The windows the former leaders held open become this instance's: each summary goes
    /// out when its window would have ended (at once if that passed); its own windows that
    /// another leader closed meanwhile are dropped without a summary.
    fn adopt_windows(&mut self, shared: Vec<(String, String)>) {
        let mut readable = std::collections::HashMap::new();
        for (key, record) in shared {
            match ron::from_str::<SharedWindow>(&record) {
                Ok(window) => {
                    readable.insert(key, window);
                }
                Err(e) => tracing::warn!("an unreadable coalescing window {key:?}: {e}"),
            }
        }
        let local: Vec<String> = self.windows.keys().map(key_text).collect();
        let ends: Vec<(String, i64)> = readable
            .iter()
            .map(|(key, w)| (key.clone(), w.until_ms))
            .collect();
        let now = self.now_ms();
        let WindowsTakeover { adopt, drop } = take_windows(&local, &ends, now);
        for key in drop {
            self.windows.retain(|k, _| key_text(k) != key);
            if let Err(e) = self.outbox.release(&key, &[], now) {
                self.store_error(&e);
            }
        }
        if !adopt.is_empty() {
            tracing::info!(
                "{} coalescing window(s) a former leader held taken over",
                adopt.len()
            );
        }
        for (key, left) in adopt {
            let Some(w) = readable.remove(&key) else {
                continue;
            };
            let last = w.last.notice();
            let held = crate::store::Held {
                key: key.clone(),
                notice: ron::to_string(&w.last).unwrap_or_default(),
                repeats: w.repeats,
                until_ms: w.until_ms,
            };
            if let Err(e) = self.outbox.hold(&held) {
                self.store_error(&e);
            }
            self.windows.insert(
                (last.set.clone(), last.subject.clone(), last.kind),
                super::Window {
                    until: tokio::time::Instant::now() + Duration::from_millis(left),
                    until_ms: w.until_ms,
                    repeats: w.repeats,
                    last,
                    shared: true,
                },
            );
        }
    }

    fn take_messages(
        &mut self,
        before: Vec<(i64, String)>,
        read: Result<Vec<(String, String)>, SharedError>,
    ) {
        let shared = match read {
            Ok(shared) => shared,
            Err(e) => {
                tracing::error!("{e}: the messages a former leader left are not taken over");
                return;
            }
        };
        let before: std::collections::HashSet<i64> = before.iter().map(|(row, _)| *row).collect();
        let local: Vec<LocalMessage> = self
            .waiting
            .values()
            .map(|p| LocalMessage {
                row: p.id,
                id: message_id(p),
                mirrored: self.mirrored.contains(&p.id),
                before_read: before.contains(&p.id),
            })
            .collect();
        let Takeover { adopt, drop } = takeover(&local, &shared);
        for row in drop {
            if self.in_flight.contains_key(&row) {
                continue;
            }
            self.mirrored.remove(&row);
            self.unwait(row);
            if let Err(e) = self.outbox.remove(row) {
                self.store_error(&e);
            }
        }
        if adopt.is_empty() {
            return;
        }
        tracing::info!(
            "{} notification(s) a former leader had not confirmed taken over",
            adopt.len()
        );
        let now = self.now_ms();
        for (_, job) in adopt {
            match self.outbox.push(&job, now) {
                Ok(id) => {
                    self.mirrored.insert(id);
                    self.wait_new(id, job, now);
                }
                Err(e) => self.store_error(&e),
            }
        }
        self.start_due();
    }

    /// A message that can never be sent leaves the shared outbox too.
    pub(super) fn forget_shared(&self, id: i64) {
        let (Some(role), Some(pending)) = (&self.role, self.waiting.get(&id)) else {
            return;
        };
        let shared = role.shared.clone();
        let message = message_id(pending);
        tokio::spawn(async move { confirm(shared.as_ref(), &message).await });
    }
}

//! The dispatcher in a cluster (`notify/shared.rs`): only while this instance leads does
//! it store and send; each try first stores the message in the shared outbox (`deliver`),
//! a delivery deletes it there (`confirm`), and on becoming the leader it reads the
//! shared outbox and takes over what the old leader had not confirmed.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{Dispatcher, Done, Job};
use crate::model::tags::TagValues;
use crate::notify::shared::{
    ClusterRole, LocalMessage, SharedError, SharedOutbox, Takeover, takeover,
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
    /// In a cluster: the shared outbox and the stored message.
    pub shared: Option<(Arc<dyn SharedOutbox>, String)>,
    pub done: mpsc::UnboundedSender<Done>,
}

/// Sends one message; in a cluster it is in the shared outbox first (so that a new leader
/// finds it) and deleted there once delivered.
pub(super) async fn deliver(d: Delivery) {
    if let Some((shared, job)) = &d.shared
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
        && let Some((shared, _)) = &d.shared
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
    match ron::from_str::<Job>(&pending.job) {
        Ok(job) if !job.id.is_empty() => job.id,
        _ => format!("standby-outbox-{}", pending.id),
    }
}

impl Dispatcher {
    /// Whether this dispatcher stores and sends: alone always, in a cluster only while
    /// this instance leads.
    pub(super) fn sends(&self) -> bool {
        self.role.as_ref().is_none_or(|r| r.leading)
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
        if leads
            && !was
            && let Some(shared) = shared
        {
            self.read_shared(shared);
        }
    }

    fn read_shared(&self, shared: Arc<dyn SharedOutbox>) {
        let before = self
            .waiting
            .values()
            .map(|p| (p.id, message_id(p)))
            .collect();
        let tx = self.takeover_tx.clone();
        tokio::spawn(async move {
            let mut read = shared.list().await;
            for _ in 1..READ_TRIES {
                if read.is_ok() {
                    break;
                }
                tokio::time::sleep(READ_PAUSE).await;
                read = shared.list().await;
            }
            let _ = tx.send(TakeoverRead { before, read });
        });
    }

    /// Takes over the messages the old leader left (and drops those another leader
    /// delivered while this instance followed).
    pub(super) fn on_takeover(&mut self, read: TakeoverRead) {
        if !self.sends() {
            // No longer the leader: the next leader reads it again.
            return;
        }
        let shared = match read.read {
            Ok(shared) => shared,
            Err(e) => {
                tracing::error!("{e}: the messages a former leader left are not taken over");
                return;
            }
        };
        let before: std::collections::HashSet<i64> =
            read.before.iter().map(|(row, _)| *row).collect();
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

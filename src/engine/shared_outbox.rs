//! The cluster's shared outbox in etcd (issue 13 item 5; the rules in
//! `notify/shared.rs`): each message the leader is about to send is a key
//! `/standby/<cluster>/outbox/<message id>` holding the stored message (method, tags,
//! id), bound to no lease — it must outlive the leader that wrote it — and deleted once
//! delivered. Beside them, `/standby/<cluster>/announced/<problem>` holds each problem the
//! leaders announced and did not resolve yet (the dispatcher's record of it), written in
//! the same transaction as the messages that announce or resolve it, and
//! `/standby/<cluster>/held/<window>` each coalescing window the leader holds open (its
//! last notice, its count of repeats, when it ends), deleted in the transaction that
//! stores its summary. The engine hands
//! the store to the dispatcher with this instance's leadership.

use std::sync::Arc;
use std::time::Duration;

use crate::cluster::Etcd;
use crate::cluster::views::{escape, outbox_prefix, problems_prefix, unescape, windows_prefix};
use crate::model::Cluster;
use crate::notify::BoxFuture;
use crate::notify::shared::{ClusterRole, SharedError, SharedOutbox};

/// Each request to a member may take this long (a delivery waits for its put).
const TIMEOUT: Duration = Duration::from_secs(2);

pub struct EtcdOutbox {
    etcd: Etcd,
    prefix: String,
    problems: String,
    windows: String,
}

impl EtcdOutbox {
    /// The shared outbox of the cluster `section`; `None` (logged) when no etcd client
    /// can be built from it.
    pub fn new(section: &Cluster) -> Option<EtcdOutbox> {
        match Etcd::new(section, TIMEOUT) {
            Ok(etcd) => Some(EtcdOutbox {
                etcd,
                prefix: outbox_prefix(&section.key_prefix()),
                problems: problems_prefix(&section.key_prefix()),
                windows: windows_prefix(&section.key_prefix()),
            }),
            Err(e) => {
                tracing::error!("the cluster's shared outbox: {e}");
                None
            }
        }
    }

    fn key(&self, id: &str) -> String {
        format!("{}{}", self.prefix, escape(id))
    }
}

fn shared(e: crate::cluster::EtcdError) -> SharedError {
    SharedError(e.to_string())
}

impl SharedOutbox for EtcdOutbox {
    fn put<'a>(&'a self, id: &'a str, job: &'a str) -> BoxFuture<'a, Result<(), SharedError>> {
        Box::pin(async move {
            self.etcd
                .put(&self.key(id), job.as_bytes(), None)
                .await
                .map(|_| ())
                .map_err(shared)
        })
    }

    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), SharedError>> {
        Box::pin(async move {
            self.etcd
                .delete(&self.key(id))
                .await
                .map(|_| ())
                .map_err(shared)
        })
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        Box::pin(async move {
            let (mut kvs, _) = self.etcd.get_prefix(&self.prefix).await.map_err(shared)?;
            // In the order stored: a new leader sends one subject's messages in order.
            kvs.sort_by_key(|kv| (kv.create_revision, kv.key.clone()));
            Ok(kvs
                .into_iter()
                .filter_map(|kv| {
                    let job = String::from_utf8(kv.value).ok()?;
                    let id = kv.key.strip_prefix(&self.prefix)?.to_string();
                    Some((id, job))
                })
                .collect())
        })
    }

    fn record<'a>(
        &'a self,
        messages: &'a [(String, String)],
        problems: &'a [(String, Option<String>)],
        windows: &'a [(String, Option<String>)],
    ) -> BoxFuture<'a, Result<(), SharedError>> {
        Box::pin(async move {
            let mut puts: Vec<(String, Vec<u8>)> = messages
                .iter()
                .map(|(id, job)| (self.key(id), job.clone().into_bytes()))
                .collect();
            let mut deletes = Vec::new();
            let changes = problems
                .iter()
                .map(|c| (&self.problems, c))
                .chain(windows.iter().map(|c| (&self.windows, c)));
            for (prefix, (key, record)) in changes {
                let key = format!("{prefix}{}", escape(key));
                match record {
                    Some(record) => puts.push((key, record.clone().into_bytes())),
                    None => deletes.push(key),
                }
            }
            // One notice's messages (one per method), its problems and windows: far below
            // etcd's 128 operations of one transaction.
            self.etcd
                .write_batch(&puts, &deletes, None)
                .await
                .map(|_| ())
                .map_err(shared)
        })
    }

    fn problems(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        Box::pin(self.records(&self.problems))
    }

    fn windows(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        Box::pin(self.records(&self.windows))
    }
}

impl EtcdOutbox {
    /// Every record under `prefix`, as (key, record).
    async fn records(&self, prefix: &str) -> Result<Vec<(String, String)>, SharedError> {
        let (kvs, _) = self.etcd.get_prefix(prefix).await.map_err(shared)?;
        Ok(kvs
            .into_iter()
            .filter_map(|kv| {
                let record = String::from_utf8(kv.value).ok()?;
                let key = kv.key.strip_prefix(prefix)?;
                Some((unescape(key), record))
            })
            .collect())
    }
}

/// Follows the snapshot's cluster mode for the dispatcher: the shared outbox of the
/// section in force (made again when the section changes) and the leadership.
#[derive(Default)]
pub struct RoleFollower {
    section: Option<Cluster>,
    shared: Option<Arc<dyn SharedOutbox>>,
    last: Option<(bool, bool)>,
}

impl RoleFollower {
    /// The dispatcher's role for the settings' section and this instance's leadership,
    /// when it differs from the last one given (`Some(None)`: alone again).
    pub fn follow(
        &mut self,
        section: Option<&Cluster>,
        leading: bool,
    ) -> Option<Option<ClusterRole>> {
        if self.section.as_ref() != section {
            self.section = section.cloned();
            self.shared = section
                .and_then(EtcdOutbox::new)
                .map(|o| Arc::new(o) as Arc<dyn SharedOutbox>);
            self.last = None;
        }
        let now = (section.is_some(), leading && section.is_some());
        if self.last == Some(now) {
            return None;
        }
        self.last = Some(now);
        if section.is_none() {
            return Some(None);
        }
        // No client: a role that never leads, so nothing is sent without the store.
        Some(Some(ClusterRole {
            shared: self.shared.clone().unwrap_or_else(|| Arc::new(Nowhere)),
            leading: leading && self.shared.is_some(),
        }))
    }
}

/// The shared outbox when no etcd client could be built: every call fails.
struct Nowhere;

impl SharedOutbox for Nowhere {
    fn put<'a>(&'a self, _: &'a str, _: &'a str) -> BoxFuture<'a, Result<(), SharedError>> {
        Box::pin(async { Err(SharedError("no etcd client".into())) })
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), SharedError>> {
        Box::pin(async { Err(SharedError("no etcd client".into())) })
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        Box::pin(async { Err(SharedError("no etcd client".into())) })
    }
    fn record<'a>(
        &'a self,
        _: &'a [(String, String)],
        _: &'a [(String, Option<String>)],
        _: &'a [(String, Option<String>)],
    ) -> BoxFuture<'a, Result<(), SharedError>> {
        Box::pin(async { Err(SharedError("no etcd client".into())) })
    }
    fn problems(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        Box::pin(async { Err(SharedError("no etcd client".into())) })
    }
    fn windows(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        Box::pin(async { Err(SharedError("no etcd client".into())) })
    }
}

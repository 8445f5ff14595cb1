//! Cluster mode's task (issue 13 items 3, 5): on its own tokio task beside the engine loop,
//! it holds this instance's etcd lease (granted for the configured time, kept alive every
//! third of it), publishes this instance's view of each server under keys bound to the
//! lease — when a view changes, in transactions of at most [`BATCH`] keys, plus one
//! heartbeat key every lease time — watches the cluster's keys (the other instances' views,
//! their heartbeats, the election key), and campaigns for the leadership when the election
//! key is absent. What it learns goes to the loop as [`News`]; the core decides.
//!
//! It never writes DNS: the DNS runs ask its [`Fence`] before each write.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior};

use crate::cluster::views::{self, ClusterKey, Heartbeat, PublishedView};
use crate::cluster::{Compare, Etcd, EtcdError, EventKind, Fence, TxnOutcome, Watcher};
use crate::engine::ClusterStatus;
use crate::engine::cluster_status::{EtcdHealth, InstanceStatus};
use crate::engine::machine::PeerViews;
use crate::engine::machine::quorum::{InstanceView, Seen};
use crate::model::Cluster;

/// The most keys in one transaction (etcd refuses more than `--max-txn-ops`, 128).
pub const BATCH: usize = 100;

/// What the cluster task tells the loop.
#[derive(Debug)]
pub enum News {
    /// The other instances' live views changed.
    Peers(Arc<PeerViews>),
    /// This instance leads now (proved: the election key is its own), or not.
    Leadership(bool),
    /// The cluster's status for the snapshot (its `servers` part is the core's).
    Status(Box<ClusterStatus>),
}

/// This instance's view of one server, as the loop hands it to the task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalView {
    pub set: String,
    pub server: IpAddr,
    pub seen: Seen,
    pub status: String,
    pub since: SystemTime,
    pub last_response: String,
}

/// The running task, as the loop holds it: dropping it stops the task (its lease then
/// expires by itself; `stop` revokes it at once).
pub struct ClusterTask {
    pub section: Cluster,
    views: watch::Sender<Arc<Vec<LocalView>>>,
    pub fence: Fence,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ClusterTask {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ClusterTask {
    /// Starts the task for `section`; `None` (logged by the caller) when no etcd client
    /// can be built from it.
    pub fn start(section: Cluster, news: mpsc::Sender<News>) -> Result<ClusterTask, EtcdError> {
        let lease = Duration::from_secs(u64::from(section.lease_secs.max(2)));
        // A request to a member may take a third of the lease at most: a dead member
        // costs one time-out, and the next keep-alive still comes in time.
        let etcd = Etcd::new(&section, (lease / 3).min(Duration::from_secs(2)))?;
        let prefix = section.key_prefix();
        let fence = Fence::new(etcd.clone(), views::leader_key(&prefix));
        let (views_tx, views_rx) = watch::channel(Arc::new(Vec::new()));
        let writes = Arc::new(AtomicU64::new(0));
        let run = Run {
            etcd,
            prefix,
            me: section.instance.trim().to_string(),
            section: section.clone(),
            lease_time: lease,
            news,
            fence: fence.clone(),
            writes,
            resync: false,
            pending: false,
            lease: None,
            published: HashMap::new(),
            keys: BTreeMap::new(),
            leading: false,
            leader_since: None,
            seen_instances: BTreeMap::new(),
            health: EtcdHealth::default(),
            last_status: None,
            last_peers: None,
        };
        let task = tokio::spawn(run.run(views_rx));
        Ok(ClusterTask {
            section,
            views: views_tx,
            fence,
            task,
        })
    }

    /// This instance's views now; the task writes what changed.
    pub fn publish(&self, views: Vec<LocalView>) {
        self.views.send_if_modified(|current| {
            if **current == views {
                return false;
            }
            *current = Arc::new(views);
            true
        });
    }
}

struct Run {
    etcd: Etcd,
    prefix: String,
    me: String,
    section: Cluster,
    lease_time: Duration,
    news: mpsc::Sender<News>,
    fence: Fence,
    /// Writes to etcd so far (puts, deletes and transactions of them; not keep-alives).
    writes: Arc<AtomicU64>,
    /// Views not yet in etcd (a publish failed, or a new lease): written at the next turn.
    pending: bool,
    /// etcd answered again after an error: the watch may hang on a dead connection, so
    /// the keys are read again and watched anew.
    resync: bool,
    /// The lease held, if any.
    lease: Option<i64>,
    /// What etcd holds of this instance's views: key → value.
    /// What etcd holds of this instance's views: set → server → (key, the view). Compared
    /// as views, so that a publish builds keys and JSON only for the views that changed
    /// (10,000 servers' first statuses arrive over many publishes).
    published: HashMap<String, HashMap<IpAddr, (String, LocalView)>>,
    /// Every key of the cluster as last read or watched (views, heartbeats, leader).
    keys: BTreeMap<String, crate::cluster::KeyValue>,
    leading: bool,
    leader_since: Option<(String, SystemTime)>,
    /// Every instance seen since the start, with its last heartbeat.
    seen_instances: BTreeMap<String, Option<SystemTime>>,
    health: EtcdHealth,
    last_status: Option<ClusterStatus>,
    last_peers: Option<Arc<PeerViews>>,
}

impl Run {
    async fn run(mut self, mut views: watch::Receiver<Arc<Vec<LocalView>>>) {
        let mut keep_alive = tokio::time::interval(self.lease_time / 3);
        keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut heartbeat = tokio::time::interval(self.lease_time);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut watcher: Option<Watcher> = None;
        loop {
            if self.lease.is_none() {
                match self.join().await {
                    Ok(w) => watcher = Some(w),
                    Err(e) => {
                        self.unhealthy(&e);
                        self.report().await;
                        // etcd is away: try again soon, not in a busy loop.
                        tokio::time::sleep(self.lease_time / 5).await;
                        continue;
                    }
                }
                // The new lease holds none of this instance's views yet.
                self.pending = true;
                self.report().await;
            }
            if self.pending {
                let local = views.borrow().clone();
                if let Err(e) = self.publish(&local).await {
                    self.unhealthy(&e);
                }
            }
            let stop_by = self.leading.then(|| Instant::now() + self.fence_left());
            tokio::select! {
                // A failed publish is tried again at the next keep-alive (above).
                _ = keep_alive.tick() => self.keep_alive().await,
                _ = heartbeat.tick() => {
                    if let Err(e) = self.heartbeat().await {
                        self.unhealthy(&e);
                    }
                }
                changed = views.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let local = views.borrow_and_update().clone();
                    if let Err(e) = self.publish(&local).await {
                        self.unhealthy(&e);
                    }
                }
                events = next_events(&mut watcher) => match events {
                    Ok(events) => {
                        for event in events {
                            match event.kind {
                                EventKind::Put => { self.keys.insert(event.kv.key.clone(), event.kv); }
                                EventKind::Delete => { self.keys.remove(&event.kv.key); }
                            }
                        }
                        if !self.keys.contains_key(&views::leader_key(&self.prefix)) {
                            self.campaign().await;
                        }
                    }
                    Err(EtcdError::Compacted { .. }) => match self.read_all().await {
                        Ok(w) => watcher = Some(w),
                        Err(e) => self.unhealthy(&e),
                    },
                    // A broken stream (a member died) says nothing of etcd's health: the
                    // keys are read again, from any member, and watched anew; if that
                    // fails, etcd is unhealthy. (Marking it unhealthy here raised the
                    // etcd problem for a moment whenever one member of three died.)
                    Err(e) => {
                        tracing::debug!("cluster: the watch broke ({e}); reading again");
                        self.resync = true;
                        tokio::time::sleep(self.lease_time / 10).await;
                    }
                },
                // By its own clock the leader stops before its lease can have expired.
                _ = sleep_until(stop_by) => {
                    if !self.fence.leads_by_clock() {
                        self.set_leading(false).await;
                    }
                }
            }
            if std::mem::take(&mut self.resync) && self.lease.is_some() {
                match self.read_all().await {
                    Ok(w) => watcher = Some(w),
                    Err(e) => self.unhealthy(&e),
                }
                if !self.keys.contains_key(&views::leader_key(&self.prefix)) {
                    self.campaign().await;
                }
            }
            self.report().await;
        }
    }

    fn fence_left(&self) -> Duration {
        // Checked every 100 ms while leading: the fence itself refuses late writes, this
        // only tells the core in time.
        Duration::from_millis(100)
    }

    /// A new lease, this instance's keys written under it, the cluster read, a watch from
    /// there, and a campaign if nobody leads.
    async fn join(&mut self) -> Result<Watcher, EtcdError> {
        let sent = Instant::now();
        let lease = self
            .etcd
            .grant(u32::try_from(self.lease_time.as_secs()).unwrap_or(5))
            .await?;
        self.fence.new_lease(
            sent,
            Duration::from_secs(u64::try_from(lease.ttl_secs).unwrap_or(0)),
        );
        self.lease = Some(lease.id);
        self.published.clear();
        self.set_leading(false).await;
        self.healthy();
        self.heartbeat().await?;
        let watcher = self.read_all().await?;
        self.campaign().await;
        Ok(watcher)
    }

    async fn read_all(&mut self) -> Result<Watcher, EtcdError> {
        let (kvs, revision) = self.etcd.get_prefix(&self.prefix).await?;
        self.keys = kvs
            .into_iter()
            .filter(|kv| views::parse_key(&self.prefix, &kv.key) != ClusterKey::Other)
            .map(|kv| (kv.key.clone(), kv))
            .collect();
        Ok(self.etcd.watch(&self.prefix, revision + 1))
    }

    async fn keep_alive(&mut self) {
        let Some(lease) = self.lease else {
            return;
        };
        let sent = Instant::now();
        match self.etcd.keep_alive(lease).await {
            Ok(ttl) => {
                self.fence
                    .renewed(sent, Duration::from_secs(u64::try_from(ttl).unwrap_or(0)));
                self.healthy();
                // Stepped down by its own clock during a short cut, but the lease (and
                // with it the election key) outlived the cut: lead again, or nobody would.
                let key = views::leader_key(&self.prefix);
                let ours = self
                    .keys
                    .get(&key)
                    .is_some_and(|kv| kv.lease == lease && kv.value == self.me.as_bytes());
                if !self.leading && ours {
                    self.campaign().await;
                }
            }
            Err(EtcdError::LeaseExpired(_)) => {
                // Everything bound to it is gone: join again (new lease, views, campaign).
                self.lease = None;
                self.set_leading(false).await;
            }
            Err(e) => self.unhealthy(&e),
        }
        if self.leading && !self.fence.leads_by_clock() {
            self.set_leading(false).await;
        }
    }

    async fn heartbeat(&mut self) -> Result<(), EtcdError> {
        let Some(lease) = self.lease else {
            return Ok(());
        };
        let beat = Heartbeat {
            at_ms: views::unix_ms(SystemTime::now()),
        };
        let value = serde_json::to_vec(&beat).unwrap_or_default();
        let key = views::instance_key(&self.prefix, &self.me);
        match self.etcd.put(&key, &value, Some(lease)).await {
            Ok(_) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                self.healthy();
                Ok(())
            }
            Err(EtcdError::Refused { message, .. }) if message.contains("lease not found") => {
                self.lease = None;
                self.set_leading(false).await;
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Writes the views that changed since etcd last got them, and deletes those gone.
    async fn publish(&mut self, local: &[LocalView]) -> Result<(), EtcdError> {
        let Some(lease) = self.lease else {
            return Ok(());
        };
        self.pending = true;
        let mut puts: Vec<(String, Vec<u8>)> = Vec::new();
        let mut changed: Vec<&LocalView> = Vec::new();
        for view in local {
            let known = self
                .published
                .get(&view.set)
                .and_then(|m| m.get(&view.server));
            if known.is_some_and(|(_, v)| v == view) {
                continue;
            }
            let key = views::view_key(&self.prefix, &self.me, &view.set, &view.server.to_string());
            let value = PublishedView {
                seen: match view.seen {
                    Seen::Up => "up",
                    Seen::Down => "down",
                    Seen::Unknown => "unknown",
                }
                .into(),
                status: view.status.clone(),
                since_ms: views::unix_ms(view.since),
                last_response: view.last_response.clone(),
            };
            puts.push((key, serde_json::to_vec(&value).unwrap_or_default()));
            changed.push(view);
        }
        let wanted: std::collections::HashSet<(&str, IpAddr)> =
            local.iter().map(|v| (v.set.as_str(), v.server)).collect();
        let gone: Vec<(String, IpAddr, String)> = self
            .published
            .iter()
            .flat_map(|(set, servers)| {
                servers
                    .iter()
                    .filter(|(ip, _)| !wanted.contains(&(set.as_str(), **ip)))
                    .map(|(ip, (key, _))| (set.clone(), *ip, key.clone()))
            })
            .collect();
        let mut renewed = Instant::now();
        for (chunk, views) in puts.chunks(BATCH).zip(changed.chunks(BATCH)) {
            // A long publish (the first one of 10,000 views: 100 transactions) keeps the
            // lease alive itself: the task's keep-alive waits for it, and a lease that
            // expired mid-way took the views written so far with it — the publish began
            // again on a new lease, over and over on a loaded machine.
            if renewed.elapsed() >= self.lease_time / 3 {
                self.keep_alive().await;
                renewed = Instant::now();
                if self.lease != Some(lease) {
                    return Ok(());
                }
            }
            self.etcd.write_batch(chunk, &[], Some(lease)).await?;
            self.writes.fetch_add(1, Ordering::Relaxed);
            for ((key, _), view) in chunk.iter().zip(views) {
                self.published
                    .entry(view.set.clone())
                    .or_default()
                    .insert(view.server, (key.clone(), (*view).clone()));
            }
        }
        for chunk in gone.chunks(BATCH) {
            let keys: Vec<String> = chunk.iter().map(|(_, _, key)| key.clone()).collect();
            self.etcd.write_batch(&[], &keys, None).await?;
            self.writes.fetch_add(1, Ordering::Relaxed);
            for (set, ip, _) in chunk {
                if let Some(servers) = self.published.get_mut(set) {
                    servers.remove(ip);
                    if servers.is_empty() {
                        self.published.remove(set);
                    }
                }
            }
        }
        self.pending = false;
        self.healthy();
        Ok(())
    }

    /// Creates the election key if it is absent; whoever holds it leads.
    async fn campaign(&mut self) {
        let Some(lease) = self.lease else {
            return;
        };
        let key = views::leader_key(&self.prefix);
        let outcome = self
            .etcd
            .put_if(
                &Compare::Absent(key.clone()),
                &key,
                self.me.as_bytes(),
                Some(lease),
            )
            .await;
        match outcome {
            Ok(TxnOutcome::Written { revision }) => {
                self.writes.fetch_add(1, Ordering::Relaxed);
                self.fence.lead(revision);
                self.set_leading(true).await;
            }
            Ok(TxnOutcome::Lost { current }) => {
                if let Some(kv) = current {
                    // Our own key from before (the same lease): we still lead.
                    let ours = kv.lease == lease && kv.value == self.me.as_bytes();
                    if ours {
                        self.fence.lead(kv.create_revision);
                    }
                    self.keys.insert(kv.key.clone(), kv);
                    self.set_leading(ours).await;
                }
            }
            Err(e) => self.unhealthy(&e),
        }
    }

    async fn set_leading(&mut self, leading: bool) {
        if !leading {
            self.fence.step_down();
        }
        if leading != self.leading {
            self.leading = leading;
            let _ = self.news.send(News::Leadership(leading)).await;
        }
    }

    fn healthy(&mut self) {
        if !self.health.reachable {
            self.resync = self.health.since.is_some();
            self.health = EtcdHealth {
                reachable: true,
                error: None,
                since: Some(SystemTime::now()),
            };
        }
    }

    fn unhealthy(&mut self, e: &EtcdError) {
        let text = e.to_string();
        if self.health.reachable || self.health.since.is_none() {
            self.health.since = Some(SystemTime::now());
        }
        self.health.reachable = false;
        self.health.error = Some(text);
    }

    /// Tells the loop what changed: the peers' views, the status.
    async fn report(&mut self) {
        let peers = Arc::new(self.peer_views());
        if self.last_peers.as_ref() != Some(&peers) {
            self.last_peers = Some(peers.clone());
            let _ = self.news.send(News::Peers(peers)).await;
        }
        let status = self.status();
        if self.last_status.as_ref() != Some(&status) {
            self.last_status = Some(status.clone());
            let _ = self.news.send(News::Status(Box::new(status))).await;
        }
    }

    /// The other instances' live views. While etcd cannot be reached the last ones read
    /// stand: this instance's own view alone must not decide (and it cannot lead then).
    fn peer_views(&self) -> PeerViews {
        let mut peers = PeerViews::default();
        for kv in self.keys.values() {
            let ClusterKey::View {
                instance,
                set,
                server,
            } = views::parse_key(&self.prefix, &kv.key)
            else {
                continue;
            };
            if instance == self.me {
                continue;
            }
            let (Ok(server), Ok(view)) = (
                server.parse::<IpAddr>(),
                serde_json::from_slice::<PublishedView>(&kv.value),
            ) else {
                continue;
            };
            let seen = match view.seen.as_str() {
                "up" => Seen::Up,
                "down" => Seen::Down,
                _ => Seen::Unknown,
            };
            peers
                .views
                .entry((set, server))
                .or_default()
                .push(InstanceView { instance, seen });
        }
        peers
    }

    fn status(&mut self) -> ClusterStatus {
        let leader_key = views::leader_key(&self.prefix);
        let leader = self
            .keys
            .get(&leader_key)
            .map(|kv| String::from_utf8_lossy(&kv.value).into_owned());
        match (&leader, &self.leader_since) {
            (Some(name), Some((known, _))) if name == known => {}
            (Some(name), _) => self.leader_since = Some((name.clone(), SystemTime::now())),
            (None, _) => self.leader_since = None,
        }
        let mut live = Vec::new();
        for kv in self.keys.values() {
            if let ClusterKey::Instance(name) = views::parse_key(&self.prefix, &kv.key) {
                let at = serde_json::from_slice::<Heartbeat>(&kv.value)
                    .ok()
                    .map(|h| views::from_unix_ms(h.at_ms));
                self.seen_instances.insert(name.clone(), at);
                live.push(name);
            }
        }
        let reachable = self.health.reachable;
        let instances = self
            .seen_instances
            .iter()
            .map(|(name, at)| InstanceStatus {
                name: name.clone(),
                live: reachable && live.contains(name),
                last_heartbeat: *at,
                is_leader: leader.as_ref() == Some(name),
            })
            .collect();
        ClusterStatus {
            cluster: self.section.name.trim().to_string(),
            instance: self.me.clone(),
            quorum: self.section.quorum,
            lease_secs: self.section.lease_secs,
            etcd: self.health.clone(),
            instances,
            leader: leader.clone(),
            leader_since: self.leader_since.as_ref().map(|(_, at)| *at),
            is_leader: self.leading,
            servers: Vec::new(),
            etcd_writes: self.writes.load(Ordering::Relaxed),
        }
    }
}

async fn next_events(
    watcher: &mut Option<Watcher>,
) -> Result<Vec<crate::cluster::WatchEvent>, EtcdError> {
    match watcher {
        Some(w) => w.next().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

//! The loop's side of cluster mode: starts and stops the cluster task (`cluster.rs`) as the
//! settings' cluster section comes, changes or goes, hands it this instance's views (only
//! when a server's status changed: the task writes only what changed), feeds its news to
//! the core, and puts together the snapshot's [`ClusterStatus`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::mpsc;

use super::Shell;
use super::cluster::{ClusterTask, LocalView, News};
use super::dns_runner::DnsRunner;
use crate::engine::ClusterStatus;
use crate::engine::events::Level;
use crate::engine::machine::{Core, Input};
use crate::engine::server_state::ServerStatus;
use crate::model::Cluster;

/// What the view of one server was when last handed to the task.
struct Known {
    status: ServerStatus,
    since: SystemTime,
    last_response: String,
}

pub struct ClusterLink {
    news: mpsc::Sender<News>,
    task: Option<ClusterTask>,
    /// The task's last status (`servers` filled from the core at each snapshot).
    status: Option<ClusterStatus>,
    /// The task's last word on leadership. The snapshot shows it at once (its status comes
    /// later): the notifier reads the role there, and an event of the new leader that it
    /// took for a follower's would never be notified.
    leading: bool,
    /// By set name and server: what the task was last given.
    known: HashMap<String, HashMap<IpAddr, Known>>,
}

impl ClusterLink {
    pub fn new(news: mpsc::Sender<News>) -> ClusterLink {
        ClusterLink {
            news,
            task: None,
            status: None,
            leading: false,
            known: HashMap::new(),
        }
    }

    /// Runs the task for `section` (restarted when it changed, stopped when it is gone);
    /// the DNS runner's fence follows. Returns an error line for the log, if any.
    pub fn follow(&mut self, section: Option<&Cluster>, dns: &mut DnsRunner) -> Option<String> {
        if self.task.as_ref().map(|t| &t.section) == section {
            return None;
        }
        self.task = None;
        self.status = None;
        self.leading = false;
        self.known.clear();
        let Some(section) = section else {
            dns.set_fence(None);
            return None;
        };
        match ClusterTask::start(section.clone(), self.news.clone()) {
            Ok(task) => {
                dns.set_fence(Some(task.fence.clone()));
                self.task = Some(task);
                None
            }
            Err(e) => {
                // No client: this instance never leads, so it never writes DNS.
                dns.set_fence(Some(crate::cluster::Fence::closed()));
                Some(format!("cluster mode cannot start: {e}"))
            }
        }
    }

    /// Hands the task this instance's views when any server's status changed.
    pub fn publish_views(&mut self, core: &Core) {
        let Some(task) = &self.task else {
            return;
        };
        let now = SystemTime::now();
        let mut changed = false;
        let mut count = 0;
        for (set, server, state) in core.local_views() {
            count += 1;
            let of_set = match self.known.get_mut(set) {
                Some(of_set) => of_set,
                None => self.known.entry(set.to_string()).or_default(),
            };
            match of_set.get_mut(&server) {
                Some(known) if known.status == state.status => {}
                Some(known) => {
                    *known = Known {
                        status: state.status,
                        since: now,
                        last_response: state.last_response.clone(),
                    };
                    changed = true;
                }
                None => {
                    of_set.insert(
                        server,
                        Known {
                            status: state.status,
                            since: now,
                            last_response: state.last_response.clone(),
                        },
                    );
                    changed = true;
                }
            }
        }
        let known: usize = self.known.values().map(HashMap::len).sum();
        if known != count {
            // Servers went away: forget them (the task deletes their keys).
            let current: HashMap<&str, Vec<IpAddr>> =
                core.local_views()
                    .fold(HashMap::new(), |mut m, (set, ip, _)| {
                        m.entry(set).or_default().push(ip);
                        m
                    });
            self.known.retain(|set, servers| {
                let keep = current.get(set.as_str());
                servers.retain(|ip, _| keep.is_some_and(|k| k.contains(ip)));
                !servers.is_empty()
            });
            changed = true;
        }
        if !changed {
            return;
        }
        let mut views = Vec::with_capacity(count);
        for (set, servers) in &self.known {
            for (ip, known) in servers {
                views.push(LocalView {
                    set: set.clone(),
                    server: *ip,
                    seen: known.status.into(),
                    status: known.status.label().to_string(),
                    since: known.since,
                    last_response: known.last_response.clone(),
                });
            }
        }
        views.sort_by(|a, b| (&a.set, a.server).cmp(&(&b.set, b.server)));
        task.publish(views);
    }

    /// The snapshot's cluster part: the task's status with the core's server views.
    pub fn status(&self, core: &Core) -> Option<Arc<ClusterStatus>> {
        let task = self.task.as_ref()?;
        // Before the task's first word: not the leader (so nothing is notified), etcd not
        // heard from yet.
        let base = self.status.clone().unwrap_or_else(|| ClusterStatus {
            cluster: task.section.name.trim().to_string(),
            instance: task.section.instance.trim().to_string(),
            quorum: task.section.quorum,
            lease_secs: task.section.lease_secs,
            etcd: Default::default(),
            instances: Vec::new(),
            leader: None,
            leader_since: None,
            is_leader: false,
            servers: Vec::new(),
            etcd_writes: 0,
        });
        Some(Arc::new(ClusterStatus {
            servers: core.cluster_servers(),
            is_leader: self.leading,
            ..base
        }))
    }
}

impl Shell {
    /// News of the cluster task: into the core, or into the next snapshot.
    pub(super) fn on_cluster(&mut self, news: News) {
        match news {
            News::Peers(peers) => self.step(Input::PeerViews(peers)),
            News::Leadership(leader) => {
                // Published before the core hears it, so that no event of the new role
                // reaches the notifier ahead of a snapshot that shows the role.
                self.cluster.leading = leader;
                self.publish(true);
                self.step(Input::Leadership(leader));
            }
            News::Status(status) => {
                let health = |s: &ClusterStatus| {
                    (!s.etcd.reachable).then(|| s.etcd.error.clone().unwrap_or_default())
                };
                let was = self.cluster.status.as_ref().map(health);
                let now = health(&status);
                self.cluster.status = Some(*status);
                match (was, now) {
                    (None, None) => self.log(Level::Info, "etcd reachable".into()),
                    (Some(was), now) if was == now => {}
                    // The core raises (or clears) the etcd problem and logs it.
                    (_, now) => self.step(Input::EtcdHealth(now)),
                }
                self.output.touch();
            }
        }
    }
}

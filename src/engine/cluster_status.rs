//! What the snapshot says of cluster mode (issue 13): this instance, etcd's health, the
//! instances seen, the leader and each server's cluster view. Filled by the engine's
//! cluster task and core; `None` in the snapshot when the instance runs alone.
//!
//! Serializable like the rest of the snapshot: the attached window, the API and `/metrics`
//! read it as it is.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::machine::quorum::Verdict;
use crate::model::Quorum;

/// The cluster as this instance sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterStatus {
    /// The cluster's name (its keys lie under `/standby/<name>/`).
    pub cluster: String,
    /// This instance's name.
    pub instance: String,
    /// The quorum rule in force.
    pub quorum: Quorum,
    /// The lease time in force, in seconds.
    pub lease_secs: u32,
    pub etcd: EtcdHealth,
    /// The instances that published a view (this one included), by name. An instance
    /// whose lease expired drops out of etcd; it stays here as not `live` until restart,
    /// so the window can say when it was last seen.
    pub instances: Vec<InstanceStatus>,
    /// The leader's name, if etcd holds one.
    pub leader: Option<String>,
    /// Since when that instance leads (as this instance first saw it).
    pub leader_since: Option<SystemTime>,
    /// This instance is the leader: it alone writes DNS and sends notifications.
    pub is_leader: bool,
    /// Each server's cluster view, in the order of the sets and their servers.
    pub servers: Vec<ServerClusterView>,
    /// Writes this instance made to etcd since it started (views, heartbeats, the
    /// election; a transaction of many keys counts once; lease keep-alives do not).
    #[serde(default)]
    pub etcd_writes: u64,
}

/// Whether etcd answers this instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcdHealth {
    pub reachable: bool,
    /// Why not (the last error), while it is not.
    pub error: Option<String>,
    /// Since when it is (or is not) reachable; `None` before the first answer or error.
    pub since: Option<SystemTime>,
}

/// One instance of the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceStatus {
    pub name: String,
    /// Its lease is alive: its views are in etcd and count in the quorum.
    pub live: bool,
    /// When its last view or heartbeat reached etcd (its own wall clock, as published).
    pub last_heartbeat: Option<SystemTime>,
    pub is_leader: bool,
}

/// One server as the cluster sees it: "failed at 2 of 3: berlin, paris".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerClusterView {
    pub set: String,
    /// The server's public address, as in `ServerView::public_ip`.
    pub server: String,
    /// What the decision takes the server for.
    pub verdict: Verdict,
    /// The live instances that see it failed / functional, by name (sorted).
    pub down_at: Vec<String>,
    pub up_at: Vec<String>,
    /// How many votes a change needs now.
    pub needed: usize,
}

impl ServerClusterView {
    /// The view as a row shows it: "failed at 2 of 3: berlin, paris", "OK at 3 of 3".
    pub fn describe(&self) -> String {
        let voting = self.down_at.len() + self.up_at.len();
        if voting == 0 {
            "no instance has a view yet".into()
        } else if self.down_at.is_empty() {
            format!("OK at {voting} of {voting}")
        } else {
            format!(
                "failed at {} of {voting}: {}",
                self.down_at.len(),
                self.down_at.join(", ")
            )
        }
    }
}

impl ClusterStatus {
    /// The cluster view of one server, if the cluster has one.
    pub fn server(&self, set: &str, server: &str) -> Option<&ServerClusterView> {
        self.servers
            .iter()
            .find(|v| v.set == set && v.server == server)
    }
}

/// What the window and the API say without a cluster view.
pub fn no_view_note(snapshot: &super::Snapshot) -> String {
    use crate::cluster::shared_settings::Reach;
    let shared = &snapshot.shared_settings;
    if snapshot.settings.cluster.is_none() {
        return "This instance runs alone (no cluster section: Options > Cluster).".into();
    }
    match &shared.etcd {
        Reach::Unreachable { why, .. } => format!(
            "etcd is unreachable ({why}): no cluster view. This instance runs on its local \
             copy of the shared settings."
        ),
        Reach::NotYet => "etcd has not answered yet: no cluster view.".into(),
        // The cluster task publishes the first view once it holds its lease.
        Reach::Reachable => "etcd answers; the cluster view follows once this instance holds \
             its lease."
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_view_reads_as_the_row_shows_it() {
        let mut view = ServerClusterView {
            set: "web".into(),
            server: "127.0.0.1".into(),
            verdict: Verdict::Down,
            down_at: vec!["berlin".into(), "paris".into()],
            up_at: vec!["london".into()],
            needed: 2,
        };
        assert_eq!(view.describe(), "failed at 2 of 3: berlin, paris");
        view.down_at.clear();
        assert_eq!(view.describe(), "OK at 1 of 1");
        view.up_at.clear();
        assert_eq!(view.describe(), "no instance has a view yet");
    }
}

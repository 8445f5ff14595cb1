//! Cluster mode in the API (issue 13 item 6): `GET /cluster` (the instances, the leader,
//! lease ages, etcd's health, each server's cluster view, the shared settings) and the
//! cluster's families of `/metrics`. Both read the snapshot only; alone (no cluster section)
//! `/cluster` says so and the metrics say 0.

use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::ApiState;
use super::metrics::{family, label};
use crate::cluster::shared_settings::{Reach, SharedStatus};
use crate::engine::Snapshot;
use crate::engine::cluster_status::ClusterStatus;
use crate::engine::machine::quorum::Verdict;
use crate::store::history::iso_utc;

/// `GET /cluster`.
#[derive(Serialize)]
pub struct ClusterDto {
    /// `"cluster"` or `"alone"`.
    pub mode: &'static str,
    /// What the window says when there is no cluster view (alone, or etcd not read yet).
    pub note: Option<String>,
    pub cluster: Option<String>,
    pub instance: Option<String>,
    pub quorum: Option<String>,
    pub lease_secs: Option<u32>,
    pub etcd: Option<EtcdDto>,
    pub leader: Option<String>,
    pub leader_since: Option<String>,
    pub is_leader: bool,
    pub instances: Vec<InstanceDto>,
    pub servers: Vec<ServerViewDto>,
    pub shared_settings: SharedDto,
}

#[derive(Serialize)]
pub struct EtcdDto {
    pub reachable: bool,
    pub error: Option<String>,
    pub since: Option<String>,
}

#[derive(Serialize)]
pub struct InstanceDto {
    pub name: String,
    pub live: bool,
    pub is_leader: bool,
    pub last_heartbeat: Option<String>,
    /// Seconds since its last heartbeat reached etcd (its lease's age).
    pub lease_age_secs: Option<f64>,
}

#[derive(Serialize)]
pub struct ServerViewDto {
    pub set: String,
    pub server: String,
    /// `up`, `down` or `undecided`.
    pub verdict: &'static str,
    pub down_at: Vec<String>,
    pub up_at: Vec<String>,
    pub needed: usize,
    /// "failed at 2 of 3: berlin, paris", as the window's row shows it.
    pub text: String,
}

#[derive(Serialize)]
pub struct SharedDto {
    pub enabled: bool,
    pub key: String,
    /// The etcd revision of the shared settings in force (0: the local copy only).
    pub revision: i64,
    /// `not_yet`, `reachable` or `unreachable`.
    pub etcd: &'static str,
    pub unreachable_since: Option<String>,
    pub error: Option<String>,
    pub refused: Option<String>,
}

fn verdict(v: Verdict) -> &'static str {
    match v {
        Verdict::Up => "up",
        Verdict::Down => "down",
        Verdict::Undecided => "undecided",
    }
}

fn age(now: SystemTime, then: Option<SystemTime>) -> Option<f64> {
    then.map(|t| {
        now.duration_since(t)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    })
}

impl From<&SharedStatus> for SharedDto {
    fn from(s: &SharedStatus) -> Self {
        let (etcd, since, error) = match &s.etcd {
            Reach::NotYet => ("not_yet", None, None),
            Reach::Reachable => ("reachable", None, None),
            Reach::Unreachable { since, why } => {
                ("unreachable", Some(iso_utc(*since)), Some(why.clone()))
            }
        };
        SharedDto {
            enabled: s.enabled,
            key: s.key.clone(),
            revision: s.revision,
            etcd,
            unreachable_since: since,
            error,
            refused: s.refused.clone(),
        }
    }
}

/// What the window and the API say without a cluster view.
pub fn no_view_note(snapshot: &Snapshot) -> String {
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
        Reach::Reachable => "etcd answers, but this version does not publish or read the \
             instances' views yet: no cluster view."
            .into(),
    }
}

impl ClusterDto {
    pub fn of(snapshot: &Snapshot, now: SystemTime) -> ClusterDto {
        let shared_settings = SharedDto::from(&snapshot.shared_settings);
        let mode = if snapshot.settings.cluster.is_some() {
            "cluster"
        } else {
            "alone"
        };
        let Some(c) = snapshot.cluster.as_deref() else {
            let section = snapshot.settings.cluster.as_ref();
            return ClusterDto {
                mode,
                note: Some(no_view_note(snapshot)),
                cluster: section.map(|c| c.name.clone()),
                instance: section.map(|c| c.instance.clone()),
                quorum: section.map(|c| c.quorum.describe()),
                lease_secs: section.map(|c| c.lease_secs),
                etcd: None,
                leader: None,
                leader_since: None,
                is_leader: false,
                instances: Vec::new(),
                servers: Vec::new(),
                shared_settings,
            };
        };
        ClusterDto {
            mode,
            note: None,
            cluster: Some(c.cluster.clone()),
            instance: Some(c.instance.clone()),
            quorum: Some(c.quorum.describe()),
            lease_secs: Some(c.lease_secs),
            etcd: Some(EtcdDto {
                reachable: c.etcd.reachable,
                error: c.etcd.error.clone(),
                since: c.etcd.since.map(iso_utc),
            }),
            leader: c.leader.clone(),
            leader_since: c.leader_since.map(iso_utc),
            is_leader: c.is_leader,
            instances: c
                .instances
                .iter()
                .map(|i| InstanceDto {
                    name: i.name.clone(),
                    live: i.live,
                    is_leader: i.is_leader,
                    last_heartbeat: i.last_heartbeat.map(iso_utc),
                    lease_age_secs: age(now, i.last_heartbeat),
                })
                .collect(),
            servers: c
                .servers
                .iter()
                .map(|v| ServerViewDto {
                    set: v.set.clone(),
                    server: v.server.clone(),
                    verdict: verdict(v.verdict),
                    down_at: v.down_at.clone(),
                    up_at: v.up_at.clone(),
                    needed: v.needed,
                    text: v.describe(),
                })
                .collect(),
            shared_settings,
        }
    }
}

pub async fn get_cluster(State(state): State<ApiState>) -> Response {
    let snapshot = state.client.snapshot();
    axum::Json(ClusterDto::of(&snapshot, SystemTime::now())).into_response()
}

/// The cluster's families of `/metrics`. Every family is always there (0 alone), so that
/// no series appears when cluster mode is switched on; per-instance and per-server series
/// exist while the cluster view lists them.
pub fn metrics(out: &mut String, s: &Snapshot, now: SystemTime) {
    let cluster: Option<&ClusterStatus> = s.cluster.as_deref();
    let flag = |b: bool| u8::from(b);
    family(
        out,
        "standby_cluster_mode",
        "gauge",
        "1 when this instance runs as one of a cluster (a cluster section), else 0.",
    );
    let _ = writeln!(
        out,
        "standby_cluster_mode {}",
        flag(s.settings.cluster.is_some())
    );
    family(
        out,
        "standby_cluster_etcd_reachable",
        "gauge",
        "1 while etcd answers this instance (cluster view, or else the shared settings' follower).",
    );
    let reachable = match cluster {
        Some(c) => c.etcd.reachable,
        None => matches!(s.shared_settings.etcd, Reach::Reachable),
    };
    let _ = writeln!(out, "standby_cluster_etcd_reachable {}", flag(reachable));
    family(
        out,
        "standby_cluster_is_leader",
        "gauge",
        "1 while this instance is the cluster's leader (it alone writes DNS).",
    );
    let _ = writeln!(
        out,
        "standby_cluster_is_leader {}",
        flag(cluster.is_some_and(|c| c.is_leader))
    );
    family(
        out,
        "standby_cluster_instances_live",
        "gauge",
        "Instances whose lease is alive (this one included).",
    );
    let live = cluster.map_or(0, |c| c.instances.iter().filter(|i| i.live).count());
    let _ = writeln!(out, "standby_cluster_instances_live {live}");
    family(
        out,
        "standby_cluster_instance_heartbeat_age_seconds",
        "gauge",
        "Seconds since each instance's last heartbeat reached etcd (its lease's age).",
    );
    for i in cluster.map(|c| c.instances.as_slice()).unwrap_or_default() {
        if let Some(age) = age(now, i.last_heartbeat) {
            let _ = writeln!(
                out,
                "standby_cluster_instance_heartbeat_age_seconds{{instance=\"{}\"}} {age}",
                label(&i.name)
            );
        }
    }
    family(
        out,
        "standby_cluster_server_votes",
        "gauge",
        "Live instances that see each server failed (view=\"down\") or functional (view=\"up\").",
    );
    for v in cluster.map(|c| c.servers.as_slice()).unwrap_or_default() {
        let labels = format!("set=\"{}\",server=\"{}\"", label(&v.set), label(&v.server));
        let _ = writeln!(
            out,
            "standby_cluster_server_votes{{{labels},view=\"down\"}} {}",
            v.down_at.len()
        );
        let _ = writeln!(
            out,
            "standby_cluster_server_votes{{{labels},view=\"up\"}} {}",
            v.up_at.len()
        );
    }
    family(
        out,
        "standby_cluster_shared_settings_revision",
        "gauge",
        "The etcd revision of the shared settings in force (0: the local copy only).",
    );
    let _ = writeln!(
        out,
        "standby_cluster_shared_settings_revision {}",
        s.shared_settings.revision
    );
}

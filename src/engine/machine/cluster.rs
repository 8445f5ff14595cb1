//! Cluster mode in the pure core (issue 13 items 4, 5): the other instances' views arrive
//! as data ([`Input::PeerViews`](super::Input::PeerViews)), each server's verdict comes from
//! `quorum.rs` over them and this instance's own status, and DNS runs only while this
//! instance leads ([`Input::Leadership`](super::Input::Leadership)). No etcd here: the
//! shell's cluster task reads and writes etcd and feeds what it saw.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::Admin;
use super::quorum::{self, InstanceView, Verdict};
use super::{Core, DnsSync, Effect, Level, Now, log};
use crate::engine::cluster_status::ServerClusterView;
use crate::engine::events::{Event, EventDetails};
use crate::engine::problems::{CLUSTER_ETCD, ProblemSubject};
use crate::engine::server_state::Transition;
use crate::model::EventKind;

/// The live views of the *other* instances, by set name and server public address, as the
/// cluster task last read them from etcd (an instance whose lease expired has none).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerViews {
    pub views: HashMap<(String, IpAddr), Vec<InstanceView>>,
}

/// One server's quorum outcome, as the core keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerQuorum {
    pub verdict: Verdict,
    pub down_at: Vec<String>,
    pub up_at: Vec<String>,
    pub needed: usize,
    /// "cannot reach X; 2 of 3 instances can": this instance alone sees it failed.
    pub own_problem: Option<String>,
}

/// The core's cluster state: the peers' views and whether this instance leads.
#[derive(Debug, Default)]
pub struct CoreCluster {
    pub peers: Arc<PeerViews>,
    pub leader: bool,
}

impl Core {
    /// Cluster mode is on (the settings have a cluster section).
    pub fn in_cluster(&self) -> bool {
        self.settings.cluster.is_some()
    }

    /// Whether this instance may run DNS updates now: alone always, in a cluster only
    /// while it leads.
    pub fn may_write_dns(&self) -> bool {
        !self.in_cluster() || self.cluster.leader
    }

    /// New views of the other instances: every server's verdict is decided again.
    pub(super) fn on_peer_views(&mut self, peers: Arc<PeerViews>, now: Now, out: &mut Vec<Effect>) {
        self.cluster.peers = peers;
        self.requorum_all(now, out);
    }

    /// This instance became (or stopped being) the leader. A new leader re-checks every
    /// DNS pair: what the old one did last is not known here (check-then-update makes
    /// the re-check safe); a former leader drops the runs in flight (their writes would
    /// be refused by the fence anyway).
    pub(super) fn on_leadership(&mut self, leader: bool, now: Now, out: &mut Vec<Effect>) {
        if leader == self.cluster.leader {
            return;
        }
        self.cluster.leader = leader;
        for i in 0..self.sets.len() {
            if self.is_guard(i) {
                continue;
            }
            let set = &mut self.sets[i];
            if leader {
                DnsSync::recheck_now(set, now.at);
            } else {
                DnsSync::cancel_all(set, out);
            }
            set.dirty = true;
        }
        let text = if leader {
            "this instance leads the cluster: it writes DNS and notifies; every DNS pair is checked again"
        } else {
            "this instance does not lead the cluster: it writes no DNS"
        };
        log(out, Level::Info, text.into());
    }

    /// etcd's health as the cluster task sees it: while etcd does not work this instance
    /// shows the problem [`CLUSTER_ETCD`] (every instance does: none can lead or publish);
    /// it clears, logged, when etcd answers again.
    pub(super) fn on_etcd_health(
        &mut self,
        error: Option<String>,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        if !self.in_cluster() {
            return;
        }
        match error {
            Some(error) => {
                let text = format!(
                    "{error}: this instance cannot lead, and its views reach no other \
                     instance; no instance writes DNS until etcd works again"
                );
                if self.problems.raise_fixed(
                    "",
                    ProblemSubject::Cluster,
                    CLUSTER_ETCD,
                    &text,
                    now.wall,
                ) {
                    log(out, Level::Error, text);
                }
            }
            None => {
                if self.problems.clear("", &ProblemSubject::Cluster) {
                    log(out, Level::Info, "etcd works again".into());
                }
            }
        }
    }

    /// Decides every server again (new peer views, new settings).
    pub(super) fn requorum_all(&mut self, now: Now, out: &mut Vec<Effect>) {
        for set in 0..self.sets.len() {
            if self.is_guard(set) {
                continue;
            }
            let mut changed = false;
            for server in 0..self.sets[set].servers.len() {
                changed |= self.requorum(set, server, now, out);
                self.note_own_problem(set, server, now);
            }
            if changed {
                self.after_change(set, now, out);
            }
        }
    }

    /// Decides one server from the peers' views and this instance's own status; returns
    /// whether the verdict (what the address decision sees) changed. A verdict that turns
    /// is the server's failed / recovered event (`quorum::transition`): in a cluster that
    /// is what is notified, never one instance's own view.
    pub(super) fn requorum(
        &mut self,
        set: usize,
        server: usize,
        now: Now,
        out: &mut Vec<Effect>,
    ) -> bool {
        let Some(cluster) = self.settings.cluster.as_ref() else {
            let s = &mut self.sets[set].servers[server];
            return s.cluster.take().is_some();
        };
        let me = cluster.instance.trim();
        let s = &self.sets[set];
        let srv = &s.servers[server];
        let key = (s.config.name.clone(), srv.public_ip);
        let mut views: Vec<InstanceView> = self
            .cluster
            .peers
            .views
            .get(&key)
            .map(|v| v.iter().filter(|v| v.instance != me).cloned().collect())
            .unwrap_or_default();
        views.push(InstanceView {
            instance: me.to_string(),
            seen: srv.state.status.into(),
        });
        let previous = srv.cluster.as_ref().map(|q| q.verdict).unwrap_or_default();
        let outcome = quorum::decide(cluster.quorum, previous, &views, me, &s.subject(server));
        if let Some(transition) = quorum::transition(previous, outcome.verdict) {
            let view = match transition {
                Transition::Failed => outcome.describe(),
                Transition::Recovered => {
                    let up = outcome.voting - outcome.down_at.len();
                    format!("OK at {up} of {}", outcome.voting)
                }
            };
            self.on_verdict(set, server, transition, &view, now, out);
        }
        let mut up_at: Vec<String> = views
            .iter()
            .filter(|v| v.seen == quorum::Seen::Up)
            .map(|v| v.instance.clone())
            .collect();
        up_at.sort();
        let next = ServerQuorum {
            verdict: outcome.verdict,
            down_at: outcome.down_at,
            up_at,
            needed: outcome.needed,
            own_problem: outcome.own_problem,
        };
        let set = &mut self.sets[set];
        let srv = &mut set.servers[server];
        let changed = srv.cluster.as_ref().map(|q| q.verdict) != Some(next.verdict);
        if srv.cluster.as_deref() != Some(&next) {
            srv.cluster = Some(Box::new(next));
            set.dirty = true;
        }
        changed
    }

    /// The event of a verdict that turned: logged, and notified unless the server is in
    /// maintenance (then kept in the event history only, as alone).
    fn on_verdict(
        &mut self,
        set: usize,
        server: usize,
        transition: Transition,
        view: &str,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let s = &self.sets[set];
        let sv = &s.servers[server];
        let name = s.config.name.clone();
        let subject = s.subject(server);
        let (kind, level, verb, status) = match transition {
            Transition::Failed => (EventKind::ServerFailed, Level::Warning, "failed", "failed"),
            Transition::Recovered => (EventKind::ServerRecovered, Level::Info, "recovered", "OK"),
        };
        let details = EventDetails {
            server_ip: sv.public_ip.to_string(),
            server_name: sv.config.display_name().to_string(),
            status: status.to_string(),
            response: view.to_string(),
            problem: if transition == Transition::Failed {
                view.to_string()
            } else {
                String::new()
            },
            problem_code: sv.state.last_failure_kind.map(|f| f.code()),
            ..EventDetails::default()
        };
        let mut text = format!("server {subject} of {name:?} {verb} for the cluster: {view}");
        let event = |text: String| Event {
            time: now.wall,
            kind,
            set: name.clone(),
            subject: subject.clone(),
            text,
            details,
        };
        if matches!(sv.admin, Some(Admin::Maintenance(_))) {
            text.push_str(" (in maintenance: not notified)");
            log(out, Level::Info, text.clone());
            out.push(Effect::Recorded(event(text)));
            return;
        }
        log(out, level, text.clone());
        out.push(Effect::Event(event(text)));
    }

    /// While this instance alone sees the server failed, its problem says so ("cannot
    /// reach X; 2 of 3 instances can") instead of the plain failure.
    pub(super) fn note_own_problem(&mut self, set: usize, server: usize, now: Now) {
        let s = &self.sets[set];
        let srv = &s.servers[server];
        let Some(text) = srv.cluster.as_ref().and_then(|q| q.own_problem.as_ref()) else {
            return;
        };
        let subject = ProblemSubject::Server(srv.public_ip);
        let name = &s.config.name;
        if let Some(code) = self.problems.get(name, &subject).map(|p| p.code) {
            self.problems
                .raise(name, subject, || s.subject(server), code, text, now.wall);
        }
    }

    /// Each server's cluster view, for the snapshot.
    pub fn cluster_servers(&self) -> Vec<ServerClusterView> {
        let mut views = Vec::new();
        for (i, set) in self.sets.iter().enumerate() {
            if self.is_guard(i) {
                continue;
            }
            for s in &set.servers {
                if let Some(q) = &s.cluster {
                    views.push(ServerClusterView {
                        set: set.config.name.clone(),
                        server: s.public_ip.to_string(),
                        verdict: q.verdict,
                        down_at: q.down_at.clone(),
                        up_at: q.up_at.clone(),
                        needed: q.needed,
                    });
                }
            }
        }
        views
    }
}

impl Core {
    /// This instance's own view of every server (the guard's references excepted): set
    /// name, public address, state.
    pub fn local_views(
        &self,
    ) -> impl Iterator<Item = (&str, IpAddr, &crate::engine::server_state::ServerState)> {
        self.sets
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.is_guard(*i))
            .flat_map(|(_, set)| {
                set.servers
                    .iter()
                    .map(move |s| (set.config.name.as_str(), s.public_ip, &s.state))
            })
    }
}

#[cfg(test)]
#[path = "cluster_tests.rs"]
mod tests;

//! Glue between the engine and the notification dispatcher: engine events become
//! [`Notice`]s with the tag values the engine knows, and the dispatcher's reports come
//! back to the engine loop as commands (3xx problems, log lines). From the snapshots it
//! also tells the dispatcher the engine's current problems (for reminders) and each
//! server and DNS pair that works at its first check after the start (the engine has no
//! event for that, but a failure announced before a restart then ends). In a cluster the
//! leader's dispatcher gets, instead of a server's first check, its quorum verdict when it
//! starts to lead and at the first verdict of each server since ([`Input::Verdict`]): the
//! leader that decided it may have died before announcing it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::{broadcast, mpsc, watch};

use super::command::Inbound;
use super::dns_sync::PairState;
use super::events::Event;
use super::server_state::ServerStatus;
use super::shared_outbox::RoleFollower;
use super::snapshot::{SetStatus, Snapshot};
use crate::model::failure::{Area, ProblemCode};
use crate::model::tags::TagValues;
use crate::model::{EventKind, Settings};
use crate::notify::dispatcher::TestRequest;
use crate::notify::{Dispatcher, Input, Notice, NotifyConfig, Report};

/// Notices waiting for the dispatcher; the engine loop never waits on them (a forwarding
/// task does).
const NOTICE_QUEUE: usize = 1024;

/// The sending side the engine loop keeps: test requests, forwarded from its inbound
/// channel so that a slow server never holds up the loop.
pub(super) type TestSender = mpsc::Sender<TestRequest>;

/// Starts the dispatcher and its two forwarding tasks on the current runtime.
pub(super) fn start(
    config: NotifyConfig,
    events: broadcast::Receiver<Event>,
    tests: mpsc::Receiver<TestRequest>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    inbound: mpsc::Sender<Inbound>,
) {
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let settings = snapshot.clone();
    let dispatcher = match Dispatcher::new(
        config,
        move || settings.borrow().settings.clone(),
        reports_tx.clone(),
    ) {
        Ok(dispatcher) => dispatcher,
        Err(e) => {
            tracing::error!("notifications are off: {e}");
            return;
        }
    };
    let (notices_tx, notices) = mpsc::channel(NOTICE_QUEUE);
    // In a cluster the dispatcher's role is known before it sends what the last run left:
    // a follower must not.
    let mut roles = RoleFollower::default();
    let role = {
        let current = snapshot.borrow();
        let leading = current.cluster.as_ref().is_some_and(|c| c.is_leader);
        roles.follow(current.settings.cluster.as_ref(), leading)
    };
    let dispatcher = match role {
        Some(role) => dispatcher.with_role(role),
        None => dispatcher,
    };
    tokio::spawn(dispatcher.run(notices, tests));
    tokio::spawn(forward_events(
        events, snapshot, notices_tx, reports_tx, roles,
    ));
    tokio::spawn(async move {
        while let Some(report) = reports.recv().await {
            if inbound
                .send(Inbound::NotificationReport(report))
                .await
                .is_err()
            {
                break;
            }
        }
    });
}

async fn forward_events(
    mut events: broadcast::Receiver<Event>,
    mut snapshot: watch::Receiver<Arc<Snapshot>>,
    notices: mpsc::Sender<Input>,
    reports: mpsc::UnboundedSender<Report>,
    mut roles: RoleFollower,
) {
    let mut checks = FirstChecks::default();
    loop {
        tokio::select! {
            // Events first: those of a change are sent before the snapshot that shows it.
            biased;
            event = events.recv() => match event {
                Ok(event) => {
                    checks.seen(&event.set, &event.subject);
                    // In a cluster only the leader notifies (issue 13 item 5).
                    let follower = snapshot
                        .borrow()
                        .cluster
                        .as_ref()
                        .is_some_and(|c| !c.is_leader);
                    if follower {
                        continue;
                    }
                    // The dispatcher learns it leads before it gets the leader's events.
                    let role = {
                        let current = snapshot.borrow();
                        roles.follow(current.settings.cluster.as_ref(), true)
                    };
                    if let Some(role) = role
                        && notices.send(Input::Cluster(role)).await.is_err()
                    {
                        break;
                    }
                    let settings = snapshot.borrow().settings.clone();
                    if notices.send(notice(&event, &settings).into()).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Counted and told, never silently lost.
                    let _ = reports.send(Report::Failed {
                        set: String::new(),
                        subject: "notification queue".into(),
                        code: ProblemCode::of_area(Area::Notification).get(),
                        text: format!("{missed} events came too fast and were not notified"),
                        dropped: true,
                    });
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            changed = snapshot.changed() => {
                if changed.is_err() {
                    break;
                }
                let current = snapshot.borrow_and_update().clone();
                let leading = current.cluster.as_ref().is_some_and(|c| c.is_leader);
                if let Some(role) = roles.follow(current.settings.cluster.as_ref(), leading)
                    && notices.send(Input::Cluster(role)).await.is_err()
                {
                    return;
                }
                for input in checks.inputs(&current) {
                    if notices.send(input).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Which servers and DNS pairs have had a conclusive check since the start, and the last
/// problems told.
#[derive(Default)]
struct FirstChecks {
    seen: HashSet<(String, String)>,
    /// The set views last looked at: an unchanged set (the same `Arc`) is skipped.
    sets: HashMap<String, Arc<SetStatus>>,
    problems: Option<Arc<Vec<super::problems::Problem>>>,
    /// Cluster mode: the servers whose verdict the dispatcher got since this instance
    /// leads (set → addresses), and the cluster view last looked at.
    verdicts: HashMap<String, HashSet<String>>,
    cluster: Option<Arc<super::ClusterStatus>>,
}

/// A server's subject as the engine's events name it.
fn server_subject(server: &super::snapshot::ServerView) -> String {
    if server.name == server.public_ip {
        server.public_ip.clone()
    } else {
        format!("{} ({})", server.name, server.public_ip)
    }
}

impl FirstChecks {
    fn seen(&mut self, set: &str, subject: &str) {
        self.seen.insert((set.to_string(), subject.to_string()));
    }

    fn inputs(&mut self, snapshot: &Snapshot) -> Vec<Input> {
        let mut inputs = Vec::new();
        if !self
            .problems
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &snapshot.problems))
        {
            self.problems = Some(snapshot.problems.clone());
            let current = snapshot
                .problems
                .iter()
                .map(|p| (p.set.clone(), p.subject.clone()))
                .collect();
            inputs.push(Input::Problems(current));
        }
        for set in &snapshot.sets {
            if self
                .sets
                .get(&set.name)
                .is_some_and(|last| Arc::ptr_eq(last, set))
            {
                continue;
            }
            self.sets.insert(set.name.clone(), set.clone());
            let host = set.host_names.first().cloned().unwrap_or_default();
            // In a cluster a server's own first check says nothing: its verdict does.
            let servers = if snapshot.cluster.is_some() {
                &[][..]
            } else {
                &set.servers[..]
            };
            for server in servers {
                let subject = server_subject(server);
                let works = match server.status {
                    ServerStatus::Ok => true,
                    ServerStatus::Failed => false,
                    _ => continue,
                };
                if self.seen.insert((set.name.clone(), subject.clone())) && works {
                    let tags = TagValues::new()
                        .with("SETNAME", set.name.clone())
                        .with("HOST", host.clone())
                        .with("SERVERIP", server.public_ip.clone())
                        .with("SERVERNAME", server.name.clone())
                        .with("STATUS", server.status.label())
                        .with("RESPONSE", server.last_response.clone());
                    inputs.push(Input::FirstCheck(Notice {
                        kind: EventKind::ServerRecovered,
                        set: set.name.clone(),
                        subject,
                        time: SystemTime::now(),
                        tags,
                    }));
                }
            }
            for pair in &set.dns {
                let subject = format!("{} {}", pair.dns_server, pair.host);
                let works = match pair.state {
                    PairState::Matched | PairState::Updated => true,
                    PairState::Failed => false,
                    PairState::Pending => continue,
                };
                if self.seen.insert((set.name.clone(), subject.clone())) && works {
                    let tags = TagValues::new()
                        .with("SETNAME", set.name.clone())
                        .with("HOST", pair.host.clone())
                        .with("DNSSERVER", pair.dns_server.clone())
                        .with("STATUS", pair.state.label())
                        .with("NEWIPS", pair.served.clone().unwrap_or_default());
                    inputs.push(Input::FirstCheck(Notice {
                        kind: EventKind::DnsUpdated,
                        set: set.name.clone(),
                        subject,
                        time: SystemTime::now(),
                        tags,
                    }));
                }
            }
        }
        self.verdict_inputs(snapshot, &mut inputs);
        inputs
    }

    /// While leading a cluster: each server's quorum verdict, once per leadership, as soon
    /// as it is decided (servers in maintenance are not notified, so not checked). Once
    /// every server was checked, a new cluster view costs one look-up per server.
    fn verdict_inputs(&mut self, snapshot: &Snapshot, inputs: &mut Vec<Input>) {
        use super::machine::quorum::Verdict;
        let Some(cluster) = snapshot.cluster.as_ref().filter(|c| c.is_leader) else {
            self.verdicts.clear();
            self.cluster = None;
            return;
        };
        if self
            .cluster
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, cluster))
        {
            return;
        }
        self.cluster = Some(cluster.clone());
        // The servers of a set by address, made at the first server of it to check.
        let mut index: HashMap<&str, (&SetStatus, HashMap<&str, &super::snapshot::ServerView>)> =
            HashMap::new();
        for view in &cluster.servers {
            let (kind, status) = match view.verdict {
                Verdict::Down => (EventKind::ServerFailed, "failed"),
                Verdict::Up => (EventKind::ServerRecovered, "OK"),
                Verdict::Undecided => continue,
            };
            if self
                .verdicts
                .get(&view.set)
                .is_some_and(|done| done.contains(&view.server))
            {
                continue;
            }
            if !index.contains_key(view.set.as_str()) {
                let Some(set) = snapshot.sets.iter().find(|s| s.name == view.set) else {
                    continue;
                };
                let servers = set
                    .servers
                    .iter()
                    .map(|s| (s.public_ip.as_str(), s))
                    .collect();
                index.insert(view.set.as_str(), (set.as_ref(), servers));
            }
            let Some((set, server)) = index
                .get(view.set.as_str())
                .and_then(|(set, servers)| Some((*set, *servers.get(view.server.as_str())?)))
            else {
                continue;
            };
            if server.admin.maintenance_until.is_some() {
                continue;
            }
            self.verdicts
                .entry(view.set.clone())
                .or_default()
                .insert(view.server.clone());
            let text = view.describe();
            let problem = if kind == EventKind::ServerFailed {
                text.clone()
            } else {
                String::new()
            };
            let host = set.host_names.first().cloned().unwrap_or_default();
            let tags = TagValues::new()
                .with("SETNAME", set.name.clone())
                .with("HOST", host)
                .with("SERVERIP", server.public_ip.clone())
                .with("SERVERNAME", server.name.clone())
                .with("STATUS", status)
                .with("RESPONSE", text)
                .with("PROBLEM", problem);
            inputs.push(Input::Verdict(Notice {
                kind,
                set: set.name.clone(),
                subject: server_subject(server),
                time: SystemTime::now(),
                tags,
            }));
        }
    }
}

/// The tag values of an event (SPEC §6) that the engine knows.
pub fn notice(event: &Event, settings: &Settings) -> Notice {
    let host = settings
        .server_sets
        .iter()
        .find(|s| s.name == event.set)
        .map(|s| s.dns.main_host().to_string())
        .unwrap_or_default();
    let d = &event.details;
    let tags = TagValues::new()
        .with("SETNAME", event.set.clone())
        .with("HOST", host)
        .with("SERVERIP", d.server_ip.clone())
        .with("SERVERNAME", d.server_name.clone())
        .with("STATUS", d.status.clone())
        .with("RESPONSE", d.response.clone())
        .with("PROBLEM", d.problem.clone())
        .with(
            "PCODE",
            d.problem_code.map(|c| c.to_string()).unwrap_or_default(),
        )
        .with("DNSSERVER", d.dns_server.clone())
        .with("OLDIPS", d.old_ips.clone())
        .with("NEWIPS", d.new_ips.clone());
    Notice {
        kind: event.kind,
        set: event.set.clone(),
        subject: event.subject.clone(),
        time: event.time,
        tags,
    }
}

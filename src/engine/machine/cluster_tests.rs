//! Cluster mode in the core, on a virtual clock: the peers' views and the leadership come
//! in as inputs, the verdicts, the problem and the DNS runs come out.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::super::quorum::{InstanceView, Seen, Verdict};
use super::super::tests::{Harness, address, set};
use super::*;
use crate::engine::machine::{Effect, Input};
use crate::model::{Cluster, DnsServer, PollFrequency, Settings};

fn clustered() -> Harness {
    let mut web = set(
        "web",
        2,
        PollFrequency {
            retries: 0,
            ..PollFrequency::default()
        },
    );
    web.update_dns.enabled = true;
    web.update_dns.use_default_servers = false;
    web.update_dns.dns_servers = vec![DnsServer {
        address: "192.0.2.53".into(),
        ..DnsServer::default()
    }];
    let mut h = Harness::new(Vec::new());
    let settings = Settings {
        server_sets: vec![web],
        cluster: Some(Cluster {
            instance: "berlin".into(),
            ..Cluster::default()
        }),
        ..Settings::default()
    };
    h.step(Input::Install {
        settings: Arc::new(settings),
        unavailable: BTreeMap::new(),
    });
    h
}

/// Peers' views: for each server, a pattern of paris and london (`U`, `D`).
fn peers(patterns: [&str; 2]) -> Input {
    let mut views = HashMap::new();
    for (server, pattern) in patterns.iter().enumerate() {
        let list = pattern
            .chars()
            .zip(["paris", "london"])
            .map(|(c, instance)| InstanceView {
                instance: instance.into(),
                seen: if c == 'U' { Seen::Up } else { Seen::Down },
            })
            .collect();
        views.insert(("web".to_string(), address(server)), list);
    }
    Input::PeerViews(Arc::new(PeerViews { views }))
}

/// DNS runs started by a tick now (no poll is due: the last round answered them all).
fn dns_runs(h: &mut Harness) -> usize {
    let effects = h.core.step(Input::Tick, h.now());
    effects
        .iter()
        .filter(|e| matches!(e, Effect::StartDns(_)))
        .count()
}

fn verdicts(h: &Harness) -> Vec<Verdict> {
    h.core.sets()[0]
        .servers
        .iter()
        .map(|s| s.cluster.as_ref().map_or(Verdict::Undecided, |q| q.verdict))
        .collect()
}

fn published(h: &Harness) -> Option<Vec<std::net::IpAddr>> {
    h.core.sets()[0].decision.addresses()
}

#[test]
fn a_lone_failure_moves_no_dns_a_quorum_does_and_only_the_leader_writes() {
    let mut h = clustered();
    assert!(h.core.in_cluster() && !h.core.may_write_dns());
    h.step(peers(["UU", "UU"]));
    h.round("++");
    assert_eq!(verdicts(&h), [Verdict::Up, Verdict::Up]);
    assert_eq!(published(&h), Some(vec![address(0)]));
    // A follower starts no DNS run, and wants no tick for one.
    assert_eq!(dns_runs(&mut h), 0);
    h.step(Input::Leadership(true));
    // The new leader checks every pair again.
    assert_eq!(dns_runs(&mut h), 1);

    // This instance alone cannot reach the first server: its verdict stays, DNS does
    // not move, and the problem says who can.
    h.round("-+");
    assert_eq!(h.statuses(0), "FO");
    assert_eq!(verdicts(&h), [Verdict::Up, Verdict::Up]);
    assert_eq!(published(&h), Some(vec![address(0)]));
    let problems = h.core.problems().list();
    let text = &problems.iter().find(|p| p.set == "web").unwrap().text;
    assert!(
        text.contains("cannot reach") && text.contains("2 of 3 instances can"),
        "{text}"
    );
    let views = h.core.cluster_servers();
    assert_eq!(views[0].down_at, ["berlin"]);
    assert_eq!(views[0].up_at, ["london", "paris"]);

    // Paris sees it failed too: 2 of 3, the quorum; the decision moves to the second.
    h.step(peers(["DU", "UU"]));
    assert_eq!(verdicts(&h), [Verdict::Down, Verdict::Up]);
    assert_eq!(published(&h), Some(vec![address(1)]));
    assert_eq!(h.core.cluster_servers()[0].down_at, ["berlin", "paris"]);

    // Leadership lost: no DNS run starts any more.
    h.step(Input::Leadership(false));
    assert!(!h.core.may_write_dns());
    assert_eq!(dns_runs(&mut h), 0);
}

#[test]
fn without_peers_or_before_a_quorum_the_decision_waits() {
    let mut h = clustered();
    // Nobody polled yet: undecided, DNS waits.
    assert_eq!(verdicts(&h), [Verdict::Undecided, Verdict::Undecided]);
    assert_eq!(published(&h), None);
    // Alone in the cluster (no peer views), this instance is the whole quorum.
    h.round("++");
    assert_eq!(verdicts(&h), [Verdict::Up, Verdict::Up]);
    // Leaving cluster mode: the verdicts go, the instance decides alone.
    let settings = Settings {
        server_sets: h.core.settings().server_sets.clone(),
        ..Settings::default()
    };
    h.step(Input::Install {
        settings: Arc::new(settings),
        unavailable: BTreeMap::new(),
    });
    assert!(h.core.sets()[0].servers.iter().all(|s| s.cluster.is_none()));
    assert!(h.core.may_write_dns());
}

/// Item 7 (v) in the core: etcd's majority lost. The instance shows the etcd problem, a
/// change of the verdict (on the views last read) is decided and logged as not written,
/// and no DNS run starts; etcd back and the leadership with it, the pairs are written.
#[test]
fn without_etcd_a_decided_change_is_logged_not_written_and_the_problem_stands_until_etcd_is_back() {
    use crate::engine::problems::{CLUSTER_ETCD, ProblemSubject};
    let mut h = clustered();
    h.step(Input::Leadership(true));
    h.step(peers(["DU", "UU"]));
    h.round("-+");
    assert_eq!(published(&h), Some(vec![address(1)]));
    dns_runs(&mut h);

    // etcd's majority lost: the leader steps down by its own clock, the task says why.
    h.step(Input::Leadership(false));
    let why = "etcd has lost its majority (http://198.19.4.4:2379 answers but has no leader)";
    h.step(Input::EtcdHealth(Some(why.into())));
    let problem = h.core.problems().get("", &ProblemSubject::Cluster).cloned();
    let problem = problem.expect("the etcd problem");
    assert_eq!(problem.code, CLUSTER_ETCD);
    assert!(problem.text.starts_with(why), "{}", problem.text);
    // The same health again changes nothing; the problem is logged once.
    h.step(Input::EtcdHealth(Some(why.into())));
    assert_eq!(h.logs.iter().filter(|l| l.starts_with(why)).count(), 1);

    // The first server works again here; with london's view (the last read) that is 2 of
    // 3: the decision moves back, but nothing is written, and the log says so.
    h.logs.clear();
    h.round("++");
    assert_eq!(verdicts(&h), [Verdict::Up, Verdict::Up]);
    assert_eq!(published(&h), Some(vec![address(0)]));
    let line = h.logs.iter().find(|l| l.contains("DNS should give"));
    assert!(
        line.is_some_and(|l| l.contains("not written here: only the cluster's leader writes DNS")),
        "{:?}",
        h.logs
    );
    assert_eq!(dns_runs(&mut h), 0);

    // etcd back: the problem clears; leading again, the pairs are written.
    h.step(Input::EtcdHealth(None));
    assert!(
        h.core
            .problems()
            .get("", &ProblemSubject::Cluster)
            .is_none()
    );
    assert!(h.logs.iter().any(|l| l == "etcd works again"));
    h.step(Input::Leadership(true));
    assert_eq!(dns_runs(&mut h), 1);
}

/// Notifications follow the quorum: this instance's own failure is recorded (the event
/// history) but no event to notify; the quorum's verdict is, once each way.
#[test]
fn the_events_notified_are_the_quorums_verdicts_not_the_own_view() {
    use crate::model::EventKind::{ServerFailed, ServerRecovered};
    let mut h = clustered();
    h.step(Input::Leadership(true));
    h.step(peers(["UU", "UU"]));
    h.round("++");
    assert!(h.kinds().is_empty(), "{:?}", h.kinds());

    // Alone: recorded, not an event.
    h.round("-+");
    assert!(!h.kinds().contains(&ServerFailed), "{:?}", h.kinds());
    assert_eq!(
        h.recorded.iter().map(|e| e.kind).collect::<Vec<_>>(),
        [ServerFailed]
    );
    assert!(h.recorded[0].text.contains("the quorum decides"));

    // Paris too: the quorum's verdict is the one event, with who sees it.
    h.step(peers(["DU", "UU"]));
    assert_eq!(h.kinds(), [ServerFailed]);
    assert_eq!(
        h.events[0].details.response,
        "failed at 2 of 3: berlin, paris"
    );
    h.step(peers(["DU", "UU"]));
    h.round("-+");
    assert_eq!(h.kinds(), [ServerFailed], "a repeat of the same verdict");

    // Berlin reaches it again: with london that is 2 of 3 up, one recovery.
    h.round("++");
    assert_eq!(h.kinds(), [ServerFailed, ServerRecovered]);
    assert_eq!(h.events[1].details.response, "OK at 2 of 3");
}

//! DNS sync through the engine without a DNS server: a DNS server that does not answer
//! makes every pair fail at stage 1 with a problem and one event; a set that does not
//! update DNS has no pairs; no more runs are in flight than `max_concurrent_updates`.
//! (Updates against a real BIND: `dns_sync_bind.rs`.)

use std::time::Duration;

use standby::engine::PairState;
use standby::model::{CommandSpec, DnsServer, EventKind, UpdateMethod};

use crate::support::dns_sync::{settings, start};
use crate::support::ports::silent_udp;
use crate::support::wait_until;

/// A DNS server on loopback `port` whose updates (never reached here) would fail.
fn dns_server_at(port: u16) -> DnsServer {
    DnsServer {
        address: "127.0.0.1".into(),
        port,
        update: UpdateMethod::Command(CommandSpec {
            program: "/bin/false".into(),
            ..CommandSpec::default()
        }),
        ..DnsServer::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_dns_server_fails_every_pair_with_a_problem() {
    // Held for the whole test: queries to it are never answered.
    let (_silent, port) = silent_udp("127.0.0.1".parse().unwrap());
    let dns = dns_server_at(port);
    let settings = settings(
        &["192.0.2.1"],
        &["www.example.test", "example.test"],
        vec![dns],
    )
    .await;
    let engine = start(settings);
    let mut events = engine.events();
    let s = wait_until(&engine, "both pairs failed", |s| {
        s.set("web")
            .is_some_and(|w| w.dns.len() == 2 && w.dns.iter().all(|p| p.state == PairState::Failed))
    })
    .await;
    let web = s.set("web").unwrap();
    let label = format!("127.0.0.1:{port}");
    assert_eq!(web.dns[0].dns_server, label);
    assert_eq!(web.dns[0].host, "www.example.test");
    // Stage 1 (asking for the records): a network error or a time-out.
    let code = web.dns[0].error_code.unwrap();
    assert!(code == 211 || code == 221, "{code}");

    let s = wait_until(&engine, "the problems are listed", |s| {
        s.problems.len() == 2
    })
    .await;
    let subjects: Vec<&str> = s.problems.iter().map(|p| p.subject.as_str()).collect();
    assert!(subjects.contains(&format!("{label} www.example.test").as_str()));
    assert!(subjects.contains(&format!("{label} example.test").as_str()));

    let event = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = events.recv().await.unwrap();
            if e.kind == EventKind::DnsUpdateFailed {
                return e;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(event.set, "web");
    assert_eq!(event.details.dns_server, label);
    assert!(event.details.problem_code.is_some());
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_that_does_not_update_dns_has_no_pairs() {
    let mut settings = settings(&["192.0.2.1"], &["www.example.test"], Vec::new()).await;
    settings.server_sets[0].update_dns.enabled = false;
    let (_silent, port) = silent_udp("127.0.0.1".parse().unwrap());
    settings.server_sets[0].update_dns.dns_servers = vec![DnsServer {
        address: "127.0.0.1".into(),
        port,
        ..DnsServer::default()
    }];
    let engine = start(settings);
    let s = wait_until(&engine, "the decision is made", |s| {
        s.set("web")
            .is_some_and(|w| w.decision.addresses().is_some())
    })
    .await;
    assert!(s.set("web").unwrap().dns.is_empty());
    assert!(s.problems.is_empty());
    engine.shutdown();
}

/// The name asked in a DNS query (no compression in a question).
fn question_name(packet: &[u8]) -> Option<String> {
    let mut labels = Vec::new();
    let mut at = 12;
    loop {
        let len = usize::from(*packet.get(at)?);
        if len == 0 {
            return Some(labels.join("."));
        }
        labels.push(String::from_utf8_lossy(packet.get(at + 1..at + 1 + len)?).into_owned());
        at += 1 + len;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_pipeline_runs_are_in_flight_than_max_concurrent_updates() {
    // A DNS server that takes queries and never answers: each run waits out its lookup
    // time-out, so the names it hears show which runs are in flight.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let hosts: Vec<String> = (1..=6).map(|i| format!("h{i}.example.test")).collect();
    let host_refs: Vec<&str> = hosts.iter().map(String::as_str).collect();
    let dns = dns_server_at(port);
    let mut settings = settings(&["192.0.2.1"], &host_refs, vec![dns]).await;
    settings.options.dns_updating.max_concurrent_updates = 2;
    let engine = start(settings);

    let started = tokio::time::Instant::now();
    let mut heard: Vec<(Duration, String)> = Vec::new();
    let mut buf = [0u8; 512];
    while heard
        .iter()
        .map(|(_, n)| n)
        .collect::<std::collections::HashSet<_>>()
        .len()
        < 6
    {
        let received = tokio::time::timeout(Duration::from_secs(40), silent.recv_from(&mut buf))
            .await
            .expect("every host is asked in the end")
            .unwrap();
        if let Some(name) = question_name(&buf[..received.0]) {
            heard.push((started.elapsed(), name.trim_end_matches('.').to_string()));
        }
    }
    engine.shutdown();

    // The first lookup time-out is 5 s: before it, only two runs have started.
    let first = heard[0].0;
    let early: std::collections::HashSet<&str> = heard
        .iter()
        .filter(|(at, _)| *at < first + Duration::from_secs(4))
        .map(|(_, name)| name.as_str())
        .collect();
    assert_eq!(early.len(), 2, "names asked in the first 4 s: {early:?}");
    // And the others were asked later, as runs finished: the limit queues, not drops.
    let all: std::collections::HashSet<&str> = heard.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(all.len(), 6, "{heard:?}");
}

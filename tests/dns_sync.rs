//! DNS sync through the engine without a DNS server: a DNS server that does not answer
//! makes every pair fail at stage 1 with a problem and one event; a set that does not
//! update DNS has no pairs. (Updates against a real BIND: `dns_sync_bind.rs`.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod dns_sync_support;
#[allow(dead_code)]
mod support;

use std::time::Duration;

use dns_sync_support::{settings, start, wait_until};
use standby::engine::PairState;
use standby::model::{CommandSpec, DnsServer, EventKind, UpdateMethod};

/// A loopback port where nothing answers DNS.
fn silent_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_dns_server_fails_every_pair_with_a_problem() {
    let port = silent_port();
    let dns = DnsServer {
        address: "127.0.0.1".into(),
        port,
        update: UpdateMethod::Command(CommandSpec {
            program: "/bin/false".into(),
            ..CommandSpec::default()
        }),
        ..DnsServer::default()
    };
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
    settings.server_sets[0].update_dns.dns_servers = vec![DnsServer {
        address: "127.0.0.1".into(),
        port: silent_port(),
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

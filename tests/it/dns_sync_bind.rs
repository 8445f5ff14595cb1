//! DNS sync through the engine against a real BIND (started by `tests/peers/`), with the
//! COMMAND update method: a script that appends its argv to a file and runs `nsupdate`
//! with the peer's TSIG key.
//!
//! Needs named + nsupdate + dig installed (`scripts/install-deps.sh`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use standby::dnsupdate::propagation::Propagation;
use standby::engine::PairState;
use standby::model::{CommandSpec, CommandWait, DnsServer, EventKind, TsigAlgorithm, UpdateMethod};

use crate::support::dns_sync::{settings, start};
use crate::support::peers::{Kind, Peer};
use crate::support::wait_until;

/// A script: `update.sh ADDR PORT HOST TTL IPS...`; it logs its argv and sends one
/// nsupdate that replaces the A and AAAA records of HOST. `fail` makes it exit 2 instead.
fn script(dir: &Path, peer: &Peer, fail: bool) -> String {
    let key = peer.key(TsigAlgorithm::HmacSha256);
    let path = dir.join("update.sh");
    let body = if fail {
        "echo refused by test; exit 2".to_string()
    } else {
        format!(
            r#"addr=$1; port=$2; host=$3; ttl=$4; shift 4
{{
  echo "server $addr $port"
  echo "update delete $host A"
  echo "update delete $host AAAA"
  for ip in $(echo "$*" | tr ',' ' '); do
    case $ip in *:*) t=AAAA ;; *) t=A ;; esac
    echo "update add $host $ttl $t $ip"
  done
  echo send
}} | nsupdate -y 'hmac-sha256:{}:{}'"#,
            key.name,
            key.secret.expose()
        )
    };
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\n{body}\n",
            dir.join("argv.txt").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn dns_server(peer: &Peer, program: String) -> DnsServer {
    DnsServer {
        address: peer.addr.ip().to_string(),
        port: peer.addr.port(),
        update: UpdateMethod::Command(CommandSpec {
            program,
            args: vec![
                peer.addr.ip().to_string(),
                peer.addr.port().to_string(),
                "$HOST$".into(),
                "$TTL$".into(),
                "$IPS$".into(),
            ],
            wait: Some(CommandWait::default()),
        }),
        ..DnsServer::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_records_are_updated_verified_and_counted() {
    let peer = Peer::primary(Kind::Bind).await;
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), &peer, false);
    let settings = settings(
        &["192.0.2.1"],
        &["www.example.test"],
        vec![dns_server(&peer, program)],
    )
    .await;
    let engine = start(settings);
    let mut events = engine.events();
    let s = wait_until(&engine, "the pair is updated", |s| {
        s.set("web")
            .is_some_and(|w| w.dns.first().is_some_and(|p| p.state == PairState::Updated))
    })
    .await;
    let pair = &s.set("web").unwrap().dns[0];
    assert_eq!(pair.served.as_deref(), Some("192.0.2.1"));
    assert_eq!(pair.error, None);
    // The zone's only name server (ns1) is this BIND.
    assert_eq!(pair.propagation, Some(Propagation::known(1, 1)));
    assert_eq!(peer.dig("www.example.test", "A").await, vec!["192.0.2.1"]);
    assert!(peer.dig("www.example.test", "AAAA").await.is_empty());
    let argv = std::fs::read_to_string(dir.path().join("argv.txt")).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    assert_eq!(argv[2..], ["www.example.test", "60", "192.0.2.1"]);

    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = events.recv().await.unwrap();
            if e.kind == EventKind::DnsUpdated {
                return e;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(event.details.old_ips, "192.0.2.10, 2001:db8::10");
    assert_eq!(event.details.new_ips, "192.0.2.1");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn right_records_are_matched_without_an_update() {
    let peer = Peer::primary(Kind::Bind).await;
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), &peer, false);
    // BIND's zone already gives www 192.0.2.10 and 2001:db8::10, TTL 60.
    let settings = settings(
        &["192.0.2.10", "2001:db8::10"],
        &["www.example.test"],
        vec![dns_server(&peer, program)],
    )
    .await;
    let engine = start(settings);
    let s = wait_until(&engine, "the pair is matched", |s| {
        s.set("web")
            .is_some_and(|w| w.dns.first().is_some_and(|p| p.state == PairState::Matched))
    })
    .await;
    let pair = &s.set("web").unwrap().dns[0];
    assert_eq!(pair.served.as_deref(), Some("192.0.2.10, 2001:db8::10"));
    assert!(!dir.path().join("argv.txt").exists(), "no update was run");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_update_is_a_problem_with_its_exit_code() {
    let peer = Peer::primary(Kind::Bind).await;
    let dir = tempfile::tempdir().unwrap();
    let program = script(dir.path(), &peer, true);
    let settings = settings(
        &["192.0.2.1"],
        &["www.example.test"],
        vec![dns_server(&peer, program)],
    )
    .await;
    let engine = start(settings);
    let s = wait_until(&engine, "the problem is listed", |s| !s.problems.is_empty()).await;
    let problem = &s.problems[0];
    assert_eq!(problem.subject, format!("{} www.example.test", peer.addr));
    assert_eq!(problem.code, 243);
    assert_eq!(problem.text, "exit code 2: refused by test");
    let pair = &s.set("web").unwrap().dns[0];
    assert_eq!(pair.state, PairState::Failed);
    // What the server gave is still shown.
    assert_eq!(pair.served.as_deref(), Some("192.0.2.10, 2001:db8::10"));
    assert_eq!(peer.dig("www.example.test", "A").await, vec!["192.0.2.10"]);
    engine.shutdown();
}

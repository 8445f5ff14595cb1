//! End to end: a set with two real HTTP servers. The first is stopped → after its retries
//! it is failed, an event and a problem appear and the decision switches to the second;
//! it is restarted → it recovers after the recovery count and the decision switches back.
//! Every server failing raises "all servers failed" once.

use std::net::IpAddr;

use standby::engine::server_state::ServerStatus;
use standby::engine::{Command, EngineConfig, EngineHandle, Snapshot};
use standby::model::{
    DnsData, EventKind, HttpPoll, PollFrequency, PollMethod, Server, ServerSet, Settings,
};

use crate::support::http;
use crate::support::ports::common_port;
use crate::support::wait_until;

fn decision(snapshot: &Snapshot) -> Option<Vec<IpAddr>> {
    snapshot.set("web")?.decision.addresses()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback() {
    let a: IpAddr = "127.0.0.2".parse().unwrap();
    let b: IpAddr = "127.0.0.3".parse().unwrap();
    let port = common_port(&[a, b]);
    let server_a = http::stoppable_http_server(a, port).await;
    let _server_b = http::stoppable_http_server(b, port).await;

    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: vec![
            Server {
                public_ip: a.to_string(),
                name: "first".into(),
                ..Server::default()
            },
            Server {
                public_ip: b.to_string(),
                name: "second".into(),
                ..Server::default()
            },
        ],
        polling: PollMethod::Http(HttpPoll {
            url: format!("http://www.example.test:{port}/"),
            ..HttpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 2,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
            recover_after: 2,
            sequential: false,
        },
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ..DnsData::default()
        },
        ..ServerSet::default()
    });
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    let mut events = engine.events();

    let s = wait_until(&engine, "both servers are OK", |s| {
        s.set("web")
            .is_some_and(|w| w.servers.iter().all(|v| v.status == ServerStatus::Ok))
    })
    .await;
    assert_eq!(decision(&s), Some(vec![a]));
    assert_eq!(s.set("web").unwrap().servers[0].last_response, "200 OK");

    // Stop the first server: retrying (still functional), then failed after 2 retries.
    server_a.abort();
    let _ = server_a.await;
    wait_until(&engine, "the first server is retrying", |s| {
        s.set("web").unwrap().servers[0].status == ServerStatus::Retrying
    })
    .await;
    let s = wait_until(&engine, "the first server has failed", |s| {
        s.set("web").unwrap().servers[0].status == ServerStatus::Failed
    })
    .await;
    assert_eq!(
        decision(&s),
        Some(vec![b]),
        "DNS should now give the second server"
    );
    let first = &s.set("web").unwrap().servers[0];
    assert_eq!(first.failures, 3, "one failed poll and two retries");
    assert_eq!(
        first.problem_code,
        Some(111),
        "connection refused while connecting"
    );
    let problem = s
        .problems
        .iter()
        .find(|p| p.set == "web")
        .expect("a problem for the failed server");
    assert_eq!(problem.code, 111);
    assert!(problem.subject.contains("127.0.0.2"), "{problem:?}");
    let event = events.recv().await.unwrap();
    assert_eq!(event.kind, EventKind::ServerFailed);
    assert_eq!(event.details.server_ip, "127.0.0.2");

    // Restart it: it recovers after 2 successful polls, and the decision switches back.
    let successes_before = first.successes;
    let _server_a = http::stoppable_http_server(a, port).await;
    let s = wait_until(&engine, "the first server answered once", |s| {
        s.set("web").unwrap().servers[0].successes > successes_before
    })
    .await;
    let first = &s.set("web").unwrap().servers[0];
    assert_eq!(
        first.status,
        ServerStatus::Failed,
        "one success is not a recovery yet"
    );
    assert_eq!(decision(&s), Some(vec![b]));
    let s = wait_until(&engine, "the first server has recovered", |s| {
        s.set("web").unwrap().servers[0].status == ServerStatus::Ok
    })
    .await;
    assert_eq!(decision(&s), Some(vec![a]));
    assert!(
        s.problems.iter().all(|p| p.set != "web"),
        "the problem is resolved: {:?}",
        s.problems
    );
    let event = events.recv().await.unwrap();
    assert_eq!(event.kind, EventKind::ServerRecovered);
    let log: Vec<&str> = s.log.iter().map(|l| l.text.as_str()).collect();
    assert!(log.iter().any(|l| l.contains("failed")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("recovered")), "{log:?}");
    engine.try_send(Command::PauseAll).unwrap();
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_failing_raises_all_servers_failed_once() {
    // Two servers on loopback addresses where nothing listens: both fail at once.
    let port = common_port(&["127.0.0.4".parse().unwrap(), "127.0.0.5".parse().unwrap()]);
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: ["127.0.0.4", "127.0.0.5"]
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Http(HttpPoll {
            url: format!("http://www.example.test:{port}/"),
            ..HttpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 0,
            timeout: std::time::Duration::from_secs(2),
            ..PollFrequency::default()
        },
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ..DnsData::default()
        },
        ..ServerSet::default()
    });
    // Paused until the test listens, so that no event goes out before.
    settings.options.polling.paused = true;
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    let mut events = engine.events();
    engine.try_send(Command::ResumeAll).unwrap();
    let s = wait_until(&engine, "both servers failed", |s| {
        s.set("web")
            .is_some_and(|w| w.servers.iter().all(|v| v.status == ServerStatus::Failed))
    })
    .await;
    // The default policy assumes a local fault: DNS keeps every address.
    assert!(
        s.set("web")
            .unwrap()
            .decision
            .describe()
            .contains("assumed local fault"),
        "{:?}",
        s.set("web").unwrap().decision
    );
    let mut kinds = Vec::new();
    // Let a few more failed polls pass: the event must not repeat.
    let until = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    while let Ok(Ok(event)) = tokio::time::timeout_at(until, events.recv()).await {
        kinds.push(event.kind);
    }
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::AllServersFailed)
            .count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == EventKind::ServerFailed)
            .count(),
        2,
        "{kinds:?}"
    );
    assert!(
        engine
            .snapshot()
            .log
            .iter()
            .any(|l| l.text == "all servers of \"web\" failed")
    );
    engine.shutdown();
}

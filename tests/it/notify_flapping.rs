//! Through the whole engine: a real server that flaps 20 times gives exactly one event per
//! change of state (no storm of one message per poll), and one message per change, in
//! order: a change that reverses the last message is never held back, so the last message
//! always tells the server's current state.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::support::wait_until;
use standby::engine::server_state::ServerStatus;
use standby::engine::{Command, EngineConfig, EngineHandle};
use standby::model::{
    EventKind, NotificationMethod, PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll,
};
use tokio::net::TcpListener;

use crate::support::notify;

async fn listen(ip: IpAddr, port: u16) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).await.unwrap();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_server_does_not_flood_anyone() {
    let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 41].into(), [127, 0, 0, 42].into());
    let port = {
        let probe = TcpListener::bind(SocketAddr::new(a, 0)).await.unwrap();
        probe.local_addr().unwrap().port()
    };
    let _b = listen(b, port).await;
    let mut server_a = Some(listen(a, port).await);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    let mut settings = Settings::default();
    settings.options.notification.coalesce_secs = 15;
    settings.options.notification.default_methods = vec![NotificationMethod {
        kind: notify::appending_command(&out),
        events: vec![EventKind::ServerFailed, EventKind::ServerRecovered],
        ..NotificationMethod::default()
    }];
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: vec![
            Server {
                public_ip: a.to_string(),
                ..Server::default()
            },
            Server {
                public_ip: b.to_string(),
                ..Server::default()
            },
        ],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        // Only "Poll now" polls, so the test sets the pace.
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(3600),
            failed_interval: std::time::Duration::from_secs(3600),
            retries: 0,
            recover_after: 1,
            ..PollFrequency::default()
        },
        ..ServerSet::default()
    });
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    let mut events = engine.events();
    let status = |s: &standby::engine::Snapshot| s.set("web").map(|x| x.servers[0].status);
    wait_until(&engine, "first polls", |s| {
        status(s) == Some(ServerStatus::Ok)
    })
    .await;

    for _ in 0..20 {
        if let Some(task) = server_a.take() {
            task.abort();
            let _ = task.await;
        }
        engine.send(Command::PollSet("web".into())).await.unwrap();
        wait_until(&engine, "failed", |s| {
            status(s) == Some(ServerStatus::Failed)
        })
        .await;
        server_a = Some(listen(a, port).await);
        engine.send(Command::PollSet("web".into())).await.unwrap();
        wait_until(&engine, "recovered", |s| {
            status(s) == Some(ServerStatus::Ok)
        })
        .await;
    }

    // One event per change of state: 20 failed, 20 recovered, nothing else.
    let mut failed = 0;
    let mut recovered = 0;
    while let Ok(event) = events.try_recv() {
        match event.kind {
            EventKind::ServerFailed => failed += 1,
            EventKind::ServerRecovered => recovered += 1,
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!((failed, recovered), (20, 20));

    // Forty messages, alternating, the last one "recovered" (as the server is now).
    let lines = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            if lines.len() >= 40 {
                return lines;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("forty messages");
    assert_eq!(lines.len(), 40, "{lines:?}");
    for (i, line) in lines.iter().enumerate() {
        let expected = if i % 2 == 0 {
            "Server failed|1|127.0.0.41"
        } else {
            "Server recovered (resolves Server failed at "
        };
        assert!(line.starts_with(expected), "line {i}: {line}");
        assert!(line.ends_with("|1|127.0.0.41"), "line {i}: {line}");
    }
    engine.shutdown();
}

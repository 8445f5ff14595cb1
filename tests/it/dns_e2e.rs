//! End to end against a real BIND: two HTTP servers; the first stops → BIND answers the
//! second's address; it comes back → BIND answers the first again. Asserted by asking BIND
//! (dig), not by reading Standby's state. Then a record changed behind Standby's back with
//! nsupdate is put back, and reported as an event.

use std::net::IpAddr;
use std::time::Duration;

use standby::engine::{Command, EngineConfig, EngineHandle};
use standby::model::{
    DnsData, DnsServer, EventKind, HttpPoll, PollFrequency, PollMethod, Rfc2136Update, Server,
    ServerSet, Settings, TsigAlgorithm, UpdateDns, UpdateMethod,
};

use crate::support::http;
use crate::support::peers;
use crate::support::ports::common_port;

/// Asks BIND until it gives `want` for www (bounded: 30 s).
async fn bind_gives(bind: &peers::Peer, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = bind.dig("www.example.test", "A").await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "BIND gives {got:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback_reach_bind() {
    let (a, b): (IpAddr, IpAddr) = ("127.0.0.12".parse().unwrap(), "127.0.0.13".parse().unwrap());
    let port = common_port(&[a, b]);
    let server_a = http::stoppable_http_server(a, port).await;
    let _server_b = http::stoppable_http_server(b, port).await;
    let bind = peers::Peer::primary(peers::Kind::Bind).await;
    let key = bind.key(TsigAlgorithm::HmacSha256);

    let mut settings = Settings::default();
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
        polling: PollMethod::Http(HttpPoll {
            url: format!("http://www.example.test:{port}/"),
            ..HttpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 1,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
            recover_after: 1,
            sequential: false,
        },
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ttl: 30,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            dns_servers: vec![DnsServer {
                address: bind.addr.ip().to_string(),
                port: bind.addr.port(),
                update: UpdateMethod::Rfc2136(Rfc2136Update {
                    tsig: Some(key.clone()),
                }),
                ..DnsServer::default()
            }],
        },
        ..ServerSet::default()
    });
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    let mut events = engine.events();

    // The zone starts with 192.0.2.10; Standby puts the first server there.
    bind_gives(&bind, &["127.0.0.12"]).await;

    server_a.abort();
    let _ = server_a.await;
    bind_gives(&bind, &["127.0.0.13"]).await;

    let _server_a = http::stoppable_http_server(a, port).await;
    bind_gives(&bind, &["127.0.0.12"]).await;

    // Someone changes the record behind Standby's back; Poll now re-checks and repairs it.
    let script = format!(
        "server {} {}\nzone example.test\nupdate delete www.example.test A\nupdate add www.example.test 30 A 203.0.113.66\nsend\n",
        bind.addr.ip(),
        bind.addr.port()
    );
    let mut nsupdate = tokio::process::Command::new("nsupdate")
        .arg("-y")
        .arg(format!("hmac-sha256:{}:{}", key.name, key.secret.expose()))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("nsupdate (bind9-dnsutils)");
    tokio::io::AsyncWriteExt::write_all(nsupdate.stdin.as_mut().unwrap(), script.as_bytes())
        .await
        .unwrap();
    drop(nsupdate.stdin.take());
    assert!(nsupdate.wait().await.unwrap().success());
    assert_eq!(bind.dig("www.example.test", "A").await, ["203.0.113.66"]);

    engine.try_send(Command::PollSet("web".into())).unwrap();
    bind_gives(&bind, &["127.0.0.12"]).await;
    let changed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let event = events.recv().await.unwrap();
            if event.kind == EventKind::DnsChangedExternally {
                return event;
            }
        }
    })
    .await
    .expect("a DnsChangedExternally event");
    assert!(
        changed.details.old_ips.contains("203.0.113.66"),
        "{changed:?}"
    );
    let snapshot = engine.snapshot();
    assert_eq!(snapshot.set("web").unwrap().dns.len(), 1);
    engine.shutdown();
}

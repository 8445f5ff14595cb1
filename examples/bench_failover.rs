//! DNS failover benchmark against a real BIND 9 (started from tests/peers/bind.sh on
//! loopback): (1) failover latency, from the decisive failed (or recovering) poll to BIND
//! answering the new address, over N switches; (2) updates per second when one decision
//! change must reach 1,000 host names.
//!
//! cargo run --release --example bench_failover -- [SWITCHES] [HOSTS]
//! (defaults 200 and 1000). Needs named (scripts/install-deps.sh). Linux.

mod common;

use common::bind::{Bind, start_bind};
use common::*;

use std::net::IpAddr;
use std::time::{Duration, Instant, SystemTime};

use standby::dnsupdate::lookup::current_records;
use standby::engine::dns_sync::PairState;
use standby::engine::{Command, EngineConfig, EngineHandle};
use standby::model::{
    DnsData, DnsServer, EventKind, PollFrequency, PollMethod, Rfc2136Update, Server, ServerSet,
    Settings, TcpPoll, UpdateDns, UpdateMethod,
};
use tokio::net::TcpListener;

/// A listener that accepts and drops connections, as the polled server.
async fn listen(ip: IpAddr, port: u16) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind((ip, port))
        .await
        .unwrap_or_else(|e| fail(&format!("bind {ip}: {e}")));
    tokio::spawn(async move { while listener.accept().await.is_ok() {} })
}

fn set(name: &str, hosts: Vec<String>, servers: [IpAddr; 2], port: u16, bind: &Bind) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: servers
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(3600),
            failed_interval: std::time::Duration::from_secs(3600),
            retries: 0,
            recover_after: 1,
            ..PollFrequency::default()
        },
        dns: DnsData {
            host_names: hosts,
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
                    tsig: Some(bind.key.clone()),
                }),
                ..DnsServer::default()
            }],
        },
        ..ServerSet::default()
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let switches = args.first().copied().unwrap_or(200);
    let hosts = args.get(1).copied().unwrap_or(1000);
    let bind = start_bind().await;
    let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 21].into(), [127, 0, 0, 22].into());
    let probe_b = TcpListener::bind((b, 0))
        .await
        .unwrap_or_else(|e| fail(&format!("bind: {e}")));
    let port = probe_b.local_addr().map(|x| x.port()).unwrap_or(0);
    tokio::spawn(async move { while probe_b.accept().await.is_ok() {} });
    let mut server_a = Some(listen(a, port).await);

    // (1) Failover latency.
    let settings = Settings {
        server_sets: vec![set(
            "web",
            vec!["www.example.test".into()],
            [a, b],
            port,
            &bind,
        )],
        ..Settings::default()
    };
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings))
        .unwrap_or_else(|e| fail(&e.to_string()));
    let mut events = engine.events();
    let gives = |ip: IpAddr| {
        let addr = bind.addr;
        async move {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Ok(r) =
                    current_records(addr, "www.example.test", false, Duration::from_millis(500))
                        .await
                    && r.addresses == [ip]
                {
                    return SystemTime::now();
                }
                if Instant::now() > deadline {
                    fail(&format!("BIND never gave {ip}"));
                }
            }
        }
    };
    gives(a).await;
    let mut latencies = Vec::with_capacity(switches);
    for i in 0..switches {
        let (kind, to) = if i % 2 == 0 {
            if let Some(task) = server_a.take() {
                task.abort();
                let _ = task.await;
            }
            (EventKind::ServerFailed, b)
        } else {
            server_a = Some(listen(a, port).await);
            (EventKind::ServerRecovered, a)
        };
        let _ = engine.send(Command::PollSet("web".into())).await;
        let decisive = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(e)) if e.kind == kind => break e.time,
                Ok(Ok(_)) => continue,
                _ => fail("no failover event"),
            }
        };
        let answered = gives(to).await;
        latencies.push(
            answered
                .duration_since(decisive)
                .unwrap_or_default()
                .as_secs_f64()
                * 1000.0,
        );
    }
    latencies.sort_by(f64::total_cmp);
    println!("| switches | p50 | p99 | max |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {switches} | {:.2} ms | {:.2} ms | {:.2} ms |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
    engine.shutdown();

    // (2) One decision change for many host names.
    println!();
    println!("| host names | concurrent updates | time to all updated | updates/s |");
    println!("|---:|---:|---:|---:|");
    for concurrency in [10u32, 50] {
        let names: Vec<String> = (0..hosts)
            .map(|i| format!("h{i}-{concurrency}.example.test"))
            .collect();
        let mut settings = Settings {
            server_sets: vec![set("many", names, [a, b], port, &bind)],
            ..Settings::default()
        };
        settings.options.dns_updating.max_concurrent_updates = concurrency;
        let started = Instant::now();
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings))
            .unwrap_or_else(|e| fail(&e.to_string()));
        let mut watch = engine.watch();
        let done = tokio::time::timeout(Duration::from_secs(600), async {
            loop {
                let all = watch.borrow_and_update().set("many").is_some_and(|s| {
                    s.dns.len() == hosts && s.dns.iter().all(|p| p.state == PairState::Updated)
                });
                if all {
                    return;
                }
                if watch.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        if done.is_err() {
            fail("the updates did not finish in 10 minutes");
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "| {hosts} | {concurrency} | {elapsed:.2} s | {:.0} |",
            hosts as f64 / elapsed
        );
        engine.shutdown();
    }
}

//! Sub-second failover end to end (issue 16 item 1): two real web servers (`python3 -m
//! http.server`, each a process of its own on 127.0.0.x), polled by HTTP every 200 ms with 2
//! retries 100 ms apart (time-out 100 ms), and a real BIND 9 updated by RFC 2136 + TSIG.
//! Each run kills the first web server (SIGKILL) and times how long until BIND answers the
//! second's address (asked in a tight loop); then restarts it and waits until BIND gives it
//! back. Prints p50, p90 and max over the runs, and the load average.
//!
//! cargo run --release --example bench_failover_subsecond -- [RUNS]   (default 50)
//! Needs named (bind9) and python3 (scripts/install-deps.sh). Linux.

mod common;

use common::bind::{Bind, start_bind};
use common::*;

use std::net::IpAddr;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use standby::dnsupdate::lookup::current_records;
use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{
    DnsData, DnsServer, HttpPoll, PollFrequency, PollMethod, Rfc2136Update, Server, ServerSet,
    Settings, UpdateDns, UpdateMethod,
};

/// A real web server on `ip:port`, serving an empty directory; ready when it accepts.
fn web_server(ip: IpAddr, port: u16, dir: &std::path::Path) -> Child {
    let child = Process::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            &ip.to_string(),
        ])
        .arg("--directory")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start python3 -m http.server: {e}")));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect((ip, port)).is_err() {
        if Instant::now() > deadline {
            fail("the web server did not start");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child
}

fn set(servers: [IpAddr; 2], port: u16, bind: &Bind) -> ServerSet {
    let ms = Duration::from_millis;
    ServerSet {
        name: "web".into(),
        servers: servers
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
            interval: ms(200),
            failed_interval: ms(200),
            retries: 2,
            retry_interval: ms(100),
            timeout: ms(100),
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
                    tsig: Some(bind.key.clone()),
                }),
                ..DnsServer::default()
            }],
        },
        ..ServerSet::default()
    }
}

/// Waits (bounded) until BIND gives `ip` for www; the moment it first did.
async fn gives(bind: &Bind, ip: IpAddr) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = current_records(
            bind.addr,
            "www.example.test",
            false,
            Duration::from_millis(500),
        )
        .await
            && r.addresses == [ip]
        {
            return Instant::now();
        }
        if Instant::now() > deadline {
            fail(&format!("BIND never gave {ip}"));
        }
    }
}

#[tokio::main]
async fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(50);
    let bind = start_bind().await;
    let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 23].into(), [127, 0, 0, 24].into());
    let port = std::net::TcpListener::bind((a, 0))
        .and_then(|l| l.local_addr())
        .map(|x| x.port())
        .unwrap_or_else(|e| fail(&format!("port: {e}")));
    let root = tempfile::tempdir().unwrap_or_else(|e| fail(&format!("tempdir: {e}")));
    let mut second = web_server(b, port, root.path());
    let mut first = web_server(a, port, root.path());
    let settings = Settings {
        server_sets: vec![set([a, b], port, &bind)],
        ..Settings::default()
    };
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings))
        .unwrap_or_else(|e| fail(&e.to_string()));
    gives(&bind, a).await;
    let mut latencies = Vec::with_capacity(runs);
    for _ in 0..runs {
        let killed = Instant::now();
        let _ = first.kill();
        let _ = first.wait();
        let moved = gives(&bind, b).await;
        latencies.push(moved.duration_since(killed).as_secs_f64() * 1000.0);
        first = web_server(a, port, root.path());
        gives(&bind, a).await;
        // Kill at another moment of the 200 ms cadence next time.
        tokio::time::sleep(Duration::from_millis(37)).await;
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    latencies.sort_by(f64::total_cmp);
    println!("| runs | p50 | p90 | max | load average (1, 5, 15 min) |");
    println!("|---:|---:|---:|---:|---|");
    println!(
        "| {runs} | {:.0} ms | {:.0} ms | {:.0} ms | {} |",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        latencies.last().copied().unwrap_or(0.0),
        load.split(' ').take(3).collect::<Vec<_>>().join(", ")
    );
    engine.shutdown();
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }
}

//! Scheduler benchmark: N servers polled by TCP connect (+ greeting) against local
//! listeners, at a fixed interval. Prints polls/s achieved vs configured, how late polls
//! start (p50/p99), and the engine process's CPU and RSS. The listeners run in a child
//! process, so the figures are the engine's own.
//!
//! cargo run --release --example bench_polling -- [SERVERS...] [--interval D] [--seconds S]
//! e.g. `-- 1000 10000 --interval 10 --seconds 30` (D: seconds, or `250ms`, `1s`). Linux only
//! (reads /proc).

mod common;

use common::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{PollMethod, Settings, TcpPoll, TextRule};

const LISTENERS: usize = 10;
const SERVERS_PER_SET: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("listen") {
        listen();
        return;
    }
    let mut counts = Vec::new();
    let mut interval = Duration::from_secs(10);
    let mut seconds = 30u64;
    let mut on_disk = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--interval" => {
                interval = it
                    .next()
                    .and_then(|v| {
                        v.parse()
                            .map(Duration::from_secs)
                            .ok()
                            .or_else(|| standby::model::duration::parse(v).ok())
                    })
                    .unwrap_or(interval)
            }
            "--seconds" => seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            // The history in a database file (as the program keeps it), not in memory.
            "--on-disk" => on_disk = true,
            n => counts.extend(n.parse::<usize>().ok()),
        }
    }
    if counts.is_empty() {
        counts = vec![1000, 10_000];
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("no exe: {e}")));
    let mut child = Process::new(exe)
        .arg("listen")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start the listeners: {e}")));
    let mut ports = Vec::new();
    let mut lines =
        BufReader::new(child.stdout.take().unwrap_or_else(|| fail("no stdout"))).lines();
    while ports.len() < LISTENERS {
        match lines.next() {
            Some(Ok(line)) => ports.extend(line.trim().parse::<u16>().ok()),
            _ => fail("the listeners did not report their ports"),
        }
    }
    println!(
        "| servers | interval | configured polls/s | achieved polls/s | late p50 | late p99 | engine CPU | RSS |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for n in counts {
        run(n, interval, seconds, &ports, on_disk);
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn run(servers: usize, interval: Duration, seconds: u64, ports: &[u16], on_disk: bool) {
    let settings = Settings {
        server_sets: loopback_sets(servers, SERVERS_PER_SET, interval, |set_index| {
            PollMethod::Tcp(TcpPoll {
                port: Some(ports[set_index % ports.len()]),
                greeting: Some(TextRule::StartsWith("220".into())),
                ..TcpPoll::default()
            })
        }),
        ..Settings::default()
    };
    let database = on_disk.then(|| {
        std::env::temp_dir().join(format!("standby-bench-{}-{servers}.db", std::process::id()))
    });
    let engine = EngineHandle::spawn(EngineConfig {
        database: database.clone(),
        ..EngineConfig::in_memory(settings)
    })
    .unwrap_or_else(|e| fail(&format!("engine: {e}")));
    // Warm up for one interval so every server is in its steady cadence.
    std::thread::sleep(interval);
    let (cpu0, t0, polls0) = (
        cpu_seconds(),
        Instant::now(),
        engine.snapshot().stats.polls_completed,
    );
    std::thread::sleep(Duration::from_secs(seconds));
    let snapshot = engine.snapshot();
    let (cpu1, elapsed) = (cpu_seconds(), t0.elapsed().as_secs_f64());
    let achieved = (snapshot.stats.polls_completed - polls0) as f64 / elapsed;
    let failures: u64 = snapshot
        .sets
        .iter()
        .flat_map(|s| s.servers.iter())
        .map(|s| s.failures)
        .sum();
    println!(
        "| {servers} | {} | {:.0} | {achieved:.0} | {:.2} ms | {:.2} ms | {:.1} % of one core | {} MiB |",
        standby::model::duration::format(interval),
        servers as f64 / interval.as_secs_f64(),
        snapshot.stats.lateness_p50_ms,
        snapshot.stats.lateness_p99_ms,
        (cpu1 - cpu0) / elapsed * 100.0,
        rss_kib() / 1024,
    );
    if failures > 0 {
        println!("(warning: {failures} failed polls)");
    }
    let _ = std::io::stdout().flush();
    engine.shutdown();
    if let Some(path) = database {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}

/// The child: greets and closes on every connection (the server closes first, so the
/// TIME_WAIT sockets are on its side, not the client's).
fn listen() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    runtime.block_on(async {
        for _ in 0..LISTENERS {
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                    .await
                    .unwrap_or_else(|e| fail(&format!("bind: {e}")));
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            println!("{port}");
            tokio::spawn(async move {
                while let Ok((mut tcp, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let _ =
                            tokio::io::AsyncWriteExt::write_all(&mut tcp, b"220 bench ready\r\n")
                                .await;
                    });
                }
            });
        }
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
    });
}

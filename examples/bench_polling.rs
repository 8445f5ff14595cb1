//! Scheduler benchmark: N servers polled by TCP connect (+ greeting) against local
//! listeners, at a fixed interval. Prints polls/s achieved vs configured, how late polls
//! start (p50/p99), and the engine process's CPU and RSS. The listeners run in a child
//! process, so the figures are the engine's own.
//!
//! cargo run --release --example bench_polling -- [SERVERS...] [--interval D] [--seconds S]
//! e.g. `-- 1000 10000 --interval 10 --seconds 30` (D: seconds, or `250ms`, `1s`). Linux only
//! (reads /proc).
//!
//! `--black-hole P` (issue 11's overload run): P % of every set are black holes, polled at
//! 127.0.0.2 where the child's listeners accept and never greet, so each of their polls
//! ends at its 10 s time-out. The table then gives the *healthy* servers' lateness
//! (p50/p99/max over all their polls in the measured window, from each server's last poll
//! in snapshots taken every 250 ms) and how many of their due polls they got. `--limit N`
//! sets `max_concurrent_polls` (default 0 = auto); `--warm-up S` the time before measuring
//! (default one interval, plus the time-out with black holes).
//! e.g. `-- 10000 --interval 10 --seconds 60 --black-hole 30`. With `--syn-drop` the black
//! holes drop SYNs instead: their listeners never accept and have a backlog of one, so once
//! it is full the kernel drops every further SYN and the poll's connect waits out the
//! time-out (a host that vanished, or a firewall's DROP, without needing netfilter here).

mod common;

use common::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use standby::engine::problems::POLLING_LATE;
use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::{PollFrequency, PollMethod, Settings, TcpPoll, TextRule};

const LISTENERS: usize = 10;
const SERVERS_PER_SET: usize = 100;
/// Where the black holes are polled: the child's silent listeners, on the same ports.
const BLACK_HOLE_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// How a run is set up.
#[derive(Clone, Copy)]
struct Run {
    interval: Duration,
    seconds: u64,
    warm_up: Option<u64>,
    on_disk: bool,
    /// Percentage of black holes in every set.
    black_hole: usize,
    /// `max_concurrent_polls` (0 = auto).
    limit: u32,
    /// Black holes drop SYNs (connect hangs) rather than accept and stay silent.
    syn_drop: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("listen") {
        listen(args.get(1).map(String::as_str) == Some("syn-drop"));
        return;
    }
    // As the program does at start: thousands of polls in flight need sockets.
    raise_fd_limit();
    let mut counts = Vec::new();
    let mut run = Run {
        interval: Duration::from_secs(10),
        seconds: 30,
        warm_up: None,
        on_disk: false,
        black_hole: 0,
        limit: 0,
        syn_drop: false,
    };
    let mut it = args.iter();
    let value = |it: &mut std::slice::Iter<String>, name: &str| -> u64 {
        it.next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| fail(&format!("{name} needs a whole number")))
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--interval" => {
                run.interval = it
                    .next()
                    .and_then(|v| {
                        v.parse()
                            .map(Duration::from_secs)
                            .ok()
                            .or_else(|| standby::model::duration::parse(v).ok())
                    })
                    .unwrap_or_else(|| fail("--interval needs seconds or a duration"))
            }
            "--seconds" => run.seconds = value(&mut it, "--seconds"),
            "--warm-up" => run.warm_up = Some(value(&mut it, "--warm-up")),
            "--black-hole" => run.black_hole = value(&mut it, "--black-hole").min(100) as usize,
            "--limit" => run.limit = value(&mut it, "--limit") as u32,
            "--syn-drop" => run.syn_drop = true,
            // The history in a database file (as the program keeps it), not in memory.
            "--on-disk" => run.on_disk = true,
            n => counts.push(
                n.parse::<usize>()
                    .unwrap_or_else(|_| fail(&format!("unknown argument {n:?}"))),
            ),
        }
    }
    if counts.is_empty() {
        counts = vec![1000, 10_000];
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("no exe: {e}")));
    let mut child = Process::new(exe)
        .arg("listen")
        .args(run.syn_drop.then_some("syn-drop"))
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
    if run.black_hole > 0 {
        println!(
            "| servers | black holes | limit | healthy polls got / due | healthy late p50 | p99 | max | fewest polls of a healthy server | healthy response p50 / p99 | lateness problem | engine CPU | RSS |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|");
    } else {
        println!(
            "| servers | interval | configured polls/s | achieved polls/s | late p50 | late p99 | engine CPU | RSS |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    }
    for n in counts {
        measure(n, run, &ports);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Servers `0..P` of every hundred (of every set) are black holes.
fn is_black_hole(index: usize, percent: usize) -> bool {
    index % 100 < percent
}

fn measure(servers: usize, run: Run, ports: &[u16]) {
    let Run {
        interval,
        seconds,
        on_disk,
        ..
    } = run;
    let mut settings = Settings {
        server_sets: loopback_sets(servers, SERVERS_PER_SET, interval, |set_index| {
            PollMethod::Tcp(TcpPoll {
                port: Some(ports[set_index % ports.len()]),
                greeting: Some(TextRule::StartsWith("220".into())),
                ..TcpPoll::default()
            })
        }),
        ..Settings::default()
    };
    settings.options.polling.max_concurrent_polls = run.limit;
    let all = settings
        .server_sets
        .iter_mut()
        .flat_map(|s| s.servers.iter_mut());
    for (i, server) in all.enumerate() {
        if is_black_hole(i, run.black_hole) {
            server.poll_ip = Some(BLACK_HOLE_IP.to_string());
        }
    }
    if run.black_hole > 0 {
        measure_black_holes(servers, run, settings);
        return;
    }
    let database = on_disk.then(|| {
        std::env::temp_dir().join(format!("standby-bench-{}-{servers}.db", std::process::id()))
    });
    let engine = EngineHandle::spawn(EngineConfig {
        database: database.clone(),
        ..EngineConfig::in_memory(settings)
    })
    .unwrap_or_else(|e| fail(&format!("engine: {e}")));
    // Warm up for one interval so every server is in its steady cadence.
    std::thread::sleep(run.warm_up.map_or(interval, Duration::from_secs));
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

/// The overload run: the healthy servers' lateness and polls while the black holes time out.
fn measure_black_holes(servers: usize, run: Run, settings: Settings) {
    let interval = run.interval;
    let timeout = PollFrequency::default().timeout;
    let black_holes = (0..servers)
        .filter(|i| is_black_hole(*i, run.black_hole))
        .count();
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings))
        .unwrap_or_else(|e| fail(&format!("engine: {e}")));
    // Every black hole's first poll must time out before it is known to be one.
    let warm_up = run.warm_up.map_or(interval + timeout, Duration::from_secs);
    std::thread::sleep(warm_up);
    // Per healthy server (by its place in the snapshot): polls seen so far, and each new
    // poll's lateness as the snapshots show it.
    let polls_of = |s: &Snapshot| -> Vec<u64> {
        s.sets
            .iter()
            .flat_map(|set| set.servers.iter())
            .map(|v| v.successes + v.failures)
            .collect()
    };
    let first = engine.snapshot();
    let start_polls = polls_of(&first);
    let mut seen = start_polls.clone();
    let mut late_ms: Vec<f64> = Vec::new();
    // And how long each took: the fast lane's half of the limit must hold the healthy
    // polls in flight (polls/s x response time).
    let mut response_ms: Vec<f64> = Vec::new();
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let window = Duration::from_secs(run.seconds);
    while t0.elapsed() < window {
        std::thread::sleep(Duration::from_millis(250));
        let snapshot = engine.snapshot();
        let views = snapshot.sets.iter().flat_map(|set| set.servers.iter());
        for (i, view) in views.enumerate() {
            let polls = view.successes + view.failures;
            if is_black_hole(i, run.black_hole) || seen.get(i) == Some(&polls) {
                continue;
            }
            if let Some(late) = view.last_lateness {
                late_ms.push(late.as_secs_f64() * 1000.0);
            }
            if let Some(took) = view.last_response_time {
                response_ms.push(took.as_secs_f64() * 1000.0);
            }
            if let Some(s) = seen.get_mut(i) {
                *s = polls;
            }
        }
    }
    let (cpu1, elapsed) = (cpu_seconds(), t0.elapsed());
    let snapshot = engine.snapshot();
    let end_polls = polls_of(&snapshot);
    let healthy: Vec<u64> = (0..servers)
        .filter(|i| !is_black_hole(*i, run.black_hole))
        .map(|i| end_polls.get(i).copied().unwrap_or(0) - start_polls.get(i).copied().unwrap_or(0))
        .collect();
    let got: u64 = healthy.iter().sum();
    let due_each = elapsed.as_secs_f64() / interval.as_secs_f64();
    let due = due_each * healthy.len() as f64;
    let fewest = healthy.iter().min().copied().unwrap_or(0);
    late_ms.sort_by(f64::total_cmp);
    response_ms.sort_by(f64::total_cmp);
    let late = snapshot
        .problems
        .iter()
        .find(|p| p.code == POLLING_LATE)
        .map_or("none".to_string(), |p| format!("\"{}\"", p.text));
    println!(
        "| {servers} | {black_holes} ({} %{}) | {} | {got} / {due:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {fewest} of {due_each:.1} | {:.1} / {:.1} ms | {late} | {:.1} % of one core | {} MiB |",
        run.black_hole,
        if run.syn_drop { ", SYN drop" } else { "" },
        if run.limit == 0 {
            format!("auto ({})", snapshot.stats.poll_limit)
        } else {
            snapshot.stats.poll_limit.to_string()
        },
        percentile(&late_ms, 0.5),
        percentile(&late_ms, 0.99),
        late_ms.last().copied().unwrap_or(0.0),
        percentile(&response_ms, 0.5),
        percentile(&response_ms, 0.99),
        (cpu1 - cpu0) / elapsed.as_secs_f64() * 100.0,
        rss_kib() / 1024,
    );
    let _ = std::io::stdout().flush();
    engine.shutdown();
}

/// Raises the soft open-file limit as the program does, saying so on stderr.
fn raise_fd_limit() {
    match standby::resources::raise_fd_limit() {
        Ok(limit) => eprintln!("{limit}"),
        Err(e) => eprintln!("cannot raise the open-file limit: {e}"),
    }
}

/// The child: greets and closes on every connection (the server closes first, so the
/// TIME_WAIT sockets are on its side, not the client's); on 127.0.0.2 the same ports
/// accept and never greet (black holes: the poll ends at its time-out). With `syn_drop`
/// they never accept and keep a backlog of one: the kernel drops SYNs once it is full.
fn listen(syn_drop: bool) {
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    runtime.block_on(async {
        let mut held = Vec::new();
        for _ in 0..LISTENERS {
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
                    .await
                    .unwrap_or_else(|e| fail(&format!("bind: {e}")));
            let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
            let at = SocketAddr::new(IpAddr::V4(BLACK_HOLE_IP), port);
            if syn_drop {
                let socket = tokio::net::TcpSocket::new_v4()
                    .and_then(|s| s.bind(at).map(|()| s))
                    .and_then(|s| s.listen(1))
                    .unwrap_or_else(|e| fail(&format!("bind {at}: {e}")));
                // Never accepted: held open until the child is killed.
                held.push(socket);
                println!("{port}");
                spawn_greeter(listener);
                continue;
            }
            let silent = tokio::net::TcpListener::bind(at)
                .await
                .unwrap_or_else(|e| fail(&format!("bind {at}: {e}")));
            tokio::spawn(async move {
                loop {
                    match silent.accept().await {
                        Ok((mut tcp, _)) => {
                            // Reads until the poller gives up and closes; never answers.
                            tokio::spawn(async move {
                                let mut buf = [0u8; 256];
                                while let Ok(n) =
                                    tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await
                                {
                                    if n == 0 {
                                        break;
                                    }
                                }
                            });
                        }
                        // Out of descriptors, say: try again soon rather than spin.
                        Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                }
            });
            println!("{port}");
            spawn_greeter(listener);
        }
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
        drop(held);
    });
}

/// Greets and closes every connection of a healthy listener.
fn spawn_greeter(listener: tokio::net::TcpListener) {
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let _ = tokio::io::AsyncWriteExt::write_all(&mut tcp, b"220 bench ready\r\n").await;
            });
        }
    });
}

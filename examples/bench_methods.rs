//! Polling-methods benchmark (issue 4): for each method, N servers (default 10,000) in sets
//! of 100, all polled every second against local peers, so the configured rate is more
//! than the engine can do and the achieved rate is its ceiling. Prints polls/s, failed
//! polls, the engine process's CPU and RSS; for HTTP also wrk's requests/s against the
//! same server in the same run, and the ratio. The peers (TCP greeter, HTTP server, DNS
//! responder) run in a child process so that the figures are the engine's own; ping goes
//! to the kernel's loopback echo, the command method runs `true`.
//!
//! cargo run --release --example bench_methods -- [--servers N] [--seconds S] [METHOD...]
//! METHOD: ping tcp http dns command (default: all). Linux only (reads /proc); ping needs
//! root or CAP_NET_RAW where unprivileged ICMP is off; wrk must be on PATH.

mod common;

use common::*;

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant};

use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{CommandSpec, DnsPoll, HttpPoll, PollMethod, Settings, TcpPoll, TextRule};

const SERVERS_PER_SET: usize = 100;
const METHODS: [&str; 5] = ["ping", "tcp", "http", "dns", "command"];

/// Ports of the child's peers.
struct Peers {
    tcp: u16,
    http: u16,
    dns: u16,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("peers") {
        peers();
        return;
    }
    let mut servers = 10_000usize;
    let mut seconds = 10u64;
    let mut methods = Vec::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--servers" => servers = it.next().and_then(|v| v.parse().ok()).unwrap_or(servers),
            "--seconds" => seconds = it.next().and_then(|v| v.parse().ok()).unwrap_or(seconds),
            m if METHODS.contains(&m) => methods.push(m.to_owned()),
            other => fail(&format!("unknown argument {other:?}")),
        }
    }
    if methods.is_empty() {
        methods = METHODS.iter().map(|m| m.to_string()).collect();
    }
    let exe = std::env::current_exe().unwrap_or_else(|e| fail(&format!("no exe: {e}")));
    let mut child = Process::new(exe)
        .arg("peers")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start the peers: {e}")));
    let mut lines =
        BufReader::new(child.stdout.take().unwrap_or_else(|| fail("no stdout"))).lines();
    let mut port = || -> u16 {
        match lines.next() {
            Some(Ok(line)) => line.trim().parse().unwrap_or_else(|_| fail("bad port")),
            _ => fail("the peers did not report their ports"),
        }
    };
    let peers = Peers {
        tcp: port(),
        http: port(),
        dns: port(),
    };
    println!(
        "{servers} servers, every 1 s (configured {servers} polls/s), max_concurrent_polls 100 \
         (the default before auto), {seconds} s measured after 2 s warm-up; CPU = engine process, \
         100 % = one core"
    );
    println!();
    println!("| method | achieved polls/s | failed polls | engine CPU | RSS |");
    println!("|---|---:|---:|---:|---:|");
    let mut http_rate = None;
    for method in &methods {
        let rate = run(method, servers, seconds, &peers);
        if method == "http" {
            http_rate = Some(rate);
        }
    }
    if let Some(rate) = http_rate {
        println!();
        println!("| HTTP ceiling (wrk -t1 -c100 -d5s, same server) | requests/s | engine / wrk |");
        println!("|---|---:|---:|");
        for (label, close) in [
            ("new connection per request (as the engine)", true),
            ("keep-alive", false),
        ] {
            match wrk(peers.http, close) {
                Some(ceiling) => println!("| {label} | {ceiling:.0} | {:.2} |", rate / ceiling),
                None => println!("| {label} | wrk failed | – |"),
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn method_settings(method: &str, peers: &Peers) -> PollMethod {
    match method {
        "ping" => PollMethod::Ping,
        "tcp" => PollMethod::Tcp(TcpPoll {
            port: Some(peers.tcp),
            greeting: Some(TextRule::StartsWith("220".into())),
            ..TcpPoll::default()
        }),
        "http" => PollMethod::Http(HttpPoll {
            url: format!("http://www.example.test:{}/", peers.http),
            ..HttpPoll::default()
        }),
        "dns" => PollMethod::Dns(DnsPoll {
            host_name: "www.example.test".into(),
            port: peers.dns,
            expect_address: Some("192.0.2.10".into()),
            ..DnsPoll::default()
        }),
        _ => PollMethod::Command(CommandSpec {
            program: "true".into(),
            args: vec!["$SERVERIP$".into()],
            ..CommandSpec::default()
        }),
    }
}

/// Runs one method; returns its achieved polls/s.
fn run(method: &str, servers: usize, seconds: u64, peers: &Peers) -> f64 {
    let mut settings = Settings {
        server_sets: loopback_sets(servers, SERVERS_PER_SET, Duration::from_secs(1), |_| {
            method_settings(method, peers)
        }),
        ..Settings::default()
    };
    // The ceiling at a fixed limit, comparable with the figures in BENCHMARKS.md (the
    // default is auto now, which would give these servers 12,500).
    settings.options.polling.max_concurrent_polls = 100;
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings))
        .unwrap_or_else(|e| fail(&format!("engine: {e}")));
    std::thread::sleep(Duration::from_secs(2));
    let failures = |e: &EngineHandle| -> u64 {
        e.snapshot()
            .sets
            .iter()
            .flat_map(|s| s.servers.iter())
            .map(|s| s.failures)
            .sum()
    };
    let (cpu0, t0, polls0, failed0) = (
        cpu_seconds(),
        Instant::now(),
        engine.snapshot().stats.polls_completed,
        failures(&engine),
    );
    std::thread::sleep(Duration::from_secs(seconds));
    let snapshot = engine.snapshot();
    let (cpu1, elapsed) = (cpu_seconds(), t0.elapsed().as_secs_f64());
    let achieved = (snapshot.stats.polls_completed - polls0) as f64 / elapsed;
    let failed = failures(&engine) - failed0;
    let problem = snapshot
        .problems
        .first()
        .map(|p| format!(" ({}: {})", p.code, p.text));
    println!(
        "| {method} | {achieved:.0} | {failed}{} | {:.0} % | {} MiB |",
        if failed > 0 {
            problem.unwrap_or_default()
        } else {
            String::new()
        },
        (cpu1 - cpu0) / elapsed * 100.0,
        rss_kib() / 1024,
    );
    let _ = std::io::stdout().flush();
    engine.shutdown();
    achieved
}

/// wrk's requests/s against the peers' HTTP server.
fn wrk(port: u16, close: bool) -> Option<f64> {
    let mut command = Process::new("wrk");
    command.args(["-t1", "-c100", "-d5s"]);
    if close {
        command.args(["-H", "Connection: close"]);
    }
    let output = command
        .arg(format!("http://127.0.0.1:{port}/"))
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
}

/// The child: a TCP greeter, an HTTP server and a DNS responder on loopback, one thread.
fn peers() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    runtime.block_on(async {
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let bind = |what: &str, e: std::io::Error| -> ! { fail(&format!("bind {what}: {e}")) };
        let tcp = tokio::net::TcpListener::bind(local)
            .await
            .unwrap_or_else(|e| bind("tcp", e));
        let http = tokio::net::TcpListener::bind(local)
            .await
            .unwrap_or_else(|e| bind("http", e));
        let dns = tokio::net::UdpSocket::bind(local)
            .await
            .unwrap_or_else(|e| bind("dns", e));
        for port in [&tcp.local_addr(), &http.local_addr(), &dns.local_addr()] {
            println!("{}", port.as_ref().map(|a| a.port()).unwrap_or(0));
        }
        let _ = std::io::stdout().flush();
        // The greeter closes first, so TIME_WAIT sockets are on its side.
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                tokio::spawn(async move {
                    let _ =
                        tokio::io::AsyncWriteExt::write_all(&mut stream, b"220 bench ready\r\n")
                            .await;
                });
            }
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = http.accept().await {
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(|_request| async {
                        Ok::<_, Infallible>(hyper::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from_static(b"ok"),
                        )))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        tokio::spawn(async move {
            use hickory_proto::op::{Message, OpCode};
            use hickory_proto::rr::{RData, Record, rdata::A};
            let mut buffer = vec![0u8; 4096];
            while let Ok((n, from)) = dns.recv_from(&mut buffer).await {
                let Ok(query) = Message::from_vec(&buffer[..n]) else {
                    continue;
                };
                let mut answer = Message::response(query.metadata.id, OpCode::Query);
                answer.metadata.authoritative = true;
                if let Some(q) = query.queries.first() {
                    answer.add_answer(Record::from_rdata(
                        q.name().clone(),
                        60,
                        RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
                    ));
                }
                answer.add_queries(query.queries);
                if let Ok(bytes) = answer.to_vec() {
                    let _ = dns.send_to(&bytes, from).await;
                }
            }
        });
        std::future::pending::<()>().await;
    });
}

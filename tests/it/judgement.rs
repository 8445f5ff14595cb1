//! Sharper judgement (issue 16 items 1, 6, 7) end to end: sub-second polling that moves a
//! real BIND's records; the connectivity guard in a network namespace whose link is cut;
//! the TTL that follows the state.

use std::net::IpAddr;
use std::time::Duration;

use standby::engine::server_state::ServerStatus;
use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{
    DnsData, EventKind, HttpPoll, PollFrequency, PollMethod, Server, ServerSet, Settings, UpdateDns,
};

use crate::support::ports::common_port;
use crate::support::{bounded, http, peers, wait_until};

/// Asks BIND until it gives `want` for www (bounded by the test's time-out).
async fn bind_gives(bind: &peers::Peer, want: &[&str]) {
    while bind.dig("www.example.test", "A").await != want {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A set of two HTTP servers on `port` that keeps www.example.test on `bind`.
fn web_set(
    servers: [IpAddr; 2],
    port: u16,
    bind: &peers::Peer,
    frequency: PollFrequency,
) -> ServerSet {
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
        frequency,
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ttl: 30,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            dns_servers: vec![bind.rfc2136_server()],
        },
        ..ServerSet::default()
    }
}

/// Polled every 200 ms with 2 retries 100 ms apart: the first server stops, BIND answers
/// the second. (The cadence itself is the core's table test
/// `sub_second_intervals_and_retries_keep_their_cadence`; how fast is BENCHMARKS.md's
/// `bench_failover_subsecond`, never asserted here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sub_second_polling_moves_bind() {
    bounded(async {
        let (a, b): (IpAddr, IpAddr) =
            ("127.0.0.71".parse().unwrap(), "127.0.0.72".parse().unwrap());
        let port = common_port(&[a, b]);
        let server_a = http::stoppable_http_server(a, port).await;
        let _server_b = http::stoppable_http_server(b, port).await;
        let bind = peers::Peer::primary(peers::Kind::Bind).await;
        let ms = Duration::from_millis;
        let frequency = PollFrequency {
            interval: ms(200),
            failed_interval: ms(200),
            retries: 2,
            retry_interval: ms(100),
            timeout: ms(500),
            ..PollFrequency::default()
        };
        let settings = Settings {
            server_sets: vec![web_set([a, b], port, &bind, frequency)],
            ..Settings::default()
        };
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
        bind_gives(&bind, &["127.0.0.71"]).await;
        server_a.abort();
        let _ = server_a.await;
        bind_gives(&bind, &["127.0.0.72"]).await;
        engine.shutdown();
    })
    .await;
}

/// A network namespace of this test's own, joined to this one by a veth pair on
/// 198.18.0.0/15 (RFC 2544's test range: neither private nor the Internet), with listeners
/// inside it (one process per listener, stopped by PID). `cut` takes the inner end down:
/// packets to it are sent and lost (no route disappears, so none tries to leave).
struct CutOff {
    name: String,
    inner: String,
    listeners: Vec<std::process::Child>,
}

fn ip(args: &[&str]) -> bool {
    std::process::Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl CutOff {
    /// `None` when namespaces cannot be made here (not root, no `ip`).
    fn new(id: u8) -> Option<CutOff> {
        let name = format!("sbguard{}", std::process::id());
        let (outer, inner) = (format!("sbg{id}a"), format!("sbg{id}b"));
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let ns = CutOff {
            name: name.clone(),
            inner: inner.clone(),
            listeners: Vec::new(),
        };
        let ours = format!("198.18.{id}.9/29");
        let steps: Vec<Vec<String>> = vec![
            vec![
                "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", &name,
            ]
            .into_iter()
            .map(String::from)
            .collect(),
            vec![
                "addr".into(),
                "add".into(),
                ours,
                "dev".into(),
                outer.clone(),
            ],
            vec!["link".into(), "set".into(), outer.clone(), "up".into()],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                "lo".into(),
                "up".into(),
            ],
            vec![
                "-n".into(),
                name.clone(),
                "link".into(),
                "set".into(),
                inner.clone(),
                "up".into(),
            ],
        ];
        for step in &steps {
            let step: Vec<&str> = step.iter().map(String::as_str).collect();
            assert!(ip(&step), "ip {}", step.join(" "));
        }
        for host in 10..=14 {
            let address = format!("198.18.{id}.{host}/29");
            assert!(ip(&["-n", &name, "addr", "add", &address, "dev", &inner]));
        }
        Some(ns)
    }

    /// A TCP listener at `address:port` inside the namespace; ready when it accepts.
    async fn listen(&mut self, address: IpAddr, port: u16) -> usize {
        let script = format!(
            "import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
             s.bind(('{address}',{port}))\ns.listen(64)\nwhile True:\n  c,_=s.accept()\n  c.close()\n"
        );
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, "python3", "-c", &script])
            .spawn()
            .expect("python3 in the namespace");
        self.listeners.push(child);
        while tokio::net::TcpStream::connect((address, port))
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.listeners.len() - 1
    }

    fn stop(&mut self, listener: usize) {
        let _ = self.listeners[listener].kill();
        let _ = self.listeners[listener].wait();
    }

    /// Takes the link down (`up = false`) or up again, from inside the namespace.
    fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        assert!(ip(&["-n", &self.name, "link", "set", &self.inner, state]));
    }
}

impl Drop for CutOff {
    fn drop(&mut self) {
        for child in &mut self.listeners {
            let _ = child.kill();
            let _ = child.wait();
        }
        ip(&["netns", "del", &self.name]);
    }
}

/// The connectivity guard end to end: servers and references sit behind a link of a
/// network namespace of our own; the link is cut. The guard's problem appears, the
/// servers' failed polls are recorded as not judged, and BIND's zone (its SOA serial and
/// www) is unchanged after them: DNS did not move. The link comes back: the problem
/// clears; then a server that really stops is failed over as always.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_link_moves_no_dns_while_the_references_fail_too() {
    use standby::engine::problems::NETWORK_SUBJECT;
    use standby::model::guard::ConnectivityGuard;
    use standby::model::{PollMethod, TcpPoll};
    bounded(async {
        let id = (std::process::id() % 200) as u8 + 1;
        let Some(mut ns) = CutOff::new(id) else {
            eprintln!("SKIPPED: cannot create a network namespace here (not root?)");
            return;
        };
        let host = |n: u8| IpAddr::from([198, 18, id, n]);
        let (a, b) = (host(10), host(11));
        let port = 8080;
        let server_a = ns.listen(a, port).await;
        ns.listen(b, port).await;
        for r in [12, 13, 14] {
            ns.listen(host(r), 53).await;
        }
        let bind = peers::Peer::primary(peers::Kind::Bind).await;
        let ms = Duration::from_millis;
        // The servers need 2 retries 1 s apart to fail; the references are polled every
        // 200 ms, so the guard knows first.
        let frequency = PollFrequency {
            interval: ms(500),
            failed_interval: ms(500),
            retries: 2,
            retry_interval: ms(1000),
            timeout: ms(300),
            ..PollFrequency::default()
        };
        let mut set = web_set([a, b], port, &bind, frequency);
        set.polling = PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        });
        let mut settings = Settings {
            server_sets: vec![set],
            ..Settings::default()
        };
        settings.options.connectivity_guard = ConnectivityGuard {
            references: [12, 13, 14].iter().map(|r| host(*r).to_string()).collect(),
            interval: ms(200),
            timeout: ms(300),
            ..ConnectivityGuard::default()
        };
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
        let first = a.to_string();
        bind_gives(&bind, &[first.as_str()]).await;
        let soa = bind.dig("example.test", "SOA").await;

        ns.link(false);
        let network_down =
            |s: &standby::engine::Snapshot| s.problems.iter().any(|p| p.subject == NETWORK_SUBJECT);
        wait_until(&engine, "the guard's problem", network_down).await;
        // Both servers' failed polls, more than their retries, recorded as not judged.
        let client = engine.client();
        loop {
            let rows = client
                .query_history(Default::default())
                .await
                .unwrap_or_default();
            let unjudged = |ip: IpAddr| {
                rows.iter()
                    .filter(|r| r.server == ip.to_string() && r.response.contains("not judged"))
                    .count()
            };
            if unjudged(a) >= 4 && unjudged(b) >= 4 {
                break;
            }
            tokio::time::sleep(ms(100)).await;
        }
        let s = engine.snapshot();
        assert!(network_down(&s), "still cut off");
        let web = s.set("web").unwrap();
        assert!(
            web.servers.iter().all(|v| v.status != ServerStatus::Failed),
            "no server judged failed: {:?}",
            web.servers.iter().map(|v| v.status).collect::<Vec<_>>()
        );
        assert!(
            !s.events.iter().any(|e| e.kind == EventKind::ServerFailed),
            "{:?}",
            s.events
        );
        assert_eq!(
            bind.dig("example.test", "SOA").await,
            soa,
            "BIND's serial moved"
        );
        assert_eq!(bind.dig("www.example.test", "A").await, [first.as_str()]);
        let metrics = standby::api::metrics::render(&s);
        assert!(
            metrics.contains("standby_monitor_network_down 1"),
            "{metrics}"
        );

        ns.link(true);
        wait_until(&engine, "the guard's problem clears", |s| !network_down(s)).await;
        // Judged again: the first server really stops, DNS moves.
        ns.stop(server_a);
        bind_gives(&bind, &[b.to_string().as_str()]).await;
        engine.shutdown();
    })
    .await;
}

/// The A records `server` gives for `name`, each with its TTL, asked over UDP without
/// recursion (bounded: no answer in 2 s is none).
async fn a_records(server: std::net::SocketAddr, name: &str) -> Vec<(IpAddr, u32)> {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RData, RecordType};
    let mut m = Message::new(0x5157, MessageType::Query, OpCode::Query);
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&m.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let Ok(Ok(n)) = tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf)).await
    else {
        return Vec::new();
    };
    let answer = Message::from_vec(&buf[..n]).unwrap();
    let mut records: Vec<(IpAddr, u32)> = answer
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((IpAddr::V4(a.0), r.ttl)),
            _ => None,
        })
        .collect();
    records.sort();
    records
}

/// Asks `server` until it gives exactly `want` (address, TTL) for www (bounded by the
/// test's time-out).
async fn answers(server: std::net::SocketAddr, name: &str, want: &[(IpAddr, u32)]) {
    while a_records(server, name).await != want {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The TTL that follows the state on a real BIND: all well, www has the normal TTL (30);
/// the first server stops, and BIND gives the second with the lower TTL (5), written by
/// the failover's update and kept while the first is failed; the first comes back, and
/// after the 2 s window that the failback starts BIND gives it with the normal TTL again
/// (never sooner: the window is a lower bound, whatever the load). Nothing here depends
/// on seeing a state that lasts only as long as the window.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_gets_the_lower_ttl_after_a_failover_and_the_normal_one_after_the_window() {
    use standby::model::LowTtl;
    bounded(async {
        let (a, b): (IpAddr, IpAddr) =
            ("127.0.0.73".parse().unwrap(), "127.0.0.74".parse().unwrap());
        let port = common_port(&[a, b]);
        let server_a = http::stoppable_http_server(a, port).await;
        let _server_b = http::stoppable_http_server(b, port).await;
        let bind = peers::Peer::primary(peers::Kind::Bind).await;
        let ms = Duration::from_millis;
        let frequency = PollFrequency {
            interval: ms(200),
            failed_interval: ms(200),
            retries: 1,
            retry_interval: ms(100),
            timeout: ms(1000),
            ..PollFrequency::default()
        };
        let window = Duration::from_secs(2);
        let mut set = web_set([a, b], port, &bind, frequency);
        set.dns.low_ttl = LowTtl {
            ttl: 5,
            while_failed: true,
            after_change: window,
        };
        let settings = Settings {
            server_sets: vec![set],
            ..Settings::default()
        };
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
        let www = "www.example.test.";
        answers(bind.addr, www, &[(a, 30)]).await;
        server_a.abort();
        let _ = server_a.await;
        answers(bind.addr, www, &[(b, 5)]).await;
        // The first server answers again: failback, then the window, then the normal TTL.
        let _server_a = http::stoppable_http_server(a, port).await;
        wait_until(&engine, "the first server recovered", |s| {
            s.events.iter().any(|e| {
                e.kind == EventKind::ServerRecovered && e.details.server_ip == a.to_string()
            })
        })
        .await;
        answers(bind.addr, www, &[(a, 30)]).await;
        let seen = std::time::SystemTime::now();
        let s = engine.snapshot();
        let recovered = s
            .events
            .iter()
            .rfind(|e| e.kind == EventKind::ServerRecovered)
            .unwrap()
            .time;
        assert!(
            seen.duration_since(recovered).unwrap_or_default() >= window,
            "the normal TTL came back before the window ended"
        );
        // The TTL alone changed at the window's end: logged, not told as "DNS updated".
        // Waited for in the snapshot (it follows at most every 100 ms).
        wait_until(
            &engine,
            "the TTL's return logged and the pair settled",
            |s| {
                s.log
                    .iter()
                    .any(|l| l.text.contains("DNS gives TTL 30 s now"))
                    && s.set("web").is_some_and(|w| !w.dns[0].in_flight)
            },
        )
        .await;
        let s = engine.snapshot();
        let updated: Vec<_> = s
            .events
            .iter()
            .filter(|e| e.kind == EventKind::DnsUpdated)
            .collect();
        assert!(
            updated
                .iter()
                .all(|e| e.details.old_ips != e.details.new_ips),
            "{updated:?}"
        );
        engine.shutdown();
    })
    .await;
}

/// A listener that takes every connection and closes it (a TCP poll's server).
async fn accepting(ip: IpAddr, port: u16) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind((ip, port)).await.unwrap();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} })
}

/// DNS serving answers the lower TTL while a server of the set has failed, and the
/// normal one once it works again (no address changed: the failed one is the backup).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_serving_answers_the_lower_ttl_while_a_server_is_failed() {
    use standby::model::{LowTtl, TcpPoll};
    bounded(async {
        let (up, down): (IpAddr, IpAddr) =
            ("127.0.0.75".parse().unwrap(), "127.0.0.76".parse().unwrap());
        let port = common_port(&[up, down]);
        let _listener = accepting(up, port).await;
        let dns = crate::support::ports::free_addr("127.0.0.1".parse().unwrap());
        let ms = Duration::from_millis;
        let mut settings = Settings::default();
        settings.options.dns_serving.enabled = true;
        settings.options.dns_serving.listen_address = dns.ip().to_string();
        settings.options.dns_serving.port = dns.port();
        settings.server_sets = vec![ServerSet {
            name: "web".into(),
            servers: [up, down]
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
                interval: ms(200),
                failed_interval: ms(200),
                retries: 0,
                timeout: ms(2000),
                ..PollFrequency::default()
            },
            dns: DnsData {
                host_names: vec!["www.served.test".into()],
                ttl: 42,
                low_ttl: LowTtl {
                    ttl: 7,
                    while_failed: true,
                    after_change: Duration::ZERO,
                },
                ..DnsData::default()
            },
            ..ServerSet::default()
        }];
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
        standby::dnsserve::spawn(engine.client()).unwrap();
        let www = "www.served.test.";
        // The backup refuses: failed, and the answer (the first server) has the lower TTL.
        answers(dns, www, &[(up, 7)]).await;
        let s = engine.snapshot();
        let web = s.set("web").unwrap();
        assert_eq!(web.servers[1].status, ServerStatus::Failed);
        assert_eq!(web.ttl, 7);
        let metrics = standby::api::metrics::render(&s);
        assert!(
            metrics.contains("standby_set_dns_ttl_seconds{set=\"web\"} 7")
                && metrics.contains("standby_set_dns_ttl_low{set=\"web\"} 1"),
            "{metrics}"
        );
        // The backup answers again: the normal TTL.
        let _backup = accepting(down, port).await;
        answers(dns, www, &[(up, 42)]).await;
        engine.shutdown();
    })
    .await;
}

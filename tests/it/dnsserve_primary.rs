//! Standby as the hidden primary of its zone (issue 15): real BIND 9 and Knot secondaries
//! transfer it (AXFR), are told of each change by NOTIFY and fetch it by IXFR, and serve a
//! failover the engine decided; transfers need the zone's TSIG key and a listed address.
//!
//! The time from the decision to each secondary serving it is printed (BENCHMARKS.md),
//! never asserted: the waits are bounded, the speed is measured.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{RData, RecordType};
use standby::engine::EngineHandle;
use standby::model::options::{DnsZone, ZoneNameServer};
use standby::model::{Secret, TsigAlgorithm, TsigKey};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::{Instant, timeout};

use super::dnsserve_limits::{query, serving, set};
use crate::support::peers::{Kind, Peer, dig};
use crate::support::{bounded, wait_until};

const ZONE: &str = "failover.test";
/// How long a secondary may take to serve a change (a bounded wait, not a speed limit).
const PROPAGATION: Duration = Duration::from_secs(20);

fn zone(notify: &[SocketAddr], allowed_from: &[&str], key: Option<TsigKey>) -> DnsZone {
    let mut zone = DnsZone {
        name: ZONE.into(),
        primary: "hidden.failover.test".into(),
        contact: "hostmaster@failover.test".into(),
        // Long refresh and retry: only a NOTIFY can bring a change along quickly.
        refresh_secs: 3600,
        retry_secs: 600,
        minimum_secs: 30,
        ttl: 3600,
        name_servers: vec![ZoneNameServer {
            name: "ns1.failover.test".into(),
            addresses: vec!["192.0.2.53".into()],
        }],
        ..DnsZone::default()
    };
    zone.transfer.allowed_from = allowed_from.iter().map(|s| s.to_string()).collect();
    zone.transfer.notify = notify.iter().map(ToString::to_string).collect();
    zone.transfer.key = key;
    zone
}

/// `www.failover.test A` from `server` over UDP (bounded), the addresses sorted.
async fn addresses(server: SocketAddr) -> Vec<IpAddr> {
    let socket = UdpSocket::bind(SocketAddr::new(server.ip(), 0))
        .await
        .unwrap();
    socket
        .send_to(&query("www.failover.test.", RecordType::A, None), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let Ok(Ok(n)) = timeout(Duration::from_millis(500), socket.recv(&mut buf)).await else {
        return Vec::new();
    };
    let Ok(m) = Message::from_vec(&buf[..n]) else {
        return Vec::new();
    };
    let mut ips: Vec<IpAddr> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            _ => None,
        })
        .collect();
    ips.sort();
    ips
}

/// Waits (bounded) until `server` answers `ip` for www; returns how long it took from
/// `since`.
async fn serves(server: SocketAddr, ip: &str, since: Instant, who: &str) -> Duration {
    let want = vec![ip.parse::<IpAddr>().unwrap()];
    let until = Instant::now() + PROPAGATION;
    loop {
        if addresses(server).await == want {
            return since.elapsed();
        }
        assert!(
            Instant::now() < until,
            "{who} at {server} did not serve {ip} within {PROPAGATION:?}"
        );
        // A short pause between questions; the answer decides.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the engine decides `ip` for set `web`; returns when it saw it.
async fn decided(engine: &EngineHandle, ip: &str) -> Instant {
    let want: IpAddr = ip.parse().unwrap();
    wait_until(engine, &format!("web decided {ip}"), |s| {
        s.set("web")
            .and_then(|w| w.decision.addresses())
            .is_some_and(|a| a == [want])
    })
    .await;
    Instant::now()
}

/// `dig` (or `kdig`) with `args`, bounded; its standard output.
async fn run(program: &str, args: &[String]) -> String {
    let out = tokio::process::Command::new(program)
        .args(args)
        .kill_on_drop(true)
        .output();
    let out = timeout(Duration::from_secs(10), out)
        .await
        .expect("dig took too long")
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn dig_args(server: SocketAddr, rest: &[&str]) -> Vec<String> {
    let mut args = vec![
        format!("@{}", server.ip()),
        "-p".into(),
        server.port().to_string(),
        "+time=3".into(),
        "+tries=1".into(),
    ];
    args.extend(rest.iter().map(|s| s.to_string()));
    args
}

/// The serial Standby's zone has now.
async fn serial(server: SocketAddr) -> u32 {
    let lines = dig(server, ZONE, "SOA").await;
    let soa = lines.first().expect("an SOA");
    soa.split(' ').nth(2).unwrap().parse().unwrap()
}

/// A failover and a failback decided by the engine reach both secondaries through
/// NOTIFY and IXFR; `dig ixfr=` against Standby shows the incremental answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_and_knot_secondaries_follow_a_failover() {
    bounded(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let second = TcpListener::bind(("127.0.0.2", port)).await.unwrap();
        let first_task = tokio::spawn(async move { while first.accept().await.is_ok() {} });
        tokio::spawn(async move { while second.accept().await.is_ok() {} });
        let bind_addr = Peer::free_addr_for(Kind::Bind);
        let knot_addr = Peer::secondary_addr();
        let (engine, server) = serving(|s| {
            s.options.dns_serving.zones =
                vec![zone(&[bind_addr, knot_addr], &["127.0.0.0/8"], None)];
            let mut web = set(
                "web",
                "www.failover.test",
                &["192.0.2.1".into(), "192.0.2.2".into()],
                port,
            );
            web.dns.addresses_of = standby::model::AddressSelection::FirstFunctional;
            web.servers[1].poll_ip = Some("127.0.0.2".into());
            web.frequency.interval = std::time::Duration::from_secs(1);
            web.frequency.failed_interval = std::time::Duration::from_secs(1);
            web.frequency.retries = 0;
            web.frequency.timeout = std::time::Duration::from_secs(1);
            s.server_sets = vec![web];
        })
        .await;
        serves(server, "192.0.2.1", Instant::now(), "Standby").await;

        // Both secondaries load the zone by AXFR.
        let bind = Peer::secondary_of(Kind::Bind, bind_addr, ZONE, server, None).await;
        let knot = Peer::secondary_of(Kind::Knot, knot_addr, ZONE, server, None).await;
        assert_eq!(
            dig(bind.addr, "www.failover.test", "A").await,
            ["192.0.2.1"]
        );
        assert_eq!(
            dig(knot.addr, "www.failover.test", "A").await,
            ["192.0.2.1"]
        );
        assert_eq!(
            dig(knot.addr, "ns1.failover.test", "A").await,
            ["192.0.2.53"],
            "glue transferred"
        );
        let before = serial(server).await;

        // Failover: the first server stops answering.
        first_task.abort();
        let at = decided(&engine, "192.0.2.2").await;
        let to_bind = serves(bind.addr, "192.0.2.2", at, "BIND").await;
        let to_knot = serves(knot.addr, "192.0.2.2", at, "Knot").await;
        println!(
            "hidden primary: failover served by BIND {} ms, Knot {} ms after the decision",
            to_bind.as_millis(),
            to_knot.as_millis()
        );
        let after = serial(server).await;
        assert!(after > before, "serial {before} → {after}");
        // kdig agrees with the secondaries' new copy.
        let kdig = [
            format!("@{}", knot.addr.ip()),
            "-p".into(),
            knot.addr.port().to_string(),
            "+timeout=3".into(),
            "+retry=0".into(),
            "+short".into(),
            "www.failover.test".into(),
            "A".into(),
        ];
        let out = run("kdig", &kdig).await;
        assert_eq!(out.trim(), "192.0.2.2");

        // The secondaries asked by IXFR and got the difference: Standby logged it.
        let ixfr = format!("IXFR of {ZONE} serial {before} → {after} to ");
        wait_until(&engine, "incremental transfers logged", |s| {
            s.log.iter().filter(|l| l.text.contains(&ixfr)).count() >= 2
        })
        .await;
        // And dig ixfr= gets it too: new SOA, old SOA, the old address, new SOA, the new
        // address, new SOA.
        let ixfr_arg = format!("ixfr={before}");
        let out = run(
            "dig",
            &dig_args(server, &["+nocmd", "+nostats", ZONE, &ixfr_arg]),
        )
        .await;
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 6, "{out}");
        assert!(lines[0].contains("SOA") && lines[0].contains(&format!(" {after} ")));
        assert!(lines[1].contains("SOA") && lines[1].contains(&format!(" {before} ")));
        assert!(lines[2].ends_with("192.0.2.1"), "{out}");
        assert!(lines[4].ends_with("192.0.2.2"), "{out}");
        // Knot says so in its log too (an IXFR, not the AXFR fallback).
        assert!(knot.log().contains("IXFR, incoming"), "{}", knot.log());

        // Failback: the first server answers again.
        let again = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        tokio::spawn(async move { while again.accept().await.is_ok() {} });
        let at = decided(&engine, "192.0.2.1").await;
        let to_bind = serves(bind.addr, "192.0.2.1", at, "BIND").await;
        let to_knot = serves(knot.addr, "192.0.2.1", at, "Knot").await;
        println!(
            "hidden primary: failback served by BIND {} ms, Knot {} ms after the decision",
            to_bind.as_millis(),
            to_knot.as_millis()
        );
        wait_until(&engine, "NOTIFYs acknowledged", |s| {
            s.log.iter().any(|l| {
                l.text.contains("NOTIFY acknowledged by")
                    && l.text.contains(&bind_addr.to_string())
                    && l.text.contains(&knot_addr.to_string())
            })
        })
        .await;
        engine.shutdown();
    })
    .await;
}

/// With a key, an unsigned AXFR is refused and a signed one answered (signed); a client
/// outside `allowed_from` is refused even with the key; BIND and Knot with the key load
/// the zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_need_the_key_and_a_listed_address() {
    bounded(async {
        let port = super::dnsserve_limits::up_listener().await;
        let key = TsigKey {
            name: "xfr-key".into(),
            algorithm: TsigAlgorithm::HmacSha256,
            secret: TsigAlgorithm::HmacSha256.generate_secret(),
        };
        let bind_addr = Peer::free_addr_for(Kind::Bind);
        let knot_addr = Peer::secondary_addr();
        // Listed: 127.0.0.1 (dig, BIND) and Knot's own address; not 127.0.0.2.
        let knot_net = format!("{}/32", knot_addr.ip());
        let (engine, server) = serving(|s| {
            s.options.dns_serving.zones = vec![zone(
                &[bind_addr, knot_addr],
                &["127.0.0.1/32", &knot_net],
                Some(key.clone()),
            )];
            s.server_sets = vec![set("web", "www.failover.test", &["192.0.2.1".into()], port)];
        })
        .await;
        serves(server, "192.0.2.1", Instant::now(), "Standby").await;
        let secret = format!("hmac-sha256:xfr-key:{}", key.secret.expose());

        // Unsigned: refused.
        let out = run("dig", &dig_args(server, &[ZONE, "AXFR"])).await;
        assert!(out.contains("Transfer failed"), "{out}");
        assert!(!out.contains("192.0.2.1"), "{out}");
        // Signed with the key: the whole zone, and dig checked the answer's signature
        // (it prints a failure otherwise).
        let out = run("dig", &dig_args(server, &["-y", &secret, ZONE, "AXFR"])).await;
        assert!(
            out.contains("www.failover.test.\t42\tIN\tA\t192.0.2.1"),
            "{out}"
        );
        assert!(
            !out.contains("failure") && !out.contains("Transfer failed"),
            "{out}"
        );
        // A wrong secret: NOTAUTH (BADSIG).
        let wrong = format!(
            "hmac-sha256:xfr-key:{}",
            Secret::new("d3JvbmdfX3dyb25nX193cm9uZ19fd3JvbmdfX3dyb24=").expose()
        );
        let out = run("dig", &dig_args(server, &["-y", &wrong, ZONE, "AXFR"])).await;
        assert!(!out.contains("192.0.2.1"), "{out}");
        // Not listed: refused, key or not.
        let mut args = dig_args(server, &["-b", "127.0.0.2", "-y", &secret, ZONE, "AXFR"]);
        args.push("+tcp".into());
        let out = run("dig", &args).await;
        assert!(out.contains("Transfer failed"), "{out}");
        let s = wait_until(&engine, "the refusals logged", |s| {
            s.log.iter().any(|l| {
                l.text
                    .contains("not TSIG-signed (the zone requires its key)")
            })
        })
        .await;
        let log: Vec<&str> = s.log.iter().map(|l| l.text.as_str()).collect();
        assert!(
            log.iter().all(|l| !l.contains(key.secret.expose())),
            "the secret never in the log"
        );

        // Real secondaries with the key load it (signed SOA query, signed transfer).
        let bind = Peer::secondary_of(Kind::Bind, bind_addr, ZONE, server, Some(&key)).await;
        let knot = Peer::secondary_of(Kind::Knot, knot_addr, ZONE, server, Some(&key)).await;
        assert_eq!(
            dig(bind.addr, "www.failover.test", "A").await,
            ["192.0.2.1"]
        );
        assert_eq!(
            dig(knot.addr, "www.failover.test", "A").await,
            ["192.0.2.1"]
        );
        engine.shutdown();
    })
    .await;
}

/// Item 5: a change of what DNS serving answers for a set is an event that reaches the
/// set's notification methods (here a command that appends its tags to a file), with the
/// old and new addresses, like a DNS update. Like every event, a second change within the
/// coalescing window goes out when the window closes (1 s here), as its summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_of_what_is_served_is_notified() {
    bounded(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let second = TcpListener::bind(("127.0.0.2", port)).await.unwrap();
        let first_task = tokio::spawn(async move { while first.accept().await.is_ok() {} });
        tokio::spawn(async move { while second.accept().await.is_ok() {} });
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.txt");
        let (engine, server) = serving(|s| {
            s.options.dns_serving.zones = vec![zone(&[], &[], None)];
            s.options.notification.coalesce_secs = 1;
            s.options.notification.default_methods = vec![standby::model::NotificationMethod {
                kind: standby::model::NotificationKind::Command(standby::model::CommandSpec {
                    program: "sh".into(),
                    args: vec![
                        "-c".into(),
                        "printf '%s\\n' \"$1\" >> \"$2\"".into(),
                        "sh".into(),
                        "$EVENT$|$SETNAME$|$HOST$|$OLDIPS$|$NEWIPS$".into(),
                        out.display().to_string(),
                    ],
                    wait: None,
                }),
                events: vec![standby::model::EventKind::DnsServed],
                ..standby::model::NotificationMethod::default()
            }];
            let mut web = set(
                "web",
                "www.failover.test",
                &["192.0.2.1".into(), "192.0.2.2".into()],
                port,
            );
            web.dns.addresses_of = standby::model::AddressSelection::FirstFunctional;
            web.servers[1].poll_ip = Some("127.0.0.2".into());
            web.frequency.interval = std::time::Duration::from_secs(1);
            web.frequency.failed_interval = std::time::Duration::from_secs(1);
            web.frequency.retries = 0;
            web.frequency.timeout = std::time::Duration::from_secs(1);
            s.server_sets = vec![web];
        })
        .await;
        serves(server, "192.0.2.1", Instant::now(), "Standby").await;
        first_task.abort();
        serves(server, "192.0.2.2", Instant::now(), "Standby").await;
        let first = "DNS serving changed|web|www.failover.test||192.0.2.1";
        let (start, end) = (
            "DNS serving changed",
            "|web|www.failover.test|192.0.2.1|192.0.2.2",
        );
        let until = Instant::now() + PROPAGATION;
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            if lines
                .iter()
                .any(|l| l.starts_with(start) && l.ends_with(end))
            {
                assert_eq!(lines[0], first);
                break;
            }
            assert!(Instant::now() < until, "no failover message in {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        engine.shutdown();
    })
    .await;
}

//! The built-in DNS server as an authoritative server for a delegated zone (issue 15):
//! SOA and NS at the apex, NODATA / NXDOMAIN with the negative SOA, serials that grow,
//! SERVFAIL (never REFUSED) before a decision, EDNS and header conformance, forwarding
//! only for allowed networks, response rate limiting, "now serving" events, and a real
//! unbound with a stub zone pointing at Standby.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::opt::{EdnsCode, EdnsOption};
use hickory_proto::rr::{Name, RData, RecordType};
use standby::engine::Snapshot;
use standby::model::options::{DnsZone, ZoneNameServer};
use standby::model::{EventKind, Settings};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::timeout;

use super::dnsserve_limits::{
    WAIT, message, query, serving, set, start_serving, udp_raw, up_listener,
};
use crate::support::peers::unbound::Unbound;
use crate::support::wait_until;

const ZONE: &str = "failover.test";

fn zone(minimum: u32, glue: &str) -> DnsZone {
    DnsZone {
        name: ZONE.into(),
        primary: "ns1.failover.test".into(),
        contact: "hostmaster@failover.test".into(),
        minimum_secs: minimum,
        ttl: 3600,
        name_servers: vec![
            ZoneNameServer {
                name: "ns1.failover.test".into(),
                addresses: vec![glue.into()],
            },
            ZoneNameServer {
                name: "ns.elsewhere.test".into(),
                addresses: vec![],
            },
        ],
        ..DnsZone::default()
    }
}

async fn ask(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    Message::from_vec(&udp_raw(server, &query(name, rtype, None)).await).unwrap()
}

/// Asks until the answer is not SERVFAIL (the server follows the snapshots), bounded.
async fn settled(server: SocketAddr, name: &str, rtype: RecordType) -> Message {
    for _ in 0..100 {
        let m = ask(server, name, rtype).await;
        if m.metadata.response_code != ResponseCode::ServFail {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} stayed SERVFAIL");
}

fn addresses(m: &Message) -> Vec<IpAddr> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

fn serial(m: &Message) -> u32 {
    m.answers
        .iter()
        .chain(&m.authorities)
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        })
        .expect("an SOA")
}

/// The answer is NODATA or NXDOMAIN done right: authoritative, no answers, the SOA in
/// the authority section with the negative TTL.
fn assert_negative(m: &Message, code: ResponseCode, negative_ttl: u32) {
    assert_eq!(m.metadata.response_code, code, "{m:?}");
    assert!(m.metadata.authoritative, "{m:?}");
    assert!(m.answers.is_empty(), "{m:?}");
    let [soa] = m.authorities.as_slice() else {
        panic!("one SOA in the authority section: {m:?}");
    };
    assert_eq!(soa.record_type(), RecordType::SOA);
    assert_eq!(soa.ttl, negative_ttl);
}

fn with_zone(s: &mut Settings, port: u16, minimum: u32, glue: &str) {
    s.options.dns_serving.zones = vec![zone(minimum, glue)];
    s.server_sets = vec![
        set(
            "web",
            "www.failover.test",
            &["192.0.2.1".into(), "2001:db8::1".into()],
            port,
        ),
        set("apps", "*.apps.failover.test", &["192.0.2.7".into()], port),
    ];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delegated_zone_answers_with_authority() {
    let port = up_listener().await;
    let (engine, server) = serving(|s| with_zone(s, port, 30, "192.0.2.53")).await;
    let www = settled(server, "www.failover.test.", RecordType::A).await;
    assert!(www.metadata.authoritative);
    assert_eq!(addresses(&www), ["192.0.2.1".parse::<IpAddr>().unwrap()]);

    // The apex: SOA and NS (with the glue of the in-zone name server).
    let soa = ask(server, "failover.test.", RecordType::SOA).await;
    assert!(soa.metadata.authoritative);
    let RData::SOA(data) = &soa.answers[0].data else {
        panic!("{soa:?}")
    };
    assert_eq!(data.mname.to_ascii(), "ns1.failover.test.");
    assert_eq!(data.rname.to_ascii(), "hostmaster.failover.test.");
    assert_eq!(data.minimum, 30);
    assert!(data.serial > 0);
    let ns = ask(server, "FAILOVER.test.", RecordType::NS).await;
    let mut names: Vec<String> = ns
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::NS(n) => Some(n.0.to_ascii()),
            _ => None,
        })
        .collect();
    names.sort();
    assert_eq!(names, ["ns.elsewhere.test.", "ns1.failover.test."]);
    assert_eq!(ns.additionals.len(), 1, "{ns:?}");
    let glue = ask(server, "ns1.failover.test.", RecordType::A).await;
    assert_eq!(addresses(&glue), ["192.0.2.53".parse::<IpAddr>().unwrap()]);

    // NODATA: other types of our names (an unknown type too), the apex's A, an empty
    // non-terminal; NXDOMAIN: names that do not exist. The negative TTL is
    // min(SOA TTL 3600, minimum 30) = 30 (RFC 2308).
    for (name, rtype) in [
        ("www.failover.test.", RecordType::TXT),
        ("www.failover.test.", RecordType::Unknown(666)),
        ("failover.test.", RecordType::A),
        ("apps.failover.test.", RecordType::A),
        ("ns1.failover.test.", RecordType::AAAA),
    ] {
        assert_negative(&ask(server, name, rtype).await, ResponseCode::NoError, 30);
    }
    for name in ["nothere.failover.test.", "deeper.www.failover.test."] {
        assert_negative(
            &ask(server, name, RecordType::A).await,
            ResponseCode::NXDomain,
            30,
        );
    }
    // A wildcard under the zone.
    let app = settled(server, "x.apps.failover.test.", RecordType::A).await;
    assert_eq!(addresses(&app), ["192.0.2.7".parse::<IpAddr>().unwrap()]);

    // The same through dig and kdig, as an operator checks a delegation.
    let dig = tokio::process::Command::new("dig")
        .args([
            "@127.0.0.1",
            "-p",
            &server.port().to_string(),
            "+norec",
            "+time=2",
            "+tries=1",
            "nothere.failover.test",
            "A",
        ])
        .output();
    let out = timeout(WAIT, dig).await.unwrap().expect("dig runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("status: NXDOMAIN"), "{text}");
    assert!(text.contains(" aa"), "{text}");
    assert!(text.contains("IN\tSOA\tns1.failover.test."), "{text}");
    let kdig = tokio::process::Command::new("kdig")
        .args([
            "@127.0.0.1",
            "-p",
            &server.port().to_string(),
            "+norec",
            "+time=2",
            "+retry=0",
            "+short",
            "failover.test",
            "SOA",
        ])
        .output();
    let out = timeout(WAIT, kdig).await.unwrap().expect("kdig runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ns1.failover.test. hostmaster.failover.test. "),
        "{text}"
    );
    engine.shutdown();
}

/// A server set's first server goes away: the zone answers the second one, with a
/// higher serial, and the change is an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_raises_the_serial_and_is_an_event() {
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    let second = TcpListener::bind(("127.0.0.2", port)).await.unwrap();
    let first_task = tokio::spawn(async move { while first.accept().await.is_ok() {} });
    tokio::spawn(async move { while second.accept().await.is_ok() {} });
    let (engine, server) = serving(|s| {
        s.options.dns_serving.zones = vec![zone(30, "192.0.2.53")];
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
    let www = settled(server, "www.failover.test.", RecordType::A).await;
    assert_eq!(addresses(&www), ["192.0.2.1".parse::<IpAddr>().unwrap()]);
    let before = serial(&ask(server, "failover.test.", RecordType::SOA).await);
    let served = |s: &Snapshot, ip: &str| {
        s.events.iter().any(|e| {
            e.kind == EventKind::DnsServed
                && e.set == "web"
                && e.text == format!("now serving {ip} for www.failover.test")
        })
    };
    wait_until(&engine, "the first address served, as an event", |s| {
        served(s, "192.0.2.1")
    })
    .await;

    first_task.abort();
    let mut answer = Vec::new();
    for _ in 0..200 {
        answer = addresses(&ask(server, "www.failover.test.", RecordType::A).await);
        if answer == ["192.0.2.2".parse::<IpAddr>().unwrap()] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(answer, ["192.0.2.2".parse::<IpAddr>().unwrap()]);
    let after = serial(&ask(server, "failover.test.", RecordType::SOA).await);
    assert!(after > before, "serial {before} → {after}");
    let s = wait_until(&engine, "the failover served, as an event", |s| {
        served(s, "192.0.2.2")
    })
    .await;
    let event = s
        .events
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::DnsServed)
        .unwrap();
    assert_eq!(event.details.old_ips, "192.0.2.1");
    assert_eq!(event.details.new_ips, "192.0.2.2");
    assert!(
        s.log
            .iter()
            .any(|l| l.text == "web: now serving 192.0.2.2 for www.failover.test")
    );
    engine.shutdown();
}

/// Before anything was decided or kept (polling paused, nothing published), a served name
/// gets SERVFAIL so that resolvers ask another server; never REFUSED.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_served_name_is_never_refused() {
    let port = up_listener().await;
    let (engine, server) = start_serving(|s| {
        with_zone(s, port, 30, "192.0.2.53");
        s.server_sets.push(set(
            "lone",
            "lone.elsewhere.test",
            &["192.0.2.9".into()],
            port,
        ));
        s.options.polling.paused = true;
    })
    .await;
    for name in [
        "www.failover.test.",
        "x.apps.failover.test.",
        "lone.elsewhere.test.",
    ] {
        let m = ask(server, name, RecordType::A).await;
        assert_eq!(m.metadata.response_code, ResponseCode::ServFail, "{name}");
    }
    // The zone itself is there: its SOA, and NXDOMAIN for what does not exist.
    assert_eq!(
        ask(server, "failover.test.", RecordType::SOA)
            .await
            .answers
            .len(),
        1
    );
    assert_negative(
        &ask(server, "nothere.failover.test.", RecordType::A).await,
        ResponseCode::NXDomain,
        30,
    );
    // Names that are not Standby's: REFUSED (forwarding is off).
    let m = ask(server, "www.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edns_and_header_rules() {
    let port = up_listener().await;
    let (engine, server) = serving(|s| with_zone(s, port, 30, "192.0.2.53")).await;
    settled(server, "www.failover.test.", RecordType::A).await;

    // EDNS version 1: BADVERS (16), with an OPT of version 0.
    let mut m = message(&["www.failover.test.".into()], RecordType::A, Some(1232));
    m.edns.as_mut().unwrap().set_version(1);
    let answer = Message::from_vec(&udp_raw(server, &m.to_vec().unwrap()).await).unwrap();
    assert_eq!(u16::from(answer.metadata.response_code), 16);
    assert_eq!(answer.edns.as_ref().unwrap().version(), 0);
    assert!(answer.answers.is_empty());

    // Unknown options and flags are ignored (not echoed), DO is echoed, the size is ours.
    let mut m = message(&["www.failover.test.".into()], RecordType::A, Some(4096));
    let edns = m.edns.as_mut().unwrap();
    edns.set_dnssec_ok(true);
    edns.flags_mut().z = 0x1234;
    edns.options_mut()
        .insert(EdnsOption::Unknown(65001, vec![1, 2, 3]));
    let answer = Message::from_vec(&udp_raw(server, &m.to_vec().unwrap()).await).unwrap();
    assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
    assert_eq!(answer.answers.len(), 1);
    let edns: &Edns = answer.edns.as_ref().unwrap();
    assert!(edns.flags().dnssec_ok, "DO echoed");
    assert_eq!(edns.flags().z, 0, "must-be-zero flags cleared");
    assert!(edns.option(EdnsCode::Unknown(65001)).is_none());
    assert_eq!(edns.max_payload(), 1232);
    // Without DO, no DO.
    let answer = Message::from_vec(
        &udp_raw(
            server,
            &query("www.failover.test.", RecordType::A, Some(1232)),
        )
        .await,
    )
    .unwrap();
    assert!(!answer.edns.unwrap().flags().dnssec_ok);

    // The header: Z set in the query is cleared in the answer; RD and CD copied.
    let mut raw = query("www.failover.test.", RecordType::A, None);
    raw[3] |= 0x40; // Z
    raw[3] |= 0x10; // CD
    let answer = udp_raw(server, &raw).await;
    assert_eq!(answer[3] & 0x40, 0, "Z cleared");
    assert_eq!(answer[3] & 0x10, 0x10, "CD copied");
    assert_eq!(answer[2] & 0x01, 0x01, "RD copied");
    let mut m = message(&["www.failover.test.".into()], RecordType::A, None);
    m.metadata.recursion_desired = false;
    let answer = udp_raw(server, &m.to_vec().unwrap()).await;
    assert_eq!(answer[2] & 0x01, 0, "RD copied (clear)");
    // Opcodes we do not implement (UPDATE, NOTIFY, a reserved one): NOTIMP.
    for op in [OpCode::Update, OpCode::Notify, OpCode::Unknown(7)] {
        let mut m = Message::new(9, MessageType::Query, op);
        m.add_query(Query::query(
            Name::from_ascii("failover.test.").unwrap(),
            RecordType::SOA,
        ));
        let answer = Message::from_vec(&udp_raw(server, &m.to_vec().unwrap()).await).unwrap();
        assert_eq!(
            answer.metadata.response_code,
            ResponseCode::NotImp,
            "{op:?}"
        );
    }
    engine.shutdown();
}

/// An upstream unbound that knows one name.
async fn upstream() -> Unbound {
    Unbound::start(
        "    local-zone: \"example.test.\" static\n    local-data: \"fwd.example.test. 60 IN A 192.0.2.99\"\n",
        "",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_only_for_allowed_networks() {
    let upstream = upstream().await;
    let (engine, server) = serving(|s| {
        let d = &mut s.options.dns_serving;
        d.forward = true;
        d.forward_to = upstream.addr.ip().to_string();
        d.forward_port = upstream.addr.port();
        d.forward_allowed_from = vec!["127.0.0.2/32".into()];
    })
    .await;
    // From 127.0.0.1 (not allowed): REFUSED, counted in the log.
    let m = ask(server, "fwd.example.test.", RecordType::A).await;
    assert_eq!(m.metadata.response_code, ResponseCode::Refused);
    wait_until(&engine, "the refusal logged", |s| {
        s.log
            .iter()
            .any(|l| l.text.contains("127.0.0.1 may not use forwarding"))
    })
    .await;
    // From 127.0.0.2: forwarded.
    let socket = UdpSocket::bind("127.0.0.2:0").await.unwrap();
    socket
        .send_to(&query("fwd.example.test.", RecordType::A, None), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = timeout(WAIT, socket.recv(&mut buf)).await.unwrap().unwrap();
    let m = Message::from_vec(&buf[..n]).unwrap();
    assert_eq!(addresses(&m), ["192.0.2.99".parse::<IpAddr>().unwrap()]);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_rate_limiting_truncates_and_drops() {
    let port = up_listener().await;
    let (engine, server) = serving(|s| {
        with_zone(s, port, 30, "192.0.2.53");
        s.options.dns_serving.rate_limit_per_sec = 5;
    })
    .await;
    settled(server, "www.failover.test.", RecordType::A).await;
    // A burst of 40 queries from one client: past 5 a second, every other answer comes
    // truncated (TC, no records) and the rest are dropped.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let q = query("www.failover.test.", RecordType::A, None);
    for _ in 0..40 {
        socket.send_to(&q, server).await.unwrap();
    }
    let mut buf = vec![0u8; 4096];
    let mut truncated = 0;
    while truncated == 0 {
        let n = timeout(WAIT, socket.recv(&mut buf))
            .await
            .expect("a truncated answer")
            .unwrap();
        let m = Message::from_vec(&buf[..n]).unwrap();
        if m.metadata.truncation {
            assert!(m.answers.is_empty());
            truncated += 1;
        }
    }
    wait_until(&engine, "rate limiting counted", |s| {
        s.log.iter().any(|l| l.text.contains("over the rate limit"))
    })
    .await;
    engine.shutdown();
}

/// A real resolver: unbound with a stub zone pointing at Standby resolves a set's name,
/// follows a failover (TTL 1 s), and keeps an NXDOMAIN for the SOA minimum (8 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unbound_resolves_through_a_stub_zone() {
    let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = first.local_addr().unwrap().port();
    let second = TcpListener::bind(("127.0.0.2", port)).await.unwrap();
    let first_task = tokio::spawn(async move { while first.accept().await.is_ok() {} });
    tokio::spawn(async move { while second.accept().await.is_ok() {} });
    let minimum = 8;
    let (engine, server) = serving(|s| {
        // The glue is loopback: whatever unbound does with it stays on this machine.
        s.options.dns_serving.zones = vec![zone(minimum, "127.0.0.1")];
        let mut web = set(
            "web",
            "www.failover.test",
            &["192.0.2.1".into(), "192.0.2.2".into()],
            port,
        );
        web.dns.addresses_of = standby::model::AddressSelection::FirstFunctional;
        web.dns.ttl = 1;
        web.servers[1].poll_ip = Some("127.0.0.2".into());
        web.frequency.interval = std::time::Duration::from_secs(1);
        web.frequency.failed_interval = std::time::Duration::from_secs(1);
        web.frequency.retries = 0;
        web.frequency.timeout = std::time::Duration::from_secs(1);
        s.server_sets = vec![web];
    })
    .await;
    settled(server, "www.failover.test.", RecordType::A).await;
    let unbound = Unbound::start(
        &format!("    local-zone: \"{ZONE}.\" transparent\n"),
        &format!(
            "stub-zone:\n    name: \"{ZONE}.\"\n    stub-addr: 127.0.0.1@{}\n",
            server.port()
        ),
    )
    .await;
    let resolve = |name: &'static str| {
        let addr = unbound.addr;
        async move {
            let mut m = Message::new(7, MessageType::Query, OpCode::Query);
            m.metadata.recursion_desired = true;
            m.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
            Message::from_vec(&udp_raw(addr, &m.to_vec().unwrap()).await).unwrap()
        }
    };
    let m = resolve("www.failover.test.").await;
    assert_eq!(
        addresses(&m),
        ["192.0.2.1".parse::<IpAddr>().unwrap()],
        "{m:?}\n{}",
        unbound.log()
    );

    // Failover: unbound follows once the 1 s TTL runs out.
    first_task.abort();
    let mut got = Vec::new();
    for _ in 0..200 {
        got = addresses(&resolve("www.failover.test.").await);
        if got == ["192.0.2.2".parse::<IpAddr>().unwrap()] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(got, ["192.0.2.2".parse::<IpAddr>().unwrap()]);

    // NXDOMAIN, with the SOA minimum as its TTL.
    let m = resolve("nothere.failover.test.").await;
    let t0 = std::time::Instant::now();
    assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "{m:?}");
    assert!(m.authorities.iter().all(|r| r.ttl <= minimum), "{m:?}");
    // The name comes into being at Standby...
    let mut settings = (*engine.snapshot().settings).clone();
    let mut late = set("late", "nothere.failover.test", &["192.0.2.3".into()], port);
    late.servers[0].poll_ip = Some("127.0.0.2".into());
    settings.server_sets.push(late);
    engine.apply_settings(settings).await.unwrap();
    let mut direct = Vec::new();
    for _ in 0..200 {
        direct = addresses(&ask(server, "nothere.failover.test.", RecordType::A).await);
        if !direct.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(direct, ["192.0.2.3".parse::<IpAddr>().unwrap()]);
    // ...but unbound keeps its NXDOMAIN until the minimum has run out.
    if t0.elapsed() < Duration::from_secs(u64::from(minimum) - 2) {
        let m = resolve("nothere.failover.test.").await;
        assert_eq!(m.metadata.response_code, ResponseCode::NXDomain, "cached");
    }
    let mut got = Vec::new();
    for _ in 0..300 {
        got = addresses(&resolve("nothere.failover.test.").await);
        if !got.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(got, ["192.0.2.3".parse::<IpAddr>().unwrap()]);
    assert!(
        t0.elapsed() >= Duration::from_secs(u64::from(minimum) - 1),
        "the NXDOMAIN was kept only {:?}",
        t0.elapsed()
    );
    engine.shutdown();
}

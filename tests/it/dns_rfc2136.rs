//! Lookups and RFC 2136 updates against real BIND 9 and Knot DNS servers on 127.0.0.x
//! (tests/peers/). Every scenario runs against both; each test starts its own server.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use standby::dnsupdate::lookup::{NameServer, current_records, find_zone, name_servers};
use standby::dnsupdate::rfc2136::Rfc2136Updater;
use standby::dnsupdate::{DnsError, DnsStage, DnsUpdater, FailureKind, Records, UpdateRequest};
use standby::model::{Rfc2136Update, TsigAlgorithm, TsigKey};

use crate::support::bounded;
use crate::support::peers::{Kind, Peer, ZONE};

/// Lookups on loopback answer in microseconds; this only bounds a broken test.
const ASK: Duration = Duration::from_secs(3);
/// Knot sometimes stalls an update ~0.9 s (PLATFORM-NOTES): well above that.
const UPDATE: Duration = Duration::from_secs(5);

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn records(addresses: &[&str], ttl: u32) -> Records {
    Records::new(addresses.iter().map(|a| ip(a)).collect(), Some(ttl))
}

fn request(peer: &Peer, host: &str, wanted: &Records) -> UpdateRequest {
    UpdateRequest {
        server: peer.addr,
        server_label: peer.addr.to_string(),
        host: host.into(),
        zone: ZONE.into(),
        wanted: wanted.clone(),
        ttl: wanted.ttl.unwrap_or(60),
        current: Records::default(),
        set_name: "test set".into(),
        timeout: UPDATE,
    }
}

fn updater(key: Option<TsigKey>) -> Rfc2136Updater {
    Rfc2136Updater::new(&Rfc2136Update { tsig: key }).unwrap()
}

/// Updates `host` to `wanted` with `key` and checks that the server now gives exactly that.
async fn update_and_check(peer: &Peer, key: TsigKey, host: &str, wanted: &Records) {
    let result = updater(Some(key))
        .update(&request(peer, host, wanted))
        .await;
    assert_eq!(result, Ok("NOERROR".to_string()), "{}", peer.log());
    let served = current_records(peer.addr, host, true, ASK).await.unwrap();
    assert_eq!(&served, wanted);
}

/// Generates `#[tokio::test] fn bind_NAME` and `fn knot_NAME` that run `NAME(Kind)`.
macro_rules! both_servers {
    ($($name:ident),* $(,)?) => {
        mod bind {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::bounded(super::$name(super::Kind::Bind)).await;
            })*
        }
        mod knot {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                super::bounded(super::$name(super::Kind::Knot)).await;
            })*
        }
    };
}

both_servers!(
    current_records_of_known_names,
    zone_of_names_and_wildcards,
    name_servers_of_the_zone,
    update_a_then_aaaa_then_both,
    every_algorithm_the_server_supports,
    wrong_secret_is_badsig_and_changes_nothing,
    unknown_key_is_badkey,
    zone_not_served_is_refused_clearly,
    stopped_server_times_out_then_recovers,
    ttl_change,
    unsigned_update_is_refused,
    many_records_go_over_tcp,
    clock_off_by_an_hour_is_badtime,
);

async fn current_records_of_known_names(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let both = records(&["192.0.2.10", "2001:db8::10"], 60);
    for edns0 in [true, false] {
        let served = current_records(peer.addr, "www.example.test", edns0, ASK).await;
        assert_eq!(served.unwrap(), both, "edns0 {edns0}");
    }
    // The wildcard record itself, asked by its literal name.
    let wild = current_records(peer.addr, "*.wild.example.test.", true, ASK).await;
    assert_eq!(wild.unwrap(), records(&["192.0.2.20"], 60));
    // NXDOMAIN and NODATA are "no records", not errors.
    let none = current_records(peer.addr, "nothing.example.test", true, ASK).await;
    assert_eq!(none.unwrap(), Records::default());
    let nodata = current_records(peer.addr, "example.test", true, ASK).await;
    assert_eq!(nodata.unwrap(), Records::default());
    // A name the server does not serve: it refuses, and we say so.
    let error = current_records(peer.addr, "www.other.test", true, ASK)
        .await
        .unwrap_err();
    assert_eq!(error.stage, DnsStage::Asking);
    assert_eq!(error.kind, FailureKind::WrongAnswer);
    assert!(error.text.contains("REFUSED"), "{error}");
    assert_eq!(error.code(), 241);
}

async fn zone_of_names_and_wildcards(kind: Kind) {
    let peer = Peer::primary(kind).await;
    for host in [
        "www.example.test",
        "example.test",
        "EXAMPLE.test.",
        "*.example.test",
        "*.wild.example.test",
        "not.there.yet.example.test",
    ] {
        let zone = find_zone(peer.addr, host, ASK).await;
        assert_eq!(zone.as_deref(), Ok("example.test"), "{host}");
    }
    let error = find_zone(peer.addr, "www.other.test", ASK)
        .await
        .unwrap_err();
    assert_eq!(error.stage, DnsStage::FindingZone);
    assert!(error.text.starts_with("NOTAUTH"), "{error}");
    // Delegated to other servers: this one is not authoritative for the name's zone.
    let error = find_zone(peer.addr, "www.sub.example.test", ASK)
        .await
        .unwrap_err();
    assert!(error.text.starts_with("NOTAUTH"), "{error}");
}

async fn name_servers_of_the_zone(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let servers = name_servers(peer.addr, ZONE, ASK).await.unwrap();
    let ns1 = NameServer {
        name: "ns1.example.test".into(),
        addresses: vec![peer.addr.ip()],
    };
    assert_eq!(servers, vec![ns1]);
}

async fn update_a_then_aaaa_then_both(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let key = peer.key(TsigAlgorithm::HmacSha256);
    let host = "app.example.test";
    update_and_check(&peer, key.clone(), host, &records(&["192.0.2.1"], 60)).await;
    update_and_check(&peer, key.clone(), host, &records(&["2001:db8::1"], 60)).await;
    let both = records(&["192.0.2.1", "192.0.2.2", "2001:db8::1"], 60);
    update_and_check(&peer, key.clone(), host, &both).await;
    // An independent client agrees.
    assert_eq!(peer.dig(host, "A").await, ["192.0.2.1", "192.0.2.2"]);
    assert_eq!(peer.dig(host, "AAAA").await, ["2001:db8::1"]);
    // And a wildcard host name is updated like any other.
    update_and_check(
        &peer,
        key,
        "*.wild.example.test",
        &records(&["192.0.2.21"], 60),
    )
    .await;
}

async fn every_algorithm_the_server_supports(kind: Kind) {
    let peer = Peer::primary(kind).await;
    for (n, algorithm) in kind.algorithms().iter().enumerate() {
        let host = format!("{}.example.test", algorithm.name());
        let wanted = records(&[&format!("192.0.2.{}", 100 + n)], 60);
        update_and_check(&peer, peer.key(*algorithm), &host, &wanted).await;
    }
}

async fn wrong_secret_is_badsig_and_changes_nothing(kind: Kind) {
    let peer = Peer::primary(kind).await;
    for algorithm in [TsigAlgorithm::HmacMd5, TsigAlgorithm::HmacSha256] {
        let mut key = peer.key(algorithm);
        key.secret = algorithm.generate_secret();
        let wanted = records(&["192.0.2.66"], 60);
        let error = updater(Some(key))
            .update(&request(&peer, "www.example.test", &wanted))
            .await
            .unwrap_err();
        assert_eq!(error.text, "TSIG authentication failed (BADSIG)");
        assert_eq!(
            (error.kind, error.stage),
            (FailureKind::WrongAnswer, DnsStage::Updating)
        );
        let served = current_records(peer.addr, "www.example.test", true, ASK).await;
        assert_eq!(
            served.unwrap(),
            records(&["192.0.2.10", "2001:db8::10"], 60)
        );
    }
}

async fn unknown_key_is_badkey(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let key = TsigKey {
        name: "no-such-key".into(),
        algorithm: TsigAlgorithm::HmacSha256,
        secret: TsigAlgorithm::HmacSha256.generate_secret(),
    };
    let error = updater(Some(key))
        .update(&request(
            &peer,
            "www.example.test",
            &records(&["192.0.2.67"], 60),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.text, "TSIG authentication failed (BADKEY)");
}

async fn zone_not_served_is_refused_clearly(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let mut other = request(&peer, "www.other.test", &records(&["192.0.2.68"], 60));
    other.zone = "other.test".into();
    let error = updater(Some(peer.key(TsigAlgorithm::HmacSha256)))
        .update(&other)
        .await
        .unwrap_err();
    assert_eq!(error.stage, DnsStage::Updating);
    assert!(
        error.text.starts_with("NOTAUTH") || error.text.starts_with("NOTZONE"),
        "{error}"
    );
    // A name outside the zone named in the update.
    let mut outside = request(&peer, "www.other.test", &records(&["192.0.2.68"], 60));
    outside.zone = ZONE.into();
    let error = updater(Some(peer.key(TsigAlgorithm::HmacSha256)))
        .update(&outside)
        .await
        .unwrap_err();
    assert!(error.text.starts_with("NOTZONE"), "{error}");
}

async fn stopped_server_times_out_then_recovers(kind: Kind) {
    let mut peer = Peer::primary(kind).await;
    let key = peer.key(TsigAlgorithm::HmacSha256);
    let wanted = records(&["192.0.2.77"], 60);
    peer.stop();
    let mut stopped = request(&peer, "www.example.test", &wanted);
    stopped.timeout = Duration::from_millis(700);
    let started = Instant::now();
    let error: DnsError = updater(Some(key.clone()))
        .update(&stopped)
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(
        (error.kind, error.stage),
        (FailureKind::Timeout, DnsStage::Updating)
    );
    assert_eq!(error.code(), 223);
    assert!(error.text.starts_with("timeout after 700 ms"), "{error}");
    let asking = current_records(
        peer.addr,
        "www.example.test",
        true,
        Duration::from_millis(300),
    )
    .await
    .unwrap_err();
    assert_eq!((asking.kind, asking.code()), (FailureKind::Timeout, 221));

    peer.restart().await;
    update_and_check(&peer, key, "www.example.test", &wanted).await;
}

async fn ttl_change(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let key = peer.key(TsigAlgorithm::HmacSha256);
    let before = current_records(peer.addr, "www.example.test", true, ASK)
        .await
        .unwrap();
    let longer = Records::new(before.addresses.clone(), Some(300));
    assert!(!before.matches(&longer, false) && before.matches(&longer, true));
    update_and_check(&peer, key, "www.example.test", &longer).await;
}

async fn unsigned_update_is_refused(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let error = updater(None)
        .update(&request(
            &peer,
            "www.example.test",
            &records(&["192.0.2.69"], 60),
        ))
        .await
        .unwrap_err();
    assert_eq!(error.stage, DnsStage::Updating);
    // BIND refuses; Knot answers NOTAUTH to an update its ACL does not allow.
    let expected = match kind {
        Kind::Bind => "REFUSED",
        Kind::Knot => "NOTAUTH",
    };
    assert!(error.text.starts_with(expected), "{error}");
    let served = current_records(peer.addr, "www.example.test", true, ASK).await;
    assert_eq!(
        served.unwrap(),
        records(&["192.0.2.10", "2001:db8::10"], 60)
    );
}

/// 40 A records: the update (~1 KB) is sent over TCP at once, and the answer to a question
/// without EDNS0 comes truncated over UDP and is asked again over TCP.
async fn many_records_go_over_tcp(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let many: Vec<String> = (1..=40).map(|n| format!("198.51.100.{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let wanted = records(&many, 60);
    update_and_check(
        &peer,
        peer.key(TsigAlgorithm::HmacSha512),
        "big.example.test",
        &wanted,
    )
    .await;
    let plain = current_records(peer.addr, "big.example.test", false, ASK).await;
    assert_eq!(plain.unwrap(), wanted);
}

/// A request signed an hour ago: the server answers BADTIME (checked by our verifier, as
/// the updater does; the updater itself always signs with the current time).
async fn clock_off_by_an_hour_is_badtime(kind: Kind) {
    use hickory_proto::op::{Message, MessageType, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};
    use standby::dnsupdate::tsig::{TsigError, TsigSigner, now_unix};

    let peer = Peer::primary(kind).await;
    let signer = TsigSigner::new(&peer.key(TsigAlgorithm::HmacSha1)).unwrap();
    let mut query = Message::new(0x2b2b, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(
        Name::from_ascii("example.test.").unwrap(),
        RecordType::SOA,
    ));
    let signed = signer.sign(&query, now_unix() - 3600).unwrap();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&signed.bytes, peer.addr).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(ASK, socket.recv_from(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    let answer = &buffer[..len];
    let parsed = Message::from_vec(answer).unwrap();
    let result = signer.verify(&signed, answer, &parsed, now_unix());
    assert_eq!(result, Err(TsigError::BadTime));
    assert_eq!(
        TsigError::BadTime.to_string(),
        "TSIG authentication failed (BADTIME)"
    );
}

/// Propagation: the Knot secondary of a BIND primary serves an update made on the primary
/// (NOTIFY, then IXFR) within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secondary_serves_the_update_of_its_primary() {
    bounded(async {
        let (primary, secondary) = Peer::bind_with_knot_secondary().await;
        let served = current_records(secondary.addr, "www.example.test", true, ASK).await;
        assert_eq!(
            served.unwrap(),
            records(&["192.0.2.10", "2001:db8::10"], 60)
        );

        let wanted = records(&["192.0.2.88"], 60);
        let started = Instant::now();
        update_and_check(
            &primary,
            primary.key(TsigAlgorithm::HmacMd5),
            "www.example.test",
            &wanted,
        )
        .await;
        // Both name servers of the zone, asked at the port they share.
        let servers = name_servers(primary.addr, ZONE, ASK).await.unwrap();
        let mut addresses: Vec<IpAddr> = servers.iter().flat_map(|s| s.addresses.clone()).collect();
        // The NS records come in any order.
        addresses.sort();
        assert_eq!(addresses, vec![primary.addr.ip(), secondary.addr.ip()]);
        let until = Instant::now() + Duration::from_secs(10);
        let mut propagated = 0;
        for ns in addresses {
            let at = std::net::SocketAddr::new(ns, primary.addr.port());
            loop {
                let served = current_records(at, "www.example.test", true, ASK).await;
                if served.as_ref() == Ok(&wanted) {
                    propagated += 1;
                    break;
                }
                assert!(
                    Instant::now() < until,
                    "{at} still serves {served:?}\n{}",
                    secondary.log()
                );
                // Bounded poll of the secondary while it transfers.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        assert_eq!(propagated, 2, "propagated 2/2");
        eprintln!("update + propagation 2/2: {:?}", started.elapsed());
    })
    .await;
}

/// Latency of one update plus the confirming query, printed (run with --nocapture).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_latency_on_loopback() {
    bounded(async {
        for kind in [Kind::Bind, Kind::Knot] {
            let peer = Peer::primary(kind).await;
            let key = peer.key(TsigAlgorithm::HmacSha256);
            let mut times = Vec::new();
            for n in 0..20 {
                let wanted = records(&[&format!("192.0.2.{}", 150 + n)], 60);
                let started = Instant::now();
                update_and_check(&peer, key.clone(), "lat.example.test", &wanted).await;
                times.push(started.elapsed());
            }
            times.sort();
            eprintln!(
                "{kind:?}: update + verify over 20 runs: median {:?}, max {:?}",
                times[times.len() / 2],
                times[times.len() - 1]
            );
        }
    })
    .await;
}

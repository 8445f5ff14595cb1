#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::SOA;
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::*;
use crate::dnsserve::answers::Memory;
use crate::engine::decision::{Basis, Decision};
use crate::engine::snapshot::{SetHealth, SetStatus, Snapshot};
use crate::model::options::ZoneNameServer;
use crate::model::{DnsData, Secret, Server, ServerSet, Settings, TsigAlgorithm, TsigKey};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn zone() -> DnsZone {
    let mut zone = DnsZone {
        name: "failover.test".into(),
        primary: "ns1.failover.test".into(),
        contact: "hostmaster@failover.test".into(),
        name_servers: vec![ZoneNameServer {
            name: "ns1.failover.test".into(),
            addresses: vec!["192.0.2.53".into()],
        }],
        ..DnsZone::default()
    };
    zone.transfer.allowed_from = vec!["127.0.0.0/8".into()];
    zone
}

/// A snapshot where set `web` (www.failover.test) publishes `ips` (`None`: waiting).
fn snapshot(zone: &DnsZone, ips: Option<&[&str]>) -> Snapshot {
    let mut settings = Settings::default();
    settings.options.dns_serving.zones = vec![zone.clone()];
    settings.server_sets = vec![ServerSet {
        name: "web".into(),
        servers: vec![Server::default()],
        dns: DnsData {
            host_names: vec!["www.failover.test".into()],
            ttl: 60,
            ..DnsData::default()
        },
        ..ServerSet::default()
    }];
    let mut snapshot = Snapshot::empty(Arc::new(settings), None);
    let decision = match ips {
        Some(ips) => Decision::Publish {
            addresses: ips.iter().map(|ip| (ip.parse().unwrap(), 1)).collect(),
            basis: Basis::Functional,
        },
        None => Decision::Waiting,
    };
    snapshot.sets = vec![Arc::new(SetStatus {
        name: "web".into(),
        paused: false,
        health: SetHealth::Ok,
        method: "TCP".into(),
        servers: vec![],
        decision,
        host_names: vec!["www.failover.test".into()],
        error: None,
        dns: vec![],
        published: None,
        ttl: 60,
        low_ttl: None,
    })];
    snapshot
}

fn request(kind: RecordType, serial: Option<u32>) -> Message {
    let mut m = Message::new(11, MessageType::Query, OpCode::Query);
    let apex = Name::from_ascii("failover.test.").unwrap();
    m.add_query(Query::query(apex.clone(), kind));
    if let Some(serial) = serial {
        let soa = SOA::new(apex.clone(), apex.clone(), serial, 0, 0, 0, 0);
        m.add_authority(Record::from_rdata(apex, 0, RData::SOA(soa)));
    }
    m
}

fn ask(journal: &Journal, table: &Table, zone: &DnsZone, m: &Message, tcp: bool) -> Transfer {
    let bytes = m.to_vec().unwrap();
    answer(
        journal,
        table,
        std::slice::from_ref(zone),
        m,
        &bytes,
        LOCAL,
        tcp,
        1_000,
    )
}

/// The answer records of all messages, as text (type and data).
fn records(t: &Transfer) -> Vec<String> {
    t.messages
        .iter()
        .flat_map(|b| Message::from_vec(b).unwrap().answers)
        .map(|r| match &r.data {
            RData::SOA(s) => format!("SOA {}", s.serial),
            other => format!("{} {other}", r.record_type()),
        })
        .collect()
}

fn rcode(t: &Transfer) -> ResponseCode {
    Message::from_vec(&t.messages[0])
        .unwrap()
        .metadata
        .response_code
}

#[test]
fn axfr_is_the_whole_zone_between_two_soas() {
    let zone = zone();
    let journal = Journal::default();
    let table = Table::build(
        &snapshot(&zone, Some(&["192.0.2.1", "2001:db8::1"])),
        &mut Memory::default(),
        100,
    );
    assert_eq!(journal.record(&table), ["failover.test"]);
    let t = ask(
        &journal,
        &table,
        &zone,
        &request(RecordType::AXFR, None),
        true,
    );
    assert_eq!(t.refused, None);
    let mut got = records(&t);
    assert_eq!(got.first().unwrap(), "SOA 100");
    assert_eq!(got.last().unwrap(), "SOA 100");
    got.sort();
    assert_eq!(
        got,
        [
            "A 192.0.2.1",
            "A 192.0.2.53",
            "AAAA 2001:db8::1",
            "NS ns1.failover.test.",
            "SOA 100",
            "SOA 100"
        ]
    );
    // Over UDP AXFR is not defined.
    let t = ask(
        &journal,
        &table,
        &zone,
        &request(RecordType::AXFR, None),
        false,
    );
    assert_eq!(rcode(&t), ResponseCode::FormErr);
}

#[test]
fn ixfr_sends_the_difference_the_soa_or_the_whole_zone() {
    let zone = zone();
    let journal = Journal::default();
    let mut memory = Memory::default();
    let first = Table::build(&snapshot(&zone, Some(&["192.0.2.1"])), &mut memory, 100);
    journal.record(&first);
    let second = Table::build(&snapshot(&zone, Some(&["192.0.2.2"])), &mut memory, 100);
    assert_eq!(journal.record(&second), ["failover.test"]);
    assert_eq!(second.serial("failover.test"), Some(101));
    // From 100: one condensed difference.
    let t = ask(
        &journal,
        &second,
        &zone,
        &request(RecordType::IXFR, Some(100)),
        true,
    );
    assert_eq!(
        records(&t),
        [
            "SOA 101",
            "SOA 100",
            "A 192.0.2.1",
            "SOA 101",
            "A 192.0.2.2",
            "SOA 101"
        ]
    );
    assert_eq!(
        t.sent.as_deref(),
        Some("IXFR of failover.test serial 100 → 101 to 127.0.0.1")
    );
    // Current: the SOA alone; over UDP the SOA alone too.
    let t = ask(
        &journal,
        &second,
        &zone,
        &request(RecordType::IXFR, Some(101)),
        true,
    );
    assert_eq!(records(&t), ["SOA 101"]);
    let t = ask(
        &journal,
        &second,
        &zone,
        &request(RecordType::IXFR, Some(100)),
        false,
    );
    assert_eq!(records(&t), ["SOA 101"]);
    // Unknown serial: AXFR form.
    let t = ask(
        &journal,
        &second,
        &zone,
        &request(RecordType::IXFR, Some(7)),
        true,
    );
    let got = records(&t);
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(got.contains(&"A 192.0.2.2".to_string()) && !got.contains(&"A 192.0.2.1".to_string()));
    // Without the secondary's SOA: FORMERR.
    let t = ask(
        &journal,
        &second,
        &zone,
        &request(RecordType::IXFR, None),
        true,
    );
    assert_eq!(rcode(&t), ResponseCode::FormErr);
}

#[test]
fn the_journal_is_bounded_and_skips_undecided_versions() {
    let zone = zone();
    let journal = Journal::default();
    let mut memory = Memory::default();
    let waiting = Table::build(&snapshot(&zone, None), &mut memory, 100);
    assert!(journal.record(&waiting).is_empty());
    let t = ask(
        &journal,
        &waiting,
        &zone,
        &request(RecordType::AXFR, None),
        true,
    );
    assert_eq!(rcode(&t), ResponseCode::ServFail);
    for i in 0..(KEPT_VERSIONS + 3) {
        let ip = format!("192.0.2.{}", i + 1);
        let table = Table::build(&snapshot(&zone, Some(&[ip.as_str()])), &mut memory, 100);
        journal.record(&table);
    }
    let zones = journal.zones.lock().unwrap();
    assert_eq!(zones["failover.test"].len(), KEPT_VERSIONS);
}

#[test]
fn only_listed_networks_and_signed_requests_transfer() {
    let mut zone = zone();
    let journal = Journal::default();
    let table = Table::build(
        &snapshot(&zone, Some(&["192.0.2.1"])),
        &mut Memory::default(),
        100,
    );
    zone.transfer.allowed_from = vec!["127.0.0.2/32".into()];
    let t = ask(
        &journal,
        &table,
        &zone,
        &request(RecordType::AXFR, None),
        true,
    );
    assert_eq!(rcode(&t), ResponseCode::Refused);
    assert!(
        t.refused
            .unwrap()
            .contains("not in the zone's transfer.allowed_from")
    );

    zone.transfer.allowed_from = vec!["127.0.0.0/8".into()];
    let key = TsigKey {
        name: "xfr".into(),
        algorithm: TsigAlgorithm::HmacSha256,
        secret: Secret::new("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="),
    };
    zone.transfer.key = Some(key.clone());
    // Unsigned: REFUSED.
    let t = ask(
        &journal,
        &table,
        &zone,
        &request(RecordType::AXFR, None),
        true,
    );
    assert_eq!(rcode(&t), ResponseCode::Refused);
    // Signed with the key: the answer is signed and verifies with the client's code.
    let signer = TsigSigner::new(&key).unwrap();
    let now = crate::dnsupdate::tsig::now_unix();
    let signed = signer.sign(&request(RecordType::AXFR, None), now).unwrap();
    let parsed = Message::from_vec(&signed.bytes).unwrap();
    let t = answer(
        &journal,
        &table,
        std::slice::from_ref(&zone),
        &parsed,
        &signed.bytes,
        LOCAL,
        true,
        now,
    );
    assert_eq!(t.refused, None);
    let first = Message::from_vec(&t.messages[0]).unwrap();
    assert_eq!(first.answers.len(), 5);
    signer.verify(&signed, &t.messages[0], &first, now).unwrap();
    // Another key's signature: NOTAUTH (BADKEY) with the TSIG error.
    let other = TsigSigner::new(&TsigKey {
        name: "other".into(),
        ..key.clone()
    })
    .unwrap();
    let signed = other.sign(&request(RecordType::AXFR, None), now).unwrap();
    let parsed = Message::from_vec(&signed.bytes).unwrap();
    let t = answer(
        &journal,
        &table,
        std::slice::from_ref(&zone),
        &parsed,
        &signed.bytes,
        LOCAL,
        true,
        now,
    );
    assert_eq!(rcode(&t), ResponseCode::NotAuth);
    // The same key name with another secret: NOTAUTH (BADSIG).
    let forged = TsigSigner::new(&TsigKey {
        secret: Secret::new("b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI="),
        ..key
    })
    .unwrap();
    let signed = forged.sign(&request(RecordType::AXFR, None), now).unwrap();
    let parsed = Message::from_vec(&signed.bytes).unwrap();
    let t = answer(
        &journal,
        &table,
        &[zone],
        &parsed,
        &signed.bytes,
        LOCAL,
        true,
        now,
    );
    assert_eq!(rcode(&t), ResponseCode::NotAuth);
    assert!(t.refused.unwrap().contains("BADSIG"));
}

#[test]
fn serial_arithmetic() {
    assert!(serial_newer(2, 1));
    assert!(!serial_newer(1, 2));
    assert!(serial_newer(1, u32::MAX));
    assert!(!serial_newer(5, 5));
}

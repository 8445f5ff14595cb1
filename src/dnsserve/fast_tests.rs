//! The fast path gives byte for byte what the full path gives, or leaves the query to it.

#![allow(clippy::unwrap_used)]

use std::net::IpAddr;
use std::sync::Arc;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::*;
use crate::dnsserve::answers::{Memory, Reply, Table};
use crate::engine::decision::Decision;
use crate::engine::snapshot::{SetHealth, SetStatus, Snapshot};
use crate::model::options::{DnsZone, ZoneNameServer};
use crate::model::{AddressSelection, DnsData, ServerSet, Settings};

fn status(name: &str, published: Option<Vec<(IpAddr, u32)>>) -> Arc<SetStatus> {
    Arc::new(SetStatus {
        name: name.into(),
        paused: false,
        health: SetHealth::Ok,
        method: "TCP".into(),
        servers: Vec::new(),
        decision: Decision::Waiting,
        host_names: Vec::new(),
        error: None,
        dns: Vec::new(),
        published,
        ttl: 30,
        low_ttl: None,
    })
}

fn set(name: &str, host: &str, selection: AddressSelection) -> ServerSet {
    ServerSet {
        name: name.into(),
        dns: DnsData {
            host_names: vec![host.into()],
            ttl: 30,
            addresses_of: selection,
            ..DnsData::default()
        },
        ..ServerSet::default()
    }
}

fn table() -> Table {
    table_with(30, &mut Memory::default())
}

/// The table with `web`'s TTL as the engine decided it (the set's own is 30).
fn table_with(web_ttl: u32, memory: &mut Memory) -> Table {
    let mut settings = Settings::default();
    settings.options.dns_serving.zones = vec![DnsZone {
        name: "failover.test".into(),
        primary: "ns1.failover.test".into(),
        contact: "hostmaster@failover.test".into(),
        name_servers: vec![
            ZoneNameServer {
                name: "ns1.failover.test".into(),
                addresses: vec!["192.0.2.53".into(), "2001:db8::53".into()],
            },
            ZoneNameServer {
                name: "ns.elsewhere.test".into(),
                addresses: vec![],
            },
        ],
        ..DnsZone::default()
    }];
    settings.server_sets = vec![
        set(
            "web",
            "www.failover.test",
            AddressSelection::FirstFunctional,
        ),
        set(
            "rr",
            "rr.failover.test",
            AddressSelection::WeightedRoundRobin,
        ),
        set("lone", "lone.other.test", AddressSelection::AllFunctional),
        set(
            "new",
            "new.failover.test",
            AddressSelection::FirstFunctional,
        ),
    ];
    let two = vec![
        ("192.0.2.1".parse().unwrap(), 1),
        ("2001:db8::1".parse().unwrap(), 1),
    ];
    let weighted = vec![
        ("192.0.2.7".parse().unwrap(), 1),
        ("192.0.2.8".parse().unwrap(), 3),
    ];
    let mut snapshot = Snapshot::empty(Arc::new(settings), None);
    let mut web = status("web", Some(two.clone()));
    Arc::make_mut(&mut web).ttl = web_ttl;
    snapshot.sets = vec![
        web,
        status("rr", Some(weighted)),
        status("lone", Some(two)),
        status("new", None),
    ];
    Table::build(&snapshot, memory, 1_700_000_000)
}

fn request(
    name: &str,
    qtype: RecordType,
    rd: bool,
    cd: bool,
    edns: Option<(u16, bool)>,
) -> Vec<u8> {
    let mut m = Message::new(0xbeef, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.metadata.checking_disabled = cd;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some((size, dnssec_ok)) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        e.set_dnssec_ok(dnssec_ok);
        m.set_edns(e);
    }
    m.to_vec().unwrap()
}

/// What the full path sends over UDP.
fn full(table: &Table, bytes: &[u8]) -> Option<Vec<u8>> {
    let request = Message::from_vec(bytes).unwrap();
    match table.answer(&request) {
        Reply::Answer(response) => wire::fit_udp(&response, wire::udp_limit(&request)),
        _ => None,
    }
}

/// Every record as text (names keep their case there).
fn records(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .chain(&m.authorities)
        .chain(&m.additionals)
        .map(|r| r.to_string())
        .collect()
}

fn fast(table: &Table, bytes: &[u8]) -> Option<Vec<u8>> {
    let question = parse(bytes)?;
    let mut out = Vec::new();
    table
        .fast()
        .answer(&question, question.udp_limit(), &mut out)
        .then_some(out)
}

#[test]
fn the_fast_path_answers_as_the_full_path_does() {
    let table = table();
    let names = [
        "www.failover.test.",
        "WwW.FailOver.TEST.",
        "failover.test.",
        "FAILOVER.test.",
        "ns1.failover.test.",
        "lone.other.test.",
        "Lone.Other.Test.",
        "new.failover.test.",
    ];
    let edns = [
        None,
        Some((512, false)),
        Some((1232, true)),
        Some((4096, false)),
    ];
    let mut compared = 0;
    for name in names {
        for qtype in TYPES {
            for (rd, cd) in [(false, false), (true, false), (true, true)] {
                for e in edns {
                    let bytes = request(name, qtype, rd, cd, e);
                    let Some(fast) = fast(&table, &bytes) else {
                        panic!("{name} {qtype} is pre-encoded");
                    };
                    let full = full(&table, &bytes).unwrap();
                    let what = format!("{name} {qtype} {rd} {cd} {e:?}");
                    // The header and the question byte for byte; the records as text,
                    // case and all (hickory compresses differently when the client asks
                    // in lower case: the same records, a few bytes apart).
                    let question = 12 + name.len() + 1 + 4;
                    assert_eq!(fast[..question], full[..question], "{what}");
                    let (f, g) = (
                        Message::from_vec(&fast).unwrap(),
                        Message::from_vec(&full).unwrap(),
                    );
                    assert_eq!(f, g, "{what}");
                    assert_eq!(records(&f), records(&g), "{what}");
                    compared += 1;
                }
            }
        }
    }
    assert_eq!(compared, names.len() * TYPES.len() * 3 * 4);
}

#[test]
fn what_changes_per_answer_or_is_unusual_takes_the_full_path() {
    let table = table();
    // Weighted round robin: each answer takes the next turn.
    assert!(
        fast(
            &table,
            &request("rr.failover.test.", RecordType::A, false, false, None)
        )
        .is_none()
    );
    // Names that do not exist, other types: computed per query.
    assert!(
        fast(
            &table,
            &request("nx.failover.test.", RecordType::A, false, false, None)
        )
        .is_none()
    );
    assert!(
        fast(
            &table,
            &request("www.failover.test.", RecordType::CAA, false, false, None)
        )
        .is_none()
    );
    // Not ours: forwarded or refused by the full path.
    assert!(
        fast(
            &table,
            &request("www.example.test.", RecordType::A, false, false, None)
        )
        .is_none()
    );

    let plain = request("www.failover.test.", RecordType::A, false, false, None);
    assert!(parse(&plain).is_some());
    let mut response = plain.clone();
    response[2] |= 0x80;
    assert!(parse(&response).is_none(), "a response");
    let mut update = plain.clone();
    update[2] |= 5 << 3;
    assert!(parse(&update).is_none(), "opcode UPDATE");
    let mut truncated = plain.clone();
    truncated[2] |= 0x02;
    assert!(parse(&truncated).is_none(), "TC in a query");
    let mut trailing = plain.clone();
    trailing.push(0);
    assert!(parse(&trailing).is_none(), "bytes after the question");
    assert!(parse(&plain[..plain.len() - 1]).is_none(), "cut short");
    let mut two = Message::from_vec(&plain).unwrap();
    two.add_query(Query::query(
        Name::from_ascii("a.failover.test.").unwrap(),
        RecordType::A,
    ));
    assert!(parse(&two.to_vec().unwrap()).is_none(), "two questions");
    // EDNS version 1 (BADVERS) and EDNS options are the full path's.
    let mut v1 = request(
        "www.failover.test.",
        RecordType::A,
        false,
        false,
        Some((1232, false)),
    );
    let at = v1.len() - 5;
    v1[at] = 1;
    assert!(parse(&v1).is_none(), "EDNS version 1");
    let mut cookie = request(
        "www.failover.test.",
        RecordType::A,
        false,
        false,
        Some((1232, false)),
    );
    let n = cookie.len();
    cookie[n - 1] = 12;
    cookie.extend_from_slice(&[0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert!(parse(&cookie).is_none(), "an EDNS option");
    // A compressed question name.
    let mut pointer = plain[..12].to_vec();
    pointer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    assert!(parse(&pointer).is_none());
}

#[test]
fn an_answer_too_big_for_the_client_takes_the_full_path() {
    let table = table();
    let bytes = request("failover.test.", RecordType::NS, false, false, None);
    let question = parse(&bytes).unwrap();
    let mut out = Vec::new();
    assert!(table.fast().answer(&question, 65535, &mut out));
    assert!(!table.fast().answer(&question, out.len() - 1, &mut out));
}

/// DNS serving answers the TTL the engine decided (the lower one while a set is unsettled),
/// on both paths, and a new TTL is a new version of the zone (its serial moves).
#[test]
fn the_ttl_the_engine_decided_is_answered_and_is_a_new_zone_version() {
    let mut memory = Memory::default();
    let serial = |t: &Table| t.serial("failover.test").unwrap();
    let normal = table_with(30, &mut memory);
    let low = table_with(10, &mut memory);
    let bytes = request("www.failover.test.", RecordType::A, false, false, None);
    for (table, ttl) in [(&normal, 30), (&low, 10)] {
        let answer = Message::from_vec(&full(table, &bytes).unwrap()).unwrap();
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(answer.answers[0].ttl, ttl);
        assert_eq!(fast(table, &bytes), full(table, &bytes));
    }
    assert!(serial(&low) > serial(&normal));
}

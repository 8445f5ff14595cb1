//! DNS serving's request handling: any bytes as a UDP or TCP request to a table with a
//! weighted set, a plain set, a wildcard and a zone of our own. Never a panic; over UDP no
//! answer larger than the client allows (512 bytes without EDNS: Standby must never be an
//! amplifier); every answer is a response with the request's id. The forwarder's cut of
//! an upstream answer is fuzzed too: never longer than the limit (or the bare header).
#![no_main]

use std::net::IpAddr;
use std::sync::{Arc, LazyLock};

use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;
use standby::dnsserve::answers::{Memory, Table};
use standby::dnsserve::{answer_bytes, wire};
use standby::engine::decision::Decision;
use standby::engine::snapshot::{SetHealth, SetStatus, Snapshot};
use standby::model::Settings;

const SETTINGS: &str = r#"(
    options: (dns_serving: (enabled: true, zones: [(
        name: "failover.example.test", primary: "ns1.failover.example.test",
        contact: "hostmaster@example.test",
        name_servers: [(name: "ns1.failover.example.test", addresses: ["192.0.2.53", "2001:db8::53"])],
    )])),
    server_sets: [
        (name: "web", servers: [(public_ip: "192.0.2.1"), (public_ip: "2001:db8::1")],
         polling: Tcp(port: Some(80)),
         dns: (host_names: ["www.failover.example.test", "*.apps.failover.example.test"],
               addresses_of: WeightedRoundRobin)),
        (name: "mail", servers: [(public_ip: "192.0.2.25")], polling: Tcp(port: Some(25)),
         dns: (host_names: ["mail.example.test"])),
        (name: "new", servers: [(public_ip: "192.0.2.99")], polling: Tcp(port: Some(25)),
         dns: (host_names: ["new.example.test"])),
    ],
)"#;

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let settings = Settings::from_ron(SETTINGS).expect("the fuzz settings parse");
    let mut snapshot = Snapshot::empty(Arc::new(settings), None);
    let a: IpAddr = "192.0.2.1".parse().expect("address");
    let b: IpAddr = "2001:db8::1".parse().expect("address");
    let c: IpAddr = "192.0.2.25".parse().expect("address");
    // `new` has no status yet (SERVFAIL); the others publish.
    for (name, published) in [("web", vec![(a, 3), (b, 1)]), ("mail", vec![(c, 1)])] {
        snapshot.sets.push(Arc::new(SetStatus {
            name: name.into(),
            paused: false,
            health: SetHealth::Unknown,
            method: "TCP".into(),
            servers: Vec::new(),
            decision: Decision::Waiting,
            host_names: Vec::new(),
            error: None,
            dns: Vec::new(),
            published: Some(published),
            ttl: 300,
            low_ttl: None,
        }));
    }
    Table::build(&snapshot, &mut Memory::default(), 1_700_000_000)
});

fuzz_target!(|data: &[u8]| {
    let request = Message::from_vec(data).ok();
    if let Some(answer) = answer_bytes(&TABLE, data, true) {
        let request = request
            .as_ref()
            .expect("only a request that parses is answered");
        let limit = wire::udp_limit(request);
        assert!(
            answer.len() <= limit,
            "a {}-byte UDP answer to a client that allows {limit}",
            answer.len()
        );
        check_response(&answer, data);
    }
    if let Some(answer) = answer_bytes(&TABLE, data, false) {
        assert!(answer.len() <= 65535, "a TCP answer longer than 64 KiB");
        check_response(&answer, data);
    }
    // The same bytes as an upstream's answer, cut for a client limit taken from them.
    let limit = 512 + usize::from(data.first().copied().unwrap_or(0)) * 4;
    let cut = wire::fit_forwarded(data.to_vec(), limit);
    assert!(
        cut.len() <= limit.max(12),
        "a forwarded answer cut to {} > {limit}",
        cut.len()
    );
});

/// An answer is a response (QR) with the request's id, and it parses.
fn check_response(answer: &[u8], request: &[u8]) {
    assert!(answer.len() >= 12, "an answer shorter than a header");
    assert_eq!(
        answer[..2],
        request[..2],
        "the answer's id is not the request's"
    );
    assert!(answer[2] & 0x80 != 0, "the answer is not a response");
    Message::from_vec(answer).expect("our own answer parses");
}

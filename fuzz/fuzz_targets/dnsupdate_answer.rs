//! What DNS updating reads from a DNS server's answer: any bytes as the answer to an
//! update (parsed, its rcode explained), and the pure readers of lookups: a name's own A
//! and AAAA records, the zone an SOA answer names, the zone's NS targets (once each) and
//! their glue. Never a panic: a hostile or broken server gets an error that names it.
#![no_main]

use std::net::SocketAddr;

use hickory_proto::op::Message;
use hickory_proto::rr::Name;
use libfuzzer_sys::fuzz_target;
use standby::dnsupdate::lookup::{addresses_of, addresses_with_ttl, ns_targets, zone_in};
use standby::dnsupdate::rfc2136::judge_answer;

fuzz_target!(|data: &[u8]| {
    let server: SocketAddr = "127.0.0.1:53".parse().expect("address");
    let _ = judge_answer(data, None, server, 1_700_000_000);
    let Ok(answer) = Message::from_vec(data) else {
        return;
    };
    // Names from the answer itself, so that the fuzzer can make them match.
    let names: Vec<Name> = answer
        .queries
        .iter()
        .map(|q| q.name().clone())
        .chain(answer.answers.iter().map(|r| r.name.clone()))
        .chain([Name::from_ascii("www.example.test.").expect("name")])
        .collect();
    for name in &names {
        let _ = addresses_with_ttl(&answer.answers, name);
        if let Some(zone) = zone_in(&answer, name) {
            assert!(zone.zone_of(name), "{zone} does not hold {name}");
        }
        let targets = ns_targets(&answer, name);
        for (i, target) in targets.iter().enumerate() {
            assert!(!targets[..i].contains(target), "{target} listed twice");
            let _ = addresses_of(&answer.additionals, target);
        }
    }
});

//! The engine's DNS sync with RFC 2136 + TSIG against both real servers, BIND 9 and Knot:
//! aliases and a wildcard host name, all functional servers (two A records and one AAAA),
//! each pair updated and verified; asserted by asking the server with dig.

use standby::engine::PairState;

use crate::support::dns_sync::{settings, start};
use crate::support::peers::{Kind, Peer};
use crate::support::wait_until;

async fn aliases_wildcards_and_all_functional(kind: Kind) {
    let peer = Peer::primary(kind).await;
    let server = peer.rfc2136_server();
    let hosts = [
        "www.example.test",
        "alias.example.test",
        "*.apps.example.test",
    ];
    let settings = settings(
        &["192.0.2.31", "192.0.2.32", "2001:db8::33"],
        &hosts,
        vec![server],
    )
    .await;
    let engine = start(settings);
    wait_until(&engine, "every pair updated", |s| {
        s.set("web").is_some_and(|set| {
            set.dns.len() == 3 && set.dns.iter().all(|p| p.state == PairState::Updated)
        })
    })
    .await;
    for name in [
        "www.example.test",
        "alias.example.test",
        "anything.apps.example.test",
    ] {
        assert_eq!(
            peer.dig(name, "A").await,
            ["192.0.2.31", "192.0.2.32"],
            "{kind:?} {name} A"
        );
        assert_eq!(
            peer.dig(name, "AAAA").await,
            ["2001:db8::33"],
            "{kind:?} {name} AAAA"
        );
    }
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_gets_every_alias() {
    aliases_wildcards_and_all_functional(Kind::Bind).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn knot_gets_every_alias() {
    aliases_wildcards_and_all_functional(Kind::Knot).await;
}

//! Propagation counted right (issue 14, item 6), through the engine: a zone with three name
//! servers — the BIND primary Standby updates (on its own port), a Knot secondary on port
//! 53 whose name lies outside the zone (so only the resolver of the settings, an unbound
//! here, knows it), and one that does not answer — is "2 of 3, 1 unknown" once Knot has
//! the change, in the snapshot, the API's status and the window's table.
//!
//! Port 53 on 127.0.0.x needs root: the tests run as root in a loopback-only network
//! namespace (scripts/test-all.sh).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use standby::dnsupdate::propagation::Propagation;
use standby::engine::{Command, PairState};

use crate::support::dns_sync::{settings, start};
use crate::support::peers::unbound::Unbound;
use crate::support::peers::{Peer, dig};
use crate::support::ports::port_free;
use crate::support::{bounded, wait_until};
use egui_kittest::kittest::Queryable;

/// A 127.0.0.x address, from `range`, where port 53 is free for UDP and TCP.
fn free_on_53(range: std::ops::RangeInclusive<u8>) -> IpAddr {
    range
        .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .find(|ip| port_free(SocketAddr::new(*ip, 53)))
        .expect("port 53 free on some 127.0.0.x (the tests run as root)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_name_servers_one_silent_are_two_of_three_one_unknown() {
    bounded(async {
        let knot_ip = free_on_53(231..=240);
        let knot_addr = SocketAddr::new(knot_ip, 53);
        // The third name server: port 53 held, never read (no answer, no ICMP).
        let silent_ip = free_on_53(241..=250);
        let _silent = UdpSocket::bind(SocketAddr::new(silent_ip, 53)).unwrap();
        let resolver = Unbound::start(
            &format!(
                "local-zone: \"other.test.\" static\n\
                 local-data: \"ns2.other.test. 60 IN A {knot_ip}\"\n"
            ),
            "",
        )
        .await;
        let bind = Peer::bind_with(
            &[
                "--ns".into(),
                "ns2.other.test.".into(),
                "--ns".into(),
                format!("ns3={silent_ip}"),
            ],
            Some(knot_addr),
        )
        .await;
        let knot = Peer::knot_secondary(knot_addr, bind.addr).await;

        let server = bind.rfc2136_server();
        let mut settings = settings(&["192.0.2.1"], &["www.example.test"], vec![server]).await;
        settings.options.dns_updating.propagation_resolver = resolver.addr.to_string();
        let engine = start(settings);
        let want = Propagation {
            serving: 2,
            total: 3,
            unknown: 1,
        };
        // Knot may still be transferring when the first count is made: then Poll now
        // counts again, until both BIND and Knot give the new address.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let pair = loop {
            let snapshot = wait_until(&engine, "the pair is updated and counted", |s| {
                s.set("web").is_some_and(|w| {
                    w.dns.first().is_some_and(|p| {
                        matches!(p.state, PairState::Updated | PairState::Matched)
                            && p.propagation.is_some()
                            && !p.in_flight
                    })
                })
            })
            .await;
            let pair = snapshot.set("web").unwrap().dns[0].clone();
            if pair.propagation == Some(want) || tokio::time::Instant::now() > deadline {
                break pair;
            }
            engine.send(Command::PollSet("web".into())).await.unwrap();
            wait_until(&engine, "the re-check runs", |s| {
                s.set("web")
                    .is_some_and(|w| w.dns.first().is_some_and(|p| p.in_flight))
            })
            .await;
        };
        assert_eq!(
            pair.propagation,
            Some(want),
            "{pair:?}\nknot:\n{}\nunbound:\n{}",
            knot.log(),
            resolver.log()
        );
        assert_eq!(want.to_string(), "2 of 3, 1 unknown");
        // What the counting relied on, seen by dig: Knot on port 53 has the change.
        assert_eq!(dig(knot_addr, "www.example.test", "A").await, ["192.0.2.1"]);

        // The API's status shows the same count.
        let status = standby::api::dto::SetStatusDto::from(engine.snapshot().set("web").unwrap());
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json["dns"][0]["propagation"],
            serde_json::json!({"serving": 2, "total": 3, "unknown": 1, "text": "2 of 3, 1 unknown"})
        );
        // And the window's DNS pairs table.
        let pairs = vec![pair.clone()];
        let mut table = egui_kittest::Harness::new_ui(move |ui| {
            standby::ui::tabs::set_status::dns_pairs(ui, &pairs);
        });
        table.run();
        let _ = table.get_by_label("2 of 3, 1 unknown");
        engine.shutdown();
    })
    .await;
}

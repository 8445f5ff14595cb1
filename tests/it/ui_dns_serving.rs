//! The Options dialog's DNS-serving page (issue 15, items 1 and 3), driven headless through
//! AccessKit: a zone added in its dialog is saved and served, a public address with
//! forwarding on is warned about, and a set's host name under no zone is named.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use egui_kittest::kittest::Queryable;
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use standby::model::options::{DnsZone, ZoneNameServer};
use standby::model::{DnsData, PollMethod, Server, ServerSet, Settings, TcpPoll};
use standby::ui::dialogs::dns_serving_page::{NO_ZONE, OPEN_RESOLVER, PUBLIC_FORWARDING};

use crate::support::ports::free_addr;
use crate::support::ui::{DEADLINE, Window};

/// A set whose polls fail fast (nothing listens on port 1 of a loopback address) and need
/// no peer; never a documentation address, which the engine would send packets to.
fn set(name: &str, hosts: &[&str]) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: vec![Server {
            public_ip: "127.0.0.10".into(),
            ..Default::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(1),
            ..Default::default()
        }),
        dns: DnsData {
            host_names: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// Settings that serve DNS on a free loopback port.
fn serving(sets: Vec<ServerSet>) -> (Settings, SocketAddr) {
    let address = free_addr(IpAddr::from([127, 0, 0, 1]));
    let mut settings = Settings {
        server_sets: sets,
        ..Default::default()
    };
    let s = &mut settings.options.dns_serving;
    s.enabled = true;
    s.listen_address = address.ip().to_string();
    s.port = address.port();
    (settings, address)
}

fn window(settings: Settings) -> Window {
    let sets = settings.server_sets.len();
    let mut w = Window::saving(settings);
    w.wait_for("the sets", |s| s.sets.len() == sets);
    w.click("Options");
    w.click("DNS serving");
    w
}

/// The SOA serial `server` answers for `zone`, once it answers one (bounded).
fn served_soa(server: SocketAddr, zone: &str) -> Option<u32> {
    let socket = UdpSocket::bind("127.0.0.1:0").ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .ok()?;
    let mut request = Message::new(0x5150, MessageType::Query, OpCode::Query);
    request.add_query(Query::query(Name::from_ascii(zone).ok()?, RecordType::SOA));
    let bytes = request.to_vec().ok()?;
    let mut buf = [0u8; 1500];
    let until = std::time::Instant::now() + DEADLINE;
    while std::time::Instant::now() < until {
        socket.send_to(&bytes, server).ok()?;
        if let Ok((n, _)) = socket.recv_from(&mut buf)
            && let Ok(answer) = Message::from_vec(&buf[..n])
            && answer.metadata.response_code == ResponseCode::NoError
            && let Some(serial) = answer.answers.iter().find_map(|r| match &r.data {
                RData::SOA(soa) => Some(soa.serial),
                _ => None,
            })
        {
            return Some(serial);
        }
    }
    None
}

#[test]
fn a_zone_added_in_the_dialog_is_saved_and_served() {
    let (settings, server) = serving(vec![set("web", &["www.failover.example.test"])]);
    let mut w = window(settings);
    // As main.rs does: the DNS server follows the engine's settings.
    standby::dnsserve::spawn(w.app().engine().clone()).unwrap();
    w.click("Add zone...");
    assert!(w.has_window("Zone properties"));
    assert!(!w.ok_enabled("Zone properties"), "a new zone is incomplete");
    w.type_into("Zone name:", "failover.example.test");
    w.type_into("Primary name server:", "ns1.failover.example.test");
    w.type_into("Contact (e-mail):", "hostmaster@example.test");
    w.type_into("Minimum / negative TTL (s):", "30");
    // A name server inside the zone without glue: the reason reaches its line.
    w.type_into("Name servers:", "ns1.failover.example.test");
    assert!(
        w.shows(
            "line 1: \"ns1.failover.example.test\" is inside the zone: it needs a glue address"
        ),
        "the glue error at its line"
    );
    assert!(!w.ok_enabled("Zone properties"));
    w.type_into(
        "Name servers:",
        "ns1.failover.example.test 127.0.0.1\nns.elsewhere.test",
    );
    assert!(w.ok_enabled("Zone properties"));
    w.click_in("Zone properties", "OK");
    assert!(!w.has_window("Zone properties"));
    w.harness
        .get_by_label("failover.example.test (2 name servers)");
    // The host name now has a zone: no hint for it.
    assert!(!w.shows(NO_ZONE));
    w.click_in("Options", "OK");

    let saved = w.wait_for_file("the zone", |s| !s.options.dns_serving.zones.is_empty());
    let zone = &saved.options.dns_serving.zones[0];
    assert_eq!(zone.name, "failover.example.test");
    assert_eq!(zone.primary, "ns1.failover.example.test");
    assert_eq!(zone.contact, "hostmaster@example.test");
    assert_eq!(zone.minimum_secs, 30);
    assert_eq!(
        zone.name_servers,
        [
            ZoneNameServer {
                name: "ns1.failover.example.test".into(),
                addresses: vec!["127.0.0.1".into()],
            },
            ZoneNameServer {
                name: "ns.elsewhere.test".into(),
                addresses: vec![],
            },
        ]
    );
    w.wait_until_closed("Options");
    // In force: the server answers the zone's SOA.
    assert!(
        served_soa(server, "failover.example.test.").is_some(),
        "the saved zone is served"
    );
}

#[test]
fn forwarding_on_a_public_address_is_warned_about() {
    let (mut settings, _) = serving(vec![]);
    let s = &mut settings.options.dns_serving;
    s.forward = true;
    s.forward_to = "127.0.0.1".into();
    s.forward_allowed_from = vec!["127.0.0.0/8".into()];
    let mut w = window(settings);
    assert!(!w.shows(PUBLIC_FORWARDING), "loopback: no warning");
    w.type_into("Listen on address:", "0.0.0.0");
    w.harness.get_by_label(PUBLIC_FORWARDING);
    w.click("Forward other queries");
    assert!(
        !w.shows(PUBLIC_FORWARDING),
        "no warning once forwarding is off"
    );
    w.click("Forward other queries");
    w.harness.get_by_label(PUBLIC_FORWARDING);

    // The client networks: a wrong one is named at its line, the whole internet warned of.
    w.type_into("Forward for clients in:", "127.0.0.0/8\n127.0.0.0/33");
    assert!(w.shows("line 2: \"127.0.0.0/33\" is not a network"));
    assert!(!w.ok_enabled("Options"));
    w.type_into("Forward for clients in:", "127.0.0.0/8\n0.0.0.0/0\n");
    w.harness.get_by_label(OPEN_RESOLVER);
    assert!(w.ok_enabled("Options"), "allowed, only warned of");
    // Back on loopback, with the rate limit set, and saved (the blank line dropped).
    w.type_into("Listen on address:", "127.0.0.1");
    assert!(!w.shows(PUBLIC_FORWARDING));
    w.type_into("Forward for clients in:", "127.0.0.0/8\n::1/128\n");
    w.type_into("Answers per second per client network:", "50");
    w.click_in("Options", "OK");
    let saved = w.wait_for_file("the networks", |s| {
        s.options.dns_serving.rate_limit_per_sec == 50
    });
    assert_eq!(
        saved.options.dns_serving.forward_allowed_from,
        ["127.0.0.0/8", "::1/128"]
    );
}

#[test]
fn a_host_name_under_no_zone_is_named() {
    let (mut settings, _) = serving(vec![set(
        "web",
        &["www.failover.example.test", "www.other.test"],
    )]);
    settings.options.dns_serving.zones = vec![DnsZone {
        name: "failover.example.test".into(),
        primary: "ns.elsewhere.test".into(),
        contact: "hostmaster@example.test".into(),
        name_servers: vec![ZoneNameServer {
            name: "ns.elsewhere.test".into(),
            addresses: vec![],
        }],
        ..DnsZone::default()
    }];
    let mut w = window(settings);
    w.harness
        .get_by_label(&format!("www.other.test (set web): {NO_ZONE}"));
    assert!(
        !w.shows("www.failover.example.test (set web)"),
        "a name in a zone is not named"
    );
    // Without the zone both are named.
    w.click("failover.example.test (1 name server)");
    w.click("Remove zone");
    w.harness
        .get_by_label(&format!("www.failover.example.test (set web): {NO_ZONE}"));
    // Switched off, nothing is served: no hint.
    w.click("Answer DNS queries for the sets' host names");
    assert!(!w.shows(NO_ZONE));
}

/// The zone dialog's transfer fields (Standby as a hidden primary): a wrong network is
/// named at its line and blocks OK; the networks, NOTIFY list and a key are saved.
#[test]
fn a_zones_transfer_settings_are_edited_and_saved() {
    let (mut settings, _) = serving(vec![set("web", &["www.failover.example.test"])]);
    settings.options.dns_serving.zones = vec![DnsZone {
        name: "failover.example.test".into(),
        primary: "ns.elsewhere.test".into(),
        contact: "hostmaster@example.test".into(),
        name_servers: vec![ZoneNameServer {
            name: "ns.elsewhere.test".into(),
            addresses: vec![],
        }],
        ..DnsZone::default()
    }];
    let mut w = window(settings);
    w.click("failover.example.test (1 name server)");
    w.click("Edit zone...");
    assert!(w.shows("Transfers are limited by address only"));
    w.type_into("May transfer (networks):", "127.0.0.53/32\n127.0.0.0/33");
    assert!(
        w.shows("line 2: \"127.0.0.0/33\" is not a network (address/prefix)"),
        "the wrong network at its line"
    );
    assert!(!w.ok_enabled("Zone properties"));
    w.type_into("May transfer (networks):", "127.0.0.53/32\n127.0.1.0/24");
    w.type_into("NOTIFY:", "127.0.0.53\n127.0.0.54:5300");
    w.click("Require TSIG on transfers");
    w.type_into("Key name:", "xfr-key");
    assert!(w.shows("a secret is required"));
    w.type_into(
        "Secret (base64):",
        "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
    );
    assert!(w.ok_enabled("Zone properties"));
    w.click_in("Zone properties", "OK");
    w.click_in("Options", "OK");
    let saved = w.wait_for_file("the transfer settings", |s| {
        s.options.dns_serving.zones[0].transfer.key.is_some()
    });
    let t = &saved.options.dns_serving.zones[0].transfer;
    assert_eq!(t.allowed_from, ["127.0.0.53/32", "127.0.1.0/24"]);
    assert_eq!(t.notify, ["127.0.0.53", "127.0.0.54:5300"]);
    let key = t.key.as_ref().unwrap();
    assert_eq!(key.name, "xfr-key");
    assert_eq!(
        key.secret.expose(),
        "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI="
    );
}

//! The What if window, driven headless by label with a real engine: both servers of a set
//! answer, and ticking them shows what DNS would give instead, where, and how soon.

use std::net::UdpSocket;

use egui_kittest::kittest::Queryable;
use standby::model::{
    AddressSelection, DnsData, DnsServer, PollFrequency, PollMethod, Server, ServerSet, Settings,
    TcpPoll, UpdateDns,
};

use crate::support::ui::{Window, tcp_peer};

const TICK_A: &str = "web-a (192.0.2.10) — OK now";
const TICK_B: &str = "web-b (192.0.2.20) — OK now";

/// A set `web` of two servers polled (and answering) at 127.0.0.1, the first one given
/// in DNS, kept on a DNS server at `dns_port` (it never answers: not needed here).
fn settings(tcp_port: u16, dns_port: u16) -> Settings {
    let server = |ip: &str, name: &str| Server {
        public_ip: ip.into(),
        poll_ip: Some("127.0.0.1".into()),
        name: name.into(),
        ..Server::default()
    };
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: vec![server("192.0.2.10", "web-a"), server("192.0.2.20", "web-b")],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(tcp_port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(60),
            timeout: std::time::Duration::from_secs(5),
            retries: 2,
            retry_interval: std::time::Duration::from_secs(10),
            ..PollFrequency::default()
        },
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ttl: 300,
            addresses_of: AddressSelection::FirstFunctional,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            dns_servers: vec![DnsServer {
                address: "127.0.0.1".into(),
                port: dns_port,
                ..DnsServer::default()
            }],
        },
        ..ServerSet::default()
    });
    settings
}

/// The window on the set `web` once both servers answered; the DNS server's socket (kept
/// open, silent) and port.
fn window() -> (Window, UdpSocket, u16) {
    let silent_dns = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns_port = silent_dns.local_addr().unwrap().port();
    let mut w = Window::saving(settings(tcp_peer(), dns_port));
    w.wait_for("both servers answered", |s| {
        s.set("web")
            .is_some_and(|web| web.servers.iter().all(|v| v.successes >= 1))
    });
    w.click("web");
    (w, silent_dns, dns_port)
}

#[test]
fn what_if_shows_the_dns_change_a_failure_would_cause() {
    let (mut w, _silent_dns, dns_port) = window();
    w.click("What if...");
    assert!(w.has_window("What if: web"));
    assert!(w.shows("Tick the servers whose failure you want to see."));

    // The first server failing: DNS moves to the second, on the set's DNS server.
    w.click(TICK_A);
    assert!(w.shows("DNS gives now: 192.0.2.10"));
    assert!(w.shows("It would give: 192.0.2.20"));
    assert!(w.shows(&format!(
        "Updated on 127.0.0.1:{dns_port} for www.example.test."
    )));
    // 60 s to the next poll, then it and 2 retries time out (5 s) 10 s apart.
    assert!(w.shows("Noticed within about 95s"));
    assert!(w.shows("up to 300 s (the TTL)"));

    // Both failing: the default policy assumes a local fault and leaves the address.
    w.click(TICK_B);
    assert!(w.shows("Every server of the set would have failed."));
    assert!(w.shows("DNS would not change (192.0.2.10 (all failed: assumed local fault))."));

    // Only the second failing: the first still answers, nothing changes.
    w.click(TICK_A);
    assert!(w.shows("DNS would not change (192.0.2.10)."));
    assert!(!w.shows("Updated on"));

    w.click("Close");
    assert!(!w.has_window("What if: web"));
}

#[test]
fn what_if_it_fails_ticks_the_server_of_its_row() {
    let (mut w, _silent_dns, _) = window();
    // The second server's row.
    w.harness.get_all_by_label("+").nth(1).unwrap().click();
    w.steps();
    w.click("What if it fails...");
    assert!(w.has_window("What if: web"));
    assert!(w.shows("DNS would not change (192.0.2.10)."));
}

//! DNSSEC-signed zones (issue 14, item 5): a failover through the engine into a zone that
//! BIND signs inline (`dnssec-policy`) and one that Knot signs automatically. Standby's
//! check, update, verification and propagation work as in an unsigned zone, and a
//! validating unbound — the zone's own key its only trust anchor, a stub zone pointing at
//! the primary — resolves the new address with the AD flag: the update left the zone
//! validly signed.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use standby::dnsupdate::propagation::Propagation;
use standby::engine::{EngineConfig, EngineHandle, PairState};
use standby::model::{
    DnsData, HttpPoll, PollFrequency, PollMethod, Server, ServerSet, Settings, UpdateDns,
};
use tokio::time::{Instant, timeout};

use crate::support::http;
use crate::support::peers::unbound::Unbound;
use crate::support::peers::{Kind, Peer, ZONE};
use crate::support::ports::common_port;
use crate::support::{bounded, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_in_a_zone_bind_signs_inline_validates() {
    bounded(failover_in_a_signed_zone(
        Kind::Bind,
        ["127.0.0.71", "127.0.0.72"],
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_in_a_zone_knot_signs_validates() {
    bounded(failover_in_a_signed_zone(
        Kind::Knot,
        ["127.0.0.73", "127.0.0.74"],
    ))
    .await;
}

/// What a validating resolver said: the flags of its answer and the addresses.
#[derive(Debug, PartialEq)]
struct Resolved {
    authenticated: bool,
    rcode: String,
    addresses: Vec<String>,
}

/// `dig @resolver www.example.test A +dnssec` (RD set), bounded.
async fn resolve(resolver: SocketAddr) -> Resolved {
    let output = tokio::process::Command::new("dig")
        .arg(format!("@{}", resolver.ip()))
        .args(["-p", &resolver.port().to_string()])
        .args(["www.example.test", "A", "+dnssec", "+time=3", "+tries=1"])
        .kill_on_drop(true)
        .output();
    let output = timeout(Duration::from_secs(10), output)
        .await
        .expect("dig took too long")
        .expect("dig runs (bind9-dnsutils)");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    // ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 1" and ";; flags: qr rd ra ad; ..."
    let rcode = text
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("?")
        .to_string();
    let flags = text
        .lines()
        .find_map(|l| l.strip_prefix(";; flags: "))
        .and_then(|l| l.split(';').next())
        .unwrap_or("");
    let addresses = text
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.len() == 5 && fields[0] == "www.example.test." && fields[3] == "A")
                .then(|| fields[4].to_string())
        })
        .collect();
    Resolved {
        authenticated: flags.split(' ').any(|f| f == "ad"),
        rcode,
        addresses,
    }
}

async fn failover_in_a_signed_zone(kind: Kind, ips: [&str; 2]) {
    let primary = Peer::signed_primary(kind).await;
    // The zone's own keys are the resolver's only trust anchor.
    let keys = primary.dig(ZONE, "DNSKEY").await;
    let anchor: String = keys
        .iter()
        .map(|key| format!("{ZONE}. 60 IN DNSKEY {key}\n"))
        .collect();
    let anchor_file = primary.dir.path().join("anchor.txt");
    std::fs::write(&anchor_file, anchor).unwrap();
    let resolver = Unbound::start_with(
        &["--trust-anchor".into(), anchor_file.display().to_string()],
        &format!("local-zone: \"{ZONE}.\" transparent\n"),
        &format!(
            "stub-zone:\n    name: \"{ZONE}.\"\n    stub-addr: {}@{}\n",
            primary.addr.ip(),
            primary.addr.port()
        ),
    )
    .await;

    let (a, b): (IpAddr, IpAddr) = (ips[0].parse().unwrap(), ips[1].parse().unwrap());
    let port = common_port(&[a, b]);
    let server_a = http::stoppable_http_server(a, port).await;
    let _server_b = http::stoppable_http_server(b, port).await;
    let engine =
        EngineHandle::spawn(EngineConfig::in_memory(settings(&primary, [a, b], port))).unwrap();

    // Standby puts the first server into the signed zone...
    gives(&primary, &[ips[0]]).await;
    // ...and after it fails, the second.
    server_a.abort();
    let _ = server_a.await;
    gives(&primary, &[ips[1]]).await;

    // Check, verification and propagation read the signed zone like any other: the pair
    // is updated without a problem, its one name server (the primary) counted.
    let snapshot = wait_until(&engine, "the pair is updated to the second server", |s| {
        s.set("web").is_some_and(|w| {
            w.dns.first().is_some_and(|p| {
                p.state == PairState::Updated
                    && p.served.as_deref() == Some(ips[1])
                    && p.error.is_none()
                    && !p.in_flight
            })
        })
    })
    .await;
    let pair = &snapshot.set("web").unwrap().dns[0];
    assert_eq!(pair.propagation, Some(Propagation::known(1, 1)), "{pair:?}");
    // The failed server is a problem (1xx); no DNS problem (2xx) is.
    let dns_problems: Vec<_> = snapshot
        .problems
        .iter()
        .filter(|p| p.code.get() / 100 == 2)
        .collect();
    assert!(dns_problems.is_empty(), "{dns_problems:?}");

    // The validating resolver: the new address, authenticated.
    let resolved = resolve(resolver.addr).await;
    assert_eq!(
        resolved,
        Resolved {
            authenticated: true,
            rcode: "NOERROR".into(),
            addresses: vec![ips[1].to_string()],
        },
        "{}\n{}",
        resolver.log(),
        primary.log()
    );
    engine.shutdown();
}

/// Asks the primary until it gives `want` for www (bounded: 30 s).
async fn gives(primary: &Peer, want: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = primary.dig("www.example.test", "A").await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the primary gives {got:?}, wanted {want:?}\n{}",
            primary.log()
        );
        // Bounded poll while the engine fails over.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One set of two servers (`ips` on `port`, polled over HTTP every second) whose host name
/// www is kept right on `primary` with TSIG.
fn settings(primary: &Peer, ips: [IpAddr; 2], port: u16) -> Settings {
    let mut settings = Settings::default();
    settings.options.dns_updating.propagation_resolver = primary.addr.to_string();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: ips
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Http(HttpPoll {
            url: format!("http://www.example.test:{port}/"),
            ..HttpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 1,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
            recover_after: 1,
            sequential: false,
        },
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ttl: 60,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            dns_servers: vec![primary.rfc2136_server()],
        },
        ..ServerSet::default()
    });
    settings
}

//! The PowerDNS API method against a real PowerDNS Authoritative server (tests/peers/pdns.sh):
//! a failover and failback through the engine for a name and its alias, asserted with `dig`
//! against PowerDNS; a wrong API key and an unknown zone as problems that say so; IPv6 and
//! the DELETE of a type left without records.

use standby::dnsupdate::propagation::Propagation;
use std::net::IpAddr;
use std::time::Duration;

use standby::dnsupdate::{self, DnsStage, FailureKind, Records, UpdateRequest};
use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{
    DnsData, DnsServer, HttpPoll, PollFrequency, PollMethod, PowerDnsApi, Secret, Server,
    ServerSet, Settings, UpdateDns, UpdateMethod,
};

use crate::support::http;
use crate::support::peers::pdns::PowerDns;
use crate::support::ports::common_port;
use crate::support::wait_until;

const KEY: &str = "t3st-api-key";
const LIMIT: Duration = Duration::from_secs(30);

/// Asks PowerDNS until it gives `want` for `name` (bounded).
async fn pdns_gives(pdns: &PowerDns, name: &str, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let got = pdns.dig(name, "A").await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "PowerDNS gives {got:?} for {name}, wanted {want:?}\n{}",
            pdns.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn method(url: &str, key: &str) -> UpdateMethod {
    UpdateMethod::PowerDns(PowerDnsApi {
        url: url.into(),
        api_key: Secret::new(key),
        ..PowerDnsApi::default()
    })
}

fn web_set(a: IpAddr, b: IpAddr, port: u16, servers: Vec<DnsServer>, hosts: &[&str]) -> ServerSet {
    let server = |ip: IpAddr| Server {
        public_ip: ip.to_string(),
        ..Server::default()
    };
    ServerSet {
        name: "web".into(),
        servers: vec![server(a), server(b)],
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
            host_names: hosts.iter().map(|h| h.to_string()).collect(),
            ttl: 30,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            dns_servers: servers,
        },
        ..ServerSet::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback_reach_powerdns_for_the_name_and_its_alias() {
    let (a, b): (IpAddr, IpAddr) = ("127.0.0.14".parse().unwrap(), "127.0.0.15".parse().unwrap());
    let port = common_port(&[a, b]);
    let server_a = http::stoppable_http_server(a, port).await;
    let _server_b = http::stoppable_http_server(b, port).await;
    let pdns = PowerDns::start(KEY).await;
    let api = pdns.api.clone();

    let mut settings = Settings::default();
    settings.server_sets.push(web_set(
        a,
        b,
        port,
        vec![DnsServer {
            // PowerDNS's own DNS listener: the zone's name servers are asked there.
            address: pdns.addr.ip().to_string(),
            port: pdns.addr.port(),
            update: method(&api, KEY),
            ..DnsServer::default()
        }],
        &["www.example.test", "web.example.test"],
    ));
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();

    // The zone starts with www → 192.0.2.10 and no web: both get the first server.
    pdns_gives(&pdns, "www.example.test", &["127.0.0.14"]).await;
    pdns_gives(&pdns, "web.example.test", &["127.0.0.14"]).await;

    server_a.abort();
    let _ = server_a.await;
    pdns_gives(&pdns, "www.example.test", &["127.0.0.15"]).await;
    pdns_gives(&pdns, "web.example.test", &["127.0.0.15"]).await;

    let _server_a = http::stoppable_http_server(a, port).await;
    pdns_gives(&pdns, "www.example.test", &["127.0.0.14"]).await;
    pdns_gives(&pdns, "web.example.test", &["127.0.0.14"]).await;

    // Both pairs updated, checked through the API and propagated to the zone's one NS. Two
    // PATCHes at once can get a 500 from PowerDNS's SQLite backend (database locked): the
    // pair's problem then stays until its retry (after 5 s) succeeds, which is waited for.
    let snapshot = wait_until(&engine, "both pairs propagated, no problem left", |s| {
        s.problems.is_empty()
            && s.set("web").is_some_and(|set| {
                set.dns.len() == 2
                    && set
                        .dns
                        .iter()
                        .all(|p| p.propagation == Some(Propagation::known(1, 1)))
            })
    })
    .await;
    assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_and_an_unknown_zone_are_problems_that_say_so() {
    let a: IpAddr = "127.0.0.16".parse().unwrap();
    let b: IpAddr = "127.0.0.17".parse().unwrap();
    let port = common_port(&[a, b]);
    let _server_a = http::stoppable_http_server(a, port).await;
    let pdns = PowerDns::start(KEY).await;
    let api = pdns.api.clone();

    let mut settings = Settings::default();
    let mut set = web_set(
        a,
        b,
        port,
        vec![
            // No DNS server address: the API alone, labelled by the method.
            DnsServer {
                update: method(&api, "not-the-key"),
                ..DnsServer::default()
            },
        ],
        &["www.example.test"],
    );
    set.servers.truncate(1);
    settings.server_sets.push(set);
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    let snapshot = wait_until(&engine, "a wrong-key problem", |s| {
        s.problems.iter().any(|p| p.code.get() / 100 == 2)
    })
    .await;
    let problem = snapshot
        .problems
        .iter()
        .find(|p| p.code.get() / 100 == 2)
        .unwrap();
    assert!(problem.text.contains("wrong API key"), "{problem:?}");
    assert!(problem.text.contains("401"), "{problem:?}");
    assert_eq!(
        problem.code, 242,
        "wrong answer while finding the zone: {problem:?}"
    );
    assert!(problem.subject.starts_with("PowerDNS API"), "{problem:?}");
    assert!(!problem.text.contains("not-the-key"), "{problem:?}");
    engine.shutdown();
    // Nothing changed on the server.
    assert_eq!(pdns.dig("www.example.test", "A").await, ["192.0.2.10"]);

    // An unknown zone, straight through the method.
    let updater = dnsupdate::build(&method(&api, KEY)).unwrap();
    let provider = updater.api().unwrap();
    let error = provider
        .records("www.example.org", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind, error.stage),
        (FailureKind::WrongAnswer, DnsStage::FindingZone)
    );
    assert!(error.text.contains("unknown zone"), "{error}");
    assert!(
        error.text.contains("example.test"),
        "names the zones it has: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_patch_switches_both_types_and_deletes_a_type_left_empty() {
    let pdns = PowerDns::start(KEY).await;
    let api = pdns.api.clone();
    let updater = dnsupdate::build(&method(&api, KEY)).unwrap();
    let provider = updater.api().unwrap();
    let view = provider
        .records("WWW.example.test.", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(view.zone, "example.test");
    assert_eq!(view.records.describe(), "192.0.2.10");

    let v4: IpAddr = "198.51.100.7".parse().unwrap();
    let v6: IpAddr = "2001:db8::7".parse().unwrap();
    let mut request = UpdateRequest {
        server: "0.0.0.0:53".parse().unwrap(),
        server_label: "PowerDNS API".into(),
        host: "www.example.test".into(),
        zone: view.zone.clone(),
        wanted: Records::new(vec![v6, v4], Some(120)),
        ttl: 120,
        current: view.records.clone(),
        set_name: "web".into(),
        timeout: Duration::from_secs(10),
    };
    let text = tokio::time::timeout(LIMIT, updater.update(&request))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text, "HTTP 204 No Content");
    assert_eq!(pdns.dig("www.example.test", "A").await, ["198.51.100.7"]);
    assert_eq!(pdns.dig("www.example.test", "AAAA").await, ["2001:db8::7"]);
    let after = provider
        .records("www.example.test", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(after.records, Records::new(vec![v4, v6], Some(120)));

    // Only IPv6 left: the A RRset is deleted in the same PATCH.
    request.wanted = Records::new(vec![v6], Some(120));
    updater.update(&request).await.unwrap();
    assert!(pdns.dig("www.example.test", "A").await.is_empty());
    assert_eq!(pdns.dig("www.example.test", "AAAA").await, ["2001:db8::7"]);
}

/// README's guide for PowerDNS over RFC 2136, as pdns.sh `--dnsupdate` sets it up
/// (`dnsupdate=yes`, `allow-dnsupdate-from`, a key imported with pdnsutil and required by
/// the zone's TSIG-ALLOW-DNSUPDATE): an update signed with the key goes in, an unsigned
/// one is refused and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc2136_with_the_guides_tsig_setup_updates_and_unsigned_is_refused() {
    use standby::dnsupdate::DnsUpdater;
    use standby::dnsupdate::rfc2136::Rfc2136Updater;
    use standby::model::{Rfc2136Update, TsigAlgorithm, TsigKey};

    crate::support::bounded(async {
        let pdns = PowerDns::start_with(&["--dnsupdate"], KEY).await;
        let keys = std::fs::read_to_string(pdns.dir.path().join("data/keys.txt")).unwrap();
        let fields: Vec<&str> = keys.split_whitespace().collect();
        assert_eq!(fields[..2], ["hmac-sha256", "standby-key"], "{keys}");
        let key = TsigKey {
            name: fields[1].into(),
            algorithm: TsigAlgorithm::HmacSha256,
            secret: Secret::new(fields[2]),
        };
        let request = |ip: &str| UpdateRequest {
            server: pdns.addr,
            server_label: pdns.addr.to_string(),
            host: "www.example.test".into(),
            zone: "example.test".into(),
            wanted: Records::new(vec![ip.parse().unwrap()], Some(60)),
            ttl: 60,
            current: Records::default(),
            set_name: "test set".into(),
            timeout: LIMIT,
        };
        let unsigned = Rfc2136Updater::new(&Rfc2136Update { tsig: None }).unwrap();
        let error = unsigned.update(&request("192.0.2.66")).await.unwrap_err();
        assert_eq!(error.stage, DnsStage::Updating);
        assert!(error.text.starts_with("REFUSED"), "{error}");
        assert_eq!(pdns.dig("www.example.test", "A").await, ["192.0.2.10"]);

        let signed = Rfc2136Updater::new(&Rfc2136Update { tsig: Some(key) }).unwrap();
        let done = signed.update(&request("192.0.2.55")).await;
        assert_eq!(done, Ok("NOERROR".to_string()), "{}", pdns.log());
        pdns_gives(&pdns, "www.example.test", &["192.0.2.55"]).await;
    })
    .await;
}

//! The Route 53 method against moto's server mode (tests/peers/moto.sh), a widely used
//! Route 53 emulator, with SigV4-signed requests: a failover and failback through the
//! engine for a name and its alias, read back with boto3; one batch that UPSERTs one type
//! and DELETEs the other; `INSYNC` as propagation; an unknown zone. moto's zones list
//! `awsdns` name servers that are not on this machine: nothing here asks them.

use standby::dnsupdate::propagation::Propagation;
use std::net::IpAddr;
use std::time::Duration;

use standby::dnsupdate::{self, DnsStage, FailureKind, Records, UpdateRequest};
use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{
    DnsData, DnsServer, HttpPoll, PollFrequency, PollMethod, Route53Api, Secret, Server, ServerSet,
    Settings, UpdateDns, UpdateMethod,
};

use crate::support::http::stoppable_http_server;
use crate::support::peers::moto::Moto;
use crate::support::ports::common_port;
use crate::support::wait_until;

const LIMIT: Duration = Duration::from_secs(60);

fn method(moto: &Moto) -> UpdateMethod {
    UpdateMethod::Route53(Route53Api {
        endpoint: moto.endpoint.clone(),
        // moto takes any key, but routes by the signature's scope (route53, us-east-1).
        access_key_id: "AKIDTEST".into(),
        secret_access_key: Secret::new("test-secret"),
        ..Route53Api::default()
    })
}

/// Reads moto (with boto3) until `name` has `want` (`"30 127.0.0.18"`), bounded.
async fn moto_gives(moto: &Moto, zone: &str, name: &str, kind: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        let got = moto.get(zone, name, kind).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "moto gives {got:?} for {name} {kind}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback_reach_route53_for_the_name_and_its_alias() {
    let (a, b): (IpAddr, IpAddr) = ("127.0.0.18".parse().unwrap(), "127.0.0.19".parse().unwrap());
    let port = common_port(&[a, b]);
    let server_a = stoppable_http_server(a, port).await;
    let _server_b = stoppable_http_server(b, port).await;
    let moto = Moto::start().await;
    let zone = moto.create_zone("example.test").await;
    moto.boto(&["put", &zone, "www.example.test", "A", "60", "192.0.2.10"])
        .await;

    let server = |ip: IpAddr| Server {
        public_ip: ip.to_string(),
        ..Server::default()
    };
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
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
            host_names: vec!["www.example.test".into(), "web.example.test".into()],
            ttl: 30,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            // No DNS server address: Route 53's own view and GetChange only.
            dns_servers: vec![DnsServer {
                update: method(&moto),
                ..DnsServer::default()
            }],
        },
        ..ServerSet::default()
    });
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();

    for want in ["30 127.0.0.18"] {
        moto_gives(&moto, &zone, "www.example.test", "A", want).await;
        moto_gives(&moto, &zone, "web.example.test", "A", want).await;
    }
    server_a.abort();
    let _ = server_a.await;
    moto_gives(&moto, &zone, "www.example.test", "A", "30 127.0.0.19").await;
    moto_gives(&moto, &zone, "web.example.test", "A", "30 127.0.0.19").await;
    let _server_a = stoppable_http_server(a, port).await;
    moto_gives(&moto, &zone, "www.example.test", "A", "30 127.0.0.18").await;
    moto_gives(&moto, &zone, "web.example.test", "A", "30 127.0.0.18").await;

    // Both pairs updated and in sync (GetChange says INSYNC), no problem left.
    let snapshot = wait_until(&engine, "both pairs in sync", |s| {
        s.set("web").is_some_and(|set| {
            set.dns.len() == 2
                && set
                    .dns
                    .iter()
                    .all(|p| p.propagation == Some(Propagation::known(1, 1)))
        })
    })
    .await;
    assert!(snapshot.problems.is_empty(), "{:?}", snapshot.problems);
    let pair = &snapshot.set("web").unwrap().dns[0];
    assert_eq!(pair.dns_server, "Amazon Route 53");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_batch_upserts_a_type_and_deletes_the_other_and_an_unknown_zone_says_so() {
    let moto = Moto::start().await;
    let zone = moto.create_zone("example.test").await;
    moto.boto(&["put", &zone, "www.example.test", "A", "60", "192.0.2.10"])
        .await;
    moto.boto(&[
        "put",
        &zone,
        "www.example.test",
        "AAAA",
        "60",
        "2001:db8::10",
    ])
    .await;
    let updater = dnsupdate::build(&method(&moto)).unwrap();
    let provider = updater.api().unwrap();
    let view = tokio::time::timeout(LIMIT, provider.records("www.example.test", LIMIT))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.zone, "example.test");
    assert_eq!(view.records.describe(), "192.0.2.10, 2001:db8::10");

    // IPv4 only now: A is UPSERTed and AAAA DELETEd, in the one batch.
    let v4: IpAddr = "198.51.100.7".parse().unwrap();
    let request = UpdateRequest {
        server: "0.0.0.0:53".parse().unwrap(),
        server_label: "Amazon Route 53".into(),
        host: "www.example.test".into(),
        zone: view.zone.clone(),
        wanted: Records::new(vec![v4], Some(120)),
        ttl: 120,
        current: view.records.clone(),
        set_name: "web".into(),
        timeout: Duration::from_secs(20),
    };
    let text = tokio::time::timeout(LIMIT, updater.update(&request))
        .await
        .unwrap()
        .unwrap();
    assert!(text.starts_with("change "), "{text}");
    assert_eq!(
        moto.get(&zone, "www.example.test", "A").await,
        "120 198.51.100.7"
    );
    assert_eq!(moto.get(&zone, "www.example.test", "AAAA").await, "");
    assert_eq!(
        provider.propagation("www.example.test", LIMIT).await,
        Some((1, 1))
    );

    let error = provider
        .records("www.example.org", LIMIT)
        .await
        .unwrap_err();
    assert_eq!(
        (error.kind, error.stage),
        (FailureKind::WrongAnswer, DnsStage::FindingZone)
    );
    assert!(error.text.contains("unknown zone"), "{error}");
}

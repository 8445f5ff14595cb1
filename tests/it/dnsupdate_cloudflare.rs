//! The Cloudflare method against a local server that follows Cloudflare API v4's
//! documented endpoints, envelope, status codes and error codes (support/cloudflare.rs):
//! no Cloudflare service can run here. A failover and failback through the engine for a
//! name and its alias, with the existing record patched in place (its proxied flag,
//! comment and tags kept); HTTP 429 with Retry-After honoured; a bad token; an unknown zone.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::json;
use standby::dnsupdate::{self, DnsStage, FailureKind, Records, UpdateRequest};
use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{
    CloudflareApi, DnsData, DnsServer, HttpPoll, PollFrequency, PollMethod, Secret, Server,
    ServerSet, Settings, UpdateDns, UpdateMethod,
};

use crate::support::cloudflare::{self, Shared};
use crate::support::http::stoppable_http_server;
use crate::support::ports::common_port;
use crate::support::{bounded, wait_until};

const TOKEN: &str = "cf-test-token";
const ZONE: &str = "0123456789abcdef0123456789abcdef";

fn method(url: &str, token: &str) -> UpdateMethod {
    UpdateMethod::Cloudflare(CloudflareApi {
        api_url: url.into(),
        api_token: Secret::new(token),
        ..CloudflareApi::default()
    })
}

/// Until the emulator holds `want` as the A records of `name` (bounded by the caller).
async fn cloudflare_gives(state: &Shared, name: &str, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = state.lock().unwrap().a(name);
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the emulator holds {got:?} for {name}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn request(wanted: Records) -> UpdateRequest {
    UpdateRequest {
        server: "0.0.0.0:53".parse().unwrap(),
        server_label: "Cloudflare".into(),
        host: "www.example.test".into(),
        zone: "example.test".into(),
        ttl: 60,
        current: Records::default(),
        wanted,
        set_name: "web".into(),
        timeout: Duration::from_secs(20),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_failback_patch_the_record_in_place_for_the_name_and_its_alias() {
    bounded(async {
        let (a, b): (IpAddr, IpAddr) =
            ("127.0.0.41".parse().unwrap(), "127.0.0.42".parse().unwrap());
        let port = common_port(&[a, b]);
        let server_a = stoppable_http_server(a, port).await;
        let _server_b = stoppable_http_server(b, port).await;
        let (url, state) = cloudflare::start(TOKEN, &[(ZONE, "example.test")]).await;
        let www = state.lock().unwrap().add(
            ZONE,
            json!({"type": "A", "name": "www.example.test", "content": "192.0.2.10", "ttl": 30,
                   "comment": "front door", "tags": ["team:web"]}),
        );

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
                dns_servers: vec![DnsServer {
                    update: method(&url, TOKEN),
                    ..DnsServer::default()
                }],
            },
            ..ServerSet::default()
        });
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();

        cloudflare_gives(&state, "www.example.test", &["127.0.0.41"]).await;
        cloudflare_gives(&state, "web.example.test", &["127.0.0.41"]).await;
        server_a.abort();
        let _ = server_a.await;
        cloudflare_gives(&state, "www.example.test", &["127.0.0.42"]).await;
        cloudflare_gives(&state, "web.example.test", &["127.0.0.42"]).await;
        let _server_a = stoppable_http_server(a, port).await;
        cloudflare_gives(&state, "www.example.test", &["127.0.0.41"]).await;
        cloudflare_gives(&state, "web.example.test", &["127.0.0.41"]).await;

        // The same record all along: patched, never deleted and re-made.
        let records = state.lock().unwrap().of("www.example.test", "A");
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(records[0]["id"], www.as_str());
        assert_eq!(records[0]["comment"], "front door");
        assert_eq!(records[0]["tags"], json!(["team:web"]));
        // Every change went through the batch endpoint, none through single-record calls.
        let seen = state.lock().unwrap().seen.clone();
        assert!(
            seen.iter()
                .any(|(m, p, ..)| m == "POST" && p.ends_with("/dns_records/batch"))
        );
        assert!(
            seen.iter()
                .all(|(m, p, ..)| m == "GET" || p.ends_with("/dns_records/batch")),
            "{seen:?}"
        );
        let snapshot = wait_until(&engine, "no problem", |s| {
            s.set("web").is_some_and(|set| set.dns.len() == 2) && s.problems.is_empty()
        })
        .await;
        assert_eq!(snapshot.set("web").unwrap().dns[0].dns_server, "Cloudflare");
        engine.shutdown();
    })
    .await;
}

#[tokio::test]
async fn a_429_is_waited_out_and_a_proxied_record_stays_proxied() {
    bounded(async {
        let (url, state) = cloudflare::start(TOKEN, &[(ZONE, "example.test")]).await;
        state.lock().unwrap().add(
            ZONE,
            json!({"type": "A", "name": "www.example.test", "content": "192.0.2.10",
                   "ttl": 1, "proxied": true}),
        );
        let updater = dnsupdate::build(&method(&url, TOKEN)).unwrap();
        let provider = updater.api().unwrap();
        let view = provider
            .records("www.example.test", Duration::from_secs(10))
            .await
            .unwrap();
        assert!(view.automatic_ttl, "a proxied record's TTL is Cloudflare's");

        // The zone lookup meets a 429 with Retry-After: 1 and goes on after it.
        state.lock().unwrap().limit_next = 1;
        let new: IpAddr = "198.51.100.7".parse().unwrap();
        let text = updater
            .update(&request(Records::new(vec![new], Some(60))))
            .await
            .unwrap();
        assert_eq!(text, "batch: 1 patched, 0 added, 0 deleted");
        let s = state.lock().unwrap();
        let at = s
            .seen
            .iter()
            .position(|r| r.3 == 429)
            .expect("a 429 was sent");
        let (limited, retried) = (&s.seen[at], &s.seen[at + 1]);
        assert_eq!(limited.1, retried.1, "the same request asked again");
        assert_eq!(retried.3, 200);
        assert!(
            retried.2.duration_since(limited.2) >= Duration::from_secs(1),
            "asked again before Retry-After"
        );
        let record = &s.of("www.example.test", "A")[0];
        assert_eq!(
            (record["content"].as_str(), record["proxied"].as_bool()),
            (Some("198.51.100.7"), Some(true))
        );
    })
    .await;
}

#[tokio::test]
async fn a_long_retry_after_a_bad_token_and_an_unknown_zone_say_why() {
    bounded(async {
        let (url, state) = cloudflare::start(TOKEN, &[(ZONE, "example.test")]).await;
        let updater = dnsupdate::build(&method(&url, TOKEN)).unwrap();
        let provider = updater.api().unwrap();
        {
            let mut s = state.lock().unwrap();
            s.limit_next = 1;
            s.retry_after = 30;
        }
        let error = provider
            .records("www.example.test", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(
            error
                .text
                .contains("rate-limited (Cloudflare says retry after 30 s)"),
            "{error}"
        );

        let error = provider
            .records("www.example.org", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(
            (error.kind, error.stage),
            (FailureKind::WrongAnswer, DnsStage::FindingZone)
        );
        assert!(error.text.contains("unknown zone"), "{error}");

        let wrong = dnsupdate::build(&method(&url, "not-the-token")).unwrap();
        let error = wrong
            .api()
            .unwrap()
            .records("www.example.test", Duration::from_secs(10))
            .await
            .unwrap_err();
        assert!(error.text.contains("bad token"), "{error}");
        assert!(error.text.contains("10000 Authentication error"), "{error}");
        assert!(!error.text.contains("not-the-token"), "{error}");
    })
    .await;
}

//! The HTTPS certificate expiry warning: from the probe (a warning beside a successful
//! poll) to the engine (a low-severity problem 149 for "<server> certificate" while the
//! server stays OK, cleared once polls stop warning).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair};
use rustls::ServerConfig;
use standby::engine::server_state::ServerStatus;
use standby::engine::{Call, Command, EngineConfig, EngineHandle, SetHealth};
use standby::model::{DnsData, HttpPoll, PollFrequency, PollMethod, Server, ServerSet, Settings};
use standby::probe::http::HttpProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};
use time::OffsetDateTime;

use crate::support::http;
use crate::support::{bounded, wait_until};

const IP: &str = "127.0.0.16";

/// A self-signed certificate for the test host that ends `days` days (and an hour) from
/// now, and the date it ends as the warning writes it.
fn expiring_in(days: i64) -> (Arc<ServerConfig>, String) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec![http::HOST.to_owned()]).unwrap();
    let end = OffsetDateTime::now_utc() + time::Duration::days(days) + time::Duration::hours(1);
    params.not_before = OffsetDateTime::now_utc() - time::Duration::days(1);
    params.not_after = end;
    let cert = params.self_signed(&key).unwrap();
    let date = format!(
        "{:04}-{:02}-{:02}",
        end.year(),
        u8::from(end.month()),
        end.day()
    );
    (http::server_config(vec![cert.der().clone()], &key), date)
}

fn https(port: u16, warning_days: u32) -> HttpPoll {
    HttpPoll {
        url: format!("https://{}:{port}/", http::HOST),
        verify_certificate: false,
        certificate_warning_days: warning_days,
        ..HttpPoll::default()
    }
}

async fn poll(settings: &HttpPoll) -> PollOutcome {
    let ip: IpAddr = IP.parse().unwrap();
    HttpProbe::new(settings)
        .unwrap()
        .poll(&PollTarget {
            address: ip,
            public_address: ip,
            name: "web".into(),
            host: http::HOST.into(),
            set_name: "web".into(),
            timeout: Duration::from_secs(5),
        })
        .await
}

#[tokio::test]
async fn the_probe_warns_within_the_setting() {
    bounded(async {
        let (config, date) = expiring_in(5);
        let (port, _) = http::http_server(IP.parse().unwrap(), Some(config)).await;
        let outcome = poll(&https(port, 14)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        assert_eq!(
            outcome.warning.as_deref(),
            Some(format!("certificate expires in 5 days ({date})").as_str())
        );
        // notAfter is told whether or not it warns (`/metrics` shows the days left).
        let days_left = |o: &PollOutcome| (o.certificate_not_after.unwrap() - unix_now()) / 86_400;
        assert_eq!(days_left(&outcome), 5);
        assert_eq!(poll(&https(port, 3)).await.warning, None);
        let never = poll(&https(port, 0)).await;
        assert_eq!(never.warning, None, "0 = never warn");
        assert_eq!(days_left(&never), 5);

        let (config, _) = expiring_in(400);
        let (far, _) = http::http_server(IP.parse().unwrap(), Some(config)).await;
        let far = poll(&https(far, 14)).await;
        assert_eq!(far.warning, None);
        assert_eq!(days_left(&far), 400);
    })
    .await;
}

fn unix_now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn settings(port: u16, warning_days: u32) -> Settings {
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: vec![Server {
            public_ip: IP.into(),
            name: "one".into(),
            ..Server::default()
        }],
        polling: PollMethod::Http(https(port, warning_days)),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
            ..PollFrequency::default()
        },
        dns: DnsData {
            host_names: vec![http::HOST.into()],
            ..DnsData::default()
        },
        ..ServerSet::default()
    });
    settings
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_shows_a_warning_not_a_failure() {
    let (config, date) = expiring_in(5);
    let (port, _) = http::http_server(IP.parse().unwrap(), Some(config)).await;
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings(port, 14))).unwrap();
    let s = wait_until(&engine, "the certificate warning is shown", |s| {
        s.problems.iter().any(|p| p.code == 149)
    })
    .await;
    let problem = s.problems.iter().find(|p| p.code == 149).unwrap();
    assert_eq!(problem.subject, format!("one ({IP}) certificate"));
    assert_eq!(
        problem.text,
        format!("certificate expires in 5 days ({date})")
    );
    let web = s.set("web").unwrap();
    assert_eq!(web.servers[0].status, ServerStatus::Ok);
    // `/metrics` gives the days left: 5 days and an hour.
    let metrics = standby::api::metrics::render(&s);
    let series = format!("standby_server_certificate_days_left{{set=\"web\",server=\"{IP}\"}} ");
    let days: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
        .parse()
        .unwrap();
    assert!((5.0..5.05).contains(&days), "{days}");
    assert_ne!(
        web.health,
        SetHealth::Problem,
        "a warning is not a fault of the set"
    );
    assert_eq!(s.problems.len(), 1, "{:?}", s.problems);

    // Warn only 3 days ahead: the next poll does not warn, and the problem goes.
    let (call, answer) = Call::apply_settings(settings(port, 3));
    engine.try_send(call).unwrap();
    let _ = answer.wait().await;
    wait_until(&engine, "the certificate warning is gone", |s| {
        s.problems.is_empty()
    })
    .await;
    engine.try_send(Command::PauseAll).unwrap();
    engine.shutdown();
}

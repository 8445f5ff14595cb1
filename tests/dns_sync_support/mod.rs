//! What the DNS sync tests share: an engine with one set whose servers are polled over HTTP
//! at 127.0.0.1 (so they are OK) while their public addresses are documentation addresses,
//! and waiting on the snapshot with a time-out (never a sleep).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::{
    AddressSelection, DnsData, DnsServer, HttpPoll, PollFrequency, PollMethod, Server, ServerSet,
    Settings, UpdateDns,
};

use crate::support;

/// A set `web` whose servers `public_ips` all work (polled at 127.0.0.1), giving all of
/// them to `hosts`, kept right on `dns_servers`.
pub async fn settings(
    public_ips: &[&str],
    hosts: &[&str],
    dns_servers: Vec<DnsServer>,
) -> Settings {
    let (port, _log) = support::http_server("127.0.0.1".parse().unwrap(), None).await;
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: public_ips
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                poll_ip: Some("127.0.0.1".into()),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Http(HttpPoll {
            url: support::url(port, "/"),
            ..HttpPoll::default()
        }),
        frequency: PollFrequency {
            interval_secs: 60,
            timeout_secs: 5,
            ..PollFrequency::default()
        },
        dns: DnsData {
            host_names: hosts.iter().map(|h| h.to_string()).collect(),
            ttl: 60,
            addresses_of: AddressSelection::AllFunctional,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            dns_servers,
        },
        ..ServerSet::default()
    });
    settings
}

pub fn start(settings: Settings) -> EngineHandle {
    EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap()
}

/// Waits (at most 30 s) for a snapshot that passes `test`.
pub async fn wait_until(
    engine: &EngineHandle,
    what: &str,
    test: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let mut watch = engine.watch();
    let waited = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let snapshot = watch.borrow_and_update().clone();
            if test(&snapshot) {
                return snapshot;
            }
            watch.changed().await.unwrap();
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        panic!(
            "timed out waiting until {what}: {:#?}",
            engine.snapshot().set("web").map(|s| s.dns.clone())
        )
    })
}

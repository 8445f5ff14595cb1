//! What the DNS sync tests share: an engine with one set whose servers are polled over HTTP
//! at 127.0.0.1 (so they are OK) while their public addresses are documentation addresses
//! (waits: [`super::wait_until`]).
#![allow(dead_code)] // each area uses a part

use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{
    AddressSelection, DnsData, DnsServer, HttpPoll, PollFrequency, PollMethod, Server, ServerSet,
    Settings, UpdateDns,
};

use super::http;

/// A set `web` whose servers `public_ips` all work (polled at 127.0.0.1), giving all of
/// them to `hosts`, kept right on `dns_servers`.
pub async fn settings(
    public_ips: &[&str],
    hosts: &[&str],
    dns_servers: Vec<DnsServer>,
) -> Settings {
    let (port, _log) = http::http_server("127.0.0.1".parse().unwrap(), None).await;
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
            url: http::url(port, "/"),
            ..HttpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(60),
            timeout: std::time::Duration::from_secs(5),
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
    // Name servers the DNS server does not know are resolved by the tests' own server,
    // never by the system's resolver (nothing leaves the machine).
    if let Some(first) = settings.server_sets[0].update_dns.dns_servers.first() {
        settings.options.dns_updating.propagation_resolver =
            format!("{}:{}", first.address, first.port);
    }
    settings
}

pub fn start(settings: Settings) -> EngineHandle {
    EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap()
}

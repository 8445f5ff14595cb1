//! The set *Open an example* adds on a first start: it polls only this machine, so it
//! works on any machine, offline too, and shows statuses, the log and a DNS decision
//! within seconds. DNS updating is off: its host name is never sent anywhere.

use std::time::Duration;

use super::polling::PollMethod;
use super::server_set::{DnsData, PollFrequency, Server, ServerSet};

/// The example set's name.
pub const EXAMPLE_SET: &str = "Example: this machine";

/// The example set, named [`EXAMPLE_SET`] or, if a set has that name, `… 2`, `… 3`.
pub fn first_run_example(taken: impl Fn(&str) -> bool) -> ServerSet {
    let mut name = EXAMPLE_SET.to_string();
    let mut n = 1;
    while taken(&name) {
        n += 1;
        name = format!("{EXAMPLE_SET} {n}");
    }
    let server = |ip: &str, label: &str| Server {
        public_ip: ip.into(),
        name: label.into(),
        ..Server::default()
    };
    ServerSet {
        name,
        // The loopback addresses every machine has (ICMP echo: the method that needs
        // no service to be installed).
        servers: vec![
            server("127.0.0.1", "this machine (IPv4)"),
            server("::1", "this machine (IPv6)"),
        ],
        polling: PollMethod::Ping,
        frequency: PollFrequency {
            interval: Duration::from_secs(5),
            failed_interval: Duration::from_secs(5),
            retry_interval: Duration::from_secs(2),
            ..PollFrequency::default()
        },
        dns: DnsData {
            // `.test` is reserved (RFC 2606): the name can reach no real zone.
            host_names: vec!["www.standby-example.test".into()],
            ..DnsData::default()
        },
        notes: "An example made by Open an example: it pings this machine's own loopback \
                addresses, so DNS should give 127.0.0.1 while it answers. DNS updating is \
                off. Delete it when you have made your own set."
            .into(),
        ..ServerSet::default()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_example_is_valid_polls_only_this_machine_and_updates_no_dns() {
        let set = first_run_example(|_| false);
        assert_eq!(set.name, EXAMPLE_SET);
        let settings = crate::model::Settings {
            server_sets: vec![set.clone()],
            ..Default::default()
        };
        assert_eq!(crate::model::validate(&settings), Vec::new());
        for server in &set.servers {
            let ip: std::net::IpAddr = server.public_ip.parse().unwrap();
            assert!(ip.is_loopback(), "{ip}");
        }
        assert!(!set.update_dns.enabled);
    }

    #[test]
    fn the_example_takes_a_free_name() {
        let set = first_run_example(|name| name == EXAMPLE_SET);
        assert_eq!(set.name, format!("{EXAMPLE_SET} 2"));
    }
}

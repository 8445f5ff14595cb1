//! The connectivity guard (issue 16 item 6): reference targets, polled like servers, that
//! tell whether this monitor's own network works. When most of them fail too, a failing
//! server says nothing about the server: the engine then moves no DNS and sends no
//! server-failed notification until they answer again.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::polling::{PollMethod, TcpPoll};
use super::server_set::{PollFrequency, Server, ServerSet};

/// The name of the set the engine polls the references as (shown in the window and the
/// API like a set; no user set may be called so while the guard is on).
pub const GUARD_SET: &str = "connectivity guard";

/// Reference targets; none (the default) = no guard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectivityGuard {
    /// The addresses polled (e.g. the gateway, resolvers, another site); empty = off.
    pub references: Vec<String>,
    /// How they are polled (any polling method; a TCP connect to port 53 by default).
    pub method: PollMethod,
    /// Time between polls of each reference (`1s`, `250ms`). Keep it no longer than the
    /// servers' interval, so that the guard knows before a server has failed its retries.
    #[serde(with = "super::duration::text")]
    pub interval: Duration,
    /// How long a poll of a reference may take.
    #[serde(with = "super::duration::text")]
    pub timeout: Duration,
    /// How many references must fail for this monitor to count as cut off; 0 = more
    /// than half of them (the default). It counts as connected again once more than
    /// the others answer (so that this many can no longer be failing).
    pub failed_at_least: u32,
}

impl Default for ConnectivityGuard {
    fn default() -> Self {
        Self {
            references: Vec::new(),
            method: PollMethod::Tcp(TcpPoll {
                port: Some(53),
                ..TcpPoll::default()
            }),
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            failed_at_least: 0,
        }
    }
}

impl ConnectivityGuard {
    /// The set the engine polls the references as, if there are any: no DNS, no
    /// notifications, failed at the first failed poll and recovered at the first good one
    /// (so that a reference's state is its last poll).
    pub fn as_set(&self) -> Option<ServerSet> {
        if self.references.iter().all(|r| r.trim().is_empty()) {
            return None;
        }
        let mut set = ServerSet {
            name: GUARD_SET.into(),
            servers: self
                .references
                .iter()
                .filter(|r| !r.trim().is_empty())
                .map(|r| Server {
                    public_ip: r.trim().to_string(),
                    ..Server::default()
                })
                .collect(),
            polling: self.method.clone(),
            frequency: PollFrequency {
                interval: self.interval,
                failed_interval: self.interval,
                retries: 0,
                retry_interval: self.interval,
                timeout: self.timeout,
                recover_after: 1,
                sequential: false,
            },
            ..ServerSet::default()
        };
        set.update_dns.enabled = false;
        set.update_dns.use_default_servers = false;
        set.notification.use_defaults = false;
        set.dns.host_names.clear();
        Some(set)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn no_references_no_guard_set() {
        assert_eq!(ConnectivityGuard::default().as_set(), None);
        let guard = ConnectivityGuard {
            references: vec!["127.0.0.1".into(), " ".into(), "::1".into()],
            ..ConnectivityGuard::default()
        };
        let set = guard.as_set().unwrap();
        assert_eq!(set.name, GUARD_SET);
        let ips: Vec<&str> = set.servers.iter().map(|s| s.public_ip.as_str()).collect();
        assert_eq!(ips, ["127.0.0.1", "::1"]);
        assert!(!set.update_dns.enabled && !set.notification.use_defaults);
        assert!(set.dns.host_names.is_empty());
        assert_eq!((set.frequency.retries, set.frequency.recover_after), (0, 1));
    }
}

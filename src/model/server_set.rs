//! A server set: one service hosted on several servers, in priority order (SPEC §1–4).

use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::admin::{Forced, Maintenance};
use super::dns_server::DnsServer;
use super::notification::NotificationMethod;
use super::polling::PollMethod;

/// One service (a web site, a mail relay) hosted on several servers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSet {
    /// Unique name; the API and the engine know the set by it.
    pub name: String,
    /// Servers in priority order: the first is preferred.
    pub servers: Vec<Server>,
    /// How every server of the set is polled.
    pub polling: PollMethod,
    /// Intervals, retries, time-outs.
    pub frequency: PollFrequency,
    /// Who is told about this set's events.
    pub notification: SetNotification,
    /// The host names and what they should resolve to.
    pub dns: DnsData,
    /// Which DNS servers are kept right.
    pub update_dns: UpdateDns,
    /// Paused by an operator (or by a server marked *pause the set if this server fails*).
    pub paused: bool,
    /// Maintenance windows of every server of the set: while one lasts a server is *in
    /// maintenance* (treated as disabled, no failed/recovered notifications).
    pub maintenance: Vec<Maintenance>,
    pub notes: String,
}

impl Default for ServerSet {
    fn default() -> Self {
        Self {
            name: "New server set".into(),
            servers: Vec::new(),
            polling: PollMethod::default(),
            frequency: PollFrequency::default(),
            notification: SetNotification::default(),
            dns: DnsData::default(),
            update_dns: UpdateDns::default(),
            paused: false,
            maintenance: Vec::new(),
            notes: String::new(),
        }
    }
}

/// One IP address of the service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    /// The address DNS gets (IPv4 → A record, IPv6 → AAAA record).
    pub public_ip: String,
    /// A different address to poll (e.g. behind NAT); `None` = poll the public address.
    pub poll_ip: Option<String>,
    /// A display name; blank = the address.
    pub name: String,
    /// Weight for weighted round robin; 0 drains the server: it is polled and shown but
    /// published only while no other server is functional.
    pub weight: u32,
    /// When this server fails: notify, update DNS, then pause the set (no automatic failback).
    pub pause_set_on_failure: bool,
    /// Intentionally off line: treated as not in the set.
    pub disabled: bool,
    /// Forced up or down by an operator (the window, the API, `standby override`),
    /// optionally until a time; `None` = the polls decide.
    pub forced: Option<Forced>,
    /// Maintenance windows of this server (see [`ServerSet::maintenance`]).
    pub maintenance: Vec<Maintenance>,
    pub notes: String,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            public_ip: String::new(),
            poll_ip: None,
            name: String::new(),
            weight: 1,
            pause_set_on_failure: false,
            disabled: false,
            forced: None,
            maintenance: Vec::new(),
            notes: String::new(),
        }
    }
}

impl Server {
    /// The address to poll.
    pub fn poll_address(&self) -> &str {
        self.poll_ip
            .as_deref()
            .filter(|ip| !ip.is_empty())
            .unwrap_or(&self.public_ip)
    }

    /// The name to show: the display name, or else the public address.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.public_ip
        } else {
            &self.name
        }
    }
}

/// How often and how patiently the servers are polled. Durations are written `250ms`,
/// `10s`, `5m` (millisecond precision); the old `*_secs` fields (whole seconds) still load.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PollFrequency {
    /// Time between polls while every server is OK.
    #[serde(with = "super::duration::text", alias = "interval_secs")]
    pub interval: Duration,
    /// Time between polls once any server of the set has failed.
    #[serde(with = "super::duration::text", alias = "failed_interval_secs")]
    pub failed_interval: Duration,
    /// Failed polls retried this many times before the server counts as failed.
    pub retries: u32,
    /// Time between those retries.
    #[serde(with = "super::duration::text", alias = "retry_interval_secs")]
    pub retry_interval: Duration,
    /// How long a poll may take.
    #[serde(with = "super::duration::text", alias = "timeout_secs")]
    pub timeout: Duration,
    /// Successful polls in a row before a failed server counts as recovered.
    pub recover_after: u32,
    /// Poll in priority order and stop at the first server that succeeds.
    pub sequential: bool,
}

impl Default for PollFrequency {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(60),
            failed_interval: Duration::from_secs(30),
            retries: 2,
            retry_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(10),
            recover_after: 1,
            sequential: false,
        }
    }
}

/// Which servers' addresses DNS should give.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddressSelection {
    /// The first functional server in priority order.
    #[default]
    FirstFunctional,
    /// Every functional server.
    AllFunctional,
    /// Every functional server, one per answer by weight where Standby serves DNS itself.
    WeightedRoundRobin,
}

/// What DNS should give when every server has failed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AllFailedPolicy {
    /// Assume the fault is local (the monitor may be cut off) and publish as if the first
    /// server (or, when giving all, every server) worked.
    #[default]
    AssumeLocalFault,
    /// Publish these addresses instead (a "sorry" server).
    Fallback(Vec<String>),
    /// Leave DNS as it is.
    LeaveAsIs,
}

/// The host names of the set and what they should resolve to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsData {
    /// The first is the main name; the others are aliases with the same records. A name may
    /// be a wildcard such as `*.example.com`.
    pub host_names: Vec<String>,
    /// TTL of the records, in seconds.
    pub ttl: u32,
    pub addresses_of: AddressSelection,
    pub if_all_fail: AllFailedPolicy,
    /// A lower TTL while the set is unsettled, so that clients come back soon after a
    /// failback (off by default).
    pub low_ttl: LowTtl,
}

/// The TTL that follows the set's state (issue 16 item 7): `ttl` instead of the normal
/// one while a server has failed and/or for `after_change` after what DNS gives changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LowTtl {
    /// The lower TTL in seconds; 0 = off (the normal TTL always).
    pub ttl: u32,
    /// Give the lower TTL while any server of the set has failed.
    pub while_failed: bool,
    /// Give the lower TTL for this long after the addresses DNS gives changed (`5m`;
    /// `0s` = not after a change).
    #[serde(with = "super::duration::text")]
    pub after_change: Duration,
}

impl Default for LowTtl {
    fn default() -> Self {
        Self {
            ttl: 0,
            while_failed: true,
            after_change: Duration::from_secs(300),
        }
    }
}

impl Default for DnsData {
    fn default() -> Self {
        Self {
            host_names: Vec::new(),
            ttl: 60,
            addresses_of: AddressSelection::FirstFunctional,
            if_all_fail: AllFailedPolicy::AssumeLocalFault,
            low_ttl: LowTtl::default(),
        }
    }
}

impl DnsData {
    /// The main host name, if any.
    pub fn main_host(&self) -> &str {
        self.host_names.first().map(String::as_str).unwrap_or("")
    }
}

/// Which DNS servers a set keeps right.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UpdateDns {
    /// Off = monitoring only.
    pub enabled: bool,
    /// Update the default DNS servers of the Options.
    pub use_default_servers: bool,
    /// This set's own DNS servers.
    pub dns_servers: Vec<DnsServer>,
}

impl Default for UpdateDns {
    fn default() -> Self {
        Self {
            enabled: false,
            use_default_servers: true,
            dns_servers: Vec::new(),
        }
    }
}

/// Who is told about a set's events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SetNotification {
    /// Use the default notification methods of the Options.
    pub use_defaults: bool,
    /// This set's own methods (used as well as the defaults when both are on).
    pub methods: Vec<NotificationMethod>,
}

impl Default for SetNotification {
    fn default() -> Self {
        Self {
            use_defaults: true,
            methods: Vec::new(),
        }
    }
}

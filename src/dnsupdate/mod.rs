//! Updating DNS servers (SPEC §4): the lookups every method shares (current records, the
//! zone, its name servers) and one small trait for the update itself, one file per method.
//!
//! The engine's `dns_sync` runs the pipeline per DNS server × host name: ask the current
//! A/AAAA → matched? stop : find the zone → update → verify.

mod api;
mod aws_credentials;
pub mod cloudflare;
pub mod command;
pub mod dnscmd;
pub mod http;
pub mod lookup;
pub mod powerdns;
pub mod propagation;
pub mod rfc2136;
pub mod route53;
pub mod sigv4;
mod transport;
pub mod tsig;
mod xml;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::model::UpdateMethod;
use crate::model::tags::{TagValues, json_array};

/// A boxed future, so that the trait stays object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The A and AAAA records of one name, as served or as wanted. Equal when the records
/// are: `first` (an order DNS does not keep) is not compared.
#[derive(Clone, Debug, Default, Eq)]
pub struct Records {
    /// Sorted, without duplicates.
    pub addresses: Vec<IpAddr>,
    /// The TTL (the smallest of the records); `None` when there are no records.
    pub ttl: Option<u32>,
    /// The first address as given: for wanted records the highest-priority one (`$IP$`,
    /// for providers that take a single address).
    pub first: Option<IpAddr>,
}

impl PartialEq for Records {
    fn eq(&self, other: &Self) -> bool {
        self.addresses == other.addresses && self.ttl == other.ttl
    }
}

impl Records {
    /// `addresses` in priority order (the decision's), kept sorted for comparing.
    pub fn new(mut addresses: Vec<IpAddr>, ttl: Option<u32>) -> Self {
        let first = addresses.first().copied();
        addresses.sort();
        addresses.dedup();
        let ttl = if addresses.is_empty() { None } else { ttl };
        Self {
            addresses,
            ttl,
            first,
        }
    }

    /// Whether these (served) records already are the wanted ones.
    pub fn matches(&self, wanted: &Records, ignore_ttl: bool) -> bool {
        self.addresses == wanted.addresses && (ignore_ttl || self.ttl == wanted.ttl)
    }

    /// `192.0.2.1, 2001:db8::1` (or `none`).
    pub fn describe(&self) -> String {
        if self.addresses.is_empty() {
            return "none".into();
        }
        let list: Vec<String> = self.addresses.iter().map(IpAddr::to_string).collect();
        list.join(", ")
    }
}

/// One update to make.
#[derive(Clone, Debug)]
pub struct UpdateRequest {
    /// The DNS server's address (resolved) and port.
    pub server: SocketAddr,
    /// The DNS server as configured (for `$DNSSERVER$` and messages).
    pub server_label: String,
    /// The host name to update (absolute or not; a wildcard such as `*.example.com` is fine).
    pub host: String,
    /// The zone that holds it (found by SOA lookup).
    pub zone: String,
    /// The records wanted.
    pub wanted: Records,
    /// The TTL to give the records.
    pub ttl: u32,
    /// The records served before the update (for `$OLDIPS$`-style tags and logs).
    pub current: Records,
    pub set_name: String,
    /// The whole update must end by then.
    pub timeout: Duration,
}

impl UpdateRequest {
    /// The tags of SPEC §4 for this update.
    pub fn tags(&self) -> TagValues {
        let strings = |filter: fn(&IpAddr) -> bool| {
            self.wanted
                .addresses
                .iter()
                .filter(|a| filter(a))
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
        };
        let list = |filter| strings(filter).join(",");
        let json = |filter| json_array(strings(filter).iter().map(String::as_str));
        let host = self.host.trim_end_matches('.').to_string();
        TagValues::new()
            .with("HOST", host.clone())
            .with("DOM", host)
            .with("ZONE", self.zone.trim_end_matches('.').to_string())
            .with(
                "IP",
                self.wanted.first.map(|a| a.to_string()).unwrap_or_default(),
            )
            .with("IPS", list(|_| true))
            .with("IPV4", list(IpAddr::is_ipv4))
            .with("IPV6", list(IpAddr::is_ipv6))
            .with("IPS_JSON", json(|_| true))
            .with("IPV4_JSON", json(IpAddr::is_ipv4))
            .with("IPV6_JSON", json(IpAddr::is_ipv6))
            .with("TTL", self.ttl.to_string())
            .with("DNSSERVER", self.server_label.clone())
            .with("SETNAME", self.set_name.clone())
    }
}

/// Where a DNS check or update was when it failed: the last digit of a 2xx problem code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DnsStage {
    /// 1: asking the DNS server for the current records.
    Asking = 1,
    /// 2: finding the zone (SOA lookup).
    FindingZone = 2,
    /// 3: sending the update.
    Updating = 3,
    /// 4: verifying that the server now gives the wanted records.
    Verifying = 4,
}

/// The middle digit of a problem code (as for polling).
pub use crate::model::failure::FailureKind;
use crate::model::failure::{Area, ProblemCode};

/// Why a DNS check or update failed: its code is `2`, kind, stage.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct DnsError {
    pub kind: FailureKind,
    pub stage: DnsStage,
    /// Exactly why: `timeout after 5 s`, `REFUSED`, `NOTAUTH`, `TSIG authentication failed
    /// (BADSIG)`, `HTTP 403 Forbidden`, `exit code 2`...
    pub text: String,
}

impl DnsError {
    pub fn new(kind: FailureKind, stage: DnsStage, text: impl Into<String>) -> Self {
        Self {
            kind,
            stage,
            text: text.into(),
        }
    }

    /// The three-digit problem code: 2 (DNS), kind, stage.
    pub fn problem_code(&self) -> ProblemCode {
        ProblemCode::new(Area::Dns, self.kind, self.stage as u8)
    }

    /// [`DnsError::problem_code`] as a number.
    pub fn code(&self) -> u16 {
        self.problem_code().get()
    }
}

/// An update method, ready to update.
pub trait DnsUpdater: Send + Sync {
    /// Makes the DNS server give `request.wanted` for `request.host`. `Ok` carries a short
    /// text for the log (`NOERROR`, `HTTP 200 OK`, `exit code 0`). Errors use
    /// [`DnsStage::Updating`].
    fn update<'a>(&'a self, request: &'a UpdateRequest) -> BoxFuture<'a, Result<String, DnsError>>;

    /// A provider with an API of its own (PowerDNS, Cloudflare, Route 53): the check and the
    /// verification read the records from it instead of asking a DNS server.
    fn api(&self) -> Option<&dyn ProviderApi> {
        None
    }
}

/// What a provider's API says about one name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderView {
    /// The zone that holds the name, as the provider names it (no final dot).
    pub zone: String,
    /// The A and AAAA records the provider holds for the name.
    pub records: Records,
    /// The provider sets the TTL itself (Cloudflare's proxied records): the TTL is not
    /// compared.
    pub automatic_ttl: bool,
}

/// The provider's own view of the records (the check-then-update of an API method).
pub trait ProviderApi: Send + Sync {
    /// The zone of `host` and its records, as the provider sees them. Errors use
    /// [`DnsStage::Asking`], or [`DnsStage::FindingZone`] when no zone holds the name.
    fn records<'a>(
        &'a self,
        host: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ProviderView, DnsError>>;

    /// After an update of `host`: the provider's own propagation as (done, of), e.g. Route
    /// 53's change `INSYNC`. `None` = the provider says nothing (the zone's name servers are
    /// asked instead, when the DNS server has an address).
    fn propagation<'a>(
        &'a self,
        _host: &'a str,
        _timeout: Duration,
    ) -> BoxFuture<'a, Option<(usize, usize)>> {
        Box::pin(async { None })
    }
}

/// Why an updater could not be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Unsupported(String),
}

/// Builds the updater of a DNS server: the one `match` over the methods.
pub fn build(method: &UpdateMethod) -> Result<Arc<dyn DnsUpdater>, BuildError> {
    Ok(match method {
        UpdateMethod::Rfc2136(r) => Arc::new(rfc2136::Rfc2136Updater::new(r)?),
        UpdateMethod::Http(h) => Arc::new(http::HttpUpdater::new(h)?),
        UpdateMethod::Command(c) => Arc::new(command::CommandUpdater::new(c)?),
        UpdateMethod::Dnscmd(d) => dnscmd::build(d)?,
        UpdateMethod::PowerDns(p) => Arc::new(powerdns::PowerDnsUpdater::new(p)?),
        UpdateMethod::Route53(r) => Arc::new(route53::Route53Updater::new(r)?),
        UpdateMethod::Cloudflare(c) => Arc::new(cloudflare::CloudflareUpdater::new(c)?),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_compare_and_codes() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "2001:db8::1".parse().unwrap();
        let served = Records::new(vec![b, a, a], Some(300));
        let wanted = Records::new(vec![a, b], Some(60));
        assert_eq!(served.addresses, vec![a, b]);
        assert!(!served.matches(&wanted, false));
        assert!(served.matches(&wanted, true));
        assert_eq!(Records::new(vec![], Some(5)).ttl, None);
        let e = DnsError::new(FailureKind::Timeout, DnsStage::Updating, "timeout");
        assert_eq!(e.code(), 223);
    }

    #[test]
    fn ip_is_the_highest_priority_address_not_the_smallest() {
        let high: IpAddr = "198.51.100.20".parse().unwrap();
        let low: IpAddr = "192.0.2.10".parse().unwrap();
        let request = UpdateRequest {
            server: "127.0.0.1:53".parse().unwrap(),
            server_label: "127.0.0.1".into(),
            host: "www.example.test".into(),
            zone: "example.test".into(),
            wanted: Records::new(vec![high, low], Some(60)),
            ttl: 60,
            current: Records::default(),
            set_name: "web".into(),
            timeout: Duration::from_secs(5),
        };
        let tags = request.tags();
        assert_eq!(tags.get("IP"), Some("198.51.100.20"));
        assert_eq!(tags.get("IPS"), Some("192.0.2.10,198.51.100.20"));
        assert_eq!(
            tags.get("IPS_JSON"),
            Some(r#"["192.0.2.10","198.51.100.20"]"#)
        );
        assert_eq!(tags.get("IPV6_JSON"), Some("[]"));
    }
}

//! Propagation (SPEC §4, our addition): how many of the zone's name servers already give
//! the wanted records, e.g. "2 of 3, 1 unknown".
//!
//! Every NS record counts. A name server's addresses come from the updated DNS server
//! (glue, or its authoritative answer), else from the resolver of the settings (the
//! system's by default): a name outside the server's zones is resolved, never dropped.
//! Each name server is asked on port 53, except the DNS server itself, which is asked on
//! its configured port. A name server that cannot be resolved or does not answer is
//! *unknown*: neither serving nor stale, and said so.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::task::JoinSet;

use super::Records;
use super::lookup::{self, NameServer};

/// The port name servers listen on in the wild.
const DNS_PORT: u16 = 53;

/// Where name servers' names are resolved when the updated DNS server does not know them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resolver {
    /// The system's resolver (`getaddrinfo`: hosts file, resolv.conf...).
    #[default]
    System,
    /// A resolver at this address, asked with RD set.
    At(SocketAddr),
}

impl Resolver {
    /// From the parsed setting (`None` = the system's).
    pub fn new(at: Option<SocketAddr>) -> Self {
        at.map_or(Resolver::System, Resolver::At)
    }

    /// The addresses of `name`; empty when it has none, `None` when it could not be
    /// resolved (the caller counts that name server as unknown, so why is not kept).
    async fn addresses(&self, name: &str, timeout: Duration) -> Option<Vec<IpAddr>> {
        match self {
            Resolver::At(at) => lookup::resolve_at(*at, name, timeout).await.ok(),
            Resolver::System => {
                let found = tokio::time::timeout(timeout, tokio::net::lookup_host((name, 0)))
                    .await
                    .ok()?
                    .ok()?;
                let mut addresses: Vec<IpAddr> = found.map(|a| a.ip()).collect();
                addresses.sort();
                addresses.dedup();
                Some(addresses)
            }
        }
    }
}

/// Name servers that give the wanted records, of all the zone's name servers, and how
/// many of those could not be asked (not resolved, no answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Propagation {
    pub serving: usize,
    pub total: usize,
    pub unknown: usize,
}

impl Propagation {
    /// `serving` of `total`, none unknown (a provider's own count, e.g. Route 53's INSYNC).
    pub fn known(serving: usize, total: usize) -> Self {
        Self {
            serving,
            total,
            unknown: 0,
        }
    }
}

impl fmt::Display for Propagation {
    /// `2 of 3`, or `2 of 3, 1 unknown`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of {}", self.serving, self.total)?;
        if self.unknown > 0 {
            write!(f, ", {} unknown", self.unknown)?;
        }
        Ok(())
    }
}

/// What is asked of every name server.
#[derive(Clone, Debug)]
pub struct Wanted {
    pub host: String,
    pub records: Records,
    pub edns0: bool,
    pub ignore_ttl: bool,
}

/// What one name server said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Said {
    Serving,
    Stale,
    Unknown,
}

/// Counts the name servers of `zone` (as `server` lists them) that give `wanted`. Each
/// step (listing, resolving, asking) is bounded by `timeout`; the name servers are asked
/// at once. `None` when the name servers cannot be listed.
pub async fn count(
    server: SocketAddr,
    zone: &str,
    wanted: &Wanted,
    resolver: &Resolver,
    timeout: Duration,
) -> Option<Propagation> {
    let mut servers = lookup::name_servers(server, zone, timeout).await.ok()?;
    resolve_missing(&mut servers, resolver, timeout).await;
    let mut asks = JoinSet::new();
    for (index, ns) in servers.iter().enumerate() {
        for ip in &ns.addresses {
            let at = SocketAddr::new(*ip, port_of(*ip, server));
            let wanted = wanted.clone();
            asks.spawn(async move {
                let served = lookup::current_records(at, &wanted.host, wanted.edns0, timeout).await;
                let said = match served {
                    Ok(r) if r.matches(&wanted.records, wanted.ignore_ttl) => Said::Serving,
                    Ok(_) => Said::Stale,
                    Err(_) => Said::Unknown,
                };
                (index, said)
            });
        }
    }
    let mut said = vec![Vec::new(); servers.len()];
    while let Some(done) = asks.join_next().await {
        // A task that panicked says nothing: its name server stays unknown.
        if let Ok((index, one)) = done {
            said[index].push(one);
        }
    }
    Some(tally(&said))
}

/// Name servers without an address get theirs from the resolver, all at once.
async fn resolve_missing(servers: &mut [NameServer], resolver: &Resolver, timeout: Duration) {
    let mut lookups = JoinSet::new();
    for (index, ns) in servers.iter().enumerate() {
        if ns.addresses.is_empty() {
            let (name, resolver) = (ns.name.clone(), resolver.clone());
            lookups.spawn(async move { (index, resolver.addresses(&name, timeout).await) });
        }
    }
    while let Some(done) = lookups.join_next().await {
        // Not resolved (an error, or a panicked task): no address, so the NS is unknown.
        if let Ok((index, Some(addresses))) = done {
            servers[index].addresses = addresses;
        }
    }
}

/// The DNS server itself is asked on its configured port, every other name server on 53.
fn port_of(ip: IpAddr, server: SocketAddr) -> u16 {
    if ip == server.ip() {
        server.port()
    } else {
        DNS_PORT
    }
}

/// One name server counts as serving when an address of it gives the wanted records and
/// none gives others; stale when any gives others; unknown when none answered (or it had
/// no address at all).
fn tally(said: &[Vec<Said>]) -> Propagation {
    let mut count = Propagation::known(0, said.len());
    for answers in said {
        if answers.contains(&Said::Stale) {
            continue;
        }
        if answers.contains(&Said::Serving) {
            count.serving += 1;
        } else {
            count.unknown += 1;
        }
    }
    count
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_name_server_counts_and_the_unknown_are_said() {
        use Said::*;
        let said = vec![
            vec![Serving],
            vec![Serving, Unknown], // an IPv6 address not reachable from here
            vec![],                 // not resolved
            vec![Unknown],          // no answer
            vec![Serving, Stale],   // one address lags behind
        ];
        let count = tally(&said);
        assert_eq!(
            count,
            Propagation {
                serving: 2,
                total: 5,
                unknown: 2
            }
        );
        assert_eq!(count.to_string(), "2 of 5, 2 unknown");
        assert_eq!(Propagation::known(1, 1).to_string(), "1 of 1");
    }

    #[test]
    fn only_the_server_itself_keeps_its_port() {
        let server: SocketAddr = "127.0.0.1:5353".parse().unwrap();
        assert_eq!(port_of("127.0.0.1".parse().unwrap(), server), 5353);
        assert_eq!(port_of("127.0.0.2".parse().unwrap(), server), 53);
    }

    #[test]
    fn the_setting_chooses_the_resolver() {
        assert_eq!(Resolver::new(None), Resolver::System);
        let at: SocketAddr = "127.0.0.53:53".parse().unwrap();
        assert_eq!(Resolver::new(Some(at)), Resolver::At(at));
        use crate::model::options::resolver_address;
        assert_eq!(resolver_address(" ").unwrap(), None);
        assert_eq!(resolver_address("127.0.0.53").unwrap(), Some(at));
        assert_eq!(
            resolver_address("127.0.0.53:5353").unwrap(),
            Some("127.0.0.53:5353".parse().unwrap())
        );
        assert_eq!(
            resolver_address("[::1]:5353").unwrap(),
            Some("[::1]:5353".parse().unwrap())
        );
        assert_eq!(
            resolver_address("::1").unwrap(),
            Some("[::1]:53".parse().unwrap())
        );
        for bad in ["resolver.example", "127.0.0.53:0", "127.0.0.53:99999"] {
            let error = resolver_address(bad).unwrap_err();
            assert!(error.to_string().contains(bad), "{error}");
        }
    }
}

//! One run of the DNS pipeline for one pair (SPEC §4): resolve the DNS server, ask for the
//! current records → matched, or find the zone → update → verify; then count the zone's
//! name servers that give the records. No engine state: a [`Job`] in, an [`Outcome`] out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

mod api;

use super::dns_sync::Outcome;
use crate::cluster::Fence;
use crate::dnsupdate::propagation::{self, Propagation, Resolver, Wanted};
use crate::dnsupdate::{
    BuildError, DnsError, DnsStage, DnsUpdater, FailureKind, Records, UpdateRequest, lookup,
};
use crate::model::DnsServer;

/// Time-out of each lookup.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Time-out of the update itself (a method's own, shorter time-out wins).
pub const UPDATE_TIMEOUT: Duration = Duration::from_secs(30);
/// Some servers apply an update a moment after acknowledging it (Knot paces updates), so
/// verification asks again after these pauses before calling the update failed.
const VERIFY_PAUSES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(200),
    Duration::from_secs(1),
];

/// Everything one run needs but the updater: plain data, made by the pure core.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    pub set_name: String,
    pub server: DnsServer,
    pub server_label: String,
    pub host: String,
    pub wanted: Records,
    pub ttl: u32,
}

/// The most a whole run may take: lookups, the update, verification and propagation
/// (three steps: listing, resolving and asking the name servers).
pub fn run_limit() -> Duration {
    LOOKUP_TIMEOUT * 9 + UPDATE_TIMEOUT
}

/// Runs the pipeline once. `updater` is the method, or why it could not be built
/// (reported only if an update is needed); `resolver` resolves name servers for
/// propagation.
/// `fence`: in cluster mode, what each write must pass first (`cluster/election.rs`).
pub async fn run(
    job: &Job,
    updater: &Result<Arc<dyn DnsUpdater>, Arc<BuildError>>,
    resolver: &Resolver,
    fence: Option<&Fence>,
) -> Outcome {
    if let Ok(updater) = updater
        && let Some(provider) = updater.api()
    {
        return api::run(job, updater.as_ref(), provider, resolver, fence).await;
    }
    let server = match resolve(&job.server).await {
        Ok(server) => server,
        Err(error) => {
            return Outcome::Failed {
                error,
                served: None,
            };
        }
    };
    let edns0 = job.server.edns0;
    let served = match lookup::current_records(server, &job.host, edns0, LOOKUP_TIMEOUT).await {
        Ok(served) => served,
        Err(error) => {
            return Outcome::Failed {
                error,
                served: None,
            };
        }
    };
    if served.matches(&job.wanted, job.server.ignore_ttl) {
        let propagation = match lookup::find_zone(server, &job.host, LOOKUP_TIMEOUT).await {
            Ok(zone) => spread(job, server, &zone, resolver).await,
            Err(_) => None,
        };
        return Outcome::Matched {
            served,
            propagation,
        };
    }
    let failed = |error: DnsError, served: &Records| Outcome::Failed {
        error,
        served: Some(served.clone()),
    };
    let zone = match lookup::find_zone(server, &job.host, LOOKUP_TIMEOUT).await {
        Ok(zone) => zone,
        Err(error) => return failed(error, &served),
    };
    let request = UpdateRequest {
        server,
        server_label: job.server_label.clone(),
        host: job.host.clone(),
        zone: zone.clone(),
        wanted: job.wanted.clone(),
        ttl: job.ttl,
        current: served.clone(),
        set_name: job.set_name.clone(),
        timeout: UPDATE_TIMEOUT,
    };
    let updater = match updater {
        Ok(updater) => updater,
        Err(why) => {
            let error = DnsError::new(FailureKind::Network, DnsStage::Updating, why.to_string());
            return failed(error, &served);
        }
    };
    let text = match fenced_update(updater.as_ref(), request, fence).await {
        Ok(text) => text,
        Err(error) => return failed(error, &served),
    };
    let after = match verify(job, server).await {
        Ok(after) => after,
        Err(error) => return failed(error, &served),
    };
    Outcome::Updated {
        before: served,
        after,
        text,
        propagation: spread(job, server, &zone, resolver).await,
    }
}

/// The update, in cluster mode only after the fence proved this instance leads, and
/// bounded to end before its lease can have expired: a write abandoned at that time-out
/// is never sent again (see `cluster/election.rs` for why that makes one writer).
pub(super) async fn fenced_update(
    updater: &dyn DnsUpdater,
    mut request: UpdateRequest,
    fence: Option<&Fence>,
) -> Result<String, DnsError> {
    let Some(fence) = fence else {
        return updater.update(&request).await;
    };
    let budget = fence
        .check()
        .await
        .map_err(|why| DnsError::new(FailureKind::Local, DnsStage::Updating, why.to_string()))?;
    request.timeout = request.timeout.min(budget);
    match tokio::time::timeout(budget, updater.update(&request)).await {
        Ok(result) => result,
        Err(_) => Err(DnsError::new(
            FailureKind::Timeout,
            DnsStage::Updating,
            format!(
                "update abandoned after {} ms: this instance's etcd lease could end",
                budget.as_millis()
            ),
        )),
    }
}

/// Asks until the server gives the wanted records, a few times.
async fn verify(job: &Job, server: SocketAddr) -> Result<Records, DnsError> {
    let mut last = None;
    for pause in VERIFY_PAUSES {
        tokio::time::sleep(pause).await;
        let served = lookup::current_records(server, &job.host, job.server.edns0, LOOKUP_TIMEOUT)
            .await
            .map_err(|mut e| {
                // Whatever went wrong, it went wrong while verifying.
                e.stage = DnsStage::Verifying;
                e
            })?;
        if served.matches(&job.wanted, job.server.ignore_ttl) {
            return Ok(served);
        }
        last = Some(served);
    }
    let served = last.unwrap_or_default();
    Err(DnsError::new(
        FailureKind::WrongAnswer,
        DnsStage::Verifying,
        format!(
            "after the update the server gives {}, not {}",
            describe(&served),
            describe(&job.wanted)
        ),
    ))
}

/// `192.0.2.1 (TTL 60)`.
fn describe(records: &Records) -> String {
    match records.ttl {
        Some(ttl) => format!("{} (TTL {ttl})", records.describe()),
        None => records.describe(),
    }
}

/// How many of the zone's name servers give the wanted records (see
/// [`propagation::count`]). `None` when the name servers cannot be listed.
async fn spread(
    job: &Job,
    server: SocketAddr,
    zone: &str,
    resolver: &Resolver,
) -> Option<Propagation> {
    let wanted = Wanted {
        host: job.host.clone(),
        records: job.wanted.clone(),
        edns0: job.server.edns0,
        ignore_ttl: job.server.ignore_ttl,
    };
    propagation::count(server, zone, &wanted, resolver, LOOKUP_TIMEOUT).await
}

/// The DNS server's socket address: its IP, or its name through the system resolver.
pub async fn resolve(server: &DnsServer) -> Result<SocketAddr, DnsError> {
    let address = server.address.trim();
    let bare = address.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, server.port));
    }
    let unresolved = |why: String| {
        DnsError::new(
            FailureKind::Network,
            DnsStage::Asking,
            format!("cannot resolve {address}: {why}"),
        )
    };
    // The system's resolver takes only the punycode form of an international name.
    let ascii = crate::model::idn::ascii_or_same(address);
    let found = tokio::time::timeout(
        LOOKUP_TIMEOUT,
        tokio::net::lookup_host((ascii.as_str(), server.port)),
    )
    .await
    .map_err(|_| {
        DnsError::new(
            FailureKind::Timeout,
            DnsStage::Asking,
            format!(
                "timeout after {} s resolving {address}",
                LOOKUP_TIMEOUT.as_secs()
            ),
        )
    })?
    .map_err(|e| unresolved(e.to_string()))?;
    let list: Vec<SocketAddr> = found.collect();
    // IPv4 first: the more likely to be reachable from a monitoring host.
    list.iter()
        .find(|a| a.is_ipv4())
        .or(list.first())
        .copied()
        .ok_or_else(|| unresolved("no address".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn resolves_literals_and_names() {
        let mut server = DnsServer {
            address: "192.0.2.53".into(),
            port: 5353,
            ..DnsServer::default()
        };
        assert_eq!(
            resolve(&server).await.unwrap(),
            "192.0.2.53:5353".parse().unwrap()
        );
        server.address = "[2001:db8::53]".into();
        assert_eq!(
            resolve(&server).await.unwrap(),
            "[2001:db8::53]:5353".parse().unwrap()
        );
        server.address = "localhost".into();
        assert!(resolve(&server).await.unwrap().ip().is_loopback());
        // Not a host name at all: the resolver refuses it without asking any DNS server
        // (a real name would send a query off this machine).
        server.address = "no such host".into();
        let err = resolve(&server).await.unwrap_err();
        assert!(err.text.contains("no such host"), "{err}");
    }
}

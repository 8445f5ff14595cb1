//! The pipeline for a method with an API of its own (PowerDNS, Cloudflare, Route 53): the
//! check and the verification read the provider's records, the provider names the zone,
//! and propagation is the provider's own (Route 53's `INSYNC`) or, when the DNS server has
//! an address, the zone's name servers asked by DNS.

use std::net::SocketAddr;

use super::{Job, resolve};
use super::{LOOKUP_TIMEOUT, Outcome, UPDATE_TIMEOUT, VERIFY_PAUSES, describe};
use crate::dnsupdate::propagation::{Propagation, Resolver};
use crate::dnsupdate::{DnsError, DnsStage, DnsUpdater, FailureKind, ProviderApi, UpdateRequest};

/// Runs the pipeline once through `api`.
pub(super) async fn run(
    job: &Job,
    updater: &dyn DnsUpdater,
    api: &dyn ProviderApi,
    resolver: &Resolver,
    fence: Option<&crate::cluster::Fence>,
) -> Outcome {
    // The DNS server's address is optional here: given, it is where the zone's name
    // servers are looked up for propagation.
    let server = if job.server.address.trim().is_empty() {
        None
    } else {
        match resolve(&job.server).await {
            Ok(server) => Some(server),
            Err(error) => {
                return Outcome::Failed {
                    error,
                    served: None,
                };
            }
        }
    };
    let view = match api.records(&job.host, LOOKUP_TIMEOUT).await {
        Ok(view) => view,
        Err(error) => {
            return Outcome::Failed {
                error,
                served: None,
            };
        }
    };
    let served = view.records;
    if served.matches(&job.wanted, job.server.ignore_ttl || view.automatic_ttl) {
        return Outcome::Matched {
            served,
            propagation: spread(job, api, (server, resolver), &view.zone, false).await,
        };
    }
    let request = UpdateRequest {
        // Unused by API methods; the unspecified address says so.
        server: server.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], job.server.port))),
        server_label: job.server_label.clone(),
        host: job.host.clone(),
        zone: view.zone.clone(),
        wanted: job.wanted.clone(),
        ttl: job.ttl,
        current: served.clone(),
        set_name: job.set_name.clone(),
        timeout: UPDATE_TIMEOUT,
    };
    let failed = |error: DnsError| Outcome::Failed {
        error,
        served: Some(served.clone()),
    };
    let text = match super::fenced_update(updater, request, fence).await {
        Ok(text) => text,
        Err(error) => return failed(error),
    };
    let after = match verify(job, api).await {
        Ok(after) => after,
        Err(error) => return failed(error),
    };
    Outcome::Updated {
        before: served.clone(),
        after,
        text,
        propagation: spread(job, api, (server, resolver), &view.zone, true).await,
    }
}

/// Reads the provider's records until they are the wanted ones, a few times.
async fn verify(job: &Job, api: &dyn ProviderApi) -> Result<crate::dnsupdate::Records, DnsError> {
    let mut last = None;
    for pause in VERIFY_PAUSES {
        tokio::time::sleep(pause).await;
        let view = api
            .records(&job.host, LOOKUP_TIMEOUT)
            .await
            .map_err(|mut e| {
                e.stage = DnsStage::Verifying;
                e
            })?;
        if view
            .records
            .matches(&job.wanted, job.server.ignore_ttl || view.automatic_ttl)
        {
            return Ok(view.records);
        }
        last = Some(view.records);
    }
    let served = last.unwrap_or_default();
    Err(DnsError::new(
        FailureKind::WrongAnswer,
        DnsStage::Verifying,
        format!(
            "after the update the provider holds {}, not {}",
            describe(&served),
            describe(&job.wanted)
        ),
    ))
}

/// The provider's own propagation after an update, else the zone's name servers by DNS
/// when the DNS server has an address.
async fn spread(
    job: &Job,
    api: &dyn ProviderApi,
    (server, resolver): (Option<SocketAddr>, &Resolver),
    zone: &str,
    updated: bool,
) -> Option<Propagation> {
    if updated && let Some((done, of)) = api.propagation(&job.host, UPDATE_TIMEOUT).await {
        return Some(Propagation::known(done, of));
    }
    super::spread(job, server?, zone, resolver).await
}

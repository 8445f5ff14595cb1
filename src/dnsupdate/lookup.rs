//! DNS lookups shared by every update method (placeholder until written).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use super::{DnsError, DnsStage, FailureKind, Records};

fn unwritten(stage: DnsStage) -> DnsError {
    DnsError::new(
        FailureKind::Network,
        stage,
        "DNS lookups are not written yet",
    )
}

/// The A and AAAA records `server` gives for `host`, asked without recursion.
pub async fn current_records(
    _server: SocketAddr,
    _host: &str,
    _edns0: bool,
    _timeout: Duration,
) -> Result<Records, DnsError> {
    Err(unwritten(DnsStage::Asking))
}

/// The zone that holds `host`, by SOA lookup at `server`.
pub async fn find_zone(
    _server: SocketAddr,
    _host: &str,
    _timeout: Duration,
) -> Result<String, DnsError> {
    Err(unwritten(DnsStage::FindingZone))
}

/// The addresses of the name servers of `zone`, as `server` lists them (NS + glue/A/AAAA).
pub async fn name_servers(
    _server: SocketAddr,
    _zone: &str,
    _timeout: Duration,
) -> Result<Vec<IpAddr>, DnsError> {
    Err(unwritten(DnsStage::Verifying))
}

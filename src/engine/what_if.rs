//! *What if* (SPEC §11): which DNS changes a failure of chosen servers would cause, worked
//! out with the same decision the engine makes, from the set's settings and its servers'
//! statuses now. Pure, so that the window can ask it on every frame.

use std::net::IpAddr;

use super::decision::{Candidate, Decision, all_failed, decide};
use super::dns_sync::{SetDns, label};
use super::server_state::ServerStatus;
use crate::model::options::DnsUpdatingOptions;
use crate::model::{AllFailedPolicy, ServerSet};

/// What would follow if the chosen servers failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WhatIf {
    /// What DNS gives by the decision now.
    pub now: Decision,
    /// What it would give.
    pub then: Decision,
    /// Servers not polled yet (or skipped in sequential mode) that the answer assumes work.
    pub assumed_working: Vec<String>,
    /// Chosen servers that pause the whole set when they fail.
    pub pausing: Vec<String>,
    /// Every server of the set would have failed.
    pub all_failed: bool,
    /// The DNS servers that would be updated (none when nothing changes or the set does
    /// not update DNS).
    pub dns_servers: Vec<String>,
    pub host_names: Vec<String>,
    /// The longest a failure can take to be noticed: the wait for the next poll, then the
    /// poll and its retries timing out.
    pub detect_within: std::time::Duration,
    /// How long resolvers may keep giving the old records after the change.
    pub ttl: u32,
}

impl WhatIf {
    /// DNS would give other addresses (the same ones for another reason, such as an
    /// assumed local fault, change nothing).
    pub fn changes_dns(&self) -> bool {
        match self.then.addresses() {
            Some(then) => self.now.addresses() != Some(then),
            None => false,
        }
    }
}

/// Why the consequences cannot be worked out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WhatIfError {
    #[error("server {server}: {address:?} is not an IP address")]
    BadAddress { server: String, address: String },
}

/// The consequences of `failing[i]` servers of `set` failing, its servers' statuses being
/// `statuses` now (in the set's order). `Err` names a server whose address does not parse
/// (settings that passed validation never have one).
pub fn failure_of(
    set: &ServerSet,
    statuses: &[ServerStatus],
    failing: &[bool],
    dns_options: &DnsUpdatingOptions,
) -> Result<WhatIf, WhatIfError> {
    let mut now = Vec::with_capacity(set.servers.len());
    for (i, server) in set.servers.iter().enumerate() {
        let address: IpAddr =
            server
                .public_ip
                .trim()
                .parse()
                .map_err(|_| WhatIfError::BadAddress {
                    server: server.display_name().to_string(),
                    address: server.public_ip.clone(),
                })?;
        let status = if server.disabled {
            ServerStatus::Disabled
        } else {
            statuses.get(i).copied().unwrap_or_default()
        };
        now.push(Candidate {
            address,
            weight: server.weight,
            status,
        });
    }
    let fallback: Vec<IpAddr> = match &set.dns.if_all_fail {
        AllFailedPolicy::Fallback(list) => {
            list.iter().filter_map(|a| a.trim().parse().ok()).collect()
        }
        _ => Vec::new(),
    };
    let mut assumed_working = Vec::new();
    let mut pausing = Vec::new();
    let then: Vec<Candidate> = now
        .iter()
        .zip(&set.servers)
        .enumerate()
        .map(|(i, (candidate, server))| {
            let chosen = failing.get(i).copied().unwrap_or(false);
            let status = match candidate.status {
                ServerStatus::Disabled => ServerStatus::Disabled,
                _ if chosen => {
                    if server.pause_set_on_failure {
                        pausing.push(server.display_name().to_string());
                    }
                    ServerStatus::Failed
                }
                // A server without a result yet would be asked: assume it answers.
                ServerStatus::NotTested | ServerStatus::Skipped => {
                    assumed_working.push(server.display_name().to_string());
                    ServerStatus::Ok
                }
                status => status,
            };
            Candidate {
                status,
                ..*candidate
            }
        })
        .collect();
    let now_decision = decide(&set.dns, &now, &fallback);
    let then_decision = decide(&set.dns, &then, &fallback);
    let mut what_if = WhatIf {
        all_failed: all_failed(&then),
        now: now_decision,
        then: then_decision,
        assumed_working,
        pausing,
        dns_servers: Vec::new(),
        host_names: set.dns.host_names.clone(),
        detect_within: detection(set),
        ttl: set.dns.ttl,
    };
    if what_if.changes_dns() {
        what_if.dns_servers = SetDns::servers_of(set, dns_options)
            .iter()
            .map(label)
            .collect();
    }
    Ok(what_if)
}

/// Worst case: the server stops just after a good poll; the next poll comes an interval
/// later and times out, and so does every retry.
fn detection(set: &ServerSet) -> std::time::Duration {
    let f = &set.frequency;
    let timeout = f.timeout.max(crate::engine::server_state::MIN_DELAY);
    f.interval + (f.retries + 1) * timeout + f.retries * f.retry_interval
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::{AddressSelection, DnsServer, Server};

    fn set(selection: AddressSelection) -> ServerSet {
        let mut set = ServerSet {
            name: "web".into(),
            ..ServerSet::default()
        };
        for (ip, name) in [
            ("192.0.2.10", "a"),
            ("192.0.2.20", "b"),
            ("192.0.2.30", "c"),
        ] {
            set.servers.push(Server {
                public_ip: ip.into(),
                name: name.into(),
                ..Server::default()
            });
        }
        set.dns.host_names = vec!["www.example.test".into()];
        set.dns.addresses_of = selection;
        set.update_dns.enabled = true;
        set.update_dns.dns_servers.push(DnsServer {
            address: "ns1.example.test".into(),
            ..DnsServer::default()
        });
        set
    }

    fn addresses(decision: &Decision) -> Vec<String> {
        decision
            .addresses()
            .unwrap_or_default()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const OK: ServerStatus = ServerStatus::Ok;

    /// The set's three servers all OK now, `failing` ticked.
    fn all_ok_but(set: &ServerSet, failing: [bool; 3]) -> WhatIf {
        failure_of(set, &[OK, OK, OK], &failing, &Default::default()).unwrap()
    }

    #[test]
    fn the_first_server_failing_moves_dns_to_the_second() {
        let set = set(AddressSelection::FirstFunctional);
        let w = all_ok_but(&set, [true, false, false]);
        assert_eq!(addresses(&w.now), ["192.0.2.10"]);
        assert_eq!(addresses(&w.then), ["192.0.2.20"]);
        assert!(w.changes_dns());
        assert_eq!(w.dns_servers, ["ns1.example.test"]);
        assert!(!w.all_failed);
    }

    #[test]
    fn a_lower_server_failing_changes_nothing_for_first_functional() {
        let set = set(AddressSelection::FirstFunctional);
        let w = all_ok_but(&set, [false, true, false]);
        assert!(!w.changes_dns());
        assert!(w.dns_servers.is_empty());
    }

    #[test]
    fn all_functional_drops_the_failed_address() {
        let set = set(AddressSelection::AllFunctional);
        let w = all_ok_but(&set, [false, true, false]);
        assert_eq!(addresses(&w.then), ["192.0.2.10", "192.0.2.30"]);
    }

    #[test]
    fn every_server_failing_follows_the_policy() {
        let mut set = set(AddressSelection::AllFunctional);
        let all = [true, true, true];
        // The default policy: a local fault is assumed and every address stays.
        let w = all_ok_but(&set, all);
        assert!(w.all_failed);
        assert_eq!(addresses(&w.then), addresses(&w.now));
        assert!(!w.changes_dns());
        set.dns.if_all_fail = AllFailedPolicy::LeaveAsIs;
        let w = all_ok_but(&set, all);
        assert_eq!(w.then, Decision::LeaveAsIs);
        assert!(!w.changes_dns());
        set.dns.if_all_fail = AllFailedPolicy::Fallback(vec!["198.51.100.1".into()]);
        let w = all_ok_but(&set, all);
        assert_eq!(addresses(&w.then), ["198.51.100.1"]);
        assert!(w.changes_dns());
    }

    #[test]
    fn untested_and_skipped_servers_are_assumed_to_work_and_named() {
        let set = set(AddressSelection::FirstFunctional);
        let statuses = [OK, ServerStatus::Skipped, ServerStatus::NotTested];
        let w = failure_of(&set, &statuses, &[true, false, false], &Default::default()).unwrap();
        assert_eq!(addresses(&w.then), ["192.0.2.20"]);
        assert_eq!(w.assumed_working, ["b", "c"]);
    }

    #[test]
    fn disabled_servers_stay_out_and_pausing_servers_are_named() {
        let mut set = set(AddressSelection::FirstFunctional);
        set.servers[1].disabled = true;
        set.servers[0].pause_set_on_failure = true;
        let w = all_ok_but(&set, [true, false, false]);
        assert_eq!(addresses(&w.then), ["192.0.2.30"]);
        assert_eq!(w.pausing, ["a"]);
    }

    #[test]
    fn detection_time_counts_the_interval_timeouts_and_retries() {
        let mut set = set(AddressSelection::FirstFunctional);
        let ms = std::time::Duration::from_millis;
        set.frequency.interval = ms(200);
        set.frequency.timeout = ms(100);
        set.frequency.retries = 2;
        set.frequency.retry_interval = ms(100);
        let w = all_ok_but(&set, [true, false, false]);
        assert_eq!(w.detect_within, ms(200 + 3 * 100 + 2 * 100));
    }

    #[test]
    fn a_bad_address_is_named() {
        let mut set = set(AddressSelection::FirstFunctional);
        set.servers[1].public_ip = "10.0.0.300".into();
        let e = failure_of(
            &set,
            &[OK, OK, OK],
            &[true, false, false],
            &Default::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("10.0.0.300"), "{e}");
    }
}

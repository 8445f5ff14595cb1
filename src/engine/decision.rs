//! Which addresses DNS should give (SPEC §3). Pure: servers' statuses in, a decision out.

use std::net::IpAddr;

use super::server_state::ServerStatus;
use crate::model::{AddressSelection, AllFailedPolicy, DnsData};

/// One server as the decision sees it, in priority order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub address: IpAddr,
    pub weight: u32,
    pub status: ServerStatus,
}

/// Why the addresses were chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Basis {
    /// Functional servers.
    Functional,
    /// Every server failed: published as if the fault were local.
    AssumedLocalFault,
    /// Every server failed: the fallback addresses.
    Fallback,
}

/// What DNS should give.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Decision {
    /// A server the decision needs has not been polled yet: change nothing.
    Waiting,
    /// Every server failed and the policy says to leave DNS as it is.
    LeaveAsIs,
    /// These addresses (with their weights), in priority order.
    Publish {
        addresses: Vec<(IpAddr, u32)>,
        basis: Basis,
    },
}

impl Decision {
    /// The addresses to publish, if any.
    pub fn addresses(&self) -> Option<Vec<IpAddr>> {
        match self {
            Decision::Publish { addresses, .. } => {
                Some(addresses.iter().map(|(a, _)| *a).collect())
            }
            _ => None,
        }
    }

    /// A short text for the UI and logs, e.g. `192.0.2.1, 2001:db8::1`.
    pub fn describe(&self) -> String {
        match self {
            Decision::Waiting => "waiting for the first polls".into(),
            Decision::LeaveAsIs => "all servers failed: DNS left as it is".into(),
            Decision::Publish { addresses, basis } => {
                let list: Vec<String> = addresses.iter().map(|(a, _)| a.to_string()).collect();
                let list = list.join(", ");
                match basis {
                    Basis::Functional => list,
                    Basis::AssumedLocalFault => format!("{list} (all failed: assumed local fault)"),
                    Basis::Fallback => format!("{list} (all failed: fallback)"),
                }
            }
        }
    }
}

/// Decides the addresses for a set. `fallback` is the parsed fallback list of the
/// `Fallback` policy (validation guarantees it parses).
pub fn decide(dns: &DnsData, servers: &[Candidate], fallback: &[IpAddr]) -> Decision {
    let in_set = || {
        servers
            .iter()
            .filter(|s| s.status != ServerStatus::Disabled)
    };
    let functional: Vec<(IpAddr, u32)> = match dns.addresses_of {
        AddressSelection::FirstFunctional => {
            let mut first = Vec::new();
            for s in in_set() {
                match s.status {
                    // The decision would depend on this server: wait for its first poll.
                    ServerStatus::NotTested | ServerStatus::Skipped => return Decision::Waiting,
                    status if status.is_functional() => {
                        first.push((s.address, s.weight));
                        break;
                    }
                    _ => {}
                }
            }
            first
        }
        AddressSelection::AllFunctional | AddressSelection::WeightedRoundRobin => {
            if in_set().any(|s| s.status == ServerStatus::NotTested) {
                return Decision::Waiting;
            }
            // Skipped servers (sequential mode) are below a working one: not needed.
            in_set()
                .filter(|s| s.status.is_functional())
                .map(|s| (s.address, s.weight))
                .collect()
        }
    };
    if !functional.is_empty() {
        return Decision::Publish {
            addresses: functional,
            basis: Basis::Functional,
        };
    }
    match &dns.if_all_fail {
        AllFailedPolicy::LeaveAsIs => Decision::LeaveAsIs,
        AllFailedPolicy::Fallback(_) => Decision::Publish {
            addresses: fallback.iter().map(|a| (*a, 1)).collect(),
            basis: Basis::Fallback,
        },
        AllFailedPolicy::AssumeLocalFault => {
            let all: Vec<(IpAddr, u32)> = in_set().map(|s| (s.address, s.weight)).collect();
            let addresses = match dns.addresses_of {
                AddressSelection::FirstFunctional => all.into_iter().take(1).collect(),
                _ => all,
            };
            if addresses.is_empty() {
                // Every server is disabled: nothing sensible to publish.
                Decision::LeaveAsIs
            } else {
                Decision::Publish {
                    addresses,
                    basis: Basis::AssumedLocalFault,
                }
            }
        }
    }
}

/// True when every server in the set (not disabled, at least one) has failed.
pub fn all_failed(servers: &[Candidate]) -> bool {
    let mut in_set = servers
        .iter()
        .filter(|s| s.status != ServerStatus::Disabled)
        .peekable();
    in_set.peek().is_some() && in_set.all(|s| s.status == ServerStatus::Failed)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ServerStatus::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn set(statuses: &[(&str, ServerStatus)]) -> Vec<Candidate> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, (a, status))| Candidate {
                address: ip(a),
                weight: i as u32 + 1,
                status: *status,
            })
            .collect()
    }

    fn dns(addresses_of: AddressSelection, if_all_fail: AllFailedPolicy) -> DnsData {
        DnsData {
            host_names: vec!["www.example.com".into()],
            addresses_of,
            if_all_fail,
            ..DnsData::default()
        }
    }

    fn publish(list: &[&str], basis: Basis) -> Decision {
        Decision::Publish {
            addresses: list.iter().map(|a| (ip(a), 0)).collect(),
            basis,
        }
    }

    /// Compares ignoring weights, which the weighted case checks separately.
    fn same(a: &Decision, b: &Decision) -> bool {
        match (a, b) {
            (
                Decision::Publish {
                    addresses: x,
                    basis: bx,
                },
                Decision::Publish {
                    addresses: y,
                    basis: by,
                },
            ) => bx == by && x.iter().map(|p| p.0).eq(y.iter().map(|p| p.0)),
            _ => a == b,
        }
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn scenarios() {
        use AddressSelection::*;
        use Basis::*;
        let local = AllFailedPolicy::AssumeLocalFault;
        let sorry = AllFailedPolicy::Fallback(vec!["198.51.100.9".into()]);
        let leave = AllFailedPolicy::LeaveAsIs;
        let a = "192.0.2.1";
        let b = "192.0.2.2";
        let v6 = "2001:db8::3";
        #[rustfmt::skip]
        let table: Vec<(&str, AddressSelection, AllFailedPolicy, Vec<(&str, ServerStatus)>, Decision)> = vec![
            ("nothing before the first poll", FirstFunctional, local.clone(), vec![(a, NotTested), (b, Ok)], Decision::Waiting),
            ("first needs only the first", FirstFunctional, local.clone(), vec![(a, Ok), (b, NotTested)], publish(&[a], Functional)),
            ("first functional skips failed", FirstFunctional, local.clone(), vec![(a, Failed), (b, Ok)], publish(&[b], Functional)),
            ("retrying still counts", FirstFunctional, local.clone(), vec![(a, Retrying), (b, Ok)], publish(&[a], Functional)),
            ("failed first, untested second: wait", FirstFunctional, local.clone(), vec![(a, Failed), (b, NotTested)], Decision::Waiting),
            ("failed first, skipped second: wait", FirstFunctional, local.clone(), vec![(a, Failed), (b, Skipped)], Decision::Waiting),
            ("disabled is not in the set", FirstFunctional, local.clone(), vec![(a, Disabled), (b, Ok)], publish(&[b], Functional)),
            ("all wait for every server", AllFunctional, local.clone(), vec![(a, Ok), (b, NotTested)], Decision::Waiting),
            ("all functional", AllFunctional, local.clone(), vec![(a, Ok), (b, Failed), (v6, Ok)], publish(&[a, v6], Functional)),
            ("all ignores skipped", AllFunctional, local.clone(), vec![(a, Ok), (b, Skipped)], publish(&[a], Functional)),
            ("weighted gives all functional", WeightedRoundRobin, local.clone(), vec![(a, Ok), (b, Ok)], publish(&[a, b], Functional)),
            ("all failed, local fault, first", FirstFunctional, local.clone(), vec![(a, Failed), (b, Failed)], publish(&[a], AssumedLocalFault)),
            ("all failed, local fault, all", AllFunctional, local.clone(), vec![(a, Failed), (b, Failed)], publish(&[a, b], AssumedLocalFault)),
            ("all failed, local fault skips disabled", FirstFunctional, local.clone(), vec![(a, Disabled), (b, Failed)], publish(&[b], AssumedLocalFault)),
            ("all failed, fallback", FirstFunctional, sorry.clone(), vec![(a, Failed), (b, Failed)], publish(&["198.51.100.9"], Fallback)),
            ("all failed, leave as is", AllFunctional, leave.clone(), vec![(a, Failed), (b, Failed)], Decision::LeaveAsIs),
            ("everything disabled", FirstFunctional, local.clone(), vec![(a, Disabled)], Decision::LeaveAsIs),
            ("v4 and v6 mix", AllFunctional, local.clone(), vec![(v6, Ok), (a, Ok)], publish(&[v6, a], Functional)),
        ];
        let fallback = [ip("198.51.100.9")];
        for (name, selection, policy, servers, expected) in table {
            let got = decide(&dns(selection, policy), &set(&servers), &fallback);
            assert!(
                same(&got, &expected),
                "{name}: got {got:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn weights_are_carried() {
        let got = decide(
            &dns(
                AddressSelection::WeightedRoundRobin,
                AllFailedPolicy::AssumeLocalFault,
            ),
            &set(&[("192.0.2.1", Ok), ("192.0.2.2", Failed), ("192.0.2.3", Ok)]),
            &[],
        );
        assert_eq!(
            got,
            Decision::Publish {
                addresses: vec![(ip("192.0.2.1"), 1), (ip("192.0.2.3"), 3)],
                basis: Basis::Functional
            }
        );
    }

    #[test]
    fn all_failed_detection() {
        assert!(all_failed(&set(&[
            ("192.0.2.1", Failed),
            ("192.0.2.2", Disabled)
        ])));
        assert!(!all_failed(&set(&[
            ("192.0.2.1", Failed),
            ("192.0.2.2", Retrying)
        ])));
        assert!(!all_failed(&set(&[("192.0.2.1", Disabled)])));
    }
}

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

impl Candidate {
    /// Weight 0: drained (see [`decide`]).
    pub fn is_drained(&self) -> bool {
        self.weight == 0
    }
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
///
/// A server of weight 0 is *drained*: polled and shown, but published only when no other
/// server is functional (it takes over rather than nothing working). So the decision is
/// first made over the servers that are not drained, and only when that finds none
/// functional over the drained ones.
pub fn decide(dns: &DnsData, servers: &[Candidate], fallback: &[IpAddr]) -> Decision {
    let in_set = || {
        servers
            .iter()
            .filter(|s| s.status != ServerStatus::Disabled)
    };
    let serving = || in_set().filter(|s| !s.is_drained());
    let drained = || in_set().filter(|s| s.is_drained());
    let functional = match functional_of(dns.addresses_of, serving()) {
        Some(list) if list.is_empty() => match functional_of(dns.addresses_of, drained()) {
            Some(list) => list,
            None => return Decision::Waiting,
        },
        Some(list) => list,
        None => return Decision::Waiting,
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
            // Drained servers stay out of this too, unless nothing else is in the set.
            let mut all: Vec<(IpAddr, u32)> = serving().map(|s| (s.address, s.weight)).collect();
            if all.is_empty() {
                all = drained().map(|s| (s.address, s.weight)).collect();
            }
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

/// The functional servers among `servers` that `selection` publishes; `None` when a
/// server the choice depends on was not polled yet.
fn functional_of<'a>(
    selection: AddressSelection,
    servers: impl Iterator<Item = &'a Candidate> + Clone,
) -> Option<Vec<(IpAddr, u32)>> {
    match selection {
        AddressSelection::FirstFunctional => {
            for s in servers {
                match s.status {
                    // The decision would depend on this server: wait for its first poll.
                    ServerStatus::NotTested | ServerStatus::Skipped => return None,
                    status if status.is_functional() => return Some(vec![(s.address, s.weight)]),
                    _ => {}
                }
            }
            Some(Vec::new())
        }
        AddressSelection::AllFunctional | AddressSelection::WeightedRoundRobin => {
            if servers.clone().any(|s| s.status == ServerStatus::NotTested) {
                return None;
            }
            // Skipped servers (sequential mode) are below a working one: not needed.
            Some(
                servers
                    .filter(|s| s.status.is_functional())
                    .map(|s| (s.address, s.weight))
                    .collect(),
            )
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

    /// Weight 0 drains a server: polled and shown, published only when nothing else is
    /// functional.
    #[test]
    #[allow(clippy::type_complexity)]
    fn drain_scenarios() {
        use AddressSelection::*;
        let local = AllFailedPolicy::AssumeLocalFault;
        let sorry = AllFailedPolicy::Fallback(vec!["198.51.100.9".into()]);
        let (a, b, c) = ("192.0.2.1", "192.0.2.2", "192.0.2.3");
        let functional = Basis::Functional;
        let assumed = Basis::AssumedLocalFault;
        #[rustfmt::skip]
        let table: Vec<(&str, AddressSelection, AllFailedPolicy, Vec<(&str, u32, ServerStatus)>, Decision)> = vec![
            ("drained first is passed over", FirstFunctional, local.clone(), vec![(a, 0, Ok), (b, 1, Ok)], publish(&[b], functional)),
            ("drained first, second untested: wait", FirstFunctional, local.clone(), vec![(a, 0, Ok), (b, 1, NotTested)], Decision::Waiting),
            ("drained first, second skipped: wait", FirstFunctional, local.clone(), vec![(a, 0, Ok), (b, 1, Skipped)], Decision::Waiting),
            ("drained takes over when the rest failed", FirstFunctional, local.clone(), vec![(a, 1, Failed), (b, 0, Ok)], publish(&[b], functional)),
            ("drained retrying takes over", FirstFunctional, local.clone(), vec![(a, 1, Failed), (b, 0, Retrying)], publish(&[b], functional)),
            ("rest failed, drained untested: wait", FirstFunctional, local.clone(), vec![(a, 1, Failed), (b, 0, NotTested)], Decision::Waiting),
            ("all leaves the drained out", AllFunctional, local.clone(), vec![(a, 1, Ok), (b, 0, Ok), (c, 2, Ok)], publish(&[a, c], functional)),
            ("weighted leaves the drained out", WeightedRoundRobin, local.clone(), vec![(a, 0, Ok), (b, 2, Ok)], publish(&[b], functional)),
            ("all: only drained ones work", AllFunctional, local.clone(), vec![(a, 1, Failed), (b, 0, Ok), (c, 0, Ok)], publish(&[b, c], functional)),
            ("all: an untested drained one is not needed", AllFunctional, local.clone(), vec![(a, 1, Ok), (b, 0, NotTested)], publish(&[a], functional)),
            ("all failed: local fault skips drained", FirstFunctional, local.clone(), vec![(a, 0, Failed), (b, 1, Failed)], publish(&[b], assumed)),
            ("all failed: local fault, all, skips drained", AllFunctional, local.clone(), vec![(a, 0, Failed), (b, 1, Failed), (c, 1, Failed)], publish(&[b, c], assumed)),
            ("all failed: only drained in the set", FirstFunctional, local.clone(), vec![(a, 0, Failed), (b, 0, Failed)], publish(&[a], assumed)),
            ("all failed: fallback", FirstFunctional, sorry.clone(), vec![(a, 0, Failed), (b, 1, Failed)], publish(&["198.51.100.9"], Basis::Fallback)),
            ("drained and disabled", FirstFunctional, local.clone(), vec![(a, 1, Disabled), (b, 0, Ok)], publish(&[b], functional)),
        ];
        let fallback = [ip("198.51.100.9")];
        for (name, selection, policy, servers, expected) in table {
            let servers: Vec<Candidate> = servers
                .iter()
                .map(|(address, weight, status)| Candidate {
                    address: ip(address),
                    weight: *weight,
                    status: *status,
                })
                .collect();
            let got = decide(&dns(selection, policy), &servers, &fallback);
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

//! What the built-in DNS server answers (SPEC §5). Pure: a table made from the engine's
//! snapshot, a request in, a response (or "not ours") out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::wire;
use crate::engine::Snapshot;
use crate::engine::decision::Decision;
use crate::model::AddressSelection;

/// One host name Standby answers for.
#[derive(Debug)]
struct Entry {
    ttl: u32,
    addresses: Vec<(IpAddr, u32)>,
    weighted: bool,
    /// Counts answers, to walk the weights round robin; shared by the tables that follow
    /// each other, so that a new snapshot does not restart the walk.
    turn: Arc<AtomicU64>,
}

/// The names Standby is authoritative for, and their addresses.
#[derive(Debug, Default)]
pub struct Table {
    /// Exact names (lower case, no final dot).
    exact: HashMap<String, usize>,
    /// Wildcards by the name below the `*.` (lower case).
    wildcards: HashMap<String, usize>,
    entries: Vec<Entry>,
}

/// What outlives one table: each set's round-robin position. (The addresses a set last
/// published, given while its decision waits or says to leave DNS as it is, come with
/// the snapshot: the engine keeps them across restarts.)
#[derive(Debug, Default)]
pub struct Memory {
    turns: HashMap<String, Arc<AtomicU64>>,
}

/// The outcome of a request.
#[derive(Debug)]
pub enum Reply {
    /// Our answer.
    Answer(Message),
    /// Not one of our names: forward it (if forwarding is on) or refuse it.
    NotOurs,
    /// Nothing sensible can be sent (e.g. a response instead of a query): drop it.
    Drop,
}

impl Table {
    /// Builds the table from a snapshot.
    pub fn build(snapshot: &Snapshot, memory: &mut Memory) -> Table {
        let Memory { turns } = memory;
        let mut table = Table::default();
        for set in &snapshot.sets {
            let Some(config) = snapshot.settings.set(&set.name) else {
                continue;
            };
            let addresses = match &set.decision {
                Decision::Publish { addresses, .. } => addresses,
                Decision::Waiting | Decision::LeaveAsIs => match &set.published {
                    Some(addresses) => addresses,
                    None => continue,
                },
            };
            let index = table.entries.len();
            table.entries.push(Entry {
                ttl: config.dns.ttl,
                addresses: addresses.clone(),
                weighted: config.dns.addresses_of == AddressSelection::WeightedRoundRobin,
                turn: turns.entry(set.name.clone()).or_default().clone(),
            });
            for host in &set.host_names {
                let host = host.trim_end_matches('.').to_ascii_lowercase();
                match host.strip_prefix("*.") {
                    Some(base) => table.wildcards.insert(base.to_string(), index),
                    None => table.exact.insert(host, index),
                };
            }
        }
        turns.retain(|name, _| snapshot.set(name).is_some());
        table
    }

    fn lookup(&self, name: &str) -> Option<&Entry> {
        if let Some(i) = self.exact.get(name) {
            return self.entries.get(*i);
        }
        // A wildcard covers every name below it; the closest one wins.
        let mut rest = name;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(i) = self.wildcards.get(parent) {
                return self.entries.get(*i);
            }
            rest = parent;
        }
        None
    }

    /// Answers a request.
    pub fn answer(&self, request: &Message) -> Reply {
        if request.metadata.message_type != MessageType::Query {
            return Reply::Drop;
        }
        // Errors carry the header alone: a query with 240 questions must not get them
        // all back (an amplifier for spoofed sources).
        if request.metadata.op_code != OpCode::Query {
            return Reply::Answer(wire::header_only(request, ResponseCode::NotImp));
        }
        let [query] = request.queries.as_slice() else {
            return Reply::Answer(wire::header_only(request, ResponseCode::FormErr));
        };
        let mut response = wire::header_only(request, ResponseCode::NoError);
        response.metadata.checking_disabled = request.metadata.checking_disabled;
        response.queries = request.queries.clone();
        let name = query
            .name()
            .to_ascii()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        let Some(entry) = self.lookup(&name) else {
            return Reply::NotOurs;
        };
        response.metadata.authoritative = true;
        if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY {
            response.metadata.response_code = ResponseCode::Refused;
            return Reply::Answer(response);
        }
        let wants = |ip: &IpAddr| match query.query_type() {
            RecordType::A => ip.is_ipv4(),
            RecordType::AAAA => ip.is_ipv6(),
            // ANY gets a minimal answer (RFC 8482): the addresses, nothing else.
            RecordType::ANY => true,
            _ => false,
        };
        let candidates: Vec<(IpAddr, u32)> = entry
            .addresses
            .iter()
            .copied()
            .filter(|(ip, _)| wants(ip))
            .collect();
        let chosen = if entry.weighted && candidates.len() > 1 {
            pick_weighted(&candidates, entry.turn.fetch_add(1, Ordering::Relaxed))
                .into_iter()
                .collect()
        } else {
            candidates.iter().map(|(ip, _)| *ip).collect::<Vec<_>>()
        };
        let owner: Name = query.name().clone();
        for ip in chosen {
            let data = match ip {
                IpAddr::V4(v4) => RData::A(A(v4)),
                IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
            };
            response.add_answer(Record::from_rdata(owner.clone(), entry.ttl, data));
        }
        Reply::Answer(response)
    }
}

/// The address whose turn it is: over `sum(weights)` answers each address comes up as
/// often as its weight.
fn pick_weighted(candidates: &[(IpAddr, u32)], turn: u64) -> Option<IpAddr> {
    let total: u64 = candidates.iter().map(|(_, w)| u64::from((*w).max(1))).sum();
    let mut slot = turn % total.max(1);
    for (ip, weight) in candidates {
        let weight = u64::from((*weight).max(1));
        if slot < weight {
            return Some(*ip);
        }
        slot -= weight;
    }
    candidates.first().map(|(ip, _)| *ip)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn weights_share_the_answers() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let picks: Vec<IpAddr> = (0..8)
            .filter_map(|t| pick_weighted(&[(a, 3), (b, 1)], t))
            .collect();
        assert_eq!(picks.iter().filter(|p| **p == a).count(), 6);
        assert_eq!(picks.iter().filter(|p| **p == b).count(), 2);
    }
}

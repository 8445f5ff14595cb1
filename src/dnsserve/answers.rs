//! What the built-in DNS server answers (SPEC §5, issue 15). Pure: a table made from the
//! engine's snapshot, a request in, a response (or "not ours") out.
//!
//! Names under a configured zone are answered with authority: the apex has SOA and NS,
//! a set's host name has its addresses, other types and empty non-terminals get NODATA
//! and unknown names NXDOMAIN, both with the SOA in the authority section (its TTL the
//! RFC 2308 negative TTL). A set's host name under no zone is answered alone, as before.
//! A name Standby serves is never "not ours": before anything was decided or kept for it,
//! it gets SERVFAIL (a resolver then asks another server), never REFUSED.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, NS, SOA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::{fast, wire};
use crate::engine::Snapshot;
use crate::engine::decision::Decision;
use crate::model::AddressSelection;
use crate::model::options::{DnsZone, name_is_under};

/// One host name (or wildcard) Standby answers for.
#[derive(Debug)]
struct Entry {
    set: String,
    ttl: u32,
    /// `None` until something was decided or kept: SERVFAIL.
    addresses: Option<Vec<(IpAddr, u32)>>,
    weighted: bool,
    /// Counts answers, to walk the weights round robin; shared by the tables that follow
    /// each other, so that a new snapshot does not restart the walk.
    turn: Arc<AtomicU64>,
}

/// A zone as served: its apex records, ready to copy into answers.
#[derive(Debug)]
struct Zone {
    /// Lower case, no final dot.
    apex: String,
    soa: Record,
    /// The SOA with the negative TTL, for the authority section of NODATA / NXDOMAIN.
    negative_soa: Record,
    ns: Vec<Record>,
    /// Glue A/AAAA records by owner (lower case, no final dot).
    glue: HashMap<String, Vec<Record>>,
    /// Every name of the zone that exists (set names, wildcard bases, glue owners), to
    /// tell NODATA (an empty non-terminal) from NXDOMAIN.
    names: Vec<String>,
}

/// What a zone answers, for its serial: name → addresses (`None`: not decided yet) and
/// their TTL (a new TTL is a new version for the secondaries too).
type ZoneContent = BTreeMap<String, (Option<Vec<(IpAddr, u32)>>, u32)>;

/// The names Standby is authoritative for, and their addresses.
#[derive(Debug, Default)]
pub struct Table {
    /// Exact names (lower case, no final dot).
    exact: HashMap<String, usize>,
    /// Wildcards by the name below the `*.` (lower case).
    wildcards: HashMap<String, usize>,
    entries: Vec<Entry>,
    zones: Vec<Zone>,
    /// The answers encoded once for this table (`fast.rs`).
    fast: fast::Answers,
}

/// What outlives one table: each set's round-robin position, each zone's serial and the
/// fingerprint of what it answered. (The addresses a set last published, given while its
/// decision waits or says to leave DNS as it is, come with the snapshot: the engine keeps
/// them across restarts.)
#[derive(Debug, Default)]
pub struct Memory {
    turns: HashMap<String, Arc<AtomicU64>>,
    serials: HashMap<String, (u64, u32)>,
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

/// A configured name as queries carry it: punycode (an international name typed in
/// Unicode), lower case, no final dot.
fn lower(name: &str) -> String {
    crate::model::idn::ascii_or_same(name)
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

fn dns_name(name: &str) -> Option<Name> {
    Name::from_ascii(format!("{}.", lower(name))).ok()
}

/// `hostmaster@example.com` → `hostmaster.example.com.` (a dot in the local part escaped).
fn contact_name(contact: &str) -> Option<Name> {
    match contact.trim().split_once('@') {
        Some((local, domain)) => dns_name(&format!("{}.{domain}", local.replace('.', "\\."))),
        None => dns_name(contact),
    }
}

fn address_record(owner: Name, ttl: u32, ip: IpAddr) -> Record {
    let data = match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    };
    Record::from_rdata(owner, ttl, data)
}

fn secs(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl Zone {
    fn build(config: &DnsZone, serial: u32) -> Option<Zone> {
        let apex_name = dns_name(&config.name)?;
        let soa = SOA::new(
            dns_name(&config.primary)?,
            contact_name(&config.contact)?,
            serial,
            secs(config.refresh_secs),
            secs(config.retry_secs),
            secs(config.expire_secs),
            config.minimum_secs,
        );
        let soa = Record::from_rdata(apex_name.clone(), config.ttl, RData::SOA(soa));
        let mut negative_soa = soa.clone();
        // RFC 2308 §3: the negative TTL is the smaller of the SOA's TTL and its minimum.
        negative_soa.ttl = config.ttl.min(config.minimum_secs);
        let mut ns = Vec::new();
        let mut glue: HashMap<String, Vec<Record>> = HashMap::new();
        for server in &config.name_servers {
            let Some(name) = dns_name(&server.name) else {
                continue;
            };
            ns.push(Record::from_rdata(
                apex_name.clone(),
                config.ttl,
                RData::NS(NS(name.clone())),
            ));
            for address in &server.addresses {
                if let Ok(ip) = address.trim().parse() {
                    glue.entry(lower(&server.name))
                        .or_default()
                        .push(address_record(name.clone(), config.ttl, ip));
                }
            }
        }
        let apex = lower(&config.name);
        let names = glue
            .keys()
            .filter(|n| name_is_under(n, &apex))
            .cloned()
            .collect();
        Some(Zone {
            apex,
            soa,
            negative_soa,
            ns,
            glue,
            names,
        })
    }

    /// `name` exists in the zone, or has names below it (an empty non-terminal).
    fn has(&self, name: &str) -> bool {
        name == self.apex || self.names.iter().any(|n| name_is_under(n, name))
    }
}

impl Table {
    /// Builds the table from a snapshot; `now_unix` (seconds) is the floor of a zone's
    /// new serial, so that serials keep growing across restarts.
    pub fn build(snapshot: &Snapshot, memory: &mut Memory, now_unix: u32) -> Table {
        let Memory { turns, serials } = memory;
        let options = &snapshot.settings.options.dns_serving;
        let mut table = Table::default();
        // Per zone, what it answers (for its serial): name → addresses.
        let mut contents: Vec<ZoneContent> = vec![BTreeMap::new(); options.zones.len()];
        // From the settings, not from the set statuses: a set the engine has not reported
        // yet is still ours (SERVFAIL), never "not ours" (REFUSED).
        for config in &snapshot.settings.server_sets {
            let status = snapshot.set(&config.name);
            let addresses = match status {
                Some(status) => match &status.decision {
                    Decision::Publish { addresses, .. } => Some(addresses.clone()),
                    Decision::Waiting | Decision::LeaveAsIs => status.published.clone(),
                },
                None => None,
            };
            // The TTL the engine decided (the lower one while the set is unsettled); the
            // set's own before the engine reported it.
            let ttl = status.map_or(config.dns.ttl, |s| s.ttl);
            let index = table.entries.len();
            for host in &config.dns.host_names {
                let host = lower(host);
                if let Some(z) = options
                    .zone_of(&host)
                    .and_then(|z| options.zones.iter().position(|x| std::ptr::eq(x, z)))
                {
                    contents[z].insert(host.clone(), (addresses.clone(), ttl));
                }
                match host.strip_prefix("*.") {
                    Some(base) => table.wildcards.insert(base.to_string(), index),
                    None => table.exact.insert(host, index),
                };
            }
            table.entries.push(Entry {
                set: config.name.clone(),
                ttl,
                addresses,
                weighted: config.dns.addresses_of == AddressSelection::WeightedRoundRobin,
                turn: turns.entry(config.name.clone()).or_default().clone(),
            });
        }
        turns.retain(|name, _| snapshot.settings.set(name).is_some());
        for (config, content) in options.zones.iter().zip(&contents) {
            let apex = lower(&config.name);
            let mut hasher = DefaultHasher::new();
            config.hash(&mut hasher);
            content.hash(&mut hasher);
            let fingerprint = hasher.finish();
            let serial = match serials.get(&apex) {
                Some((seen, serial)) if *seen == fingerprint => *serial,
                Some((_, serial)) => serial.wrapping_add(1).max(now_unix),
                None => now_unix.max(1),
            };
            serials.insert(apex.clone(), (fingerprint, serial));
            if let Some(mut zone) = Zone::build(config, serial) {
                zone.names.extend(
                    content
                        .keys()
                        .map(|n| n.strip_prefix("*.").unwrap_or(n).to_string()),
                );
                table.zones.push(zone);
            }
        }
        serials.retain(|apex, _| options.zones.iter().any(|z| lower(&z.name) == *apex));
        let names = table.fixed_names();
        table.fast = fast::Answers::build(&table, names.into_iter());
        table
    }

    /// The names whose answers are the same for every query: every exact name and zone
    /// apex and glue owner, but not a name of weighted round robin (each answer takes the
    /// next turn).
    fn fixed_names(&self) -> Vec<String> {
        let apexes = self.zones.iter().map(|z| z.apex.clone());
        let glue = self.zones.iter().flat_map(|z| z.glue.keys().cloned());
        let mut names: Vec<String> = self
            .exact
            .keys()
            .cloned()
            .chain(apexes)
            .chain(glue)
            .collect();
        names.sort();
        names.dedup();
        names.retain(|name| !self.lookup(name).is_some_and(|e| e.weighted));
        names
    }

    /// The pre-encoded answers (`fast.rs`).
    pub fn fast(&self) -> &fast::Answers {
        &self.fast
    }

    /// Each set's served addresses (for the "now serving" events).
    pub fn served(&self) -> BTreeMap<String, Vec<IpAddr>> {
        self.entries
            .iter()
            .filter_map(|e| {
                let addresses = e.addresses.as_ref()?;
                Some((e.set.clone(), addresses.iter().map(|(ip, _)| *ip).collect()))
            })
            .collect()
    }

    /// The serial a zone answers now (tests, the log).
    pub fn serial(&self, zone: &str) -> Option<u32> {
        let zone = lower(zone);
        let z = self.zones.iter().find(|z| z.apex == zone)?;
        match &z.soa.data {
            RData::SOA(soa) => Some(soa.serial),
            _ => None,
        }
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

    /// The deepest zone `name` is in.
    fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones
            .iter()
            .filter(|z| name_is_under(name, &z.apex))
            .max_by_key(|z| z.apex.len())
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
        // RFC 6891 §6.1.3: we speak EDNS version 0 only.
        if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            return Reply::Answer(wire::header_only(request, ResponseCode::BADVERS));
        }
        let [query] = request.queries.as_slice() else {
            return Reply::Answer(wire::header_only(request, ResponseCode::FormErr));
        };
        let mut response = wire::header_only(request, ResponseCode::NoError);
        response.metadata.checking_disabled = request.metadata.checking_disabled;
        response.queries = request.queries.clone();
        let name = lower(&query.name().to_ascii());
        let zone = self.zone(&name);
        let entry = self.lookup(&name);
        if zone.is_none() && entry.is_none() {
            return Reply::NotOurs;
        }
        response.metadata.authoritative = true;
        if query.query_class() != DNSClass::IN && query.query_class() != DNSClass::ANY {
            response.metadata.response_code = ResponseCode::Refused;
            return Reply::Answer(response);
        }
        let qtype = query.query_type();
        let owner: Name = query.name().clone();
        if let Some(zone) = zone
            && name == zone.apex
        {
            match qtype {
                RecordType::SOA => response.answers.push(zone.soa.clone()),
                RecordType::NS => {
                    response.answers.extend(zone.ns.iter().cloned());
                    response
                        .additionals
                        .extend(zone.glue.values().flatten().cloned());
                }
                // ANY: a minimal answer (RFC 8482): the SOA.
                RecordType::ANY if entry.is_none() => response.answers.push(zone.soa.clone()),
                _ => {}
            }
            if !response.answers.is_empty() {
                return Reply::Answer(response);
            }
        }
        if let Some(entry) = entry {
            let Some(addresses) = &entry.addresses else {
                response.metadata.authoritative = false;
                response.metadata.response_code = ResponseCode::ServFail;
                return Reply::Answer(response);
            };
            for ip in choose(entry, addresses, qtype) {
                response
                    .answers
                    .push(address_record(owner.clone(), entry.ttl, ip));
            }
        } else if let Some(zone) = zone {
            if let Some(glue) = zone.glue.get(&name) {
                response.answers.extend(
                    glue.iter()
                        .filter(|r| r.record_type() == qtype || qtype == RecordType::ANY)
                        .cloned(),
                );
            } else if !zone.has(&name) {
                response.metadata.response_code = ResponseCode::NXDomain;
            }
        }
        if response.answers.is_empty()
            && let Some(zone) = zone
        {
            // NODATA or NXDOMAIN: the SOA tells resolvers how long to remember it.
            response.authorities.push(zone.negative_soa.clone());
        }
        Reply::Answer(response)
    }
}

/// A zone's content for a transfer (`transfer.rs`).
#[derive(Debug)]
pub struct ZoneRecords {
    /// The SOA (its serial names this version).
    pub soa: Record,
    /// NS, the glue inside the zone and every served name's addresses (all of them,
    /// whatever the weights: a secondary cannot walk them).
    pub records: Vec<Record>,
    /// Every served name of the zone has its addresses (none is still undecided).
    pub complete: bool,
}

impl Table {
    /// The records of the zone `apex` (lower case, no final dot) as it answers now.
    pub fn zone_records(&self, apex: &str) -> Option<ZoneRecords> {
        let zone = self.zones.iter().find(|z| z.apex == apex)?;
        let mut records = zone.ns.clone();
        for (owner, glue) in &zone.glue {
            if self.zone(owner).is_some_and(|z| z.apex == apex) {
                records.extend(glue.iter().cloned());
            }
        }
        let mut complete = true;
        let names = self.exact.iter().map(|(n, i)| (n.clone(), *i));
        let wildcards = self.wildcards.iter().map(|(n, i)| (format!("*.{n}"), *i));
        for (name, index) in names.chain(wildcards) {
            let in_zone = self
                .zone(name.strip_prefix("*.").unwrap_or(&name))
                .is_some_and(|z| z.apex == apex);
            let (Some(entry), Some(owner)) = (self.entries.get(index), dns_name(&name)) else {
                continue;
            };
            if !in_zone {
                continue;
            }
            match &entry.addresses {
                Some(addresses) => records.extend(
                    addresses
                        .iter()
                        .map(|(ip, _)| address_record(owner.clone(), entry.ttl, *ip)),
                ),
                None => complete = false,
            }
        }
        Some(ZoneRecords {
            soa: zone.soa.clone(),
            records,
            complete,
        })
    }

    /// The apexes of the zones (lower case, no final dot).
    pub fn zone_apexes(&self) -> impl Iterator<Item = &str> {
        self.zones.iter().map(|z| z.apex.as_str())
    }
}

/// The addresses of `entry` for `qtype`: A → IPv4, AAAA → IPv6, ANY → all (a minimal
/// answer, RFC 8482); with weighted round robin one of them, whose turn it is.
fn choose(entry: &Entry, addresses: &[(IpAddr, u32)], qtype: RecordType) -> Vec<IpAddr> {
    let wants = |ip: &IpAddr| match qtype {
        RecordType::A => ip.is_ipv4(),
        RecordType::AAAA => ip.is_ipv6(),
        RecordType::ANY => true,
        _ => false,
    };
    let candidates: Vec<(IpAddr, u32)> = addresses
        .iter()
        .copied()
        .filter(|(ip, _)| wants(ip))
        .collect();
    if entry.weighted && candidates.len() > 1 {
        pick_weighted(&candidates, entry.turn.fetch_add(1, Ordering::Relaxed))
            .into_iter()
            .collect()
    } else {
        candidates.iter().map(|(ip, _)| *ip).collect()
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

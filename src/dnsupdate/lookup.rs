//! DNS lookups shared by every update method (SPEC §4): the records a server gives for a
//! name, the zone that holds a name, and the zone's name servers. Always without
//! recursion: we want what *this* server says, not what it could find elsewhere.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::transport::{self, Deadline, EDNS_PAYLOAD, PLAIN_UDP_LIMIT, rcode_name};
use super::{DnsError, DnsStage, FailureKind, Records};

/// The A and AAAA records `server` gives for `host`, asked without recursion.
///
/// No such name (NXDOMAIN) or no such records (NODATA) is an empty [`Records`]; any other
/// refusal is an error that names the rcode. The TTL is the smallest of the records.
pub async fn current_records(
    server: SocketAddr,
    host: &str,
    edns0: bool,
    timeout: Duration,
) -> Result<Records, DnsError> {
    let stage = DnsStage::Asking;
    let name = absolute_name(host, stage)?;
    let deadline = Deadline::after(timeout);
    // Both questions at once: one round trip of waiting, not two.
    let (a, aaaa) = tokio::join!(
        ask(server, &name, RecordType::A, edns0, &deadline, stage),
        ask(server, &name, RecordType::AAAA, edns0, &deadline, stage),
    );
    let mut addresses = Vec::new();
    let mut ttl: Option<u32> = None;
    for (answer, rtype) in [(a?, "A"), (aaaa?, "AAAA")] {
        match answer.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => continue,
            other => {
                return Err(wrong(
                    stage,
                    format!(
                        "{} asking {server} for the {rtype} records",
                        rcode_name(other)
                    ),
                ));
            }
        }
        for (address, record_ttl) in addresses_with_ttl(&answer.answers, &name) {
            addresses.push(address);
            ttl = Some(ttl.map_or(record_ttl, |t| t.min(record_ttl)));
        }
    }
    Ok(Records::new(addresses, ttl))
}

/// The A and AAAA records of `name` itself in `records`, with their TTLs. Only the name's
/// own records: a CNAME chain is not what an update can change, and what a signed zone
/// adds (RRSIG, NSEC, NSEC3) is no address.
pub fn addresses_with_ttl(records: &[Record], name: &Name) -> Vec<(IpAddr, u32)> {
    records
        .iter()
        .filter(|r| r.name == *name)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some((IpAddr::V4(a.0), r.ttl)),
            RData::AAAA(a) => Some((IpAddr::V6(a.0), r.ttl)),
            _ => None,
        })
        .collect()
}

/// The zone an authoritative answer names for `name`: the owner of the SOA record (not its
/// RRSIG) in the answer, else in the authority section.
pub fn zone_in(answer: &Message, name: &Name) -> Option<Name> {
    let soa_owner = |records: &[Record]| {
        records
            .iter()
            .find(|r| r.record_type() == RecordType::SOA && r.name.zone_of(name))
            .map(|r| r.name.clone())
    };
    soa_owner(&answer.answers).or_else(|| soa_owner(&answer.authorities))
}

/// The zone that holds `host`, by SOA lookup at `server`. A wildcard `*.x` is looked up
/// from `x`. The zone comes from the SOA in the answer (the name is the apex) or in the
/// authority section (the name is inside); without either, the parent name is asked.
pub async fn find_zone(
    server: SocketAddr,
    host: &str,
    timeout: Duration,
) -> Result<String, DnsError> {
    let stage = DnsStage::FindingZone;
    let mut name = absolute_name(host, stage)?;
    if name.is_wildcard() {
        name = name.base_name();
    }
    let deadline = Deadline::after(timeout);
    let mut asked = name.clone();
    loop {
        let answer = ask(server, &asked, RecordType::SOA, true, &deadline, stage).await?;
        match answer.metadata.response_code {
            ResponseCode::NoError | ResponseCode::NXDomain => {}
            ResponseCode::Refused | ResponseCode::NotAuth => {
                return Err(not_authoritative(server, &name, &answer));
            }
            other => {
                return Err(wrong(
                    stage,
                    format!(
                        "{} asking {server} for the SOA of {asked}",
                        rcode_name(other)
                    ),
                ));
            }
        }
        if answer.metadata.authoritative {
            if let Some(zone) = zone_in(&answer, &name) {
                // Written as host names are in the settings: lower case (Knot echoes the case of
                // the question), without the final dot.
                return Ok(zone
                    .to_lowercase()
                    .to_ascii()
                    .trim_end_matches('.')
                    .to_string());
            }
        } else if answer
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NS)
        {
            // A referral: the name lives in a child zone served elsewhere.
            return Err(not_authoritative(server, &name, &answer));
        }
        if asked.is_root() {
            return Err(not_authoritative(server, &name, &answer));
        }
        asked = asked.base_name();
    }
}

/// One name server of a zone: its name (no final dot) and the addresses known for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameServer {
    pub name: String,
    /// From the additional section (glue), else as `server` gives them with authority.
    /// Empty when `server` does not know the name (it lies outside its zones): the
    /// caller resolves it elsewhere.
    pub addresses: Vec<IpAddr>,
}

/// The name servers of `zone`, as `server` lists them: the NS records, with their
/// addresses from the additional section, else asked at `server` (accepted only from an
/// authoritative answer: the name is in one of its zones).
pub async fn name_servers(
    server: SocketAddr,
    zone: &str,
    timeout: Duration,
) -> Result<Vec<NameServer>, DnsError> {
    let stage = DnsStage::Verifying;
    let zone = absolute_name(zone, stage)?;
    let deadline = Deadline::after(timeout);
    let answer = ask(server, &zone, RecordType::NS, true, &deadline, stage).await?;
    if answer.metadata.response_code != ResponseCode::NoError {
        return Err(wrong(
            stage,
            format!(
                "{} asking {server} for the NS records of {zone}",
                rcode_name(answer.metadata.response_code)
            ),
        ));
    }
    let targets = ns_targets(&answer, &zone);
    if targets.is_empty() {
        return Err(wrong(
            stage,
            format!("{server} gives no NS records for {zone}"),
        ));
    }
    let mut servers = Vec::new();
    for target in &targets {
        let mut addresses = addresses_of(&answer.additionals, target);
        if addresses.is_empty() {
            for rtype in [RecordType::A, RecordType::AAAA] {
                if let Ok(found) = ask(server, target, rtype, true, &deadline, stage).await
                    && found.metadata.response_code == ResponseCode::NoError
                    && found.metadata.authoritative
                {
                    addresses.extend(addresses_of(&found.answers, target));
                }
            }
        }
        addresses.sort();
        addresses.dedup();
        servers.push(NameServer {
            name: plain(target),
            addresses,
        });
    }
    Ok(servers)
}

/// The targets of the zone's own NS records in an answer, without duplicates; any other
/// record (RRSIG, NSEC of a signed zone) is passed over.
pub fn ns_targets(answer: &Message, zone: &Name) -> Vec<Name> {
    let mut targets: Vec<Name> = Vec::new();
    for record in answer.answers.iter().filter(|r| r.name == *zone) {
        if let RData::NS(ns) = &record.data
            && !targets.contains(&ns.0)
        {
            targets.push(ns.0.clone());
        }
    }
    targets
}

/// The addresses of `name` as a resolver gives them (RD set): every A and AAAA of the
/// answer, so that a CNAME chain the resolver followed counts too. Empty when it has none.
pub(crate) async fn resolve_at(
    resolver: SocketAddr,
    name: &str,
    timeout: Duration,
) -> Result<Vec<IpAddr>, DnsError> {
    let stage = DnsStage::Verifying;
    let name = absolute_name(name, stage)?;
    let deadline = Deadline::after(timeout);
    let (a, aaaa) = tokio::join!(
        exchange_query(resolver, &name, RecordType::A, true, true, &deadline, stage),
        exchange_query(
            resolver,
            &name,
            RecordType::AAAA,
            true,
            true,
            &deadline,
            stage
        ),
    );
    let mut addresses = Vec::new();
    for answer in [a?, aaaa?] {
        addresses.extend(answer.answers.iter().filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        }));
    }
    addresses.sort();
    addresses.dedup();
    Ok(addresses)
}

/// `ns1.example.test` for `ns1.example.test.`.
fn plain(name: &Name) -> String {
    name.to_lowercase()
        .to_ascii()
        .trim_end_matches('.')
        .to_string()
}

/// The addresses of `owner` among `records` (a name server's glue).
pub fn addresses_of(records: &[Record], owner: &Name) -> Vec<IpAddr> {
    records
        .iter()
        .filter(|r| r.name == *owner)
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(IpAddr::V4(a.0)),
            RData::AAAA(a) => Some(IpAddr::V6(a.0)),
            _ => None,
        })
        .collect()
}

/// `host` as an absolute name (a host name in the settings has no trailing dot); an
/// international name goes in its punycode form.
pub(crate) fn absolute_name(host: &str, stage: DnsStage) -> Result<Name, DnsError> {
    let ascii = crate::model::idn::ascii_or_same(host.trim());
    let trimmed = ascii.trim_end_matches('.');
    Name::from_ascii(format!("{trimmed}."))
        .ok()
        .filter(|n| !trimmed.is_empty() && !n.is_root())
        .ok_or_else(|| wrong(stage, format!("bad host name {host:?}")))
}

fn wrong(stage: DnsStage, text: String) -> DnsError {
    DnsError::new(FailureKind::WrongAnswer, stage, text)
}

fn not_authoritative(server: SocketAddr, name: &Name, answer: &Message) -> DnsError {
    let referral = answer.metadata.response_code == ResponseCode::NoError
        && answer
            .authorities
            .iter()
            .any(|r| r.record_type() == RecordType::NS);
    let said = if referral {
        "it refers to other name servers".to_string()
    } else {
        format!("it answered {}", rcode_name(answer.metadata.response_code))
    };
    wrong(
        DnsStage::FindingZone,
        format!("NOTAUTH: {server} is not authoritative for any zone that holds {name} ({said})"),
    )
}

/// One question to `server`, without recursion; the parsed answer whatever its rcode.
async fn ask(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    edns0: bool,
    deadline: &Deadline,
    stage: DnsStage,
) -> Result<Message, DnsError> {
    exchange_query(server, name, rtype, edns0, false, deadline, stage).await
}

/// One question to `server`; `recursion` sets RD (only a resolver is asked so).
async fn exchange_query(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    edns0: bool,
    recursion: bool,
    deadline: &Deadline,
    stage: DnsStage,
) -> Result<Message, DnsError> {
    let mut query = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    query.metadata.recursion_desired = recursion;
    query.add_query(Query::query(name.clone(), rtype));
    if edns0 {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD).set_version(0);
        query.set_edns(edns);
    }
    let bytes = query
        .to_vec()
        .map_err(|e| wrong(stage, format!("cannot encode the query for {name}: {e}")))?;
    let answer = transport::exchange(server, &bytes, PLAIN_UDP_LIMIT, deadline)
        .await
        .map_err(|e| e.into_dns(stage, deadline, server))?;
    Message::from_vec(&answer)
        .map_err(|e| wrong(stage, format!("malformed answer from {server}: {e}")))
}

/// Answers of a DNSSEC-signed zone (Knot 3.2 with `dnssec-signing: on`, asked with the DO
/// bit so that RRSIG and NSEC records come along), captured once as wire bytes.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod signed_answers {
    use super::*;

    fn parse(bytes: &[u8]) -> Message {
        Message::from_vec(bytes).unwrap()
    }

    fn name(text: &str) -> Name {
        Name::from_ascii(text).unwrap()
    }

    fn types(records: &[Record]) -> Vec<RecordType> {
        records.iter().map(Record::record_type).collect()
    }

    #[test]
    fn the_address_is_read_and_its_rrsig_passed_over() {
        let answer = parse(include_bytes!("testdata/signed_a.bin"));
        // The capture really is signed: the RRSIG is there to be ignored.
        assert!(types(&answer.answers).contains(&RecordType::RRSIG));
        let www = name("www.example.test.");
        assert_eq!(
            addresses_with_ttl(&answer.answers, &www),
            vec![("192.0.2.55".parse().unwrap(), 60)]
        );
    }

    #[test]
    fn nodata_and_nxdomain_with_nsec_give_no_address_and_the_zone() {
        let www = name("www.example.test.");
        let nodata = parse(include_bytes!("testdata/signed_aaaa_nodata.bin"));
        assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
        assert!(types(&nodata.authorities).contains(&RecordType::NSEC));
        assert!(addresses_with_ttl(&nodata.answers, &www).is_empty());
        assert!(addresses_with_ttl(&nodata.authorities, &www).is_empty());

        let nope = name("nope.example.test.");
        let nxdomain = parse(include_bytes!("testdata/signed_a_nxdomain.bin"));
        assert_eq!(nxdomain.metadata.response_code, ResponseCode::NXDomain);
        assert!(types(&nxdomain.authorities).contains(&RecordType::NSEC));
        assert_eq!(zone_in(&nxdomain, &nope), Some(name("example.test.")));

        // The SOA question below the apex: the zone from the SOA, not from its RRSIG or
        // the NSEC beside it.
        let soa = parse(include_bytes!("testdata/signed_soa_below_apex.bin"));
        assert!(types(&soa.authorities).contains(&RecordType::RRSIG));
        assert_eq!(zone_in(&soa, &www), Some(name("example.test.")));
    }

    #[test]
    fn name_servers_and_glue_are_read_past_their_signatures() {
        let zone = name("example.test.");
        let answer = parse(include_bytes!("testdata/signed_ns.bin"));
        assert!(types(&answer.answers).contains(&RecordType::RRSIG));
        assert_eq!(ns_targets(&answer, &zone), vec![name("ns1.example.test.")]);
        assert_eq!(
            addresses_of(&answer.additionals, &name("ns1.example.test.")),
            vec!["127.0.0.1".parse::<IpAddr>().unwrap()]
        );
    }
}

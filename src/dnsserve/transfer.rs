//! Standby as the primary of its zones (issue 15, a hidden primary for real secondaries):
//! AXFR (RFC 5936) and IXFR (RFC 1995) over TCP, limited to the zone's listed networks and
//! optionally TSIG-signed (RFC 8945).
//!
//! IXFR comes from a bounded journal of the versions the zone served, by serial: a
//! secondary on a version still in the journal gets one condensed difference (RFC 1995
//! §5 allows condensing), a current one the SOA alone, any other the whole zone in AXFR
//! form (what the RFC asks when the history is gone). Pure but for the journal's lock:
//! a request in, the encoded (and signed) messages out; the listeners send them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, OpCode, ResponseCode};
use hickory_proto::rr::{RData, Record, RecordType};

use super::answers::{Table, ZoneRecords};
use super::wire;
use crate::dnsupdate::tsig::{TsigError, TsigSigner};
use crate::model::options::{DnsZone, network_contains, parse_network};

/// Versions kept per zone: a secondary that missed more changes than this gets the
/// whole zone again (a few KB for a zone of failover names).
pub const KEPT_VERSIONS: usize = 32;
/// Records per message of a transfer: A/AAAA/NS/SOA records are at most ~300 bytes, so
/// a message stays far below the 64 KiB a TCP frame can carry.
const RECORDS_PER_MESSAGE: usize = 100;

/// One version of a zone: its SOA and its other records, sorted by their text.
#[derive(Debug)]
struct Version {
    serial: u32,
    soa: Record,
    records: BTreeMap<String, Record>,
}

impl Version {
    fn new(zone: ZoneRecords, serial: u32) -> Version {
        let records = zone
            .records
            .into_iter()
            .map(|r| (r.to_string().to_ascii_lowercase(), r))
            .collect();
        Version {
            serial,
            soa: zone.soa,
            records,
        }
    }
}

/// The versions each zone served, newest last, at most [`KEPT_VERSIONS`] each.
#[derive(Debug, Default)]
pub struct Journal {
    zones: Mutex<HashMap<String, VecDeque<Arc<Version>>>>,
}

/// `a` is newer than `b` in serial arithmetic (RFC 1982).
pub fn serial_newer(a: u32, b: u32) -> bool {
    a != b && a.wrapping_sub(b) < 0x8000_0000
}

fn soa_serial(record: &Record) -> Option<u32> {
    match &record.data {
        RData::SOA(soa) => Some(soa.serial),
        _ => None,
    }
}

impl Journal {
    /// Notes the version each zone of `table` serves; returns the zones (apex) whose
    /// version is new, to NOTIFY. A zone with a name not decided yet is not noted: it
    /// is not transferred either (SERVFAIL), so no secondary loads a zone with holes.
    pub fn record(&self, table: &Table) -> Vec<String> {
        let mut changed = Vec::new();
        let mut zones = match self.zones.lock() {
            Ok(z) => z,
            Err(poisoned) => poisoned.into_inner(),
        };
        let apexes: Vec<String> = table.zone_apexes().map(str::to_string).collect();
        zones.retain(|apex, _| apexes.contains(apex));
        for apex in apexes {
            let Some(content) = table.zone_records(&apex) else {
                continue;
            };
            let Some(serial) = soa_serial(&content.soa) else {
                continue;
            };
            if !content.complete {
                continue;
            }
            let versions = zones.entry(apex.clone()).or_default();
            if versions.back().is_some_and(|v| v.serial == serial) {
                continue;
            }
            versions.push_back(Arc::new(Version::new(content, serial)));
            while versions.len() > KEPT_VERSIONS {
                versions.pop_front();
            }
            changed.push(apex);
        }
        changed
    }

    fn version(&self, apex: &str, serial: u32) -> Option<Arc<Version>> {
        let zones = match self.zones.lock() {
            Ok(z) => z,
            Err(poisoned) => poisoned.into_inner(),
        };
        zones
            .get(apex)?
            .iter()
            .find(|v| v.serial == serial)
            .cloned()
    }
}

/// What the listener sends back, and why it refused, if it did (counted and logged).
#[derive(Debug, Default)]
pub struct Transfer {
    /// The encoded messages, in order (over UDP only the first is sent: there is one).
    pub messages: Vec<Vec<u8>>,
    /// Why the transfer was refused (for the log), if it was.
    pub refused: Option<String>,
    /// What was sent, for the log: `AXFR`, `IXFR 5 → 7`, `IXFR (current)`...
    pub sent: Option<String>,
}

/// A zone transfer request: one question of type AXFR or IXFR.
pub fn is_transfer(request: &Message) -> bool {
    request.metadata.op_code == OpCode::Query
        && matches!(
            request.queries.as_slice(),
            [q] if matches!(q.query_type(), RecordType::AXFR | RecordType::IXFR)
        )
}

/// A TSIG-signed SOA query for the apex of a zone that has a key: a secondary that was
/// given the key signs its refresh queries too, and takes only a signed answer.
pub fn is_signed_soa(request: &Message, zones: &[DnsZone]) -> bool {
    let [q] = request.queries.as_slice() else {
        return false;
    };
    request.signature().is_some()
        && request.metadata.op_code == OpCode::Query
        && q.query_type() == RecordType::SOA
        && zones.iter().any(|z| {
            z.transfer.key.is_some()
                && z.name
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(q.name().to_ascii().trim_end_matches('.'))
        })
}

/// Answers a transfer request (see [`is_transfer`]), or a signed SOA query (see
/// [`is_signed_soa`]: public data, so no network check, but the signature must hold) from `client`; `bytes` is the
/// request as received (its TSIG covers them), `now` seconds since 1970.
#[allow(clippy::too_many_arguments)]
pub fn answer(
    journal: &Journal,
    table: &Table,
    zones: &[DnsZone],
    request: &Message,
    bytes: &[u8],
    client: IpAddr,
    tcp: bool,
    now: u64,
) -> Transfer {
    let Some(query) = request.queries.first() else {
        return Transfer::default();
    };
    let apex = query
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let kind = query.query_type();
    let refuse = |why: String| Transfer {
        messages: error(request, ResponseCode::Refused, None, 0, now),
        refused: Some(why),
        sent: None,
    };
    let Some(config) = zones
        .iter()
        .find(|z| z.name.trim_end_matches('.').eq_ignore_ascii_case(&apex))
    else {
        return refuse(format!(
            "{kind} of {apex} from {client}: not a zone of ours"
        ));
    };
    let allowed = config
        .transfer
        .allowed_from
        .iter()
        .filter_map(|n| parse_network(n).ok())
        .any(|n| network_contains(n, client));
    if !allowed && kind != RecordType::SOA {
        return refuse(format!(
            "{kind} of {apex} from {client}: not in the zone's transfer.allowed_from"
        ));
    }
    // With a key, the request must carry its signature; the answer is signed with it.
    let mut signing = None;
    if let Some(key) = &config.transfer.key {
        let signer = match TsigSigner::new(key) {
            Ok(s) => s,
            Err(e) => {
                return Transfer {
                    messages: error(request, ResponseCode::ServFail, None, 0, now),
                    refused: Some(format!("{kind} of {apex}: the zone's key: {e}")),
                    sent: None,
                };
            }
        };
        match signer.verify_request(bytes, request, now) {
            Ok(mac) => signing = Some((signer, mac)),
            Err(TsigError::Unsigned) => {
                return refuse(format!(
                    "{kind} of {apex} from {client}: not TSIG-signed (the zone requires its key)"
                ));
            }
            Err(e) => {
                let code = TsigSigner::error_code(&e);
                return Transfer {
                    messages: error(request, ResponseCode::NotAuth, Some(&signer), code, now),
                    refused: Some(format!("{kind} of {apex} from {client}: {e}")),
                    sent: None,
                };
            }
        }
    }
    let Some(current) = table.zone_records(&apex) else {
        return refuse(format!("{kind} of {apex}: the zone is not served"));
    };
    let Some(serial) = soa_serial(&current.soa) else {
        return Transfer::default();
    };
    if !current.complete {
        // A secondary keeps its copy and retries; it never loads a zone with holes.
        return Transfer {
            messages: error(request, ResponseCode::ServFail, None, 0, now),
            refused: Some(format!(
                "{kind} of {apex}: a name of the zone is not decided yet (SERVFAIL)"
            )),
            sent: None,
        };
    }
    let soa = current.soa.clone();
    let (records, sent) = match kind {
        RecordType::AXFR if !tcp => {
            // RFC 5936 §4.2: AXFR is defined over TCP only.
            return Transfer {
                messages: error(request, ResponseCode::FormErr, None, 0, now),
                refused: Some(format!("AXFR of {apex} from {client} over UDP")),
                sent: None,
            };
        }
        RecordType::AXFR => (whole(current), format!("AXFR of {apex} serial {serial}")),
        RecordType::SOA => (vec![soa], format!("signed SOA of {apex} serial {serial}")),
        _ => {
            let asked = request.authorities.iter().find_map(soa_serial);
            let Some(asked) = asked else {
                return Transfer {
                    messages: error(request, ResponseCode::FormErr, None, 0, now),
                    refused: Some(format!("IXFR of {apex} from {client} without an SOA")),
                    sent: None,
                };
            };
            if asked == serial || serial_newer(asked, serial) || !tcp {
                // Current (or ahead): the SOA alone. Over UDP the SOA alone too: it
                // tells the secondary to come back over TCP (RFC 1995 §2).
                let text = format!("IXFR of {apex}: serial {asked} asked, {serial} current");
                (vec![soa], text)
            } else {
                match journal.version(&apex, asked) {
                    Some(old) => {
                        let text = format!("IXFR of {apex} serial {asked} → {serial}");
                        (difference(&old, Version::new(current, serial)), text)
                    }
                    None => {
                        let text = format!(
                            "IXFR of {apex} serial {asked} → {serial} (as AXFR: {asked} not in the journal)"
                        );
                        (whole(current), text)
                    }
                }
            }
        }
    };
    Transfer {
        messages: messages(request, &records, signing),
        refused: None,
        // Refresh queries come every few minutes: only transfers are logged.
        sent: (kind != RecordType::SOA).then(|| format!("{sent} to {client}")),
    }
}

/// The whole zone: SOA, the records, SOA again (RFC 5936 §2.2).
fn whole(zone: ZoneRecords) -> Vec<Record> {
    let mut records = Vec::with_capacity(zone.records.len() + 2);
    records.push(zone.soa.clone());
    records.extend(zone.records);
    records.push(zone.soa);
    records
}

/// One condensed difference (RFC 1995 §4): the new SOA, the old SOA, what went away,
/// the new SOA, what came, the new SOA.
fn difference(old: &Version, new: Version) -> Vec<Record> {
    let mut records = vec![new.soa.clone(), old.soa.clone()];
    records.extend(
        old.records
            .iter()
            .filter(|(k, _)| !new.records.contains_key(*k))
            .map(|(_, r)| r.clone()),
    );
    records.push(new.soa.clone());
    records.extend(
        new.records
            .iter()
            .filter(|(k, _)| !old.records.contains_key(*k))
            .map(|(_, r)| r.clone()),
    );
    records.push(new.soa);
    records
}

/// A response to `request` with its question (and OPT, if it had one).
fn response(request: &Message, code: ResponseCode) -> Message {
    let mut response = wire::header_only(request, code);
    response.queries = request.queries.clone();
    response.metadata.authoritative = code == ResponseCode::NoError;
    response
}

/// An error answer; NOTAUTH for a bad signature carries the TSIG error unsigned.
fn error(
    request: &Message,
    code: ResponseCode,
    signer: Option<&TsigSigner>,
    tsig_error: u16,
    now: u64,
) -> Vec<Vec<u8>> {
    let Ok(mut bytes) = response(request, code).to_vec() else {
        return Vec::new();
    };
    if let Some(signer) = signer {
        signer.append_error(&mut bytes, tsig_error, now);
    }
    vec![bytes]
}

/// The records in messages of at most [`RECORDS_PER_MESSAGE`], each signed when the
/// request was (every message: RFC 8945 §5.3.1 asks for the first and last at least).
fn messages(
    request: &Message,
    records: &[Record],
    signing: Option<(TsigSigner, Vec<u8>)>,
) -> Vec<Vec<u8>> {
    let now = crate::dnsupdate::tsig::now_unix();
    let mut out = Vec::new();
    let mut prior = signing.as_ref().map(|(_, mac)| mac.clone());
    for (i, chunk) in records.chunks(RECORDS_PER_MESSAGE).enumerate() {
        let mut message = response(request, ResponseCode::NoError);
        message.answers = chunk.to_vec();
        let Ok(bytes) = message.to_vec() else {
            return error(request, ResponseCode::ServFail, None, 0, now);
        };
        match (&signing, &prior) {
            (Some((signer, _)), Some(mac)) => match signer.sign_answer(&bytes, mac, i == 0, now) {
                Ok((signed, mac)) => {
                    out.push(signed);
                    prior = Some(mac);
                }
                Err(_) => return error(request, ResponseCode::ServFail, None, 0, now),
            },
            _ => out.push(bytes),
        }
    }
    out
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;

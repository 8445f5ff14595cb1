//! Pre-encoded answers (issue 15, item 6). When the table changes, the answer to each
//! common question about each of our names is encoded once, by the table itself (so it is
//! exactly what [`Table::answer`] gives); per query only the ID, RD and CD, the case of the
//! question and the OPT record are patched in. Anything out of the ordinary — several
//! questions, a compressed or unknown name, EDNS options or a version above 0, a weighted
//! name whose every answer differs — is left to the full path.

use std::collections::HashMap;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RecordType};

use super::answers::{Reply, Table};
use super::wire;

/// The types pre-encoded for each name: what resolvers and browsers ask most.
const TYPES: [RecordType; 7] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::SOA,
    RecordType::NS,
    RecordType::MX,
    RecordType::TXT,
    RecordType::HTTPS,
];

/// A DNS header.
const HEADER: usize = 12;
/// The longest name on the wire (RFC 1035 §2.3.4).
const MAX_NAME: usize = 255;
const OPT: u16 = 41;
const CLASS_IN: u16 = 1;

/// The answers of one table, by question: the question name on the wire in lower case,
/// then its type (2 bytes). Each answer is encoded for ID 0, RD and CD clear, no OPT.
#[derive(Debug, Default)]
pub struct Answers {
    by_question: HashMap<Box<[u8]>, Box<[u8]>>,
}

/// What the fast path needs of a query, read straight from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question<'a> {
    packet: &'a [u8],
    /// The question name as asked (case kept), with its final zero byte.
    name: &'a [u8],
    qtype: u16,
    /// The OPT record's payload size and DO bit, if the query had one.
    edns: Option<(u16, bool)>,
}

impl Answers {
    /// Encodes the answers to the usual questions about every name of `table` whose
    /// answer does not change from one query to the next.
    pub fn build(table: &Table, names: impl Iterator<Item = String>) -> Answers {
        let mut by_question = HashMap::new();
        for name in names {
            // Asked in upper case, because hickory compresses names case-sensitively:
            // then the records' owners point at the question (and take the client's
            // case when it is patched in), while the zone's own names (an NS target, the
            // SOA's owner) are spelt out as configured, as the full path gives them to a
            // client asking in mixed case.
            let upper = name.trim_end_matches('.').to_ascii_uppercase();
            let Ok(owner) = Name::from_ascii(format!("{upper}.")) else {
                continue;
            };
            for qtype in TYPES {
                let mut request = Message::new(0, MessageType::Query, OpCode::Query);
                request.add_query(Query::query(owner.clone(), qtype));
                let Reply::Answer(response) = table.answer(&request) else {
                    continue;
                };
                let Ok(bytes) = response.to_vec() else {
                    continue;
                };
                let Some(key) = answer_key(&bytes) else {
                    continue;
                };
                by_question.insert(key, bytes.into_boxed_slice());
            }
        }
        Answers { by_question }
    }

    /// The number of pre-encoded answers.
    pub fn len(&self) -> usize {
        self.by_question.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_question.is_empty()
    }

    /// Writes the answer to `question` into `out` (cleared first), if one is pre-encoded
    /// and fits `limit` bytes; `false` leaves the query to the full path.
    pub fn answer(&self, question: &Question, limit: usize, out: &mut Vec<u8>) -> bool {
        let mut buf = [0u8; MAX_NAME + 2];
        let n = question.name.len();
        for (to, from) in buf.iter_mut().zip(question.name) {
            *to = from.to_ascii_lowercase();
        }
        buf[n..n + 2].copy_from_slice(&question.qtype.to_be_bytes());
        let Some(encoded) = self.by_question.get(&buf[..n + 2]) else {
            return false;
        };
        let opt_len = if question.edns.is_some() { 11 } else { 0 };
        if encoded.len() + opt_len > limit {
            return false;
        }
        let packet = question.packet;
        out.clear();
        out.extend_from_slice(encoded);
        out[..2].copy_from_slice(&packet[..2]);
        // RD is copied (RFC 1035 §4.1.1), and CD as the full path does.
        out[2] |= packet[2] & 0x01;
        out[3] |= packet[3] & 0x10;
        // The question as the client wrote it (resolvers check the 0x20 case bits); the
        // records' owners point at it.
        out[HEADER..HEADER + n].copy_from_slice(question.name);
        if let Some((_, dnssec_ok)) = question.edns {
            let additionals = u16::from_be_bytes([out[10], out[11]]).saturating_add(1);
            out[10..12].copy_from_slice(&additionals.to_be_bytes());
            // Root name, OPT, our payload size, extended RCODE 0, version 0, DO echoed,
            // no options: what `wire::answer_edns` encodes.
            out.extend_from_slice(&[0, 0, 41]);
            out.extend_from_slice(&wire::UDP_PAYLOAD.to_be_bytes());
            out.extend_from_slice(&[0, 0, if dnssec_ok { 0x80 } else { 0 }, 0, 0, 0]);
        }
        true
    }
}

impl Question<'_> {
    /// The largest UDP answer this query may get (as [`wire::udp_limit`]).
    pub fn udp_limit(&self) -> usize {
        match self.edns {
            Some((size, _)) => usize::from(size.clamp(512, wire::UDP_PAYLOAD)),
            None => wire::CLASSIC_UDP,
        }
    }
}

fn u16_at(packet: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*packet.get(at)?, *packet.get(at + 1)?]))
}

/// The question of a message: its name (up to the final zero byte), its type, and where
/// it ends. `None` unless the class is IN and the name uncompressed.
fn question_at(packet: &[u8]) -> Option<(&[u8], u16, usize)> {
    let mut at = HEADER;
    loop {
        let len = usize::from(*packet.get(at)?);
        if len & 0xc0 != 0 {
            return None;
        }
        at += 1 + len;
        if at - HEADER > MAX_NAME {
            return None;
        }
        if len == 0 {
            break;
        }
    }
    let name = packet.get(HEADER..at)?;
    let qtype = u16_at(packet, at)?;
    if u16_at(packet, at + 2)? != CLASS_IN {
        return None;
    }
    Some((name, qtype, at + 4))
}

/// The lookup key of an encoded answer (its question).
fn answer_key(answer: &[u8]) -> Option<Box<[u8]>> {
    let (name, qtype, _) = question_at(answer)?;
    let mut key: Vec<u8> = name.iter().map(u8::to_ascii_lowercase).collect();
    key.extend_from_slice(&qtype.to_be_bytes());
    Some(key.into_boxed_slice())
}

/// Reads a plain query — QR clear, opcode QUERY, TC clear, one question of class IN with
/// an uncompressed name, no answer or authority records, at most an OPT record of
/// version 0 without options, nothing after. Anything else is `None`: the full path.
pub fn parse(packet: &[u8]) -> Option<Question<'_>> {
    let flags = u16_at(packet, 2)?;
    if flags & 0xfa00 != 0 {
        return None;
    }
    let counts = (
        u16_at(packet, 4)?,
        u16_at(packet, 6)?,
        u16_at(packet, 8)?,
        u16_at(packet, 10)?,
    );
    let (name, qtype, mut at) = question_at(packet)?;
    let edns = match counts {
        (1, 0, 0, 0) => None,
        (1, 0, 0, 1) => {
            // The OPT record: root name, type, payload size, extended RCODE, version,
            // flags, RDATA length.
            let opt = packet.get(at..at + 11)?;
            if opt[0] != 0 || u16::from_be_bytes([opt[1], opt[2]]) != OPT {
                return None;
            }
            let (extended_rcode, version) = (opt[5], opt[6]);
            let rdata_len = u16::from_be_bytes([opt[9], opt[10]]);
            if extended_rcode != 0 || version != 0 || rdata_len != 0 {
                return None;
            }
            at += 11;
            Some((u16::from_be_bytes([opt[3], opt[4]]), opt[7] & 0x80 != 0))
        }
        _ => return None,
    };
    (at == packet.len()).then_some(Question {
        packet,
        name,
        qtype,
        edns,
    })
}

#[cfg(test)]
#[path = "fast_tests.rs"]
mod tests;

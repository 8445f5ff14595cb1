//! Sizes on the wire (pure): how large a UDP answer may be, answers that carry the header
//! only, and cutting an answer (ours or a forwarded one) to the client's limit with TC.
//! Together they make the rule that no UDP answer is ever larger than the client allows,
//! so that a spoofed query cannot turn Standby into an amplifier.

use hickory_proto::op::{Edns, Message, ResponseCode};

/// The UDP payload we accept and advertise with EDNS0 (the 2020 DNS flag day's size).
pub const UDP_PAYLOAD: u16 = 1232;
/// Answers to a client without EDNS0 must fit the classic limit (RFC 1035).
pub const CLASSIC_UDP: usize = 512;
/// A DNS header.
const HEADER: usize = 12;

/// The largest UDP answer `request` may get: 512 without EDNS, else the size it
/// advertises (at least 512, RFC 6891 §6.2.5), but never more than we advertise.
pub fn udp_limit(request: &Message) -> usize {
    match &request.edns {
        Some(edns) => usize::from(edns.max_payload().clamp(512, UDP_PAYLOAD)),
        None => CLASSIC_UDP,
    }
}

/// The OPT record of our answers to a request that had one: version 0, our payload size,
/// DO echoed (RFC 3225), no options, the other flag bits zero.
pub fn answer_edns(request: &Message) -> Option<Edns> {
    let asked = request.edns.as_ref()?;
    let mut edns = Edns::new();
    edns.set_max_payload(UDP_PAYLOAD);
    edns.set_dnssec_ok(asked.flags().dnssec_ok);
    Some(edns)
}

/// An answer that carries the header alone (and an OPT record if the request had one):
/// no question is copied back, so an answer is never larger than a few bytes whatever
/// was asked — for FORMERR and NOTIMP.
pub fn header_only(request: &Message, code: ResponseCode) -> Message {
    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.metadata.response_code = code;
    if let Some(edns) = answer_edns(request) {
        response.set_edns(edns);
    }
    response
}

/// Encodes `response` for UDP within `limit` bytes: whole if it fits, else with TC set,
/// the question and OPT kept and the records dropped (the client asks again over TCP),
/// else the bare header with TC.
pub fn fit_udp(response: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    let truncated = response.truncate().to_vec().ok()?;
    if truncated.len() <= limit {
        return Some(truncated);
    }
    Some(bare_truncated_header(&bytes))
}

/// Cuts a forwarded answer to `limit` bytes for UDP: unchanged if it fits, else its
/// header and question with TC set (the OPT record kept if it still fits), else its
/// bare header with TC.
pub fn fit_forwarded(answer: Vec<u8>, limit: usize) -> Vec<u8> {
    if answer.len() <= limit {
        return answer;
    }
    if let Ok(message) = Message::from_vec(&answer)
        && let Some(bytes) = fit_udp(&message, limit)
    {
        return bytes;
    }
    bare_truncated_header(&answer)
}

/// The first 12 bytes of `message` with TC set and every section count zero.
fn bare_truncated_header(message: &[u8]) -> Vec<u8> {
    let mut header = [0u8; HEADER];
    let n = message.len().min(HEADER);
    header[..n].copy_from_slice(&message[..n]);
    header[2] |= 0x02; // TC
    header[4..].fill(0);
    header.to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use hickory_proto::op::{MessageType, OpCode, Query};
    use hickory_proto::rr::rdata::TXT;
    use hickory_proto::rr::{Name, RData, Record, RecordType};

    fn request(questions: usize, edns: Option<u16>) -> Message {
        let mut m = Message::new(7, MessageType::Query, OpCode::Query);
        for i in 0..questions {
            let name =
                Name::from_ascii(format!("q{i}.some-long-label-to-make-it-big.test.")).unwrap();
            m.add_query(Query::query(name, RecordType::A));
        }
        if let Some(size) = edns {
            let mut e = Edns::new();
            e.set_max_payload(size);
            m.set_edns(e);
        }
        m
    }

    #[test]
    fn limits_follow_edns() {
        assert_eq!(udp_limit(&request(1, None)), 512);
        assert_eq!(udp_limit(&request(1, Some(100))), 512);
        assert_eq!(udp_limit(&request(1, Some(800))), 800);
        assert_eq!(udp_limit(&request(1, Some(65000))), 1232);
    }

    #[test]
    fn an_error_answer_carries_the_header_only() {
        let asked = request(240, None);
        let bytes = header_only(&asked, ResponseCode::FormErr).to_vec().unwrap();
        assert_eq!(bytes.len(), HEADER);
        let with_edns = header_only(&request(240, Some(4096)), ResponseCode::NotImp);
        assert_eq!(with_edns.to_vec().unwrap().len(), HEADER + 11);
    }

    #[test]
    fn nothing_over_the_limit_leaves() {
        // A question section alone bigger than the limit: the bare header with TC.
        let mut big = request(100, None);
        big.metadata.message_type = MessageType::Response;
        let bytes = fit_udp(&big, 512).unwrap();
        assert_eq!(bytes.len(), HEADER);
        assert_eq!(bytes[2] & 0x02, 0x02);
        // Records over the limit: question kept, TC set.
        let mut answer = request(1, Some(1232));
        let owner = answer.queries[0].name().clone();
        for _ in 0..10 {
            let text = TXT::new(vec!["x".repeat(200)]);
            answer.add_answer(Record::from_rdata(owner.clone(), 60, RData::TXT(text)));
        }
        let whole = answer.to_vec().unwrap();
        assert!(whole.len() > 1232);
        let cut = fit_forwarded(whole.clone(), 1232);
        let parsed = Message::from_vec(&cut).unwrap();
        assert!(parsed.metadata.truncation && parsed.answers.is_empty());
        assert_eq!(parsed.queries.len(), 1);
        assert!(parsed.edns.is_some());
        // Unparsable and too big: the header with TC.
        let cut = fit_forwarded(whole[..1300].to_vec(), 512);
        assert_eq!(cut.len(), HEADER);
        // Small enough: untouched.
        assert_eq!(fit_forwarded(whole.clone(), 65535), whole);
    }
}

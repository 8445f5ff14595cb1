//! RFC 2136 dynamic update, optionally TSIG-signed (RFC 8945).
//!
//! One UPDATE message per host name: delete the A and AAAA RRsets, add the wanted records.
//! The server applies a message as a whole, so clients never see the name without records
//! or with half of the new ones.

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};

use super::lookup::absolute_name;
use super::transport::{self, Deadline, PLAIN_UDP_LIMIT, rcode_name};
use super::tsig::{SignedRequest, TsigSigner, now_unix};
use super::{BoxFuture, BuildError, DnsError, DnsStage, DnsUpdater, FailureKind, UpdateRequest};
use crate::model::Rfc2136Update;

/// Updates by RFC 2136, signed when the settings hold a key.
#[derive(Debug)]
pub struct Rfc2136Updater {
    signer: Option<TsigSigner>,
}

impl Rfc2136Updater {
    pub fn new(settings: &Rfc2136Update) -> Result<Self, BuildError> {
        let signer = settings
            .tsig
            .as_ref()
            .map(TsigSigner::new)
            .transpose()
            .map_err(|e| BuildError::Invalid(e.to_string()))?;
        Ok(Self { signer })
    }

    async fn run(&self, request: &UpdateRequest) -> Result<String, DnsError> {
        let stage = DnsStage::Updating;
        let deadline = Deadline::after(request.timeout);
        let zone = absolute_name(&request.zone, stage)?;
        let host = absolute_name(&request.host, stage)?;
        let message = update_message(&zone, &host, &request.wanted.addresses, request.ttl);

        let signed: Option<(SignedRequest, &TsigSigner)> = match &self.signer {
            Some(signer) => Some((
                signer
                    .sign(&message, now_unix())
                    .map_err(|e| wrong(e.to_string()))?,
                signer,
            )),
            None => None,
        };
        let bytes = match &signed {
            Some((signed, _)) => signed.bytes.clone(),
            None => message
                .to_vec()
                .map_err(|e| wrong(format!("cannot encode the update: {e}")))?,
        };
        let answer = transport::exchange(request.server, &bytes, PLAIN_UDP_LIMIT, &deadline)
            .await
            .map_err(|e| e.into_dns(stage, &deadline, request.server))?;
        let signed = signed.as_ref().map(|(request, signer)| (request, *signer));
        judge_answer(&answer, signed, request.server, now_unix())
    }
}

/// What the answer to an update says (the pure part of an update, which the fuzz target
/// `dnsupdate_answer` drives): parsed, its TSIG checked against the signed request if
/// there is one, then its rcode. `Ok` is `NOERROR`.
pub fn judge_answer(
    answer: &[u8],
    signed: Option<(&SignedRequest, &TsigSigner)>,
    server: std::net::SocketAddr,
    now: u64,
) -> Result<String, DnsError> {
    let parsed = Message::from_vec(answer)
        .map_err(|e| wrong(format!("malformed answer to the update from {server}: {e}")))?;
    let rcode = parsed.metadata.response_code;
    if let Some((signed, signer)) = signed {
        match signer.verify(signed, answer, &parsed, now) {
            Ok(()) => {}
            // A server that does not sign its refusal (no key configured, say) still
            // told us why in its rcode, which says more than "unsigned".
            Err(super::tsig::TsigError::Unsigned) if rcode != ResponseCode::NoError => {}
            Err(e) => return Err(wrong(e.to_string())),
        }
    }
    match rcode {
        ResponseCode::NoError => Ok("NOERROR".into()),
        other => Err(wrong(explain(other))),
    }
}

impl DnsUpdater for Rfc2136Updater {
    fn update<'a>(&'a self, request: &'a UpdateRequest) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(self.run(request))
    }
}

fn wrong(text: String) -> DnsError {
    DnsError::new(FailureKind::WrongAnswer, DnsStage::Updating, text)
}

/// The rcode first (what operators search for), then what it means for an update.
fn explain(rcode: ResponseCode) -> String {
    let name = rcode_name(rcode);
    let meaning = match rcode {
        ResponseCode::Refused => {
            "the server refused the update (not allowed without a key, or by its policy)"
        }
        ResponseCode::NotAuth => {
            "the server is not authoritative for the zone (or did not accept the key)"
        }
        ResponseCode::NotZone => "the host name is not in the zone",
        ResponseCode::ServFail => "the server failed to apply the update",
        ResponseCode::FormErr => "the server could not read the update",
        ResponseCode::NotImp => "the server does not support dynamic updates",
        _ => return name,
    };
    format!("{name}: {meaning}")
}

/// The UPDATE message (RFC 2136 §2): zone section = the zone's SOA question; no
/// prerequisites; updates = delete the A RRset, delete the AAAA RRset, add each wanted
/// address.
fn update_message(zone: &Name, host: &Name, wanted: &[IpAddr], ttl: u32) -> Message {
    let mut message = Message::new(rand::random(), MessageType::Query, OpCode::Update);
    message.metadata.recursion_desired = false;
    let mut zone_question = Query::query(zone.clone(), RecordType::SOA);
    zone_question.set_query_class(DNSClass::IN);
    message.add_query(zone_question);
    for rtype in [RecordType::A, RecordType::AAAA] {
        // RFC 2136 §2.5.2: class ANY, TTL 0, no rdata = delete the RRset.
        let mut delete = Record::update0(host.clone(), 0, rtype);
        delete.dns_class = DNSClass::ANY;
        message.add_authority(delete);
    }
    for address in wanted {
        let data = match address {
            IpAddr::V4(v4) => RData::A(A(*v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(*v6)),
        };
        message.add_authority(Record::from_rdata(host.clone(), ttl, data));
    }
    message
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn one_message_deletes_both_rrsets_then_adds() {
        let zone = Name::from_ascii("example.test.").unwrap();
        let host = Name::from_ascii("*.www.example.test.").unwrap();
        let wanted: Vec<IpAddr> =
            vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        let message = update_message(&zone, &host, &wanted, 90);
        let parsed = Message::from_vec(&message.to_vec().unwrap()).unwrap();
        assert_eq!(parsed.metadata.op_code, OpCode::Update);
        assert_eq!(parsed.queries[0].query_type(), RecordType::SOA);
        let updates = &parsed.authorities;
        assert_eq!(updates.len(), 4);
        assert_eq!(updates[0].dns_class, DNSClass::ANY);
        assert_eq!(updates[0].record_type(), RecordType::A);
        assert_eq!(updates[1].record_type(), RecordType::AAAA);
        assert_eq!(updates[2].data, RData::A(A("192.0.2.1".parse().unwrap())));
        assert_eq!(updates[3].ttl, 90);
        assert_eq!(updates[3].dns_class, DNSClass::IN);
    }

    #[test]
    fn refusals_name_their_rcode() {
        assert!(explain(ResponseCode::Refused).starts_with("REFUSED: "));
        assert!(explain(ResponseCode::NotZone).starts_with("NOTZONE: "));
        assert_eq!(explain(ResponseCode::YXRRSet), "YXRRSET");
    }

    #[test]
    fn a_bad_secret_is_a_build_error_without_the_secret() {
        let settings = Rfc2136Update {
            tsig: Some(crate::model::TsigKey {
                name: "k".into(),
                algorithm: crate::model::TsigAlgorithm::HmacMd5,
                secret: crate::model::Secret::new("%%secret%%"),
            }),
        };
        let error = Rfc2136Updater::new(&settings).unwrap_err().to_string();
        assert!(
            error.contains("base64") && !error.contains("secret%"),
            "{error}"
        );
    }
}

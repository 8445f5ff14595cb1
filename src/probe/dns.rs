//! DNS polling (SPEC §1): ask the server being polled for a host name's A or AAAA records,
//! with RD on or off; optionally the answer must hold a given address and be authoritative.
//!
//! One query and its answer need no client machinery, so the message is built and read
//! with hickory-proto and sent over a plain socket: UDP, then TCP if the answer was
//! truncated.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::{
    BoxFuture, BuildError, FailureKind, PollOutcome, PollStage, PollTarget, Probe, StageError,
    io_failure, seconds, stage,
};
use crate::model::{AddressRecordType, DnsPoll};

/// A UDP query without an answer is sent again after this long (a lost datagram is not a
/// dead server).
const RESEND_AFTER: Duration = Duration::from_secs(2);

/// A DNS poll, ready to poll any server of its set.
pub struct DnsProbe {
    name: Name,
    record_type: RecordType,
    port: u16,
    recursion_desired: bool,
    expect: Option<IpAddr>,
    require_authoritative: bool,
}

impl DnsProbe {
    pub fn new(settings: &DnsPoll) -> Result<Self, BuildError> {
        let host = settings.host_name.trim();
        let mut name = Name::from_utf8(host)
            .map_err(|e| BuildError::Invalid(format!("bad host name {host:?}: {e}")))?;
        // The name is always meant from the root: `www.example.com` is not relative to a
        // search domain.
        name.set_fqdn(true);
        let record_type = match settings.record_type {
            AddressRecordType::A => RecordType::A,
            AddressRecordType::Aaaa => RecordType::AAAA,
        };
        let expect = match settings.expect_address.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let ip: IpAddr = text.parse().map_err(|_| {
                    BuildError::Invalid(format!("expected address {text:?} is not an IP address"))
                })?;
                if ip.is_ipv6() != (record_type == RecordType::AAAA) {
                    return Err(BuildError::Invalid(format!(
                        "expected address {ip} cannot be in an answer of type {record_type}"
                    )));
                }
                Some(ip)
            }
        };
        Ok(Self {
            name,
            record_type,
            port: settings.port,
            recursion_desired: settings.recursion_desired,
            expect,
            require_authoritative: settings.require_authoritative,
        })
    }

    fn query(&self) -> Result<(u16, Vec<u8>), StageError> {
        let mut message = Message::query();
        message.metadata.recursion_desired = self.recursion_desired;
        message.add_query(Query::query(self.name.clone(), self.record_type));
        let bytes = message.to_vec().map_err(|e| {
            StageError::new(FailureKind::Network, PollStage::Sending, e.to_string())
        })?;
        Ok((message.metadata.id, bytes))
    }

    async fn run(&self, target: &PollTarget, deadline: Instant) -> Result<String, StageError> {
        let server = SocketAddr::new(target.address, self.port);
        let (id, query) = self.query()?;
        let waiting = format!("after {} s waiting for the answer", seconds(target.timeout));
        let mut answer = stage(
            deadline,
            PollStage::Waiting,
            &waiting,
            ask_udp(server, id, &query),
        )
        .await??;
        if answer.metadata.truncation {
            answer = stage(
                deadline,
                PollStage::Waiting,
                &waiting,
                ask_tcp(server, id, &query),
            )
            .await??;
        }
        self.judge(&answer)
    }

    fn judge(&self, answer: &Message) -> Result<String, StageError> {
        let rcode = answer.metadata.response_code;
        let addresses: Vec<IpAddr> = answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) if self.record_type == RecordType::A => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) if self.record_type == RecordType::AAAA => Some(IpAddr::V6(a.0)),
                _ => None,
            })
            .collect();
        let listed = if addresses.is_empty() {
            format!("no {} record", self.record_type)
        } else {
            addresses
                .iter()
                .map(IpAddr::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        };
        let aa = if answer.metadata.authoritative {
            " (authoritative)"
        } else {
            ""
        };
        let text = format!("{}: {listed}{aa}", rcode_name(rcode));
        let wrong = |why: String| {
            StageError::new(
                FailureKind::WrongAnswer,
                PollStage::Judging,
                format!("{text}: {why}"),
            )
        };
        if rcode != ResponseCode::NoError {
            return Err(StageError::new(
                FailureKind::WrongAnswer,
                PollStage::Judging,
                format!(
                    "{} for {} {}",
                    rcode_name(rcode),
                    self.name,
                    self.record_type
                ),
            ));
        }
        if self.require_authoritative && !answer.metadata.authoritative {
            return Err(wrong("not authoritative (AA not set)".into()));
        }
        if let Some(expect) = self.expect
            && !addresses.contains(&expect)
        {
            return Err(wrong(format!("{expect} is not in the answer")));
        }
        Ok(text)
    }
}

impl Probe for DnsProbe {
    fn poll<'a>(&'a self, target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move {
            let start = Instant::now();
            match self.run(target, start + target.timeout).await {
                Ok(text) => PollOutcome::success(text, start.elapsed()),
                Err(e) => e.into_outcome(start.elapsed()),
            }
        })
    }
}

/// The mnemonic operators know from dig (`NOERROR`, `NXDOMAIN`), not hickory's prose.
fn rcode_name(rcode: ResponseCode) -> String {
    match rcode {
        ResponseCode::NoError => "NOERROR".into(),
        ResponseCode::FormErr => "FORMERR".into(),
        ResponseCode::ServFail => "SERVFAIL".into(),
        ResponseCode::NXDomain => "NXDOMAIN".into(),
        ResponseCode::NotImp => "NOTIMP".into(),
        ResponseCode::Refused => "REFUSED".into(),
        ResponseCode::NotAuth => "NOTAUTH".into(),
        other => format!("RCODE {}", u16::from(other)),
    }
}

/// Sends the query over UDP (again every [`RESEND_AFTER`]) until an answer with our id
/// arrives; the caller's deadline ends it.
async fn ask_udp(server: SocketAddr, id: u16, query: &[u8]) -> Result<Message, StageError> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| io_failure(PollStage::Connecting, &e))?;
    // Connected, so that only the server's datagrams arrive and its ICMP "port
    // unreachable" surfaces as a refused connection.
    socket
        .connect(server)
        .await
        .map_err(|e| io_failure(PollStage::Connecting, &e))?;
    let mut buffer = vec![0u8; 65535];
    loop {
        socket
            .send(query)
            .await
            .map_err(|e| io_failure(PollStage::Sending, &e))?;
        let resend = Instant::now() + RESEND_AFTER;
        loop {
            let received = match tokio::time::timeout_at(resend, socket.recv(&mut buffer)).await {
                Err(_) => break,
                Ok(received) => received.map_err(|e| io_failure(PollStage::Waiting, &e))?,
            };
            if let Some(message) = decode(&buffer[..received], id)? {
                return Ok(message);
            }
        }
    }
}

/// Sends the query over TCP (two-byte length prefix, RFC 1035 §4.2.2).
async fn ask_tcp(server: SocketAddr, id: u16, query: &[u8]) -> Result<Message, StageError> {
    let mut stream = TcpStream::connect(server)
        .await
        .map_err(|e| io_failure(PollStage::Connecting, &e))?;
    let length = u16::try_from(query.len())
        .map_err(|_| StageError::new(FailureKind::Network, PollStage::Sending, "query too long"))?;
    let mut framed = length.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream
        .write_all(&framed)
        .await
        .map_err(|e| io_failure(PollStage::Sending, &e))?;
    let mut prefix = [0u8; 2];
    stream
        .read_exact(&mut prefix)
        .await
        .map_err(|e| io_failure(PollStage::Waiting, &e))?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
    stream
        .read_exact(&mut answer)
        .await
        .map_err(|e| io_failure(PollStage::ReadingBody, &e))?;
    decode(&answer, id)?.ok_or_else(|| {
        StageError::new(
            FailureKind::WrongAnswer,
            PollStage::ReadingHead,
            "answer over TCP has another id",
        )
    })
}

/// Decodes an answer; `None` for a datagram with another id (a late answer to an earlier
/// poll, or a spoofing attempt), which is ignored.
fn decode(bytes: &[u8], id: u16) -> Result<Option<Message>, StageError> {
    if bytes.len() >= 2 && u16::from_be_bytes([bytes[0], bytes[1]]) != id {
        return Ok(None);
    }
    let message = Message::from_vec(bytes).map_err(|e| {
        StageError::new(
            FailureKind::WrongAnswer,
            PollStage::ReadingHead,
            format!("unreadable DNS answer: {e}"),
        )
    })?;
    if message.metadata.message_type != MessageType::Response {
        return Err(StageError::new(
            FailureKind::WrongAnswer,
            PollStage::ReadingHead,
            "the answer is not a DNS response",
        ));
    }
    Ok(Some(message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn settings(expect: Option<&str>, record_type: AddressRecordType) -> DnsPoll {
        DnsPoll {
            host_name: "www.example.test".into(),
            record_type,
            expect_address: expect.map(str::to_owned),
            ..DnsPoll::default()
        }
    }

    #[test]
    fn expected_address_must_fit_the_record_type() {
        assert!(DnsProbe::new(&settings(Some("192.0.2.1"), AddressRecordType::A)).is_ok());
        assert!(DnsProbe::new(&settings(Some("2001:db8::1"), AddressRecordType::Aaaa)).is_ok());
        assert!(matches!(
            DnsProbe::new(&settings(Some("2001:db8::1"), AddressRecordType::A)),
            Err(BuildError::Invalid(_))
        ));
        assert!(matches!(
            DnsProbe::new(&settings(Some("nonsense"), AddressRecordType::A)),
            Err(BuildError::Invalid(_))
        ));
        assert!(DnsProbe::new(&settings(Some(""), AddressRecordType::A)).is_ok());
    }

    #[test]
    fn the_query_carries_the_flags() {
        let mut s = settings(None, AddressRecordType::Aaaa);
        s.recursion_desired = false;
        let probe = DnsProbe::new(&s).unwrap();
        let (id, bytes) = probe.query().unwrap();
        let message = Message::from_vec(&bytes).unwrap();
        assert_eq!(message.metadata.id, id);
        assert!(!message.metadata.recursion_desired);
        assert_eq!(message.queries[0].query_type(), RecordType::AAAA);
        assert_eq!(message.queries[0].name().to_string(), "www.example.test.");
    }

    #[test]
    fn answers_with_another_id_are_ignored() {
        let mut message = Message::response(7, hickory_proto::op::OpCode::Query);
        message.metadata.authoritative = true;
        let bytes = message.to_vec().unwrap();
        assert!(decode(&bytes, 8).unwrap().is_none());
        assert!(decode(&bytes, 7).unwrap().is_some());
        let query = Message::query().to_vec().unwrap();
        let id = u16::from_be_bytes([query[0], query[1]]);
        assert!(decode(&query, id).is_err());
    }
}

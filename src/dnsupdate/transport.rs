//! One DNS exchange: send a message, get its answer. UDP first, TCP when the answer is
//! truncated or the message is too big for UDP, all within one deadline.
//!
//! Why a few lines over tokio sockets rather than hickory-net's client: the updater must
//! see the raw answer bytes to verify TSIG for all six algorithms (hickory's signer knows
//! three), it must see the exact rcode and TSIG error of every answer (hickory turns a
//! BADSIG into a misleading "truncated HMAC" error), and one deadline must cover
//! retransmissions and the TCP fallback. hickory-proto still builds and parses messages.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{Instant, timeout_at};

use super::{DnsError, DnsStage, FailureKind};

/// The largest message sent over UDP without EDNS (RFC 1035); a bigger one goes over TCP.
pub(crate) const PLAIN_UDP_LIMIT: usize = 512;
/// The UDP payload we announce with EDNS0: the DNS flag day 2020 value, safe from IP
/// fragmentation.
pub(crate) const EDNS_PAYLOAD: u16 = 1232;
/// The first UDP retransmission comes after this; each next one waits twice as long.
const FIRST_RETRY: Duration = Duration::from_millis(1000);

/// When a whole operation (several exchanges) must be over, and how long it was given.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub at: Instant,
    total: Duration,
}

impl Deadline {
    pub fn after(total: Duration) -> Self {
        Self {
            at: Instant::now() + total,
            total,
        }
    }

    /// `timeout after 5 s` (the time given, not the time spent).
    pub fn timeout_text(&self) -> String {
        format!("timeout after {}", describe_duration(self.total))
    }
}

fn describe_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{} s", d.as_secs())
    } else {
        format!("{} ms", d.as_millis())
    }
}

/// Why an exchange got no answer.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    Timeout,
    Network(String),
    ClosedEarly(String),
}

impl ExchangeError {
    pub fn into_dns(self, stage: DnsStage, deadline: &Deadline, server: SocketAddr) -> DnsError {
        match self {
            ExchangeError::Timeout => DnsError::new(
                FailureKind::Timeout,
                stage,
                format!("{} (no answer from {server})", deadline.timeout_text()),
            ),
            ExchangeError::Network(text) => DnsError::new(FailureKind::Network, stage, text),
            ExchangeError::ClosedEarly(text) => {
                DnsError::new(FailureKind::ClosedEarly, stage, text)
            }
        }
    }
}

/// Sends `request` (a complete message whose first two bytes are its id) to `server` and
/// returns the answer's bytes. Over UDP unless `request` is longer than `udp_limit`; a
/// truncated UDP answer is asked again over TCP.
pub(crate) async fn exchange(
    server: SocketAddr,
    request: &[u8],
    udp_limit: usize,
    deadline: &Deadline,
) -> Result<Vec<u8>, ExchangeError> {
    if request.len() > udp_limit {
        return exchange_tcp(server, request, deadline).await;
    }
    match exchange_udp(server, request, deadline).await? {
        Some(answer) => Ok(answer),
        None => exchange_tcp(server, request, deadline).await,
    }
}

fn id_of(message: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*message.first()?, *message.get(1)?]))
}

/// Whether `answer` is a response (QR set) to the message with id `id`.
fn answers(answer: &[u8], id: Option<u16>) -> bool {
    answer.len() >= 12 && id_of(answer) == id && answer[2] & 0x80 != 0
}

fn truncated(answer: &[u8]) -> bool {
    answer.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

/// `Ok(None)`: the answer was truncated, ask over TCP.
async fn exchange_udp(
    server: SocketAddr,
    request: &[u8],
    deadline: &Deadline,
) -> Result<Option<Vec<u8>>, ExchangeError> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    // Not connected on purpose: a connected socket reports a stopped server's ICMP "port
    // unreachable" as a refused connection at once, which a spoofed ICMP can fake too;
    // unconnected, a dead server is what it is for the operator — no answer in time.
    let socket = UdpSocket::bind(local)
        .await
        .map_err(|e| ExchangeError::Network(format!("cannot open a UDP socket: {e}")))?;
    let id = id_of(request);
    let mut buffer = vec![0u8; 65535];
    let mut retry = FIRST_RETRY;
    let mut next_send = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline.at {
            return Err(ExchangeError::Timeout);
        }
        if now >= next_send {
            socket
                .send_to(request, server)
                .await
                .map_err(|e| network(server, "sending to", &e))?;
            next_send = now + retry;
            retry *= 2;
        }
        let wait = next_send.min(deadline.at);
        match timeout_at(wait, socket.recv_from(&mut buffer)).await {
            Err(_) => continue,
            // Windows reports an earlier ICMP "port unreachable" here even on an unconnected
            // socket: treated like no answer, as on the other systems.
            Ok(Err(e))
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused
                ) =>
            {
                continue;
            }
            Ok(Err(e)) => return Err(network(server, "receiving from", &e)),
            Ok(Ok((len, from))) => {
                let answer = &buffer[..len];
                // Anything else (a late answer to nobody, a stray packet) is ignored.
                if from != server || !answers(answer, id) {
                    continue;
                }
                if truncated(answer) {
                    return Ok(None);
                }
                return Ok(Some(answer.to_vec()));
            }
        }
    }
}

async fn exchange_tcp(
    server: SocketAddr,
    request: &[u8],
    deadline: &Deadline,
) -> Result<Vec<u8>, ExchangeError> {
    let work = async {
        let mut stream = TcpStream::connect(server)
            .await
            .map_err(|e| network(server, "connecting (TCP) to", &e))?;
        let len = u16::try_from(request.len())
            .map_err(|_| ExchangeError::Network("the message is too long for DNS".into()))?;
        let mut framed = Vec::with_capacity(request.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(request);
        stream
            .write_all(&framed)
            .await
            .map_err(|e| network(server, "sending (TCP) to", &e))?;
        let id = id_of(request);
        loop {
            let mut len = [0u8; 2];
            read_exact(&mut stream, &mut len, server).await?;
            let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
            read_exact(&mut stream, &mut answer, server).await?;
            if answers(&answer, id) {
                return Ok(answer);
            }
        }
    };
    timeout_at(deadline.at, work)
        .await
        .unwrap_or(Err(ExchangeError::Timeout))
}

async fn read_exact(
    stream: &mut TcpStream,
    buffer: &mut [u8],
    server: SocketAddr,
) -> Result<(), ExchangeError> {
    match stream.read_exact(buffer).await {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(ExchangeError::ClosedEarly(
            format!("{server} closed the TCP connection before answering"),
        )),
        Err(e) => Err(network(server, "receiving (TCP) from", &e)),
    }
}

fn network(server: SocketAddr, doing: &str, e: &io::Error) -> ExchangeError {
    let text = match e.kind() {
        io::ErrorKind::ConnectionRefused => format!("connection refused {doing} {server}"),
        io::ErrorKind::ConnectionReset => format!("connection reset {doing} {server}"),
        _ => format!("network error {doing} {server}: {e}"),
    };
    ExchangeError::Network(text)
}

/// The rcode as `dig` and the RFCs write it: `NOERROR`, `REFUSED`, `NOTAUTH`...
pub(crate) fn rcode_name(code: ResponseCode) -> String {
    let name = match code {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        ResponseCode::BADVERS => "BADVERS",
        ResponseCode::BADSIG => "BADSIG",
        ResponseCode::BADKEY => "BADKEY",
        ResponseCode::BADTIME => "BADTIME",
        ResponseCode::BADMODE => "BADMODE",
        ResponseCode::BADNAME => "BADNAME",
        ResponseCode::BADALG => "BADALG",
        ResponseCode::BADTRUNC => "BADTRUNC",
        ResponseCode::BADCOOKIE => "BADCOOKIE",
        other => return format!("RCODE{}", u16::from(other)),
    };
    name.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_rcodes_read_well() {
        assert_eq!(describe_duration(Duration::from_secs(5)), "5 s");
        assert_eq!(describe_duration(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(rcode_name(ResponseCode::NotZone), "NOTZONE");
        assert_eq!(rcode_name(ResponseCode::from(0, 11)), "RCODE11");
    }

    #[test]
    fn answer_matching() {
        let mut answer = vec![0u8; 12];
        answer[0] = 0x12;
        answer[1] = 0x34;
        assert!(
            !answers(&answer, Some(0x1234)),
            "QR not set: a query, not an answer"
        );
        answer[2] = 0x80;
        assert!(answers(&answer, Some(0x1234)));
        assert!(!answers(&answer, Some(0x1235)));
        assert!(!truncated(&answer));
        answer[2] |= 0x02;
        assert!(truncated(&answer));
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        // A bound socket that never answers.
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let server = silent.local_addr().unwrap();
        let deadline = Deadline::after(Duration::from_millis(300));
        let request = [0u8; 12];
        let result = exchange(server, &request, PLAIN_UDP_LIMIT, &deadline).await;
        assert!(matches!(result, Err(ExchangeError::Timeout)), "{result:?}");
    }
}

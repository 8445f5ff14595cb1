//! Ping polling (SPEC §1): ICMP echo to the poll address, v4 or v6; no reply within 1 s is
//! retried, 3 tries in all; an ICMP unreachable is a failure at once.
//!
//! The echo is done here rather than with a ping crate because a crate that only matches
//! echo replies turns an ICMP unreachable into a silent 3 s time-out. One socket per family
//! and set is shared by all its polls: a receive task hands each reply (or unreachable that
//! quotes our echo) to the poll waiting for that address and sequence number.
//!
//! Sockets: a datagram ICMP socket where the OS allows it unprivileged (macOS; Linux within
//! `net.ipv4.ping_group_range`), else a raw socket (root or CAP_NET_RAW). With a datagram
//! socket Linux does not pass ICMP errors of other hosts on, so there an unreachable shows
//! as missing replies.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::{OnceCell, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{
    BoxFuture, BuildError, FailureKind, PollOutcome, PollStage, PollTarget, Probe, StageError,
    local_failure,
};
use crate::resources::{Shortage, shortage};

/// Each try waits this long for its reply.
const TRY_TIMEOUT: Duration = Duration::from_secs(1);
const TRIES: u32 = 3;
const PAYLOAD: &[u8] = b"Standby ping....";

/// Which socket kind a family got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `SOCK_DGRAM` + ICMP: the kernel sets the identifier and filters replies for us.
    Datagram,
    /// `SOCK_RAW`: every ICMP packet of the host arrives; IPv4 ones with their IP header.
    Raw,
}

/// What came back for one echo request.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Answer {
    Reply,
    /// An ICMP error quoting our request: its text (`host unreachable from 10.0.0.1`).
    Unreachable(String),
}

type Waiters = Arc<Mutex<HashMap<(IpAddr, u16), oneshot::Sender<Answer>>>>;

/// One ICMP socket and its receive task.
struct Channel {
    socket: Arc<UdpSocket>,
    identifier: u16,
    waiters: Waiters,
    receiver: JoinHandle<()>,
}

impl Drop for Channel {
    fn drop(&mut self) {
        self.receiver.abort();
    }
}

/// A ping poll, ready to poll any server of its set.
pub struct PingProbe {
    // A channel that could not be opened is not kept: the next poll tries again, so that
    // a passing shortage of descriptors does not stop the set's pings for good.
    v4: OnceCell<Arc<Channel>>,
    v6: OnceCell<Arc<Channel>>,
    sequence: AtomicU16,
    identifier: u16,
}

impl PingProbe {
    /// Checks that an IPv4 ICMP socket can be opened, so that a machine where neither kind
    /// is allowed shows the set's problem (with what to change) before any poll. The
    /// monitor's own shortage is no reason to refuse the set: its polls then say so.
    pub fn new() -> Result<Self, BuildError> {
        match open_socket(false) {
            Ok(_) => {}
            Err(e) if e.shortage.is_some() => {}
            Err(e) => return Err(BuildError::Invalid(e.text)),
        }
        Ok(Self {
            v4: OnceCell::new(),
            v6: OnceCell::new(),
            sequence: AtomicU16::new(rand::random()),
            identifier: rand::random(),
        })
    }

    async fn channel(&self, v6: bool) -> Result<Arc<Channel>, SocketError> {
        let cell = if v6 { &self.v6 } else { &self.v4 };
        cell.get_or_try_init(|| async { Channel::open(v6, self.identifier).map(Arc::new) })
            .await
            .cloned()
    }

    async fn run(&self, target: &PollTarget, start: Instant) -> Result<String, StageError> {
        let deadline = start + target.timeout;
        let channel = self
            .channel(target.address.is_ipv6())
            .await
            .map_err(|e| e.into_stage_error(PollStage::Connecting))?;
        for _ in 0..TRIES {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
            let sent = Instant::now();
            let answer = channel
                .echo(target.address, sequence, (now + TRY_TIMEOUT).min(deadline))
                .await
                .map_err(|e| e.into_stage_error(PollStage::Sending))?;
            match answer {
                Some(Answer::Reply) => {
                    return Ok(format!("echo reply in {}", millis(sent.elapsed())));
                }
                Some(Answer::Unreachable(text)) => {
                    return Err(StageError::new(
                        FailureKind::Network,
                        PollStage::Waiting,
                        text,
                    ));
                }
                None => {}
            }
        }
        let tries = if target.timeout < TRY_TIMEOUT * TRIES {
            format!("within {} s", super::seconds(target.timeout))
        } else {
            format!("after {TRIES} tries of 1 s")
        };
        Err(StageError::new(
            FailureKind::Timeout,
            PollStage::Waiting,
            format!("timeout: no echo reply {tries}"),
        ))
    }
}

impl Probe for PingProbe {
    fn poll<'a>(&'a self, target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move {
            let start = Instant::now();
            match self.run(target, start).await {
                Ok(text) => PollOutcome::success(text, start.elapsed()),
                Err(failure) => failure.into_outcome(start.elapsed()),
            }
        })
    }
}

/// A socket that could not be opened or used, and whether that was the monitor's own
/// shortage (then the poll is a local failure, never the server's).
#[derive(Debug)]
struct SocketError {
    text: String,
    shortage: Option<Shortage>,
}

impl SocketError {
    fn of(error: &io::Error, text: String) -> Self {
        Self {
            text,
            shortage: shortage(error),
        }
    }

    /// A shortage is kind 5 (local); anything else a network failure at `stage`.
    fn into_stage_error(self, stage: PollStage) -> StageError {
        match self.shortage {
            Some(shortage) => local_failure(stage, shortage, &self.text),
            None => StageError::new(FailureKind::Network, stage, self.text),
        }
    }
}

impl Channel {
    fn open(v6: bool, identifier: u16) -> Result<Self, SocketError> {
        let (socket, mode) = open_socket(v6)?;
        let family = if v6 { "IPv6" } else { "IPv4" };
        let socket = socket
            .set_nonblocking(true)
            .and_then(|()| UdpSocket::from_std(std::net::UdpSocket::from(socket)))
            .map_err(|e| {
                SocketError::of(&e, format!("cannot use the {family} ICMP socket: {e}"))
            })?;
        let socket = Arc::new(socket);
        let waiters: Waiters = Arc::default();
        let receiver = tokio::spawn(receive(
            socket.clone(),
            waiters.clone(),
            mode,
            v6,
            identifier,
        ));
        Ok(Self {
            socket,
            identifier,
            waiters,
            receiver,
        })
    }

    /// Sends one echo request and waits until `until` for what comes back (`None`: nothing).
    async fn echo(
        &self,
        address: IpAddr,
        sequence: u16,
        until: Instant,
    ) -> Result<Option<Answer>, SocketError> {
        let (tx, rx) = oneshot::channel();
        let key = (address, sequence);
        lock(&self.waiters).insert(key, tx);
        // Removes the waiter however this ends (answer, time-out, or the poll dropped).
        let _guard = Unregister(&self.waiters, key);
        let packet = echo_request(address.is_ipv6(), self.identifier, sequence);
        self.socket
            .send_to(&packet, SocketAddr::new(address, 0))
            .await
            .map_err(|e| {
                SocketError::of(
                    &e,
                    format!("cannot send the echo request to {address}: {e}"),
                )
            })?;
        Ok(tokio::time::timeout_at(until, rx)
            .await
            .ok()
            .and_then(Result::ok))
    }
}

struct Unregister<'a>(&'a Waiters, (IpAddr, u16));

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        lock(self.0).remove(&self.1);
    }
}

/// The waiter table's lock; a poisoned lock still holds a usable table.
fn lock(
    waiters: &Waiters,
) -> std::sync::MutexGuard<'_, HashMap<(IpAddr, u16), oneshot::Sender<Answer>>> {
    waiters
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Reads the socket for as long as its channel lives, handing answers to their waiters.
async fn receive(socket: Arc<UdpSocket>, waiters: Waiters, mode: Mode, v6: bool, identifier: u16) {
    let mut buffer = vec![0u8; 2048];
    loop {
        let (n, from) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            // Errors queued on the socket (e.g. an ICMP error for a datagram socket) must
            // not end the task; the affected poll times out.
            Err(_) => continue,
        };
        let packet = if mode == Mode::Raw && !v6 {
            strip_ipv4_header(&buffer[..n])
        } else {
            Some(&buffer[..n])
        };
        let Some(parsed) = packet.and_then(|p| parse(p, from.ip(), v6)) else {
            continue;
        };
        // A datagram socket's identifier is chosen by the kernel, which also filters.
        if mode == Mode::Raw && parsed.identifier != identifier {
            continue;
        }
        if let Some(tx) = lock(&waiters).remove(&(parsed.address, parsed.sequence)) {
            let _ = tx.send(parsed.answer);
        }
    }
}

/// An answer read off the socket, keyed by the address we pinged.
#[derive(Debug, PartialEq, Eq)]
struct Parsed {
    address: IpAddr,
    identifier: u16,
    sequence: u16,
    answer: Answer,
}

fn strip_ipv4_header(packet: &[u8]) -> Option<&[u8]> {
    let length = usize::from(packet.first()? & 0x0f) * 4;
    packet.get(length..)
}

/// Parses an ICMP(v6) message: an echo reply, or an error quoting one of our requests.
fn parse(icmp: &[u8], from: IpAddr, v6: bool) -> Option<Parsed> {
    let (kind, code) = (*icmp.first()?, *icmp.get(1)?);
    let (echo_reply, echo_request) = if v6 { (129, 128) } else { (0, 8) };
    let id_seq = |at: &[u8]| -> Option<(u16, u16)> {
        Some((
            u16::from_be_bytes([*at.get(4)?, *at.get(5)?]),
            u16::from_be_bytes([*at.get(6)?, *at.get(7)?]),
        ))
    };
    if kind == echo_reply {
        let (identifier, sequence) = id_seq(icmp)?;
        return Some(Parsed {
            address: from,
            identifier,
            sequence,
            answer: Answer::Reply,
        });
    }
    let why = unreachable_text(v6, kind, code)?;
    // The error quotes the IP header of our request and its first 8 bytes.
    let quoted = icmp.get(8..)?;
    let (address, inner) = if v6 {
        let destination: [u8; 16] = quoted.get(24..40)?.try_into().ok()?;
        (IpAddr::from(destination), quoted.get(40..)?)
    } else {
        let destination: [u8; 4] = quoted.get(16..20)?.try_into().ok()?;
        (IpAddr::from(destination), strip_ipv4_header(quoted)?)
    };
    if *inner.first()? != echo_request {
        return None;
    }
    let (identifier, sequence) = id_seq(inner)?;
    Some(Parsed {
        address,
        identifier,
        sequence,
        answer: Answer::Unreachable(format!("{why} (ICMP from {from})")),
    })
}

/// The text of an ICMP error that ends a ping, or `None` for messages that don't.
fn unreachable_text(v6: bool, kind: u8, code: u8) -> Option<&'static str> {
    Some(match (v6, kind, code) {
        (false, 3, 0 | 6) => "network unreachable",
        (false, 3, 1 | 7) => "host unreachable",
        (false, 3, 2) => "protocol unreachable",
        (false, 3, 3) => "port unreachable",
        (false, 3, 9 | 10 | 13) => "administratively prohibited",
        (false, 3, _) => "destination unreachable",
        (false, 11, _) | (true, 3, _) => "time to live exceeded",
        (true, 1, 0) => "no route to destination",
        (true, 1, 1 | 5 | 6) => "administratively prohibited",
        (true, 1, 3) => "address unreachable",
        (true, 1, 4) => "port unreachable",
        (true, 1, _) => "destination unreachable",
        _ => return None,
    })
}

/// An echo request. The IPv4 checksum is ours to compute; for ICMPv6 the kernel fills it
/// in (it needs the pseudo-header, which only the kernel knows).
fn echo_request(v6: bool, identifier: u16, sequence: u16) -> Vec<u8> {
    let mut packet = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(PAYLOAD);
    if !v6 {
        let sum = checksum(&packet);
        packet[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Opens an ICMP socket: datagram first (no privilege needed where allowed), then raw.
fn open_socket(v6: bool) -> Result<(Socket, Mode), SocketError> {
    let (domain, protocol) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let datagram = match Socket::new(domain, Type::DGRAM, Some(protocol)) {
        Ok(socket) => return Ok((socket, Mode::Datagram)),
        Err(e) => e,
    };
    match Socket::new(domain, Type::RAW, Some(protocol)) {
        Ok(socket) => Ok((socket, Mode::Raw)),
        Err(raw) => Err(open_failure(v6, &datagram, &raw)),
    }
}

/// Why neither socket kind could be opened. Linux checks the raw socket's privilege before
/// it takes a descriptor, so when descriptors ran out the datagram try says EMFILE and the
/// raw one EPERM: either try naming a shortage makes it the monitor's.
fn open_failure(v6: bool, datagram: &io::Error, raw: &io::Error) -> SocketError {
    for error in [datagram, raw] {
        if let Some(shortage) = shortage(error) {
            let family = if v6 { "IPv6" } else { "IPv4" };
            return SocketError {
                text: format!("cannot open an {family} ICMP socket: {error}"),
                shortage: Some(shortage),
            };
        }
    }
    SocketError {
        text: socket_problem(v6, datagram, raw),
        shortage: None,
    }
}

/// Says what to change when neither socket kind may be opened.
fn socket_problem(v6: bool, datagram: &io::Error, raw: &io::Error) -> String {
    let family = if v6 { "IPv6" } else { "IPv4" };
    let denied = |e: &io::Error| {
        e.kind() == io::ErrorKind::PermissionDenied || e.raw_os_error() == Some(1) // EPERM
    };
    if !(denied(datagram) && denied(raw)) {
        let unsupported = if raw.kind() == io::ErrorKind::PermissionDenied {
            datagram
        } else {
            raw
        };
        return format!("cannot open an {family} ICMP socket: {unsupported}");
    }
    let fix = if cfg!(target_os = "linux") || cfg!(target_os = "android") {
        "allow unprivileged ping for Standby's group with \
         `sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (it covers IPv6 too; \
         make it permanent in /etc/sysctl.d/), or give the program CAP_NET_RAW \
         (`setcap cap_net_raw+ep <path to standby>`), or run it as root"
    } else if cfg!(windows) {
        "run Standby as an administrator (Windows allows raw ICMP sockets only to them)"
    } else {
        "run Standby as root, or allow it to open raw sockets"
    };
    format!(
        "ping is not allowed: the system refused both an unprivileged (datagram) and a raw {family} ICMP socket ({datagram}); to fix it, {fix}"
    )
}

/// `0.2 ms`, `12 ms`.
fn millis(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn checksum_of_an_echo_request_verifies() {
        let packet = echo_request(false, 0x1234, 7);
        assert_eq!(
            checksum(&packet),
            0,
            "a packet with its checksum sums to zero"
        );
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn echo_replies_are_parsed() {
        let mut reply = echo_request(false, 9, 300);
        reply[0] = 0;
        let from = IpAddr::V4(Ipv4Addr::LOCALHOST);
        assert_eq!(
            parse(&reply, from, false),
            Some(Parsed {
                address: from,
                identifier: 9,
                sequence: 300,
                answer: Answer::Reply
            })
        );
        // Our own request, seen by a raw socket on loopback, is not an answer.
        assert_eq!(parse(&echo_request(false, 9, 300), from, false), None);
    }

    #[test]
    fn an_ipv4_unreachable_names_the_pinged_address() {
        let pinged = Ipv4Addr::new(10, 254, 41, 1);
        let mut quoted = vec![0x45, 0, 0, 44, 0, 0, 0, 0, 64, 1, 0, 0];
        quoted.extend_from_slice(&[10, 254, 40, 1]);
        quoted.extend_from_slice(&pinged.octets());
        quoted.extend_from_slice(&echo_request(false, 5, 6)[..8]);
        let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        let router = IpAddr::V4(Ipv4Addr::new(10, 254, 40, 2));
        let parsed = parse(&icmp, router, false).unwrap();
        assert_eq!(parsed.address, IpAddr::V4(pinged));
        assert_eq!((parsed.identifier, parsed.sequence), (5, 6));
        assert_eq!(
            parsed.answer,
            Answer::Unreachable("host unreachable (ICMP from 10.254.40.2)".into())
        );
    }

    #[test]
    fn an_ipv6_unreachable_names_the_pinged_address() {
        let pinged: Ipv6Addr = "fd00:5b::9".parse().unwrap();
        let mut quoted = vec![0u8; 24];
        quoted[0] = 0x60;
        quoted.extend_from_slice(&pinged.octets());
        quoted.extend_from_slice(&echo_request(true, 1, 2)[..8]);
        let mut icmp = vec![1, 3, 0, 0, 0, 0, 0, 0];
        icmp.extend_from_slice(&quoted);
        let parsed = parse(&icmp, IpAddr::V6(Ipv6Addr::LOCALHOST), true).unwrap();
        assert_eq!(parsed.address, IpAddr::V6(pinged));
        assert_eq!(parsed.sequence, 2);
        assert!(
            matches!(parsed.answer, Answer::Unreachable(t) if t.starts_with("address unreachable"))
        );
    }

    #[test]
    fn neither_socket_allowed_says_what_to_change() {
        let denied = || io::Error::from_raw_os_error(13); // EACCES
        let eperm = io::Error::from_raw_os_error(1);
        let text = socket_problem(false, &denied(), &eperm);
        assert!(text.starts_with("ping is not allowed"), "{text}");
        #[cfg(target_os = "linux")]
        {
            assert!(text.contains("net.ipv4.ping_group_range"), "{text}");
            assert!(text.contains("CAP_NET_RAW"), "{text}");
        }
        let unsupported = io::Error::from_raw_os_error(97); // EAFNOSUPPORT
        let text = socket_problem(true, &denied(), &unsupported);
        assert!(
            text.starts_with("cannot open an IPv6 ICMP socket"),
            "{text}"
        );
    }

    /// EMFILE, ENFILE and ENOBUFS on opening or sending are the monitor's shortage (kind
    /// 5, never counted against the server); a refused privilege or family is not.
    #[cfg(unix)]
    #[test]
    fn the_monitors_shortage_is_a_local_failure_of_the_ping() {
        use rustix::io::Errno;
        let os = |e: Errno| io::Error::from_raw_os_error(e.raw_os_error());
        let table = [
            // (datagram try, raw try, expected kind)
            (Errno::MFILE, Errno::PERM, FailureKind::Local),
            (Errno::NFILE, Errno::NFILE, FailureKind::Local),
            (Errno::NOBUFS, Errno::NOBUFS, FailureKind::Local),
            (Errno::ACCESS, Errno::MFILE, FailureKind::Local),
            (Errno::ACCESS, Errno::PERM, FailureKind::Network),
            (Errno::AFNOSUPPORT, Errno::AFNOSUPPORT, FailureKind::Network),
        ];
        for (datagram, raw, kind) in table {
            let failure = open_failure(false, &os(datagram), &os(raw))
                .into_stage_error(PollStage::Connecting);
            assert_eq!(
                failure.failure.kind, kind,
                "{datagram:?}/{raw:?}: {failure:?}"
            );
            if kind == FailureKind::Local {
                assert!(
                    failure.text.starts_with("this monitor is out of"),
                    "{failure:?}"
                );
                assert!(failure.text.contains("ICMP socket"), "{failure:?}");
            }
        }
        for (errno, kind) in [
            (Errno::NOBUFS, FailureKind::Local),
            (Errno::MFILE, FailureKind::Local),
            (Errno::HOSTUNREACH, FailureKind::Network),
        ] {
            let error = os(errno);
            let failure = SocketError::of(&error, format!("cannot send: {error}"))
                .into_stage_error(PollStage::Sending);
            assert_eq!(failure.failure.kind, kind, "{errno:?}: {failure:?}");
        }
    }

    #[test]
    fn millis_text() {
        assert_eq!(millis(Duration::from_micros(250)), "0.2 ms");
        assert_eq!(millis(Duration::from_millis(42)), "42 ms");
    }
}

//! The built-in DNS server's limits (issue 11): no UDP answer larger than the client
//! allows (no amplification), error answers with the header only, TCP connections capped
//! and closed when idle, pipelined TCP queries, forwards in flight capped, and forwarded
//! answers larger than 4 KiB (from a real unbound) cut to the client's size over UDP and
//! passed whole over TCP.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{AddressSelection, DnsData, PollMethod, Server, ServerSet, Settings, TcpPoll};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::time::timeout;

use crate::support::peers;
use crate::support::ports::free_addr;
use crate::support::wait_until;

pub(crate) const WAIT: Duration = Duration::from_secs(5);

pub(crate) fn message(names: &[String], rtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(0x4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    for name in names {
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    }
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

pub(crate) fn query(name: &str, rtype: RecordType, edns: Option<u16>) -> Vec<u8> {
    message(&[name.to_string()], rtype, edns).to_vec().unwrap()
}

/// Sends one UDP packet and returns the raw answer (bounded).
pub(crate) async fn udp_raw(server: SocketAddr, packet: &[u8]) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(packet, server).await.unwrap();
    let mut buf = vec![0u8; 65535];
    let n = timeout(WAIT, socket.recv(&mut buf))
        .await
        .expect("an answer over UDP")
        .unwrap();
    buf.truncate(n);
    buf
}

pub(crate) async fn tcp_send(stream: &mut TcpStream, packet: &[u8]) {
    let mut framed = (packet.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await.unwrap();
}

pub(crate) async fn tcp_read(stream: &mut TcpStream) -> Message {
    try_tcp_read(stream).await.expect("an answer over TCP")
}

/// The next answer, or `None` if the server closed the connection.
async fn try_tcp_read(stream: &mut TcpStream) -> Option<Message> {
    let mut len = [0u8; 2];
    timeout(WAIT, stream.read_exact(&mut len))
        .await
        .expect("an answer or a close over TCP")
        .ok()?;
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).await.ok()?;
    Some(Message::from_vec(&buf).unwrap())
}

/// Waits until the server closes `stream` (EOF or reset), bounded.
async fn closed_by_server(stream: &mut TcpStream) {
    let mut byte = [0u8; 1];
    match timeout(WAIT, stream.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(_)) => panic!("unexpected data"),
        Err(_) => panic!("the server kept the connection open"),
    }
}

fn free_dns_port() -> (u16, SocketAddr) {
    let addr = free_addr(IpAddr::from([127, 0, 0, 1]));
    (addr.port(), addr)
}

/// A set whose servers all answer (a TCP listener of the test).
pub(crate) fn set(name: &str, host: &str, publics: &[String], port: u16) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: publics
            .iter()
            .map(|ip| Server {
                public_ip: ip.clone(),
                poll_ip: Some("127.0.0.1".into()),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        dns: DnsData {
            host_names: vec![host.into()],
            ttl: 42,
            addresses_of: AddressSelection::AllFunctional,
            ..DnsData::default()
        },
        ..ServerSet::default()
    }
}

/// Starts an engine with DNS serving on a free port (after `edit`) and waits until the
/// server listens and every set is decided.
pub(crate) async fn serving(edit: impl FnOnce(&mut Settings)) -> (EngineHandle, SocketAddr) {
    let (engine, server) = start_serving(edit).await;
    wait_until(&engine, "every set decided", |s| {
        s.sets.iter().all(|x| x.decision.addresses().is_some())
    })
    .await;
    (engine, server)
}

/// Starts an engine with DNS serving on a free port (after `edit`) and waits until the
/// server listens.
pub(crate) async fn start_serving(edit: impl FnOnce(&mut Settings)) -> (EngineHandle, SocketAddr) {
    let (dns_port, server) = free_dns_port();
    let mut settings = Settings::default();
    settings.options.dns_serving.enabled = true;
    settings.options.dns_serving.listen_address = "127.0.0.1".into();
    settings.options.dns_serving.port = dns_port;
    edit(&mut settings);
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    standby::dnsserve::spawn(engine.client()).unwrap();
    wait_until(&engine, "DNS serving listens", |s| {
        s.log.iter().any(|l| l.text.starts_with("serving DNS on"))
    })
    .await;
    (engine, server)
}

pub(crate) async fn up_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    port
}

/// A connection on which `name` was answered with addresses: asks again (bounded) while
/// the table does not have the set yet (the server follows snapshots) or while the
/// connection limit is still taken by connections the server has not yet seen close.
async fn served_connection(server: SocketAddr, name: &str) -> (TcpStream, Message) {
    for _ in 0..100 {
        let mut s = TcpStream::connect(server).await.unwrap();
        tcp_send(&mut s, &query(name, RecordType::AAAA, None)).await;
        if let Some(m) = try_tcp_read(&mut s).await
            && !m.answers.is_empty()
        {
            return (s, m);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{name} never answered");
}

async fn answered_over_tcp(server: SocketAddr, name: &str) -> Message {
    served_connection(server, name).await.1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_udp_answer_is_larger_than_the_client_allows() {
    let port = up_listener().await;
    let many: Vec<String> = (1..=100).map(|i| format!("2001:db8::{i:x}")).collect();
    let (engine, server) = serving(|s| {
        s.server_sets = vec![set("big", "big.served.test", &many, port)];
    })
    .await;
    assert_eq!(
        answered_over_tcp(server, "big.served.test.")
            .await
            .answers
            .len(),
        100,
        "TCP carries the whole answer"
    );

    // 240 questions in one 1,705-byte query: FORMERR with the header only (it was a
    // 32,065-byte answer, ×18.8, to a source anyone can spoof).
    let names: Vec<String> = (0..240).map(|i| format!("q{i:03}.example.")).collect();
    let big = message(&names, RecordType::A, None).to_vec().unwrap();
    assert!(big.len() > 1700, "{} bytes", big.len());
    let answer = udp_raw(server, &big).await;
    assert_eq!(answer.len(), 12, "header only");
    let m = Message::from_vec(&answer).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(m.metadata.id, 0x4242);
    // With EDNS: the header and our OPT record, nothing else.
    let big = message(&names, RecordType::A, Some(4096)).to_vec().unwrap();
    assert_eq!(udp_raw(server, &big).await.len(), 12 + 11);

    // An unknown opcode: NOTIMP, header only.
    let mut status = message(&names[..1], RecordType::A, None);
    status.metadata.op_code = OpCode::Status;
    let answer = udp_raw(server, &status.to_vec().unwrap()).await;
    assert_eq!(answer.len(), 12);
    assert_eq!(
        Message::from_vec(&answer).unwrap().metadata.response_code,
        ResponseCode::NotImp
    );

    // Our own big answer: within 512 without EDNS, within the advertised size with it
    // (never above the 1,232 we advertise), TC set each time.
    for (edns, limit) in [(None, 512), (Some(600), 600), (Some(4096), 1232)] {
        let answer = udp_raw(server, &query("big.served.test.", RecordType::AAAA, edns)).await;
        assert!(answer.len() <= limit, "{} > {limit}", answer.len());
        let m = Message::from_vec(&answer).unwrap();
        assert!(m.metadata.truncation, "TC with {edns:?}");
    }
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_capped() {
    let port = up_listener().await;
    let (engine, server) = serving(|s| {
        s.options.dns_serving.max_tcp_connections = 2;
        s.server_sets = vec![set("web", "www.served.test", &["2001:db8::1".into()], port)];
    })
    .await;
    // Two connections, each served (so each holds its place).
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(served_connection(server, "www.served.test.").await.0);
    }
    // A third is closed at once, and that is logged with a count.
    let mut third = TcpStream::connect(server).await.unwrap();
    closed_by_server(&mut third).await;
    wait_until(&engine, "the refused connection logged", |s| {
        s.log
            .iter()
            .any(|l| l.text.contains("closed: already 2 open (the limit)"))
    })
    .await;
    // Once one closes, a new connection is served again.
    drop(held.pop());
    answered_over_tcp(server, "www.served.test.").await;
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_pipelines_and_closes_idle_connections() {
    let port = up_listener().await;
    let (engine, server) = serving(|s| {
        s.options.dns_serving.tcp_idle_secs = 1;
        s.server_sets = vec![
            set("a", "a.served.test", &["2001:db8::a".into()], port),
            set("b", "b.served.test", &["2001:db8::b".into()], port),
        ];
    })
    .await;
    answered_over_tcp(server, "a.served.test.").await;
    answered_over_tcp(server, "b.served.test.").await;
    // Two queries in one write, before any answer: two answers, in order.
    let mut s = TcpStream::connect(server).await.unwrap();
    let mut both = Vec::new();
    for name in ["a.served.test.", "b.served.test."] {
        let q = query(name, RecordType::AAAA, None);
        both.extend_from_slice(&(q.len() as u16).to_be_bytes());
        both.extend_from_slice(&q);
    }
    s.write_all(&both).await.unwrap();
    let first = tcp_read(&mut s).await;
    let second = tcp_read(&mut s).await;
    assert_eq!(first.queries[0].name().to_ascii(), "a.served.test.");
    assert_eq!(second.queries[0].name().to_ascii(), "b.served.test.");
    // Then nothing: closed after the idle time-out (1 s here).
    closed_by_server(&mut s).await;
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_in_flight_are_capped() {
    // An upstream that never answers: the first forward waits for it.
    let black_hole = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let upstream = black_hole.local_addr().unwrap();
    let (engine, server) = serving(|s| {
        let d = &mut s.options.dns_serving;
        d.forward = true;
        d.forward_to = upstream.ip().to_string();
        d.forward_port = upstream.port();
        d.max_forwards_in_flight = 1;
    })
    .await;
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client
        .send_to(&query("one.elsewhere.test.", RecordType::A, None), server)
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    timeout(WAIT, black_hole.recv_from(&mut buf))
        .await
        .expect("the first query forwarded")
        .unwrap();
    // The second finds the one place taken: SERVFAIL at once, not forwarded.
    let answer = udp_raw(server, &query("two.elsewhere.test.", RecordType::A, None)).await;
    let m = Message::from_vec(&answer).unwrap();
    assert_eq!(m.metadata.response_code, ResponseCode::ServFail);
    assert_eq!(m.queries[0].name().to_ascii(), "two.elsewhere.test.");
    assert!(
        black_hole.try_recv_from(&mut buf).is_err(),
        "the second query was forwarded"
    );
    wait_until(&engine, "the refused forward logged", |s| {
        s.log
            .iter()
            .any(|l| l.text.contains("already 1 forwards in flight (the limit)"))
    })
    .await;
    engine.shutdown();
}

/// A real unbound that answers up to 64 KiB over UDP (BIND and Knot stop at 4,096)
/// and holds a TXT RRset of ~7 KB.
async fn unbound_with_a_big_answer() -> peers::unbound::Unbound {
    let mut extra =
        String::from("    max-udp-size: 65535\n    local-zone: \"example.test.\" static\n");
    for i in 0..30 {
        extra.push_str(&format!(
            "    local-data: 'big.example.test. 60 IN TXT \"{i:02}{}\"'\n",
            "x".repeat(220)
        ));
    }
    peers::unbound::Unbound::start(&extra, "").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_forwarded_answers_are_cut_for_udp_and_whole_over_tcp() {
    let upstream = unbound_with_a_big_answer().await;
    // unbound itself sends the whole RRset over UDP to a client that allows it (the
    // answer the forwarder's 4,096-byte buffer used to cut).
    let direct = udp_raw(
        upstream.addr,
        &query("big.example.test.", RecordType::TXT, Some(65000)),
    )
    .await;
    assert!(direct.len() > 4096, "unbound sent {} bytes", direct.len());

    let (engine, server) = serving(|s| {
        let d = &mut s.options.dns_serving;
        d.forward = true;
        d.forward_to = upstream.addr.ip().to_string();
        d.forward_port = upstream.addr.port();
    })
    .await;
    // Over UDP: within our advertised size, TC set, a message that parses.
    let answer = udp_raw(
        server,
        &query("big.example.test.", RecordType::TXT, Some(65000)),
    )
    .await;
    assert!(answer.len() <= 1232, "{} bytes over UDP", answer.len());
    let m = Message::from_vec(&answer).expect("a whole message");
    assert!(m.metadata.truncation);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    // Cut from the whole answer, not from a garbled one: the question is still there.
    assert_eq!(m.queries.len(), 1);
    // Over TCP: the whole answer.
    let mut s = TcpStream::connect(server).await.unwrap();
    tcp_send(
        &mut s,
        &query("big.example.test.", RecordType::TXT, Some(65000)),
    )
    .await;
    let m = tcp_read(&mut s).await;
    assert_eq!(m.answers.len(), 30, "{}", upstream.log());
    engine.shutdown();
}

//! The full path of a request (UDP's fast path is `udp.rs`) and the TCP listener: each request is answered from the current table, forwarded
//! (within the limit of forwards in flight) or refused; every answer is sized for its
//! transport. Socket errors back off; what a limit turns away is counted and logged.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

use super::answers::Reply;
use super::limits::{Backoff, retry};
use super::{Count, Shared, forward, transfer, wire};

/// What to do with one request.
pub(super) enum Prepared {
    /// Send nothing (malformed, or not a query).
    Nothing,
    /// Send this answer to this request.
    Answer(Box<Message>, Box<Message>),
    /// Forward the request (its bytes are forwarded as they came); holds a place among
    /// the forwards in flight.
    Forward(Box<Message>, OwnedSemaphorePermit),
    /// A zone transfer's messages, encoded (and signed) by `transfer.rs`.
    Transfer(Vec<Vec<u8>>),
}

pub(super) fn prepare(shared: &Shared, bytes: &[u8], client: IpAddr, tcp: bool) -> Prepared {
    // Malformed packets are dropped without an answer.
    let Ok(request) = Message::from_vec(bytes) else {
        return Prepared::Nothing;
    };
    if transfer::is_transfer(&request) || transfer::is_signed_soa(&request, &shared.options.zones) {
        return zone_transfer(shared, &request, bytes, client, tcp);
    }
    match shared.table().answer(&request) {
        Reply::Drop => Prepared::Nothing,
        Reply::Answer(response) => Prepared::Answer(Box::new(response), Box::new(request)),
        Reply::NotOurs if shared.options.forward && !shared.may_forward(client) => {
            shared.count(
                Count::ForwardsNotAllowed,
                format!("{client} may not use forwarding (forward_allowed_from): REFUSED"),
            );
            let response = short_answer(&request, ResponseCode::Refused);
            Prepared::Answer(Box::new(response), Box::new(request))
        }
        Reply::NotOurs if shared.options.forward => {
            match shared.forwards.clone().try_acquire_owned() {
                Ok(permit) => Prepared::Forward(Box::new(request), permit),
                Err(_) => {
                    let limit = shared.options.max_forwards_in_flight;
                    shared.count(
                        Count::ForwardsOverLimit,
                        format!("already {limit} forwards in flight (the limit)"),
                    );
                    let response = short_answer(&request, ResponseCode::ServFail);
                    Prepared::Answer(Box::new(response), Box::new(request))
                }
            }
        }
        Reply::NotOurs => {
            let response = short_answer(&request, ResponseCode::Refused);
            Prepared::Answer(Box::new(response), Box::new(request))
        }
    }
}

/// Answers AXFR / IXFR (`transfer.rs`); logs each transfer, counts each refusal.
fn zone_transfer(
    shared: &Shared,
    request: &Message,
    bytes: &[u8],
    client: IpAddr,
    tcp: bool,
) -> Prepared {
    let now = crate::dnsupdate::tsig::now_unix();
    let table = shared.table();
    let zones = &shared.options.zones;
    let done = transfer::answer(
        &shared.journal,
        &table,
        zones,
        request,
        bytes,
        client,
        tcp,
        now,
    );
    if let Some(why) = done.refused {
        shared.count(
            Count::TransfersRefused,
            format!("zone transfer refused: {why}"),
        );
    }
    if let Some(sent) = done.sent {
        let client = shared.client.clone();
        let text = format!("DNS serving: {sent}");
        tokio::spawn(async move { client.log(crate::engine::Level::Info, text).await });
    }
    Prepared::Transfer(done.messages)
}

/// An answer with the question and no records (REFUSED, SERVFAIL). Only a single
/// question gets here, so it is never much larger than the request.
pub(super) fn short_answer(request: &Message, code: ResponseCode) -> Message {
    let mut response = wire::header_only(request, code);
    response.queries = request.queries.clone();
    response
}

/// Encodes an answer: over UDP cut to what the client accepts (TC set), over TCP whole.
pub(super) fn encode(response: &Message, request: &Message, udp: bool) -> Option<Vec<u8>> {
    if udp {
        wire::fit_udp(response, wire::udp_limit(request))
    } else {
        response.to_vec().ok()
    }
}

/// Forwards `bytes` and returns what to send back: the upstream's answer (over UDP cut
/// to the client's limit), or SERVFAIL.
pub(super) async fn forwarded(
    shared: &Shared,
    request: &Message,
    bytes: &[u8],
    udp: bool,
    permit: OwnedSemaphorePermit,
) -> Option<Vec<u8>> {
    let options = &shared.options;
    let result = forward::forward(
        bytes,
        &options.forward_to,
        options.forward_port,
        options.clear_recursion_flags,
        !udp,
    )
    .await;
    drop(permit);
    match result {
        Ok(answer) if udp => Some(wire::fit_forwarded(answer, wire::udp_limit(request))),
        Ok(answer) => Some(answer),
        Err(e) => {
            tracing::warn!(
                "DNS forwarding to {}:{} failed: {e}",
                options.forward_to,
                options.forward_port
            );
            encode(&short_answer(request, ResponseCode::ServFail), request, udp)
        }
    }
}

pub(super) async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let mut backoff = Backoff::default();
    loop {
        let (stream, peer) = retry(
            &mut backoff,
            || listener.accept(),
            |e| shared.count(Count::SocketErrors, format!("TCP accept failed: {e}")),
        )
        .await;
        let Ok(permit) = shared.connections.clone().try_acquire_owned() else {
            // Closed at once: an idle crowd must not use up the file descriptors.
            let limit = shared.options.max_tcp_connections;
            shared.count(
                Count::ConnectionsOverLimit,
                format!("TCP connection from {peer} closed: already {limit} open (the limit)"),
            );
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            serve_connection(stream, &shared, peer.ip()).await;
            drop(permit);
        });
    }
}

/// Answers the queries of one connection in order (a client may send several without
/// waiting: pipelining, RFC 7766) until it closes or stays idle too long.
async fn serve_connection(mut stream: TcpStream, shared: &Shared, client: IpAddr) {
    let idle = Duration::from_secs(u64::from(shared.options.tcp_idle_secs.max(1)));
    loop {
        let mut len = [0u8; 2];
        if !matches!(
            tokio::time::timeout(idle, stream.read_exact(&mut len)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            tokio::time::timeout(idle, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let answer = match prepare(shared, &packet, client, true) {
            Prepared::Nothing => return,
            Prepared::Transfer(messages) => {
                for message in messages {
                    if !write_framed(&mut stream, &message).await {
                        return;
                    }
                }
                continue;
            }
            Prepared::Answer(response, request) => encode(&response, &request, false),
            Prepared::Forward(request, permit) => {
                forwarded(shared, &request, &packet, false, permit).await
            }
        };
        let Some(answer) = answer else { return };
        if !write_framed(&mut stream, &answer).await {
            return;
        }
    }
}

/// Writes one message with its 2-byte length; false if the connection is gone.
async fn write_framed(stream: &mut TcpStream, message: &[u8]) -> bool {
    let Ok(len) = u16::try_from(message.len()) else {
        return false;
    };
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(message);
    stream.write_all(&framed).await.is_ok()
}

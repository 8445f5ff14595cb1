//! The built-in DNS server (SPEC §5): answers A/AAAA for the sets' host names with the
//! addresses the engine decided, over UDP and TCP; forwards or refuses everything else.
//! Like the API it is a client of the engine: it reads snapshots, and a supervisor thread
//! (re)binds whenever the DNS-serving options change.

pub mod answers;
mod forward;

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};

use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::engine::follow::Follower;
use crate::engine::{EngineClient, Level};
use crate::model::options::DnsServingOptions;
use answers::{Reply, Table};

/// The UDP payload we accept and advertise with EDNS0.
pub const UDP_PAYLOAD: u16 = 1232;
/// Answers without EDNS0 must fit the classic limit.
const CLASSIC_UDP: usize = 512;

/// What every connection handler shares.
struct Shared {
    table: RwLock<Arc<Table>>,
    options: DnsServingOptions,
}

/// Runs DNS serving while the options say so, on a thread of its own.
pub fn spawn(client: EngineClient) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("standby-dns".into())
        .spawn(move || runtime.block_on(supervise(client)))
}

async fn supervise(client: EngineClient) {
    let mut follower = Follower::new(&client, |s| s.settings.options.dns_serving.clone());
    let mut memory = answers::Memory::default();
    while let Some((options, mut unchanged)) = follower.next().await {
        if !options.enabled {
            continue;
        }
        let address = match options.listen_address.trim().parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, options.port),
            Err(_) => {
                let text = format!(
                    "DNS serving: {:?} is not an IP address",
                    options.listen_address
                );
                client.log(Level::Error, text).await;
                continue;
            }
        };
        let (udp, tcp) = match bind(address).await {
            Ok(sockets) => sockets,
            Err(e) => {
                let text = format!("DNS serving: cannot listen on {address}: {e}");
                client.log(Level::Error, text).await;
                continue;
            }
        };
        let text = format!("serving DNS on {address} (UDP and TCP)");
        client.log(Level::Info, text).await;
        let shared = Arc::new(Shared {
            table: RwLock::new(Arc::new(Table::build(&client.snapshot(), &mut memory))),
            options: options.clone(),
        });
        let udp_task = tokio::spawn(serve_udp(Arc::new(udp), shared.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, shared.clone()));
        // Follow the snapshots; stop serving when the options change.
        while let Some(snapshot) = unchanged.next().await {
            let table = Arc::new(Table::build(&snapshot, &mut memory));
            if let Ok(mut slot) = shared.table.write() {
                *slot = table;
            }
        }
        udp_task.abort();
        tcp_task.abort();
        // Wait until the sockets are closed, so that the next bind can take the port.
        let _ = udp_task.await;
        let _ = tcp_task.await;
        client
            .log(Level::Info, format!("DNS serving on {address} stopped"))
            .await;
    }
}

/// Binds UDP and TCP; a port just released by the previous listener may take a moment
/// (requests in flight still hold the old socket), so a few short retries.
async fn bind(address: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let mut tries = 0;
    loop {
        let udp = UdpSocket::bind(address).await;
        let tcp = TcpListener::bind(address).await;
        match (udp, tcp) {
            (Ok(udp), Ok(tcp)) => return Ok((udp, tcp)),
            (Err(e), _) | (_, Err(e))
                if tries >= 20 || e.kind() != std::io::ErrorKind::AddrInUse =>
            {
                return Err(e);
            }
            _ => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

fn table(shared: &Shared) -> Arc<Table> {
    match shared.table.read() {
        Ok(t) => t.clone(),
        Err(poisoned) => poisoned.into_inner().clone(),
    }
}

/// Answers one request; `None` = send nothing.
async fn respond(shared: &Shared, bytes: &[u8], over_tcp: bool) -> Option<Vec<u8>> {
    // Malformed packets are dropped without an answer.
    let request = Message::from_vec(bytes).ok()?;
    match table(shared).answer(&request) {
        Reply::Drop => None,
        Reply::Answer(response) => encode(response, &request, over_tcp),
        Reply::NotOurs if shared.options.forward => {
            let options = &shared.options;
            match forward::forward(
                bytes,
                &options.forward_to,
                options.forward_port,
                options.clear_recursion_flags,
                over_tcp,
            )
            .await
            {
                Ok(answer) => Some(answer),
                Err(e) => {
                    tracing::warn!(
                        "DNS forwarding to {}:{} failed: {e}",
                        options.forward_to,
                        options.forward_port
                    );
                    let mut response =
                        Message::response(request.metadata.id, request.metadata.op_code);
                    response.queries = request.queries.clone();
                    response.metadata.recursion_desired = request.metadata.recursion_desired;
                    response.metadata.response_code = ResponseCode::ServFail;
                    encode(response, &request, over_tcp)
                }
            }
        }
        Reply::NotOurs => {
            let mut response = Message::response(request.metadata.id, request.metadata.op_code);
            response.queries = request.queries.clone();
            response.metadata.recursion_desired = request.metadata.recursion_desired;
            response.metadata.response_code = ResponseCode::Refused;
            encode(response, &request, over_tcp)
        }
    }
}

/// Serialises a response; over UDP a response too large for the client is truncated (TC
/// set), so that the client retries over TCP.
fn encode(response: Message, request: &Message, over_tcp: bool) -> Option<Vec<u8>> {
    let bytes = response.to_vec().ok()?;
    if over_tcp {
        return Some(bytes);
    }
    let limit = match &request.edns {
        Some(edns) => usize::from(edns.max_payload().clamp(512, UDP_PAYLOAD)),
        None => CLASSIC_UDP,
    };
    if bytes.len() <= limit {
        Some(bytes)
    } else {
        response.truncate().to_vec().ok()
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let packet = buf[..n].to_vec();
        let (socket, shared) = (socket.clone(), shared.clone());
        // Each request on its own task, so that a slow forward does not hold up the rest.
        tokio::spawn(async move {
            if let Some(answer) = respond(&shared, &packet, false).await {
                let _ = socket.send_to(&answer, peer).await;
            }
        });
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_tcp_connection(stream, shared.clone()));
    }
}

async fn serve_tcp_connection(mut stream: TcpStream, shared: Arc<Shared>) {
    let idle = std::time::Duration::from_secs(10);
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(idle, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            _ => return,
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(len))];
        if !matches!(
            tokio::time::timeout(idle, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let Some(answer) = respond(&shared, &packet, true).await else {
            return;
        };
        let Ok(len) = u16::try_from(answer.len()) else {
            return;
        };
        if stream.write_all(&len.to_be_bytes()).await.is_err()
            || stream.write_all(&answer).await.is_err()
        {
            return;
        }
    }
}

//! UDP on several threads (issue 15, item 6): one socket per worker thread, all bound to
//! the same address with `SO_REUSEPORT` on Linux (the kernel spreads the clients over
//! them), clones of one socket elsewhere. A worker answers what it can from the table's
//! pre-encoded answers (`fast.rs`) without parsing the query into a message, and hands
//! everything else to the full path (`listen::prepare`); forwards go to the runtime.
//!
//! Workers are plain threads with a blocking receive: per query that is one `recvfrom`
//! and one `sendto`, no wake-ups. The receive times out every [`POLL`], so a worker sees
//! within that time that it is to stop.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};

use super::answers::Table;
use super::limits::{Backoff, Rate};
use super::listen::{self, Prepared};
use super::{Count, Shared, fast};

/// How often a worker waiting for a query checks whether it is to stop.
const POLL: Duration = Duration::from_millis(200);
/// The receive buffer asked for each socket.
const RECEIVE_BUFFER: usize = 4 << 20;
/// The largest DNS message (UDP on loopback can carry it).
const MAX_MESSAGE: usize = 65535;

/// The worker count `configured` means: 0 = one per core.
pub fn worker_count(configured: u32) -> usize {
    match configured {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => usize::try_from(n).unwrap_or(1),
    }
}

/// Binds `count` sockets to `address` (see the module's comment).
pub fn bind(address: SocketAddr, count: usize) -> std::io::Result<Vec<UdpSocket>> {
    let first = bind_one(address)?;
    // Port 0 (tests): the others join the port the first one got.
    let address = first.local_addr()?;
    let mut sockets = vec![first];
    for _ in 1..count.max(1) {
        let next = if cfg!(any(target_os = "linux", target_os = "android")) {
            bind_one(address)?
        } else {
            sockets[0].try_clone()?
        };
        sockets.push(next);
    }
    Ok(sockets)
}

fn bind_one(address: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(
        Domain::for_address(address),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // Only sockets of the same user can join a SO_REUSEPORT group (Linux), and only
    // sockets that all set it: a port held by another program still fails the bind.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    socket.set_reuse_port(true)?;
    // A burst waits in the kernel instead of being dropped (best effort: the kernel caps
    // it at net.core.rmem_max).
    let _ = socket.set_recv_buffer_size(RECEIVE_BUFFER);
    socket.bind(&address.into())?;
    let socket: UdpSocket = socket.into();
    socket.set_read_timeout(Some(POLL))?;
    Ok(socket)
}

/// The running workers.
pub struct Workers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    /// Starts one worker per socket; `runtime` runs the forwards and the log lines.
    pub fn start(
        sockets: Vec<UdpSocket>,
        shared: &Arc<Shared>,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<Workers> {
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Workers {
            stop: stop.clone(),
            threads: Vec::new(),
        };
        for (i, socket) in sockets.into_iter().enumerate() {
            let (stop, shared, runtime) = (stop.clone(), shared.clone(), runtime.clone());
            let thread = std::thread::Builder::new()
                .name(format!("standby-dns-udp-{i}"))
                .spawn(move || {
                    let _context = runtime.enter();
                    serve(&Arc::new(socket), &shared, &stop, &runtime);
                });
            match thread {
                Ok(thread) => workers.threads.push(thread),
                Err(e) => {
                    workers.stop_blocking();
                    return Err(e);
                }
            }
        }
        Ok(workers)
    }

    /// Stops the workers and waits until their sockets are closed.
    pub async fn stop(mut self) {
        let _ = tokio::task::spawn_blocking(move || self.stop_blocking()).await;
    }

    fn stop_blocking(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        // Also when the supervisor's task is dropped: no worker outlives it for long.
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The table a worker answers from, taken again only when a new one was published.
struct Current {
    generation: u64,
    table: Arc<Table>,
}

impl Current {
    fn get(&mut self, shared: &Shared) -> &Table {
        let generation = shared.generation.load(Ordering::Acquire);
        if generation != self.generation {
            self.table = shared.table();
            self.generation = generation;
        }
        &self.table
    }
}

fn serve(
    socket: &Arc<UdpSocket>,
    shared: &Arc<Shared>,
    stop: &AtomicBool,
    runtime: &tokio::runtime::Handle,
) {
    let mut buf = vec![0u8; MAX_MESSAGE];
    let mut out = Vec::with_capacity(1500);
    let mut backoff = Backoff::default();
    let mut current = Current {
        generation: shared.generation.load(Ordering::Acquire),
        table: shared.table(),
    };
    while !stop.load(Ordering::Relaxed) {
        let (n, peer) = match socket.recv_from(&mut buf) {
            Ok(received) => {
                backoff.reset();
                received
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(e) => {
                shared.count(Count::SocketErrors, format!("UDP receive failed: {e}"));
                std::thread::sleep(backoff.pause());
                continue;
            }
        };
        let packet = &buf[..n];
        if shared.options.rate_limit_per_sec > 0 && !within_rate(shared, socket, packet, peer) {
            continue;
        }
        if let Some(question) = fast::parse(packet)
            && current
                .get(shared)
                .fast()
                .answer(&question, question.udp_limit(), &mut out)
        {
            let _ = socket.send_to(&out, peer);
            continue;
        }
        match listen::prepare(shared, packet, peer.ip(), false) {
            Prepared::Nothing => {}
            Prepared::Transfer(messages) => {
                // Over UDP a transfer answer is one small message (the SOA, or an error).
                if let Some(answer) = messages.first()
                    && answer.len() <= super::wire::CLASSIC_UDP
                {
                    let _ = socket.send_to(answer, peer);
                }
            }
            Prepared::Answer(response, request) => {
                if let Some(answer) = listen::encode(&response, &request, true) {
                    let _ = socket.send_to(&answer, peer);
                }
            }
            Prepared::Forward(request, permit) => {
                // On the runtime, so that a slow upstream holds up only this query. The
                // answer goes out through the blocking socket: a UDP send does not wait.
                let (socket, shared) = (socket.clone(), shared.clone());
                let packet = packet.to_vec();
                runtime.spawn(async move {
                    let answer = listen::forwarded(&shared, &request, &packet, true, permit).await;
                    if let Some(answer) = answer {
                        let _ = socket.send_to(&answer, peer);
                    }
                });
            }
        }
    }
}

/// Response rate limiting: whether to answer; past the limit every second answer is
/// dropped and the other sent truncated (the client retries over TCP).
fn within_rate(shared: &Shared, socket: &UdpSocket, packet: &[u8], peer: SocketAddr) -> bool {
    let over = match shared.rate(peer.ip()) {
        Rate::Send => return true,
        over => over,
    };
    shared.count(
        Count::RateLimited,
        format!("answers to {}'s network over the rate limit", peer.ip()),
    );
    if over == Rate::Slip
        && let Ok(request) = Message::from_vec(packet)
        && request.metadata.message_type == MessageType::Query
    {
        let mut response = listen::short_answer(&request, ResponseCode::NoError);
        response.metadata.truncation = true;
        if let Some(answer) = listen::encode(&response, &request, true) {
            let _ = socket.send_to(&answer, peer);
        }
    }
    false
}

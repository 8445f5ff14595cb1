//! The built-in DNS server (SPEC §5): answers A/AAAA for the sets' host names with the
//! addresses the engine decided, over UDP and TCP; forwards or refuses everything else.
//! Like the API it is a client of the engine: it reads snapshots, and a supervisor thread
//! (re)binds whenever the DNS-serving options change.

pub mod answers;
pub mod fast;
mod forward;
mod limits;
mod listen;
mod notify;
pub mod transfer;
mod udp;
pub mod wire;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::engine::follow::Follower;
use crate::engine::{Command, EngineClient, Level};
use crate::model::options::DnsServingOptions;
use answers::Table;
use limits::Tally;

pub use wire::UDP_PAYLOAD;

/// What the limits turn away, counted and logged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Count {
    /// TCP connections closed because `max_tcp_connections` were open.
    ConnectionsOverLimit,
    /// Queries answered SERVFAIL because `max_forwards_in_flight` were waiting.
    ForwardsOverLimit,
    /// Failed `accept()` / `recv_from()` calls (each followed by a pause).
    SocketErrors,
    /// Queries for other names from clients not allowed to use forwarding (REFUSED).
    ForwardsNotAllowed,
    /// UDP answers dropped or truncated by response rate limiting.
    RateLimited,
    /// Zone transfers refused (not listed, unsigned, bad signature, not decided yet).
    TransfersRefused,
}

/// What every listener shares.
struct Shared {
    table: RwLock<Arc<Table>>,
    /// Grows with every new table, so that the UDP workers take the lock only then.
    generation: AtomicU64,
    options: DnsServingOptions,
    /// A place per open TCP connection.
    connections: Arc<Semaphore>,
    /// A place per forward in flight.
    forwards: Arc<Semaphore>,
    tallies: Mutex<[Tally; 6]>,
    /// Networks whose queries may be forwarded.
    forward_networks: Vec<(IpAddr, u8)>,
    rate: Mutex<limits::RateLimiter>,
    client: EngineClient,
    /// The zones' past versions, for IXFR (kept across rebinds).
    journal: Arc<transfer::Journal>,
}

impl Shared {
    fn new(
        table: Arc<Table>,
        options: DnsServingOptions,
        client: EngineClient,
        journal: Arc<transfer::Journal>,
    ) -> Shared {
        let places = |n: u32| Arc::new(Semaphore::new(usize::try_from(n.max(1)).unwrap_or(1)));
        Shared {
            table: RwLock::new(table),
            generation: AtomicU64::new(0),
            connections: places(options.max_tcp_connections),
            forwards: places(options.max_forwards_in_flight),
            forward_networks: options
                .forward_allowed_from
                .iter()
                .filter_map(|n| crate::model::options::parse_network(n).ok())
                .collect(),
            rate: Mutex::new(limits::RateLimiter::new(options.rate_limit_per_sec)),
            options,
            tallies: Mutex::default(),
            client,
            journal,
        }
    }

    fn table(&self) -> Arc<Table> {
        match self.table.read() {
            Ok(t) => t.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn may_forward(&self, client: IpAddr) -> bool {
        self.forward_networks
            .iter()
            .any(|n| crate::model::options::network_contains(*n, client))
    }

    fn rate(&self, client: IpAddr) -> limits::Rate {
        let now = tokio::time::Instant::now();
        match self.rate.lock() {
            Ok(mut r) => r.check(client, now),
            Err(poisoned) => poisoned.into_inner().check(client, now),
        }
    }

    /// Counts one thing a limit turned away; the first, then at most one line per
    /// interval, goes to the engine's log with the counts.
    fn count(&self, what: Count, detail: String) {
        let now = tokio::time::Instant::now();
        let due = match self.tallies.lock() {
            Ok(mut tallies) => tallies[what as usize].note(now),
            Err(poisoned) => poisoned.into_inner()[what as usize].note(now),
        };
        let Some((since, total)) = due else { return };
        let text = format!("DNS serving: {detail} ({since} since the last report, {total} in all)");
        let client = self.client.clone();
        tokio::spawn(async move { client.log(Level::Warning, text).await });
    }
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
    // What each set was last served with, for the "now serving" events.
    let mut served = BTreeMap::new();
    // Standby as a primary: the versions its zones served, and the NOTIFYs to secondaries.
    let journal = Arc::new(transfer::Journal::default());
    let mut notifier = notify::Notifier::new(client.clone());
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
        let workers = udp::worker_count(options.udp_workers);
        let (udp, tcp) = match bind(address, workers).await {
            Ok(sockets) => sockets,
            Err(e) => {
                let text = format!("DNS serving: cannot listen on {address}: {e}");
                client.log(Level::Error, text).await;
                continue;
            }
        };
        let text = format!("serving DNS on {address} (UDP on {workers} threads, and TCP)");
        client.log(Level::Info, text).await;
        let snapshot = client.snapshot();
        let table = Arc::new(Table::build(&snapshot, &mut memory, now_unix()));
        announce(&client, &snapshot, &table, &mut served).await;
        let shared = Arc::new(Shared::new(
            table.clone(),
            options.clone(),
            client.clone(),
            journal.clone(),
        ));
        let udp_workers = match udp::Workers::start(udp, &shared, tokio::runtime::Handle::current())
        {
            Ok(workers) => workers,
            Err(e) => {
                let text = format!("DNS serving: cannot start the UDP threads: {e}");
                client.log(Level::Error, text).await;
                continue;
            }
        };
        let tcp_task = tokio::spawn(listen::serve_tcp(tcp, shared.clone()));
        notify::after_change(&mut notifier, &journal, &table, &options, address.ip());
        // Follow the snapshots; stop serving when the options change.
        while let Some(snapshot) = unchanged.next().await {
            let table = Arc::new(Table::build(&snapshot, &mut memory, now_unix()));
            announce(&client, &snapshot, &table, &mut served).await;
            if let Ok(mut slot) = shared.table.write() {
                *slot = table.clone();
            }
            shared.generation.fetch_add(1, Ordering::Release);
            // After the swap: a secondary told of the change must find it when it asks.
            notify::after_change(&mut notifier, &journal, &table, &options, address.ip());
        }
        tcp_task.abort();
        // Wait until the sockets are closed, so that the next bind can take the port.
        udp_workers.stop().await;
        let _ = tcp_task.await;
        client
            .log(Level::Info, format!("DNS serving on {address} stopped"))
            .await;
    }
}

/// Seconds since 1970 (the floor of a zone's next serial).
fn now_unix() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX)
}

/// Tells the engine about every set whose served addresses changed (an event each).
async fn announce(
    client: &EngineClient,
    snapshot: &crate::engine::Snapshot,
    table: &Table,
    served: &mut BTreeMap<String, Vec<IpAddr>>,
) {
    let now = table.served();
    for (set, new_ips) in &now {
        if served.get(set) == Some(new_ips) {
            continue;
        }
        let host = snapshot
            .settings
            .set(set)
            .and_then(|s| s.dns.host_names.first().cloned())
            .unwrap_or_default();
        let command = Command::DnsServed {
            set: set.clone(),
            host,
            old_ips: served.get(set).cloned().unwrap_or_default(),
            new_ips: new_ips.clone(),
        };
        if client.send(command).await.is_err() {
            return;
        }
    }
    *served = now;
}

/// Binds UDP (`workers` sockets) and TCP; a port just released by the previous listener
/// may take a moment (requests in flight still hold the old socket), so a few short retries.
async fn bind(
    address: SocketAddr,
    workers: usize,
) -> std::io::Result<(Vec<std::net::UdpSocket>, TcpListener)> {
    let mut tries = 0;
    loop {
        let udp = udp::bind(address, workers);
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

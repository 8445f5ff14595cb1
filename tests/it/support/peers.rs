//! Real DNS peers for the tests: BIND 9 and Knot DNS, each started by its script beside this
//! file as a foreground child in a temp dir of its own, on a port of its own, so that tests
//! run in parallel. Install them with `scripts/install-deps.sh`.
//!
//! A peer is killed when dropped.
#![allow(dead_code)] // each area uses a part

pub mod etcd;
pub mod moto;
pub mod pdns;
pub mod unbound;

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use standby::model::{DnsServer, Rfc2136Update, Secret, TsigAlgorithm, TsigKey, UpdateMethod};
use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout};

use super::ports::{free_addr, port_free};

/// The zone both scripts serve (and allow updates to).
pub const ZONE: &str = "example.test";
/// How long a peer may take to start (and a secondary to load its zone).
const START_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bind,
    Knot,
}

impl Kind {
    fn script(self) -> PathBuf {
        let name = match self {
            Kind::Bind => "bind.sh",
            Kind::Knot => "knot.sh",
        };
        super::peer_script(name)
    }

    fn program(self) -> &'static str {
        match self {
            Kind::Bind => "named",
            Kind::Knot => "knotd",
        }
    }

    /// A fresh loopback address for this kind. named binds only addresses an interface
    /// carries (127.0.0.1 here, and we do not change the host's interfaces from tests);
    /// knotd binds any 127.x, so each Knot gets an address of its own.
    fn address(self) -> IpAddr {
        static NEXT: AtomicU8 = AtomicU8::new(0);
        match self {
            Kind::Bind => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Kind::Knot => {
                let n = NEXT.fetch_add(1, Ordering::Relaxed) % 200;
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, 20 + n))
            }
        }
    }

    /// The TSIG algorithms the peer accepts (both scripts configure all six).
    pub fn algorithms(self) -> &'static [TsigAlgorithm] {
        &TsigAlgorithm::ALL
    }
}

/// A running (or stopped) DNS server.
pub struct Peer {
    pub kind: Kind,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    /// The zone it serves ([`ZONE`] unless a secondary of another).
    pub zone: String,
    /// The script's options (before DIR) and arguments after DIR, to start it again.
    options: Vec<String>,
    args: Vec<String>,
    child: Option<Child>,
}

impl Peer {
    /// A primary for `example.test` that takes TSIG-signed updates.
    pub async fn primary(kind: Kind) -> Peer {
        let addr = free_addr(kind.address());
        Peer::start(kind, addr, Vec::new()).await
    }

    /// A BIND primary (as [`Peer::primary`]) on `addr`, an address an interface carries.
    pub async fn bind_at(addr: SocketAddr) -> Peer {
        Peer::start(Kind::Bind, addr, Vec::new()).await
    }

    /// A primary whose zone is DNSSEC-signed (`--dnssec`: BIND's `dnssec-policy` with inline
    /// signing, Knot's automatic signing); returns once it serves the zone's DNSKEY.
    pub async fn signed_primary(kind: Kind) -> Peer {
        let addr = free_addr(kind.address());
        let peer = Peer::start_with(kind, addr, vec!["--dnssec".into()], Vec::new(), ZONE).await;
        let until = Instant::now() + START_TIMEOUT;
        while peer.dig(ZONE, "DNSKEY").await.is_empty() {
            assert!(
                Instant::now() < until,
                "{} did not sign {ZONE}\n{}",
                kind.program(),
                peer.log()
            );
            // Bounded poll while the first keys are made and the zone signed.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peer
    }

    /// A BIND primary started with `options` of bind.sh (`--ns NAME[=ADDR]`...), that
    /// NOTIFYs `secondary` after each change when given.
    pub async fn bind_with(options: &[String], secondary: Option<SocketAddr>) -> Peer {
        let addr = free_addr(Kind::Bind.address());
        let extra = secondary
            .map(|s| vec![s.ip().to_string(), s.port().to_string()])
            .unwrap_or_default();
        Peer::start_with(Kind::Bind, addr, options.to_vec(), extra, ZONE).await
    }

    /// A BIND primary that NOTIFYs `secondary` after each change.
    pub async fn bind_notifying(secondary: SocketAddr) -> Peer {
        let addr = free_addr(Kind::Bind.address());
        let extra = vec![secondary.ip().to_string(), secondary.port().to_string()];
        Peer::start(Kind::Bind, addr, extra).await
    }

    /// A Knot secondary for `example.test` at `addr` (from [`Peer::secondary_addr`]) that
    /// transfers from `primary`; returns once it serves the zone.
    pub async fn knot_secondary(addr: SocketAddr, primary: SocketAddr) -> Peer {
        let extra = vec![primary.ip().to_string(), primary.port().to_string()];
        Peer::start(Kind::Knot, addr, extra).await
    }

    /// Where the next Knot secondary will listen (known before its primary starts, so the
    /// primary can be told whom to NOTIFY).
    pub fn secondary_addr() -> SocketAddr {
        free_addr(Kind::Knot.address())
    }

    /// A BIND primary and a Knot secondary of it, both serving the zone and both listed
    /// as its name servers (ns1, ns2). They share one port on two addresses, so a
    /// propagation check that asks every NS address at the DNS server's port finds both.
    pub async fn bind_with_knot_secondary() -> (Peer, Peer) {
        let primary_ip = Kind::Bind.address();
        let secondary_ip = Kind::Knot.address();
        let port = (0..50)
            .map(|_| free_addr(primary_ip).port())
            .find(|&port| port_free(SocketAddr::new(secondary_ip, port)))
            .expect("a port free on both addresses");
        let secondary_addr = SocketAddr::new(secondary_ip, port);
        let extra = vec![secondary_ip.to_string(), port.to_string()];
        let primary = Peer::start(Kind::Bind, SocketAddr::new(primary_ip, port), extra).await;
        let secondary = Peer::knot_secondary(secondary_addr, primary.addr).await;
        (primary, secondary)
    }

    /// A BIND or Knot secondary at `addr` of `zone` from `primary` (NOTIFYs from loopback
    /// accepted; with `key`, everything it asks the primary is signed); returns once it
    /// serves the zone.
    pub async fn secondary_of(
        kind: Kind,
        addr: SocketAddr,
        zone: &str,
        primary: SocketAddr,
        key: Option<&TsigKey>,
    ) -> Peer {
        let (ip, port) = (primary.ip().to_string(), primary.port().to_string());
        let mut extra = match kind {
            Kind::Bind => vec!["secondary".into(), zone.into(), ip, port],
            Kind::Knot => vec![ip, port, zone.into()],
        };
        if let Some(key) = key {
            extra.push(key.algorithm.name().into());
            extra.push(key.name.clone());
            extra.push(key.secret.expose().into());
        }
        Peer::start_with(kind, addr, Vec::new(), extra, zone).await
    }

    /// A fresh address for a peer of `kind` (BIND: 127.0.0.1, Knot: its own 127.0.0.x).
    pub fn free_addr_for(kind: Kind) -> SocketAddr {
        free_addr(kind.address())
    }

    async fn start(kind: Kind, addr: SocketAddr, extra: Vec<String>) -> Peer {
        Peer::start_with(kind, addr, Vec::new(), extra, ZONE).await
    }

    async fn start_with(
        kind: Kind,
        addr: SocketAddr,
        options: Vec<String>,
        extra: Vec<String>,
        zone: &str,
    ) -> Peer {
        let mut args = vec![addr.ip().to_string(), addr.port().to_string()];
        args.extend(extra);
        let mut peer = Peer {
            kind,
            addr,
            dir: tempfile::tempdir().unwrap(),
            zone: zone.to_string(),
            options,
            args,
            child: None,
        };
        peer.spawn().await;
        peer
    }

    async fn spawn(&mut self) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let child = Command::new("bash")
            .arg(self.kind.script())
            .args(&self.options)
            .arg(self.dir.path())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", self.kind.script()));
        self.child = Some(child);
        self.wait_ready().await;
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until the server answers an SOA question for the zone authoritatively, or
    /// panics with its log after [`START_TIMEOUT`].
    async fn wait_ready(&mut self) {
        let until = Instant::now() + START_TIMEOUT;
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let query = soa_query(&self.zone);
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "{} exited ({status}) before answering; is it installed \
                     (scripts/install-deps.sh)?\n{}",
                    self.kind.program(),
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "{} at {} did not serve {} within {START_TIMEOUT:?}\n{}",
                self.kind.program(),
                self.addr,
                self.zone,
                self.log()
            );
            socket.send_to(&query, self.addr).await.unwrap();
            // Each try waits at most 100 ms for its answer: a bounded poll, not a sleep.
            if let Ok(Ok((len, _))) =
                timeout(Duration::from_millis(100), socket.recv_from(&mut buffer)).await
            {
                let answer = &buffer[..len];
                let authoritative = len >= 12 && answer[2] & 0x04 != 0;
                let rcode = answer.get(3).map(|b| b & 0x0f);
                if authoritative && rcode == Some(0) {
                    return;
                } else {
                    // Not loaded yet (a secondary before its transfer): ask again soon.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Kills the server (the PID the script exec'd into) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again in the same directory (same keys, same data, same port).
    pub async fn restart(&mut self) {
        self.stop();
        self.spawn().await;
    }

    /// This server as a set's DNS server: RFC 2136 updates signed with its HMAC-SHA256 key.
    pub fn rfc2136_server(&self) -> DnsServer {
        DnsServer {
            address: self.addr.ip().to_string(),
            port: self.addr.port(),
            update: UpdateMethod::Rfc2136(Rfc2136Update {
                tsig: Some(self.key(TsigAlgorithm::HmacSha256)),
            }),
            ..DnsServer::default()
        }
    }

    /// The key the script made for `algorithm`.
    pub fn key(&self, algorithm: TsigAlgorithm) -> TsigKey {
        let keys = std::fs::read_to_string(self.dir.path().join("keys.txt")).unwrap();
        let line = keys
            .lines()
            .find(|l| l.split(' ').next() == Some(algorithm.name()))
            .unwrap_or_else(|| panic!("no {} key in keys.txt", algorithm.name()));
        let mut fields = line.split(' ');
        let _ = fields.next();
        TsigKey {
            name: fields.next().unwrap().to_string(),
            algorithm,
            secret: Secret::new(fields.next().unwrap()),
        }
    }

    /// `dig @server NAME TYPE +short` without recursion, bounded.
    pub async fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        dig(self.addr, name, rtype).await
    }
}

/// `dig @addr NAME TYPE +short` without recursion, bounded; the lines sorted.
pub async fn dig(addr: SocketAddr, name: &str, rtype: &str) -> Vec<String> {
    let output = tokio::process::Command::new("dig")
        .arg(format!("@{}", addr.ip()))
        .args(["-p", &addr.port().to_string()])
        .args([name, rtype, "+norec", "+short", "+time=2", "+tries=1"])
        .kill_on_drop(true)
        .output();
    let output = timeout(Duration::from_secs(5), output)
        .await
        .expect("dig took too long")
        .expect("dig runs (bind9-dnsutils)");
    let mut lines: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A bare SOA question for `zone`, RD off.
fn soa_query(zone: &str) -> Vec<u8> {
    let mut query = vec![0x51, 0x1e, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in zone.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 6, 0, 1]);
    query
}

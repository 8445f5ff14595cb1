//! A real PowerDNS Authoritative server with its HTTP API (tests/peers/pdns.sh), as a
//! foreground child in a temp dir of its own, killed when dropped.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout};

use super::{START_TIMEOUT, ZONE, free_addr, soa_query};

/// A running PowerDNS with the zone `example.test` (www A 192.0.2.10).
pub struct PowerDns {
    /// Its DNS listener.
    pub addr: SocketAddr,
    /// The API's base URL, `http://127.0.0.x:port`.
    pub api: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl PowerDns {
    /// Starts one whose API wants `key`; returns once it answers for the zone.
    pub async fn start(key: &str) -> PowerDns {
        PowerDns::start_with(&[], key).await
    }

    /// As [`PowerDns::start`], with options of pdns.sh (`--dnsupdate`).
    pub async fn start_with(options: &[&str], key: &str) -> PowerDns {
        // pdns binds any 127.x directly; 127.0.0.220 and up are its own here.
        static NEXT: AtomicU8 = AtomicU8::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed) % 30;
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 220 + n));
        let addr = free_addr(ip);
        let api_port = crate::support::ports::free_port(ip);
        let dir = tempfile::tempdir().unwrap();
        let script = crate::support::peer_script("pdns.sh");
        let log = File::create(dir.path().join("server.log")).unwrap();
        let child = Command::new("bash")
            .arg(&script)
            .args(options)
            .arg(dir.path().join("data"))
            .args([
                ip.to_string(),
                addr.port().to_string(),
                api_port.to_string(),
            ])
            .arg(key)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {script:?}: {e}"));
        let mut pdns = PowerDns {
            addr,
            api: format!("http://{ip}:{api_port}"),
            dir,
            child,
        };
        pdns.wait_ready().await;
        pdns
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `dig @pdns NAME TYPE +short`, bounded.
    pub async fn dig(&self, name: &str, rtype: &str) -> Vec<String> {
        super::dig(self.addr, name, rtype).await
    }

    /// Until it answers the zone's SOA authoritatively and its API port takes connections.
    async fn wait_ready(&mut self) {
        let until = Instant::now() + START_TIMEOUT;
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let query = soa_query(ZONE);
        let mut buffer = [0u8; 4096];
        let api: SocketAddr = self.api.trim_start_matches("http://").parse().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "pdns_server exited ({status}) before answering; is it installed \
                     (scripts/install-deps.sh)?\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "PowerDNS at {} did not serve {ZONE} within {START_TIMEOUT:?}\n{}",
                self.addr,
                self.log()
            );
            socket.send_to(&query, self.addr).await.unwrap();
            // Each try waits at most 100 ms for its answer: a bounded poll, not a sleep.
            if let Ok(Ok((len, _))) =
                timeout(Duration::from_millis(100), socket.recv_from(&mut buffer)).await
                && len >= 12
                && buffer[2] & 0x04 != 0
                && buffer[3] & 0x0f == 0
                && tokio::net::TcpStream::connect(api).await.is_ok()
            {
                return;
            }
        }
    }
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

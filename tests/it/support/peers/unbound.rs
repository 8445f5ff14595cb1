//! A real unbound resolver on loopback (tests/peers/unbound.sh), killed when dropped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::{Instant, timeout};

pub struct Unbound {
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Unbound {
    /// Starts unbound with `extra` inside its server: clause and `zones` (stub-zone:
    /// clauses) after it; returns once it answers.
    pub async fn start(extra: &str, zones: &str) -> Unbound {
        Unbound::start_with(&[], extra, zones).await
    }

    /// As [`Unbound::start`], with options of unbound.sh (`--trust-anchor FILE`).
    pub async fn start_with(options: &[String], extra: &str, zones: &str) -> Unbound {
        let addr = super::free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
        Unbound::start_at(addr, options, extra, zones).await
    }

    /// As [`Unbound::start_with`], on `addr` (port 53 for the system's resolver, which
    /// asks no other port).
    pub async fn start_at(
        addr: SocketAddr,
        options: &[String],
        extra: &str,
        zones: &str,
    ) -> Unbound {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("extra.conf"), extra).unwrap();
        std::fs::write(dir.path().join("zones.conf"), zones).unwrap();
        let log = std::fs::File::create(dir.path().join("unbound.log")).unwrap();
        let script = crate::support::peer_script("unbound.sh");
        let child = Command::new("bash")
            .arg(script)
            .args(options)
            .arg(dir.path())
            .args([addr.ip().to_string(), addr.port().to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut unbound = Unbound { addr, dir, child };
        unbound.wait_ready().await;
        unbound
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("unbound.log")).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(20);
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // ready.test. TXT, RD set.
        let mut query = vec![0x7e, 0x57, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in ["ready", "test"] {
            query.push(label.len() as u8);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 16, 0, 1]);
        let mut buffer = [0u8; 4096];
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "unbound exited ({status}); is it installed (scripts/install-deps.sh)?\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < until,
                "unbound did not start\n{}",
                self.log()
            );
            socket.send_to(&query, self.addr).await.unwrap();
            // Each try waits at most 100 ms for its answer: a bounded poll, not a sleep.
            if let Ok(Ok((len, _))) =
                timeout(Duration::from_millis(100), socket.recv_from(&mut buffer)).await
                && len >= 12
                && buffer[3] & 0x0f == 0
            {
                return;
            }
        }
    }
}

impl Drop for Unbound {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

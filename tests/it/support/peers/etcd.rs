//! A real etcd member on loopback (tests/peers/etcd.sh), killed when dropped.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

pub struct Etcd {
    /// The client address (`http://ADDR:PORT`).
    pub client: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
    peer_port: u16,
}

impl Etcd {
    /// Starts a single-member etcd on 127.0.0.`host`; returns once it answers `/health`.
    pub async fn start(host: u8) -> Etcd {
        Etcd::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))).await
    }

    /// Starts a single-member etcd on `ip` (an address an interface here carries).
    pub async fn start_on(ip: IpAddr) -> Etcd {
        let client = crate::support::ports::free_addr(ip);
        let peer = crate::support::ports::free_port(ip);
        let dir = tempfile::tempdir().unwrap();
        let child = spawn(dir.path(), client, peer);
        let mut etcd = Etcd {
            client,
            dir,
            child,
            peer_port: peer,
        };
        etcd.wait_ready().await;
        etcd
    }

    /// Kills the member and starts it again on its data (same addresses, same keys); returns
    /// once it answers again.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn(self.dir.path(), self.client, self.peer_port);
        self.wait_ready().await;
    }

    /// Kills the member; its data stays for [`Etcd::start_again`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the killed member again on its data; returns once it answers.
    pub async fn start_again(&mut self) {
        self.child = spawn(self.dir.path(), self.client, self.peer_port);
        self.wait_ready().await;
    }

    /// Compacts the store's history up to `revision` (etcdctl), as an operator or etcd's
    /// auto-compaction would.
    pub fn compact(&self, revision: i64) {
        let status = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.url(), "compact", &revision.to_string()])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "etcdctl compact failed");
    }

    /// The client URL, as the cluster section lists it.
    pub fn url(&self) -> String {
        format!("http://{}", self.client)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// A client of this member alone.
    pub fn client(&self) -> standby::cluster::Etcd {
        let section = standby::model::Cluster {
            endpoints: vec![self.url()],
            instance: "test".into(),
            ..Default::default()
        };
        standby::cluster::Etcd::new(&section, Duration::from_secs(2)).unwrap()
    }

    async fn wait_ready(&mut self) {
        let until = Instant::now() + Duration::from_secs(20);
        let client = self.client();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "etcd exited ({status}); is etcd-server installed (scripts/install-deps.sh)?\n{}",
                    self.log()
                );
            }
            assert!(Instant::now() < until, "etcd did not start\n{}", self.log());
            if client.get("/ready").await.is_ok() {
                return;
            }
            // Refused at once while etcd starts: a short pause between tries, bounded above.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn spawn(dir: &std::path::Path, client: SocketAddr, peer: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("etcd.log"))
        .unwrap();
    Command::new("bash")
        .arg(crate::support::peer_script("etcd.sh"))
        .arg(dir)
        .args(["e1".to_string(), client.ip().to_string()])
        .args([client.port().to_string(), peer.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

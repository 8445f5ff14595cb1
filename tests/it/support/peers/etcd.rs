//! A real etcd member on loopback (tests/peers/etcd.sh), killed when dropped. Plain HTTP by
//! default; [`Etcd::start_with`] gives etcd flags of its own (TLS, client certificates,
//! token TTL) and the TLS and user of the peer's own client.

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
    /// The member's name and the cluster's initial list (`None`: a member alone).
    name: String,
    initial: Option<String>,
    /// etcd's own flags, passed again at a restart.
    flags: Vec<String>,
    /// How the peer's own client reaches it: its endpoint, TLS and user.
    access: standby::model::Cluster,
}

impl Etcd {
    /// Starts a single-member etcd on 127.0.0.`host`; returns once it answers `/health`.
    pub async fn start(host: u8) -> Etcd {
        Etcd::start_on(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))).await
    }

    /// Starts a single-member etcd on `ip` (an address an interface here carries).
    pub async fn start_on(ip: IpAddr) -> Etcd {
        Etcd::start_with(ip, Vec::new(), standby::model::Cluster::default()).await
    }

    /// Starts a single-member etcd on `ip` with `flags` of its own (`--cert-file` makes it
    /// serve https); `access` is what the peer's own client (the readiness check,
    /// [`Etcd::client`]) uses of a cluster section: its TLS, user and password (its
    /// endpoints are this member's).
    pub async fn start_with(
        ip: IpAddr,
        flags: Vec<String>,
        access: standby::model::Cluster,
    ) -> Etcd {
        let client = crate::support::ports::free_addr(ip);
        let peer = crate::support::ports::free_port(ip);
        let dir = tempfile::tempdir().unwrap();
        let scheme = if flags.iter().any(|f| f == "--cert-file") {
            "https"
        } else {
            "http"
        };
        let access = standby::model::Cluster {
            endpoints: vec![format!("{scheme}://{client}")],
            instance: "test".into(),
            ..access
        };
        let mut etcd = Etcd {
            client,
            child: spawn(dir.path(), client, peer, "e1", None, &flags),
            dir,
            peer_port: peer,
            name: "e1".into(),
            initial: None,
            flags,
            access,
        };
        etcd.wait_ready().await;
        etcd
    }

    /// Starts a cluster of one member on each of `ips` (e1, e2, ...); returns once every
    /// member answers (a member answers only once a majority runs).
    pub async fn start_cluster(ips: &[IpAddr]) -> Vec<Etcd> {
        let places: Vec<(SocketAddr, u16)> = ips
            .iter()
            .map(|ip| {
                (
                    crate::support::ports::free_addr(*ip),
                    crate::support::ports::free_port(*ip),
                )
            })
            .collect();
        let initial = places
            .iter()
            .enumerate()
            .map(|(i, (client, peer))| format!("e{}=http://{}:{peer}", i + 1, client.ip()))
            .collect::<Vec<_>>()
            .join(",");
        let mut members: Vec<Etcd> = places
            .into_iter()
            .enumerate()
            .map(|(i, (client, peer))| {
                let dir = tempfile::tempdir().unwrap();
                let name = format!("e{}", i + 1);
                Etcd {
                    client,
                    child: spawn(dir.path(), client, peer, &name, Some(&initial), &[]),
                    dir,
                    peer_port: peer,
                    name,
                    initial: Some(initial.clone()),
                    flags: Vec::new(),
                    access: standby::model::Cluster {
                        endpoints: vec![format!("http://{client}")],
                        instance: "test".into(),
                        ..Default::default()
                    },
                }
            })
            .collect();
        for member in &mut members {
            member.wait_ready().await;
        }
        members
    }

    /// Whether this member is the raft leader of its cluster now (etcdctl's status).
    pub fn is_raft_leader(&self) -> bool {
        let out = Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &self.url(),
                "endpoint",
                "status",
                "-w",
                "json",
            ])
            .output()
            .unwrap();
        let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let status = &status[0]["Status"];
        status["leader"]
            .as_u64()
            .is_some_and(|leader| status["header"]["member_id"].as_u64() == Some(leader))
    }

    /// Kills the member and starts it again on its data (same addresses, same keys); returns
    /// once it answers again.
    pub async fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = self.spawn_again();
        self.wait_ready().await;
    }

    fn spawn_again(&self) -> Child {
        let initial = self.initial.as_deref();
        spawn(
            self.dir.path(),
            self.client,
            self.peer_port,
            &self.name,
            initial,
            &self.flags,
        )
    }

    /// Kills the member; its data stays for [`Etcd::start_again`].
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the killed member again on its data; returns once it answers (a member of
    /// a cluster: once a majority runs).
    pub async fn start_again(&mut self) {
        self.child = self.spawn_again();
        self.wait_ready().await;
    }

    /// Starts the killed member again without waiting for it.
    pub fn spawn_only(&mut self) {
        self.child = self.spawn_again();
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

    /// Runs etcdctl against this member with the peer's own access (TLS files, user);
    /// returns its output, or fails the test with etcdctl's error.
    pub fn etcdctl(&self, args: &[&str]) -> String {
        let mut command = Command::new("etcdctl");
        command
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.url()]);
        if let Some(tls) = &self.access.tls {
            for (flag, file) in [
                ("--cacert", &tls.ca_file),
                ("--cert", &tls.client_certificate),
                ("--key", &tls.client_key),
            ] {
                if let Some(file) = file {
                    command.arg(flag).arg(file);
                }
            }
        }
        if !self.access.user.is_empty() {
            let user = format!("{}:{}", self.access.user, self.access.password.expose());
            command.args(["--user", &user]);
        }
        let out = command.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "etcdctl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Sets the user and password of the peer's own client (once etcd has them).
    pub fn log_in_as(&mut self, user: &str, password: &str) {
        self.access.user = user.into();
        self.access.password = standby::model::Secret::new(password);
    }

    /// The client URL, as the cluster section lists it.
    pub fn url(&self) -> String {
        self.access.endpoints[0].clone()
    }

    /// A cluster section that reaches this member as the peer's own client does (its
    /// TLS and user), for a test to change.
    pub fn access(&self) -> standby::model::Cluster {
        self.access.clone()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
    }

    /// A client of this member alone.
    pub fn client(&self) -> standby::cluster::Etcd {
        standby::cluster::Etcd::new(&self.access, Duration::from_secs(2)).unwrap()
    }

    /// Returns once the member answers (a member of a cluster: once a majority runs).
    pub async fn wait_ready(&mut self) {
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

fn spawn(
    dir: &std::path::Path,
    client: SocketAddr,
    peer: u16,
    name: &str,
    initial: Option<&str>,
    flags: &[String],
) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("etcd.log"))
        .unwrap();
    Command::new("bash")
        .arg(crate::support::peer_script("etcd.sh"))
        .arg(dir)
        .args([name.to_string(), client.ip().to_string()])
        .args([client.port().to_string(), peer.to_string()])
        .arg(initial.unwrap_or(""))
        .arg("--")
        .args(flags)
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

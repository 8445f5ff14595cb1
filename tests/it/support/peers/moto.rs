//! moto's Route 53 emulator (tests/peers/moto.sh) as a foreground child, killed when
//! dropped, and boto3 (tests/peers/route53.py) to set it up and read it independently.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::time::{Instant, timeout};

/// moto (a Python server) may take a while to import on a busy machine.
const MOTO_START: Duration = Duration::from_secs(60);

fn venv() -> PathBuf {
    std::env::var_os("STANDBY_MOTO_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache/standby/moto-venv")
        })
}

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.x:port`.
    pub endpoint: String,
    dir: tempfile::TempDir,
    child: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        static NEXT: AtomicU8 = AtomicU8::new(0);
        let ip = IpAddr::V4(Ipv4Addr::new(
            127,
            0,
            0,
            190 + NEXT.fetch_add(1, Ordering::Relaxed) % 20,
        ));
        let port = TcpListener::bind(SocketAddr::new(ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let log = File::create(dir.path().join("moto.log")).unwrap();
        let child = Command::new("bash")
            .arg(crate::support::peer_script("moto.sh"))
            .args([ip.to_string(), port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut moto = Moto {
            endpoint: format!("http://{ip}:{port}"),
            dir,
            child,
        };
        let until = Instant::now() + MOTO_START;
        let addr = SocketAddr::new(ip, port);
        loop {
            if let Some(status) = moto.child.try_wait().unwrap() {
                panic!(
                    "moto_server exited ({status}); run `bash tests/peers/moto.sh --install`\n{}",
                    moto.log()
                );
            }
            assert!(
                Instant::now() < until,
                "moto did not listen\n{}",
                moto.log()
            );
            // Each try is bounded; a refused connect returns at once, so pace the tries.
            if let Ok(Ok(_)) = timeout(
                Duration::from_millis(200),
                tokio::net::TcpStream::connect(addr),
            )
            .await
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("moto.log")).unwrap_or_default()
    }

    /// Runs route53.py with `args`; its standard output, trimmed.
    pub async fn boto(&self, args: &[&str]) -> String {
        let output = tokio::process::Command::new(venv().join("bin/python"))
            .arg(crate::support::peer_script("route53.py"))
            .arg(&self.endpoint)
            .args(args)
            .kill_on_drop(true)
            .output();
        let output = timeout(Duration::from_secs(60), output)
            .await
            .expect("boto3 took too long")
            .expect("the moto venv's python runs");
        assert!(
            output.status.success(),
            "route53.py {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// A new hosted zone; its id.
    pub async fn create_zone(&self, name: &str) -> String {
        self.boto(&["create", name]).await
    }

    /// `"60 192.0.2.10"`: the TTL and the sorted values, or "" when there is no such set.
    pub async fn get(&self, zone: &str, name: &str, kind: &str) -> String {
        self.boto(&["get", zone, name, kind]).await
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

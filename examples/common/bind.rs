//! A real BIND 9 for the benchmarks, from tests/peers/bind.sh on 127.0.0.1 (TSIG keys in
//! its keys.txt), killed when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command as Process, Stdio};
use std::time::{Duration, Instant};

use standby::dnsupdate::lookup::current_records;
use standby::model::{Secret, TsigAlgorithm, TsigKey};

use super::fail;

pub struct Bind {
    child: Child,
    pub addr: SocketAddr,
    pub key: TsigKey,
    _dir: tempfile::TempDir,
}

impl Drop for Bind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn start_bind() -> Bind {
    let dir = tempfile::tempdir().unwrap_or_else(|e| fail(&format!("tempdir: {e}")));
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| fail(&format!("port: {e}")));
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/bind.sh");
    let child = Process::new("bash")
        .arg(script)
        .arg(dir.path().join("bind"))
        .arg("127.0.0.1")
        .arg(port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| fail(&format!("cannot start named: {e}")));
    // Wait (bounded) until it answers.
    let deadline = Instant::now() + Duration::from_secs(20);
    while current_records(addr, "www.example.test", false, Duration::from_millis(200))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            fail("named did not start (is bind9 installed? scripts/install-deps.sh)");
        }
    }
    let keys = std::fs::read_to_string(dir.path().join("bind/keys.txt"))
        .unwrap_or_else(|e| fail(&format!("keys: {e}")));
    let line = keys
        .lines()
        .find(|l| l.starts_with("hmac-sha256 "))
        .unwrap_or_else(|| fail("no sha256 key"));
    let fields: Vec<&str> = line.split(' ').collect();
    let key = TsigKey {
        name: fields[1].into(),
        algorithm: TsigAlgorithm::HmacSha256,
        secret: Secret::new(fields[2]),
    };
    Bind {
        child,
        addr,
        key,
        _dir: dir,
    }
}

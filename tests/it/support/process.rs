//! The real binary as a child process (`standby --headless`), killed with SIGKILL at the
//! moments a test picks, and what such tests share: a bounded wait on a condition, and a
//! plain HTTP/1.1 request to its API that tolerates the process dying mid-request.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long [`wait_for`] waits.
pub const LIMIT: Duration = Duration::from_secs(60);

/// `standby --headless` on `settings`, its log in `dir/stderr-N.txt`.
pub struct Standby {
    child: Child,
    log: PathBuf,
}

impl Standby {
    pub fn start(settings_file: &Path, run: u32) -> Standby {
        let log = settings_file.with_file_name(format!("stderr-{run}.txt"));
        let child = Command::new(env!("CARGO_BIN_EXE_standby"))
            .arg("--headless")
            .arg("--config")
            .arg(settings_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Standby { child, log }
    }

    /// SIGKILL: nothing is flushed, nothing is said goodbye to.
    pub fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Whether the process still runs (it must not exit by itself).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Standby {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `test` holds, checking every 50 ms.
pub async fn wait_for<T>(what: &str, mut test: impl FnMut() -> Option<T>) -> T {
    tokio::time::timeout(LIMIT, async {
        loop {
            if let Some(value) = test() {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// One request to a password-less API: the status and body, or `None` when no whole
/// answer came (the process was killed, or is not listening yet).
pub async fn api(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> Option<(u16, String)> {
    api_with(address, method, path, &[], body)
        .await
        .map(|(status, _, body)| (status, body))
}

/// [`api`] with extra request headers (`If-Match`); gives the response head too (`ETag`).
pub async fn api_with(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await.ok()?;
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n{extra}Connection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.ok()?;
        stream.write_all(body.as_bytes()).await.ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.ok()?;
        let text = String::from_utf8_lossy(&response).to_string();
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status = head.get(9..12)?.parse().ok()?;
        Some((status, head.to_string(), body.to_string()))
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .ok()
        .flatten()
}

/// Runs the test `test` of `module` again, in a child of this test binary under `unshare
/// --mount` (a mount namespace of its own, so what it mounts no other process sees), with
/// `child_env` set so that the child does the work; waits at most 120 s for it and fails
/// if it failed. Without root it says with a banner that the test is skipped (CI runs as
/// root): `needs` says what for.
pub fn rerun_in_mount_namespace(module: &str, test: &str, child_env: &str, needs: &str) {
    if !rustix::process::geteuid().is_root() {
        eprintln!(
            "##################################################################\n\
             # SKIPPED {test}: needs root for {needs} (CI runs as root).\n\
             ##################################################################"
        );
        return;
    }
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &super::test_name(module, test),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(child_env, "1")
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child of {test} did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the child of {test} failed: {status}");
}

//! What every area's tests share: bounded waits (a test ends on a condition or fails at a
//! deadline, never on a sleep), free ports, the real peers of `tests/peers/`, and the test
//! servers and harnesses of the areas.
//!
//! The tests of all areas run as threads of one process, so nothing here (or in a test)
//! may use process-wide state: no fixed ports, no `set_var`, no `set_current_dir`, no
//! global tracing subscriber. A test that needs another environment runs a child process
//! (see [`test_name`]).
#![allow(dead_code)] // each area uses a part

pub mod cloudflare;
pub mod dns_sync;
pub mod http;
pub mod notify;
pub mod peers;
pub mod ports;
pub mod process;
pub mod ui;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use standby::engine::{EngineHandle, Snapshot};

/// How long one test may take, whatever goes wrong. Generous: every area's tests share the
/// two cores of a CI machine, and peers (BIND, Knot, Dovecot...) start inside it.
pub const TEST_LIMIT: Duration = Duration::from_secs(60);

/// How long a wait for the engine may take before the test fails.
pub const WAIT_LIMIT: Duration = Duration::from_secs(30);

/// Runs `test` to its end, or fails after [`TEST_LIMIT`].
pub async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(TEST_LIMIT, test)
        .await
        .expect("test took too long")
}

/// Waits (at most [`WAIT_LIMIT`]) until the engine publishes a snapshot that passes `test`;
/// on time-out it fails with what the engine shows (sets, problems, the log's end).
pub async fn wait_until(
    engine: &EngineHandle,
    what: &str,
    test: impl Fn(&Snapshot) -> bool,
) -> Arc<Snapshot> {
    let mut watch = engine.watch();
    let waited = tokio::time::timeout(WAIT_LIMIT, async {
        loop {
            let snapshot = watch.borrow_and_update().clone();
            if test(&snapshot) {
                return snapshot;
            }
            watch.changed().await.unwrap();
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        let snapshot = engine.snapshot();
        let log: Vec<&str> = snapshot.log.iter().map(|l| l.text.as_str()).collect();
        let tail = &log[log.len().saturating_sub(30)..];
        panic!(
            "timed out waiting until {what}\nsets: {:#?}\nproblems: {:#?}\nlog (end):\n{}",
            snapshot.sets,
            snapshot.problems,
            tail.join("\n")
        )
    })
}

/// Calls `done` (a blocking check) until it holds, at most `limit`; the short pause only
/// spaces the checks, the condition decides. Returns whether it held.
pub fn poll_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        if done() {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A script or program of `tests/peers/`.
pub fn peer_script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// The name by which this binary runs one test alone (`--exact NAME`), for a test that
/// runs another in a child process set up as this process must not be (an environment
/// variable, a network namespace). `module` is the caller's `module_path!()`.
pub fn test_name(module: &str, test: &str) -> String {
    // module_path!() starts with the crate ("it::probe_http"); test names do not.
    match module.split_once("::") {
        Some((_, path)) => format!("{path}::{test}"),
        None => test.to_owned(),
    }
}

//! `kill -9` of the real binary at random moments while it writes its settings (changes
//! through the API, one after the other) and its history (20 servers polled every second):
//! 50 kills, each followed by a restart on the same files. After every kill the settings
//! file (and its `.bak`) loads and holds every acknowledged change, `standby.db` passes
//! `PRAGMA integrity_check`, and every history row a reader had seen committed is still there.
//!
//! The moments come from a seeded generator; the seed is printed, and
//! `STANDBY_CRASH_SEED=N` replays a run.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use rand::{RngExt as _, SeedableRng};
use serde_json::Value;
use standby::model::{PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};

use crate::support::ports;
use crate::support::process::{LIMIT, Standby, api};

const KILLS: u32 = 50;
/// A kill comes at most this long after the start (the process is up after ~0.1-0.3 s).
const LATEST_KILL_MS: u64 = 1_500;
const SERVERS: u8 = 20;

fn settings(api: SocketAddr, ips: &[IpAddr], port: u16) -> Settings {
    let mut settings = Settings::default();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = api.to_string();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: ips
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 0,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(1),
            recover_after: 1,
            sequential: false,
        },
        notes: "write 0".into(),
        ..ServerSet::default()
    });
    settings
}

/// The number in the set's notes (`write N`) of a settings file that must load.
fn written(file: &Path) -> i64 {
    let settings = standby::model::file::load(file)
        .unwrap_or_else(|e| panic!("{} does not load after a kill: {e}", file.display()));
    let notes = &settings.server_sets[0].notes;
    notes
        .strip_prefix("write ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}: unexpected notes {notes:?}", file.display()))
}

fn history_rows(db: &Path) -> Option<u64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    conn.busy_timeout(Duration::from_secs(2)).ok()?;
    conn.query_row("SELECT COUNT(*) FROM poll_history", [], |r| {
        r.get::<_, i64>(0)
    })
    .ok()
    .map(|n| n as u64)
}

fn integrity(db: &Path) -> String {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// Changes the set's notes through the API, one change after the other, from the config
/// `GET` returns; records the last change answered 204. Ends when the process is gone.
async fn write_settings(
    api_address: SocketAddr,
    next: Arc<AtomicI64>,
    acked: Arc<AtomicI64>,
    killed: Arc<AtomicBool>,
) {
    let config = loop {
        match api(api_address, "GET", "/serversets/web/config", "").await {
            Some((200, body)) => break body,
            Some((status, body)) => panic!("GET config: {status} {body}"),
            // Killed before its API listened (a slow start): nothing was written.
            None if killed.load(Ordering::SeqCst) => return,
            // Not listening yet.
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    };
    let mut config: Value = serde_json::from_str(&config).unwrap();
    loop {
        let n = next.fetch_add(1, Ordering::SeqCst);
        config["notes"] = Value::String(format!("write {n}"));
        match api(
            api_address,
            "PUT",
            "/serversets/web/config",
            &config.to_string(),
        )
        .await
        {
            Some((204, _)) => acked.store(n, Ordering::SeqCst),
            Some((status, body)) => panic!("PUT config: {status} {body}"),
            None => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_settings_and_history_writes_loses_nothing_acknowledged() {
    let seed = std::env::var("STANDBY_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random::<u64>);
    eprintln!("crash_kill9 seed {seed} (STANDBY_CRASH_SEED={seed} replays it)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let ips: Vec<IpAddr> = (0..SERVERS).map(|i| [127, 0, 0, 100 + i].into()).collect();
    let (port, bound) = ports::common_listeners(&ips);
    let mut listeners = Vec::new();
    for listener in bound {
        listener.set_nonblocking(true).unwrap();
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        listeners.push(tokio::spawn(async move {
            while listener.accept().await.is_ok() {}
        }));
    }
    let api_address = ports::free_addr([127, 0, 0, 71].into());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("standby.ron");
    standby::model::file::save(&file, &settings(api_address, &ips, port)).unwrap();
    let db = standby::store::database_path(&file);

    let next = Arc::new(AtomicI64::new(1));
    let acked = Arc::new(AtomicI64::new(0));
    // The most rows a reader saw committed, over all runs.
    let seen_rows = Arc::new(AtomicU64::new(0));
    let (mut kills_after_acks, mut kills_after_rows) = (0, 0);
    let work = async {
        for run in 1..=KILLS {
            let acked_before = acked.load(Ordering::SeqCst);
            let rows_before = seen_rows.load(Ordering::SeqCst);
            let mut standby = Standby::start(&file, run);
            let killed = Arc::new(AtomicBool::new(false));
            let writer = tokio::spawn(write_settings(
                api_address,
                next.clone(),
                acked.clone(),
                killed.clone(),
            ));
            let reader = {
                let (db, seen_rows) = (db.clone(), seen_rows.clone());
                tokio::spawn(async move {
                    loop {
                        let db = db.clone();
                        if let Ok(Some(n)) =
                            tokio::task::spawn_blocking(move || history_rows(&db)).await
                        {
                            seen_rows.fetch_max(n, Ordering::SeqCst);
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            };
            let moment = Duration::from_millis(rng.random_range(0..=LATEST_KILL_MS));
            tokio::time::sleep(moment).await;
            reader.abort();
            let _ = reader.await;
            assert!(
                standby.running(),
                "run {run} ended by itself:\n{}",
                standby.log()
            );
            standby.kill_9();
            killed.store(true, Ordering::SeqCst);
            // The writer sees its connection fail and ends; its last 204 is in `acked`.
            writer.await.unwrap();

            let on_disk = written(&file);
            let acknowledged = acked.load(Ordering::SeqCst);
            let sent = next.load(Ordering::SeqCst) - 1;
            assert!(
                on_disk >= acknowledged && on_disk <= sent,
                "run {run} (kill at {moment:?}): the file holds write {on_disk}, \
                 {acknowledged} was acknowledged, {sent} sent"
            );
            // Anything between acknowledged and sent was in flight: it may have been saved.
            acked.store(on_disk, Ordering::SeqCst);
            let bak = standby::model::file::sibling(&file, "bak");
            if bak.exists() {
                written(&bak);
            }
            if db.exists() {
                assert_eq!(integrity(&db), "ok", "run {run}: standby.db after the kill");
                let rows = history_rows(&db).unwrap_or(0);
                let seen = seen_rows.load(Ordering::SeqCst);
                assert!(
                    rows >= seen,
                    "run {run}: {rows} history rows after the kill, {seen} were seen committed"
                );
                seen_rows.store(rows, Ordering::SeqCst);
            }
            kills_after_acks += u32::from(acknowledged > acked_before);
            kills_after_rows += u32::from(seen_rows.load(Ordering::SeqCst) > rows_before);
        }
        // It still starts, and answers with the last change.
        let standby = Standby::start(&file, KILLS + 1);
        let answer = tokio::time::timeout(LIMIT, async {
            loop {
                match api(api_address, "GET", "/serversets/web/config", "").await {
                    Some(answer) => return answer,
                    None => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        })
        .await
        .expect("the API answers after the last kill");
        drop(standby);
        answer
    };
    let (status, body) = tokio::time::timeout(Duration::from_secs(240), work)
        .await
        .expect("50 kills and restarts within 240 s");
    assert_eq!(status, 200);
    let config: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        config["notes"],
        Value::String(format!("write {}", acked.load(Ordering::SeqCst)))
    );
    eprintln!(
        "crash_kill9: {KILLS} kills survived; {kills_after_acks} came after acknowledged \
         settings writes of their run, {kills_after_rows} after history rows of their run; \
         {} settings writes acknowledged, {} history rows in all",
        acked.load(Ordering::SeqCst),
        seen_rows.load(Ordering::SeqCst)
    );
    // The moments must really fall among the writes, or the test proves little.
    assert!(
        kills_after_acks >= KILLS / 4,
        "{kills_after_acks} kills among API writes"
    );
    assert!(
        kills_after_rows >= KILLS / 4,
        "{kills_after_rows} kills among history writes"
    );
    for listener in listeners {
        listener.abort();
    }
}

//! The polling history through the engine: every poll (or only changes) lands in SQLite
//! and is read back with a QueryHistory command.

use std::net::SocketAddr;
use std::time::Duration;

use standby::engine::{Command, EngineConfig, EngineHandle};
use standby::model::{PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};
use standby::store::history::{HistoryFilter, HistoryRow};
use tokio::net::TcpListener;

async fn query(engine: &EngineHandle, filter: HistoryFilter) -> Vec<HistoryRow> {
    engine.query_history(filter).await.unwrap()
}

async fn run(only_changes: bool) -> (Vec<HistoryRow>, u64) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 9], 0)))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    let mut settings = Settings::default();
    settings.options.polling.history_only_changes = only_changes;
    settings.server_sets.push(ServerSet {
        name: "h".into(),
        servers: vec![Server {
            public_ip: "127.0.0.9".into(),
            ..Server::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            ..PollFrequency::default()
        },
        ..ServerSet::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("standby.db");
    let engine = EngineHandle::spawn(EngineConfig {
        settings,
        settings_path: None,
        settings_error: None,
        database: Some(database.clone()),
        notify: standby::notify::NotifyConfig::default(),
    })
    .unwrap();
    let mut watch = engine.watch();
    tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            let polls = watch
                .borrow_and_update()
                .set("h")
                .map(|s| s.servers[0].successes)
                .unwrap_or(0);
            if polls >= 3 {
                break;
            }
            watch.changed().await.unwrap();
        }
    })
    .await
    .expect("three polls");
    let rows = query(
        &engine,
        HistoryFilter {
            set: Some("h".into()),
            ..HistoryFilter::default()
        },
    )
    .await;
    let polls = engine.snapshot().set("h").unwrap().servers[0].successes;
    engine.shutdown();
    assert!(database.exists(), "the history lives in the database file");
    (rows, polls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_poll_is_stored() {
    let (rows, polls) = run(false).await;
    assert!(
        rows.len() as u64 >= polls,
        "{} rows for {polls} polls",
        rows.len()
    );
    assert!(
        rows.iter()
            .all(|r| r.success && r.status == "OK" && r.server == "127.0.0.9")
    );
    assert!(rows[0].changed, "the first poll changes 'not tested' to OK");
    assert!(rows[1..].iter().all(|r| !r.changed));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_changes_when_asked() {
    let (rows, polls) = run(true).await;
    assert!(polls >= 3);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0].changed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_goes_to_daily_files_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::default();
    settings.options.logging.to_files = true;
    settings.options.logging.directory = Some(dir.path().join("logs"));
    settings.options.logging.utc = true;
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    engine.send(Command::PauseAll).await.unwrap();
    let today = standby::store::history::iso_utc(std::time::SystemTime::now())[..10].to_string();
    let file = dir.path().join("logs").join(format!("standby-{today}.log"));
    let text = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if text.contains("all polling paused") {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no log line in {}", file.display()));
    assert!(text.contains("engine started"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("all polling paused"))
        .unwrap();
    assert!(
        line.starts_with(&today) && line.contains("Z info"),
        "{line}"
    );
    engine.shutdown();
}

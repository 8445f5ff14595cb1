//! Coalescing, at the dispatcher: repeats of one event for one subject give one message at
//! once and one summary with the count; a notice that reverses the last one sent (recovered
//! after failed, updated after a failed update) is never held back; and the repeats held
//! in an open window are in the outbox, so a crash inside the window loses none of them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use standby::model::tags::TagValues;
use standby::model::{EventKind, NotificationMethod, Settings};
use standby::notify::{Dispatcher, Input, Notice, NotifyConfig, Report};
use standby::store::Outbox;
use tokio::sync::mpsc;

use crate::support::notify;

struct Running {
    notices: mpsc::Sender<Input>,
    reports: mpsc::UnboundedReceiver<Report>,
    task: tokio::task::JoinHandle<()>,
    _tests: mpsc::Sender<standby::notify::dispatcher::TestRequest>,
}

fn settings(out: &Path, coalesce_secs: u32) -> Arc<Settings> {
    let mut settings = Settings::default();
    settings.options.notification.coalesce_secs = coalesce_secs;
    settings.options.notification.default_methods = vec![NotificationMethod {
        kind: notify::appending_command(out),
        ..NotificationMethod::default()
    }];
    Arc::new(settings)
}

fn start(settings: Arc<Settings>, database: Option<PathBuf>) -> Running {
    let (reports_tx, reports) = mpsc::unbounded_channel();
    let config = NotifyConfig {
        database,
        ..NotifyConfig::default()
    };
    let dispatcher = Dispatcher::new(config, move || settings.clone(), reports_tx).unwrap();
    let (notices, notices_rx) = mpsc::channel(100);
    let (tests, tests_rx) = mpsc::channel(1);
    let task = tokio::spawn(dispatcher.run(notices_rx, tests_rx));
    Running {
        notices,
        reports,
        task,
        _tests: tests,
    }
}

fn notice(kind: EventKind, subject: &str) -> Input {
    Input::Notice(Notice {
        kind,
        set: "web".into(),
        subject: subject.into(),
        time: SystemTime::now(),
        tags: TagValues::new().with("SERVERIP", subject.to_string()),
    })
}

/// Waits (at most 20 s) for `n` delivered messages; returns the file's lines in order.
async fn delivered(running: &mut Running, out: &Path, n: usize) -> Vec<String> {
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut count = 0;
        while count < n {
            match running.reports.recv().await.unwrap() {
                Report::Delivered { .. } => count += 1,
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} messages within 20 s"));
    std::fs::read_to_string(out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn repeats_of_one_event_are_coalesced_with_their_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    let mut running = start(settings(&out, 1), None);
    for _ in 0..20 {
        running
            .notices
            .send(notice(EventKind::DnsUpdated, "ns1 www"))
            .await
            .unwrap();
    }
    let lines = delivered(&mut running, &out, 2).await;
    assert_eq!(
        lines,
        [
            "DNS updated|1|ns1 www",
            "DNS updated (19 more times in 1 s)|19|ns1 www"
        ]
    );
}

#[tokio::test]
async fn a_change_that_reverses_the_last_message_is_never_held_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    // A window of an hour: anything held back would not come within the test's 20 s.
    let mut running = start(settings(&out, 3600), None);
    let sequence = [
        EventKind::ServerFailed,
        EventKind::ServerRecovered,
        EventKind::ServerFailed,
        EventKind::DnsUpdateFailed,
        EventKind::DnsUpdateFailed,
        EventKind::DnsUpdated,
    ];
    for kind in sequence {
        let subject = if kind == EventKind::ServerFailed || kind == EventKind::ServerRecovered {
            "192.0.2.7"
        } else {
            "ns1 www"
        };
        running.notices.send(notice(kind, subject)).await.unwrap();
    }
    let lines = delivered(&mut running, &out, 6).await;
    // In order for each subject (two subjects are two lanes, which run side by side).
    let events = |subject: &str| -> Vec<String> {
        lines
            .iter()
            .filter(|l| l.ends_with(&format!("|{subject}")))
            .map(|l| l.split('|').next().unwrap().to_string())
            .collect()
    };
    let server = events("192.0.2.7");
    assert_eq!(server.len(), 3, "{lines:?}");
    assert_eq!(server[0], "Server failed");
    assert!(server[1].starts_with("Server recovered (resolves Server failed at "));
    assert_eq!(server[2], "Server failed");
    let dns = events("ns1 www");
    assert_eq!(dns.len(), 3, "{lines:?}");
    assert_eq!(dns[0], "DNS update failed");
    // The held repeat goes out first, then the reversal.
    assert_eq!(dns[1], "DNS update failed (1 more times in 3600 s)");
    assert!(dns[2].starts_with("DNS updated (resolves DNS update failed at "));
}

#[tokio::test]
async fn repeats_held_in_a_window_survive_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    let database = dir.path().join("standby.db");
    let mut running = start(settings(&out, 3), Some(database.clone()));
    for _ in 0..7 {
        running
            .notices
            .send(notice(EventKind::DnsChangedExternally, "ns1 www"))
            .await
            .unwrap();
    }
    let lines = delivered(&mut running, &out, 1).await;
    assert_eq!(lines, ["DNS records changed by someone else|1|ns1 www"]);
    // The six repeats are in the database before the "crash".
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let held = Outbox::open(Some(&database)).unwrap().held().unwrap();
            if held.first().is_some_and(|h| h.repeats == 6) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("six repeats held in the outbox");
    // The dispatcher dies with its memory (as in a kill -9: nothing is flushed).
    running.task.abort();
    let _ = running.task.await;
    let mut again = start(settings(&out, 3), Some(database.clone()));
    let lines = delivered(&mut again, &out, 1).await;
    assert_eq!(
        lines,
        [
            "DNS records changed by someone else|1|ns1 www",
            "DNS records changed by someone else (6 more times in 3 s)|6|ns1 www"
        ]
    );
    // The summary's window is open again (still flapping?), with nothing held in it.
    let held = Outbox::open(Some(&database)).unwrap().held().unwrap();
    assert!(held.iter().all(|h| h.repeats == 0), "{held:?}");
}

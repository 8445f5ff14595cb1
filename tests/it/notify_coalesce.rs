//! No storms: a server flapping 20 times (20 × failed, 20 × recovered, as the engine emits
//! them: one per change of state) gives one message per event at once, then one message
//! per event saying how many more times it happened within the coalescing window.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use standby::model::tags::TagValues;
use standby::model::{EventKind, NotificationMethod, Settings};
use standby::notify::{Dispatcher, Notice, NotifyConfig, Report};
use tokio::sync::mpsc;

use crate::support::notify;

#[tokio::test]
async fn a_server_flapping_20_times_is_coalesced_with_its_count() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    let mut settings = Settings::default();
    settings.options.notification.coalesce_secs = 1;
    settings.options.notification.default_methods = vec![NotificationMethod {
        kind: notify::appending_command(&out),
        ..NotificationMethod::default()
    }];
    let settings = Arc::new(settings);
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let dispatcher = Dispatcher::new(
        NotifyConfig::default(),
        move || settings.clone(),
        reports_tx,
    )
    .unwrap();
    let (notices, notices_rx) = mpsc::channel(100);
    let (_tests, tests_rx) = mpsc::channel(1);
    tokio::spawn(dispatcher.run(notices_rx, tests_rx));

    for _ in 0..20 {
        for kind in [EventKind::ServerFailed, EventKind::ServerRecovered] {
            notices
                .send(Notice {
                    kind,
                    set: "web".into(),
                    subject: "192.0.2.7".into(),
                    time: SystemTime::now(),
                    tags: TagValues::new().with("SERVERIP", "192.0.2.7"),
                })
                .await
                .unwrap();
        }
    }
    // Two at once, two summaries when the window closes.
    let mut delivered = 0;
    tokio::time::timeout(Duration::from_secs(20), async {
        while delivered < 4 {
            match reports.recv().await.unwrap() {
                Report::Delivered { .. } => delivered += 1,
                other => panic!("{other:?}"),
            }
        }
    })
    .await
    .expect("four messages within 20 s");
    let text = std::fs::read_to_string(&out).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "Server failed (19 more times in 1 s)|19|192.0.2.7",
            "Server failed|1|192.0.2.7",
            "Server recovered (19 more times in 1 s)|19|192.0.2.7",
            "Server recovered|1|192.0.2.7",
        ]
    );
}

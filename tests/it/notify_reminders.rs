//! Reminders and resolutions on the dispatcher's own clock (a manual one, moved by the
//! test): a method with reminders repeats a problem's message every N minutes while the
//! engine lists the problem, the reminder times survive a restart (they live in the
//! database beside the outbox), and the recovery names what it resolves and how long it
//! lasted.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, UNIX_EPOCH};

use standby::model::tags::TagValues;
use standby::model::{EventKind, NotificationMethod, Settings};
use standby::notify::{Dispatcher, Input, Notice, NotifyClock, NotifyConfig, Report};
use tokio::sync::mpsc;

use crate::support::notify;

/// 2027-01-15 08:00:00 UTC.
const START_MS: i64 = 1_800_000_000_000;
const MINUTE: i64 = 60_000;
const LIMIT: Duration = Duration::from_secs(20);

fn notice(kind: EventKind, at_ms: i64) -> Input {
    Input::Notice(Notice {
        kind,
        set: "web".into(),
        subject: "192.0.2.7".into(),
        time: UNIX_EPOCH + Duration::from_millis(u64::try_from(at_ms).unwrap()),
        tags: TagValues::new().with("SERVERIP", "192.0.2.7"),
    })
}

fn listed() -> Input {
    Input::Problems([("web".to_string(), "192.0.2.7".to_string())].into())
}

fn lines(out: &Path) -> Vec<String> {
    crate::support::notify::appended_lines(out)
}

/// Waits (bounded) until the dispatcher reported `n` messages delivered in all (so that
/// none is sent again after a restart), then checks that `out` has exactly `n` lines.
async fn wait_lines(out: &Path, run: &mut Running, n: usize) {
    tokio::time::timeout(LIMIT, async {
        while run.delivered < n {
            match run.reports.recv().await {
                Some(Report::Delivered { .. }) => run.delivered += 1,
                Some(other) => panic!("not delivered: {other:?}"),
                None => panic!("the dispatcher stopped"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {n} messages: {:?}", lines(out)));
    assert_eq!(lines(out).len(), n, "{:?}", lines(out));
}

struct Running {
    inputs: mpsc::Sender<Input>,
    reports: mpsc::UnboundedReceiver<Report>,
    task: tokio::task::JoinHandle<()>,
    /// Messages delivered so far, by this run and the ones before it.
    delivered: usize,
}

fn start(database: &Path, out: &Path, clock: &Arc<AtomicI64>) -> Running {
    let mut settings = Settings::default();
    settings.options.notification.default_methods = vec![NotificationMethod {
        kind: notify::appending_command(out),
        remind_every_mins: 2,
        ..NotificationMethod::default()
    }];
    let settings = Arc::new(settings);
    let (reports_tx, reports) = mpsc::unbounded_channel();
    let config = NotifyConfig {
        database: Some(database.to_path_buf()),
        clock: NotifyClock::Manual(clock.clone()),
        ..NotifyConfig::default()
    };
    let dispatcher = Dispatcher::new(config, move || settings.clone(), reports_tx).unwrap();
    let (inputs, inputs_rx) = mpsc::channel(10);
    let (_tests, tests_rx) = mpsc::channel(1);
    let task = tokio::spawn(dispatcher.run(inputs_rx, tests_rx));
    Running {
        inputs,
        reports,
        task,
        delivered: lines(out).len(),
    }
}

#[tokio::test]
async fn reminders_follow_the_clock_survive_a_restart_and_the_recovery_says_how_long() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    let database = dir.path().join("standby.db");
    let clock = Arc::new(AtomicI64::new(START_MS));
    let mut run = start(&database, &out, &clock);

    run.inputs
        .send(notice(EventKind::ServerFailed, START_MS))
        .await
        .unwrap();
    run.inputs.send(listed()).await.unwrap();
    wait_lines(&out, &mut run, 1).await;
    assert_eq!(lines(&out)[0], "Server failed|1|192.0.2.7");

    // A millisecond early: not yet (a reminder sent now would read "1 min 59 s").
    clock.store(START_MS + 2 * MINUTE - 1, Ordering::SeqCst);
    run.inputs.send(listed()).await.unwrap();
    clock.store(START_MS + 2 * MINUTE, Ordering::SeqCst);
    run.inputs.send(listed()).await.unwrap();
    wait_lines(&out, &mut run, 2).await;
    assert_eq!(
        lines(&out)[1],
        "Reminder: Server failed (since 2027-01-15 08:00:00 UTC, 2 min 0 s now)|1|192.0.2.7"
    );

    // A restart: the next reminder is due 2 minutes after the last one, not after the
    // failure again, and the failure itself is not announced twice.
    drop(run.inputs);
    tokio::time::timeout(LIMIT, run.task)
        .await
        .unwrap()
        .unwrap();
    // 3 minutes: due if the restart had forgotten the first reminder (it would read
    // "3 min 0 s" and come first in the lane).
    clock.store(START_MS + 3 * MINUTE, Ordering::SeqCst);
    let mut run = start(&database, &out, &clock);
    run.inputs.send(listed()).await.unwrap();
    run.inputs
        .send(notice(EventKind::ServerFailed, START_MS + 3 * MINUTE))
        .await
        .unwrap();
    clock.store(START_MS + 4 * MINUTE, Ordering::SeqCst);
    run.inputs.send(listed()).await.unwrap();
    wait_lines(&out, &mut run, 3).await;
    assert_eq!(
        lines(&out)[2],
        "Reminder: Server failed (since 2027-01-15 08:00:00 UTC, 4 min 0 s now)|1|192.0.2.7"
    );

    // Not listed by the engine any more (e.g. paused): no reminder, however late. A
    // reminder would go before the recovery, in the same lane: the order shows it.
    run.inputs
        .send(Input::Problems(HashSet::new()))
        .await
        .unwrap();
    clock.store(START_MS + 7 * MINUTE, Ordering::SeqCst);
    run.inputs
        .send(Input::Problems(HashSet::new()))
        .await
        .unwrap();
    run.inputs
        .send(notice(
            EventKind::ServerRecovered,
            START_MS + 7 * MINUTE + 10_000,
        ))
        .await
        .unwrap();
    wait_lines(&out, &mut run, 4).await;
    assert_eq!(
        lines(&out)[3],
        "Server recovered (resolves Server failed at 2027-01-15 08:00:00 UTC, which lasted \
         7 min 0 s)|1|192.0.2.7"
    );
    // Resolved: an hour on, listed again, nothing more about it; the next message in the
    // lane is the next event.
    clock.store(START_MS + 67 * MINUTE, Ordering::SeqCst);
    run.inputs.send(listed()).await.unwrap();
    run.inputs
        .send(notice(EventKind::ServerOverridden, START_MS + 67 * MINUTE))
        .await
        .unwrap();
    wait_lines(&out, &mut run, 5).await;
    assert!(!lines(&out)[4].starts_with("Reminder"), "{:?}", lines(&out));
}

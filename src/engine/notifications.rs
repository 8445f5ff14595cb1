//! Glue between the engine and the notification dispatcher: engine events become
//! [`Notice`]s with the tag values the engine knows, and the dispatcher's reports come
//! back to the engine loop as commands (3xx problems, log lines).

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use super::command::Command;
use super::events::Event;
use super::snapshot::Snapshot;
use crate::model::Settings;
use crate::model::failure::{Area, ProblemCode};
use crate::model::tags::TagValues;
use crate::notify::dispatcher::TestRequest;
use crate::notify::{Dispatcher, Notice, NotifyConfig, Report};

/// Notices waiting for the dispatcher; the engine loop never waits on them (a forwarding
/// task does).
const NOTICE_QUEUE: usize = 1024;

/// The sending side the [`super::EngineHandle`] keeps: test requests.
pub(super) type TestSender = mpsc::Sender<TestRequest>;

/// Starts the dispatcher and its two forwarding tasks on the current runtime.
pub(super) fn start(
    config: NotifyConfig,
    events: broadcast::Receiver<Event>,
    tests: mpsc::Receiver<TestRequest>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    commands: mpsc::Sender<Command>,
) {
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let settings = snapshot.clone();
    let dispatcher = match Dispatcher::new(
        config,
        move || settings.borrow().settings.clone(),
        reports_tx.clone(),
    ) {
        Ok(dispatcher) => dispatcher,
        Err(e) => {
            tracing::error!("notifications are off: {e}");
            return;
        }
    };
    let (notices_tx, notices) = mpsc::channel(NOTICE_QUEUE);
    tokio::spawn(dispatcher.run(notices, tests));
    tokio::spawn(forward_events(events, snapshot, notices_tx, reports_tx));
    tokio::spawn(async move {
        while let Some(report) = reports.recv().await {
            if commands
                .send(Command::NotificationReport(report))
                .await
                .is_err()
            {
                break;
            }
        }
    });
}

async fn forward_events(
    mut events: broadcast::Receiver<Event>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
    notices: mpsc::Sender<Notice>,
    reports: mpsc::UnboundedSender<Report>,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let settings = snapshot.borrow().settings.clone();
                if notices.send(notice(&event, &settings)).await.is_err() {
                    break;
                }
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                // Counted and told, never silently lost.
                let _ = reports.send(Report::Failed {
                    set: String::new(),
                    subject: "notification queue".into(),
                    code: ProblemCode::of_area(Area::Notification).get(),
                    text: format!("{missed} events came too fast and were not notified"),
                    dropped: true,
                });
            }
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

/// The tag values of an event (SPEC §6) that the engine knows.
pub fn notice(event: &Event, settings: &Settings) -> Notice {
    let host = settings
        .server_sets
        .iter()
        .find(|s| s.name == event.set)
        .map(|s| s.dns.main_host().to_string())
        .unwrap_or_default();
    let d = &event.details;
    let tags = TagValues::new()
        .with("SETNAME", event.set.clone())
        .with("HOST", host)
        .with("SERVERIP", d.server_ip.clone())
        .with("SERVERNAME", d.server_name.clone())
        .with("STATUS", d.status.clone())
        .with("RESPONSE", d.response.clone())
        .with("PROBLEM", d.problem.clone())
        .with(
            "PCODE",
            d.problem_code.map(|c| c.to_string()).unwrap_or_default(),
        )
        .with("DNSSERVER", d.dns_server.clone())
        .with("OLDIPS", d.old_ips.clone())
        .with("NEWIPS", d.new_ips.clone());
    Notice {
        kind: event.kind,
        set: event.set.clone(),
        subject: event.subject.clone(),
        time: event.time,
        tags,
    }
}

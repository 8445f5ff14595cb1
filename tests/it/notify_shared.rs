//! The cluster's shared outbox on the dispatcher (issue 13 item 5; `notify/shared.rs`),
//! with an in-memory store in place of etcd (the etcd one is proved with real processes in
//! `cluster_faults`): a follower stores and sends nothing; a new leader sends, with its
//! id, the message a former leader left; each message is in the shared store before its
//! delivery and gone after.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use standby::model::tags::TagValues;
use standby::model::{EventKind, NotificationKind, NotificationMethod, Settings};
use standby::notify::shared::{ClusterRole, SharedError, SharedOutbox};
use standby::notify::{BoxFuture, Dispatcher, Input, Notice, NotifyConfig, Report};
use tokio::sync::mpsc;

use crate::support::bounded;

/// The shared store, with every put and delete in order (`+id`, `-id`).
#[derive(Default)]
struct Memory {
    messages: Mutex<BTreeMap<String, String>>,
    calls: Mutex<Vec<String>>,
}

impl SharedOutbox for Memory {
    fn put<'a>(&'a self, id: &'a str, job: &'a str) -> BoxFuture<'a, Result<(), SharedError>> {
        self.calls.lock().unwrap().push(format!("+{id}"));
        self.messages.lock().unwrap().insert(id.into(), job.into());
        Box::pin(async { Ok(()) })
    }
    fn delete<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<(), SharedError>> {
        self.calls.lock().unwrap().push(format!("-{id}"));
        self.messages.lock().unwrap().remove(id);
        Box::pin(async { Ok(()) })
    }
    fn list(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        let all = self.messages.lock().unwrap().clone().into_iter().collect();
        Box::pin(async { Ok(all) })
    }
}

/// Appends `$EVENT$|$MESSAGEID$` to `out`.
fn method(out: &Path) -> NotificationKind {
    crate::support::notify::appending_line(out, "$EVENT$|$MESSAGEID$")
}

fn notice(kind: EventKind) -> Input {
    Input::Notice(Notice {
        kind,
        set: "web".into(),
        subject: "192.0.2.7".into(),
        time: SystemTime::now(),
        tags: TagValues::new().with("SERVERIP", "192.0.2.7"),
    })
}

fn lines(out: &Path) -> Vec<String> {
    crate::support::notify::appended_lines(out)
}

async fn delivered(reports: &mut mpsc::UnboundedReceiver<Report>) {
    match reports.recv().await {
        Some(Report::Delivered { .. }) => {}
        other => panic!("not delivered: {other:?}"),
    }
}

#[tokio::test]
async fn a_follower_sends_nothing_and_a_new_leader_sends_what_the_old_one_left() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.txt");
        let kind = method(&out);
        // What a former leader left: a message it stored in the shared outbox and never
        // confirmed (the outbox's job, as the dispatcher writes it).
        let left_id = "0123456789abcdef0123456789abcdef";
        let left = format!(
            r#"(method:{},set:"web",subject:"192.0.2.7",tags:[("EVENT","Server failed"),("SERVERIP","192.0.2.7")],id:"{left_id}")"#,
            ron::to_string(&kind).unwrap()
        );
        let shared = Arc::new(Memory::default());
        shared.messages.lock().unwrap().insert(left_id.into(), left);

        let mut settings = Settings::default();
        settings.options.notification.coalesce_secs = 0;
        settings.options.notification.default_methods = vec![NotificationMethod {
            kind,
            ..NotificationMethod::default()
        }];
        let settings = Arc::new(settings);
        let (reports_tx, mut reports) = mpsc::unbounded_channel();
        let config = NotifyConfig {
            database: Some(dir.path().join("standby.db")),
            ..NotifyConfig::default()
        };
        let role = |leading| ClusterRole {
            shared: shared.clone(),
            leading,
        };
        let dispatcher = Dispatcher::new(config, move || settings.clone(), reports_tx)
            .unwrap()
            .with_role(Some(role(false)));
        let (inputs, inputs_rx) = mpsc::channel(10);
        let (_tests, tests_rx) = mpsc::channel(1);
        let task = tokio::spawn(dispatcher.run(inputs_rx, tests_rx));

        // A follower: the notice is neither stored nor sent (were it stored, it would go
        // out below, before the recovery of its subject: one subject's messages keep
        // their order).
        inputs.send(notice(EventKind::ServerFailed)).await.unwrap();
        // Leading: the message left behind goes out, with its id, and leaves the store.
        inputs.send(Input::Cluster(Some(role(true)))).await.unwrap();
        delivered(&mut reports).await;
        assert_eq!(lines(&out), [format!("Server failed|{left_id}")]);
        assert!(shared.messages.lock().unwrap().is_empty());

        // A notice of the leader: in the store before it is sent, gone after.
        inputs.send(notice(EventKind::ServerRecovered)).await.unwrap();
        delivered(&mut reports).await;
        let got = lines(&out);
        assert_eq!(got.len(), 2, "{got:?}");
        let (event, id) = got[1].split_once('|').unwrap();
        assert!(event.starts_with("Server recovered"), "{event}");
        assert_eq!(
            *shared.calls.lock().unwrap(),
            [
                format!("+{left_id}"),
                format!("-{left_id}"),
                format!("+{id}"),
                format!("-{id}")
            ]
        );
        assert!(shared.messages.lock().unwrap().is_empty());

        // A follower again: nothing goes out, not even a failure.
        inputs.send(Input::Cluster(Some(role(false)))).await.unwrap();
        inputs.send(notice(EventKind::ServerFailed)).await.unwrap();
        // Alone again (cluster mode off): the next notice goes out, and it is the only
        // one (the follower's was never stored).
        inputs.send(Input::Cluster(None)).await.unwrap();
        inputs.send(notice(EventKind::ServerRecovered)).await.unwrap();
        delivered(&mut reports).await;
        let got = lines(&out);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[2].starts_with("Server recovered"), "{got:?}");
        drop(inputs);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await;
}

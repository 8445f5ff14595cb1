//! The cluster's shared outbox on the dispatcher (issue 13 item 5; `notify/shared.rs`),
//! with an in-memory store in place of etcd (the etcd one is proved with real processes in
//! `cluster_faults`): a follower stores and sends nothing; a new leader sends, with its
//! id, the message a former leader left; each message is in the shared store before its
//! delivery and gone after. And what a leader announced is shared with its messages: a
//! new leader announces the quorum verdict a former leader decided but died before
//! announcing, resolves (by name and duration) the failure one announced, and says
//! nothing twice. The coalescing windows are shared too: a new leader sends, once, the
//! summary of the repeats a dead leader held in a window — with the in-memory store and
//! with the etcd one (`engine::EtcdOutbox`) against a real etcd.

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
use crate::support::peers::etcd::Etcd as EtcdPeer;

/// The shared store, with every put and delete in order (`+id`, `-id`; a record of a
/// notice `[+id ... problem+key problem-key]`).
#[derive(Default)]
struct Memory {
    messages: Mutex<BTreeMap<String, String>>,
    problems: Mutex<BTreeMap<String, String>>,
    windows: Mutex<BTreeMap<String, String>>,
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
    fn record<'a>(
        &'a self,
        messages: &'a [(String, String)],
        problems: &'a [(String, Option<String>)],
        windows: &'a [(String, Option<String>)],
    ) -> BoxFuture<'a, Result<(), SharedError>> {
        let mut call = Vec::new();
        for (id, job) in messages {
            call.push(format!("+{id}"));
            self.messages
                .lock()
                .unwrap()
                .insert(id.clone(), job.clone());
        }
        for (key, record) in problems {
            let mut all = self.problems.lock().unwrap();
            match record {
                Some(record) => {
                    call.push("problem+".into());
                    all.insert(key.clone(), record.clone());
                }
                None => {
                    call.push("problem-".into());
                    all.remove(key);
                }
            }
        }
        for (key, record) in windows {
            let mut all = self.windows.lock().unwrap();
            match record {
                Some(record) => {
                    call.push("window+".into());
                    all.insert(key.clone(), record.clone());
                }
                None => {
                    call.push("window-".into());
                    all.remove(key);
                }
            }
        }
        self.calls
            .lock()
            .unwrap()
            .push(format!("[{}]", call.join(" ")));
        Box::pin(async { Ok(()) })
    }
    fn problems(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        let all = self.problems.lock().unwrap().clone().into_iter().collect();
        Box::pin(async { Ok(all) })
    }
    fn windows(&self) -> BoxFuture<'_, Result<Vec<(String, String)>, SharedError>> {
        let all = self.windows.lock().unwrap().clone().into_iter().collect();
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

/// The messages once the next delivery is reported; there are `count` of them.
async fn delivered_lines(
    reports: &mut mpsc::UnboundedReceiver<Report>,
    out: &Path,
    count: usize,
) -> Vec<String> {
    delivered(reports).await;
    let got = lines(out);
    assert_eq!(got.len(), count, "{got:?}");
    got
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
        let got = delivered_lines(&mut reports, &out, 2).await;
        let (event, id) = got[1].split_once('|').unwrap();
        assert!(event.starts_with("Server recovered"), "{event}");
        // The adopted one was in the store already; the new one is stored with its
        // notice, in one write, before its delivery.
        assert_eq!(
            *shared.calls.lock().unwrap(),
            [format!("-{left_id}"), format!("[+{id}]"), format!("-{id}")]
        );
        assert!(shared.messages.lock().unwrap().is_empty());

        // A follower again: nothing goes out, not even a failure.
        inputs.send(Input::Cluster(Some(role(false)))).await.unwrap();
        inputs.send(notice(EventKind::ServerFailed)).await.unwrap();
        // Alone again (cluster mode off): the next notice goes out, and it is the only
        // one (the follower's was never stored).
        inputs.send(Input::Cluster(None)).await.unwrap();
        inputs.send(notice(EventKind::ServerRecovered)).await.unwrap();
        let got = delivered_lines(&mut reports, &out, 3).await;
        assert!(got[2].starts_with("Server recovered"), "{got:?}");
        drop(inputs);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await;
}

/// A dispatcher of one instance of a cluster over `shared`, with its own database in `dir`,
/// notifying through `kind`; its inputs, its reports, its task.
struct Instance {
    inputs: mpsc::Sender<Input>,
    reports: mpsc::UnboundedReceiver<Report>,
    task: tokio::task::JoinHandle<()>,
    shared: Arc<dyn SharedOutbox>,
}

impl Instance {
    fn start(dir: &Path, kind: &NotificationKind, shared: &Arc<Memory>, leading: bool) -> Self {
        Self::coalescing(dir, kind, shared.clone(), leading, 0)
    }

    /// As [`Self::start`], with repeats coalesced in windows of `secs`.
    fn coalescing(
        dir: &Path,
        kind: &NotificationKind,
        shared: Arc<dyn SharedOutbox>,
        leading: bool,
        secs: u32,
    ) -> Self {
        let mut settings = Settings::default();
        settings.options.notification.coalesce_secs = secs;
        settings.options.notification.default_methods = vec![NotificationMethod {
            kind: kind.clone(),
            ..NotificationMethod::default()
        }];
        let settings = Arc::new(settings);
        let (reports_tx, reports) = mpsc::unbounded_channel();
        let config = NotifyConfig {
            database: Some(dir.join("standby.db")),
            ..NotifyConfig::default()
        };
        let dispatcher = Dispatcher::new(config, move || settings.clone(), reports_tx)
            .unwrap()
            .with_role(Some(ClusterRole {
                shared: shared.clone(),
                leading,
            }));
        let (inputs, inputs_rx) = mpsc::channel(10);
        let (tests, tests_rx) = mpsc::channel(1);
        // The test channel stays open as long as the task runs.
        let task = tokio::spawn(async move {
            let _tests = tests;
            dispatcher.run(inputs_rx, tests_rx).await;
        });
        Instance {
            inputs,
            reports,
            task,
            shared: shared.clone(),
        }
    }

    async fn lead(&self) {
        let role = ClusterRole {
            shared: self.shared.clone(),
            leading: true,
        };
        self.inputs.send(Input::Cluster(Some(role))).await.unwrap();
    }

    /// A `kill -9`: the task ends wherever it is.
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

fn verdict(kind: EventKind) -> Input {
    match notice(kind) {
        Input::Notice(n) => Input::Verdict(n),
        _ => unreachable!(),
    }
}

/// Appends `$EVENT$|$PROBLEMID$|$DURATION$` to `out`.
fn problem_method(out: &Path) -> NotificationKind {
    crate::support::notify::appending_line(out, "$EVENT$|$PROBLEMID$|$DURATION$")
}

/// Issue 13 item 5's gap: the leader decided the quorum's "failed" and died before the
/// message reached the shared store (here: it never got the notice). The new leader, told
/// the verdict as it stands, finds no such failure announced and announces it; told the
/// same verdict again it says nothing more.
#[tokio::test]
async fn a_verdict_the_dead_leader_never_announced_is_announced_by_the_next() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.txt");
        let kind = problem_method(&out);
        let shared = Arc::new(Memory::default());
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        // The old leader dies at the verdict, before announcing anything.
        let old = Instance::start(a.path(), &kind, &shared, true);
        old.kill().await;

        let mut new = Instance::start(b.path(), &kind, &shared, false);
        new.lead().await;
        new.inputs
            .send(verdict(EventKind::ServerFailed))
            .await
            .unwrap();
        let got = delivered_lines(&mut new.reports, &out, 1).await;
        assert!(got[0].starts_with("Server failed|"), "{got:?}");
        // Recorded as announced in the shared store, with its message.
        assert_eq!(shared.problems.lock().unwrap().len(), 1);
        let calls = shared.calls.lock().unwrap().clone();
        assert!(
            calls[0].starts_with("[+") && calls[0].ends_with(" problem+]"),
            "{calls:?}"
        );

        // The same verdict checked again (another snapshot, another takeover): nothing.
        new.inputs
            .send(verdict(EventKind::ServerFailed))
            .await
            .unwrap();
        // The recovery goes out; had the check sent a second failure, it would be first.
        new.inputs
            .send(notice(EventKind::ServerRecovered))
            .await
            .unwrap();
        let got = delivered_lines(&mut new.reports, &out, 2).await;
        assert!(
            got[1].starts_with("Server recovered (resolves Server failed at"),
            "{got:?}"
        );
        assert!(shared.problems.lock().unwrap().is_empty());
        new.kill().await;
    })
    .await;
}

/// Issue 13 item 5 and issue 17 item 2 across a leader change: the old leader announced
/// the failure and died when the quorum saw the server recover, before announcing that.
/// The new leader adopts the open problem from the shared store; the verdict "works"
/// resolves it: the recovery names the failure (its problem id) and how long it lasted.
#[tokio::test]
async fn a_new_leader_resolves_the_failure_the_old_one_announced_by_name_and_duration() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.txt");
        let kind = problem_method(&out);
        let shared = Arc::new(Memory::default());
        let (a, c) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut old = Instance::start(a.path(), &kind, &shared, true);
        old.inputs
            .send(notice(EventKind::ServerFailed))
            .await
            .unwrap();
        delivered(&mut old.reports).await;
        old.kill().await;
        let got = lines(&out);
        let (_, problem) = got[0].split_once('|').unwrap();
        let (problem, _) = problem.split_once('|').unwrap();
        assert!(!problem.is_empty(), "{got:?}");

        tokio::time::sleep(Duration::from_millis(1100)).await;
        let mut new = Instance::start(c.path(), &kind, &shared, false);
        new.lead().await;
        new.inputs
            .send(verdict(EventKind::ServerRecovered))
            .await
            .unwrap();
        delivered(&mut new.reports).await;
        let got = lines(&out);
        assert_eq!(got.len(), 2, "one failure, one recovery: {got:?}");
        let fields: Vec<&str> = got[1].split('|').collect();
        assert!(
            fields[0].starts_with("Server recovered (resolves Server failed at"),
            "{got:?}"
        );
        assert!(fields[0].contains("which lasted"), "{got:?}");
        assert_eq!(fields[1], problem, "the same problem id: {got:?}");
        assert!(!fields[2].is_empty(), "a duration: {got:?}");
        assert!(shared.problems.lock().unwrap().is_empty());
        new.kill().await;
    })
    .await;
}

/// Polls (every 20 ms) until `done`; the test's own limit ends a wait that never does.
async fn until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The messages once the next leader delivered the dead leader's summary: the first
/// message, then the summary, sent when the dead leader's window ended, not before (a few
/// ms of slack between the dispatcher's timer and the wall clock).
fn summary_at_the_windows_end(
    out: &Path,
    window: &standby::notify::announcements::SharedWindow,
) -> Vec<String> {
    let sent_ms = now_ms();
    let got = lines(out);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[1].starts_with("DNS updated (2 more times in 3 s)|"),
        "{got:?}"
    );
    assert!(
        sent_ms + 50 >= window.until_ms,
        "sent {} ms before the window's end",
        window.until_ms - sent_ms
    );
    got
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    i64::try_from(since.unwrap().as_millis()).unwrap()
}

/// Issue 13 item 5's last loss: the leader held repeats in a coalescing window and died
/// before the window ended. The window is in the shared store (its last notice, its
/// count, its end); the next leader sends its summary when the window ends, and once: the
/// window leaves the store in the write that stores the summary, and the next message of
/// the same subject (one lane, in order) comes right after it.
#[tokio::test]
async fn the_summary_of_a_window_the_dead_leader_held_is_sent_by_the_next_once() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.txt");
        let kind = method(&out);
        let shared = Arc::new(Memory::default());
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut old = Instance::coalescing(a.path(), &kind, shared.clone(), true, 3);
        for _ in 0..3 {
            old.inputs
                .send(notice(EventKind::DnsUpdated))
                .await
                .unwrap();
        }
        delivered(&mut old.reports).await;
        // The first goes out, the two repeats are held: in the shared store too.
        let held = |repeats: &str| {
            let all = shared.windows.lock().unwrap();
            all.len() == 1 && all.values().all(|w| w.contains(repeats))
        };
        until(|| held("repeats:2")).await;
        let record = shared.windows.lock().unwrap().values().next().cloned();
        let window: standby::notify::announcements::SharedWindow =
            ron::from_str(&record.unwrap()).unwrap();
        old.kill().await;
        assert_eq!(lines(&out).len(), 1, "{:?}", lines(&out));

        let mut new = Instance::coalescing(b.path(), &kind, shared.clone(), false, 3);
        new.lead().await;
        delivered(&mut new.reports).await;
        let got = summary_at_the_windows_end(&out, &window);
        // Stored in the shared outbox in the write that closed the window there (in it, a
        // new window of no repeats yet: still flapping?), then delivered and deleted.
        let calls = shared.calls.lock().unwrap().clone();
        let (_, id) = got[1].split_once('|').unwrap();
        assert!(
            calls.contains(&format!("[+{id} window+]")) && calls.contains(&format!("-{id}")),
            "{calls:?}"
        );
        assert!(
            shared
                .windows
                .lock()
                .unwrap()
                .values()
                .all(|w| w.contains("repeats:0"))
        );
        // The reopened window ends with nothing to summarise and leaves the store.
        until(|| shared.windows.lock().unwrap().is_empty()).await;
        // The subject's next message: had a second summary been stored, it would be first.
        new.inputs
            .send(notice(EventKind::DnsUpdateFailed))
            .await
            .unwrap();
        let got = delivered_lines(&mut new.reports, &out, 3).await;
        assert!(got[2].starts_with("DNS update failed"), "{got:?}");
        let summaries = got.iter().filter(|l| l.contains("more times")).count();
        assert_eq!(summaries, 1, "{got:?}");
        assert!(shared.messages.lock().unwrap().is_empty());
        new.kill().await;
    })
    .await;
}

/// The same against a real etcd (Debian's etcd-server) through the engine's store: the
/// window is a key under `/standby/<cluster>/held/`, its summary a message under
/// `outbox/`; the next leader sends the summary the dead one held, once, and every key
/// goes.
#[tokio::test]
async fn a_window_a_dead_leader_held_in_etcd_ends_in_one_summary_from_the_next() {
    bounded(async {
        let peer = EtcdPeer::start(69).await;
        let mut section = peer.access();
        section.name = "windows".into();
        section.instance = "berlin".into();
        let store = || -> Arc<dyn SharedOutbox> {
            Arc::new(standby::engine::EtcdOutbox::new(&section).unwrap())
        };
        let client = peer.client();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("messages.txt");
        let kind = method(&out);
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut old = Instance::coalescing(a.path(), &kind, store(), true, 3);
        for _ in 0..3 {
            old.inputs
                .send(notice(EventKind::DnsUpdated))
                .await
                .unwrap();
        }
        delivered(&mut old.reports).await;
        // The two repeats, in etcd.
        let record = loop {
            let (kvs, _) = client.get_prefix("/standby/windows/held/").await.unwrap();
            if let [kv] = kvs.as_slice() {
                let text = String::from_utf8(kv.value.clone()).unwrap();
                if text.contains("repeats:2") {
                    break text;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let window: standby::notify::announcements::SharedWindow = ron::from_str(&record).unwrap();
        old.kill().await;
        assert_eq!(lines(&out).len(), 1, "{:?}", lines(&out));

        let mut new = Instance::coalescing(b.path(), &kind, store(), false, 3);
        new.lead().await;
        delivered(&mut new.reports).await;
        summary_at_the_windows_end(&out, &window);
        // The reopened window (no repeats) ends and leaves etcd; so do the messages.
        for prefix in ["/standby/windows/held/", "/standby/windows/outbox/"] {
            while !client.get_prefix(prefix).await.unwrap().0.is_empty() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // The subject's next message: had a second summary been stored, it would be first.
        new.inputs
            .send(notice(EventKind::DnsUpdateFailed))
            .await
            .unwrap();
        let got = delivered_lines(&mut new.reports, &out, 3).await;
        assert!(got[2].starts_with("DNS update failed"), "{got:?}");
        let summaries = got.iter().filter(|l| l.contains("more times")).count();
        eprintln!(
            "shared windows (etcd): {} messages, {summaries} summary: {got:?}",
            got.len()
        );
        assert_eq!(summaries, 1, "{got:?}");
        new.kill().await;
    })
    .await;
}

/// A window no method would summarise costs no etcd write: with no method at all, the
/// repeats of "DNS updated" open no record in the shared store. (Proved by order: the
/// problem a later "server failed" opens is written after anything they had written.)
#[tokio::test]
async fn a_window_with_nothing_to_summarise_is_not_shared() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let shared = Arc::new(Memory::default());
        let mut settings = Settings::default();
        settings.options.notification.coalesce_secs = 60;
        let settings = Arc::new(settings);
        let (reports_tx, _reports) = mpsc::unbounded_channel();
        let config = NotifyConfig {
            database: Some(dir.path().join("standby.db")),
            ..NotifyConfig::default()
        };
        let dispatcher = Dispatcher::new(config, move || settings.clone(), reports_tx)
            .unwrap()
            .with_role(Some(ClusterRole {
                shared: shared.clone(),
                leading: true,
            }));
        let (inputs, inputs_rx) = mpsc::channel(10);
        let (_tests, tests_rx) = mpsc::channel(1);
        let task = tokio::spawn(dispatcher.run(inputs_rx, tests_rx));
        for _ in 0..3 {
            inputs.send(notice(EventKind::DnsUpdated)).await.unwrap();
        }
        inputs.send(notice(EventKind::ServerFailed)).await.unwrap();
        until(|| !shared.problems.lock().unwrap().is_empty()).await;
        assert!(
            shared.windows.lock().unwrap().is_empty(),
            "{:?}",
            shared.calls.lock().unwrap()
        );
        drop(inputs);
        let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    })
    .await;
}

//! Notifications around a `kill -9` of the real binary (`standby --headless`): repeats held
//! back by coalescing are not lost, a delivery the crash interrupted is sent again with the
//! same message id, and the restart announces exactly what changed while Standby was down
//! (a server that recovered meanwhile as recovered, one still down not again).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use standby::model::{
    EventKind, HttpRequest, HttpVerb, NotificationKind, NotificationMethod, PollFrequency,
    PollMethod, Server, ServerSet, Settings, TcpPoll,
};
use standby::store::Outbox;
use tokio::net::TcpListener;

use crate::support::process::{Standby, wait_for};
use crate::support::{notify, ports};

fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn count(file: &Path, prefix: &str) -> usize {
    lines(file).iter().filter(|l| l.starts_with(prefix)).count()
}

/// A TCP listener a test can stop (abort) and start again on the same address.
async fn listen(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} })
}

async fn stop(task: tokio::task::JoinHandle<()>) {
    task.abort();
    let _ = task.await;
}

/// A set of servers polled by TCP every second, no retries, and one method.
fn settings(ips: &[IpAddr], port: u16, method: NotificationMethod, coalesce: u32) -> Settings {
    let mut settings = Settings::default();
    settings.options.notification.coalesce_secs = coalesce;
    settings.options.notification.default_methods = vec![method];
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
        ..ServerSet::default()
    });
    settings
}

fn write_settings(dir: &Path, settings: &Settings) -> PathBuf {
    let file = dir.join("standby.ron");
    standby::model::file::save(&file, settings).unwrap();
    file
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_announces_exactly_what_changed_while_standby_was_down() {
    let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 61].into(), [127, 0, 0, 62].into());
    let port = ports::common_port(&[a, b]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    let method = NotificationMethod {
        kind: notify::appending_command(&out),
        ..NotificationMethod::default()
    };
    let file = write_settings(dir.path(), &settings(&[a, b], port, method, 60));

    // Both servers are down: both failures are announced.
    let first = Standby::start(&file, 1);
    wait_for("both failures announced", || {
        (count(&out, "Server failed|1|127.0.0.61") == 1
            && count(&out, "Server failed|1|127.0.0.62") == 1
            && count(&out, "All servers failed|1|") == 1)
            .then_some(())
    })
    .await;
    // Delivered and confirmed: a kill between the command's line and the outbox's delete
    // would have the next start send it again (with the same id, as promised), which is
    // not what this test is about.
    let database = standby::store::database_path(&file);
    wait_for("the outbox emptied", || {
        Outbox::open(Some(&database))
            .ok()?
            .is_empty()
            .ok()?
            .then_some(())
    })
    .await;
    first.kill_9();

    // While Standby is down, A comes back; B stays down.
    let _a = listen(SocketAddr::new(a, port)).await;
    let second = Standby::start(&file, 2);
    wait_for("A announced as recovered", || {
        (count(&out, "Server recovered (resolves Server failed at ") == 1).then_some(())
    })
    .await;
    // B was polled and found failed, as announced: said once is enough.
    wait_for("B's failure judged", || {
        second
            .log()
            .contains("Server failed of \"web\" 127.0.0.62: still as announced at")
            .then_some(())
    })
    .await;
    let all = lines(&out);
    assert_eq!(all.len(), 4, "{all:?}");
    assert_eq!(count(&out, "Server failed|1|127.0.0.62"), 1, "{all:?}");
    let recovered = all.iter().find(|l| l.contains("Server recovered")).unwrap();
    assert!(recovered.ends_with("|1|127.0.0.61"), "{recovered}");
    assert!(recovered.contains(", which lasted "), "{recovered}");
    second.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeats_held_back_by_coalescing_survive_a_kill_9() {
    let a: IpAddr = [127, 0, 0, 63].into();
    let port = ports::free_port(a);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("messages.txt");
    let method = NotificationMethod {
        kind: notify::appending_command(&out),
        ..NotificationMethod::default()
    };
    let file = write_settings(dir.path(), &settings(&[a], port, method, 45));
    let database = standby::store::database_path(&file);
    let mut server = Some(listen(SocketAddr::new(a, port)).await);
    let first = Standby::start(&file, 1);
    // Seven failures of the only server: seven "all servers failed", six of them repeats
    // held back in the window.
    for n in 1..=7 {
        if n > 1 {
            server = Some(listen(SocketAddr::new(a, port)).await);
        }
        wait_for("the server working", || {
            (count(&out, "Server recovered") == n - 1).then_some(())
        })
        .await;
        stop(server.take().unwrap()).await;
        wait_for("the server failed", || {
            (count(&out, "Server failed|1|") == n).then_some(())
        })
        .await;
    }
    wait_for("six repeats held in the outbox", || {
        let held = Outbox::open(Some(&database)).ok()?.held().ok()?;
        held.iter()
            .any(|h| h.key.contains("AllServersFailed") && h.repeats == 6)
            .then_some(())
    })
    .await;
    assert_eq!(count(&out, "All servers failed"), 1);
    first.kill_9();

    let second = Standby::start(&file, 2);
    wait_for("the six repeats told", || {
        (count(&out, "All servers failed (6 more times in 45 s)|6|") == 1).then_some(())
    })
    .await;
    second.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_cut_by_a_kill_9_is_sent_again_with_the_same_id() {
    let a: IpAddr = [127, 0, 0, 64].into();
    let port = ports::free_port(a);
    let dir = tempfile::tempdir().unwrap();
    // The receiver records the first request and never answers it; later ones get 200.
    let hook = notify::Recorder::start(IpAddr::from([127, 0, 0, 65]), 1).await;
    let method = NotificationMethod {
        kind: NotificationKind::Http(HttpRequest {
            verb: HttpVerb::Post,
            url: format!("http://127.0.0.65:{}/hook", hook.port),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: r#"{"text": "$EVENT$ $SERVERIP$", "id": "$MESSAGEID$"}"#.into(),
            ..HttpRequest::default()
        }),
        events: vec![EventKind::ServerFailed],
        ..NotificationMethod::default()
    };
    let file = write_settings(dir.path(), &settings(&[a], port, method, 60));
    let first = Standby::start(&file, 1);
    wait_for("the first request", || {
        (hook.requests().len() == 1).then_some(())
    })
    .await;
    first.kill_9();
    let second = Standby::start(&file, 2);
    wait_for("the request sent again", || {
        (hook.requests().len() == 2).then_some(())
    })
    .await;
    let requests = hook.requests();
    let id = |n: usize, name: &str| requests[n].header(name).unwrap().to_string();
    assert_eq!(id(0, "x-standby-message-id"), id(1, "x-standby-message-id"));
    assert_eq!(id(0, "idempotency-key"), id(1, "idempotency-key"));
    assert_eq!(id(0, "x-standby-message-id").len(), 32);
    assert_eq!(requests[0].body, requests[1].body);
    let body: serde_json::Value = serde_json::from_str(&requests[0].body).unwrap();
    assert_eq!(body["text"], "Server failed 127.0.0.64");
    assert_eq!(body["id"], id(0, "x-standby-message-id").as_str());
    second.kill_9();
}

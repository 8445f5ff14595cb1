//! The scheduler against real TCP listeners: sequential mode, pause-set-on-failure, the
//! global limit on polls in flight, pause/resume, and the settings file (saved on change,
//! external edits picked up, a broken file never overwritten).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use standby::engine::server_state::ServerStatus;
use standby::engine::{Command, EngineConfig, EngineHandle, Snapshot};
use standby::model::{
    EventKind, PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll, TextRule, file,
};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::support::ports::common_port;
use crate::support::wait_until;

/// A listener that greets with `220 ready` and counts connections.
async fn greeter(ip: IpAddr, port: u16, count: Arc<AtomicUsize>) -> JoinHandle<()> {
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let _ = tcp.write_all(b"220 ready\r\n").await;
            });
        }
    })
}

fn tcp_set(name: &str, ips: &[IpAddr], port: u16) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: ips
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            greeting: Some(TextRule::StartsWith("220".into())),
            greeting_timeout: std::time::Duration::from_secs(2),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 0,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(3),
            recover_after: 1,
            sequential: false,
        },
        ..ServerSet::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn spawn(settings: Settings, path: Option<&Path>) -> EngineHandle {
    EngineHandle::spawn(EngineConfig {
        settings,
        settings_path: path.map(Path::to_path_buf),
        settings_error: None,
        database: None,
        notify: standby::notify::NotifyConfig::default(),
    })
    .unwrap()
}

fn statuses(s: &Snapshot, set: &str) -> Vec<ServerStatus> {
    s.set(set)
        .map(|x| x.servers.iter().map(|v| v.status).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_mode_polls_lower_servers_only_when_needed() {
    let (a, b) = (ip("127.0.0.4"), ip("127.0.0.5"));
    let port = common_port(&[a, b]);
    let (count_a, count_b) = (Arc::default(), Arc::<AtomicUsize>::default());
    let server_a = greeter(a, port, count_a).await;
    let _server_b = greeter(b, port, count_b.clone()).await;
    let mut set = tcp_set("seq", &[a, b], port);
    set.frequency.sequential = true;
    let engine = spawn(
        Settings {
            server_sets: vec![set],
            ..Settings::default()
        },
        None,
    );

    let s = wait_until(&engine, "a OK, b skipped", |s| {
        statuses(s, "seq") == [ServerStatus::Ok, ServerStatus::Skipped]
    })
    .await;
    assert_eq!(s.set("seq").unwrap().decision.addresses(), Some(vec![a]));
    // Let a few more rounds pass: b is still never polled.
    let polled = s.set("seq").unwrap().servers[0].successes;
    wait_until(&engine, "a polled twice more", |s| {
        s.set("seq").unwrap().servers[0].successes >= polled + 2
    })
    .await;
    assert_eq!(
        count_b.load(Ordering::SeqCst),
        0,
        "the lower server must not be polled"
    );

    server_a.abort();
    let _ = server_a.await;
    let s = wait_until(&engine, "a failed, b OK", |s| {
        statuses(s, "seq") == [ServerStatus::Failed, ServerStatus::Ok]
    })
    .await;
    assert_eq!(s.set("seq").unwrap().decision.addresses(), Some(vec![b]));
    assert!(count_b.load(Ordering::SeqCst) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_set_on_failure_pauses_and_saves() {
    let (a, b) = (ip("127.0.0.6"), ip("127.0.0.7"));
    let port = common_port(&[a, b]);
    let server_a = greeter(a, port, Arc::default()).await;
    let _server_b = greeter(b, port, Arc::default()).await;
    // A set of its own on b that never pauses: its polls show the scheduler running while
    // the guarded set is paused, so the test waits for progress, not for a fixed time.
    let control = tcp_set("control", &[b], port);
    let mut set = tcp_set("guarded", &[a, b], port);
    set.servers[0].pause_set_on_failure = true;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let settings = Settings {
        server_sets: vec![set, control],
        ..Settings::default()
    };
    file::save(&path, &settings).unwrap();
    let engine = spawn(settings, Some(&path));
    let mut events = engine.events();
    wait_until(&engine, "both OK", |s| {
        statuses(s, "guarded") == [ServerStatus::Ok, ServerStatus::Ok]
    })
    .await;

    server_a.abort();
    let _ = server_a.await;
    let s = wait_until(&engine, "the set paused itself", |s| {
        s.set("guarded").unwrap().paused
    })
    .await;
    let set = s.set("guarded").unwrap();
    assert_eq!(set.servers[0].status, ServerStatus::Failed);
    assert_eq!(
        set.decision.addresses(),
        Some(vec![b]),
        "DNS moved before the pause"
    );
    let kinds: Vec<EventKind> = [events.recv().await.unwrap(), events.recv().await.unwrap()]
        .iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [EventKind::ServerFailed, EventKind::SetPausedAutomatically]
    );
    assert!(
        file::load(&path).unwrap().server_sets[0].paused,
        "the pause survives a restart"
    );

    // No automatic failback: a paused set stays on the second server.
    let _server_a = greeter(a, port, Arc::default()).await;
    let failures = set.servers[0].failures;
    let control_polls = s.set("control").unwrap().servers[0].successes;
    let s = wait_until(&engine, "the control set polled three more times", |s| {
        s.set("control").unwrap().servers[0].successes >= control_polls + 3
    })
    .await;
    assert_eq!(
        s.set("guarded").unwrap().servers[0].failures,
        failures,
        "a paused set is not polled"
    );
    assert_eq!(
        s.set("guarded").unwrap().servers[0].status,
        ServerStatus::Failed
    );

    engine
        .try_send(Command::ResumeSet("guarded".into()))
        .unwrap();
    wait_until(&engine, "recovered after resume", |s| {
        statuses(s, "guarded") == [ServerStatus::Ok, ServerStatus::Ok]
    })
    .await;
    assert!(!file::load(&path).unwrap().server_sets[0].paused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_most_max_concurrent_polls_in_flight() {
    // Six servers that accept but never greet: each poll holds its connection until the
    // 2 s greeting time-out. With at most 2 polls in flight the connections arrive in waves
    // of two, 2 s apart; without the limit all six would arrive at once.
    let ips: Vec<IpAddr> = (10..16).map(|n| ip(&format!("127.0.0.{n}"))).collect();
    let port = common_port(&ips);
    let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
    for address in &ips {
        let listener = TcpListener::bind(SocketAddr::new(*address, port))
            .await
            .unwrap();
        let accepted = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                accepted.lock().unwrap().push(tokio::time::Instant::now());
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    // Hold the connection until the client gives up.
                    let _ = tokio::io::AsyncReadExt::read(&mut tcp, &mut buf).await;
                });
            }
        });
    }
    let mut settings = Settings {
        server_sets: vec![tcp_set("slow", &ips, port)],
        ..Settings::default()
    };
    settings.options.polling.max_concurrent_polls = 2;
    let engine = spawn(settings, None);
    wait_until(&engine, "every server polled once", |s| {
        s.set("slow")
            .is_some_and(|x| x.servers.iter().all(|v| v.failures >= 1))
    })
    .await;
    let times = accepted.lock().unwrap().clone();
    let first = times[0];
    let first_wave = times
        .iter()
        .filter(|t| **t < first + Duration::from_millis(1500))
        .count();
    assert_eq!(first_wave, 2, "only 2 polls may run at once: {times:?}");
    assert!(times.len() >= 6);
    let s = engine.snapshot();
    assert_eq!(
        s.set("slow").unwrap().servers[0].problem_code,
        Some(124),
        "timeout waiting for greeting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_all_and_settings_file_changes() {
    let a = ip("127.0.0.8");
    let port = common_port(&[a]);
    let count = Arc::new(AtomicUsize::new(0));
    let _server = greeter(a, port, count.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let settings = Settings {
        server_sets: vec![tcp_set("one", &[a], port)],
        ..Settings::default()
    };
    file::save(&path, &settings).unwrap();
    let engine = spawn(settings.clone(), Some(&path));
    wait_until(&engine, "OK", |s| statuses(s, "one") == [ServerStatus::Ok]).await;

    // Pause all: saved, and no more polls.
    engine.try_send(Command::PauseAll).unwrap();
    wait_until(&engine, "paused", |s| s.all_paused).await;
    assert!(file::load(&path).unwrap().options.polling.paused);
    // A poll that was in flight when the pause came may still connect: count from the
    // snapshot that shows nothing in flight.
    wait_until(&engine, "no poll in flight", |s| s.polls_in_flight == 0).await;
    let polls = count.load(Ordering::SeqCst);
    // Two edits of the file while paused, each picked up (a reload re-installs the
    // settings, where a wrong re-arm would poll): seconds of engine progress, shown by
    // the engine itself rather than waited for blindly.
    for note in ["first edit while paused", "second edit while paused"] {
        let mut edited = file::load(&path).unwrap();
        edited.server_sets[0].notes = note.into();
        file::save(&path, &edited).unwrap();
        wait_until(&engine, note, |s| s.settings.server_sets[0].notes == note).await;
    }
    assert!(engine.snapshot().all_paused);
    assert_eq!(count.load(Ordering::SeqCst), polls, "no polls while paused");
    engine.try_send(Command::ResumeAll).unwrap();
    wait_until(&engine, "polling again", |_| {
        count.load(Ordering::SeqCst) > polls
    })
    .await;

    // Invalid settings are refused with the field's path; the file is untouched.
    let mut bad = settings.clone();
    bad.server_sets[0].servers[0].public_ip = "10.0.0.300".into();
    let before = std::fs::read_to_string(&path).unwrap();
    let err = engine.apply_settings(bad).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("server_sets[0].servers[0].public_ip: \"10.0.0.300\" is not an IP address"),
        "{err}"
    );
    // The refusal keeps the field's path as data, for the dialog's field and the API's 400.
    let standby::engine::EditError::Invalid(fields) = &err else {
        panic!("not a validation error: {err:?}");
    };
    assert!(
        fields
            .iter()
            .any(|f| f.path == "server_sets[0].servers[0].public_ip"),
        "{fields:?}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);

    // Valid settings: the snapshot carries them by the time the reply comes (a dialog
    // reopened at once must not show, and save back, the old values).
    for max in [7, 8, 9] {
        let mut changed = (*engine.snapshot().settings).clone();
        changed.options.polling.max_concurrent_polls = max;
        engine.apply_settings(changed).await.unwrap();
        assert_eq!(
            engine
                .snapshot()
                .settings
                .options
                .polling
                .max_concurrent_polls,
            max
        );
    }

    // An external edit is picked up.
    let mut edited = file::load(&path).unwrap();
    edited.server_sets.push(ServerSet {
        name: "two".into(),
        ..tcp_set("two", &[a], port)
    });
    std::fs::write(&path, edited.to_ron().unwrap()).unwrap();
    wait_until(&engine, "the edit is picked up", |s| s.set("two").is_some()).await;

    // A broken edit is reported, not used, and not overwritten by a later change.
    std::fs::write(
        &path,
        "(server_sets: [ (name: \"x\", servers: [ (public_ip: 7) ] ) ])",
    )
    .unwrap();
    let s = wait_until(&engine, "the broken file is reported", |s| {
        s.settings_error.is_some()
    })
    .await;
    assert!(
        s.settings_error
            .as_deref()
            .unwrap()
            .contains("standby.ron:1:"),
        "{:?}",
        s.settings_error
    );
    assert!(s.set("two").is_some(), "the running settings stay");
    engine.try_send(Command::PauseSet("one".into())).unwrap();
    wait_until(&engine, "set paused", |s| s.set("one").unwrap().paused).await;
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("public_ip: 7"),
        "the broken file is never overwritten"
    );
    assert!(
        engine
            .apply_settings(edited)
            .await
            .unwrap_err()
            .to_string()
            .contains("broken")
    );
}

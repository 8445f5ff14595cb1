//! Windows attach to an engine in another process (issue 12): the real program runs
//! headless, and the test attaches to it over the owner-only socket beside its settings
//! file as a window does — snapshots streamed as deltas, commands and requests carried
//! across — or starts one detached when none runs.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use standby::attach::{self, AttachError, LinkStatus, client};
use standby::engine::{EngineClient, SettingsEdit, Snapshot};

use crate::support::ui::Window;
use crate::support::{bounded, poll_until};
use egui_kittest::kittest::{NodeT as _, Queryable as _};

const BIN: &str = env!("CARGO_BIN_EXE_standby");

/// One set polling a port where nothing listens: each poll fails at once, every second.
fn write_settings(path: &Path) {
    std::fs::write(
        path,
        r#"(server_sets: [(
            name: "web",
            servers: [(public_ip: "127.0.0.1")],
            polling: Tcp(port: 9),
            frequency: (retries: 0, interval_secs: 1, failed_interval_secs: 1),
        )])"#,
    )
    .unwrap();
}

fn headless(settings: &Path) -> Child {
    Command::new(BIN)
        .arg("--headless")
        .arg("--config")
        .arg(settings)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Ends the engine process however the test ends.
struct Engine(Child);

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits for a snapshot that satisfies `done`.
async fn until(client: &EngineClient, what: &str, done: impl Fn(&Snapshot) -> bool) {
    let mut watch = client.watch();
    let found = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if done(&watch.borrow_and_update()) {
                return;
            }
            if watch.changed().await.is_err() {
                panic!("the channel ended while waiting for {what}");
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no snapshot with {what}");
}

/// Stops a detached engine (by its pid) if the test ends before it did.
struct Detached(u32);

impl Drop for Detached {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.0 as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
    }
}

fn no_waker() -> Arc<dyn Fn() + Send + Sync> {
    Arc::new(|| {})
}

/// Waits for the link to say that its engine went; returns why.
async fn lost(link: &standby::attach::Link) -> String {
    let mut status = link.status.clone();
    let why = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let LinkStatus::Lost { why, .. } = &*status.borrow_and_update() {
                return why.clone();
            }
            status.changed().await.unwrap();
        }
    })
    .await;
    why.expect("the window never saw the engine go")
}

#[tokio::test]
async fn a_window_attaches_to_a_headless_engine_sees_it_poll_and_drives_it() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let settings = dir.path().join("standby.ron");
        write_settings(&settings);
        let mut engine = Engine(headless(&settings));
        let socket = attach::socket_path(&settings);
        assert!(
            poll_until(Duration::from_secs(20), || socket.exists()),
            "the engine never listened on {}",
            socket.display()
        );
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the socket must be its owner's alone");

        let attached = client::attach(&settings, no_waker()).await.unwrap();
        assert_eq!(attached.engine.pid, engine.0.id());
        assert_eq!(attached.engine.settings_path, settings);
        let window = attached.client;
        until(&window, "the set", |s| {
            s.sets.iter().any(|set| set.name == "web")
        })
        .await;
        // The engine polls in its own process; the window sees the counts grow.
        let first = window.snapshot().stats.polls_completed;
        until(&window, "two more polls", |s| {
            s.stats.polls_completed >= first + 2
        })
        .await;

        // A command crosses the channel...
        window
            .try_send(standby::engine::Command::PauseSet("web".into()))
            .unwrap();
        until(&window, "the set paused", |s| s.sets[0].paused).await;
        // ...and a request gets its answer, and lands in the engine's settings file.
        let revision = window.snapshot().settings_revision;
        let new_revision = window
            .edit_settings(SettingsEdit::DeleteSet("web".into()), Some(revision))
            .await
            .unwrap();
        assert!(new_revision > revision);
        until(&window, "no set", |s| s.sets.is_empty()).await;
        let on_disk = standby::model::file::load(&settings).unwrap();
        assert!(on_disk.server_sets.is_empty(), "{on_disk:?}");
        // A stale revision is refused, with both revisions named.
        let refused = window
            .edit_settings(SettingsEdit::DeleteSet("web".into()), Some(revision))
            .await;
        assert!(refused.is_err(), "{refused:?}");

        // The window detaches; the engine goes on, and a second window sees the same state.
        drop(window);
        let again = client::attach(&settings, no_waker()).await.unwrap();
        assert!(again.client.snapshot().sets.is_empty());
        assert_eq!(again.client.snapshot().settings_revision, new_revision);
        assert!(engine.0.try_wait().unwrap().is_none(), "the engine stopped");

        // *Shut down*: the engine process ends by itself, and the window learns it.
        again
            .client
            .try_send(standby::engine::Command::Shutdown)
            .unwrap();
        let ended = lost(&again).await;
        assert!(ended.contains("closed"), "{ended}");
        let exited = poll_until(Duration::from_secs(20), || {
            matches!(engine.0.try_wait(), Ok(Some(_)))
        });
        assert!(exited, "the engine process did not end on Shut down");
        assert!(
            engine.0.wait().unwrap().success(),
            "the engine ended with an error"
        );
        assert!(!socket.exists(), "the socket was left behind");
    })
    .await;
}

#[tokio::test]
async fn without_an_engine_the_window_starts_one_detached_and_attaches() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let settings = dir.path().join("standby.ron");
        write_settings(&settings);
        match client::attach(&settings, no_waker()).await {
            Err(AttachError::NoEngine { .. }) => {}
            other => panic!("attached to nothing? {:?}", other.err()),
        }
        let attached = client::attach_or_start(
            Path::new(BIN),
            &settings,
            no_waker(),
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        let pid = attached.engine.pid;
        assert_ne!(pid, std::process::id());
        let _guard = Detached(pid);
        let window = attached.client.clone();
        until(&window, "a poll", |s| s.stats.polls_completed >= 1).await;
        // Its log went beside the settings.
        assert!(dir.path().join("standby-engine.log").exists());
        window.try_send(standby::engine::Command::Shutdown).unwrap();
        lost(&attached).await;
        // It is not our child to wait for once detached: its socket going is the sign.
        let socket = attach::socket_path(&settings);
        assert!(
            poll_until(Duration::from_secs(20), || !socket.exists()),
            "the started engine did not stop"
        );
    })
    .await;
}

/// An egui window attached to the engine's own process over the local channel.
fn window_on(settings: &Path) -> (Window, EngineClient) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let attached = runtime
        .block_on(client::attach(settings, no_waker()))
        .unwrap();
    let client = attached.client.clone();
    assert!(
        poll_until(Duration::from_secs(20), || !client
            .snapshot()
            .sets
            .is_empty()),
        "the set never showed"
    );
    let window = Window::attached(standby::ui::EngineLink::Attached {
        link: attached,
        runtime: Some(runtime),
    });
    (window, client)
}

#[test]
fn an_egui_window_attached_to_a_headless_engine_drives_it_exits_and_shuts_it_down() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("standby.ron");
    write_settings(&settings);
    let mut engine = Engine(headless(&settings));
    let socket = attach::socket_path(&settings);
    assert!(poll_until(Duration::from_secs(20), || socket.exists()));

    let (mut w, client) = window_on(&settings);
    w.steps();
    w.harness.get_by_label("web");
    w.click("Pause all polling");
    assert!(
        poll_until(Duration::from_secs(20), || client.snapshot().all_paused),
        "Pause all did not reach the engine"
    );
    assert!(
        poll_until(Duration::from_secs(20), || {
            standby::model::file::load(&settings).is_ok_and(|s| s.options.polling.paused)
        }),
        "the engine's settings file was not saved paused"
    );

    // Exit UI: the window goes, the engine stays, and a new window shows the same state.
    drop(w);
    drop(client);
    assert!(
        engine.0.try_wait().unwrap().is_none(),
        "the engine stopped with the window"
    );
    let (mut w, client) = window_on(&settings);
    assert!(client.snapshot().all_paused);

    // Shut down asks first, then stops the engine's process.
    w.steps();
    w.click("File");
    w.click("Shut down");
    assert!(
        engine.0.try_wait().unwrap().is_none(),
        "stopped without asking"
    );
    w.click_in("Shut down Standby?", "Shut down");
    assert!(
        poll_until(Duration::from_secs(20), || matches!(
            engine.0.try_wait(),
            Ok(Some(_))
        )),
        "the engine did not stop on Shut down"
    );
}

/// An egui window attached to `settings`'s engine, its link kept by a runtime of its own;
/// `program` lets the window start an engine when it finds none (the banner's offer).
fn window_linked(settings: &Path, program: Option<&Path>) -> Window {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let link = runtime
        .block_on(standby::attach::Link::open(
            Arc::new(client::Local {
                settings_path: settings.to_path_buf(),
                program: program.map(Path::to_path_buf),
            }),
            no_waker(),
        ))
        .unwrap();
    Window::attached(standby::ui::EngineLink::Attached {
        link,
        runtime: Some(runtime),
    })
}

fn engine_pid(w: &Window) -> Option<u32> {
    match w.app().engine_status() {
        Some(LinkStatus::Attached { engine, .. }) => Some(engine.pid),
        _ => None,
    }
}

#[test]
fn a_set_made_in_an_attached_window_is_polled_by_the_engine_after_exit_ui() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("standby.ron");
    std::fs::write(&settings, "()").unwrap();
    let _engine = Engine(headless(&settings));
    let socket = attach::socket_path(&settings);
    assert!(poll_until(Duration::from_secs(20), || socket.exists()));

    let mut w = window_linked(&settings, None);
    w.steps();
    w.click("New server set");
    w.type_into("Set name:", "made here");
    w.click("Servers");
    w.click("Add server...");
    w.type_into("Public IP address:", "127.0.0.1");
    w.click_in("Server properties", "OK");
    w.click_in("New server set", "OK");
    w.wait_for("the set in force", |s| s.set("made here").is_some());
    let on_disk = standby::model::file::load(&settings).unwrap();
    assert_eq!(
        on_disk.server_sets[0].name, "made here",
        "saved by the engine"
    );
    // The engine polls it; the window sees the polls counted.
    w.wait_for("its first poll", |s| {
        s.set("made here").is_some_and(|set| {
            set.servers
                .iter()
                .any(|server| server.successes + server.failures > 0)
        })
    });

    // Exit UI closes the window only.
    w.click("File");
    w.click("Exit UI");
    let polls = w.app().engine().snapshot().stats.polls_completed;
    drop(w);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let again = runtime
        .block_on(client::attach(&settings, no_waker()))
        .unwrap();
    // The dialog's default interval is 60 s (30 s once failed): too slow to wait for twice.
    // The set stays the one made in the window; only its frequency is made 1 s, through the
    // engine, so that "still polls" is seen within the wait.
    let snapshot = again.client.snapshot();
    let mut set = snapshot
        .settings
        .server_sets
        .iter()
        .find(|s| s.name == "made here")
        .cloned()
        .unwrap();
    set.frequency.interval = Duration::from_secs(1);
    set.frequency.failed_interval = Duration::from_secs(1);
    let polls = polls.max(snapshot.stats.polls_completed);
    runtime
        .block_on(again.client.edit_settings(
            SettingsEdit::ReplaceSet {
                name: "made here".into(),
                set: Box::new(set),
            },
            Some(snapshot.settings_revision),
        ))
        .unwrap();
    runtime.block_on(until(&again.client, "polls after Exit UI", |s| {
        s.stats.polls_completed > polls + 1
    }));
    // A new window shows the same state.
    let mut w = window_linked(&settings, None);
    w.steps();
    w.harness.get_by_label("made here");
}

#[test]
fn a_window_whose_engine_is_killed_says_so_greys_its_state_and_reattaches() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("standby.ron");
    write_settings(&settings);
    let engine = Engine(headless(&settings));
    let first_pid = engine.0.id();
    let socket = attach::socket_path(&settings);
    assert!(poll_until(Duration::from_secs(20), || socket.exists()));
    let mut w = window_linked(&settings, Some(Path::new(BIN)));
    w.wait_for("the set", |s| s.set("web").is_some());
    assert_eq!(engine_pid(&w), Some(first_pid));
    assert!(!w.shows("Lost the engine"));

    // Killed: the window says so at once, keeps the last state, greyed.
    drop(engine);
    w.wait_until("the banner", |w| w.shows("Lost the engine"));
    assert!(w.shows("s old"), "the state's age is shown");
    w.harness.get_by_label("web");
    assert!(
        w.harness
            .get_by_label("Pause all polling")
            .accesskit_node()
            .is_disabled(),
        "nothing that would go to the engine can be clicked"
    );

    // An engine comes back (started by hand, or a service manager): reattached by itself.
    let engine = Engine(headless(&settings));
    let second_pid = engine.0.id();
    w.wait_until("reattached", |w| engine_pid(w) == Some(second_pid));
    assert!(!w.shows("Lost the engine"));
    assert!(
        !w.harness
            .get_by_label("Pause all polling")
            .accesskit_node()
            .is_disabled()
    );

    // Killed again: the banner offers to start one, and the window attaches to it.
    drop(engine);
    w.wait_until("the banner", |w| w.shows("Lost the engine"));
    w.click("Start the engine");
    w.wait_until("attached to the engine it started", |w| {
        engine_pid(w).is_some_and(|pid| pid != second_pid)
    });
    let _started = Detached(engine_pid(&w).unwrap());
    w.wait_for("the set", |s| s.set("web").is_some());
}

/// `standby engine ...` from a terminal: the same local channel as a window (the named
/// pipe's twin; `scripts/check-windows-pipe.sh` runs these under Wine on Windows's).
fn engine_cli(settings: &Path, action: &str) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(["engine", action, "--config"])
        .arg(settings)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code(), text)
}

#[test]
fn standby_engine_shows_pauses_resumes_and_stops_the_engine_over_the_local_channel() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("standby.ron");
    write_settings(&settings);

    // None runs: exit 3, and none is started.
    let (code, said) = engine_cli(&settings, "status");
    assert_eq!(code, Some(3), "{said}");
    assert!(said.contains("no engine runs"), "{said}");
    assert!(!attach::socket_path(&settings).exists());

    let mut engine = Engine(headless(&settings));
    let pid = engine.0.id();
    // The first snapshots may come before the sets are built.
    let mut said = String::new();
    assert!(
        poll_until(Duration::from_secs(30), || {
            let (code, text) = engine_cli(&settings, "status");
            said = text;
            code == Some(0) && said.contains("set web: ")
        }),
        "never attached: {said}"
    );
    assert!(said.contains(&format!("engine: process {pid} ")), "{said}");
    assert!(said.contains("polling: running"), "{said}");
    assert!(said.contains("set web: "), "{said}");
    assert!(said.contains("  server 127.0.0.1: "), "{said}");

    let (code, said) = engine_cli(&settings, "pause");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("polling: paused"), "{said}");
    assert!(
        standby::model::file::load(&settings)
            .unwrap()
            .options
            .polling
            .paused,
        "the pause is not in the settings file"
    );
    let (code, said) = engine_cli(&settings, "resume");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("polling: running"), "{said}");

    let (code, said) = engine_cli(&settings, "stop");
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains(&format!("process {pid} stopped")), "{said}");
    assert!(
        poll_until(Duration::from_secs(20), || matches!(
            engine.0.try_wait(),
            Ok(Some(_))
        )),
        "the engine still runs after stop"
    );
    assert_eq!(engine_cli(&settings, "status").0, Some(3));
}

#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The main window, driven headless through AccessKit with a real engine behind it.
//!
//! Nothing here needs a poll to succeed: the sets use TCP polling on port 1, and whether or
//! not TCP polling is built in, pausing, resuming, the log and the problems work the same.

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use standby::engine::{Command, EngineConfig, EngineHandle, Snapshot};
use standby::model::{DnsData, PollMethod, Server, ServerSet, Settings, TcpPoll};
use standby::ui::app::StandbyApp;
use standby::ui::log_tab::count_text;

const ALPHA: &str = "alpha web";
const BETA: &str = "beta mail";
const DEADLINE: Duration = Duration::from_secs(5);

fn set(name: &str, ip: &str, host: &str) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: vec![Server {
            public_ip: ip.into(),
            name: format!("{name} server"),
            ..Default::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(1),
            ..Default::default()
        }),
        // Nothing listens on port 1: the server fails at its first poll (code 111).
        frequency: standby::model::PollFrequency {
            retries: 0,
            ..Default::default()
        },
        dns: DnsData {
            host_names: vec![host.into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

fn settings() -> Settings {
    Settings {
        server_sets: vec![
            set(ALPHA, "127.0.0.1", "www.example.test"),
            set(BETA, "127.0.0.2", "mail.example.test"),
        ],
        ..Default::default()
    }
}

type App = Option<StandbyApp>;

/// A window on a fresh engine with two sets, shown once both sets are in the snapshot.
fn window() -> Harness<'static, App> {
    let engine = EngineHandle::spawn(EngineConfig {
        settings: settings(),
        settings_path: None,
        settings_error: None,
        notify: standby::notify::NotifyConfig::default(),
    })
    .expect("engine starts");
    let mut harness = Harness::builder()
        .with_size([1100.0, 700.0])
        .with_max_steps(50)
        .build_ui_state(
            |ui, app: &mut App| {
                if let Some(app) = app {
                    app.refresh();
                    app.show(ui);
                }
            },
            None,
        );
    let ctx = harness.ctx.clone();
    *harness.state_mut() = Some(StandbyApp::new(engine, &ctx));
    wait_for(&mut harness, "both sets", |s| s.sets.len() == 2);
    harness
}

fn app<'h>(harness: &'h Harness<'_, App>) -> &'h StandbyApp {
    harness.state().as_ref().expect("app is built")
}

/// Steps the window until the engine's snapshot passes `check`, at most [`DEADLINE`].
fn wait_for(harness: &mut Harness<'_, App>, what: &str, check: impl Fn(&Snapshot) -> bool) {
    let start = Instant::now();
    loop {
        harness.step();
        if check(&app(harness).engine().snapshot()) {
            // Once more, so that the window shows what the engine has (grids lay out twice).
            harness.step();
            harness.step();
            return;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Steps the window until `check` passes on the window itself, at most [`DEADLINE`].
fn wait_for_window(
    harness: &mut Harness<'_, App>,
    what: &str,
    check: impl Fn(&Harness<'_, App>) -> bool,
) {
    let start = Instant::now();
    loop {
        harness.step();
        if check(harness) {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn top_of(harness: &Harness<'_, App>, label: &str) -> f32 {
    harness.get_by_label(label).rect().min.y
}

#[test]
fn lists_the_configured_sets_by_name() {
    let harness = window();
    harness.get_by_label(ALPHA);
    harness.get_by_label(BETA);
    // The first set is selected by default and shown on the right.
    harness.get_by_label(&format!("Server set: {ALPHA}"));
    harness.get_by_label("www.example.test");
    harness.get_by_label("2 server set(s)");
}

#[test]
fn pause_all_polling_toggles_the_engine() {
    let mut harness = window();
    assert!(!app(&harness).engine().snapshot().all_paused);
    harness.get_by_label("Pause all polling").click();
    wait_for(&mut harness, "all paused", |s| s.all_paused);
    harness.get_by_label("all polling paused");
    harness.get_by_label("Pause all polling").click();
    wait_for(&mut harness, "all resumed", |s| !s.all_paused);
    assert!(harness.query_by_label("all polling paused").is_none());
}

#[test]
fn pause_and_resume_one_set() {
    let mut harness = window();
    harness.get_by_label(BETA).click();
    harness.step();
    harness.step();
    harness.get_by_label(&format!("Server set: {BETA}"));
    harness.get_by_label("Pause").click();
    wait_for(&mut harness, "beta paused", |s| {
        s.set(BETA).is_some_and(|set| set.paused)
    });
    assert!(
        !app(&harness).engine().snapshot().set(ALPHA).unwrap().paused,
        "only the selected set pauses"
    );
    harness.get_by_label("Resume").click();
    wait_for(&mut harness, "beta resumed", |s| {
        s.set(BETA).is_some_and(|set| !set.paused)
    });
    harness.get_by_label("Pause");
}

#[test]
fn problems_tab_shows_failed_servers_and_sorts_by_a_header() {
    let mut harness = window();
    wait_for(&mut harness, "two problems", |s| s.problems.len() == 2);
    let problems = app(&harness).engine().snapshot().problems.clone();
    assert!(
        problems.iter().all(|p| p.code == 111),
        "connection refused: {problems:?}"
    );
    harness.get_by_label("Problems").click();
    wait_for_window(&mut harness, "the problems table", |h| {
        h.query_by_label("Server set").is_some()
    });
    assert_eq!(harness.query_all_by_label("111").count(), 2);
    for p in problems.iter() {
        assert!(
            harness.query_all_by_label(&p.text).count() >= 1,
            "shows {:?}",
            p.text
        );
    }
    harness.get_by_label("Server set").click();
    harness.step();
    harness.step();
    assert!(
        top_of(&harness, ALPHA) < top_of(&harness, BETA),
        "ascending by set"
    );
    harness.get_by_label("Server set").click();
    harness.step();
    harness.step();
    assert!(
        top_of(&harness, BETA) < top_of(&harness, ALPHA),
        "descending by set"
    );
    harness.get_by_label("Code").click();
    harness.step();
    harness.step();
    assert_eq!(harness.query_all_by_label("111").count(), 2);
}

#[test]
fn log_freezes_and_clears() {
    let mut harness = window();
    harness.get_by_label("Log").click();
    wait_for(&mut harness, "the start line", |s| !s.log.is_empty());
    let live = app(&harness).log_lines_shown();
    assert!(live > 0);
    harness.get_by_label(&count_text(live, false));

    harness.get_by_label("Freeze").click();
    harness.step();
    let frozen = app(&harness).log_lines_shown();
    harness.get_by_label(&count_text(frozen, true));
    // Each of these logs a line in the engine.
    let engine_lines = app(&harness).engine().snapshot().log.len();
    app(&harness).engine().send(Command::PauseAll).unwrap();
    app(&harness).engine().send(Command::ResumeAll).unwrap();
    wait_for(&mut harness, "two more lines", |s| {
        s.log.len() >= engine_lines + 2
    });
    assert_eq!(app(&harness).log_lines_shown(), frozen);
    harness.get_by_label(&count_text(frozen, true));

    // Live again: the new lines appear.
    harness.get_by_label("Freeze").click();
    harness.step();
    let now = app(&harness).log_lines_shown();
    assert!(
        now >= frozen + 2,
        "live log shows the new lines ({now} vs {frozen})"
    );
    harness.get_by_label_contains("all polling resumed");

    harness.get_by_label("Clear").click();
    wait_for(&mut harness, "an empty log", |s| s.log.is_empty());
    assert_eq!(app(&harness).log_lines_shown(), 0);
    harness.get_by_label(&count_text(0, false));
}

#[test]
fn help_about_opens_a_window() {
    let mut harness = window();
    harness.get_by_label("Help").click();
    wait_for_window(&mut harness, "the Help menu", |h| {
        h.query_by_label("About").is_some()
    });
    harness.get_by_label("About").click();
    harness.step();
    harness.step();
    harness.get_by_label(&format!("Standby {}", env!("CARGO_PKG_VERSION")));
    harness.get_by_label("Close").click();
    harness.step();
    harness.step();
    assert!(!app(&harness).view().about_open);
}

//! The main window, driven headless through AccessKit with a real engine behind it.
//!
//! Nothing here needs a poll to succeed: the sets use TCP polling on port 1, and whether or
//! not TCP polling is built in, pausing, resuming, the log and the problems work the same.

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use standby::engine::Command;
use standby::model::{DnsData, PollMethod, Server, ServerSet, Settings, TcpPoll};
use standby::ui::tabs::log_tab::count_text;

use crate::support::ui::{App, Window};

const ALPHA: &str = "alpha web";
const BETA: &str = "beta mail";

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

/// A window on a fresh engine with two sets, shown once both sets are in the snapshot.
fn window() -> Window {
    let mut w = Window::in_memory(settings(), [1100.0, 700.0]);
    w.wait_for("both sets", |s| s.sets.len() == 2);
    w
}

fn top_of(harness: &Harness<'_, App>, label: &str) -> f32 {
    harness.get_by_label(label).rect().min.y
}

#[test]
fn lists_the_configured_sets_by_name() {
    let w = window();
    w.harness.get_by_label(ALPHA);
    w.harness.get_by_label(BETA);
    // The first set is selected by default and shown on the right.
    w.harness.get_by_label(&format!("Server set: {ALPHA}"));
    w.harness.get_by_label("www.example.test");
    w.harness.get_by_label("2 server set(s)");
}

#[test]
fn the_tool_bar_holds_the_current_tabs_buttons() {
    let mut w = window();
    let row = top_of(&w.harness, "Options");
    for label in [
        "New server set",
        "Pause",
        "Poll now",
        "Delete",
        "Properties",
    ] {
        assert_eq!(top_of(&w.harness, label), row, "{label} is in the tool bar");
    }
    assert!(w.harness.query_by_label("Freeze").is_none());
    w.harness.get_by_label("Log").click();
    w.steps();
    for label in ["Copy to clipboard", "Clear", "Freeze"] {
        assert_eq!(top_of(&w.harness, label), row, "{label} is in the tool bar");
    }
    assert!(w.harness.query_by_label("New server set").is_none());
    // The tabs are a row of their own, below.
    assert!(top_of(&w.harness, "Log") > row);
}

#[test]
fn pause_all_polling_toggles_the_engine() {
    let mut w = window();
    assert!(!w.app().engine().snapshot().all_paused);
    w.harness.get_by_label("Pause all polling").click();
    w.wait_for("all paused", |s| s.all_paused);
    w.harness.get_by_label("all polling paused");
    w.harness.get_by_label("Pause all polling").click();
    w.wait_for("all resumed", |s| !s.all_paused);
    assert!(w.harness.query_by_label("all polling paused").is_none());
}

#[test]
fn pause_and_resume_one_set() {
    let mut w = window();
    w.harness.get_by_label(BETA).click();
    w.harness.step();
    w.harness.step();
    w.harness.get_by_label(&format!("Server set: {BETA}"));
    w.harness.get_by_label("Pause").click();
    w.wait_for("beta paused", |s| s.set(BETA).is_some_and(|set| set.paused));
    assert!(
        !w.app().engine().snapshot().set(ALPHA).unwrap().paused,
        "only the selected set pauses"
    );
    w.harness.get_by_label("Resume").click();
    w.wait_for("beta resumed", |s| {
        s.set(BETA).is_some_and(|set| !set.paused)
    });
    w.harness.get_by_label("Pause");
}

#[test]
fn problems_tab_shows_failed_servers_and_sorts_by_a_header() {
    let mut w = window();
    w.wait_for("two problems", |s| s.problems.len() == 2);
    let problems = w.app().engine().snapshot().problems.clone();
    assert!(
        problems.iter().all(|p| p.code == 111),
        "connection refused: {problems:?}"
    );
    w.harness.get_by_label("Problems").click();
    w.wait_until("the problems table", |w| {
        w.harness.query_by_label("Server set").is_some()
    });
    assert_eq!(w.harness.query_all_by_label("111").count(), 2);
    for p in problems.iter() {
        assert!(
            w.harness.query_all_by_label(&p.text).count() >= 1,
            "shows {:?}",
            p.text
        );
    }
    w.harness.get_by_label("Server set").click();
    w.harness.step();
    w.harness.step();
    assert!(
        top_of(&w.harness, ALPHA) < top_of(&w.harness, BETA),
        "ascending by set"
    );
    w.harness.get_by_label("Server set").click();
    w.harness.step();
    w.harness.step();
    assert!(
        top_of(&w.harness, BETA) < top_of(&w.harness, ALPHA),
        "descending by set"
    );
    w.harness.get_by_label("Code").click();
    w.harness.step();
    w.harness.step();
    assert_eq!(w.harness.query_all_by_label("111").count(), 2);
}

#[test]
fn log_freezes_and_clears() {
    let mut w = window();
    w.harness.get_by_label("Log").click();
    w.wait_for("the start line", |s| !s.log.is_empty());
    let live = w.app().log_lines_shown();
    assert!(live > 0);
    w.harness.get_by_label(&count_text(live, false));

    w.harness.get_by_label("Freeze").click();
    w.harness.step();
    let frozen = w.app().log_lines_shown();
    w.harness.get_by_label(&count_text(frozen, true));
    // Each of these logs a line in the engine.
    let engine_lines = w.app().engine().snapshot().log.len();
    w.app().engine().try_send(Command::PauseAll).unwrap();
    w.app().engine().try_send(Command::ResumeAll).unwrap();
    w.wait_for("two more lines", |s| s.log.len() >= engine_lines + 2);
    assert_eq!(w.app().log_lines_shown(), frozen);
    w.harness.get_by_label(&count_text(frozen, true));

    // Live again: the new lines appear.
    w.harness.get_by_label("Freeze").click();
    // The frames after the click show the engine's latest snapshot (frames, not a time:
    // a busy machine may publish the resume line a little later).
    w.wait_until("the live log shows the new lines", |w| {
        w.app().log_lines_shown() >= frozen + 2
    });
    let now = w.app().log_lines_shown();
    assert!(
        now >= frozen + 2,
        "live log shows the new lines ({now} vs {frozen})"
    );
    w.harness.get_by_label_contains("all polling resumed");

    w.harness.get_by_label("Clear").click();
    w.wait_for("an empty log", |s| s.log.is_empty());
    assert_eq!(w.app().log_lines_shown(), 0);
    w.harness.get_by_label(&count_text(0, false));
}

#[test]
fn help_about_opens_a_window() {
    let mut w = window();
    w.harness.get_by_label("Help").click();
    w.wait_until("the Help menu", |w| {
        w.harness.query_by_label("About").is_some()
    });
    w.harness.get_by_label("About").click();
    w.harness.step();
    w.harness.step();
    w.harness
        .get_by_label(&format!("Standby {}", env!("CARGO_PKG_VERSION")));
    w.harness.get_by_label("Close").click();
    w.harness.step();
    w.harness.step();
    assert!(!w.app().view().about_open);
}

#[test]
fn a_drained_server_says_so_on_its_row() {
    let mut settings = settings();
    settings.server_sets[0].servers[0].weight = 0;
    let mut w = Window::in_memory(settings, [1100.0, 700.0]);
    w.wait_for("both sets", |s| s.sets.len() == 2);
    w.wait_until("the drained note", |w| w.shows("drained (weight 0)"));
}

#[test]
fn a_server_forced_down_from_its_row_shows_since_when() {
    let mut w = window();
    w.click("+");
    w.click("Force down for 30 min");
    w.wait_for("the override in force", |s| {
        s.sets[0].servers[0]
            .admin
            .forced
            .as_ref()
            .is_some_and(|f| f.state == standby::model::ForcedState::Down && f.until.is_some())
    });
    w.wait_until("the row says so", |w| w.shows("forced down since"));
    w.click("Clear override");
    w.wait_for("the override cleared", |s| {
        s.sets[0].servers[0].admin.forced.is_none()
    });
}

#[test]
fn maintenance_for_30_min_from_a_row_shows_the_time_left() {
    // Wide enough for every button of the expanded row.
    let mut w = Window::in_memory(settings(), [1900.0, 700.0]);
    w.wait_for("both sets", |s| s.sets.len() == 2);
    w.click("+");
    w.click("Maintenance for 30 min");
    w.wait_for("in maintenance", |s| {
        s.sets[0].servers[0].admin.maintenance_until.is_some()
            && s.settings.server_sets[0].servers[0].maintenance.len() == 1
    });
    w.wait_until("the row says so", |w| {
        w.shows("in maintenance, 30 min left")
    });
}

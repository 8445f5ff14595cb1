//! The file dialogs of the path fields (issue 17 item 6), driven headless by label with a
//! real engine: through a stand-in portal's file chooser on a D-Bus session bus of the
//! test's own, and, in a child process without a portal or without a bus, the reason
//! beside each field (*Save CSV...*, the SLA report, every *Browse...*) and the typed path.

use std::path::PathBuf;

use eframe::egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};

use crate::support::ui::{Window, tcp_peer};
use crate::ui_history_tray::settings;

/// A D-Bus session bus of the test's own with nothing on it: no portal, and no service
/// files, so that nothing is started on demand (a portal installed on the machine is not).
struct EmptyBus {
    address: String,
    daemon: std::process::Child,
    _dir: tempfile::TempDir,
}

impl EmptyBus {
    fn start() -> EmptyBus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<busconfig><type>session</type><listen>unix:dir={}</listen>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
                dir.path().display()
            ),
        )
        .unwrap();
        let mut daemon = std::process::Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("dbus-daemon (scripts/install-deps.sh installs it)");
        let mut address = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(daemon.stdout.take().unwrap()),
            &mut address,
        )
        .unwrap();
        EmptyBus {
            address: address.trim().to_string(),
            daemon,
            _dir: dir,
        }
    }
}

impl Drop for EmptyBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}

/// Runs `save_csv_without_a_file_dialog` in a child process whose environment has no
/// file dialog: `bus` as its session bus (or none), no zenity on its PATH. The child
/// asserts that the window says `why` and that the typed path is saved to.
fn without_a_file_dialog(bus: Option<&str>, why: &str) {
    let empty = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args([
            &crate::support::test_name(module_path!(), "save_csv_without_a_file_dialog"),
            "--exact",
            "--test-threads=1",
        ])
        .env("STANDBY_TEST_NO_DIALOG", why)
        // Where zbus and libdbus would look for a bus when no address is given.
        .env("XDG_RUNTIME_DIR", empty.path())
        .env("PATH", empty.path());
    match bus {
        Some(address) => child.env("DBUS_SESSION_BUS_ADDRESS", address),
        None => child.env_remove("DBUS_SESSION_BUS_ADDRESS"),
    };
    let output = child.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn save_csv_on_a_bus_without_a_portal_says_why_and_saves_to_the_typed_path() {
    let bus = EmptyBus::start();
    without_a_file_dialog(
        Some(&bus.address),
        "No file dialog (no XDG desktop portal with a file chooser on the session bus, \
         and zenity is not installed): type the path.",
    );
}

#[test]
fn save_csv_without_a_session_bus_says_why_and_saves_to_the_typed_path() {
    without_a_file_dialog(None, "No file dialog (no D-Bus session bus (");
}

/// The child half of the two tests above (in the ordinary run it returns at once): the
/// History dialog's *Save CSV...* and SLA report, then every *Browse...*: the Options'
/// sound file and log directory, the program of a command poll and of a notification.
#[test]
fn save_csv_without_a_file_dialog() {
    let Ok(why) = std::env::var("STANDBY_TEST_NO_DIALOG") else {
        return;
    };
    let mut w = history_with_a_row();
    let csv: PathBuf = w.dir().join("typed.csv");
    w.type_into("CSV file:", csv.to_str().unwrap());
    w.click("Save CSV...");
    let saved = format!("saved to {}", csv.display());
    w.wait_until("the CSV file", |w| w.shows(&saved));
    assert!(w.shows(&why), "the window does not say {why:?}");
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("time_utc,set,server"), "{text}");

    let report = w.dir().join("typed-report.html");
    w.type_into("Report file:", report.to_str().unwrap());
    w.click("SLA report (HTML)...");
    w.wait_until("the report", |w| w.shows("SLA report saved to"));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("<html"), "{html}");
    w.click("Close");

    // The path fields of the dialogs: Browse... says why beside the field, which keeps
    // the typed text.
    w.click("Options");
    w.click("User interface");
    w.click("Play a sound on problems");
    browse_without_a_dialog(
        &mut w,
        "Sound file (blank = built-in):",
        "/typed/alarm.wav",
        &why,
    );
    w.click("Logging");
    browse_without_a_dialog(&mut w, "Log directory:", "/typed/logs", &why);
    w.click_in("Options", "Cancel");
    // The program of a command poll and of a command notification.
    w.click("Properties");
    w.click("Polling method");
    // The main window's set detail says "Polling method:" too: the dialog's list.
    w.click_in("Server set properties", "Polling method:");
    // The last choice lies below the pop-up's visible part: scrolled to first.
    w.harness
        .get_all_by_label("Command line")
        .last()
        .expect("the choice is shown")
        .scroll_to_me();
    w.steps();
    w.harness
        .get_all_by_label("Command line")
        .last()
        .unwrap()
        .click();
    w.steps();
    browse_without_a_dialog(&mut w, "Program:", "/typed/check-web", &why);
    w.click("Notification");
    w.click("Add notification method...");
    w.choose("Method:", "Command line");
    browse_without_a_dialog(&mut w, "Program:", "/typed/notify-ops", &why);
}

/// Types `text` into the path field `field`, clicks the one Browse... in view and waits
/// for the reason beside it; the field still holds the text.
fn browse_without_a_dialog(w: &mut Window, field: &str, text: &str, why: &str) {
    assert!(
        !w.shows(why),
        "{why:?} shown before Browse...: {}",
        w.texts()
    );
    w.type_into(field, text);
    w.click("Browse...");
    w.wait_until(&format!("the reason beside {field}"), |w| w.shows(why));
    // The reason wraps: the dialog stays on the screen (a long one once pushed the
    // Options window past the left edge, where its sections could not be clicked).
    let screen = w.harness.ctx.content_rect();
    for dialog in w.harness.get_all_by_role(Role::Window) {
        let rect = dialog.rect();
        assert!(
            screen.contains_rect(rect),
            "{:?} at {rect:?}, off the screen {screen:?}",
            dialog.accesskit_node().label()
        );
    }
    let value = w.harness.get_by_label(field).accesskit_node().value();
    assert_eq!(
        value.as_deref(),
        Some(text),
        "{field} after Browse...: {}",
        w.texts()
    );
}

/// The dialog itself: a portal on the test's bus (`tests/peers/portal.py`) whose file
/// chooser answers a path, as a user choosing it would. *Save CSV...* goes through rfd and
/// libdbus to it, and the rows are written where it said, not to the typed path.
#[test]
fn save_csv_writes_where_the_portals_file_chooser_says() {
    let bus = EmptyBus::start();
    let dir = tempfile::tempdir().unwrap();
    let chosen = dir.path().join("chosen.csv");
    let mut portal = std::process::Command::new("/usr/bin/python3")
        .arg(crate::support::peer_script("portal.py"))
        .arg("--choose")
        .arg(&chosen)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3-dbus (scripts/install-deps.sh installs it)");
    let mut said = std::io::BufReader::new(portal.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut said, &mut line).unwrap();
    assert!(line.contains("ready"), "the portal said {line:?}");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            &crate::support::test_name(module_path!(), "save_csv_with_a_file_dialog"),
            "--exact",
            "--test-threads=1",
        ])
        .env("STANDBY_TEST_CHOSEN", &chosen)
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    let _ = portal.kill();
    let _ = portal.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut calls = String::new();
    std::io::Read::read_to_string(&mut said, &mut calls).unwrap();
    assert!(
        calls.contains(r#""call": "SaveFile", "title": "Save CSV""#),
        "the portal was asked: {calls}"
    );
    let text = std::fs::read_to_string(&chosen).unwrap();
    assert!(text.starts_with("time_utc,set,server"), "{text}");
}

/// The child half of the test above (in the ordinary run it returns at once).
#[test]
fn save_csv_with_a_file_dialog() {
    let Ok(chosen) = std::env::var("STANDBY_TEST_CHOSEN") else {
        return;
    };
    let mut w = history_with_a_row();
    let typed = w.dir().join("typed.csv");
    w.type_into("CSV file:", typed.to_str().unwrap());
    w.click("Save CSV...");
    w.wait_until("the CSV file", |w| w.shows("saved to"));
    assert!(w.shows(&format!("saved to {chosen}")));
    assert!(!typed.exists(), "the typed path was written");
    assert!(!w.shows("No file dialog"));
}

/// A window whose set `web` was polled once, its History dialog open and showing the row.
/// Typed into only once the dialog has its rows (a field typed into on its first frames
/// may lose the text while the window lays out).
fn history_with_a_row() -> Window {
    let mut w = Window::saving(settings(tcp_peer(), None));
    w.wait_for("a poll", |s| {
        s.set("web")
            .is_some_and(|web| web.servers[0].successes >= 1)
    });
    w.click("+");
    w.click("Polling history...");
    w.wait_until("the rows", |w| w.shows("row(s)"));
    w
}

//! What the egui_kittest tests share: a headless main window on a real engine, driven
//! through AccessKit by the labels of its fields and buttons, and waits that end on a
//! condition (bounded by [`DEADLINE`]), never on a sleep.
#![allow(dead_code)] // each area uses a part

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::Settings;
use standby::ui::app::StandbyApp;

/// How long any wait may take before the test fails. Generous because polls, pings and
/// the settings file all go through a real engine on a 2-core CI machine.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// The size of the dialog tests' window: large enough that no dialog needs scrolling.
pub const LARGE: [f32; 2] = [1280.0, 900.0];

/// The app is built after the harness, because it needs the harness's egui context.
pub type App = Option<StandbyApp>;

pub struct Window {
    pub harness: Harness<'static, App>,
    /// The temp dir that holds the settings file, when the engine saves to one.
    dir: Option<tempfile::TempDir>,
}

impl Window {
    /// A window on a fresh engine that saves to `standby.ron` in a temp dir.
    pub fn saving(settings: Settings) -> Window {
        let dir = tempfile::tempdir().unwrap();
        let config = EngineConfig {
            settings_path: Some(dir.path().join("standby.ron")),
            ..EngineConfig::in_memory(settings)
        };
        Window::build(config, LARGE, Some(dir))
    }

    /// A window of `size` on a fresh engine with no settings file.
    pub fn in_memory(settings: Settings, size: [f32; 2]) -> Window {
        Window::build(EngineConfig::in_memory(settings), size, None)
    }

    /// A window attached to an engine in another process (`standby::attach`).
    pub fn attached(link: standby::ui::EngineLink) -> Window {
        let mut harness = Window::harness(LARGE);
        let ctx = harness.ctx.clone();
        *harness.state_mut() = Some(StandbyApp::with_link(link, &ctx));
        Window { harness, dir: None }
    }

    fn build(config: EngineConfig, size: [f32; 2], dir: Option<tempfile::TempDir>) -> Window {
        let engine = EngineHandle::spawn(config).expect("engine starts");
        let mut harness = Window::harness(size);
        let ctx = harness.ctx.clone();
        *harness.state_mut() = Some(StandbyApp::new(engine, &ctx));
        Window { harness, dir }
    }

    fn harness(size: [f32; 2]) -> Harness<'static, App> {
        Harness::builder()
            .with_size(size)
            .with_max_steps(50)
            .build_ui_state(
                |ui, app: &mut App| {
                    if let Some(app) = app {
                        app.refresh();
                        app.show(ui);
                    }
                },
                None,
            )
    }

    /// The temp dir of a window made by [`Window::saving`].
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .expect("a window that saves its settings")
            .path()
    }

    /// The settings file of a window made by [`Window::saving`].
    pub fn settings_path(&self) -> PathBuf {
        self.dir().join("standby.ron")
    }

    pub fn app(&self) -> &StandbyApp {
        self.harness.state().as_ref().expect("app is built")
    }

    /// A few frames, so that the window shows what changed (grids lay out twice).
    pub fn steps(&mut self) {
        for _ in 0..3 {
            self.harness.step();
        }
    }

    /// Clicks `label` and returns the text the click put on the clipboard, if any.
    pub fn click_and_copy(&mut self, label: &str) -> Option<String> {
        self.harness.get_by_label(label).click();
        let mut copied = None;
        // Frame by frame: each frame's output holds only that frame's commands.
        for _ in 0..3 {
            self.harness.step();
            for command in &self.harness.output().platform_output.commands {
                if let eframe::egui::OutputCommand::CopyText(text) = command {
                    copied = Some(text.clone());
                }
            }
        }
        copied
    }

    pub fn click(&mut self, label: &str) {
        self.harness.get_by_label(label).click();
        self.steps();
    }

    /// Clicks a button of one window (OK and Cancel are in every dialog).
    pub fn click_in(&mut self, window: &str, label: &str) {
        self.harness
            .get_by_role_and_label(Role::Window, window)
            .get_by_label(label)
            .click();
        self.steps();
    }

    /// Replaces the text of the field labelled `label`.
    pub fn type_into(&mut self, label: &str, text: &str) {
        self.harness
            .get_by_label(label)
            .set_text_value_accesskit(text);
        self.steps();
    }

    /// Opens the combo box labelled `label` and picks `choice`.
    pub fn choose(&mut self, label: &str, choice: &str) {
        self.click(label);
        // The choice in the open pop-up (the combo's own text may say the same).
        self.harness
            .get_all_by_label(choice)
            .last()
            .expect("the choice is shown")
            .click();
        self.steps();
    }

    pub fn has_window(&self, title: &str) -> bool {
        self.harness
            .query_by_role_and_label(Role::Window, title)
            .is_some()
    }

    pub fn ok_enabled(&self, window: &str) -> bool {
        !self
            .harness
            .get_by_role_and_label(Role::Window, window)
            .get_by_label("OK")
            .accesskit_node()
            .is_disabled()
    }

    pub fn shows(&self, text: &str) -> bool {
        self.harness.query_by_label_contains(text).is_some()
    }

    /// Steps until the engine's snapshot passes `check`, at most [`DEADLINE`].
    pub fn wait_for(&mut self, what: &str, check: impl Fn(&Snapshot) -> bool) {
        self.wait_until(what, |w| check(&w.app().engine().snapshot()));
    }

    /// Steps until `check` holds on the window, at most [`DEADLINE`].
    pub fn wait_until(&mut self, what: &str, check: impl Fn(&Window) -> bool) {
        let done = super::poll_until(DEADLINE, || {
            self.harness.step();
            check(self)
        });
        // What the window said instead: a wait that ends on a status line shows why.
        assert!(
            done,
            "timed out waiting for {what}; the window shows: {}",
            self.texts()
        );
        self.steps();
    }

    /// Every label and field value of the window, ` | ` between (for failure messages).
    pub fn texts(&self) -> String {
        fn walk<'t, N: NodeT<'t> + 't>(node: &N, out: &mut Vec<String>) {
            let n = node.accesskit_node();
            // A label's text runs repeat its text.
            if n.role() == Role::TextRun {
                return;
            }
            let text = match (n.label(), n.value().filter(|v| !v.is_empty())) {
                (Some(label), Some(value)) => format!("{label}: {value:?}"),
                (Some(label), None) => label.to_string(),
                (None, Some(value)) => format!("{value:?}"),
                (None, None) => String::new(),
            };
            if !text.is_empty() && !n.is_hidden() {
                out.push(text);
            }
            for child in node.children() {
                walk(&child, out);
            }
        }
        let mut out = Vec::new();
        walk(&self.harness.root(), &mut out);
        out.join(" | ")
    }

    /// Steps until the window `title` is gone, at most [`DEADLINE`].
    pub fn wait_until_closed(&mut self, title: &str) {
        until(&format!("{title} to close"), || {
            self.harness.step();
            !self.has_window(title)
        });
    }

    /// Steps until the settings file parses and passes `check`; returns what it holds.
    pub fn wait_for_file(&mut self, what: &str, check: impl Fn(&Settings) -> bool) -> Settings {
        let path = self.settings_path();
        let mut found = None;
        until(&format!("{what} in the settings file"), || {
            self.harness.step();
            found = read_settings(&path).filter(|s| check(s));
            found.is_some()
        });
        self.steps();
        found.expect("the wait ends with the settings")
    }
}

/// Calls `done` until it says so, at most [`DEADLINE`]; the condition decides.
fn until(what: &str, done: impl FnMut() -> bool) {
    assert!(
        super::poll_until(DEADLINE, done),
        "timed out waiting for {what}"
    );
}

fn read_settings(path: &Path) -> Option<Settings> {
    let text = std::fs::read_to_string(path).ok()?;
    Settings::from_ron(&text).ok()
}

/// A TCP listener that accepts and drops every connection, so TCP polls succeed.
pub fn tcp_peer() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    port
}

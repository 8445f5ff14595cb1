//! The main window: menu, tool bar, three tabs and a status bar.
//!
//! [`StandbyApp::refresh`] is the logic (take the newest snapshot, hand the engine a repaint
//! waker); [`StandbyApp::show`] draws. Drawing never talks to the engine directly: the tabs
//! push [`Command`]s into an outbox that is sent after the frame, without blocking.

use std::sync::Arc;

use eframe::egui::{self, RichText};

use crate::attach::{Link, LinkControl, LinkStatus, Place};
use crate::engine::{Command, EngineClient, EngineHandle, Inbound, Snapshot};
use crate::ui::desktop::tray::{Tray, TrayAction};
use crate::ui::dialogs::{DialogRequest, Dialogs};
use crate::ui::tabs::log_tab::{self, LogView};
use crate::ui::tabs::problems::{self, ProblemsView};
use crate::ui::tabs::server_sets::{self, SetsView};
use crate::ui::widgets;

/// The tabs of the main window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tab {
    #[default]
    ServerSets,
    Log,
    Problems,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::ServerSets, Tab::Log, Tab::Problems];

    pub fn title(self) -> &'static str {
        match self {
            Tab::ServerSets => "Server Sets",
            Tab::Log => "Log",
            Tab::Problems => "Problems",
        }
    }
}

/// What the window remembers that the engine does not.
#[derive(Default)]
pub struct ViewState {
    pub tab: Tab,
    pub sets: SetsView,
    pub log: LogView,
    pub problems: ProblemsView,
    pub about_open: bool,
    /// The open dialogs and their pending saves.
    pub dialogs: Dialogs,
    /// Why the last command did not reach the engine, shown in the status bar.
    pub send_error: Option<String>,
    /// Exit UI or Shut down was chosen: the window closes rather than hide in the tray.
    pub quitting: bool,
    /// File → Shut down asks first: the question is open.
    pub confirm_shutdown: bool,
}

/// Where File → Support file... writes: beside the settings file, else the temp dir.
/// Only the path is built here; the engine writes the file.
fn support_path(snapshot: &Snapshot) -> std::path::PathBuf {
    let dir = snapshot
        .settings_path
        .as_deref()
        .and_then(|p| p.parent())
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    dir.join(format!("standby-support-{secs}.txt"))
}

/// The engine a window shows: its own, in this process (`--standalone`), or one in
/// another process reached over the local channel or the network (`attach::Link`: the
/// window does not know which, beyond the place's name).
pub enum EngineLink {
    Own(EngineHandle),
    Attached {
        link: Link,
        /// Runs the link's tasks; lives as long as the window (always `Some` until
        /// dropped).
        runtime: Option<tokio::runtime::Runtime>,
    },
}

impl EngineLink {
    /// Whether the engine goes on when this window closes.
    pub fn outlives_the_window(&self) -> bool {
        matches!(self, EngineLink::Attached { .. })
    }

    /// Whether the engine is reachable, and since when it is not.
    pub fn status(&self) -> Option<LinkStatus> {
        match self {
            EngineLink::Own(_) => None,
            EngineLink::Attached { link, .. } => Some(link.status.borrow().clone()),
        }
    }

    /// The remote engine's host, for a remote window.
    pub fn remote_host(&self) -> Option<String> {
        match self {
            EngineLink::Attached { link, .. } => match &link.place {
                Place::Remote(host) => Some(host.clone()),
                Place::Local(_) => None,
            },
            EngineLink::Own(_) => None,
        }
    }
}

impl std::ops::Deref for EngineLink {
    type Target = EngineClient;

    fn deref(&self) -> &EngineClient {
        match self {
            EngineLink::Own(handle) => handle,
            EngineLink::Attached { link, .. } => &link.client,
        }
    }
}

impl Drop for EngineLink {
    fn drop(&mut self) {
        // The channel's tasks end with the runtime; the window does not wait for them.
        if let EngineLink::Attached { runtime, .. } = self
            && let Some(runtime) = runtime.take()
        {
            runtime.shutdown_background();
        }
    }
}

pub struct StandbyApp {
    engine: EngineLink,
    snapshot: Arc<Snapshot>,
    view: ViewState,
    /// The waker is handed over once; retried while the command queue is full.
    waker_set: bool,
    ctx: egui::Context,
    /// The tray icon, where there is one.
    tray: Option<Tray>,
    /// A second start of the program asking this window to show itself.
    show_requests: Option<std::sync::mpsc::Receiver<()>>,
}

impl StandbyApp {
    /// A window on `engine`, repainting `ctx` when the engine publishes.
    pub fn new(engine: EngineHandle, ctx: &egui::Context) -> Self {
        Self::with_link(EngineLink::Own(engine), ctx)
    }

    /// A window on its own engine or an attached one.
    pub fn with_link(engine: EngineLink, ctx: &egui::Context) -> Self {
        let snapshot = engine.snapshot();
        let mut view = ViewState::default();
        view.dialogs.engine_host = engine.remote_host();
        let mut app = Self {
            engine,
            snapshot,
            view,
            waker_set: false,
            ctx: ctx.clone(),
            tray: None,
            show_requests: None,
        };
        app.set_waker();
        app
    }

    /// Gives the window a tray icon: closing then hides to the tray (when the options
    /// say so) and the tray's menu acts on the window.
    pub fn with_tray(mut self, tray: Option<Tray>) -> Self {
        self.tray = tray;
        self
    }

    /// Lets a second start of the program bring this window up.
    pub fn with_show_requests(mut self, requests: Option<std::sync::mpsc::Receiver<()>>) -> Self {
        self.show_requests = requests;
        self
    }

    fn show_window(ctx: &egui::Context) {
        ctx.send_viewport_cmd(egui::ViewportCommand::Visible(true));
        ctx.send_viewport_cmd(egui::ViewportCommand::Minimized(false));
        ctx.send_viewport_cmd(egui::ViewportCommand::Focus);
    }

    /// Tray clicks, second starts, the icon's paused look, and close-to-tray: the window's
    /// logic that must run while it is hidden.
    pub fn window_logic(&mut self, ctx: &egui::Context) {
        if self
            .show_requests
            .as_ref()
            .is_some_and(|requests| requests.try_iter().count() > 0)
        {
            Self::show_window(ctx);
        }
        let close_to_tray = self.snapshot.settings.options.user_interface.close_to_tray;
        let Some(tray) = &mut self.tray else {
            return;
        };
        tray.show_paused(self.snapshot.all_paused);
        let actions = tray.actions();
        for action in actions {
            match action {
                TrayAction::Open => Self::show_window(ctx),
                TrayAction::TogglePause => {
                    let command = if self.snapshot.all_paused {
                        Command::ResumeAll
                    } else {
                        Command::PauseAll
                    };
                    self.send_all(vec![command.into()]);
                }
                TrayAction::ExitUi => self.quit(ctx, false),
            }
        }
        if close_to_tray && !self.view.quitting && ctx.input(|i| i.viewport().close_requested()) {
            ctx.send_viewport_cmd(egui::ViewportCommand::CancelClose);
            ctx.send_viewport_cmd(egui::ViewportCommand::Visible(false));
        }
    }

    /// The logic of a frame: runs even while the window is hidden.
    pub fn refresh(&mut self) {
        if !self.waker_set {
            self.set_waker();
        }
        // A cheap Arc clone; the engine publishes at most every 100 ms.
        self.snapshot = self.engine.snapshot();
        // Here, not while drawing: a save answered while the window is hidden (closed to
        // the tray) is finished at once, not when the window is next shown.
        self.view.dialogs.take_replies(&self.ctx);
    }

    /// The snapshot on screen.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// The window's own state (tab, selection, sorting...).
    pub fn view(&self) -> &ViewState {
        &self.view
    }

    /// The window's state to change (select a set, open a tab) for benchmarks and
    /// screenshots that drive the window without clicks.
    pub fn view_mut(&mut self) -> &mut ViewState {
        &mut self.view
    }

    /// Shows `snapshot` instead of the engine's until the next [`StandbyApp::refresh`]:
    /// for frame-time benchmarks and screenshots over made-up data.
    pub fn show_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        self.snapshot = snapshot;
    }

    /// The engine, for tests and for callers that wire more parts.
    pub fn engine(&self) -> &EngineClient {
        &self.engine
    }

    /// Whether the engine is reachable (`None`: the window's own engine).
    pub fn engine_status(&self) -> Option<LinkStatus> {
        self.engine.status()
    }

    /// The link to the engine of an attached window (`None`: the window's own engine).
    pub fn link(&self) -> Option<&Link> {
        match &self.engine {
            EngineLink::Attached { link, .. } => Some(link),
            EngineLink::Own(_) => None,
        }
    }

    /// The number of log lines the Log tab shows (frozen or live).
    pub fn log_lines_shown(&self) -> usize {
        self.view.log.lines(&self.snapshot.log).len()
    }

    fn set_waker(&mut self) {
        let ctx = self.ctx.clone();
        let waker = Arc::new(move || ctx.request_repaint());
        self.waker_set = self.engine.set_repaint_waker(waker).is_ok();
    }

    fn send_all(&mut self, outbox: Vec<Inbound>) {
        for command in outbox {
            let what = format!("{command:?}");
            match self.engine.try_send(command) {
                Ok(()) => self.view.send_error = None,
                Err(e) => {
                    tracing::warn!("{what}: {e}");
                    self.view.send_error = Some(e.to_string());
                }
            }
        }
    }

    /// Draws the whole window.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let snapshot = self.snapshot.clone();
        let mut outbox = Vec::new();
        let mut requests = Vec::new();
        let status = self.engine.status();
        // The engine is away: its last state stays on screen, greyed, and nothing that
        // would be sent to it can be clicked (open dialogs keep what was typed in them).
        let lost = matches!(status, Some(LinkStatus::Lost { .. }));
        egui::Panel::top("menu_bar").show(ui, |ui| self.menu_bar(ui, &snapshot, &mut requests));
        if let Some(LinkStatus::Lost {
            since,
            why,
            retry_error,
            login,
        }) = &status
        {
            egui::Panel::top("engine_lost").show(ui, |ui| {
                let retry_error = retry_error.as_deref();
                self.lost_banner(ui, &snapshot, *since, why, retry_error, login.is_some());
            });
        }
        egui::Panel::top("tool_bar").show(ui, |ui| {
            if lost {
                ui.disable();
            }
            ui.add_space(2.0);
            self.tool_bar(ui, &snapshot, &mut outbox, &mut requests);
            ui.add_space(2.0);
        });
        egui::Panel::top("tabs").show(ui, |ui| self.tab_strip(ui, &snapshot));
        egui::Panel::bottom("status_bar").show(ui, |ui| self.status_bar(ui, &snapshot));
        egui::CentralPanel::default().show(ui, |ui| {
            if lost {
                ui.disable();
            }
            match self.view.tab {
                Tab::ServerSets => {
                    server_sets::show(ui, &snapshot, &mut self.view.sets, &mut requests)
                }
                Tab::Log => log_tab::show(ui, &snapshot, &self.view.log),
                Tab::Problems => problems::show(ui, &snapshot, &mut self.view.problems),
            }
        });
        for request in requests {
            self.view
                .dialogs
                .open(request, &snapshot.settings, snapshot.settings_revision);
        }
        self.view.dialogs.main_section = self.view.tab.title();
        self.view.dialogs.show(ui.ctx(), &snapshot, &mut outbox);
        self.about_window(ui.ctx());
        self.confirm_shutdown_window(ui.ctx());
        self.send_all(outbox);
    }

    /// The engine under this window went: says so, with the age of the state shown, and
    /// offers to start one where the window can.
    fn lost_banner(
        &mut self,
        ui: &mut egui::Ui,
        snapshot: &Snapshot,
        since: std::time::SystemTime,
        why: &str,
        retry_error: Option<&str>,
        wants_login: bool,
    ) {
        let age = std::time::SystemTime::now()
            .duration_since(since)
            .map_or(0, |d| d.as_secs());
        let place = match self.engine.remote_host() {
            Some(host) => format!("the engine at {host}"),
            None => "the engine".to_string(),
        };
        ui.add_space(2.0);
        // Refused: the link waits for the login screen's password instead of retrying.
        let then = if wants_login {
            "It refused the password: log in again"
        } else {
            "Reconnecting by itself..."
        };
        ui.label(
            RichText::new(format!(
                "Lost {place} at {} ({age} s ago): {why}. {then}",
                widgets::clock_utc(since)
            ))
            .color(widgets::tone(ui, widgets::RED))
            .strong(),
        );
        ui.horizontal(|ui| {
            ui.label(format!(
                "The state shown is its last, {age} s old (snapshot {}).",
                snapshot.generation
            ));
            if let Some(error) = retry_error {
                ui.label(
                    RichText::new(format!("Last try: {error}"))
                        .color(widgets::tone(ui, widgets::ORANGE)),
                );
            }
            if let EngineLink::Attached { link, .. } = &self.engine
                && link.can_start
                && ui
                    .button("Start the engine")
                    .on_hover_text("Start the engine of this settings file in the background")
                    .clicked()
                && link.control.try_send(LinkControl::StartEngine).is_err()
            {
                self.view.send_error = Some("the link is busy: try again".into());
            }
        });
        ui.add_space(2.0);
        // The age goes up by itself.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_secs(1));
    }

    /// Exit UI / Shut down: closes for real (not to the tray); `shutdown` also stops the
    /// engine now rather than when the handle drops.
    pub fn quit(&mut self, ctx: &egui::Context, shutdown: bool) {
        self.view.quitting = true;
        if shutdown {
            self.send_all(vec![Command::Shutdown.into()]);
        }
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    fn menu_bar(
        &mut self,
        ui: &mut egui::Ui,
        snapshot: &Snapshot,
        requests: &mut Vec<DialogRequest>,
    ) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Options...").clicked() {
                    requests.push(DialogRequest::Options);
                }
                if ui.button("Cluster...").clicked() {
                    requests.push(DialogRequest::Cluster);
                }
                if ui.button("Support file...").clicked() {
                    requests.push(DialogRequest::SupportFile(support_path(snapshot)));
                }
                ui.separator();
                if ui
                    .button("Exit UI")
                    .on_hover_text(if self.engine.outlives_the_window() {
                        "Close the window; the engine goes on polling"
                    } else {
                        "Close the window (standalone: the engine stops with it)"
                    })
                    .clicked()
                {
                    self.quit(ui.ctx(), false);
                }
                if ui
                    .button("Shut down")
                    .on_hover_text("Stop polling and DNS updating, and close the window")
                    .clicked()
                {
                    self.view.confirm_shutdown = true;
                }
            });
            ui.menu_button("Help", |ui| {
                if ui.button("Help (F1)").clicked() {
                    self.view.dialogs.help = Some(crate::ui::help::HelpTopic::MainWindow);
                }
                if ui.button("About").clicked() {
                    self.view.about_open = true;
                }
            });
        });
    }

    fn tool_bar(
        &mut self,
        ui: &mut egui::Ui,
        snapshot: &Snapshot,
        outbox: &mut Vec<Inbound>,
        requests: &mut Vec<DialogRequest>,
    ) {
        ui.horizontal(|ui| {
            if ui.button("Options").clicked() {
                requests.push(DialogRequest::Options);
            }
            let paused = snapshot.all_paused;
            let toggle = ui
                .add(
                    egui::Button::selectable(paused, "Pause all polling").frame_when_inactive(true),
                )
                .on_hover_text(if paused {
                    "All polling is paused: click to resume"
                } else {
                    "Stop every poll"
                });
            if toggle.clicked() {
                let command = if paused {
                    Command::ResumeAll
                } else {
                    Command::PauseAll
                };
                outbox.push(command.into());
            }
            if ui.button("Poll all server sets").clicked() {
                outbox.push(Command::PollAll.into());
            }
            // Then the buttons of the current tab (SPEC §9), as the original had them.
            match self.view.tab {
                Tab::ServerSets => {
                    ui.separator();
                    server_sets::tool_buttons(ui, snapshot, &self.view.sets, outbox, requests);
                }
                Tab::Log => {
                    ui.separator();
                    log_tab::tool_buttons(ui, snapshot, &mut self.view.log, outbox);
                }
                Tab::Problems => {}
            }
        });
    }

    fn tab_strip(&mut self, ui: &mut egui::Ui, snapshot: &Snapshot) {
        ui.horizontal(|ui| {
            for tab in Tab::ALL {
                ui.selectable_value(&mut self.view.tab, tab, tab.title());
                // The count sits beside the button, so that the button's label stays plain.
                if tab == Tab::Problems && !snapshot.problems.is_empty() {
                    ui.label(
                        RichText::new(format!("({})", snapshot.problems.len()))
                            .color(widgets::tone(ui, widgets::RED)),
                    );
                }
            }
        });
    }

    fn status_bar(&self, ui: &mut egui::Ui, snapshot: &Snapshot) {
        ui.horizontal(|ui| {
            if let Some(host) = self.engine.remote_host() {
                ui.label(format!("engine at {host}"));
                ui.separator();
            }
            ui.label(format!("{} server set(s)", snapshot.sets.len()));
            ui.separator();
            ui.label(format!("{} poll(s) in flight", snapshot.polls_in_flight));
            if snapshot.all_paused {
                ui.separator();
                ui.label(
                    RichText::new("all polling paused").color(widgets::tone(ui, widgets::ORANGE)),
                );
            }
            if let Some(error) = &snapshot.settings_error {
                ui.separator();
                ui.label(
                    RichText::new(format!("Settings: {error}"))
                        .color(widgets::tone(ui, widgets::RED)),
                );
            }
            if let Some(message) = &self.view.dialogs.message {
                ui.separator();
                ui.label(RichText::new(message).color(widgets::tone(ui, widgets::RED)));
            }
            if let Some(error) = &self.view.send_error {
                ui.separator();
                ui.label(RichText::new(error).color(widgets::tone(ui, widgets::RED)));
            }
        });
    }

    /// Shut down stops monitoring for every window and every host name: asked first.
    fn confirm_shutdown_window(&mut self, ctx: &egui::Context) {
        if !self.view.confirm_shutdown {
            return;
        }
        let mut answer = None;
        egui::Window::new("Shut down Standby?")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                ui.label(
                    "Polling, DNS updating and notifications stop until Standby is started \
                     again. To close only this window, use Exit UI.",
                );
                ui.horizontal(|ui| {
                    if ui.button("Shut down").clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Cancel").clicked() {
                        answer = Some(false);
                    }
                });
            });
        match answer {
            Some(true) => {
                self.view.confirm_shutdown = false;
                self.quit(ctx, true);
            }
            Some(false) => self.view.confirm_shutdown = false,
            None => {}
        }
    }

    fn about_window(&mut self, ctx: &egui::Context) {
        let mut open = self.view.about_open;
        let mut close = false;
        egui::Window::new("About Standby")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                ui.label(format!("Standby {}", env!("CARGO_PKG_VERSION")));
                ui.label(env!("CARGO_PKG_DESCRIPTION"));
                if ui.button("Close").clicked() {
                    close = true;
                }
            });
        self.view.about_open = open && !close;
    }
}

impl eframe::App for StandbyApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.refresh();
        self.window_logic(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

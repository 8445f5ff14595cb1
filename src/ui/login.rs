//! The login screen of a remote window (`standby --connect`): shown instead of the main
//! window when no password was given or the engine refused it. It names the engine
//! (`host:port`) and the user (admin), takes the password masked, and says why the last
//! attempt failed and how long the API's login throttle asks to wait. The attempt runs on
//! the link's runtime ([`Login`]); on success the screen becomes the main window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

use crate::attach::AttachError;
use crate::attach::login::Login;
use crate::model::Secret;
use crate::ui::app::{EngineLink, StandbyApp};
use crate::ui::forms::{Form, ParseErrors};
use crate::ui::widgets;

/// The login screen's state.
pub struct LoginScreen {
    login: Login,
    /// The tray icon, handed to the main window after the login.
    tray: Option<crate::ui::desktop::tray::Tray>,
    password: Secret,
    /// The last refusal, in words.
    pub error: Option<String>,
    /// The API's throttle: no attempt before this.
    wait_until: Option<Instant>,
    parse_errors: ParseErrors,
}

impl LoginScreen {
    pub fn new(mut login: Login) -> LoginScreen {
        let first = login.first_error.take();
        let mut screen = LoginScreen {
            login,
            tray: None,
            password: Secret::new(""),
            error: None,
            wait_until: None,
            parse_errors: ParseErrors::default(),
        };
        if let Some(e) = first {
            screen.refused(&e);
        }
        screen
    }

    fn refused(&mut self, e: &AttachError) {
        self.wait_until = e.retry_after().map(|wait| Instant::now() + wait);
        self.error = Some(e.to_string());
    }

    /// Whether an attempt is under way.
    pub fn connecting(&self) -> bool {
        self.login.connecting()
    }

    /// The seconds left of the throttle's wait (0: none).
    pub fn wait_left(&self) -> u64 {
        self.wait_until.map_or(0, |until| {
            until
                .saturating_duration_since(Instant::now())
                .as_secs_f64()
                .ceil() as u64
        })
    }

    /// The outcome of an attempt, if one came: the main window's link on success.
    fn take_outcome(&mut self) -> Option<EngineLink> {
        match self.login.outcome()? {
            Ok((link, runtime)) => Some(EngineLink::Attached {
                link,
                runtime: Some(runtime),
            }),
            Err(e) => {
                tracing::warn!("login to {}: {e}", self.login.address());
                self.refused(&e);
                None
            }
        }
    }

    fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let address = self.login.address();
        egui::Window::new("Log in to a remote Standby")
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(&ctx, |ui| {
                ui.label(format!("Engine: {address}"));
                ui.label("User: admin");
                let mut form = Form::new(Vec::new(), &mut self.parse_errors);
                let mut enter = false;
                egui::Grid::new("login_fields")
                    .num_columns(2)
                    .show(ui, |ui| {
                        form.secret(ui, "API password of admin:", "", &mut self.password);
                        enter = ui.input(|i| i.key_pressed(egui::Key::Enter));
                    });
                let wait = self.wait_left();
                let connecting = self.login.connecting();
                if let Some(error) = &self.error {
                    ui.label(RichText::new(error).color(widgets::RED));
                }
                if wait > 0 {
                    ui.label(
                        RichText::new(format!("The engine accepts a login again in {wait} s."))
                            .color(widgets::ORANGE),
                    );
                    ctx.request_repaint_after(Duration::from_millis(250));
                }
                if connecting {
                    ui.label(format!("Connecting to {address}..."));
                }
                let can = !connecting && wait == 0;
                let clicked = ui
                    .add_enabled(can, egui::Button::new("Connect"))
                    .on_hover_text("Log in with this password and attach the window")
                    .clicked();
                if can && (clicked || enter) {
                    let waker_ctx = ctx.clone();
                    let waker: Arc<dyn Fn() + Send + Sync> =
                        Arc::new(move || waker_ctx.request_repaint());
                    self.error = None;
                    self.login.attempt(Some(self.password.clone()), waker);
                }
            });
    }
}

/// A remote window: the login screen until the engine took the password, then the main
/// window.
pub enum RemoteWindow {
    Login(Box<LoginScreen>),
    Main(Box<StandbyApp>),
}

impl RemoteWindow {
    pub fn new(login: Login) -> RemoteWindow {
        RemoteWindow::Login(Box::new(LoginScreen::new(login)))
    }

    /// The main window, once attached.
    pub fn app(&self) -> Option<&StandbyApp> {
        match self {
            RemoteWindow::Main(app) => Some(app),
            RemoteWindow::Login(_) => None,
        }
    }

    /// The login screen, while it shows.
    pub fn login(&self) -> Option<&LoginScreen> {
        match self {
            RemoteWindow::Login(screen) => Some(screen),
            RemoteWindow::Main(_) => None,
        }
    }

    /// The logic of a frame: a successful login becomes the main window.
    pub fn refresh(&mut self, ctx: &egui::Context) {
        match self {
            RemoteWindow::Login(screen) => {
                if let Some(link) = screen.take_outcome() {
                    let tray = screen.tray.take();
                    let app = StandbyApp::with_link(link, ctx).with_tray(tray);
                    *self = RemoteWindow::Main(Box::new(app));
                    ctx.request_repaint();
                }
            }
            RemoteWindow::Main(app) => app.refresh(),
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui) {
        match self {
            RemoteWindow::Login(screen) => {
                egui::CentralPanel::default().show(ui, |_| {});
                screen.draw(ui);
            }
            RemoteWindow::Main(app) => app.show(ui),
        }
    }
}

impl eframe::App for RemoteWindow {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.refresh(ctx);
        if let RemoteWindow::Main(app) = self {
            app.window_logic(ctx);
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }
}

/// Opens the login screen of a remote engine; after the login, the main window on it.
pub fn run(login: Login) -> Result<(), eframe::Error> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title(format!("Standby — {}", login.address()))
            .with_inner_size([1100.0, 700.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Standby",
        options,
        Box::new(move |cc| {
            crate::ui::desktop::system_theme::follow(cc.egui_ctx.clone());
            // The same tray as the main window's (`ui::run`), from the start: the main
            // window takes it over after the login.
            let why_no_tray = crate::ui::desktop::tray::why_no_tray();
            let tray = crate::ui::desktop::tray::start(cc.egui_ctx.clone(), why_no_tray);
            let mut window = LoginScreen::new(login);
            window.tray = tray;
            Ok(Box::new(RemoteWindow::Login(Box::new(window))))
        }),
    )
}

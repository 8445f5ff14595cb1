//! The login screen of a remote window (`standby --connect`): shown instead of the main
//! window when no password was given or the engine refused it, and over the main window
//! (its last state greyed) when the engine refuses the password later, e.g. after it was
//! changed there. It names the engine (`host:port`) and the user (admin), takes the
//! password masked, and says why the last attempt failed and how long the API's login
//! throttle asks to wait. The first login's attempts open a link on its runtime
//! ([`Login`]); a later one hands the link the new password (`LinkControl::Login`), so
//! the window keeps its dialogs and the pinned certificate. On success the screen goes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eframe::egui::{self, RichText};

use tokio::sync::{mpsc, watch};

use crate::attach::login::Login;
use crate::attach::{AttachError, LinkControl, LinkStatus};
use crate::model::Secret;
use crate::ui::app::{EngineLink, StandbyApp};
use crate::ui::forms::{Form, ParseErrors};
use crate::ui::widgets;

/// Where a login's attempts go.
enum Attempts {
    /// Before the first attach: each attempt opens a link.
    First(Login),
    /// A link whose engine refused its password since: each attempt hands it another.
    Again {
        address: String,
        control: mpsc::Sender<LinkControl>,
        status: watch::Receiver<LinkStatus>,
        /// The link's refusals when the attempt under way was sent (`None`: none is).
        sent: Option<u64>,
    },
}

/// The outcome of an attempt.
enum Outcome {
    /// The first login's link.
    Linked(EngineLink),
    /// A later login: the link is attached again.
    Back,
    /// Refused again (or unreachable): why, and how long the throttle asks to wait.
    Refused(String, Option<Duration>),
}

impl Attempts {
    fn address(&self) -> String {
        match self {
            Attempts::First(login) => login.address(),
            Attempts::Again { address, .. } => address.clone(),
        }
    }

    fn connecting(&self) -> bool {
        match self {
            Attempts::First(login) => login.connecting(),
            Attempts::Again { sent, .. } => sent.is_some(),
        }
    }

    fn attempt(&mut self, password: Secret, waker: Arc<dyn Fn() + Send + Sync>) {
        match self {
            Attempts::First(login) => login.attempt(Some(password), waker),
            Attempts::Again {
                control,
                status,
                sent,
                ..
            } => {
                let refusals = match &*status.borrow() {
                    LinkStatus::Lost {
                        login: Some(wanted),
                        ..
                    } => wanted.refusals,
                    _ => 0,
                };
                let password = Some(password).filter(|p| !p.expose().is_empty());
                if control.try_send(LinkControl::Login(password)).is_ok() {
                    *sent = Some(refusals);
                }
            }
        }
    }

    fn outcome(&mut self) -> Option<Outcome> {
        match self {
            Attempts::First(login) => Some(match login.outcome()? {
                Ok((link, runtime)) => Outcome::Linked(EngineLink::Attached {
                    link,
                    runtime: Some(runtime),
                }),
                Err(e) => Outcome::Refused(e.to_string(), e.retry_after()),
            }),
            Attempts::Again { status, sent, .. } => {
                let now = status.borrow().clone();
                match now {
                    // Attached again, by this try or by itself.
                    LinkStatus::Attached { .. } => Some(Outcome::Back),
                    LinkStatus::Lost {
                        retry_error,
                        login: Some(wanted),
                        ..
                    } if sent.is_some_and(|before| wanted.refusals > before) => {
                        *sent = None;
                        Some(Outcome::Refused(
                            retry_error.unwrap_or_default(),
                            wanted.retry_after,
                        ))
                    }
                    // Unreachable meanwhile: the link tries by itself, with this password.
                    LinkStatus::Lost {
                        retry_error: Some(error),
                        login: None,
                        ..
                    } if sent.is_some() => {
                        *sent = None;
                        Some(Outcome::Refused(error, None))
                    }
                    LinkStatus::Lost { .. } => None,
                }
            }
        }
    }
}

/// The login screen's state.
pub struct LoginScreen {
    attempts: Attempts,
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
        let mut screen = LoginScreen::with(Attempts::First(login));
        if let Some(e) = first {
            screen.refused(&e);
        }
        screen
    }

    /// The screen over a main window whose engine refused the link's password since; `None`
    /// when the link does not wait for one.
    fn again(app: &StandbyApp) -> Option<LoginScreen> {
        let link = app.link()?;
        let LinkStatus::Lost {
            retry_error,
            login: Some(wanted),
            ..
        } = &*link.status.borrow()
        else {
            return None;
        };
        let address = match &link.place {
            crate::attach::Place::Remote(address) => address.clone(),
            crate::attach::Place::Local(path) => path.display().to_string(),
        };
        let mut screen = LoginScreen::with(Attempts::Again {
            address,
            control: link.control.clone(),
            status: link.status.clone(),
            sent: None,
        });
        screen.refused_because(retry_error.clone().unwrap_or_default(), wanted.retry_after);
        Some(screen)
    }

    fn with(attempts: Attempts) -> LoginScreen {
        LoginScreen {
            attempts,
            tray: None,
            password: Secret::new(""),
            error: None,
            wait_until: None,
            parse_errors: ParseErrors::default(),
        }
    }

    fn refused(&mut self, e: &AttachError) {
        self.refused_because(e.to_string(), e.retry_after());
    }

    fn refused_because(&mut self, why: String, retry_after: Option<Duration>) {
        self.wait_until = retry_after.map(|wait| Instant::now() + wait);
        self.error = Some(why);
    }

    /// Whether an attempt is under way.
    pub fn connecting(&self) -> bool {
        self.attempts.connecting()
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

    /// The outcome of an attempt, if one came (a refusal is shown).
    fn take_outcome(&mut self) -> Option<Outcome> {
        let outcome = self.attempts.outcome()?;
        if let Outcome::Refused(why, retry_after) = &outcome {
            tracing::warn!("login to {}: {why}", self.attempts.address());
            self.refused_because(why.clone(), *retry_after);
        }
        Some(outcome)
    }

    fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let address = self.attempts.address();
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
                let connecting = self.attempts.connecting();
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
                    self.attempts.attempt(self.password.clone(), waker);
                }
            });
    }
}

/// A remote window: the login screen until the engine took the password, then the main
/// window, with the login screen over it while the engine refuses the password again.
pub enum RemoteWindow {
    Login(Box<LoginScreen>),
    Main(Box<StandbyApp>, Option<Box<LoginScreen>>),
}

impl RemoteWindow {
    pub fn new(login: Login) -> RemoteWindow {
        RemoteWindow::Login(Box::new(LoginScreen::new(login)))
    }

    /// The main window, once attached.
    pub fn app(&self) -> Option<&StandbyApp> {
        match self {
            RemoteWindow::Main(app, _) => Some(app),
            RemoteWindow::Login(_) => None,
        }
    }

    /// The login screen, while it shows (alone, or over the main window).
    pub fn login(&self) -> Option<&LoginScreen> {
        match self {
            RemoteWindow::Login(screen) | RemoteWindow::Main(_, Some(screen)) => Some(screen),
            RemoteWindow::Main(_, None) => None,
        }
    }

    /// The logic of a frame: a successful login becomes the main window; a refusal of
    /// the password on the live link brings the login screen over it, until one works.
    pub fn refresh(&mut self, ctx: &egui::Context) {
        match self {
            RemoteWindow::Login(screen) => {
                if let Some(Outcome::Linked(link)) = screen.take_outcome() {
                    let tray = screen.tray.take();
                    let app = StandbyApp::with_link(link, ctx).with_tray(tray);
                    *self = RemoteWindow::Main(Box::new(app), None);
                    ctx.request_repaint();
                }
            }
            RemoteWindow::Main(app, again) => {
                app.refresh();
                match again {
                    None => {
                        *again = LoginScreen::again(app).map(Box::new);
                        if again.is_some() {
                            ctx.request_repaint();
                        }
                    }
                    Some(screen) => {
                        if let Some(Outcome::Back) = screen.take_outcome() {
                            *again = None;
                            ctx.request_repaint();
                        }
                    }
                }
            }
        }
    }

    pub fn show(&mut self, ui: &mut egui::Ui) {
        match self {
            RemoteWindow::Login(screen) => {
                egui::CentralPanel::default().show(ui, |_| {});
                screen.draw(ui);
            }
            RemoteWindow::Main(app, again) => {
                app.show(ui);
                if let Some(screen) = again {
                    screen.draw(ui);
                }
            }
        }
    }
}

impl eframe::App for RemoteWindow {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.refresh(ctx);
        if let RemoteWindow::Main(app, _) = self {
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

//! The desktop window (egui). It reads the engine's snapshot and sends commands; it does
//! no I/O of its own.
//!
//! One file per tab and per dialog; each keeps its state in a small view struct
//! with the pure logic (sorting, freezing) apart from the drawing:
//!
//! - `app.rs` — the main window: tool bar, tabs, status bar; sends what the parts queue;
//! - `tabs/` — the three tabs (server sets with their status rows, log, problems);
//! - `dialogs/` — every dialog and tool window, and `mod.rs`, their round trip to the engine;
//! - `desktop/` — the desktop around the window: the tray icon, the second start;
//! - `forms.rs`, `dialog_frame.rs`, `list_editor.rs`, `widgets.rs`, `help.rs` — the pieces
//!   the others are built of.

pub mod app;
pub mod desktop;
pub mod dialog_frame;
pub mod dialogs;
pub mod forms;
pub mod help;
pub mod list_editor;
pub mod login;
pub mod tabs;
pub mod widgets;

pub use app::EngineLink;

/// Where the window keeps its size, place and column widths: `<settings>.window.ron`.
pub fn window_state_path(settings: &std::path::Path) -> std::path::PathBuf {
    let mut name = settings.as_os_str().to_owned();
    name.push(".window.ron");
    std::path::PathBuf::from(name)
}

/// Opens the main window on its own engine or an attached one; returns when it is closed.
pub fn run(engine: EngineLink) -> Result<(), eframe::Error> {
    let start_in_tray = engine
        .snapshot()
        .settings
        .options
        .user_interface
        .start_in_tray;
    // Hidden from the start only where a tray can be: never a window nobody can reach.
    let why_no_tray = desktop::tray::why_no_tray();
    let hidden = start_in_tray && why_no_tray.is_none();
    let settings_path = engine.snapshot().settings_path.clone();
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("Standby")
            .with_inner_size([1100.0, 700.0])
            .with_visible(!hidden),
        // The window's size and place, the table columns' widths: beside the settings
        // file (one per settings file, like its lock), written by eframe off this thread.
        persist_window: true,
        persistence_path: settings_path.as_deref().map(window_state_path),
        ..Default::default()
    };
    eframe::run_native(
        "Standby",
        options,
        Box::new(move |cc| {
            let tray = desktop::tray::start(cc.egui_ctx.clone(), why_no_tray);
            desktop::system_theme::follow(cc.egui_ctx.clone());
            // eframe shows the window after its first frame whatever the builder said;
            // this command comes after that, so the window ends hidden (a brief flash).
            if hidden {
                cc.egui_ctx
                    .send_viewport_cmd(eframe::egui::ViewportCommand::Visible(tray.is_none()));
            }
            // A window with its own engine holds the settings file's lock, so a second
            // start reaches it; attached windows are many, and each starts on its own.
            let show_requests = settings_path
                .as_deref()
                .filter(|_| !engine.outlives_the_window())
                .and_then(|path| desktop::second_start::listen(path, cc.egui_ctx.clone()));
            Ok(Box::new(
                app::StandbyApp::with_link(engine, &cc.egui_ctx)
                    .with_tray(tray)
                    .with_show_requests(show_requests),
            ))
        }),
    )
}

//! The desktop window (egui). It reads the engine's snapshot and sends commands; it does
//! no I/O of its own.
//!
//! One file per tab and per dialog; each keeps its state in a small view struct
//! with the pure logic (sorting, freezing) apart from the drawing.

pub mod app;
pub mod dialog_frame;
pub mod dialogs;
pub mod dns_server_dialog;
pub mod dns_serving_page;
pub mod email_defaults_dialog;
pub mod forms;
pub mod help;
pub mod history_dialog;
pub mod list_editor;
pub mod log_tab;
pub mod notification_dialog;
pub mod options_dialog;
pub mod ping_window;
pub mod poll_method;
pub mod problems;
pub mod rules;
pub mod second_start;
pub mod server_dialog;
pub mod server_sets;
pub mod set_dialog;
pub mod set_status;
pub mod test_send;
pub mod tray;
pub mod what_if_window;
pub mod widgets;
pub mod zone_dialog;

use crate::engine::EngineHandle;

/// Opens the main window; returns when it is closed.
pub fn run(engine: EngineHandle) -> Result<(), eframe::Error> {
    let start_in_tray = engine
        .snapshot()
        .settings
        .options
        .user_interface
        .start_in_tray;
    // Hidden from the start only where a tray can be: never a window nobody can reach.
    let why_no_tray = tray::why_no_tray();
    let hidden = start_in_tray && why_no_tray.is_none();
    let settings_path = engine.snapshot().settings_path.clone();
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_title("Standby")
            .with_inner_size([1100.0, 700.0])
            .with_visible(!hidden),
        ..Default::default()
    };
    eframe::run_native(
        "Standby",
        options,
        Box::new(move |cc| {
            let tray = tray::start(cc.egui_ctx.clone(), why_no_tray);
            // eframe shows the window after its first frame whatever the builder said;
            // this command comes after that, so the window ends hidden (a brief flash).
            if hidden {
                cc.egui_ctx
                    .send_viewport_cmd(eframe::egui::ViewportCommand::Visible(tray.is_none()));
            }
            let show_requests = settings_path
                .as_deref()
                .and_then(|path| second_start::listen(path, cc.egui_ctx.clone()));
            Ok(Box::new(
                app::StandbyApp::new(engine, &cc.egui_ctx)
                    .with_tray(tray)
                    .with_show_requests(show_requests),
            ))
        }),
    )
}

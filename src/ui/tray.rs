//! The tray icon (SPEC §9): menu Open / Pause-Resume all polling / Exit UI, a greyed icon
//! while all polling is paused, double-click opens the window.
//!
//! tray-icon needs a GTK loop on Linux, so the icon lives on a thread of its own that
//! runs `gtk::main()`; the window and the tray talk over two channels (actions in, the
//! paused flag out) and a repaint request wakes the window, even when it is hidden.
//! Where there can be no tray (no appindicator library, no display: CI, headless tests)
//! Standby runs without one and says so in the log: tray-icon would panic otherwise.
//!
//! On Linux the appindicator protocol reports no clicks on the icon itself, so there
//! double-click does nothing and *Open* in the menu is the way back to the window.

use std::path::Path;
use std::sync::mpsc;

use eframe::egui;

/// What the tray asks of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrayAction {
    Open,
    TogglePause,
    ExitUi,
}

/// The window's side of a running tray icon.
pub struct Tray {
    actions: mpsc::Receiver<TrayAction>,
    paused_tx: mpsc::Sender<bool>,
    /// The paused flag the icon shows, so that only changes are sent.
    shown_paused: Option<bool>,
}

impl Tray {
    /// The tray's clicks since the last call.
    pub fn actions(&self) -> Vec<TrayAction> {
        self.actions.try_iter().collect()
    }

    /// Shows `paused` on the icon and in the menu (sent only when it changed).
    pub fn show_paused(&mut self, paused: bool) {
        if self.shown_paused != Some(paused) && self.paused_tx.send(paused).is_ok() {
            self.shown_paused = Some(paused);
        }
    }
}

/// The icon as 8-bit RGBA, decoded from the PNG built into the binary.
pub fn icon_rgba() -> Result<(Vec<u8>, u32, u32), String> {
    const PNG: &[u8] = include_bytes!("../../assets/standby.png");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(PNG));
    // 16-bit and palette images become plain 8-bit channels.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| format!("tray icon: {e}"))?;
    let size = reader
        .output_buffer_size()
        .ok_or("tray icon: image too large")?;
    let mut buf = vec![0; size];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("tray icon: {e}"))?;
    buf.truncate(info.buffer_size());
    let rgba = match info.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|g| [*g, *g, *g, 255]).collect(),
        png::ColorType::Indexed => return Err("tray icon: palette left unexpanded".into()),
    };
    Ok((rgba, info.width, info.height))
}

/// The paused look: grey and faded.
pub fn greyed(rgba: &[u8]) -> Vec<u8> {
    rgba.chunks_exact(4)
        .flat_map(|p| {
            let luma = (u32::from(p[0]) * 30 + u32::from(p[1]) * 59 + u32::from(p[2]) * 11) / 100;
            let grey = u8::try_from(luma).unwrap_or(u8::MAX);
            [grey, grey, grey, p[3] / 2]
        })
        .collect()
}

/// The appindicator library tray-icon loads at run time, looked for without loading it.
pub fn appindicator_library(dirs: &[&Path]) -> Option<std::path::PathBuf> {
    const NAMES: [&str; 2] = ["libayatana-appindicator3.so.1", "libappindicator3.so.1"];
    dirs.iter()
        .flat_map(|dir| NAMES.iter().map(move |name| dir.join(name)))
        .find(|path| path.exists())
}

/// Why there can be no tray here, if there cannot.
pub fn why_no_tray() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return Some("no display".into());
    }
    let dirs = [
        "/usr/lib/x86_64-linux-gnu",
        "/usr/lib/aarch64-linux-gnu",
        "/usr/lib64",
        "/usr/lib",
        "/lib/x86_64-linux-gnu",
        "/usr/local/lib",
    ];
    let dirs: Vec<&Path> = dirs.iter().map(Path::new).collect();
    if appindicator_library(&dirs).is_none() {
        return Some(
            "libayatana-appindicator3.so.1 not found (Debian: libayatana-appindicator3-1)".into(),
        );
    }
    None
}

/// Starts the tray icon, or logs why there is none and returns `None`. `ctx` is woken
/// on every click.
pub fn start(ctx: egui::Context) -> Option<Tray> {
    if let Some(why) = why_no_tray() {
        tracing::info!("running without a tray icon: {why}");
        return None;
    }
    let (rgba, width, height) = match icon_rgba() {
        Ok(icon) => icon,
        Err(e) => {
            tracing::warn!("running without a tray icon: {e}");
            return None;
        }
    };
    let (actions_tx, actions) = mpsc::channel();
    let (paused_tx, paused_rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::channel();
    let icon = platform::Icons {
        normal: rgba.clone(),
        paused: greyed(&rgba),
        width,
        height,
    };
    let spawned = std::thread::Builder::new()
        .name("standby-tray".into())
        .spawn(move || platform::run(icon, actions_tx, paused_rx, ready_tx, ctx));
    if let Err(e) = spawned {
        tracing::warn!("running without a tray icon: cannot start its thread: {e}");
        return None;
    }
    // The thread says whether the icon exists; a failure there ends it.
    match ready_rx.recv() {
        Ok(Ok(())) => {
            tracing::info!("tray icon shown");
            Some(Tray {
                actions,
                paused_tx,
                shown_paused: None,
            })
        }
        Ok(Err(e)) => {
            tracing::warn!("running without a tray icon: {e}");
            None
        }
        Err(_) => {
            tracing::warn!("running without a tray icon: its thread ended");
            None
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod platform {
    //! Elsewhere the tray needs the window's own event loop: not wired yet.
    use super::*;

    pub struct Icons {
        pub normal: Vec<u8>,
        pub paused: Vec<u8>,
        pub width: u32,
        pub height: u32,
    }

    pub fn run(
        _icons: Icons,
        _actions: mpsc::Sender<TrayAction>,
        _paused: mpsc::Receiver<bool>,
        ready: mpsc::Sender<Result<(), String>>,
        _ctx: egui::Context,
    ) {
        let _ = ready.send(Err("the tray icon is built for Linux only so far".into()));
    }
}

#[cfg(target_os = "linux")]
mod platform {
    use std::time::Duration;

    use tray_icon::menu::{Menu, MenuEvent, MenuItem};
    use tray_icon::{Icon, TrayIconBuilder, TrayIconEvent};

    use super::*;

    pub struct Icons {
        pub normal: Vec<u8>,
        pub paused: Vec<u8>,
        pub width: u32,
        pub height: u32,
    }

    impl Icons {
        fn icon(&self, paused: bool) -> Result<Icon, String> {
            let rgba = if paused { &self.paused } else { &self.normal };
            Icon::from_rgba(rgba.clone(), self.width, self.height).map_err(|e| e.to_string())
        }
    }

    /// The tray thread: builds the icon, then runs GTK's loop for good (the process
    /// ends it).
    pub fn run(
        icons: Icons,
        actions: mpsc::Sender<TrayAction>,
        paused: mpsc::Receiver<bool>,
        ready: mpsc::Sender<Result<(), String>>,
        ctx: egui::Context,
    ) {
        if let Err(e) = gtk::init() {
            let _ = ready.send(Err(format!("GTK: {e}")));
            return;
        }
        let open = MenuItem::new("Open", true, None);
        let pause = MenuItem::new("Pause all polling", true, None);
        let exit = MenuItem::new("Exit UI", true, None);
        let menu = Menu::new();
        if let Err(e) = menu.append_items(&[&open, &pause, &exit]) {
            let _ = ready.send(Err(format!("tray menu: {e}")));
            return;
        }
        let built = icons.icon(false).and_then(|icon| {
            TrayIconBuilder::new()
                .with_menu(Box::new(menu))
                .with_tooltip("Standby")
                .with_icon(icon)
                .build()
                .map_err(|e| e.to_string())
        });
        let tray = match built {
            Ok(tray) => tray,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let ids = (open.id().clone(), pause.id().clone(), exit.id().clone());
        let menu_actions = actions.clone();
        let menu_ctx = ctx.clone();
        MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
            let action = if event.id == ids.0 {
                TrayAction::Open
            } else if event.id == ids.1 {
                TrayAction::TogglePause
            } else if event.id == ids.2 {
                TrayAction::ExitUi
            } else {
                return;
            };
            let _ = menu_actions.send(action);
            menu_ctx.request_repaint();
        }));
        TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
            if let TrayIconEvent::DoubleClick { .. } = event {
                let _ = actions.send(TrayAction::Open);
                ctx.request_repaint();
            }
        }));
        let _ = ready.send(Ok(()));
        // The paused flag comes from the window; GTK objects may only be touched here.
        gtk::glib::timeout_add_local(Duration::from_millis(200), move || {
            if let Some(now) = paused.try_iter().last() {
                pause.set_text(if now {
                    "Resume all polling"
                } else {
                    "Pause all polling"
                });
                match icons.icon(now) {
                    Ok(icon) => {
                        if let Err(e) = tray.set_icon(Some(icon)) {
                            tracing::warn!("tray icon: {e}");
                        }
                    }
                    Err(e) => tracing::warn!("tray icon: {e}"),
                }
                let _ = tray.set_tooltip(Some(if now {
                    "Standby: all polling paused"
                } else {
                    "Standby"
                }));
            }
            gtk::glib::ControlFlow::Continue
        });
        gtk::main();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_icon_decodes_to_rgba_and_greys() {
        let (rgba, w, h) = icon_rgba().unwrap();
        assert_eq!(rgba.len(), (w * h * 4) as usize);
        let grey = greyed(&rgba);
        assert_eq!(grey.len(), rgba.len());
        assert!(grey.chunks_exact(4).all(|p| p[0] == p[1] && p[1] == p[2]));
    }

    #[test]
    fn a_missing_library_is_found_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(appindicator_library(&[dir.path()]), None);
        let lib = dir.path().join("libayatana-appindicator3.so.1");
        std::fs::write(&lib, b"").unwrap();
        assert_eq!(appindicator_library(&[dir.path()]), Some(lib));
    }
}

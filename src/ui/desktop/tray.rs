//! The tray icon (SPEC §9): menu Open / Pause-Resume all polling / Exit UI, a greyed icon
//! while all polling is paused; double-click (Windows) or click (Linux, macOS: what their
//! trays send) opens the window.
//!
//! The icon lives on the window's thread on every platform: Windows and macOS need it
//! there, and on Linux tray-icon's ksni backend serves the StatusNotifierItem protocol
//! from a D-Bus worker of its own. Clicks arrive on other threads; they go through a
//! channel and a repaint request wakes the window, even when it is hidden (eframe then
//! runs `App::logic` only).
//!
//! Where there can be no tray (Linux without a session bus or without a tray host on it:
//! CI, a bare X session, GNOME without its AppIndicator extension) Standby runs without
//! one and says so in the log; the window is then never hidden, since nothing could
//! bring it back.

use std::sync::mpsc;

use eframe::egui;
use tray_icon::menu::{Menu, MenuEvent, MenuItem};
use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

/// Why there is no tray icon (the window then runs without one and the log says this).
#[derive(Debug, thiserror::Error)]
pub enum TrayError {
    #[error("tray icon: {0}")]
    Png(#[from] png::DecodingError),
    #[error("tray icon: image too large")]
    TooLarge,
    #[error("tray icon: palette left unexpanded")]
    Palette,
    #[error("tray icon: {0}")]
    Icon(#[from] tray_icon::BadIcon),
    #[error("tray menu: {0}")]
    Menu(#[from] tray_icon::menu::Error),
    #[error("{0}")]
    Build(#[from] tray_icon::Error),
}

/// What the tray asks of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrayAction {
    Open,
    TogglePause,
    ExitUi,
}

/// The tray icon, owned by the window.
pub struct Tray {
    icon: TrayIcon,
    pause_item: MenuItem,
    icons: Icons,
    actions: mpsc::Receiver<TrayAction>,
    /// The paused flag the icon shows, so that only changes reach the tray.
    shown_paused: Option<bool>,
}

impl Tray {
    /// The tray's clicks since the last call.
    pub fn actions(&self) -> Vec<TrayAction> {
        self.actions.try_iter().collect()
    }

    /// Shows `paused` on the icon, its tooltip and the menu (only when it changed).
    pub fn show_paused(&mut self, paused: bool) {
        if self.shown_paused == Some(paused) {
            return;
        }
        self.shown_paused = Some(paused);
        self.pause_item.set_text(pause_label(paused));
        match self.icons.icon(paused) {
            Ok(icon) => {
                if let Err(e) = self.icon.set_icon(Some(icon)) {
                    tracing::warn!("tray icon: {e}");
                }
            }
            Err(e) => tracing::warn!("tray icon: {e}"),
        }
        if let Err(e) = self.icon.set_tooltip(Some(tooltip(paused))) {
            tracing::warn!("tray icon: {e}");
        }
    }
}

/// The menu entry that pauses or resumes all polling.
pub fn pause_label(paused: bool) -> &'static str {
    if paused {
        "Resume all polling"
    } else {
        "Pause all polling"
    }
}

fn tooltip(paused: bool) -> &'static str {
    if paused {
        "Standby: all polling paused"
    } else {
        "Standby"
    }
}

/// Whether a click on the icon opens the window: what each platform's trays mean by
/// "open" (Windows: double-click with the left button; the StatusNotifierItem hosts of
/// Linux send Activate on a left click; macOS a left click, its menu being on the right).
pub fn opens_window(event: &TrayIconEvent) -> bool {
    match event {
        TrayIconEvent::DoubleClick { button, .. } => *button == MouseButton::Left,
        TrayIconEvent::Click {
            button,
            button_state,
            ..
        } => {
            !cfg!(windows) && *button == MouseButton::Left && *button_state == MouseButtonState::Up
        }
        _ => false,
    }
}

struct Icons {
    normal: Vec<u8>,
    paused: Vec<u8>,
    width: u32,
    height: u32,
}

impl Icons {
    fn icon(&self, paused: bool) -> Result<Icon, TrayError> {
        let rgba = if paused { &self.paused } else { &self.normal };
        Ok(Icon::from_rgba(rgba.clone(), self.width, self.height)?)
    }
}

/// The icon as 8-bit RGBA, decoded from the PNG built into the binary.
pub fn icon_rgba() -> Result<(Vec<u8>, u32, u32), TrayError> {
    const PNG: &[u8] = include_bytes!("../../../assets/standby.png");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(PNG));
    // 16-bit and palette images become plain 8-bit channels.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info()?;
    let size = reader.output_buffer_size().ok_or(TrayError::TooLarge)?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf)?;
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
        png::ColorType::Indexed => return Err(TrayError::Palette),
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

/// Why there can be no tray here, if there cannot. On Linux the icon is a
/// StatusNotifierItem: it needs a session bus and a tray host (the StatusNotifierWatcher)
/// on it. Asked once, before the window opens.
pub fn why_no_tray() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        linux::why_no_tray()
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

#[cfg(target_os = "linux")]
mod linux {
    pub const WATCHER: &str = "org.kde.StatusNotifierWatcher";

    pub fn why_no_tray() -> Option<String> {
        let connection = match zbus::blocking::Connection::session() {
            Ok(connection) => connection,
            Err(e) => return Some(format!("no D-Bus session bus ({e})")),
        };
        let has_host = zbus::blocking::fdo::DBusProxy::new(&connection).and_then(|bus| {
            let name = zbus::names::BusName::try_from(WATCHER)?;
            Ok(bus.name_has_owner(name)?)
        });
        match has_host {
            Ok(true) => None,
            Ok(false) => Some(format!(
                "no tray host on the session bus ({WATCHER} is not there; on GNOME enable \
                 the AppIndicator extension)"
            )),
            Err(e) => Some(format!("cannot ask the session bus for a tray host: {e}")),
        }
    }
}

/// Makes the tray icon on the window's thread, or logs why there is none and returns
/// `None`. `ctx` is woken on every click. `why_not` is what [`why_no_tray`] said.
pub fn start(ctx: egui::Context, why_not: Option<String>) -> Option<Tray> {
    if let Some(why) = why_not {
        tracing::info!("running without a tray icon: {why}");
        return None;
    }
    match build(ctx) {
        Ok(tray) => {
            tracing::info!("tray icon shown");
            Some(tray)
        }
        Err(e) => {
            tracing::warn!("running without a tray icon: {e}");
            None
        }
    }
}

fn build(ctx: egui::Context) -> Result<Tray, TrayError> {
    let (rgba, width, height) = icon_rgba()?;
    let icons = Icons {
        paused: greyed(&rgba),
        normal: rgba,
        width,
        height,
    };
    let open = MenuItem::new("Open", true, None);
    let pause_item = MenuItem::new(pause_label(false), true, None);
    let exit = MenuItem::new("Exit UI", true, None);
    let menu = Menu::new();
    menu.append_items(&[&open, &pause_item, &exit])?;
    let icon = TrayIconBuilder::new()
        .with_menu(Box::new(menu))
        .with_tooltip(tooltip(false))
        .with_title("Standby")
        .with_icon(icons.icon(false)?)
        // The left button opens the window (see `opens_window`); the menu is on the right.
        .with_menu_on_left_click(false)
        .build()?;

    let (actions_tx, actions) = mpsc::channel();
    let ids = (
        open.id().clone(),
        pause_item.id().clone(),
        exit.id().clone(),
    );
    let menu_actions = actions_tx.clone();
    let menu_ctx = ctx.clone();
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| {
        tracing::debug!("tray menu: {:?}", event.id);
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
        if !matches!(
            event,
            TrayIconEvent::Move { .. } | TrayIconEvent::Enter { .. } | TrayIconEvent::Leave { .. }
        ) {
            tracing::debug!("tray icon: {event:?}");
        }
        if opens_window(&event) {
            let _ = actions_tx.send(TrayAction::Open);
            ctx.request_repaint();
        }
    }));
    Ok(Tray {
        icon,
        pause_item,
        icons,
        actions,
        shown_paused: Some(false),
    })
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
    fn left_clicks_open_the_window_as_each_platform_means_it() {
        let id = tray_icon::TrayIconId::new("standby");
        let click = |button, button_state| TrayIconEvent::Click {
            id: id.clone(),
            position: Default::default(),
            rect: Default::default(),
            button,
            button_state,
        };
        let double = |button| TrayIconEvent::DoubleClick {
            id: id.clone(),
            position: Default::default(),
            rect: Default::default(),
            button,
        };
        assert!(opens_window(&double(MouseButton::Left)));
        assert!(!opens_window(&double(MouseButton::Right)));
        assert_eq!(
            opens_window(&click(MouseButton::Left, MouseButtonState::Up)),
            !cfg!(windows)
        );
        assert!(!opens_window(&click(
            MouseButton::Left,
            MouseButtonState::Down
        )));
        assert!(!opens_window(&click(
            MouseButton::Right,
            MouseButtonState::Up
        )));
    }
}

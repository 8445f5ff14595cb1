//! The desktop's own file dialog (rfd) for the path fields: *Save CSV...* and the SLA
//! report of the History dialog, the program of a command, the sound file, the log
//! directory.
//!
//! The dialog runs on a thread of its own and its answer is taken by the form on a later
//! frame, so the window never waits for it. On Linux rfd asks the XDG desktop portal over
//! D-Bus (falling back to `zenity`); where neither is there (no session bus, no portal, as
//! in tests and on a bare X server) the answer says why, the window shows it, and the
//! path typed in the field is what is used.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use eframe::egui;

/// What to ask for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ask {
    /// A file to write; `name` is the file name offered, `extension` its type.
    Save {
        title: &'static str,
        name: String,
        extension: &'static str,
    },
    /// A file to read (a program, a sound).
    Open { title: &'static str },
    /// A directory.
    Folder { title: &'static str },
}

/// What the dialog answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    Chosen(PathBuf),
    Cancelled,
    /// No dialog could be shown, and why: the typed path stays in use.
    Unavailable(String),
}

/// A dialog under way; its answer is taken once, by [`Pending::try_take`].
#[derive(Clone, Debug, Default)]
pub struct Pending(Arc<Mutex<Option<Answer>>>);

impl Pending {
    pub fn try_take(&self) -> Option<Answer> {
        self.0.lock().ok().and_then(|mut answer| answer.take())
    }
}

/// Opens the dialog on a thread of its own, starting at `start` (the field's path, if
/// any); a repaint is asked when the answer is there.
pub fn open(ctx: &egui::Context, ask: Ask, start: Option<&Path>) -> Pending {
    let pending = Pending::default();
    let slot = pending.0.clone();
    let ctx = ctx.clone();
    let start = start.map(Path::to_path_buf);
    let spawned = std::thread::Builder::new()
        .name("file dialog".into())
        .spawn(move || {
            let answer = match why_no_dialog() {
                Some(why) => Answer::Unavailable(why),
                None => ask_desktop(&ask, start.as_deref()),
            };
            if let Ok(mut slot) = slot.lock() {
                *slot = Some(answer);
            }
            ctx.request_repaint();
        });
    if let Err(e) = spawned
        && let Ok(mut slot) = pending.0.lock()
    {
        *slot = Some(Answer::Unavailable(format!(
            "cannot start the file dialog's thread: {e}"
        )));
    }
    pending
}

/// The dialog itself (this thread waits for it). rfd's async dialog, driven here: on
/// macOS it puts the panel on the main thread, elsewhere it runs on a thread of rfd's.
fn ask_desktop(ask: &Ask, start: Option<&Path>) -> Answer {
    let mut dialog = rfd::AsyncFileDialog::new();
    // Start in the field's directory (or at the field's directory itself).
    let dir = start.and_then(|p| if p.is_dir() { Some(p) } else { p.parent() });
    if let Some(dir) = dir.filter(|d| d.is_dir()) {
        dialog = dialog.set_directory(dir);
    }
    let chosen = match ask {
        Ask::Save {
            title,
            name,
            extension,
        } => pollster::block_on(
            dialog
                .set_title(*title)
                .set_file_name(name)
                .add_filter(extension.to_uppercase(), &[*extension])
                .save_file(),
        ),
        Ask::Open { title } => pollster::block_on(dialog.set_title(*title).pick_file()),
        Ask::Folder { title } => pollster::block_on(dialog.set_title(*title).pick_folder()),
    };
    match chosen {
        Some(file) => Answer::Chosen(file.path().to_path_buf()),
        None => Answer::Cancelled,
    }
}

/// Why no file dialog can be shown here, or `None` where rfd can show one.
fn why_no_dialog() -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        // rfd asks the portal and, when that fails, runs zenity.
        match portal::file_chooser() {
            Ok(()) => None,
            Err(_) if zenity_installed() => None,
            Err(why) => Some(format!("{why}, and zenity is not installed")),
        }
    }
    #[cfg(not(target_os = "linux"))]
    None
}

#[cfg(target_os = "linux")]
fn zenity_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("zenity").is_file()))
}

#[cfg(target_os = "linux")]
mod portal {
    use zbus::zvariant::OwnedValue;

    /// Why the session bus offers no file chooser.
    #[derive(Debug, thiserror::Error)]
    pub enum NoPortal {
        #[error("no D-Bus session bus ({0})")]
        Bus(zbus::Error),
        #[error("no XDG desktop portal ({0})")]
        Portal(zbus::Error),
        #[error("no XDG desktop portal with a file chooser on the session bus")]
        FileChooser,
    }

    /// Whether the session bus has an XDG desktop portal with a file chooser (asking for
    /// its version starts a portal that is only activatable).
    pub fn file_chooser() -> Result<(), NoPortal> {
        let connection = zbus::blocking::Connection::session().map_err(NoPortal::Bus)?;
        let proxy = zbus::blocking::Proxy::new(
            &connection,
            "org.freedesktop.portal.Desktop",
            "/org/freedesktop/portal/desktop",
            "org.freedesktop.DBus.Properties",
        )
        .map_err(NoPortal::Portal)?;
        let _version: OwnedValue = proxy
            .call("Get", &("org.freedesktop.portal.FileChooser", "version"))
            .map_err(|_| NoPortal::FileChooser)?;
        Ok(())
    }
}

/// A path field's *Browse...* button and what the dialog said, kept in the window's
/// memory under `id` between frames. Returns the path chosen, in the frame it comes.
pub fn browse_button(
    ui: &mut egui::Ui,
    id: egui::Id,
    ask: Ask,
    current: Option<&Path>,
) -> Option<PathBuf> {
    let mut state: BrowseState = ui.data(|d| d.get_temp(id)).unwrap_or_default();
    let mut chosen = None;
    if let Some(answer) = state.pending.as_ref().and_then(Pending::try_take) {
        state.pending = None;
        match answer {
            Answer::Chosen(path) => {
                state.note = None;
                chosen = Some(path);
            }
            Answer::Cancelled => state.note = None,
            Answer::Unavailable(why) => state.note = Some(unavailable_text(&why)),
        }
    }
    let idle = state.pending.is_none();
    if ui
        .add_enabled(idle, egui::Button::new("Browse..."))
        .on_hover_text("Choose with the desktop's file dialog")
        .clicked()
    {
        state.pending = Some(open(ui.ctx(), ask, current));
    }
    if !idle {
        ui.label("waiting for the file dialog...");
    } else if let Some(note) = &state.note {
        // Wrapped in a column of its own: the reason can be long (a D-Bus error), and in a
        // grid's row a line does not wrap, so it widened the dialog past the screen's edge.
        ui.vertical(|ui| {
            ui.set_max_width(NOTE_WIDTH);
            crate::ui::forms::note(ui, note);
        });
    }
    ui.data_mut(|d| d.insert_temp(id, state));
    chosen
}

/// How wide the reason beside a *Browse...* button may be before it wraps.
const NOTE_WIDTH: f32 = 320.0;

/// The line a path field shows when no dialog could open.
pub fn unavailable_text(why: &str) -> String {
    format!("No file dialog ({why}): type the path.")
}

#[derive(Clone, Debug, Default)]
struct BrowseState {
    pending: Option<Pending>,
    note: Option<String>,
}

//! The desktop around the window: the tray icon (and whether a tray host runs), the
//! second start of the program, which shows the running window instead, and the
//! desktop's light/dark preference, and its file dialog.

pub mod file_dialog;
pub mod second_start;
pub mod system_theme;
pub mod tray;

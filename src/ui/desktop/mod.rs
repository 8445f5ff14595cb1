//! The desktop around the window: the tray icon (and whether a tray host runs) and the
//! second start of the program, which shows the running window instead.

pub mod second_start;
pub mod tray;

//! The main window's tabs: the server sets (with each set's status rows), the log and the
//! problems; `first_run.rs` is what the first tab shows while there are no sets.

pub mod first_run;
pub mod log_tab;
pub mod problems;
pub mod server_sets;
pub mod set_status;

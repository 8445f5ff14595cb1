//! The embedded database (SQLite, one file beside the settings): the polling history and
//! the outbox of notifications, and what the notifications last announced.

pub mod announced;
pub mod events;
pub mod history;
pub mod instance;
pub mod logfiles;
pub mod outbox;
pub mod published;
pub mod report;
pub mod rollup;
mod schema;
pub mod sketch;
pub mod sla_export;
pub mod writer;

use std::path::Path;

pub use announced::Announced;
pub use outbox::{Held, Outbox, Pending};

/// A database error; the message names the file.
#[derive(Debug, thiserror::Error)]
#[error("database {file}: {source}")]
pub struct StoreError {
    pub file: String,
    pub source: rusqlite::Error,
}

/// The database file beside a settings file: `standby.ron` → `standby.db`.
pub fn database_path(settings_path: &Path) -> std::path::PathBuf {
    settings_path.with_extension("db")
}

/// Opens (creating) the database at `path`, or an in-memory one. The file is made readable
/// by its owner only: the outbox holds the methods it sends through, logins included.
pub fn open(path: Option<&Path>) -> Result<rusqlite::Connection, StoreError> {
    let name = path.map_or_else(|| ":memory:".to_string(), |p| p.display().to_string());
    let wrap = |source| StoreError {
        file: name.clone(),
        source,
    };
    let conn = match path {
        Some(path) => {
            restrict(path);
            rusqlite::Connection::open(path).map_err(wrap)?
        }
        None => rusqlite::Connection::open_in_memory().map_err(wrap)?,
    };
    // Two processes never share the file, but a crash must not lose a committed row.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(wrap)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(wrap)?;
    Ok(conn)
}

/// Runs one statement through the connection's statement cache. The outbox and the
/// announced problems write at every notification, and preparing their SQL afresh each
/// time was most of the dispatcher's work at a failover (perf of `bench_failover`).
pub(crate) fn run_cached(
    conn: &rusqlite::Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

#[cfg(unix)]
fn restrict(path: &Path) {
    use std::os::unix::fs::OpenOptionsExt;
    // Create it 0600 before SQLite does (SQLite would use the umask).
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path);
}

#[cfg(not(unix))]
fn restrict(_path: &Path) {}

//! What Standby keeps on disk besides its settings: the polling history (SQLite).

pub mod history;
pub mod writer;

/// The database file beside a settings file: `standby.ron` → `standby.db`.
pub fn database_path(settings_path: &std::path::Path) -> std::path::PathBuf {
    settings_path.with_extension("db")
}

//! The settings file: where it lives, how it is read, and how it is saved without ever
//! losing the previous one.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::validate::{ValidationError, validate};
use super::{EMBEDDED_DEFAULTS, Settings};

/// Why a settings file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path} has {} error(s):\n{}", errors.len(), list(errors))]
    Invalid {
        path: PathBuf,
        errors: Vec<ValidationError>,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialise the settings: {0}")]
    Serialize(#[from] ron::Error),
}

fn list(errors: &[ValidationError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `standby.ron` in the OS configuration directory (e.g. `~/.config/standby/standby.ron`).
pub fn default_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("standby")
        .join("standby.ron")
}

/// Parses and validates settings text; `path` only names the file in errors.
pub fn parse(path: &Path, text: &str) -> Result<Settings, SettingsError> {
    let settings = Settings::from_ron(text).map_err(|e| SettingsError::Parse {
        path: path.to_path_buf(),
        line: e.span.start.line,
        column: e.span.start.col,
        message: e.code.to_string(),
    })?;
    let errors = validate(&settings);
    if errors.is_empty() {
        Ok(settings)
    } else {
        Err(SettingsError::Invalid {
            path: path.to_path_buf(),
            errors,
        })
    }
}

/// Reads, parses and validates a settings file.
pub fn load(path: &Path) -> Result<Settings, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text)
}

/// Loads the file, or the embedded defaults when it does not exist yet (nothing is
/// written until the operator changes something).
pub fn load_or_defaults(path: &Path) -> Result<Settings, SettingsError> {
    if path.exists() {
        load(path)
    } else {
        parse(Path::new("<embedded defaults>"), EMBEDDED_DEFAULTS)
    }
}

/// Saves atomically: validate, write a temporary file beside it (owner-only), fsync, keep
/// the previous file as `.bak`, rename over, fsync the directory. Invalid settings are
/// refused, so nothing invalid is ever on disk.
pub fn save(path: &Path, settings: &Settings) -> Result<(), SettingsError> {
    let errors = validate(settings);
    if !errors.is_empty() {
        return Err(SettingsError::Invalid {
            path: path.to_path_buf(),
            errors,
        });
    }
    let text = settings.to_ron()?;
    let write_err = |source| SettingsError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let tmp = sibling(path, "tmp");
    {
        let mut file = owner_only_file(&tmp).map_err(write_err)?;
        file.write_all(text.as_bytes()).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
    }
    if path.exists() {
        let bak = sibling(path, "bak");
        std::fs::copy(path, &bak).map_err(write_err)?;
        restrict_to_owner(&bak).map_err(write_err)?;
    }
    std::fs::rename(&tmp, path).map_err(write_err)?;
    sync_dir(dir);
    Ok(())
}

/// `standby.ron` → `standby.ron.bak`.
pub fn sibling(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

#[cfg(unix)]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    // Windows: the file inherits the ACL of the user's profile directory.
    std::fs::File::create(path)
}

#[cfg(unix)]
fn restrict_to_owner(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict_to_owner(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    // Best effort: the rename is already atomic, this makes it durable across a power cut.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

/// What the file looked like when last read or written, to notice an external edit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl FileStamp {
    /// `None` when the file does not exist.
    pub fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::{Server, ServerSet};

    fn one_set() -> Settings {
        let mut settings = Settings::default();
        settings.server_sets.push(ServerSet {
            name: "web".into(),
            servers: vec![Server {
                public_ip: "192.0.2.1".into(),
                ..Server::default()
            }],
            ..ServerSet::default()
        });
        settings
    }

    #[test]
    fn save_keeps_backup_and_is_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("standby.ron");
        save(&path, &Settings::default()).unwrap();
        save(&path, &one_set()).unwrap();
        assert_eq!(load(&path).unwrap(), one_set());
        assert_eq!(load(&sibling(&path, "bak")).unwrap(), Settings::default());
        assert!(!sibling(&path, "tmp").exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn invalid_settings_are_not_saved() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        save(&path, &one_set()).unwrap();
        let mut bad = one_set();
        bad.server_sets[0].servers[0].public_ip = "nope".into();
        let err = save(&path, &bad).unwrap_err();
        assert!(
            err.to_string()
                .contains("server_sets[0].servers[0].public_ip"),
            "{err}"
        );
        assert_eq!(load(&path).unwrap(), one_set());
    }

    #[test]
    fn broken_file_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        std::fs::write(
            &path,
            "(\n  options: (\n    polling: (max_concurrent_polls: \"many\"),\n  ),\n)",
        )
        .unwrap();
        let err = load(&path).unwrap_err();
        match &err {
            SettingsError::Parse { line, .. } => assert_eq!(*line, 3),
            other => panic!("expected a parse error, got {other}"),
        }
        assert!(err.to_string().contains("standby.ron:3:"), "{err}");
    }

    #[test]
    fn missing_file_gives_embedded_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.ron");
        assert_eq!(load_or_defaults(&path).unwrap(), Settings::default());
        assert!(!path.exists());
    }
}

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
    /// The file is not what Standby last read or wrote: someone edited it meanwhile.
    #[error(
        "{path} was changed by someone else since Standby last read it: not overwritten \
         (the edited file is loaded instead; make the change again)"
    )]
    Conflict { path: PathBuf },
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
    let bytes = std::fs::read(path).map_err(|source| SettingsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let text = utf8(bytes).map_err(|e| SettingsError::Parse {
        path: path.to_path_buf(),
        line: e.line,
        column: e.column,
        message: e.to_string(),
    })?;
    parse(path, &text)
}

/// Bytes that are not UTF-8, and where (1-based line and column, in characters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid UTF-8 (byte 0x{byte:02x})")]
pub struct NotUtf8 {
    pub line: usize,
    pub column: usize,
    pub byte: u8,
}

/// A file's text, or where its first byte that is not UTF-8 is.
pub fn utf8(bytes: Vec<u8>) -> Result<String, NotUtf8> {
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let valid = e.utf8_error().valid_up_to();
        // The prefix is valid by definition; count lines and characters in it.
        let before = std::str::from_utf8(&bytes[..valid]).unwrap_or_default();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        NotUtf8 {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
            byte: bytes.get(valid).copied().unwrap_or_default(),
        }
    })
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
/// the previous file as `.bak` (itself written to a temporary file, fsynced and renamed),
/// rename over, fsync the directory. Invalid settings are refused, so nothing invalid is
/// ever on disk.
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
    write_new_file(&tmp, &mut text.as_bytes()).map_err(write_err)?;
    if path.exists() {
        // Never copied in place: a crash mid-copy would leave an empty or torn `.bak`.
        let bak = sibling(path, "bak");
        let bak_tmp = sibling(path, "bak.tmp");
        let mut previous = std::fs::File::open(path).map_err(write_err)?;
        write_new_file(&bak_tmp, &mut previous).map_err(write_err)?;
        std::fs::rename(&bak_tmp, &bak).map_err(write_err)?;
    }
    std::fs::rename(&tmp, path).map_err(write_err)?;
    sync_dir(dir);
    Ok(())
}

/// Like [`save`], unless the file is no longer what Standby last read or wrote
/// (`expected`; `None` = it did not exist): then nothing is written and `Conflict` is
/// returned, so that a hand edit is never silently overwritten. Returns the new stamp.
pub fn save_unless_changed(
    path: &Path,
    settings: &Settings,
    expected: Option<FileStamp>,
) -> Result<Option<FileStamp>, SettingsError> {
    if FileStamp::of(path) != expected {
        return Err(SettingsError::Conflict {
            path: path.to_path_buf(),
        });
    }
    save(path, settings)?;
    Ok(FileStamp::of(path))
}

/// Writes `content` to a new owner-only file at `path` and fsyncs it. A stale file of an
/// earlier crash is removed first, so its permissions (say 0644) can never carry over.
fn write_new_file(path: &Path, content: &mut dyn std::io::Read) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = owner_only_file(path)?;
    std::io::copy(content, &mut file)?;
    file.flush()?;
    file.sync_all()
}

/// `standby.ron` → `standby.ron.bak`.
pub fn sibling(path: &Path, extension: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".");
    name.push(extension);
    PathBuf::from(name)
}

/// A new file (never an existing one: `create_new`) that only its owner can read.
#[cfg(unix)]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    // The mode above is masked by the umask only, but say it once more on the open file.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

#[cfg(not(unix))]
fn owner_only_file(path: &Path) -> std::io::Result<std::fs::File> {
    // Windows: the file inherits the ACL of the user's profile directory.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
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

/// What the file looked like when last read or written, to notice an external edit. The
/// content's hash is part of it: an edit of the same length within the file system's time
/// granularity still shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    content: u64,
}

impl FileStamp {
    /// `None` when the file does not exist (or cannot be read).
    pub fn of(path: &Path) -> Option<FileStamp> {
        use std::hash::{Hash, Hasher};
        let meta = std::fs::metadata(path).ok()?;
        let bytes = std::fs::read(path).ok()?;
        // Only compared within one process, so the std hasher's seed does not matter.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut hasher);
        Some(FileStamp {
            modified: meta.modified().ok(),
            len: meta.len(),
            content: hasher.finish(),
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

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn a_stale_world_readable_temp_file_never_makes_the_settings_readable() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        save(&path, &Settings::default()).unwrap();
        // Left by a crash (or planted), readable by all.
        for stale in [sibling(&path, "tmp"), sibling(&path, "bak.tmp")] {
            std::fs::write(&stale, "junk").unwrap();
            std::fs::set_permissions(&stale, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        save(&path, &one_set()).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&sibling(&path, "bak")), 0o600);
        assert_eq!(load(&path).unwrap(), one_set());
        assert_eq!(load(&sibling(&path, "bak")).unwrap(), Settings::default());
        assert!(!sibling(&path, "tmp").exists());
        assert!(!sibling(&path, "bak.tmp").exists());
    }

    #[cfg(unix)]
    #[test]
    fn the_backup_is_replaced_by_a_rename_never_rewritten_in_place() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        save(&path, &Settings::default()).unwrap();
        save(&path, &one_set()).unwrap();
        let bak = sibling(&path, "bak");
        let inode = std::fs::metadata(&bak).unwrap().ino();
        save(&path, &Settings::default()).unwrap();
        // A copy into the old `.bak` (truncate, write) could be cut by a crash and leave
        // it empty; a new file renamed over it is whole or not there.
        assert_ne!(std::fs::metadata(&bak).unwrap().ino(), inode);
        assert_eq!(load(&bak).unwrap(), one_set());
    }

    #[test]
    fn a_hand_edit_since_the_last_read_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        let stamp = save_unless_changed(&path, &Settings::default(), None).unwrap();
        // Unchanged since: saved.
        let stamp = save_unless_changed(&path, &one_set(), stamp).unwrap();
        // A hand edit of the same length, in the same second as our save.
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = text.replacen("\"web\"", "\"bew\"", 1);
        assert_ne!(edited, text);
        assert_eq!(edited.len(), text.len(), "same length on purpose");
        std::fs::write(&path, &edited).unwrap();
        let err = save_unless_changed(&path, &Settings::default(), stamp).unwrap_err();
        assert!(matches!(err, SettingsError::Conflict { .. }), "{err}");
        assert!(err.to_string().contains("not overwritten"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);
        // A file that appeared where none was expected is not overwritten either.
        let other = dir.path().join("other.ron");
        std::fs::write(&other, "()").unwrap();
        assert!(save_unless_changed(&other, &Settings::default(), None).is_err());
        assert_eq!(std::fs::read_to_string(&other).unwrap(), "()");
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
    fn invalid_utf8_names_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        std::fs::write(&path, b"(\n  options: (\n    // caf\xc3\xa9 \xff\n  ),\n)").unwrap();
        let err = load(&path).unwrap_err();
        match &err {
            SettingsError::Parse { line, column, .. } => assert_eq!((*line, *column), (3, 13)),
            other => panic!("expected a parse error, got {other}"),
        }
        assert!(err.to_string().contains("standby.ron:3:13"), "{err}");
        assert!(
            err.to_string().contains("invalid UTF-8 (byte 0xff)"),
            "{err}"
        );
    }

    #[test]
    fn missing_file_gives_embedded_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("none.ron");
        assert_eq!(load_or_defaults(&path).unwrap(), Settings::default());
        assert!(!path.exists());
    }
}

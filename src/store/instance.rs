//! One Standby per settings file. Two would poll every server twice, send every
//! notification twice and update DNS against each other, and *start at login* makes a
//! second start easy. The lock is an OS file lock on `<settings>.lock`: it goes with the
//! process however that ends, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Held for as long as this Standby runs on its settings file.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    pub path: PathBuf,
}

/// Where the lock of `settings_path` is kept.
pub fn lock_path(settings_path: &Path) -> PathBuf {
    settings_path.with_extension("lock")
}

/// Why the lock was not taken.
#[derive(Debug)]
pub struct LockError {
    /// Another Standby holds it (rather than the file failing).
    pub held: bool,
    pub message: String,
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LockError {}

fn failed(message: String) -> LockError {
    LockError {
        held: false,
        message,
    }
}

/// Takes the lock of `settings_path`, or says who holds it.
pub fn lock(settings_path: &Path) -> Result<InstanceLock, LockError> {
    let path = lock_path(settings_path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| failed(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let who = if holder.is_empty() {
                String::new()
            } else {
                format!(" (process {holder})")
            };
            return Err(LockError {
                held: true,
                message: format!(
                    "Standby is already running on {}{who}: a second one would poll and \
                     update DNS twice. Use its window (or its tray icon), or stop it first.",
                    settings_path.display()
                ),
            });
        }
        Err(TryLockError::Error(e)) => {
            return Err(failed(format!("cannot lock {}: {e}", path.display())));
        }
    }
    // Who holds it, for the message of the next one (best effort: the lock is what counts).
    let _ = file.set_len(0);
    let _ = file.rewind();
    let _ = writeln!(file, "{}", std::process::id());
    Ok(InstanceLock { _file: file, path })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let settings = dir.path().join("standby.ron");
        let first = lock(&settings).unwrap();
        assert_eq!(first.path, dir.path().join("standby.lock"));
        let e = lock(&settings).unwrap_err();
        assert!(e.held);
        assert!(e.message.contains("already running"), "{e}");
        let holder = format!("process {}", std::process::id());
        assert!(e.message.contains(&holder), "{e}");
        drop(first);
        lock(&settings).unwrap();
    }
}

//! The log in files (SPEC §7): a new file every hour, day or month, time stamps in UTC or
//! local time. A thread of its own appends, so the engine loop never waits for a disk.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::SystemTime;

use crate::model::options::LogRotation;

/// One line to write, with where and how (the options at the time it was logged).
pub struct FileLine {
    pub time: SystemTime,
    pub level: &'static str,
    pub text: String,
    pub directory: PathBuf,
    pub rotation: LogRotation,
    pub utc: bool,
}

/// The engine's side of the log-file thread.
pub struct LogFiles {
    tx: mpsc::Sender<FileLine>,
}

impl LogFiles {
    pub fn start() -> std::io::Result<LogFiles> {
        let (tx, rx) = mpsc::channel::<FileLine>();
        std::thread::Builder::new()
            .name("standby-logfiles".into())
            .spawn(move || {
                let mut open: Option<(PathBuf, std::fs::File)> = None;
                // Errors are reported once per file, not once per line.
                let mut failed: VecDeque<PathBuf> = VecDeque::new();
                for line in rx {
                    let (name, stamp) = file_name_and_stamp(&line);
                    let path = line.directory.join(name);
                    if open.as_ref().is_none_or(|(p, _)| *p != path) {
                        let opened =
                            std::fs::create_dir_all(&line.directory).and_then(|()| open_log(&path));
                        match opened {
                            Ok(file) => open = Some((path.clone(), file)),
                            Err(e) => {
                                if !failed.contains(&path) {
                                    tracing::error!(
                                        "cannot write the log file {}: {e}",
                                        path.display()
                                    );
                                    failed.push_back(path);
                                    if failed.len() > 16 {
                                        failed.pop_front();
                                    }
                                }
                                open = None;
                                continue;
                            }
                        }
                    }
                    if let Some((_, file)) = open.as_mut() {
                        let _ = writeln!(file, "{stamp} {:<7} {}", line.level, line.text);
                    }
                }
            })?;
        Ok(LogFiles { tx })
    }

    pub fn write(&self, line: FileLine) {
        let _ = self.tx.send(line);
    }
}

/// Opens a log file to append, readable by its owner only (log lines name servers, hosts
/// and addresses, like the settings file that is 0600 too): a file made by an older
/// version with 0644 is narrowed.
fn open_log(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        let file = options.open(path)?;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
    #[cfg(not(unix))]
    {
        // Windows: the file inherits the ACL of its directory.
        options.open(path)
    }
}

/// `standby-2026-11-25.log` (daily), `…-13.log` (hourly), `standby-2026-11.log` (monthly),
/// and the line's time stamp, both in UTC or local time.
fn file_name_and_stamp(line: &FileLine) -> (String, String) {
    let zone = if line.utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    let Ok(stamp) = jiff::Timestamp::try_from(line.time) else {
        return ("standby.log".into(), "?".into());
    };
    let zoned = stamp.to_zoned_datetime(zone);
    let name = match line.rotation {
        LogRotation::Hourly => zoned.strftime("standby-%Y-%m-%d-%H.log"),
        LogRotation::Daily => zoned.strftime("standby-%Y-%m-%d.log"),
        LogRotation::Monthly => zoned.strftime("standby-%Y-%m.log"),
    }
    .to_string();
    let stamp = if line.utc {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string()
    };
    (name, stamp)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[cfg(unix)]
    #[test]
    fn log_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let new = dir.path().join("standby-2026-12-01.log");
        writeln!(open_log(&new).unwrap(), "one").unwrap();
        assert_eq!(mode(&new), 0o600);
        let old = dir.path().join("standby-2026-11-30.log");
        std::fs::write(&old, "made 0644 by an older version\n").unwrap();
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o644)).unwrap();
        writeln!(open_log(&old).unwrap(), "two").unwrap();
        assert_eq!(mode(&old), 0o600);
        assert!(
            std::fs::read_to_string(&old)
                .unwrap()
                .ends_with("older version\ntwo\n")
        );
    }

    #[test]
    fn names_follow_the_rotation() {
        let line = |rotation| FileLine {
            time: UNIX_EPOCH + Duration::from_millis(1_764_075_697_250),
            level: "info",
            text: String::new(),
            directory: PathBuf::new(),
            rotation,
            utc: true,
        };
        assert_eq!(
            file_name_and_stamp(&line(LogRotation::Hourly)).0,
            "standby-2025-11-25-13.log"
        );
        assert_eq!(
            file_name_and_stamp(&line(LogRotation::Daily)).0,
            "standby-2025-11-25.log"
        );
        let (name, stamp) = file_name_and_stamp(&line(LogRotation::Monthly));
        assert_eq!(name, "standby-2025-11.log");
        assert_eq!(stamp, "2025-11-25T13:01:37.250Z");
    }
}

//! A second start of the window (the desktop's launcher clicked again, a login autostart
//! and a start by hand) brings the running window up instead of failing: the running one
//! listens on `<settings>.sock` beside its lock, and the second one, refused by the lock,
//! asks it to show itself and exits. This is also the way back to a window hidden in the
//! tray when the tray itself is gone (a panel that crashed).
//!
//! Unix only (a Unix socket, owner-only like the settings directory); elsewhere the second
//! start just says that Standby is already running.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use eframe::egui;

#[cfg(unix)]
const SHOW: &[u8] = b"show\n";
#[cfg(unix)]
const SHOWN: &[u8] = b"shown\n";

/// Where the running window listens.
pub fn socket_path(settings_path: &Path) -> PathBuf {
    settings_path.with_extension("sock")
}

/// Listens for second starts on a thread of its own; every request arrives on the returned
/// channel and wakes `ctx`. `None` (logged) where it cannot listen.
#[cfg(unix)]
pub fn listen(settings_path: &Path, ctx: egui::Context) -> Option<mpsc::Receiver<()>> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixListener;

    let path = socket_path(settings_path);
    // A socket left by a run that crashed: this process holds the lock, so it is ours.
    let _ = std::fs::remove_file(&path);
    let listener = match UnixListener::bind(&path) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::warn!(
                "a second start cannot bring this window up: {}: {e}",
                path.display()
            );
            return None;
        }
    };
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("standby-second-start".into())
        .spawn(move || {
            for mut stream in listener.incoming().map_while(Result::ok) {
                let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
                let mut request = [0u8; SHOW.len()];
                if stream.read_exact(&mut request).is_ok() && request == SHOW {
                    if tx.send(()).is_err() {
                        return;
                    }
                    ctx.request_repaint();
                    let _ = stream.write_all(SHOWN);
                }
            }
        });
    match spawned {
        Ok(_) => Some(rx),
        Err(e) => {
            tracing::warn!("a second start cannot bring this window up: {e}");
            None
        }
    }
}

#[cfg(not(unix))]
pub fn listen(_settings_path: &Path, _ctx: egui::Context) -> Option<mpsc::Receiver<()>> {
    None
}

/// Why the running window could not be asked to show itself.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{}: an unexpected answer", .0.display())]
    UnexpectedAnswer(std::path::PathBuf),
    #[error("not on this platform")]
    NotOnThisPlatform,
}

/// Asks the window running on `settings_path` to show itself.
#[cfg(unix)]
pub fn ask_to_show(settings_path: &Path) -> Result<(), AskError> {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    let path = socket_path(settings_path);
    let fail = |source: std::io::Error| AskError::Io {
        path: path.clone(),
        source,
    };
    let mut stream = UnixStream::connect(&path).map_err(fail)?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .map_err(fail)?;
    stream.write_all(SHOW).map_err(fail)?;
    let mut reply = [0u8; SHOWN.len()];
    stream.read_exact(&mut reply).map_err(fail)?;
    if reply == SHOWN {
        Ok(())
    } else {
        Err(AskError::UnexpectedAnswer(path))
    }
}

#[cfg(not(unix))]
pub fn ask_to_show(_settings_path: &Path) -> Result<(), AskError> {
    Err(AskError::NotOnThisPlatform)
}

//! The local channel between an engine and the windows that attach to it (issue 12): the
//! engine listens on `<settings>.engine.sock` beside its settings file, a Unix socket only
//! its owner can open (mode 0600, and each peer's uid checked), and streams its snapshots
//! as versioned deltas (`engine/delta.rs`); a window finds the engine that serves its
//! settings file there, or starts one (`client::start_detached`).
//!
//! Like the API, the server is a client of the engine (snapshots in); it runs on a thread
//! of its own and ends with the engine. Windows (the OS) has no Unix socket here yet: a
//! named pipe is the plan; until then `serve::spawn` logs that windows cannot attach.

pub mod client;
pub mod serve;
pub mod wire;

use std::path::{Path, PathBuf};

/// Where the engine of `settings_path` listens (beside the file, like its lock).
pub fn socket_path(settings_path: &Path) -> PathBuf {
    settings_path.with_extension("engine.sock")
}

/// Why a window could not attach.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// Nobody listens: no engine runs on this settings file (start one).
    #[error("no engine runs on {} (nothing listens on {})", .settings.display(), .socket.display())]
    NoEngine { settings: PathBuf, socket: PathBuf },
    #[error("{}: {source}", .socket.display())]
    Io {
        socket: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the engine speaks wire version {got}, this program version {want}: run the same Standby version"
    )]
    Version { got: u16, want: u16 },
    #[error("the engine's answer: {0}")]
    Protocol(String),
    #[error("the engine did not answer within {0:?}")]
    Timeout(std::time::Duration),
    #[error("cannot start an engine: {0}")]
    Start(String),
    #[error("windows cannot attach to an engine on this platform yet")]
    Unsupported,
}

/// Binds a Unix socket at `path` that only its owner can open: the mode is set before the
/// socket listens, so nobody can connect in between.
#[cfg(unix)]
pub(crate) fn bind_owner_only(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt as _;

    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    socket.listen(16)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Whether a peer of the socket may attach: the same user as the engine, or root.
#[cfg(unix)]
pub(crate) fn peer_allowed(stream: &tokio::net::UnixStream) -> bool {
    let own = rustix::process::getuid().as_raw();
    match stream.peer_cred() {
        Ok(cred) => cred.uid() == own || cred.uid() == 0,
        Err(_) => false,
    }
}

//! The local channel between an engine and the windows that attach to it (issue 12): the
//! engine listens on `<settings>.engine.sock` beside its settings file, a Unix socket only
//! its owner can open (mode 0600, and each peer's uid checked), and streams its snapshots
//! as versioned deltas (`engine/delta.rs`); a window finds the engine that serves its
//! settings file there, or starts one (`client::start_detached`).
//!
//! On Windows the channel is a named pipe named after the settings file
//! ([`pipe_name`]), whose access list lets in only its owner and the system.
//!
//! Like the API, the server is a client of the engine (snapshots in); it runs on a thread
//! of its own and ends with the engine. One [`session`] serves a window whatever carries
//! it; the API carries the same session to remote windows. A window's side is a
//! [`link::Link`] over a [`link::Connector`]: [`client::Local`] here, [`remote::Remote`]
//! over HTTPS.

pub mod cli;
pub mod client;
pub mod known_hosts;
pub mod link;
pub mod login;
pub mod remote;
pub mod serve;
pub mod session;
#[cfg(windows)]
mod windows_pipe;
pub mod wire;

pub use link::{Link, LinkControl, LinkStatus, LoginWanted, Place};

use std::path::{Path, PathBuf};

/// Where the engine of `settings_path` listens (beside the file, like its lock).
pub fn socket_path(settings_path: &Path) -> PathBuf {
    settings_path.with_extension("engine.sock")
}

/// The named pipe of the engine of `settings_path` on Windows: named after the file's
/// full path (case folded, as Windows paths are), hashed so that any path fits the
/// pipe name's 256 characters and no path character needs escaping.
pub fn pipe_name(settings_path: &Path) -> String {
    use sha2::Digest as _;
    let absolute =
        std::path::absolute(settings_path).unwrap_or_else(|_| settings_path.to_path_buf());
    let folded = absolute.to_string_lossy().to_lowercase();
    let digest = sha2::Sha256::digest(folded.as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!(r"\\.\pipe\standby-engine-{hex}")
}

/// The access list of the engine's named pipe (SDDL): protected from inheritance, all
/// access for the pipe's owner (the user that runs the engine; Administrators when it
/// runs elevated) and for the system, nobody else. Why: the default list lets everyone
/// read, and the snapshot carries the settings with their secrets.
pub const PIPE_SDDL: &str = "D:P(A;;GA;;;OW)(A;;GA;;;SY)";

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
    /// The remote engine's address is not one to connect to.
    #[error("{0}")]
    Address(String),
    /// The remote API said no (not an engine, not this window).
    #[error("{0}")]
    Refused(String),
    /// The remote API refused the password of admin (or wants one): ask for it again.
    #[error("{address} refused the password of admin: {said}")]
    PasswordRefused { address: String, said: String },
    /// Too many wrong passwords from this address: the API's login throttle.
    #[error("{address}: {said}")]
    Throttled {
        address: String,
        said: String,
        /// How long the API said to wait (its `Retry-After`).
        retry_after: Option<std::time::Duration>,
    },
    /// The remote API's certificate is not the one pinned for its host.
    #[error(
        "the certificate of {host} changed: pinned SHA-256 {pinned}, now {now}. If the engine \
         made a new certificate (check with `standby api fingerprint` on its host), remove \
         the line of {host} from {}; otherwise someone may be in between",
        .file.display()
    )]
    FingerprintChanged {
        host: String,
        pinned: String,
        now: String,
        file: PathBuf,
    },
    /// The pinned fingerprints could not be read or written.
    #[error("{}: {message}", .file.display())]
    KnownHosts { file: PathBuf, message: String },
}

impl AttachError {
    /// Whether another password may get in (the login screen asks for one).
    pub fn wants_password(&self) -> bool {
        matches!(
            self,
            AttachError::PasswordRefused { .. } | AttachError::Throttled { .. }
        )
    }

    /// How long the API asked to wait before the next login.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            AttachError::Throttled { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_pipe_is_named_after_the_whole_settings_path_case_folded() {
        let a = pipe_name(Path::new("/srv/Standby/standby.ron"));
        assert!(a.starts_with(r"\\.\pipe\standby-engine-"), "{a}");
        assert_eq!(a.len(), r"\\.\pipe\standby-engine-".len() + 24);
        assert_eq!(a, pipe_name(Path::new("/srv/standby/STANDBY.ron")));
        assert_ne!(a, pipe_name(Path::new("/srv/other/standby.ron")));
        // A very long path still gives a short name (the limit is 256 characters).
        let long = format!("/{}/standby.ron", "d".repeat(400));
        assert!(pipe_name(Path::new(&long)).len() < 64);
    }

    #[test]
    fn the_pipe_lets_in_only_its_owner_and_the_system() {
        // Protected (no inherited entries), and exactly two allow entries.
        assert!(PIPE_SDDL.starts_with("D:P"));
        assert_eq!(PIPE_SDDL.matches("(A;").count(), 2);
        assert!(PIPE_SDDL.contains(";;;OW)") && PIPE_SDDL.contains(";;;SY)"));
        assert!(!PIPE_SDDL.contains(";;;WD)"), "never Everyone");
    }
}

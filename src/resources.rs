//! The monitor's own resources: the open-file limit it raises at start, and whether an OS
//! error means that the monitor itself ran short (file descriptors, memory, socket
//! buffers) rather than that a peer misbehaved. A poll that fails for such a reason says
//! nothing about the server it was aimed at.

/// What [`raise_fd_limit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdLimit {
    /// The soft limit was raised from `from` to `to` (the hard limit, or the most the OS allows).
    Raised { from: u64, to: u64 },
    /// The soft limit already was at the hard limit (or unlimited).
    Unchanged { limit: Option<u64> },
    /// This OS has no such per-process limit to raise (Windows: sockets and handles are
    /// not counted against a small soft limit).
    NotApplicable,
}

impl std::fmt::Display for FdLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FdLimit::Raised { from, to } => {
                write!(f, "open-file limit raised from {from} to {to}")
            }
            FdLimit::Unchanged { limit: Some(n) } => write!(f, "open-file limit {n}"),
            FdLimit::Unchanged { limit: None } => write!(f, "open-file limit: unlimited"),
            FdLimit::NotApplicable => write!(f, "no open-file limit to raise on this OS"),
        }
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. The default soft limit (1,024 on
/// most Linux systems) is far below what a monitor with many servers, DNS clients and API
/// connections needs, and the hard limit is there for the asking.
#[cfg(unix)]
pub fn raise_fd_limit() -> std::io::Result<FdLimit> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let Some(from) = limit.current else {
        return Ok(FdLimit::Unchanged { limit: None });
    };
    // macOS reports an unlimited hard limit but refuses a soft one above OPEN_MAX.
    let candidates: &[Option<u64>] = &[limit.maximum, Some(10_240)];
    let mut last_error = None;
    for &to in candidates {
        let to_value = to.unwrap_or(u64::MAX);
        if to_value <= from {
            return Ok(FdLimit::Unchanged { limit: Some(from) });
        }
        let wanted = Rlimit {
            current: to,
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, wanted) {
            Ok(()) => {
                let to = getrlimit(Resource::Nofile).current.unwrap_or(to_value);
                return Ok(FdLimit::Raised { from, to });
            }
            Err(e) => last_error = Some(std::io::Error::from(e)),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("no higher limit allowed")))
}

/// The soft open-file limit in force (`None`: unlimited, or no such limit on this OS).
#[cfg(unix)]
pub fn fd_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Windows counts sockets and handles against no small per-process limit.
#[cfg(not(unix))]
pub fn fd_limit() -> Option<u64> {
    None
}

/// Windows needs nothing: there is no small per-process soft limit on sockets or handles.
#[cfg(not(unix))]
pub fn raise_fd_limit() -> std::io::Result<FdLimit> {
    Ok(FdLimit::NotApplicable)
}

/// Which of the monitor's own resources an OS error says ran out, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shortage {
    /// EMFILE / ENFILE: no file descriptor left for the process or the system.
    FileDescriptors,
    /// ENOBUFS: no socket buffer space.
    Buffers,
    /// ENOMEM: no memory.
    Memory,
}

impl Shortage {
    /// How an operator reads it: `this monitor is out of file descriptors`.
    pub fn describe(self) -> &'static str {
        match self {
            Shortage::FileDescriptors => "this monitor is out of file descriptors",
            Shortage::Buffers => "this monitor is out of socket buffers",
            Shortage::Memory => "this monitor is out of memory",
        }
    }
}

/// Says whether `error` is the monitor's own shortage rather than the peer's doing.
pub fn shortage(error: &std::io::Error) -> Option<Shortage> {
    if error.kind() == std::io::ErrorKind::OutOfMemory {
        return Some(Shortage::Memory);
    }
    shortage_of_code(error.raw_os_error()?)
}

#[cfg(unix)]
fn shortage_of_code(code: i32) -> Option<Shortage> {
    use rustix::io::Errno;
    let errno = Errno::from_raw_os_error(code);
    if errno == Errno::MFILE || errno == Errno::NFILE {
        Some(Shortage::FileDescriptors)
    } else if errno == Errno::NOBUFS {
        Some(Shortage::Buffers)
    } else if errno == Errno::NOMEM {
        Some(Shortage::Memory)
    } else {
        None
    }
}

#[cfg(windows)]
fn shortage_of_code(code: i32) -> Option<Shortage> {
    // ERROR_TOO_MANY_OPEN_FILES, WSAEMFILE; WSAENOBUFS; ERROR_NOT_ENOUGH_MEMORY,
    // ERROR_OUTOFMEMORY.
    match code {
        4 | 10024 => Some(Shortage::FileDescriptors),
        10055 => Some(Shortage::Buffers),
        8 | 14 => Some(Shortage::Memory),
        _ => None,
    }
}

#[cfg(not(any(unix, windows)))]
fn shortage_of_code(_code: i32) -> Option<Shortage> {
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn os_errors_of_the_monitor_are_told_from_the_peers() {
        use rustix::io::Errno;
        let table = [
            (Errno::MFILE, Some(Shortage::FileDescriptors)),
            (Errno::NFILE, Some(Shortage::FileDescriptors)),
            (Errno::NOBUFS, Some(Shortage::Buffers)),
            (Errno::NOMEM, Some(Shortage::Memory)),
            (Errno::CONNREFUSED, None),
            (Errno::HOSTUNREACH, None),
            (Errno::CONNRESET, None),
            (Errno::TIMEDOUT, None),
        ];
        for (errno, expected) in table {
            let error = std::io::Error::from_raw_os_error(errno.raw_os_error());
            assert_eq!(shortage(&error), expected, "{error}");
        }
        let custom = std::io::Error::new(std::io::ErrorKind::OutOfMemory, "no room");
        assert_eq!(shortage(&custom), Some(Shortage::Memory));
        assert_eq!(shortage(&std::io::Error::other("x")), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_soft_limit_ends_at_the_hard_limit() {
        use rustix::process::{Resource, getrlimit};
        raise_fd_limit().unwrap();
        let after = getrlimit(Resource::Nofile);
        // Either the soft limit is the hard one, or the OS capped it (macOS OPEN_MAX).
        assert!(
            after.current == after.maximum || after.current >= Some(10_240),
            "{after:?}"
        );
        // A second call has nothing left to do.
        assert!(matches!(
            raise_fd_limit().unwrap(),
            FdLimit::Unchanged { .. }
        ));
    }
}

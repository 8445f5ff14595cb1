//! Trust on first use for remote windows, like SSH's `known_hosts`: the SHA-256
//! fingerprint of each API's certificate, pinned the first time a window connects to its
//! `host:port`, one line each (`host:port AA:BB:...`) in `known_hosts` in the user's
//! config directory (`~/.config/standby/` on Linux). A later connection whose certificate
//! has another fingerprint is refused.

use std::path::{Path, PathBuf};

use super::AttachError;

/// The pinned fingerprints of one file.
#[derive(Clone, Debug)]
pub struct KnownHosts {
    pub file: PathBuf,
}

/// What the file says of a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pin {
    /// Never connected: the first fingerprint seen will be pinned.
    Unknown,
    Pinned(String),
}

impl KnownHosts {
    /// The user's file; `None` where there is no config directory.
    pub fn for_this_user() -> Option<KnownHosts> {
        Some(KnownHosts {
            file: dirs::config_dir()?.join("standby").join("known_hosts"),
        })
    }

    pub fn at(file: &Path) -> KnownHosts {
        KnownHosts {
            file: file.to_path_buf(),
        }
    }

    fn read(&self) -> Result<String, AttachError> {
        match std::fs::read_to_string(&self.file) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(self.error(e.to_string())),
        }
    }

    fn error(&self, message: String) -> AttachError {
        AttachError::KnownHosts {
            file: self.file.clone(),
            message,
        }
    }

    /// The pin of `host` (`host:port`).
    pub fn pin(&self, host: &str) -> Result<Pin, AttachError> {
        Ok(find(&self.read()?, host).map_or(Pin::Unknown, Pin::Pinned))
    }

    /// Pins `fingerprint` for `host`, unless it has a pin already (kept as it is).
    pub fn remember(&self, host: &str, fingerprint: &str) -> Result<(), AttachError> {
        let text = self.read()?;
        if find(&text, host).is_some() {
            return Ok(());
        }
        if let Some(dir) = self.file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error(e.to_string()))?;
        }
        let mut text = text;
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&format!("{host} {fingerprint}\n"));
        let temp = self.file.with_extension("tmp");
        std::fs::write(&temp, text)
            .and_then(|()| std::fs::rename(&temp, &self.file))
            .map_err(|e| self.error(e.to_string()))
    }
}

/// The fingerprint pinned for `host` in a file's text; comment lines start with `#`.
fn find(text: &str, host: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let (name, fingerprint) = line.split_once(char::is_whitespace)?;
            (name == host).then(|| fingerprint.trim().to_string())
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_first_fingerprint_is_pinned_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = KnownHosts::at(&dir.path().join("sub/known_hosts"));
        assert_eq!(hosts.pin("a.test:8100").unwrap(), Pin::Unknown);
        hosts.remember("a.test:8100", "AA:BB").unwrap();
        hosts.remember("b.test:8100", "CC:DD").unwrap();
        // A second remember never replaces a pin: only the operator edits one away.
        hosts.remember("a.test:8100", "EE:FF").unwrap();
        assert_eq!(
            hosts.pin("a.test:8100").unwrap(),
            Pin::Pinned("AA:BB".into())
        );
        assert_eq!(
            hosts.pin("b.test:8100").unwrap(),
            Pin::Pinned("CC:DD".into())
        );
        assert_eq!(hosts.pin("a.test:8101").unwrap(), Pin::Unknown);
    }

    #[test]
    fn comments_and_blank_lines_are_skipped() {
        let text = "# pinned by standby\n\n  a.test:1  11:22 \n";
        assert_eq!(find(text, "a.test:1"), Some("11:22".into()));
        assert_eq!(find(text, "#"), None);
    }
}

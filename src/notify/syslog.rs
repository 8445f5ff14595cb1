//! The system log on Unix: one RFC 3164 line to the local syslog socket (`/dev/log`,
//! which the systemd journal serves too, so one path covers syslog and the journal;
//! `/var/run/syslog` on macOS).

use std::path::PathBuf;

use super::{BoxFuture, FailureKind, Notifier, NotifyError, Stage};
use crate::model::tags::{Encoding, TagValues, expand};

/// The local syslog socket (macOS's syslogd listens elsewhere).
pub const DEFAULT_SOCKET: &str = if cfg!(target_os = "macos") {
    "/var/run/syslog"
} else {
    "/dev/log"
};
/// Facility `daemon` (3), severity `notice` (5): worth a look, not an error of Standby's.
const PRIORITY: u8 = 3 * 8 + 5;
/// The line written for every event.
pub const TEMPLATE: &str =
    "$EVENT$: set $SETNAME$ ($HOST$), server $SERVERNAME$ $SERVERIP$: $STATUS$ $RESPONSE$";

pub struct SyslogNotifier {
    socket: PathBuf,
}

impl SyslogNotifier {
    pub fn new(socket: Option<PathBuf>) -> Self {
        Self {
            socket: socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET)),
        }
    }

    async fn deliver(&self, tags: &TagValues) -> Result<String, NotifyError> {
        let text = expand(TEMPLATE, tags, Encoding::Plain).replace(['\r', '\n'], " ");
        let line = format_line(&text, &jiff::ZonedDateTime::now(), &super::computer_name());
        let socket = tokio::net::UnixDatagram::unbound().map_err(|e| {
            NotifyError::new(
                FailureKind::Network,
                Stage::Connecting,
                format!("syslog: {e}"),
            )
        })?;
        socket
            .send_to(line.as_bytes(), &self.socket)
            .await
            .map_err(|e| {
                NotifyError::new(
                    FailureKind::Network,
                    Stage::Sending,
                    format!("syslog socket {}: {e}", self.socket.display()),
                )
            })?;
        Ok(format!("written to {}", self.socket.display()))
    }
}

impl Notifier for SyslogNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        Box::pin(self.deliver(tags))
    }
}

/// `<29>Nov 25 14:03:07 host standby[1234]: text` (RFC 3164).
pub fn format_line(text: &str, now: &jiff::ZonedDateTime, host: &str) -> String {
    format!(
        "<{PRIORITY}>{} {host} standby[{}]: {text}",
        now.strftime("%b %e %H:%M:%S"),
        std::process::id()
    )
}

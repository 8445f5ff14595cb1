//! In the GUI only: a desktop notification (the tray balloon: notify-rust speaks D-Bus on
//! Linux, Notification Center on macOS, a toast on Windows) and an optional sound.
//!
//! The dispatcher calls this only when the engine runs inside the GUI
//! ([`super::NotifyConfig::desktop`]); headless mode never tries either. Neither goes
//! through the outbox: a balloon or a sound is worthless after the moment has passed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{BoxFuture, FailureKind, Notifier, NotifyError, Stage};
use crate::model::tags::{Encoding, TagValues, expand};

const SUMMARY: &str = "Standby: $EVENT$";
const BODY: &str = "$SETNAME$ $SERVERNAME$ $SERVERIP$\n$STATUS$ $RESPONSE$";
/// The sound used when the Options name no file (Linux desktops ship it).
const BUILT_IN_SOUND: &str = "/usr/share/sounds/freedesktop/stereo/dialog-warning.oga";
/// A sound longer than this is cut off.
const SOUND_LIMIT: Duration = Duration::from_secs(20);

/// The desktop notification.
pub struct DesktopNotifier;

impl Notifier for DesktopNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        let summary = expand(SUMMARY, tags, Encoding::Plain);
        let body = expand(BODY, tags, Encoding::Plain);
        Box::pin(async move {
            // notify-rust blocks on its D-Bus call.
            tokio::task::spawn_blocking(move || {
                notify_rust::Notification::new()
                    .appname("Standby")
                    .summary(&summary)
                    .body(&body)
                    .show()
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r)
            .map_err(|e| {
                NotifyError::new(
                    FailureKind::Network,
                    Stage::Connecting,
                    format!("desktop notification: {e}"),
                )
            })?;
            Ok("desktop notification shown".into())
        })
    }
}

/// Plays `file` (or the built-in sound) with the platform's player, by argv: `paplay`,
/// then `aplay` on Linux, `afplay` on macOS, PowerShell's `Media.SoundPlayer` (a .wav) or
/// the system's exclamation on Windows. No audio stack is linked into Standby for one beep.
pub async fn play_sound(file: Option<&Path>) -> Result<String, NotifyError> {
    if cfg!(windows) {
        return play_sound_windows(file).await;
    }
    let file: PathBuf = file.map_or_else(|| PathBuf::from(BUILT_IN_SOUND), Path::to_path_buf);
    let players: &[&str] = if cfg!(target_os = "macos") {
        &["afplay"]
    } else {
        &["paplay", "aplay"]
    };
    let args = vec![file.display().to_string()];
    let mut last = String::from("no sound player on this platform");
    for player in players {
        match crate::exec::run(player, &args, SOUND_LIMIT).await {
            Ok(done) if done.exit_code == Some(0) => return Ok(format!("{player} played it")),
            Ok(done) => last = format!("{player}: {}", crate::exec::describe(&done)),
            Err(e) => last = e.to_string(),
        }
    }
    Err(NotifyError::new(
        FailureKind::WrongAnswer,
        Stage::Sending,
        format!("sound {}: {last}", file.display()),
    ))
}
/// Windows: PowerShell plays a .wav synchronously (so that a missing or broken file is an
/// error), or the system's exclamation when the Options name no file.
async fn play_sound_windows(file: Option<&Path>) -> Result<String, NotifyError> {
    let script = match file {
        // A single-quoted PowerShell string: only `'` needs escaping (doubled).
        Some(file) => format!(
            "(New-Object Media.SoundPlayer '{}').PlaySync()",
            file.display().to_string().replace('\'', "''")
        ),
        None => "[System.Media.SystemSounds]::Exclamation.Play(); Start-Sleep -Milliseconds 800"
            .to_string(),
    };
    let args = ["-NoProfile", "-NonInteractive", "-Command", script.as_str()].map(String::from);
    let what = file.map_or_else(
        || "the system sound".to_string(),
        |f| f.display().to_string(),
    );
    match crate::exec::run("powershell", &args, SOUND_LIMIT).await {
        Ok(done) if done.exit_code == Some(0) => Ok("PowerShell played it".into()),
        Ok(done) => Err(crate::exec::describe(&done)),
        Err(e) => Err(e.to_string()),
    }
    .map_err(|e| {
        NotifyError::new(
            FailureKind::WrongAnswer,
            Stage::Sending,
            format!("sound {what}: {e}"),
        )
    })
}

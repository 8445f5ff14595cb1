//! Start at login (SPEC §9, "start in tray at login"): while the option is on, the
//! desktop session starts Standby's window when the operator logs in (in the tray when
//! *start in tray* is on too).
//!
//! Each platform's own place: an XDG autostart entry on Linux
//! (`~/.config/autostart/standby.desktop`), a LaunchAgent on macOS, the `Run` key of the
//! user's registry on Windows (written with `reg.exe`, which needs no unsafe code). Like the
//! API, it is a client of the engine: it follows the option in the snapshots, on a thread
//! of its own, and says in the log what it did. Only the window registers itself: a
//! headless Standby belongs to the service manager.

use std::path::{Path, PathBuf};

use crate::engine::EngineClient;
use crate::engine::follow::Follower;

/// Where this program registers to start at login, and what it starts.
#[derive(Clone, Debug)]
pub struct Autostart {
    /// The program to start: this executable.
    pub program: PathBuf,
    /// The settings file it runs on.
    pub settings: PathBuf,
    /// Where the entry goes.
    pub place: Place,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// An XDG autostart `.desktop` file.
    DesktopEntry(PathBuf),
    /// A launchd property list.
    LaunchAgent(PathBuf),
    /// `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`, value `Standby`.
    WindowsRun,
}

/// Why the registration could not be made to match the option.
#[derive(Debug, thiserror::Error)]
pub enum AutostartError {
    #[error("cannot create {}: {source}", .path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot remove {}: {source}", .path.display())]
    Remove {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot run reg.exe: {0}")]
    NoReg(std::io::Error),
    /// `reg <verb>` failed; its message.
    #[error("reg {verb}: {message}")]
    Reg { verb: String, message: String },
}

const RUN_KEY: &str = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
const RUN_VALUE: &str = "Standby";

impl Autostart {
    /// This executable on `settings`, at this platform's place for the current user;
    /// `None` where that place cannot be found (no home directory).
    pub fn for_this_user(settings: &Path) -> Option<Autostart> {
        let program = std::env::current_exe().ok()?;
        let place = if cfg!(windows) {
            Place::WindowsRun
        } else if cfg!(target_os = "macos") {
            Place::LaunchAgent(dirs::home_dir()?.join("Library/LaunchAgents/net.standby.plist"))
        } else {
            Place::DesktopEntry(dirs::config_dir()?.join("autostart/standby.desktop"))
        };
        Some(Autostart {
            program,
            settings: settings.to_path_buf(),
            place,
        })
    }

    /// Makes the registration match `wanted`: written (again, so that a moved program is
    /// followed) when wanted, removed when not. Returns what was done, for the log.
    pub fn apply(&self, wanted: bool) -> Result<String, AutostartError> {
        match (&self.place, wanted) {
            (Place::DesktopEntry(path), true) => {
                write_file(path, &desktop_entry(&self.program, &self.settings))
                    .map(|()| format!("starts at login ({})", path.display()))
            }
            (Place::LaunchAgent(path), true) => {
                write_file(path, &launch_agent(&self.program, &self.settings))
                    .map(|()| format!("starts at login ({})", path.display()))
            }
            (Place::DesktopEntry(path) | Place::LaunchAgent(path), false) => {
                match std::fs::remove_file(path) {
                    Ok(()) => Ok(format!(
                        "no longer starts at login ({} removed)",
                        path.display()
                    )),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Ok("does not start at login".into())
                    }
                    Err(source) => Err(AutostartError::Remove {
                        path: path.clone(),
                        source,
                    }),
                }
            }
            (Place::WindowsRun, true) => {
                let command = windows_command_line(&self.program, &self.settings);
                reg(&[
                    "add", RUN_KEY, "/v", RUN_VALUE, "/t", "REG_SZ", "/d", &command, "/f",
                ])
                .map(|()| format!("starts at login ({RUN_KEY}\\{RUN_VALUE})"))
            }
            (Place::WindowsRun, false) => {
                if reg(&["query", RUN_KEY, "/v", RUN_VALUE]).is_err() {
                    return Ok("does not start at login".into());
                }
                reg(&["delete", RUN_KEY, "/v", RUN_VALUE, "/f"])
                    .map(|()| format!("no longer starts at login ({RUN_KEY}\\{RUN_VALUE} removed)"))
            }
        }
    }
}

/// Follows the *start at login* option on a thread of its own, from the engine's first
/// snapshot on.
pub fn spawn(
    client: EngineClient,
    autostart: Autostart,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("standby-autostart".into())
        .spawn(move || runtime.block_on(follow(client, autostart)))
}

async fn follow(client: EngineClient, autostart: Autostart) {
    let mut follower = Follower::new(&client, |s| {
        s.settings.options.user_interface.start_at_login
    });
    // Not retried on failure until the option changes: the log says why.
    while let Some((wanted, _)) = follower.next().await {
        let place = autostart.clone();
        let done = tokio::task::spawn_blocking(move || place.apply(wanted)).await;
        match done {
            Ok(Ok(what)) => tracing::info!("Standby {what}"),
            Ok(Err(e)) => tracing::warn!("start at login: {e}"),
            Err(e) => tracing::warn!("start at login: {e}"),
        }
    }
}

fn write_file(path: &Path, text: &str) -> Result<(), AutostartError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| AutostartError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text).map_err(|source| AutostartError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn reg(args: &[&str]) -> Result<(), AutostartError> {
    let out = std::process::Command::new("reg")
        .args(args)
        .output()
        .map_err(AutostartError::NoReg)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(AutostartError::Reg {
            verb: args.first().copied().unwrap_or_default().to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The XDG autostart entry.
pub fn desktop_entry(program: &Path, settings: &Path) -> String {
    format!(
        "[Desktop Entry]\n\
         Type=Application\n\
         Name=Standby\n\
         Comment=DNS failover: keeps host names pointing at servers that work\n\
         Exec={} --config {}\n\
         Icon=standby\n\
         Terminal=false\n\
         X-GNOME-Autostart-enabled=true\n",
        desktop_exec_argument(&program.to_string_lossy()),
        desktop_exec_argument(&settings.to_string_lossy()),
    )
}

/// One argument of an `Exec=` line, quoted as the Desktop Entry specification says:
/// in double quotes when it has a reserved character, with `"`, `` ` ``, `$` and `\`
/// escaped; `%` doubled, since it starts field codes.
pub fn desktop_exec_argument(argument: &str) -> String {
    let argument = argument.replace('%', "%%");
    let reserved = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\''
                    | '\\'
                    | '>'
                    | '<'
                    | '~'
                    | '|'
                    | '&'
                    | ';'
                    | '$'
                    | '*'
                    | '?'
                    | '#'
                    | '('
                    | ')'
                    | '`'
            )
    };
    if !argument.chars().any(reserved) {
        return argument;
    }
    let mut quoted = String::from("\"");
    for c in argument.chars() {
        if matches!(c, '"' | '`' | '$' | '\\') {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    // The file format unescapes once more before the Exec rules apply.
    quoted.replace('\\', "\\\\")
}

/// The macOS LaunchAgent.
pub fn launch_agent(program: &Path, settings: &Path) -> String {
    let xml = |s: &Path| {
        s.to_string_lossy()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\
         \x20 <key>Label</key><string>net.standby</string>\n\
         \x20 <key>ProgramArguments</key>\n\
         \x20 <array><string>{}</string><string>--config</string><string>{}</string></array>\n\
         \x20 <key>RunAtLoad</key><true/>\n\
         </dict>\n</plist>\n",
        xml(program),
        xml(settings),
    )
}

/// The `Run` value: the program and its settings, each in double quotes (Windows paths
/// cannot contain `"`).
pub fn windows_command_line(program: &Path, settings: &Path) -> String {
    format!(
        "\"{}\" --config \"{}\"",
        program.to_string_lossy(),
        settings.to_string_lossy()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_arguments_stay_as_they_are_and_others_are_quoted() {
        assert_eq!(
            desktop_exec_argument("/usr/bin/standby"),
            "/usr/bin/standby"
        );
        assert_eq!(
            desktop_exec_argument("/home/op/My Settings/standby.ron"),
            "\"/home/op/My Settings/standby.ron\""
        );
        // `$` escaped for Exec, then the backslash escaped for the file format.
        assert_eq!(desktop_exec_argument("/tmp/a$b"), "\"/tmp/a\\\\$b\"");
        assert_eq!(desktop_exec_argument("/tmp/100%"), "/tmp/100%%");
    }

    #[test]
    fn the_entry_is_written_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("autostart/standby.desktop");
        let autostart = Autostart {
            program: PathBuf::from("/opt/standby/standby"),
            settings: PathBuf::from("/home/op/.config/standby/standby.ron"),
            place: Place::DesktopEntry(entry.clone()),
        };
        assert_eq!(autostart.apply(false).unwrap(), "does not start at login");
        assert!(autostart.apply(true).unwrap().contains("starts at login"));
        let text = std::fs::read_to_string(&entry).unwrap();
        assert!(
            text.contains(
                "Exec=/opt/standby/standby --config /home/op/.config/standby/standby.ron\n"
            )
        );
        assert!(autostart.apply(false).unwrap().contains("removed"));
        assert!(!entry.exists());
    }

    #[test]
    fn the_launch_agent_escapes_xml() {
        let text = launch_agent(Path::new("/Applications/A&B/standby"), Path::new("/x<y"));
        assert!(text.contains("<string>/Applications/A&amp;B/standby</string>"));
        assert!(text.contains("<string>/x&lt;y</string>"));
    }

    #[test]
    fn the_run_value_quotes_both_paths() {
        assert_eq!(
            windows_command_line(
                Path::new(r"C:\Program Files\Standby\standby.exe"),
                Path::new(r"C:\Users\op\AppData\Roaming\standby\standby.ron")
            ),
            r#""C:\Program Files\Standby\standby.exe" --config "C:\Users\op\AppData\Roaming\standby\standby.ron""#
        );
    }
}

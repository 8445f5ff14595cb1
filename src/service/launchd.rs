//! launchd on macOS: a property list (a LaunchDaemon system-wide, a LaunchAgent with
//! `--user`) and `launchctl` (bootstrap / bootout / kickstart / print).
//!
//! launchd has no "installed but not started at boot": a plist in its directory is loaded
//! at boot (or login). So *install* writes the plist and enables the label, *start* loads
//! it into the running launchd (`bootstrap`) and starts it (`kickstart`), *stop* unloads it
//! (`bootout`: with `KeepAlive` a mere kill would be restarted), and *status* reads
//! `launchctl print`.

use std::path::{Path, PathBuf};

use super::{Action, Os, Report, Scope, ServiceError, Spec, Status, Step};

/// The service's label; the window's own login item is `net.standby`.
pub const LABEL: &str = "net.standby.engine";

/// The settings of a system service.
pub fn system_settings() -> PathBuf {
    PathBuf::from("/Library/Application Support/Standby/standby.ron")
}

/// Where the plist goes.
pub fn plist_path(scope: Scope) -> Result<PathBuf, ServiceError> {
    match scope {
        Scope::System => Ok(PathBuf::from("/Library/LaunchDaemons").join(format!("{LABEL}.plist"))),
        Scope::User => dirs::home_dir()
            .map(|home| {
                home.join("Library/LaunchAgents")
                    .join(format!("{LABEL}.plist"))
            })
            .ok_or_else(|| ServiceError::Unsupported("no home directory for a LaunchAgent".into())),
    }
}

/// launchctl's domain: the system, or the user's GUI session.
pub fn domain(scope: Scope, uid: u32) -> String {
    match scope {
        Scope::System => "system".into(),
        Scope::User => format!("gui/{uid}"),
    }
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The property list: the engine on its settings, restarted when it fails (not when it
/// stops cleanly), the same open-file limit as the systemd unit, files for the owner only,
/// its standard error (the log) beside the settings.
pub fn plist(spec: &Spec) -> String {
    let log = spec.settings.with_file_name("standby-engine.log");
    let string = |p: &Path| format!("<string>{}</string>", xml(&p.to_string_lossy()));
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n\
         \x20 <key>Label</key><string>{LABEL}</string>\n\
         \x20 <key>ProgramArguments</key>\n\
         \x20 <array>{}<string>--headless</string><string>--config</string>{}</array>\n\
         \x20 <key>RunAtLoad</key><true/>\n\
         \x20 <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>\n\
         \x20 <key>ThrottleInterval</key><integer>5</integer>\n\
         \x20 <key>SoftResourceLimits</key><dict><key>NumberOfFiles</key><integer>65536</integer></dict>\n\
         \x20 <key>HardResourceLimits</key><dict><key>NumberOfFiles</key><integer>65536</integer></dict>\n\
         \x20 <key>Umask</key><integer>63</integer>\n\
         \x20 <key>StandardErrorPath</key>{}\n\
         </dict>\n</plist>\n",
        string(&spec.program),
        string(&spec.settings),
        string(&log),
    )
}

/// The plan of an action other than `Status`; `uid` names the user's domain.
pub fn plan(action: Action, spec: &Spec, uid: u32) -> Result<Vec<Step>, ServiceError> {
    let plist = plist_path(spec.scope)?;
    let plist_arg = plist.to_string_lossy().into_owned();
    let domain = domain(spec.scope, uid);
    let target = format!("{domain}/{LABEL}");
    Ok(match action {
        Action::Install => vec![
            Step::Write {
                path: plist,
                contents: self::plist(spec),
            },
            Step::run("launchctl", &["enable", &target]),
        ],
        Action::Uninstall => vec![
            // Not loaded: nothing to unload.
            Step::run_may_fail("launchctl", &["bootout", &target]),
            Step::Remove { path: plist },
        ],
        Action::Start => vec![
            // Already loaded is fine: kickstart starts it either way.
            Step::run_may_fail("launchctl", &["bootstrap", &domain, &plist_arg]),
            Step::run("launchctl", &["kickstart", &target]),
        ],
        Action::Stop => vec![Step::run("launchctl", &["bootout", &target])],
        Action::Status => Vec::new(),
    })
}

/// Reads `launchctl print`'s `state = …` and `last exit code = …` lines.
pub fn parse_print(print: &str) -> Status {
    let value = |key: &str| {
        print.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim())
        })
    };
    if value("state") == Some("running") {
        return Status::Running { enabled: true };
    }
    match value("last exit code").map(str::parse::<i64>) {
        Some(Ok(code)) if code != 0 => Status::Failed {
            detail: format!("last exit code {code}"),
        },
        _ => Status::Stopped { enabled: true },
    }
}

pub fn perform(action: Action, spec: &Spec, os: &dyn Os) -> Result<Report, ServiceError> {
    perform_as(action, spec, os, current_uid())
}

/// [`perform`] for the user `uid`.
pub fn perform_as(
    action: Action,
    spec: &Spec,
    os: &dyn Os,
    uid: u32,
) -> Result<Report, ServiceError> {
    let plist = plist_path(spec.scope)?;
    if action == Action::Status {
        if !os.exists(&plist) {
            return Ok(Report::Status(Status::NotInstalled));
        }
        let args = vec![
            "print".to_string(),
            format!("{}/{LABEL}", domain(spec.scope, uid)),
        ];
        let output = os.run("launchctl", &args)?;
        // Not loaded (launchctl exits 113: "could not find service"): installed, stopped.
        if !output.success() {
            return Ok(Report::Status(Status::Stopped { enabled: true }));
        }
        return Ok(Report::Status(parse_print(&output.stdout)));
    }
    super::execute(os, &plan(action, spec, uid)?)?;
    Ok(Report::Done(match action {
        Action::Install => format!(
            "installed {} (settings {}); launchd starts it at {}; start it now with \
             `standby service start{}`",
            plist.display(),
            spec.settings.display(),
            if spec.scope == Scope::System {
                "boot"
            } else {
                "login"
            },
            if spec.scope == Scope::User {
                " --user"
            } else {
                ""
            },
        ),
        Action::Uninstall => format!(
            "stopped and removed {} (the settings stay in {})",
            plist.display(),
            spec.settings.display()
        ),
        Action::Start => format!(
            "started (its log: {})",
            spec.settings.with_file_name("standby-engine.log").display()
        ),
        Action::Stop => "stopped (it starts again at the next boot or login)".into(),
        Action::Status => String::new(),
    }))
}

fn current_uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::{Recorder, commands};
    use super::*;

    fn agent() -> Spec {
        Spec {
            program: "/Applications/Standby.app/Contents/MacOS/standby".into(),
            settings: "/Users/op/Library/Application Support/standby/standby.ron".into(),
            scope: Scope::User,
        }
    }

    fn daemon() -> Spec {
        Spec {
            program: "/usr/local/bin/standby".into(),
            settings: system_settings(),
            scope: Scope::System,
        }
    }

    #[test]
    fn the_plist_runs_the_engine_restarts_on_failure_and_raises_the_file_limit() {
        let text = plist(&daemon());
        assert!(text.contains(
            "<array><string>/usr/local/bin/standby</string><string>--headless</string>\
             <string>--config</string><string>/Library/Application Support/Standby/standby.ron</string></array>"
        ));
        assert!(
            text.contains("<key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>")
        );
        assert!(text.contains("<key>NumberOfFiles</key><integer>65536</integer>"));
        assert!(text.contains(
            "<key>StandardErrorPath</key><string>/Library/Application Support/Standby/standby-engine.log</string>"
        ));
        // 63 = 0o077: the settings hold secrets.
        assert!(text.contains("<key>Umask</key><integer>63</integer>"));
    }

    #[test]
    fn the_plist_escapes_xml() {
        let spec = Spec {
            program: "/opt/A&B/standby".into(),
            settings: "/x<y/standby.ron".into(),
            scope: Scope::User,
        };
        let text = plist(&spec);
        assert!(text.contains("<string>/opt/A&amp;B/standby</string>"));
        assert!(text.contains("<string>/x&lt;y/standby.ron</string>"));
    }

    #[test]
    fn install_writes_the_daemon_plist_and_enables_the_label() {
        let os = Recorder::default();
        perform_as(Action::Install, &daemon(), &os, 0).unwrap();
        let steps = os.steps();
        assert!(matches!(&steps[0], Step::Write { path, .. }
            if path == Path::new("/Library/LaunchDaemons/net.standby.engine.plist")));
        assert_eq!(
            commands(&steps),
            ["launchctl enable system/net.standby.engine"]
        );
    }

    #[test]
    fn a_user_agent_lives_in_the_gui_domain_of_its_user() {
        let os = Recorder::default();
        perform_as(Action::Start, &agent(), &os, 501).unwrap();
        perform_as(Action::Stop, &agent(), &os, 501).unwrap();
        let plist = plist_path(Scope::User).unwrap();
        assert_eq!(
            commands(&os.steps()),
            [
                super::super::command_line(
                    "launchctl",
                    &[
                        "bootstrap".into(),
                        "gui/501".into(),
                        plist.to_string_lossy().into()
                    ]
                ),
                "launchctl kickstart gui/501/net.standby.engine".into(),
                "launchctl bootout gui/501/net.standby.engine".into(),
            ]
        );
    }

    #[test]
    fn start_goes_on_when_the_service_was_loaded_already() {
        let os = Recorder::answering(&[("bootstrap", 37, "service already loaded")]);
        perform_as(Action::Start, &daemon(), &os, 0).unwrap();
        assert_eq!(os.steps().len(), 2);
    }

    #[test]
    fn uninstall_unloads_if_loaded_and_removes_the_plist() {
        let os = Recorder::answering(&[("bootout", 113, "")]);
        perform_as(Action::Uninstall, &daemon(), &os, 0).unwrap();
        assert!(os.steps().contains(&Step::Remove {
            path: "/Library/LaunchDaemons/net.standby.engine.plist".into()
        }));
    }

    #[test]
    fn status_reads_launchctl_print() {
        let running = "net.standby.engine = {\n\tactive count = 1\n\tstate = running\n\tpid = 4242\n\tlast exit code = (never exited)\n}\n";
        let crashed = "net.standby.engine = {\n\tstate = not running\n\tlast exit code = 2\n}\n";
        let clean = "net.standby.engine = {\n\tstate = not running\n\tlast exit code = 0\n}\n";
        assert_eq!(parse_print(running), Status::Running { enabled: true });
        assert_eq!(
            parse_print(crashed),
            Status::Failed {
                detail: "last exit code 2".into()
            }
        );
        assert_eq!(parse_print(clean), Status::Stopped { enabled: true });
    }

    #[test]
    fn status_without_a_plist_is_not_installed_and_unloaded_is_stopped() {
        let os = Recorder::default();
        assert_eq!(
            perform_as(Action::Status, &daemon(), &os, 0).unwrap(),
            Report::Status(Status::NotInstalled)
        );
        let os = Recorder {
            present: std::cell::RefCell::new(vec![plist_path(Scope::System).unwrap()]),
            ..Recorder::answering(&[("print", 113, "Could not find service")])
        };
        assert_eq!(
            perform_as(Action::Status, &daemon(), &os, 0).unwrap(),
            Report::Status(Status::Stopped { enabled: true })
        );
    }
}

//! systemd: a unit file and `systemctl` (system-wide, or `--user` for the user's manager).
//!
//! The system unit is `assets/standby.service` itself (the one the .deb installs), with
//! this program's path in `ExecStart`; the user unit is made from it by leaving out what
//! a user's manager cannot do (its own user, capabilities, the file-system sandbox) and
//! wanting `default.target`. So there is one unit to keep right, checked by
//! `systemd-analyze verify` in `tests/it/service.rs`.

use std::path::{Path, PathBuf};

use super::{Action, Os, Report, Scope, ServiceError, Spec, Status, Step};

/// The unit as shipped (ExecStart names `/usr/bin/standby`).
pub const SHIPPED_UNIT: &str = include_str!("../../assets/standby.service");

pub const UNIT_NAME: &str = "standby.service";

/// The state directory of the system unit (`StateDirectory=standby`).
pub const STATE_DIR: &str = "/var/lib/standby";

/// Keys a user's service manager cannot honour: they need privileges it does not have
/// (its own user, capabilities) or user namespaces (the file-system sandbox).
const SYSTEM_ONLY: &[&str] = &[
    "DynamicUser",
    "StateDirectory",
    "StateDirectoryMode",
    "AmbientCapabilities",
    "CapabilityBoundingSet",
    "ProtectSystem",
    "ProtectHome",
    "PrivateTmp",
    "PrivateDevices",
    "ProtectKernelTunables",
    "ProtectKernelModules",
    "ProtectKernelLogs",
    "ProtectControlGroups",
    "ProtectClock",
    "ProtectHostname",
    // A user's manager has no network-online.target to order after.
    "After",
    "Wants",
];

/// The settings of a system service: in its state directory.
pub fn system_settings() -> PathBuf {
    Path::new(STATE_DIR).join("standby.ron")
}

/// Where the unit goes: `/etc/systemd/system`, or the user's `~/.config/systemd/user`.
pub fn unit_path(scope: Scope) -> Result<PathBuf, ServiceError> {
    match scope {
        Scope::System => Ok(PathBuf::from("/etc/systemd/system").join(UNIT_NAME)),
        Scope::User => dirs::config_dir()
            .map(|dir| dir.join("systemd/user").join(UNIT_NAME))
            .ok_or_else(|| {
                ServiceError::Unsupported(
                    "no configuration directory for a user unit (is HOME set?)".into(),
                )
            }),
    }
}

/// The unit for `spec`: the shipped one with its `ExecStart`, for its scope.
pub fn unit(spec: &Spec) -> String {
    let exec_start = format!(
        "ExecStart={} --headless --config {}",
        quote(&spec.program.to_string_lossy()),
        quote(&spec.settings.to_string_lossy())
    );
    let mut out = String::new();
    if spec.scope == Scope::User {
        // The shipped unit's comments speak of its own user and sandbox: not this one's.
        out.push_str(
            "# systemd user unit of a headless Standby (the engine, no window), written by\n\
             # `standby service install --user` from the system unit without what needs privileges.\n",
        );
    }
    for line in SHIPPED_UNIT.lines() {
        let key = line.split('=').next().unwrap_or_default().trim();
        let line = if key == "ExecStart" {
            exec_start.as_str()
        } else if spec.scope == Scope::User && key == "WantedBy" {
            "WantedBy=default.target"
        } else if spec.scope == Scope::User && (SYSTEM_ONLY.contains(&key) || key.starts_with('#'))
        {
            continue;
        } else {
            line
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// One word of a command line as systemd reads it: `%` and `$` doubled (specifiers and
/// variables), quoted when it holds space, quotes or backslashes.
pub fn quote(word: &str) -> String {
    let word = word.replace('%', "%%").replace('$', "$$");
    if !word.is_empty()
        && !word
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'' || c == '\\' || c == ';')
    {
        return word;
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn systemctl(scope: Scope, args: &[&str]) -> (String, Vec<String>) {
    let mut all = Vec::new();
    if scope == Scope::User {
        all.push("--user".to_string());
    }
    all.extend(args.iter().map(|a| (*a).to_string()));
    ("systemctl".into(), all)
}

fn step(scope: Scope, args: &[&str], may_fail: bool) -> Step {
    let (program, args) = systemctl(scope, args);
    Step::Run {
        program,
        args,
        may_fail,
    }
}

/// The plan of an action other than `Status`.
pub fn plan(action: Action, spec: &Spec) -> Result<Vec<Step>, ServiceError> {
    let scope = spec.scope;
    Ok(match action {
        Action::Install => {
            if scope == Scope::System && !spec.settings.starts_with(STATE_DIR) {
                return Err(ServiceError::Unsupported(format!(
                    "a system service runs as a user of its own and keeps its settings in its \
                     state directory: give no --config (it uses {}), or one inside {STATE_DIR}; \
                     not {}",
                    system_settings().display(),
                    spec.settings.display()
                )));
            }
            vec![
                Step::Write {
                    path: unit_path(scope)?,
                    contents: unit(spec),
                },
                step(scope, &["daemon-reload"], false),
                step(scope, &["enable", UNIT_NAME], false),
            ]
        }
        Action::Uninstall => vec![
            // Not installed or not running: nothing to stop.
            step(scope, &["disable", "--now", UNIT_NAME], true),
            Step::Remove {
                path: unit_path(scope)?,
            },
            step(scope, &["daemon-reload"], false),
        ],
        Action::Start => vec![step(scope, &["start", UNIT_NAME], false)],
        Action::Stop => vec![step(scope, &["stop", UNIT_NAME], false)],
        Action::Status => Vec::new(),
    })
}

const STATUS_PROPERTIES: &str = "--property=LoadState,ActiveState,SubState,UnitFileState,Result";

/// `systemctl show` printed what this reader does not know.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UnreadableStatus {
    #[error("systemctl show printed no {0}")]
    Missing(&'static str),
    #[error("unknown ActiveState {0}")]
    UnknownState(String),
}

/// Reads `systemctl show`'s `Key=value` lines.
pub fn parse_status(show: &str) -> Result<Status, UnreadableStatus> {
    let value = |key: &str| {
        show.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
    };
    let load = value("LoadState").ok_or(UnreadableStatus::Missing("LoadState"))?;
    if load == "not-found" {
        return Ok(Status::NotInstalled);
    }
    let active = value("ActiveState").ok_or(UnreadableStatus::Missing("ActiveState"))?;
    let enabled = matches!(
        value("UnitFileState"),
        Some("enabled" | "enabled-runtime" | "linked" | "alias")
    );
    Ok(match active {
        "active" | "reloading" => Status::Running { enabled },
        "activating" => Status::Starting,
        "deactivating" => Status::Stopping,
        "inactive" => Status::Stopped { enabled },
        "failed" => Status::Failed {
            detail: format!(
                "{} ({})",
                value("Result").unwrap_or("unknown"),
                value("SubState").unwrap_or("unknown")
            ),
        },
        other => return Err(UnreadableStatus::UnknownState(other.to_string())),
    })
}

pub fn perform(action: Action, spec: &Spec, os: &dyn Os) -> Result<Report, ServiceError> {
    if action == Action::Status {
        let (program, args) = systemctl(spec.scope, &["show", UNIT_NAME, STATUS_PROPERTIES]);
        let output = os.run(&program, &args)?;
        if !output.success() {
            return Err(super::command_failed(&program, &args, &output));
        }
        return parse_status(&output.stdout)
            .map(Report::Status)
            .map_err(|e| ServiceError::Unreadable {
                command: super::command_line(&program, &args),
                detail: e.to_string(),
            });
    }
    let steps = plan(action, spec)?;
    super::execute(os, &steps)?;
    let unit = unit_path(spec.scope)?;
    let manager = match spec.scope {
        Scope::System => "systemctl",
        Scope::User => "systemctl --user",
    };
    Ok(Report::Done(match (action, spec.scope) {
        (Action::Install, Scope::System) => format!(
            "installed {} (settings {}); it starts at boot; start it now with `standby service start`",
            unit.display(),
            spec.settings.display()
        ),
        (Action::Install, Scope::User) => format!(
            "installed {} (settings {}); it starts with your session; start it now with \
             `standby service start --user`; to keep it running while you are logged out: \
             `loginctl enable-linger`",
            unit.display(),
            spec.settings.display()
        ),
        (Action::Uninstall, _) => format!(
            "stopped and removed {} (the settings stay in {})",
            unit.display(),
            spec.settings.display()
        ),
        (Action::Start, _) => format!("started ({manager} status {UNIT_NAME} shows its log)"),
        (Action::Stop, _) => "stopped".into(),
        (Action::Status, _) => String::new(),
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::{Recorder, commands};
    use super::*;

    fn system() -> Spec {
        Spec {
            program: "/usr/bin/standby".into(),
            settings: system_settings(),
            scope: Scope::System,
        }
    }

    fn user() -> Spec {
        Spec {
            program: "/home/op/bin/standby".into(),
            settings: "/home/op/.config/standby/standby.ron".into(),
            scope: Scope::User,
        }
    }

    #[test]
    fn the_system_unit_for_the_packaged_program_is_the_shipped_unit() {
        assert_eq!(unit(&system()), SHIPPED_UNIT);
    }

    #[test]
    fn the_system_unit_has_the_limits_restart_and_sandbox() {
        let unit = unit(&system());
        for line in [
            "LimitNOFILE=65536",
            "Restart=on-failure",
            "DynamicUser=yes",
            "NoNewPrivileges=yes",
            "ProtectSystem=strict",
            "WantedBy=multi-user.target",
        ] {
            assert!(unit.lines().any(|l| l == line), "{line} missing");
        }
    }

    #[test]
    fn the_user_unit_keeps_limits_and_seccomp_and_drops_what_needs_privileges() {
        let unit = unit(&user());
        assert!(unit.contains(
            "ExecStart=/home/op/bin/standby --headless --config /home/op/.config/standby/standby.ron\n"
        ));
        assert!(unit.contains("LimitNOFILE=65536\n"));
        assert!(unit.contains("Restart=on-failure\n"));
        assert!(unit.contains("NoNewPrivileges=yes\n"));
        assert!(unit.contains("SystemCallFilter=@system-service\n"));
        assert!(unit.contains("WantedBy=default.target\n"));
        for key in SYSTEM_ONLY {
            assert!(
                !unit.lines().any(|l| l.starts_with(&format!("{key}="))),
                "{key} left in the user unit"
            );
        }
        assert!(!unit.contains("multi-user.target"));
        assert!(!unit.contains("# ICMP polling needs raw sockets"), "{unit}");
    }

    #[test]
    fn words_are_quoted_and_specifiers_escaped_for_systemd() {
        assert_eq!(quote("/usr/bin/standby"), "/usr/bin/standby");
        assert_eq!(quote("/srv/a b/standby.ron"), "\"/srv/a b/standby.ron\"");
        assert_eq!(quote("/srv/100%/x$HOME"), "/srv/100%%/x$$HOME");
        assert_eq!(quote(r#"/srv/q"\x"#), r#""/srv/q\"\\x""#);
    }

    #[test]
    fn install_writes_the_unit_then_reloads_and_enables() {
        let os = Recorder::default();
        let report = perform(Action::Install, &system(), &os).unwrap();
        let steps = os.steps();
        assert_eq!(
            steps[0],
            Step::Write {
                path: "/etc/systemd/system/standby.service".into(),
                contents: SHIPPED_UNIT.into()
            }
        );
        assert_eq!(
            commands(&steps),
            [
                "systemctl daemon-reload",
                "systemctl enable standby.service"
            ]
        );
        assert!(matches!(report, Report::Done(s) if s.contains("starts at boot")));
    }

    #[test]
    fn a_user_install_speaks_to_the_user_manager() {
        let os = Recorder::default();
        let Ok(Report::Done(said)) = perform(Action::Install, &user(), &os) else {
            panic!("install failed");
        };
        assert_eq!(
            commands(&os.steps()),
            [
                "systemctl --user daemon-reload",
                "systemctl --user enable standby.service"
            ]
        );
        assert!(said.contains("enable-linger"));
    }

    #[test]
    fn a_system_install_refuses_settings_outside_its_state_directory() {
        let spec = Spec {
            settings: "/etc/standby.ron".into(),
            ..system()
        };
        let e = perform(Action::Install, &spec, &Recorder::default()).unwrap_err();
        assert!(e.to_string().contains("/var/lib/standby"), "{e}");
        assert!(e.to_string().contains("/etc/standby.ron"), "{e}");
    }

    #[test]
    fn uninstall_stops_disables_removes_and_reloads_even_when_not_running() {
        let os = Recorder::answering(&[("disable", 1, "")]);
        perform(Action::Uninstall, &system(), &os).unwrap();
        let steps = os.steps();
        assert_eq!(
            commands(&steps),
            [
                "systemctl disable --now standby.service",
                "systemctl daemon-reload"
            ]
        );
        assert!(steps.contains(&Step::Remove {
            path: "/etc/systemd/system/standby.service".into()
        }));
    }

    #[test]
    fn start_and_stop_are_one_systemctl_each() {
        let os = Recorder::default();
        perform(Action::Start, &user(), &os).unwrap();
        perform(Action::Stop, &user(), &os).unwrap();
        assert_eq!(
            commands(&os.steps()),
            [
                "systemctl --user start standby.service",
                "systemctl --user stop standby.service"
            ]
        );
    }

    #[test]
    fn status_is_read_from_systemctl_show() {
        let show = |load: &str, active: &str, file: &str| {
            format!(
                "LoadState={load}\nActiveState={active}\nSubState=x\nUnitFileState={file}\nResult=exit-code\n"
            )
        };
        let table = [
            (show("not-found", "inactive", ""), Status::NotInstalled),
            (
                show("loaded", "active", "enabled"),
                Status::Running { enabled: true },
            ),
            (
                show("loaded", "inactive", "disabled"),
                Status::Stopped { enabled: false },
            ),
            (show("loaded", "activating", "enabled"), Status::Starting),
            (show("loaded", "deactivating", "enabled"), Status::Stopping),
            (
                show("loaded", "failed", "enabled"),
                Status::Failed {
                    detail: "exit-code (x)".into(),
                },
            ),
        ];
        for (text, want) in table {
            assert_eq!(parse_status(&text), Ok(want), "{text}");
        }
        assert!(parse_status("ActiveState=active\n").is_err());
        assert!(parse_status(&show("loaded", "dreaming", "")).is_err());
    }

    #[test]
    fn status_asks_systemctl_show_and_reports_its_failure() {
        let os = Recorder::answering(&[(
            "show",
            0,
            "LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n",
        )]);
        assert_eq!(
            perform(Action::Status, &system(), &os).unwrap(),
            Report::Status(Status::Running { enabled: true })
        );
        assert_eq!(
            commands(&os.steps()),
            [format!(
                "systemctl show standby.service {STATUS_PROPERTIES}"
            )]
        );
        let os = Recorder::answering(&[("show", 1, "Failed to connect to bus")]);
        let e = perform(Action::Status, &user(), &os).unwrap_err();
        assert!(e.to_string().contains("Failed to connect to bus"), "{e}");
    }
}

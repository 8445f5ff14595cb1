//! `standby service install | uninstall | start | stop | status`: the headless engine
//! registered with the OS's service manager — systemd (system-wide or `--user`), launchd on
//! macOS, the Windows Service Control Manager.
//!
//! systemd and launchd are driven by their command-line tools (`systemctl`, `launchctl`)
//! and by files they read. Each backend turns an [`Action`] into a plan of [`Step`]s (pure,
//! table-tested); [`execute`] carries a plan out through the one small [`Os`] trait, whose
//! real implementation writes files and runs programs, and whose test doubles record the
//! steps or answer with canned output. `--dry-run` is another [`Os`]: it prints the steps.
//! Windows goes through the SCM's API (the `windows-service` crate) in `windows_scm.rs`;
//! what it decides — the service's configuration, its launch arguments, the meaning of its
//! states and error codes — is pure and lives in `windows.rs`, tested on every platform.
//!
//! A layer of its own below `main`: it names `model` only (for the default settings path).

pub mod launchd;
pub mod systemd;
pub mod windows;
#[cfg(windows)]
pub mod windows_scm;

use std::fmt;
use std::path::{Path, PathBuf};

/// The service's name everywhere: the systemd unit `standby.service`, the Windows service.
pub const NAME: &str = "standby";

/// What the operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Register the service so that it starts at boot (or login, `--user`); not started now.
    Install,
    /// Stop it if it runs and remove the registration (the settings stay).
    Uninstall,
    Start,
    Stop,
    Status,
}

/// System-wide (started at boot, its own user) or for the current user (started with the
/// user's service manager: `systemctl --user`, a LaunchAgent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    System,
    User,
}

/// What a service runs: this program on a settings file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    /// The standby executable (absolute).
    pub program: PathBuf,
    /// The settings file the engine runs on (absolute).
    pub settings: PathBuf,
    pub scope: Scope,
}

/// The service's state as the service manager reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    NotInstalled,
    /// Installed, not running. `enabled`: starts at boot / login.
    Stopped {
        enabled: bool,
    },
    Starting,
    Running {
        enabled: bool,
    },
    Stopping,
    /// It stopped with an error (systemd's `failed`, launchd's non-zero last exit).
    Failed {
        detail: String,
    },
}

impl Status {
    /// The exit code of `standby service status`, as LSB init scripts and `systemctl
    /// status` give them: 0 running, 3 not running, 4 unknown (not installed).
    pub fn exit_code(&self) -> u8 {
        match self {
            Status::Running { .. } | Status::Starting | Status::Stopping => 0,
            Status::Stopped { .. } | Status::Failed { .. } => 3,
            Status::NotInstalled => 4,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at_boot = |enabled: &bool| if *enabled { "enabled" } else { "disabled" };
        match self {
            Status::NotInstalled => write!(f, "not installed"),
            Status::Stopped { enabled } => write!(f, "stopped ({})", at_boot(enabled)),
            Status::Starting => write!(f, "starting"),
            Status::Running { enabled } => write!(f, "running ({})", at_boot(enabled)),
            Status::Stopping => write!(f, "stopping"),
            Status::Failed { detail } => write!(f, "failed: {detail}"),
        }
    }
}

/// Why an action could not be done. Each names the file, command or rule.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
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
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// A command of the service manager failed; its own words.
    #[error("`{command}` failed ({status}): {message}")]
    Command {
        command: String,
        status: String,
        message: String,
    },
    /// The settings file, scope or platform does not allow this service.
    #[error("{0}")]
    Unsupported(String),
    /// The service manager's answer could not be understood.
    #[error("cannot read the state of the service from `{command}`: {detail}")]
    Unreadable { command: String, detail: String },
    /// The Windows Service Control Manager refused; its code explained.
    #[error("the Windows service manager: {0}")]
    Scm(String),
}

/// One thing a plan does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Write a file (its directory made first), replacing what was there.
    Write { path: PathBuf, contents: String },
    /// Remove a file; one that is not there is fine.
    Remove { path: PathBuf },
    /// Run a program with arguments (never through a shell).
    Run {
        program: String,
        args: Vec<String>,
        /// Whether a non-zero exit is acceptable (e.g. stopping what does not run).
        may_fail: bool,
    },
}

impl Step {
    pub fn run(program: &str, args: &[&str]) -> Step {
        Step::Run {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_string()).collect(),
            may_fail: false,
        }
    }

    pub fn run_may_fail(program: &str, args: &[&str]) -> Step {
        Step::Run {
            program: program.into(),
            args: args.iter().map(|a| (*a).to_string()).collect(),
            may_fail: true,
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Write { path, contents } => {
                write!(f, "write {}:\n{contents}", path.display())
            }
            Step::Remove { path } => write!(f, "remove {}", path.display()),
            Step::Run { program, args, .. } => write!(f, "run {}", command_line(program, args)),
        }
    }
}

/// What a program printed and how it ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// The exit code; `None` when killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
}

/// The operating system as the service backends use it: files and programs. The one seam
/// that makes the backends testable without a service manager.
pub trait Os {
    fn write(&self, path: &Path, contents: &str) -> Result<(), ServiceError>;
    /// Removes a file; `Ok(false)` when it was not there.
    fn remove(&self, path: &Path) -> Result<bool, ServiceError>;
    fn run(&self, program: &str, args: &[String]) -> Result<Output, ServiceError>;
    fn exists(&self, path: &Path) -> bool;
}

/// The real thing.
pub struct RealOs;

impl Os for RealOs {
    fn write(&self, path: &Path, contents: &str) -> Result<(), ServiceError> {
        let error = |source| ServiceError::Write {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(error)?;
        }
        std::fs::write(path, contents).map_err(error)
    }

    fn remove(&self, path: &Path) -> Result<bool, ServiceError> {
        match std::fs::remove_file(path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(ServiceError::Remove {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn run(&self, program: &str, args: &[String]) -> Result<Output, ServiceError> {
        let output = std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| ServiceError::Spawn {
                program: program.into(),
                source,
            })?;
        Ok(Output {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

/// `--dry-run`: says what would be done, does nothing; every command "succeeds" silently.
pub struct DryRun<W: std::io::Write> {
    pub out: std::cell::RefCell<W>,
}

impl<W: std::io::Write> DryRun<W> {
    fn say(&self, text: &str) {
        // Printing the plan is the whole point; a closed stdout leaves nothing to tell.
        let _ = writeln!(self.out.borrow_mut(), "{text}");
    }
}

impl<W: std::io::Write> Os for DryRun<W> {
    fn write(&self, path: &Path, contents: &str) -> Result<(), ServiceError> {
        self.say(
            &Step::Write {
                path: path.into(),
                contents: contents.into(),
            }
            .to_string(),
        );
        Ok(())
    }

    fn remove(&self, path: &Path) -> Result<bool, ServiceError> {
        self.say(&Step::Remove { path: path.into() }.to_string());
        Ok(true)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn run(&self, program: &str, args: &[String]) -> Result<Output, ServiceError> {
        self.say(&format!("run {}", command_line(program, args)));
        Ok(Output {
            code: Some(0),
            ..Output::default()
        })
    }
}

/// Carries out a plan in order; stops at the first step that fails.
pub fn execute(os: &dyn Os, steps: &[Step]) -> Result<(), ServiceError> {
    for step in steps {
        match step {
            Step::Write { path, contents } => os.write(path, contents)?,
            Step::Remove { path } => {
                os.remove(path)?;
            }
            Step::Run {
                program,
                args,
                may_fail,
            } => {
                let output = os.run(program, args)?;
                if !output.success() && !may_fail {
                    return Err(command_failed(program, args, &output));
                }
            }
        }
    }
    Ok(())
}

/// The error for a command that exited non-zero, with what it said.
pub fn command_failed(program: &str, args: &[String], output: &Output) -> ServiceError {
    let said = if output.stderr.trim().is_empty() {
        output.stdout.trim()
    } else {
        output.stderr.trim()
    };
    ServiceError::Command {
        command: command_line(program, args),
        status: match output.code {
            Some(code) => format!("exit code {code}"),
            None => "killed by a signal".into(),
        },
        message: if said.is_empty() {
            "no message".into()
        } else {
            said.into()
        },
    }
}

/// A command as an operator would type it (for messages only; nothing runs through it).
pub fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(program)
        .chain(args.iter().map(String::as_str))
        .map(|word| {
            if word.is_empty() || word.contains(|c: char| c.is_whitespace() || c == '\'') {
                format!("'{}'", word.replace('\'', r"'\''"))
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The backend for this platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    Systemd,
    Launchd,
    Windows,
}

impl Platform {
    pub fn current() -> Platform {
        if cfg!(windows) {
            Platform::Windows
        } else if cfg!(target_os = "macos") {
            Platform::Launchd
        } else {
            Platform::Systemd
        }
    }

    /// Where a service of `scope` keeps its settings when `--config` is not given.
    pub fn default_settings(self, scope: Scope) -> PathBuf {
        match (self, scope) {
            (Platform::Systemd, Scope::System) => systemd::system_settings(),
            (Platform::Launchd, Scope::System) => launchd::system_settings(),
            (Platform::Windows, _) => windows::system_settings(),
            (_, Scope::User) => crate::model::file::default_path(),
        }
    }
}

/// What `standby service ACTION` reports when it is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// The action was done; a sentence for the operator.
    Done(String),
    Status(Status),
}

/// Does `action` for `spec` on this platform, the OS reached through `os` (systemd and
/// launchd; the Windows SCM is reached directly).
pub fn perform(
    platform: Platform,
    action: Action,
    spec: &Spec,
    os: &dyn Os,
) -> Result<Report, ServiceError> {
    match platform {
        Platform::Systemd => systemd::perform(action, spec, os),
        Platform::Launchd => launchd::perform(action, spec, os),
        Platform::Windows => windows::perform(action, spec),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub(crate) mod testing {
    //! A recording [`Os`] that answers commands from a script.
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    pub struct Recorder {
        pub steps: RefCell<Vec<Step>>,
        /// Answers for commands, by the first argument that matches, in order of use.
        pub answers: RefCell<Vec<(String, Output)>>,
        /// The files that exist.
        pub present: RefCell<Vec<PathBuf>>,
    }

    impl Recorder {
        pub fn answering(answers: &[(&str, i32, &str)]) -> Recorder {
            Recorder {
                answers: RefCell::new(
                    answers
                        .iter()
                        .map(|(arg, code, stdout)| {
                            (
                                (*arg).to_string(),
                                Output {
                                    code: Some(*code),
                                    stdout: (*stdout).into(),
                                    stderr: String::new(),
                                },
                            )
                        })
                        .collect(),
                ),
                ..Recorder::default()
            }
        }

        pub fn steps(&self) -> Vec<Step> {
            self.steps.borrow().clone()
        }
    }

    impl Os for Recorder {
        fn write(&self, path: &Path, contents: &str) -> Result<(), ServiceError> {
            self.steps.borrow_mut().push(Step::Write {
                path: path.into(),
                contents: contents.into(),
            });
            Ok(())
        }

        fn remove(&self, path: &Path) -> Result<bool, ServiceError> {
            self.steps
                .borrow_mut()
                .push(Step::Remove { path: path.into() });
            Ok(true)
        }

        fn exists(&self, path: &Path) -> bool {
            self.present.borrow().iter().any(|p| p == path)
        }

        fn run(&self, program: &str, args: &[String]) -> Result<Output, ServiceError> {
            self.steps.borrow_mut().push(Step::Run {
                program: program.into(),
                args: args.to_vec(),
                may_fail: false,
            });
            let mut answers = self.answers.borrow_mut();
            let found = answers
                .iter()
                .position(|(arg, _)| args.iter().any(|a| a == arg));
            Ok(match found {
                Some(i) => answers.remove(i).1,
                None => Output {
                    code: Some(0),
                    ..Output::default()
                },
            })
        }
    }

    /// The steps' commands only, as typed.
    pub fn commands(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Run { program, args, .. } => Some(command_line(program, args)),
                _ => None,
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::testing::Recorder;
    use super::*;

    #[test]
    fn a_failing_step_stops_the_plan_and_names_the_command_and_its_words() {
        let os = Recorder {
            answers: std::cell::RefCell::new(vec![(
                "enable".into(),
                Output {
                    code: Some(1),
                    stdout: String::new(),
                    stderr: "Access denied\n".into(),
                },
            )]),
            ..Recorder::default()
        };
        let steps = [
            Step::run("systemctl", &["enable", "standby.service"]),
            Step::run("systemctl", &["start", "standby.service"]),
        ];
        let e = execute(&os, &steps).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`systemctl enable standby.service` failed (exit code 1): Access denied"
        );
        assert_eq!(os.steps().len(), 1, "the plan stopped at the failure");
    }

    #[test]
    fn a_step_that_may_fail_does_not_stop_the_plan() {
        let os = Recorder::answering(&[("stop", 5, "")]);
        let steps = [
            Step::run_may_fail("systemctl", &["stop", "standby.service"]),
            Step::run("systemctl", &["disable", "standby.service"]),
        ];
        execute(&os, &steps).unwrap();
        assert_eq!(os.steps().len(), 2);
    }

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        assert_eq!(
            command_line("launchctl", &["print".into(), "gui/501/a b".into()]),
            "launchctl print 'gui/501/a b'"
        );
        assert_eq!(command_line("x", &["it's".into()]), r"x 'it'\''s'");
    }

    #[test]
    fn dry_run_prints_every_step_and_touches_nothing() {
        let os = DryRun {
            out: std::cell::RefCell::new(Vec::new()),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("unit");
        execute(
            &os,
            &[
                Step::Write {
                    path: path.clone(),
                    contents: "[Unit]\n".into(),
                },
                Step::run("systemctl", &["daemon-reload"]),
            ],
        )
        .unwrap();
        let printed = String::from_utf8(os.out.into_inner()).unwrap();
        assert!(printed.contains(&format!("write {}:\n[Unit]\n", path.display())));
        assert!(printed.contains("run systemctl daemon-reload"));
        assert!(!path.exists());
    }

    #[test]
    fn status_exit_codes_follow_lsb() {
        assert_eq!(Status::Running { enabled: true }.exit_code(), 0);
        assert_eq!(Status::Stopped { enabled: true }.exit_code(), 3);
        assert_eq!(Status::Failed { detail: "x".into() }.exit_code(), 3);
        assert_eq!(Status::NotInstalled.exit_code(), 4);
    }
}

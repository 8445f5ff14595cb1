//! The Windows Service Control Manager, its pure side: the service's configuration and
//! launch arguments, what its states and error codes mean. Compiled and tested on every
//! platform; `windows_scm.rs` (Windows only) carries it out through the `windows-service`
//! crate and runs the engine as a real service.
//!
//! The SCM starts `standby.exe service run --config FILE`: that hidden subcommand hands the
//! process to the SCM's dispatcher, reports *running*, runs the headless engine, and on
//! the SCM's *stop* (or the machine's shutdown) reports *stop pending*, stops the engine and
//! reports *stopped*.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Action, Report, Scope, ServiceError, Spec, Status};

/// The service's key name (`sc query Standby`).
pub const SERVICE_NAME: &str = "Standby";
pub const DISPLAY_NAME: &str = "Standby DNS failover";
pub const DESCRIPTION: &str =
    "Polls the servers of each server set and keeps their host names pointing at one that works.";

/// How long the engine may take to stop before the SCM gives up on it.
pub const STOP_WAIT_HINT: Duration = Duration::from_secs(15);

/// The settings of the service: `%ProgramData%\Standby\standby.ron` (LocalSystem has no
/// user profile of an operator's).
pub fn system_settings() -> PathBuf {
    let program_data =
        std::env::var_os("ProgramData").unwrap_or_else(|| OsString::from(r"C:\ProgramData"));
    PathBuf::from(program_data)
        .join("Standby")
        .join("standby.ron")
}

/// The arguments the SCM starts the program with (the crate quotes them).
pub fn launch_arguments(settings: &Path) -> Vec<OsString> {
    vec![
        "service".into(),
        "run".into(),
        "--config".into(),
        settings.as_os_str().to_owned(),
    ]
}

/// What is registered: an own-process service started at boot, as LocalSystem, restarted
/// by the SCM after a crash (5 s, 5 s, then every 60 s; the count forgotten after a day).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceConfig {
    pub executable: PathBuf,
    pub arguments: Vec<OsString>,
    pub start_at_boot: bool,
    pub restart_delays: Vec<Duration>,
    pub reset_failures_after: Duration,
}

pub fn config(spec: &Spec) -> Result<ServiceConfig, ServiceError> {
    if spec.scope == Scope::User {
        return Err(ServiceError::Unsupported(
            "Windows services belong to the whole machine: install it without --user \
             (from an administrator's prompt)"
                .into(),
        ));
    }
    Ok(ServiceConfig {
        executable: spec.program.clone(),
        arguments: launch_arguments(&spec.settings),
        start_at_boot: true,
        restart_delays: vec![
            Duration::from_secs(5),
            Duration::from_secs(5),
            Duration::from_secs(60),
        ],
        reset_failures_after: Duration::from_secs(24 * 3600),
    })
}

/// The SCM's states (`SERVICE_STOPPED` …), mirrored so that their meaning is testable here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScmState {
    Stopped,
    StartPending,
    StopPending,
    Running,
    ContinuePending,
    PausePending,
    Paused,
}

/// The status from the SCM's state, the service's exit code (when stopped) and whether
/// it starts at boot.
pub fn status(state: ScmState, exit_code: u32, start_at_boot: bool) -> Status {
    match state {
        ScmState::Stopped if exit_code != 0 => Status::Failed {
            detail: format!("exit code {exit_code}: {}", explain(exit_code)),
        },
        ScmState::Stopped => Status::Stopped {
            enabled: start_at_boot,
        },
        ScmState::StartPending | ScmState::ContinuePending => Status::Starting,
        ScmState::StopPending => Status::Stopping,
        // Standby never accepts *pause*; a paused process still runs its engine.
        ScmState::Running | ScmState::PausePending | ScmState::Paused => Status::Running {
            enabled: start_at_boot,
        },
    }
}

pub const ERROR_ACCESS_DENIED: u32 = 5;
pub const ERROR_SERVICE_REQUEST_TIMEOUT: u32 = 1053;
pub const ERROR_SERVICE_ALREADY_RUNNING: u32 = 1056;
pub const ERROR_SERVICE_DOES_NOT_EXIST: u32 = 1060;
pub const ERROR_SERVICE_NOT_ACTIVE: u32 = 1062;
pub const ERROR_SERVICE_MARKED_FOR_DELETE: u32 = 1072;
pub const ERROR_SERVICE_EXISTS: u32 = 1073;
/// The service's own exit code when its engine could not start (ServiceSpecific).
pub const EXIT_ENGINE_FAILED: u32 = 1;

/// A Win32 error code of the SCM in words an operator can act on.
pub fn explain(code: u32) -> String {
    match code {
        ERROR_ACCESS_DENIED => "access denied: run it from an administrator's prompt".into(),
        ERROR_SERVICE_REQUEST_TIMEOUT => {
            "the service did not answer in time (see the Application event log)".into()
        }
        ERROR_SERVICE_ALREADY_RUNNING => "it runs already".into(),
        ERROR_SERVICE_DOES_NOT_EXIST => "the service is not installed".into(),
        ERROR_SERVICE_NOT_ACTIVE => "it does not run".into(),
        ERROR_SERVICE_MARKED_FOR_DELETE => {
            "it is being removed: close the Services console and try again".into()
        }
        ERROR_SERVICE_EXISTS => {
            "it is installed already (`standby service uninstall` first to change it)".into()
        }
        other => format!("Windows error {other}"),
    }
}

/// The outcome of `action` when the SCM answered with error `code`: some errors are the
/// wanted state already (stopping what does not run), the others are failures.
pub fn settle(action: Action, code: u32) -> Result<Report, ServiceError> {
    match (action, code) {
        (Action::Status, ERROR_SERVICE_DOES_NOT_EXIST) => Ok(Report::Status(Status::NotInstalled)),
        (Action::Uninstall, ERROR_SERVICE_DOES_NOT_EXIST) => {
            Ok(Report::Done("it was not installed".into()))
        }
        (Action::Start, ERROR_SERVICE_ALREADY_RUNNING) => {
            Ok(Report::Done("it runs already".into()))
        }
        (Action::Stop, ERROR_SERVICE_NOT_ACTIVE) => Ok(Report::Done("it was not running".into())),
        (_, code) => Err(ServiceError::Scm(explain(code))),
    }
}

pub fn perform(action: Action, spec: &Spec) -> Result<Report, ServiceError> {
    #[cfg(windows)]
    {
        super::windows_scm::perform(action, spec)
    }
    #[cfg(not(windows))]
    {
        let _ = (action, spec);
        Err(ServiceError::Unsupported(
            "the Windows service manager exists only on Windows".into(),
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec {
            program: r"C:\Program Files\Standby\standby.exe".into(),
            settings: r"C:\ProgramData\Standby\standby.ron".into(),
            scope: Scope::System,
        }
    }

    #[test]
    fn the_scm_starts_the_service_entry_on_the_settings() {
        let config = config(&spec()).unwrap();
        assert_eq!(
            config.arguments,
            [
                "service",
                "run",
                "--config",
                r"C:\ProgramData\Standby\standby.ron"
            ]
            .map(OsString::from)
        );
        assert_eq!(
            config.executable,
            PathBuf::from(r"C:\Program Files\Standby\standby.exe")
        );
        assert!(config.start_at_boot);
        assert_eq!(config.restart_delays.len(), 3);
    }

    #[test]
    fn a_user_service_is_refused_with_the_reason() {
        let e = config(&Spec {
            scope: Scope::User,
            ..spec()
        })
        .unwrap_err();
        assert!(e.to_string().contains("without --user"), "{e}");
    }

    #[test]
    fn scm_states_map_to_statuses() {
        let table = [
            (ScmState::Stopped, 0, Status::Stopped { enabled: true }),
            (
                ScmState::Stopped,
                ERROR_SERVICE_REQUEST_TIMEOUT,
                Status::Failed {
                    detail: "exit code 1053: the service did not answer in time (see the Application event log)".into(),
                },
            ),
            (ScmState::StartPending, 0, Status::Starting),
            (ScmState::ContinuePending, 0, Status::Starting),
            (ScmState::StopPending, 0, Status::Stopping),
            (ScmState::Running, 0, Status::Running { enabled: true }),
            (ScmState::Paused, 0, Status::Running { enabled: true }),
        ];
        for (state, code, want) in table {
            assert_eq!(status(state, code, true), want, "{state:?} {code}");
        }
        assert_eq!(
            status(ScmState::Running, 0, false),
            Status::Running { enabled: false }
        );
    }

    #[test]
    fn errors_that_are_the_wanted_state_settle_and_others_are_explained() {
        assert_eq!(
            settle(Action::Status, ERROR_SERVICE_DOES_NOT_EXIST).unwrap(),
            Report::Status(Status::NotInstalled)
        );
        assert!(settle(Action::Stop, ERROR_SERVICE_NOT_ACTIVE).is_ok());
        assert!(settle(Action::Start, ERROR_SERVICE_ALREADY_RUNNING).is_ok());
        assert!(settle(Action::Uninstall, ERROR_SERVICE_DOES_NOT_EXIST).is_ok());
        let e = settle(Action::Install, ERROR_ACCESS_DENIED).unwrap_err();
        assert!(e.to_string().contains("administrator"), "{e}");
        let e = settle(Action::Start, ERROR_SERVICE_DOES_NOT_EXIST).unwrap_err();
        assert!(e.to_string().contains("not installed"), "{e}");
        assert!(
            settle(Action::Install, 1234)
                .unwrap_err()
                .to_string()
                .contains("1234")
        );
    }
}

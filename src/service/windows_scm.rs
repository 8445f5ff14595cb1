//! The Windows Service Control Manager through the `windows-service` crate: registering,
//! starting, stopping and querying the service, and running as one (`service run`).
//! What is decided here is in `windows.rs` (pure, tested on every platform); this file
//! only carries it out.

use std::ffi::OsString;
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

use windows_service::service::{
    ServiceAccess, ServiceAction, ServiceActionType, ServiceControl, ServiceControlAccept,
    ServiceErrorControl, ServiceExitCode, ServiceFailureActions, ServiceFailureResetPeriod,
    ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
};
use windows_service::service_control_handler::{
    self, ServiceControlHandlerResult, ServiceStatusHandle,
};
use windows_service::service_dispatcher;
use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

use super::windows::{
    DESCRIPTION, DISPLAY_NAME, EXIT_ENGINE_FAILED, SERVICE_NAME, STOP_WAIT_HINT, ScmState, config,
    settle, status,
};
use super::{Action, Report, ServiceError, Spec};

fn scm_state(state: ServiceState) -> ScmState {
    match state {
        ServiceState::Stopped => ScmState::Stopped,
        ServiceState::StartPending => ScmState::StartPending,
        ServiceState::StopPending => ScmState::StopPending,
        ServiceState::Running => ScmState::Running,
        ServiceState::ContinuePending => ScmState::ContinuePending,
        ServiceState::PausePending => ScmState::PausePending,
        ServiceState::Paused => ScmState::Paused,
    }
}

fn exit_code(code: &ServiceExitCode) -> u32 {
    match code {
        ServiceExitCode::Win32(code) | ServiceExitCode::ServiceSpecific(code) => *code,
    }
}

/// Does `action`; an SCM error becomes the report it means (`settle`) or its explanation.
pub fn perform(action: Action, spec: &Spec) -> Result<Report, ServiceError> {
    match attempt(action, spec) {
        Ok(report) => Ok(report),
        Err(Failure::Ours(e)) => Err(e),
        Err(Failure::Scm(windows_service::Error::Winapi(e))) => match e.raw_os_error() {
            Some(code) => settle(action, code as u32),
            None => Err(ServiceError::Scm(e.to_string())),
        },
        Err(Failure::Scm(e)) => Err(ServiceError::Scm(e.to_string())),
    }
}

enum Failure {
    Ours(ServiceError),
    Scm(windows_service::Error),
}

impl From<windows_service::Error> for Failure {
    fn from(e: windows_service::Error) -> Failure {
        Failure::Scm(e)
    }
}

fn attempt(action: Action, spec: &Spec) -> Result<Report, Failure> {
    let create = action == Action::Install;
    let access = if create {
        ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE
    } else {
        ServiceManagerAccess::CONNECT
    };
    let manager = ServiceManager::local_computer(None::<&str>, access)?;
    match action {
        Action::Install => {
            let config = config(spec).map_err(Failure::Ours)?;
            let info = ServiceInfo {
                name: SERVICE_NAME.into(),
                display_name: DISPLAY_NAME.into(),
                service_type: ServiceType::OWN_PROCESS,
                start_type: if config.start_at_boot {
                    ServiceStartType::AutoStart
                } else {
                    ServiceStartType::OnDemand
                },
                error_control: ServiceErrorControl::Normal,
                executable_path: config.executable.clone(),
                launch_arguments: config.arguments.clone(),
                dependencies: Vec::new(),
                // LocalSystem.
                account_name: None,
                account_password: None,
            };
            let service = manager.create_service(&info, ServiceAccess::CHANGE_CONFIG)?;
            service.set_description(DESCRIPTION)?;
            service.update_failure_actions(ServiceFailureActions {
                reset_period: ServiceFailureResetPeriod::After(config.reset_failures_after),
                reboot_msg: None,
                command: None,
                actions: Some(
                    config
                        .restart_delays
                        .iter()
                        .map(|delay| ServiceAction {
                            action_type: ServiceActionType::Restart,
                            delay: *delay,
                        })
                        .collect(),
                ),
            })?;
            Ok(Report::Done(format!(
                "installed the service {SERVICE_NAME} (settings {}); it starts at boot; start it \
                 now with `standby service start`",
                spec.settings.display()
            )))
        }
        Action::Uninstall => {
            let service = manager.open_service(
                SERVICE_NAME,
                ServiceAccess::QUERY_STATUS | ServiceAccess::STOP | ServiceAccess::DELETE,
            )?;
            // Deleted once it has stopped and its last handle is closed.
            service.delete()?;
            if service.query_status()?.current_state != ServiceState::Stopped {
                service.stop()?;
                wait_until_stopped(&service)?;
            }
            Ok(Report::Done(format!(
                "stopped and removed the service {SERVICE_NAME} (the settings stay in {})",
                spec.settings.display()
            )))
        }
        Action::Start => {
            let service = manager.open_service(SERVICE_NAME, ServiceAccess::START)?;
            service.start::<OsString>(&[])?;
            Ok(Report::Done(format!("started the service {SERVICE_NAME}")))
        }
        Action::Stop => {
            let service = manager.open_service(
                SERVICE_NAME,
                ServiceAccess::STOP | ServiceAccess::QUERY_STATUS,
            )?;
            service.stop()?;
            Ok(Report::Done(if wait_until_stopped(&service)? {
                format!("stopped the service {SERVICE_NAME}")
            } else {
                format!("asked the service {SERVICE_NAME} to stop; it is still stopping")
            }))
        }
        Action::Status => {
            let service = manager.open_service(
                SERVICE_NAME,
                ServiceAccess::QUERY_STATUS | ServiceAccess::QUERY_CONFIG,
            )?;
            let now = service.query_status()?;
            let at_boot = service.query_config()?.start_type == ServiceStartType::AutoStart;
            Ok(Report::Status(status(
                scm_state(now.current_state),
                exit_code(&now.exit_code),
                at_boot,
            )))
        }
    }
}

/// Waits (bounded by the stop hint and some) for the service to report *stopped*.
fn wait_until_stopped(service: &windows_service::service::Service) -> Result<bool, Failure> {
    let deadline = Instant::now() + STOP_WAIT_HINT + Duration::from_secs(5);
    while Instant::now() < deadline {
        if service.query_status()?.current_state == ServiceState::Stopped {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(false)
}

/// What the service runs: the headless engine until the stop signal. Its error is logged
/// and becomes the service's specific exit code.
pub type Body = Box<dyn FnOnce(StopSignal) -> Result<(), Box<dyn std::error::Error>> + Send>;

/// The SCM's stop (or the machine's shutdown), for the body to wait on.
pub struct StopSignal {
    stop: mpsc::Receiver<()>,
    handle: ServiceStatusHandle,
}

impl StopSignal {
    /// Blocks until the SCM asks the service to stop, then reports *stop pending* (with
    /// time to stop the engine).
    pub fn wait(self) {
        // A closed channel (the handler gone) is a stop too.
        let _ = self.stop.recv();
        if let Err(e) = self.handle.set_service_status(service_status(
            ServiceState::StopPending,
            ServiceControlAccept::empty(),
            ServiceExitCode::NO_ERROR,
            STOP_WAIT_HINT,
        )) {
            tracing::warn!("cannot report the service stopping: {e}");
        }
    }
}

// The SCM calls the service's entry through a bare function pointer, with no context of
// ours: the body it is to run waits here, put once by `run_as_service` and taken once.
static BODY: Mutex<Option<Body>> = Mutex::new(None);

/// Hands this process to the SCM's dispatcher (`standby service run`), which calls the
/// service entry on a thread of its own; returns when the service has stopped.
pub fn run_as_service(body: Body) -> Result<(), ServiceError> {
    if let Ok(mut slot) = BODY.lock() {
        *slot = Some(body);
    }
    service_dispatcher::start(SERVICE_NAME, ffi_service_main).map_err(|e| {
        ServiceError::Scm(format!(
            "cannot run as a service ({e}): `service run` is for the Service Control \
             Manager; in a console run `standby --headless`"
        ))
    })
}

// The dispatcher's entry: it parses the SCM's raw arguments (unused: the launch
// arguments of `service run` carry the settings path).
windows_service::define_windows_service!(ffi_service_main, service_main_entry);

fn service_main_entry(_arguments: Vec<OsString>) {
    service_main();
}

fn service_main() {
    let body = BODY.lock().ok().and_then(|mut slot| slot.take());
    let Some(body) = body else {
        return;
    };
    if let Err(e) = serve(body) {
        tracing::error!("the Windows service: {e}");
    }
}

fn service_status(
    state: ServiceState,
    accept: ServiceControlAccept,
    exit_code: ServiceExitCode,
    wait_hint: Duration,
) -> ServiceStatus {
    ServiceStatus {
        service_type: ServiceType::OWN_PROCESS,
        current_state: state,
        controls_accepted: accept,
        exit_code,
        checkpoint: 0,
        wait_hint,
        process_id: None,
    }
}

fn serve(body: Body) -> windows_service::Result<()> {
    let (stop_tx, stop_rx) = mpsc::channel();
    let handler = move |control| match control {
        ServiceControl::Stop | ServiceControl::Shutdown => {
            // The body may have ended already: then there is nobody to tell.
            let _ = stop_tx.send(());
            ServiceControlHandlerResult::NoError
        }
        ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
        _ => ServiceControlHandlerResult::NotImplemented,
    };
    let handle = service_control_handler::register(SERVICE_NAME, handler)?;
    handle.set_service_status(service_status(
        ServiceState::Running,
        ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN,
        ServiceExitCode::NO_ERROR,
        Duration::ZERO,
    ))?;
    let exit = match body(StopSignal {
        stop: stop_rx,
        handle,
    }) {
        Ok(()) => ServiceExitCode::NO_ERROR,
        Err(e) => {
            tracing::error!("the engine: {e}");
            ServiceExitCode::ServiceSpecific(EXIT_ENGINE_FAILED)
        }
    };
    handle.set_service_status(service_status(
        ServiceState::Stopped,
        ServiceControlAccept::empty(),
        exit,
        Duration::ZERO,
    ))
}

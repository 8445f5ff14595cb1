//! A program run with an argument vector (never through a shell), tags expanded in each
//! argument. Its exit code is logged; a hung program is killed after the time-out.

use super::{BoxFuture, FailureKind, Notifier, NotifyError, Stage};
use crate::exec::{CommandFailure, ExecError, PreparedCommand};
use crate::model::criteria::{CommandSpec, CommandWait};
use crate::model::tags::TagValues;

pub struct CommandNotifier {
    prepared: PreparedCommand,
}

impl CommandNotifier {
    pub fn new(spec: &CommandSpec) -> Result<Self, NotifyError> {
        if spec.program.trim().is_empty() {
            return Err(NotifyError::settings("command: no program given"));
        }
        // A notification always waits for its program: its exit code is logged, and a
        // program that hangs is killed rather than left behind. Without a rule of its own
        // any exit code is accepted.
        let mut spec = spec.clone();
        if spec.wait.is_none() {
            spec.wait = Some(CommandWait {
                exit_code: None,
                ..CommandWait::default()
            });
        }
        let prepared = PreparedCommand::new(&spec)
            .map_err(|e| NotifyError::settings(format!("command: output rule: {e}")))?;
        Ok(Self { prepared })
    }
}

impl Notifier for CommandNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        Box::pin(async move {
            let program = &self.prepared.spec.program;
            self.prepared
                .run(tags, None)
                .await
                .map(|text| format!("{program}: {text}"))
                .map_err(|failure| match failure {
                    CommandFailure::Exec(e @ ExecError::Timeout { .. }) => {
                        NotifyError::new(FailureKind::Timeout, Stage::Answer, e.to_string())
                    }
                    CommandFailure::Exec(e @ ExecError::Output { .. }) => {
                        NotifyError::new(FailureKind::ClosedEarly, Stage::Answer, e.to_string())
                    }
                    CommandFailure::Exec(e) => {
                        NotifyError::new(FailureKind::Network, Stage::Connecting, e.to_string())
                    }
                    CommandFailure::Judged { why, .. } => NotifyError::new(
                        FailureKind::WrongAnswer,
                        Stage::Answer,
                        format!("{program}: {why}"),
                    ),
                })
        })
    }
}

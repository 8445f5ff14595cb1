//! Command-line update (SPEC §4): a program run with the update tags in its arguments, each
//! argument one argv item (never through a shell), judged like the command-line poll.

use super::{BoxFuture, BuildError, DnsError, DnsStage, DnsUpdater, FailureKind, UpdateRequest};
use crate::exec::{CommandFailure, ExecError, PreparedCommand, describe};
use crate::model::CommandSpec;
use crate::model::criteria::Mismatch;

/// A command-line update method, ready to update.
#[derive(Debug)]
pub struct CommandUpdater {
    command: PreparedCommand,
}

impl CommandUpdater {
    pub fn new(settings: &CommandSpec) -> Result<Self, BuildError> {
        if settings.program.trim().is_empty() {
            return Err(BuildError::Invalid("no program given".into()));
        }
        let command = PreparedCommand::new(settings).map_err(|e| {
            BuildError::Invalid(format!("bad regular expression for the output: {e}"))
        })?;
        Ok(Self { command })
    }
}

impl DnsUpdater for CommandUpdater {
    fn update<'a>(&'a self, request: &'a UpdateRequest) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(async move {
            self.command
                .run(&request.tags(), Some(request.timeout))
                .await
                .map_err(|f| error_of(&f))
        })
    }
}

/// `exit code 2: zone not found`, `killed after 10 s`, `cannot start nsupd: ...`.
pub(super) fn error_of(failure: &CommandFailure) -> DnsError {
    let (kind, text) = match failure {
        CommandFailure::Exec(ExecError::Timeout { seconds, .. }) => (
            FailureKind::Timeout,
            format!("killed after {} s", seconds.as_secs()),
        ),
        CommandFailure::Exec(e) => (FailureKind::Network, e.to_string()),
        // The exit code with the program's first line of output says more than the rule.
        CommandFailure::Judged {
            finished,
            why: why @ Mismatch::Output(_),
        } => (
            FailureKind::WrongAnswer,
            format!("{}: {why}", describe_code(finished)),
        ),
        CommandFailure::Judged { finished, .. } => (FailureKind::WrongAnswer, describe(finished)),
    };
    DnsError::new(kind, DnsStage::Updating, text)
}

fn describe_code(finished: &crate::exec::Finished) -> String {
    match finished.exit_code {
        Some(code) => format!("exit code {code}"),
        None => "ended by a signal".into(),
    }
}

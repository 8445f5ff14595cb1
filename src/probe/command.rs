//! Command-line polling (SPEC §1): run a program per server with tagged arguments (never
//! through a shell); wait up to N s and judge its exit code and output, or only start it.

use tokio::time::Instant;

use super::{
    BoxFuture, BuildError, Failure, FailureKind, PollOutcome, PollStage, PollTarget, Probe,
};
use crate::exec::{CommandFailure, ExecError, PreparedCommand, describe};
use crate::model::criteria::{CommandSpec, Mismatch};
use crate::model::tags::TagValues;

/// A command-line poll, ready to poll any server of its set.
pub struct CommandProbe {
    command: PreparedCommand,
}

impl CommandProbe {
    pub fn new(spec: &CommandSpec) -> Result<Self, BuildError> {
        if spec.program.trim().is_empty() {
            return Err(BuildError::Invalid(
                "a command-line poll needs a program".into(),
            ));
        }
        Ok(Self {
            command: PreparedCommand::new(spec)?,
        })
    }
}

/// The values of the poll tags (`model::tags::POLL_TAGS`) for one server.
pub fn tags(target: &PollTarget) -> TagValues {
    // A command poll has no port of its own; the tag is known, so it expands to nothing
    // rather than staying as written.
    super::poll_tags(target, None)
}

impl Probe for CommandProbe {
    fn poll<'a>(&'a self, target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move {
            let start = Instant::now();
            // The program's own wait is cut short by the poll's time-out.
            let result = self.command.run(&tags(target), Some(target.timeout)).await;
            match result {
                Ok(text) => PollOutcome::success(text, start.elapsed()),
                Err(failure) => {
                    let (kind, stage, text) = classify(failure);
                    PollOutcome::failure(Failure::new(kind, stage), text, start.elapsed())
                }
            }
        })
    }
}

/// Problem kind, stage and text of a command that did not succeed.
fn classify(failure: CommandFailure) -> (FailureKind, PollStage, String) {
    match failure {
        CommandFailure::Exec(e @ (ExecError::NoProgram | ExecError::Start { .. })) => {
            // No pipe or process could be made: the monitor's shortage, not the server's.
            let shortage = match &e {
                ExecError::Start { source, .. } => crate::resources::shortage(source),
                _ => None,
            };
            match shortage {
                Some(shortage) => {
                    let local = super::local_failure(PollStage::Connecting, shortage, &e);
                    (local.failure.kind, local.failure.stage, local.text)
                }
                None => (FailureKind::Network, PollStage::Connecting, e.to_string()),
            }
        }
        CommandFailure::Exec(e @ ExecError::Timeout { .. }) => {
            (FailureKind::Timeout, PollStage::Waiting, e.to_string())
        }
        CommandFailure::Exec(e @ ExecError::Output { .. }) => {
            (FailureKind::Network, PollStage::ReadingBody, e.to_string())
        }
        CommandFailure::Judged { finished, why } => {
            // An exit-code reason already names the code; an output reason gets it added.
            let text = if matches!(why, Mismatch::ExitCode { .. } | Mismatch::Signal) {
                why.to_string()
            } else {
                format!("{}: {why}", describe(&finished))
            };
            (FailureKind::WrongAnswer, PollStage::Judging, text)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::tags::POLL_TAGS;
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    #[test]
    fn every_poll_tag_has_a_value() {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let tags = tags(&PollTarget {
            address: ip,
            public_address: ip,
            name: "a".into(),
            host: "h".into(),
            set_name: "s".into(),
            timeout: Duration::from_secs(7),
        });
        for tag in POLL_TAGS {
            assert!(tags.get(tag).is_some(), "{tag}");
        }
        assert_eq!(tags.get("TIMEOUT"), Some("7"));
    }

    #[test]
    fn no_program_is_a_build_error() {
        assert!(matches!(
            CommandProbe::new(&CommandSpec::default()),
            Err(BuildError::Invalid(_))
        ));
    }
}

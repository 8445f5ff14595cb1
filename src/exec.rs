//! Runs a program with an argument vector (never through a shell), with a time-out, and
//! captures its output. Shared by the command-line poll, DNS update and notification.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::time::Instant;

use crate::model::criteria::{CommandSpec, CompiledTextRule, ExitCodeRule, Mismatch};
use crate::model::tags::{Encoding, TagValues, expand};

/// Standard output kept for judging; the rest is read and dropped.
const STDOUT_KEPT: usize = 64 * 1024;

/// A finished program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// `None` when it was ended by a signal.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub elapsed: Duration,
}

/// Why a program could not be run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("no program given")]
    NoProgram,
    #[error("cannot start {program}: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} still running after {} s: killed", seconds.as_secs())]
    Timeout { program: String, seconds: Duration },
    #[error("reading the output of {program}: {source}")]
    Output {
        program: String,
        source: std::io::Error,
    },
}

/// A [`CommandSpec`] ready to run: its stdout rule compiled.
#[derive(Clone, Debug)]
pub struct PreparedCommand {
    pub spec: CommandSpec,
    stdout_rule: Option<CompiledTextRule>,
}

impl PreparedCommand {
    pub fn new(spec: &CommandSpec) -> Result<Self, regex::Error> {
        let stdout_rule = match spec.wait.as_ref().and_then(|w| w.stdout.as_ref()) {
            Some(rule) => Some(rule.compile()?),
            None => None,
        };
        Ok(Self {
            spec: spec.clone(),
            stdout_rule,
        })
    }

    /// The argument vector with tags expanded (each argument stays one argv item).
    pub fn args(&self, tags: &TagValues) -> Vec<String> {
        self.spec
            .args
            .iter()
            .map(|a| expand(a, tags, Encoding::Plain))
            .collect()
    }

    /// Runs the command: waits and judges when the spec says so, otherwise only starts it.
    /// `Ok` carries a short text for the log (`exit code 0`, `started`).
    pub async fn run(
        &self,
        tags: &TagValues,
        limit: Option<Duration>,
    ) -> Result<String, CommandFailure> {
        let args = self.args(tags);
        let Some(wait) = &self.spec.wait else {
            start_detached(&self.spec.program, &args).map_err(CommandFailure::Exec)?;
            return Ok("started".into());
        };
        let mut timeout = Duration::from_secs(u64::from(wait.timeout_secs.max(1)));
        if let Some(limit) = limit {
            timeout = timeout.min(limit);
        }
        let finished = run(&self.spec.program, &args, timeout)
            .await
            .map_err(CommandFailure::Exec)?;
        judge(
            &finished,
            wait.exit_code.as_ref(),
            self.stdout_rule.as_ref(),
        )
        .map_err(|why| CommandFailure::Judged {
            finished: finished.clone(),
            why,
        })?;
        Ok(describe(&finished))
    }
}

/// A command that did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CommandFailure {
    #[error(transparent)]
    Exec(ExecError),
    #[error("{why}")]
    Judged { finished: Finished, why: Mismatch },
}

/// `exit code 0: first line of output`.
pub fn describe(finished: &Finished) -> String {
    let code = match finished.exit_code {
        Some(code) => format!("exit code {code}"),
        None => "ended by a signal".into(),
    };
    match finished.stdout.lines().find(|l| !l.trim().is_empty()) {
        Some(line) => format!("{code}: {}", line.trim()),
        None => code,
    }
}

/// Judges a finished program by its exit code and standard output.
pub fn judge(
    finished: &Finished,
    exit_code: Option<&ExitCodeRule>,
    stdout: Option<&CompiledTextRule>,
) -> Result<(), Mismatch> {
    if let Some(rule) = exit_code {
        match finished.exit_code {
            Some(code) => rule.judge(code)?,
            None => return Err(Mismatch::Signal),
        }
    }
    if let Some(rule) = stdout {
        rule.judge(&finished.stdout)
            .map_err(|why| Mismatch::Output(Box::new(why)))?;
    }
    Ok(())
}

/// Runs `program args…`, waits up to `timeout`, kills it when it is late.
pub async fn run(program: &str, args: &[String], timeout: Duration) -> Result<Finished, ExecError> {
    if program.trim().is_empty() {
        return Err(ExecError::NoProgram);
    }
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| ExecError::Start {
            program: program.to_string(),
            source,
        })?;
    let mut stdout = child.stdout.take();
    let work = async {
        let mut kept = Vec::new();
        if let Some(out) = stdout.as_mut() {
            let mut buf = [0u8; 8192];
            loop {
                let n = out.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                let room = STDOUT_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
        let status = child.wait().await?;
        Ok::<_, std::io::Error>((status, kept))
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(Ok((status, kept))) => Ok(Finished {
            exit_code: status.code(),
            stdout: String::from_utf8_lossy(&kept).into_owned(),
            elapsed: started.elapsed(),
        }),
        Ok(Err(source)) => Err(ExecError::Output {
            program: program.to_string(),
            source,
        }),
        // The child is killed when dropped (kill_on_drop).
        Err(_) => Err(ExecError::Timeout {
            program: program.to_string(),
            seconds: timeout,
        }),
    }
}

/// Starts `program args…` without waiting; it is reaped in the background.
pub fn start_detached(program: &str, args: &[String]) -> Result<(), ExecError> {
    if program.trim().is_empty() {
        return Err(ExecError::NoProgram);
    }
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|source| ExecError::Start {
            program: program.to_string(),
            source,
        })?;
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok(())
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::criteria::{CommandWait, Comparison, TextRule};

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn captures_output_and_exit_code() {
        let f = run(
            "sh",
            &args(&["-c", "echo hello; exit 3"]),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
        assert_eq!(f.exit_code, Some(3));
        assert_eq!(f.stdout, "hello\n");
        assert_eq!(describe(&f), "exit code 3: hello");
    }

    #[tokio::test]
    async fn a_hung_program_is_killed() {
        let started = std::time::Instant::now();
        let err = run("sleep", &args(&["30"]), Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(err, ExecError::Timeout { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn missing_program_is_named() {
        let err = run("/nonexistent/prog", &[], Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot start /nonexistent/prog"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn tags_stay_one_argument_each() {
        let spec = CommandSpec {
            program: "printf".into(),
            args: args(&["%s|", "$HOST$", "a b; rm -rf /"]),
            wait: Some(CommandWait {
                timeout_secs: 5,
                exit_code: Some(ExitCodeRule {
                    comparison: Comparison::Equal,
                    code: 0,
                }),
                stdout: Some(TextRule::Contains("www.example.com|".into())),
            }),
        };
        let prepared = PreparedCommand::new(&spec).unwrap();
        let tags = TagValues::new().with("HOST", "www.example.com");
        let text = prepared.run(&tags, None).await.unwrap();
        assert_eq!(text, "exit code 0: www.example.com|a b; rm -rf /|");
    }

    #[tokio::test]
    async fn judging_failures() {
        let spec = CommandSpec {
            program: "sh".into(),
            args: args(&["-c", "echo down; exit 1"]),
            wait: Some(CommandWait::default()),
        };
        let err = PreparedCommand::new(&spec)
            .unwrap()
            .run(&TagValues::new(), None)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "exit code 1 is not = 0");
        let detached = CommandSpec { wait: None, ..spec };
        assert_eq!(
            PreparedCommand::new(&detached)
                .unwrap()
                .run(&TagValues::new(), None)
                .await
                .unwrap(),
            "started"
        );
    }
}

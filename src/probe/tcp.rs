//! TCP polling (SPEC §1): connect to a port, optionally send a text, and optionally judge
//! the greeting (or the reply to the text); FTP, SMTP, POP3, IMAP, NNTP, Redis and
//! Memcached are presets of it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::ftp::LoginCheck;
use super::{
    BoxFuture, BuildError, FailureKind, PollOutcome, PollStage, PollTarget, Probe, StageError,
    io_failure, seconds, stage,
};
use crate::model::criteria::CompiledTextRule;
use crate::model::{TcpPoll, TcpService, TextRule};

/// A greeting is its first line, or this many bytes if no line ends before.
const GREETING_LIMIT: usize = 100;

/// A TCP poll, ready to poll any server of its set.
pub struct TcpProbe {
    port: u16,
    /// `None`: connecting is enough.
    greeting: Option<CompiledTextRule>,
    greeting_timeout: Duration,
    service: TcpService,
    /// FTP only: log in after the greeting.
    login: Option<LoginCheck>,
    /// Sent right after connecting; its reply is judged instead of a greeting.
    send: Option<Vec<u8>>,
}

impl TcpProbe {
    pub fn new(settings: &TcpPoll) -> Result<Self, BuildError> {
        let port = settings
            .effective_port()
            .ok_or_else(|| BuildError::Invalid("a TCP poll needs a port".into()))?;
        let send = settings
            .effective_send()
            .map(crate::model::escapes::unescape)
            .transpose()
            .map_err(|e| BuildError::Invalid(format!("text to send: {e}")))?;
        // A text sent wants a reply, even without a rule to judge it.
        let greeting = settings
            .effective_greeting()
            .or_else(|| send.as_ref().map(|_| TextRule::Any))
            .map(|rule| rule.compile())
            .transpose()?;
        let login = match (&settings.ftp_login, settings.service) {
            (Some(login), TcpService::Ftp) => Some(LoginCheck::new(login)?),
            _ => None,
        };
        Ok(Self {
            port,
            send,
            greeting,
            greeting_timeout: settings.greeting_timeout,
            service: settings.service,
            login,
        })
    }

    async fn run(&self, target: &PollTarget, start: Instant) -> Result<String, StageError> {
        let deadline = start + target.timeout;
        let mut stream = stage(
            deadline,
            PollStage::Connecting,
            &format!("after {} s connecting", seconds(target.timeout)),
            TcpStream::connect(SocketAddr::new(target.address, self.port)),
        )
        .await?
        .map_err(|e| io_failure(PollStage::Connecting, &e))?;
        // The greeting has its own time-out, cut short by the poll's.
        let greeting_deadline = Instant::now() + self.greeting_timeout;
        let (wait_deadline, waited) = if greeting_deadline < deadline {
            (greeting_deadline, self.greeting_timeout)
        } else {
            (deadline, target.timeout)
        };
        // With a text sent, what comes back is its reply, not a greeting.
        let noun = if self.send.is_some() {
            "reply"
        } else {
            "greeting"
        };
        let waiting = format!("after {} s waiting for {noun}", seconds(waited));
        if let Some(login) = &self.login {
            let host = if target.host.trim().is_empty() {
                target.address.to_string()
            } else {
                target.host.trim().to_owned()
            };
            let after = seconds(target.timeout);
            return login
                .run(
                    stream,
                    self.greeting.as_ref(),
                    &host,
                    (wait_deadline, waiting),
                    deadline,
                    &after,
                )
                .await;
        }
        if let Some(bytes) = &self.send {
            stage(
                deadline,
                PollStage::Sending,
                &format!("after {} s sending", seconds(target.timeout)),
                stream.write_all(bytes),
            )
            .await?
            .map_err(|e| io_failure(PollStage::Sending, &e))?;
        }
        let Some(rule) = &self.greeting else {
            return Ok("connected".into());
        };
        let greeting = stage(
            wait_deadline,
            PollStage::Waiting,
            &waiting,
            read_greeting(&mut stream, noun),
        )
        .await??;
        rule.judge(&greeting).map_err(|why| {
            StageError::new(
                FailureKind::WrongAnswer,
                PollStage::Judging,
                format!("{}: {why}", greeting.trim()),
            )
        })?;
        if let Some(goodbye) = self.service.goodbye() {
            // A clean session end keeps the daemon's log quiet; whether it arrives does not
            // change the outcome.
            let _ = tokio::time::timeout_at(deadline, async {
                stream.write_all(goodbye).await?;
                stream.shutdown().await
            })
            .await;
        }
        Ok(greeting.trim().to_owned())
    }
}

impl Probe for TcpProbe {
    fn poll<'a>(&'a self, target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move {
            let start = Instant::now();
            match self.run(target, start).await {
                Ok(text) => PollOutcome::success(text, start.elapsed()),
                Err(e) => e.into_outcome(start.elapsed()),
            }
        })
    }
}

/// Reads the first line (without its line end) or the first [`GREETING_LIMIT`] bytes. A
/// close after part of a greeting yields that part; a close before any byte is a failure.
async fn read_greeting(stream: &mut TcpStream, noun: &str) -> Result<String, StageError> {
    let mut buffer = [0u8; GREETING_LIMIT];
    let mut filled = 0;
    while filled < GREETING_LIMIT {
        let n = stream
            .read(&mut buffer[filled..])
            .await
            .map_err(|e| io_failure(PollStage::Waiting, &e))?;
        if n == 0 {
            break;
        }
        let seen = filled;
        filled += n;
        if let Some(end) = buffer[seen..filled].iter().position(|&b| b == b'\n') {
            filled = seen + end;
            break;
        }
    }
    if filled == 0 {
        return Err(StageError::new(
            FailureKind::ClosedEarly,
            PollStage::Waiting,
            format!("connection closed before {noun}"),
        ));
    }
    let line = String::from_utf8_lossy(&buffer[..filled]);
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn presets_and_ports() {
        let ftp = TcpProbe::new(&TcpPoll {
            service: TcpService::Ftp,
            ..TcpPoll::default()
        })
        .unwrap();
        assert_eq!(ftp.port, 21);
        assert!(ftp.greeting.is_some());

        let custom = TcpProbe::new(&TcpPoll {
            port: Some(8080),
            ..TcpPoll::default()
        })
        .unwrap();
        assert_eq!(custom.port, 8080);
        assert!(custom.greeting.is_none());
    }

    #[test]
    fn redis_and_memcached_send_and_expect() {
        let redis = TcpProbe::new(&TcpPoll {
            service: TcpService::Redis,
            ..TcpPoll::default()
        })
        .unwrap();
        assert_eq!(redis.port, 6379);
        assert_eq!(redis.send.as_deref(), Some(&b"PING\r\n"[..]));
        assert!(redis.greeting.as_ref().unwrap().judge("+PONG").is_ok());
        let memcached = TcpProbe::new(&TcpPoll {
            service: TcpService::Memcached,
            ..TcpPoll::default()
        })
        .unwrap();
        assert_eq!(memcached.port, 11211);
        assert_eq!(memcached.send.as_deref(), Some(&b"version\r\n"[..]));
        // Sending nothing on purpose, and a custom text that only needs a reply.
        let quiet = TcpProbe::new(&TcpPoll {
            service: TcpService::Redis,
            send: Some(String::new()),
            ..TcpPoll::default()
        })
        .unwrap();
        assert!(quiet.send.is_none());
        let custom = TcpProbe::new(&TcpPoll {
            port: Some(7),
            send: Some(r"\x01hi\r\n".into()),
            ..TcpPoll::default()
        })
        .unwrap();
        assert_eq!(custom.send.as_deref(), Some(&b"\x01hi\r\n"[..]));
        assert!(custom.greeting.as_ref().unwrap().judge("anything").is_ok());
        assert!(matches!(
            TcpProbe::new(&TcpPoll {
                port: Some(7),
                send: Some(r"\q".into()),
                ..TcpPoll::default()
            }),
            Err(BuildError::Invalid(_))
        ));
    }

    #[test]
    fn custom_without_port_is_a_build_error() {
        assert!(matches!(
            TcpProbe::new(&TcpPoll::default()),
            Err(BuildError::Invalid(_))
        ));
    }

    #[test]
    fn bad_regex_is_a_build_error() {
        let settings = TcpPoll {
            port: Some(1),
            greeting: Some(TextRule::Matches("(".into())),
            ..TcpPoll::default()
        };
        assert!(matches!(
            TcpProbe::new(&settings),
            Err(BuildError::Regex(_))
        ));
    }
}

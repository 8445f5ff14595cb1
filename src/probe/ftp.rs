//! The FTP login check of an FTP poll (SPEC §1 presets): after the greeting, optionally
//! AUTH TLS (explicit FTPS), then USER / PASS, then QUIT. Called from the TCP probe.

use std::sync::Arc;

use rustls::ClientConfig;
use suppaftp::FtpError;
use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::{BuildError, FailureKind, PollStage, StageError, io_failure, stage, tls};
use crate::model::FtpLogin;
use crate::model::criteria::CompiledTextRule;

/// A login check, ready to run on a connected control channel.
pub struct LoginCheck {
    login: FtpLogin,
    /// `Some` for explicit FTPS.
    tls: Option<Arc<ClientConfig>>,
}

impl LoginCheck {
    pub fn new(login: &FtpLogin) -> Result<Self, BuildError> {
        if login.user.trim().is_empty() {
            return Err(BuildError::Invalid(
                "the FTP login check needs a user".into(),
            ));
        }
        let tls = if login.explicit_tls {
            let mut config = (*tls::client_config(login.verify_certificate)?).clone();
            // The shared config offers HTTP/1.1 by ALPN; FTP has no business saying so.
            config.alpn_protocols.clear();
            Some(Arc::new(config))
        } else {
            None
        };
        Ok(Self {
            login: login.clone(),
            tls,
        })
    }

    /// Reads the greeting (its own deadline), judges it, logs in and says goodbye. `host`
    /// is the TLS server name (the set's main host name, or the address).
    pub async fn run(
        &self,
        tcp: TcpStream,
        rule: Option<&CompiledTextRule>,
        host: &str,
        greeting_deadline: (Instant, String),
        deadline: Instant,
        after: &str,
    ) -> Result<String, StageError> {
        let (wait_until, waiting) = greeting_deadline;
        let mut ftp = stage(
            wait_until,
            PollStage::Waiting,
            &waiting,
            AsyncRustlsFtpStream::connect_with_stream(tcp),
        )
        .await?
        .map_err(|e| ftp_failure(PollStage::Waiting, e))?;
        let greeting = first_line(ftp.get_welcome_msg().unwrap_or_default());
        if let Some(rule) = rule {
            rule.judge(&greeting).map_err(|why| {
                StageError::new(
                    FailureKind::WrongAnswer,
                    PollStage::Judging,
                    format!("{greeting}: {why}"),
                )
            })?;
        }
        let mut how = "";
        if let Some(config) = &self.tls {
            let connector = AsyncRustlsConnector::from(TlsConnector::from(config.clone()));
            ftp = stage(
                deadline,
                PollStage::Tls,
                &format!("after {after} s in AUTH TLS"),
                ftp.into_secure(
                    connector,
                    host.trim_start_matches('[').trim_end_matches(']'),
                ),
            )
            .await?
            .map_err(|e| ftp_failure(PollStage::Tls, e))?;
            how = " over TLS";
        }
        stage(
            deadline,
            PollStage::Judging,
            &format!("after {after} s logging in"),
            ftp.login(self.login.user.as_str(), self.login.password.expose()),
        )
        .await?
        .map_err(|e| ftp_failure(PollStage::Judging, e))?;
        // A clean session end keeps the daemon's log quiet; whether QUIT is answered does
        // not change the outcome.
        let _ = tokio::time::timeout_at(deadline, ftp.quit()).await;
        Ok(format!(
            "{greeting}; logged in{how} as {}",
            self.login.user.trim()
        ))
    }
}

/// The first line of a (possibly multi-line) reply.
fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().trim().to_owned()
}

/// Classifies a suppaftp error at a stage: a refused login is a wrong answer, a TLS error
/// a network failure of the TLS stage, the rest as their I/O errors say.
fn ftp_failure(stage: PollStage, error: FtpError) -> StageError {
    match error {
        FtpError::ConnectionError(io) => io_failure(stage, &io),
        FtpError::SecureError(text) => {
            StageError::new(FailureKind::Network, PollStage::Tls, format!("TLS: {text}"))
        }
        FtpError::UnexpectedResponse(response) => {
            let body = String::from_utf8_lossy(&response.body);
            let mut text = first_line(&body);
            if text.is_empty() {
                text = response.status.code().to_string();
            }
            StageError::new(FailureKind::WrongAnswer, stage, text)
        }
        FtpError::BadResponse => StageError::new(
            FailureKind::WrongAnswer,
            PollStage::ReadingHead,
            "unreadable FTP reply",
        ),
        other => StageError::new(FailureKind::Network, stage, other.to_string()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_required() {
        assert!(LoginCheck::new(&FtpLogin::default()).is_err());
        let login = FtpLogin {
            user: "u".into(),
            explicit_tls: true,
            ..FtpLogin::default()
        };
        let check = LoginCheck::new(&login).unwrap();
        assert!(check.tls.unwrap().alpn_protocols.is_empty());
    }

    #[test]
    fn first_lines() {
        assert_eq!(first_line("220-Welcome\n220 ready"), "220-Welcome");
        assert_eq!(first_line(""), "");
    }
}

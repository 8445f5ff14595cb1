//! E-mail over SMTP (lettre, pure-Rust TLS): plain, STARTTLS or TLS from the first byte,
//! an optional login, several recipients.
//!
//! The SMTP dialogue is driven step by step (connect, STARTTLS, AUTH, send) rather than
//! through lettre's transport, so that a failure names the stage it happened in and
//! carries the server's own answer.

use std::time::Duration;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use super::{BoxFuture, FailureKind, Notifier, NotifyConfig, NotifyError, Stage};
use crate::model::tags::{Encoding, TagValues, expand};
use crate::model::{EmailMessage, EmailNotification, SmtpSecurity, SmtpServer};

/// Each SMTP step (connect, TLS, login, the message) must end within this.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);

pub struct EmailNotifier {
    to: Vec<Mailbox>,
    from: Mailbox,
    message: EmailMessage,
    smtp: SmtpServer,
    tls: Option<TlsParameters>,
}

impl EmailNotifier {
    /// `email` must be resolved (see [`super::resolve`]); a field still left to the
    /// defaults is an error here.
    pub fn new(email: &EmailNotification, config: &NotifyConfig) -> Result<Self, NotifyError> {
        if email.to.is_empty() {
            return Err(NotifyError::settings("e-mail: no recipient"));
        }
        let to = email
            .to
            .iter()
            .map(|a| parse_mailbox(a, "to"))
            .collect::<Result<Vec<_>, _>>()?;
        let from = parse_mailbox(email.from.as_deref().unwrap_or_default(), "from")?;
        let (Some(message), Some(smtp)) = (email.message.clone(), email.smtp.clone()) else {
            return Err(NotifyError::settings(
                "e-mail: the defaults were not filled in",
            ));
        };
        let tls = match smtp.security {
            SmtpSecurity::Plain => None,
            SmtpSecurity::StartTls | SmtpSecurity::Tls => {
                let mut builder = TlsParameters::builder(smtp.host.clone());
                for pem in &config.extra_roots_pem {
                    let cert = Certificate::from_pem(pem).map_err(|e| {
                        NotifyError::settings(format!("e-mail: extra root certificate: {e}"))
                    })?;
                    builder = builder.add_root_certificate(cert);
                }
                Some(builder.build_rustls().map_err(|e| {
                    NotifyError::settings(format!("e-mail: TLS set-up for {}: {e}", smtp.host))
                })?)
            }
        };
        Ok(Self {
            to,
            from,
            message,
            smtp,
            tls,
        })
    }

    fn server(&self) -> String {
        format!("SMTP server {}:{}", self.smtp.host, self.smtp.port)
    }

    async fn deliver(&self, tags: &TagValues) -> Result<String, NotifyError> {
        let subject = expand(&self.message.subject, tags, Encoding::Plain);
        // One line: a tag value with a line break must not end the header.
        let subject = subject.replace(['\r', '\n'], " ");
        let body = expand(&self.message.body, tags, Encoding::Plain);
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        if let Some(id) = tags.get("MESSAGEID").filter(|id| !id.is_empty()) {
            // The same at every retry: a copy sent again after a crash can be recognised.
            builder = builder.message_id(Some(format!("<{id}@standby>")));
        }
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let email = builder
            .body(body)
            .map_err(|e| NotifyError::settings(format!("e-mail: cannot build the message: {e}")))?;
        let hello = ClientId::default();
        let wrapper = match self.smtp.security {
            SmtpSecurity::Tls => self.tls.clone(),
            _ => None,
        };
        let mut conn = self
            .step(
                if wrapper.is_some() {
                    Stage::TlsAuth
                } else {
                    Stage::Connecting
                },
                "connecting",
                AsyncSmtpConnection::connect_tokio1(
                    (self.smtp.host.as_str(), self.smtp.port),
                    Some(STEP_TIMEOUT),
                    &hello,
                    wrapper,
                    None,
                ),
            )
            .await?;
        if self.smtp.security == SmtpSecurity::StartTls {
            let Some(tls) = self.tls.clone() else {
                return Err(NotifyError::settings("e-mail: no TLS parameters"));
            };
            if !conn.can_starttls() {
                return Err(NotifyError::new(
                    FailureKind::WrongAnswer,
                    Stage::TlsAuth,
                    format!("{}: does not offer STARTTLS", self.server()),
                ));
            }
            self.step(Stage::TlsAuth, "STARTTLS", conn.starttls(tls, &hello))
                .await?;
        }
        if let Some(login) = &self.smtp.login {
            let credentials =
                Credentials::new(login.user.clone(), login.password.expose().to_string());
            self.step(
                Stage::TlsAuth,
                "login",
                conn.auth(&[Mechanism::Plain, Mechanism::Login], &credentials),
            )
            .await?;
        }
        let formatted = email.formatted();
        let response = self
            .step(
                Stage::Sending,
                "sending",
                conn.send(email.envelope(), &formatted),
            )
            .await?;
        // The message is accepted; a failing QUIT changes nothing.
        let _ = conn.quit().await;
        let answer = response.message().collect::<Vec<_>>().join(" ");
        Ok(format!(
            "accepted by {}: {} {answer}",
            self.server(),
            response.code()
        ))
    }

    async fn step<T>(
        &self,
        stage: Stage,
        what: &str,
        work: impl std::future::Future<Output = Result<T, lettre::transport::smtp::Error>>,
    ) -> Result<T, NotifyError> {
        match tokio::time::timeout(STEP_TIMEOUT, work).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(classify(&e, stage, &format!("{}: {what}", self.server()))),
            Err(_) => Err(NotifyError::new(
                FailureKind::Timeout,
                stage,
                format!(
                    "{}: {what}: no answer after {} s",
                    self.server(),
                    STEP_TIMEOUT.as_secs()
                ),
            )),
        }
    }
}

impl Notifier for EmailNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        Box::pin(self.deliver(tags))
    }
}

fn parse_mailbox(address: &str, field: &str) -> Result<Mailbox, NotifyError> {
    address
        .trim()
        .parse()
        .map_err(|e| NotifyError::settings(format!("e-mail: {field} address {address:?}: {e}")))
}

/// Sorts a lettre error into kind and stage; the text keeps lettre's wording, which holds
/// the server's answer (e.g. `permanent error (535): 5.7.8 Authentication failed`).
fn classify(e: &lettre::transport::smtp::Error, stage: Stage, context: &str) -> NotifyError {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else if e.is_permanent() || e.is_transient() || e.is_response() || e.is_client() {
        FailureKind::WrongAnswer
    } else if e.is_tls() || tls_refused(e) {
        // A refused certificate or a broken handshake is the server's answer to TLS.
        return NotifyError::new(
            FailureKind::WrongAnswer,
            Stage::TlsAuth,
            format!("{context}: {e}"),
        );
    } else if closed_early(e) {
        FailureKind::ClosedEarly
    } else {
        FailureKind::Network
    };
    NotifyError::new(kind, stage, format!("{context}: {e}"))
}

/// A refused certificate or handshake shows up as a connection error wrapping rustls'.
fn tls_refused(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if inner.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = inner.downcast_ref::<std::io::Error>()
            && io
                .get_ref()
                .is_some_and(|i| i.downcast_ref::<rustls::Error>().is_some())
        {
            return true;
        }
        source = inner.source();
    }
    e.to_string().contains("certificate")
}

fn closed_early(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if let Some(io) = inner.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::BrokenPipe
            );
        }
        source = inner.source();
    }
    false
}

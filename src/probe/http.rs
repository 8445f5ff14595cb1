//! HTTP/HTTPS polling (SPEC §1): GET or HEAD of the set's URL, sent to the server's poll
//! address, with the URL's host as Host header and TLS SNI.
//!
//! hyper's connection API is used directly rather than a high-level client, because the
//! TCP connection must go to a given IP whatever the URL's host resolves to.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{CONNECTION, CONTENT_LENGTH, HOST, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::{
    BoxFuture, BuildError, FailureKind, PollOutcome, PollStage, PollTarget, Probe, StageError,
    certificate, io_failure, seconds, stage, tls,
};
use crate::model::criteria::CompiledHttpCriteria;
use crate::model::{HttpPoll, HttpPollMethod};

/// At most this much of the body is kept for the text rules.
const BODY_TEXT_LIMIT: usize = 1 << 20;

const USER_AGENT_VALUE: &str = concat!("Standby/", env!("CARGO_PKG_VERSION"));

/// An HTTP(S) poll, ready to poll any server of its set.
pub struct HttpProbe {
    method: Method,
    /// The request target in origin form (`/path?query`).
    path: Uri,
    host_header: HeaderValue,
    port: u16,
    /// `Some` for HTTPS.
    tls: Option<(TlsConnector, ServerName<'static>)>,
    criteria: CompiledHttpCriteria,
    /// HTTPS: warn this many days before the certificate expires (0 = never).
    warning_days: u32,
}

impl HttpProbe {
    pub fn new(settings: &HttpPoll) -> Result<Self, BuildError> {
        let url: Uri = settings
            .url
            .trim()
            .parse()
            .map_err(|e| BuildError::Invalid(format!("bad URL {:?}: {e}", settings.url)))?;
        let https = match url.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => {
                return Err(BuildError::Invalid(format!(
                    "the URL {:?} must start with http:// or https://",
                    settings.url
                )));
            }
        };
        let host = url.host().filter(|h| !h.is_empty()).ok_or_else(|| {
            BuildError::Invalid(format!("the URL {:?} has no host", settings.url))
        })?;
        let default_port = if https { 443 } else { 80 };
        let port = url.port_u16().unwrap_or(default_port);
        // The Host header names the port only when the URL does (RFC 9110 §7.2).
        let host_header = if port == default_port {
            host.to_owned()
        } else {
            format!("{host}:{port}")
        };
        let host_header = HeaderValue::from_str(&host_header)
            .map_err(|_| BuildError::Invalid(format!("bad host in URL {:?}", settings.url)))?;
        let path = url
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e| BuildError::Invalid(format!("bad path in URL {:?}: {e}", settings.url)))?;
        let tls = if https {
            let config = tls::client_config(settings.verify_certificate)?;
            Some((TlsConnector::from(config), tls::server_name(host)?))
        } else {
            None
        };
        Ok(Self {
            method: match settings.method {
                HttpPollMethod::Get => Method::GET,
                HttpPollMethod::Head => Method::HEAD,
            },
            path,
            host_header,
            port,
            tls,
            criteria: settings.criteria.compile()?,
            warning_days: settings.certificate_warning_days,
        })
    }

    /// Polls; an HTTPS handshake leaves the certificate's expiry warning in `warning`,
    /// whatever happens after it.
    async fn run(
        &self,
        target: &PollTarget,
        deadline: Instant,
        warning: &mut Option<String>,
    ) -> Result<String, StageError> {
        let after = seconds(target.timeout);
        let address = SocketAddr::new(target.address, self.port);
        let tcp = stage(
            deadline,
            PollStage::Connecting,
            &format!("after {after} s connecting"),
            TcpStream::connect(address),
        )
        .await?
        .map_err(|e| io_failure(PollStage::Connecting, &e))?;
        // Small requests: don't let Nagle hold them back.
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.exchange(tcp, deadline, &after).await,
            Some((connector, name)) => {
                let stream = stage(
                    deadline,
                    PollStage::Tls,
                    &format!("after {after} s in TLS handshake"),
                    connector.connect(name.clone(), tcp),
                )
                .await?
                .map_err(|e| tls_failure(&e))?;
                if let Some(leaf) = stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                {
                    *warning = certificate::expiry_warning(
                        leaf,
                        self.warning_days,
                        std::time::SystemTime::now(),
                    );
                }
                self.exchange(stream, deadline, &after).await
            }
        }
    }

    /// Sends the request over an open connection and judges the response.
    async fn exchange<S>(&self, io: S, deadline: Instant, after: &str) -> Result<String, StageError>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (mut sender, connection) = stage(
            deadline,
            PollStage::Sending,
            &format!("after {after} s sending request"),
            http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io)),
        )
        .await?
        .map_err(|e| hyper_failure(PollStage::Sending, &e))?;
        // The connection runs beside the request; the guard ends it when the poll ends or
        // is dropped, so a time-out leaves nothing behind.
        let _connection = AbortOnDrop(tokio::spawn(async move {
            let _ = connection.await;
        }));
        stage(
            deadline,
            PollStage::Sending,
            &format!("after {after} s sending request"),
            sender.ready(),
        )
        .await?
        .map_err(|e| hyper_failure(PollStage::Sending, &e))?;
        let request = Request::builder()
            .method(self.method.clone())
            .uri(self.path.clone())
            .header(HOST, self.host_header.clone())
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header(CONNECTION, "close")
            .body(Empty::new())
            .map_err(|e| {
                StageError::new(FailureKind::Network, PollStage::Sending, e.to_string())
            })?;
        let response = stage(
            deadline,
            PollStage::Waiting,
            &format!("after {after} s waiting for response"),
            sender.send_request(request),
        )
        .await?
        .map_err(|e| hyper_failure(PollStage::Waiting, &e))?;
        self.judge(response, deadline, after).await
    }

    async fn judge(
        &self,
        response: Response<Incoming>,
        deadline: Instant,
        after: &str,
    ) -> Result<String, StageError> {
        let status = status_text(response.status());
        let wrong = |why: String| {
            StageError::new(
                FailureKind::WrongAnswer,
                PollStage::Judging,
                format!("{status}: {why}"),
            )
        };
        self.criteria
            .judge_status(response.status().as_u16())
            .map_err(wrong)?;
        let wants_length = self.criteria.content_length.is_some();
        if self.method == Method::HEAD {
            if wants_length {
                let length = content_length(&response)
                    .ok_or_else(|| wrong("no Content-Length in the HEAD response".into()))?;
                self.criteria.judge_body(length, None).map_err(wrong)?;
            }
            return Ok(status);
        }
        if !wants_length && self.criteria.body.is_empty() {
            // Nothing to judge in the body: the head is the answer.
            return Ok(status);
        }
        let (length, text) = stage(
            deadline,
            PollStage::ReadingBody,
            &format!("after {after} s reading body"),
            read_body(response.into_body(), wants_length),
        )
        .await??;
        let text = String::from_utf8_lossy(&text);
        self.criteria
            .judge_body(length, Some(&text))
            .map_err(wrong)?;
        Ok(status)
    }
}

impl Probe for HttpProbe {
    fn poll<'a>(&'a self, target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move {
            let start = Instant::now();
            let deadline = start + target.timeout;
            let mut warning = None;
            let outcome = match self.run(target, deadline, &mut warning).await {
                Ok(text) => PollOutcome::success(text, start.elapsed()),
                Err(e) => e.into_outcome(start.elapsed()),
            };
            outcome.with_warning(warning)
        })
    }
}

/// Aborts a spawned task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Reads the body: its whole length (only when a length rule needs it, else it stops at
/// the text limit) and its first [`BODY_TEXT_LIMIT`] bytes.
async fn read_body(mut body: Incoming, whole: bool) -> Result<(u64, Vec<u8>), StageError> {
    let mut length = 0u64;
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| hyper_failure(PollStage::ReadingBody, &e))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        length += data.len() as u64;
        let room = BODY_TEXT_LIMIT.saturating_sub(text.len());
        text.extend_from_slice(&data[..data.len().min(room)]);
        if !whole && text.len() >= BODY_TEXT_LIMIT {
            break;
        }
    }
    Ok((length, text))
}

fn content_length<B>(response: &Response<B>) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `200 OK`: the code and its canonical reason.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// A failed TLS handshake: certificate and protocol errors are network failures of the TLS
/// stage; a peer that hangs up mid-handshake closed early.
fn tls_failure(error: &std::io::Error) -> StageError {
    let mut failure = io_failure(PollStage::Tls, error);
    failure.text = format!("TLS: {}", failure.text);
    failure
}

/// Classifies a hyper error. Hyper cannot say whether a write or a read failed, so an I/O
/// error while waiting counts as sending only when the pipe broke.
fn hyper_failure(stage: PollStage, error: &hyper::Error) -> StageError {
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        return StageError::new(
            FailureKind::ClosedEarly,
            stage,
            "connection closed before a complete response",
        );
    }
    if error.is_parse() || error.is_parse_status() {
        let stage = if stage == PollStage::Waiting {
            PollStage::ReadingHead
        } else {
            stage
        };
        return StageError::new(
            FailureKind::WrongAnswer,
            stage,
            format!("bad response: {error}"),
        );
    }
    if error.is_timeout() {
        return StageError::new(FailureKind::Timeout, stage, error.to_string());
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            let stage =
                if stage == PollStage::Waiting && io.kind() == std::io::ErrorKind::BrokenPipe {
                    PollStage::Sending
                } else {
                    stage
                };
            let mut failure = io_failure(stage, io);
            if failure.failure.kind == FailureKind::ClosedEarly {
                failure.text = format!("connection closed before a complete response ({io})");
            }
            return failure;
        }
        source = cause.source();
    }
    StageError::new(FailureKind::Network, stage, error.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn probe(url: &str) -> Result<HttpProbe, BuildError> {
        HttpProbe::new(&HttpPoll {
            url: url.into(),
            ..HttpPoll::default()
        })
    }

    #[test]
    fn url_parts() {
        let p = probe("http://www.example.com/a/b?c=d").unwrap();
        assert_eq!(p.port, 80);
        assert_eq!(p.host_header, "www.example.com");
        assert_eq!(p.path, "/a/b?c=d");
        assert!(p.tls.is_none());

        let p = probe("https://www.example.com:8443").unwrap();
        assert_eq!(p.port, 8443);
        assert_eq!(p.host_header, "www.example.com:8443");
        assert_eq!(p.path, "/");
        assert!(matches!(p.tls, Some((_, ServerName::DnsName(_)))));

        let p = probe("https://192.0.2.7/").unwrap();
        assert!(matches!(p.tls, Some((_, ServerName::IpAddress(_)))));
        let p = probe("https://[2001:db8::1]:444/").unwrap();
        assert_eq!(p.host_header, "[2001:db8::1]:444");
        assert!(matches!(p.tls, Some((_, ServerName::IpAddress(_)))));
    }

    #[test]
    fn bad_urls() {
        assert!(matches!(probe("ftp://x/"), Err(BuildError::Invalid(_))));
        assert!(matches!(probe("/just/a/path"), Err(BuildError::Invalid(_))));
        assert!(matches!(probe("not a url"), Err(BuildError::Invalid(_))));
    }

    #[test]
    fn bad_regex_is_a_build_error() {
        let mut settings = HttpPoll::default();
        settings.criteria.body = vec![crate::model::TextRule::Matches("(".into())];
        assert!(matches!(
            HttpProbe::new(&settings),
            Err(BuildError::Regex(_))
        ));
    }

    #[test]
    fn status_texts() {
        assert_eq!(status_text(StatusCode::OK), "200 OK");
        assert_eq!(
            status_text(StatusCode::SERVICE_UNAVAILABLE),
            "503 Service Unavailable"
        );
        assert_eq!(status_text(StatusCode::from_u16(599).unwrap()), "599");
    }
}

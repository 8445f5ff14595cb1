//! Sends an [`HttpRequest`] from the settings (verb, URL, headers and body with tags, basic
//! authentication) and judges the response by its criteria. Shared by HTTP DNS updates and
//! HTTP notifications, so it sits on the floor both stand on, beside `exec`.
//!
//! The basic-auth password is a [`crate::model::Secret`]: it goes into the request header
//! only. Error texts are built here from the error kinds, never from `reqwest::Error`'s
//! `Display`, which names the URL (and URLs of provider APIs often carry tokens).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};

use crate::model::criteria::CompiledHttpCriteria;
use crate::model::tags::{Encoding, TagValues, expand};
use crate::model::{HttpRequest, HttpVerb};

/// At most this much of a response body is kept for the text rules.
const BODY_TEXT_LIMIT: usize = 1 << 20;

const USER_AGENT_VALUE: &str = concat!("Standby/", env!("CARGO_PKG_VERSION"));

/// Why a request failed: the middle digit of the problem codes.
pub use crate::model::failure::FailureKind;

/// A request that did not succeed: `HTTP 403 Forbidden`, `connection refused`,
/// `timeout after 5 s`, `HTTP 200 OK: body does not contain "good"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text}")]
pub struct HttpFailure {
    pub kind: FailureKind,
    pub text: String,
}

impl HttpFailure {
    fn new(kind: FailureKind, text: impl Into<String>) -> Self {
        Self {
            kind,
            text: text.into(),
        }
    }
}

/// Why a request could not be prepared from its settings.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("the URL {0:?} must start with http:// or https://")]
    Scheme(String),
    #[error("bad header name {0:?}")]
    HeaderName(String),
    #[error("bad regular expression in the success criteria: {0}")]
    Regex(#[from] regex::Error),
    #[error("HTTP client set-up: {0}")]
    Client(String),
}

/// An [`HttpRequest`] ready to send: criteria compiled, header names checked, one client
/// (with its connection pool) per request settings.
pub struct PreparedRequest {
    settings: HttpRequest,
    headers: Vec<(HeaderName, String)>,
    criteria: CompiledHttpCriteria,
    client: reqwest::Client,
}

impl std::fmt::Debug for PreparedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `HttpRequest`'s Debug hides the password (a Secret); the client adds nothing.
        f.debug_struct("PreparedRequest")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl PreparedRequest {
    pub fn new(settings: &HttpRequest) -> Result<Self, PrepareError> {
        let url = settings.url.trim().to_ascii_lowercase();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(PrepareError::Scheme(settings.url.clone()));
        }
        let headers = settings
            .headers
            .iter()
            .map(|(name, value)| {
                HeaderName::from_bytes(name.trim().as_bytes())
                    .map(|n| (n, value.clone()))
                    .map_err(|_| PrepareError::HeaderName(name.clone()))
            })
            .collect::<Result<_, _>>()?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .user_agent(USER_AGENT_VALUE)
            .connect_timeout(timeout_of(settings))
            .build()
            .map_err(|e| PrepareError::Client(e.without_url().to_string()))?;
        Ok(Self {
            settings: settings.clone(),
            headers,
            criteria: settings.criteria.compile()?,
            client,
        })
    }

    /// The URL with tags expanded, values percent-encoded.
    pub fn url(&self, tags: &TagValues) -> String {
        expand(self.settings.url.trim(), tags, Encoding::Url)
    }

    /// Sends the request with `tags` expanded and judges the response. `limit` shortens
    /// the settings' time-out. `Ok` carries `HTTP 200 OK`.
    pub async fn send(
        &self,
        tags: &TagValues,
        limit: Option<Duration>,
    ) -> Result<String, HttpFailure> {
        self.send_with(tags, limit, None, &[]).await
    }

    /// How tag values are written into the body: escaped for JSON when a `Content-Type`
    /// header says JSON (a value with quotes or line breaks must not break the document),
    /// else as they are.
    pub fn body_encoding(&self) -> Encoding {
        let json = self.headers.iter().any(|(name, value)| {
            *name == reqwest::header::CONTENT_TYPE && value.to_ascii_lowercase().contains("json")
        });
        if json {
            Encoding::Json
        } else {
            Encoding::Plain
        }
    }

    /// [`Self::send`] with a body the caller built itself (sent as it is, no tags expanded
    /// in it; `None` = the settings' body) and extra headers (e.g. a message id).
    pub async fn send_with(
        &self,
        tags: &TagValues,
        limit: Option<Duration>,
        body: Option<String>,
        extra_headers: &[(&'static str, String)],
    ) -> Result<String, HttpFailure> {
        let mut timeout = timeout_of(&self.settings);
        if let Some(limit) = limit {
            timeout = timeout.min(limit);
        }
        let url = reqwest::Url::parse(&self.url(tags))
            .map_err(|e| HttpFailure::new(FailureKind::Network, format!("bad URL: {e}")))?;
        let (method, with_body) = match self.settings.verb {
            HttpVerb::Get => (Method::GET, false),
            HttpVerb::Post => (Method::POST, true),
            HttpVerb::Put => (Method::PUT, true),
        };
        let mut request = self.client.request(method, url).timeout(timeout);
        for (name, value) in &self.headers {
            // A value with a line break (from a tag) is refused, not sent: no header
            // injection through tag values.
            let value =
                HeaderValue::from_str(&expand(value, tags, Encoding::Plain)).map_err(|_| {
                    HttpFailure::new(
                        FailureKind::Network,
                        format!("header {name}: the value is not a valid header value"),
                    )
                })?;
            request = request.header(name.clone(), value);
        }
        for (name, value) in extra_headers {
            let value = HeaderValue::from_str(value).map_err(|_| {
                HttpFailure::new(
                    FailureKind::Network,
                    format!("header {name}: the value is not a valid header value"),
                )
            })?;
            request = request.header(*name, value);
        }
        if let Some(auth) = &self.settings.basic_auth {
            request = request.basic_auth(&auth.user, Some(auth.password.expose()));
        }
        if with_body {
            let body =
                body.unwrap_or_else(|| expand(&self.settings.body, tags, self.body_encoding()));
            request = request.body(body);
        }
        let seconds = timeout.as_secs_f64();
        let mut response = request.send().await.map_err(|e| failure_of(&e, seconds))?;
        let status = status_text(response.status());
        if self
            .criteria
            .judge_status(response.status().as_u16())
            .is_err()
        {
            return Err(HttpFailure::new(FailureKind::WrongAnswer, status));
        }
        let wants_length = self.criteria.content_length.is_some();
        if !wants_length && self.criteria.body.is_empty() {
            return Ok(status);
        }
        let mut length = 0u64;
        let mut text = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failure_of(&e, seconds))?
        {
            length += chunk.len() as u64;
            let room = BODY_TEXT_LIMIT.saturating_sub(text.len());
            text.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if !wants_length && text.len() >= BODY_TEXT_LIMIT {
                break;
            }
        }
        let body = String::from_utf8_lossy(&text);
        self.criteria
            .judge_body(length, Some(&body))
            .map_err(|why| {
                HttpFailure::new(FailureKind::WrongAnswer, format!("{status}: {why}"))
            })?;
        Ok(status)
    }
}

fn timeout_of(settings: &HttpRequest) -> Duration {
    Duration::from_secs(u64::from(settings.timeout_secs.max(1)))
}

/// TLS with the tree's one provider (ring) and the system's roots, handed to reqwest so
/// that it needs no provider of its own and no process-wide default.
fn tls_config() -> Result<rustls::ClientConfig, PrepareError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = rustls_platform_verifier::Verifier::new(provider.clone())
        .map_err(|e| PrepareError::Client(format!("cannot load the system's roots: {e}")))?;
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PrepareError::Client(format!("TLS set-up: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    // Only HTTP/1.1 is built in (no http2 feature): say so in the handshake.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// `200 OK` → `HTTP 200 OK`.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// A short text for a failed exchange, from the error's kind and its innermost I/O error.
fn failure_of(error: &reqwest::Error, seconds: f64) -> HttpFailure {
    if error.is_timeout() {
        return HttpFailure::new(FailureKind::Timeout, format!("timeout after {seconds} s"));
    }
    let mut source = std::error::Error::source(error);
    let mut io = None;
    let mut innermost = None;
    while let Some(cause) = source {
        if let Some(e) = cause.downcast_ref::<std::io::Error>() {
            io = Some(e.kind());
        }
        innermost = Some(cause.to_string());
        source = cause.source();
    }
    use std::io::ErrorKind as K;
    match io {
        Some(K::ConnectionRefused) => HttpFailure::new(FailureKind::Network, "connection refused"),
        Some(K::TimedOut) => {
            HttpFailure::new(FailureKind::Timeout, format!("timeout after {seconds} s"))
        }
        Some(K::ConnectionReset | K::ConnectionAborted | K::UnexpectedEof | K::BrokenPipe) => {
            HttpFailure::new(
                FailureKind::ClosedEarly,
                "connection closed before a complete response",
            )
        }
        _ if error.is_body() || error.is_decode() => HttpFailure::new(
            FailureKind::ClosedEarly,
            "connection closed before a complete response",
        ),
        _ => {
            let what = if error.is_connect() {
                "cannot connect"
            } else if error.is_builder() {
                "bad request"
            } else {
                "request failed"
            };
            let text = match innermost {
                Some(why) => format!("{what}: {why}"),
                None => what.to_string(),
            };
            HttpFailure::new(FailureKind::Network, text)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Secret;

    fn settings(url: &str) -> HttpRequest {
        HttpRequest {
            url: url.into(),
            ..HttpRequest::default()
        }
    }

    #[test]
    fn urls_get_encoded_tags() {
        let p = PreparedRequest::new(&settings("https://api.test/u?h=$HOST$&ip=$IPS$")).unwrap();
        let tags = TagValues::new()
            .with("HOST", "a b&c")
            .with("IPS", "192.0.2.1,2001:db8::1");
        let url = p.url(&tags);
        assert_eq!(
            url,
            "https://api.test/u?h=a%20b%26c&ip=192.0.2.1%2C2001%3Adb8%3A%3A1"
        );
    }

    #[test]
    fn json_bodies_get_escaped_values() {
        let mut s = settings("http://x/");
        assert_eq!(
            PreparedRequest::new(&s).unwrap().body_encoding(),
            Encoding::Plain
        );
        s.headers = vec![(
            "content-type".into(),
            "Application/JSON; charset=utf-8".into(),
        )];
        assert_eq!(
            PreparedRequest::new(&s).unwrap().body_encoding(),
            Encoding::Json
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(matches!(
            PreparedRequest::new(&settings("ftp://x/")),
            Err(PrepareError::Scheme(_))
        ));
        let mut s = settings("http://x/");
        s.headers = vec![("Bad Name".into(), "v".into())];
        assert!(matches!(
            PreparedRequest::new(&s),
            Err(PrepareError::HeaderName(_))
        ));
    }

    #[test]
    fn debug_hides_the_password() {
        let mut s = settings("http://x/");
        s.basic_auth = Some(crate::model::BasicAuth {
            user: "u".into(),
            password: Secret::new("hunter2"),
        });
        let p = PreparedRequest::new(&s).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn status_texts() {
        assert_eq!(status_text(StatusCode::FORBIDDEN), "HTTP 403 Forbidden");
        assert_eq!(status_text(StatusCode::from_u16(599).unwrap()), "HTTP 599");
    }
}

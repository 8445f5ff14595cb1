//! Sends an [`HttpRequest`] from the settings (verb, URL, headers and body with tags, basic
//! authentication) and judges the response by its criteria. Shared by HTTP DNS updates and
//! HTTP notifications, so it sits on the floor both stand on, beside `exec`.
//!
//! The basic-auth password is a [`crate::model::Secret`]: it goes into the request header
//! only. Error texts are built here from the error kinds, never from `reqwest::Error`'s
//! `Display`, which names the URL (and URLs of provider APIs often carry tokens).

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
// What the provider modules need to build an [`ApiRequest`], without naming reqwest.
pub use reqwest::header::{HeaderName, HeaderValue};
pub use reqwest::{Method, StatusCode, Url};

use crate::model::criteria::CompiledHttpCriteria;
use crate::model::tags::{Encoding, TagValues, expand};
use crate::model::{BodyType, HttpRequest, HttpVerb};

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
    pub fn new(kind: FailureKind, text: impl Into<String>) -> Self {
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

    /// The URL the request goes to: tags expanded, a Unicode host as punycode (the URL
    /// parser applies IDNA, as for the HTTP poll's `model::idn::url_to_ascii`).
    pub fn request_url(&self, tags: &TagValues) -> Result<reqwest::Url, HttpFailure> {
        reqwest::Url::parse(&self.url(tags))
            .map_err(|e| HttpFailure::new(FailureKind::Network, format!("bad URL: {e}")))
    }

    /// The body with tags expanded, each value encoded for the body's type; `None` for GET
    /// and for a DELETE without one.
    pub fn body(&self, tags: &TagValues) -> Option<String> {
        let verb = self.settings.verb;
        if !verb.has_body() || (verb == HttpVerb::Delete && self.settings.body.is_empty()) {
            return None;
        }
        // A text body sent with a JSON `Content-Type` header, or one that is JSON with its
        // tags in it (a Slack-style `{"text": "$EVENT$: $RESPONSE$"}` with no header), is
        // JSON too: a tag value with quotes must not break it.
        let json_header = self.headers.iter().any(|(name, value)| {
            *name == CONTENT_TYPE && value.to_ascii_lowercase().contains("json")
        });
        let encoding = match self.settings.body_type {
            BodyType::Text if json_header || is_json_template(&self.settings.body) => {
                Encoding::Json
            }
            BodyType::Text => Encoding::Plain,
            BodyType::Json => Encoding::Json,
            BodyType::Form => Encoding::Form,
        };
        Some(expand(&self.settings.body, tags, encoding))
    }

    /// Sends the request with `tags` expanded and judges the response. `limit` shortens
    /// the settings' time-out. `Ok` carries `HTTP 200 OK`.
    pub async fn send(
        &self,
        tags: &TagValues,
        limit: Option<Duration>,
    ) -> Result<String, HttpFailure> {
        self.send_with(tags, limit, &[]).await
    }

    /// [`Self::send`] with extra headers the caller adds (e.g. a message id).
    pub async fn send_with(
        &self,
        tags: &TagValues,
        limit: Option<Duration>,
        extra_headers: &[(&'static str, String)],
    ) -> Result<String, HttpFailure> {
        let mut timeout = timeout_of(&self.settings);
        if let Some(limit) = limit {
            timeout = timeout.min(limit);
        }
        let url = self.request_url(tags)?;
        let method = match self.settings.verb {
            HttpVerb::Get => Method::GET,
            HttpVerb::Post => Method::POST,
            HttpVerb::Put => Method::PUT,
            HttpVerb::Patch => Method::PATCH,
            HttpVerb::Delete => Method::DELETE,
        };
        let body = self.body(tags);
        let mut request = self.client.request(method, url).timeout(timeout);
        if body.is_some()
            && let Some(content_type) = self.settings.body_type.content_type()
            && !self.headers.iter().any(|(n, _)| n == CONTENT_TYPE)
        {
            request = request.header(CONTENT_TYPE, content_type);
        }
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
        if let Some(body) = body {
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

/// A client for the JSON APIs of DNS providers (PowerDNS, Cloudflare, Route 53): one
/// connection pool, the same TLS and the same error texts as [`PreparedRequest`]. The
/// provider modules build the requests; this only sends them and reads the whole answer.
#[derive(Clone)]
pub struct ApiClient {
    client: reqwest::Client,
}

impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient").finish_non_exhaustive()
    }
}

/// One API request. Header values may hold tokens: they are never logged or put in errors.
#[derive(Debug)]
pub struct ApiRequest {
    pub method: Method,
    pub url: reqwest::Url,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `Content-Type` and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
    pub timeout: Duration,
}

/// An API's answer, whatever its status.
#[derive(Clone, Debug)]
pub struct ApiResponse {
    pub status: StatusCode,
    /// `Retry-After` in seconds, when given as a number.
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// `HTTP 403 Forbidden`.
    pub fn status_text(&self) -> String {
        status_text(self.status)
    }
}

impl ApiClient {
    pub fn new(connect_timeout: Duration) -> Result<Self, PrepareError> {
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config()?)
            .user_agent(USER_AGENT_VALUE)
            .connect_timeout(connect_timeout)
            .build()
            .map_err(|e| PrepareError::Client(e.without_url().to_string()))?;
        Ok(Self { client })
    }

    /// Sends `request` and reads the answer (at most 16 MiB of it).
    pub async fn send(&self, request: ApiRequest) -> Result<ApiResponse, HttpFailure> {
        let seconds = request.timeout.as_secs_f64();
        let mut builder = self
            .client
            .request(request.method, request.url)
            .timeout(request.timeout);
        for (name, value) in request.headers {
            builder = builder.header(name, value);
        }
        if let Some((content_type, bytes)) = request.body {
            builder = builder.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let mut response = builder.send().await.map_err(|e| failure_of(&e, seconds))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| failure_of(&e, seconds))?
        {
            if body.len() + chunk.len() > API_BODY_LIMIT {
                return Err(HttpFailure::new(
                    FailureKind::WrongAnswer,
                    format!("{}: the answer is larger than 16 MiB", status_text(status)),
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(ApiResponse {
            status,
            retry_after,
            body,
        })
    }
}

/// `template` is a JSON object or array once each `$TAG$` stands for a value: a tag
/// inside a string stays a string, one outside it (`"count": $COUNT$`) a number.
fn is_json_template(template: &str) -> bool {
    let trimmed = template.trim();
    if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
        return false;
    }
    let mut filled = String::with_capacity(trimmed.len());
    let mut rest = trimmed;
    while let Some(start) = rest.find('$') {
        filled.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('$') {
            Some(end)
                if end > 0
                    && after[..end]
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') =>
            {
                filled.push('0');
                rest = &after[end + 1..];
            }
            _ => {
                filled.push('$');
                rest = after;
            }
        }
    }
    filled.push_str(rest);
    serde_json::from_str::<serde_json::Value>(&filled).is_ok_and(|v| v.is_object() || v.is_array())
}

/// The most of an API answer that is read.
const API_BODY_LIMIT: usize = 16 << 20;

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
    fn a_unicode_host_is_sent_as_punycode() {
        let p =
            PreparedRequest::new(&settings("https://Bücher.example.test/hook?h=$HOST$")).unwrap();
        let url = p
            .request_url(&TagValues::new().with("HOST", "müller"))
            .unwrap();
        assert_eq!(url.host_str(), Some("xn--bcher-kva.example.test"));
        assert_eq!(
            url.as_str(),
            "https://xn--bcher-kva.example.test/hook?h=m%C3%BCller"
        );
    }

    #[test]
    fn a_text_body_that_is_json_is_json_escaped_without_a_header() {
        let nasty = "HTTP 500 \"bad\" \\ gateway\r\nZürich ✓";
        let tags = TagValues::new().with("RESPONSE", nasty).with("COUNT", "3");
        let mut s = settings("http://x/");
        s.verb = HttpVerb::Post;
        s.body = r#"{"text": "failed: $RESPONSE$", "count": $COUNT$, "$": "$5"}"#.into();
        let body = PreparedRequest::new(&s).unwrap().body(&tags).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).expect(&body);
        assert_eq!(parsed["text"], format!("failed: {nasty}"));
        assert_eq!(parsed["count"], 3);
        assert_eq!(parsed["$"], "$5");
        // Plain text stays as it is.
        s.body = "failed: $RESPONSE$".into();
        let body = PreparedRequest::new(&s).unwrap().body(&tags).unwrap();
        assert_eq!(body, format!("failed: {nasty}"));
        assert!(!is_json_template("{not json $A$"));
        assert!(is_json_template("[$A$, \"$B$\"]"));
    }

    #[test]
    fn a_text_body_with_a_json_content_type_is_json_escaped() {
        let tags = TagValues::new().with("SETNAME", "say \"hi\"\\\n");
        let mut s = settings("http://x/");
        s.verb = HttpVerb::Post;
        s.body = r#"{"set":"$SETNAME$"}"#.into();
        s.headers = vec![(
            "Content-Type".into(),
            "Application/JSON; charset=utf-8".into(),
        )];
        let body = PreparedRequest::new(&s).unwrap().body(&tags).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).expect(&body);
        assert_eq!(parsed["set"], "say \"hi\"\\\n");
    }

    #[test]
    fn body_values_are_encoded_for_the_body_type() {
        let nasty = "say \"hi\"\\ \r\nX-Injected: 1";
        let tags = TagValues::new()
            .with("SETNAME", nasty)
            .with("IPS_JSON", r#"["192.0.2.1"]"#);
        let mut s = settings("http://x/");
        s.verb = HttpVerb::Patch;
        s.body_type = BodyType::Json;
        s.body = r#"{"set":"$SETNAME$","ips":$IPS_JSON$}"#.into();
        let body = PreparedRequest::new(&s).unwrap().body(&tags).unwrap();
        let parsed: serde_json::Value = serde_json::from_str(&body).expect(&body);
        assert_eq!(parsed["set"], nasty);
        assert_eq!(parsed["ips"][0], "192.0.2.1");
        s.body_type = BodyType::Text;
        s.body = "$SETNAME$".into();
        assert_eq!(
            PreparedRequest::new(&s).unwrap().body(&tags).unwrap(),
            nasty
        );
        s.body_type = BodyType::Form;
        s.body = "n=$SETNAME$".into();
        assert_eq!(
            PreparedRequest::new(&s).unwrap().body(&tags).unwrap(),
            "n=say%20%22hi%22%5C%20%0D%0AX-Injected%3A%201"
        );
        s.verb = HttpVerb::Delete;
        s.body.clear();
        assert_eq!(PreparedRequest::new(&s).unwrap().body(&tags), None);
        s.verb = HttpVerb::Get;
        s.body = "ignored".into();
        assert_eq!(PreparedRequest::new(&s).unwrap().body(&tags), None);
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

//! HTTP/HTTPS polling (SPEC §1): GET, HEAD, POST or PUT of the set's URL, sent to the
//! server's poll address, with the URL's host as Host header and TLS SNI; custom headers
//! and body with the poll tags, basic or bearer authentication, redirects followed (at
//! most N, optionally only on the URL's host), a response-time limit (code 128) and JSON
//! body rules (issue 16).
//!
//! hyper's connection API is used directly rather than a high-level client, because the
//! TCP connection must go to a given IP whatever the URL's host resolves to.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::header::{
    AUTHORIZATION, CONNECTION, CONTENT_LENGTH, HOST, HeaderName, HeaderValue, LOCATION, USER_AGENT,
};
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;

use super::{
    BoxFuture, BuildError, Failure, FailureKind, PollOutcome, PollStage, PollTarget, Probe,
    StageError, certificate, io_failure, seconds, stage, tls,
};
use crate::model::criteria::CompiledHttpCriteria;
use crate::model::json_rule::{self, CompiledJsonRule};
use crate::model::tags::{self, Encoding, TagValues};
use crate::model::{HttpAuth, HttpPoll, HttpPollMethod};

/// At most this much of the body is kept for the text rules.
const BODY_TEXT_LIMIT: usize = 1 << 20;

const USER_AGENT_VALUE: &str = concat!("Standby/", env!("CARGO_PKG_VERSION"));

/// Why a URL (the poll's, or a redirect's `Location`) cannot be requested.
#[derive(Debug, thiserror::Error)]
enum BadUrl {
    #[error("bad URL {url:?}: {reason}")]
    Invalid { url: String, reason: String },
    #[error("the URL {0:?} must start with http:// or https://")]
    NotHttp(String),
    #[error("the URL {0:?} has no host")]
    NoHost(String),
    #[error("bad redirect Location: {0}")]
    Location(String),
}

/// Where one request goes: the URL's parts, parsed once.
#[derive(Clone, Debug)]
struct Hop {
    /// The URL as written, to resolve a redirect's `Location` against.
    url: String,
    /// `Some` for HTTPS: the TLS server name.
    tls_name: Option<ServerName<'static>>,
    /// The URL's host as written (an IPv6 address in brackets).
    host: String,
    port: u16,
    /// The request target in origin form (`/path?query`).
    path: Uri,
    host_header: HeaderValue,
}

impl Hop {
    fn parse(text: &str) -> Result<Self, BadUrl> {
        let bad = |reason: String| BadUrl::Invalid {
            url: text.to_string(),
            reason,
        };
        // A Unicode host goes out as punycode in Host and SNI (and a Unicode path
        // percent-encoded): what the server and its certificate know.
        let ascii = crate::model::idn::url_to_ascii(text.trim()).map_err(|e| bad(e.to_string()))?;
        let url: Uri = ascii
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(e.to_string()))?;
        let https = match url.scheme_str() {
            Some(s) if s.eq_ignore_ascii_case("http") => false,
            Some(s) if s.eq_ignore_ascii_case("https") => true,
            _ => return Err(BadUrl::NotHttp(text.to_string())),
        };
        let host = url
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| BadUrl::NoHost(text.to_string()))?;
        let default_port = if https { 443 } else { 80 };
        let port = url.port_u16().unwrap_or(default_port);
        // The Host header names the port only when the URL does (RFC 9110 §7.2).
        let host_header = if port == default_port {
            host.to_owned()
        } else {
            format!("{host}:{port}")
        };
        let host_header = HeaderValue::from_str(&host_header)
            .map_err(|_| bad(format!("the host {host:?} cannot be a Host header")))?;
        let path = url
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse()
            .map_err(|e: http::uri::InvalidUri| bad(format!("bad path: {e}")))?;
        let tls_name = if https {
            Some(tls::server_name(host).map_err(|e| bad(e.to_string()))?)
        } else {
            None
        };
        Ok(Self {
            url: ascii.into_owned(),
            tls_name,
            host: host.to_owned(),
            port,
            path,
            host_header,
        })
    }

    fn same_host(&self, other: &Hop) -> bool {
        self.host.eq_ignore_ascii_case(&other.host)
    }

    /// The hop a `Location` leads to (absolute, or relative to this hop's URL).
    fn follow(&self, location: &str) -> Result<Hop, BadUrl> {
        let invalid = |url: &str, e: url::ParseError| BadUrl::Invalid {
            url: url.to_string(),
            reason: e.to_string(),
        };
        let base = url::Url::parse(&self.url).map_err(|e| invalid(&self.url, e))?;
        let next = base
            .join(location)
            .map_err(|e| BadUrl::Location(invalid(location, e).to_string()))?;
        Hop::parse(next.as_str())
    }
}

/// A request header: fixed, or with tags expanded per poll.
#[derive(Clone, Debug)]
enum HeaderText {
    Fixed(HeaderValue),
    Tagged(String),
}

/// An HTTP(S) poll, ready to poll any server of its set.
pub struct HttpProbe {
    method: Method,
    first: Hop,
    /// Built when the URL is HTTPS or redirects may lead to HTTPS.
    tls: Option<TlsConnector>,
    criteria: CompiledHttpCriteria,
    /// HTTPS: warn this many days before the certificate expires (0 = never).
    warning_days: u32,
    headers: Vec<(HeaderName, HeaderText)>,
    /// POST and PUT only, with tags.
    body: Option<String>,
    /// How tag values go into the body: by the `Content-Type` header the set gives.
    body_encoding: Encoding,
    /// The `Authorization` value (marked sensitive), sent to the URL's own host only.
    auth: Option<HeaderValue>,
    follow_redirects: u32,
    same_host_only: bool,
    /// Slower polls fail with code 128.
    limit: Option<Duration>,
    json: Vec<CompiledJsonRule>,
}

impl HttpProbe {
    pub fn new(settings: &HttpPoll) -> Result<Self, BuildError> {
        let first = Hop::parse(&settings.url).map_err(|e| BuildError::Invalid(e.to_string()))?;
        let tls = if first.tls_name.is_some() || settings.follow_redirects > 0 {
            Some(TlsConnector::from(tls::client_config(
                settings.verify_certificate,
            )?))
        } else {
            None
        };
        let headers = settings
            .headers
            .iter()
            .map(|(name, value)| {
                let name = HeaderName::from_bytes(name.trim().as_bytes())
                    .map_err(|_| BuildError::Invalid(format!("{name:?} is not a header name")))?;
                let value = if value.contains('$') {
                    HeaderText::Tagged(value.clone())
                } else {
                    HeaderText::Fixed(header_value(value))
                };
                Ok((name, value))
            })
            .collect::<Result<_, BuildError>>()?;
        let auth = settings.auth.as_ref().map(authorization).transpose()?;
        Ok(Self {
            method: match settings.method {
                HttpPollMethod::Get => Method::GET,
                HttpPollMethod::Head => Method::HEAD,
                HttpPollMethod::Post => Method::POST,
                HttpPollMethod::Put => Method::PUT,
            },
            first,
            tls,
            criteria: settings.criteria.compile()?,
            warning_days: settings.certificate_warning_days,
            headers,
            body: settings.method.has_body().then(|| settings.body.clone()),
            body_encoding: body_encoding(&settings.headers),
            auth,
            follow_redirects: settings.follow_redirects,
            same_host_only: settings.redirect_same_host_only,
            limit: (!settings.response_time_limit.is_zero())
                .then_some(settings.response_time_limit),
            json: settings
                .json
                .iter()
                .map(|rule| {
                    rule.compile()
                        .map_err(|e| BuildError::Invalid(format!("JSON rule: {e}")))
                })
                .collect::<Result<_, _>>()?,
        })
    }

    /// Polls, following redirects; an HTTPS handshake leaves the certificate's expiry
    /// warning in `warning`, whatever happens after it.
    async fn run(
        &self,
        target: &PollTarget,
        deadline: Instant,
        after: &str,
        warning: &mut CertificateSeen,
    ) -> Result<String, StageError> {
        let tags = self
            .has_tags()
            .then(|| super::poll_tags(target, Some(self.first.port)));
        let mut hop = self.first.clone();
        let mut method = self.method.clone();
        let mut body = self.body.as_ref().map(|b| match &tags {
            Some(values) => tags::expand(b, values, self.body_encoding),
            None => b.clone(),
        });
        let mut redirects = 0;
        loop {
            let address = self.address_of(&hop, target, deadline, after).await?;
            let request = self.request(&hop, &method, body.clone(), tags.as_ref())?;
            let (response, connection) = self
                .send(&hop, address, request, deadline, after, warning)
                .await?;
            let status = response.status();
            if self.follow_redirects == 0 || !is_redirect(status) {
                let text = self.judge(response, deadline, after).await?;
                drop(connection);
                return Ok(match redirects {
                    0 => text,
                    1 => format!("{text} (after 1 redirect)"),
                    n => format!("{text} (after {n} redirects)"),
                });
            }
            let wrong = |why: String| {
                StageError::new(
                    FailureKind::WrongAnswer,
                    PollStage::Judging,
                    format!("{}: {why}", status_text(status)),
                )
            };
            if redirects == self.follow_redirects {
                return Err(wrong(format!(
                    "more than {} redirect{}",
                    self.follow_redirects,
                    if self.follow_redirects == 1 { "" } else { "s" }
                )));
            }
            let location = response
                .headers()
                .get(LOCATION)
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| wrong("a redirect without a Location".into()))?;
            let next = hop.follow(location).map_err(|e| wrong(e.to_string()))?;
            if self.same_host_only && !next.same_host(&self.first) {
                return Err(wrong(format!(
                    "redirect to another host ({}) not followed",
                    next.host
                )));
            }
            // 303, and 301/302 after a POST, continue with GET, as browsers do (RFC 9110 §15.4).
            if status == StatusCode::SEE_OTHER && method != Method::HEAD
                || (status == StatusCode::MOVED_PERMANENTLY || status == StatusCode::FOUND)
                    && method == Method::POST
            {
                method = Method::GET;
                body = None;
            }
            hop = next;
            redirects += 1;
        }
    }

    fn has_tags(&self) -> bool {
        self.body.as_ref().is_some_and(|b| b.contains('$'))
            || self
                .headers
                .iter()
                .any(|(_, v)| matches!(v, HeaderText::Tagged(_)))
    }

    /// The poll address on the URL's own host; elsewhere the redirect's IP, or its name
    /// resolved by the system.
    async fn address_of(
        &self,
        hop: &Hop,
        target: &PollTarget,
        deadline: Instant,
        after: &str,
    ) -> Result<SocketAddr, StageError> {
        if hop.same_host(&self.first) {
            return Ok(SocketAddr::new(target.address, hop.port));
        }
        let bare = hop.host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, hop.port));
        }
        let mut found = stage(
            deadline,
            PollStage::Connecting,
            &format!("after {after} s resolving {bare}"),
            tokio::net::lookup_host((bare, hop.port)),
        )
        .await?
        .map_err(|e| {
            let mut failure = io_failure(PollStage::Connecting, &e);
            failure.text = format!("cannot resolve {bare} (redirect): {}", failure.text);
            failure
        })?;
        found.next().ok_or_else(|| {
            StageError::new(
                FailureKind::Network,
                PollStage::Connecting,
                format!("{bare} (redirect) has no address"),
            )
        })
    }

    fn request(
        &self,
        hop: &Hop,
        method: &Method,
        body: Option<String>,
        tags: Option<&TagValues>,
    ) -> Result<Request<Full<Bytes>>, StageError> {
        let mut request = Request::builder()
            .method(method.clone())
            .uri(hop.path.clone())
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| {
                StageError::new(FailureKind::Network, PollStage::Sending, e.to_string())
            })?;
        let headers = request.headers_mut();
        headers.insert(HOST, hop.host_header.clone());
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
        if let Some(auth) = &self.auth
            && hop.same_host(&self.first)
        {
            headers.insert(AUTHORIZATION, auth.clone());
        }
        // The set's headers replace Standby's of the same name; repeats are all sent.
        let mut named: Vec<&HeaderName> = Vec::new();
        for (name, value) in &self.headers {
            let value = match (value, tags) {
                (HeaderText::Fixed(v), _) => v.clone(),
                (HeaderText::Tagged(t), Some(values)) => {
                    header_value(&tags::expand(t, values, Encoding::Plain))
                }
                (HeaderText::Tagged(t), None) => header_value(t),
            };
            if named.contains(&name) {
                headers.append(name.clone(), value);
            } else {
                headers.insert(name.clone(), value);
                named.push(name);
            }
        }
        Ok(request)
    }

    /// Connects (TLS for HTTPS) and sends the request; the guard keeps the connection
    /// until the response's body is read.
    async fn send(
        &self,
        hop: &Hop,
        address: SocketAddr,
        request: Request<Full<Bytes>>,
        deadline: Instant,
        after: &str,
        warning: &mut CertificateSeen,
    ) -> Result<(Response<Incoming>, AbortOnDrop), StageError> {
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
        let (Some(name), Some(connector)) = (&hop.tls_name, &self.tls) else {
            return exchange(tcp, request, deadline, after).await;
        };
        let stream = stage(
            deadline,
            PollStage::Tls,
            &format!("after {after} s in TLS handshake"),
            connector.connect(name.clone(), tcp),
        )
        .await?
        .map_err(|e| tls_failure(&e))?;
        if warning.not_after.is_none()
            && let Some(leaf) = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
        {
            warning.text =
                certificate::expiry_warning(leaf, self.warning_days, std::time::SystemTime::now());
            warning.not_after = certificate::not_after(leaf).map(|end| end.unix);
        }
        exchange(stream, request, deadline, after).await
    }

    async fn judge(
        &self,
        response: Response<Incoming>,
        deadline: Instant,
        after: &str,
    ) -> Result<String, StageError> {
        let status = status_text(response.status());
        let wrong = |why: &dyn std::fmt::Display| {
            StageError::new(
                FailureKind::WrongAnswer,
                PollStage::Judging,
                format!("{status}: {why}"),
            )
        };
        self.criteria
            .judge_status(response.status().as_u16())
            .map_err(|why| wrong(&why))?;
        let wants_length = self.criteria.content_length.is_some();
        if self.method == Method::HEAD {
            if wants_length {
                let length = content_length(&response)
                    .ok_or_else(|| wrong(&"no Content-Length in the HEAD response"))?;
                self.criteria
                    .judge_body(length, None)
                    .map_err(|why| wrong(&why))?;
            }
            return Ok(status);
        }
        if !wants_length && self.criteria.body.is_empty() && self.json.is_empty() {
            // Nothing to judge in the body: the head is the answer.
            return Ok(status);
        }
        let (length, bytes) = stage(
            deadline,
            PollStage::ReadingBody,
            &format!("after {after} s reading body"),
            read_body(response.into_body(), wants_length),
        )
        .await??;
        let text = String::from_utf8_lossy(&bytes);
        self.criteria
            .judge_body(length, Some(&text))
            .map_err(|why| wrong(&why))?;
        if !self.json.is_empty() {
            if length > bytes.len() as u64 || bytes.len() >= BODY_TEXT_LIMIT {
                return Err(wrong(&format!(
                    "the body is over {} MiB: not judged as JSON",
                    BODY_TEXT_LIMIT >> 20
                )));
            }
            json_rule::judge_body(&self.json, &bytes).map_err(|why| wrong(&why))?;
        }
        Ok(status)
    }

    /// The outcome of one poll that started at `start`, under the response-time limit.
    async fn outcome(&self, target: &PollTarget, start: Instant) -> PollOutcome {
        let deadline = start + target.timeout;
        // Past the limit the poll has failed anyway: stop waiting there.
        let cut = match self.limit {
            Some(limit) if start + limit < deadline => start + limit,
            _ => deadline,
        };
        let after = seconds(cut - start);
        let mut warning = CertificateSeen::default();
        let result = self.run(target, cut, &after, &mut warning).await;
        let elapsed = start.elapsed();
        let slow = |text: String| {
            PollOutcome::failure(
                Failure::new(FailureKind::Timeout, PollStage::ResponseTime),
                text,
                elapsed,
            )
        };
        let outcome = match (result, self.limit) {
            (Ok(text), Some(limit)) if elapsed > limit => slow(format!(
                "{text}, but after {}: slower than the limit of {}",
                milliseconds(elapsed),
                milliseconds(limit)
            )),
            (Err(e), Some(limit))
                if e.failure.kind == FailureKind::Timeout && cut < deadline && elapsed >= limit =>
            {
                slow(format!(
                    "slower than the limit of {}: {}",
                    milliseconds(limit),
                    e.text
                ))
            }
            (Ok(text), _) => PollOutcome::success(text, elapsed),
            (Err(e), _) => e.into_outcome(elapsed),
        };
        outcome
            .with_warning(warning.text)
            .with_certificate(warning.not_after)
    }
}

/// What the first HTTPS handshake of a poll saw of the server's certificate.
#[derive(Default)]
struct CertificateSeen {
    /// The expiry warning, if it expires within the warning days.
    text: Option<String>,
    /// notAfter, Unix seconds.
    not_after: Option<i64>,
}

impl Probe for HttpProbe {
    fn poll<'a>(&'a self, target: &'a PollTarget) -> BoxFuture<'a, PollOutcome> {
        Box::pin(async move { self.outcome(target, Instant::now()).await })
    }
}

/// Sends the request over an open connection.
async fn exchange<S>(
    io: S,
    request: Request<Full<Bytes>>,
    deadline: Instant,
    after: &str,
) -> Result<(Response<Incoming>, AbortOnDrop), StageError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = stage(
        deadline,
        PollStage::Sending,
        &format!("after {after} s sending request"),
        http1::handshake::<_, Full<Bytes>>(TokioIo::new(io)),
    )
    .await?
    .map_err(|e| hyper_failure(PollStage::Sending, &e))?;
    // The connection runs beside the request; the guard ends it when the poll ends or is
    // dropped, so a time-out leaves nothing behind.
    let guard = AbortOnDrop(tokio::spawn(async move {
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
    let response = stage(
        deadline,
        PollStage::Waiting,
        &format!("after {after} s waiting for response"),
        sender.send_request(request),
    )
    .await?
    .map_err(|e| hyper_failure(PollStage::Waiting, &e))?;
    Ok((response, guard))
}

/// The `Authorization` header of the set's authentication, marked sensitive.
fn authorization(auth: &HttpAuth) -> Result<HeaderValue, BuildError> {
    let text = match auth {
        HttpAuth::Basic { user, password } => {
            let pair = format!("{user}:{}", password.expose());
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        }
        HttpAuth::Bearer { token } => format!("Bearer {}", token.expose()),
    };
    // Never name the secret in the error.
    let mut value = HeaderValue::from_str(&text).map_err(|_| {
        BuildError::Invalid("the authentication holds characters a header cannot carry".into())
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A header value from a setting or an expanded tag: control characters (a tag value with
/// a line end) become spaces, so a value can never split the request.
fn header_value(text: &str) -> HeaderValue {
    let bytes: Vec<u8> = text
        .trim()
        .bytes()
        .map(|b| {
            if b.is_ascii_control() && b != b'\t' {
                b' '
            } else {
                b
            }
        })
        .collect();
    HeaderValue::from_bytes(&bytes).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Tag values in a JSON body are JSON-escaped, in a form body URL-encoded (so a server name
/// with a quote cannot break the document); other bodies take them as they are.
fn body_encoding(headers: &[(String, String)]) -> Encoding {
    let content_type = headers
        .iter()
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.to_ascii_lowercase());
    match content_type {
        Some(t) if t.contains("json") => Encoding::Json,
        Some(t) if t.contains("x-www-form-urlencoded") => Encoding::Form,
        _ => Encoding::Plain,
    }
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
}

/// A time as the response-time texts show it: `350 ms`, `1.2 s`.
fn milliseconds(duration: Duration) -> String {
    if duration < Duration::from_secs(10) {
        format!("{} ms", duration.as_millis())
    } else {
        format!("{} s", seconds(duration))
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
        assert_eq!(p.first.port, 80);
        assert_eq!(p.first.host_header, "www.example.com");
        assert_eq!(p.first.path, "/a/b?c=d");
        assert!(p.first.tls_name.is_none());
        assert!(p.tls.is_none());

        let p = probe("https://www.example.com:8443").unwrap();
        assert_eq!(p.first.port, 8443);
        assert_eq!(p.first.host_header, "www.example.com:8443");
        assert_eq!(p.first.path, "/");
        assert!(matches!(p.first.tls_name, Some(ServerName::DnsName(_))));

        // A Unicode host is sent as punycode, in Host and as the TLS name.
        let p = probe("https://Bücher.example:8443/straße").unwrap();
        assert_eq!(p.first.host_header, "xn--bcher-kva.example:8443");
        assert_eq!(p.first.path, "/stra%C3%9Fe");
        assert_eq!(
            p.first.tls_name,
            Some(ServerName::try_from("xn--bcher-kva.example").unwrap())
        );

        let p = probe("https://192.0.2.7/").unwrap();
        assert!(matches!(p.first.tls_name, Some(ServerName::IpAddress(_))));
        let p = probe("https://[2001:db8::1]:444/").unwrap();
        assert_eq!(p.first.host_header, "[2001:db8::1]:444");
        assert!(matches!(p.first.tls_name, Some(ServerName::IpAddress(_))));
    }

    #[test]
    fn redirects_resolve_against_the_url() {
        let hop = Hop::parse("http://www.example.com:8080/a/b?c=d").unwrap();
        let cases = [
            ("/x", "www.example.com", 8080, "/x"),
            ("y?z=1", "www.example.com", 8080, "/a/y?z=1"),
            ("../up", "www.example.com", 8080, "/up"),
            ("//other.example.com/p", "other.example.com", 80, "/p"),
            ("https://WWW.example.com/s", "www.example.com", 443, "/s"),
            ("http://192.0.2.9:81/", "192.0.2.9", 81, "/"),
            (
                "//bücher.example.com/ü",
                "xn--bcher-kva.example.com",
                80,
                "/%C3%BC",
            ),
        ];
        for (location, host, port, path) in cases {
            let next = hop.follow(location).unwrap();
            assert_eq!(
                (
                    next.host.as_str(),
                    next.port,
                    next.path.to_string().as_str()
                ),
                (host, port, path),
                "{location}"
            );
        }
        assert!(
            hop.follow("https://WWW.EXAMPLE.com/")
                .unwrap()
                .same_host(&hop)
        );
        assert!(hop.follow("ftp://x/").is_err());
    }

    #[test]
    fn authorization_headers() {
        let basic = authorization(&HttpAuth::Basic {
            user: "monitor".into(),
            password: crate::model::Secret::new("s3cret"),
        })
        .unwrap();
        assert_eq!(basic, "Basic bW9uaXRvcjpzM2NyZXQ=");
        assert!(basic.is_sensitive());
        let bearer = authorization(&HttpAuth::Bearer {
            token: crate::model::Secret::new("t0ken"),
        })
        .unwrap();
        assert_eq!(bearer, "Bearer t0ken");
        let bad = authorization(&HttpAuth::Bearer {
            token: crate::model::Secret::new("line\nbreak"),
        })
        .unwrap_err();
        assert!(!bad.to_string().contains("break"), "{bad}");
    }

    #[test]
    fn body_tags_are_encoded_by_the_content_type() {
        let with = |value: &str| vec![("content-TYPE".to_string(), value.to_string())];
        assert_eq!(body_encoding(&with("application/json")), Encoding::Json);
        assert_eq!(
            body_encoding(&with("application/vnd.api+json; charset=utf-8")),
            Encoding::Json
        );
        assert_eq!(
            body_encoding(&with("application/x-www-form-urlencoded")),
            Encoding::Form
        );
        assert_eq!(body_encoding(&with("text/plain")), Encoding::Plain);
        assert_eq!(body_encoding(&[]), Encoding::Plain);
    }

    #[test]
    fn header_values_never_split_the_request() {
        assert_eq!(header_value("a\r\nX-Evil: 1"), "a  X-Evil: 1");
        assert_eq!(header_value(" tab\tkept "), "tab\tkept");
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

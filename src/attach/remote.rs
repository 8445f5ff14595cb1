//! A window on a remote engine (`standby --connect https://HOST:PORT`): the same session
//! as the local channel, carried by the engine's HTTP API over TLS. `GET /attach` is a
//! stream of server-sent events, one frame (`ToWindow`, JSON) per event, which names its
//! session in the `X-Standby-Session` header; `POST /attach/{session}` carries each of the
//! window's frames (`ToEngine`) on a second connection, in order.
//!
//! The certificate is trusted on first use: its SHA-256 fingerprint is pinned for
//! `host:port` in [`KnownHosts`] after the first connection that the API accepted, and a
//! later certificate with another fingerprint is refused before any byte is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::sync::mpsc;

use super::AttachError;
use super::known_hosts::{KnownHosts, Pin};
use super::link::{Channel, Connecting, Connector, Fetching, Place};
use super::wire::{FrameError, MAX_FRAME, ToEngine, ToWindow};
use crate::model::Secret;
use crate::probe::tls::KeyHolder;

/// The header that names a stream's session.
pub const SESSION_HEADER: &str = "x-standby-session";
/// The engine sends a comment at least this often; a stream silent for
/// [`SILENT_AT_MOST`] is taken as lost (a cable pulled sends no reset).
pub const KEEP_ALIVE: Duration = Duration::from_secs(5);
const SILENT_AT_MOST: Duration = Duration::from_secs(15);
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

pub use crate::probe::tls::fingerprint;

/// A remote engine's API.
pub struct Remote {
    host: String,
    port: u16,
    /// Changed by the login screen between attempts ([`Remote::set_password`]).
    password: Mutex<Option<Secret>>,
    known_hosts: KnownHosts,
}

impl Remote {
    /// `url` is `https://HOST:PORT` (the port defaults to the API's 8100); `password`
    /// is the API's (user `admin`), `None` for an API without one.
    pub fn new(
        url: &str,
        password: Option<Secret>,
        known_hosts: KnownHosts,
    ) -> Result<Remote, AttachError> {
        let bad = |why: &str| AttachError::Address(format!("{url:?}: {why}"));
        let uri: http::Uri = url.parse().map_err(|e| bad(&format!("not a URL ({e})")))?;
        match uri.scheme_str() {
            Some("https") => {}
            Some(_) => return Err(bad("a remote engine is reached over https only")),
            None => return Err(bad("give https://HOST:PORT")),
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(bad("give only https://HOST:PORT, no path"));
        }
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        Ok(Remote {
            host,
            port: uri.port_u16().unwrap_or(8100),
            password: Mutex::new(password),
            known_hosts,
        })
    }

    /// `host:port`, as pinned and shown.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The password of the next connections (`None`: none sent).
    pub fn set_password(&self, password: Option<Secret>) {
        if let Ok(mut held) = self.password.lock() {
            *held = password;
        }
    }

    fn authorization(&self) -> Option<String> {
        use base64::Engine as _;
        let held = self.password.lock().ok()?;
        let password = held.as_ref()?;
        let pair = format!("admin:{}", password.expose());
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ))
    }

    /// A TLS connection checked against the pin, and the fingerprint it showed.
    async fn tls(
        &self,
        pin: &Pin,
    ) -> Result<(SendRequest<Full<Bytes>>, String, tokio::task::AbortHandle), AttachError> {
        let address = self.address();
        let io = |e: std::io::Error| AttachError::Refused(format!("{address}: {e}"));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Any certificate when none is pinned yet (it is pinned after a login), else the
        // pinned one; what the server showed is kept to pin it or to name it in the error.
        let pinned = match pin {
            Pin::Pinned(f) => Some(f.clone()),
            Pin::Unknown => None,
        };
        let shown: Arc<Mutex<Option<String>>> = Arc::default();
        let verifier = Arc::new(KeyHolder::new(provider.clone(), {
            let shown = shown.clone();
            move |certificate| {
                let now = fingerprint(certificate.as_ref());
                if let Ok(mut shown) = shown.lock() {
                    *shown = Some(now.clone());
                }
                match &pinned {
                    Some(pinned) if !pinned.eq_ignore_ascii_case(&now) => Err(
                        rustls::Error::General("the certificate is not the one pinned".into()),
                    ),
                    _ => Ok(()),
                }
            }
        }));
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| AttachError::Refused(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        let name = ServerName::try_from(self.host.clone())
            .map_err(|e| AttachError::Address(format!("{}: {e}", self.host)))?;
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(io)?;
            let handshake = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await;
            let seen = shown.lock().ok().and_then(|s| s.clone());
            match (handshake, pin, seen) {
                (Ok(tls), _, Some(seen)) => Ok((tls, seen)),
                (Err(_), Pin::Pinned(pinned), Some(now)) if !now.eq_ignore_ascii_case(pinned) => {
                    Err(AttachError::FingerprintChanged {
                        host: address.clone(),
                        pinned: pinned.clone(),
                        now,
                        file: self.known_hosts.file.clone(),
                    })
                }
                (Err(e), _, _) => Err(io(e)),
                (Ok(_), _, None) => Err(AttachError::Refused(format!(
                    "{address}: no certificate was shown"
                ))),
            }
        };
        let (tls, seen) = tokio::time::timeout(CONNECT_WITHIN, connect)
            .await
            .map_err(|_| AttachError::Timeout(CONNECT_WITHIN))??;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| AttachError::Refused(format!("{address}: {e}")))?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("the remote engine's connection: {e}");
            }
        });
        Ok((sender, seen, driver.abort_handle()))
    }

    fn request(
        &self,
        method: hyper::Method,
        path: &str,
        body: Bytes,
    ) -> hyper::Request<Full<Bytes>> {
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header(hyper::header::HOST, self.address());
        if let Some(authorization) = self.authorization() {
            builder = builder.header(hyper::header::AUTHORIZATION, authorization);
        }
        if !body.is_empty() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        } else {
            builder = builder.header(hyper::header::ACCEPT, "text/event-stream");
        }
        builder
            .body(Full::new(body))
            .unwrap_or_else(|_| hyper::Request::new(Full::new(Bytes::new())))
    }

    /// `GET /support`: the engine's own support file, over the pinned certificate only.
    async fn support(&self) -> Result<String, AttachError> {
        let address = self.address();
        let pin = match self.known_hosts.pin(&address)? {
            Pin::Unknown => {
                return Err(AttachError::Refused(format!(
                    "{address}: no certificate pinned yet"
                )));
            }
            pinned => pinned,
        };
        let (mut conn, _, driver) = self.tls(&pin).await?;
        let fetch = async {
            let response = conn
                .send_request(self.request(hyper::Method::GET, "/support", Bytes::new()))
                .await
                .map_err(|e| AttachError::Refused(format!("{address}: {e}")))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| AttachError::Refused(format!("{address}: {e}")))?
                .to_bytes();
            if !status.is_success() {
                return Err(refusal(&address, status, &body, None));
            }
            Ok(String::from_utf8_lossy(&body).into_owned())
        };
        let fetched = tokio::time::timeout(CONNECT_WITHIN * 3, fetch).await;
        driver.abort();
        fetched.map_err(|_| AttachError::Timeout(CONNECT_WITHIN * 3))?
    }

    async fn open(&self) -> Result<Channel, AttachError> {
        let address = self.address();
        let pin = self.known_hosts.pin(&address)?;
        let (mut stream_conn, seen, stream_driver) = self.tls(&pin).await?;
        let response = stream_conn
            .send_request(self.request(hyper::Method::GET, "/attach", Bytes::new()))
            .await
            .map_err(|e| AttachError::Refused(format!("{address}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            let retry_after = response
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = tokio::time::timeout(CONNECT_WITHIN, response.into_body().collect())
                .await
                .ok()
                .and_then(Result::ok)
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            return Err(refusal(&address, status, &body, retry_after));
        }
        // The API took the password: this certificate is the host's from now on.
        if pin == Pin::Unknown {
            self.known_hosts.remember(&address, &seen)?;
            tracing::info!("pinned the certificate of {address}: SHA-256 {seen}");
        }
        let session = response
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|s| s.chars().all(|c| c.is_ascii_hexdigit()) && !s.is_empty())
            .ok_or_else(|| AttachError::Protocol(format!("{address}: no session named")))?
            .to_string();
        let (post_conn, _, post_driver) = self.tls(&Pin::Pinned(seen)).await?;

        let (frames_tx, incoming) = mpsc::channel(64);
        // A frame the API refuses ends the channel at once (the reader's end carries
        // why), so that a password changed on the engine brings the login screen back now.
        let refused_tx = frames_tx.clone();
        let mut body = response.into_body();
        let reader = tokio::spawn(async move {
            let mut events = EventReader::default();
            loop {
                let frame = match tokio::time::timeout(SILENT_AT_MOST, body.frame()).await {
                    Err(_) => {
                        let _ = frames_tx
                            .send(Err(FrameError::Io(std::io::Error::new(
                                std::io::ErrorKind::TimedOut,
                                format!("nothing heard for {} s", SILENT_AT_MOST.as_secs()),
                            ))))
                            .await;
                        return;
                    }
                    Ok(None) => {
                        let _ = frames_tx.send(Err(FrameError::Closed)).await;
                        return;
                    }
                    Ok(Some(Err(e))) => {
                        let _ = frames_tx
                            .send(Err(FrameError::Io(std::io::Error::other(e.to_string()))))
                            .await;
                        return;
                    }
                    Ok(Some(Ok(frame))) => frame,
                };
                let Ok(data) = frame.into_data() else {
                    continue;
                };
                for event in events.push(&data) {
                    let frame = event.and_then(|text| {
                        serde_json::from_str::<ToWindow>(&text).map_err(FrameError::from)
                    });
                    let last = frame.is_err();
                    if frames_tx.send(frame).await.is_err() || last {
                        return;
                    }
                }
            }
        });
        let (outgoing, mut to_post) = mpsc::channel::<ToEngine>(64);
        let path = format!("/attach/{session}");
        let authorization = self.authorization();
        let host = address.clone();
        let poster = tokio::spawn(async move {
            let mut conn = post_conn;
            while let Some(frame) = to_post.recv().await {
                let Ok(body) = serde_json::to_vec(&frame) else {
                    continue;
                };
                let mut request = hyper::Request::builder()
                    .method(hyper::Method::POST)
                    .uri(&path)
                    .header(hyper::header::HOST, &host)
                    .header(hyper::header::CONTENT_TYPE, "application/json");
                if let Some(authorization) = &authorization {
                    request = request.header(hyper::header::AUTHORIZATION, authorization);
                }
                let Ok(request) = request.body(Full::new(Bytes::from(body))) else {
                    continue;
                };
                let sent = async {
                    conn.ready().await?;
                    let response = conn.send_request(request).await?;
                    let status = response.status();
                    // Read to the end, so that the connection takes the next request.
                    let _ = response.into_body().collect().await;
                    Ok::<_, hyper::Error>(status)
                };
                match tokio::time::timeout(CONNECT_WITHIN, sent).await {
                    Ok(Ok(status)) if status.is_success() => {}
                    Ok(Ok(status)) => {
                        tracing::warn!("{host} refused a frame of this window: {status}");
                        let why = format!("{host} refused a frame of this window: {status}");
                        let _ = refused_tx
                            .send(Err(FrameError::Io(std::io::Error::other(why))))
                            .await;
                        return;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!("posting to {host}: {e}");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!("posting to {host}: no answer");
                        return;
                    }
                }
            }
        });
        Ok(Channel {
            incoming,
            outgoing,
            tasks: vec![
                reader.abort_handle(),
                poster.abort_handle(),
                stream_driver,
                post_driver,
            ],
        })
    }
}

/// The API's no, in words: a refused password and the login throttle are their own
/// errors, so that the login screen asks again (and says how long to wait).
fn refusal(
    address: &str,
    status: hyper::StatusCode,
    body: &[u8],
    retry_after: Option<Duration>,
) -> AttachError {
    let said = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_default();
    match status.as_u16() {
        401 => AttachError::PasswordRefused {
            address: address.to_string(),
            said,
        },
        429 => AttachError::Throttled {
            address: address.to_string(),
            said,
            retry_after,
        },
        403 => AttachError::Refused(format!("{address} refused this window: {said}")),
        404 => AttachError::Refused(format!(
            "{address} answers, but not as a Standby engine that windows attach to"
        )),
        _ => AttachError::Refused(format!("{address} answered {status}: {said}")),
    }
}

impl Connector for Remote {
    fn connect(&self) -> Connecting<'_> {
        Box::pin(self.open())
    }

    fn support_text(&self) -> Option<Fetching<'_>> {
        Some(Box::pin(self.support()))
    }

    fn place(&self) -> Place {
        Place::Remote(self.address())
    }

    fn saves_locally(&self) -> bool {
        true
    }

    fn set_password(&self, password: Option<Secret>) -> bool {
        Remote::set_password(self, password);
        true
    }
}

/// Server-sent events out of a byte stream: the `data:` lines of each event (ended by a
/// blank line) joined; comments (the keep-alives) skipped. An event larger than the
/// local channel's largest frame is an error.
#[derive(Default)]
struct EventReader {
    buffer: Vec<u8>,
}

impl EventReader {
    fn push(&mut self, bytes: &[u8]) -> Vec<Result<String, FrameError>> {
        self.buffer.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = find_blank_line(&self.buffer) {
            let block: Vec<u8> = self.buffer.drain(..end.0 + end.1).collect();
            let text = String::from_utf8_lossy(&block[..end.0]);
            let data: Vec<&str> = text
                .lines()
                .filter_map(|line| line.strip_prefix("data:"))
                .map(|d| d.strip_prefix(' ').unwrap_or(d))
                .collect();
            if !data.is_empty() {
                events.push(Ok(data.join("\n")));
            }
        }
        if self.buffer.len() > MAX_FRAME {
            self.buffer.clear();
            events.push(Err(FrameError::TooLarge(MAX_FRAME + 1)));
        }
        events
    }
}

/// Where the first event ends: (its length, the length of the blank line after it).
fn find_blank_line(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn hosts() -> KnownHosts {
        KnownHosts::at(std::path::Path::new("/nonexistent/known_hosts"))
    }

    #[test]
    fn only_an_https_address_without_a_path_is_taken() {
        let r = Remote::new("https://engine.test:8443", None, hosts()).unwrap();
        assert_eq!(r.address(), "engine.test:8443");
        let r = Remote::new("https://[::1]", None, hosts()).unwrap();
        assert_eq!(r.address(), "[::1]:8100");
        for (url, why) in [
            ("http://engine.test:8100", "https only"),
            ("engine.test:8100", "https://HOST:PORT"),
            ("https://engine.test:8100/api", "no path"),
            ("https://", "not a URL"),
        ] {
            let e = Remote::new(url, None, hosts()).err().unwrap().to_string();
            assert!(e.contains(why), "{url}: {e}");
        }
    }

    #[test]
    fn events_are_cut_at_blank_lines_across_reads_and_keep_alives_skipped() {
        let mut reader = EventReader::default();
        assert!(reader.push(b": keep-alive\n\ndata: {\"a\"").is_empty());
        let events = reader.push(b":1}\n\ndata: x\r\n\r\n");
        let texts: Vec<String> = events.into_iter().map(Result::unwrap).collect();
        assert_eq!(texts, vec!["{\"a\":1}".to_string(), "x".to_string()]);
        let events = reader.push(b"data: one\ndata: two\n\n");
        assert_eq!(events.into_iter().next().unwrap().unwrap(), "one\ntwo");
    }

    #[test]
    fn the_fingerprint_is_the_one_the_api_prints() {
        let der = b"not really a certificate";
        assert_eq!(fingerprint(der), crate::api::tls::fingerprint(der));
    }

    #[test]
    fn refusals_say_what_to_do() {
        let e = refusal(
            "e.test:8100",
            hyper::StatusCode::UNAUTHORIZED,
            br#"{"error":"wrong or missing password for user admin"}"#,
            None,
        );
        assert!(matches!(e, AttachError::PasswordRefused { .. }), "{e:?}");
        assert!(e.to_string().contains("refused the password"), "{e}");
        let e = refusal(
            "e.test:8100",
            hyper::StatusCode::TOO_MANY_REQUESTS,
            br#"{"error":"too many wrong passwords from 127.0.0.1: try again in 2 s"}"#,
            Some(Duration::from_secs(2)),
        );
        assert_eq!(e.retry_after(), Some(Duration::from_secs(2)));
        assert!(e.to_string().contains("try again in 2 s"), "{e}");
    }
}

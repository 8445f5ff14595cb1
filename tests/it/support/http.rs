//! Test servers for the HTTP probe tests: a recording hyper server (plain or TLS), test
//! certificates, and raw servers that misbehave on purpose.
#![allow(dead_code)] // each area uses a part

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// The URL host of every test: it does not resolve, so only the poll address can work.
pub const HOST: &str = "www.example.test";
/// An international host name as typed, and as it goes out (Host, SNI, certificate).
pub const IDN_HOST: &str = "bücher.example.test";
pub const IDN_ASCII: &str = "xn--bcher-kva.example.test";
pub const WELCOME: &str = "<html><body><h1>Welcome</h1> to the test server</body></html>";
/// `/big` is this many filler bytes, then `TAIL`.
pub const BIG_FILLER: usize = 1 << 20;

/// One request as the test server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub connection: Option<String>,
    /// The TLS server name the client sent (HTTPS only).
    pub sni: Option<String>,
    pub path: String,
    /// Every header, names in lower case, in the order sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// The values of one header (lower-case name).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

pub type Log = Arc<Mutex<Vec<Seen>>>;

/// A hyper server on `ip`, port 0, plain or TLS, recording every request.
pub async fn http_server(ip: IpAddr, tls: Option<Arc<ServerConfig>>) -> (u16, Log) {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let acceptor = tls.map(TlsAcceptor::from);
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = server_log.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                match acceptor {
                    None => serve(tcp, None, log).await,
                    Some(acceptor) => {
                        // A client that rejects the certificate ends here.
                        let Ok(tls) = acceptor.accept(tcp).await else {
                            return;
                        };
                        let sni = tls.get_ref().1.server_name().map(str::to_owned);
                        serve(tls, sni, log).await;
                    }
                }
            });
        }
    });
    (port, log)
}

pub async fn serve<S>(io: S, sni: Option<String>, log: Log)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let log = log.clone();
        let sni = sni.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let header = |name: &str| {
                parts
                    .headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_owned())
            };
            let seen = Seen {
                method: parts.method.to_string(),
                host: header("host"),
                user_agent: header("user-agent"),
                connection: header("connection"),
                sni,
                path: parts.uri.path().to_owned(),
                headers: parts
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("?").to_owned()))
                    .collect(),
                body: body.to_vec(),
            };
            log.lock().unwrap().push(seen.clone());
            let response = match checks_response(&seen).await {
                Some(response) => response,
                None => respond(parts.uri.path()),
            };
            Ok::<_, Infallible>(response)
        }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

pub fn respond(path: &str) -> Response<Full<Bytes>> {
    let (status, body) = match path {
        "/" => (StatusCode::OK, Bytes::from_static(WELCOME.as_bytes())),
        "/busy" => (
            StatusCode::SERVICE_UNAVAILABLE,
            Bytes::from_static(b"later"),
        ),
        "/empty" => (StatusCode::NO_CONTENT, Bytes::new()),
        "/big" => {
            let mut body = vec![b'x'; BIG_FILLER];
            body.extend_from_slice(b"TAIL");
            (StatusCode::OK, Bytes::from(body))
        }
        _ => (StatusCode::NOT_FOUND, Bytes::from_static(b"no such page")),
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

/// The basic-authentication pair and bearer token `/auth/...` accept.
pub const BASIC_USER: &str = "monitor";
pub const BASIC_PASSWORD: &str = "s3cret";
pub const BEARER_TOKEN: &str = "t0ken-123";
/// `/json/up`; `/json/down` is the same with `"status":"DOWN"`.
pub const HEALTH_UP: &str =
    r#"{"status":"UP","components":{"db":{"status":"UP"}},"tags":["eu","primary"],"version":3}"#;
/// `/header` wants this header (the poll tags `$SERVERNAME$@$SETNAME$` of the tests' target).
pub const CHECK_HEADER: (&str, &str) = ("x-check", "test@set");

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

fn redirect(status: StatusCode, location: String) -> Response<Full<Bytes>> {
    let mut response = reply(status, Bytes::new());
    response
        .headers_mut()
        .insert("location", location.parse().unwrap());
    response
}

/// The pages of the HTTP check criteria (issue 16): headers, authentication, methods,
/// redirects, slow answers and JSON health documents. `None`: not one of them.
async fn checks_response(seen: &Seen) -> Option<Response<Full<Bytes>>> {
    let path = seen.path.as_str();
    let auth = seen.header("authorization").first().map(|a| a.to_string());
    let response = if path == "/header" {
        if seen.header(CHECK_HEADER.0) == [CHECK_HEADER.1] {
            reply(StatusCode::OK, "header seen")
        } else {
            reply(StatusCode::PRECONDITION_FAILED, "no X-Check header")
        }
    } else if path == "/auth/basic" {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD
            .encode(format!("{BASIC_USER}:{BASIC_PASSWORD}"));
        if auth == Some(format!("Basic {pair}")) {
            reply(StatusCode::OK, "welcome")
        } else {
            reply(StatusCode::UNAUTHORIZED, "who are you")
        }
    } else if path == "/auth/bearer" {
        if auth == Some(format!("Bearer {BEARER_TOKEN}")) {
            reply(StatusCode::OK, "welcome")
        } else {
            reply(StatusCode::UNAUTHORIZED, "who are you")
        }
    } else if let Some(method) = path.strip_prefix("/method/") {
        if seen.method == method {
            let body = format!(
                "got {} {}",
                seen.method,
                String::from_utf8_lossy(&seen.body)
            );
            reply(StatusCode::OK, body)
        } else {
            reply(StatusCode::METHOD_NOT_ALLOWED, "wrong method")
        }
    } else if let Some(n) = path.strip_prefix("/hop/") {
        // `/hop/N` redirects (relative Location) N times, then welcomes.
        match n.parse::<u32>().unwrap() {
            0 => reply(StatusCode::OK, WELCOME),
            n => redirect(StatusCode::FOUND, format!("{}", n - 1)),
        }
    } else if path == "/see-other" {
        redirect(StatusCode::SEE_OTHER, "/method/GET".into())
    } else if let Some(port) = path.strip_prefix("/away/") {
        // To the same page on another host: 127.0.0.3.
        redirect(StatusCode::FOUND, format!("http://127.0.0.3:{port}/"))
    } else if let Some(port) = path.strip_prefix("/to-https/") {
        // To HTTPS on the same host name, another port.
        redirect(
            StatusCode::MOVED_PERMANENTLY,
            format!("https://{HOST}:{port}/"),
        )
    } else if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(std::time::Duration::from_millis(ms.parse().unwrap())).await;
        reply(StatusCode::OK, WELCOME)
    } else if path == "/json/up" {
        reply(StatusCode::OK, HEALTH_UP)
    } else if path == "/json/down" {
        reply(StatusCode::OK, HEALTH_UP.replacen("\"UP\"", "\"DOWN\"", 1))
    } else if path == "/json/broken" {
        reply(StatusCode::OK, "<html>not json</html>")
    } else {
        return None;
    };
    Some(response)
}

pub fn url(port: u16, path: &str) -> String {
    format!("http://{HOST}:{port}{path}")
}

pub fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn server_config(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(
        ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// A self-signed certificate for [`HOST`].
pub fn self_signed() -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![HOST.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    server_config(vec![cert.der().clone()], &key)
}

/// A test CA (returned as PEM) and a server certificate for [`HOST`] and [`IDN_ASCII`]
/// signed by it.
pub fn ca_signed() -> (String, Arc<ServerConfig>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Standby test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![HOST.to_owned(), IDN_ASCII.to_owned()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf.signed_by(&key, &*ca).unwrap();
    (
        ca.pem(),
        server_config(vec![leaf.der().clone(), ca.der().clone()], &key),
    )
}

/// What a raw one-connection server does once it has read the request head.
pub enum Raw {
    /// Nothing; it reports when the client has closed.
    Silent(oneshot::Sender<()>),
    /// Closes.
    Close,
    /// Sends these bytes, then closes.
    Send(&'static [u8]),
}

pub async fn raw_server(ip: IpAddr, behaviour: Raw) -> u16 {
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        read_head(&mut stream).await;
        match behaviour {
            Raw::Silent(closed) => {
                let mut rest = Vec::new();
                let _ = stream.read_to_end(&mut rest).await;
                let _ = closed.send(());
            }
            Raw::Close => {}
            Raw::Send(bytes) => {
                let _ = stream.write_all(bytes).await;
            }
        }
    });
    port
}

pub async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
}

/// A plain HTTP server on ip:port that a test can stop (abort the task: connections are
/// then refused) and start again on the same address.
pub async fn stoppable_http_server(ip: IpAddr, port: u16) -> tokio::task::JoinHandle<()> {
    let listener = TcpListener::bind(SocketAddr::new(ip, port)).await.unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(serve(tcp, None, Arc::default()));
        }
    })
}

//! HTTP/HTTPS polling against real servers on 127.0.0.2 and 127.0.0.3. The URLs name
//! `www.example.test`, which does not resolve: a success proves the probe connected to the
//! poll address and sent the URL's host only as Host header and SNI.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
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
use standby::model::{Comparison, HttpCriteria, HttpPoll, HttpPollMethod, LengthRule, TextRule};
use standby::probe::http::HttpProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

const IP2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const IP3: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
const HOST: &str = "www.example.test";
const WELCOME: &str = "<html><body><h1>Welcome</h1> to the test server</body></html>";
/// `/big` is this many filler bytes, then `TAIL`.
const BIG_FILLER: usize = 1 << 20;

/// Every test ends within this, whatever goes wrong.
async fn bounded<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(30), test)
        .await
        .expect("test took too long")
}

fn target(address: IpAddr, timeout: Duration) -> PollTarget {
    PollTarget {
        address,
        public_address: address,
        name: "test".into(),
        host: HOST.into(),
        set_name: "set".into(),
        timeout,
    }
}

fn settings(url: String) -> HttpPoll {
    HttpPoll {
        url,
        ..HttpPoll::default()
    }
}

async fn poll_at(address: IpAddr, settings: &HttpPoll, timeout: Duration) -> PollOutcome {
    HttpProbe::new(settings)
        .unwrap()
        .poll(&target(address, timeout))
        .await
}

async fn poll(address: IpAddr, settings: &HttpPoll) -> PollOutcome {
    poll_at(address, settings, Duration::from_secs(10)).await
}

fn code(outcome: &PollOutcome) -> Option<u16> {
    outcome.failure.map(|f| f.code())
}

/// One request as the test server saw it.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    host: Option<String>,
    user_agent: Option<String>,
    connection: Option<String>,
    /// The TLS server name the client sent (HTTPS only).
    sni: Option<String>,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A hyper server on `ip`, port 0, plain or TLS, recording every request.
async fn http_server(ip: IpAddr, tls: Option<Arc<ServerConfig>>) -> (u16, Log) {
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

async fn serve<S>(io: S, sni: Option<String>, log: Log)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request: Request<Incoming>| {
        let header = |name: &str| {
            request
                .headers()
                .get(name)
                .map(|v| v.to_str().unwrap().to_owned())
        };
        log.lock().unwrap().push(Seen {
            method: request.method().to_string(),
            host: header("host"),
            user_agent: header("user-agent"),
            connection: header("connection"),
            sni: sni.clone(),
        });
        let response = respond(request.uri().path());
        async move { Ok::<_, Infallible>(response) }
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

fn respond(path: &str) -> Response<Full<Bytes>> {
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

fn url(port: u16, path: &str) -> String {
    format!("http://{HOST}:{port}{path}")
}

fn seen(log: &Log) -> Vec<Seen> {
    log.lock().unwrap().clone()
}

#[tokio::test]
async fn get_200_ok() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let outcome = poll(IP2, &settings(url(port, "/"))).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        let seen = seen(&log);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "GET");
        let agent = seen[0].user_agent.clone().unwrap();
        assert!(agent.starts_with("Standby/"), "{agent}");
        assert_eq!(seen[0].connection.as_deref(), Some("close"));
    })
    .await;
}

#[tokio::test]
async fn host_header_is_url_host_while_connecting_to_the_ip() {
    bounded(async {
        let (port, log) = http_server(IP3, None).await;
        let outcome = poll(IP3, &settings(url(port, "/"))).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(seen(&log)[0].host, Some(format!("{HOST}:{port}")));
    })
    .await;
}

#[tokio::test]
async fn status_503_fails_with_147() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let outcome = poll(IP2, &settings(url(port, "/busy"))).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "503 Service Unavailable: status 503 is not 200"
        );
    })
    .await;
}

#[tokio::test]
async fn status_204_accepted_when_listed() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let mut s = settings(url(port, "/empty"));
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        s.criteria.status_codes = vec![200, 204];
        let outcome = poll(IP2, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "204 No Content");
    })
    .await;
}

fn length(comparison: Comparison, bytes: u64) -> HttpCriteria {
    HttpCriteria {
        content_length: Some(LengthRule { comparison, bytes }),
        ..HttpCriteria::default()
    }
}

#[tokio::test]
async fn head_request_uses_content_length() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let len = WELCOME.len() as u64;
        let mut s = HttpPoll {
            method: HttpPollMethod::Head,
            criteria: length(Comparison::Equal, len),
            ..settings(url(port, "/"))
        };
        let outcome = poll(IP2, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        assert_eq!(seen(&log)[0].method, "HEAD");

        s.criteria = length(Comparison::Greater, len);
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            format!("200 OK: length {len} is not > {len}")
        );

        // Body rules do not apply to a HEAD, which has no body.
        s.criteria = HttpCriteria {
            body: vec![TextRule::Contains("not there".into())],
            ..HttpCriteria::default()
        };
        assert!(poll(IP2, &s).await.is_success());
    })
    .await;
}

#[tokio::test]
async fn content_length_rules() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let len = WELCOME.len() as u64;
        let cases = [
            (Comparison::Equal, len, true),
            (Comparison::Equal, len + 1, false),
            (Comparison::Less, len + 1, true),
            (Comparison::Less, len, false),
            (Comparison::Greater, len - 1, true),
            (Comparison::Greater, len, false),
        ];
        for (comparison, bytes, ok) in cases {
            let s = HttpPoll {
                criteria: length(comparison, bytes),
                ..settings(url(port, "/"))
            };
            let outcome = poll(IP2, &s).await;
            if ok {
                assert!(outcome.is_success(), "{comparison:?} {bytes}: {outcome:?}");
            } else {
                assert_eq!(
                    code(&outcome),
                    Some(147),
                    "{comparison:?} {bytes}: {outcome:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn body_rules() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let cases = [
            (TextRule::Contains("Welcome".into()), None),
            (
                TextRule::Contains("Goodbye".into()),
                Some(r#"200 OK: body does not contain "Goodbye""#),
            ),
            (TextRule::NotContains("Error".into()), None),
            (
                TextRule::NotContains("Welcome".into()),
                Some(r#"200 OK: body contains "Welcome""#),
            ),
            (TextRule::Matches("<h1>W[a-z]+</h1>".into()), None),
            (
                TextRule::Matches("^Welcome".into()),
                Some("200 OK: body does not match /^Welcome/"),
            ),
            (TextRule::NotMatches("(?i)internal error".into()), None),
            (
                TextRule::NotMatches("test server".into()),
                Some("200 OK: body matches /test server/"),
            ),
        ];
        for (rule, failure) in cases {
            let s = HttpPoll {
                criteria: HttpCriteria {
                    body: vec![rule.clone()],
                    ..HttpCriteria::default()
                },
                ..settings(url(port, "/"))
            };
            let outcome = poll(IP2, &s).await;
            match failure {
                None => assert!(outcome.is_success(), "{rule:?}: {outcome:?}"),
                Some(text) => {
                    assert_eq!(code(&outcome), Some(147), "{rule:?}: {outcome:?}");
                    assert_eq!(outcome.response, text);
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn big_body_counts_whole_length_but_judges_first_mib() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let total = BIG_FILLER as u64 + 4;
        let mut s = HttpPoll {
            criteria: length(Comparison::Equal, total),
            ..settings(url(port, "/big"))
        };
        let outcome = poll(IP2, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");

        // `TAIL` lies past the first MiB, so the text rule does not see it.
        s.criteria.body = vec![TextRule::Contains("TAIL".into())];
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        s.criteria.content_length = None;
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------- HTTPS

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(chain: Vec<CertificateDer<'static>>, key: &KeyPair) -> Arc<ServerConfig> {
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
fn self_signed() -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![HOST.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    server_config(vec![cert.der().clone()], &key)
}

/// A test CA (returned as PEM) and a server certificate for [`HOST`] signed by it.
fn ca_signed() -> (String, Arc<ServerConfig>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "Standby test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::new(vec![HOST.to_owned()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf = leaf.signed_by(&key, &*ca).unwrap();
    (
        ca.pem(),
        server_config(vec![leaf.der().clone(), ca.der().clone()], &key),
    )
}

fn https(port: u16, verify: bool) -> HttpPoll {
    HttpPoll {
        verify_certificate: verify,
        ..settings(format!("https://{HOST}:{port}/"))
    }
}

#[tokio::test]
async fn https_without_verification_sends_sni_and_host() {
    bounded(async {
        let (port, log) = http_server(IP3, Some(self_signed())).await;
        let outcome = poll(IP3, &https(port, false)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        let seen = seen(&log);
        assert_eq!(seen[0].sni.as_deref(), Some(HOST));
        assert_eq!(seen[0].host, Some(format!("{HOST}:{port}")));
    })
    .await;
}

#[tokio::test]
async fn https_to_ip_literal_sends_no_sni() {
    bounded(async {
        let (port, log) = http_server(IP3, Some(self_signed())).await;
        let s = HttpPoll {
            verify_certificate: false,
            ..settings(format!("https://{IP3}:{port}/"))
        };
        let outcome = poll(IP3, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");
        // SNI carries DNS names only (RFC 6066 §3).
        assert_eq!(seen(&log)[0].sni, None);
    })
    .await;
}

#[tokio::test]
async fn https_verification_rejects_self_signed_with_112() {
    bounded(async {
        let (port, log) = http_server(IP3, Some(self_signed())).await;
        let outcome = poll(IP3, &https(port, true)).await;
        assert_eq!(code(&outcome), Some(112), "{outcome:?}");
        assert!(outcome.response.starts_with("TLS: "), "{outcome:?}");
        assert!(seen(&log).is_empty());
    })
    .await;
}

/// The platform verifier reads the system's roots once per probe; on Linux they come from
/// `SSL_CERT_FILE` when it is set. Setting it in this process would race the other tests,
/// so this test runs `https_verify_on_child` in a child process with it set.
#[tokio::test]
async fn https_verification_trusts_ssl_cert_file() {
    bounded(async {
        let (ca_pem, config) = ca_signed();
        let (port, log) = http_server(IP2, Some(config)).await;
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let output = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "https_verify_on_child",
                "--exact",
                "--ignored",
                "--test-threads=1",
            ])
            .env("SSL_CERT_FILE", &ca_file)
            .env_remove("SSL_CERT_DIR")
            .env("STANDBY_TEST_HTTPS_PORT", port.to_string())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The child's successful poll reached this server.
        assert_eq!(seen(&log).len(), 1);
    })
    .await;
}

#[tokio::test]
#[ignore = "run by https_verification_trusts_ssl_cert_file with SSL_CERT_FILE set"]
async fn https_verify_on_child() {
    let port: u16 = std::env::var("STANDBY_TEST_HTTPS_PORT")
        .unwrap()
        .parse()
        .unwrap();
    bounded(async {
        let outcome = poll(IP2, &https(port, true)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        // The chain is trusted, but the name must still match.
        let other = HttpPoll {
            verify_certificate: true,
            ..settings(format!("https://other.example.test:{port}/"))
        };
        let outcome = poll(IP2, &other).await;
        assert_eq!(code(&outcome), Some(112), "{outcome:?}");
    })
    .await;
}

// ------------------------------------------------------------------------ broken servers

/// What a raw one-connection server does once it has read the request head.
enum Raw {
    /// Nothing; it reports when the client has closed.
    Silent(oneshot::Sender<()>),
    /// Closes.
    Close,
    /// Sends these bytes, then closes.
    Send(&'static [u8]),
}

async fn raw_server(ip: IpAddr, behaviour: Raw) -> u16 {
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

async fn read_head(stream: &mut TcpStream) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
}

#[tokio::test]
async fn refused_is_111() {
    bounded(async {
        // A port that was just free: nothing listens there now.
        let port = {
            let listener = TcpListener::bind(SocketAddr::new(IP2, 0)).await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let outcome = poll(IP2, &settings(url(port, "/"))).await;
        assert_eq!(code(&outcome), Some(111), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn silent_server_times_out_with_124_and_is_let_go() {
    bounded(async {
        let (closed_tx, closed) = oneshot::channel();
        let port = raw_server(IP2, Raw::Silent(closed_tx)).await;
        let timeout = Duration::from_secs(1);
        let outcome = poll_at(IP2, &settings(url(port, "/")), timeout).await;
        assert_eq!(code(&outcome), Some(124), "{outcome:?}");
        assert_eq!(outcome.response, "timeout after 1 s waiting for response");
        assert!(outcome.elapsed >= timeout, "{outcome:?}");
        assert!(outcome.elapsed < Duration::from_secs(2), "{outcome:?}");
        // Nothing of the poll lingers: the server sees the connection closed.
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("the connection stayed open after the time-out")
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn closed_before_answer_is_134() {
    bounded(async {
        let port = raw_server(IP3, Raw::Close).await;
        let outcome = poll(IP3, &settings(url(port, "/"))).await;
        assert_eq!(code(&outcome), Some(134), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "connection closed before a complete response"
        );
    })
    .await;
}

#[tokio::test]
async fn closed_in_body_is_136() {
    bounded(async {
        let port = raw_server(
            IP3,
            Raw::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part"),
        )
        .await;
        let s = HttpPoll {
            criteria: HttpCriteria {
                body: vec![TextRule::Contains("part".into())],
                ..HttpCriteria::default()
            },
            ..settings(url(port, "/"))
        };
        let outcome = poll(IP3, &s).await;
        assert_eq!(code(&outcome), Some(136), "{outcome:?}");
        assert!(
            outcome
                .response
                .starts_with("connection closed before a complete response"),
            "{outcome:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn garbage_response_is_145() {
    bounded(async {
        let port = raw_server(IP3, Raw::Send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")).await;
        let outcome = poll(IP3, &settings(url(port, "/"))).await;
        assert_eq!(code(&outcome), Some(145), "{outcome:?}");
    })
    .await;
}

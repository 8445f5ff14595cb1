//! The API over HTTPS with a self-signed certificate made at the first start: a client
//! that pins the fingerprint `standby api fingerprint` prints gets in; one pinning another
//! fingerprint is refused in the handshake; plain HTTP gets no answer.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::ServerName;
use standby::engine::{EngineConfig, EngineHandle};
use standby::model::options::ApiTls;
use standby::model::{Secret, Settings, file};
use standby::probe::tls::KeyHolder;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::ports::free_addr;
use crate::support::wait_until;

const PASSWORD: &str = "tls-admin-pw";

/// Trusts exactly one certificate, by its SHA-256 (trust on first use, as a window would).
fn pinned(provider: Arc<CryptoProvider>, fingerprint: String) -> KeyHolder {
    KeyHolder::new(provider, move |certificate| {
        if standby::api::tls::fingerprint(certificate.as_ref()) == fingerprint {
            Ok(())
        } else {
            Err(rustls::Error::General("another certificate".into()))
        }
    })
}

/// GET /log over TLS pinned to `fingerprint`: the status line, or the handshake error.
async fn get_log(api: SocketAddr, fingerprint: &str) -> Result<String, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(pinned(provider, fingerprint.to_string())))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(api).await.unwrap();
    let name = ServerName::IpAddress(api.ip().into());
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .expect("a handshake within 10 s")
        .map_err(|e| e.to_string())?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    let head = format!(
        "GET /log HTTP/1.1\r\nHost: {api}\r\nAuthorization: Basic {token}\r\nConnection: close\r\n\r\n"
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut answer))
        .await
        .expect("an answer within 10 s");
    let text = String::from_utf8_lossy(&answer).to_string();
    Ok(text.lines().next().unwrap_or("").to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_self_signed_certificate_pinned_by_its_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let api = free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut settings = Settings::default();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = api.to_string();
    settings.options.http_api.password = Secret::new(PASSWORD);
    settings.options.http_api.tls = ApiTls::SelfSigned;
    file::save(&path, &settings).unwrap();
    let engine = EngineHandle::spawn(EngineConfig {
        settings_path: Some(path.clone()),
        ..EngineConfig::in_memory(settings)
    })
    .unwrap();
    standby::api::spawn(engine.client()).unwrap();
    let said = "HTTP API listening on https://";
    let snapshot = wait_until(&engine, "the API on HTTPS", |s| {
        s.log.iter().any(|l| l.text.starts_with(said))
    })
    .await;
    let line = snapshot
        .log
        .iter()
        .find(|l| l.text.starts_with(said))
        .unwrap()
        .text
        .clone();
    let logged = line
        .split("certificate SHA-256 ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_string();
    assert!(dir.path().join("api-cert.pem").exists());
    // The command line prints the same fingerprint, from the same files.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_standby"))
        .args(["--config", path.to_str().unwrap(), "api", "fingerprint"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap().trim().to_string();
    assert_eq!(printed, logged);

    assert_eq!(get_log(api, &printed).await.unwrap(), "HTTP/1.1 200 OK");
    let other = "00:".repeat(31) + "00";
    let refused = get_log(api, &other).await.unwrap_err();
    assert!(refused.contains("another certificate"), "{refused}");
    // Plain HTTP to the HTTPS port: no answer, the connection is closed.
    let mut plain = TcpStream::connect(api).await.unwrap();
    plain
        .write_all(format!("GET /log HTTP/1.1\r\nHost: {api}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), plain.read_to_end(&mut answer))
        .await
        .expect("closed within 30 s");
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    engine.shutdown();
}

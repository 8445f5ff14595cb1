//! The HTTP API over a real socket: authentication, reading, commands, changing settings,
//! clear errors that name the field, 404 for unknown ids, metrics.

use std::net::SocketAddr;
use std::time::Duration;

use base64::Engine as _;
use standby::engine::{EngineConfig, EngineHandle, Level};
use standby::model::{PollMethod, Secret, Server, ServerSet, Settings, TcpPoll, TcpService};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::wait_until;

pub(crate) const PASSWORD: &str = "s3cret";

/// One HTTP/1.1 request with `Connection: close`; returns status and body.
pub(crate) async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    password: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let auth = password
        .map(|p| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{p}"));
            format!("Authorization: Basic {token}\r\n")
        })
        .unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn start() -> (EngineHandle, SocketAddr) {
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web site".into(),
        servers: vec![Server {
            public_ip: "127.0.0.1".into(),
            ..Server::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(9),
            ..TcpPoll::default()
        }),
        ..ServerSet::default()
    });
    start_with(settings, "web site").await
}

/// An engine on `settings` (with `PASSWORD` for the API, on a free port) and its API,
/// once the snapshot shows the set `first`.
pub(crate) async fn start_with(mut settings: Settings, first: &str) -> (EngineHandle, SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = address.to_string();
    settings.options.http_api.password = Secret::new(PASSWORD);
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    // Requests read the engine's snapshot: wait for the first one with the set.
    wait_until(&engine, "the first snapshot", |s| s.set(first).is_some()).await;
    standby::api::spawn(engine.client()).unwrap();
    // Wait until the API answers (bounded).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(address).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (engine, address)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_as_an_operator_uses_it() {
    let (engine, api) = start().await;
    let auth = Some(PASSWORD);

    assert_eq!(request(api, "GET", "/serversets", None, "").await.0, 401);
    assert_eq!(
        request(api, "GET", "/serversets", Some("wrong"), "")
            .await
            .0,
        401
    );

    let (status, body) = request(api, "GET", "/serversets", auth, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"id\":\"web site\""), "{body}");
    let (status, body) = request(api, "GET", "/serversets/web%20site/status", auth, "").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"public_ip\":\"127.0.0.1\""), "{body}");
    assert_eq!(
        request(api, "GET", "/serversets/nope", auth, "").await.0,
        404
    );
    assert_eq!(
        request(api, "POST", "/serversets/nope/pause", auth, "")
            .await
            .0,
        404
    );

    // Commands.
    assert_eq!(request(api, "POST", "/pauseall", auth, "").await.0, 204);
    wait_until(&engine, "paused through the API", |s| s.all_paused).await;
    assert_eq!(request(api, "POST", "/resumeall", auth, "").await.0, 204);
    wait_until(&engine, "resumed", |s| !s.all_paused).await;
    assert_eq!(
        request(api, "POST", "/serversets/web%20site/pause", auth, "")
            .await
            .0,
        204
    );
    wait_until(&engine, "set paused", |s| {
        s.set("web site").is_some_and(|x| x.paused)
    })
    .await;

    // Create a set; the shapes are those of the configuration.
    // A body is complete, every field written out (as GET returns it).
    let new_set = serde_json::to_string(&ServerSet {
        name: "mail".into(),
        servers: vec![Server {
            public_ip: "127.0.0.1".into(),
            ..Server::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            service: TcpService::Smtp,
            port: Some(9),
            ..TcpPoll::default()
        }),
        ..ServerSet::default()
    })
    .unwrap();
    let (status, body) = request(api, "POST", "/serversets", auth, &new_set).await;
    assert_eq!(status, 201, "{body}");
    wait_until(&engine, "the new set", |s| s.set("mail").is_some()).await;
    let (status, body) = request(api, "GET", "/serversets/mail/config", auth, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("\"Smtp\""), "{body}");

    // Wrong input: 400 with a message that names the field.
    let bad_ip = new_set.replace("\"127.0.0.1\"", "\"10.0.0.300\"");
    let (status, body) = request(api, "PUT", "/serversets/mail/config", auth, &bad_ip).await;
    assert_eq!(status, 400);
    assert!(
        body.contains("server_sets[1].servers[0].public_ip"),
        "{body}"
    );
    // ... and lists every wrong field with its path as data.
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let fields = parsed["fields"].as_array().expect("a list of fields");
    assert!(
        fields
            .iter()
            .any(|f| f["path"] == "server_sets[1].servers[0].public_ip"
                && f["message"] == "\"10.0.0.300\" is not an IP address"),
        "{body}"
    );
    let (status, body) = request(
        api,
        "PUT",
        "/options",
        auth,
        r#"{"polling":{"max_polls":3}}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(body.contains("max_polls"), "{body}");
    // A value of the wrong type: the error says where it is.
    let (status, body) = request(
        api,
        "PUT",
        "/options",
        auth,
        r#"{"polling":{"max_concurrent_polls":"many"}}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.contains("invalid JSON at polling.max_concurrent_polls: invalid type"),
        "{body}"
    );
    let (status, body) = request(api, "POST", "/serversets", auth, "{not json").await;
    assert_eq!(status, 400, "{body}");

    // Options round trip.
    let (status, options) = request(api, "GET", "/options", auth, "").await;
    assert_eq!(status, 200);
    let changed = options.replace("\"max_concurrent_polls\":0", "\"max_concurrent_polls\":7");
    assert_ne!(changed, options);
    assert_eq!(request(api, "PUT", "/options", auth, &changed).await.0, 204);
    wait_until(&engine, "options applied", |s| {
        s.settings.options.polling.max_concurrent_polls == 7
    })
    .await;

    let (status, metrics) = request(api, "GET", "/metrics", auth, "").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("standby_set_paused{set=\"web site\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            "standby_server_polls_total{set=\"web site\",server=\"127.0.0.1\",result=\"failure\"}"
        ),
        "{metrics}"
    );

    assert_eq!(
        request(api, "DELETE", "/serversets/mail", auth, "").await.0,
        204
    );
    wait_until(&engine, "the set is gone", |s| s.set("mail").is_none()).await;
    let (status, body) = request(api, "GET", "/problems", auth, "").await;
    assert_eq!(status, 200);
    assert!(body.starts_with('['), "{body}");
    let (status, body) = request(api, "GET", "/log", auth, "").await;
    assert_eq!(status, 200);
    assert!(body.contains("all polling paused"), "{body}");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_the_api_cannot_listen_on_shows_in_the_engine_log() {
    // The port is taken for as long as the test runs.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let mut settings = Settings::default();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = address.to_string();
    settings.options.http_api.log_requests = true;
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    standby::api::spawn(engine.client()).unwrap();
    let said = format!("HTTP API: cannot listen on {address}");
    wait_until(&engine, "the failure in the Log tab's lines", |s| {
        s.log
            .iter()
            .any(|line| line.level == Level::Error && line.text.starts_with(&said))
    })
    .await;
    engine.shutdown();
}

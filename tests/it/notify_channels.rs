//! HTTP, command-line and system-log notifications against real peers: a local HTTP
//! server that records requests, real programs, and a syslog socket the test owns.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use standby::model::criteria::{CommandWait, ExitCodeRule};
use standby::model::tags::TagValues;
use standby::model::{BasicAuth, CommandSpec, HttpRequest, HttpVerb, NotificationKind, Secret};
use standby::notify::{NotifyConfig, build};
use tokio::net::TcpListener;

const LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: String,
}

/// An HTTP server on 127.0.0.39 that records every request and answers `status`.
async fn recorder(status: u16) -> (u16, Arc<Mutex<Vec<Recorded>>>) {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 39], 0)))
        .await
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = server_log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let log = log.clone();
                    async move {
                        let method = request.method().to_string();
                        let uri = request.uri().to_string();
                        let headers = request
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                            .collect();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        log.lock().unwrap().push(Recorded {
                            method,
                            uri,
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        let response = Response::builder()
                            .status(status)
                            .body(Full::new(Bytes::from("recorded")))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (port, log)
}

fn tags() -> TagValues {
    TagValues::new()
        .with("EVENT", "Server failed")
        .with("SETNAME", "web shop")
        .with("SERVERIP", "192.0.2.7")
}

async fn send(kind: &NotificationKind, config: &NotifyConfig) -> Result<String, String> {
    let notifier = build(kind, config).map_err(|e| e.to_string())?;
    tokio::time::timeout(LIMIT, notifier.send(&tags()))
        .await
        .expect("ended in time")
        .map_err(|e| format!("{} {e}", e.code()))
}

fn header<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn http_get_post_put_with_headers_body_and_basic_auth() {
    let (port, log) = recorder(200).await;
    for verb in [HttpVerb::Get, HttpVerb::Post, HttpVerb::Put] {
        let request = HttpRequest {
            verb,
            url: format!("http://127.0.0.39:{port}/hook?set=$SETNAME$&ip=$SERVERIP$"),
            headers: vec![("X-Event".into(), "$EVENT$".into())],
            body: "{\"text\":\"$EVENT$ in $SETNAME$\"}".into(),
            basic_auth: Some(BasicAuth {
                user: "hook".into(),
                password: Secret::new("pw"),
            }),
            ..HttpRequest::default()
        };
        let text = send(&NotificationKind::Http(request), &NotifyConfig::default())
            .await
            .unwrap();
        assert!(text.contains("HTTP 200"), "{text}");
    }
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        seen.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(),
        ["GET", "POST", "PUT"]
    );
    for r in &seen {
        assert_eq!(r.uri, "/hook?set=web%20shop&ip=192.0.2.7");
        assert_eq!(header(r, "x-event"), Some("Server failed"));
        // "hook:pw"
        assert_eq!(header(r, "authorization"), Some("Basic aG9vazpwdw=="));
    }
    assert_eq!(seen[0].body, "");
    assert_eq!(seen[1].body, "{\"text\":\"Server failed in web shop\"}");
    assert_eq!(seen[2].body, seen[1].body);
}

#[tokio::test]
async fn http_wrong_status_is_an_answer_problem() {
    let (port, _log) = recorder(500).await;
    let request = HttpRequest {
        url: format!("http://127.0.0.39:{port}/hook?token=SECRET"),
        ..HttpRequest::default()
    };
    let err = send(&NotificationKind::Http(request), &NotifyConfig::default())
        .await
        .unwrap_err();
    assert!(err.starts_with("344 "), "{err}");
    assert!(err.contains("HTTP 500 Internal Server Error"), "{err}");
    assert!(!err.contains("SECRET"), "the query leaked: {err}");
}

#[cfg(unix)]
#[tokio::test]
async fn command_gets_tags_as_arguments_and_its_exit_code_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.txt");
    let spec = CommandSpec {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "printf '%s|%s' \"$1\" \"$2\" > \"$3\"; exit 3".into(),
            "sh".into(),
            "$EVENT$".into(),
            "$SETNAME$; rm -rf /".into(),
            out.display().to_string(),
        ],
        // No rule of its own: any exit code is fine, but it is logged.
        wait: None,
    };
    let text = send(&NotificationKind::Command(spec), &NotifyConfig::default())
        .await
        .unwrap();
    assert_eq!(text, "sh: exit code 3");
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "Server failed|web shop; rm -rf /"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn a_hung_command_is_killed_after_its_time_out() {
    let spec = CommandSpec {
        program: "sleep".into(),
        args: vec!["30".into()],
        wait: Some(CommandWait {
            timeout_secs: 1,
            exit_code: Some(ExitCodeRule::default()),
            stdout: None,
        }),
    };
    let started = std::time::Instant::now();
    let err = send(&NotificationKind::Command(spec), &NotifyConfig::default())
        .await
        .unwrap_err();
    assert!(err.starts_with("324 "), "{err}");
    assert!(err.contains("killed"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[cfg(unix)]
#[tokio::test]
async fn system_log_line_reaches_the_syslog_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let socket = tokio::net::UnixDatagram::bind(&path).unwrap();
    let config = NotifyConfig {
        syslog_socket: Some(path.clone()),
        ..NotifyConfig::default()
    };
    send(&NotificationKind::SystemLog, &config).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(LIMIT, socket.recv(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(line.starts_with("<29>"), "{line}");
    assert!(
        line.contains(&format!(
            "standby[{}]: Server failed: set web shop",
            std::process::id()
        )),
        "{line}"
    );
    assert!(line.contains("192.0.2.7"), "{line}");

    // Nobody listening: a problem naming the socket.
    drop(socket);
    std::fs::remove_file(&path).unwrap();
    let err = send(&NotificationKind::SystemLog, &config)
        .await
        .unwrap_err();
    assert!(err.starts_with("313 "), "{err}");
    assert!(err.contains(&path.display().to_string()), "{err}");
}

/// The *Test...* button's command reaches the dispatcher through a plain `EngineClient`
/// (the API's or a window's), not only through the handle that owns the engine.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_test_notification_goes_through_any_engine_client() {
    use standby::engine::{EngineConfig, EngineHandle};
    use standby::model::{NotificationMethod, Settings};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("test.txt");
    let method = NotificationMethod {
        kind: NotificationKind::Command(CommandSpec {
            program: "sh".into(),
            args: vec![
                "-c".into(),
                "printf '%s' \"$1\" > \"$2\"".into(),
                "sh".into(),
                "$EVENT$".into(),
                out.display().to_string(),
            ],
            wait: None,
        }),
        ..NotificationMethod::default()
    };
    let engine = EngineHandle::spawn(EngineConfig::in_memory(Settings::default())).unwrap();
    let client = engine.client();
    let text = tokio::time::timeout(Duration::from_secs(20), client.test_notification(method))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(text, "sh: exit code 0");
    assert!(std::fs::read_to_string(&out).unwrap().contains("Test"));
    tokio::task::spawn_blocking(move || engine.shutdown())
        .await
        .unwrap();
}

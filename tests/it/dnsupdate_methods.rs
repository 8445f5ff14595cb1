//! The HTTP and command-line update methods against real peers: a recording hyper server
//! on 127.0.0.1 and small programs that write their argv to a file. No DNS server needed.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use standby::dnsupdate::{self, DnsUpdater, Records, UpdateRequest};
use standby::model::{
    BasicAuth, CommandSpec, CommandWait, HttpRequest, HttpVerb, Secret, TextRule, UpdateMethod,
};
use tokio::net::TcpListener;

/// Every test ends well within this.
const LIMIT: Duration = Duration::from_secs(20);

/// One request as the server saw it.
#[derive(Clone, Debug, Default)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// A server that records each request and answers by path: `/forbidden` 403, `/slow`
/// never, `/bad` 200 with `badauth`, anything else 200 with `good 192.0.2.1`.
async fn server() -> (u16, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let server_log = log.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let log = server_log.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let log = log.clone();
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        log.lock().unwrap().push(Seen {
                            method: parts.method.to_string(),
                            path_and_query: parts.uri.path_and_query().unwrap().to_string(),
                            headers: parts
                                .headers
                                .iter()
                                .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
                                .collect(),
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        let (status, text) = match parts.uri.path() {
                            "/forbidden" => (StatusCode::FORBIDDEN, "no"),
                            "/slow" => std::future::pending().await,
                            "/bad" => (StatusCode::OK, "badauth"),
                            _ => (StatusCode::OK, "good 192.0.2.1"),
                        };
                        let mut response = Response::new(Full::new(Bytes::from(text)));
                        *response.status_mut() = status;
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

fn request() -> UpdateRequest {
    UpdateRequest {
        server: "127.0.0.1:53".parse().unwrap(),
        server_label: "ns1.example.test".into(),
        host: "www.example.test.".into(),
        zone: "example.test.".into(),
        wanted: Records::new(
            vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()],
            Some(60),
        ),
        ttl: 60,
        current: Records::new(vec!["192.0.2.9".parse().unwrap()], Some(60)),
        set_name: "web & mail".into(),
        timeout: Duration::from_secs(10),
    }
}

fn updater(method: UpdateMethod) -> Arc<dyn DnsUpdater> {
    dnsupdate::build(&method).unwrap()
}

async fn update(method: UpdateMethod) -> Result<String, dnsupdate::DnsError> {
    let updater = updater(method);
    let request = request();
    tokio::time::timeout(LIMIT, updater.update(&request))
        .await
        .expect("the update did not end in time")
}

fn http(port: u16, path_and_query: &str) -> HttpRequest {
    HttpRequest {
        url: format!("http://127.0.0.1:{port}{path_and_query}"),
        ..HttpRequest::default()
    }
}

#[tokio::test]
async fn http_get_with_url_encoded_tags_and_headers() {
    let (port, log) = server().await;
    let mut settings = http(
        port,
        "/nic/update?hostname=$HOST$&myip=$IPS$&set=$SETNAME$&v4=$IPV4$",
    );
    settings.headers = vec![("X-Set".into(), "$SETNAME$ on $DNSSERVER$".into())];
    settings.criteria.body = vec![TextRule::StartsWith("good".into())];
    let text = update(UpdateMethod::Http(settings)).await.unwrap();
    assert_eq!(text, "HTTP 200 OK");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.path_and_query,
        "/nic/update?hostname=www.example.test&myip=192.0.2.1%2C2001%3Adb8%3A%3A1\
         &set=web%20%26%20mail&v4=192.0.2.1"
    );
    // Headers take tags as they are.
    assert_eq!(seen.header("x-set"), Some("web & mail on ns1.example.test"));
    assert!(seen.header("user-agent").unwrap().starts_with("Standby/"));
    assert!(seen.header("authorization").is_none());
}

#[tokio::test]
async fn http_post_body_and_basic_auth() {
    let (port, log) = server().await;
    let mut settings = http(port, "/records/$ZONE$");
    settings.verb = HttpVerb::Post;
    settings.headers = vec![("Content-Type".into(), "application/json".into())];
    settings.body = r#"{"name":"$HOST$","ips":"$IPS$","ttl":$TTL$}"#.into();
    settings.basic_auth = Some(BasicAuth {
        user: "standby".into(),
        password: Secret::new("s3cret:pw"),
    });
    update(UpdateMethod::Http(settings.clone())).await.unwrap();
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path_and_query, "/records/example.test");
    assert_eq!(
        seen.body,
        r#"{"name":"www.example.test","ips":"192.0.2.1,2001:db8::1","ttl":60}"#
    );
    assert_eq!(seen.header("content-type"), Some("application/json"));
    // base64("standby:s3cret:pw")
    assert_eq!(
        seen.header("authorization"),
        Some("Basic c3RhbmRieTpzM2NyZXQ6cHc=")
    );

    settings.verb = HttpVerb::Put;
    update(UpdateMethod::Http(settings)).await.unwrap();
    assert_eq!(log.lock().unwrap()[1].method, "PUT");
}

#[tokio::test]
async fn http_failures_name_the_cause() {
    let (port, _log) = server().await;
    let mut settings = http(port, "/forbidden");
    settings.basic_auth = Some(BasicAuth {
        user: "standby".into(),
        password: Secret::new("hunter2"),
    });
    let err = update(UpdateMethod::Http(settings)).await.unwrap_err();
    assert_eq!(err.text, "HTTP 403 Forbidden");
    assert_eq!(err.code(), 243);
    assert!(!format!("{err:?}").contains("hunter2"));

    let mut settings = http(port, "/bad");
    settings.criteria.body = vec![TextRule::Contains("good".into())];
    let err = update(UpdateMethod::Http(settings)).await.unwrap_err();
    assert_eq!(err.text, "HTTP 200 OK: body does not contain \"good\"");
    assert_eq!(err.code(), 243);

    // A port nobody listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let err = update(UpdateMethod::Http(http(closed_port, "/")))
        .await
        .unwrap_err();
    assert_eq!(err.text, "connection refused");
    assert_eq!(err.code(), 213);
}

#[tokio::test]
async fn http_timeout() {
    let (port, _log) = server().await;
    let mut settings = http(port, "/slow");
    settings.timeout_secs = 1;
    let started = std::time::Instant::now();
    let err = update(UpdateMethod::Http(settings)).await.unwrap_err();
    assert_eq!(err.text, "timeout after 1 s");
    assert_eq!(err.code(), 223);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[cfg(unix)]
mod command {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    /// A script that writes each argument on its own line to `out`, then runs `tail`.
    fn script(dir: &Path, tail: &str) -> String {
        let path = dir.join("update.sh");
        let out = dir.join("argv.txt");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\n{tail}\n",
                out.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.display().to_string()
    }

    fn spec(program: String, args: &[&str], wait_secs: u32) -> CommandSpec {
        CommandSpec {
            program,
            args: args.iter().map(|a| a.to_string()).collect(),
            wait: Some(CommandWait {
                timeout_secs: wait_secs,
                ..CommandWait::default()
            }),
        }
    }

    #[tokio::test]
    async fn each_tag_is_one_argument() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(dir.path(), "echo updated; exit 0");
        let args = [
            "$HOST$",
            "$ZONE$",
            "$IPS$",
            "$TTL$",
            "$SETNAME$",
            "$DNSSERVER$",
            "$UNKNOWN$",
        ];
        let text = update(UpdateMethod::Command(spec(program, &args, 10)))
            .await
            .unwrap();
        assert_eq!(text, "exit code 0: updated");
        let argv = std::fs::read_to_string(dir.path().join("argv.txt")).unwrap();
        assert_eq!(
            argv.lines().collect::<Vec<_>>(),
            vec![
                "www.example.test",
                "example.test",
                "192.0.2.1,2001:db8::1",
                "60",
                // No shell: the space and the ampersand stay inside one argument.
                "web & mail",
                "ns1.example.test",
                "$UNKNOWN$",
            ]
        );
    }

    #[tokio::test]
    async fn exit_code_failure() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(dir.path(), "echo zone not found; exit 2");
        let err = update(UpdateMethod::Command(spec(program, &["$HOST$"], 10)))
            .await
            .unwrap_err();
        assert_eq!(err.text, "exit code 2: zone not found");
        assert_eq!(err.code(), 243);
    }

    #[tokio::test]
    async fn hung_command_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let program = script(dir.path(), "exec sleep 30");
        let started = std::time::Instant::now();
        let err = update(UpdateMethod::Command(spec(program, &[], 1)))
            .await
            .unwrap_err();
        assert_eq!(err.text, "killed after 1 s");
        assert_eq!(err.code(), 223);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn missing_program() {
        let err = update(UpdateMethod::Command(spec(
            "/nonexistent/update".into(),
            &[],
            5,
        )))
        .await
        .unwrap_err();
        assert!(
            err.text.starts_with("cannot start /nonexistent/update"),
            "{err}"
        );
        assert_eq!(err.code(), 213);
    }
}

//! The HTTP API under attack and under load (issue 11 items 1, 2, 3, 7, 9 and issue 12
//! item 4): partial bodies, simultaneous changes, cross-site requests and foreign hosts,
//! idle connection floods, secrets in answers, password guessing, huge bodies.
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use standby::api::{Limits, ServeStats};
use standby::engine::{EngineConfig, EngineHandle, Level};
use standby::model::{
    BasicAuth, DnsServer, EmailNotification, FtpLogin, HttpRequest, NotificationKind,
    NotificationMethod, PollMethod, Rfc2136Update, Secret, Server, ServerSet, Settings, SmtpLogin,
    SmtpServer, TcpPoll, TcpService, TsigKey, UpdateMethod,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::ports::free_addr;
use crate::support::wait_until;

const PASSWORD: &str = "s3cret-admin-pw";

/// One answer: status, headers (lower-case names), body.
struct Answer {
    status: u16,
    head: String,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A request builder over a raw socket (`Connection: close`), so that every header is the
/// test's choice.
struct Req {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
    from: Option<&'static str>,
}

fn req(method: &'static str, path: &str) -> Req {
    Req {
        method,
        path: path.into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: String::new(),
        from: None,
    }
}

impl Req {
    fn auth(self, password: &str) -> Self {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{password}"));
        self.header("Authorization", &format!("Basic {token}"))
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.into(), value.into()));
        self
    }

    fn body(mut self, body: impl Into<String>) -> Self {
        self.body = body.into();
        self
    }

    fn from(mut self, ip: &'static str) -> Self {
        self.from = Some(ip);
        self
    }

    async fn send(self, api: SocketAddr) -> Answer {
        let mut stream = match self.from {
            None => TcpStream::connect(api).await.unwrap(),
            Some(ip) => {
                let socket = TcpSocket::new_v4().unwrap();
                socket.bind(format!("{ip}:0").parse().unwrap()).unwrap();
                socket.connect(api).await.unwrap()
            }
        };
        let mut head = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            head += &format!("Host: {api}\r\n");
        }
        for (name, value) in &self.headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += &format!(
            "Content-Length: {}\r\nConnection: close\r\n\r\n",
            self.body.len()
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        // A refused body may not be read at all: the server can close first.
        let _ = stream.write_all(self.body.as_bytes()).await;
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response))
            .await
            .expect("an answer within 10 s")
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&response).to_string();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        Answer {
            status: head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0),
            head: head.to_string(),
            body: body.to_string(),
        }
    }
}

fn set(name: &str) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: vec![Server {
            public_ip: "127.0.0.1".into(),
            ..Server::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(9),
            ..TcpPoll::default()
        }),
        ..ServerSet::default()
    }
}

async fn wait_for_port(api: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(api).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the API did not start"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An engine with the API on a free loopback port; `edit` shapes the settings.
async fn start_with(
    edit: impl FnOnce(&mut Settings),
    limits: Option<Limits>,
) -> (EngineHandle, SocketAddr, Arc<ServeStats>) {
    let api = free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut settings = Settings::default();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = api.to_string();
    settings.options.http_api.password = Secret::new(PASSWORD);
    settings.server_sets = vec![set("a"), set("b")];
    edit(&mut settings);
    let names: Vec<String> = settings
        .server_sets
        .iter()
        .map(|s| s.name.clone())
        .collect();
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    wait_until(&engine, "the first snapshot with the sets", |s| {
        names.iter().all(|n| s.set(n).is_some())
    })
    .await;
    let stats = Arc::new(ServeStats::default());
    standby::api::spawn_with(engine.client(), limits.unwrap_or_default(), stats.clone()).unwrap();
    wait_for_port(api).await;
    (engine, api, stats)
}

async fn start() -> (EngineHandle, SocketAddr) {
    let (engine, api, _) = start_with(|_| {}, None).await;
    (engine, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_options_body_changes_nothing() {
    let (engine, api) = start().await;
    for body in [
        "[]",
        "[[]]",
        r#"{"polling":{"max_concurrent_polls":3}}"#,
        "{}",
    ] {
        let answer = req("PUT", "/options")
            .auth(PASSWORD)
            .body(body)
            .send(api)
            .await;
        assert_eq!(answer.status, 400, "{body}: {}", answer.body);
        let error = answer.json()["error"].as_str().unwrap().to_string();
        assert!(
            error.contains("must be a JSON object") || error.contains("is missing"),
            "{body}: {error}"
        );
    }
    let options = &engine.snapshot().settings.options;
    assert!(options.http_api.enabled, "the API is still on");
    assert_eq!(options.http_api.password.expose(), PASSWORD);
    assert_eq!(options.polling.max_concurrent_polls, 0, "still auto");
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_api_off_through_it_needs_a_confirmation() {
    let (engine, api) = start().await;
    let got = req("GET", "/options").auth(PASSWORD).send(api).await;
    assert_eq!(got.status, 200);
    let mut options = got.json();
    options["http_api"]["enabled"] = false.into();
    let answer = req("PUT", "/options")
        .auth(PASSWORD)
        .body(options.to_string())
        .send(api)
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("confirm_api_off"), "{}", answer.body);
    assert!(engine.snapshot().settings.options.http_api.enabled);
    options["confirm_api_off"] = true.into();
    let answer = req("PUT", "/options")
        .auth(PASSWORD)
        .body(options.to_string())
        .send(api)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let snapshot = wait_until(&engine, "the API switched off", |s| {
        !s.settings.options.http_api.enabled
    })
    .await;
    // The options came back with their placeholder: the password is kept.
    assert_eq!(
        snapshot.settings.options.http_api.password.expose(),
        PASSWORD
    );
    engine.shutdown();
}

/// `GET /serversets/{name}/config` with `interval` set to `value` seconds, as a PUT body.
async fn changed_config(api: SocketAddr, name: &str, value: u32) -> String {
    let got = req("GET", &format!("/serversets/{name}/config"))
        .auth(PASSWORD)
        .send(api)
        .await;
    assert_eq!(got.status, 200, "{}", got.body);
    let mut config = got.json();
    config["frequency"]["interval"] = format!("{value}s").into();
    config.to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_pairs_of_simultaneous_set_changes_all_survive() {
    let (engine, api) = start().await;
    for i in 0..200u32 {
        let value = 10 + i;
        // Both bodies are read before either is sent: the old way lost one of them.
        let (body_a, body_b) = tokio::join!(
            changed_config(api, "a", value),
            changed_config(api, "b", value)
        );
        let (put_a, put_b) = tokio::join!(
            req("PUT", "/serversets/a/config")
                .auth(PASSWORD)
                .body(body_a)
                .send(api),
            req("PUT", "/serversets/b/config")
                .auth(PASSWORD)
                .body(body_b)
                .send(api)
        );
        assert_eq!((put_a.status, put_b.status), (204, 204), "pair {i}");
        let settings = engine.snapshot().settings.clone();
        for name in ["a", "b"] {
            assert_eq!(
                settings.set(name).unwrap().frequency.interval.as_secs(),
                u64::from(value),
                "pair {i}: the change of {name} was lost"
            );
        }
    }
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_made_from_an_old_revision_is_refused_with_412() {
    let (engine, api) = start().await;
    let got = req("GET", "/serversets/a/config")
        .auth(PASSWORD)
        .send(api)
        .await;
    let etag = got.header("etag").expect("an ETag");
    let mut config = got.json();
    config["frequency"]["interval"] = "77s".into();
    // Two clients that read the same revision: exactly one wins, the other is told.
    let (first, second) = tokio::join!(
        req("PUT", "/serversets/a/config")
            .auth(PASSWORD)
            .header("If-Match", &etag)
            .body(config.to_string())
            .send(api),
        req("PUT", "/serversets/b/config")
            .auth(PASSWORD)
            .header("If-Match", &etag)
            .body(
                config
                    .to_string()
                    .replace("\"name\":\"a\"", "\"name\":\"b\"")
            )
            .send(api)
    );
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [204, 412], "{} / {}", first.body, second.body);
    let refused = if first.status == 412 { &first } else { &second };
    assert!(
        refused.body.contains("changed since revision"),
        "{}",
        refused.body
    );
    let won = if first.status == 204 { &first } else { &second };
    let new_etag = won.header("etag").expect("the new revision");
    assert_ne!(new_etag, etag);
    // With the new revision the change goes through.
    let answer = req("DELETE", "/serversets/a")
        .auth(PASSWORD)
        .header("If-Match", &new_etag)
        .send(api)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_writes_and_foreign_host_names_are_refused() {
    // The worst case: no password.
    let (engine, api, _) =
        start_with(|s| s.options.http_api.password = Secret::default(), None).await;
    let warned = format!("HTTP API on {api} has no password");
    wait_until(&engine, "the warning of a password-less API", |s| {
        s.log
            .iter()
            .any(|l| l.level == Level::Warning && l.text.starts_with(&warned))
    })
    .await;
    // A form or fetch() from a web page: text/plain, no preflight.
    let answer = req("POST", "/pauseall")
        .header("Content-Type", "text/plain")
        .header("Origin", "http://attacker.example")
        .send(api)
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let answer = req("POST", "/pauseall")
        .header("Content-Type", "text/plain")
        .send(api)
        .await;
    assert_eq!(answer.status, 415, "{}", answer.body);
    let set = serde_json::to_string(&set("c")).unwrap();
    let answer = req("POST", "/serversets")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(set.clone())
        .send(api)
        .await;
    assert_eq!(answer.status, 415, "{}", answer.body);
    // JSON, but from a foreign page.
    let answer = req("POST", "/serversets")
        .header("Origin", "http://attacker.example")
        .body(set.clone())
        .send(api)
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    // DNS rebinding: a name of the attacker's that resolves to 127.0.0.1.
    let answer = req("GET", "/options")
        .header("Host", "attacker.example:8100")
        .send(api)
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    assert!(answer.body.contains("allowed_hosts"), "{}", answer.body);
    let snapshot = engine.snapshot();
    assert!(!snapshot.all_paused);
    assert!(snapshot.settings.set("c").is_none());
    // The API's own origin and host work.
    let answer = req("POST", "/serversets")
        .header("Origin", &format!("http://{api}"))
        .body(set)
        .send(api)
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let answer = req("POST", "/pauseall")
        .header("Host", &format!("localhost:{}", api.port()))
        .send(api)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    wait_until(&engine, "paused", |s| s.all_paused).await;
    engine.shutdown();
}

/// Waits until the server closes `stream` (read returns 0 or an error).
async fn closed_by_server(stream: &mut TcpStream, what: &str) {
    let mut buffer = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "{what}: still open after 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connections_are_closed_and_their_number_is_capped() {
    let limits = Limits {
        max_connections: 4,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
    };
    let (engine, api, stats) = start_with(|_| {}, Some(limits)).await;
    // A new connection that sends nothing.
    let mut silent = TcpStream::connect(api).await.unwrap();
    closed_by_server(&mut silent, "a silent new connection").await;
    // One that starts a request head and stops.
    let mut slow = TcpStream::connect(api).await.unwrap();
    slow.write_all(b"GET /log HTTP/1.1\r\nHo").await.unwrap();
    closed_by_server(&mut slow, "a half-sent head").await;
    // One idle after its answer (keep-alive).
    let mut idle = TcpStream::connect(api).await.unwrap();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    let head =
        format!("GET /problems HTTP/1.1\r\nHost: {api}\r\nAuthorization: Basic {token}\r\n\r\n");
    idle.write_all(head.as_bytes()).await.unwrap();
    closed_by_server(&mut idle, "a connection idle after its answer").await;
    // A flood: 20 idle keep-alive clients, at most 4 open at once, every one answered.
    let mut clients = Vec::new();
    for _ in 0..20 {
        let head = head.clone();
        clients.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(api).await.unwrap();
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer))
                .await
                .expect("answered and closed within 20 s")
                .unwrap();
            String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200")
        }));
    }
    for client in clients {
        assert!(client.await.unwrap(), "every client got its answer");
    }
    let peak = stats.peak.load(Ordering::Relaxed);
    assert!((1..=4).contains(&peak), "{peak} connections open at once");
    engine.shutdown();
}

/// The start of a remote window's session stream, up to the end of its first snapshot.
async fn attach_stream_head(api: SocketAddr) -> String {
    let mut tcp = TcpStream::connect(api).await.unwrap();
    let token = base64::engine::general_purpose::STANDARD.encode(format!("admin:{PASSWORD}"));
    let head =
        format!("GET /attach HTTP/1.1\r\nHost: {api}\r\nAuthorization: Basic {token}\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut text = String::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buffer = [0u8; 65536];
        loop {
            let n = tcp.read(&mut buffer).await.unwrap();
            assert!(n > 0, "the stream ended: {text}");
            text.push_str(&String::from_utf8_lossy(&buffer[..n]));
            if text
                .find("\"Delta\"")
                .is_some_and(|at| text[at..].contains("\n\n"))
            {
                return;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no first snapshot within 10 s: {text}");
    text
}

/// Settings with a secret in every place one can be.
fn with_every_secret(s: &mut Settings) {
    s.options.http_api.read_tokens = vec![Secret::new("read-token-1"), Secret::new("read-token-2")];
    let smtp_login = |pw: &str| SmtpServer {
        host: "127.0.0.1".into(),
        port: 2525,
        login: Some(SmtpLogin {
            user: "mailer".into(),
            password: Secret::new(pw),
        }),
        ..SmtpServer::default()
    };
    s.email_defaults.smtp = smtp_login("smtp-default-pw");
    let basic = |pw: &str| {
        Some(BasicAuth {
            user: "hook".into(),
            password: Secret::new(pw),
        })
    };
    let hook = |pw: &str| HttpRequest {
        url: "http://127.0.0.1:9/hook".into(),
        basic_auth: basic(pw),
        ..HttpRequest::default()
    };
    let methods = |tag: &str| {
        vec![
            NotificationMethod {
                kind: NotificationKind::Email(EmailNotification {
                    to: vec!["ops@example.test".into()],
                    smtp: Some(smtp_login(&format!("smtp-{tag}-pw"))),
                    ..EmailNotification::default()
                }),
                ..NotificationMethod::default()
            },
            NotificationMethod {
                kind: NotificationKind::Http(hook(&format!("hook-{tag}-pw"))),
                ..NotificationMethod::default()
            },
        ]
    };
    s.options.notification.default_methods = methods("default");
    let dns = |tag: &str| {
        vec![
            DnsServer {
                address: "127.0.0.1".into(),
                port: 9,
                update: UpdateMethod::Rfc2136(Rfc2136Update {
                    tsig: Some(TsigKey {
                        name: "key".into(),
                        secret: Secret::new(
                            base64::engine::general_purpose::STANDARD
                                .encode(format!("tsig-{tag}-secret")),
                        ),
                        ..TsigKey::default()
                    }),
                }),
                ..DnsServer::default()
            },
            DnsServer {
                address: "127.0.0.1".into(),
                port: 9,
                update: UpdateMethod::Http(hook(&format!("update-{tag}-pw"))),
                ..DnsServer::default()
            },
        ]
    };
    s.options.dns_updating.default_dns_servers = dns("default");
    let set = &mut s.server_sets[0];
    set.polling = PollMethod::Tcp(TcpPoll {
        service: TcpService::Ftp,
        port: Some(9),
        ftp_login: Some(FtpLogin {
            user: "ftp".into(),
            password: Secret::new("ftp-login-pw"),
            ..FtpLogin::default()
        }),
        ..TcpPoll::default()
    });
    set.notification.methods = methods("set");
    set.update_dns.dns_servers = dns("set");
}

/// Every secret configured by [`with_every_secret`] (and the API password).
fn every_secret(settings: &Settings) -> Vec<String> {
    let text = serde_json::to_value(settings).unwrap();
    let mut found = Vec::new();
    fn walk(v: &Value, key: &str, found: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, k, found)),
            Value::Array(a) => a.iter().for_each(|v| walk(v, key, found)),
            Value::String(s) if ["password", "secret", "read_tokens"].contains(&key) => {
                found.push(s.clone());
            }
            _ => {}
        }
    }
    walk(&text, "", &mut found);
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_ever_returns_a_secret_and_placeholders_keep_them() {
    let (engine, api, _) = start_with(with_every_secret, None).await;
    let settings = engine.snapshot().settings.clone();
    let secrets = every_secret(&settings);
    assert_eq!(secrets.len(), 13, "{secrets:?}");
    assert!(secrets.iter().any(|s| s == PASSWORD));
    let routes = [
        "/log",
        "/options",
        "/problems",
        "/serversets",
        "/serversets/a",
        "/serversets/a/config",
        "/serversets/a/status",
        "/serversets/b/config",
        "/metrics",
        "/support",
    ];
    for route in routes {
        let answer = req("GET", route).auth(PASSWORD).send(api).await;
        assert_eq!(answer.status, 200, "{route}: {}", answer.body);
        for secret in &secrets {
            assert!(
                !answer.body.contains(secret.as_str()),
                "{route} gives away {secret:?}: {}",
                answer.body
            );
        }
    }
    // A remote window's stream (`GET /attach`): the hello and the whole first snapshot.
    let stream = attach_stream_head(api).await;
    assert!(stream.contains("\"Delta\""), "{stream}");
    for secret in &secrets {
        assert!(
            !stream.contains(secret.as_str()),
            "/attach gives away {secret:?}: {stream}"
        );
    }
    let options = req("GET", "/options").auth(PASSWORD).send(api).await.json();
    assert!(
        options["http_api"]["password"]
            .as_str()
            .unwrap()
            .starts_with("(secret "),
        "set, shown as a placeholder"
    );
    // GET → change → PUT keeps every secret; a copy of a set (POST) keeps them too.
    let mut config = req("GET", "/serversets/a/config")
        .auth(PASSWORD)
        .send(api)
        .await
        .json();
    config["notes"] = "changed".into();
    let answer = req("PUT", "/serversets/a/config")
        .auth(PASSWORD)
        .body(config.to_string())
        .send(api)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    config["name"] = "a copy".into();
    let answer = req("POST", "/serversets")
        .auth(PASSWORD)
        .body(config.to_string())
        .send(api)
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let answer = req("PUT", "/options")
        .auth(PASSWORD)
        .body(options.to_string())
        .send(api)
        .await;
    assert_eq!(answer.status, 204, "{}", answer.body);
    let after = wait_until(&engine, "the copy", |s| s.settings.set("a copy").is_some()).await;
    let mut expected = settings.as_ref().clone();
    expected.server_sets[0].notes = "changed".into();
    let mut copy = expected.server_sets[0].clone();
    copy.name = "a copy".into();
    expected.server_sets.push(copy);
    assert_eq!(*after.settings, expected, "every secret kept");
    // A placeholder of no stored secret is refused with its field.
    config["polling"]["Tcp"]["ftp_login"]["password"] = "(secret 0000000000000000)".into();
    let answer = req("PUT", "/serversets/a/config")
        .auth(PASSWORD)
        .body(config.to_string())
        .send(api)
        .await;
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(
        answer.body.contains("polling.Tcp.ftp_login.password"),
        "{}",
        answer.body
    );
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_throttled_per_address_and_logged() {
    let (engine, api) = start().await;
    for _ in 0..3 {
        let answer = req("GET", "/options").auth("guess").send(api).await;
        assert_eq!(answer.status, 401);
    }
    // Closed out: even the right password waits.
    let answer = req("GET", "/options").auth(PASSWORD).send(api).await;
    assert_eq!(answer.status, 429, "{}", answer.body);
    let wait: u64 = answer.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    // Another address is not.
    let answer = req("GET", "/options")
        .auth(PASSWORD)
        .from("127.0.0.2")
        .send(api)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    wait_until(&engine, "the failures in the log", |s| {
        s.log.iter().any(|l| {
            l.level == Level::Warning
                && l.text
                    .contains("wrong password or token from 127.0.0.1 (3 in a row")
        })
    })
    .await;
    engine.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_tokens_read_but_never_write_and_bodies_have_a_limit() {
    let (engine, api, _) = start_with(
        |s| s.options.http_api.read_tokens = vec![Secret::new("dashboard")],
        None,
    )
    .await;
    let answer = req("GET", "/metrics")
        .header("Authorization", "Bearer dashboard")
        .send(api)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("standby_"), "{}", answer.body);
    let answer = req("POST", "/pauseall")
        .header("Authorization", "Bearer dashboard")
        .send(api)
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    // The support file (the engine's log, its hosts) is for admin only, even to read.
    let answer = req("GET", "/support")
        .header("Authorization", "Bearer dashboard")
        .send(api)
        .await;
    assert_eq!(answer.status, 403, "{}", answer.body);
    let answer = req("GET", "/support").auth(PASSWORD).send(api).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(answer.body.contains("== Live log ("), "{}", answer.body);
    let answer = req("GET", "/metrics")
        .header("Authorization", "Bearer dashboarx")
        .send(api)
        .await;
    assert_eq!(answer.status, 401, "{}", answer.body);
    // Over 1 MiB of JSON: refused with a message that says why.
    let big = format!("{{\"notes\":\"{}\"}}", "x".repeat((1 << 20) + 1000));
    let answer = req("POST", "/serversets")
        .auth(PASSWORD)
        .body(big)
        .send(api)
        .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert!(
        answer.body.contains("larger than 1048576 bytes"),
        "{}",
        answer.body
    );
    assert!(!engine.snapshot().all_paused);
    engine.shutdown();
}

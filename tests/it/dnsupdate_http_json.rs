//! The generic HTTP update method with PATCH and DELETE and a JSON body, against a real
//! hyper server on 127.0.0.1 that parses what it gets: tag values with quotes, backslashes
//! and line breaks leave the body valid JSON, `$IPS_JSON$` is a JSON array, and URL tags
//! are percent-encoded.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use standby::dnsupdate::{self, Records, UpdateRequest};
use standby::model::{BodyType, HttpRequest, HttpVerb, UpdateMethod};
use tokio::net::TcpListener;

const LIMIT: Duration = Duration::from_secs(20);

/// A set name no JSON writer would pass through unescaped.
const NASTY: &str = "web \"eu\\west\"\n\tsecond line";

#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path_and_query: String,
    content_type: Option<String>,
    body: String,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Records each request; a body that is given must parse as JSON, else 400.
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
                        let body = String::from_utf8(body.to_vec()).unwrap();
                        let valid = body.is_empty()
                            || serde_json::from_str::<serde_json::Value>(&body).is_ok();
                        log.lock().unwrap().push(Seen {
                            method: parts.method.to_string(),
                            path_and_query: parts.uri.path_and_query().unwrap().to_string(),
                            content_type: parts
                                .headers
                                .get("content-type")
                                .map(|v| v.to_str().unwrap().to_string()),
                            body,
                        });
                        let mut response = Response::new(Full::new(Bytes::from_static(b"ok")));
                        if !valid {
                            *response.status_mut() = StatusCode::BAD_REQUEST;
                        }
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

fn request(set_name: &str) -> UpdateRequest {
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    let b: IpAddr = "2001:db8::1".parse().unwrap();
    UpdateRequest {
        server: "127.0.0.1:53".parse().unwrap(),
        server_label: "api".into(),
        host: "www.example.test".into(),
        zone: "example.test".into(),
        wanted: Records::new(vec![a, b], Some(60)),
        ttl: 60,
        current: Records::default(),
        set_name: set_name.into(),
        timeout: Duration::from_secs(5),
    }
}

async fn send(settings: HttpRequest, set_name: &str) -> Result<String, String> {
    let updater = dnsupdate::build(&UpdateMethod::Http(settings)).unwrap();
    tokio::time::timeout(LIMIT, updater.update(&request(set_name)))
        .await
        .unwrap()
        .map_err(|e| e.text)
}

#[tokio::test]
async fn a_patch_with_a_json_body_stays_valid_json_whatever_the_tag_values() {
    let (port, log) = server().await;
    let settings = HttpRequest {
        verb: HttpVerb::Patch,
        url: format!("http://127.0.0.1:{port}/zones/$ZONE$/records?set=$SETNAME$"),
        body_type: BodyType::Json,
        body: r#"{"name": "$HOST$", "comment": "$SETNAME$", "content": $IPS_JSON$, "v6": $IPV6_JSON$, "ttl": $TTL$}"#
            .into(),
        ..HttpRequest::default()
    };
    assert_eq!(send(settings.clone(), NASTY).await.unwrap(), "HTTP 200 OK");
    let seen = log.lock().unwrap()[0].clone();
    assert_eq!(seen.method, "PATCH");
    assert_eq!(seen.content_type.as_deref(), Some("application/json"));
    assert_eq!(
        seen.path_and_query,
        "/zones/example.test/records?set=web%20%22eu%5Cwest%22%0A%09second%20line"
    );
    let body: serde_json::Value = serde_json::from_str(&seen.body).expect(&seen.body);
    assert_eq!(body["comment"], NASTY);
    assert_eq!(body["name"], "www.example.test");
    assert_eq!(
        body["content"],
        serde_json::json!(["192.0.2.1", "2001:db8::1"])
    );
    assert_eq!(body["v6"], serde_json::json!(["2001:db8::1"]));
    assert_eq!(body["ttl"], 60);

    // The same template as plain text with no JSON header: it is a JSON template, so its
    // tags are JSON-escaped too (a Slack-style body must not break when a value holds
    // quotes, issue 17) and the server takes it.
    let plain = HttpRequest {
        body_type: BodyType::Text,
        ..settings.clone()
    };
    assert_eq!(send(plain, NASTY).await.unwrap(), "HTTP 200 OK");
    let seen = log.lock().unwrap()[1].clone();
    let body: serde_json::Value = serde_json::from_str(&seen.body).expect(&seen.body);
    assert_eq!(body["comment"], NASTY);

    // A text body that is not JSON keeps the value as it is: this server wants JSON and
    // refuses it, and the failure says so.
    let text = HttpRequest {
        body_type: BodyType::Text,
        body: "set $SETNAME$".into(),
        ..settings
    };
    let error = send(text, NASTY).await.unwrap_err();
    assert!(error.starts_with("HTTP 400"), "{error}");
    assert_eq!(log.lock().unwrap()[2].body, format!("set {NASTY}"));
}

#[tokio::test]
async fn delete_sends_no_body_and_a_form_body_is_url_encoded() {
    let (port, log) = server().await;
    let delete = HttpRequest {
        verb: HttpVerb::Delete,
        url: format!("http://127.0.0.1:{port}/records/$HOST$"),
        ..HttpRequest::default()
    };
    send(delete, "web").await.unwrap();
    let post = HttpRequest {
        verb: HttpVerb::Post,
        url: format!("http://127.0.0.1:{port}/form"),
        body_type: BodyType::Form,
        body: "set=$SETNAME$&ips=$IPS$".into(),
        ..HttpRequest::default()
    };
    // A form body is not JSON: this server answers 400, which is fine here.
    let _ = send(post, "a&b=c").await;
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen[0].method, "DELETE");
    assert_eq!(seen[0].path_and_query, "/records/www.example.test");
    assert_eq!(seen[0].body, "");
    assert_eq!(seen[1].method, "POST");
    assert_eq!(
        seen[1].content_type.as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        seen[1].body,
        "set=a%26b%3Dc&ips=192.0.2.1%2C2001%3Adb8%3A%3A1"
    );
}

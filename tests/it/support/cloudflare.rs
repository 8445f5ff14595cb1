//! A local server that follows Cloudflare API v4's documented DNS endpoints — no Cloudflare
//! service can run here. It implements what Standby calls, with Cloudflare's envelope
//! (`{"success", "errors": [{"code", "message"}], "messages", "result"}`), its status codes
//! and error codes: `GET /zones?name=`, `GET /zones/{id}/dns_records?name=&type=`, and
//! `POST /zones/{id}/dns_records/batch` (deletes, patches, puts, posts applied in that order
//! under one lock, all or nothing). A bearer token is required (403, code 10000
//! "Authentication error"); the next N requests can be answered 429 with `Retry-After`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The emulator's state, open to the test.
#[derive(Debug, Default)]
pub struct State {
    pub token: String,
    /// Zone id → name.
    pub zones: BTreeMap<String, String>,
    /// Record id → record (Cloudflare's JSON shape, `zone_id` included).
    pub records: BTreeMap<String, Value>,
    /// Answer this many of the next requests with 429 and `Retry-After: retry_after`.
    pub limit_next: u32,
    pub retry_after: u32,
    /// Every request: method, path and query, when it arrived, its status.
    pub seen: Vec<(String, String, Instant, u16)>,
    next_id: u64,
}

impl State {
    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("{:032x}", self.next_id)
    }

    /// Adds a record; its id.
    pub fn add(&mut self, zone: &str, mut record: Value) -> String {
        let id = self.new_id();
        record["id"] = json!(id);
        record["zone_id"] = json!(zone);
        for (field, default) in [
            ("proxied", json!(false)),
            ("ttl", json!(1)),
            ("tags", json!([])),
        ] {
            if record.get(field).is_none() {
                record[field] = default;
            }
        }
        if record.get("comment").is_none() {
            record["comment"] = Value::Null;
        }
        self.records.insert(id.clone(), record);
        id
    }

    /// The records of `name` and `kind`, sorted by content.
    pub fn of(&self, name: &str, kind: &str) -> Vec<Value> {
        let mut found: Vec<Value> = self
            .records
            .values()
            .filter(|r| r["name"] == name && r["type"] == kind)
            .cloned()
            .collect();
        found.sort_by_key(|r| r["content"].as_str().unwrap_or("").to_string());
        found
    }

    /// The contents of `name`'s A records, sorted.
    pub fn a(&self, name: &str) -> Vec<String> {
        self.of(name, "A")
            .iter()
            .map(|r| r["content"].as_str().unwrap().to_string())
            .collect()
    }
}

pub type Shared = Arc<Mutex<State>>;

/// Starts the emulator on 127.0.0.1; its base URL (`…/client/v4`) and its state.
pub async fn start(token: &str, zones: &[(&str, &str)]) -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let state: Shared = Arc::new(Mutex::new(State {
        token: token.into(),
        zones: zones
            .iter()
            .map(|(id, name)| (id.to_string(), name.to_string()))
            .collect(),
        retry_after: 1,
        ..State::default()
    }));
    let shared = state.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let state = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(request, &state).await) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    (format!("http://{addr}/client/v4"), state)
}

fn envelope(status: StatusCode, result: Value, errors: &[(i64, &str)]) -> Response<Full<Bytes>> {
    let errors: Vec<Value> = errors
        .iter()
        .map(|(code, message)| json!({"code": code, "message": message}))
        .collect();
    let body = json!({
        "success": errors.is_empty(),
        "errors": errors,
        "messages": [],
        "result": if errors.is_empty() { result } else { Value::Null },
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}

async fn handle(request: Request<Incoming>, state: &Shared) -> Response<Full<Bytes>> {
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let query: BTreeMap<String, String> = request
        .uri()
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<BTreeMap<String, String>>()
        })
        .unwrap_or_default();
    let auth = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = request.into_body().collect().await.unwrap().to_bytes();
    let mut s = state.lock().unwrap();
    let shown = match request_query(&query) {
        q if q.is_empty() => path.clone(),
        q => format!("{path}?{q}"),
    };
    let response = answer(&mut s, &method, &path, &query, auth.as_deref(), &body);
    s.seen
        .push((method, shown, Instant::now(), response.status().as_u16()));
    response
}

fn request_query(query: &BTreeMap<String, String>) -> String {
    query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

fn answer(
    s: &mut State,
    method: &str,
    path: &str,
    query: &BTreeMap<String, String>,
    auth: Option<&str>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    if s.limit_next > 0 {
        s.limit_next -= 1;
        let mut response = envelope(
            StatusCode::TOO_MANY_REQUESTS,
            Value::Null,
            &[(
                971,
                "Please wait and consider throttling your request speed",
            )],
        );
        response
            .headers_mut()
            .insert("retry-after", s.retry_after.to_string().parse().unwrap());
        return response;
    }
    if auth != Some(&format!("Bearer {}", s.token)) {
        return envelope(
            StatusCode::FORBIDDEN,
            Value::Null,
            &[(10000, "Authentication error")],
        );
    }
    let parts: Vec<&str> = path.trim_start_matches("/client/v4/").split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["zones"]) => {
            let name = query.get("name").cloned().unwrap_or_default();
            let zones: Vec<Value> = s
                .zones
                .iter()
                .filter(|(_, n)| name.is_empty() || **n == name)
                .map(|(id, n)| json!({"id": id, "name": n, "status": "active"}))
                .collect();
            envelope(StatusCode::OK, json!(zones), &[])
        }
        ("GET", ["zones", zone, "dns_records"]) => {
            if !s.zones.contains_key(*zone) {
                return no_route(path);
            }
            let records: Vec<Value> = s
                .records
                .values()
                .filter(|r| r["zone_id"] == *zone)
                .filter(|r| query.get("name").is_none_or(|n| r["name"] == n.as_str()))
                .filter(|r| query.get("type").is_none_or(|t| r["type"] == t.as_str()))
                .cloned()
                .collect();
            envelope(StatusCode::OK, json!(records), &[])
        }
        ("POST", ["zones", zone, "dns_records", "batch"]) => {
            if !s.zones.contains_key(*zone) {
                return no_route(path);
            }
            let Ok(batch) = serde_json::from_slice::<Value>(body) else {
                return envelope(
                    StatusCode::BAD_REQUEST,
                    Value::Null,
                    &[(9207, "Request body is invalid.")],
                );
            };
            batch_apply(s, zone, &batch)
        }
        _ => no_route(path),
    }
}

fn no_route(path: &str) -> Response<Full<Bytes>> {
    let message = format!("Could not route to {path}, perhaps your object identifier is invalid?");
    envelope(StatusCode::NOT_FOUND, Value::Null, &[(7003, &message)])
}

/// Deletes, patches, puts, posts — in that order, on a copy that replaces the records
/// only when every operation succeeded.
fn batch_apply(s: &mut State, zone: &str, batch: &Value) -> Response<Full<Bytes>> {
    let mut records = s.records.clone();
    let list = |key: &str| batch[key].as_array().cloned().unwrap_or_default();
    let missing = |id: &Value| {
        envelope(
            StatusCode::BAD_REQUEST,
            Value::Null,
            &[(81044, &format!("Record {id} does not exist."))],
        )
    };
    let mut result = json!({"deletes": [], "patches": [], "puts": [], "posts": []});
    for delete in list("deletes") {
        let Some(old) = delete["id"].as_str().and_then(|id| records.remove(id)) else {
            return missing(&delete["id"]);
        };
        result["deletes"].as_array_mut().unwrap().push(old);
    }
    for patch in list("patches") {
        let Some(record) = patch["id"].as_str().and_then(|id| records.get_mut(id)) else {
            return missing(&patch["id"]);
        };
        for (field, value) in patch.as_object().unwrap() {
            record[field] = value.clone();
        }
        result["patches"]
            .as_array_mut()
            .unwrap()
            .push(record.clone());
    }
    let mut posted = Vec::new();
    for post in list("posts") {
        if post["type"].as_str().is_none()
            || post["name"].as_str().is_none()
            || post["content"].as_str().is_none()
        {
            return envelope(
                StatusCode::BAD_REQUEST,
                Value::Null,
                &[(9005, "Content, name and type are required.")],
            );
        }
        posted.push(post);
    }
    s.records = records;
    for post in posted {
        let id = s.add(zone, post);
        let record = s.records[&id].clone();
        result["posts"].as_array_mut().unwrap().push(record);
    }
    envelope(StatusCode::OK, result, &[])
}

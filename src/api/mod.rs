//! The optional REST/JSON API (SPEC §8), served with axum. It is a client of the engine
//! like the window: it reads snapshots and sends commands. A supervisor thread (re)starts
//! the listener whenever the API options change.
//!
//! A set's id in URLs is its name (URL-encoded), which the settings keep unique.

pub mod dto;
pub mod metrics;

use std::net::SocketAddr;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::engine::follow::Follower;
use crate::engine::{Command, EngineClient, Level};
use crate::model::options::HttpApiOptions;
use crate::model::{Options, ServerSet};

/// An API error: a status and a message that names the field or the id.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
        }
        (self.0, axum::Json(Body { error: self.1 })).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, message.into())
}

fn not_found(id: &str) -> ApiError {
    ApiError(StatusCode::NOT_FOUND, format!("no server set {id:?}"))
}

fn json<T: Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// Parses a JSON body strictly; every error names the field it is about (its path in the
/// body, e.g. `servers[0].weight`), unknown fields included.
fn parse<T: DeserializeOwned>(body: &Bytes) -> ApiResult<T> {
    let mut json = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            bad_request(format!("invalid JSON: {}", e.inner()))
        } else {
            bad_request(format!("invalid JSON at {path}: {}", e.inner()))
        }
    })
}

/// The routes, for a server or a test.
pub fn router(client: EngineClient) -> Router {
    Router::new()
        .route("/log", get(log))
        .route("/options", get(get_options).put(put_options))
        .route("/pauseall", post(|s| command(s, Command::PauseAll)))
        .route("/resumeall", post(|s| command(s, Command::ResumeAll)))
        .route("/pollall", post(|s| command(s, Command::PollAll)))
        .route("/problems", get(problems))
        .route("/serversets", get(list_sets).post(create_set))
        .route("/serversets/{id}", get(set_info).delete(delete_set))
        .route("/serversets/{id}/config", get(get_config).put(put_config))
        .route(
            "/serversets/{id}/pause",
            post(|s, id| set_command(s, id, Command::PauseSet)),
        )
        .route(
            "/serversets/{id}/resume",
            post(|s, id| set_command(s, id, Command::ResumeSet)),
        )
        .route(
            "/serversets/{id}/poll",
            post(|s, id| set_command(s, id, Command::PollSet)),
        )
        .route("/serversets/{id}/status", get(set_status))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn_with_state(client.clone(), authenticate))
        .with_state(client)
}

/// Basic authentication as `admin` with the API password (none when it is blank), and the
/// optional request log.
async fn authenticate(
    State(client): State<EngineClient>,
    request: Request,
    next: Next,
) -> Response {
    let options = client.snapshot().settings.options.http_api.clone();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let response = if authorized(&options, request.headers()) {
        next.run(request).await
    } else {
        let mut response = ApiError(
            StatusCode::UNAUTHORIZED,
            "wrong or missing password for user admin".into(),
        )
        .into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Standby\""),
        );
        response
    };
    if options.log_requests {
        let text = format!("API {method} {path} → {}", response.status().as_u16());
        client.log(Level::Info, text).await;
    }
    response
}

fn authorized(options: &HttpApiOptions, headers: &HeaderMap) -> bool {
    if options.password.is_empty() {
        return true;
    }
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("admin:{}", options.password.expose());
    // Compare every byte, so the time does not tell how much matched.
    decoded.len() == expected.len()
        && decoded
            .iter()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn log(State(client): State<EngineClient>) -> Response {
    let snapshot = client.snapshot();
    json(
        &snapshot
            .log
            .iter()
            .map(dto::LogLineDto::from)
            .collect::<Vec<_>>(),
    )
}

async fn get_options(State(client): State<EngineClient>) -> Response {
    json(&client.snapshot().settings.options)
}

async fn put_options(State(client): State<EngineClient>, body: Bytes) -> ApiResult<Response> {
    let options: Options = parse(&body)?;
    let mut settings = (*client.snapshot().settings).clone();
    settings.options = options;
    client.apply_settings(settings).await.map_err(bad_request)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn command(State(client): State<EngineClient>, command: Command) -> ApiResult<Response> {
    client
        .send(command)
        .await
        .map_err(|e| ApiError(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn set_command(
    State(client): State<EngineClient>,
    Path(id): Path<String>,
    make: fn(String) -> Command,
) -> ApiResult<Response> {
    if client.snapshot().set(&id).is_none() {
        return Err(not_found(&id));
    }
    command(State(client), make(id)).await
}

async fn problems(State(client): State<EngineClient>) -> Response {
    let snapshot = client.snapshot();
    json(
        &snapshot
            .problems
            .iter()
            .map(dto::ProblemDto::from)
            .collect::<Vec<_>>(),
    )
}

async fn list_sets(State(client): State<EngineClient>) -> Response {
    let snapshot = client.snapshot();
    json(
        &snapshot
            .sets
            .iter()
            .map(|s| dto::SetInfoDto::from(s.as_ref()))
            .collect::<Vec<_>>(),
    )
}

async fn create_set(State(client): State<EngineClient>, body: Bytes) -> ApiResult<Response> {
    let set: ServerSet = parse(&body)?;
    let mut settings = (*client.snapshot().settings).clone();
    let id = set.name.clone();
    settings.server_sets.push(set);
    client.apply_settings(settings).await.map_err(bad_request)?;
    #[derive(Serialize)]
    struct Created {
        id: String,
    }
    Ok((StatusCode::CREATED, axum::Json(Created { id })).into_response())
}

async fn set_info(
    State(client): State<EngineClient>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = client.snapshot();
    let set = snapshot.set(&id).ok_or_else(|| not_found(&id))?;
    Ok(json(&dto::SetInfoDto::from(set)))
}

async fn set_status(
    State(client): State<EngineClient>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = client.snapshot();
    let set = snapshot.set(&id).ok_or_else(|| not_found(&id))?;
    Ok(json(&dto::SetStatusDto::from(set)))
}

async fn delete_set(
    State(client): State<EngineClient>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let mut settings = (*client.snapshot().settings).clone();
    let before = settings.server_sets.len();
    settings.server_sets.retain(|s| s.name != id);
    if settings.server_sets.len() == before {
        return Err(not_found(&id));
    }
    client.apply_settings(settings).await.map_err(bad_request)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_config(
    State(client): State<EngineClient>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = client.snapshot();
    let set = snapshot.settings.set(&id).ok_or_else(|| not_found(&id))?;
    Ok(json(set))
}

async fn put_config(
    State(client): State<EngineClient>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let set: ServerSet = parse(&body)?;
    let mut settings = (*client.snapshot().settings).clone();
    let slot = settings
        .server_sets
        .iter_mut()
        .find(|s| s.name == id)
        .ok_or_else(|| not_found(&id))?;
    *slot = set;
    client.apply_settings(settings).await.map_err(bad_request)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn metrics(State(client): State<EngineClient>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&client.snapshot()),
    )
        .into_response()
}

/// Runs the API while the options say so, on a thread of its own; restarts the listener
/// when `enabled` or `listen` change.
pub fn spawn(client: EngineClient) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("standby-api".into())
        .spawn(move || runtime.block_on(supervise(client)))
}

/// The API's options that need a new listener: where it listens, if it is on.
fn listen_address(s: &crate::engine::Snapshot) -> Option<String> {
    let api = &s.settings.options.http_api;
    api.enabled.then(|| api.listen.clone())
}

async fn supervise(client: EngineClient) {
    let mut follower = Follower::new(&client, listen_address);
    while let Some((wanted, unchanged)) = follower.next().await {
        let Some(listen) = wanted else {
            continue;
        };
        let Ok(address) = listen.parse::<SocketAddr>() else {
            let text = format!("HTTP API: {listen:?} is not an address:port");
            client.log(Level::Error, text).await;
            continue;
        };
        let listener = match tokio::net::TcpListener::bind(address).await {
            Ok(listener) => listener,
            Err(e) => {
                let text = format!("HTTP API: cannot listen on {address}: {e}");
                client.log(Level::Error, text).await;
                continue;
            }
        };
        let password = client
            .snapshot()
            .settings
            .options
            .http_api
            .password
            .is_empty();
        if password && !address.ip().is_loopback() {
            let text = format!(
                "HTTP API on {address} without a password: anyone who reaches it can change the settings"
            );
            client.log(Level::Warning, text).await;
        }
        let text = format!("HTTP API listening on http://{address}");
        client.log(Level::Info, text).await;
        let served = axum::serve(listener, router(client.clone()))
            .with_graceful_shutdown(unchanged.ended())
            .await;
        if let Err(e) = served {
            client
                .log(Level::Error, format!("HTTP API stopped: {e}"))
                .await;
        }
    }
}

//! The optional REST/JSON API (SPEC §8), served with axum. It is a client of the engine
//! like the window: it reads snapshots and sends commands. A supervisor thread (re)starts
//! the listener whenever the API options change.
//!
//! A set's id in URLs is its name (URL-encoded), which the settings keep unique.
//! `serve.rs` bounds connections and their idle time, `guard.rs` checks every request
//! (host, origin, content type, password, login throttle), `body.rs` takes only complete
//! bodies, `secrets.rs` keeps secrets out of every answer, `routes.rs` has the routes.

pub mod attach_route;
mod body;
pub mod cli_client;
pub mod cluster;
pub mod dto;
pub mod guard;
pub mod metrics;
pub mod report;
pub mod routes;
pub mod secrets;
pub mod serve;
pub mod tls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use crate::engine::follow::Follower;
use crate::engine::{Command, EngineClient, Level};
use crate::model::ValidationError;
use guard::{Caller, Throttle};
use routes::{command, set_command};
pub use serve::{Limits, ServeStats};

/// An API error: a status and a message that names the field or the id; for settings
/// that do not validate, every wrong field with its path as well.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub fields: Vec<ValidationError>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: String) -> Self {
        ApiError {
            status,
            message,
            fields: Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        #[derive(Serialize)]
        struct Body {
            error: String,
            /// `[{"path": "servers[0].public_ip", "message": "..."}]`, when fields are wrong.
            #[serde(skip_serializing_if = "Vec::is_empty")]
            fields: Vec<ValidationError>,
        }
        let body = Body {
            error: self.message,
            fields: self.fields,
        };
        (self.status, axum::Json(body)).into_response()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// What the routes share: the engine, the secrets' placeholders, the login throttle.
#[derive(Clone)]
pub struct ApiState {
    client: EngineClient,
    redactor: Arc<secrets::Redactor>,
    throttle: Arc<Mutex<Throttle>>,
    limits: Limits,
    /// Remote windows' sessions (`attach_route.rs`).
    sessions: attach_route::Sessions,
}

impl ApiState {
    pub fn new(client: EngineClient, limits: Limits) -> Self {
        ApiState {
            client,
            redactor: Arc::default(),
            throttle: Arc::default(),
            limits,
            sessions: Default::default(),
        }
    }
}

/// The routes, for a server or a test, with the default limits.
pub fn router(client: EngineClient) -> Router {
    router_with(ApiState::new(client, Limits::default()))
}

pub fn router_with(state: ApiState) -> Router {
    Router::new()
        .route("/log", get(routes::log))
        .route(
            "/options",
            get(routes::get_options).put(routes::put_options),
        )
        .route("/pauseall", post(|s| command(s, Command::PauseAll)))
        .route("/resumeall", post(|s| command(s, Command::ResumeAll)))
        .route("/pollall", post(|s| command(s, Command::PollAll)))
        .route("/problems", get(routes::problems))
        .route(
            "/serversets",
            get(routes::list_sets).post(routes::create_set),
        )
        .route(
            "/serversets/{id}",
            get(routes::set_info).delete(routes::delete_set),
        )
        .route(
            "/serversets/{id}/config",
            get(routes::get_config).put(routes::put_config),
        )
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
        .route("/serversets/{id}/status", get(routes::set_status))
        .route(
            "/serversets/{id}/servers/{server}/override",
            post(routes::override_server),
        )
        .route(
            "/serversets/{id}/maintenance",
            post(routes::add_maintenance),
        )
        .route(
            "/serversets/{id}/maintenance/clear",
            post(routes::clear_maintenance),
        )
        .route("/metrics", get(routes::metrics))
        .route("/cluster", get(cluster::get_cluster))
        .route("/uptime", get(report::uptime))
        .route("/report", get(report::report))
        .route("/events", get(report::events))
        .route("/support", get(routes::support))
        .route("/attach", get(attach_route::open))
        .route("/attach/{session}", post(attach_route::send))
        .layer(middleware::from_fn_with_state(state.clone(), check_request))
        .with_state(state)
}

/// Every request: the guard's checks, then the password (none when it is blank) or a
/// read-only token for reads, the login throttle, and the optional request log.
async fn check_request(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let options = state.client.snapshot().settings.options.http_api.clone();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let listen = options.listen.parse::<SocketAddr>().ok();
    let checked = guard::check_host(request.headers(), listen, &options.allowed_hosts)
        .and_then(|()| guard::check_origin(request.headers()))
        .and_then(|()| guard::check_content_type(&method, request.headers()));
    let response = match checked {
        Err((status, message)) => ApiError::new(status, message).into_response(),
        Ok(()) => authorize(&state, &options, peer, request, next).await,
    };
    if options.log_requests {
        let text = format!(
            "API {method} {path} from {peer} → {}",
            response.status().as_u16()
        );
        state.client.log(Level::Info, text).await;
    }
    response
}

async fn authorize(
    state: &ApiState,
    options: &crate::model::options::HttpApiOptions,
    peer: IpAddr,
    request: Request,
    next: Next,
) -> Response {
    let now = tokio::time::Instant::now();
    if !options.password.is_empty() {
        let blocked = state.throttle.lock().map_or(None, |t| t.blocked(peer, now));
        if let Some(wait) = blocked {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many wrong passwords from {peer}: try again in {secs} s"),
            )
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            return response;
        }
    }
    let mut request = request;
    let caller = guard::caller(options, request.headers());
    // The routes that serve a caller differently (a remote window's session) read it.
    request.extensions_mut().insert(caller);
    match caller {
        Caller::Admin => {
            if !options.password.is_empty()
                && let Ok(mut throttle) = state.throttle.lock()
            {
                throttle.succeeded(peer);
            }
            next.run(request).await
        }
        Caller::Reader if matches!(*request.method(), Method::GET | Method::HEAD) => {
            next.run(request).await
        }
        Caller::Reader => ApiError::new(
            StatusCode::FORBIDDEN,
            "a read-only token cannot change anything (use the password of admin)".into(),
        )
        .into_response(),
        caller => {
            if caller == Caller::Wrong {
                let counted = state.throttle.lock().map(|mut t| t.failed(peer, now)).ok();
                if let Some((count, block)) = counted {
                    let then = match block {
                        Some(b) => format!("; closed out for {} s", b.as_secs()),
                        None => String::new(),
                    };
                    let text = format!(
                        "HTTP API: wrong password or token from {peer} ({count} in a row{then})"
                    );
                    state.client.log(Level::Warning, text).await;
                }
            }
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong or missing password for user admin".into(),
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Standby\""),
            );
            response
        }
    }
}

/// Runs the API while the options say so, on a thread of its own; restarts the listener
/// when `enabled` or `listen` change.
pub fn spawn(client: EngineClient) -> std::io::Result<std::thread::JoinHandle<()>> {
    spawn_with(client, Limits::default(), Arc::default())
}

/// [`spawn`] with other limits; `stats` counts the listener's connections.
pub fn spawn_with(
    client: EngineClient,
    limits: Limits,
    stats: Arc<ServeStats>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("standby-api".into())
        .spawn(move || runtime.block_on(supervise(client, limits, stats)))
}

/// The API's options that need a new listener: where it listens and how (TLS), if it is on.
fn listen_address(s: &crate::engine::Snapshot) -> Option<(String, crate::model::options::ApiTls)> {
    let api = &s.settings.options.http_api;
    api.enabled.then(|| (api.listen.clone(), api.tls.clone()))
}

async fn supervise(client: EngineClient, limits: Limits, stats: Arc<ServeStats>) {
    let mut follower = Follower::new(&client, listen_address);
    while let Some((wanted, unchanged)) = follower.next().await {
        let Some((listen, _)) = wanted else {
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
        let snapshot = client.snapshot();
        let api = snapshot.settings.options.http_api.clone();
        if api.password.is_empty() {
            // On every start: any local program (and any web page that
            // gets past the Host and Origin checks) could change settings.
            let text = format!(
                "HTTP API on {address} has no password: anyone who can reach it can change the settings (set options.http_api.password)"
            );
            client.log(Level::Warning, text).await;
        }
        let dir = snapshot.settings_path.as_deref().and_then(|p| p.parent());
        let tls = tls::identity(&api, dir).and_then(|id| {
            id.map(|id| Ok((id.server_config()?, id.fingerprint())))
                .transpose()
        });
        match tls {
            Err(e) => {
                let text = format!("HTTP API: no HTTPS, so not started: {e}");
                client.log(Level::Error, text).await;
            }
            Ok(tls) => {
                serve_until(
                    &client,
                    listener,
                    address,
                    tls,
                    limits,
                    &stats,
                    unchanged.ended(),
                )
                .await
            }
        }
    }
}

/// The file beside the settings that keeps the key of the secrets' placeholders.
pub const PLACEHOLDER_KEY_FILE: &str = "api-placeholder.key";

/// Why the placeholders' key file cannot be used.
#[derive(Debug, thiserror::Error)]
enum KeyFileError {
    #[error("{}: not a key of 64 hex digits (remove it to make a new one)", .0.display())]
    NotAKey(std::path::PathBuf),
    #[error("{}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Write(#[from] tls::TlsError),
}

/// The placeholders' key, kept beside the settings file (owner-only, made at the first
/// start): the same secret gets the same placeholder after a restart of the API or the
/// engine, so a remote window's draft made before still names the stored secret. The file
/// is no more secret than the settings file beside it, which holds the secrets themselves.
fn placeholder_key(settings_path: &std::path::Path) -> Result<[u8; 32], KeyFileError> {
    let path = settings_path.with_file_name(PLACEHOLDER_KEY_FILE);
    let parse = |text: &str| -> Option<[u8; 32]> {
        let text = text.trim();
        let mut key = [0u8; 32];
        if text.len() != 64 {
            return None;
        }
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(key)
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&text).ok_or(KeyFileError::NotAKey(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            let text: String = key.iter().map(|b| format!("{b:02x}")).collect();
            tls::write_private(&path, format!("{text}\n").as_bytes())?;
            Ok(key)
        }
        Err(source) => Err(KeyFileError::Read { path, source }),
    }
}

/// Serves until `changed`, over HTTPS with `tls` (its config and fingerprint).
async fn serve_until(
    client: &EngineClient,
    listener: tokio::net::TcpListener,
    address: SocketAddr,
    tls: Option<(Arc<rustls::ServerConfig>, String)>,
    limits: Limits,
    stats: &Arc<ServeStats>,
    changed: impl std::future::Future<Output = ()>,
) {
    let text = match &tls {
        None => format!("HTTP API listening on http://{address}"),
        Some((_, fingerprint)) => {
            format!("HTTP API listening on https://{address} (certificate SHA-256 {fingerprint})")
        }
    };
    client.log(Level::Info, text).await;
    let tls = tls.map(|(config, _)| tokio_rustls::TlsAcceptor::from(config));
    let mut state = ApiState::new(client.clone(), limits);
    if let Some(path) = client.snapshot().settings_path.as_deref() {
        match placeholder_key(path) {
            Ok(key) => state.redactor = Arc::new(secrets::Redactor::with_key(key)),
            // Placeholders of this run only: a remote window's open dialog may have to
            // be reopened after a restart. Said, and not a reason to serve no API.
            Err(e) => client.log(Level::Warning, format!("HTTP API: {e}")).await,
        }
    }
    let logger = client.clone();
    serve::serve(
        listener,
        router_with(state),
        limits,
        stats.clone(),
        tls,
        changed,
        move |line| {
            let logger = logger.clone();
            tokio::spawn(async move { logger.log(Level::Error, line).await });
        },
    )
    .await;
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod placeholder_tests {
    #[test]
    fn the_placeholder_key_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let settings = dir.path().join("standby.ron");
        let made = super::placeholder_key(&settings).unwrap();
        assert_eq!(super::placeholder_key(&settings).unwrap(), made);
        let file = dir.path().join(super::PLACEHOLDER_KEY_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&file, "short").unwrap();
        let e = super::placeholder_key(&settings).unwrap_err();
        assert!(matches!(e, super::KeyFileError::NotAKey(_)), "{e}");
        assert!(e.to_string().contains("64 hex digits"), "{e}");
    }
}

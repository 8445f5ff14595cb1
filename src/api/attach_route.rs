//! Remote windows (`standby --connect`): the local channel's session (`attach::session`)
//! carried over HTTP. `GET /attach` answers a stream of server-sent events, one frame
//! (`ToWindow` as JSON) each, and names its session in `X-Standby-Session`;
//! `POST /attach/{session}` takes one of the window's frames (`ToEngine`) → 202.
//!
//! What a remote window sees and asks goes through [`RemoteGate`]: its snapshots carry
//! the settings with every secret a placeholder (as every route's answers do), the
//! secrets it sends back as placeholders are restored, it names no file on this host,
//! and a read-only token streams but changes nothing. A session ends when the API's own
//! options change, so that a window reconnects under the new password.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;

use super::guard::Caller;
use super::secrets::Redactor;
use super::{ApiError, ApiResult, ApiState, body};
use crate::attach::remote::{KEEP_ALIVE, SESSION_HEADER};
use crate::attach::session::{self, Gate};
use crate::attach::wire::{ToEngine, ToWindow};
use crate::engine::delta::WIRE_VERSION;
use crate::engine::{CallError, EditError, Request, Response as EngineResponse, Snapshot};
use crate::model::Settings;
use crate::model::options::HttpApiOptions;

/// The open sessions: each one's way to its window's frames.
#[derive(Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, mpsc::Sender<ToEngine>>>>);

/// Removes its session when the stream ends (the window left, or the engine stopped).
struct Registered {
    sessions: Sessions,
    id: String,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut map) = self.sessions.0.lock() {
            map.remove(&self.id);
        }
    }
}

/// `GET /attach`: a session of a remote window, streamed.
pub async fn open(
    State(state): State<ApiState>,
    caller: Option<axum::Extension<Caller>>,
) -> ApiResult<Response> {
    let admin = caller.is_none_or(|c| c.0 == Caller::Admin);
    let now = state.client.snapshot();
    let id: String = rand::random::<[u8; 16]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let (incoming_tx, incoming) = mpsc::channel(64);
    // Two frames in the pipe at most: a slow window gets the newest snapshot, not a queue.
    let (outgoing, frames) = mpsc::channel::<ToWindow>(2);
    if let Ok(mut map) = state.sessions.0.lock() {
        map.insert(id.clone(), incoming_tx);
    }
    let gate = Arc::new(RemoteGate {
        redactor: state.redactor.clone(),
        admin,
        api: now.settings.options.http_api.clone(),
        redacted: Mutex::new(None),
    });
    let hello = ToWindow::Hello {
        wire_version: WIRE_VERSION,
        program_version: env!("CARGO_PKG_VERSION").into(),
        pid: std::process::id(),
        settings_path: now.settings_path.clone().unwrap_or_default(),
    };
    tokio::spawn(session::run(
        state.client.clone(),
        hello,
        incoming,
        outgoing,
        gate,
    ));
    let registered = Registered {
        sessions: state.sessions.clone(),
        id: id.clone(),
    };
    let stream = futures_util::stream::unfold(
        (frames, registered),
        |(mut frames, registered)| async move {
            let frame = frames.recv().await?;
            let event = match serde_json::to_string(&frame) {
                Ok(json) => Event::default().data(json),
                Err(e) => Event::default().comment(format!("unsendable frame: {e}")),
            };
            Some((Ok::<_, Infallible>(event), (frames, registered)))
        },
    );
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(SESSION_HEADER, value);
    }
    Ok(response)
}

/// `POST /attach/{session}`: one frame of a remote window.
pub async fn send(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    request_body: Body,
) -> ApiResult<Response> {
    let bytes: Bytes = body::read(request_body, state.limits.body_timeout).await?;
    let frame: ToEngine = body::complete(body::object(&bytes)?)?;
    let sender = state
        .sessions
        .0
        .lock()
        .ok()
        .and_then(|map| map.get(&id).cloned())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no session {id:?} (it ended: open /attach again)"),
            )
        })?;
    sender.send(frame).await.map_err(|_| {
        ApiError::new(
            StatusCode::GONE,
            format!("session {id:?} ended: open /attach again"),
        )
    })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// What a remote window sees and asks.
struct RemoteGate {
    redactor: Arc<Redactor>,
    admin: bool,
    /// The API's options the session was opened under.
    api: HttpApiOptions,
    /// The settings last redacted and what they became, so that unchanged settings stay
    /// the same `Arc` (the delta then leaves them out).
    redacted: Mutex<Option<(Arc<Settings>, Arc<Settings>)>>,
}

impl RemoteGate {
    fn redact(&self, settings: &Arc<Settings>) -> Arc<Settings> {
        if let Ok(cache) = self.redacted.lock()
            && let Some((raw, redacted)) = cache.as_ref()
            && Arc::ptr_eq(raw, settings)
        {
            return redacted.clone();
        }
        let redacted = serde_json::to_value(&**settings)
            .map(|mut value| {
                self.redactor.redact(&mut value);
                value
            })
            .and_then(serde_json::from_value::<Settings>)
            // Never the secrets: rather no settings at all.
            .unwrap_or_else(|e| {
                tracing::warn!("settings for a remote window: {e}");
                Settings::default()
            });
        let redacted = Arc::new(redacted);
        if let Ok(mut cache) = self.redacted.lock() {
            *cache = Some((settings.clone(), redacted.clone()));
        }
        redacted
    }
}

impl Gate for RemoteGate {
    fn snapshot(&self, snapshot: Arc<Snapshot>) -> Arc<Snapshot> {
        let mut shown = (*snapshot).clone();
        shown.settings = self.redact(&snapshot.settings);
        Arc::new(shown)
    }

    fn request(&self, request: Request, now: &Snapshot) -> Result<Request, EngineResponse> {
        if matches!(
            request,
            Request::SaveHistoryCsv { .. } | Request::WriteSupportFile(_)
        ) {
            return Err(refuse(
                &request,
                "a remote window writes its files on its own machine".into(),
            ));
        }
        if !self.admin && !matches!(request, Request::QueryHistory(_)) {
            return Err(refuse(
                &request,
                "a read-only token cannot change anything (use the password of admin)".into(),
            ));
        }
        // The placeholders it carries become the stored secrets again.
        let restored = serde_json::to_value(&request)
            .map_err(|e| e.to_string())
            .and_then(|mut value| {
                let stored = serde_json::to_value(&*now.settings).map_err(|e| e.to_string())?;
                self.redactor
                    .restore(&mut value, &stored)
                    .map_err(|e| e.to_string())?;
                serde_json::from_value::<Request>(value).map_err(|e| e.to_string())
            });
        restored.map_err(|why| refuse(&request, why))
    }

    fn may_command(&self) -> bool {
        self.admin
    }

    fn still_valid(&self, now: &Snapshot) -> bool {
        now.settings.options.http_api == self.api
    }
}

/// The answer of `request`'s kind that refuses it, saying `why`.
fn refuse(request: &Request, why: String) -> EngineResponse {
    match request {
        Request::ApplySettings(_) => EngineResponse::Applied(Err(EditError::NotSaved(why))),
        Request::EditSettings { .. } => EngineResponse::Edited(Err(EditError::NotSaved(why))),
        Request::QueryHistory(_) => EngineResponse::History(Err(CallError::Busy(why))),
        Request::SaveHistoryCsv { .. } => EngineResponse::CsvSaved(Err(CallError::File(why))),
        Request::WriteSupportFile(_) => EngineResponse::SupportFile(Err(CallError::File(why))),
        Request::SupportText => EngineResponse::SupportText(Err(CallError::Busy(why))),
        Request::TestNotification(_) => EngineResponse::TestSent(Err(CallError::Busy(why))),
        Request::Uptime => EngineResponse::Uptime(Err(CallError::Busy(why))),
        Request::SlaReport { .. } => EngineResponse::Sla(Err(CallError::Busy(why))),
        Request::SaveSlaReport { .. } | Request::SaveEventsCsv { .. } => {
            EngineResponse::CsvSaved(Err(CallError::File(why)))
        }
        Request::QueryEvents(_) => EngineResponse::Events(Err(CallError::Busy(why))),
    }
}

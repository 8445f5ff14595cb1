//! The routes of SPEC §8. Reads come from the engine's snapshot; every change of the
//! settings is a typed [`SettingsEdit`] that the engine applies to the settings in force
//! (so two clients changing different sets never lose one change), optionally guarded by
//! `If-Match` with the revision a client read (412 when the settings moved on).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::{ApiError, ApiResult, ApiState, body, dto, metrics};
use crate::engine::{Command, EditError, SettingsEdit};
use crate::model::{Options, ServerSet};

/// The confirmation a `PUT /options` that switches the API off must carry beside the
/// options' fields: the client is about to lose the API it is talking to.
pub const CONFIRM_API_OFF: &str = "confirm_api_off";

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no server set {id:?}"))
}

fn json<T: Serialize>(value: &T) -> Response {
    axum::Json(value).into_response()
}

/// `ETag` of a settings revision.
fn etag(revision: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{revision}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// A settings resource as JSON with its secrets as placeholders, and its revision as ETag.
fn settings_json<T: Serialize>(state: &ApiState, value: &T, revision: u64) -> ApiResult<Response> {
    let mut value = serde_json::to_value(value)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    state.redactor.redact(&mut value);
    let mut response = axum::Json(value).into_response();
    response.headers_mut().insert(header::ETAG, etag(revision));
    Ok(response)
}

/// The revision named by `If-Match` (`"7"`, `W/"7"`; `*` or none = no condition).
fn if_match(headers: &HeaderMap) -> ApiResult<Option<u64>> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    text.trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map(Some)
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("If-Match {text:?} is not a revision this API gave (an ETag like \"12\")"),
            )
        })
}

fn edit_error(e: EditError) -> ApiError {
    let status = match &e {
        EditError::NoSuchSet(_) | EditError::NoSuchServer { .. } => StatusCode::NOT_FOUND,
        EditError::SetExists(_) | EditError::SharedConflict { .. } => StatusCode::CONFLICT,
        EditError::Conflict { .. } => StatusCode::PRECONDITION_FAILED,
        EditError::Invalid(_) | EditError::NotSaved(_) => StatusCode::BAD_REQUEST,
        EditError::Stopped | EditError::SharedUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let mut error = ApiError::new(status, e.to_string());
    if let EditError::Invalid(fields) = e {
        error.fields = fields;
    }
    error
}

/// Sends the edit to the engine; the answer carries the new revision as ETag.
async fn edit(
    state: &ApiState,
    edit: SettingsEdit,
    headers: &HeaderMap,
    status: StatusCode,
    body: Option<Response>,
) -> ApiResult<Response> {
    let revision = state
        .client
        .edit_settings(edit, if_match(headers)?)
        .await
        .map_err(edit_error)?;
    let mut response = body.unwrap_or_else(|| status.into_response());
    *response.status_mut() = status;
    response.headers_mut().insert(header::ETAG, etag(revision));
    Ok(response)
}

/// The body as a complete `T`, with placeholders turned back into the stored secrets.
async fn settings_body<T: Serialize + serde::de::DeserializeOwned>(
    state: &ApiState,
    request_body: Body,
    confirm_key: Option<&str>,
) -> ApiResult<(T, bool)> {
    let bytes = body::read(request_body, state.limits.body_timeout).await?;
    let stored = serde_json::to_value(&*state.client.snapshot().settings)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    decode_settings_body(&bytes, &stored, &state.redactor, confirm_key)
}

/// A settings body as a complete `T` (pure; the fuzz target `api_bodies` drives it): a
/// JSON object, `confirm_key` (if any) taken out of it as a boolean, placeholders turned
/// back into the secrets of `stored` (the settings in force, as JSON), every field present.
pub fn decode_settings_body<T: Serialize + serde::de::DeserializeOwned>(
    bytes: &[u8],
    stored: &Value,
    redactor: &crate::api::secrets::Redactor,
    confirm_key: Option<&str>,
) -> ApiResult<(T, bool)> {
    let mut value = body::object(bytes)?;
    let confirmed = match (confirm_key, value.as_object_mut()) {
        (Some(key), Some(map)) => match map.remove(key) {
            None => false,
            Some(Value::Bool(yes)) => yes,
            Some(_) => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("invalid JSON at {key}: expected true or false"),
                ));
            }
        },
        _ => false,
    };
    redactor.restore(&mut value, stored).map_err(|e| {
        let field = crate::model::ValidationError {
            path: e.path.clone(),
            message: format!(
                "the placeholder {} stands for no stored secret",
                e.placeholder
            ),
        };
        ApiError {
            fields: vec![field],
            ..ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        }
    })?;
    Ok((body::complete(value)?, confirmed))
}

pub async fn log(State(state): State<ApiState>) -> Response {
    let snapshot = state.client.snapshot();
    json(
        &snapshot
            .log
            .iter()
            .map(dto::LogLineDto::from)
            .collect::<Vec<_>>(),
    )
}

pub async fn get_options(State(state): State<ApiState>) -> ApiResult<Response> {
    let snapshot = state.client.snapshot();
    settings_json(
        &state,
        &snapshot.settings.options,
        snapshot.settings_revision,
    )
}

pub async fn put_options(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Response> {
    let (options, confirmed): (Options, bool) =
        settings_body(&state, request_body, Some(CONFIRM_API_OFF)).await?;
    let api_on = state.client.snapshot().settings.options.http_api.enabled;
    if api_on && !options.http_api.enabled && !confirmed {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "http_api.enabled: false switches this API off; send \"{CONFIRM_API_OFF}\": true beside the options to do so"
            ),
        ));
    }
    let change = SettingsEdit::Options(Box::new(options));
    edit(&state, change, &headers, StatusCode::NO_CONTENT, None).await
}

pub async fn command(State(state): State<ApiState>, command: Command) -> ApiResult<Response> {
    state
        .client
        .send(command)
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn set_command(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    make: fn(String) -> Command,
) -> ApiResult<Response> {
    if state.client.snapshot().set(&id).is_none() {
        return Err(not_found(&id));
    }
    command(State(state), make(id)).await
}

pub async fn problems(State(state): State<ApiState>) -> Response {
    let snapshot = state.client.snapshot();
    json(
        &snapshot
            .problems
            .iter()
            .map(dto::ProblemDto::from)
            .collect::<Vec<_>>(),
    )
}

pub async fn list_sets(State(state): State<ApiState>) -> Response {
    let snapshot = state.client.snapshot();
    json(
        &snapshot
            .sets
            .iter()
            .map(|s| dto::SetInfoDto::from(s.as_ref()))
            .collect::<Vec<_>>(),
    )
}

pub async fn create_set(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Response> {
    let (set, _): (ServerSet, bool) = settings_body(&state, request_body, None).await?;
    #[derive(Serialize)]
    struct Created {
        id: String,
    }
    let created = json(&Created {
        id: set.name.clone(),
    });
    let change = SettingsEdit::AddSet(Box::new(set));
    edit(&state, change, &headers, StatusCode::CREATED, Some(created)).await
}

pub async fn set_info(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = state.client.snapshot();
    let set = snapshot.set(&id).ok_or_else(|| not_found(&id))?;
    Ok(json(&dto::SetInfoDto::from(set)))
}

pub async fn set_status(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = state.client.snapshot();
    let set = snapshot.set(&id).ok_or_else(|| not_found(&id))?;
    Ok(json(&dto::SetStatusDto::from(set)))
}

pub async fn delete_set(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let change = SettingsEdit::DeleteSet(id);
    edit(&state, change, &headers, StatusCode::NO_CONTENT, None).await
}

pub async fn get_config(
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let snapshot = state.client.snapshot();
    let set = snapshot.settings.set(&id).ok_or_else(|| not_found(&id))?;
    settings_json(&state, set, snapshot.settings_revision)
}

pub async fn put_config(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Response> {
    let (set, _): (ServerSet, bool) = settings_body(&state, request_body, None).await?;
    let change = SettingsEdit::ReplaceSet {
        name: id,
        set: Box::new(set),
    };
    edit(&state, change, &headers, StatusCode::NO_CONTENT, None).await
}

pub async fn metrics(State(state): State<ApiState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&state.client.snapshot()),
    )
        .into_response()
}

/// `GET /support`: the engine's own support file (its settings redacted as in the file
/// written locally, its problems and live log), for a remote window to save where it
/// runs. Admin only: the log names hosts and addresses a dashboard token need not see.
pub async fn support(
    State(state): State<ApiState>,
    caller: Option<axum::Extension<super::guard::Caller>>,
) -> ApiResult<Response> {
    if caller.is_some_and(|c| c.0 != super::guard::Caller::Admin) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "the support file is for admin only (use the password of admin)".into(),
        ));
    }
    let text = state
        .client
        .support_text()
        .await
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The body of `POST /serversets/{id}/servers/{server}/override`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    /// `up`, `down` or `clear`.
    state: String,
    /// How long it lasts (`30m`, `2h`); absent = until cleared.
    #[serde(default, rename = "for")]
    lasts: Option<String>,
}

fn field_error(path: &str, message: impl std::fmt::Display) -> ApiError {
    let message = message.to_string();
    let mut error = ApiError::new(StatusCode::BAD_REQUEST, format!("{path}: {message}"));
    error.fields = vec![crate::model::ValidationError {
        path: path.into(),
        message,
    }];
    error
}

/// Forces a server up or down (optionally for a while), or clears its override: a
/// settings edit, so it is saved and survives a restart.
pub async fn override_server(
    State(state): State<ApiState>,
    Path((id, server)): Path<(String, String)>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Response> {
    let bytes = body::read(request_body, state.limits.body_timeout).await?;
    let request: OverrideBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?;
    let lasts = request
        .lasts
        .as_deref()
        .map(crate::model::admin::parse_duration)
        .transpose()
        .map_err(|e| field_error("for", e))?;
    let forced = match request.state.as_str() {
        "up" => Some(crate::model::ForcedState::Up),
        "down" => Some(crate::model::ForcedState::Down),
        "clear" => None,
        other => {
            return Err(field_error(
                "state",
                format!("{other:?}: expected \"up\", \"down\" or \"clear\""),
            ));
        }
    }
    .map(|s| crate::model::Forced::new(s, std::time::SystemTime::now(), lasts));
    let edit_ = SettingsEdit::Force {
        set: id,
        server,
        forced,
    };
    edit(&state, edit_, &headers, StatusCode::NO_CONTENT, None).await
}

/// The body of `POST /serversets/{id}/maintenance`: one of `for`, `from` + `to`, `weekly`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct MaintenanceBody {
    /// One server (its public address); absent = every server of the set.
    #[serde(default)]
    server: Option<String>,
    /// How long it lasts from now (`30m`, `2h`).
    #[serde(default, rename = "for")]
    lasts: Option<String>,
    /// A one-off window from this time (RFC 3339) ...
    #[serde(default)]
    from: Option<String>,
    /// ... to this one.
    #[serde(default)]
    to: Option<String>,
    /// A recurring window: `{"days": ["Tue"], "start": "22:00", "end": "01:00",
    /// "time_zone": "Europe/Berlin"}`.
    #[serde(default)]
    weekly: Option<WeeklyBody>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct WeeklyBody {
    days: Vec<crate::model::admin::Day>,
    start: String,
    end: String,
    #[serde(default = "utc")]
    time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// The window a maintenance body asks for, or the field that is wrong.
fn maintenance_window(
    request: MaintenanceBody,
    now: std::time::SystemTime,
) -> ApiResult<crate::model::Maintenance> {
    use crate::model::Maintenance;
    let window = match (request.lasts, request.from, request.to, request.weekly) {
        (Some(lasts), None, None, None) => {
            let lasts =
                crate::model::admin::parse_duration(&lasts).map_err(|e| field_error("for", e))?;
            Maintenance::once(now, lasts)
        }
        (None, Some(from), Some(to), None) => Maintenance::Once { from, to },
        (None, None, None, Some(w)) => Maintenance::Weekly {
            days: w.days,
            start: w.start,
            end: w.end,
            time_zone: w.time_zone,
        },
        _ => {
            return Err(field_error(
                "for",
                "give one of \"for\", \"from\" with \"to\", or \"weekly\"",
            ));
        }
    };
    let prefix = if matches!(window, Maintenance::Weekly { .. }) {
        "weekly."
    } else {
        ""
    };
    match window.errors().into_iter().next() {
        Some((field, message)) => Err(field_error(&format!("{prefix}{field}"), message)),
        None => Ok(window),
    }
}

/// Puts a server (or the whole set) in maintenance: a one-off window from now for a while
/// or between two times, or a weekly one, added to the settings, so it survives a restart.
pub async fn add_maintenance(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Response> {
    let bytes = body::read(request_body, state.limits.body_timeout).await?;
    let request: MaintenanceBody = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?;
    let server = request.server.clone();
    let window = maintenance_window(request, std::time::SystemTime::now())?;
    let edit_ = SettingsEdit::AddMaintenance {
        set: id,
        server,
        window,
    };
    edit(&state, edit_, &headers, StatusCode::NO_CONTENT, None).await
}

/// The body of `POST /serversets/{id}/maintenance/clear`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ClearMaintenanceBody {
    /// One server (its public address); absent = the set and every server of it.
    #[serde(default)]
    server: Option<String>,
}

/// Removes maintenance windows (of one server, or of the set and all its servers).
pub async fn clear_maintenance(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    request_body: Body,
) -> ApiResult<Response> {
    let bytes = body::read(request_body, state.limits.body_timeout).await?;
    let request: ClearMaintenanceBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        ClearMaintenanceBody { server: None }
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")))?
    };
    let edit_ = SettingsEdit::ClearMaintenance {
        set: id,
        server: request.server,
    };
    edit(&state, edit_, &headers, StatusCode::NO_CONTENT, None).await
}

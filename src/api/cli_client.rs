//! The command line's way to a running engine: a request to its HTTP API, at the address
//! and with the password of the settings file (`standby override ...`). Plain HTTP only:
//! the API is on loopback by default; with TLS on, the command says to use the window or
//! an HTTPS client instead.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

use crate::model::{Settings, options::ApiTls};

/// How long the engine may take to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// Why a command to the running engine did not work.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{path}: {message}")]
    Settings { path: String, message: String },
    #[error("the HTTP API is off in {0}: commands reach the running engine through it")]
    ApiOff(String),
    #[error("the HTTP API of {0} uses TLS: use the window or an HTTPS client for this")]
    Tls(String),
    #[error("cannot reach the engine's API at {address}: {error} (is Standby running?)")]
    Connect {
        address: String,
        error: std::io::Error,
    },
    #[error("the engine's API at {address} answered {status}: {body}")]
    Refused {
        address: String,
        status: u16,
        body: String,
    },
}

/// `POST /serversets/{set}/servers/{server}/override` with `{"state": state, "for": lasts}`.
pub fn override_server(
    settings_path: &Path,
    set: &str,
    server: &str,
    state: &str,
    lasts: Option<&str>,
) -> Result<(), ClientError> {
    let settings = crate::model::file::load(settings_path).map_err(|e| ClientError::Settings {
        path: settings_path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut body = serde_json::json!({ "state": state });
    if let Some(lasts) = lasts {
        body["for"] = serde_json::Value::String(lasts.to_string());
    }
    let path = format!(
        "/serversets/{}/servers/{}/override",
        encode(set),
        encode(server)
    );
    post(&settings, settings_path, &path, &body.to_string())
}

/// What `standby maintenance` asks of the running engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MaintenanceRequest {
    /// A one-off window from now, lasting this long (`30m`).
    For(String),
    /// A one-off window between two times (RFC 3339).
    Between { from: String, to: String },
    /// A recurring window on these days (`Tue,Wed`) from `start` to `end` (`22:00`) in the
    /// time zone.
    Weekly {
        days: String,
        start: String,
        end: String,
        time_zone: String,
    },
    /// Remove the windows (of the server, or of the set and all its servers).
    Clear,
}

/// `POST /serversets/{set}/maintenance` (or `.../maintenance/clear`) for the set, or one
/// server of it.
pub fn maintenance(
    settings_path: &Path,
    set: &str,
    server: Option<&str>,
    request: &MaintenanceRequest,
) -> Result<(), ClientError> {
    let settings = crate::model::file::load(settings_path).map_err(|e| ClientError::Settings {
        path: settings_path.display().to_string(),
        message: e.to_string(),
    })?;
    let mut body = serde_json::json!({});
    if let Some(server) = server {
        body["server"] = server.into();
    }
    let mut path = format!("/serversets/{}/maintenance", encode(set));
    match request {
        MaintenanceRequest::For(lasts) => body["for"] = lasts.as_str().into(),
        MaintenanceRequest::Between { from, to } => {
            body["from"] = from.as_str().into();
            body["to"] = to.as_str().into();
        }
        MaintenanceRequest::Weekly {
            days,
            start,
            end,
            time_zone,
        } => {
            // Day names as the settings write them (`Tue`), whatever the case typed.
            let days: Vec<String> = days
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| {
                    let mut chars = d.chars();
                    chars.next().map_or_else(String::new, |c| {
                        c.to_uppercase()
                            .chain(chars.flat_map(char::to_lowercase))
                            .collect()
                    })
                })
                .collect();
            body["weekly"] = serde_json::json!({
                "days": days, "start": start, "end": end, "time_zone": time_zone
            });
        }
        MaintenanceRequest::Clear => path.push_str("/clear"),
    }
    post(&settings, settings_path, &path, &body.to_string())
}

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn post(settings: &Settings, file: &Path, path: &str, body: &str) -> Result<(), ClientError> {
    let api = &settings.options.http_api;
    let file = file.display().to_string();
    if !api.enabled {
        return Err(ClientError::ApiOff(file));
    }
    if !matches!(api.tls, ApiTls::Off) {
        return Err(ClientError::Tls(file));
    }
    let address = api.listen.clone();
    let connect_error = |error| ClientError::Connect {
        address: address.clone(),
        error,
    };
    let target: SocketAddr = address.parse().map_err(|_| ClientError::Settings {
        path: file.clone(),
        message: format!("options.http_api.listen: {address:?} is not an address:port"),
    })?;
    let mut stream = TcpStream::connect_timeout(&target, ANSWER_WITHIN).map_err(connect_error)?;
    stream
        .set_read_timeout(Some(ANSWER_WITHIN))
        .map_err(connect_error)?;
    let auth = if api.password.is_empty() {
        String::new()
    } else {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("admin:{}", api.password.expose()));
        format!("Authorization: Basic {token}\r\n")
    };
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(connect_error)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(connect_error)?;
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    if (200..300).contains(&status) {
        return Ok(());
    }
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.trim().to_string())
        .unwrap_or_default();
    Err(ClientError::Refused {
        address,
        status,
        body,
    })
}

//! Request bodies: at most [`MAX_BODY`] bytes, read within the time-out, and a *complete*
//! JSON object. The model's types fill absent fields with defaults (a settings file only
//! needs what differs), but on the API a partial body like `{"polling":{…}}`, or the
//! sequence form `[]` serde also accepts for a struct, would silently reset everything it
//! leaves out — the API switched off, its password wiped. So every field the type has must
//! be present, as `GET` returns it; the error names the first one missing.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::ApiError;

/// The largest body accepted (a settings change is a few kilobytes).
pub const MAX_BODY: usize = 1 << 20;

/// Reads the whole body: 413 past [`MAX_BODY`], 408 past `timeout`.
pub async fn read(body: Body, timeout: Duration) -> Result<Bytes, ApiError> {
    let collected = tokio::time::timeout(timeout, Limited::new(body, MAX_BODY).collect()).await;
    match collected {
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the body did not arrive within {} s", timeout.as_secs()),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes"),
        )),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("cannot read the body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// The body as a JSON object (400 otherwise).
pub fn object(body: &[u8]) -> Result<Value, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if !value.is_object() {
        return Err(bad(format!(
            "the body must be a JSON object, not {}",
            kind(&value)
        )));
    }
    Ok(value)
}

/// `value` as a `T`, with every field of `T` present in it. Type errors name their field
/// (`invalid JSON at servers[0].weight: …`).
pub fn complete<T: Serialize + DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    let parsed: T = serde_path_to_error::deserialize(value.clone()).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            bad(format!("invalid JSON: {}", e.inner()))
        } else {
            bad(format!("invalid JSON at {path}: {}", e.inner()))
        }
    })?;
    // What the value is with every field written out: each must be in the body too.
    let canonical = serde_json::to_value(&parsed)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match missing(&value, &canonical, "") {
        None => Ok(parsed),
        Some(why) => Err(bad(format!(
            "incomplete body: {why} (a body carries every field, as GET returns it)"
        ))),
    }
}

/// The first place where `sent` lacks a field of `canonical`, or has another shape.
fn missing(sent: &Value, canonical: &Value, path: &str) -> Option<String> {
    let at = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (canonical, sent) {
        (Value::Object(fields), Value::Object(given)) => {
            fields.iter().find_map(|(key, c)| match given.get(key) {
                None => Some(format!("field {} is missing", at(key))),
                Some(s) => missing(s, c, &at(key)),
            })
        }
        (Value::Object(_), other) => Some(format!(
            "{} must be an object, not {}",
            if path.is_empty() { "the body" } else { path },
            kind(other)
        )),
        (Value::Array(items), Value::Array(given)) => items
            .iter()
            .zip(given)
            .enumerate()
            .find_map(|(i, (c, s))| missing(s, c, &format!("{path}[{i}]"))),
        _ => None,
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn bad(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::{Options, ServerSet};

    fn options(body: &str) -> Result<Options, String> {
        object(body.as_bytes())
            .and_then(complete::<Options>)
            .map_err(|e| e.message)
    }

    #[test]
    fn partial_and_sequence_bodies_are_refused_and_say_what_is_missing() {
        let cases = [
            ("[]", "the body must be a JSON object, not an array"),
            ("[[]]", "the body must be a JSON object, not an array"),
            ("{}", "incomplete body: field "),
            (r#"{"polling":{"paused":true}}"#, "incomplete body: field "),
        ];
        for (body, expected) in cases {
            let error = options(body).unwrap_err();
            assert!(error.starts_with(expected), "{body}: {error}");
        }
        // Everything but one field: that field is named.
        let mut full = serde_json::to_value(Options::default()).unwrap();
        full["http_api"].as_object_mut().unwrap().remove("enabled");
        let error = options(&full.to_string()).unwrap_err();
        assert!(
            error.contains("field http_api.enabled is missing"),
            "{error}"
        );
        // A nested struct in sequence form.
        let mut full = serde_json::to_value(Options::default()).unwrap();
        full["http_api"] = serde_json::json!([false, "127.0.0.1:8100"]);
        let error = options(&full.to_string()).unwrap_err();
        assert!(error.contains("http_api must be an object"), "{error}");
    }

    #[test]
    fn a_complete_body_as_get_returns_it_is_taken() {
        let mut options = Options::default();
        options.polling.max_concurrent_polls = 7;
        let text = serde_json::to_string(&options).unwrap();
        assert_eq!(self::options(&text).unwrap(), options);
        let set = ServerSet::default();
        let value = serde_json::to_value(&set).unwrap();
        assert_eq!(complete::<ServerSet>(value).unwrap(), set);
    }
}

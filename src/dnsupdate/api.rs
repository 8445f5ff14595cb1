//! What the API methods (PowerDNS, Cloudflare, Route 53) share: names in the providers'
//! spelling, the client, and turning an HTTP answer into a [`DnsError`] that says why.

use std::time::Duration;

use super::{DnsError, DnsStage, FailureKind};
use crate::httpclient::{ApiClient, ApiRequest, ApiResponse, HeaderValue, HttpFailure};
use crate::model::Secret;

/// `WWW.Example.test` → `www.example.test.` (the providers' absolute, lower-case form).
pub fn absolute(name: &str) -> String {
    let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
    format!("{name}.")
}

/// Whether `host` is `zone` or a name under it (both absolute, lower case).
pub fn in_zone(host: &str, zone: &str) -> bool {
    host == zone || (host.ends_with(zone) && host[..host.len() - zone.len()].ends_with('.'))
}

/// The longest of `zones` that holds `host` (the zone closest to the name).
pub fn longest_suffix<'a, T>(
    host: &str,
    zones: &'a [T],
    name: impl Fn(&T) -> String,
) -> Option<&'a T> {
    let host = absolute(host);
    zones
        .iter()
        .filter(|z| in_zone(&host, &absolute(&name(z))))
        .max_by_key(|z| name(z).trim_end_matches('.').len())
}

/// Builds the client of an API method.
pub fn client(timeout_secs: u32) -> Result<ApiClient, super::BuildError> {
    ApiClient::new(Duration::from_secs(u64::from(timeout_secs.max(1))))
        .map_err(|e| super::BuildError::Invalid(e.to_string()))
}

/// A key or token that cannot be a header value (a line break, a control character).
#[derive(Debug, thiserror::Error)]
#[error("the key or token holds characters a header cannot carry")]
pub struct UnfitHeader;

/// A secret as a header value, marked sensitive so that no debug print of the request
/// shows it. A secret with a line break cannot be sent.
pub fn secret_header(secret: &Secret, prefix: &str) -> Result<HeaderValue, UnfitHeader> {
    let mut value =
        HeaderValue::from_str(&format!("{prefix}{}", secret.expose())).map_err(|_| UnfitHeader)?;
    value.set_sensitive(true);
    Ok(value)
}

/// Sends `request`; a failure of the exchange itself becomes a [`DnsError`] at `stage`.
pub async fn send(
    client: &ApiClient,
    request: ApiRequest,
    stage: DnsStage,
    what: &str,
) -> Result<ApiResponse, DnsError> {
    client
        .send(request)
        .await
        .map_err(|HttpFailure { kind, text }| DnsError::new(kind, stage, format!("{what}: {text}")))
}

/// A wrong answer: `HTTP 422 Unprocessable Entity: <the API's own words>`.
pub fn wrong(stage: DnsStage, text: impl Into<String>) -> DnsError {
    DnsError::new(FailureKind::WrongAnswer, stage, text)
}

/// Parses a JSON answer, or says that it was not the JSON the API documents.
pub fn json<T: serde::de::DeserializeOwned>(
    response: &ApiResponse,
    stage: DnsStage,
    what: &str,
) -> Result<T, DnsError> {
    serde_json::from_slice(&response.body).map_err(|e| {
        wrong(
            stage,
            format!(
                "{what}: {} with an answer that is not the documented JSON ({e})",
                response.status_text()
            ),
        )
    })
}

/// The first line of a body, shortened, for an error text.
pub fn body_excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut line: String = line.trim().chars().take(200).collect();
    if line.len() < text.trim().len() {
        line.push('…');
    }
    line
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn names_and_zones() {
        assert_eq!(absolute("WWW.Example.test"), "www.example.test.");
        assert_eq!(absolute("example.test."), "example.test.");
        assert!(in_zone("www.example.test.", "example.test."));
        assert!(in_zone("example.test.", "example.test."));
        assert!(!in_zone("www.badexample.test.", "example.test."));
        let zones = ["test.", "example.test.", "sub.example.test.", "other.test."];
        let found = longest_suffix("*.a.sub.example.test", &zones, |z| z.to_string());
        assert_eq!(found, Some(&"sub.example.test."));
        assert_eq!(
            longest_suffix("www.example.test", &zones, |z| z.to_string()),
            Some(&"example.test.")
        );
        assert_eq!(
            longest_suffix("www.example.org", &zones, |z| z.to_string()),
            None
        );
    }

    #[test]
    fn excerpts_are_short() {
        assert_eq!(body_excerpt(b"\n Unauthorized \n"), "Unauthorized");
        assert_eq!(body_excerpt(&[b'x'; 300]).chars().count(), 201);
    }
}

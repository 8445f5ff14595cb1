//! AWS Signature Version 4 for Route 53 requests, by the AWS SDK's own signer (`aws-sigv4`):
//! canonical requests have enough corners (encoding, header folding, path normalisation)
//! that a maintained signer beats a hand-written one. This file only adapts it.

use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign as aws_sign};
use aws_sigv4::sign::v4;

use crate::model::Secret;

/// What signs: the access key and its secret (and a session token for temporary ones).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .finish_non_exhaustive()
    }
}

/// The AWS signer refused the request (a bad URL or header; never the secret in the text).
#[derive(Debug, thiserror::Error)]
#[error("cannot sign the request: {0}")]
pub struct SignError(String);

/// Signs a request (`url` with its query, encoded; `headers` to sign, with `host`) for
/// `(region, service)` at `time`. Returns the headers to add: `x-amz-date`,
/// `authorization` (and `x-amz-security-token`).
pub fn sign(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &Credentials,
    (region, service): (&str, &str),
    time: SystemTime,
) -> Result<Vec<(String, String)>, SignError> {
    let identity = aws_credential_types::Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.expose().to_string(),
        credentials
            .session_token
            .as_ref()
            .map(|t| t.expose().to_string()),
        None,
        "standby",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError(e.to_string()))?
        .into();
    let request = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SignError(e.to_string()))?;
    let (instructions, _signature) = aws_sign(request, &params)
        .map_err(|e| SignError(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn example() -> Credentials {
        Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: Secret::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: None,
        }
    }

    /// 2015-08-30T12:36:00Z, the test suite's time.
    fn suite_time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    /// aws-signing-test-suite/v4/get-vanilla-query-order-key-case: our use of the signer
    /// (URL with its query, the host header) gives the suite's signature.
    #[test]
    fn get_with_a_query_in_any_order() {
        let headers = sign(
            "GET",
            "https://example.amazonaws.com/?Param2=value2&Param1=value1",
            &[("host", "example.amazonaws.com")],
            b"",
            &example(),
            ("us-east-1", "service"),
            suite_time(),
        )
        .unwrap();
        assert_eq!(
            header(&headers, "authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders=host;x-amz-date, \
             Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
        );
        assert_eq!(header(&headers, "x-amz-date"), "20150830T123600Z");
        assert!(!format!("{:?}", example()).contains("EXAMPLEKEY"));
    }

    #[test]
    fn a_session_token_is_sent_and_signed() {
        let mut credentials = example();
        credentials.session_token = Some(Secret::new("tok3n"));
        let headers = sign(
            "POST",
            "https://route53.amazonaws.com/2013-04-01/hostedzone/Z1/rrset/",
            &[("host", "route53.amazonaws.com")],
            b"<x/>",
            &credentials,
            ("us-east-1", "route53"),
            suite_time(),
        )
        .unwrap();
        assert_eq!(header(&headers, "x-amz-security-token"), "tok3n");
        assert!(
            header(&headers, "authorization").contains("x-amz-security-token"),
            "{headers:?}"
        );
    }
}

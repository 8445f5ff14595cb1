//! What a request must show before a route sees it: a host name of this API (against DNS
//! rebinding), no foreign `Origin` and a JSON `Content-Type` on writes (against cross-site
//! requests from a browser), and the password or a read-only token. Failed logins are
//! throttled per client address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::http::{HeaderMap, Method, StatusCode, header};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::model::options::HttpApiOptions;

/// A refusal: status and message.
pub type Refusal = (StatusCode, String);

/// The `Host` header must name this API: an IP literal (a browser sends one only when the
/// page's own address is that literal), `localhost` when the API listens on loopback, or
/// one of `allowed_hosts`. A name that an attacker's DNS points here (rebinding) is none of
/// those. Requests without a `Host` (not from a browser) pass.
pub fn check_host(
    headers: &HeaderMap,
    listen: Option<SocketAddr>,
    allowed: &[String],
) -> Result<(), Refusal> {
    let Some(host) = headers.get(header::HOST) else {
        return Ok(());
    };
    let host = host.to_str().unwrap_or("");
    if host_allowed(host, listen, allowed) {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            format!(
                "Host {host:?} is not a name of this API (add it to options.http_api.allowed_hosts)"
            ),
        ))
    }
}

fn host_allowed(host: &str, listen: Option<SocketAddr>, allowed: &[String]) -> bool {
    let name = host_name(host);
    if name.is_empty() {
        return false;
    }
    if name.parse::<IpAddr>().is_ok() {
        return true;
    }
    let local = listen.is_none_or(|l| l.ip().is_loopback() || l.ip().is_unspecified());
    if local && (name == "localhost" || name.ends_with(".localhost")) {
        return true;
    }
    allowed.iter().any(|a| host_name(a) == name)
}

/// The host of a `Host` value without port, brackets and trailing dot, in lower case.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let bare = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        }
    };
    bare.trim_end_matches('.').to_ascii_lowercase()
}

/// A browser names the page that sent a request in `Origin`; only the API's own origin
/// (the same host as `Host`) may send one.
pub fn check_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let own = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|authority| !host.is_empty() && authority.eq_ignore_ascii_case(host));
    if own {
        Ok(())
    } else {
        Err((
            StatusCode::FORBIDDEN,
            format!("a request from the web page {origin:?} is refused (cross-origin)"),
        ))
    }
}

/// Writes carry JSON and say so. A browser sends `application/json` to another origin only
/// after a CORS preflight, which this API never grants, so a page elsewhere cannot write.
pub fn check_content_type(method: &Method, headers: &HeaderMap) -> Result<(), Refusal> {
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return Ok(());
    }
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() == Some("application/json") {
        Ok(())
    } else {
        Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "{method} needs Content-Type: application/json (got {})",
                essence.as_deref().unwrap_or("none")
            ),
        ))
    }
}

/// Who a request is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// The password (user `admin`), or no password is set.
    Admin,
    /// A read-only token.
    Reader,
    /// Credentials were sent and are wrong.
    Wrong,
    /// No credentials.
    Anonymous,
}

/// Checks `Authorization` against the password and the read-only tokens. Every check
/// compares SHA-256 digests byte by byte to the end, so the time taken tells neither how
/// much of a guess matched nor how long the password is.
pub fn caller(options: &HttpApiOptions, headers: &HeaderMap) -> Caller {
    if options.password.is_empty() {
        return Caller::Admin;
    }
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Caller::Anonymous;
    };
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return Caller::Wrong;
        };
        let expected = format!("admin:{}", options.password.expose());
        return if same_secret(&decoded, expected.as_bytes()) {
            Caller::Admin
        } else {
            Caller::Wrong
        };
    }
    if let Some(token) = value.strip_prefix("Bearer ") {
        let token = token.trim().as_bytes();
        // Every token is compared, so the time does not tell which one came close.
        let matched = options
            .read_tokens
            .iter()
            .filter(|t| !t.is_empty())
            .fold(false, |found, t| {
                same_secret(token, t.expose().as_bytes()) | found
            });
        return if matched {
            Caller::Reader
        } else {
            Caller::Wrong
        };
    }
    Caller::Wrong
}

/// Equal secrets, in a time that depends on neither where they differ nor their lengths
/// (both are hashed to 32 bytes first; all 32 are compared).
pub fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let a = Sha256::digest(given);
    let b = Sha256::digest(expected);
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// Failed logins per client address: after [`Throttle::FREE`] failures in a row, each
/// further one closes the address out for a time that doubles (1 s, 2 s, 4 s... up to a
/// minute); a success forgets the address.
#[derive(Debug, Default)]
pub struct Throttle {
    clients: HashMap<IpAddr, Failures>,
}

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

impl Throttle {
    pub const FREE: u32 = 3;
    const MAX_BLOCK: Duration = Duration::from_secs(60);
    /// Addresses silent for this long are forgotten.
    const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
    /// Bounds the memory a spray of addresses can take.
    const MAX_CLIENTS: usize = 10_000;

    /// How long `ip` must still wait, if it is closed out.
    pub fn blocked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let until = self.clients.get(&ip)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    /// A failed login from `ip`; returns the failures in a row and the time it is closed
    /// out for, if it is.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) -> (u32, Option<Duration>) {
        if self.clients.len() >= Self::MAX_CLIENTS {
            self.clients
                .retain(|_, f| now.duration_since(f.last) < Self::FORGET_AFTER);
            if self.clients.len() >= Self::MAX_CLIENTS {
                // Keep those closed out; drop the rest.
                self.clients
                    .retain(|_, f| f.blocked_until.is_some_and(|u| u > now));
            }
        }
        let entry = self.clients.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if now.duration_since(entry.last) >= Self::FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let block = (entry.count >= Self::FREE).then(|| {
            let doublings = (entry.count - Self::FREE).min(10);
            Duration::from_secs(1 << doublings).min(Self::MAX_BLOCK)
        });
        entry.blocked_until = block.map(|b| now + b);
        (entry.count, block)
    }

    pub fn succeeded(&mut self, ip: IpAddr) {
        self.clients.remove(&ip);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Secret;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn basic(user_password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    #[test]
    fn only_the_whole_password_or_a_token_gets_in() {
        let options = HttpApiOptions {
            password: Secret::new("s3cret"),
            read_tokens: vec![Secret::new("dashboard-token")],
            ..HttpApiOptions::default()
        };
        let cases = [
            (basic("admin:s3cret"), Caller::Admin),
            // A prefix, a longer value and the same length with one byte wrong.
            (basic("admin:s3cre"), Caller::Wrong),
            (basic("admin:s3cret!"), Caller::Wrong),
            (basic("admin:s3creT"), Caller::Wrong),
            (basic("root:s3cret"), Caller::Wrong),
            ("Bearer dashboard-token".into(), Caller::Reader),
            ("Bearer dashboard-toke".into(), Caller::Wrong),
            ("Bearer s3cret".into(), Caller::Wrong),
            ("Digest x".into(), Caller::Wrong),
        ];
        for (authorization, expected) in cases {
            let h = headers(&[(header::AUTHORIZATION, &authorization)]);
            assert_eq!(caller(&options, &h), expected, "{authorization}");
        }
        assert_eq!(caller(&options, &HeaderMap::new()), Caller::Anonymous);
        let open = HttpApiOptions::default();
        assert_eq!(caller(&open, &HeaderMap::new()), Caller::Admin);
    }

    #[test]
    fn foreign_host_names_are_refused_and_the_api_s_own_pass() {
        let loopback: Option<SocketAddr> = Some("127.0.0.1:8100".parse().unwrap());
        let anywhere: Option<SocketAddr> = Some("0.0.0.0:8100".parse().unwrap());
        let public: Option<SocketAddr> = Some("192.0.2.1:8100".parse().unwrap());
        let allowed = vec!["standby.example.com".to_string()];
        let cases = [
            ("127.0.0.1:8100", loopback, true),
            ("[::1]:8100", loopback, true),
            ("localhost:8100", loopback, true),
            ("LOCALHOST.", loopback, true),
            ("localhost:8100", public, false),
            ("attacker.example:8100", loopback, false),
            ("attacker.example", anywhere, false),
            ("standby.example.com:8100", anywhere, true),
            ("Standby.Example.Com", public, true),
            ("standby.example.com.attacker.example", public, false),
            ("", loopback, false),
        ];
        for (host, listen, ok) in cases {
            let h = headers(&[(header::HOST, host)]);
            assert_eq!(
                check_host(&h, listen, &allowed).is_ok(),
                ok,
                "{host} on {listen:?}"
            );
        }
    }

    #[test]
    fn only_the_api_s_own_origin_may_send_and_writes_must_be_json() {
        let own = headers(&[
            (header::HOST, "127.0.0.1:8100"),
            (header::ORIGIN, "http://127.0.0.1:8100"),
        ]);
        assert!(check_origin(&own).is_ok());
        for origin in ["http://attacker.example", "null", "http://127.0.0.1:9999"] {
            let h = headers(&[(header::HOST, "127.0.0.1:8100"), (header::ORIGIN, origin)]);
            assert_eq!(
                check_origin(&h).unwrap_err().0,
                StatusCode::FORBIDDEN,
                "{origin}"
            );
        }
        let json = headers(&[(header::CONTENT_TYPE, "application/json; charset=utf-8")]);
        let text = headers(&[(header::CONTENT_TYPE, "text/plain")]);
        assert!(check_content_type(&Method::POST, &json).is_ok());
        assert!(check_content_type(&Method::GET, &text).is_ok());
        for (method, h) in [
            (Method::POST, &text),
            (Method::PUT, &HeaderMap::new()),
            (
                Method::POST,
                &headers(&[(header::CONTENT_TYPE, "application/x-www-form-urlencoded")]),
            ),
        ] {
            let (status, _) = check_content_type(&method, h).unwrap_err();
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
    }

    #[test]
    fn failed_logins_close_an_address_out_for_longer_and_longer() {
        let mut throttle = Throttle::default();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(throttle.failed(ip, t0), (1, None));
        assert_eq!(throttle.failed(ip, t0), (2, None));
        assert_eq!(throttle.blocked(ip, t0), None);
        assert_eq!(throttle.failed(ip, t0), (3, Some(Duration::from_secs(1))));
        assert_eq!(throttle.blocked(ip, t0), Some(Duration::from_secs(1)));
        assert_eq!(throttle.blocked(other, t0), None, "per address");
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(throttle.blocked(ip, t1), None);
        assert_eq!(throttle.failed(ip, t1), (4, Some(Duration::from_secs(2))));
        let mut t = t1;
        for _ in 0..20 {
            t += Duration::from_secs(61);
            throttle.failed(ip, t);
        }
        assert_eq!(throttle.blocked(ip, t), Some(Duration::from_secs(60)));
        throttle.succeeded(ip);
        assert_eq!(throttle.blocked(ip, t), None);
    }
}

//! Cloudflare API v4 with an API token (never a global key): the zone id found by name
//! (longest suffix first), the records found by name and type, and the change applied in
//! one `POST /zones/{id}/dns_records/batch` (deletes, patches, posts — Cloudflare runs them
//! in that order in one transaction), so clients never see an empty answer. An existing
//! record whose address is no longer wanted is *patched* to a wanted one, so its
//! `proxied`, comment and tags stay; a new record takes them from a record of the name.
//! HTTP 429 is honoured: a `Retry-After` within the time-out is waited for, once.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::api::{self, absolute, wrong};
use super::{
    BoxFuture, BuildError, DnsError, DnsStage, DnsUpdater, FailureKind, ProviderApi, ProviderView,
    Records, UpdateRequest,
};
use crate::httpclient::{ApiClient, ApiRequest, ApiResponse, HeaderName, HeaderValue, Method, Url};
use crate::model::CloudflareApi;

/// The longest `Retry-After` waited for inside one update; a longer one is a problem
/// (retried by the engine's back-off).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);

/// A Cloudflare method, ready to update.
#[derive(Debug)]
pub struct CloudflareUpdater {
    /// `https://api.cloudflare.com/client/v4/`.
    base: Url,
    token: HeaderValue,
    timeout: Duration,
    client: ApiClient,
}

/// Cloudflare's envelope: `{"success", "errors": [{"code", "message"}], "result"}`.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<CfError>,
    #[serde(default)]
    result: Value,
}

#[derive(Debug, Deserialize)]
struct CfError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

/// One DNS record as Cloudflare lists it (the fields Standby reads).
#[derive(Clone, Debug, Deserialize, PartialEq)]
struct CfRecord {
    id: String,
    name: String,
    #[serde(rename = "type")]
    kind: String,
    content: String,
    #[serde(default)]
    ttl: u32,
    #[serde(default)]
    proxied: bool,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

impl CloudflareUpdater {
    pub fn new(settings: &CloudflareApi) -> Result<Self, BuildError> {
        let invalid = |why: String| BuildError::Invalid(format!("Cloudflare: {why}"));
        let text = settings.api_url.trim().trim_end_matches('/');
        let base = Url::parse(&format!("{text}/"))
            .map_err(|e| invalid(format!("bad API URL {text:?}: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "the API URL {text:?} must start with http:// or https://"
            )));
        }
        if settings.api_token.is_empty() {
            return Err(invalid("no API token given".into()));
        }
        Ok(Self {
            base,
            token: api::secret_header(&settings.api_token, "Bearer ")
                .map_err(|e| invalid(e.to_string()))?,
            timeout: Duration::from_secs(u64::from(settings.timeout_secs.max(1))),
            client: api::client(settings.timeout_secs)?,
        })
    }

    /// One API call; a 429 with a short `Retry-After` is waited for and asked once more.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Value>,
        (stage, what): (DnsStage, &str),
        limit: Duration,
    ) -> Result<Value, DnsError> {
        let mut url = self
            .base
            .join(path)
            .map_err(|e| wrong(stage, format!("bad URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().copied());
        }
        let started = tokio::time::Instant::now();
        let mut waited = false;
        loop {
            let request = ApiRequest {
                method: method.clone(),
                url: url.clone(),
                headers: vec![(HeaderName::from_static("authorization"), self.token.clone())],
                body: body.map(|b| ("application/json", b.to_string().into_bytes())),
                timeout: self.timeout.min(limit),
            };
            let response = api::send(&self.client, request, stage, what).await?;
            if response.status.as_u16() == 429 && !waited {
                let after = Duration::from_secs(response.retry_after.unwrap_or(1));
                if after <= MAX_RETRY_AFTER && started.elapsed() + after < limit {
                    tokio::time::sleep(after).await;
                    waited = true;
                    continue;
                }
            }
            return result_of(&response, stage, what);
        }
    }

    /// The zone of `host`: each suffix asked by exact name, longest first.
    async fn zone_of(&self, host: &str, limit: Duration) -> Result<(String, String), DnsError> {
        let stage = DnsStage::FindingZone;
        let host = absolute(host);
        let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
        for start in 0..labels.len() {
            if labels[start] == "*" {
                continue;
            }
            let candidate = labels[start..].join(".");
            let result = self
                .call(
                    Method::GET,
                    "zones",
                    &[("name", &candidate)],
                    None,
                    (stage, "finding the zone"),
                    limit,
                )
                .await?;
            let found = result.as_array().and_then(|zones| {
                zones.iter().find(|z| {
                    z["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(&candidate))
                })
            });
            if let Some(id) = found.and_then(|z| z["id"].as_str()) {
                return Ok((id.to_string(), candidate));
            }
        }
        Err(wrong(
            stage,
            format!(
                "unknown zone: no zone this token can see holds {} (does the token have Zone:Read on it?)",
                host.trim_end_matches('.')
            ),
        ))
    }

    /// The A and AAAA records of `host` in zone `id`.
    async fn records_of(
        &self,
        id: &str,
        host: &str,
        stage: DnsStage,
        limit: Duration,
    ) -> Result<Vec<CfRecord>, DnsError> {
        let name = absolute(host);
        let name = name.trim_end_matches('.');
        let mut found = Vec::new();
        for kind in ["A", "AAAA"] {
            let result = self
                .call(
                    Method::GET,
                    &format!("zones/{}/dns_records", crate::model::tags::url_encode(id)),
                    &[("name", name), ("type", kind), ("per_page", "100")],
                    None,
                    (stage, "reading the records"),
                    limit,
                )
                .await?;
            let records: Vec<CfRecord> = serde_json::from_value(result).map_err(|e| {
                wrong(
                    stage,
                    format!("reading the records: not the documented record list ({e})"),
                )
            })?;
            found.extend(
                records
                    .into_iter()
                    .filter(|r| r.kind == kind && r.name.eq_ignore_ascii_case(name)),
            );
        }
        Ok(found)
    }

    async fn view(&self, host: &str, limit: Duration) -> Result<ProviderView, DnsError> {
        let (id, zone) = self.zone_of(host, limit).await?;
        let records = self.records_of(&id, host, DnsStage::Asking, limit).await?;
        Ok(ProviderView {
            zone,
            automatic_ttl: !records.is_empty() && records.iter().all(|r| r.proxied),
            records: view_of(&records),
        })
    }

    async fn change(&self, request: &UpdateRequest) -> Result<String, DnsError> {
        let stage = DnsStage::Updating;
        let limit = request.timeout;
        let (id, _) = self.zone_of(&request.host, limit).await.map_err(|mut e| {
            e.stage = stage;
            e
        })?;
        let current = self.records_of(&id, &request.host, stage, limit).await?;
        let name = absolute(&request.host).trim_end_matches('.').to_string();
        let batch = batch(&name, &request.wanted, request.ttl, &current);
        if batch.is_empty() {
            return Ok("nothing to change".into());
        }
        self.call(
            Method::POST,
            &format!(
                "zones/{}/dns_records/batch",
                crate::model::tags::url_encode(&id)
            ),
            &[],
            Some(&batch.body()),
            (stage, "changing the records"),
            limit,
        )
        .await?;
        Ok(batch.describe())
    }
}

/// What the batch does.
#[derive(Debug, Default, PartialEq)]
struct Batch {
    deletes: Vec<Value>,
    patches: Vec<Value>,
    posts: Vec<Value>,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.patches.is_empty() && self.posts.is_empty()
    }

    fn body(&self) -> Value {
        json!({"deletes": self.deletes, "patches": self.patches, "posts": self.posts})
    }

    /// `batch: 1 patched, 1 added, 0 deleted`.
    fn describe(&self) -> String {
        format!(
            "batch: {} patched, {} added, {} deleted",
            self.patches.len(),
            self.posts.len(),
            self.deletes.len()
        )
    }
}

/// The smallest batch from `current` to `wanted`: records already right stay (their TTL
/// patched if it differs, unless proxied: Cloudflare owns that TTL); records no longer
/// wanted are patched to a missing address (keeping proxied, comment, tags); what is
/// still missing is posted (with the settings of a record of the name); what is left over
/// is deleted.
fn batch(name: &str, wanted: &Records, ttl: u32, current: &[CfRecord]) -> Batch {
    let mut out = Batch::default();
    for (kind, v4) in [("A", true), ("AAAA", false)] {
        let want: BTreeSet<IpAddr> = wanted
            .addresses
            .iter()
            .copied()
            .filter(|a| a.is_ipv4() == v4)
            .collect();
        let mine: Vec<&CfRecord> = current.iter().filter(|r| r.kind == kind).collect();
        let parsed = |r: &CfRecord| r.content.trim().parse::<IpAddr>().ok();
        let mut missing: Vec<IpAddr> = want
            .iter()
            .copied()
            .filter(|a| !mine.iter().any(|r| parsed(r) == Some(*a)))
            .collect();
        let mut seen = BTreeSet::new();
        let template = mine.first().copied();
        for record in &mine {
            let keep = parsed(record).filter(|a| want.contains(a) && seen.insert(*a));
            match keep {
                Some(_) if record.proxied || record.ttl == ttl => {}
                Some(_) => out.patches.push(json!({"id": record.id, "ttl": ttl})),
                None => match missing.pop() {
                    Some(address) => {
                        let mut patch = json!({"id": record.id, "content": address.to_string()});
                        if !record.proxied {
                            patch["ttl"] = json!(ttl);
                        }
                        out.patches.push(patch);
                    }
                    None => out.deletes.push(json!({"id": record.id})),
                },
            }
        }
        for address in missing {
            let mut post = json!({
                "type": kind,
                "name": name,
                "content": address.to_string(),
                "ttl": ttl,
                "proxied": template.is_some_and(|t| t.proxied),
            });
            if let Some(t) = template {
                if t.proxied {
                    post["ttl"] = json!(1);
                }
                if let Some(comment) = &t.comment {
                    post["comment"] = json!(comment);
                }
                if !t.tags.is_empty() {
                    post["tags"] = json!(t.tags);
                }
            }
            out.posts.push(post);
        }
    }
    out
}

fn view_of(records: &[CfRecord]) -> Records {
    let addresses: Vec<IpAddr> = records
        .iter()
        .filter_map(|r| r.content.trim().parse().ok())
        .collect();
    Records::new(addresses, records.iter().map(|r| r.ttl).min())
}

/// The `result` of a successful answer, or why it failed in Cloudflare's words.
fn result_of(response: &ApiResponse, stage: DnsStage, what: &str) -> Result<Value, DnsError> {
    let envelope = serde_json::from_slice::<Envelope>(&response.body).ok();
    let status = response.status.as_u16();
    if (200..300).contains(&status)
        && let Some(envelope) = &envelope
        && envelope.success
    {
        return Ok(envelope.result.clone());
    }
    let errors = envelope
        .as_ref()
        .map(|e| {
            e.errors
                .iter()
                .map(|e| format!("{} {}", e.code, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| api::body_excerpt(&response.body));
    let codes: Vec<i64> = envelope
        .as_ref()
        .map(|e| e.errors.iter().map(|e| e.code).collect())
        .unwrap_or_default();
    let why = match status {
        429 => match response.retry_after {
            Some(after) => format!("rate-limited (Cloudflare says retry after {after} s)"),
            None => "rate-limited".into(),
        },
        401 => "bad token".into(),
        403 if codes.contains(&10000) || codes.contains(&9109) => "bad token".into(),
        403 => "the token lacks a permission (DNS:Edit and Zone:Read on the zone)".into(),
        404 => "not found".into(),
        400 => "refused".into(),
        500..=599 => "server error".into(),
        _ if (200..300).contains(&status) => "the answer says it failed".into(),
        _ => "unexpected answer".into(),
    };
    let kind = FailureKind::WrongAnswer;
    let text = if errors.is_empty() {
        format!("{what}: {why} ({})", response.status_text())
    } else {
        format!("{what}: {why} ({}: {errors})", response.status_text())
    };
    Err(DnsError::new(kind, stage, text))
}

impl DnsUpdater for CloudflareUpdater {
    fn update<'a>(&'a self, request: &'a UpdateRequest) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(self.change(request))
    }

    fn api(&self) -> Option<&dyn ProviderApi> {
        Some(self)
    }
}

impl ProviderApi for CloudflareUpdater {
    fn records<'a>(
        &'a self,
        host: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ProviderView, DnsError>> {
        Box::pin(self.view(host, timeout))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn record(id: &str, kind: &str, content: &str, ttl: u32, proxied: bool) -> CfRecord {
        CfRecord {
            id: id.into(),
            name: "www.example.test".into(),
            kind: kind.into(),
            content: content.into(),
            ttl,
            proxied,
            comment: Some("web front".into()),
            tags: vec!["team:web".into()],
        }
    }

    fn addresses(list: &[&str]) -> Records {
        Records::new(list.iter().map(|a| a.parse().unwrap()).collect(), Some(60))
    }

    #[test]
    fn a_record_no_longer_wanted_is_patched_not_replaced() {
        let current = [record("r1", "A", "192.0.2.1", 60, true)];
        let b = batch("www.example.test", &addresses(&["192.0.2.2"]), 60, &current);
        assert_eq!(b.patches, vec![json!({"id": "r1", "content": "192.0.2.2"})]);
        assert!(b.posts.is_empty() && b.deletes.is_empty());
    }

    #[test]
    fn new_records_copy_the_settings_and_leftovers_are_deleted() {
        let current = [
            record("r1", "A", "192.0.2.1", 300, false),
            record("r2", "AAAA", "2001:db8::1", 60, false),
            record("r3", "AAAA", "2001:db8::2", 60, false),
        ];
        let b = batch(
            "www.example.test",
            &addresses(&["192.0.2.1", "192.0.2.5"]),
            60,
            &current,
        );
        // r1 stays (its TTL patched), 192.0.2.5 is added like r1, both AAAA go.
        assert_eq!(b.patches, vec![json!({"id": "r1", "ttl": 60})]);
        assert_eq!(b.posts.len(), 1);
        assert_eq!(b.posts[0]["content"], "192.0.2.5");
        assert_eq!(b.posts[0]["comment"], "web front");
        assert_eq!(b.posts[0]["tags"], json!(["team:web"]));
        assert_eq!(b.posts[0]["proxied"], false);
        assert_eq!(b.deletes, vec![json!({"id": "r2"}), json!({"id": "r3"})]);
        let right = [record("r1", "A", "192.0.2.1", 60, false)];
        assert!(batch("www.example.test", &addresses(&["192.0.2.1"]), 60, &right).is_empty());
    }

    #[test]
    fn errors_say_why() {
        let answer = |status: u16, retry_after, body: &str| ApiResponse {
            status: crate::httpclient::StatusCode::from_u16(status).unwrap(),
            retry_after,
            body: body.as_bytes().to_vec(),
        };
        let text = |r: &ApiResponse| {
            result_of(r, DnsStage::Updating, "changing")
                .unwrap_err()
                .text
        };
        let body = r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}],"messages":[],"result":null}"#;
        assert_eq!(
            text(&answer(403, None, body)),
            "changing: bad token (HTTP 403 Forbidden: 10000 Authentication error)"
        );
        let limited = r#"{"success":false,"errors":[{"code":971,"message":"Please wait and consider throttling your request speed"}]}"#;
        assert!(
            text(&answer(429, Some(30), limited))
                .contains("rate-limited (Cloudflare says retry after 30 s)")
        );
        let ok = r#"{"success":true,"errors":[],"messages":[],"result":[1]}"#;
        assert_eq!(
            result_of(&answer(200, None, ok), DnsStage::Asking, "x").unwrap(),
            json!([1])
        );
        assert!(text(&answer(502, None, "<html>bad gateway</html>")).contains("server error"));
    }
}

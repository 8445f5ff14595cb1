//! Amazon Route 53: the hosted zone found by name (`ListHostedZonesByName`, longest
//! suffix first), the records read with `ListResourceRecordSets`, and one
//! `ChangeResourceRecordSets` batch that UPSERTs A and AAAA together (a type left without
//! records is DELETEd in the same batch). Requests are signed with SigV4 (`sigv4.rs`).
//! Propagation is the change's `GetChange` status: `INSYNC` counts as 1 of 1.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use super::api::{self, absolute, wrong};
use super::aws_credentials;
use super::sigv4;
use super::xml::{Element, escape};
use super::{
    BoxFuture, BuildError, DnsError, DnsStage, DnsUpdater, FailureKind, ProviderApi, ProviderView,
    Records, UpdateRequest,
};
use crate::httpclient::{ApiClient, ApiRequest, ApiResponse, HeaderName, HeaderValue, Method, Url};
use crate::model::Route53Api;

/// Route 53 is global: every request is signed for this region.
const REGION: &str = "us-east-1";
const SERVICE: &str = "route53";
const VERSION: &str = "2013-04-01";
/// How often `GetChange` is asked while waiting for `INSYNC`.
const INSYNC_POLL: Duration = Duration::from_secs(1);

/// A Route 53 method, ready to update.
#[derive(Debug)]
pub struct Route53Updater {
    settings: Route53Api,
    endpoint: Url,
    timeout: Duration,
    client: ApiClient,
    /// The last change made for each host name, for its propagation.
    changes: Mutex<HashMap<String, String>>,
}

/// One record set as Route 53 lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct RecordSet {
    name: String,
    kind: String,
    ttl: u32,
    values: Vec<String>,
    /// An alias record (to a load balancer, a CloudFront distribution...).
    alias: bool,
}

impl Route53Updater {
    pub fn new(settings: &Route53Api) -> Result<Self, BuildError> {
        let invalid = |why: String| BuildError::Invalid(format!("Route 53: {why}"));
        let text = settings.endpoint.trim().trim_end_matches('/');
        let endpoint = Url::parse(&format!("{text}/"))
            .map_err(|e| invalid(format!("bad endpoint {text:?}: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            return Err(invalid(format!(
                "the endpoint {text:?} must be an http:// or https:// URL"
            )));
        }
        if !settings.access_key_id.trim().is_empty() && settings.secret_access_key.is_empty() {
            return Err(invalid(
                "an access key id without its secret access key".into(),
            ));
        }
        Ok(Self {
            settings: settings.clone(),
            endpoint,
            timeout: Duration::from_secs(u64::from(settings.timeout_secs.max(1))),
            client: api::client(settings.timeout_secs)?,
            changes: Mutex::default(),
        })
    }

    /// Signs and sends one request; answers other than 2xx become errors that say why.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
        (stage, what): (DnsStage, &str),
        limit: Duration,
    ) -> Result<Element, DnsError> {
        let credentials = aws_credentials::resolve(&self.settings)
            .map_err(|why| DnsError::new(FailureKind::Network, stage, format!("{what}: {why}")))?;
        let mut url = self
            .endpoint
            .join(path.trim_start_matches('/'))
            .map_err(|e| wrong(stage, format!("bad URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().copied());
        }
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            (None, _) => String::new(),
        };
        let body_bytes = body.unwrap_or_default();
        let signed = sigv4::sign(
            method.as_str(),
            url.as_str(),
            &[("host", host.as_str())],
            &body_bytes,
            &credentials,
            (REGION, SERVICE),
            std::time::SystemTime::now(),
        )
        .map_err(|why| DnsError::new(FailureKind::Network, stage, format!("{what}: {why}")))?;
        let mut headers = vec![(
            HeaderName::from_static("host"),
            HeaderValue::from_str(&host).map_err(|_| wrong(stage, "bad endpoint host"))?,
        )];
        for (name, value) in signed {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| wrong(stage, "the signer gave a bad header name"))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                DnsError::new(
                    FailureKind::Network,
                    stage,
                    format!("{what}: the credentials hold characters a header cannot carry"),
                )
            })?;
            // The signature and the session token: never in a debug print.
            value.set_sensitive(true);
            headers.push((name, value));
        }
        let request = ApiRequest {
            method,
            url,
            headers,
            body: (!body_bytes.is_empty()).then_some(("application/xml", body_bytes)),
            timeout: self.timeout.min(limit),
        };
        let response = api::send(&self.client, request, stage, what).await?;
        let element = Element::parse(&String::from_utf8_lossy(&response.body));
        if !response.status.is_success() {
            return Err(error_of(&response, element.as_ref().ok(), stage, what));
        }
        element.map_err(|e| {
            wrong(
                stage,
                format!(
                    "{what}: {} with an answer that is not XML ({e})",
                    response.status_text()
                ),
            )
        })
    }

    /// The hosted zone of `host`: each suffix of the name asked in turn, longest first.
    async fn zone_of(&self, host: &str, limit: Duration) -> Result<(String, String), DnsError> {
        let stage = DnsStage::FindingZone;
        let host = absolute(host);
        let labels: Vec<&str> = host.trim_end_matches('.').split('.').collect();
        for start in 0..labels.len() {
            if labels[start] == "*" {
                continue;
            }
            let candidate = format!("{}.", labels[start..].join("."));
            let answer = self
                .call(
                    Method::GET,
                    &format!("{VERSION}/hostedzonesbyname"),
                    &[("dnsname", &candidate), ("maxitems", "1")],
                    None,
                    (stage, "finding the hosted zone"),
                    limit,
                )
                .await?;
            let found = answer
                .find("HostedZones")
                .into_iter()
                .flat_map(|zones| zones.children("HostedZone"))
                .find(|z| absolute(&unescape_name(z.text_of("Name"))) == candidate);
            if let Some(zone) = found {
                let id = zone
                    .text_of("Id")
                    .trim_start_matches("/hostedzone/")
                    .to_string();
                return Ok((id, candidate.trim_end_matches('.').to_string()));
            }
        }
        Err(wrong(
            stage,
            format!(
                "unknown zone: no hosted zone of this account holds {}",
                host.trim_end_matches('.')
            ),
        ))
    }

    /// The A and AAAA record sets of `host` in zone `id`.
    async fn record_sets(
        &self,
        id: &str,
        host: &str,
        stage: DnsStage,
        limit: Duration,
    ) -> Result<Vec<RecordSet>, DnsError> {
        let name = absolute(host);
        let answer = self
            .call(
                Method::GET,
                &format!("{VERSION}/hostedzone/{}/rrset", api_id(id)),
                &[("name", &name), ("type", "A"), ("maxitems", "4")],
                None,
                (stage, "reading the records"),
                limit,
            )
            .await?;
        let sets = answer
            .find("ResourceRecordSets")
            .into_iter()
            .flat_map(|sets| sets.children("ResourceRecordSet"))
            .map(|s| RecordSet {
                name: absolute(&unescape_name(s.text_of("Name"))),
                kind: s.text_of("Type").to_string(),
                ttl: s.text_of("TTL").parse().unwrap_or(0),
                values: s
                    .find("ResourceRecords")
                    .into_iter()
                    .flat_map(|r| r.children("ResourceRecord"))
                    .map(|r| r.text_of("Value").to_string())
                    .collect(),
                alias: s.find("AliasTarget").is_some(),
            })
            .filter(|s| s.name == name && matches!(s.kind.as_str(), "A" | "AAAA"))
            .collect::<Vec<_>>();
        if let Some(alias) = sets.iter().find(|s| s.alias) {
            return Err(wrong(
                stage,
                format!(
                    "{} {} is an alias record in Route 53: Standby replaces plain A/AAAA records only",
                    host.trim_end_matches('.'),
                    alias.kind
                ),
            ));
        }
        Ok(sets)
    }

    async fn view(&self, host: &str, limit: Duration) -> Result<ProviderView, DnsError> {
        let (id, zone) = self.zone_of(host, limit).await?;
        let sets = self.record_sets(&id, host, DnsStage::Asking, limit).await?;
        Ok(ProviderView {
            zone,
            records: records_of(&sets),
            automatic_ttl: false,
        })
    }

    async fn change(&self, request: &UpdateRequest) -> Result<String, DnsError> {
        let stage = DnsStage::Updating;
        let limit = request.timeout;
        let (id, _) = self.zone_of(&request.host, limit).await.map_err(|mut e| {
            e.stage = stage;
            e
        })?;
        // DELETE must name the record set exactly as it is: read it again.
        let current = self.record_sets(&id, &request.host, stage, limit).await?;
        let name = absolute(&request.host);
        let Some(body) = change_batch(&name, &request.wanted, request.ttl, &current) else {
            return Ok("nothing to change".into());
        };
        let answer = self
            .call(
                Method::POST,
                &format!("{VERSION}/hostedzone/{}/rrset/", api_id(&id)),
                &[],
                Some(body.into_bytes()),
                (stage, "changing the records"),
                limit,
            )
            .await?;
        let info = answer.find("ChangeInfo");
        let change = info
            .map(|i| i.text_of("Id").to_string())
            .unwrap_or_default();
        let status = info
            .map(|i| i.text_of("Status").to_string())
            .unwrap_or_default();
        if let Ok(mut changes) = self.changes.lock() {
            changes.insert(name, change.clone());
        }
        Ok(format!(
            "change {} {status}",
            change.trim_start_matches("/change/")
        ))
    }

    /// `GetChange` of the host's last change; with *wait for INSYNC*, asked until it is
    /// in sync or `limit` has passed.
    async fn insync(&self, host: &str, limit: Duration) -> Option<(usize, usize)> {
        let change = self.changes.lock().ok()?.get(&absolute(host)).cloned()?;
        let id = change.trim_start_matches("/change/").to_string();
        let until = tokio::time::Instant::now() + limit;
        loop {
            let answer = self
                .call(
                    Method::GET,
                    &format!("{VERSION}/change/{id}"),
                    &[],
                    None,
                    (DnsStage::Verifying, "asking for the change"),
                    limit,
                )
                .await
                .ok()?;
            let status = answer
                .find("ChangeInfo")
                .map(|i| i.text_of("Status").to_string());
            if status.as_deref() == Some("INSYNC") {
                return Some((1, 1));
            }
            if !self.settings.wait_for_insync || tokio::time::Instant::now() + INSYNC_POLL > until {
                return Some((0, 1));
            }
            tokio::time::sleep(INSYNC_POLL).await;
        }
    }
}

/// `Z123` → `Z123` (an id is letters and digits; anything else is percent-encoded).
fn api_id(id: &str) -> String {
    crate::model::tags::url_encode(id)
}

/// Route 53 writes `*` and other odd characters of names as `\052` octal escapes.
fn unescape_name(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if bytes[i] == b'\\'
            && let Some(digits) = octal
        {
            let code = digits.iter().fold(0u32, |n, d| n * 8 + u32::from(d - b'0'));
            out.push(u8::try_from(code).unwrap_or(b'?'));
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn records_of(sets: &[RecordSet]) -> Records {
    let addresses: Vec<IpAddr> = sets
        .iter()
        .flat_map(|s| s.values.iter().filter_map(|v| v.trim().parse().ok()))
        .collect();
    let ttl = sets
        .iter()
        .filter(|s| !s.values.is_empty())
        .map(|s| s.ttl)
        .min();
    Records::new(addresses, ttl)
}

/// The one batch: UPSERT of each type with wanted records, DELETE (exactly as it is) of
/// each type that has records now and should have none. `None` when there is nothing to do.
fn change_batch(name: &str, wanted: &Records, ttl: u32, current: &[RecordSet]) -> Option<String> {
    let mut changes = String::new();
    for (kind, v4) in [("A", true), ("AAAA", false)] {
        let values: Vec<String> = wanted
            .addresses
            .iter()
            .filter(|a| a.is_ipv4() == v4)
            .map(IpAddr::to_string)
            .collect();
        if !values.is_empty() {
            changes.push_str(&change("UPSERT", name, kind, ttl, &values));
        } else if let Some(set) = current.iter().find(|s| s.kind == kind) {
            changes.push_str(&change("DELETE", &set.name, kind, set.ttl, &set.values));
        }
    }
    if changes.is_empty() {
        return None;
    }
    Some(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <ChangeResourceRecordSetsRequest xmlns=\"https://route53.amazonaws.com/doc/{VERSION}/\">\
         <ChangeBatch><Comment>Standby failover</Comment><Changes>{changes}</Changes></ChangeBatch>\
         </ChangeResourceRecordSetsRequest>"
    ))
}

fn change(action: &str, name: &str, kind: &str, ttl: u32, values: &[String]) -> String {
    let records: String = values
        .iter()
        .map(|v| {
            format!(
                "<ResourceRecord><Value>{}</Value></ResourceRecord>",
                escape(v)
            )
        })
        .collect();
    format!(
        "<Change><Action>{action}</Action><ResourceRecordSet><Name>{}</Name><Type>{kind}</Type>\
         <TTL>{ttl}</TTL><ResourceRecords>{records}</ResourceRecords></ResourceRecordSet></Change>",
        escape(name)
    )
}

/// Route 53's `<ErrorResponse><Error><Code>…</Code><Message>…</Message>` as a reason.
fn error_of(
    response: &ApiResponse,
    body: Option<&Element>,
    stage: DnsStage,
    what: &str,
) -> DnsError {
    let code = body
        .and_then(|b| b.find("Code"))
        .map(|c| c.text.clone())
        .unwrap_or_default();
    let message = body
        .and_then(|b| b.find("Message"))
        .map(|m| m.text.clone())
        .unwrap_or_else(|| api::body_excerpt(&response.body));
    let why = match (response.status.as_u16(), code.as_str()) {
        (_, "Throttling" | "PriorRequestNotComplete") | (429, _) => "rate-limited",
        (
            _,
            "InvalidClientTokenId"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "UnrecognizedClientException"
            | "ExpiredToken",
        ) => "credentials refused",
        (_, "AccessDenied" | "AccessDeniedException") | (403, _) => "access denied",
        (_, "NoSuchHostedZone") | (404, _) => "unknown zone",
        (_, "InvalidChangeBatch") => "change refused",
        (500..=599, _) => "server error",
        _ => "unexpected answer",
    };
    let detail = match (code.is_empty(), message.is_empty()) {
        (true, true) => String::new(),
        (true, false) => format!(": {message}"),
        (false, true) => format!(": {code}"),
        (false, false) => format!(": {code}: {message}"),
    };
    wrong(
        stage,
        format!("{what}: {why} ({}{detail})", response.status_text()),
    )
}

impl DnsUpdater for Route53Updater {
    fn update<'a>(&'a self, request: &'a UpdateRequest) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(self.change(request))
    }

    fn api(&self) -> Option<&dyn ProviderApi> {
        Some(self)
    }
}

impl ProviderApi for Route53Updater {
    fn records<'a>(
        &'a self,
        host: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ProviderView, DnsError>> {
        Box::pin(self.view(host, timeout))
    }

    fn propagation<'a>(
        &'a self,
        host: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Option<(usize, usize)>> {
        Box::pin(self.insync(host, timeout))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn set(kind: &str, ttl: u32, values: &[&str]) -> RecordSet {
        RecordSet {
            name: "www.example.test.".into(),
            kind: kind.into(),
            ttl,
            values: values.iter().map(|v| v.to_string()).collect(),
            alias: false,
        }
    }

    #[test]
    fn one_batch_upserts_and_deletes_exactly() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let current = [
            set("A", 300, &["192.0.2.9"]),
            set("AAAA", 300, &["2001:db8::9"]),
        ];
        let body = change_batch(
            "www.example.test.",
            &Records::new(vec![a], Some(60)),
            60,
            &current,
        )
        .unwrap();
        let parsed = Element::parse(&body).unwrap();
        let changes: Vec<&Element> = parsed.find("Changes").unwrap().children("Change").collect();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].text_of("Action"), "UPSERT");
        assert_eq!(changes[1].text_of("Action"), "DELETE");
        let deleted = changes[1].find("ResourceRecordSet").unwrap();
        assert_eq!(
            (deleted.text_of("Type"), deleted.text_of("TTL")),
            ("AAAA", "300")
        );
        assert!(body.contains("<Value>2001:db8::9</Value>"));
        assert_eq!(
            change_batch("www.example.test.", &Records::default(), 60, &[]),
            None
        );
    }

    #[test]
    fn errors_say_why_in_route53s_words() {
        let answer = |status: u16, body: &str| ApiResponse {
            status: crate::httpclient::StatusCode::from_u16(status).unwrap(),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        let error = |status, body: &str| {
            let response = answer(status, body);
            let parsed = Element::parse(body).ok();
            error_of(
                &response,
                parsed.as_ref(),
                DnsStage::Updating,
                "changing the records",
            )
            .text
        };
        let xml = |code: &str, message: &str| {
            format!(
                "<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error>\
                 <Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>\
                 <RequestId>r1</RequestId></ErrorResponse>"
            )
        };
        assert_eq!(
            error(
                403,
                &xml(
                    "SignatureDoesNotMatch",
                    "The request signature we calculated does not match"
                )
            ),
            "changing the records: credentials refused (HTTP 403 Forbidden: SignatureDoesNotMatch: \
             The request signature we calculated does not match)"
        );
        assert!(error(400, &xml("Throttling", "Rate exceeded")).contains("rate-limited"));
        assert!(
            error(404, &xml("NoSuchHostedZone", "No hosted zone found")).contains("unknown zone")
        );
        assert!(error(403, &xml("AccessDenied", "not authorized")).contains("access denied"));
        assert!(
            error(
                400,
                &xml(
                    "InvalidChangeBatch",
                    "Tried to delete resource record set but it was not found"
                )
            )
            .contains("change refused")
        );
        assert_eq!(
            error(502, "<html>Bad gateway</html>"),
            "changing the records: server error (HTTP 502 Bad Gateway: <html>Bad gateway</html>)"
        );
    }

    #[test]
    fn names_and_records() {
        assert_eq!(unescape_name("\\052.example.test."), "*.example.test.");
        assert_eq!(unescape_name("a\\\\b"), "a\\\\b");
        let r = records_of(&[
            set("A", 60, &["192.0.2.1"]),
            set("AAAA", 30, &["2001:db8::1"]),
        ]);
        assert_eq!(
            (r.describe(), r.ttl),
            ("192.0.2.1, 2001:db8::1".into(), Some(30))
        );
    }
}

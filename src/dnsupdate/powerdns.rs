//! The PowerDNS Authoritative HTTP API: the zone found by longest suffix in the server's
//! zone list, the records read from the zone's RRsets, and one `PATCH` per change that
//! replaces the A and AAAA RRsets of the name together (a type left without records is
//! deleted), so that the switch is atomic.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use super::api::{self, absolute, longest_suffix, wrong};
use super::{
    BoxFuture, BuildError, DnsError, DnsStage, DnsUpdater, ProviderApi, ProviderView, Records,
    UpdateRequest,
};
use crate::httpclient::{ApiClient, ApiRequest, ApiResponse, HeaderName, HeaderValue, Method, Url};
use crate::model::PowerDnsApi;

/// A PowerDNS API method, ready to update.
#[derive(Debug)]
pub struct PowerDnsUpdater {
    /// `http://host:port/api/v1/servers/<id>/`.
    base: Url,
    /// The web server's root, for the zones' own `url` paths.
    root: Url,
    key: HeaderValue,
    timeout: Duration,
    client: ApiClient,
}

/// One zone of `GET /zones`.
#[derive(Debug, Deserialize)]
struct Zone {
    name: String,
    /// `/api/v1/servers/localhost/zones/example.test.` (PowerDNS escapes odd names itself).
    url: String,
}

#[derive(Debug, Deserialize)]
struct ZoneDetail {
    #[serde(default)]
    rrsets: Vec<RrSet>,
}

#[derive(Debug, Deserialize)]
struct RrSet {
    name: String,
    #[serde(rename = "type")]
    kind: String,
    ttl: u32,
    #[serde(default)]
    records: Vec<Record>,
}

#[derive(Debug, Deserialize)]
struct Record {
    content: String,
    #[serde(default)]
    disabled: bool,
}

/// `{"error": "Could not find domain 'x.'"}`, PowerDNS's error body.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
}

impl PowerDnsUpdater {
    pub fn new(settings: &PowerDnsApi) -> Result<Self, BuildError> {
        let invalid = |why: String| BuildError::Invalid(format!("PowerDNS API: {why}"));
        let text = settings.url.trim().trim_end_matches('/');
        let root = Url::parse(&format!("{text}/"))
            .map_err(|e| invalid(format!("bad URL {text:?}: {e}")))?;
        if !matches!(root.scheme(), "http" | "https") {
            return Err(invalid(format!(
                "the URL {text:?} must start with http:// or https://"
            )));
        }
        let id = settings.server_id.trim();
        if id.is_empty() {
            return Err(invalid("no server id given".into()));
        }
        let base = root
            .join(&format!(
                "api/v1/servers/{}/",
                crate::model::tags::url_encode(id)
            ))
            .map_err(|e| invalid(format!("bad URL: {e}")))?;
        if settings.api_key.is_empty() {
            return Err(invalid("no API key given".into()));
        }
        Ok(Self {
            base,
            root,
            key: api::secret_header(&settings.api_key, "").map_err(|e| invalid(e.to_string()))?,
            timeout: Duration::from_secs(u64::from(settings.timeout_secs.max(1))),
            client: api::client(settings.timeout_secs)?,
        })
    }

    fn request(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        limit: Duration,
    ) -> ApiRequest {
        ApiRequest {
            method,
            url,
            headers: vec![(HeaderName::from_static("x-api-key"), self.key.clone())],
            body: body.map(|b| ("application/json", b)),
            timeout: self.timeout.min(limit),
        }
    }

    /// The zone that holds `host`: the longest suffix among the server's zones.
    async fn zone_of(&self, host: &str, limit: Duration) -> Result<Zone, DnsError> {
        let stage = DnsStage::FindingZone;
        let url = self
            .base
            .join("zones")
            .map_err(|e| wrong(stage, format!("bad URL: {e}")))?;
        let response = api::send(
            &self.client,
            self.request(Method::GET, url, None, limit),
            stage,
            "listing the zones",
        )
        .await?;
        check_status(&response, stage, "listing the zones")?;
        let zones: Vec<Zone> = api::json(&response, stage, "listing the zones")?;
        let names = || {
            let mut names: Vec<&str> = zones.iter().map(|z| z.name.trim_end_matches('.')).collect();
            names.sort_unstable();
            names.truncate(10);
            names.join(", ")
        };
        match longest_suffix(host, &zones, |z| z.name.clone()) {
            Some(zone) => Ok(Zone {
                name: zone.name.clone(),
                url: zone.url.clone(),
            }),
            None => Err(wrong(
                stage,
                format!(
                    "unknown zone: no zone on the PowerDNS server holds {} (its zones: {})",
                    host.trim_end_matches('.'),
                    if zones.is_empty() {
                        "none".into()
                    } else {
                        names()
                    }
                ),
            )),
        }
    }

    fn zone_url(&self, zone: &Zone, stage: DnsStage) -> Result<Url, DnsError> {
        self.root
            .join(zone.url.trim_start_matches('/'))
            .map_err(|e| wrong(stage, format!("bad zone URL {:?}: {e}", zone.url)))
    }

    async fn view(&self, host: &str, limit: Duration) -> Result<ProviderView, DnsError> {
        let zone = self.zone_of(host, limit).await?;
        let stage = DnsStage::Asking;
        let what = "reading the zone";
        let url = self.zone_url(&zone, stage)?;
        let response = api::send(
            &self.client,
            self.request(Method::GET, url, None, limit),
            stage,
            what,
        )
        .await?;
        check_status(&response, stage, what)?;
        let detail: ZoneDetail = api::json(&response, stage, what)?;
        Ok(ProviderView {
            zone: zone.name.trim_end_matches('.').to_string(),
            records: records_of(&detail.rrsets, &absolute(host)),
            automatic_ttl: false,
        })
    }

    async fn patch(&self, request: &UpdateRequest) -> Result<String, DnsError> {
        let zone = self
            .zone_of(&request.host, request.timeout)
            .await
            .map_err(|mut e| {
                // Found a moment ago by the check: losing it now is a failure of the update.
                e.stage = DnsStage::Updating;
                e
            })?;
        let stage = DnsStage::Updating;
        let url = self.zone_url(&zone, stage)?;
        let body = patch_body(&absolute(&request.host), &request.wanted, request.ttl);
        let response = api::send(
            &self.client,
            self.request(Method::PATCH, url, Some(body), request.timeout),
            stage,
            "updating the records",
        )
        .await?;
        check_status(&response, stage, "updating the records")?;
        Ok(response.status_text())
    }
}

/// The A and AAAA records of `name` (absolute, lower case) among `rrsets`; disabled
/// records are not served, so they do not count.
fn records_of(rrsets: &[RrSet], name: &str) -> Records {
    let mut addresses = Vec::new();
    let mut ttl: Option<u32> = None;
    for set in rrsets {
        if absolute(&set.name) != name || !matches!(set.kind.as_str(), "A" | "AAAA") {
            continue;
        }
        let before = addresses.len();
        addresses.extend(
            set.records
                .iter()
                .filter(|r| !r.disabled)
                .filter_map(|r| r.content.trim().parse::<IpAddr>().ok()),
        );
        if addresses.len() > before {
            ttl = Some(ttl.map_or(set.ttl, |t| t.min(set.ttl)));
        }
    }
    Records::new(addresses, ttl)
}

/// One PATCH: REPLACE of each type that has records, DELETE of each that has none.
fn patch_body(name: &str, wanted: &Records, ttl: u32) -> Vec<u8> {
    let rrset = |kind: &str, v4: bool| {
        let records: Vec<_> = wanted
            .addresses
            .iter()
            .filter(|a| a.is_ipv4() == v4)
            .map(|a| json!({"content": a.to_string(), "disabled": false}))
            .collect();
        if records.is_empty() {
            json!({"name": name, "type": kind, "changetype": "DELETE"})
        } else {
            json!({"name": name, "type": kind, "ttl": ttl, "changetype": "REPLACE", "records": records})
        }
    };
    json!({"rrsets": [rrset("A", true), rrset("AAAA", false)]})
        .to_string()
        .into_bytes()
}

/// A 2xx passes; anything else says why in PowerDNS's words.
fn check_status(response: &ApiResponse, stage: DnsStage, what: &str) -> Result<(), DnsError> {
    let status = response.status.as_u16();
    if (200..300).contains(&status) {
        return Ok(());
    }
    let detail = serde_json::from_slice::<ErrorBody>(&response.body)
        .map(|b| b.error)
        .unwrap_or_else(|_| api::body_excerpt(&response.body));
    let why = match status {
        401 | 403 => "wrong API key",
        404 => "not found (wrong server id?)",
        422 => "refused",
        429 => "rate-limited",
        500..=599 => "server error",
        _ => "unexpected answer",
    };
    let text = if detail.is_empty() {
        format!("{what}: {why} ({})", response.status_text())
    } else {
        format!("{what}: {why} ({}: {detail})", response.status_text())
    };
    Err(wrong(stage, text))
}

impl DnsUpdater for PowerDnsUpdater {
    fn update<'a>(&'a self, request: &'a UpdateRequest) -> BoxFuture<'a, Result<String, DnsError>> {
        Box::pin(self.patch(request))
    }

    fn api(&self) -> Option<&dyn ProviderApi> {
        Some(self)
    }
}

impl ProviderApi for PowerDnsUpdater {
    fn records<'a>(
        &'a self,
        host: &'a str,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<ProviderView, DnsError>> {
        Box::pin(self.view(host, timeout))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Secret;

    #[test]
    fn the_patch_replaces_both_types_at_once() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let body = patch_body("www.example.test.", &Records::new(vec![a], Some(60)), 60);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["rrsets"][0]["changetype"], "REPLACE");
        assert_eq!(v["rrsets"][0]["records"][0]["content"], "192.0.2.1");
        assert_eq!(v["rrsets"][0]["ttl"], 60);
        assert_eq!(v["rrsets"][1]["type"], "AAAA");
        assert_eq!(v["rrsets"][1]["changetype"], "DELETE");
    }

    #[test]
    fn records_skip_disabled_and_other_names() {
        let rrsets: Vec<RrSet> = serde_json::from_str(
            r#"[{"name":"WWW.example.test.","type":"A","ttl":300,"records":[
                   {"content":"192.0.2.1","disabled":false},{"content":"192.0.2.2","disabled":true}]},
                {"name":"www.example.test.","type":"AAAA","ttl":60,"records":[{"content":"2001:db8::1"}]},
                {"name":"www.example.test.","type":"TXT","ttl":60,"records":[{"content":"\"x\""}]},
                {"name":"mail.example.test.","type":"A","ttl":60,"records":[{"content":"192.0.2.9"}]}]"#,
        )
        .unwrap();
        let r = records_of(&rrsets, "www.example.test.");
        assert_eq!(r.describe(), "192.0.2.1, 2001:db8::1");
        assert_eq!(r.ttl, Some(60));
        assert_eq!(records_of(&rrsets, "none.example.test.").describe(), "none");
    }

    #[test]
    fn settings_are_checked_and_the_key_stays_hidden() {
        let mut s = PowerDnsApi {
            url: "http://127.0.0.1:8081/".into(),
            api_key: Secret::new("s3cret"),
            ..PowerDnsApi::default()
        };
        let u = PowerDnsUpdater::new(&s).unwrap();
        assert_eq!(
            u.base.as_str(),
            "http://127.0.0.1:8081/api/v1/servers/localhost/"
        );
        assert!(!format!("{u:?}").contains("s3cret"));
        s.url = "ftp://x".into();
        assert!(PowerDnsUpdater::new(&s).is_err());
        s.url = "http://x".into();
        s.api_key = Secret::default();
        assert!(
            PowerDnsUpdater::new(&s)
                .unwrap_err()
                .to_string()
                .contains("API key")
        );
    }
}

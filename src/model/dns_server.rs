//! A name server whose records Standby keeps right, and how it is updated (SPEC §4).

use serde::{Deserialize, Serialize};

use super::criteria::{CommandSpec, HttpCriteria};
use super::secret::Secret;

/// A DNS server to keep right.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsServer {
    /// IP address or host name.
    pub address: String,
    pub port: u16,
    /// Send EDNS0 in lookups.
    pub edns0: bool,
    /// Records that differ only by TTL count as matched.
    pub ignore_ttl: bool,
    /// Minutes between re-checks when nothing changed.
    pub recheck_minutes: u32,
    pub update: UpdateMethod,
    pub notes: String,
}

impl Default for DnsServer {
    fn default() -> Self {
        Self {
            address: String::new(),
            port: 53,
            edns0: true,
            ignore_ttl: false,
            recheck_minutes: 10,
            update: UpdateMethod::default(),
            notes: String::new(),
        }
    }
}

/// How one DNS server is updated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateMethod {
    /// RFC 2136 dynamic update, optionally TSIG-signed.
    Rfc2136(Rfc2136Update),
    /// An HTTP request (a provider's API).
    Http(HttpRequest),
    /// A program with tags in its arguments.
    Command(CommandSpec),
    /// Microsoft DNS through `dnscmd` (Windows only).
    Dnscmd(DnscmdUpdate),
    /// The PowerDNS Authoritative HTTP API.
    PowerDns(PowerDnsApi),
    /// Amazon Route 53 (`ChangeResourceRecordSets`, SigV4).
    Route53(Route53Api),
    /// Cloudflare API v4 with an API token.
    Cloudflare(CloudflareApi),
}

impl Default for UpdateMethod {
    fn default() -> Self {
        UpdateMethod::Rfc2136(Rfc2136Update::default())
    }
}

impl UpdateMethod {
    pub fn label(&self) -> &'static str {
        match self {
            UpdateMethod::Rfc2136(_) => "Dynamic update (RFC 2136)",
            UpdateMethod::Http(_) => "HTTP",
            UpdateMethod::Command(_) => "Command line",
            UpdateMethod::Dnscmd(_) => "Microsoft DNS (dnscmd)",
            UpdateMethod::PowerDns(_) => "PowerDNS API",
            UpdateMethod::Route53(_) => "Amazon Route 53",
            UpdateMethod::Cloudflare(_) => "Cloudflare",
        }
    }

    /// Whether the method reads and writes the records through a provider's API, so that
    /// the DNS server's address is optional (only asked for propagation when given).
    pub fn is_api(&self) -> bool {
        matches!(
            self,
            UpdateMethod::PowerDns(_) | UpdateMethod::Route53(_) | UpdateMethod::Cloudflare(_)
        )
    }
}

/// Cloudflare API v4.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CloudflareApi {
    /// The API's base URL (another one only for a proxy or a test server).
    pub api_url: String,
    /// An API token with Zone:Read and DNS:Edit on the zone (never the global API key).
    pub api_token: Secret,
    /// Seconds each API request may take.
    pub timeout_secs: u32,
}

impl Default for CloudflareApi {
    fn default() -> Self {
        Self {
            api_url: "https://api.cloudflare.com/client/v4".into(),
            api_token: Secret::default(),
            timeout_secs: 10,
        }
    }
}

/// Amazon Route 53.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Route53Api {
    /// The API endpoint (another one only for an emulator or a proxy).
    pub endpoint: String,
    /// Blank = the standard AWS chain: `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
    /// `AWS_SESSION_TOKEN`, else the shared credentials file.
    pub access_key_id: String,
    pub secret_access_key: Secret,
    /// The profile of the credentials file when the key is blank (blank = `AWS_PROFILE`,
    /// else `default`).
    pub profile: String,
    /// After a change, wait (up to the update's time-out) until Route 53 says `INSYNC`;
    /// off = ask once. Shown as propagation.
    pub wait_for_insync: bool,
    /// Seconds each API request may take.
    pub timeout_secs: u32,
}

impl Default for Route53Api {
    fn default() -> Self {
        Self {
            endpoint: "https://route53.amazonaws.com".into(),
            access_key_id: String::new(),
            secret_access_key: Secret::default(),
            profile: String::new(),
            wait_for_insync: true,
            timeout_secs: 10,
        }
    }
}

/// The PowerDNS Authoritative HTTP API (`api=yes`, `webserver=yes` in `pdns.conf`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PowerDnsApi {
    /// The web server's base URL, e.g. `http://127.0.0.1:8081` (without `/api/v1`).
    pub url: String,
    /// The server id in the API's paths.
    pub server_id: String,
    /// `api-key` of `pdns.conf`, sent as `X-API-Key`.
    pub api_key: Secret,
    /// Seconds each API request may take.
    pub timeout_secs: u32,
}

impl Default for PowerDnsApi {
    fn default() -> Self {
        Self {
            url: String::new(),
            server_id: "localhost".into(),
            api_key: Secret::default(),
            timeout_secs: 10,
        }
    }
}

/// RFC 2136 settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Rfc2136Update {
    /// `None` = unauthenticated updates.
    pub tsig: Option<TsigKey>,
}

/// A TSIG key (RFC 8945).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TsigKey {
    pub name: String,
    pub algorithm: TsigAlgorithm,
    /// Base64.
    pub secret: Secret,
}

impl TsigKey {
    /// The key as a BIND `key` clause, ready to paste into `named.conf` (the dialog's Copy).
    pub fn bind_clause(&self) -> String {
        format!(
            "key \"{}\" {{\n    algorithm {};\n    secret \"{}\";\n}};\n",
            self.name.trim().trim_end_matches('.'),
            self.algorithm.name(),
            self.secret.expose()
        )
    }
}

/// TSIG HMAC algorithms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum TsigAlgorithm {
    HmacMd5,
    HmacSha1,
    HmacSha224,
    #[default]
    HmacSha256,
    HmacSha384,
    HmacSha512,
}

impl TsigAlgorithm {
    pub const ALL: [TsigAlgorithm; 6] = [
        TsigAlgorithm::HmacMd5,
        TsigAlgorithm::HmacSha1,
        TsigAlgorithm::HmacSha224,
        TsigAlgorithm::HmacSha256,
        TsigAlgorithm::HmacSha384,
        TsigAlgorithm::HmacSha512,
    ];

    /// The algorithm's name as BIND writes it.
    pub fn name(self) -> &'static str {
        match self {
            TsigAlgorithm::HmacMd5 => "hmac-md5",
            TsigAlgorithm::HmacSha1 => "hmac-sha1",
            TsigAlgorithm::HmacSha224 => "hmac-sha224",
            TsigAlgorithm::HmacSha256 => "hmac-sha256",
            TsigAlgorithm::HmacSha384 => "hmac-sha384",
            TsigAlgorithm::HmacSha512 => "hmac-sha512",
        }
    }

    /// A new random secret of the digest's length, base64 (the dialog's *Generate*).
    pub fn generate_secret(self) -> Secret {
        use base64::Engine as _;
        let bytes: Vec<u8> = (0..self.digest_len())
            .map(|_| rand::random::<u8>())
            .collect();
        Secret::new(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// The digest size in bytes, also a good length for a generated secret.
    pub fn digest_len(self) -> usize {
        match self {
            TsigAlgorithm::HmacMd5 => 16,
            TsigAlgorithm::HmacSha1 => 20,
            TsigAlgorithm::HmacSha224 => 28,
            TsigAlgorithm::HmacSha256 => 32,
            TsigAlgorithm::HmacSha384 => 48,
            TsigAlgorithm::HmacSha512 => 64,
        }
    }
}

/// The request's method.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpVerb {
    #[default]
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl HttpVerb {
    pub const ALL: [HttpVerb; 5] = [
        HttpVerb::Get,
        HttpVerb::Post,
        HttpVerb::Put,
        HttpVerb::Patch,
        HttpVerb::Delete,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HttpVerb::Get => "GET",
            HttpVerb::Post => "POST",
            HttpVerb::Put => "PUT",
            HttpVerb::Patch => "PATCH",
            HttpVerb::Delete => "DELETE",
        }
    }

    /// Whether a request with this method carries the body (DELETE only when one is given).
    pub fn has_body(self) -> bool {
        !matches!(self, HttpVerb::Get)
    }
}

/// What the body is, which says how tag values are written into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum BodyType {
    /// Values as they are; no `Content-Type` unless a header gives one.
    #[default]
    Text,
    /// `application/json`: values JSON-escaped (write `"$HOST$"` in quotes; `$IPS_JSON$`
    /// without them).
    Json,
    /// `application/x-www-form-urlencoded`: values percent-encoded.
    Form,
}

impl BodyType {
    pub const ALL: [BodyType; 3] = [BodyType::Text, BodyType::Json, BodyType::Form];

    pub fn label(self) -> &'static str {
        match self {
            BodyType::Text => "Text (values as they are)",
            BodyType::Json => "JSON (values JSON-escaped)",
            BodyType::Form => "Form (values URL-encoded)",
        }
    }

    /// The `Content-Type` sent unless a header gives one.
    pub fn content_type(self) -> Option<&'static str> {
        match self {
            BodyType::Text => None,
            BodyType::Json => Some("application/json"),
            BodyType::Form => Some("application/x-www-form-urlencoded"),
        }
    }
}

/// Basic authentication.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuth {
    pub user: String,
    pub password: Secret,
}

/// An HTTP request with tags, used by HTTP DNS updates and HTTP notifications.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpRequest {
    pub verb: HttpVerb,
    /// URL with tags; values put into it are URL-encoded.
    pub url: String,
    /// Extra headers, name and value (value with tags).
    pub headers: Vec<(String, String)>,
    /// Body for POST, PUT, PATCH and DELETE, with tags.
    pub body: String,
    /// How tag values are written into the body (and its `Content-Type`).
    pub body_type: BodyType,
    pub basic_auth: Option<BasicAuth>,
    pub criteria: HttpCriteria,
    /// Seconds the request may take.
    pub timeout_secs: u32,
}

impl Default for HttpRequest {
    fn default() -> Self {
        Self {
            verb: HttpVerb::Get,
            url: String::new(),
            headers: Vec::new(),
            body: String::new(),
            body_type: BodyType::Text,
            basic_auth: None,
            criteria: HttpCriteria::default(),
            timeout_secs: 10,
        }
    }
}

/// Microsoft DNS through `dnscmd`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnscmdUpdate {
    /// The zone; blank = found by SOA lookup.
    pub zone: String,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn the_bind_clause_is_ready_to_paste() {
        let key = TsigKey {
            name: "standby-key.".into(),
            algorithm: TsigAlgorithm::HmacSha512,
            secret: Secret::new("c2VjcmV0"),
        };
        assert_eq!(
            key.bind_clause(),
            "key \"standby-key\" {\n    algorithm hmac-sha512;\n    secret \"c2VjcmV0\";\n};\n"
        );
    }

    #[test]
    fn generated_secrets_are_random_base64_of_digest_length() {
        for algorithm in TsigAlgorithm::ALL {
            let a = algorithm.generate_secret();
            let b = algorithm.generate_secret();
            assert_ne!(a, b);
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a.expose())
                .unwrap();
            assert_eq!(bytes.len(), algorithm.digest_len());
        }
    }
}

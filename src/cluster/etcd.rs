//! A client of etcd's v3 API through its JSON gateway (`POST /v3/kv/range`, `kv/put`,
//! `kv/txn`, `kv/deleterange`, `lease/grant`, `lease/keepalive`, `lease/revoke`,
//! `auth/authenticate`), on the project's HTTP client (reqwest with the tree's rustls).
//! Keys and values travel base64-encoded, 64-bit numbers as JSON strings.
//!
//! Not the tonic-based `etcd-client` crate: tonic, prost and protoc would add minutes to
//! every clean build on two cores for the same few calls.
//!
//! Each call tries the endpoints in turn, starting at the one that answered last, so a dead
//! member costs one time-out, not one per call.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::model::Secret;
use crate::model::cluster::{Cluster, EtcdTls, etcd_endpoint};

/// Why an etcd call did not succeed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EtcdError {
    /// No endpoint answered; the last one's reason.
    #[error("etcd unreachable ({endpoint}: {reason})")]
    Unreachable { endpoint: String, reason: String },
    /// A member answered but TLS with it failed: its certificate is not one this instance
    /// trusts, or it refused this instance's client certificate (or its lack). A setting to
    /// fix, not a member down.
    #[error("TLS with etcd failed ({endpoint}: {reason})")]
    Tls { endpoint: String, reason: String },
    /// The members that answered have no raft leader: etcd's majority is lost (or an
    /// election is under way), so nothing can be read or written through consensus.
    #[error("etcd has lost its majority ({endpoint} answers but has no leader)")]
    NoLeader { endpoint: String },
    /// etcd answered with an error (gRPC code and message).
    #[error("etcd refused: {message} (code {code})")]
    Refused { code: i64, message: String },
    /// The lease is gone (expired or revoked): what was bound to it has vanished.
    #[error("etcd lease {0:x} has expired")]
    LeaseExpired(i64),
    /// A watch asked for revisions that etcd has compacted away: re-read the keys (their
    /// state at the current revision) and watch again from there.
    #[error("etcd has compacted the revisions before {compact_revision}: re-read and watch again")]
    Compacted { compact_revision: i64 },
    /// An answer that is not what the API documents.
    #[error("etcd answered something unexpected: {0}")]
    BadAnswer(String),
    /// The client cannot be built (a TLS file, the settings).
    #[error("etcd client: {0}")]
    Setup(String),
}

/// One key and its value, as etcd holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
    /// The lease the key is bound to (0 = none).
    pub lease: i64,
}

/// A granted lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    pub id: i64,
    pub ttl_secs: i64,
}

/// The condition of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compare {
    /// The key does not exist.
    Absent(String),
    /// The key was last changed at this revision (compare-and-swap).
    ModRevision(String, i64),
    /// The key was created at this revision (a leadership proof: the election key is still
    /// the one this instance made).
    CreateRevision(String, i64),
}

/// What a conditional write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// The condition held: written, at this revision.
    Written { revision: i64 },
    /// The condition failed: nothing written; the key as it is now (`None`: absent).
    Lost { current: Option<KeyValue> },
}

/// The client. Cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Etcd {
    pub(super) client: reqwest::Client,
    /// For watches: the same TLS and connect time-out but no total time-out, since a
    /// watch's answer streams for as long as it runs.
    pub(super) stream_client: reqwest::Client,
    /// `http://host:port` of each member, in the settings' order.
    pub(super) endpoints: Arc<Vec<String>>,
    /// The endpoint that answered last.
    pub(super) current: Arc<AtomicUsize>,
    login: Option<(String, Secret)>,
    token: Arc<std::sync::Mutex<Option<String>>>,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoints", &self.endpoints)
            .finish_non_exhaustive()
    }
}

/// etcd's gRPC code for a request without a valid token.
pub(super) const UNAUTHENTICATED: i64 = 16;

/// Sent with every request as gRPC metadata `hasleader: true`: a member without a raft
/// leader then refuses at once ("etcdserver: no leader") instead of holding the request
/// until its own time-out, so a member cut off from the majority costs no wait and the
/// next member is tried.
pub(super) const REQUIRE_LEADER: (&str, &str) = ("Grpc-Metadata-hasleader", "true");

/// A member's refusal that means it has no leader, as [`EtcdError::NoLeader`].
pub(super) fn no_leader(error: EtcdError, endpoint: &str) -> EtcdError {
    match error {
        EtcdError::Refused { message, .. } if message.contains("no leader") => {
            EtcdError::NoLeader {
                endpoint: endpoint.to_string(),
            }
        }
        other => other,
    }
}

impl Etcd {
    /// A client for the section's endpoints; `timeout` bounds each request to one member.
    pub fn new(cluster: &Cluster, timeout: Duration) -> Result<Etcd, EtcdError> {
        let mut endpoints = Vec::new();
        for text in &cluster.endpoints {
            let endpoint = etcd_endpoint(text).map_err(|e| EtcdError::Setup(e.to_string()))?;
            endpoints.push(endpoint.to_string());
        }
        if endpoints.is_empty() {
            return Err(EtcdError::Setup("no etcd endpoint".into()));
        }
        let tls = tls_config(cluster.tls.as_ref())?;
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls.clone())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| EtcdError::Setup(format!("cannot build the HTTP client: {e}")))?;
        let stream_client = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| EtcdError::Setup(format!("cannot build the HTTP client: {e}")))?;
        let login = (!cluster.user.trim().is_empty())
            .then(|| (cluster.user.trim().to_string(), cluster.password.clone()));
        Ok(Etcd {
            client,
            stream_client,
            endpoints: Arc::new(endpoints),
            current: Arc::new(AtomicUsize::new(0)),
            login,
            token: Arc::default(),
        })
    }

    /// The value of `key`, if it exists.
    pub async fn get(&self, key: &str) -> Result<Option<KeyValue>, EtcdError> {
        let answer = self.call("kv/range", json!({ "key": b64(key) })).await?;
        Ok(kvs(&answer)?.into_iter().next())
    }

    /// Every key under `prefix`, and the store's revision they were read at.
    pub async fn get_prefix(&self, prefix: &str) -> Result<(Vec<KeyValue>, i64), EtcdError> {
        let body = json!({ "key": b64(prefix), "range_end": b64(&prefix_end(prefix)) });
        let answer = self.call("kv/range", body).await?;
        Ok((kvs(&answer)?, revision(&answer)))
    }

    /// Writes `key`, bound to `lease` when given; returns the revision written.
    pub async fn put(&self, key: &str, value: &[u8], lease: Option<i64>) -> Result<i64, EtcdError> {
        let answer = self.call("kv/put", put_body(key, value, lease)).await?;
        Ok(revision(&answer))
    }

    /// Deletes `key`; returns how many keys went.
    pub async fn delete(&self, key: &str) -> Result<i64, EtcdError> {
        let answer = self
            .call("kv/deleterange", json!({ "key": b64(key) }))
            .await?;
        Ok(int(&answer["deleted"]))
    }

    /// Writes `key` only if `condition` holds, in one transaction.
    pub async fn put_if(
        &self,
        condition: &Compare,
        key: &str,
        value: &[u8],
        lease: Option<i64>,
    ) -> Result<TxnOutcome, EtcdError> {
        let body = json!({
            "compare": [compare(condition)],
            "success": [{ "request_put": put_body(key, value, lease) }],
            "failure": [{ "request_range": { "key": b64(key) } }],
        });
        let answer = self.call("kv/txn", body).await?;
        if answer["succeeded"].as_bool().unwrap_or(false) {
            return Ok(TxnOutcome::Written {
                revision: revision(&answer),
            });
        }
        let current = match answer["responses"].get(0) {
            Some(r) => kvs(&r["response_range"])?.into_iter().next(),
            None => None,
        };
        Ok(TxnOutcome::Lost { current })
    }

    /// Whether `condition` holds now, proved by a transaction (a linearizable read through
    /// etcd's consensus: a leader cut off from the etcd majority cannot prove anything).
    pub async fn holds(&self, condition: &Compare) -> Result<bool, EtcdError> {
        let body = json!({ "compare": [compare(condition)], "success": [], "failure": [] });
        let answer = self.call("kv/txn", body).await?;
        Ok(answer["succeeded"].as_bool().unwrap_or(false))
    }

    /// Writes `puts` (bound to `lease` when given) and deletes `deletes` in one
    /// transaction; returns the revision. Keep it under etcd's `--max-txn-ops` (128).
    pub async fn write_batch(
        &self,
        puts: &[(String, Vec<u8>)],
        deletes: &[String],
        lease: Option<i64>,
    ) -> Result<i64, EtcdError> {
        let mut ops: Vec<Value> = puts
            .iter()
            .map(|(key, value)| json!({ "request_put": put_body(key, value, lease) }))
            .collect();
        ops.extend(
            deletes
                .iter()
                .map(|key| json!({ "request_delete_range": { "key": b64(key) } })),
        );
        let answer = self.call("kv/txn", json!({ "success": ops })).await?;
        Ok(revision(&answer))
    }

    /// A new lease of `ttl_secs`.
    pub async fn grant(&self, ttl_secs: u32) -> Result<Lease, EtcdError> {
        let answer = self.call("lease/grant", json!({ "TTL": ttl_secs })).await?;
        let lease = Lease {
            id: int(&answer["ID"]),
            ttl_secs: int(&answer["TTL"]),
        };
        if lease.id == 0 {
            return Err(EtcdError::BadAnswer(format!(
                "a lease without an ID: {answer}"
            )));
        }
        Ok(lease)
    }

    /// Renews the lease; returns its new time to live. A lease that is gone is
    /// [`EtcdError::LeaseExpired`].
    pub async fn keep_alive(&self, lease: i64) -> Result<i64, EtcdError> {
        let answer = self
            .call("lease/keepalive", json!({ "ID": lease.to_string() }))
            .await?;
        let ttl = int(&answer["result"]["TTL"]);
        if ttl <= 0 {
            return Err(EtcdError::LeaseExpired(lease));
        }
        Ok(ttl)
    }

    /// Ends the lease now: every key bound to it goes.
    pub async fn revoke(&self, lease: i64) -> Result<(), EtcdError> {
        self.call("lease/revoke", json!({ "ID": lease.to_string() }))
            .await
            .map(|_| ())
    }

    /// One API call: each endpoint in turn from the last good one, with a login first
    /// (and again once, when etcd says the token expired).
    async fn call(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let result = match self.call_once(path, &body).await {
            Err(EtcdError::Refused { code, .. })
                if code == UNAUTHENTICATED && self.login.is_some() =>
            {
                self.set_token(None);
                self.call_once(path, &body).await
            }
            other => other,
        };
        match result {
            // etcd's words for a request without a token say nothing of the setting.
            Err(EtcdError::Refused { code, message })
                if self.login.is_none() && message.contains("user name is empty") =>
            {
                Err(EtcdError::Refused {
                    code,
                    message: format!(
                        "{message}: etcd has authentication enabled; set the cluster's user and password"
                    ),
                })
            }
            other => other,
        }
    }

    pub(super) async fn call_once(&self, path: &str, body: &Value) -> Result<Value, EtcdError> {
        self.ensure_token().await?;
        self.post(path, body, self.token()).await
    }

    /// Logs in first when etcd wants a user and no token is held.
    pub(super) async fn ensure_token(&self) -> Result<(), EtcdError> {
        if self.login.is_some() && self.token().is_none() {
            self.authenticate().await?;
        }
        Ok(())
    }

    async fn authenticate(&self) -> Result<(), EtcdError> {
        let Some((user, password)) = &self.login else {
            return Ok(());
        };
        let body = json!({ "name": user, "password": password.expose() });
        let answer = self
            .post("auth/authenticate", &body, None)
            .await
            .map_err(|e| match e {
                // The user named (never the password): which login failed.
                EtcdError::Refused { code, message } => EtcdError::Refused {
                    code,
                    message: format!("login as {user:?}: {message}"),
                },
                other => other,
            })?;
        match answer["token"].as_str() {
            Some(token) if !token.is_empty() => {
                self.set_token(Some(token.to_string()));
                Ok(())
            }
            _ => Err(EtcdError::BadAnswer("a login without a token".into())),
        }
    }

    pub(super) fn token(&self) -> Option<String> {
        self.token.lock().ok().and_then(|t| t.clone())
    }

    pub(super) fn set_token(&self, token: Option<String>) {
        if let Ok(mut slot) = self.token.lock() {
            *slot = token;
        }
    }

    async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<String>,
    ) -> Result<Value, EtcdError> {
        let count = self.endpoints.len();
        let first = self.current.load(Ordering::Relaxed) % count;
        let mut last = None;
        let mut leaderless = None;
        for i in 0..count {
            let at = (first + i) % count;
            let endpoint = &self.endpoints[at];
            let mut request = self
                .client
                .post(format!("{endpoint}/v3/{path}"))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(REQUIRE_LEADER.0, REQUIRE_LEADER.1)
                .body(body.to_string());
            if let Some(token) = &token {
                request = request.header(reqwest::header::AUTHORIZATION, token.as_str());
            }
            let text = match request.send().await {
                Ok(response) => response.text().await,
                Err(e) => Err(e),
            };
            match text {
                Ok(text) => match answer(&text).map_err(|e| no_leader(e, endpoint)) {
                    // This member is on the minority side: another may be on the majority's.
                    Err(e @ EtcdError::NoLeader { .. }) => leaderless = Some(e),
                    other => {
                        self.current.store(at, Ordering::Relaxed);
                        return other;
                    }
                },
                Err(e) => last = Some(failure(endpoint, &e)),
            }
        }
        // A member that answered says more than one that did not.
        Err(leaderless
            .or(last)
            .unwrap_or_else(|| EtcdError::Setup("no etcd endpoint".into())))
    }
}

/// The JSON of an answer, or etcd's error in it.
pub(super) fn answer(text: &str) -> Result<Value, EtcdError> {
    let value: Value = serde_json::from_str(text)
        .map_err(|_| EtcdError::BadAnswer(text.chars().take(200).collect()))?;
    let error = value.get("error").or_else(|| value.get("message"));
    if let (Some(error), Some(code)) = (error, value.get("code")) {
        return Err(EtcdError::Refused {
            code: int(code),
            message: error.as_str().unwrap_or_default().to_string(),
        });
    }
    // A stream's message (keepalive) carries its own error inside `error`.
    if let Some(error) = value.get("error").filter(|e| e.is_object()) {
        return Err(EtcdError::Refused {
            code: int(&error["grpc_code"]),
            message: error["message"].as_str().unwrap_or_default().to_string(),
        });
    }
    Ok(value)
}

/// A failed exchange with `endpoint`: [`EtcdError::Tls`] when TLS refused it, else
/// [`EtcdError::Unreachable`].
pub(super) fn failure(endpoint: &str, e: &reqwest::Error) -> EtcdError {
    let endpoint = endpoint.to_string();
    match tls_failure(e) {
        Some(reason) => EtcdError::Tls { endpoint, reason },
        None => EtcdError::Unreachable {
            endpoint,
            reason: reason(e),
        },
    }
}

/// rustls's error in the chain, in words that name the setting to look at.
fn tls_failure(e: &reqwest::Error) -> Option<String> {
    use rustls::AlertDescription as Alert;
    let tls = rustls_error(e)?;
    Some(match tls {
        rustls::Error::InvalidCertificate(_) => format!(
            "{tls}; is tls.ca_file the CA that signed etcd's certificate, for this address?"
        ),
        rustls::Error::AlertReceived(
            Alert::BadCertificate
            | Alert::CertificateRequired
            | Alert::UnknownCA
            | Alert::CertificateUnknown
            | Alert::UnsupportedCertificate
            | Alert::CertificateExpired
            | Alert::CertificateRevoked,
        ) => format!(
            "{tls}; etcd refused this instance's client certificate, or wants one \
             (tls.client_certificate and tls.client_key, signed by etcd's --trusted-ca-file)"
        ),
        other => other.to_string(),
    })
}

/// The rustls error in `error`'s chain. It sits in `io::Error`s (tokio-rustls's, then
/// hyper's around it), whose `source` skips what they wrap: hence `get_ref`.
fn rustls_error<'a>(mut error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    loop {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        let wrapped = error
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        error = wrapped.or_else(|| error.source())?;
    }
}

/// The short reason of a failed exchange (the innermost error, without reqwest's wording).
fn reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "time-out".into();
    }
    let mut source: &dyn std::error::Error = e;
    while let Some(inner) = source.source() {
        source = inner;
    }
    source.to_string()
}

pub(super) fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
}

/// 64-bit numbers come as strings; a field left out is 0.
pub(super) fn int(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

pub(super) fn revision(answer: &Value) -> i64 {
    int(&answer["header"]["revision"])
}

/// The key just past every key that starts with `prefix` (etcd's range end).
pub(super) fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    "\0".into()
}

fn put_body(key: &str, value: &[u8], lease: Option<i64>) -> Value {
    let mut body = json!({
        "key": b64(key),
        "value": base64::engine::general_purpose::STANDARD.encode(value),
    });
    if let Some(lease) = lease {
        body["lease"] = Value::String(lease.to_string());
    }
    body
}

fn compare(condition: &Compare) -> Value {
    match condition {
        Compare::Absent(key) => json!({
            "key": b64(key), "target": "CREATE", "result": "EQUAL", "create_revision": "0",
        }),
        Compare::ModRevision(key, revision) => json!({
            "key": b64(key), "target": "MOD", "result": "EQUAL",
            "mod_revision": revision.to_string(),
        }),
        Compare::CreateRevision(key, revision) => json!({
            "key": b64(key), "target": "CREATE", "result": "EQUAL",
            "create_revision": revision.to_string(),
        }),
    }
}

pub(super) fn kvs(answer: &Value) -> Result<Vec<KeyValue>, EtcdError> {
    let Some(list) = answer.get("kvs").and_then(Value::as_array) else {
        return Ok(Vec::new());
    };
    let decode = |field: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(field.as_str().unwrap_or_default())
            .map_err(|_| EtcdError::BadAnswer(format!("a key or value not in base64: {field}")))
    };
    list.iter()
        .map(|kv| {
            Ok(KeyValue {
                key: String::from_utf8_lossy(&decode(&kv["key"])?).into_owned(),
                value: decode(&kv["value"])?,
                create_revision: int(&kv["create_revision"]),
                mod_revision: int(&kv["mod_revision"]),
                lease: int(&kv["lease"]),
            })
        })
        .collect()
}

/// TLS with the tree's one provider (ring): the CA file's roots, or the system's, and the
/// client certificate when one is given.
fn tls_config(tls: Option<&EtcdTls>) -> Result<rustls::ClientConfig, EtcdError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let setup = |e: String| EtcdError::Setup(e);
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| setup(format!("TLS set-up: {e}")))?;
    let builder = match tls.and_then(|t| t.ca_file.as_ref()) {
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(path)
                .map_err(|e| setup(format!("{}: {e}", path.display())))?
            {
                let cert = cert.map_err(|e| setup(format!("{}: {e}", path.display())))?;
                roots
                    .add(cert)
                    .map_err(|e| setup(format!("{}: {e}", path.display())))?;
            }
            builder.with_root_certificates(roots)
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| setup(format!("cannot load the system's roots: {e}")))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    let client = tls.and_then(|t| t.client_certificate.as_ref().zip(t.client_key.as_ref()));
    let mut config = match client {
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| setup(format!("{}: {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| setup(format!("{}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| setup(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_next_key() {
        assert_eq!(prefix_end("/standby/web/"), "/standby/web0");
        assert_eq!(prefix_end("a"), "b");
    }

    #[test]
    fn errors_in_answers_are_read() {
        let refused = answer(
            r#"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#,
        );
        assert_eq!(
            refused,
            Err(EtcdError::Refused {
                code: 5,
                message: "etcdserver: requested lease not found".into()
            })
        );
        assert!(matches!(answer("<html>"), Err(EtcdError::BadAnswer(_))));
        // etcd 3.4's answer of a member without a leader (to `hasleader: true`), unary and
        // in a stream.
        for text in [
            r#"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#,
            r#"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#,
        ] {
            let e = answer(text).map_err(|e| no_leader(e, "http://127.0.0.1:2379"));
            assert_eq!(
                e,
                Err(EtcdError::NoLeader {
                    endpoint: "http://127.0.0.1:2379".into()
                })
            );
        }
        let ok = answer(r#"{"header":{"revision":"7"},"count":"1"}"#).unwrap();
        assert_eq!(revision(&ok), 7);
    }
}

//! Cluster mode (issue 13): several Standby instances that poll the same servers, decide by
//! a quorum of their views and let one leader write DNS, coordinated through etcd.
//!
//! The section is this instance's own (its name, how it reaches etcd): it stays in the local
//! settings file even when the server sets and options are shared through etcd. Without it
//! (`cluster: None`, the default) Standby runs alone as it always did.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::field::FieldError;
use super::secret::Secret;
use super::validate::{ValidationError, http_url};

/// How this instance joins a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    /// etcd's client URLs (`http://127.0.0.1:2379`, `https://etcd1.example.com:2379`), one
    /// per member: a member that does not answer is skipped for the next.
    pub endpoints: Vec<String>,
    /// TLS to etcd (for `https://` endpoints): the CA that signed etcd's certificates and,
    /// when etcd asks for one, this instance's client certificate and key.
    pub tls: Option<EtcdTls>,
    /// etcd user (blank = etcd without authentication).
    pub user: String,
    /// The etcd user's password.
    pub password: Secret,
    /// The cluster's name: every key of the cluster lies under `/standby/<name>/`, so that
    /// one etcd can hold several clusters.
    pub name: String,
    /// This instance's name, unique in the cluster (`berlin`, `paris`): shown in the other
    /// instances' views and in "cannot reach X; 2 of 3 instances can".
    pub instance: String,
    /// How many of the live instances that poll a server must see it failed (or
    /// recovered) before the decision takes it so.
    pub quorum: Quorum,
    /// Seconds of this instance's etcd lease: its observations and its leadership vanish
    /// that long after it stops renewing them (it dies, or loses etcd).
    pub lease_secs: u32,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://127.0.0.1:2379".into()],
            tls: None,
            user: String::new(),
            password: Secret::default(),
            name: "standby".into(),
            instance: String::new(),
            quorum: Quorum::Majority,
            lease_secs: DEFAULT_LEASE_SECS,
        }
    }
}

/// The lease time when none is given: short enough for a takeover within seconds, long
/// enough that one slow etcd round trip does not cost the lease.
pub const DEFAULT_LEASE_SECS: u32 = 5;

/// etcd's own floor for a lease (it raises shorter TTLs to about 2 s) and a ceiling past
/// which a dead leader would block DNS for too long.
pub const LEASE_SECS_RANGE: std::ops::RangeInclusive<u32> = 2..=300;

/// How many instances must agree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Quorum {
    /// More than half of the live instances that poll the server.
    #[default]
    Majority,
    /// Every live instance that polls the server.
    All,
    /// At least this many of them: while fewer are live, the decision keeps the server as
    /// it was (a lone survivor never moves DNS on its own view).
    AtLeast(u32),
}

/// TLS to etcd: PEM files.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EtcdTls {
    /// The CA certificate(s) that etcd's server certificates are checked against; `None` =
    /// the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain, for an etcd started with `--client-cert-auth`.
    pub client_certificate: Option<PathBuf>,
    /// The client certificate's private key.
    pub client_key: Option<PathBuf>,
}

impl Cluster {
    /// The prefix of every key of this cluster, with its final slash.
    pub fn key_prefix(&self) -> String {
        format!("/standby/{}/", self.name.trim())
    }
}

impl Quorum {
    /// How many of `live` instances must agree (at least 1); more than `live` means that
    /// no change can be decided now.
    pub fn needed(self, live: usize) -> usize {
        let needed = match self {
            Quorum::Majority => live / 2 + 1,
            Quorum::All => live,
            Quorum::AtLeast(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        needed.max(1)
    }

    /// The rule in words, as the dialog and the log say it.
    pub fn describe(self) -> String {
        match self {
            Quorum::Majority => "a majority of the live instances".into(),
            Quorum::All => "every live instance".into(),
            Quorum::AtLeast(n) => format!("at least {n} instance(s)"),
        }
    }
}

// ---- validation ---------------------------------------------------------------------------

/// Every error of the cluster section, each with its path under `path` (`cluster`).
pub fn validate_cluster(path: &str, c: &Cluster) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    let mut error = |field: String, message: String| {
        errors.push(ValidationError {
            path: format!("{path}.{field}"),
            message,
        });
    };
    if c.endpoints.is_empty() {
        error(
            "endpoints".into(),
            "at least one etcd endpoint is required".into(),
        );
    }
    let mut seen = std::collections::HashSet::new();
    let mut schemes = std::collections::HashSet::new();
    for (i, text) in c.endpoints.iter().enumerate() {
        match etcd_endpoint(text) {
            Ok(endpoint) => {
                if !seen.insert(endpoint.clone()) {
                    error(
                        format!("endpoints[{i}]"),
                        format!("{text:?} is listed twice"),
                    );
                }
                schemes.insert(endpoint.tls);
                if schemes.len() > 1 {
                    error(
                        format!("endpoints[{i}]"),
                        "all endpoints must be http:// or all https://".into(),
                    );
                }
            }
            Err(message) => error(format!("endpoints[{i}]"), message.to_string()),
        }
    }
    if let Some(tls) = &c.tls {
        if schemes.contains(&false) {
            error("tls".into(), "TLS settings need https:// endpoints".into());
        }
        if tls.client_certificate.is_some() != tls.client_key.is_some() {
            let field = if tls.client_key.is_none() {
                "tls.client_key"
            } else {
                "tls.client_certificate"
            };
            error(
                field.into(),
                "a client certificate and its key go together".into(),
            );
        }
    }
    if c.user.trim().is_empty() && !c.password.is_empty() {
        error("user".into(), "a password needs its etcd user".into());
    }
    if !c.user.trim().is_empty() && c.password.is_empty() {
        error("password".into(), "the etcd user needs its password".into());
    }
    if let Err(message) = cluster_name(&c.name) {
        error("name".into(), message.to_string());
    }
    if let Err(message) = cluster_name(&c.instance) {
        error("instance".into(), message.to_string());
    }
    if c.quorum == Quorum::AtLeast(0) {
        error(
            "quorum".into(),
            "at least 1 instance must see a change".into(),
        );
    }
    if !LEASE_SECS_RANGE.contains(&c.lease_secs) {
        error(
            "lease_secs".into(),
            format!(
                "must be between {} and {} seconds",
                LEASE_SECS_RANGE.start(),
                LEASE_SECS_RANGE.end()
            ),
        );
    }
    errors
}

/// What cluster mode shares through etcd and what stays this instance's own
/// (`cluster::shared_settings` is the rule; the Cluster page and README say it so).
pub const SHARED_THROUGH_ETCD: &str = "Shared with the cluster through etcd: the server \
     sets, the e-mail defaults and the Polling, Notification and DNS updating pages. This \
     instance's own: this Cluster page, HTTP API, DNS serving, Logging, System log, User \
     interface and the Connectivity guard. An instance that joins takes the cluster's \
     server sets in place of its own.";

/// What is allowed but risky in the cluster section.
pub fn cluster_warnings(path: &str, c: &Cluster) -> Vec<ValidationError> {
    let mut warnings = Vec::new();
    let plain = c
        .endpoints
        .iter()
        .any(|e| etcd_endpoint(e).is_ok_and(|e| !e.tls));
    if plain && !c.password.is_empty() {
        warnings.push(ValidationError {
            path: format!("{path}.password"),
            message: "the etcd password goes over the network in clear: use https:// endpoints"
                .into(),
        });
    }
    warnings
}

/// One etcd endpoint, as the client reaches it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EtcdEndpoint {
    /// `https://`.
    pub tls: bool,
    /// The host as written (a name or an IP literal, IPv6 without brackets).
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for EtcdEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// etcd's client port when an endpoint names none.
pub const ETCD_CLIENT_PORT: u16 = 2379;

/// An etcd client URL: `http://` or `https://`, a host, a port (2379 when not given), no path.
pub fn etcd_endpoint(text: &str) -> Result<EtcdEndpoint, FieldError> {
    let uri = http_url(text.trim())?;
    let tls = uri.scheme_str() == Some("https");
    if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
        return Err(FieldError::NotAnEtcdEndpoint(text.into()));
    }
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(ETCD_CLIENT_PORT);
    if port == 0 {
        return Err(FieldError::EndpointPortZero(text.into()));
    }
    Ok(EtcdEndpoint { tls, host, port })
}

/// A cluster or instance name: 1–63 letters, digits, `-`, `_` or `.` (it becomes part of
/// etcd keys and of problem texts).
pub fn cluster_name(text: &str) -> Result<(), FieldError> {
    if text.is_empty() {
        return Err(FieldError::NameRequired);
    }
    if text.len() > 63 {
        return Err(FieldError::TooLong {
            text: text.into(),
            most: 63,
        });
    }
    let ok = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && text != "."
        && text != "..";
    if ok {
        Ok(())
    } else {
        Err(FieldError::NotAClusterName(text.into()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn valid() -> Cluster {
        Cluster {
            endpoints: vec!["http://127.0.0.58:2379".into(), "http://127.0.0.59".into()],
            instance: "berlin".into(),
            ..Cluster::default()
        }
    }

    /// Each wrong field is named by its path.
    #[test]
    fn wrong_fields_are_named() {
        assert_eq!(validate_cluster("cluster", &valid()), vec![]);
        type Edit = fn(&mut Cluster);
        let table: [(Edit, &str, &str); 16] = [
            (|c| c.endpoints.clear(), "cluster.endpoints", "at least one"),
            (
                |c| c.endpoints[1] = "127.0.0.1:2379".into(),
                "cluster.endpoints[1]",
                "http",
            ),
            (
                |c| c.endpoints[0] = "ftp://e1:2379".into(),
                "cluster.endpoints[0]",
                "http",
            ),
            (
                |c| c.endpoints[0] = "http://e1:2379/v3".into(),
                "cluster.endpoints[0]",
                "host and port only",
            ),
            (
                |c| c.endpoints[1] = "http://127.0.0.58:2379/".into(),
                "cluster.endpoints[1]",
                "twice",
            ),
            (
                |c| c.endpoints[1] = "https://e2:2379".into(),
                "cluster.endpoints[1]",
                "all https",
            ),
            (
                |c| c.tls = Some(EtcdTls::default()),
                "cluster.tls",
                "https://",
            ),
            (
                |c| {
                    c.endpoints = vec!["https://e1".into()];
                    c.tls = Some(EtcdTls {
                        client_certificate: Some("c.pem".into()),
                        ..EtcdTls::default()
                    });
                },
                "cluster.tls.client_key",
                "go together",
            ),
            (
                |c| c.password = Secret::new("pw"),
                "cluster.user",
                "needs its etcd user",
            ),
            (
                |c| c.user = "standby".into(),
                "cluster.password",
                "needs its password",
            ),
            (|c| c.name = String::new(), "cluster.name", "required"),
            (|c| c.name = "a/b".into(), "cluster.name", "only letters"),
            (
                |c| c.instance = String::new(),
                "cluster.instance",
                "required",
            ),
            (
                |c| c.quorum = Quorum::AtLeast(0),
                "cluster.quorum",
                "at least 1",
            ),
            (
                |c| c.lease_secs = 1,
                "cluster.lease_secs",
                "between 2 and 300",
            ),
            (
                |c| c.lease_secs = 301,
                "cluster.lease_secs",
                "between 2 and 300",
            ),
        ];
        for (edit, path, words) in table {
            let mut c = valid();
            edit(&mut c);
            let errors = validate_cluster("cluster", &c);
            assert!(
                errors
                    .iter()
                    .any(|e| e.path == path && e.message.contains(words)),
                "{path}: {errors:?}"
            );
        }
    }

    #[test]
    fn round_trip_through_ron() {
        for quorum in [Quorum::Majority, Quorum::All, Quorum::AtLeast(2)] {
            let settings = crate::model::Settings {
                cluster: Some(Cluster {
                    quorum,
                    tls: Some(EtcdTls {
                        ca_file: Some("ca.pem".into()),
                        ..EtcdTls::default()
                    }),
                    password: Secret::new("pw"),
                    ..valid()
                }),
                ..Default::default()
            };
            let text = settings.to_ron().unwrap();
            let back = crate::model::Settings::from_ron(&text);
            assert_eq!(back.as_ref().ok(), Some(&settings), "{text}\n{back:?}");
        }
    }

    #[test]
    fn endpoints_parse_with_the_default_port() {
        let e = etcd_endpoint("http://127.0.0.58").unwrap();
        assert_eq!(
            (e.tls, e.host.as_str(), e.port),
            (false, "127.0.0.58", 2379)
        );
        let e = etcd_endpoint("https://[::1]:12379/").unwrap();
        assert_eq!((e.tls, e.host.as_str(), e.port), (true, "::1", 12379));
        assert_eq!(e.to_string(), "https://[::1]:12379");
    }

    #[test]
    fn a_password_in_clear_is_warned_of() {
        let mut c = valid();
        c.user = "standby".into();
        c.password = Secret::new("pw");
        let w = cluster_warnings("cluster", &c);
        assert!(w.iter().any(|w| w.path == "cluster.password"), "{w:?}");
        c.endpoints = vec!["https://e1".into()];
        let w = cluster_warnings("cluster", &c);
        assert!(!w.iter().any(|w| w.path == "cluster.password"), "{w:?}");
    }

    #[test]
    fn needed_by_rule_and_live_count() {
        let table = [
            (Quorum::Majority, 1, 1),
            (Quorum::Majority, 2, 2),
            (Quorum::Majority, 3, 2),
            (Quorum::Majority, 4, 3),
            (Quorum::Majority, 5, 3),
            (Quorum::All, 3, 3),
            (Quorum::All, 1, 1),
            (Quorum::AtLeast(2), 5, 2),
            (Quorum::AtLeast(4), 3, 4),
            (Quorum::Majority, 0, 1),
            (Quorum::All, 0, 1),
        ];
        for (rule, live, needed) in table {
            assert_eq!(rule.needed(live), needed, "{rule:?} of {live}");
        }
    }

    #[test]
    fn key_prefix_is_under_standby() {
        let c = Cluster {
            name: "web".into(),
            ..Cluster::default()
        };
        assert_eq!(c.key_prefix(), "/standby/web/");
    }
}

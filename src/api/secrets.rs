//! No route gives a secret away. In JSON the API sends, every secret (a field named
//! `password`, `secret`, `token`, `api_token`, `api_key` or `secret_access_key`, each of
//! `read_tokens`) is blank when unset and otherwise a
//! placeholder `(secret 0123456789abcdef)`. The hex is a keyed hash of the secret (HMAC-SHA256
//! with a key made at each start of the API and never shown): it tells a client which
//! stored secret it stands for, and nothing about the secret itself. A body that carries a
//! placeholder gets that stored secret back, wherever it is put (a set copied, a list
//! reordered), so a GET → change → PUT keeps every password.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;

/// The keys whose values are secrets, as the model's [`crate::model::Secret`] fields are named.
const SECRET_KEYS: [&str; 7] = [
    "password",
    "secret",
    "token",
    "api_token",
    "api_key",
    "secret_access_key",
    "read_tokens",
];
const PREFIX: &str = "(secret ";

/// Turns secrets into placeholders and back.
pub struct Redactor {
    key: [u8; 32],
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor {
            key: rand::random(),
        }
    }
}

impl Redactor {
    /// A redactor with this key: the same key gives the same placeholders (kept across
    /// restarts beside the settings file, so that a remote window's open dialog still
    /// names the stored secrets after the engine came back).
    pub fn with_key(key: [u8; 32]) -> Self {
        Redactor { key }
    }

    /// The placeholder of a (non-empty) secret.
    pub fn placeholder(&self, secret: &str) -> String {
        let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key) else {
            // HMAC takes keys of any length; this is never reached.
            return format!("{PREFIX}?)");
        };
        mac.update(secret.as_bytes());
        let tag = mac.finalize().into_bytes();
        let hex: String = tag[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("{PREFIX}{hex})")
    }

    /// Replaces every secret in `value` by its placeholder (blank stays blank: "unset").
    pub fn redact(&self, value: &mut Value) {
        walk_secrets(value, "", &mut |_, secret| {
            if !secret.is_empty() {
                *secret = self.placeholder(secret);
            }
            Ok(())
        })
        .unwrap_or(());
    }

    /// Puts the stored secrets back where `sent` carries their placeholders. `stored` is
    /// the settings in force, as JSON. A placeholder that stands for no stored secret is an
    /// error naming its field.
    pub fn restore(&self, sent: &mut Value, stored: &Value) -> Result<(), UnknownPlaceholder> {
        let mut known = Vec::new();
        let mut stored = stored.clone();
        walk_secrets(&mut stored, "", &mut |_, secret| {
            if !secret.is_empty() {
                known.push((self.placeholder(secret), secret.clone()));
            }
            Ok(())
        })?;
        walk_secrets(sent, "", &mut |path, secret| {
            if !secret.starts_with(PREFIX) {
                return Ok(());
            }
            match known.iter().find(|(placeholder, _)| placeholder == secret) {
                Some((_, value)) => {
                    *secret = value.clone();
                    Ok(())
                }
                None => Err(UnknownPlaceholder {
                    path: path.to_string(),
                    placeholder: secret.clone(),
                }),
            }
        })
    }
}

/// A placeholder in a body that stands for no stored secret; names the field.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path}: the placeholder {placeholder} stands for no stored secret (read the settings again, or send the secret itself)"
)]
pub struct UnknownPlaceholder {
    pub path: String,
    pub placeholder: String,
}

type Visit<'a> = dyn FnMut(&str, &mut String) -> Result<(), UnknownPlaceholder> + 'a;

/// Calls `visit` with the path and value of every secret string in `value`.
fn walk_secrets(
    value: &mut Value,
    path: &str,
    visit: &mut Visit<'_>,
) -> Result<(), UnknownPlaceholder> {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if SECRET_KEYS.contains(&key.as_str()) {
                    visit_strings(child, &path, visit)?;
                } else {
                    walk_secrets(child, &path, visit)?;
                }
            }
            Ok(())
        }
        Value::Array(items) => {
            for (i, child) in items.iter_mut().enumerate() {
                walk_secrets(child, &format!("{path}[{i}]"), visit)?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A secret field: a string, or a list of them (`read_tokens`).
fn visit_strings(
    value: &mut Value,
    path: &str,
    visit: &mut Visit<'_>,
) -> Result<(), UnknownPlaceholder> {
    match value {
        Value::String(text) => visit(path, text),
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                visit_strings(item, &format!("{path}[{i}]"), visit)?;
            }
            Ok(())
        }
        // A secret may sit inside an object under a secret key (an Option's Some).
        _ => walk_secrets(value, path, visit),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_become_placeholders_and_come_back_wherever_they_are_put() {
        let redactor = Redactor::default();
        let stored = json!({
            "a": {"user": "u", "password": "hunter2"},
            "b": [{"secret": "c2VjcmV0"}, {"secret": ""}],
            "read_tokens": ["t1", "t2"],
        });
        let mut shown = stored.clone();
        redactor.redact(&mut shown);
        let text = shown.to_string();
        for secret in ["hunter2", "c2VjcmV0", "t1", "t2"] {
            assert!(!text.contains(&format!("\"{secret}\"")), "{text}");
        }
        assert_eq!(shown["b"][1]["secret"], "", "blank stays blank: unset");
        assert_ne!(shown["read_tokens"][0], shown["read_tokens"][1]);
        // The shown form sent back (reordered) gets the secrets back.
        let mut sent = json!({
            "b": [{"secret": shown["a"]["password"].clone()}],
            "read_tokens": [shown["read_tokens"][1].clone(), "new"],
        });
        redactor.restore(&mut sent, &stored).unwrap();
        assert_eq!(
            sent,
            json!({"b": [{"secret": "hunter2"}], "read_tokens": ["t2", "new"]})
        );
    }

    #[test]
    fn an_http_polls_credentials_are_secrets() {
        // As the settings of an HTTP poll with bearer or basic authentication serialise.
        let redactor = Redactor::default();
        let stored = json!({"polling": {"Http": {"auth": {"Bearer": {"token": "t0ken-123"}}}},
            "other": {"auth": {"Basic": {"user": "monitor", "password": "s3cret"}}}});
        let mut shown = stored.clone();
        redactor.redact(&mut shown);
        let text = shown.to_string();
        assert!(
            !text.contains("t0ken-123") && !text.contains("s3cret"),
            "{text}"
        );
        assert!(text.contains("monitor"), "{text}");
        redactor.restore(&mut shown, &stored).unwrap();
        assert_eq!(shown, stored);
    }

    #[test]
    fn every_secret_field_of_the_model_is_redacted() {
        // Serialise settings with every `Secret` field set and look for the values: a new
        // secret field whose name is not a secret key shows up here.
        use crate::model::{
            CloudflareApi, DnsServer, HttpAuth, HttpPoll, PollMethod, PowerDnsApi, Route53Api,
            Secret, ServerSet, Settings, UpdateMethod,
        };
        let mut settings = Settings::default();
        let server = |update| DnsServer {
            update,
            ..DnsServer::default()
        };
        settings.server_sets.push(ServerSet {
            polling: PollMethod::Http(HttpPoll {
                auth: Some(HttpAuth::Bearer {
                    token: Secret::new("leak-bearer"),
                }),
                ..HttpPoll::default()
            }),
            ..ServerSet::default()
        });
        settings.server_sets[0].update_dns.dns_servers = vec![
            server(UpdateMethod::Cloudflare(CloudflareApi {
                api_token: Secret::new("leak-cloudflare"),
                ..CloudflareApi::default()
            })),
            server(UpdateMethod::PowerDns(PowerDnsApi {
                api_key: Secret::new("leak-powerdns"),
                ..PowerDnsApi::default()
            })),
            server(UpdateMethod::Route53(Route53Api {
                secret_access_key: Secret::new("leak-route53"),
                ..Route53Api::default()
            })),
        ];
        let mut value = serde_json::to_value(&settings).unwrap();
        Redactor::default().redact(&mut value);
        let text = value.to_string();
        assert!(!text.contains("leak-"), "{text}");
    }

    #[test]
    fn a_placeholder_of_no_stored_secret_is_refused_with_its_path() {
        let redactor = Redactor::default();
        let other = Redactor::default().placeholder("hunter2");
        let mut sent = json!({"servers": [{"login": {"password": other}}]});
        let error = redactor
            .restore(&mut sent, &json!({"password": "hunter2"}))
            .unwrap_err();
        assert_eq!(error.path, "servers[0].login.password");
        assert!(
            error
                .to_string()
                .starts_with("servers[0].login.password: the placeholder"),
            "{error}"
        );
    }
}

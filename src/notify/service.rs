//! Chat and paging services (Slack, Teams, Discord, Mattermost, ntfy, Gotify, Telegram,
//! Pushover, PagerDuty, Opsgenie): each request is the service's documented JSON, built as
//! a `serde_json::Value` from the expanded title and text, never by pasting values into a
//! JSON template, so quotes, backslashes and line breaks in a tag cannot break it.
//!
//! PagerDuty and Opsgenie follow the problem: a failure triggers (creates) an alert keyed
//! by `$PROBLEMID$`, its reminders re-trigger the same key, and its resolution resolves
//! (closes) it. An event that is no problem (a test, DNS updated) is a PagerDuty change
//! event, which opens no incident; Opsgenie has none, so it is an alert keyed by the
//! message's id.

use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde_json::{Value, json};

use super::{BoxFuture, FailureKind, Notifier, NotifyError, Stage};
use crate::httpclient::{ApiClient, ApiRequest};
use crate::model::services::{Service, ServiceNotification};
use crate::model::tags::{Encoding, TagValues, expand, url_encode};

/// Discord refuses longer contents; Opsgenie's message and PagerDuty's summary have limits.
const DISCORD_LIMIT: usize = 2000;
const OPSGENIE_MESSAGE_LIMIT: usize = 130;
const PAGERDUTY_SUMMARY_LIMIT: usize = 1024;

/// One request to a service, before it is sent.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceRequest {
    pub method: Method,
    pub url: String,
    /// Extra headers (tokens among them: never logged).
    pub headers: Vec<(&'static str, String)>,
    pub body: Value,
}

pub struct ServiceNotifier {
    settings: ServiceNotification,
    client: ApiClient,
}

impl ServiceNotifier {
    pub fn new(settings: &ServiceNotification) -> Result<Self, NotifyError> {
        if let Some((field, why)) = settings.problems().into_iter().next() {
            return Err(NotifyError::settings(format!(
                "{}: {field} {why}",
                settings.service.label()
            )));
        }
        let timeout = Duration::from_secs(u64::from(settings.timeout_secs.max(1)));
        let client = ApiClient::new(timeout)
            .map_err(|e| NotifyError::settings(format!("{}: {e}", settings.service.label())))?;
        Ok(Self {
            settings: settings.clone(),
            client,
        })
    }

    async fn deliver(&self, tags: &TagValues) -> Result<String, NotifyError> {
        let name = self.settings.service.label();
        let built = request(&self.settings, tags);
        let url = reqwest::Url::parse(&built.url)
            .map_err(|e| NotifyError::settings(format!("{name}: bad URL: {e}")))?;
        let mut headers = Vec::new();
        for (header, value) in &built.headers {
            let value = HeaderValue::from_str(value).map_err(|_| {
                NotifyError::settings(format!("{name}: the {header} header is not valid"))
            })?;
            headers.push((HeaderName::from_static(header), value));
        }
        if let Some(id) = tags.get("MESSAGEID").filter(|id| !id.is_empty())
            && let Ok(value) = HeaderValue::from_str(id)
        {
            headers.push((HeaderName::from_static("x-standby-message-id"), value));
        }
        let body = serde_json::to_vec(&built.body)
            .map_err(|e| NotifyError::settings(format!("{name}: {e}")))?;
        let answer = self
            .client
            .send(ApiRequest {
                method: built.method,
                url,
                headers,
                body: Some(("application/json", body)),
                timeout: Duration::from_secs(u64::from(self.settings.timeout_secs.max(1))),
            })
            .await
            .map_err(|f| {
                let stage = match f.kind {
                    FailureKind::Network => Stage::Connecting,
                    _ => Stage::Answer,
                };
                NotifyError::new(f.kind, stage, format!("{name}: {}", f.text))
            })?;
        if !answer.status.is_success() {
            let text = String::from_utf8_lossy(&answer.body);
            let text: String = text.chars().take(200).collect();
            return Err(NotifyError::new(
                FailureKind::WrongAnswer,
                Stage::Answer,
                format!("{name}: {}: {text}", answer.status_text()),
            ));
        }
        Ok(format!("{name}: {}", answer.status_text()))
    }
}

impl Notifier for ServiceNotifier {
    fn send<'a>(&'a self, tags: &'a TagValues) -> BoxFuture<'a, Result<String, NotifyError>> {
        Box::pin(self.deliver(tags))
    }
}

/// The request for `tags` (pure: the tests check it field by field).
pub fn request(s: &ServiceNotification, tags: &TagValues) -> ServiceRequest {
    let title = expand(&s.title, tags, Encoding::Plain);
    let text = expand(&s.text, tags, Encoding::Plain);
    let tag = |name: &str| tags.get(name).unwrap_or_default().to_string();
    let severity = tags.get("SEVERITY").unwrap_or("error");
    let resolves = !tag("RESOLVES").is_empty();
    // The alert key: the problem's id, else (an event that is no problem) the message's.
    let key = Some(tag("PROBLEMID"))
        .filter(|k| !k.is_empty())
        .unwrap_or_else(|| tag("MESSAGEID"));
    let base = s.url.trim().trim_end_matches('/').to_string();
    let hook = s.secret.expose().trim().to_string();
    let both = format!("{title}\n{text}");
    let post = |url: String, headers, body| ServiceRequest {
        method: Method::POST,
        url,
        headers,
        body,
    };
    match s.service {
        Service::Slack => {
            let mut body = json!({ "text": both });
            if !s.target.trim().is_empty() {
                body["channel"] = json!(s.target.trim());
            }
            post(hook.clone(), vec![], body)
        }
        Service::Mattermost => {
            let mut body = json!({ "text": both, "username": "Standby" });
            if !s.target.trim().is_empty() {
                body["channel"] = json!(s.target.trim());
            }
            post(hook.clone(), vec![], body)
        }
        Service::Discord => post(
            hook.clone(),
            vec![],
            json!({ "content": truncate(&both, DISCORD_LIMIT), "username": "Standby" }),
        ),
        Service::Teams => post(
            hook.clone(),
            vec![],
            json!({
                "type": "message",
                "attachments": [{
                    "contentType": "application/vnd.microsoft.card.adaptive",
                    "contentUrl": null,
                    "content": {
                        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                        "type": "AdaptiveCard",
                        "version": "1.4",
                        "body": [
                            { "type": "TextBlock", "text": title, "weight": "Bolder",
                              "size": "Medium", "wrap": true },
                            { "type": "TextBlock", "text": text, "wrap": true }
                        ]
                    }
                }]
            }),
        ),
        Service::Ntfy => {
            let mut headers = vec![];
            if !s.secret.expose().trim().is_empty() {
                headers.push((
                    "authorization",
                    format!("Bearer {}", s.secret.expose().trim()),
                ));
            }
            let priority = s.priority.unwrap_or(match severity {
                "critical" => 5,
                "error" => 4,
                "warning" => 3,
                _ => 2,
            });
            let icon = if resolves || severity == "info" {
                "white_check_mark"
            } else {
                "rotating_light"
            };
            post(
                format!("{base}/"),
                headers,
                json!({ "topic": s.target.trim(), "title": title, "message": text,
                        "priority": priority, "tags": [icon] }),
            )
        }
        Service::Gotify => {
            let priority = s.priority.unwrap_or(match severity {
                "critical" => 10,
                "error" => 8,
                "warning" => 5,
                _ => 2,
            });
            post(
                format!("{base}/message"),
                vec![("x-gotify-key", s.secret.expose().trim().to_string())],
                json!({ "title": title, "message": text, "priority": priority }),
            )
        }
        Service::Telegram => {
            // A numeric chat id goes as a number, a channel name (`@name`) as a string.
            let target = s.target.trim();
            let chat: Value = target
                .parse::<i64>()
                .map_or_else(|_| json!(target), |id| json!(id));
            post(
                format!("{base}/bot{}/sendMessage", s.secret.expose().trim()),
                vec![],
                json!({ "chat_id": chat, "text": both }),
            )
        }
        Service::Pushover => {
            let priority = s.priority.unwrap_or(match severity {
                "critical" | "error" => 1,
                "warning" => 0,
                _ => -1,
            });
            post(
                format!("{base}/1/messages.json"),
                vec![],
                json!({ "token": s.secret.expose().trim(), "user": s.target.trim(),
                        "title": title, "message": text, "priority": priority }),
            )
        }
        Service::PagerDuty => {
            let routing = s.secret.expose().trim();
            let source = Some(tag("COMPUTER"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "standby".into());
            if resolves {
                let body =
                    json!({ "routing_key": routing, "event_action": "resolve", "dedup_key": key });
                return post(format!("{base}/v2/enqueue"), vec![], body);
            }
            if tag("PROBLEMID").is_empty() {
                // No problem that a resolution would close (a test, DNS updated, a recovery
                // not announced as a failure): a change event, which opens no incident.
                let body = json!({
                    "routing_key": routing,
                    "payload": {
                        "summary": truncate(&title, PAGERDUTY_SUMMARY_LIMIT),
                        "source": source,
                        "custom_details": { "text": text, "event": tag("EVENT"),
                                            "set": tag("SETNAME"), "server": tag("SERVERIP") }
                    }
                });
                return post(format!("{base}/v2/change/enqueue"), vec![], body);
            }
            let severity = match severity {
                "critical" | "error" | "warning" | "info" => severity,
                _ => "error",
            };
            let body = json!({
                    "routing_key": routing,
                    "event_action": "trigger",
                    "dedup_key": key,
                    "payload": {
                        "summary": truncate(&title, PAGERDUTY_SUMMARY_LIMIT),
                        "source": source,
                        "severity": severity,
                        "component": tag("SERVERNAME"),
                        "group": tag("SETNAME"),
                        "class": tag("EVENT"),
                        "custom_details": { "text": text, "server": tag("SERVERIP"),
                                            "response": tag("RESPONSE") }
                    }
            });
            post(format!("{base}/v2/enqueue"), vec![], body)
        }
        Service::Opsgenie => {
            let auth = vec![(
                "authorization",
                format!("GenieKey {}", s.secret.expose().trim()),
            )];
            if resolves {
                post(
                    format!(
                        "{base}/v2/alerts/{}/close?identifierType=alias",
                        url_encode(&key)
                    ),
                    auth,
                    json!({ "source": "Standby", "note": text }),
                )
            } else {
                let priority = s.priority.unwrap_or(match severity {
                    "critical" => 1,
                    "error" => 2,
                    "warning" => 3,
                    _ => 5,
                });
                post(
                    format!("{base}/v2/alerts"),
                    auth,
                    json!({
                        "message": truncate(&title, OPSGENIE_MESSAGE_LIMIT),
                        "alias": key,
                        "description": text,
                        "priority": format!("P{}", priority.clamp(1, 5)),
                        "source": "Standby",
                        "tags": std::iter::once("standby".to_string())
                            .chain(Some(tag("SETNAME")).filter(|t| !t.is_empty()))
                            .collect::<Vec<_>>()
                    }),
                )
            }
        }
    }
}

/// At most `limit` characters (not bytes: never splits a character).
fn truncate(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        return text.to_string();
    }
    let mut out: String = text.chars().take(limit.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("äöü", 3), "äöü");
        assert_eq!(truncate("äöüß", 3), "äö…");
    }

    #[test]
    fn pagerduty_resolves_with_the_same_key_it_triggered() {
        let mut s = ServiceNotification::new(Service::PagerDuty);
        s.secret = crate::model::Secret::new("R0UTING");
        let failed = TagValues::new()
            .with("PROBLEMID", "p-1")
            .with("SEVERITY", "error")
            .with("EVENT", "Server failed");
        let trigger = request(&s, &failed);
        assert_eq!(trigger.body["event_action"], "trigger");
        assert_eq!(trigger.body["dedup_key"], "p-1");
        let resolved = failed.clone().with("RESOLVES", "Server failed at ...");
        let resolve = request(&s, &resolved);
        assert_eq!(resolve.body["event_action"], "resolve");
        assert_eq!(resolve.body["dedup_key"], "p-1");
        assert!(resolve.body.get("payload").is_none());
    }
}

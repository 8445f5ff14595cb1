//! Chat and paging services reached over HTTP (SPEC §6, issue 17): a preset per service
//! that builds the service's documented JSON request, so the operator gives only a URL or
//! token, a channel/topic where the service has one, and a priority.

use serde::{Deserialize, Serialize};

use super::secret::Secret;

/// The services with a preset.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Service {
    #[default]
    Slack,
    /// A Microsoft Teams workflow web hook ("When a Teams webhook request is received").
    Teams,
    Discord,
    Mattermost,
    Ntfy,
    Gotify,
    Telegram,
    Pushover,
    /// PagerDuty Events API v2: trigger, and resolve with the same dedup key.
    PagerDuty,
    /// Opsgenie Alert API: create, and close by alias.
    Opsgenie,
}

impl Service {
    pub const ALL: [Service; 10] = [
        Service::Slack,
        Service::Teams,
        Service::Discord,
        Service::Mattermost,
        Service::Ntfy,
        Service::Gotify,
        Service::Telegram,
        Service::Pushover,
        Service::PagerDuty,
        Service::Opsgenie,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Service::Slack => "Slack",
            Service::Teams => "Microsoft Teams (workflow web hook)",
            Service::Discord => "Discord",
            Service::Mattermost => "Mattermost",
            Service::Ntfy => "ntfy",
            Service::Gotify => "Gotify",
            Service::Telegram => "Telegram",
            Service::Pushover => "Pushover",
            Service::PagerDuty => "PagerDuty (Events API v2)",
            Service::Opsgenie => "Opsgenie",
        }
    }

    /// The URL is a web hook the service gave (else the base URL of its API).
    pub fn is_web_hook(self) -> bool {
        matches!(
            self,
            Service::Slack | Service::Teams | Service::Discord | Service::Mattermost
        )
    }

    /// The public service's base URL; blank where there is none (self-hosted, web hooks).
    pub fn default_url(self) -> &'static str {
        match self {
            Service::Ntfy => "https://ntfy.sh",
            Service::Telegram => "https://api.telegram.org",
            Service::Pushover => "https://api.pushover.net",
            Service::PagerDuty => "https://events.pagerduty.com",
            Service::Opsgenie => "https://api.opsgenie.com",
            _ => "",
        }
    }

    /// The label of the secret field and whether it is required (ntfy's token is not).
    pub fn secret_label(self) -> (&'static str, bool) {
        match self {
            Service::Slack | Service::Teams | Service::Discord | Service::Mattermost => {
                ("Web hook URL:", true)
            }
            Service::Ntfy => ("Access token (optional):", false),
            Service::Gotify => ("Application token:", true),
            Service::Telegram => ("Bot token:", true),
            Service::Pushover => ("Application API token:", true),
            Service::PagerDuty => ("Integration (routing) key:", true),
            Service::Opsgenie => ("API integration key:", true),
        }
    }

    /// The label of the target field, if the service has one (`required`).
    pub fn target_label(self) -> Option<(&'static str, bool)> {
        match self {
            Service::Slack | Service::Mattermost => Some(("Channel (optional):", false)),
            Service::Ntfy => Some(("Topic:", true)),
            Service::Telegram => Some(("Chat id:", true)),
            Service::Pushover => Some(("User or group key:", true)),
            _ => None,
        }
    }

    /// The range of the service's own priorities, if it has them.
    pub fn priorities(self) -> Option<(i32, i32)> {
        match self {
            Service::Ntfy => Some((1, 5)),
            Service::Gotify => Some((0, 10)),
            // 2 (emergency) needs retry/expire parameters: not offered.
            Service::Pushover => Some((-2, 1)),
            // P1 (1) .. P5 (5).
            Service::Opsgenie => Some((1, 5)),
            _ => None,
        }
    }
}

/// A notification through a service preset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceNotification {
    pub service: Service,
    /// The API's base URL (the public service by default, a self-hosted server or a
    /// regional one such as `https://api.eu.opsgenie.com`); unused by web hooks.
    pub url: String,
    /// The web hook URL (Slack, Teams, Discord, Mattermost: whoever has it can post), else
    /// the token or key the service authenticates with (see [`Service::secret_label`]).
    /// Named `secret` so the API hands out only its placeholder.
    pub secret: Secret,
    /// Channel, topic, chat id or user key (see [`Service::target_label`]).
    pub target: String,
    /// The service's priority; `None` = from the event's severity.
    pub priority: Option<i32>,
    /// Title (or summary) with tags.
    pub title: String,
    /// Text with tags.
    pub text: String,
    /// Seconds the request may take.
    pub timeout_secs: u32,
}

impl Default for ServiceNotification {
    fn default() -> Self {
        Self::new(Service::Slack)
    }
}

impl ServiceNotification {
    pub fn new(service: Service) -> Self {
        Self {
            service,
            url: service.default_url().to_string(),
            secret: Secret::default(),
            target: String::new(),
            priority: None,
            title: "$EVENT$: $SETNAME$ $SERVERNAME$".into(),
            text: "$EVENT$ at $TIMEUTC$\nSet $SETNAME$ ($HOST$), server $SERVERNAME$ ($SERVERIP$): $STATUS$\n$RESPONSE$".into(),
            timeout_secs: 10,
        }
    }

    /// What is missing or wrong, as (field, message); empty when it can be sent.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        let is_http = |url: &str| {
            let url = url.trim().to_ascii_lowercase();
            url.starts_with("http://") || url.starts_with("https://")
        };
        if self.service.is_web_hook() {
            if !is_http(self.secret.expose()) {
                // The message never repeats the URL: it is the secret.
                problems.push(("secret", "must start with http:// or https://".to_string()));
            }
        } else {
            if !is_http(&self.url) {
                problems.push(("url", "must start with http:// or https://".to_string()));
            }
            if let (_, true) = self.service.secret_label()
                && self.secret.expose().trim().is_empty()
            {
                problems.push(("secret", format!("{} needs it", self.service.label())));
            }
        }
        if let Some((_, true)) = self.service.target_label()
            && self.target.trim().is_empty()
        {
            problems.push(("target", format!("{} needs it", self.service.label())));
        }
        if let (Some(p), Some((low, high))) = (self.priority, self.service.priorities())
            && !(low..=high).contains(&p)
        {
            problems.push(("priority", format!("must be {low} to {high}")));
        }
        problems
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_are_named() {
        let mut n = ServiceNotification::new(Service::Telegram);
        let fields: Vec<&str> = n.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["secret", "target"]);
        n.secret = Secret::new("123:abc");
        n.target = "-100123".into();
        n.priority = Some(3);
        assert!(n.problems().is_empty());
        let mut n = ServiceNotification::new(Service::Slack);
        assert_eq!(n.problems()[0].0, "secret");
        n.secret = Secret::new("https://hooks.slack.com/services/T/B/X");
        assert!(n.problems().is_empty());
        let mut n = ServiceNotification::new(Service::Ntfy);
        n.target = "alerts".into();
        n.priority = Some(6);
        assert_eq!(n.problems()[0].0, "priority");
    }
}

//! The chat and paging presets against a local recording server (a real hyper server on
//! 127.0.0.67): each request is checked as the service documents it (method, path,
//! headers, JSON fields and their types), with texts that hold quotes, backslashes, line
//! breaks and non-ASCII, which must arrive unchanged.

use std::net::IpAddr;

use serde_json::Value;
use standby::model::NotificationKind;
use standby::model::Secret;
use standby::model::services::{Service, ServiceNotification};
use standby::model::tags::TagValues;
use standby::notify::{NotifyConfig, build};

use crate::support::notify::{Recorded, Recorder};

const IP: [u8; 4] = [127, 0, 0, 67];
const NASTY: &str = "HTTP 500 \"bad\" \\ gateway\r\nsecond line: Zürich ✓";

fn tags() -> TagValues {
    TagValues::new()
        .with("EVENT", "Server failed")
        .with("SETNAME", "web \"shop\"")
        .with("SERVERNAME", "www1")
        .with("SERVERIP", "192.0.2.7")
        .with("RESPONSE", NASTY)
        .with("SEVERITY", "error")
        .with("PROBLEMID", "problem-42")
        .with("MESSAGEID", "0123456789abcdef0123456789abcdef")
        .with("COMPUTER", "monitor1")
}

/// Sends one message through the preset to a fresh recorder; returns what it saw.
async fn sent(
    service: Service,
    edit: impl FnOnce(&mut ServiceNotification),
    tags: &TagValues,
) -> Recorded {
    let ip = IpAddr::from(IP);
    let recorder = Recorder::answering(ip, 0, 200, "{\"ok\":true,\"status\":1}").await;
    let mut s = ServiceNotification::new(service);
    if service.is_web_hook() {
        s.secret = Secret::new(format!("{}/hook/T0/B0", recorder.base(ip)));
    } else {
        s.url = recorder.base(ip);
    }
    s.title = "$EVENT$: $SETNAME$".into();
    s.text = "$RESPONSE$".into();
    edit(&mut s);
    let notifier = build(&NotificationKind::Service(s), &NotifyConfig::default()).unwrap();
    let text = tokio::time::timeout(std::time::Duration::from_secs(20), notifier.send(tags))
        .await
        .expect("sent in time")
        .unwrap_or_else(|e| panic!("{service:?}: {e}"));
    assert!(text.contains("HTTP 200"), "{text}");
    let requests = recorder.requests();
    assert_eq!(requests.len(), 1);
    let r = requests[0].clone();
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        r.header("x-standby-message-id"),
        Some("0123456789abcdef0123456789abcdef")
    );
    r
}

const TITLE: &str = "Server failed: web \"shop\"";

fn both() -> String {
    format!("{TITLE}\n{NASTY}")
}

#[tokio::test]
async fn slack_incoming_web_hook() {
    let r = sent(Service::Slack, |s| s.target = "#ops".into(), &tags()).await;
    assert_eq!(r.uri, "/hook/T0/B0");
    let body = r.json();
    assert_eq!(body["text"], both().as_str());
    assert_eq!(body["channel"], "#ops");
}

#[tokio::test]
async fn mattermost_incoming_web_hook() {
    let r = sent(Service::Mattermost, |_| {}, &tags()).await;
    let body = r.json();
    assert_eq!(body["text"], both().as_str());
    assert_eq!(body["username"], "Standby");
    assert!(body.get("channel").is_none());
}

#[tokio::test]
async fn discord_web_hook() {
    let r = sent(Service::Discord, |_| {}, &tags()).await;
    assert_eq!(r.uri, "/hook/T0/B0");
    assert_eq!(r.json()["content"], both().as_str());
}

#[tokio::test]
async fn teams_workflow_web_hook_gets_an_adaptive_card() {
    let r = sent(Service::Teams, |_| {}, &tags()).await;
    let body = r.json();
    assert_eq!(body["type"], "message");
    let attachment = &body["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(attachment["content"]["type"], "AdaptiveCard");
    let blocks = attachment["content"]["body"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "TextBlock");
    assert_eq!(blocks[0]["text"], TITLE);
    assert_eq!(blocks[1]["text"], NASTY);
    assert_eq!(blocks[1]["wrap"], true);
}

#[tokio::test]
async fn ntfy_publishes_json_to_the_root_with_topic_priority_and_token() {
    let r = sent(
        Service::Ntfy,
        |s| {
            s.target = "standby-alerts".into();
            s.secret = Secret::new("tk_secret");
        },
        &tags(),
    )
    .await;
    assert_eq!(r.uri, "/");
    assert_eq!(r.header("authorization"), Some("Bearer tk_secret"));
    let body = r.json();
    assert_eq!(body["topic"], "standby-alerts");
    assert_eq!(body["title"], TITLE);
    assert_eq!(body["message"], NASTY);
    assert_eq!(body["priority"], 4);
    assert!(body["tags"].is_array());
}

#[tokio::test]
async fn gotify_message_with_its_key_header() {
    let r = sent(
        Service::Gotify,
        |s| {
            s.secret = Secret::new("AppT0ken");
            s.priority = Some(7);
        },
        &tags(),
    )
    .await;
    assert_eq!(r.uri, "/message");
    assert_eq!(r.header("x-gotify-key"), Some("AppT0ken"));
    let body = r.json();
    assert_eq!(body["title"], TITLE);
    assert_eq!(body["message"], NASTY);
    assert_eq!(body["priority"], 7);
    assert!(body["priority"].is_i64());
}

#[tokio::test]
async fn telegram_send_message_with_a_numeric_or_named_chat() {
    let r = sent(
        Service::Telegram,
        |s| {
            s.secret = Secret::new("123456:ABC-def");
            s.target = "-1001234567890".into();
        },
        &tags(),
    )
    .await;
    assert_eq!(r.uri, "/bot123456:ABC-def/sendMessage");
    let body = r.json();
    assert_eq!(body["chat_id"], -1_001_234_567_890_i64);
    assert_eq!(body["text"], both().as_str());
    let r = sent(
        Service::Telegram,
        |s| {
            s.secret = Secret::new("123456:ABC-def");
            s.target = "@standby_ops".into();
        },
        &tags(),
    )
    .await;
    assert_eq!(r.json()["chat_id"], "@standby_ops");
}

#[tokio::test]
async fn pushover_message() {
    let r = sent(
        Service::Pushover,
        |s| {
            s.secret = Secret::new("azGDORePK8gMaC0QOYAMyEEuzJnyUi");
            s.target = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG".into();
        },
        &tags(),
    )
    .await;
    assert_eq!(r.uri, "/1/messages.json");
    let body = r.json();
    assert_eq!(body["token"], "azGDORePK8gMaC0QOYAMyEEuzJnyUi");
    assert_eq!(body["user"], "uQiRzpo4DXghDmr9QzzfQu27cmVRsG");
    assert_eq!(body["title"], TITLE);
    assert_eq!(body["message"], NASTY);
    assert_eq!(body["priority"], 1);
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_with_the_same_dedup_key() {
    let key = |s: &mut ServiceNotification| s.secret = Secret::new("R0UTINGKEY");
    let r = sent(Service::PagerDuty, key, &tags()).await;
    assert_eq!(r.uri, "/v2/enqueue");
    let body = r.json();
    assert_eq!(body["routing_key"], "R0UTINGKEY");
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["dedup_key"], "problem-42");
    let payload = &body["payload"];
    assert_eq!(payload["summary"], TITLE);
    assert_eq!(payload["source"], "monitor1");
    assert_eq!(payload["severity"], "error");
    assert_eq!(payload["custom_details"]["text"], NASTY);
    let resolved = tags().with("RESOLVES", "Server failed at 2026-12-01 09:00:00 UTC");
    let r = sent(Service::PagerDuty, key, &resolved).await;
    let body = r.json();
    assert_eq!(body["event_action"], "resolve");
    assert_eq!(body["dedup_key"], "problem-42");
    assert_eq!(body["routing_key"], "R0UTINGKEY");
}

#[tokio::test]
async fn pagerduty_sends_an_event_of_no_problem_as_a_change_event() {
    // A test message, or a recovery that no announced failure precedes: nothing to resolve
    // later, so no incident is opened.
    let tags = tags().with("PROBLEMID", "").with("EVENT", "Test");
    let r = sent(
        Service::PagerDuty,
        |s| s.secret = Secret::new("R0UTINGKEY"),
        &tags,
    )
    .await;
    assert_eq!(r.uri, "/v2/change/enqueue");
    let body = r.json();
    assert_eq!(body["routing_key"], "R0UTINGKEY");
    assert!(body.get("event_action").is_none(), "{body}");
    assert_eq!(body["payload"]["summary"], "Test: web \"shop\"");
    assert_eq!(body["payload"]["source"], "monitor1");
    assert_eq!(body["payload"]["custom_details"]["text"], NASTY);
}

#[tokio::test]
async fn opsgenie_creates_then_closes_by_alias() {
    let key = |s: &mut ServiceNotification| s.secret = Secret::new("g3n1e");
    let r = sent(Service::Opsgenie, key, &tags()).await;
    assert_eq!(r.uri, "/v2/alerts");
    assert_eq!(r.header("authorization"), Some("GenieKey g3n1e"));
    let body = r.json();
    assert_eq!(body["message"], TITLE);
    assert_eq!(body["alias"], "problem-42");
    assert_eq!(body["description"], NASTY);
    assert_eq!(body["priority"], "P2");
    assert_eq!(body["tags"], serde_json::json!(["standby", "web \"shop\""]));
    assert!(matches!(body["tags"], Value::Array(_)));
    let resolved = tags().with("RESOLVES", "Server failed at 2026-12-01 09:00:00 UTC");
    let r = sent(Service::Opsgenie, key, &resolved).await;
    assert_eq!(r.uri, "/v2/alerts/problem-42/close?identifierType=alias");
    assert_eq!(r.header("authorization"), Some("GenieKey g3n1e"));
    assert_eq!(r.json()["note"], NASTY);
}

#[tokio::test]
async fn a_refusing_service_is_an_answer_problem_with_its_reason() {
    let ip = IpAddr::from(IP);
    let recorder = Recorder::answering(
        ip,
        0,
        403,
        "{\"ok\":false,\"description\":\"Forbidden: bot was blocked\"}",
    )
    .await;
    let mut s = ServiceNotification::new(Service::Telegram);
    s.url = recorder.base(ip);
    s.secret = Secret::new("1:x");
    s.target = "1".into();
    let notifier = build(&NotificationKind::Service(s), &NotifyConfig::default()).unwrap();
    let e = notifier.send(&tags()).await.unwrap_err();
    assert_eq!(e.code(), 344);
    assert!(
        e.text.contains("403") && e.text.contains("bot was blocked"),
        "{}",
        e.text
    );
    assert!(
        !e.text.contains("1:x"),
        "the token must not be in the error: {}",
        e.text
    );
}

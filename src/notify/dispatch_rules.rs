//! The dispatcher's rules, apart from its queues and IO: which methods a notice goes to,
//! the tags its message is filled with (also for a *Test...* press and for a retry from
//! the outbox), and how long a failed message waits before its next try.

use std::time::{Duration, SystemTime};

use super::dispatcher::Notice;
use crate::model::tags::{NOTIFY_TAGS, TagValues};
use crate::model::{EventKind, NotificationKind, NotificationMethod, Settings};

/// `retry_first`, doubled for each further attempt, at most `retry_max`.
pub fn backoff(attempts: u32, first: Duration, max: Duration) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    first.saturating_mul(factor).min(max)
}

/// The methods of a set for an event: the defaults, its own, or both, each only if it is
/// sent for this event; plus the system log when the Options turn it on.
pub fn methods_for(settings: &Settings, set: &str, kind: EventKind) -> Vec<NotificationKind> {
    methods_with(settings, set, kind)
        .into_iter()
        .map(|m| m.kind)
        .collect()
}

/// [`methods_for`] with each method's other settings (its reminders).
pub fn methods_with(settings: &Settings, set: &str, kind: EventKind) -> Vec<NotificationMethod> {
    let defaults = &settings.options.notification.default_methods;
    let chosen: Vec<&NotificationMethod> = match settings.server_sets.iter().find(|s| s.name == set)
    {
        Some(s) => {
            let own = s.notification.methods.iter();
            if s.notification.use_defaults {
                defaults.iter().chain(own).collect()
            } else {
                own.collect()
            }
        }
        None => defaults.iter().collect(),
    };
    let mut methods: Vec<NotificationMethod> = chosen
        .into_iter()
        .filter(|m| m.events.contains(&kind))
        .cloned()
        .collect();
    if settings.options.system_log.enabled
        && !methods
            .iter()
            .any(|m| m.kind == NotificationKind::SystemLog)
    {
        methods.push(NotificationMethod {
            kind: NotificationKind::SystemLog,
            ..NotificationMethod::default()
        });
    }
    methods
}

/// The notice's tags plus those of the moment of sending. `repeats`: the summary of a
/// coalescing window that held this many repeats.
pub(super) fn full_tags(notice: &Notice, repeats: Option<u32>, window: Duration) -> TagValues {
    let mut tags = notice.tags.clone();
    // A resolution or a reminder comes with its own wording.
    let label = notice
        .tags
        .get("EVENT")
        .map_or_else(|| notice.kind.label().to_string(), str::to_string);
    let count = repeats.unwrap_or(1);
    let event = if repeats.is_some() {
        format!("{label} ({count} more times in {} s)", window.as_secs())
    } else {
        label
    };
    tags.set("EVENT", event);
    if tags.get("SEVERITY").is_none() {
        tags.set("SEVERITY", notice.kind.severity());
    }
    tags.set("COUNT", count.to_string());
    let (local, utc) = times(notice.time);
    tags.set("TIME", local);
    tags.set("TIMEUTC", utc);
    tags.set("COMPUTER", super::computer_name());
    tags
}

/// `2026-11-25 14:03:07 CET` and `2026-11-25 13:03:07 UTC`.
pub fn times(time: SystemTime) -> (String, String) {
    let Ok(stamp) = jiff::Timestamp::try_from(time) else {
        return (String::new(), String::new());
    };
    let local = stamp
        .to_zoned_datetime(jiff::tz::TimeZone::system())
        .strftime("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    let utc = stamp.strftime("%Y-%m-%d %H:%M:%S UTC").to_string();
    (local, utc)
}

/// Sample values for a test notification.
pub fn test_tags() -> TagValues {
    let notice = Notice {
        kind: EventKind::Test,
        set: "Test set".into(),
        subject: "192.0.2.1".into(),
        time: SystemTime::now(),
        tags: TagValues::new()
            .with("SETNAME", "Test set")
            .with("HOST", "www.example.com")
            .with("SERVERIP", "192.0.2.1")
            .with("SERVERNAME", "test server")
            .with("STATUS", "OK")
            .with("RESPONSE", "this is a test notification")
            .with("PROBLEM", "")
            .with("PCODE", "")
            .with("DNSSERVER", "")
            .with("OLDIPS", "")
            .with("NEWIPS", "")
            .with(
                "MESSAGEID",
                format!("test-{}", super::announcements::new_id()),
            )
            .with("PROBLEMID", "")
            .with("RESOLVES", "")
            .with("DURATION", ""),
    };
    full_tags(&notice, None, Duration::ZERO)
}

/// Rebuilds stored tag values; names not known as notification tags are left out.
pub(super) fn tags_from(pairs: &[(String, String)]) -> TagValues {
    let mut tags = TagValues::new();
    for (name, value) in pairs {
        if let Some(known) = NOTIFY_TAGS.iter().find(|t| **t == name.as_str()) {
            tags.set(known, value.clone());
        }
    }
    tags
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::model::{CommandSpec, ServerSet, SetNotification};
    use crate::notify::describe;

    fn method(program: &str, events: &[EventKind]) -> NotificationMethod {
        NotificationMethod {
            kind: NotificationKind::Command(CommandSpec {
                program: program.into(),
                ..CommandSpec::default()
            }),
            events: events.to_vec(),
            ..NotificationMethod::default()
        }
    }

    #[test]
    fn defaults_own_or_both_filtered_by_event() {
        let mut settings = Settings::default();
        settings.options.notification.default_methods = vec![
            method("default", &[EventKind::ServerFailed]),
            method("default-dns", &[EventKind::DnsUpdated]),
        ];
        let set = |use_defaults| ServerSet {
            name: "web".into(),
            notification: SetNotification {
                use_defaults,
                methods: vec![method("own", &EventKind::ALL)],
            },
            ..ServerSet::default()
        };
        let programs = |s: &Settings, set: &str| -> Vec<String> {
            methods_for(s, set, EventKind::ServerFailed)
                .into_iter()
                .map(|m| describe(&m))
                .collect()
        };
        settings.server_sets = vec![set(true)];
        assert_eq!(
            programs(&settings, "web"),
            ["command default", "command own"]
        );
        settings.server_sets = vec![set(false)];
        assert_eq!(programs(&settings, "web"), ["command own"]);
        assert_eq!(programs(&settings, "other"), ["command default"]);
        settings.options.system_log.enabled = true;
        assert_eq!(programs(&settings, "web"), ["command own", "system log"]);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let (first, max) = (Duration::from_secs(30), Duration::from_secs(300));
        let delays: Vec<u64> = (1..=6).map(|n| backoff(n, first, max).as_secs()).collect();
        assert_eq!(delays, [30, 60, 120, 240, 300, 300]);
    }

    #[test]
    fn coalesced_event_says_how_often() {
        let notice = Notice {
            kind: EventKind::ServerFailed,
            set: "web".into(),
            subject: "192.0.2.1".into(),
            time: UNIX_EPOCH,
            tags: TagValues::new(),
        };
        let tags = full_tags(&notice, Some(19), Duration::from_secs(60));
        assert_eq!(
            tags.get("EVENT"),
            Some("Server failed (19 more times in 60 s)")
        );
        assert_eq!(tags.get("COUNT"), Some("19"));
        assert_eq!(tags.get("TIMEUTC"), Some("1970-01-01 00:00:00 UTC"));
    }
}

//! What of the engine's doings goes into the event history (`store::events`): servers
//! failed and recovered (also those in maintenance, which are not notified), DNS updates
//! with their old → new records, notifications sent and failed, pauses, maintenance,
//! overrides, settings changes. Pure mappings; the shell stores the rows.

use std::time::SystemTime;

use crate::engine::events::Event;
use crate::model::EventKind as Kind;
use crate::notify::Report;
use crate::store::events::{EventKind, HistoryEvent};

/// The history row of an engine event, if it is one the event history keeps (a test
/// message is not).
pub fn of_event(e: &Event) -> Option<HistoryEvent> {
    let kind = match e.kind {
        Kind::ServerFailed => EventKind::ServerFailed,
        Kind::ServerRecovered => EventKind::ServerRecovered,
        Kind::AllServersFailed => EventKind::AllServersFailed,
        Kind::DnsUpdated | Kind::DnsUpdateFailed | Kind::DnsChangedExternally | Kind::DnsServed => {
            EventKind::DnsUpdate
        }
        Kind::SetPausedAutomatically => EventKind::Pause,
        Kind::Maintenance => EventKind::Maintenance,
        Kind::ServerOverridden => EventKind::Override,
        Kind::Test => return None,
    };
    let d = &e.details;
    let mut text = e.text.clone();
    if kind == EventKind::DnsUpdate && (!d.old_ips.is_empty() || !d.new_ips.is_empty()) {
        let none = |s: &str| {
            if s.is_empty() {
                "(none)".to_string()
            } else {
                s.to_string()
            }
        };
        text = format!("{text} [{} → {}]", none(&d.old_ips), none(&d.new_ips));
    }
    if kind == EventKind::DnsUpdate && !d.dns_server.is_empty() && !text.contains(&d.dns_server) {
        text = format!("{text} (DNS server {})", d.dns_server);
    }
    let server = if d.server_ip.is_empty() {
        e.subject.clone()
    } else {
        d.server_ip.clone()
    };
    Some(HistoryEvent {
        time: e.time,
        kind,
        set: e.set.clone(),
        server,
        text,
    })
}

/// The history row of a notification's outcome.
pub fn of_report(r: &Report) -> HistoryEvent {
    let (kind, set, subject, text) = match r {
        Report::Delivered { set, subject, text } => {
            (EventKind::NotificationSent, set, subject, text.clone())
        }
        Report::Failed {
            set,
            subject,
            code,
            text,
            dropped,
        } => {
            let retry = if *dropped {
                "dropped"
            } else {
                "will be retried"
            };
            (
                EventKind::NotificationFailed,
                set,
                subject,
                format!("{code} {text} ({retry})"),
            )
        }
    };
    HistoryEvent {
        time: SystemTime::now(),
        kind,
        set: set.clone(),
        server: subject.clone(),
        text,
    }
}

/// A row for what an operator did (a pause, a resume, a settings change).
pub fn operator(kind: EventKind, set: &str, text: &str) -> HistoryEvent {
    HistoryEvent {
        time: SystemTime::now(),
        kind,
        set: set.to_string(),
        server: String::new(),
        text: text.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::engine::events::EventDetails;

    #[test]
    fn dns_updates_keep_old_and_new_records_and_transitions_are_events() {
        let mut e = Event {
            time: SystemTime::UNIX_EPOCH,
            kind: Kind::DnsUpdated,
            set: "web".into(),
            subject: "www.example.test".into(),
            text: "www.example.test updated".into(),
            details: EventDetails {
                old_ips: "192.0.2.1".into(),
                new_ips: "192.0.2.2".into(),
                dns_server: "127.0.0.53".into(),
                ..EventDetails::default()
            },
        };
        let row = of_event(&e).unwrap();
        assert_eq!(row.kind, EventKind::DnsUpdate);
        assert_eq!(
            row.text,
            "www.example.test updated [192.0.2.1 → 192.0.2.2] (DNS server 127.0.0.53)"
        );
        assert_eq!(row.server, "www.example.test");
        e.kind = Kind::ServerFailed;
        e.details.server_ip = "192.0.2.1".into();
        let failed = of_event(&e).unwrap();
        assert_eq!(
            (failed.kind, failed.set.as_str()),
            (EventKind::ServerFailed, "web")
        );
        assert_eq!(
            failed.server, "192.0.2.1",
            "the server, for the dialog's filter"
        );
        e.kind = Kind::Maintenance;
        assert_eq!(of_event(&e).unwrap().kind, EventKind::Maintenance);
        e.kind = Kind::Test;
        assert_eq!(of_event(&e), None);
        e.kind = Kind::ServerOverridden;
        assert_eq!(of_event(&e).unwrap().kind, EventKind::Override);
        let failed = of_report(&Report::Failed {
            set: "web".into(),
            subject: "192.0.2.1".into(),
            code: 301,
            text: "smtp 421".into(),
            dropped: false,
        });
        assert_eq!(failed.kind, EventKind::NotificationFailed);
        assert_eq!(failed.text, "301 smtp 421 (will be retried)");
    }
}

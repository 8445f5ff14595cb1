//! The event history: what happened besides polls — servers failed and recovered (also in
//! maintenance, when nothing is notified), DNS updates (old → new records), notifications
//! sent and failed, pauses, maintenance, overrides, settings changes — as rows of
//! `history_event`, beside the polls, purged with the rollups.

use std::time::SystemTime;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::history::{History, HistoryError, csv_field, from_millis, iso_utc, to_millis};

/// What kind of event a row is; stored by [`EventKind::name`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    /// A server's status became failed (the text says why, and whether it was notified).
    ServerFailed,
    ServerRecovered,
    /// Every server of a set failed.
    AllServersFailed,
    /// A DNS update: the text says which name, old → new records, and the outcome.
    DnsUpdate,
    NotificationSent,
    NotificationFailed,
    /// Polling paused or resumed (a set, a server or all).
    Pause,
    /// A maintenance window began or ended (a set's or a server's).
    Maintenance,
    /// A server forced up or down, or its override cleared.
    Override,
    SettingsChanged,
}

impl EventKind {
    pub const ALL: [EventKind; 10] = [
        EventKind::ServerFailed,
        EventKind::ServerRecovered,
        EventKind::AllServersFailed,
        EventKind::DnsUpdate,
        EventKind::NotificationSent,
        EventKind::NotificationFailed,
        EventKind::Pause,
        EventKind::Maintenance,
        EventKind::Override,
        EventKind::SettingsChanged,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::ServerFailed => "server_failed",
            EventKind::ServerRecovered => "server_recovered",
            EventKind::AllServersFailed => "all_servers_failed",
            EventKind::DnsUpdate => "dns_update",
            EventKind::NotificationSent => "notification_sent",
            EventKind::NotificationFailed => "notification_failed",
            EventKind::Pause => "pause",
            EventKind::Maintenance => "maintenance",
            EventKind::Override => "override",
            EventKind::SettingsChanged => "settings_changed",
        }
    }

    /// As shown in the History dialog.
    pub fn label(self) -> &'static str {
        match self {
            EventKind::ServerFailed => "Server failed",
            EventKind::ServerRecovered => "Server recovered",
            EventKind::AllServersFailed => "All servers failed",
            EventKind::DnsUpdate => "DNS update",
            EventKind::NotificationSent => "Notification sent",
            EventKind::NotificationFailed => "Notification failed",
            EventKind::Pause => "Pause / resume",
            EventKind::Maintenance => "Maintenance",
            EventKind::Override => "Override",
            EventKind::SettingsChanged => "Settings changed",
        }
    }

    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One stored event. `set` and `server` are empty where the event has none (a change of
/// the options, a pause of everything).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEvent {
    pub time: SystemTime,
    pub kind: EventKind,
    pub set: String,
    pub server: String,
    pub text: String,
}

/// Which events to read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    pub kind: Option<EventKind>,
    pub set: Option<String>,
    pub server: Option<String>,
    pub from: Option<SystemTime>,
    pub to: Option<SystemTime>,
    /// At most this many, newest kept (0 = no limit).
    pub limit: usize,
}

impl History {
    /// Stores events in one transaction.
    pub fn insert_events(&mut self, events: &[HistoryEvent]) -> Result<(), HistoryError> {
        let run = |conn: &mut rusqlite::Connection| -> Result<(), rusqlite::Error> {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO history_event (time_ms, kind, set_name, server, text)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for e in events {
                    stmt.execute(params![
                        to_millis(e.time),
                        e.kind.name(),
                        e.set,
                        e.server,
                        e.text
                    ])?;
                }
            }
            tx.commit()
        };
        run(&mut self.conn).map_err(|e| self.err(e))
    }

    /// Events matching the filter, oldest first.
    pub fn query_events(&self, f: &EventFilter) -> Result<Vec<HistoryEvent>, HistoryError> {
        let limit = if f.limit == 0 {
            i64::MAX
        } else {
            f.limit as i64
        };
        let run = || -> Result<Vec<HistoryEvent>, rusqlite::Error> {
            let mut stmt = self.conn.prepare_cached(
                "SELECT time_ms, kind, set_name, server, text FROM (
                   SELECT * FROM history_event INDEXED BY history_event_time
                   WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR set_name = ?2)
                     AND (?3 IS NULL OR server = ?3)
                     AND time_ms >= ?4 AND time_ms <= ?5
                   ORDER BY time_ms DESC, id DESC LIMIT ?6
                 ) ORDER BY time_ms ASC, id ASC",
            )?;
            let rows = stmt.query_map(
                params![
                    f.kind.map(EventKind::name),
                    f.set,
                    f.server,
                    f.from.map_or(i64::MIN, to_millis),
                    f.to.map_or(i64::MAX, to_millis),
                    limit
                ],
                |r| {
                    let kind: String = r.get(1)?;
                    Ok((r.get::<_, i64>(0)?, kind, r.get(2)?, r.get(3)?, r.get(4)?))
                },
            )?;
            let mut out = Vec::new();
            for row in rows {
                let (time_ms, kind, set, server, text) = row?;
                // A kind this version does not know (a newer program wrote it) is skipped.
                if let Some(kind) = EventKind::from_name(&kind) {
                    out.push(HistoryEvent {
                        time: from_millis(time_ms),
                        kind,
                        set,
                        server,
                        text,
                    });
                }
            }
            Ok(out)
        };
        run().map_err(|e| self.err(e))
    }
}

/// The events as CSV (RFC 4180 quoting), times in UTC.
pub fn events_to_csv(events: &[HistoryEvent]) -> String {
    let mut out = String::from("time_utc,kind,set,server,text\n");
    for e in events {
        out.push_str(&format!(
            "{},{},{},{},{}\n",
            iso_utc(e.time),
            e.kind.name(),
            csv_field(&e.set),
            csv_field(&e.server),
            csv_field(&e.text)
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn event(secs: u64, kind: EventKind, set: &str, server: &str, text: &str) -> HistoryEvent {
        HistoryEvent {
            time: UNIX_EPOCH + Duration::from_secs(secs),
            kind,
            set: set.into(),
            server: server.into(),
            text: text.into(),
        }
    }

    #[test]
    fn events_filter_by_kind_set_server_and_purge() {
        let mut h = History::open(None).unwrap();
        let all = vec![
            event(
                10,
                EventKind::DnsUpdate,
                "web",
                "",
                "www.example.test A 192.0.2.1 → 192.0.2.2: done",
            ),
            event(20, EventKind::Pause, "web", "192.0.2.1", "paused"),
            event(
                30,
                EventKind::NotificationFailed,
                "mail",
                "",
                "smtp: 421, \"busy\"",
            ),
            event(40, EventKind::SettingsChanged, "", "", "settings applied"),
        ];
        h.insert_events(&all).unwrap();
        assert_eq!(h.query_events(&EventFilter::default()).unwrap(), all);
        let dns = EventFilter {
            kind: Some(EventKind::DnsUpdate),
            ..EventFilter::default()
        };
        assert_eq!(h.query_events(&dns).unwrap(), vec![all[0].clone()]);
        let web = EventFilter {
            set: Some("web".into()),
            ..EventFilter::default()
        };
        assert_eq!(h.query_events(&web).unwrap().len(), 2);
        let server = EventFilter {
            server: Some("192.0.2.1".into()),
            ..EventFilter::default()
        };
        assert_eq!(h.query_events(&server).unwrap(), vec![all[1].clone()]);
        let newest = EventFilter {
            limit: 1,
            ..EventFilter::default()
        };
        assert_eq!(h.query_events(&newest).unwrap(), vec![all[3].clone()]);
        let csv = events_to_csv(&all[2..3]);
        assert_eq!(
            csv,
            "time_utc,kind,set,server,text\n1970-01-01T00:00:30.000Z,notification_failed,mail,,\"smtp: 421, \"\"busy\"\"\"\n"
        );
        assert_eq!(h.purge_events_batch(25_000, 1).unwrap(), 1);
        assert_eq!(h.purge_events_batch(25_000, 10).unwrap(), 1);
        assert_eq!(h.query_events(&EventFilter::default()).unwrap().len(), 2);
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.name()), Some(kind));
        }
    }
}

//! What the dispatcher remembers across restarts, apart from its queues: notices in a
//! storable form, the problems that were announced and not yet resolved, and the texts of
//! resolutions and reminders. Pure: no IO, no clock reads.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::dispatch_rules::{tags_from, times};
use super::dispatcher::Notice;
use crate::model::EventKind;
use crate::model::tags::TagValues;

/// A [`Notice`] as the database keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNotice {
    pub kind: EventKind,
    pub set: String,
    pub subject: String,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub tags: Vec<(String, String)>,
}

impl StoredNotice {
    pub fn of(notice: &Notice) -> Self {
        Self {
            kind: notice.kind,
            set: notice.set.clone(),
            subject: notice.subject.clone(),
            time_ms: ms_of(notice.time),
            tags: notice
                .tags
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn notice(&self) -> Notice {
        Notice {
            kind: self.kind,
            set: self.set.clone(),
            subject: self.subject.clone(),
            time: time_of(self.time_ms),
            tags: tags_from(&self.tags),
        }
    }
}

/// A problem that was announced and is not resolved yet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenProblem {
    /// The notice that announced it (its tags fill reminders).
    pub notice: StoredNotice,
    /// A stable id (`$PROBLEMID$`): the same for the failure, its reminders and its
    /// resolution, e.g. PagerDuty's dedup key.
    pub id: String,
    /// When each method (by [`super::describe`]) was last reminded, ms since the epoch.
    #[serde(default)]
    pub reminded: BTreeMap<String, i64>,
    /// Loaded from the database at the start (announced by an earlier run), not stored.
    #[serde(skip)]
    pub inherited: bool,
}

/// An open coalescing window as a cluster's shared store keeps it: enough for another
/// leader to go on counting and to send its summary when it ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedWindow {
    /// The last repeat (or the first notice while there is none).
    pub last: StoredNotice,
    pub repeats: u32,
    /// When the window ends, ms since the epoch.
    pub until_ms: i64,
}

/// The key of a window or an open problem: set, subject and event.
pub type Key = (String, String, EventKind);

/// The key as one database text.
pub fn key_text(key: &Key) -> String {
    format!("{}\u{1f}{}\u{1f}{:?}", key.0, key.1, key.2)
}

/// Events that reverse `kind` for the same subject: a notice of `kind` is never held
/// back behind a window of one of these, it closes them.
pub fn reversals(kind: EventKind) -> Vec<EventKind> {
    EventKind::ALL
        .into_iter()
        .filter(|k| k.resolves() == Some(kind) || kind.resolves() == Some(*k))
        .collect()
}

/// Events that open a problem the dispatcher tracks until it is resolved.
pub fn opens_problem(kind: EventKind) -> bool {
    kind.resolved_by().is_some() || kind == EventKind::AllServersFailed
}

/// A new random id, 32 hex digits.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The tags a resolution adds; `$EVENT$` (set later from `label`) names what it resolves
/// and how long it lasted.
pub fn resolution(tags: &mut TagValues, open: &OpenProblem, now_ms: i64) -> String {
    let lasted = human_duration(duration_between(open.notice.time_ms, now_ms));
    let (_, since) = times(time_of(open.notice.time_ms));
    let resolves = format!("{} at {since}", open.notice.kind.label());
    tags.set("PROBLEMID", open.id.clone());
    tags.set("RESOLVES", resolves.clone());
    tags.set("DURATION", lasted.clone());
    format!("resolves {resolves}, which lasted {lasted}")
}

/// The notice of a reminder about `open`, sent at `now_ms`.
pub fn reminder(open: &OpenProblem, now_ms: i64) -> (Notice, String) {
    let mut notice = open.notice.notice();
    let lasted = human_duration(duration_between(open.notice.time_ms, now_ms));
    let (_, since) = times(time_of(open.notice.time_ms));
    notice.tags.set("PROBLEMID", open.id.clone());
    notice.tags.set("DURATION", lasted.clone());
    notice.tags.set("RESOLVES", "");
    notice.time = time_of(now_ms);
    let event = format!(
        "Reminder: {} (since {since}, {lasted} now)",
        open.notice.kind.label()
    );
    (notice, event)
}

/// `42 s`, `12 min 5 s`, `3 h 7 min`, `2 d 4 h`.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        format!("{days} d {hours} h")
    } else if hours > 0 {
        format!("{hours} h {mins} min")
    } else if mins > 0 {
        format!("{mins} min {secs} s")
    } else {
        format!("{secs} s")
    }
}

fn duration_between(from_ms: i64, to_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(to_ms.saturating_sub(from_ms)).unwrap_or(0))
}

pub fn ms_of(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub fn time_of(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let cases = [
            (0, "0 s"),
            (42, "42 s"),
            (725, "12 min 5 s"),
            (3 * 3600 + 7 * 60 + 9, "3 h 7 min"),
            (2 * 86_400 + 4 * 3600, "2 d 4 h"),
        ];
        for (secs, text) in cases {
            assert_eq!(human_duration(Duration::from_secs(secs)), text);
        }
    }

    #[test]
    fn reversal_pairs() {
        use EventKind::*;
        assert_eq!(reversals(ServerFailed), [ServerRecovered]);
        assert_eq!(reversals(ServerRecovered), [ServerFailed]);
        assert_eq!(
            reversals(DnsUpdateFailed),
            [DnsUpdated, DnsChangedExternally]
        );
        assert_eq!(reversals(DnsUpdated), [DnsUpdateFailed]);
        assert!(reversals(AllServersFailed).is_empty());
    }

    #[test]
    fn a_resolution_names_what_it_resolves_and_how_long() {
        let open = OpenProblem {
            notice: StoredNotice {
                kind: EventKind::ServerFailed,
                set: "web".into(),
                subject: "192.0.2.7".into(),
                time_ms: 1_000,
                tags: vec![],
            },
            id: "p1".into(),
            reminded: BTreeMap::new(),
            inherited: false,
        };
        let mut tags = TagValues::new();
        let text = resolution(&mut tags, &open, 1_000 + 725_000);
        assert_eq!(
            text,
            "resolves Server failed at 1970-01-01 00:00:01 UTC, which lasted 12 min 5 s"
        );
        assert_eq!(tags.get("PROBLEMID"), Some("p1"));
        assert_eq!(tags.get("DURATION"), Some("12 min 5 s"));
        let (notice, event) = reminder(&open, 1_000 + 1_500_000);
        assert_eq!(
            event,
            "Reminder: Server failed (since 1970-01-01 00:00:01 UTC, 25 min 0 s now)"
        );
        assert_eq!(notice.tags.get("PROBLEMID"), Some("p1"));
    }
}

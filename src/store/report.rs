//! Uptime and response-time percentiles, per server and per set, from the history: a
//! period's whole days from the daily rollups, its hours at either end from the hourly
//! ones (each one key range of a primary key), and the raw polls from the rollups'
//! frontier on (`poll_history_server_time`): some 80 rows per server for 30 days, however
//! many polls. A poll is either behind the frontier (in the rollups) or raw-counted, never
//! both (`rollup.rs`). A rollup counts when its bucket starts inside the period: a period
//! starts on the next whole hour for polls rolled up.
//!
//! Percentiles come from merged [`Sketch`]es: within 2 % of the exact value.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::history::{History, HistoryError, to_millis};
use super::rollup::{Bucket, Tier, bucket_from_row};
use crate::model::field::FieldError;

/// The periods of [`UptimeReport`]: name and length in seconds.
pub const PERIODS: [(&str, i64); 3] = [("24h", 86_400), ("7d", 7 * 86_400), ("30d", 30 * 86_400)];

/// The figures of one server or set over one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Uptime {
    pub polls: u64,
    pub failures: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

impl Uptime {
    /// Successful polls in %, `None` without polls.
    pub fn percent(&self) -> Option<f64> {
        (self.polls > 0).then(|| 100.0 * (self.polls - self.failures) as f64 / self.polls as f64)
    }

    fn of(b: &Bucket) -> Uptime {
        Uptime {
            polls: b.polls,
            failures: b.failures,
            p50_ms: b.sketch.quantile(0.50),
            p95_ms: b.sketch.quantile(0.95),
            p99_ms: b.sketch.quantile(0.99),
        }
    }
}

/// One server's figures, one per [`PERIODS`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerUptime {
    pub server: String,
    pub periods: Vec<Uptime>,
}

/// A set's figures (all its servers' polls together) and its servers'.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetUptime {
    pub set: String,
    pub periods: Vec<Uptime>,
    pub servers: Vec<ServerUptime>,
}

/// Uptime over the last 24 h / 7 d / 30 d ([`PERIODS`]) before `at`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UptimeReport {
    pub at: Option<SystemTime>,
    pub sets: Vec<SetUptime>,
}

impl UptimeReport {
    pub fn server(&self, set: &str, server: &str) -> Option<&ServerUptime> {
        self.sets
            .iter()
            .find(|s| s.set == set)
            .and_then(|s| s.servers.iter().find(|v| v.server == server))
    }
}

/// Which servers a report covers: each set's name and its servers' public addresses.
pub type Subjects = Vec<(String, Vec<String>)>;

/// Each set's name and its servers' public addresses, as the settings give them.
pub fn subjects(settings: &crate::model::Settings) -> Subjects {
    settings
        .server_sets
        .iter()
        .map(|set| {
            let servers = set.servers.iter().map(|s| s.public_ip.clone()).collect();
            (set.name.clone(), servers)
        })
        .collect()
}

/// A report bound: `2026-11-25` (midnight UTC; a `to` date includes its day) or Unix
/// seconds. The error names the field.
pub fn parse_bound(text: &str, field: &str, is_to: bool) -> Result<i64, FieldError> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<i64>() {
        return Ok(secs);
    }
    let wrong = || FieldError::NotABound {
        field: field.into(),
        text: text.into(),
    };
    // The civil date first, so that only a bare date is taken (not a time stamp).
    let date: jiff::civil::Date = text.parse().map_err(|_| wrong())?;
    let midnight: jiff::Timestamp = format!("{date}T00:00:00Z").parse().map_err(|_| wrong())?;
    let midnight = midnight.as_second();
    Ok(if is_to { midnight + 86_400 } else { midnight })
}

/// One slot of an SLA report's series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Slot {
    /// The slot's start, Unix seconds.
    pub start: i64,
    pub polls: u64,
    pub failures: u64,
}

/// An SLA report over a chosen period: per set its figures, a series (per hour or per
/// day) for the chart, and its servers' figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaReport {
    /// Unix seconds, `to` excluded.
    pub from: i64,
    pub to: i64,
    pub slot_secs: i64,
    pub sets: Vec<SlaSet>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaSet {
    pub set: String,
    pub total: Uptime,
    pub series: Vec<Slot>,
    pub servers: Vec<(String, Uptime)>,
}

/// `x` rounded up to a multiple of `step`.
fn ceil_to(x: i64, step: i64) -> i64 {
    -(-x).div_euclid(step) * step
}

impl History {
    /// Rollup and raw rows the reports have read since the start (the benchmark's figure).
    pub fn rows_scanned(&self) -> u64 {
        self.scanned.get()
    }

    /// Calls `visit(time_ms, bucket)` for the rollups and raw polls of (set, server) in
    /// `[from_ms, to_ms)`: with `days`, the daily rollups of its whole days and the hourly
    /// ones of the hours before and after them, else hourly ones only; then the raw polls
    /// from the frontier on, by the index on (set, server, time).
    fn scan(
        &self,
        set: &str,
        server: &str,
        (from_ms, to_ms): (i64, i64),
        days: bool,
        visit: &mut dyn FnMut(i64, &Bucket),
    ) -> Result<(), HistoryError> {
        let mut scanned = 0u64;
        let mut run = || -> Result<(), rusqlite::Error> {
            // Bucket starts in seconds: a bucket counts when it starts inside the period.
            let (lo, hi) = (ceil_to(from_ms, 1000) / 1000, ceil_to(to_ms, 1000) / 1000);
            let (d0, d1) = (
                ceil_to(lo, 86_400),
                to_ms.div_euclid(1000).div_euclid(86_400) * 86_400,
            );
            let mut ranges = Vec::with_capacity(3);
            if days && d0 < d1 {
                ranges.extend([
                    (Tier::Hour, lo, d0),
                    (Tier::Day, d0, d1),
                    (Tier::Hour, d1, hi),
                ]);
            } else {
                ranges.push((Tier::Hour, lo, hi));
            }
            let subject: Option<i64> = self
                .conn
                .prepare_cached(
                    "SELECT id FROM history_subject WHERE set_name = ?1 AND server = ?2",
                )?
                .query_row(params![set, server], |r| r.get(0))
                .optional()?;
            if let Some(subject) = subject {
                for (tier, a, b) in ranges.into_iter().filter(|(_, a, b)| a < b) {
                    let mut stmt = self.conn.prepare_cached(&format!(
                        "SELECT polls, failures, timed, min_us, max_us, sum_us, sketch, bucket
                         FROM {} WHERE subject = ?1 AND bucket >= ?2 AND bucket < ?3",
                        tier.table()
                    ))?;
                    let mut rows = stmt.query(params![subject, a, b])?;
                    while let Some(row) = rows.next()? {
                        let bucket = bucket_from_row(row)?;
                        let start: i64 = row.get(7)?;
                        scanned += 1;
                        visit(start * 1000, &bucket);
                    }
                }
            }
            let mut raw = self.conn.prepare_cached(
                "SELECT time_ms, success, response_ms FROM poll_history
                 INDEXED BY poll_history_server_time
                 WHERE set_name = ?1 AND server = ?2 AND time_ms >= ?3 AND time_ms < ?4",
            )?;
            let mut rows = raw.query(params![set, server, from_ms.max(self.frontier_ms), to_ms])?;
            while let Some(row) = rows.next()? {
                let mut one = Bucket::default();
                one.add(row.get(1)?, row.get(2)?);
                scanned += 1;
                visit(row.get(0)?, &one);
            }
            Ok(())
        };
        let done = run().map_err(|e| self.err(e));
        self.scanned.set(self.scanned.get() + scanned);
        done
    }

    /// Uptime and percentiles of every server of `subjects` and of each set, over the
    /// [`PERIODS`] before `at`: per server and period some indexed range queries.
    pub fn uptime_report(
        &self,
        subjects: &Subjects,
        at: SystemTime,
    ) -> Result<UptimeReport, HistoryError> {
        self.uptime_report_over(subjects, at, &PERIODS)
    }

    /// [`History::uptime_report`] over other periods (name, seconds before `at`): the
    /// benchmark times each of the [`PERIODS`] alone.
    pub fn uptime_report_over(
        &self,
        subjects: &Subjects,
        at: SystemTime,
        periods: &[(&str, i64)],
    ) -> Result<UptimeReport, HistoryError> {
        let now_ms = to_millis(at);
        let mut sets = Vec::with_capacity(subjects.len());
        for (set, servers) in subjects {
            let mut set_buckets = vec![Bucket::default(); periods.len()];
            let mut rows = Vec::with_capacity(servers.len());
            for server in servers {
                let mut buckets = vec![Bucket::default(); periods.len()];
                // A scan per period: each takes its own whole days from the daily rollups.
                for ((_, secs), b) in periods.iter().zip(buckets.iter_mut()) {
                    let period = (now_ms - secs * 1000, now_ms);
                    self.scan(set, server, period, true, &mut |_, one| b.merge(one))?;
                }
                for (total, b) in set_buckets.iter_mut().zip(&buckets) {
                    total.merge(b);
                }
                rows.push(ServerUptime {
                    server: server.clone(),
                    periods: buckets.iter().map(Uptime::of).collect(),
                });
            }
            sets.push(SetUptime {
                set: set.clone(),
                periods: set_buckets.iter().map(Uptime::of).collect(),
                servers: rows,
            });
        }
        Ok(UptimeReport { at: Some(at), sets })
    }

    /// The SLA report of `subjects` over `[from, to)` (Unix seconds): per hour for a
    /// period up to 2 days, else per day.
    pub fn sla_report(
        &self,
        subjects: &Subjects,
        from: i64,
        to: i64,
    ) -> Result<SlaReport, HistoryError> {
        let slot_secs = if to - from <= 2 * 86_400 {
            3_600
        } else {
            86_400
        };
        let slots = ((to - from).max(0) + slot_secs - 1) / slot_secs;
        // Daily rollups fill daily slots only when the slots are whole UTC days.
        let days = slot_secs == 86_400 && from.rem_euclid(86_400) == 0;
        let mut sets = Vec::with_capacity(subjects.len());
        for (set, servers) in subjects {
            let mut series: Vec<Slot> = (0..slots)
                .map(|i| Slot {
                    start: from + i * slot_secs,
                    ..Slot::default()
                })
                .collect();
            let mut total = Bucket::default();
            let mut rows = Vec::with_capacity(servers.len());
            for server in servers {
                let mut whole = Bucket::default();
                self.scan(
                    set,
                    server,
                    (from * 1000, to * 1000),
                    days,
                    &mut |time_ms, b| {
                        whole.merge(b);
                        let i = (time_ms.div_euclid(1000) - from).div_euclid(slot_secs);
                        if let Some(slot) = usize::try_from(i).ok().and_then(|i| series.get_mut(i))
                        {
                            slot.polls += b.polls;
                            slot.failures += b.failures;
                        }
                    },
                )?;
                total.merge(&whole);
                rows.push((server.clone(), Uptime::of(&whole)));
            }
            sets.push(SlaSet {
                set: set.clone(),
                total: Uptime::of(&total),
                series,
                servers: rows,
            });
        }
        Ok(SlaReport {
            from,
            to,
            slot_secs,
            sets,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::store::history::HistoryRow;

    fn poll(secs: i64, server: &str, success: bool, ms: f64) -> HistoryRow {
        HistoryRow {
            time: UNIX_EPOCH + Duration::from_secs(secs as u64),
            set: "web".into(),
            server: server.into(),
            status: String::new(),
            success,
            response: String::new(),
            response_ms: Some(ms),
            code: None,
            changed: false,
        }
    }

    /// The periods count what lies in them, the set counts its servers together, and the
    /// figures are the same once the old polls are rolled up.
    #[test]
    fn uptime_per_period_server_and_set_over_raw_and_rollups() {
        let mut h = History::open(None).unwrap();
        let now = 1_800_000_000i64;
        let day = 86_400;
        let mut rows = vec![
            poll(now - 3_600, "a", false, 5.0),
            poll(now - 3 * day, "a", true, 5.0),
            poll(now - 20 * day, "a", true, 5.0),
            poll(now - 40 * day, "a", false, 5.0),
        ];
        rows.extend((1..=100).map(|i| poll(now - 7_200 - i, "b", true, f64::from(i as i32))));
        h.insert(&rows).unwrap();
        let subjects = vec![("web".to_string(), vec!["a".to_string(), "b".to_string()])];
        let at = UNIX_EPOCH + Duration::from_secs(now as u64);
        let check = |r: &UptimeReport| {
            let a = r.server("web", "a").unwrap();
            let polls: Vec<u64> = a.periods.iter().map(|u| u.polls).collect();
            let failures: Vec<u64> = a.periods.iter().map(|u| u.failures).collect();
            assert_eq!((polls, failures), (vec![1, 2, 3], vec![1, 1, 1]));
            assert_eq!(a.periods[2].percent().unwrap().round(), 67.0);
            let b = &r.server("web", "b").unwrap().periods[0];
            assert_eq!(b.polls, 100);
            for (got, exact) in [(b.p50_ms, 50.0), (b.p95_ms, 95.0), (b.p99_ms, 99.0)] {
                assert!(
                    (got.unwrap() - exact).abs() / exact <= 0.021,
                    "{got:?} vs {exact}"
                );
            }
            let set = &r.sets[0].periods[0];
            assert_eq!((set.polls, set.failures), (101, 1));
        };
        let raw = h.uptime_report(&subjects, at).unwrap();
        check(&raw);
        // Roll up everything older than 70 min (all but one poll), then purge the raw
        // polls rolled up; the report stays the same (the 24 h period starts on a whole
        // hour: now is divisible by 3,600, not by 86,400: days and hours both count).
        while !h.roll_up_batch((now - 4_200) * 1000, 50).unwrap().1 {}
        let rolled = h.uptime_report(&subjects, at).unwrap();
        check(&rolled);
        assert_eq!(raw.sets[0].servers[0], rolled.sets[0].servers[0]);
        while h.purge_raw_batch(i64::MAX, 10).unwrap() == 10 {}
        let raw_left: i64 = h
            .conn
            .query_row("SELECT count(*) FROM poll_history", [], |r| r.get(0))
            .unwrap();
        assert_eq!(raw_left, 1);
        let before = h.rows_scanned();
        let purged = h.uptime_report(&subjects, at).unwrap();
        assert_eq!(purged, rolled);
        // a: its raw poll in each period, the day of −3 d in 7 d and 30 d, the day of −20 d
        // in 30 d; b: its hour of 100 polls in each period.
        assert_eq!(h.rows_scanned() - before, 3 + 2 + 1 + 3);
    }

    #[test]
    fn sla_series_per_hour_and_exports() {
        let mut h = History::open(None).unwrap();
        let from = 1_800_000_000i64;
        let rows: Vec<HistoryRow> = (0..24)
            .map(|i| poll(from + i * 3_600 + 60, "a<b", i % 4 != 0, 10.0))
            .collect();
        h.insert(&rows).unwrap();
        let subjects = vec![("web \"x\"".to_string(), vec!["a<b".to_string()])];
        // The set in the rows is "web": a set name not in the history reports no polls.
        let none = h.sla_report(&subjects, from, from + 86_400).unwrap();
        assert_eq!(none.sets[0].total.polls, 0);
        let subjects = vec![("web".to_string(), vec!["a<b".to_string()])];
        let r = h.sla_report(&subjects, from, from + 86_400).unwrap();
        assert_eq!(r.slot_secs, 3_600);
        assert_eq!(r.sets[0].series.len(), 24);
        assert!(r.sets[0].series.iter().all(|s| s.polls == 1));
        assert_eq!(r.sets[0].series[4].failures, 1);
        assert_eq!((r.sets[0].total.polls, r.sets[0].total.failures), (24, 6));
        let csv = crate::store::sla_export::to_csv(&r);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        // 10 ms reads back as 9.92: the sketch's bin, within 2 %.
        assert!(
            lines[1].ends_with(",web,,24,6,75.000,9.92,9.92,9.92"),
            "{}",
            lines[1]
        );
        assert!(lines[2].contains(",web,a<b,24,6,75.000,"), "{}", lines[2]);
        let html = crate::store::sla_export::to_html(&r);
        assert!(html.contains("<svg") && html.contains("<polyline"));
        assert_eq!(html.matches(" points=\"").count(), 1);
        assert!(html.contains("a&lt;b") && !html.contains("a<b"));
        // Self-contained: no script, no file or address to fetch.
        for outside in ["<script", "src=", "href=", "url("] {
            assert!(!html.contains(outside), "{outside}");
        }
        assert_eq!(
            parse_bound("2027-01-15", "from", false).unwrap(),
            1_800_000_000 - 28_800
        );
        assert_eq!(
            parse_bound("2027-01-15", "to", true).unwrap(),
            1_800_000_000 - 28_800 + 86_400
        );
        assert_eq!(
            parse_bound(" 1800000000 ", "to", true).unwrap(),
            1_800_000_000
        );
        assert!(
            parse_bound("15/01/2027", "from", false)
                .unwrap_err()
                .to_string()
                .starts_with("from: ")
        );
        // A week: per day.
        assert_eq!(
            h.sla_report(&subjects, from, from + 7 * 86_400)
                .unwrap()
                .slot_secs,
            86_400
        );
    }
}

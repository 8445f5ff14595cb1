//! Rollups in two tiers: one row per server per hour and one per server per day (polls,
//! failures, min / mean / max and a [`Sketch`] of response times), written together from
//! the raw polls as they age past the **frontier**, and purged after the purge period. A
//! report over 30 days reads some 80 rows per server (`report.rs`), not its raw polls.
//!
//! **Invariant (the frontier):** a raw poll is in the rollups if and only if its time is
//! before the frontier (`rollup_state.frontier_ms`). A rollup batch adds the raw polls from
//! the frontier on to both tiers and moves the frontier past them in one transaction; a
//! poll stored late, behind the frontier, is added to the tiers by its insert's
//! transaction. So every stored poll counts once: reports read the tiers plus the raw
//! polls from the frontier on. Raw polls stay for the History dialog until the raw period
//! ends, and only polls behind the frontier are ever deleted.
//!
//! Every pass walks an index on time (or a server's key range) in bounded batches, one
//! transaction each, so the history thread takes new rows and answers between two
//! batches (`writer.rs`).

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};

use super::history::{History, HistoryError};
use super::sketch::Sketch;

/// How often the engine starts a maintenance pass (rollup, then the purges).
pub const PASS_SECS: i64 = 300;
/// A pass rolls up the polls older than this: the raw part of a report is a few minutes.
pub const ROLLUP_LAG_SECS: i64 = 60;
/// Raw rows per rollup or raw-purge batch: some 20-60 ms of the history thread
/// (BENCHMARKS.md).
pub const ROLLUP_BATCH_ROWS: usize = 5_000;
/// Servers whose old rollups one purge batch deletes.
pub const PURGE_BATCH_SUBJECTS: usize = 200;

/// A rollup tier: its table and the length of its buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    Hour,
    Day,
}

impl Tier {
    pub const ALL: [Tier; 2] = [Tier::Hour, Tier::Day];

    pub fn secs(self) -> i64 {
        match self {
            Tier::Hour => 3_600,
            Tier::Day => 86_400,
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            Tier::Hour => "poll_rollup_hour",
            Tier::Day => "poll_rollup_day",
        }
    }

    /// The bucket (its start, Unix seconds) a time in ms falls in.
    pub fn bucket_of(self, time_ms: i64) -> i64 {
        time_ms.div_euclid(self.secs() * 1000) * self.secs()
    }
}

/// One bucket's figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Bucket {
    pub polls: u64,
    pub failures: u64,
    /// Polls with a response time.
    pub timed: u64,
    pub min_us: Option<i64>,
    pub max_us: Option<i64>,
    pub sum_us: i64,
    pub sketch: Sketch,
}

impl Bucket {
    pub fn add(&mut self, success: bool, response_ms: Option<f64>) {
        self.polls += 1;
        if !success {
            self.failures += 1;
        }
        if let Some(ms) = response_ms.filter(|ms| ms.is_finite() && *ms >= 0.0) {
            let us = (ms * 1000.0).round() as i64;
            self.timed += 1;
            self.sum_us = self.sum_us.saturating_add(us);
            self.min_us = Some(self.min_us.map_or(us, |m| m.min(us)));
            self.max_us = Some(self.max_us.map_or(us, |m| m.max(us)));
            self.sketch.add(ms);
        }
    }

    pub fn merge(&mut self, other: &Bucket) {
        self.polls += other.polls;
        self.failures += other.failures;
        self.timed += other.timed;
        self.sum_us = self.sum_us.saturating_add(other.sum_us);
        self.min_us = match (self.min_us, other.min_us) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.max_us = match (self.max_us, other.max_us) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.sketch.merge(&other.sketch);
    }
}

/// A raw poll as the rollups need it.
pub(super) struct RawPoll {
    pub time_ms: i64,
    pub set: String,
    pub server: String,
    pub success: bool,
    pub response_ms: Option<f64>,
}

/// The id of (set, server) in `history_subject`, made if new.
fn subject(
    tx: &Transaction<'_>,
    cache: &mut HashMap<(String, String), i64>,
    set: &str,
    server: &str,
) -> Result<i64, rusqlite::Error> {
    if let Some(id) = cache.get(&(set.to_string(), server.to_string())) {
        return Ok(*id);
    }
    tx.prepare_cached("INSERT OR IGNORE INTO history_subject (set_name, server) VALUES (?1, ?2)")?
        .execute(params![set, server])?;
    let id: i64 = tx
        .prepare_cached("SELECT id FROM history_subject WHERE set_name = ?1 AND server = ?2")?
        .query_row(params![set, server], |r| r.get(0))?;
    cache.insert((set.to_string(), server.to_string()), id);
    Ok(id)
}

/// Adds polls to both tiers: grouped per server and hour first, so that a batch reads and
/// writes each hour's and day's row once.
pub(super) fn add_to_tiers(
    tx: &Transaction<'_>,
    cache: &mut HashMap<(String, String), i64>,
    polls: &[RawPoll],
) -> Result<(), rusqlite::Error> {
    let mut by_name: HashMap<(&str, &str, i64), Bucket> = HashMap::new();
    for p in polls {
        by_name
            .entry((&p.set, &p.server, Tier::Hour.bucket_of(p.time_ms)))
            .or_default()
            .add(p.success, p.response_ms);
    }
    let mut hours: HashMap<(i64, i64), Bucket> = HashMap::with_capacity(by_name.len());
    for ((set, server, hour), fresh) in by_name {
        let id = subject(tx, cache, set, server)?;
        hours.entry((id, hour)).or_default().merge(&fresh);
    }
    merge_hours_and_days(tx, hours)
}

/// Merges fresh buckets, keyed by (subject, hour), into the hour tier and, summed per day,
/// into the day tier: each stored row is read and written once.
fn merge_hours_and_days(
    tx: &rusqlite::Connection,
    hours: HashMap<(i64, i64), Bucket>,
) -> Result<(), rusqlite::Error> {
    let mut days: HashMap<(i64, i64), Bucket> = HashMap::new();
    for ((subject, hour), fresh) in hours {
        merge_into(tx, Tier::Hour, subject, hour, &fresh)?;
        days.entry((subject, Tier::Day.bucket_of(hour * 1000)))
            .or_default()
            .merge(&fresh);
    }
    for ((subject, day), fresh) in days {
        merge_into(tx, Tier::Day, subject, day, &fresh)?;
    }
    Ok(())
}

fn merge_into(
    tx: &rusqlite::Connection,
    tier: Tier,
    subject: i64,
    bucket: i64,
    fresh: &Bucket,
) -> Result<(), rusqlite::Error> {
    let mut merged = read_bucket(tx, tier, subject, bucket)?.unwrap_or_default();
    merged.merge(fresh);
    write_bucket(tx, tier, subject, bucket, &merged)
}

/// Schema 2 → 3: the 5-minute rollups folded into hours and days (their percentile
/// sketches merge exactly, so nothing is lost but the 5-minute detail).
pub(super) fn fold_five_minute_rollups(tx: &Transaction<'_>) -> Result<(), rusqlite::Error> {
    let mut hours: HashMap<(i64, i64), Bucket> = HashMap::new();
    {
        let mut stmt = tx.prepare(
            "SELECT polls, failures, timed, min_us, max_us, sum_us, sketch, subject, bucket
             FROM poll_rollup",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let b = bucket_from_row(row)?;
            let (subject, start): (i64, i64) = (row.get(7)?, row.get(8)?);
            hours
                .entry((subject, Tier::Hour.bucket_of(start * 1000)))
                .or_default()
                .merge(&b);
        }
    }
    merge_hours_and_days(tx, hours)
}

impl History {
    /// Rolls up at most `max_rows` (more only when that many share one millisecond) raw
    /// polls from the frontier on and before `cutoff_ms`, and moves the frontier past them,
    /// in one transaction. Returns how many, and whether the frontier reached the cutoff.
    pub fn roll_up_batch(
        &mut self,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> Result<(usize, bool), HistoryError> {
        if cutoff_ms <= self.frontier_ms {
            return Ok((0, true));
        }
        let mut cache = std::mem::take(&mut self.subjects);
        let done = Self::roll_up_in(
            &mut self.conn,
            &mut cache,
            self.frontier_ms,
            cutoff_ms,
            max_rows,
        );
        match done {
            Ok((n, frontier)) => {
                self.subjects = cache;
                self.frontier_ms = frontier;
                Ok((n, frontier >= cutoff_ms))
            }
            // Ids made in a transaction that rolled back are not in the file: forget them.
            Err(e) => Err(self.err(e)),
        }
    }

    fn roll_up_in(
        conn: &mut rusqlite::Connection,
        cache: &mut HashMap<(String, String), i64>,
        frontier_ms: i64,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> Result<(usize, i64), rusqlite::Error> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // One row more than the batch: the frontier stops at a millisecond whose polls are
        // all in this batch or all in the next.
        let mut polls = read_polls(
            &tx,
            "SELECT time_ms, set_name, server, success, response_ms FROM poll_history
             INDEXED BY poll_history_time
             WHERE time_ms >= ?1 AND time_ms < ?2 ORDER BY time_ms LIMIT ?3",
            params![frontier_ms, cutoff_ms, max_rows as i64 + 1],
        )?;
        let frontier = if polls.len() <= max_rows {
            cutoff_ms
        } else {
            let next = polls[max_rows].time_ms;
            polls.retain(|p| p.time_ms < next);
            if polls.is_empty() {
                // More than a batch in one millisecond: that millisecond whole.
                polls = read_polls(
                    &tx,
                    "SELECT time_ms, set_name, server, success, response_ms FROM poll_history
                     INDEXED BY poll_history_time WHERE time_ms = ?1",
                    params![next],
                )?;
                next + 1
            } else {
                next
            }
        };
        add_to_tiers(&tx, cache, &polls)?;
        tx.prepare_cached("UPDATE rollup_state SET frontier_ms = ?1")?
            .execute([frontier])?;
        tx.commit()?;
        Ok((polls.len(), frontier))
    }

    /// Deletes at most `max_rows` of the oldest raw polls before `cutoff_ms` that are
    /// behind the frontier (in the rollups already); returns how many.
    pub fn purge_raw_batch(
        &mut self,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> Result<usize, HistoryError> {
        self.conn
            .execute(
                "DELETE FROM poll_history WHERE rowid IN (
                     SELECT rowid FROM poll_history INDEXED BY poll_history_time
                     WHERE time_ms < ?1 ORDER BY time_ms LIMIT ?2)",
                params![cutoff_ms.min(self.frontier_ms), max_rows as i64],
            )
            .map_err(|e| self.err(e))
    }

    /// Deletes the `tier` rollups before `cutoff_bucket` of at most
    /// [`PURGE_BATCH_SUBJECTS`] servers with ids above `after`, one key range each, in one
    /// transaction. Returns the rows deleted and the last id done (`None` when every
    /// server is done).
    pub fn purge_rollups_batch(
        &mut self,
        tier: Tier,
        cutoff_bucket: i64,
        after: i64,
    ) -> Result<(usize, Option<i64>), HistoryError> {
        let run =
            |conn: &mut rusqlite::Connection| -> Result<(usize, Option<i64>), rusqlite::Error> {
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let ids: Vec<i64> = tx
                    .prepare_cached(
                        "SELECT id FROM history_subject WHERE id > ?1 ORDER BY id LIMIT ?2",
                    )?
                    .query_map(params![after, PURGE_BATCH_SUBJECTS as i64], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                let mut deleted = 0;
                {
                    let mut delete = tx.prepare_cached(&format!(
                        "DELETE FROM {} WHERE subject = ?1 AND bucket < ?2",
                        tier.table()
                    ))?;
                    for id in &ids {
                        deleted += delete.execute(params![id, cutoff_bucket])?;
                    }
                }
                tx.commit()?;
                let next = (ids.len() == PURGE_BATCH_SUBJECTS)
                    .then(|| ids.last().copied())
                    .flatten();
                Ok((deleted, next))
            };
        run(&mut self.conn).map_err(|e| self.err(e))
    }

    /// Deletes at most `max_rows` of the oldest events before `cutoff_ms`; returns how many.
    pub fn purge_events_batch(
        &mut self,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> Result<usize, HistoryError> {
        self.conn
            .execute(
                "DELETE FROM history_event WHERE id IN (
                     SELECT id FROM history_event INDEXED BY history_event_time
                     WHERE time_ms < ?1 ORDER BY time_ms LIMIT ?2)",
                params![cutoff_ms, max_rows as i64],
            )
            .map_err(|e| self.err(e))
    }
}

fn read_polls(
    tx: &rusqlite::Connection,
    sql: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<RawPoll>, rusqlite::Error> {
    tx.prepare_cached(sql)?
        .query_map(args, |r| {
            Ok(RawPoll {
                time_ms: r.get(0)?,
                set: r.get(1)?,
                server: r.get(2)?,
                success: r.get(3)?,
                response_ms: r.get(4)?,
            })
        })?
        .collect()
}

pub(super) fn read_bucket(
    tx: &rusqlite::Connection,
    tier: Tier,
    subject: i64,
    bucket: i64,
) -> Result<Option<Bucket>, rusqlite::Error> {
    tx.prepare_cached(&format!(
        "SELECT polls, failures, timed, min_us, max_us, sum_us, sketch FROM {}
         WHERE subject = ?1 AND bucket = ?2",
        tier.table()
    ))?
    .query_row(params![subject, bucket], bucket_from_row)
    .optional()
}

/// A rollup row from its columns `polls, failures, timed, min_us, max_us, sum_us, sketch`.
pub(super) fn bucket_from_row(r: &rusqlite::Row<'_>) -> Result<Bucket, rusqlite::Error> {
    let blob: Vec<u8> = r.get(6)?;
    Ok(Bucket {
        polls: r.get::<_, i64>(0)?.max(0) as u64,
        failures: r.get::<_, i64>(1)?.max(0) as u64,
        timed: r.get::<_, i64>(2)?.max(0) as u64,
        min_us: r.get(3)?,
        max_us: r.get(4)?,
        sum_us: r.get(5)?,
        // A damaged sketch loses its bucket's percentiles, never its counts.
        sketch: Sketch::decode(&blob).unwrap_or_default(),
    })
}

/// Writes one rollup row (the benchmark writes its months of rollups with it).
pub fn write_bucket(
    tx: &rusqlite::Connection,
    tier: Tier,
    subject: i64,
    bucket: i64,
    b: &Bucket,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {}
             (subject, bucket, polls, failures, timed, min_us, max_us, sum_us, sketch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        tier.table()
    ))?
    .execute(params![
        subject,
        bucket,
        b.polls as i64,
        b.failures as i64,
        b.timed as i64,
        b.min_us,
        b.max_us,
        b.sum_us,
        b.sketch.encode()
    ])?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::HashSet;
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::store::history::{HistoryFilter, HistoryRow, to_millis};

    fn poll(secs: i64, server: &str, success: bool, ms: f64) -> HistoryRow {
        HistoryRow {
            time: UNIX_EPOCH + Duration::from_secs(secs as u64),
            set: "web".into(),
            server: server.into(),
            status: if success { "OK" } else { "failed" }.into(),
            success,
            response: String::new(),
            response_ms: success.then_some(ms),
            code: (!success).then_some(124),
            changed: false,
        }
    }

    fn count(h: &History, sql: &str) -> i64 {
        h.conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// Every stored poll is counted once, before and after its rollup, late or not, and
    /// each batch holds at most its bound of raw rows; raw rows go only once rolled up.
    #[test]
    fn rollups_lose_nothing_and_go_in_bounded_batches() {
        let mut h = History::open(None).unwrap();
        let start = 1_800_000_000; // an hour boundary
        let rows: Vec<HistoryRow> = (0..1000)
            .map(|i| {
                poll(
                    start + i * 97,
                    ["a", "b", "c"][i as usize % 3],
                    i % 9 != 0,
                    (i % 50) as f64 + 0.5,
                )
            })
            .collect();
        h.insert(&rows).unwrap();
        let subjects = vec![("web".to_string(), vec!["a".into(), "b".into(), "c".into()])];
        let (from, to) = (start - 3_600, start + 100_000);
        let before = h.sla_report(&subjects, from, to).unwrap();
        assert_eq!(before.sets[0].total.polls, 1000);
        let cutoff = (start + 90_000) * 1000;
        let mut batches = 0;
        loop {
            let (n, done) = h.roll_up_batch(cutoff, 64).unwrap();
            assert!(n <= 64);
            batches += 1;
            if done {
                break;
            }
        }
        assert!(batches >= 15, "{batches} batches");
        assert_eq!(h.frontier_ms, cutoff);
        let rolled: Vec<&HistoryRow> = rows.iter().filter(|r| to_millis(r.time) < cutoff).collect();
        // One row per server per hour, and per server per day.
        for (tier, table) in [
            (Tier::Hour, "poll_rollup_hour"),
            (Tier::Day, "poll_rollup_day"),
        ] {
            let keys: HashSet<(String, i64)> = rolled
                .iter()
                .map(|r| (r.server.clone(), tier.bucket_of(to_millis(r.time))))
                .collect();
            let sql = format!("SELECT count(*) FROM {table}");
            assert_eq!(count(&h, &sql) as usize, keys.len(), "{table}");
            let sql = format!("SELECT sum(polls) FROM {table}");
            assert_eq!(count(&h, &sql) as usize, rolled.len(), "{table}");
        }
        let after = h.sla_report(&subjects, from, to).unwrap();
        assert_eq!(after, before);
        assert_eq!(after.sets[0].total.failures, 112);
        // min / max of an hour are exact.
        let (min, max): (i64, i64) = h
            .conn
            .query_row(
                "SELECT min_us, max_us FROM poll_rollup_hour r JOIN history_subject s ON s.id = r.subject
                 WHERE s.server = 'a' AND r.bucket = ?1",
                [start],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let exact: Vec<i64> = rolled
            .iter()
            .filter(|r| r.server == "a" && Tier::Hour.bucket_of(to_millis(r.time)) == start)
            .filter_map(|r| r.response_ms.map(|ms| (ms * 1000.0) as i64))
            .collect();
        assert_eq!(
            (min, max),
            (*exact.iter().min().unwrap(), *exact.iter().max().unwrap())
        );
        // The raw rows stay for the dialog until purged.
        assert_eq!(h.query(&HistoryFilter::default()).unwrap().len(), 1000);
        // A poll stored late, behind the frontier, counts at once; one ahead of it waits
        // for the next batch; either way once.
        h.insert(&[
            poll(start + 10, "a", false, 1.0),
            poll(start + 95_000, "a", false, 1.0),
        ])
        .unwrap();
        let late = h.sla_report(&subjects, from, to).unwrap();
        assert_eq!(
            (late.sets[0].total.polls, late.sets[0].total.failures),
            (1002, 114)
        );
        let frontier = (start + 95_001) * 1000;
        assert!(h.roll_up_batch(frontier, 64).unwrap().1);
        assert_eq!(h.sla_report(&subjects, from, to).unwrap(), late);
        // The raw purge deletes in batches and never past the frontier.
        let mut purged = 0;
        loop {
            let n = h.purge_raw_batch(i64::MAX, 100).unwrap();
            assert!(n <= 100);
            purged += n;
            if n < 100 {
                break;
            }
        }
        let times: Vec<i64> = rows.iter().map(|r| to_millis(r.time)).collect();
        assert_eq!(purged, times.iter().filter(|t| **t < frontier).count() + 2);
        assert_eq!(
            count(&h, "SELECT min(time_ms) FROM poll_history"),
            *times.iter().filter(|t| **t >= frontier).min().unwrap()
        );
        assert_eq!(h.sla_report(&subjects, from, to).unwrap(), late);
    }

    /// A batch never splits the polls of one millisecond: the frontier would have to stop
    /// inside it.
    #[test]
    fn a_millisecond_of_many_polls_rolls_up_whole() {
        let mut h = History::open(None).unwrap();
        let rows: Vec<HistoryRow> = (0..10)
            .map(|i| poll(3_600, &format!("s{i}"), true, 1.0))
            .chain([poll(3_601, "s0", true, 1.0)])
            .collect();
        h.insert(&rows).unwrap();
        assert_eq!(h.roll_up_batch(7_200_000, 3).unwrap(), (10, false));
        assert_eq!(h.frontier_ms, 3_600_001);
        assert_eq!(h.roll_up_batch(7_200_000, 3).unwrap(), (1, true));
        assert_eq!(count(&h, "SELECT sum(polls) FROM poll_rollup_day"), 11);
    }

    #[test]
    fn old_rollups_and_events_purge_in_batches_of_servers() {
        let mut h = History::open(None).unwrap();
        let servers: Vec<String> = (0..(PURGE_BATCH_SUBJECTS + 50))
            .map(|i| format!("s{i}"))
            .collect();
        let rows: Vec<HistoryRow> = servers
            .iter()
            .flat_map(|s| [poll(0, s, true, 1.0), poll(90_000, s, true, 1.0)])
            .collect();
        h.insert(&rows).unwrap();
        while !h.roll_up_batch(100_000_000, 1_000).unwrap().1 {}
        for tier in Tier::ALL {
            let sql = format!("SELECT count(*) FROM {}", tier.table());
            assert_eq!(count(&h, &sql) as usize, 2 * servers.len());
            let (n, next) = h.purge_rollups_batch(tier, 86_400, i64::MIN).unwrap();
            assert_eq!(n, PURGE_BATCH_SUBJECTS);
            let (n, last) = h.purge_rollups_batch(tier, 86_400, next.unwrap()).unwrap();
            assert_eq!((n, last), (50, None));
            assert_eq!(count(&h, &sql) as usize, servers.len());
            let sql = format!("SELECT min(bucket) FROM {}", tier.table());
            assert_eq!(count(&h, &sql), tier.bucket_of(90_000_000));
        }
    }
}

//! Rollups: raw polls older than the raw period become one row per server per
//! [`BUCKET_SECS`] (polls, failures, min / mean / max and a [`Sketch`] of response times),
//! and rollups older than the purge period go. Both walk an index on time in bounded
//! batches, one transaction each, so that the history thread takes new rows and answers
//! queries between two batches (`writer.rs`).
//!
//! **Invariant:** a stored poll is never lost to a rollup: its batch adds it to its bucket
//! and deletes it in one transaction, so a poll is always counted once — as a raw row or
//! in a bucket — and reports over both never count it twice.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Transaction, params};

use super::history::{History, HistoryError};
use super::sketch::Sketch;

/// A rollup bucket's length: 288 rows per server per day (measured in BENCHMARKS.md).
pub const BUCKET_SECS: i64 = 300;
/// Raw rows per rollup batch: some 20-60 ms of the history thread (BENCHMARKS.md).
pub const ROLLUP_BATCH_ROWS: usize = 5_000;
/// Servers whose old rollups one purge batch deletes.
pub const PURGE_BATCH_SUBJECTS: usize = 200;

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

/// The bucket (its start, Unix seconds) a time in ms falls in.
pub fn bucket_of(time_ms: i64) -> i64 {
    time_ms.div_euclid(BUCKET_SECS * 1000) * BUCKET_SECS
}

impl History {
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
        tx.prepare_cached(
            "INSERT OR IGNORE INTO history_subject (set_name, server) VALUES (?1, ?2)",
        )?
        .execute(params![set, server])?;
        let id: i64 = tx
            .prepare_cached("SELECT id FROM history_subject WHERE set_name = ?1 AND server = ?2")?
            .query_row(params![set, server], |r| r.get(0))?;
        cache.insert((set.to_string(), server.to_string()), id);
        Ok(id)
    }

    /// Rolls up at most `max_rows` of the oldest raw polls before `cutoff_ms` (pass a
    /// bucket boundary, so that buckets are whole) and deletes them, in one transaction.
    /// Returns how many; fewer than `max_rows` means none is left before the cutoff.
    pub fn roll_up_batch(
        &mut self,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> Result<usize, HistoryError> {
        let mut cache = std::mem::take(&mut self.subjects);
        let done = Self::roll_up_in(&mut self.conn, &mut cache, cutoff_ms, max_rows);
        match done {
            Ok(n) => {
                self.subjects = cache;
                Ok(n)
            }
            // Ids made in a transaction that rolled back are not in the file: forget them.
            Err(e) => Err(self.err(e)),
        }
    }

    fn roll_up_in(
        conn: &mut rusqlite::Connection,
        cache: &mut HashMap<(String, String), i64>,
        cutoff_ms: i64,
        max_rows: usize,
    ) -> Result<usize, rusqlite::Error> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut rowids = Vec::with_capacity(max_rows);
        let mut buckets: HashMap<(String, String, i64), Bucket> = HashMap::new();
        {
            let mut stmt = tx.prepare_cached(
                "SELECT rowid, time_ms, set_name, server, success, response_ms FROM poll_history
                 INDEXED BY poll_history_time
                 WHERE time_ms < ?1 ORDER BY time_ms LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![cutoff_ms, max_rows as i64])?;
            while let Some(row) = rows.next()? {
                rowids.push(row.get::<_, i64>(0)?);
                let time_ms: i64 = row.get(1)?;
                let key = (row.get(2)?, row.get(3)?, bucket_of(time_ms));
                buckets
                    .entry(key)
                    .or_default()
                    .add(row.get(4)?, row.get(5)?);
            }
        }
        for ((set, server, bucket), fresh) in buckets {
            let subject = Self::subject(&tx, cache, &set, &server)?;
            let mut merged = read_bucket(&tx, subject, bucket)?.unwrap_or_default();
            merged.merge(&fresh);
            write_bucket(&tx, subject, bucket, &merged)?;
        }
        {
            let mut delete = tx.prepare_cached("DELETE FROM poll_history WHERE rowid = ?1")?;
            for rowid in &rowids {
                delete.execute([rowid])?;
            }
        }
        tx.commit()?;
        Ok(rowids.len())
    }

    /// Deletes the rollups before `cutoff_bucket` of at most [`PURGE_BATCH_SUBJECTS`]
    /// servers with ids above `after`, one key range each, in one transaction. Returns the
    /// rows deleted and the last id done (`None` when every server is done).
    pub fn purge_rollups_batch(
        &mut self,
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
                    let mut delete = tx.prepare_cached(
                        "DELETE FROM poll_rollup WHERE subject = ?1 AND bucket < ?2",
                    )?;
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

pub(super) fn read_bucket(
    tx: &rusqlite::Connection,
    subject: i64,
    bucket: i64,
) -> Result<Option<Bucket>, rusqlite::Error> {
    tx.prepare_cached(
        "SELECT polls, failures, timed, min_us, max_us, sum_us, sketch FROM poll_rollup
         WHERE subject = ?1 AND bucket = ?2",
    )?
    .query_row(params![subject, bucket], bucket_from_row)
    .optional()
}

/// A `poll_rollup` row from its columns `polls, failures, timed, min_us, max_us, sum_us,
/// sketch`.
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

fn write_bucket(
    tx: &rusqlite::Connection,
    subject: i64,
    bucket: i64,
    b: &Bucket,
) -> Result<(), rusqlite::Error> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO poll_rollup
             (subject, bucket, polls, failures, timed, min_us, max_us, sum_us, sketch)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
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
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::store::history::{HistoryFilter, HistoryRow};

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

    /// Every stored poll is counted once, before and after its rollup, and each batch
    /// holds at most its bound of raw rows.
    #[test]
    fn rollups_lose_nothing_and_go_in_bounded_batches() {
        let mut h = History::open(None).unwrap();
        let start = 1_800_000_000; // a bucket boundary (divisible by 300)
        let rows: Vec<HistoryRow> = (0..1000)
            .map(|i| {
                poll(
                    start + i * 7,
                    ["a", "b", "c"][i as usize % 3],
                    i % 9 != 0,
                    (i % 50) as f64 + 0.5,
                )
            })
            .collect();
        h.insert(&rows).unwrap();
        let subjects = vec![("web".to_string(), vec!["a".into(), "b".into(), "c".into()])];
        let (from, to) = (start - 300, start + 7_200);
        let before = h.sla_report(&subjects, from, to).unwrap();
        let cutoff = bucket_of((start + 7_000) * 1000) * 1000;
        let mut batches = 0;
        loop {
            let n = h.roll_up_batch(cutoff, 64).unwrap();
            assert!(n <= 64);
            batches += 1;
            if n < 64 {
                break;
            }
        }
        assert!(batches >= 15, "{batches} batches");
        let raw_left = count(&h, "SELECT count(*) FROM poll_history");
        let expected_left = rows
            .iter()
            .filter(|r| crate::store::history::to_millis(r.time) >= cutoff)
            .count();
        assert_eq!(raw_left as usize, expected_left);
        // One row per server per bucket.
        let buckets: std::collections::HashSet<(String, i64)> = rows
            .iter()
            .filter(|r| crate::store::history::to_millis(r.time) < cutoff)
            .map(|r| {
                (
                    r.server.clone(),
                    bucket_of(crate::store::history::to_millis(r.time)),
                )
            })
            .collect();
        assert_eq!(
            count(&h, "SELECT count(*) FROM poll_rollup") as usize,
            buckets.len()
        );
        let after = h.sla_report(&subjects, from, to).unwrap();
        assert_eq!(after.sets[0].total.polls, 1000);
        assert_eq!(after.sets[0].total.failures, 112);
        assert_eq!(after.sets[0].total.polls, before.sets[0].total.polls);
        assert_eq!(after.sets[0].total.failures, before.sets[0].total.failures);
        assert_eq!(after.sets[0].servers, before.sets[0].servers);
        // min / max of a bucket are exact.
        let (min, max): (i64, i64) = h
            .conn
            .query_row(
                "SELECT min_us, max_us FROM poll_rollup r JOIN history_subject s ON s.id = r.subject
                 WHERE s.server = 'a' AND r.bucket = ?1",
                [start],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        let exact: Vec<i64> = rows
            .iter()
            .filter(|r| {
                r.server == "a" && bucket_of(crate::store::history::to_millis(r.time)) == start
            })
            .filter_map(|r| r.response_ms.map(|ms| (ms * 1000.0) as i64))
            .collect();
        assert_eq!(
            (min, max),
            (*exact.iter().min().unwrap(), *exact.iter().max().unwrap())
        );
        // The dialog's raw query sees only what is left raw.
        assert_eq!(
            h.query(&HistoryFilter::default()).unwrap().len(),
            expected_left
        );
    }

    #[test]
    fn old_rollups_and_events_purge_in_batches_of_servers() {
        let mut h = History::open(None).unwrap();
        let servers: Vec<String> = (0..(PURGE_BATCH_SUBJECTS + 50))
            .map(|i| format!("s{i}"))
            .collect();
        let rows: Vec<HistoryRow> = servers
            .iter()
            .flat_map(|s| [poll(0, s, true, 1.0), poll(3_600, s, true, 1.0)])
            .collect();
        h.insert(&rows).unwrap();
        while h.roll_up_batch(7_200_000, 1_000).unwrap() == 1_000 {}
        assert_eq!(
            count(&h, "SELECT count(*) FROM poll_rollup") as usize,
            2 * servers.len()
        );
        let (n, next) = h.purge_rollups_batch(1_800, i64::MIN).unwrap();
        assert_eq!(n, PURGE_BATCH_SUBJECTS);
        let (n, last) = h.purge_rollups_batch(1_800, next.unwrap()).unwrap();
        assert_eq!((n, last), (50, None));
        assert_eq!(
            count(&h, "SELECT count(*) FROM poll_rollup") as usize,
            servers.len()
        );
        assert_eq!(count(&h, "SELECT min(bucket) FROM poll_rollup"), 3_600);
    }
}

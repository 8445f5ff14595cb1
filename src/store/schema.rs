//! The history's tables and their migration, by `PRAGMA user_version`:
//!
//! - 0 — the first schema (`poll_history` with an index on `(set_name, time_ms)` only), or
//!   a new file;
//! - 2 — adds the index on `time_ms` (purges and rollups walk it in bounded batches instead
//!   of scanning the table), the index on `(set_name, server, time_ms)` (reports per
//!   server) in place of the old one, the rollups (`history_subject`, `poll_rollup`) and the
//!   event history (`history_event`);
//! - 3 — the 5-minute rollups become two tiers, per hour (`poll_rollup_hour`) and per day
//!   (`poll_rollup_day`), folded from them (their sketches merge exactly); the frontier
//!   (`rollup_state`) starts at the oldest raw poll, which no rollup holds yet.
//!
//! Every step runs in one transaction: a crash midway leaves the old schema, every row in
//! it. No step rewrites or deletes a poll.

use rusqlite::Connection;

/// The schema this code writes.
pub const VERSION: i64 = 3;

const V2: &str = "
    CREATE TABLE IF NOT EXISTS poll_history (
        time_ms INTEGER NOT NULL,
        set_name TEXT NOT NULL,
        server TEXT NOT NULL,
        status TEXT NOT NULL,
        success INTEGER NOT NULL,
        response TEXT NOT NULL,
        response_ms REAL,
        code INTEGER,
        changed INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS poll_history_time ON poll_history(time_ms);
    CREATE INDEX IF NOT EXISTS poll_history_server_time
        ON poll_history(set_name, server, time_ms);
    DROP INDEX IF EXISTS poll_history_set_time;
    CREATE TABLE IF NOT EXISTS history_subject (
        id INTEGER PRIMARY KEY,
        set_name TEXT NOT NULL,
        server TEXT NOT NULL,
        UNIQUE (set_name, server)
    );
    -- One row per server per bucket; times in microseconds as integers (varints: 2-4
    -- bytes where a REAL takes 8). Keyed by (subject, bucket): a server's period is one
    -- range of the key, and so is the purge of its old buckets.
    CREATE TABLE IF NOT EXISTS poll_rollup (
        subject INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        polls INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        timed INTEGER NOT NULL,
        min_us INTEGER,
        max_us INTEGER,
        sum_us INTEGER NOT NULL,
        sketch BLOB NOT NULL,
        PRIMARY KEY (subject, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS history_event (
        id INTEGER PRIMARY KEY,
        time_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        set_name TEXT NOT NULL,
        server TEXT NOT NULL,
        text TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS history_event_time ON history_event(time_ms);
";

/// Rollup rows: 2.4 M a day at 100,000 servers (BENCHMARKS.md). Times in microseconds as
/// integers (varints: 2-4 bytes where a REAL takes 8). Keyed by (subject, bucket): a
/// server's period is one range of the key, and so is the purge of its old buckets.
const V3: &str = "
    CREATE TABLE IF NOT EXISTS poll_rollup_hour (
        subject INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        polls INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        timed INTEGER NOT NULL,
        min_us INTEGER,
        max_us INTEGER,
        sum_us INTEGER NOT NULL,
        sketch BLOB NOT NULL,
        PRIMARY KEY (subject, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS poll_rollup_day (
        subject INTEGER NOT NULL,
        bucket INTEGER NOT NULL,
        polls INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        timed INTEGER NOT NULL,
        min_us INTEGER,
        max_us INTEGER,
        sum_us INTEGER NOT NULL,
        sketch BLOB NOT NULL,
        PRIMARY KEY (subject, bucket)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS rollup_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        frontier_ms INTEGER NOT NULL
    );
";

/// Brings the database to [`VERSION`]. A file of a newer version is refused rather than
/// written in a shape this code does not know.
pub fn migrate(conn: &mut Connection) -> Result<(), rusqlite::Error> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > VERSION {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
            Some(format!(
                "history schema version {version} is newer than this program's ({VERSION})"
            )),
        ));
    }
    if version < VERSION {
        let tx = conn.transaction()?;
        if version < 2 {
            tx.execute_batch(V2)?;
        }
        tx.execute_batch(V3)?;
        super::rollup::fold_five_minute_rollups(&tx)?;
        tx.execute_batch("DROP TABLE poll_rollup")?;
        tx.execute(
            "INSERT INTO rollup_state (id, frontier_ms)
             SELECT 1, coalesce(min(time_ms), 0) FROM poll_history",
            [],
        )?;
        tx.pragma_update(None, "user_version", VERSION)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use crate::store::history::{History, HistoryFilter};

    /// `tests/fixtures/history-5ed8d9c.db` was written by the history code of commit
    /// 5ed8d9c (schema 0): 360 polls of 3 servers in 2 sets, one a minute for 2 hours from
    /// 2026-11-01T00:00Z; a poll fails when (minute + length of the address) % 7 == 0.
    #[test]
    fn a_database_of_the_first_schema_migrates_without_losing_a_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.db");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/history-5ed8d9c.db"
            ),
            &path,
        )
        .unwrap();
        let mut h = History::open(Some(&path)).unwrap();
        let version: i64 = h
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, super::VERSION);
        let rows = h.query(&HistoryFilter::default()).unwrap();
        assert_eq!(rows.len(), 360);
        let failures = rows.iter().filter(|r| !r.success).count();
        let expected = (0..120u64)
            .flat_map(|i| [9u64, 9, 9].map(|len| (i + len) % 7 == 0))
            .filter(|f| *f)
            .count();
        assert_eq!(failures, expected);
        assert!(rows.iter().any(|r| r.response == "timeout, \"slow\""));
        // The purge's query walks the new index on time, not the table.
        let plan: String = h
            .conn
            .query_row(
                "EXPLAIN QUERY PLAN SELECT rowid FROM poll_history WHERE time_ms < 1 ORDER BY time_ms LIMIT 10",
                [],
                |r| r.get(3),
            )
            .unwrap();
        assert!(plan.contains("poll_history_time"), "{plan}");
        // Rolled up, the same polls count in the report.
        let start = 1_793_491_200;
        while !h.roll_up_batch((start + 3 * 3600) * 1000, 100).unwrap().1 {}
        let subjects = vec![
            (
                "web".to_string(),
                vec!["127.0.0.2".into(), "127.0.0.3".into()],
            ),
            ("mail".to_string(), vec!["127.0.0.4".into()]),
        ];
        let report = h.sla_report(&subjects, start, start + 3 * 3600).unwrap();
        let polls: u64 = report.sets.iter().map(|s| s.total.polls).sum();
        let failed: u64 = report.sets.iter().map(|s| s.total.failures).sum();
        assert_eq!((polls, failed as usize), (360, expected));
        // Opening again migrates nothing more and keeps everything.
        drop(h);
        let h = History::open(Some(&path)).unwrap();
        assert_eq!(
            h.sla_report(&subjects, start, start + 3 * 3600).unwrap(),
            report
        );
    }

    /// `tests/fixtures/history-17b2845.db` was written by the history code of commit
    /// 17b2845 (schema 2): polls of 3 servers in 2 sets ("web": 127.0.0.2, 127.0.0.3;
    /// "mail": 127.0.0.4) once a minute for 3 hours from 2026-11-01T00:00Z, a poll failing
    /// when (minute + length of set and address) % 5 == 0, response (minute % 40) + 0.5 ms;
    /// the first 2 hours rolled up into 5-minute buckets (72 rows), the last hour raw (180
    /// polls), and one DNS-update event.
    #[test]
    fn a_database_of_schema_2_migrates_its_rollups_into_hours_and_days() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.db");
        std::fs::copy(
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/history-17b2845.db"
            ),
            &path,
        )
        .unwrap();
        let start = 1_793_491_200i64;
        let servers = [
            ("web", "127.0.0.2"),
            ("web", "127.0.0.3"),
            ("mail", "127.0.0.4"),
        ];
        let fails =
            |m: i64, set: &str, server: &str| (m + (set.len() + server.len()) as i64) % 5 == 0;
        let mut h = History::open(Some(&path)).unwrap();
        let count =
            |h: &History, sql: &str| -> i64 { h.conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count(&h, "PRAGMA user_version"), super::VERSION);
        assert_eq!(count(&h, "SELECT count(*) FROM poll_history"), 180);
        // 2 hours of 3 servers; the 5-minute table is gone.
        assert_eq!(count(&h, "SELECT count(*) FROM poll_rollup_hour"), 6);
        assert_eq!(count(&h, "SELECT count(*) FROM poll_rollup_day"), 3);
        assert_eq!(count(&h, "SELECT sum(polls) FROM poll_rollup_day"), 360);
        let gone: i64 = count(
            &h,
            "SELECT count(*) FROM sqlite_master WHERE name = 'poll_rollup'",
        );
        assert_eq!(gone, 0);
        // The frontier is the oldest raw poll: it and those after are not rolled up yet.
        assert_eq!(h.frontier_ms, (start + 7_200) * 1000);
        assert_eq!(h.query_events(&Default::default()).unwrap().len(), 1);
        let subjects = vec![
            (
                "web".to_string(),
                vec!["127.0.0.2".into(), "127.0.0.3".into()],
            ),
            ("mail".to_string(), vec!["127.0.0.4".into()]),
        ];
        let check = |h: &History| {
            let r = h.sla_report(&subjects, start, start + 3 * 3600).unwrap();
            for (set, server) in servers {
                let expected = (0..180).filter(|m| fails(*m, set, server)).count() as u64;
                let s = r.sets.iter().find(|s| s.set == set).unwrap();
                let (_, u) = s.servers.iter().find(|(name, _)| name == server).unwrap();
                assert_eq!((u.polls, u.failures), (180, expected), "{server}");
                // The first hour's percentiles from the folded sketches: minutes 0-59 →
                // 0.5-39.5 ms, p50 of 48 timed polls about 20 ms, within 2 %.
                let hour = s.series[0].polls;
                assert_eq!(hour, 60 * s.servers.len() as u64);
            }
            r
        };
        let before = check(&h);
        let p50 = before.sets[1].servers[0].1.p50_ms.unwrap();
        let mut exact: Vec<f64> = (0..180)
            .filter(|m| !fails(*m, "mail", "127.0.0.4"))
            .map(|m| (m % 40) as f64 + 0.5)
            .collect();
        exact.sort_by(f64::total_cmp);
        let exact_p50 = exact[(exact.len() as f64 * 0.5).ceil() as usize - 1];
        assert!(
            (p50 - exact_p50).abs() / exact_p50 <= 0.021,
            "{p50} vs {exact_p50}"
        );
        // Rolling up the raw hour changes no figure.
        assert!(h.roll_up_batch((start + 3 * 3600) * 1000, 1000).unwrap().1);
        assert_eq!(check(&h), before);
        drop(h);
        let h = History::open(Some(&path)).unwrap();
        assert_eq!(h.frontier_ms, (start + 3 * 3600) * 1000);
        assert_eq!(check(&h), before);
    }
}

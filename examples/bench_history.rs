//! History benchmark: bytes per raw poll and per rollup row on disk, the rollup + purge's
//! time per bounded batch, and the uptime report's time over ~10 million rows.
//!
//! cargo run --release --example bench_history -- [--servers N] [--days D] [--raw-minutes M]
//! Defaults: 1,000 servers, 30 days of 5-minute rollups (8.64 M rows) and 230 minutes of
//! raw polls every 10 s (1.38 M rows): ~10 M rows. The database goes in a temp dir.

#![expect(
    clippy::expect_used,
    reason = "a benchmark: any failure ends it, with its message"
)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::params;
use standby::store::history::{History, HistoryRow};
use standby::store::rollup::{BUCKET_SECS, Bucket, ROLLUP_BATCH_ROWS};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Table and index sizes in bytes, from SQLite's `dbstat`.
fn sizes(conn: &rusqlite::Connection) -> Vec<(String, i64)> {
    let mut stmt = conn
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY name")
        .expect("dbstat");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("dbstat")
        .collect::<Result<_, _>>()
        .expect("dbstat")
}

fn size_of(sizes: &[(String, i64)], names: &[&str]) -> i64 {
    sizes
        .iter()
        .filter(|(n, _)| names.contains(&n.as_str()))
        .map(|(_, b)| b)
        .sum()
}

fn poll(t: u64, server: usize, i: u64) -> HistoryRow {
    let fail = i.is_multiple_of(97);
    HistoryRow {
        time: UNIX_EPOCH + Duration::from_millis(t),
        set: format!("set{}", server / 100),
        server: format!(
            "127.{}.{}.{}",
            20 + server / 65_536,
            (server / 256) % 256,
            server % 256
        ),
        status: if fail { "retrying" } else { "OK" }.into(),
        success: !fail,
        response: if fail {
            "timed out after 5 s".into()
        } else {
            "200 OK".into()
        },
        response_ms: (!fail).then_some(2.0 + ((i * 7919 + server as u64) % 400) as f64 / 10.0),
        code: fail.then_some(124),
        changed: false,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let servers = arg(&args, "--servers", 1_000) as usize;
    let days = arg(&args, "--days", 30);
    let raw_minutes = arg(&args, "--raw-minutes", 230);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("standby.db");
    let mut history = History::open(Some(&path)).expect("open");
    let conn = rusqlite::Connection::open(&path).expect("open");
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "servers {servers}, rollups {days} d, raw {raw_minutes} min; load average {}",
        load.trim()
    );

    // 1. Raw polls, one every 10 s per server, written in batches as the engine does.
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let now_ms = now_ms / (BUCKET_SECS as u64 * 1000) * (BUCKET_SECS as u64 * 1000);
    let raw_start = now_ms - raw_minutes * 60_000;
    let started = Instant::now();
    let mut raw_rows = 0u64;
    let mut t = raw_start;
    let mut i = 0;
    while t < now_ms {
        let batch: Vec<HistoryRow> = (0..servers)
            .map(|s| poll(t + s as u64 % 10_000, s, i))
            .collect();
        raw_rows += batch.len() as u64;
        history.insert(&batch).expect("insert");
        t += 10_000;
        i += 1;
    }
    let insert_secs = started.elapsed().as_secs_f64();
    let s = sizes(&conn);
    let raw_bytes = size_of(
        &s,
        &[
            "poll_history",
            "poll_history_time",
            "poll_history_server_time",
        ],
    );
    println!(
        "raw: {raw_rows} polls in {insert_secs:.1} s ({:.0} polls/s); {:.1} bytes/poll (table {:.1} + indexes {:.1})",
        raw_rows as f64 / insert_secs,
        raw_bytes as f64 / raw_rows as f64,
        size_of(&s, &["poll_history"]) as f64 / raw_rows as f64,
        size_of(&s, &["poll_history_time", "poll_history_server_time"]) as f64 / raw_rows as f64,
    );

    // 2. Rollups of the days before, written directly (one row per server per bucket,
    //    with the sketch of 30 polls like the rollup would write).
    let started = Instant::now();
    let buckets = days * 86_400 / BUCKET_SECS as u64;
    let first_bucket = raw_start / 1000 - buckets * BUCKET_SECS as u64;
    {
        conn.execute_batch("BEGIN").expect("begin");
        for s in 0..servers {
            let set = format!("set{}", s / 100);
            let server = poll(0, s, 1).server;
            conn.execute(
                "INSERT OR IGNORE INTO history_subject (set_name, server) VALUES (?1, ?2)",
                params![set, server],
            )
            .expect("subject");
        }
        let mut insert = conn
            .prepare(
                "INSERT INTO poll_rollup (subject, bucket, polls, failures, timed, min_us, max_us, sum_us, sketch)
                 SELECT id, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10 FROM history_subject WHERE set_name = ?1 AND server = ?2",
            )
            .expect("prepare");
        for b in 0..buckets {
            for s in 0..servers {
                let mut bucket = Bucket::default();
                for k in 0..30 {
                    let p = poll(0, s, b * 30 + k);
                    bucket.add(p.success, p.response_ms);
                }
                let p = poll(0, s, 1);
                insert
                    .execute(params![
                        p.set,
                        p.server,
                        (first_bucket + b * BUCKET_SECS as u64) as i64,
                        bucket.polls as i64,
                        bucket.failures as i64,
                        bucket.timed as i64,
                        bucket.min_us,
                        bucket.max_us,
                        bucket.sum_us,
                        bucket.sketch.encode()
                    ])
                    .expect("rollup");
            }
            if b % 288 == 287 {
                conn.execute_batch("COMMIT; BEGIN").expect("commit");
            }
        }
        conn.execute_batch("COMMIT").expect("commit");
    }
    let rollup_rows = buckets * servers as u64;
    let s = sizes(&conn);
    let rollup_bytes = size_of(&s, &["poll_rollup"]);
    let per_rollup = rollup_bytes as f64 / rollup_rows as f64;
    println!(
        "rollups: {rollup_rows} rows written in {:.1} s; {per_rollup:.1} bytes/row (5-minute bucket of 30 polls)",
        started.elapsed().as_secs_f64()
    );
    let file = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "total rows {}, database file {:.0} MB",
        raw_rows + rollup_rows,
        file as f64 / 1e6
    );

    // 3. The uptime report over all servers (24 h / 7 d / 30 d), and one server's.
    let subjects: Vec<(String, Vec<String>)> = (0..servers.div_ceil(100))
        .map(|k| {
            (
                format!("set{k}"),
                (k * 100..((k + 1) * 100).min(servers))
                    .map(|s| poll(0, s, 1).server)
                    .collect(),
            )
        })
        .collect();
    let at = UNIX_EPOCH + Duration::from_millis(now_ms);
    let started = Instant::now();
    let report = history.uptime_report(&subjects, at).expect("report");
    let all = started.elapsed().as_secs_f64();
    let one = vec![(subjects[0].0.clone(), vec![subjects[0].1[0].clone()])];
    let started = Instant::now();
    let single = history.uptime_report(&one, at).expect("report");
    let one_secs = started.elapsed().as_secs_f64();
    let u = &single.sets[0].servers[0].periods[2];
    println!(
        "uptime report, {servers} servers x 3 periods: {all:.2} s ({:.2} ms/server); one server: {:.1} ms (30 d: {} polls, {:.3} %, p50 {:.1} p95 {:.1} p99 {:.1} ms)",
        all * 1000.0 / servers as f64,
        one_secs * 1000.0,
        u.polls,
        u.percent().unwrap_or(0.0),
        u.p50_ms.unwrap_or(0.0),
        u.p95_ms.unwrap_or(0.0),
        u.p99_ms.unwrap_or(0.0),
    );
    let set_polls: u64 = report.sets.iter().map(|s| s.periods[2].polls).sum();
    println!("  (30 d polls over all sets: {set_polls})");

    // 4. Rollup + purge of the raw polls, batch by batch.
    let started = Instant::now();
    let (mut rolled, mut batches, mut worst) = (0usize, 0, 0f64);
    loop {
        let t = Instant::now();
        let n = history
            .roll_up_batch(now_ms as i64, ROLLUP_BATCH_ROWS)
            .expect("rollup");
        worst = worst.max(t.elapsed().as_secs_f64());
        rolled += n;
        batches += 1;
        if n < ROLLUP_BATCH_ROWS {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rollup + purge: {rolled} raw polls in {batches} batches of {ROLLUP_BATCH_ROWS}, {secs:.1} s ({:.0} polls/s), batch mean {:.1} ms, max {:.1} ms",
        rolled as f64 / secs,
        secs * 1000.0 / batches as f64,
        worst * 1000.0
    );
    let started = Instant::now();
    let cutoff = (first_bucket + buckets / 2 * BUCKET_SECS as u64) as i64;
    let (mut purged, mut after, mut worst) = (0, i64::MIN, 0f64);
    loop {
        let t = Instant::now();
        let (n, next) = history.purge_rollups_batch(cutoff, after).expect("purge");
        worst = worst.max(t.elapsed().as_secs_f64());
        purged += n;
        match next {
            Some(next) => after = next,
            None => break,
        }
    }
    println!(
        "purge of old rollups: {purged} rows in {:.1} s, batch max {:.1} ms",
        started.elapsed().as_secs_f64(),
        worst * 1000.0
    );

    // 5. At 100,000 servers polled every 10 s.
    let raw_per_poll = raw_bytes as f64 / raw_rows as f64;
    let polls_per_day = 100_000.0 * 8_640.0;
    let rollups_per_day = 100_000.0 * 86_400.0 / BUCKET_SECS as f64;
    println!(
        "at 100,000 servers / 10 s: rollups grow {:.2} GB/day ({:.0} GB for 366 days); raw polls {:.1} GB per hour kept ({:.1} GB at the default 48 h)",
        rollups_per_day * per_rollup / 1e9,
        rollups_per_day * per_rollup * 366.0 / 1e9,
        polls_per_day / 24.0 * raw_per_poll / 1e9,
        polls_per_day * 2.0 * raw_per_poll / 1e9,
    );
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average after: {}", load.trim());
}

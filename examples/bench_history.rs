//! History benchmark: bytes per raw poll and per rollup row (hour, day) on disk, the
//! rollup's and the purges' time per bounded batch, and the uptime report's time and rows
//! read per server over ~10 million rows.
//!
//! cargo run --release --example bench_history -- [--servers N] [--days D] [--raw-hours H]
//! Defaults: 1,000 servers, 30 days of hourly and daily rollups (750,000 rows) and 28 hours
//! of raw polls every 10 s (10.08 M rows). The database goes in a temp dir.

#![expect(
    clippy::expect_used,
    reason = "a benchmark: any failure ends it, with its message"
)]

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::params;
use standby::store::history::{History, HistoryRow};
use standby::store::rollup::{Bucket, ROLLUP_BATCH_ROWS, Tier, write_bucket};

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

fn count(conn: &rusqlite::Connection, table: &str) -> i64 {
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
        .expect("count")
}

fn address(server: usize) -> String {
    format!(
        "127.{}.{}.{}",
        20 + server / 65_536,
        (server / 256) % 256,
        server % 256
    )
}

/// Poll `i` of `server`: 1 in 97 fails; response times spread over 2-42 ms.
fn poll(t: u64, server: usize, i: u64) -> HistoryRow {
    let fail = i.is_multiple_of(97);
    HistoryRow {
        time: UNIX_EPOCH + Duration::from_millis(t),
        set: format!("set{}", server / 100),
        server: address(server),
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

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let servers = arg(&args, "--servers", 1_000) as usize;
    let days = arg(&args, "--days", 30);
    let raw_hours = arg(&args, "--raw-hours", 28);
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("standby.db");
    drop(History::open(Some(&path)).expect("open"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    println!(
        "servers {servers}, rollups {days} d, raw {raw_hours} h; load average {}",
        load()
    );
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let now_ms = now_ms / 3_600_000 * 3_600_000;
    let raw_start = now_ms - raw_hours * 3_600_000;

    // 1. Rollups of the days before the raw polls, written directly: one row per server
    //    per hour (360 polls) and per day, the sketches as the rollup makes them.
    let started = Instant::now();
    let hours = days * 24;
    let first_hour = (raw_start / 1000 - hours * 3_600) as i64;
    conn.execute_batch("BEGIN").expect("begin");
    for s in 0..servers {
        conn.execute(
            "INSERT INTO history_subject (id, set_name, server) VALUES (?1, ?2, ?3)",
            params![s as i64 + 1, format!("set{}", s / 100), address(s)],
        )
        .expect("subject");
    }
    for s in 0..servers {
        let mut day = Bucket::default();
        for h in 0..hours {
            let mut bucket = Bucket::default();
            for k in 0..360 {
                let p = poll(0, s, h * 360 + k);
                bucket.add(p.success, p.response_ms);
            }
            let start = first_hour + h as i64 * 3_600;
            write_bucket(&conn, Tier::Hour, s as i64 + 1, start, &bucket).expect("hour");
            day.merge(&bucket);
            if Tier::Day.bucket_of((start + 3_600) * 1000) != Tier::Day.bucket_of(start * 1000)
                || h + 1 == hours
            {
                let d = Tier::Day.bucket_of(start * 1000);
                write_bucket(&conn, Tier::Day, s as i64 + 1, d, &day).expect("day");
                day = Bucket::default();
            }
        }
        if s % 50 == 49 {
            conn.execute_batch("COMMIT; BEGIN").expect("commit");
        }
    }
    conn.execute(
        "UPDATE rollup_state SET frontier_ms = ?1",
        [raw_start as i64],
    )
    .expect("frontier");
    conn.execute_batch("COMMIT").expect("commit");
    let (hour_rows, day_rows) = (
        count(&conn, "poll_rollup_hour"),
        count(&conn, "poll_rollup_day"),
    );
    println!(
        "rollups: {hour_rows} hourly + {day_rows} daily rows written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // 2. Raw polls, one every 10 s per server, written in batches as the engine does.
    let mut history = History::open(Some(&path)).expect("open");
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
    let raw_per_poll = raw_bytes as f64 / raw_rows as f64;
    let per_hour_row = size_of(&s, &["poll_rollup_hour"]) as f64 / hour_rows as f64;
    let per_day_row = size_of(&s, &["poll_rollup_day"]) as f64 / day_rows as f64;
    println!(
        "raw: {raw_rows} polls in {insert_secs:.1} s ({:.0} polls/s); {raw_per_poll:.1} bytes/poll (table {:.1} + indexes {:.1})",
        raw_rows as f64 / insert_secs,
        size_of(&s, &["poll_history"]) as f64 / raw_rows as f64,
        size_of(&s, &["poll_history_time", "poll_history_server_time"]) as f64 / raw_rows as f64,
    );
    println!(
        "rollup rows: {per_hour_row:.1} bytes per hourly row (360 polls), {per_day_row:.1} bytes per daily row (8,640 polls)"
    );
    let file = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "total rows {}, database file {:.0} MB",
        raw_rows as i64 + hour_rows + day_rows,
        file as f64 / 1e6
    );

    // 3. The uptime report over all servers (24 h / 7 d / 30 d): before the raw polls are
    //    rolled up (every raw poll of the periods read) and after (rollups + minutes).
    let subjects: Vec<(String, Vec<String>)> = (0..servers.div_ceil(100))
        .map(|k| {
            (
                format!("set{k}"),
                (k * 100..((k + 1) * 100).min(servers))
                    .map(address)
                    .collect(),
            )
        })
        .collect();
    let at = UNIX_EPOCH + Duration::from_millis(now_ms);
    let report = |history: &History, subjects: &[(String, Vec<String>)], label: &str| {
        let servers: usize = subjects.iter().map(|(_, s)| s.len()).sum();
        let rows_before = history.rows_scanned();
        let started = Instant::now();
        let report = history
            .uptime_report(&subjects.to_vec(), at)
            .expect("report");
        let all = started.elapsed().as_secs_f64();
        let rows = history.rows_scanned() - rows_before;
        let u = &report.sets[0].servers[0].periods[2];
        println!(
            "uptime report {label}, {servers} servers x 3 periods: {all:.2} s ({:.2} ms/server, {} rows read/server); 30 d of one: {} polls, {:.3} %, p50 {:.1} p95 {:.1} p99 {:.1} ms",
            all * 1000.0 / servers as f64,
            rows / servers as u64,
            u.polls,
            u.percent().unwrap_or(0.0),
            u.p50_ms.unwrap_or(0.0),
            u.p95_ms.unwrap_or(0.0),
            u.p99_ms.unwrap_or(0.0),
        );
        report
    };
    // Each period alone, per server (each of the first set's servers, one report each)
    // and per set (the first set's report: all its servers' polls together).
    let per_period = |history: &History, label: &str| {
        let (set, servers) = &subjects[0];
        for period in standby::store::report::PERIODS {
            let (mut sum, mut worst) = (0f64, 0f64);
            let rows_before = history.rows_scanned();
            for server in servers {
                let one = vec![(set.clone(), vec![server.clone()])];
                let started = Instant::now();
                history
                    .uptime_report_over(&one, at, &[period])
                    .expect("report");
                let t = started.elapsed().as_secs_f64();
                sum += t;
                worst = worst.max(t);
            }
            let rows = (history.rows_scanned() - rows_before) / servers.len() as u64;
            let rows_before = history.rows_scanned();
            let started = Instant::now();
            let report = history
                .uptime_report_over(&subjects[..1].to_vec(), at, &[period])
                .expect("report");
            let set_secs = started.elapsed().as_secs_f64();
            let set_rows = history.rows_scanned() - rows_before;
            let u = &report.sets[0].periods[0];
            println!(
                "{label}, {}: per server {:.2} ms mean, {:.2} ms max, {rows} rows read; per set of {} servers {:.1} ms, {set_rows} rows read; the set: {} polls, {:.3} %, p50 {:.1} p95 {:.1} p99 {:.1} ms",
                period.0,
                sum * 1000.0 / servers.len() as f64,
                worst * 1000.0,
                servers.len(),
                set_secs * 1000.0,
                u.polls,
                u.percent().unwrap_or(0.0),
                u.p50_ms.unwrap_or(0.0),
                u.p95_ms.unwrap_or(0.0),
                u.p99_ms.unwrap_or(0.0),
            );
        }
    };
    per_period(&history, "raw polls not rolled up");
    // Over raw polls only the first set (100 servers): it reads every raw poll.
    let raw_report = report(&history, &subjects[..1], "with the raw polls not rolled up");

    // 4. Rollup of the raw polls up to a minute ago, batch by batch.
    let started = Instant::now();
    let (mut rolled, mut batches, mut worst) = (0usize, 0, 0f64);
    loop {
        let t = Instant::now();
        let (n, done) = history
            .roll_up_batch(now_ms as i64 - 60_000, ROLLUP_BATCH_ROWS)
            .expect("rollup");
        worst = worst.max(t.elapsed().as_secs_f64());
        rolled += n;
        batches += 1;
        if done {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rollup: {rolled} raw polls in {batches} batches of {ROLLUP_BATCH_ROWS}, {secs:.1} s ({:.0} polls/s), batch mean {:.1} ms, max {:.1} ms",
        rolled as f64 / secs,
        secs * 1000.0 / batches as f64,
        worst * 1000.0
    );
    per_period(&history, "rolled up");
    let rolled_report = report(&history, &subjects, "rolled up");
    let polls = |r: &standby::store::report::UptimeReport| -> Vec<u64> {
        r.sets.iter().map(|s| s.periods[2].polls).collect()
    };
    // The raw report covers the first set only (above).
    assert_eq!(
        polls(&raw_report)[..],
        polls(&rolled_report)[..1],
        "same polls either way"
    );

    // 5. Purge of the raw polls older than 2 h, then of the rollups older than half the
    //    days, batch by batch.
    let started = Instant::now();
    let (mut purged, mut worst) = (0, 0f64);
    loop {
        let t = Instant::now();
        let n = history
            .purge_raw_batch(now_ms as i64 - 2 * 3_600_000, ROLLUP_BATCH_ROWS)
            .expect("purge");
        worst = worst.max(t.elapsed().as_secs_f64());
        purged += n;
        if n < ROLLUP_BATCH_ROWS {
            break;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "purge of raw polls: {purged} rows in {secs:.1} s ({:.0} rows/s), batch max {:.1} ms",
        purged as f64 / secs,
        worst * 1000.0
    );
    let started = Instant::now();
    let cutoff = first_hour + (hours / 2 * 3_600) as i64;
    let (mut purged, mut worst) = (0, 0f64);
    for tier in Tier::ALL {
        let mut after = i64::MIN;
        loop {
            let t = Instant::now();
            let (n, next) = history
                .purge_rollups_batch(tier, tier.bucket_of(cutoff * 1000), after)
                .expect("purge");
            worst = worst.max(t.elapsed().as_secs_f64());
            purged += n;
            match next {
                Some(next) => after = next,
                None => break,
            }
        }
    }
    println!(
        "purge of old rollups (hours and days): {purged} rows in {:.1} s, batch max {:.1} ms",
        started.elapsed().as_secs_f64(),
        worst * 1000.0
    );

    // 6. At 100,000 servers polled every 10 s.
    let polls_per_day = 100_000.0 * 8_640.0;
    let per_day = 100_000.0 * (24.0 * per_hour_row + per_day_row);
    println!(
        "at 100,000 servers / 10 s: rollups grow {:.3} GB/day ({:.0} GB for 366 days), {:.2} bytes per poll; raw polls {:.1} GB per hour kept",
        per_day / 1e9,
        per_day * 366.0 / 1e9,
        per_day / polls_per_day,
        polls_per_day / 24.0 * raw_per_poll / 1e9,
    );
    println!("load average after: {}", load());
}

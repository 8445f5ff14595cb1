//! Polling history (SPEC §7): every poll result, or only changes of status, in SQLite;
//! rolled up as it ages and deleted after the raw period (`rollup.rs`); filtered by set, server, outcome and dates;
//! saved as CSV. The tables and their migration: `schema.rs`.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

/// One stored poll.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryRow {
    pub time: SystemTime,
    pub set: String,
    /// The server's public address.
    pub server: String,
    /// The status after the poll (`OK`, `retrying`, `failed`...).
    pub status: String,
    pub success: bool,
    pub response: String,
    pub response_ms: Option<f64>,
    /// The problem code of a failed poll.
    pub code: Option<u16>,
    /// The status changed with this poll.
    pub changed: bool,
}

/// Which rows to read.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HistoryFilter {
    pub set: Option<String>,
    pub server: Option<String>,
    pub from: Option<SystemTime>,
    pub to: Option<SystemTime>,
    /// `Some(true)` successes only, `Some(false)` failures only.
    pub success: Option<bool>,
    /// Only polls that changed the status.
    pub changes_only: bool,
    /// At most this many rows, newest kept (0 = no limit).
    pub limit: usize,
}

#[derive(Debug, thiserror::Error)]
#[error("history database {path}: {source}")]
pub struct HistoryError {
    pub path: String,
    pub source: rusqlite::Error,
}

/// The history database.
pub struct History {
    pub(super) conn: Connection,
    path: String,
    /// `history_subject` ids by (set, server), filled as rollups need them.
    pub(super) subjects: std::collections::HashMap<(String, String), i64>,
    /// Raw polls before this time are in the rollups (`rollup.rs`, the frontier).
    pub(super) frontier_ms: i64,
    /// Rows the reports read (`report.rs`).
    pub(super) scanned: std::cell::Cell<u64>,
}

pub(super) fn to_millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(super) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)
}

impl History {
    /// Opens (creating if needed) the database; `None` = in memory (tests, no settings file).
    pub fn open(path: Option<&Path>) -> Result<History, HistoryError> {
        let label = path
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| ":memory:".into());
        let err = |source| HistoryError {
            path: label.clone(),
            source,
        };
        // The shared opener: owner-only file, WAL (the outbox shares it), busy time-out.
        let mut conn = super::open(path).map_err(|e| err(e.source))?;
        super::schema::migrate(&mut conn).map_err(err)?;
        let frontier_ms = conn
            .query_row("SELECT frontier_ms FROM rollup_state", [], |r| r.get(0))
            .map_err(err)?;
        Ok(History {
            conn,
            path: label,
            subjects: std::collections::HashMap::new(),
            frontier_ms,
            scanned: std::cell::Cell::new(0),
        })
    }

    pub(super) fn err(&self, source: rusqlite::Error) -> HistoryError {
        HistoryError {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores rows in one transaction; a row behind the rollups' frontier (stored late) is
    /// added to the rollups in the same transaction, so that it counts once.
    pub fn insert(&mut self, rows: &[HistoryRow]) -> Result<(), HistoryError> {
        let mut cache = std::mem::take(&mut self.subjects);
        let frontier_ms = self.frontier_ms;
        let mut run = || -> Result<(), rusqlite::Error> {
            let tx = self.conn.transaction()?;
            let mut late = Vec::new();
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO poll_history (time_ms, set_name, server, status, success, response, response_ms, code, changed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for r in rows {
                    let time_ms = to_millis(r.time);
                    stmt.execute(params![
                        time_ms,
                        r.set,
                        r.server,
                        r.status,
                        r.success,
                        r.response,
                        r.response_ms,
                        r.code,
                        r.changed
                    ])?;
                    if time_ms < frontier_ms {
                        late.push(super::rollup::RawPoll {
                            time_ms,
                            set: r.set.clone(),
                            server: r.server.clone(),
                            success: r.success,
                            response_ms: r.response_ms,
                        });
                    }
                }
            }
            if !late.is_empty() {
                super::rollup::add_to_tiers(&tx, &mut cache, &late)?;
            }
            tx.commit()
        };
        match run() {
            Ok(()) => {
                self.subjects = cache;
                Ok(())
            }
            // Ids made in a transaction that rolled back are not in the file: forget them.
            Err(e) => Err(self.err(e)),
        }
    }

    /// Rows matching the filter, oldest first.
    pub fn query(&self, f: &HistoryFilter) -> Result<Vec<HistoryRow>, HistoryError> {
        let limit = if f.limit == 0 {
            i64::MAX
        } else {
            f.limit as i64
        };
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT time_ms, set_name, server, status, success, response, response_ms, code, changed FROM (
                   SELECT * FROM poll_history
                   WHERE (?1 IS NULL OR set_name = ?1) AND (?2 IS NULL OR server = ?2)
                     AND (?3 IS NULL OR time_ms >= ?3) AND (?4 IS NULL OR time_ms <= ?4)
                     AND (?5 IS NULL OR success = ?5) AND (?6 = 0 OR changed = 1)
                   ORDER BY time_ms DESC, rowid DESC LIMIT ?7
                 ) ORDER BY time_ms ASC",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(
                params![
                    f.set,
                    f.server,
                    f.from.map(to_millis),
                    f.to.map(to_millis),
                    f.success,
                    f.changes_only,
                    limit
                ],
                |row| {
                    Ok(HistoryRow {
                        time: from_millis(row.get(0)?),
                        set: row.get(1)?,
                        server: row.get(2)?,
                        status: row.get(3)?,
                        success: row.get(4)?,
                        response: row.get(5)?,
                        response_ms: row.get(6)?,
                        code: row.get(7)?,
                        changed: row.get(8)?,
                    })
                },
            )
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(|e| self.err(e))
    }
}

/// The rows as CSV (RFC 4180 quoting), times in UTC ISO 8601.
pub fn to_csv(rows: &[HistoryRow]) -> String {
    let mut out = String::from("time_utc,set,server,status,success,response_ms,code,response\n");
    for r in rows {
        let ms = r.response_ms.map(|v| format!("{v:.1}")).unwrap_or_default();
        let code = r.code.map(|c| c.to_string()).unwrap_or_default();
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            iso_utc(r.time),
            csv_field(&r.set),
            csv_field(&r.server),
            csv_field(&r.status),
            r.success,
            ms,
            code,
            csv_field(&r.response)
        ));
    }
    out
}

pub(super) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// `2026-11-25T13:01:37.250Z`: RFC 3339 in UTC, to the millisecond (times before 1970
/// show as 1970, as the database keeps them).
pub fn iso_utc(t: SystemTime) -> String {
    let stamp =
        jiff::Timestamp::from_millisecond(to_millis(t)).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    format!("{stamp:.3}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn row(secs: u64, server: &str, success: bool, changed: bool) -> HistoryRow {
        HistoryRow {
            time: UNIX_EPOCH + Duration::from_secs(secs),
            set: "web".into(),
            server: server.into(),
            status: if success { "OK" } else { "failed" }.into(),
            success,
            response: if success {
                "200 OK".into()
            } else {
                "timeout, \"slow\"".into()
            },
            response_ms: success.then_some(12.5),
            code: (!success).then_some(124),
            changed,
        }
    }

    #[test]
    fn insert_query_filter_purge() {
        let dir = tempfile::tempdir().unwrap();
        let mut h = History::open(Some(&dir.path().join("standby.db"))).unwrap();
        h.insert(&[
            row(100, "a", true, true),
            row(200, "a", false, true),
            row(300, "b", true, false),
        ])
        .unwrap();
        assert_eq!(h.query(&HistoryFilter::default()).unwrap().len(), 3);
        let only_a = h
            .query(&HistoryFilter {
                server: Some("a".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            only_a,
            vec![row(100, "a", true, true), row(200, "a", false, true)]
        );
        let failures = h
            .query(&HistoryFilter {
                success: Some(false),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(failures.len(), 1);
        let changes = h
            .query(&HistoryFilter {
                changes_only: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(changes.len(), 2);
        let window = HistoryFilter {
            from: Some(UNIX_EPOCH + Duration::from_secs(150)),
            to: Some(UNIX_EPOCH + Duration::from_secs(250)),
            ..Default::default()
        };
        assert_eq!(h.query(&window).unwrap(), vec![row(200, "a", false, true)]);
        let newest = h
            .query(&HistoryFilter {
                limit: 2,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(
            newest.iter().map(|r| r.time).collect::<Vec<_>>(),
            [200, 300].map(|s| UNIX_EPOCH + Duration::from_secs(s))
        );
        // Rolled up, then purged: the polls before 250 s leave the raw rows (they count in
        // rollups).
        assert_eq!(h.roll_up_batch(250_000, 10).unwrap(), (2, true));
        assert_eq!(h.purge_raw_batch(i64::MAX, 10).unwrap(), 2);
        assert_eq!(h.query(&HistoryFilter::default()).unwrap().len(), 1);
        // Survives reopening.
        drop(h);
        let h = History::open(Some(&dir.path().join("standby.db"))).unwrap();
        assert_eq!(h.query(&HistoryFilter::default()).unwrap().len(), 1);
    }

    #[test]
    fn csv_quotes_and_times() {
        let csv = to_csv(&[row(1_764_075_697, "a", false, true)]);
        assert_eq!(
            csv,
            "time_utc,set,server,status,success,response_ms,code,response\n2025-11-25T13:01:37.000Z,web,a,failed,false,,124,\"timeout, \"\"slow\"\"\"\n"
        );
        assert_eq!(iso_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso_utc(UNIX_EPOCH + Duration::from_millis(951_782_400_123)),
            "2000-02-29T00:00:00.123Z"
        );
    }
}

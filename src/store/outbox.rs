//! The outbox: every notification is written here before it is sent and deleted only
//! after it was delivered, so a failure or a restart loses nothing. Repeats held back by
//! coalescing wait here too (table `held`, one row per open window), so a crash inside a
//! window loses none of them: the summary goes out after the restart.

use std::path::Path;

use rusqlite::{Connection, params};

use super::StoreError;

/// A notification waiting to be (re)sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub id: i64,
    /// What to send, serialised by the notifier layer.
    pub job: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When to try next, milliseconds since the Unix epoch.
    pub next_try_ms: i64,
}

/// An open coalescing window: the repeats counted so far and the last of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// Set, subject and event, joined by the notifier layer.
    pub key: String,
    /// The last repeat (or the first notice while there is none), serialised by the
    /// notifier layer.
    pub notice: String,
    pub repeats: u32,
    /// When the window closes, milliseconds since the Unix epoch.
    pub until_ms: i64,
}

pub struct Outbox {
    conn: Connection,
    file: String,
}

impl Outbox {
    /// Opens the outbox in the database at `path` (`None` = in memory).
    pub fn open(path: Option<&Path>) -> Result<Self, StoreError> {
        let conn = super::open(path)?;
        let file = path.map_or_else(|| ":memory:".to_string(), |p| p.display().to_string());
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                created_ms INTEGER NOT NULL,
                job TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                next_try_ms INTEGER NOT NULL,
                last_error TEXT NOT NULL DEFAULT ''
            );
            CREATE TABLE IF NOT EXISTS held (
                key TEXT PRIMARY KEY,
                notice TEXT NOT NULL,
                repeats INTEGER NOT NULL,
                until_ms INTEGER NOT NULL
            );",
        )
        .map_err(|source| StoreError {
            file: file.clone(),
            source,
        })?;
        Ok(Self { conn, file })
    }

    fn wrap(&self, source: rusqlite::Error) -> StoreError {
        StoreError {
            file: self.file.clone(),
            source,
        }
    }

    /// Stores a new notification, due at once. Returns its id.
    pub fn push(&self, job: &str, now_ms: i64) -> Result<i64, StoreError> {
        super::run_cached(
            &self.conn,
            "INSERT INTO outbox (created_ms, job, next_try_ms) VALUES (?1, ?2, ?1)",
            params![now_ms, job],
        )
        .map_err(|e| self.wrap(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every waiting notification, oldest first.
    pub fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT id, job, attempts, next_try_ms FROM outbox ORDER BY id")
            .map_err(|e| self.wrap(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(Pending {
                    id: row.get(0)?,
                    job: row.get(1)?,
                    attempts: row.get(2)?,
                    next_try_ms: row.get(3)?,
                })
            })
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
    }

    /// Delivered: gone for good.
    pub fn remove(&self, id: i64) -> Result<(), StoreError> {
        super::run_cached(&self.conn, "DELETE FROM outbox WHERE id = ?1", params![id])
            .map_err(|e| self.wrap(e))?;
        Ok(())
    }

    /// Not delivered: count the attempt and say when to try again.
    pub fn failed(
        &self,
        id: i64,
        attempts: u32,
        next_try_ms: i64,
        error: &str,
    ) -> Result<(), StoreError> {
        super::run_cached(
            &self.conn,
            "UPDATE outbox SET attempts = ?2, next_try_ms = ?3, last_error = ?4 WHERE id = ?1",
            params![id, attempts, next_try_ms, error],
        )
        .map_err(|e| self.wrap(e))?;
        Ok(())
    }

    /// Stores (or replaces) an open window.
    pub fn hold(&self, held: &Held) -> Result<(), StoreError> {
        super::run_cached(
            &self.conn,
            "INSERT OR REPLACE INTO held (key, notice, repeats, until_ms)
             VALUES (?1, ?2, ?3, ?4)",
            params![held.key, held.notice, held.repeats, held.until_ms],
        )
        .map_err(|e| self.wrap(e))?;
        Ok(())
    }

    /// Every open window.
    pub fn held(&self) -> Result<Vec<Held>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT key, notice, repeats, until_ms FROM held ORDER BY until_ms")
            .map_err(|e| self.wrap(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok(Held {
                    key: row.get(0)?,
                    notice: row.get(1)?,
                    repeats: row.get(2)?,
                    until_ms: row.get(3)?,
                })
            })
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
    }

    /// Closes the window `key` and stores its summary `jobs` (none when it held no
    /// repeat) in one transaction: a crash leaves either the window or the messages.
    /// Returns the ids of the new messages.
    pub fn release(&self, key: &str, jobs: &[String], now_ms: i64) -> Result<Vec<i64>, StoreError> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|e| self.wrap(e))?;
        super::run_cached(&tx, "DELETE FROM held WHERE key = ?1", params![key])
            .map_err(|e| self.wrap(e))?;
        let mut ids = Vec::with_capacity(jobs.len());
        for job in jobs {
            super::run_cached(
                &tx,
                "INSERT INTO outbox (created_ms, job, next_try_ms) VALUES (?1, ?2, ?1)",
                params![now_ms, job],
            )
            .map_err(|e| self.wrap(e))?;
            ids.push(tx.last_insert_rowid());
        }
        tx.commit().map_err(|e| self.wrap(e))?;
        Ok(ids)
    }

    /// How many notifications wait.
    pub fn len(&self) -> Result<usize, StoreError> {
        self.conn
            .query_row("SELECT COUNT(*) FROM outbox", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|e| self.wrap(e))
    }

    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn held_windows_survive_and_release_into_messages_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.db");
        {
            let outbox = Outbox::open(Some(&path)).unwrap();
            let mut held = Held {
                key: "web|a|ServerFailed".into(),
                notice: "n1".into(),
                repeats: 0,
                until_ms: 5000,
            };
            outbox.hold(&held).unwrap();
            held.repeats = 3;
            held.notice = "n4".into();
            outbox.hold(&held).unwrap();
        }
        let outbox = Outbox::open(Some(&path)).unwrap();
        let held = outbox.held().unwrap();
        assert_eq!(held.len(), 1);
        assert_eq!((held[0].repeats, held[0].notice.as_str()), (3, "n4"));
        let ids = outbox
            .release("web|a|ServerFailed", &["s1".into(), "s2".into()], 6000)
            .unwrap();
        assert_eq!(ids.len(), 2);
        assert!(outbox.held().unwrap().is_empty());
        let jobs: Vec<String> = outbox
            .pending()
            .unwrap()
            .into_iter()
            .map(|p| p.job)
            .collect();
        assert_eq!(jobs, ["s1", "s2"]);
    }

    #[test]
    fn kept_until_removed_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.db");
        {
            let outbox = Outbox::open(Some(&path)).unwrap();
            let a = outbox.push("a", 1000).unwrap();
            let b = outbox.push("b", 1001).unwrap();
            outbox.failed(a, 1, 5000, "refused").unwrap();
            outbox.remove(b).unwrap();
        }
        let outbox = Outbox::open(Some(&path)).unwrap();
        let pending = outbox.pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (
                pending[0].job.as_str(),
                pending[0].attempts,
                pending[0].next_try_ms
            ),
            ("a", 1, 5000)
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}

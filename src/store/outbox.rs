//! The outbox: every notification is written here before it is sent and deleted only
//! after it was delivered, so a failure or a restart loses nothing.

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
        self.conn
            .execute(
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
        self.conn
            .execute("DELETE FROM outbox WHERE id = ?1", params![id])
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
        self.conn
            .execute(
                "UPDATE outbox SET attempts = ?2, next_try_ms = ?3, last_error = ?4 WHERE id = ?1",
                params![id, attempts, next_try_ms, error],
            )
            .map_err(|e| self.wrap(e))?;
        Ok(())
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

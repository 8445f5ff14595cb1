//! What the notifications last announced about each server and DNS pair: the problems
//! that were announced and not yet resolved (a server failed, a DNS update failed), with
//! when they began. Kept across restarts, so that a restart announces exactly what changed
//! while Standby was not running: a server that recovered meanwhile is announced as
//! recovered, one still failed is not announced as failed again.

use std::path::Path;

use rusqlite::{Connection, params};

use super::StoreError;

pub struct Announced {
    conn: Connection,
    file: String,
}

impl Announced {
    /// Opens the table in the database at `path` (`None` = in memory).
    pub fn open(path: Option<&Path>) -> Result<Self, StoreError> {
        let conn = super::open(path)?;
        let file = path.map_or_else(|| ":memory:".to_string(), |p| p.display().to_string());
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS announced_problems (
                key TEXT PRIMARY KEY,
                record TEXT NOT NULL
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

    /// Every open problem: (key, record), both made by the notifier layer.
    pub fn all(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut statement = self
            .conn
            .prepare("SELECT key, record FROM announced_problems ORDER BY key")
            .map_err(|e| self.wrap(e))?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(|e| self.wrap(e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.wrap(e))
    }

    /// Stores (or replaces) an open problem.
    pub fn put(&self, key: &str, record: &str) -> Result<(), StoreError> {
        super::run_cached(
            &self.conn,
            "INSERT OR REPLACE INTO announced_problems (key, record) VALUES (?1, ?2)",
            params![key, record],
        )
        .map_err(|e| self.wrap(e))?;
        Ok(())
    }

    /// The problem is resolved (or its subject is gone).
    pub fn remove(&self, key: &str) -> Result<(), StoreError> {
        super::run_cached(
            &self.conn,
            "DELETE FROM announced_problems WHERE key = ?1",
            params![key],
        )
        .map_err(|e| self.wrap(e))?;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn open_problems_survive_reopening_until_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.db");
        {
            let announced = Announced::open(Some(&path)).unwrap();
            announced.put("a", "1").unwrap();
            announced.put("b", "2").unwrap();
            announced.put("a", "3").unwrap();
            announced.remove("b").unwrap();
        }
        let announced = Announced::open(Some(&path)).unwrap();
        assert_eq!(
            announced.all().unwrap(),
            [("a".to_string(), "3".to_string())]
        );
    }
}

//! What each set last published (SPEC §3: a restart never flips DNS). The built-in DNS
//! server goes on answering these while a set's decision waits for its first polls after
//! a restart, or says to leave DNS as it is. Kept in the history database, written on the
//! history thread.

use std::collections::HashMap;
use std::net::IpAddr;

use rusqlite::params;

use super::history::{History, HistoryError};

/// Addresses with their weights, in priority order.
pub type Published = Vec<(IpAddr, u32)>;

impl History {
    fn create_published(&self) -> Result<(), HistoryError> {
        self.conn
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS published (
                     set_name TEXT PRIMARY KEY,
                     addresses TEXT NOT NULL
                 );",
            )
            .map_err(|e| self.err(e))
    }

    /// Every set's last published addresses. A row that does not parse is left out (and
    /// overwritten by the next decision).
    pub fn load_published(&self) -> Result<HashMap<String, Published>, HistoryError> {
        self.create_published()?;
        let mut statement = self
            .conn
            .prepare("SELECT set_name, addresses FROM published")
            .map_err(|e| self.err(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(|e| self.err(e))?;
        let mut published = HashMap::new();
        for row in rows {
            let (set, text) = row.map_err(|e| self.err(e))?;
            if let Some(addresses) = parse(&text) {
                published.insert(set, addresses);
            }
        }
        Ok(published)
    }

    /// Records what `set` publishes now.
    pub fn save_published(&self, set: &str, addresses: &Published) -> Result<(), HistoryError> {
        self.create_published()?;
        super::run_cached(
            &self.conn,
            "INSERT INTO published (set_name, addresses) VALUES (?1, ?2)
             ON CONFLICT(set_name) DO UPDATE SET addresses = excluded.addresses",
            params![set, format(addresses)],
        )
        .map(|_| ())
        .map_err(|e| self.err(e))
    }
}

/// `192.0.2.1/3 2001:db8::1/1`: address/weight, space-separated.
fn format(addresses: &Published) -> String {
    addresses
        .iter()
        .map(|(ip, weight)| format!("{ip}/{weight}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse(text: &str) -> Option<Published> {
    text.split_whitespace()
        .map(|item| {
            let (ip, weight) = item.rsplit_once('/')?;
            Some((ip.parse().ok()?, weight.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn published_addresses_survive_reopening_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.db");
        let web: Published = vec![
            ("192.0.2.1".parse().unwrap(), 3),
            ("2001:db8::1".parse().unwrap(), 1),
        ];
        {
            let history = History::open(Some(&path)).unwrap();
            assert!(history.load_published().unwrap().is_empty());
            history
                .save_published("web", &vec![("192.0.2.9".parse().unwrap(), 1)])
                .unwrap();
            history.save_published("web", &web).unwrap();
        }
        let history = History::open(Some(&path)).unwrap();
        let loaded = history.load_published().unwrap();
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded["web"], web);
    }

    #[test]
    fn a_row_that_does_not_parse_is_left_out() {
        assert_eq!(
            parse("192.0.2.1/2"),
            Some(vec![("192.0.2.1".parse().unwrap(), 2)])
        );
        assert_eq!(parse("192.0.2.300/2"), None);
        assert_eq!(parse("192.0.2.1"), None);
    }
}

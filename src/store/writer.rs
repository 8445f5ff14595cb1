//! The history writer: a thread of its own owns the database, so that SQLite never blocks
//! the engine loop. Rows arrive in batches over an unbounded channel (a row is never
//! dropped); queries are answered on the same thread, in order with the writes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::SystemTime;

use tokio::sync::oneshot;

use super::history::{History, HistoryFilter, HistoryRow};
use super::published::Published;

/// Where a query's answer goes.
pub type QueryReply = oneshot::Sender<Result<Vec<HistoryRow>, String>>;

enum Message {
    Rows(Vec<HistoryRow>),
    Published {
        set: String,
        addresses: Published,
    },
    Purge {
        days: u32,
    },
    Query {
        filter: HistoryFilter,
        reply: QueryReply,
    },
    SaveCsv {
        filter: HistoryFilter,
        path: PathBuf,
        reply: CsvReply,
    },
}

/// Where the outcome of a CSV save goes: rows written, or the error naming the file.
pub type CsvReply = oneshot::Sender<Result<usize, String>>;

/// The engine's side of the history thread.
pub struct HistoryWriter {
    tx: mpsc::Sender<Message>,
}

impl HistoryWriter {
    /// Opens the database and starts the thread. `None` = in memory. Also returns what
    /// each set last published (read before the thread starts: the engine needs it for
    /// its first snapshot).
    pub fn start(
        path: Option<PathBuf>,
    ) -> Result<(HistoryWriter, HashMap<String, Published>), String> {
        let mut history = History::open(path.as_deref()).map_err(|e| e.to_string())?;
        let published = history.load_published().unwrap_or_else(|e| {
            tracing::error!("{e}: the last published addresses are not known");
            HashMap::new()
        });
        let (tx, rx) = mpsc::channel::<Message>();
        std::thread::Builder::new()
            .name("standby-history".into())
            .spawn(move || {
                for message in rx {
                    match message {
                        Message::Rows(rows) => {
                            if let Err(e) = history.insert(&rows) {
                                tracing::error!("{e}: {} history row(s) not stored", rows.len());
                            }
                        }
                        Message::Published { set, addresses } => {
                            if let Err(e) = history.save_published(&set, &addresses) {
                                tracing::error!("{e}: what {set:?} publishes is not stored");
                            }
                        }
                        Message::Purge { days } => match history.purge(days, SystemTime::now()) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(
                                "history: {n} row(s) older than {days} day(s) purged"
                            ),
                            Err(e) => tracing::error!("history purge failed: {e}"),
                        },
                        Message::Query { filter, reply } => {
                            let _ = reply.send(history.query(&filter).map_err(|e| e.to_string()));
                        }
                        Message::SaveCsv {
                            filter,
                            path,
                            reply,
                        } => {
                            let _ = reply.send(save_csv(&history, &filter, &path));
                        }
                    }
                }
            })
            .map_err(|e| format!("cannot start the history thread: {e}"))?;
        Ok((HistoryWriter { tx }, published))
    }

    /// Stores what `set` publishes now.
    pub fn published(&self, set: &str, addresses: Published) {
        let message = Message::Published {
            set: set.to_string(),
            addresses,
        };
        if self.tx.send(message).is_err() {
            tracing::error!("the history thread has stopped: what {set:?} publishes is not stored");
        }
    }

    pub fn write(&self, rows: Vec<HistoryRow>) {
        if !rows.is_empty() && self.tx.send(Message::Rows(rows)).is_err() {
            tracing::error!("the history thread has stopped: rows not stored");
        }
    }

    pub fn purge(&self, days: u32) {
        let _ = self.tx.send(Message::Purge { days });
    }

    /// Writes the rows of `filter` as CSV to `path`, on the history thread.
    pub fn save_csv(&self, filter: HistoryFilter, path: PathBuf, reply: CsvReply) {
        if let Err(mpsc::SendError(Message::SaveCsv { reply, .. })) =
            self.tx.send(Message::SaveCsv {
                filter,
                path,
                reply,
            })
        {
            let _ = reply.send(Err("the history thread has stopped".into()));
        }
    }

    pub fn query(&self, filter: HistoryFilter, reply: QueryReply) {
        if let Err(mpsc::SendError(Message::Query { reply, .. })) =
            self.tx.send(Message::Query { filter, reply })
        {
            let _ = reply.send(Err("the history thread has stopped".into()));
        }
    }
}

/// Queries and writes in one go, on the history thread (in order with the writes).
fn save_csv(
    history: &History,
    filter: &HistoryFilter,
    path: &std::path::Path,
) -> Result<usize, String> {
    let rows = history.query(filter).map_err(|e| e.to_string())?;
    std::fs::write(path, super::history::to_csv(&rows))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(rows.len())
}

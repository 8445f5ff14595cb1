//! The history writer: a thread of its own owns the database, so that SQLite never blocks
//! the engine loop. Rows arrive in batches; queries are answered on the same thread, in
//! order with the writes. At most [`ROWS_QUEUED_AT_MOST`] rows wait for the disk: beyond
//! that a batch is dropped and counted ([`HistoryWriter::dropped_rows`]), never waited for
//! — a stalled disk must not stall polling and DNS (back-pressure would), and what it costs
//! is reported, not lost silently. Rows the database refuses (disk full) count too.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::SystemTime;

use tokio::sync::oneshot;

use super::history::{History, HistoryError, HistoryFilter, HistoryRow};
use super::published::Published;

/// Why the history thread could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    #[error(transparent)]
    Database(#[from] HistoryError),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the history thread: {0}")]
    Thread(std::io::Error),
    #[error("the history thread has stopped")]
    Stopped,
}

/// Where a query's answer goes.
pub type QueryReply = oneshot::Sender<Result<Vec<HistoryRow>, WriterError>>;

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
pub type CsvReply = oneshot::Sender<Result<usize, WriterError>>;

/// Rows that may wait for the disk at most: ~17 minutes of 100 polls/s, some 20 MB.
pub const ROWS_QUEUED_AT_MOST: usize = 100_000;

/// The engine's side of the history thread.
pub struct HistoryWriter {
    /// Control messages (published addresses, queries, purges) are few: this channel is
    /// bounded by the rows it may hold (`queued`), not by messages.
    tx: mpsc::Sender<Message>,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    /// Rows the database took: a drop is over only once rows are stored again (an empty
    /// queue alone may just mean the database refused every row, as on a full disk).
    stored: Arc<AtomicU64>,
    limit: usize,
}

impl HistoryWriter {
    /// Opens the database and starts the thread. `None` = in memory. Also returns what
    /// each set last published (read before the thread starts: the engine needs it for
    /// its first snapshot).
    pub fn start(
        path: Option<PathBuf>,
    ) -> Result<(HistoryWriter, HashMap<String, Published>), WriterError> {
        Self::start_with_limit(path, ROWS_QUEUED_AT_MOST)
    }

    /// [`HistoryWriter::start`] with another limit of queued rows (tests).
    pub fn start_with_limit(
        path: Option<PathBuf>,
        limit: usize,
    ) -> Result<(HistoryWriter, HashMap<String, Published>), WriterError> {
        let queued = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicU64::new(0));
        let stored = Arc::new(AtomicU64::new(0));
        let (thread_queued, thread_dropped) = (queued.clone(), dropped.clone());
        let thread_stored = stored.clone();
        let mut history = History::open(path.as_deref())?;
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
                            match history.insert(&rows) {
                                Ok(()) => {
                                    thread_stored.fetch_add(rows.len() as u64, Ordering::Relaxed);
                                }
                                Err(e) => {
                                    tracing::error!(
                                        "{e}: {} history row(s) not stored",
                                        rows.len()
                                    );
                                    thread_dropped.fetch_add(rows.len() as u64, Ordering::Relaxed);
                                }
                            }
                            thread_queued.fetch_sub(rows.len(), Ordering::Relaxed);
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
                            let _ = reply.send(history.query(&filter).map_err(WriterError::from));
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
            .map_err(WriterError::Thread)?;
        Ok((
            HistoryWriter {
                tx,
                queued,
                dropped,
                stored,
                limit,
            },
            published,
        ))
    }

    /// Rows dropped since the start: refused because too many waited for the disk, or
    /// refused by the database.
    pub fn dropped_rows(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Rows stored since the start.
    pub fn stored_rows(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// Rows waiting for the disk now.
    pub fn queued_rows(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
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

    /// Queues rows for the disk, or drops and counts them when too many wait already.
    pub fn write(&self, rows: Vec<HistoryRow>) {
        let n = rows.len();
        if n == 0 {
            return;
        }
        if self.queued.load(Ordering::Relaxed) + n > self.limit {
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
            return;
        }
        self.queued.fetch_add(n, Ordering::Relaxed);
        if self.tx.send(Message::Rows(rows)).is_err() {
            tracing::error!("the history thread has stopped: rows not stored");
            self.queued.fetch_sub(n, Ordering::Relaxed);
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
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
            let _ = reply.send(Err(WriterError::Stopped));
        }
    }

    pub fn query(&self, filter: HistoryFilter, reply: QueryReply) {
        if let Err(mpsc::SendError(Message::Query { reply, .. })) =
            self.tx.send(Message::Query { filter, reply })
        {
            let _ = reply.send(Err(WriterError::Stopped));
        }
    }
}

/// Queries and writes in one go, on the history thread (in order with the writes).
fn save_csv(
    history: &History,
    filter: &HistoryFilter,
    path: &std::path::Path,
) -> Result<usize, WriterError> {
    let rows = history.query(filter)?;
    std::fs::write(path, super::history::to_csv(&rows)).map_err(|source| WriterError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(rows.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn row(i: usize) -> HistoryRow {
        HistoryRow {
            time: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(i as u64),
            set: "web".into(),
            server: "127.0.0.2".into(),
            status: "OK".into(),
            success: true,
            response: "200 OK".into(),
            response_ms: Some(1.0),
            code: None,
            changed: false,
        }
    }

    /// A stalled disk: the history thread blocks writing a CSV into a FIFO nobody reads.
    #[cfg(unix)]
    #[test]
    fn a_stalled_disk_costs_counted_rows_never_a_blocked_engine() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("stall");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (writer, _) = HistoryWriter::start_with_limit(None, 10).unwrap();
        let (csv_reply, csv_done) = oneshot::channel();
        writer.save_csv(HistoryFilter::default(), fifo.clone(), csv_reply);
        // 4 batches of 3 rows while the thread is stuck: 3 fit (9 ≤ 10), the 4th is dropped.
        for b in 0..4 {
            writer.write((0..3).map(|i| row(b * 3 + i)).collect());
        }
        assert_eq!(writer.dropped_rows(), 3);
        assert_eq!(writer.queued_rows(), 9);
        // The disk comes back: the reader drains the FIFO, the queue empties.
        let reader = std::thread::spawn(move || std::fs::read(&fifo).unwrap());
        reader.join().unwrap();
        csv_done.blocking_recv().unwrap().unwrap();
        let (reply, rows) = oneshot::channel();
        writer.query(HistoryFilter::default(), reply);
        let rows = rows.blocking_recv().unwrap().unwrap();
        assert_eq!(rows.len(), 9, "every accepted row is stored");
        assert_eq!(writer.queued_rows(), 0);
        // Room again: nothing more is dropped.
        writer.write(vec![row(100)]);
        assert_eq!(writer.dropped_rows(), 3);
    }
}

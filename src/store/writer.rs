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

use super::events::{EventFilter, HistoryEvent};
use super::history::{History, HistoryError, HistoryFilter, HistoryRow};
use super::published::Published;
use super::report::{SlaReport, Subjects, UptimeReport};
use super::rollup::{ROLLUP_BATCH_ROWS, ROLLUP_LAG_SECS, Tier};

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
    /// Roll up raw polls older than a minute, delete raw polls older than `raw_hours`,
    /// rollups and events older than `days`: in batches, between other messages.
    Purge {
        raw_hours: u32,
        days: u32,
    },
    Events(Vec<HistoryEvent>),
    QueryEvents {
        filter: EventFilter,
        reply: EventsReply,
    },
    SaveEventsCsv {
        filter: EventFilter,
        path: PathBuf,
        reply: CsvReply,
    },
    SaveSla {
        subjects: Subjects,
        from: i64,
        to: i64,
        format: super::sla_export::Format,
        path: PathBuf,
        reply: CsvReply,
    },
    Uptime {
        subjects: Subjects,
        reply: oneshot::Sender<Result<UptimeReport, WriterError>>,
    },
    Sla {
        subjects: Subjects,
        from: i64,
        to: i64,
        reply: oneshot::Sender<Result<SlaReport, WriterError>>,
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

/// Where the answer to an event query goes.
pub type EventsReply = oneshot::Sender<Result<Vec<HistoryEvent>, WriterError>>;

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
        let history = History::open(path.as_deref())?;
        let published = history.load_published().unwrap_or_else(|e| {
            tracing::error!("{e}: the last published addresses are not known");
            HashMap::new()
        });
        let (tx, rx) = mpsc::channel::<Message>();
        std::thread::Builder::new()
            .name("standby-history".into())
            .spawn(move || {
                let mut worker = Worker {
                    history,
                    queued: thread_queued,
                    dropped: thread_dropped,
                    stored: thread_stored,
                    work: None,
                };
                worker.run(&rx);
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

    /// Starts a maintenance pass: raw polls older than [`ROLLUP_LAG_SECS`] rolled up, raw
    /// polls older than `raw_hours` deleted, rollups and events older than `days` deleted
    /// (a pass under way goes on with the new limits).
    pub fn purge(&self, raw_hours: u32, days: u32) {
        let _ = self.tx.send(Message::Purge { raw_hours, days });
    }

    /// Queues events for the disk (few: not counted against the rows' limit).
    pub fn events(&self, events: Vec<HistoryEvent>) {
        if !events.is_empty() && self.tx.send(Message::Events(events)).is_err() {
            tracing::error!("the history thread has stopped: events not stored");
        }
    }

    pub fn query_events(&self, filter: EventFilter, reply: EventsReply) {
        if let Err(mpsc::SendError(Message::QueryEvents { reply, .. })) =
            self.tx.send(Message::QueryEvents { filter, reply })
        {
            let _ = reply.send(Err(WriterError::Stopped));
        }
    }

    /// Writes the events of `filter` as CSV to `path`, on the history thread.
    pub fn save_events_csv(&self, filter: EventFilter, path: PathBuf, reply: CsvReply) {
        if let Err(mpsc::SendError(Message::SaveEventsCsv { reply, .. })) =
            self.tx.send(Message::SaveEventsCsv {
                filter,
                path,
                reply,
            })
        {
            let _ = reply.send(Err(WriterError::Stopped));
        }
    }

    /// Writes the SLA report of `subjects` over `[from, to)` to `path`; the reply counts
    /// the sets written.
    pub fn save_sla(
        &self,
        subjects: Subjects,
        (from, to): (i64, i64),
        format: super::sla_export::Format,
        path: PathBuf,
        reply: CsvReply,
    ) {
        if let Err(mpsc::SendError(Message::SaveSla { reply, .. })) =
            self.tx.send(Message::SaveSla {
                subjects,
                from,
                to,
                format,
                path,
                reply,
            })
        {
            let _ = reply.send(Err(WriterError::Stopped));
        }
    }

    /// Uptime over 24 h / 7 d / 30 d of `subjects`, now.
    pub fn uptime(
        &self,
        subjects: Subjects,
        reply: oneshot::Sender<Result<UptimeReport, WriterError>>,
    ) {
        if let Err(mpsc::SendError(Message::Uptime { reply, .. })) =
            self.tx.send(Message::Uptime { subjects, reply })
        {
            let _ = reply.send(Err(WriterError::Stopped));
        }
    }

    /// The SLA report of `subjects` over `[from, to)`, Unix seconds.
    pub fn sla(
        &self,
        subjects: Subjects,
        from: i64,
        to: i64,
        reply: oneshot::Sender<Result<SlaReport, WriterError>>,
    ) {
        if let Err(mpsc::SendError(Message::Sla { reply, .. })) = self.tx.send(Message::Sla {
            subjects,
            from,
            to,
            reply,
        }) {
            let _ = reply.send(Err(WriterError::Stopped));
        }
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

/// A maintenance pass under way: its stage, its limits and what it did so far.
enum Work {
    RollUp { cutoff_ms: i64 },
    PurgeRaw { cutoff_ms: i64 },
    PurgeRollups { tier: Tier, after: i64 },
    PurgeEvents,
}

/// A pass: its stage, its limits, what it did so far.
struct Pass {
    stage: Work,
    raw_hours: u32,
    days: u32,
    rolled: usize,
    purged: usize,
}

/// Messages handled in a row before the next maintenance batch, so that a steady stream of
/// rows never starves the maintenance.
const MESSAGES_BETWEEN_BATCHES: usize = 16;

/// The history thread's state.
struct Worker {
    history: History,
    queued: Arc<AtomicUsize>,
    dropped: Arc<AtomicU64>,
    stored: Arc<AtomicU64>,
    work: Option<Pass>,
}

impl Worker {
    /// Until the engine's side is dropped: messages first, one maintenance batch (bounded:
    /// [`ROLLUP_BATCH_ROWS`]) whenever none waits or after [`MESSAGES_BETWEEN_BATCHES`].
    fn run(&mut self, rx: &mpsc::Receiver<Message>) {
        let mut in_a_row = 0;
        loop {
            let message = if self.work.is_none() {
                match rx.recv() {
                    Ok(m) => Some(m),
                    Err(_) => return,
                }
            } else if in_a_row >= MESSAGES_BETWEEN_BATCHES {
                None
            } else {
                match rx.try_recv() {
                    Ok(m) => Some(m),
                    Err(mpsc::TryRecvError::Empty) => None,
                    Err(mpsc::TryRecvError::Disconnected) => return,
                }
            };
            match message {
                Some(m) => {
                    in_a_row += 1;
                    self.handle(m);
                }
                None => {
                    in_a_row = 0;
                    self.step();
                }
            }
        }
    }

    fn handle(&mut self, message: Message) {
        let history = &mut self.history;
        match message {
            Message::Rows(rows) => {
                match history.insert(&rows) {
                    Ok(()) => {
                        self.stored.fetch_add(rows.len() as u64, Ordering::Relaxed);
                    }
                    Err(e) => {
                        tracing::error!("{e}: {} history row(s) not stored", rows.len());
                        self.dropped.fetch_add(rows.len() as u64, Ordering::Relaxed);
                    }
                }
                self.queued.fetch_sub(rows.len(), Ordering::Relaxed);
            }
            Message::Published { set, addresses } => {
                if let Err(e) = history.save_published(&set, &addresses) {
                    tracing::error!("{e}: what {set:?} publishes is not stored");
                }
            }
            Message::Purge { raw_hours, days } => {
                let now = super::history::to_millis(SystemTime::now());
                let (rolled, purged) = self.work.as_ref().map_or((0, 0), |p| (p.rolled, p.purged));
                self.work = Some(Pass {
                    stage: Work::RollUp {
                        cutoff_ms: now - ROLLUP_LAG_SECS * 1000,
                    },
                    raw_hours,
                    days,
                    rolled,
                    purged,
                });
            }
            Message::Events(events) => {
                if let Err(e) = history.insert_events(&events) {
                    tracing::error!("{e}: {} history event(s) not stored", events.len());
                }
            }
            Message::Query { filter, reply } => {
                let _ = reply.send(history.query(&filter).map_err(WriterError::from));
            }
            Message::QueryEvents { filter, reply } => {
                let _ = reply.send(history.query_events(&filter).map_err(WriterError::from));
            }
            Message::SaveCsv {
                filter,
                path,
                reply,
            } => {
                let _ = reply.send(save_csv(history, &filter, &path));
            }
            Message::SaveEventsCsv {
                filter,
                path,
                reply,
            } => {
                let saved = history
                    .query_events(&filter)
                    .map_err(WriterError::from)
                    .and_then(|events| {
                        std::fs::write(&path, super::events::events_to_csv(&events)).map_err(
                            |source| WriterError::Write {
                                path: path.clone(),
                                source,
                            },
                        )?;
                        Ok(events.len())
                    });
                let _ = reply.send(saved);
            }
            Message::SaveSla {
                subjects,
                from,
                to,
                format,
                path,
                reply,
            } => {
                let saved = history
                    .sla_report(&subjects, from, to)
                    .map_err(WriterError::from)
                    .and_then(|report| {
                        let text = match format {
                            super::sla_export::Format::Csv => super::sla_export::to_csv(&report),
                            super::sla_export::Format::Html => super::sla_export::to_html(&report),
                        };
                        std::fs::write(&path, text).map_err(|source| WriterError::Write {
                            path: path.clone(),
                            source,
                        })?;
                        Ok(report.sets.len())
                    });
                let _ = reply.send(saved);
            }
            Message::Uptime { subjects, reply } => {
                let report = history.uptime_report(&subjects, SystemTime::now());
                let _ = reply.send(report.map_err(WriterError::from));
            }
            Message::Sla {
                subjects,
                from,
                to,
                reply,
            } => {
                let report = history.sla_report(&subjects, from, to);
                let _ = reply.send(report.map_err(WriterError::from));
            }
        }
    }

    /// One maintenance batch; the pass ends (logged) after its last. A failed batch ends
    /// the pass; the next one (in [`super::rollup::PASS_SECS`]) tries again.
    fn step(&mut self) {
        let Some(mut pass) = self.work.take() else {
            return;
        };
        let history = &mut self.history;
        let now = super::history::to_millis(SystemTime::now());
        let days_ago = now - i64::from(pass.days) * 86_400_000;
        let next = match pass.stage {
            Work::RollUp { cutoff_ms } => history
                .roll_up_batch(cutoff_ms, ROLLUP_BATCH_ROWS)
                .map(|(n, done)| {
                    pass.rolled += n;
                    if done {
                        Some(Work::PurgeRaw {
                            cutoff_ms: now - i64::from(pass.raw_hours) * 3_600_000,
                        })
                    } else {
                        Some(Work::RollUp { cutoff_ms })
                    }
                }),
            Work::PurgeRaw { cutoff_ms } => history
                .purge_raw_batch(cutoff_ms, ROLLUP_BATCH_ROWS)
                .map(|n| {
                    pass.purged += n;
                    if n == ROLLUP_BATCH_ROWS {
                        Some(Work::PurgeRaw { cutoff_ms })
                    } else {
                        Some(Work::PurgeRollups {
                            tier: Tier::Hour,
                            after: i64::MIN,
                        })
                    }
                }),
            Work::PurgeRollups { tier, after } => history
                .purge_rollups_batch(tier, tier.bucket_of(days_ago), after)
                .map(|(n, next)| {
                    pass.purged += n;
                    Some(match (next, tier) {
                        (Some(after), _) => Work::PurgeRollups { tier, after },
                        (None, Tier::Hour) => Work::PurgeRollups {
                            tier: Tier::Day,
                            after: i64::MIN,
                        },
                        (None, Tier::Day) => Work::PurgeEvents,
                    })
                }),
            Work::PurgeEvents => history
                .purge_events_batch(days_ago, ROLLUP_BATCH_ROWS)
                .map(|n| {
                    pass.purged += n;
                    if n == ROLLUP_BATCH_ROWS {
                        Some(Work::PurgeEvents)
                    } else {
                        if pass.rolled + pass.purged > 0 {
                            tracing::info!(
                                "history: {} poll(s) rolled up into hours and days, {} old poll(s), rollup(s) and event(s) purged",
                                pass.rolled,
                                pass.purged
                            );
                        }
                        None
                    }
                }),
        };
        match next {
            Ok(None) => {}
            Ok(Some(stage)) => {
                pass.stage = stage;
                self.work = Some(pass);
            }
            Err(e) => tracing::error!("history maintenance failed: {e}"),
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

    /// A pass rolls up in batches while the thread goes on answering: every old poll ends
    /// in a bucket, the recent one stays raw, and the 24 h uptime counts them all.
    #[test]
    fn a_maintenance_pass_rolls_up_old_polls_and_keeps_answering() {
        let (writer, _) = HistoryWriter::start(None).unwrap();
        let now = SystemTime::now();
        let old = now - std::time::Duration::from_secs(3 * 3600);
        let n = 2 * ROLLUP_BATCH_ROWS + 7;
        let mut rows: Vec<HistoryRow> = (0..n)
            .map(|i| HistoryRow {
                time: old + std::time::Duration::from_millis(i as u64 * 10),
                success: i % 10 != 0,
                ..row(0)
            })
            .collect();
        rows.push(HistoryRow {
            time: now,
            ..row(0)
        });
        writer.write(rows);
        writer.purge(1, 366);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let (reply, rows) = oneshot::channel();
            writer.query(HistoryFilter::default(), reply);
            if rows.blocking_recv().unwrap().unwrap().len() == 1 {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "the pass never ended");
        }
        let (reply, report) = oneshot::channel();
        writer.uptime(vec![("web".into(), vec!["127.0.0.2".into()])], reply);
        let report = report.blocking_recv().unwrap().unwrap();
        let day = &report.sets[0].periods[0];
        assert_eq!(
            (day.polls, day.failures),
            (n as u64 + 1, n.div_ceil(10) as u64)
        );
    }
}

//! The output: owns what the engine shows and tells — the recent events (and their
//! broadcast to the notification dispatcher), the live log (and the log-file thread), the
//! polling history batch (and the history thread, which also keeps what each set
//! publishes), the scheduler's counters, and publishing the snapshot with the repaint
//! waker.
//!
//! **Invariant:** a snapshot is published at most every 100 ms and only when something
//! changed; unchanged sets are shared with the previous snapshot, not copied.
//!
//! **Invariant:** a history row is never dropped: rows are batched here and handed to the
//! history thread at every publish tick and before every history query.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::settings_keeper::SettingsKeeper;
use crate::engine::command::RepaintWaker;
use crate::engine::events::{Event, Level, LogLine, push_bounded};
use crate::engine::machine::Core;
use crate::engine::snapshot::{PollStats, Snapshot};
use crate::model::Settings;
use crate::store::history::HistoryRow;
use crate::store::logfiles::{FileLine, LogFiles};
use crate::store::published::Published;
use crate::store::writer::HistoryWriter;

/// How often a changed snapshot is published at most.
pub const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// Recent events kept in the snapshot.
const EVENTS_KEPT: usize = 1000;
/// Lateness samples kept for the percentiles.
const LATENESS_SAMPLES: usize = 10_000;
/// How often the percentiles are recomputed.
const STATS_EVERY: Duration = Duration::from_secs(1);

pub struct Output {
    events: Arc<VecDeque<Event>>,
    log: Arc<VecDeque<LogLine>>,
    events_tx: broadcast::Sender<Event>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    generation: u64,
    /// Something changed since the last snapshot.
    dirty: bool,
    waker: Option<RepaintWaker>,
    polls_completed: u64,
    lateness_ms: VecDeque<f32>,
    stats: PollStats,
    stats_at: Instant,
    /// The dispatcher's outbox counters, read at each publish.
    outbox: Arc<crate::notify::OutboxCounters>,
    /// Cluster mode's shared settings, as the share part last said.
    shared: crate::cluster::shared_settings::SharedStatus,
    history: HistoryWriter,
    /// Rows waiting for the next flush (every publish tick).
    history_batch: Vec<HistoryRow>,
    uptime: Arc<crate::store::report::UptimeReport>,
    /// The log-file thread; `None` when it could not start (logged).
    log_files: Option<LogFiles>,
    /// Cluster mode's status, as the cluster task last reported it.
    cluster: Option<Arc<crate::engine::ClusterStatus>>,
}

impl Output {
    pub fn new(
        snapshot_tx: watch::Sender<Arc<Snapshot>>,
        events_tx: broadcast::Sender<Event>,
        history: HistoryWriter,
    ) -> Output {
        Output {
            events: Arc::default(),
            log: Arc::default(),
            events_tx,
            snapshot_tx,
            generation: 0,
            dirty: true,
            waker: None,
            polls_completed: 0,
            lateness_ms: VecDeque::new(),
            stats: PollStats::default(),
            stats_at: Instant::now(),
            outbox: Arc::default(),
            cluster: None,
            shared: Default::default(),
            history,
            history_batch: Vec::new(),
            uptime: Arc::default(),
            log_files: match LogFiles::start() {
                Ok(files) => Some(files),
                Err(e) => {
                    tracing::error!("no log files: cannot start their thread: {e}");
                    None
                }
            },
        }
    }

    /// Something changed: the next publish tick sends a snapshot.
    pub fn touch(&mut self) {
        self.dirty = true;
    }

    pub fn emit(&mut self, event: Event) {
        // No receiver is fine: nobody is listening for notifications yet.
        let _ = self.events_tx.send(event.clone());
        push_bounded(Arc::make_mut(&mut self.events), event, EVENTS_KEPT);
        self.dirty = true;
    }

    /// A line for the live log, stderr and (if on) the log files.
    pub fn log(
        &mut self,
        level: Level,
        text: String,
        settings: &Settings,
        settings_path: Option<&Path>,
    ) {
        match level {
            Level::Info => tracing::info!("{text}"),
            Level::Warning => tracing::warn!("{text}"),
            Level::Error => tracing::error!("{text}"),
        }
        let time = SystemTime::now();
        let logging = &settings.options.logging;
        if logging.to_files
            && let Some(directory) = logging.directory.clone().or_else(|| {
                // Default: `logs` beside the settings file.
                settings_path
                    .and_then(|p| p.parent())
                    .map(|d| d.join("logs"))
            })
            && let Some(files) = &self.log_files
        {
            files.write(FileLine {
                time,
                level: match level {
                    Level::Info => "info",
                    Level::Warning => "warning",
                    Level::Error => "error",
                },
                text: text.clone(),
                directory,
                rotation: logging.rotation,
                utc: logging.utc,
            });
        }
        let capacity = logging.memory_lines as usize;
        push_bounded(
            Arc::make_mut(&mut self.log),
            LogLine { time, level, text },
            capacity,
        );
        self.dirty = true;
    }

    pub fn clear_log(&mut self) {
        Arc::make_mut(&mut self.log).clear();
        self.dirty = true;
    }

    pub fn live_log(&self) -> &VecDeque<LogLine> {
        &self.log
    }

    /// The dispatcher's counters (the engine starts both).
    pub fn set_outbox(&mut self, counters: Arc<crate::notify::OutboxCounters>) {
        self.outbox = counters;
    }

    pub fn set_shared_status(&mut self, status: crate::cluster::shared_settings::SharedStatus) {
        if status != self.shared {
            self.shared = status;
            self.dirty = true;
        }
    }

    pub fn set_waker(&mut self, waker: RepaintWaker) {
        self.waker = Some(waker);
        self.dirty = true;
    }

    /// A poll ended `lateness` after it was due.
    pub fn poll_done(&mut self, lateness: Duration) {
        self.polls_completed += 1;
        self.stats.lateness_sum_secs += lateness.as_secs_f64();
        self.stats.lateness_count += 1;
        push_bounded(
            &mut self.lateness_ms,
            lateness.as_secs_f32() * 1000.0,
            LATENESS_SAMPLES,
        );
    }

    pub fn history_row(&mut self, row: HistoryRow) {
        self.history_batch.push(row);
    }

    /// Keeps what a set publishes now in the database.
    pub fn published(&mut self, set: &str, addresses: Published) {
        self.history.published(set, addresses);
    }

    /// The last uptime report of the history thread, for the next snapshot.
    pub fn set_uptime(&mut self, report: crate::store::report::UptimeReport) {
        self.uptime = Arc::new(report);
        self.dirty = true;
    }

    pub fn history(&self) -> &HistoryWriter {
        &self.history
    }

    /// The cluster's status for the next snapshots (`None`: this instance runs alone).
    pub fn set_cluster(&mut self, status: Option<Arc<crate::engine::ClusterStatus>>) {
        if self.cluster != status {
            self.cluster = status;
            self.dirty = true;
        }
    }

    pub fn flush_history(&mut self) {
        if !self.history_batch.is_empty() {
            self.history.write(std::mem::take(&mut self.history_batch));
        }
    }

    /// The scheduler's counters; percentiles at most once a second (they sort).
    fn poll_stats(&mut self) -> PollStats {
        if self.stats_at.elapsed() >= STATS_EVERY && !self.lateness_ms.is_empty() {
            let mut sorted: Vec<f32> = self.lateness_ms.iter().copied().collect();
            sorted.sort_by(f32::total_cmp);
            let at = |q: f32| sorted[((sorted.len() - 1) as f32 * q).round() as usize];
            self.stats.lateness_p50_ms = at(0.5);
            self.stats.lateness_p99_ms = at(0.99);
            self.stats_at = Instant::now();
        }
        self.stats.polls_completed = self.polls_completed;
        self.stats
    }

    /// Publishes a new snapshot if anything changed (or `force`), unless the keeper is
    /// saving the engine's own change (see [`SettingsKeeper::hold_snapshot`]).
    pub fn publish(&mut self, core: &mut Core, keeper: &SettingsKeeper, force: bool) {
        self.flush_history();
        if keeper.hold_snapshot() && !force {
            return;
        }
        let problems_changed = core.take_problems_changed();
        if !self.dirty && !problems_changed && !force {
            return;
        }
        self.dirty = false;
        let previous = self.snapshot_tx.borrow().clone();
        self.generation += 1;
        let snapshot = Snapshot {
            generation: self.generation,
            settings: core.settings().clone(),
            settings_revision: core.settings_revision(),
            settings_path: keeper.path().map(Path::to_path_buf),
            settings_error: keeper.error().cloned(),
            all_paused: core.settings().options.polling.paused,
            sets: core.views(),
            problems: if problems_changed || force {
                Arc::new(core.problems().list())
            } else {
                previous.problems.clone()
            },
            events: self.events.clone(),
            log: self.log.clone(),
            polls_in_flight: core.polls_in_flight(),
            stats: PollStats {
                poll_limit: core.poll_limit(),
                auto_poll_limit: core.auto_poll_limit(),
                ..self.poll_stats()
            },
            uptime: self.uptime.clone(),
            outbox: self.outbox.stats(),
            cluster: self.cluster.clone(),
            shared_settings: self.shared.clone(),
        };
        self.snapshot_tx.send_replace(Arc::new(snapshot));
        if let Some(waker) = &self.waker {
            waker();
        }
    }
}

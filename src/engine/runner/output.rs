//! The engine's outputs: events, the live log, the settings file watch and the snapshot.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::{EVENTS_KEPT, Engine, STATS_EVERY};
use crate::engine::events::{Event, EventDetails, Level, LogLine, push_bounded};
use crate::engine::snapshot::{PollStats, Snapshot};
use crate::model::EventKind;
use crate::model::file::{self, FileStamp};
use crate::store::logfiles::FileLine;

impl Engine {
    pub(super) fn emit(
        &mut self,
        kind: EventKind,
        set: &str,
        subject: &str,
        text: String,
        details: EventDetails,
        now: SystemTime,
    ) {
        let event = Event {
            time: now,
            kind,
            set: set.to_string(),
            subject: subject.to_string(),
            text,
            details,
        };
        // No receiver is fine: nobody is listening for notifications yet.
        let _ = self.events_tx.send(event.clone());
        push_bounded(Arc::make_mut(&mut self.events), event, EVENTS_KEPT);
        self.dirty = true;
    }

    pub(super) fn log(&mut self, level: Level, text: String) {
        match level {
            Level::Info => tracing::info!("{text}"),
            Level::Warning => tracing::warn!("{text}"),
            Level::Error => tracing::error!("{text}"),
        }
        let time = SystemTime::now();
        let logging = &self.settings.options.logging;
        if logging.to_files
            && let Some(directory) = logging.directory.clone().or_else(|| {
                // Default: `logs` beside the settings file.
                self.settings_path
                    .as_ref()
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

    pub(super) fn check_settings_file(&mut self) {
        let Some(path) = self.settings_path.clone() else {
            return;
        };
        let stamp = FileStamp::of(&path);
        if stamp == self.file_stamp {
            return;
        }
        self.file_stamp = stamp;
        if stamp.is_none() {
            return; // deleted: keep running on what we have; a save recreates it
        }
        match file::load(&path) {
            Ok(settings) => {
                self.settings_error = None;
                if settings != *self.settings {
                    self.install(Arc::new(settings));
                    self.log(
                        Level::Info,
                        format!("settings reloaded from {}", path.display()),
                    );
                }
            }
            Err(e) => {
                let text = format!("the edited settings file is not used: {e}");
                self.log(Level::Error, text.clone());
                self.settings_error = Some(text);
            }
        }
        self.dirty = true;
    }

    /// The scheduler's counters; percentiles at most once a second (they sort).
    pub(super) fn poll_stats(&mut self) -> PollStats {
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

    pub(super) fn flush_history(&mut self) {
        if !self.history_batch.is_empty() {
            self.history.write(std::mem::take(&mut self.history_batch));
        }
        self.report_history_drops();
    }

    /// History rows the writer dropped (a stalled or full disk) are a problem of the
    /// monitor, logged when it starts; it clears once the queue is empty again.
    fn report_history_drops(&mut self) {
        use crate::engine::problems::{HISTORY_SUBJECT, MONITOR_SHORTAGE};
        let dropped = self.history.dropped_rows();
        if dropped > self.history_dropped {
            let text = format!(
                "{dropped} history row(s) dropped since the start: the database does not keep \
                 up (a stalled or full disk?); polling and DNS go on"
            );
            let new = self.problems.raise(
                "",
                HISTORY_SUBJECT,
                MONITOR_SHORTAGE,
                &text,
                SystemTime::now(),
            );
            if new {
                self.log(Level::Error, text);
            }
            self.history_dropped = dropped;
        } else if self.history.queued_rows() == 0 && self.problems.clear("", HISTORY_SUBJECT) {
            self.log(
                Level::Info,
                format!(
                    "polling history: the database keeps up again ({dropped} row(s) dropped in all)"
                ),
            );
        }
    }

    pub(super) fn publish(&mut self) {
        self.flush_history();
        let problems_changed = self.problems.take_changed();
        if !self.dirty && !problems_changed {
            return;
        }
        self.dirty = false;
        let previous = self.snapshot_tx.borrow().clone();
        let sets = self
            .sets
            .iter_mut()
            .map(|s| {
                let has_problem = self.problems.has_any(&s.config.name);
                s.refresh_view(has_problem)
            })
            .collect();
        self.generation += 1;
        let snapshot = Snapshot {
            generation: self.generation,
            settings: self.settings.clone(),
            settings_revision: self.settings_revision,
            settings_path: self.settings_path.clone(),
            settings_error: self.settings_error.clone(),
            all_paused: self.settings.options.polling.paused,
            sets,
            problems: if problems_changed {
                Arc::new(self.problems.list())
            } else {
                previous.problems.clone()
            },
            events: self.events.clone(),
            log: self.log.clone(),
            polls_in_flight: self.in_flight,
            stats: self.poll_stats(),
        };
        self.snapshot_tx.send_replace(Arc::new(snapshot));
        if let Some(waker) = &self.waker {
            waker();
        }
    }
}

//! The dispatcher's memory of what it said: coalescing windows (held repeats, reversals)
//! and announced problems (resolutions, first checks after a restart, reminders). Both are
//! mirrored in the database, so a restart neither loses nor repeats anything, and in a
//! cluster in the shared store, so a leader change neither.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use super::{Dispatcher, Notice, Window, job_text, reminder_ms};
use crate::model::EventKind;
use crate::notify::announcements::{
    Key, OpenProblem, SharedWindow, StoredNotice, key_text, new_id, opens_problem, reminder,
    resolution, reversals, time_of,
};
use crate::notify::describe;
use crate::notify::dispatch_rules::{full_tags, methods_with, times};
use crate::store::Held;

impl Dispatcher {
    pub(super) fn on_notice(&mut self, mut notice: Notice, first_check: bool) {
        let now = self.now_ms();
        // What it resolves.
        if let Some(problem) = notice.kind.resolves() {
            let key = (notice.set.clone(), notice.subject.clone(), problem);
            match self.forget(&key) {
                Some(open) => {
                    let text = resolution(&mut notice.tags, &open, now);
                    notice
                        .tags
                        .set("EVENT", format!("{} ({text})", notice.kind.label()));
                }
                // It worked before the restart too: nothing changed.
                None if first_check => return,
                None => {}
            }
            if notice.kind == EventKind::ServerRecovered {
                let all = (
                    notice.set.clone(),
                    String::new(),
                    EventKind::AllServersFailed,
                );
                // The set works again: "all servers failed" is over. The server's own
                // recovery message says so; a new "all failed" opens a new problem.
                self.forget(&all);
            }
        } else if first_check {
            return;
        }
        // A problem that opens.
        if opens_problem(notice.kind) {
            let key = (notice.set.clone(), notice.subject.clone(), notice.kind);
            match self.problems.get_mut(&key) {
                Some(open) if open.inherited => {
                    // Announced before the restart and still there: said once is enough.
                    open.inherited = false;
                    tracing::info!(
                        "{} of {:?} {}: still as announced at {}, not announced again",
                        notice.kind.label(),
                        notice.set,
                        notice.subject,
                        times(time_of(open.notice.time_ms)).1
                    );
                    return;
                }
                // The same failure again in this run: a repeat, coalesced below.
                Some(open) => {
                    notice.tags.set("PROBLEMID", open.id.clone());
                }
                None => {
                    let open = OpenProblem {
                        notice: StoredNotice::of(&notice),
                        id: new_id(),
                        reminded: BTreeMap::new(),
                        inherited: false,
                    };
                    notice.tags.set("PROBLEMID", open.id.clone());
                    self.remember(key, open);
                }
            }
        }
        self.coalesce(notice);
    }

    pub(super) fn remember(&mut self, key: Key, open: OpenProblem) {
        match ron::to_string(&open) {
            Ok(record) => {
                if let Err(e) = self.announced.put(&key_text(&key), &record) {
                    self.store_error(&e);
                }
                self.shared_change(key_text(&key), Some(record));
            }
            Err(e) => tracing::error!("cannot serialise an announced problem: {e}"),
        }
        self.problems.insert(key, open);
    }

    pub(super) fn forget(&mut self, key: &Key) -> Option<OpenProblem> {
        let open = self.problems.remove(key)?;
        if let Err(e) = self.announced.remove(&key_text(key)) {
            self.store_error(&e);
        }
        self.shared_change(key_text(key), None);
        Some(open)
    }

    /// Sends `notice` at once and opens its window, or counts it as a repeat.
    pub(super) fn coalesce(&mut self, notice: Notice) {
        let window = self.coalesce_window();
        // A reversal is never held back: the windows of what it reverses close now, their
        // summaries first, so the last message a receiver gets tells the current state.
        for reversed in reversals(notice.kind) {
            let key = (notice.set.clone(), notice.subject.clone(), reversed);
            if let Some(w) = self.windows.remove(&key) {
                self.close(&key, w, window, false);
            }
        }
        let key = (notice.set.clone(), notice.subject.clone(), notice.kind);
        let now = Instant::now();
        if let Some(open) = self.windows.get_mut(&key)
            && open.until > now
        {
            open.repeats += 1;
            open.last = notice;
            let shared = SharedWindow {
                last: StoredNotice::of(&open.last),
                repeats: open.repeats,
                until_ms: open.until_ms,
            };
            let held = Held {
                key: key_text(&key),
                notice: ron::to_string(&shared.last).unwrap_or_default(),
                repeats: open.repeats,
                until_ms: open.until_ms,
            };
            let recorded = open.shared;
            if let Err(e) = self.outbox.hold(&held) {
                self.store_error(&e);
            }
            if recorded {
                self.window_change(key_text(&key), Some(shared));
            }
            return;
        }
        let jobs = self.jobs(&notice, None, window);
        // The window first: in a cluster it reaches the shared store with the message.
        if !window.is_zero() {
            self.open_window(key, notice, window);
        }
        self.store(jobs, None);
    }

    pub(super) fn open_window(&mut self, key: Key, notice: Notice, window: Duration) {
        let until_ms = self.now_ms() + i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        let held = Held {
            key: key_text(&key),
            notice: ron::to_string(&StoredNotice::of(&notice)).unwrap_or_default(),
            repeats: 0,
            until_ms,
        };
        if let Err(e) = self.outbox.hold(&held) {
            self.store_error(&e);
        }
        // A window no method would summarise is not worth an etcd write (thousands of
        // servers failing at once open thousands of them).
        let summarised = !methods_with(&(self.settings)(), &notice.set, notice.kind).is_empty();
        if summarised {
            let shared = SharedWindow {
                last: StoredNotice::of(&notice),
                repeats: 0,
                until_ms,
            };
            self.window_change(key_text(&key), Some(shared));
        }
        self.windows.insert(
            key,
            Window {
                until: Instant::now() + window,
                until_ms,
                repeats: 0,
                last: notice,
                shared: summarised,
            },
        );
    }

    /// Ends a window: its summary (if it held repeats) goes into the outbox in the same
    /// transaction that removes the window. `reopen`: still flapping? Its next repeats are
    /// counted again, not sent one by one.
    pub(super) fn close(&mut self, key: &Key, w: Window, window: Duration, reopen: bool) {
        let jobs = if w.repeats > 0 {
            self.jobs(&w.last, Some(w.repeats), window)
        } else {
            Vec::new()
        };
        // In a cluster the window leaves the shared store in the write that stores its
        // summary there: from then on the summary is a shared message like any other.
        if w.shared {
            self.window_change(key_text(key), None);
        }
        self.store(jobs, Some(key_text(key)));
        if reopen && w.repeats > 0 && !window.is_zero() {
            self.open_window(key.clone(), w.last, window);
        }
    }

    /// Sends the summaries of windows that closed.
    pub(super) fn close_windows(&mut self) {
        if self.deferred.is_some() {
            // A takeover reads what the former leaders held: their windows replace these.
            return;
        }
        let now = Instant::now();
        let window = self.coalesce_window();
        let closed: Vec<Key> = self
            .windows
            .iter()
            .filter(|(_, w)| w.until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in closed {
            if let Some(w) = self.windows.remove(&key) {
                self.close(&key, w, window, true);
            }
        }
    }

    /// Reminders of open problems whose methods ask for them, while the engine still lists
    /// the problem.
    pub(super) fn remind(&mut self) {
        let Some(current) = &self.current else {
            return;
        };
        let settings = (self.settings)();
        let now = self.now_ms();
        let mut due = Vec::new();
        for (key, open) in &self.problems {
            if !current.contains(&(key.0.clone(), key.1.clone())) {
                continue;
            }
            for method in methods_with(&settings, &key.0, key.2) {
                let Some(every) = reminder_ms(method.remind_every_mins) else {
                    continue;
                };
                let name = describe(&method.kind);
                let last = open
                    .reminded
                    .get(&name)
                    .copied()
                    .unwrap_or(open.notice.time_ms);
                if now >= last.saturating_add(every) {
                    due.push((key.clone(), method.kind, name));
                }
            }
        }
        for (key, method, name) in due {
            let Some(mut open) = self.problems.get(&key).cloned() else {
                continue;
            };
            let (mut notice, event) = reminder(&open, now);
            notice.tags.set("EVENT", event);
            let tags = full_tags(&notice, None, Duration::ZERO);
            let jobs: Vec<String> = job_text(method, &key.0, &key.1, &tags)
                .into_iter()
                .collect();
            self.store(jobs, None);
            open.reminded.insert(name, now);
            self.remember(key, open);
        }
    }

    /// When the next reminder is due (only while the engine lists its problem).
    pub(super) fn next_reminder(&self) -> Option<i64> {
        let current = self.current.as_ref()?;
        let settings = (self.settings)();
        self.problems
            .iter()
            .filter(|(key, _)| current.contains(&(key.0.clone(), key.1.clone())))
            .flat_map(|(key, open)| {
                methods_with(&settings, &key.0, key.2)
                    .into_iter()
                    .filter_map(|m| {
                        let every = reminder_ms(m.remind_every_mins)?;
                        let last = open
                            .reminded
                            .get(&describe(&m.kind))
                            .copied()
                            .unwrap_or(open.notice.time_ms);
                        Some(last.saturating_add(every))
                    })
                    .collect::<Vec<_>>()
            })
            .min()
    }
}

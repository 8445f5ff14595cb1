//! The settings keeper: owns the settings file — its path, its stamp (to notice an external
//! edit), why it is broken if it is — and every access to it. Saves (atomic, fsync'd) and
//! the check every 2 s for an external edit run on a thread of their own; their results
//! come back to the engine loop as [`KeeperResult`]s. With no file (in memory) nothing
//! runs and an apply is answered at once.
//!
//! **Invariant:** the file on disk ends up as the settings the core runs on. Saves run in
//! order on one thread; a save of the engine's own change (a pause, [`SettingsKeeper::persist`])
//! that was made on settings which an apply or a reload has replaced since is skipped, so
//! that it cannot overwrite the newer file. Each persist is tagged with the number of
//! installs the loop had made when it was asked; the thread counts the installs it has
//! handed out in the same order.
//!
//! **Invariant:** a broken file is never overwritten: while the file does not load, applies
//! are refused and the engine's own changes are kept in memory only (and said so).
//!
//! **Invariant:** the engine loop never waits for the disk. It hands jobs over a bounded
//! channel with `try_send`: at most one persist is handed over at a time (newer ones
//! replace a waiting one), checks are timed by the thread itself, so only applies can
//! fill it — and a full queue refuses the apply with a clear error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::engine::command::Reply;
use crate::model::Settings;
use crate::model::file::{self, FileStamp};

/// How often the settings file is checked for an external edit.
const FILE_CHECK_EVERY: Duration = Duration::from_secs(2);
/// Jobs waiting for the keeper's thread (applies, at most one persist).
const JOBS: usize = 8;
/// Results waiting for the loop; the thread waits when it is full.
const RESULTS: usize = 8;
/// The snapshot is held back while the engine's own change is saved (so that whoever sees
/// a pause in it finds it on disk), but never longer than this.
const HOLD_SNAPSHOT_AT_MOST: Duration = Duration::from_secs(1);

enum Job {
    Apply {
        settings: Box<Settings>,
        reply: Option<Reply>,
    },
    Persist {
        settings: Arc<Settings>,
        /// Installs the loop had made when it asked.
        installs: u64,
    },
}

/// What the keeper tells the engine loop.
pub enum KeeperResult {
    /// The settings were saved (or there is no file): install them, then answer.
    Applied {
        settings: Box<Settings>,
        reply: Option<Reply>,
    },
    /// The apply was refused (broken file, write error, busy); nothing changes.
    Refused { why: String, reply: Option<Reply> },
    /// A persist ended: `Err` = the text to log, with its level.
    Persisted(Result<(), (crate::engine::Level, String)>),
    /// The file was edited by someone else and loads: install it.
    Reloaded {
        settings: Box<Settings>,
        path: PathBuf,
    },
    /// The file was edited and does not load: it is not used (and not overwritten).
    Broken(String),
}

/// The loop's side of the keeper.
pub struct SettingsKeeper {
    path: Option<PathBuf>,
    /// Why the file could not be (re)loaded, as last told by the thread.
    error: Option<String>,
    jobs: Option<SyncSender<Job>>,
    /// Installs made by the loop (applies and reloads), for tagging persists.
    installs: u64,
    /// A persist is with the thread.
    persist_busy: bool,
    /// The newest persist waiting for the one with the thread.
    persist_waiting: Option<(Arc<Settings>, u64)>,
    /// Since when the engine's own change is being saved.
    saving_since: Option<Instant>,
}

impl SettingsKeeper {
    /// Starts the keeper (and its thread, when there is a file) and the channel its
    /// results come back on.
    pub fn start(
        path: Option<PathBuf>,
        error: Option<String>,
    ) -> (SettingsKeeper, mpsc::Receiver<KeeperResult>) {
        let (results_tx, results) = mpsc::channel(RESULTS);
        let jobs = path.clone().and_then(|path| {
            let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel(JOBS);
            let thread_error = error.clone();
            let started = std::thread::Builder::new()
                .name("standby-settings".into())
                .spawn(move || keep(&path, thread_error, &jobs_rx, &results_tx));
            match started {
                Ok(_) => Some(jobs_tx),
                Err(e) => {
                    // Without its thread the file is neither saved nor watched; said so.
                    tracing::error!("settings file not kept: cannot start its thread: {e}");
                    None
                }
            }
        });
        let keeper = SettingsKeeper {
            path,
            error,
            jobs,
            installs: 0,
            persist_busy: false,
            persist_waiting: None,
            saving_since: None,
        };
        (keeper, results)
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Why the file is not used, if it is not.
    pub fn error(&self) -> Option<&String> {
        self.error.as_ref()
    }

    /// The engine's own change is being saved (and not for too long): hold the snapshot.
    pub fn hold_snapshot(&self) -> bool {
        self.saving_since
            .is_some_and(|since| since.elapsed() < HOLD_SNAPSHOT_AT_MOST)
    }

    /// Saves validated settings; the answer comes back as [`KeeperResult::Applied`] or
    /// [`KeeperResult::Refused`] — at once (returned) when there is no file or no room.
    pub fn apply(&mut self, settings: Box<Settings>, reply: Option<Reply>) -> Option<KeeperResult> {
        let Some(jobs) = &self.jobs else {
            return Some(KeeperResult::Applied { settings, reply });
        };
        match jobs.try_send(Job::Apply { settings, reply }) {
            Ok(()) => None,
            Err(TrySendError::Full(Job::Apply { reply, .. })) => Some(KeeperResult::Refused {
                why: "the settings file is busy: try again".into(),
                reply,
            }),
            Err(TrySendError::Disconnected(Job::Apply { reply, .. })) => {
                Some(KeeperResult::Refused {
                    why: "the settings file is not kept any more (its thread stopped)".into(),
                    reply,
                })
            }
            Err(_) => None,
        }
    }

    /// Saves settings the engine changed itself (a pause), after the saves before it.
    pub fn persist(&mut self, settings: Arc<Settings>) {
        if self.jobs.is_none() {
            return;
        }
        if self.persist_busy {
            self.persist_waiting = Some((settings, self.installs));
            return;
        }
        self.hand_persist(settings, self.installs);
    }

    fn hand_persist(&mut self, settings: Arc<Settings>, installs: u64) {
        let Some(jobs) = &self.jobs else {
            return;
        };
        // Never full for a persist: at most one is handed over (see the invariant).
        match jobs.try_send(Job::Persist { settings, installs }) {
            Ok(()) => {
                self.persist_busy = true;
                self.saving_since.get_or_insert_with(Instant::now);
            }
            Err(_) => tracing::error!("the settings file is busy: a pause is kept in memory only"),
        }
    }

    /// Notes a result of the thread before the loop acts on it.
    pub fn note(&mut self, result: &KeeperResult) {
        match result {
            KeeperResult::Applied { .. } => self.installs += 1,
            KeeperResult::Reloaded { .. } => {
                self.installs += 1;
                self.error = None;
            }
            KeeperResult::Broken(text) => self.error = Some(text.clone()),
            KeeperResult::Persisted(_) => {
                self.persist_busy = false;
                self.saving_since = None;
                if let Some((settings, installs)) = self.persist_waiting.take() {
                    self.hand_persist(settings, installs);
                }
            }
            KeeperResult::Refused { .. } => {}
        }
    }
}

/// The keeper's thread: runs jobs in order and checks the file between them.
fn keep(
    path: &Path,
    mut error: Option<String>,
    jobs: &std::sync::mpsc::Receiver<Job>,
    results: &mpsc::Sender<KeeperResult>,
) {
    let mut stamp = FileStamp::of(path);
    let mut installs: u64 = 0;
    let mut checked = std::time::Instant::now();
    loop {
        let wait = FILE_CHECK_EVERY.saturating_sub(checked.elapsed());
        let result = match jobs.recv_timeout(wait) {
            Ok(Job::Apply { settings, reply }) => Some(match &error {
                Some(e) => KeeperResult::Refused {
                    why: format!("not saved, so as not to overwrite the broken settings file: {e}"),
                    reply,
                },
                None => match file::save(path, &settings) {
                    Ok(()) => {
                        stamp = FileStamp::of(path);
                        installs += 1;
                        KeeperResult::Applied { settings, reply }
                    }
                    Err(e) => KeeperResult::Refused {
                        why: e.to_string(),
                        reply,
                    },
                },
            }),
            Ok(Job::Persist {
                settings,
                installs: tag,
            }) => Some(KeeperResult::Persisted(if tag < installs {
                // Newer settings were installed since: saving these would undo them.
                Ok(())
            } else if error.is_some() {
                Err((
                    crate::engine::Level::Warning,
                    "change kept in memory only: the settings file is broken".into(),
                ))
            } else {
                match file::save(path, &settings) {
                    Ok(()) => {
                        stamp = FileStamp::of(path);
                        Ok(())
                    }
                    Err(e) => Err((
                        crate::engine::Level::Error,
                        format!("cannot save the settings: {e}"),
                    )),
                }
            })),
            Err(RecvTimeoutError::Timeout) => {
                checked = std::time::Instant::now();
                check(path, &mut stamp, &mut error, &mut installs)
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Some(result) = result
            && results.blocking_send(result).is_err()
        {
            return; // the engine stopped
        }
    }
}

/// Looks for an external edit of the file.
fn check(
    path: &Path,
    stamp: &mut Option<FileStamp>,
    error: &mut Option<String>,
    installs: &mut u64,
) -> Option<KeeperResult> {
    let now = FileStamp::of(path);
    if now == *stamp {
        return None;
    }
    *stamp = now;
    // Deleted: keep running on what we have; a save recreates it.
    now?;
    match file::load(path) {
        Ok(settings) => {
            *error = None;
            *installs += 1;
            Some(KeeperResult::Reloaded {
                settings: Box::new(settings),
                path: path.to_path_buf(),
            })
        }
        Err(e) => {
            let text = format!("the edited settings file is not used: {e}");
            *error = Some(text.clone());
            Some(KeeperResult::Broken(text))
        }
    }
}

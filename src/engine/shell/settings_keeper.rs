//! The settings keeper: owns the settings file — its path, its stamp (to notice an external
//! edit), why it is broken if it is — and every access to it. Saves (atomic, fsync'd) and
//! the check every 2 s for an external edit run on a thread of their own; their results
//! come back to the engine loop as [`KeeperResult`]s. With no file (in memory) nothing
//! runs and an apply is answered at once.
//!
//! **Invariant:** the file on disk ends up as the settings the core runs on. Saves run in
//! order on one thread; a save of the engine's own change (a pause, [`SettingsKeeper::persist`])
//! that was made on settings which an apply has replaced since is skipped, so that it cannot
//! overwrite the newer file (the apply was made on the paused settings); one overtaken by a
//! hand edit that the check loaded is made on that edit instead. Each persist is tagged with the number of
//! installs the loop had made when it was asked; the thread counts the installs it has
//! handed out in the same order.
//!
//! **Invariant:** a broken file is never overwritten: while the file does not load, applies
//! are refused and the engine's own changes are kept in memory only (and said so).
//!
//! **Invariant:** a hand edit is never silently overwritten: every save checks that the file
//! is still what the keeper last read or wrote (`file::save_unless_changed`). If it is not,
//! the edit is loaded first; an apply is then refused (its sender makes it again), a pause
//! is made on top of the edit and saved.
//!
//! **Invariant:** the engine loop never waits for the disk. It hands jobs over a bounded
//! channel with `try_send`: at most one persist is handed over at a time (newer ones
//! replace a waiting one), checks are timed by the thread itself, so only applies can
//! fill it — and a full queue refuses the apply with a clear error.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{RecvTimeoutError, SyncSender, TrySendError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::engine::Level;
use crate::engine::edit::EditError;
use crate::engine::machine::Pause;
use crate::model::Settings;
use crate::model::file::{self, FileStamp};

/// Where the outcome of an apply goes, if the sender wants it.
type Reply = oneshot::Sender<Result<(), EditError>>;

/// How often the settings file is checked for an external edit.
const FILE_CHECK_EVERY: Duration = Duration::from_secs(2);
/// Jobs waiting for the keeper's thread (applies, at most one persist).
const JOBS: usize = 8;
/// Results waiting for the loop; the thread waits when it is full.
const RESULTS: usize = 8;
/// The snapshot is held back while the engine's own change is saved (so that whoever sees
/// a pause in it finds it on disk), but never longer than this.
const HOLD_SNAPSHOT_AT_MOST: Duration = Duration::from_secs(1);

/// Who waits for the outcome of an apply.
pub enum Answer {
    /// [`crate::engine::Request::ApplySettings`].
    Apply(Option<Reply>),
    /// [`crate::engine::Request::EditSettings`]: gets the new revision.
    Edit(oneshot::Sender<Result<u64, EditError>>),
    /// Cluster mode: the shared settings of etcd revision `revision` put in force here.
    /// `winner`: the edit that wrote them (told as usual); `losers`: the edits that etcd
    /// refused because these came first, each told so once they are in force (so that its
    /// sender finds them when it reads again).
    Shared {
        revision: i64,
        winner: Option<Box<Answer>>,
        losers: Vec<Answer>,
    },
}

impl Answer {
    /// `Ok(revision)` after the install, or why nothing changed.
    pub fn send(self, outcome: Result<u64, EditError>) {
        match self {
            Answer::Apply(Some(reply)) => {
                let _ = reply.send(outcome.map(|_| ()));
            }
            Answer::Apply(None) => {}
            Answer::Edit(reply) => {
                let _ = reply.send(outcome);
            }
            Answer::Shared {
                revision,
                winner,
                losers,
            } => {
                if let Some(winner) = winner {
                    winner.send(outcome.clone());
                }
                for loser in losers {
                    let lost = match &outcome {
                        Ok(current) => Err(EditError::SharedConflict {
                            etcd_revision: revision,
                            current: *current,
                        }),
                        Err(e) => Err(e.clone()),
                    };
                    loser.send(lost);
                }
            }
        }
    }
}

enum Job {
    Apply {
        settings: Box<Settings>,
        answer: Answer,
    },
    Persist {
        settings: Arc<Settings>,
        /// The change, to make again on a hand edit found meanwhile.
        pause: Pause,
        /// Installs the loop had made when it asked.
        installs: u64,
    },
}

/// What the keeper tells the engine loop.
pub enum KeeperResult {
    /// The settings were saved (or there is no file): install them, then answer.
    Applied {
        settings: Box<Settings>,
        answer: Answer,
    },
    /// The apply was refused (invalid, broken file, write error, busy); nothing changes.
    Refused { why: EditError, answer: Answer },
    /// A persist ended: `Err` = the text to log, with its level.
    Persisted(Result<(), (Level, String)>),
    /// A line for the log.
    Note(Level, String),
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
    persist_waiting: Option<(Arc<Settings>, Pause, u64)>,
    /// Since when the engine's own change is being saved.
    saving_since: Option<Instant>,
    /// Applies with the thread.
    applies_pending: usize,
}

impl SettingsKeeper {
    /// Starts the keeper (and its thread, when there is a file) and the channel its
    /// results come back on.
    /// `settings`: what the engine starts on (read from the file, or the defaults).
    pub fn start(
        path: Option<PathBuf>,
        error: Option<String>,
        settings: Arc<Settings>,
    ) -> (SettingsKeeper, mpsc::Receiver<KeeperResult>) {
        let (results_tx, results) = mpsc::channel(RESULTS);
        let jobs = path.clone().and_then(|path| {
            let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel(JOBS);
            let thread_error = error.clone();
            let started = std::thread::Builder::new()
                .name("standby-settings".into())
                .spawn(move || keep(&path, thread_error, &settings, &jobs_rx, &results_tx));
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
            applies_pending: 0,
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
    pub fn apply(&mut self, settings: Box<Settings>, answer: Answer) -> Option<KeeperResult> {
        let Some(jobs) = &self.jobs else {
            return Some(KeeperResult::Applied { settings, answer });
        };
        let (why, job) = match jobs.try_send(Job::Apply { settings, answer }) {
            Ok(()) => {
                self.applies_pending += 1;
                return None;
            }
            Err(TrySendError::Full(job)) => ("the settings file is busy: try again", job),
            Err(TrySendError::Disconnected(job)) => (
                "the settings file is not kept any more (its thread stopped)",
                job,
            ),
        };
        match job {
            Job::Apply { answer, .. } => Some(KeeperResult::Refused {
                why: EditError::NotSaved(why.into()),
                answer,
            }),
            Job::Persist { .. } => None,
        }
    }

    /// Applies handed to the thread and not answered yet.
    pub fn applies_pending(&self) -> usize {
        self.applies_pending
    }

    /// Saves settings the engine changed itself (a pause), after the saves before it.
    pub fn persist(&mut self, settings: Arc<Settings>, pause: Pause) {
        if self.jobs.is_none() {
            return;
        }
        if self.persist_busy {
            self.persist_waiting = Some((settings, pause, self.installs));
            return;
        }
        self.hand_persist(settings, pause, self.installs);
    }

    fn hand_persist(&mut self, settings: Arc<Settings>, pause: Pause, installs: u64) {
        let Some(jobs) = &self.jobs else {
            return;
        };
        // Never full for a persist: at most one is handed over (see the invariant).
        match jobs.try_send(Job::Persist {
            settings,
            pause,
            installs,
        }) {
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
            KeeperResult::Applied { .. } => {
                self.installs += 1;
                self.applies_pending = self.applies_pending.saturating_sub(1);
            }
            KeeperResult::Reloaded { .. } => {
                self.installs += 1;
                self.error = None;
            }
            KeeperResult::Broken(text) => self.error = Some(text.clone()),
            KeeperResult::Persisted(_) => {
                self.persist_busy = false;
                self.saving_since = None;
                if let Some((settings, pause, installs)) = self.persist_waiting.take() {
                    self.hand_persist(settings, pause, installs);
                }
            }
            KeeperResult::Refused { .. } => {
                self.applies_pending = self.applies_pending.saturating_sub(1);
            }
            KeeperResult::Note(..) => {}
        }
    }
}

/// The keeper's thread: runs jobs in order and checks the file between them.
fn keep(
    path: &Path,
    error: Option<String>,
    started_on: &Settings,
    jobs: &std::sync::mpsc::Receiver<Job>,
    results: &mpsc::Sender<KeeperResult>,
) {
    // A hand edit made since the settings were read is not stamped as seen, so the first
    // look at the file loads it (and no save overwrites it).
    let stamp = FileStamp::of(path).filter(|_| match file::load(path) {
        Ok(on_disk) => on_disk == *started_on,
        Err(_) => true,
    });
    let mut file = File {
        path,
        stamp,
        error,
        installs: 0,
        last_apply: 0,
        last_hand_edit: 0,
        results,
    };
    let mut next_check = std::time::Instant::now();
    loop {
        let wait = next_check.saturating_duration_since(std::time::Instant::now());
        let done = match jobs.recv_timeout(wait) {
            Ok(Job::Apply { settings, answer }) => file.apply(settings, answer),
            Ok(Job::Persist {
                settings,
                pause,
                installs,
            }) => file.persist(&settings, &pause, installs),
            Err(RecvTimeoutError::Timeout) => {
                next_check = std::time::Instant::now() + FILE_CHECK_EVERY;
                file.check()
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if done.is_err() {
            return; // the engine stopped
        }
    }
}

/// The file as the keeper's thread knows it.
struct File<'a> {
    path: &'a Path,
    /// What the file looked like when last read or written.
    stamp: Option<FileStamp>,
    /// Why it does not load, if it does not.
    error: Option<String>,
    /// Installs handed to the loop (applies and reloads), counted as the loop counts them.
    installs: u64,
    /// The install of the last apply, and of the last hand edit loaded by [`File::check`].
    last_apply: u64,
    last_hand_edit: u64,
    results: &'a mpsc::Sender<KeeperResult>,
}

/// The loop has stopped.
struct Stopped;

impl File<'_> {
    fn send(&self, result: KeeperResult) -> Result<(), Stopped> {
        self.results.blocking_send(result).map_err(|_| Stopped)
    }

    fn apply(&mut self, settings: Box<Settings>, answer: Answer) -> Result<(), Stopped> {
        if let Some(e) = &self.error {
            let why = EditError::NotSaved(format!(
                "not saved, so as not to overwrite the broken settings file: {e}"
            ));
            return self.send(KeeperResult::Refused { why, answer });
        }
        match file::save_unless_changed(self.path, &settings, self.stamp) {
            Ok(stamp) => {
                self.stamp = stamp;
                self.installs += 1;
                self.last_apply = self.installs;
                self.send(KeeperResult::Applied { settings, answer })
            }
            Err(e @ file::SettingsError::Conflict { .. }) => {
                // Someone edited the file by hand since we read it: theirs wins, and
                // whoever sent this change is told to make it again.
                self.check()?;
                let why = EditError::NotSaved(e.to_string());
                self.send(KeeperResult::Refused { why, answer })
            }
            Err(e) => {
                let why = EditError::NotSaved(e.to_string());
                self.send(KeeperResult::Refused { why, answer })
            }
        }
    }

    fn persist(&mut self, settings: &Settings, pause: &Pause, tag: u64) -> Result<(), Stopped> {
        let mut settings = settings.clone();
        let mut edited = false;
        if tag < self.installs {
            // Newer settings were installed since. An apply's were made on the paused ones
            // (the loop is sequential): saving these would undo it. A hand edit loaded by
            // the check lacks the pause: make the pause on it, as when a save finds it.
            if self.last_apply > tag || self.last_hand_edit <= tag {
                return self.send(KeeperResult::Persisted(Ok(())));
            }
            match file::load(self.path) {
                Ok(on_disk) => {
                    settings = on_disk;
                    pause.apply_to(&mut settings);
                    edited = true;
                }
                // Broken since: the check says so; the pause stays in memory.
                Err(_) => return self.send(KeeperResult::Persisted(Ok(()))),
            }
        }
        for attempt in 0..2 {
            if self.error.is_some() {
                let text = "change kept in memory only: the settings file is broken";
                return self.send(KeeperResult::Persisted(Err((Level::Warning, text.into()))));
            }
            match file::save_unless_changed(self.path, &settings, self.stamp) {
                Ok(stamp) => {
                    self.stamp = stamp;
                    if edited {
                        // Saved on top of the edit: the loop runs on what is on disk now.
                        self.installs += 1;
                        self.send(KeeperResult::Reloaded {
                            settings: Box::new(settings),
                            path: self.path.to_path_buf(),
                        })?;
                    }
                    return self.send(KeeperResult::Persisted(Ok(())));
                }
                Err(file::SettingsError::Conflict { .. }) if attempt == 0 => {
                    let text = format!(
                        "{} was edited by hand meanwhile: the edit is loaded and the pause \
                         applied to it",
                        self.path.display()
                    );
                    self.send(KeeperResult::Note(Level::Warning, text))?;
                    // Load the edit (without handing it over yet), make the pause on it.
                    match self.load() {
                        Some(Ok(on_disk)) => {
                            settings = on_disk;
                            pause.apply_to(&mut settings);
                            edited = true;
                        }
                        Some(Err(broken)) => self.send(broken)?,
                        None => {}
                    }
                }
                Err(e) => {
                    let text = format!("cannot save the settings: {e}");
                    return self.send(KeeperResult::Persisted(Err((Level::Error, text))));
                }
            }
        }
        self.send(KeeperResult::Persisted(Ok(())))
    }

    /// Looks for an external edit of the file and hands it over.
    fn check(&mut self) -> Result<(), Stopped> {
        match self.load() {
            Some(Ok(settings)) => {
                self.installs += 1;
                self.last_hand_edit = self.installs;
                self.send(KeeperResult::Reloaded {
                    settings: Box::new(settings),
                    path: self.path.to_path_buf(),
                })
            }
            Some(Err(broken)) => self.send(broken),
            None => Ok(()),
        }
    }

    /// Reads the file if it changed: the settings, or the [`KeeperResult::Broken`] to tell.
    fn load(&mut self) -> Option<Result<Settings, KeeperResult>> {
        let now = FileStamp::of(self.path);
        if now == self.stamp {
            return None;
        }
        self.stamp = now;
        // Deleted: keep running on what we have; a save recreates it.
        now?;
        Some(match file::load(self.path) {
            Ok(settings) => {
                self.error = None;
                Ok(settings)
            }
            Err(e) => {
                let text = format!("the edited settings file is not used: {e}");
                self.error = Some(text.clone());
                Err(KeeperResult::Broken(text))
            }
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::{Server, ServerSet};

    fn settings(names: &[(&str, bool)]) -> Settings {
        let mut settings = Settings::default();
        for (i, (name, paused)) in names.iter().enumerate() {
            settings.server_sets.push(ServerSet {
                name: (*name).into(),
                paused: *paused,
                servers: vec![Server {
                    public_ip: format!("127.0.0.{}", i + 2),
                    ..Server::default()
                }],
                ..ServerSet::default()
            });
        }
        settings
    }

    fn paused_on_disk(path: &Path) -> Vec<(String, bool)> {
        let on_disk = file::load(path).unwrap();
        on_disk
            .server_sets
            .iter()
            .map(|s| (s.name.clone(), s.paused))
            .collect()
    }

    /// The race of `settings_conflict::a_pause_right_after_a_hand_edit_is_applied_to_the_edit`
    /// (seen once in CI): the check loads a hand edit before the persist of a resume made
    /// just before it arrives. The resume used to be skipped as stale, and was lost.
    #[test]
    fn a_pause_made_before_a_hand_edit_was_loaded_is_made_on_the_edit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        file::save(&path, &settings(&[("web", true)])).unwrap();
        let (tx, mut rx) = mpsc::channel(16);
        let mut keeper = File {
            path: &path,
            stamp: FileStamp::of(&path),
            error: None,
            installs: 0,
            last_apply: 0,
            last_hand_edit: 0,
            results: &tx,
        };
        // The loop resumes web (its persist is tagged 0), then the hand edit lands and the
        // thread's check loads it first.
        let resumed = settings(&[("web", false)]);
        file::save(&path, &settings(&[("web", true), ("hand", true)])).unwrap();
        assert!(keeper.check().is_ok());
        assert!(matches!(rx.try_recv(), Ok(KeeperResult::Reloaded { .. })));
        assert!(
            keeper
                .persist(&resumed, &Pause::Set("web".into(), false), 0)
                .is_ok()
        );
        assert_eq!(
            paused_on_disk(&path),
            [("web".to_string(), false), ("hand".to_string(), true)]
        );
        // The loop is handed the edit with the resume made on it.
        match rx.try_recv() {
            Ok(KeeperResult::Reloaded { settings, .. }) => {
                assert!(!settings.server_sets[0].paused);
                assert_eq!(settings.server_sets.len(), 2);
            }
            _ => panic!("no reload with the resume"),
        }
        assert!(matches!(rx.try_recv(), Ok(KeeperResult::Persisted(Ok(())))));

        // An apply installed since a pause was asked for is not undone by it.
        let applied = settings(&[("web", true), ("hand", false)]);
        assert!(keeper.apply(Box::new(applied), Answer::Apply(None)).is_ok());
        let tag = keeper.installs - 1;
        assert!(
            keeper
                .persist(&resumed, &Pause::Set("web".into(), false), tag)
                .is_ok()
        );
        assert_eq!(
            paused_on_disk(&path),
            [("web".to_string(), true), ("hand".to_string(), false)]
        );
    }
}

//! The engine loop: commands, poll results, due timers, the settings file and publishing.
//! It owns all state; polls and DNS checks run as tasks and report back over channels.
//! The DNS side is in `runner/dns.rs`, events, log and snapshot in `runner/output.rs`.

mod dns;
mod output;
mod polls;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::EngineFiles;
use super::command::{Command, RepaintWaker};
use super::decision::{Decision, all_failed};
use super::dns_sync::SetDns;
use super::edit::EditError;
use super::events::{Event, EventDetails, Level, LogLine, push_bounded};
use super::problems::{LocalFaults, Problems};
use super::scheduler::{TimerKey, Timers, spread_offset};
use super::server_state::{ServerStatus, Transition, next_poll_delay, observe};
use super::sets::SetRuntime;
use super::snapshot::{PollStats, Snapshot};
use crate::model::file::{self, FileStamp};
use crate::model::{EventKind, Settings, validate};
use crate::probe::{PollOutcome, PollTarget};
use crate::store::history::HistoryRow;
use crate::store::published::Published;
use crate::store::writer::HistoryWriter;
use dns::DnsResult;

/// How often a changed snapshot is published at most.
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// How often the settings file is checked for an external edit.
const FILE_CHECK_EVERY: Duration = Duration::from_secs(2);
/// Recent events kept in the snapshot.
const EVENTS_KEPT: usize = 1000;
/// How often old history is purged (also once at start).
const HISTORY_PURGE_EVERY: Duration = Duration::from_secs(3600);

/// A finished poll.
struct PollResult {
    set_id: u64,
    server: usize,
    public_ip: std::net::IpAddr,
    due: Instant,
    /// How long after `due` the poll really started.
    lateness: Duration,
    outcome: PollOutcome,
}

/// Lateness samples kept for the percentiles.
const LATENESS_SAMPLES: usize = 10_000;
/// How often the percentiles are recomputed.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// The engine's ends of the channels to its handle.
pub(super) struct Channels {
    pub commands: mpsc::Receiver<Command>,
    pub stop: oneshot::Receiver<()>,
    pub snapshot_tx: watch::Sender<Arc<Snapshot>>,
    pub events_tx: broadcast::Sender<Event>,
}

pub(super) async fn run(settings: Arc<Settings>, files: EngineFiles, channels: Channels) {
    let EngineFiles {
        settings_path,
        settings_error,
        database,
    } = files;
    let Channels {
        mut commands,
        mut stop,
        snapshot_tx,
        events_tx,
    } = channels;
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let (history, published) = match HistoryWriter::start(database) {
        Ok(started) => started,
        Err(e) => {
            // Without its file the history still works, in memory; the operator is told.
            tracing::error!("{e}; polling history kept in memory only");
            match HistoryWriter::start(None) {
                Ok(started) => started,
                Err(e) => {
                    tracing::error!("no polling history: {e}");
                    return;
                }
            }
        }
    };
    let (dns_tx, mut dns_results) = mpsc::unbounded_channel();
    let mut engine = Engine::new(
        settings,
        settings_path,
        snapshot_tx,
        events_tx,
        (results_tx, dns_tx),
        (history, published),
    );
    let mut purge = tokio::time::interval(HISTORY_PURGE_EVERY);
    purge.set_missed_tick_behavior(MissedTickBehavior::Delay);
    if let Some(error) = settings_error {
        engine.log(
            Level::Error,
            format!("{error}; running on the defaults until the file is mended"),
        );
        engine.settings_error = Some(error);
    }
    engine.log(
        Level::Info,
        format!("engine started with {} server set(s)", engine.sets.len()),
    );
    // The first snapshot with the sets goes out at once, before any timer.
    engine.publish();
    let mut publish = tokio::time::interval(PUBLISH_EVERY);
    publish.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut file_check = tokio::time::interval(FILE_CHECK_EVERY);
    file_check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let next_due = engine.timers.next_due();
        let dns_due = engine.dns_next_due();
        tokio::select! {
            biased;
            _ = &mut stop => break,
            command = commands.recv() => match command {
                Some(Command::Shutdown) | None => break,
                Some(command) => engine.handle(command),
            },
            Some(result) = results.recv() => engine.on_result(result),
            Some(result) = dns_results.recv() => engine.on_dns_result(result),
            _ = sleep_until(next_due) => engine.dispatch_due(),
            _ = sleep_until(dns_due) => engine.dns_dispatch_due(),
            _ = publish.tick() => engine.publish(),
            _ = file_check.tick() => engine.check_settings_file(),
            _ = purge.tick() => engine.history.purge(engine.settings.options.polling.history_purge_days),
        }
    }
    engine.log(Level::Info, "engine stopped".into());
    engine.dirty = true;
    engine.publish();
    engine.flush_history();
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

struct Engine {
    settings: Arc<Settings>,
    /// Grows with every change of `settings` (see `Snapshot::settings_revision`).
    settings_revision: u64,
    settings_path: Option<PathBuf>,
    file_stamp: Option<FileStamp>,
    settings_error: Option<String>,
    sets: Vec<SetRuntime>,
    set_index: HashMap<u64, usize>,
    next_set_id: u64,
    timers: Timers,
    permits: Arc<Semaphore>,
    max_polls: u32,
    results_tx: mpsc::UnboundedSender<PollResult>,
    in_flight: usize,
    /// Limits DNS pipeline runs in flight (`max_concurrent_updates`).
    dns_permits: Arc<Semaphore>,
    max_updates: u32,
    dns_tx: mpsc::UnboundedSender<DnsResult>,
    /// Numbers DNS runs, so that a cancelled run's late result is recognised.
    dns_runs: u64,
    problems: Problems,
    /// The monitor's own shortage, as poll results show it.
    local_faults: LocalFaults<Instant>,
    events: Arc<VecDeque<Event>>,
    log: Arc<VecDeque<LogLine>>,
    events_tx: broadcast::Sender<Event>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    generation: u64,
    dirty: bool,
    waker: Option<RepaintWaker>,
    polls_completed: u64,
    lateness_ms: VecDeque<f32>,
    stats: PollStats,
    stats_at: Instant,
    history: HistoryWriter,
    /// What each set last published, kept across restarts (for DNS serving).
    published: HashMap<String, Published>,
    /// The log-file thread; `None` when it could not start (logged).
    log_files: Option<crate::store::logfiles::LogFiles>,
    /// Rows waiting for the next flush (every publish tick).
    history_batch: Vec<HistoryRow>,
    /// History rows dropped as last reported (see `report_history_drops`).
    history_dropped: u64,
}

impl Engine {
    fn new(
        settings: Arc<Settings>,
        settings_path: Option<PathBuf>,
        snapshot_tx: watch::Sender<Arc<Snapshot>>,
        events_tx: broadcast::Sender<Event>,
        (results_tx, dns_tx): (
            mpsc::UnboundedSender<PollResult>,
            mpsc::UnboundedSender<DnsResult>,
        ),
        (history, published): (HistoryWriter, HashMap<String, Published>),
    ) -> Engine {
        let max_updates = settings.options.dns_updating.max_concurrent_updates.max(1);
        let max_polls = settings.options.polling.max_concurrent_polls.max(1);
        // A hand edit made since `settings` were read is not stamped as seen, so the first
        // look at the file loads it (and no save overwrites it).
        let file_stamp = settings_path.as_deref().and_then(|path| {
            let stamp = FileStamp::of(path)?;
            match file::load(path) {
                Ok(on_disk) if on_disk != *settings => None,
                _ => Some(stamp),
            }
        });
        let mut engine = Engine {
            settings: Arc::new(Settings::default()),
            settings_revision: 0,
            settings_path,
            file_stamp,
            settings_error: None,
            sets: Vec::new(),
            set_index: HashMap::new(),
            next_set_id: 1,
            timers: Timers::default(),
            permits: Arc::new(Semaphore::new(max_polls as usize)),
            max_polls,
            results_tx,
            in_flight: 0,
            dns_permits: Arc::new(Semaphore::new(max_updates as usize)),
            max_updates,
            dns_tx,
            dns_runs: 0,
            problems: Problems::default(),
            local_faults: LocalFaults::default(),
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
            history,
            published,
            log_files: match crate::store::logfiles::LogFiles::start() {
                Ok(files) => Some(files),
                Err(e) => {
                    tracing::error!("no log files: cannot start their thread: {e}");
                    None
                }
            },
            history_batch: Vec::new(),
            history_dropped: 0,
        };
        engine.install(settings);
        engine
    }

    // ---- commands ---------------------------------------------------------------------

    fn handle(&mut self, command: Command) {
        match command {
            Command::PauseAll => self.set_all_paused(true),
            Command::ResumeAll => self.set_all_paused(false),
            Command::PollAll => {
                for i in 0..self.sets.len() {
                    self.poll_set_now(i);
                }
            }
            Command::PauseSet(name) => self.set_paused(&name, true, false),
            Command::ResumeSet(name) => self.set_paused(&name, false, false),
            Command::PollSet(name) => match self.find_set(&name) {
                Some(i) => self.poll_set_now(i),
                None => self.log(
                    Level::Warning,
                    format!("poll now: no server set named {name:?}"),
                ),
            },
            Command::ApplySettings { settings, reply } => {
                let outcome = self.apply(*settings);
                match &outcome {
                    Err(why) => self.log(Level::Error, format!("settings not applied: {why}")),
                    // Published before the reply: whoever waited on it (a dialog that
                    // reopens, the API's next GET) reads the new settings, not the old.
                    Ok(()) => {
                        self.dirty = true;
                        self.publish();
                    }
                }
                if let Some(reply) = reply {
                    let _ = reply.send(outcome);
                }
            }
            Command::EditSettings {
                edit,
                if_revision,
                reply,
            } => {
                let outcome = super::edit::check_revision(if_revision, self.settings_revision)
                    .and_then(|()| edit.apply_to(&self.settings))
                    .and_then(|settings| self.apply(settings));
                match &outcome {
                    Err(why @ (EditError::Invalid(_) | EditError::NotSaved(_))) => {
                        self.log(Level::Error, format!("settings not applied: {why}"));
                    }
                    Err(_) => {}
                    Ok(()) => {
                        self.dirty = true;
                        self.publish();
                    }
                }
                let _ = reply.send(outcome.map(|()| self.settings_revision));
            }
            Command::QueryHistory { filter, reply } => {
                // Rows of the current batch first, so that a query sees every poll so far.
                self.flush_history();
                self.history.query(filter, reply);
            }
            Command::SaveHistoryCsv {
                filter,
                path,
                reply,
            } => {
                self.flush_history();
                self.history.save_csv(filter, path, reply);
            }
            Command::WriteSupportFile { path, reply } => {
                let text = super::support::bundle(&self.settings, &self.problems.list(), &self.log);
                // File IO off the engine loop: a slow disk never delays polls.
                tokio::task::spawn_blocking(move || {
                    let outcome = std::fs::write(&path, text)
                        .map(|()| path.clone())
                        .map_err(|e| format!("cannot write {}: {e}", path.display()));
                    let _ = reply.send(outcome);
                });
            }
            Command::Ping { address, replies } => {
                tokio::spawn(super::ping::ping_loop(address, replies));
            }
            Command::ClearLog => {
                Arc::make_mut(&mut self.log).clear();
                self.dirty = true;
            }
            Command::Log { level, text } => self.log(level, text),
            Command::SetRepaintWaker(waker) => {
                self.waker = Some(waker);
                self.dirty = true;
            }
            Command::NotificationReport(report) => self.on_notification_report(report),
            // EngineHandle routes tests to the notification dispatcher; this is a fallback.
            Command::TestNotification { reply, .. } => {
                let _ = reply.send(Err("notifications are not running".into()));
            }
            // Handled by the loop.
            Command::Shutdown => {}
        }
    }

    /// A notification was delivered (logged, its problem resolved) or failed (a problem).
    fn on_notification_report(&mut self, report: crate::notify::Report) {
        use crate::notify::Report;
        let now = SystemTime::now();
        match report {
            Report::Delivered { set, subject, text } => {
                self.problems.clear(&set, &subject);
                self.log(Level::Info, format!("{subject}: {text}"));
            }
            Report::Failed {
                set,
                subject,
                code,
                text,
                dropped,
            } => {
                self.log(Level::Warning, format!("{subject}: {code} {text}"));
                // A dropped desktop balloon is only logged: it is not a lasting fault.
                if !(dropped && subject.ends_with("desktop")) {
                    self.problems.raise(&set, &subject, code, &text, now);
                }
            }
        }
    }

    fn find_set(&self, name: &str) -> Option<usize> {
        self.sets.iter().position(|s| s.config.name == name)
    }

    /// Validates, saves and installs new settings.
    fn apply(&mut self, settings: Settings) -> Result<(), EditError> {
        let errors = validate(&settings);
        if !errors.is_empty() {
            return Err(EditError::Invalid(errors));
        }
        if let Some(error) = &self.settings_error {
            return Err(EditError::NotSaved(format!(
                "not saved, so as not to overwrite the broken settings file: {error}"
            )));
        }
        if let Some(path) = self.settings_path.clone() {
            match file::save_unless_changed(&path, &settings, self.file_stamp) {
                Ok(stamp) => self.file_stamp = stamp,
                Err(e @ file::SettingsError::Conflict { .. }) => {
                    // Someone edited the file by hand since we read it: theirs wins, and
                    // whoever sent this change is told to make it again.
                    self.check_settings_file();
                    return Err(EditError::NotSaved(e.to_string()));
                }
                Err(e) => return Err(EditError::NotSaved(e.to_string())),
            }
        }
        self.install(Arc::new(settings));
        self.log(Level::Info, "settings applied".into());
        Ok(())
    }

    /// Saves the settings in force after a change the engine made itself (a pause). If the
    /// file was edited by hand meanwhile, the edit is loaded and the pause applied on top
    /// of it (never the other way round).
    fn persist(&mut self, pause: Pause) {
        let Some(path) = self.settings_path.clone() else {
            return;
        };
        for attempt in 0..2 {
            if self.settings_error.is_some() {
                self.log(
                    Level::Warning,
                    "change kept in memory only: the settings file is broken".into(),
                );
                return;
            }
            match file::save_unless_changed(&path, &self.settings, self.file_stamp) {
                Ok(stamp) => {
                    self.file_stamp = stamp;
                    return;
                }
                Err(file::SettingsError::Conflict { .. }) if attempt == 0 => {
                    self.log(
                        Level::Warning,
                        format!(
                            "{} was edited by hand meanwhile: the edit is loaded and the \
                             pause applied to it",
                            path.display()
                        ),
                    );
                    self.check_settings_file();
                    self.apply_pause(&pause);
                }
                Err(e) => {
                    self.log(Level::Error, format!("cannot save the settings: {e}"));
                    return;
                }
            }
        }
    }

    /// Puts a pause into the settings and the running sets (after a reload).
    fn apply_pause(&mut self, pause: &Pause) {
        match pause {
            Pause::All(paused) => {
                Arc::make_mut(&mut self.settings).options.polling.paused = *paused;
            }
            Pause::Set(name, paused) => {
                if let Some(s) = Arc::make_mut(&mut self.settings)
                    .server_sets
                    .iter_mut()
                    .find(|s| s.name == *name)
                {
                    s.paused = *paused;
                }
                if let Some(i) = self.find_set(name) {
                    self.sets[i].config.paused = *paused;
                    self.sets[i].dirty = true;
                }
            }
        }
    }

    /// Replaces the running sets with those of `settings`, keeping what can be kept.
    fn install(&mut self, settings: Arc<Settings>) {
        let max_polls = settings.options.polling.max_concurrent_polls.max(1);
        if max_polls != self.max_polls {
            // Polls holding permits of the old semaphore finish normally.
            self.permits = Arc::new(Semaphore::new(max_polls as usize));
            self.max_polls = max_polls;
        }
        self.dns_set_limit(settings.options.dns_updating.max_concurrent_updates);
        let dns_options = &settings.options.dns_updating;
        let mut old: Vec<SetRuntime> = std::mem::take(&mut self.sets);
        let mut sets = Vec::with_capacity(settings.server_sets.len());
        for config in &settings.server_sets {
            let previous = old
                .iter()
                .position(|s| s.config.name == config.name)
                .map(|i| old.swap_remove(i));
            match previous {
                Some(mut same) if same.config == *config => {
                    // The default DNS servers of the Options may have changed.
                    if SetDns::servers_of(config, dns_options) != same.dns.servers {
                        same.dns = SetDns::build(config, dns_options);
                    }
                    same.dirty = true;
                    sets.push(same);
                }
                previous => {
                    let id = self.next_set_id;
                    self.next_set_id += 1;
                    sets.push(SetRuntime::build(
                        id,
                        config.clone(),
                        previous.as_ref(),
                        dns_options,
                    ));
                }
            }
        }
        self.sets = sets;
        self.set_index = self
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        // Problems of sets and servers that are gone go with them.
        let names: Vec<String> = self.sets.iter().map(|s| s.config.name.clone()).collect();
        self.problems
            .retain_sets(|set| names.iter().any(|n| n == set));
        for (i, set) in self.sets.iter().enumerate() {
            let mut subjects: Vec<String> =
                (0..set.servers.len()).map(|k| set.subject(k)).collect();
            subjects.extend(self.dns_subjects(i));
            self.problems.retain_set(&set.config.name, |subject| {
                subjects.iter().any(|s| s == subject)
                    || subject == SET_SUBJECT
                    || subject
                        .strip_suffix(super::problems::CERTIFICATE_SUFFIX)
                        .is_some_and(|server| subjects.iter().any(|s| s == server))
            });
        }
        self.settings = settings;
        self.settings_revision += 1;
        self.published
            .retain(|set, _| names.iter().any(|name| name == set));
        for i in 0..self.sets.len() {
            if self.sets[i].published.is_none() {
                self.sets[i].published = self.published.get(&self.sets[i].config.name).cloned();
            }
            self.note_published(i);
            self.dns_follow_decision(i);
        }
        self.refresh_set_problems();
        self.reschedule_all();
        self.dirty = true;
    }

    /// Keeps what the set publishes now, in memory and in the database, so that DNS
    /// serving goes on giving it while a later decision waits (after a restart) or says
    /// to leave DNS as it is.
    pub(super) fn note_published(&mut self, set: usize) {
        let s = &mut self.sets[set];
        let Decision::Publish { addresses, .. } = &s.decision else {
            return;
        };
        if s.published.as_ref() == Some(addresses) {
            return;
        }
        s.published = Some(addresses.clone());
        s.dirty = true;
        self.dirty = true;
        self.published
            .insert(s.config.name.clone(), addresses.clone());
        self.history.published(&s.config.name, addresses.clone());
    }

    /// Raises or clears the set-level problem of sets that cannot poll.
    fn refresh_set_problems(&mut self) {
        let now = SystemTime::now();
        for set in &self.sets {
            match &set.probe {
                Err(why) => {
                    self.problems
                        .raise(&set.config.name, SET_SUBJECT, 100, why, now);
                }
                Ok(_) => {
                    self.problems.clear(&set.config.name, SET_SUBJECT);
                }
            }
        }
    }

    fn set_all_paused(&mut self, paused: bool) {
        if self.settings.options.polling.paused == paused {
            return;
        }
        Arc::make_mut(&mut self.settings).options.polling.paused = paused;
        self.settings_revision += 1;
        self.persist(Pause::All(paused));
        self.log(
            Level::Info,
            if paused {
                "all polling paused"
            } else {
                "all polling resumed"
            }
            .into(),
        );
        self.reschedule_all();
        self.dirty = true;
        for set in &mut self.sets {
            set.dirty = true;
        }
    }

    fn set_paused(&mut self, name: &str, paused: bool, automatic: bool) {
        let Some(i) = self.find_set(name) else {
            self.log(Level::Warning, format!("no server set named {name:?}"));
            return;
        };
        if self.sets[i].config.paused == paused {
            return;
        }
        self.sets[i].config.paused = paused;
        self.sets[i].dirty = true;
        if let Some(s) = Arc::make_mut(&mut self.settings)
            .server_sets
            .iter_mut()
            .find(|s| s.name == name)
        {
            s.paused = paused;
        }
        self.settings_revision += 1;
        self.persist(Pause::Set(name.to_string(), paused));
        // A hand edit loaded meanwhile may have moved (or removed) the set.
        let Some(i) = self.find_set(name) else {
            return;
        };
        if paused {
            self.unschedule_set(i);
        } else {
            self.schedule_set(i, Instant::now());
        }
        let how = if automatic { " automatically" } else { "" };
        self.log(
            Level::Info,
            format!(
                "server set {name:?} {}{how}",
                if paused { "paused" } else { "resumed" }
            ),
        );
        self.dirty = true;
    }
}

/// A pause the engine saves: all polling, or one set (by name).
enum Pause {
    All(bool),
    Set(String, bool),
}

/// The subject of a set-level problem (e.g. its polling method cannot run).
const SET_SUBJECT: &str = "polling method";

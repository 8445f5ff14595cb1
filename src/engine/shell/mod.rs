//! The effects shell around the pure core (`machine/`): the engine loop. It receives
//! inputs — commands, poll results, DNS results, the settings keeper's results, timer
//! ticks — hands each to [`Core::step`] with the time, and carries out the effects that
//! come back through its parts, each owning its own state:
//!
//! - `settings_keeper.rs` — the settings file: saves and reloads on a thread of its own;
//! - `poller.rs` — the probes and the poll tasks;
//! - `dns_runner.rs` — the DNS updaters, the DNS run limit and the run tasks;
//! - `output.rs` — events, log, history batches, counters, snapshot publishing.
//!
//! **Invariant:** the shell decides nothing the core could decide; it holds no state the
//! core reads, except what it passes in an input.
//!
//! **Invariant:** no blocking IO on the loop: files are saved and read on the keeper's
//! thread, SQLite on the history thread, log files on theirs, support files on a blocking
//! task. Every channel into the loop is bounded, or says why it cannot grow.

mod cluster;
mod cluster_link;
mod dns_runner;
mod event_history;
mod output;
mod poller;
mod settings_keeper;
mod settings_share;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior};

use super::EngineFiles;
use super::command::{Call, CallError, Command, Inbound, Request, Responder, Response};
use super::events::{Event, Level};
use super::machine::{Core, Effect, Input, Now};
use super::snapshot::Snapshot;
use crate::model::{Settings, validate};
use crate::store::events::EventKind;
use crate::store::writer::{HistoryWriter, WriterError};
use dns_runner::{DnsResult, DnsRunner};
use output::{Output, PUBLISH_EVERY};
use poller::{PollResult, Poller};
use settings_keeper::{Answer, KeeperResult, SettingsKeeper};
use settings_share::SettingsShare;

/// How often the uptime report of the snapshot (server rows, `/metrics`) is recomputed.
const UPTIME_EVERY: Duration = Duration::from_secs(60);
/// The periodic report may keep the history thread busy a tenth of the time at most: after
/// a report that took T, the next periodic one waits 9 T, so that rows and queries never
/// wait long behind reports. Since the hourly and daily rollups a report reads some 125
/// rows per server (17 ms in a debug build, BENCHMARKS.md): the guard holds the minute's
/// report back only from some 400 servers (debug) on; at 100,000 servers it spaces them.
const UPTIME_IDLE_FACTOR: u32 = 9;
/// News of the cluster task waiting for the loop (the task waits when it is full).
const CLUSTER_NEWS: usize = 64;
/// Settings edits held while an apply is being saved; more are refused (a client retries).
const DEFERRED_EDITS: usize = 64;
/// How often old raw polls are rolled up and old rollups purged (also once at start): one
/// rollup bucket, so that a pass has at most a bucket's polls to do.
const HISTORY_PURGE_EVERY: Duration = Duration::from_secs(crate::store::rollup::PASS_SECS as u64);

/// The engine's ends of the channels to its handle.
pub(super) struct Channels {
    pub inbound: mpsc::Receiver<Inbound>,
    pub stop: oneshot::Receiver<()>,
    pub snapshot_tx: watch::Sender<Arc<Snapshot>>,
    pub events_tx: broadcast::Sender<Event>,
    /// Test notifications go on to the dispatcher, so a slow server never holds up the loop.
    pub tests: super::notifications::TestSender,
    /// The dispatcher's outbox counters, shown in each snapshot.
    pub outbox: Arc<crate::notify::OutboxCounters>,
}

pub(super) async fn run(settings: Arc<Settings>, files: EngineFiles, channels: Channels) {
    let EngineFiles {
        settings_path,
        settings_error,
        database,
    } = files;
    let Channels {
        mut inbound,
        mut stop,
        snapshot_tx,
        events_tx,
        tests,
        outbox,
    } = channels;
    // SQLite opens on a blocking thread, not on the loop.
    let started = tokio::task::spawn_blocking(move || start_history(database)).await;
    let Ok(Some((history, published))) = started else {
        tracing::error!("no polling history: the engine cannot start");
        return;
    };
    let (keeper, mut keeper_results) =
        SettingsKeeper::start(settings_path, settings_error.clone(), settings.clone());
    let (poller, mut poll_results) = Poller::new();
    let (dns, mut dns_results) = DnsRunner::new();
    let (cluster_news, mut cluster_results) = mpsc::channel(CLUSTER_NEWS);
    let (share, mut share_results) = SettingsShare::new();
    let mut shell = Shell {
        // The auto limit of polls in flight keeps within half the open-file limit.
        core: Core::new(published).with_fd_limit(crate::resources::fd_limit()),
        deferred: std::collections::VecDeque::new(),
        tests,
        keeper,
        share,
        poller,
        dns,
        output: Output::new(snapshot_tx, events_tx, history),
        uptime_answer: None,
        uptime_waiters: Vec::new(),
        uptime_started: None,
        uptime_rest_until: None,
        cluster: cluster_link::ClusterLink::new(cluster_news),
    };
    shell.output.set_outbox(outbox);
    shell.install(settings);
    // The settings the engine starts on are those of the first (empty) snapshot: the same
    // revision, so a dialog opened before the first publish is not out of date.
    shell.core.restart_revision();
    if let Some(error) = settings_error {
        shell.log(
            Level::Error,
            format!("{error}; running on the defaults until the file is mended"),
        );
    }
    let count = shell.core.sets().len();
    shell.log(
        Level::Info,
        format!("engine started with {count} server set(s)"),
    );
    // The first snapshot with the sets goes out at once, before any timer.
    shell.publish(true);
    let mut publish = tokio::time::interval(PUBLISH_EVERY);
    publish.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut purge = tokio::time::interval(HISTORY_PURGE_EVERY);
    purge.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut uptime = tokio::time::interval(UPTIME_EVERY);
    uptime.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let wake = shell.core.next_wakeup();
        tokio::select! {
            biased;
            _ = &mut stop => break,
            message = inbound.recv() => match message {
                Some(Inbound::Command(Command::Shutdown)) | None => break,
                Some(message) => shell.handle(message),
            },
            Some(result) = keeper_results.recv() => shell.on_keeper(result),
            Some(result) = share_results.recv() => shell.on_share(result),
            Some(result) = poll_results.recv() => shell.on_poll(result),
            Some(result) = dns_results.recv() => shell.on_dns(result),
            Some(news) = cluster_results.recv() => shell.on_cluster(news),
            _ = sleep_until(wake) => shell.step(Input::Tick),
            _ = publish.tick() => shell.publish(false),
            _ = uptime.tick() => shell.start_periodic_uptime(),
            report = answer(&mut shell.uptime_answer) => shell.on_uptime(report),
            _ = purge.tick() => {
                let polling = &shell.core.settings().options.polling;
                let (hours, days) = (polling.history_raw_hours, polling.history_purge_days);
                shell.output.history().purge(hours, days);
            }
        }
    }
    shell.log(Level::Info, "engine stopped".into());
    shell.publish(true);
    shell.output.flush_history();
}

/// Opens the history database; without its file the history still works, in memory (the
/// operator is told).
fn start_history(
    database: Option<std::path::PathBuf>,
) -> Option<(
    HistoryWriter,
    std::collections::HashMap<String, crate::store::published::Published>,
)> {
    match HistoryWriter::start(database) {
        Ok(started) => Some(started),
        Err(e) => {
            tracing::error!("{e}; polling history kept in memory only");
            HistoryWriter::start(None)
                .map_err(|e| tracing::error!("no polling history: {e}"))
                .ok()
        }
    }
}

/// The answer of `rx`, when there is one to wait for (never, without).
async fn answer<T>(rx: &mut Option<oneshot::Receiver<T>>) -> Result<T, oneshot::error::RecvError> {
    match rx {
        Some(rx) => rx.await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// The loop's state: the core and the parts that carry out its effects.
struct Shell {
    core: Core,
    /// Settings edits that wait for the apply being saved (at most [`DEFERRED_EDITS`]).
    deferred: std::collections::VecDeque<Call>,
    tests: super::notifications::TestSender,
    keeper: SettingsKeeper,
    /// Cluster mode's shared settings (etcd).
    share: SettingsShare,
    poller: Poller,
    dns: DnsRunner,
    output: Output,
    /// The uptime report under way, at most one: a slow one is never queued behind another.
    uptime_answer:
        Option<oneshot::Receiver<Result<crate::store::report::UptimeReport, WriterError>>>,
    /// Who asked for the report under way ([`Request::Uptime`]).
    uptime_waiters: Vec<Responder>,
    /// When the report under way started, and before when no periodic one starts.
    uptime_started: Option<Instant>,
    uptime_rest_until: Option<Instant>,
    /// Cluster mode's task and what it last told (`cluster_link.rs`).
    cluster: cluster_link::ClusterLink,
}

impl Shell {
    /// Feeds one input to the core at the current time and carries out the effects.
    fn step(&mut self, input: Input) {
        let now = Now {
            at: Instant::now(),
            wall: SystemTime::now(),
        };
        let effects = self.core.step(input, now);
        self.carry(effects);
        self.output.touch();
    }

    fn carry(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::StartPoll(start) => self.poller.start(start),
                Effect::StartDns(start) => self.dns.start(start),
                Effect::CancelDns { run } => self.dns.cancel(run),
                Effect::Save { settings, pause } => {
                    self.share_pause(&settings, pause.clone());
                    self.keeper.persist(settings, pause)
                }
                Effect::Log(level, text) => self.log(level, text),
                Effect::Event(event) => {
                    if let Some(row) = event_history::of_event(&event) {
                        self.output.history().events(vec![row]);
                    }
                    self.output.emit(event)
                }
                Effect::Recorded(event) => {
                    if let Some(row) = event_history::of_event(&event) {
                        self.output.history().events(vec![row]);
                    }
                }
                Effect::History(row) => self.output.history_row(row),
                Effect::Published { set, addresses } => self.output.published(&set, addresses),
            }
        }
    }

    /// The minute's report, unless the last one was so slow that the history thread
    /// needs the time ([`UPTIME_IDLE_FACTOR`]).
    fn start_periodic_uptime(&mut self) {
        if self
            .uptime_rest_until
            .is_some_and(|until| Instant::now() < until)
        {
            return;
        }
        self.start_uptime();
    }

    /// Starts an uptime report on the history thread, unless one is under way.
    fn start_uptime(&mut self) {
        if self.uptime_answer.is_some() {
            return;
        }
        self.uptime_started = Some(Instant::now());
        self.output.flush_history();
        let (reply, answer) = oneshot::channel();
        let subjects = crate::store::report::subjects(self.core.settings());
        self.output.history().uptime(subjects, reply);
        self.uptime_answer = Some(answer);
    }

    /// The report goes into the next snapshot and to whoever asked for it.
    fn on_uptime(
        &mut self,
        report: Result<
            Result<crate::store::report::UptimeReport, WriterError>,
            oneshot::error::RecvError,
        >,
    ) {
        self.uptime_answer = None;
        if let Some(started) = self.uptime_started.take() {
            self.uptime_rest_until = Some(Instant::now() + started.elapsed() * UPTIME_IDLE_FACTOR);
        }
        let report = report
            .unwrap_or(Err(WriterError::Stopped))
            .map_err(|e| e.to_string());
        // The waiters (API calls, rare) get copies; the snapshot takes the report itself,
        // not a second copy of ~200 bytes a server.
        for waiter in std::mem::take(&mut self.uptime_waiters) {
            waiter.send(Response::Uptime(report.clone().map_err(CallError::History)));
        }
        match report {
            Ok(report) => self.output.set_uptime(report),
            Err(e) => tracing::error!("uptime report: {e}"),
        }
    }

    /// A row of the event history for what an operator did.
    fn operator_event(&self, kind: EventKind, set: &str, text: &str) {
        let row = event_history::operator(kind, set, text);
        self.output.history().events(vec![row]);
    }

    fn log(&mut self, level: Level, text: String) {
        self.output
            .log(level, text, self.core.settings(), self.keeper.path());
    }

    fn publish(&mut self, force: bool) {
        self.output.flush_history();
        let history = self.output.history();
        let (dropped, stored, queued) = (
            history.dropped_rows(),
            history.stored_rows(),
            history.queued_rows(),
        );
        if self.core.history_status_news(dropped, stored, queued) {
            self.step(Input::HistoryStatus {
                dropped,
                stored,
                queued,
            });
        }
        self.cluster.publish_views(&self.core);
        self.output.set_cluster(self.cluster.status(&self.core));
        self.output.publish(&mut self.core, &self.keeper, force);
    }

    /// Runs on new settings: the parts that build things from them first (probes,
    /// updaters), then the core.
    fn install(&mut self, settings: Arc<Settings>) {
        self.share_follow_section(&settings);
        let unavailable = self.poller.prepare(&settings);
        self.dns.prepare(&settings);
        if let Some(text) = self
            .cluster
            .follow(settings.cluster.as_ref(), &mut self.dns)
        {
            self.log(Level::Error, text);
        }
        self.step(Input::Install {
            settings,
            unavailable,
        });
    }

    fn on_poll(&mut self, result: PollResult) {
        self.output.poll_done(result.lateness);
        self.step(Input::PollDone {
            id: result.id,
            outcome: result.outcome,
            started: result.started,
        });
    }

    fn on_dns(&mut self, result: DnsResult) {
        self.dns.finished(result.id.run);
        self.step(Input::DnsDone {
            id: result.id,
            outcome: result.outcome,
        });
    }

    /// Validates settings and hands them to the keeper to save; they are installed (and
    /// `answer` told) when it says they are saved.
    fn apply(&mut self, settings: Box<Settings>, answer: Answer) {
        let errors = validate(&settings);
        let result = if errors.is_empty() {
            // In cluster mode a change of the shared part goes to etcd first.
            let (settings, answer) = match self.share_edit(settings, answer) {
                Some(local) => local,
                None => return,
            };
            self.keeper.apply(settings, answer)
        } else {
            Some(KeeperResult::Refused {
                why: super::edit::EditError::Invalid(errors),
                answer,
            })
        };
        if let Some(result) = result {
            self.on_keeper(result);
        }
    }

    fn on_keeper(&mut self, result: KeeperResult) {
        self.keeper.note(&result);
        let answered = matches!(
            result,
            KeeperResult::Applied { .. } | KeeperResult::Refused { .. }
        );
        self.output.touch();
        match result {
            KeeperResult::Applied { settings, answer } => {
                self.install(Arc::new(*settings));
                self.log(Level::Info, "settings applied".into());
                self.operator_event(EventKind::SettingsChanged, "", "settings applied");
                // Published before the reply: whoever waited on it (a dialog that reopens,
                // the API's next GET) reads the new settings, not the old.
                self.publish(true);
                answer.send(Ok(self.core.settings_revision()));
            }
            KeeperResult::Refused {
                why,
                answer: answer @ Answer::Shared { .. },
            } => self.adopt_unsaved(&why, answer),
            KeeperResult::Refused { why, answer } => {
                self.log(Level::Error, format!("settings not applied: {why}"));
                answer.send(Err(why));
            }
            KeeperResult::Persisted(Ok(())) => {}
            KeeperResult::Persisted(Err((level, text))) | KeeperResult::Note(level, text) => {
                self.log(level, text);
            }
            KeeperResult::Reloaded { settings, path } => {
                if *settings != **self.core.settings() {
                    self.install(Arc::new(*settings));
                    let text = format!("settings reloaded from {}", path.display());
                    self.operator_event(EventKind::SettingsChanged, "", &text);
                    self.log(Level::Info, text);
                    self.share_after_reload();
                }
            }
            KeeperResult::Broken(text) => self.log(Level::Error, text),
        }
        if answered {
            self.after_settings_work();
        }
    }

    fn handle(&mut self, message: Inbound) {
        match message {
            Inbound::Command(command) => self.command(command),
            Inbound::Call(call) => self.call(call),
            Inbound::Ping { address, replies } => {
                tokio::spawn(super::ping::ping_loop(address, replies));
            }
            Inbound::SetRepaintWaker(waker) => self.output.set_waker(waker),
            Inbound::NotificationReport(report) => {
                self.output
                    .history()
                    .events(vec![event_history::of_report(&report)]);
                self.step(Input::NotificationReport(report))
            }
        }
    }

    /// Answers one request, exactly once (now, or when the work it started is done).
    fn call(&mut self, call: Call) {
        if matches!(call.request, Request::EditSettings { .. }) && self.settings_busy() {
            // An edit is made on the settings in force: wait for those being saved.
            if self.deferred.len() < DEFERRED_EDITS {
                self.deferred.push_back(call);
            } else {
                let why = "too many settings changes at once: try again".to_string();
                let (_, reply) = call.into_parts();
                reply.send(Response::Edited(Err(super::edit::EditError::NotSaved(why))));
            }
            return;
        }
        let (request, reply) = call.into_parts();
        match request {
            Request::ApplySettings(settings) => {
                let reply = reply.typed(Response::Applied);
                self.apply(settings, Answer::Apply(Some(reply)))
            }
            Request::EditSettings { edit, if_revision } => {
                let revision = self.core.settings_revision();
                let edited = super::edit::check_revision(if_revision, revision)
                    .and_then(|()| edit.apply_to(self.core.settings()));
                match edited {
                    Ok(settings) => {
                        let reply = reply.typed(Response::Edited);
                        self.apply(Box::new(settings), Answer::Edit(reply))
                    }
                    Err(e) => reply.send(Response::Edited(Err(e))),
                }
            }
            Request::QueryHistory(filter) => {
                // Rows of the current batch first, so that a query sees every poll so far.
                self.output.flush_history();
                let reply = reply.typed(|rows: Result<_, WriterError>| {
                    Response::History(rows.map_err(|e| CallError::History(e.to_string())))
                });
                self.output.history().query(filter, reply);
            }
            Request::SaveHistoryCsv { filter, path } => {
                self.output.flush_history();
                let reply = reply.typed(|saved: Result<_, WriterError>| {
                    Response::CsvSaved(saved.map_err(|e| CallError::File(e.to_string())))
                });
                self.output.history().save_csv(filter, path, reply);
            }
            Request::Uptime => {
                // Answered with the next report, which also refreshes the snapshot's.
                self.uptime_waiters.push(reply);
                self.start_uptime();
            }
            Request::SlaReport { from, to } => {
                self.output.flush_history();
                let reply = reply.typed(|r: Result<_, WriterError>| {
                    Response::Sla(r.map_err(|e| CallError::History(e.to_string())))
                });
                let subjects = crate::store::report::subjects(self.core.settings());
                self.output.history().sla(subjects, from, to, reply);
            }
            Request::SaveSlaReport {
                from,
                to,
                html,
                path,
            } => {
                self.output.flush_history();
                let reply = reply.typed(|saved: Result<_, WriterError>| {
                    Response::CsvSaved(saved.map_err(|e| CallError::File(e.to_string())))
                });
                let subjects = crate::store::report::subjects(self.core.settings());
                let format = if html {
                    crate::store::sla_export::Format::Html
                } else {
                    crate::store::sla_export::Format::Csv
                };
                self.output
                    .history()
                    .save_sla(subjects, (from, to), format, path, reply);
            }
            Request::QueryEvents(filter) => {
                let reply = reply.typed(|r: Result<_, WriterError>| {
                    Response::Events(r.map_err(|e| CallError::History(e.to_string())))
                });
                self.output.history().query_events(filter, reply);
            }
            Request::SaveEventsCsv { filter, path } => {
                let reply = reply.typed(|saved: Result<_, WriterError>| {
                    Response::CsvSaved(saved.map_err(|e| CallError::File(e.to_string())))
                });
                self.output.history().save_events_csv(filter, path, reply);
            }
            Request::WriteSupportFile(path) => {
                let text = super::support::bundle(
                    self.core.settings(),
                    &self.core.problems().list(),
                    self.output.live_log(),
                );
                // File IO off the engine loop: a slow disk never delays polls.
                tokio::task::spawn_blocking(move || {
                    let outcome = std::fs::write(&path, text)
                        .map(|()| path.clone())
                        .map_err(|e| {
                            CallError::File(format!("cannot write {}: {e}", path.display()))
                        });
                    reply.send(Response::SupportFile(outcome));
                });
            }
            Request::SupportText => {
                let text = super::support::bundle(
                    self.core.settings(),
                    &self.core.problems().list(),
                    self.output.live_log(),
                );
                reply.send(Response::SupportText(Ok(super::command::SupportText(text))));
            }
            Request::TestNotification(method) => test_notification(&self.tests, *method, reply),
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::PauseAll => {
                self.operator_event(EventKind::Pause, "", "all polling paused");
                self.step(Input::PauseAll)
            }
            Command::ResumeAll => {
                self.operator_event(EventKind::Pause, "", "all polling resumed");
                self.step(Input::ResumeAll)
            }
            Command::PollAll => self.step(Input::PollAll),
            Command::PauseSet(name) => {
                self.operator_event(EventKind::Pause, &name, "set paused");
                self.step(Input::PauseSet(name))
            }
            Command::ResumeSet(name) => {
                self.operator_event(EventKind::Pause, &name, "set resumed");
                self.step(Input::ResumeSet(name))
            }
            Command::PollSet(name) => self.step(Input::PollSet(name)),
            Command::ClearLog => self.output.clear_log(),
            Command::Log { level, text } => self.log(level, text),
            Command::DnsServed {
                set,
                host,
                old_ips,
                new_ips,
            } => {
                let join = |ips: &[std::net::IpAddr]| {
                    ips.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let (old_ips, new_ips) = (join(&old_ips), join(&new_ips));
                let text = format!("now serving {new_ips} for {host}");
                self.log(Level::Info, format!("{set}: {text}"));
                self.output.emit(Event {
                    time: SystemTime::now(),
                    kind: crate::model::EventKind::DnsServed,
                    set,
                    subject: host,
                    text,
                    details: super::events::EventDetails {
                        old_ips,
                        new_ips,
                        ..Default::default()
                    },
                });
            }
            // Handled by the loop.
            Command::Shutdown => {}
        }
    }
}

/// Hands a *Test...* to the notification dispatcher without waiting: a full queue is
/// answered at once, never waited for on the loop.
fn test_notification(
    tests: &super::notifications::TestSender,
    method: crate::model::NotificationMethod,
    reply: Responder,
) {
    let request = crate::notify::dispatcher::TestRequest {
        method: method.kind,
        reply: reply.typed(|sent: Result<String, crate::notify::NotifyError>| {
            Response::TestSent(sent.map_err(|e| CallError::Notification {
                code: e.code(),
                text: e.text,
            }))
        }),
    };
    if let Err(e) = tests.try_send(request) {
        let why = match e {
            mpsc::error::TrySendError::Full(_) => "too many tests at once: try again",
            mpsc::error::TrySendError::Closed(_) => "notifications are not running",
        };
        let (mpsc::error::TrySendError::Full(request) | mpsc::error::TrySendError::Closed(request)) =
            e;
        let busy = crate::notify::NotifyError::settings(why);
        let _ = request.reply.send(Err(busy));
    }
}

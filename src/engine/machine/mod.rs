//! The pure core of the engine: a state machine that the async shell (`engine/shell/`)
//! drives. [`Core::step`] takes one [`Input`] (a poll result, a DNS result, a command, a
//! timer tick) and the time ([`Now`]), changes the core's state and returns the
//! [`Effect`]s the shell must carry out (start this poll, start this DNS run, save the
//! settings, log, emit an event, store a history row...). No sockets, no tasks, no clock
//! reads, no file access: the same inputs at the same times give the same effects. That is
//! what lets `machine/sim.rs` run a million polls against a simulated world in seconds.
//!
//! It owns: the settings in force, the sets (servers' states, decisions, DNS pairs —
//! `sets.rs`, `dns_sync.rs`), the polling part (`polling.rs`: timers, queue, in-flight
//! limit), the DNS part (`dns.rs`: runs, back-off), the problems book and what each set
//! last published.
//!
//! **Invariant:** everything the engine *decides* happens here; the shell only carries out
//! effects and feeds back what happened. A decision that needs IO (is the probe buildable?
//! did the save work?) arrives as data in an input.

mod admin;
mod cluster;
mod dns;
mod guard;
#[cfg(test)]
mod overload;
mod polling;
pub mod quorum;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
mod ttl;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

pub use admin::Admin;
pub use cluster::{PeerViews, ServerQuorum};
use dns::DnsSync;
pub use dns::{DnsRunId, DnsStart};
use polling::Polling;
pub use polling::{AUTO_MIN, Lane, PollId, PollStart, auto_limit, limit_for};
pub use ttl::{LowTtlReason, Ttl};

use super::decision::{Decision, all_failed};
use super::dns_sync::{Outcome, SetDns};
use super::events::{Event, EventDetails, Level};
pub use super::problems::SET_SUBJECT;
use super::problems::{
    CERTIFICATE_SUFFIX, CERTIFICATE_WARNING, LocalChange, LocalFaults, MONITOR_SHORTAGE,
    POLLING_LATE, ProblemSubject, Problems,
};
use super::server_state::{ServerState, ServerStatus, Transition, next_poll_delay, observe};
use super::sets::{Phase, SetRuntime};
use super::snapshot::SetStatus;
use crate::model::failure::{Area, ProblemCode};
use crate::model::{EventKind, Settings};
use crate::notify::Report;
use crate::probe::PollOutcome;
use crate::store::history::HistoryRow;
use crate::store::published::Published;

/// The time of a step: monotonic (timers, back-off) and wall clock (what is shown and
/// stored). The core never reads a clock; the shell passes the real one, the simulation a
/// virtual one.
#[derive(Clone, Copy, Debug)]
pub struct Now {
    pub at: Instant,
    pub wall: SystemTime,
}

/// Everything that can happen to the core.
#[derive(Debug)]
pub enum Input {
    /// Time passed: start the polls and DNS runs that are due.
    Tick,
    /// A poll ended; it had started at `started`.
    PollDone {
        id: PollId,
        outcome: PollOutcome,
        started: Instant,
    },
    /// A DNS run ended.
    DnsDone {
        id: DnsRunId,
        outcome: Outcome,
    },
    PauseAll,
    ResumeAll,
    PollAll,
    PauseSet(String),
    ResumeSet(String),
    PollSet(String),
    /// Run on these settings from now on (validated, and saved when there is a file).
    /// `unavailable`: sets whose polling method cannot run, by name, and why.
    Install {
        settings: Arc<Settings>,
        unavailable: BTreeMap<String, String>,
    },
    /// The notification dispatcher delivered a message or failed to.
    NotificationReport(Report),
    /// The history writer's counts: rows dropped and stored since the start, rows waiting.
    HistoryStatus {
        dropped: u64,
        stored: u64,
        queued: usize,
    },
    /// Cluster mode: the other instances' live views, as etcd holds them now.
    PeerViews(Arc<PeerViews>),
    /// Cluster mode: this instance holds the leadership (proved by etcd), or not.
    Leadership(bool),
    /// Cluster mode: etcd works (`None`), or why it does not (unreachable, majority lost).
    EtcdHealth(Option<String>),
}

/// What the shell must do after a step, in order.
#[derive(Debug)]
pub enum Effect {
    StartPoll(PollStart),
    StartDns(DnsStart),
    /// Cancel this DNS run; its result, should it still arrive, is stale.
    CancelDns {
        run: u64,
    },
    /// Save these settings: the core changed them itself, by `pause`. Should the file
    /// have been edited by hand meanwhile, the pause is made on the edit instead.
    Save {
        settings: Arc<Settings>,
        pause: Pause,
    },
    Log(Level, String),
    Event(Event),
    /// An event for the event history only, never notified: a server's transition while
    /// in maintenance.
    Recorded(Event),
    History(HistoryRow),
    /// Keep what the set publishes now (across restarts, for DNS serving).
    Published {
        set: String,
        addresses: Published,
    },
}

/// A pause the engine saves: all polling, or one set (by name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pause {
    All(bool),
    Set(String, bool),
}

impl Pause {
    /// Makes the pause in `settings` (a set that is not there is left out).
    pub fn apply_to(&self, settings: &mut Settings) {
        match self {
            Pause::All(paused) => settings.options.polling.paused = *paused,
            Pause::Set(name, paused) => {
                if let Some(s) = settings.server_sets.iter_mut().find(|s| s.name == *name) {
                    s.paused = *paused;
                }
            }
        }
    }
}

/// What a server's state means for its problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerProblem {
    Raise {
        code: ProblemCode,
        text: String,
    },
    Clear,
    /// Not polled yet, retrying, skipped, disabled: the problem stays as it is.
    Keep,
}

/// The problem a server's state calls for. A failed server's problem has the code and
/// text of its last failed poll; while it recovers (successful polls, not yet enough) the
/// code stays that of the failure (`current_code`) and the text counts the successes.
pub fn server_problem(
    state: &ServerState,
    recover_after: u32,
    current_code: Option<ProblemCode>,
) -> ServerProblem {
    match state.status {
        ServerStatus::Failed => match state.last_failure_kind {
            Some(failure) => ServerProblem::Raise {
                code: failure.problem_code(),
                text: state.last_response.clone(),
            },
            None => ServerProblem::Raise {
                code: current_code.unwrap_or(ProblemCode::of_area(Area::Polling)),
                text: format!(
                    "recovering: {} of {} successful polls",
                    state.successes_while_failed, recover_after
                ),
            },
        },
        ServerStatus::Ok => ServerProblem::Clear,
        _ => ServerProblem::Keep,
    }
}

/// The core's state.
pub struct Core {
    settings: Arc<Settings>,
    /// Grows with every change of `settings` (see `Snapshot::settings_revision`).
    settings_revision: u64,
    sets: Vec<SetRuntime>,
    /// Set id → index into `sets`.
    index: HashMap<u64, usize>,
    next_set_id: u64,
    polling: Polling,
    dns: DnsSync,
    problems: Problems,
    /// The monitor's own shortage, as poll results show it.
    local_faults: LocalFaults<Instant>,
    /// History rows dropped, as last told.
    history_dropped: u64,
    /// The lateness (whole seconds) the lateness problem shows, while it stands.
    late_secs: u64,
    /// The process's open-file limit, as the shell read it at start (for the auto limit).
    fd_limit: Option<u64>,
    /// What `max_concurrent_polls: 0` gives for the settings in force.
    auto_poll_limit: usize,
    /// History rows stored when the last drop was told: the problem clears only once more
    /// are stored (a full disk empties the queue by refusing every row).
    history_stored_at_drop: u64,
    /// What each set last published, kept across restarts (for DNS serving).
    published: HashMap<String, Published>,
    /// The time of the last step (to turn wall-clock times into timer instants).
    clock: Option<Now>,
    /// When an operator's decision (an override) changes next.
    admin_next: Option<SystemTime>,
    /// The connectivity guard's verdict: this monitor's network is down (`guard.rs`).
    cut_off: bool,
    /// Cluster mode's inputs (`cluster.rs`).
    cluster: cluster::CoreCluster,
}

impl Core {
    /// A core with no sets; the shell installs the first settings with [`Input::Install`].
    /// `published`: what each set last published before a restart.
    pub fn new(published: HashMap<String, Published>) -> Core {
        let settings = Arc::new(Settings::default());
        Core {
            polling: Polling::new(limit_for(&settings, None)),
            auto_poll_limit: auto_limit(&settings, None),
            fd_limit: None,
            settings,
            settings_revision: 0,
            sets: Vec::new(),
            index: HashMap::new(),
            next_set_id: 1,
            dns: DnsSync::default(),
            problems: Problems::default(),
            local_faults: LocalFaults::default(),
            history_dropped: 0,
            late_secs: 0,
            history_stored_at_drop: 0,
            published,
            clock: None,
            admin_next: None,
            cut_off: false,
            cluster: cluster::CoreCluster::default(),
        }
    }

    /// The same core, its auto limit bounded by the process's open-file limit (what the
    /// shell read after raising it; `None`: no such limit). Input data like any other:
    /// the core reads no limit itself.
    pub fn with_fd_limit(mut self, fd_limit: Option<u64>) -> Core {
        self.fd_limit = fd_limit;
        let settings = self.settings.clone();
        self.set_poll_limit(&settings);
        self
    }

    fn set_poll_limit(&mut self, settings: &Settings) {
        self.auto_poll_limit = auto_limit(settings, self.fd_limit);
        self.polling.set_limit(limit_for(settings, self.fd_limit));
    }

    /// One step: applies `input` at `now` and returns what the shell must do.
    pub fn step(&mut self, input: Input, now: Now) -> Vec<Effect> {
        let mut out = Vec::new();
        self.clock = Some(now);
        if self.admin_next.is_some_and(|at| at <= now.wall) {
            self.refresh_admin(now, &mut out);
        }
        let result = matches!(input, Input::PollDone { .. } | Input::DnsDone { .. });
        match input {
            Input::Tick => {
                self.end_ttl_windows(now, &mut out);
                self.dispatch_due(now, &mut out);
                // In a cluster only the leader writes DNS; the pairs wait meanwhile.
                if self.may_write_dns() {
                    for set in &mut self.sets {
                        self.dns.dispatch_due(set, now.at, &mut out);
                    }
                }
            }
            Input::PollDone {
                id,
                outcome,
                started,
            } => self.on_result(id, &outcome, started, now, &mut out),
            Input::DnsDone { id, outcome } => {
                if let Some(&i) = self.index.get(&id.set_id) {
                    let set = &mut self.sets[i];
                    DnsSync::on_done(
                        set,
                        id,
                        outcome,
                        &mut self.problems,
                        (now.at, now.wall),
                        &mut out,
                    );
                }
            }
            Input::PauseAll => self.set_all_paused(true, now, &mut out),
            Input::ResumeAll => self.set_all_paused(false, now, &mut out),
            Input::PollAll => {
                for i in 0..self.sets.len() {
                    self.poll_set_now(i, now);
                }
            }
            Input::PauseSet(name) => self.set_paused(&name, true, false, now, &mut out),
            Input::ResumeSet(name) => self.set_paused(&name, false, false, now, &mut out),
            Input::PollSet(name) => match self.find_set(&name) {
                Some(i) => self.poll_set_now(i, now),
                None => log(
                    &mut out,
                    Level::Warning,
                    format!("poll now: no server set named {name:?}"),
                ),
            },
            Input::Install {
                settings,
                unavailable,
            } => self.install(settings, &unavailable, now, &mut out),
            Input::NotificationReport(report) => self.on_notification_report(report, now, &mut out),
            Input::HistoryStatus {
                dropped,
                stored,
                queued,
            } => {
                self.on_history_status(dropped, stored, queued, now, &mut out);
            }
            Input::PeerViews(peers) => self.on_peer_views(peers, now, &mut out),
            Input::Leadership(leader) => self.on_leadership(leader, now, &mut out),
            Input::EtcdHealth(error) => self.on_etcd_health(error, now, &mut out),
        }
        // Due polls start after a result too, not only at a tick: the shell takes results
        // before ticks, and a loop busy with results must not hold timers back.
        if result {
            self.dispatch_due(now, &mut out);
        }
        // Queued polls start as soon as there is room (after a result, a new limit).
        self.start_queued(&mut out);
        self.note_lateness(now, &mut out);
        out
    }

    /// Polls that start more than their set's interval after they were due raise the
    /// monitor's lateness problem (and a log line); it clears once nothing waits and a
    /// poll starts within its interval again. The text changes only when the lateness
    /// grows by a whole second, so that a late run does not republish at every poll.
    fn note_lateness(&mut self, now: Now, out: &mut Vec<Effect>) {
        let mut worst: Option<std::time::Duration> = None;
        let mut on_time = false;
        for effect in out.iter() {
            let Effect::StartPoll(start) = effect else {
                continue;
            };
            let Some(&i) = self.index.get(&start.id.set_id) else {
                continue;
            };
            let late = now.at.saturating_duration_since(start.due);
            if late > polling::interval_of(&self.sets[i]) {
                worst = Some(worst.map_or(late, |w| w.max(late)));
            } else {
                on_time = true;
            }
        }
        let subject = ProblemSubject::Lateness;
        if let Some(late) = worst {
            let secs = late.as_secs();
            if self.problems.get("", &subject).is_none() || secs > self.late_secs {
                self.late_secs = secs;
                let text = format!(
                    "polling is late by {secs} s: {} server(s) wait for one of the {} polls \
                     in flight (raise most polls in flight, or the open-file limit)",
                    self.polling.queued_len(),
                    self.polling.limit()
                );
                if self
                    .problems
                    .raise_fixed("", subject, POLLING_LATE, &text, now.wall)
                {
                    log(out, Level::Warning, text);
                }
            }
        } else if on_time && self.polling.queued_len() == 0 && self.problems.clear("", &subject) {
            self.late_secs = 0;
            log(out, Level::Info, "polling keeps its schedule again".into());
        }
    }

    /// When the core wants a [`Input::Tick`] next, if ever.
    pub fn next_wakeup(&self) -> Option<Instant> {
        // A follower's due pairs wait for its leadership, not for a tick.
        let dns = self
            .may_write_dns()
            .then(|| self.sets.iter().filter_map(|s| s.dns.next_due()).min())
            .flatten();
        // An override's end is a wall-clock time: as an instant from the last step's clock.
        let admin = match (self.admin_next, self.clock) {
            (Some(at), Some(clock)) => {
                Some(clock.at + at.duration_since(clock.wall).unwrap_or_default())
            }
            _ => None,
        };
        let ttl = self.sets.iter().filter_map(|s| s.ttl.window_ends).min();
        [self.polling.next_due(), dns, admin, ttl]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// Counts revisions from 0 again (the settings the engine starts on).
    pub fn restart_revision(&mut self) {
        self.settings_revision = 0;
    }

    /// Grows with every change of the settings.
    pub fn settings_revision(&self) -> u64 {
        self.settings_revision
    }

    pub fn sets(&self) -> &[SetRuntime] {
        &self.sets
    }

    pub fn problems(&self) -> &Problems {
        &self.problems
    }

    /// True once after any change of the problems (for publishing).
    pub fn take_problems_changed(&mut self) -> bool {
        self.problems.take_changed()
    }

    pub fn polls_in_flight(&self) -> usize {
        self.polling.in_flight()
    }

    /// The limit of polls in flight in force.
    pub fn poll_limit(&self) -> usize {
        self.polling.limit()
    }

    /// The limit `max_concurrent_polls: 0` (auto) gives for the settings in force.
    pub fn auto_poll_limit(&self) -> usize {
        self.auto_poll_limit
    }

    /// The sets' pictures for a snapshot; only sets that changed are rebuilt.
    pub fn views(&mut self) -> Vec<Arc<SetStatus>> {
        let problems = &self.problems;
        self.sets
            .iter_mut()
            .map(|s| {
                let has_problem = problems.has_any(&s.config.name);
                s.refresh_view(has_problem)
            })
            .collect()
    }

    fn find_set(&self, name: &str) -> Option<usize> {
        self.sets.iter().position(|s| s.config.name == name)
    }

    // ---- settings ------------------------------------------------------------------------

    /// Replaces the running sets with those of `settings`, keeping what can be kept.
    fn install(
        &mut self,
        settings: Arc<Settings>,
        unavailable: &BTreeMap<String, String>,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        self.set_poll_limit(&settings);
        let dns_options = &settings.options.dns_updating;
        let mut old: Vec<SetRuntime> = std::mem::take(&mut self.sets);
        let mut sets = Vec::with_capacity(settings.server_sets.len());
        // The connectivity guard's references are polled as a set of their own.
        let guard = settings.options.connectivity_guard.as_set();
        for config in settings.server_sets.iter().chain(guard.as_ref()) {
            let previous = old
                .iter()
                .position(|s| s.config.name == config.name)
                .map(|i| old.swap_remove(i));
            let probe_error = unavailable.get(&config.name).cloned();
            match previous {
                Some(mut same) if same.config == *config => {
                    // The default DNS servers of the Options may have changed.
                    if SetDns::servers_of(config, dns_options) != same.dns.servers {
                        DnsSync::cancel_all(&mut same, out);
                        same.dns = SetDns::build(config, dns_options);
                    }
                    same.probe_error = probe_error;
                    same.dirty = true;
                    sets.push(same);
                }
                mut previous => {
                    if let Some(p) = previous.as_mut() {
                        DnsSync::cancel_all(p, out);
                    }
                    let id = self.next_set_id;
                    self.next_set_id += 1;
                    sets.push(SetRuntime::build(
                        id,
                        config.clone(),
                        previous.as_ref(),
                        dns_options,
                        probe_error,
                    ));
                }
            }
        }
        // Sets that are gone leave no DNS run behind.
        for gone in &mut old {
            DnsSync::cancel_all(gone, out);
        }
        self.sets = sets;
        self.index = self
            .sets
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i))
            .collect();
        // Problems of sets and servers that are gone go with them.
        let names: Vec<String> = self.sets.iter().map(|s| s.config.name.clone()).collect();
        self.problems
            .retain_sets(|set| names.iter().any(|n| n == set));
        for set in &self.sets {
            let pairs = DnsSync::subjects(set);
            // A server's problems stay while its public address is in the set, shown
            // under its name of now (it may have been renamed).
            let server =
                |ip: &std::net::IpAddr| set.servers.iter().position(|s| s.public_ip == *ip);
            self.problems
                .retain_set(&set.config.name, |subject, problem| match subject {
                    ProblemSubject::Server(ip) => server(ip)
                        .map(|k| problem.subject = set.subject(k))
                        .is_some(),
                    ProblemSubject::Certificate(ip) => server(ip)
                        .map(|k| {
                            problem.subject = format!("{}{CERTIFICATE_SUFFIX}", set.subject(k))
                        })
                        .is_some(),
                    ProblemSubject::Dns(text) => pairs.iter().any(|s| s == text),
                    _ => true,
                });
        }
        self.settings = settings;
        self.settings_revision += 1;
        if !self.in_cluster() {
            self.cluster = cluster::CoreCluster::default();
            self.problems.clear("", &ProblemSubject::Cluster);
        }
        self.requorum_all(now, out);
        self.published
            .retain(|set, _| names.iter().any(|name| name == set));
        for i in 0..self.sets.len() {
            if self.is_guard(i) {
                continue;
            }
            if self.sets[i].published.is_none() {
                self.sets[i].published = self.published.get(&self.sets[i].config.name).cloned();
            }
            self.note_published(i, out);
            self.refresh_ttl(i, now, out);
            DnsSync::follow_decision(&mut self.sets[i], now.at, now.wall, out);
        }
        self.refresh_set_problems(now.wall);
        self.reschedule_all(now.at);
        self.refresh_admin(now, out);
        self.update_guard(now, out);
    }

    /// Raises or clears the set-level problem of sets that cannot poll.
    fn refresh_set_problems(&mut self, wall: SystemTime) {
        for set in &self.sets {
            match &set.probe_error {
                Some(why) => {
                    let code = ProblemCode::of_area(Area::Polling);
                    let subject = ProblemSubject::PollingMethod;
                    self.problems
                        .raise_fixed(&set.config.name, subject, code, why, wall);
                }
                None => {
                    self.problems
                        .clear(&set.config.name, &ProblemSubject::PollingMethod);
                }
            }
        }
    }

    fn set_all_paused(&mut self, paused: bool, now: Now, out: &mut Vec<Effect>) {
        if self.settings.options.polling.paused == paused {
            return;
        }
        let pause = Pause::All(paused);
        pause.apply_to(Arc::make_mut(&mut self.settings));
        self.settings_revision += 1;
        out.push(Effect::Save {
            settings: self.settings.clone(),
            pause,
        });
        let text = if paused {
            "all polling paused"
        } else {
            "all polling resumed"
        };
        log(out, Level::Info, text.into());
        self.reschedule_all(now.at);
        for set in &mut self.sets {
            set.dirty = true;
        }
    }

    fn set_paused(
        &mut self,
        name: &str,
        paused: bool,
        automatic: bool,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let Some(i) = self.find_set(name) else {
            log(out, Level::Warning, format!("no server set named {name:?}"));
            return;
        };
        let set = &mut self.sets[i];
        if set.config.paused == paused {
            return;
        }
        set.config.paused = paused;
        set.dirty = true;
        let pause = Pause::Set(name.to_string(), paused);
        pause.apply_to(Arc::make_mut(&mut self.settings));
        self.settings_revision += 1;
        out.push(Effect::Save {
            settings: self.settings.clone(),
            pause,
        });
        if paused {
            self.unschedule_set(i);
        } else {
            self.schedule_set(i, now.at);
        }
        let how = if automatic { " automatically" } else { "" };
        let what = if paused { "paused" } else { "resumed" };
        log(out, Level::Info, format!("server set {name:?} {what}{how}"));
    }

    // ---- scheduling ----------------------------------------------------------------------

    /// Polling of the set is on: not paused (all or the set) and its method can run.
    pub fn polling_allowed(&self, set: usize) -> bool {
        let s = &self.sets[set];
        !self.settings.options.polling.paused && !s.config.paused && s.probe_error.is_none()
    }

    /// Every server armed afresh, first polls spread over the whole population.
    fn reschedule_all(&mut self, now: Instant) {
        self.polling.clear();
        for i in 0..self.sets.len() {
            self.unschedule_set(i);
        }
        let total: usize = self.sets.iter().map(|s| s.servers.len()).sum();
        let mut n = 0;
        for i in 0..self.sets.len() {
            let interval = polling::interval_of(&self.sets[i]);
            for k in 0..self.sets[i].servers.len() {
                let due = now + super::scheduler::spread_offset(n, total, interval);
                n += 1;
                self.arm(i, k, due);
            }
        }
    }

    fn schedule_set(&mut self, set: usize, start: Instant) {
        if self.polling_allowed(set) {
            self.polling.schedule_set(&mut self.sets[set], start);
        }
    }

    fn unschedule_set(&mut self, set: usize) {
        let s = &mut self.sets[set];
        for k in 0..s.servers.len() {
            Polling::unschedule(s, k);
        }
    }

    /// Arms one server's timer, unless polling of its set is off.
    fn arm(&mut self, set: usize, server: usize, due: Instant) {
        if self.polling_allowed(set) {
            self.polling.arm(&mut self.sets[set], server, due);
        }
    }

    fn poll_set_now(&mut self, set: usize, now: Now) {
        // Poll now also re-checks the set's DNS records (records someone changed are put back).
        DnsSync::recheck_now(&mut self.sets[set], now.at);
        self.schedule_set(set, now.at);
    }

    fn dispatch_due(&mut self, now: Now, out: &mut Vec<Effect>) {
        while let Some((due, key)) = self.polling.pop_due(now.at) {
            let Some(&set) = self.index.get(&key.set_id) else {
                continue;
            };
            if !Polling::take_armed(&mut self.sets[set], key, due) {
                continue; // stale
            }
            if !self.polling_allowed(set) {
                continue;
            }
            if !self.sets[set].is_needed(key.server) {
                // A status change: the decision may change with it (all functional).
                if self.mark_skipped(set, key.server) {
                    self.after_change(set, now, out);
                }
                continue;
            }
            self.polling
                .start_or_queue(&mut self.sets[set], key.server, due, out);
        }
    }

    fn start_queued(&mut self, out: &mut Vec<Effect>) {
        while let Some((key, due, lane)) = self.polling.next_queued() {
            let Some(&set) = self.index.get(&key.set_id) else {
                continue;
            };
            if !self.polling_allowed(set) || !self.sets[set].is_needed(key.server) {
                // Stopped while it waited (pause, a higher server works again).
                if self.sets[set]
                    .servers
                    .get(key.server)
                    .map(|s| (s.arming, s.phase))
                    == Some((key.arming, Phase::Queued(due)))
                {
                    Polling::unschedule(&mut self.sets[set], key.server);
                }
                continue;
            }
            self.polling
                .start_queued(&mut self.sets[set], key, due, lane, out);
        }
    }

    /// Shows a server that sequential mode does not poll as skipped. A failed one stays
    /// failed: it must recover (with its event) before it counts as working again, and its
    /// problem stays while it is not known to work.
    fn mark_skipped(&mut self, set: usize, server: usize) -> bool {
        let set = &mut self.sets[set];
        let s = &mut set.servers[server];
        if matches!(
            s.state.status,
            ServerStatus::Skipped | ServerStatus::Disabled | ServerStatus::Failed
        ) {
            return false;
        }
        s.state.status = ServerStatus::Skipped;
        set.dirty = true;
        true
    }

    // ---- results -------------------------------------------------------------------------

    fn on_result(
        &mut self,
        id: PollId,
        outcome: &PollOutcome,
        started: Instant,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        self.polling.finished(id.lane);
        // Whatever set it was for, a result tells whether the monitor itself can poll.
        let local = outcome.is_local_fault();
        self.note_local_fault(
            local.then_some(outcome.response.as_str()),
            started,
            now,
            out,
        );
        let Some(&i) = self.index.get(&id.set_id) else {
            return;
        };
        let set = &mut self.sets[i];
        let Some(server) = set.servers.get(id.server) else {
            return;
        };
        let Phase::Running(due) = server.phase else {
            return;
        };
        if server.public_ip != id.public_ip {
            return;
        }
        Polling::done(set, id.server);
        let server = &mut set.servers[id.server];
        if server.config.disabled {
            return;
        }
        // While the guard says this monitor is cut off, a failed poll of a server says
        // nothing about the server (`guard.rs`): recorded, not judged.
        let unjudged = !local && self.cut_off && !outcome.is_success() && !self.is_guard(i);
        if unjudged {
            let set = &self.sets[i];
            out.push(Effect::History(HistoryRow {
                time: now.wall,
                set: set.config.name.clone(),
                server: id.public_ip.to_string(),
                status: set.servers[id.server].state.status.label().to_string(),
                success: false,
                response: format!(
                    "{} (not judged: this monitor's network is down)",
                    outcome.response
                ),
                response_ms: Some(outcome.elapsed.as_secs_f64() * 1000.0),
                code: outcome.failure.map(|f| f.code()),
                changed: false,
            }));
        }
        let set = &self.sets[i];
        if local || unjudged {
            // No observation of the server (its state, counts and DNS stay): poll it
            // again at the retry interval, to see it as soon as the monitor can.
            let retry = set
                .config
                .frequency
                .retry_interval
                .max(crate::engine::server_state::MIN_DELAY);
            if self.polling_allowed(i) && self.sets[i].is_needed(id.server) {
                let due = (due + retry).max(now.at);
                self.arm(i, id.server, due);
            }
            return;
        }
        // The guard's race: a server whose failure would be confirmed before the guard
        // has any reference result from after the failure began waits for one (its
        // last failed poll is not counted yet; bounded, `guard.rs`).
        if !outcome.is_success() && !self.is_guard(i) {
            let since = *self.sets[i].servers[id.server]
                .failing_since
                .get_or_insert(started);
            let set = &self.sets[i];
            let server = &set.servers[id.server];
            let (_, transition) = observe(&server.state, outcome, &set.config.frequency, now.wall);
            if transition == Some(Transition::Failed) && self.guard_not_heard_since(since, now) {
                self.hold_failure(i, id, outcome, due, now, out);
                return;
            }
        }
        let set = &mut self.sets[i];
        let server = &mut set.servers[id.server];
        server.last_started = Some(started);
        if outcome.is_success() {
            server.failing_since = None;
        }
        server.last_lateness = Some(started.saturating_duration_since(due));
        // A poll that timed out held its permit for the whole time-out: the next one goes
        // to the slow lane, so that black holes hold at most half the permits.
        server.timed_out = outcome
            .failure
            .is_some_and(|f| f.kind == crate::model::failure::FailureKind::Timeout);
        let frequency = &set.config.frequency;
        let (state, transition) = observe(&server.state, outcome, frequency, now.wall);
        let changed = state.status != server.state.status;
        if changed || !self.settings.options.polling.history_only_changes {
            out.push(Effect::History(HistoryRow {
                time: now.wall,
                set: set.config.name.clone(),
                server: id.public_ip.to_string(),
                status: state.status.label().to_string(),
                success: outcome.is_success(),
                response: outcome.response.clone(),
                response_ms: Some(outcome.elapsed.as_secs_f64() * 1000.0),
                code: outcome.failure.map(|f| f.code()),
                changed,
            }));
        }
        server.state = state;
        let ms = outcome
            .is_success()
            .then_some(outcome.elapsed.as_secs_f32() * 1000.0);
        server.record_time(ms);
        set.dirty = true;
        self.update_server_problem(i, id.server, now.wall);
        self.requorum(i, id.server, now, out);
        self.note_own_problem(i, id.server, now);
        self.update_certificate_warning(i, id.server, outcome, now.wall);
        if let Some(transition) = transition {
            self.on_transition(i, id.server, transition, now, out);
        }
        self.after_change(i, now, out);
        // The next poll of this server keeps its cadence from the time it was due.
        let set = &self.sets[i];
        if self.polling_allowed(i) && set.is_needed(id.server) {
            let delay = next_poll_delay(
                &set.servers[id.server].state,
                set.has_failure(),
                &set.config.frequency,
            );
            self.arm(i, id.server, (due + delay).max(now.at));
        }
    }

    /// Raises the monitor's own problem while polls fail for its shortage (logged once),
    /// clears it when they work again.
    fn note_local_fault(
        &mut self,
        local: Option<&str>,
        started: Instant,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        match self.local_faults.note(local, started, now.at) {
            LocalChange::Raise(text) => {
                if self.problems.raise_fixed(
                    "",
                    ProblemSubject::Monitor,
                    MONITOR_SHORTAGE,
                    &text,
                    now.wall,
                ) {
                    log(out, Level::Error, text);
                }
            }
            LocalChange::Clear => {
                if self.problems.clear("", &ProblemSubject::Monitor) {
                    log(out, Level::Info, "this monitor can poll again".into());
                }
            }
            LocalChange::Keep => {}
        }
    }

    fn update_server_problem(&mut self, set: usize, server: usize, wall: SystemTime) {
        let s = &self.sets[set];
        let name = &s.config.name;
        let subject = ProblemSubject::Server(s.servers[server].public_ip);
        let current = self.problems.get(name, &subject).map(|p| p.code);
        match server_problem(
            &s.servers[server].state,
            s.config.frequency.recover_after,
            current,
        ) {
            ServerProblem::Raise { code, text } => {
                let shown = || s.subject(server);
                self.problems.raise(name, subject, shown, code, &text, wall);
            }
            ServerProblem::Clear => {
                self.problems.clear(name, &subject);
            }
            ServerProblem::Keep => {}
        }
    }

    /// Raises the low-severity certificate problem while polls warn; only a successful poll
    /// without a warning clears it (a failed poll may not have reached the handshake).
    fn update_certificate_warning(
        &mut self,
        set: usize,
        server: usize,
        outcome: &PollOutcome,
        wall: SystemTime,
    ) {
        let s = &self.sets[set];
        let name = &s.config.name;
        let subject = ProblemSubject::Certificate(s.servers[server].public_ip);
        match &outcome.warning {
            Some(text) => {
                let shown = || format!("{}{CERTIFICATE_SUFFIX}", s.subject(server));
                self.problems
                    .raise(name, subject, shown, CERTIFICATE_WARNING, text, wall);
            }
            None if outcome.is_success() => {
                self.problems.clear(name, &subject);
            }
            None => {}
        }
    }

    fn on_transition(
        &mut self,
        set: usize,
        server: usize,
        transition: Transition,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        let s = &self.sets[set];
        let name = s.config.name.clone();
        let subject = s.subject(server);
        if self.is_guard(set) {
            // A reference is no server: its changes are logged, never notified.
            let verb = match transition {
                Transition::Failed => "fails",
                Transition::Recovered => "answers again",
            };
            log(
                out,
                Level::Info,
                format!("reference target {subject} {verb}"),
            );
            return;
        }
        let sv = &s.servers[server];
        let details = EventDetails {
            server_ip: sv.public_ip.to_string(),
            server_name: sv.config.display_name().to_string(),
            status: sv.state.status.label().to_string(),
            response: sv.state.last_response.clone(),
            problem: sv
                .state
                .last_failure_kind
                .map(|_| sv.state.last_response.clone())
                .unwrap_or_default(),
            problem_code: sv.state.last_failure_kind.map(|f| f.code()),
            ..EventDetails::default()
        };
        // In maintenance: logged, but no failed/recovered notification and no pause.
        let in_maintenance = matches!(sv.admin, Some(Admin::Maintenance(_)));
        let pause =
            transition == Transition::Failed && sv.config.pause_set_on_failure && !in_maintenance;
        let (kind, level, verb) = match transition {
            Transition::Failed => (EventKind::ServerFailed, Level::Warning, "failed"),
            Transition::Recovered => (EventKind::ServerRecovered, Level::Info, "recovered"),
        };
        let text = format!("server {subject} of {name:?} {verb}: {}", details.response);
        // In a cluster the quorum's verdict is the event that is notified (`cluster.rs`,
        // `on_verdict`); this instance's own view goes to the log and the event history
        // only. (A pause on failure still follows the own view.)
        let recorded_only = if in_maintenance {
            Some((
                Level::Info,
                format!("{text} (in maintenance: not notified)"),
            ))
        } else if self.in_cluster() {
            let note = "this instance's view; the quorum decides what is notified";
            Some((level, format!("{text} ({note})")))
        } else {
            None
        };
        match recorded_only {
            Some((level, text)) => {
                log(out, level, text.clone());
                out.push(Effect::Recorded(Event {
                    time: now.wall,
                    kind,
                    set: name.to_string(),
                    subject: subject.to_string(),
                    text,
                    details,
                }));
            }
            None => {
                log(out, level, text.clone());
                emit(out, kind, &name, &subject, text, details, now.wall);
            }
        }
        if pause {
            // The decision is made (and DNS follows) before the set stops polling.
            self.after_change(set, now, out);
            self.set_paused(&name, true, true, now, out);
            let text =
                format!("server set {name:?} paused because {subject} failed; resume it by hand");
            emit(
                out,
                EventKind::SetPausedAutomatically,
                &name,
                &subject,
                text,
                EventDetails::default(),
                now.wall,
            );
        }
    }

    /// Recomputes what depends on the servers' states: sequential skipping, the address
    /// decision (and DNS following it), the all-failed event.
    fn after_change(&mut self, set: usize, now: Now, out: &mut Vec<Effect>) {
        if self.is_guard(set) {
            // The references decide no addresses: only the guard's verdict.
            self.update_guard(now, out);
            return;
        }
        if self.sets[set].config.frequency.sequential {
            for k in 0..self.sets[set].servers.len() {
                let needed = self.sets[set].is_needed(k);
                let s = &self.sets[set].servers[k];
                if s.config.disabled {
                    continue;
                }
                if !needed {
                    Polling::unschedule(&mut self.sets[set], k);
                    if !matches!(self.sets[set].servers[k].phase, Phase::Running(_)) {
                        self.mark_skipped(set, k);
                    }
                } else if s.phase == Phase::Idle {
                    // A higher server stopped working: this one is needed now.
                    self.arm(set, k, now.at);
                }
            }
        }
        let s = &mut self.sets[set];
        let decision = s.decide();
        let decided = decision != s.decision;
        if decided {
            if !matches!(decision, Decision::Waiting) {
                let mut text = format!(
                    "{:?}: DNS should give {}",
                    s.config.name,
                    decision.describe()
                );
                // Said where it is decided, so that a change no instance writes (no
                // leader: etcd's majority lost) shows in every log.
                if self.settings.cluster.is_some() && !self.cluster.leader {
                    text.push_str("; not written here: only the cluster's leader writes DNS");
                }
                log(out, Level::Info, text);
            }
            // Other addresses than those published before: the lower TTL's window starts.
            // (The first ever published, e.g. after a restart, is no change.)
            if let Decision::Publish { addresses, .. } = &decision
                && s.published.as_ref().is_some_and(|p| p != addresses)
            {
                s.dns_changed_at = Some(now.at);
            }
            s.decision = decision;
            s.dirty = true;
            self.note_published(set, out);
        }
        // The TTL follows the servers' states too, not only the decision.
        let ttl_changed = self.refresh_ttl(set, now, out);
        if decided || ttl_changed {
            DnsSync::follow_decision(&mut self.sets[set], now.at, now.wall, out);
        }
        let s = &mut self.sets[set];
        let failed = all_failed(&s.candidates());
        if failed != s.all_failed {
            s.all_failed = failed;
            if failed {
                let name = s.config.name.clone();
                let text = format!("all servers of {name:?} failed");
                log(out, Level::Error, text.clone());
                emit(
                    out,
                    EventKind::AllServersFailed,
                    &name,
                    "",
                    text,
                    EventDetails::default(),
                    now.wall,
                );
            }
        }
    }

    /// Keeps what the set publishes now, so that DNS serving goes on giving it while a
    /// later decision waits (after a restart) or says to leave DNS as it is.
    fn note_published(&mut self, set: usize, out: &mut Vec<Effect>) {
        let s = &mut self.sets[set];
        let Decision::Publish { addresses, .. } = &s.decision else {
            return;
        };
        if s.published.as_ref() == Some(addresses) {
            return;
        }
        s.published = Some(addresses.clone());
        s.dirty = true;
        self.published
            .insert(s.config.name.clone(), addresses.clone());
        out.push(Effect::Published {
            set: s.config.name.clone(),
            addresses: addresses.clone(),
        });
    }

    /// History rows the writer dropped (a stalled or full disk) are a problem of the
    /// monitor, logged when it starts; it clears once the queue is empty and rows were
    /// stored since the last drop.
    fn on_history_status(
        &mut self,
        dropped: u64,
        stored: u64,
        queued: usize,
        now: Now,
        out: &mut Vec<Effect>,
    ) {
        if dropped > self.history_dropped {
            let text = format!(
                "{dropped} history row(s) dropped since the start: the database does not keep \
                 up (a stalled or full disk?); polling and DNS go on"
            );
            if self.problems.raise_fixed(
                "",
                ProblemSubject::History,
                MONITOR_SHORTAGE,
                &text,
                now.wall,
            ) {
                log(out, Level::Error, text);
            }
            self.history_dropped = dropped;
            self.history_stored_at_drop = stored;
        } else if self.history_keeps_up(stored, queued)
            && self.problems.clear("", &ProblemSubject::History)
        {
            let text = format!(
                "polling history: the database keeps up again ({dropped} row(s) dropped in all)"
            );
            log(out, Level::Info, text);
        }
    }

    /// Nothing waits for the disk and rows were stored since the last drop.
    fn history_keeps_up(&self, stored: u64, queued: usize) -> bool {
        queued == 0 && stored > self.history_stored_at_drop
    }

    /// True when rows were dropped since last told, or the history problem may clear.
    pub fn history_status_news(&self, dropped: u64, stored: u64, queued: usize) -> bool {
        dropped > self.history_dropped
            || (self.history_keeps_up(stored, queued)
                && self.problems.get("", &ProblemSubject::History).is_some())
    }

    /// A notification was delivered (logged, its problem resolved) or failed (a problem).
    fn on_notification_report(&mut self, report: Report, now: Now, out: &mut Vec<Effect>) {
        match report {
            Report::Delivered { set, subject, text } => {
                self.problems
                    .clear(&set, &ProblemSubject::notification(&subject));
                log(out, Level::Info, format!("{subject}: {text}"));
            }
            Report::Failed {
                set,
                subject,
                code,
                text,
                dropped,
            } => {
                log(out, Level::Warning, format!("{subject}: {code} {text}"));
                // A dropped desktop balloon is only logged: it is not a lasting fault.
                if !(dropped && subject.ends_with("desktop")) {
                    let code = ProblemCode::from_number(code);
                    let key = ProblemSubject::notification(&subject);
                    self.problems.raise_fixed(&set, key, code, &text, now.wall);
                }
            }
        }
    }
}

/// A log line effect.
fn log(out: &mut Vec<Effect>, level: Level, text: String) {
    out.push(Effect::Log(level, text));
}

/// An event effect.
fn emit(
    out: &mut Vec<Effect>,
    kind: EventKind,
    set: &str,
    subject: &str,
    text: String,
    details: EventDetails,
    wall: SystemTime,
) {
    out.push(Effect::Event(Event {
        time: wall,
        kind,
        set: set.to_string(),
        subject: subject.to_string(),
        text,
        details,
    }));
}

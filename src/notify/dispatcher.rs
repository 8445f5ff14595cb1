//! The dispatcher: for each notice (an engine event) it picks the methods of the set
//! (the Options' defaults, the set's own, or both, each filtered by its events), coalesces
//! repeats, stores every message in the outbox before sending it, retries failures with
//! back-off, and reports each outcome back (the engine turns failures into 3xx problems).
//!
//! Coalescing: the first notice of an event for a subject goes out at once and opens a
//! window of `coalesce_secs`; repeats inside the window are only counted. When the window
//! closes with repeats, one message says how many times it happened (`$COUNT$`, and
//! `$EVENT$` reads e.g. `DNS updated (19 more times in 60 s)`), and a new window opens.
//! A notice that reverses the last one sent for its subject (recovered after failed, DNS
//! updated after a failed update) is never held back: it closes the window of the event
//! it reverses (sending that window's summary first) and goes out at once. Open windows
//! live in the outbox, so a crash loses none of the repeats they hold (in a cluster, in the
//! shared store too: a new leader sends the summary of a window the dead one held).
//!
//! Problems: a failure that was announced (server failed, DNS update failed, all servers
//! failed) stays open, in the database, until its resolution arrives; the resolution names
//! it and how long it lasted (`$RESOLVES$`, `$DURATION$`, the same `$PROBLEMID$`). After
//! a restart a problem still open is not announced again, and one that ended while
//! Standby was not running is announced as resolved at the first check
//! ([`Input::FirstCheck`]). Methods with reminders repeat an open problem's message every
//! N minutes while the engine still lists the problem.
//!
//! Every message has a stable id (`$MESSAGEID$`, kept in its outbox row): a delivery that
//! a crash interrupted is sent again with the same id, so a receiver can drop the copy.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::announcements::{Key, OpenProblem, StoredNotice, new_id};
use super::dispatch_rules::{backoff, full_tags, methods_with, tags_from};
use super::{NotifyConfig, NotifyError, build, describe, resolve};
use crate::model::failure::{Area, ProblemCode};
use crate::model::tags::TagValues;
use crate::model::{EventKind, NotificationKind, Settings};
use crate::store::{Announced, Outbox, Pending, StoreError};

mod cluster;
mod windows;

/// The outbox itself failed (3, no kind, no stage).
const OUTBOX_FAULT: u16 = ProblemCode::of_area(Area::Notification).get();

/// An event as the dispatcher sees it; the engine fills the tags it knows (`$SETNAME$`,
/// `$SERVERIP$`, ...). `$EVENT$`, `$COUNT$`, `$TIME$`, `$TIMEUTC$`, `$COMPUTER$` and the
/// ids are added here.
#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: EventKind,
    /// The set; blank for an event of no set.
    pub set: String,
    pub subject: String,
    pub time: SystemTime,
    pub tags: TagValues,
}

/// What the dispatcher is told.
#[derive(Clone, Debug)]
pub enum Input {
    /// An engine event.
    Notice(Notice),
    /// A server (or DNS pair) works at its first check since the start; the engine has no
    /// event for that. `kind` is the event that would resolve its failure
    /// (`ServerRecovered`, `DnsUpdated`): sent only if a failure announced before the
    /// restart is still open.
    FirstCheck(Notice),
    /// The engine's current problems, as (set, subject), whenever they change: reminders
    /// go out only while their problem is listed.
    Problems(HashSet<(String, String)>),
    /// Cluster mode: the shared outbox and whether this instance leads (`None`: alone).
    Cluster(Option<super::shared::ClusterRole>),
    /// Cluster mode, while leading: a server's quorum verdict as it stands (`ServerFailed`
    /// or `ServerRecovered`), on taking over and at the first verdict of a server since.
    /// Announced only if it differs from what the leaders announced
    /// ([`super::shared::on_verdict`]): the leader that decided it may have died first.
    Verdict(Notice),
}

impl From<Notice> for Input {
    fn from(notice: Notice) -> Self {
        Input::Notice(notice)
    }
}

/// What the dispatcher tells the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// Delivered (or the desktop balloon shown): a problem of this method, if any, is
    /// resolved. `text` is for the log (e.g. a command's exit code).
    Delivered {
        set: String,
        subject: String,
        text: String,
    },
    /// Not delivered: a problem `code` for (`set`, `subject`); it is retried unless
    /// `dropped`.
    Failed {
        set: String,
        subject: String,
        code: u16,
        text: String,
        dropped: bool,
    },
}

/// A *Test...* press: send through `method` now and say how it went.
pub struct TestRequest {
    pub method: NotificationKind,
    pub reply: oneshot::Sender<Result<String, super::NotifyError>>,
}

/// What the outbox stores for one message: the method with the e-mail defaults filled in,
/// and the tag values, so a retry after a restart sends the same message.
#[derive(Serialize, Deserialize)]
struct Job {
    method: NotificationKind,
    set: String,
    /// The event's subject: messages to one method about one subject go out in order.
    #[serde(default)]
    subject: String,
    tags: Vec<(String, String)>,
    /// `$MESSAGEID$`: made once, when the message is stored, and kept for every try.
    /// Blank in rows of older versions: their outbox row id stands in.
    #[serde(default)]
    id: String,
}

/// The subject of a notification problem.
pub fn problem_subject(method: &NotificationKind) -> String {
    format!("notification: {}", describe(method))
}

struct Window {
    until: Instant,
    until_ms: i64,
    repeats: u32,
    last: Notice,
    /// Recorded in the cluster's shared store (only a window with a summary to send: one
    /// of methods that take its event).
    shared: bool,
}

pub(super) struct Done {
    id: i64,
    outcome: Result<String, NotifyError>,
    /// The message was stored in the cluster's shared outbox before this try.
    mirrored: bool,
}

/// How a notice reached the dispatcher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arrival {
    Event,
    FirstCheck,
    Verdict,
}

pub struct Dispatcher {
    config: NotifyConfig,
    settings: Box<dyn Fn() -> Arc<Settings> + Send + Sync>,
    reports: mpsc::UnboundedSender<Report>,
    outbox: Outbox,
    announced: Announced,
    /// Mirror of the outbox rows, by id; `in_flight` ones are being sent.
    waiting: BTreeMap<i64, Pending>,
    /// The lane of each waiting message (see [`Self::heads`]).
    lanes: HashMap<i64, String>,
    in_flight: HashMap<i64, (String, String)>,
    /// Mirror of the outbox's `held` rows.
    windows: HashMap<Key, Window>,
    /// Mirror of the announced problems.
    problems: HashMap<Key, OpenProblem>,
    /// The engine's problems, once it has told them.
    current: Option<HashSet<(String, String)>>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
    /// Cluster mode (`dispatcher/cluster.rs`): the shared outbox, whether this instance
    /// leads, the rows it stored there, the takeovers' results.
    role: Option<super::shared::ClusterRole>,
    mirrored: HashSet<i64>,
    takeover_tx: mpsc::UnboundedSender<cluster::TakeoverRead>,
    takeover_rx: mpsc::UnboundedReceiver<cluster::TakeoverRead>,
    /// While a takeover reads the shared store: the notices that came meanwhile, handled
    /// once it knows what the former leaders announced.
    deferred: Option<Vec<(Notice, Arrival)>>,
    /// Changes of the announced problems not yet written to the shared store.
    changes: Vec<(String, Option<String>)>,
    /// Changes of the open windows not yet written there.
    window_changes: Vec<(String, Option<String>)>,
    /// Rows being written to the shared store (not sent before that is done).
    recording: HashSet<i64>,
    records: mpsc::UnboundedSender<cluster::Record>,
    recorded_tx: mpsc::UnboundedSender<cluster::Recorded>,
    recorded_rx: mpsc::UnboundedReceiver<cluster::Recorded>,
}

impl Dispatcher {
    /// Opens the outbox; if the database cannot be opened the outbox lives in memory and
    /// the failure is reported (nothing is lost while Standby runs).
    pub fn new(
        config: NotifyConfig,
        settings: impl Fn() -> Arc<Settings> + Send + Sync + 'static,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Result<Self, StoreError> {
        let database = config.database.as_deref();
        let opened = Outbox::open(database).and_then(|o| Ok((o, Announced::open(database)?)));
        let (outbox, announced) = match opened {
            Ok(both) => both,
            Err(e) => {
                let _ = reports.send(Report::Failed {
                    set: String::new(),
                    subject: "notification outbox".into(),
                    code: OUTBOX_FAULT,
                    text: format!("{e}; notifications are kept in memory only"),
                    dropped: false,
                });
                (Outbox::open(None)?, Announced::open(None)?)
            }
        };
        // Unbounded, and none can outgrow the outbox: one `Done` per delivery in flight, one
        // read per takeover, one record (and its answer) per batch of messages stored (the
        // recorder merges what queued while etcd was slow). A send from a task must never
        // wait on the loop that would take it.
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        let (takeover_tx, takeover_rx) = mpsc::unbounded_channel();
        let (recorded_tx, recorded_rx) = mpsc::unbounded_channel();
        let (records, _) = mpsc::unbounded_channel();
        Ok(Self {
            config,
            settings: Box::new(settings),
            reports,
            outbox,
            announced,
            waiting: BTreeMap::new(),
            lanes: HashMap::new(),
            in_flight: HashMap::new(),
            windows: HashMap::new(),
            problems: HashMap::new(),
            current: None,
            done_tx,
            done_rx,
            role: None,
            mirrored: HashSet::new(),
            takeover_tx,
            takeover_rx,
            deferred: None,
            changes: Vec::new(),
            window_changes: Vec::new(),
            recording: HashSet::new(),
            records,
            recorded_tx,
            recorded_rx,
        })
    }

    /// Runs until `inputs` closes. Messages left in the outbox go out at the next start.
    pub async fn run(
        mut self,
        mut inputs: mpsc::Receiver<Input>,
        mut tests: mpsc::Receiver<TestRequest>,
    ) {
        self.load();
        self.records = cluster::recorder(self.recorded_tx.clone());
        if let Some(role) = self.role.clone()
            && role.leading
        {
            self.read_shared(role.shared);
        }
        let mut tests_open = true;
        loop {
            self.start_due();
            let wake = self.next_wake();
            tokio::select! {
                input = inputs.recv() => {
                    // An input comes with the change that caused it, whose DNS run was
                    // just started on this runtime: let that go first (the dispatcher's
                    // store writes would otherwise run ahead of it on this worker).
                    tokio::task::yield_now().await;
                    match input {
                        Some(Input::Notice(notice)) => self.arrive(notice, Arrival::Event),
                        Some(Input::FirstCheck(notice)) => {
                            self.arrive(notice, Arrival::FirstCheck)
                        }
                        Some(Input::Verdict(notice)) => self.arrive(notice, Arrival::Verdict),
                        Some(Input::Problems(current)) => self.current = Some(current),
                        Some(Input::Cluster(role)) => self.on_role(role),
                        None => break,
                    }
                }
                Some(read) = self.takeover_rx.recv() => self.on_takeover(read),
                Some(recorded) = self.recorded_rx.recv() => self.on_recorded(recorded),
                test = tests.recv(), if tests_open => match test {
                    Some(test) => self.on_test(test),
                    None => tests_open = false,
                },
                Some(done) = self.done_rx.recv() => self.on_done(done),
                () = sleep_until(wake) => {}
            }
            self.close_windows();
            self.remind();
            self.flush_changes();
        }
    }

    /// What the last run left: messages, open windows, announced problems.
    fn load(&mut self) {
        let now = self.now_ms();
        match self.outbox.pending() {
            Ok(pending) => {
                for mut p in pending {
                    // Left over from the last run: send now, not after its old back-off.
                    p.next_try_ms = p.next_try_ms.min(now);
                    self.wait(p);
                }
            }
            Err(e) => self.store_error(&e),
        }
        match self.outbox.held() {
            Ok(held) => {
                for h in held {
                    let Ok(stored) = ron::from_str::<StoredNotice>(&h.notice) else {
                        // Written by an older or broken version: its count cannot be told.
                        tracing::warn!("an unreadable coalescing window was dropped");
                        let _ = self.outbox.release(&h.key, &[], now);
                        continue;
                    };
                    let last = stored.notice();
                    let left = Duration::from_millis(u64::try_from(h.until_ms - now).unwrap_or(0));
                    self.windows.insert(
                        (last.set.clone(), last.subject.clone(), last.kind),
                        Window {
                            until: Instant::now() + left,
                            until_ms: h.until_ms,
                            repeats: h.repeats,
                            last,
                            // Perhaps: a delete of a key that is not there is harmless.
                            shared: true,
                        },
                    );
                }
            }
            Err(e) => self.store_error(&e),
        }
        match self.announced.all() {
            Ok(rows) => {
                for (_, record) in rows {
                    if let Ok(mut open) = ron::from_str::<OpenProblem>(&record) {
                        open.inherited = true;
                        let n = &open.notice;
                        self.problems
                            .insert((n.set.clone(), n.subject.clone(), n.kind), open);
                    }
                }
            }
            Err(e) => self.store_error(&e),
        }
    }

    fn on_test(&self, test: TestRequest) {
        let defaults = (self.settings)().email_defaults.clone();
        let config = self.config.clone();
        tokio::spawn(async move {
            let outcome = super::send_test(&test.method, &defaults, &config).await;
            let _ = test.reply.send(outcome);
        });
    }

    fn coalesce_window(&self) -> Duration {
        Duration::from_secs(u64::from(
            (self.settings)().options.notification.coalesce_secs,
        ))
    }

    /// The messages of one notice: one per method (plus the desktop balloon, shown now).
    fn jobs(&self, notice: &Notice, repeats: Option<u32>, window: Duration) -> Vec<String> {
        let settings = (self.settings)();
        let tags = full_tags(notice, repeats, window);
        // The balloon and the sound are "on problems" (Options): not for recoveries.
        if self.config.desktop && notice.kind.is_problem() {
            self.desktop(&settings, &tags, notice);
        }
        methods_with(&settings, &notice.set, notice.kind)
            .into_iter()
            .filter_map(|method| job_text(method.kind, &notice.set, &notice.subject, &tags))
            .collect()
    }

    /// Stores messages (closing the window `release`, if given, in the same transaction)
    /// and starts them.
    fn store(&mut self, jobs: Vec<String>, release: Option<String>) {
        // A follower of a cluster notifies nothing: the leader does.
        let jobs = if self.sends() { jobs } else { Vec::new() };
        if jobs.is_empty() && release.is_none() {
            return;
        }
        let now = self.now_ms();
        let stored = match &release {
            Some(key) => self.outbox.release(key, &jobs, now),
            None => jobs
                .iter()
                .map(|job| self.outbox.push(job, now))
                .collect::<Result<Vec<_>, _>>(),
        };
        match stored {
            Ok(ids) => {
                self.record(&ids, &jobs);
                for (id, job) in ids.into_iter().zip(jobs) {
                    self.wait_new(id, job, now);
                }
            }
            Err(e) => self.store_error(&e),
        }
        self.start_due();
    }

    /// The balloon and the sound, in the GUI only; never stored, never retried.
    fn desktop(&self, settings: &Settings, tags: &TagValues, notice: &Notice) {
        let ui = &settings.options.user_interface;
        if ui.desktop_notification {
            let tags = tags.clone();
            let reports = self.reports.clone();
            let set = notice.set.clone();
            tokio::spawn(async move {
                use super::Notifier;
                if let Err(e) = super::desktop::DesktopNotifier.send(&tags).await {
                    let _ = reports.send(Report::Failed {
                        set,
                        subject: "notification: desktop".into(),
                        code: e.code(),
                        text: e.text,
                        dropped: true,
                    });
                }
            });
        }
        if ui.play_sound {
            let file = ui.sound_file.clone();
            tokio::spawn(async move {
                if let Err(e) = super::desktop::play_sound(file.as_deref()).await {
                    tracing::warn!("{e}");
                }
            });
        }
    }

    /// The first undelivered message of each lane (one method, one subject): only it may
    /// be sent, so a receiver gets a subject's messages in order and the last one it gets
    /// tells the current state.
    fn heads(&self) -> Vec<&Pending> {
        let mut busy: HashSet<&str> = HashSet::new();
        self.waiting
            .values()
            .filter(|p| busy.insert(self.lanes.get(&p.id).map_or("", String::as_str)))
            .filter(|p| !self.in_flight.contains_key(&p.id) && !self.recording.contains(&p.id))
            .collect()
    }

    fn start_due(&mut self) {
        if !self.sends() {
            return;
        }
        let now = self.now_ms();
        let due: Vec<i64> = self
            .heads()
            .into_iter()
            .filter(|p| p.next_try_ms <= now)
            .map(|p| p.id)
            .collect();
        for id in due {
            self.start(id);
        }
    }

    /// Files a message into the waiting list and its lane.
    /// A message just stored: no try yet, due at once.
    fn wait_new(&mut self, id: i64, job: String, now: i64) {
        self.wait(Pending {
            id,
            job,
            attempts: 0,
            next_try_ms: now,
        });
    }

    fn wait(&mut self, pending: Pending) {
        let lane = ron::from_str::<Job>(&pending.job)
            .map(|job| lane(&job))
            .unwrap_or_default();
        self.lanes.insert(pending.id, lane);
        self.waiting.insert(pending.id, pending);
        self.config.outbox.set_depth(self.waiting.len());
    }

    fn unwait(&mut self, id: i64) {
        self.waiting.remove(&id);
        self.lanes.remove(&id);
        self.config.outbox.set_depth(self.waiting.len());
    }

    fn start(&mut self, id: i64) {
        let Some(pending) = self.waiting.get(&id) else {
            return;
        };
        let job_text = pending.job.clone();
        let job: Job = match ron::from_str(&job_text) {
            Ok(job) => job,
            Err(e) => {
                // Written by an older or broken version: it can never be sent.
                self.drop_job(
                    id,
                    "",
                    "notification outbox",
                    OUTBOX_FAULT,
                    &format!("unreadable: {e}"),
                );
                return;
            }
        };
        let subject = problem_subject(&job.method);
        let method = resolve(&job.method, &(self.settings)().email_defaults);
        let notifier = match build(&method, &self.config) {
            Ok(notifier) => notifier,
            Err(e) => {
                let text = format!("{}; message dropped", e.text);
                self.drop_job(id, &job.set, &subject, e.code(), &text);
                return;
            }
        };
        self.in_flight.insert(id, (job.set.clone(), subject));
        let mut tags = tags_from(&job.tags);
        let message_id = if job.id.is_empty() {
            format!("standby-outbox-{id}")
        } else {
            job.id.clone()
        };
        tags.set("MESSAGEID", message_id.clone());
        let limit = self.config.send_timeout;
        let done = self.done_tx.clone();
        let stored = self.mirrored.contains(&id);
        let shared = self
            .role
            .as_ref()
            .map(|r| (r.shared.clone(), job_text, stored));
        tokio::spawn(cluster::deliver(cluster::Delivery {
            id,
            message_id,
            notifier,
            tags,
            limit,
            shared,
            done,
        }));
    }

    fn drop_job(&mut self, id: i64, set: &str, subject: &str, code: u16, text: &str) {
        self.config.outbox.failed();
        self.forget_shared(id);
        self.unwait(id);
        if let Err(e) = self.outbox.remove(id) {
            self.store_error(&e);
        }
        let _ = self.reports.send(Report::Failed {
            set: set.into(),
            subject: subject.into(),
            code,
            text: text.into(),
            dropped: true,
        });
    }

    fn on_done(&mut self, done: Done) {
        let Some((set, subject)) = self.in_flight.remove(&done.id) else {
            return;
        };
        if done.mirrored {
            self.mirrored.insert(done.id);
        }
        match done.outcome {
            Ok(text) => {
                self.mirrored.remove(&done.id);
                self.config.outbox.delivered();
                self.unwait(done.id);
                if let Err(e) = self.outbox.remove(done.id) {
                    self.store_error(&e);
                }
                let _ = self.reports.send(Report::Delivered { set, subject, text });
            }
            Err(e) => {
                self.config.outbox.failed();
                let now = self.now_ms();
                let Some(pending) = self.waiting.get_mut(&done.id) else {
                    return;
                };
                pending.attempts += 1;
                let delay = backoff(
                    pending.attempts,
                    self.config.retry_first,
                    self.config.retry_max,
                );
                pending.next_try_ms = now + i64::try_from(delay.as_millis()).unwrap_or(0);
                let (attempts, next) = (pending.attempts, pending.next_try_ms);
                if let Err(store) = self.outbox.failed(done.id, attempts, next, &e.text) {
                    self.store_error(&store);
                }
                let _ = self.reports.send(Report::Failed {
                    set,
                    subject,
                    code: e.code(),
                    text: format!(
                        "{} (attempt {attempts}; next in {} s)",
                        e.text,
                        delay.as_secs()
                    ),
                    dropped: false,
                });
            }
        }
    }

    fn next_wake(&self) -> Option<Instant> {
        let now = Instant::now();
        let now_ms = self.now_ms();
        let retry = self
            .heads()
            .into_iter()
            .map(|p| {
                now + Duration::from_millis(u64::try_from(p.next_try_ms - now_ms).unwrap_or(0))
            })
            .min();
        // While a takeover reads, the windows wait for those the former leaders held.
        let window = self
            .windows
            .values()
            .map(|w| w.until)
            .min()
            .filter(|_| self.deferred.is_none());
        let remind = self
            .next_reminder()
            .map(|at| now + Duration::from_millis(u64::try_from(at - now_ms).unwrap_or(0)));
        [retry, window, remind].into_iter().flatten().min()
    }

    /// Milliseconds since the epoch on the dispatcher's clock.
    pub(super) fn now_ms(&self) -> i64 {
        self.config.clock.now_ms()
    }

    fn store_error(&self, e: &StoreError) {
        let _ = self.reports.send(Report::Failed {
            set: String::new(),
            subject: "notification outbox".into(),
            code: OUTBOX_FAULT,
            text: e.to_string(),
            dropped: false,
        });
    }
}

async fn sleep_until(wake: Option<Instant>) {
    match wake {
        Some(wake) => tokio::time::sleep_until(wake).await,
        None => std::future::pending().await,
    }
}

/// One stored message for `method`, with a new `$MESSAGEID$`.
fn job_text(
    method: NotificationKind,
    set: &str,
    subject: &str,
    tags: &TagValues,
) -> Option<String> {
    let job = Job {
        // As configured: the e-mail defaults are filled in at each try, so that a mended
        // SMTP server or login in the defaults reaches waiting messages too.
        method,
        set: set.to_string(),
        subject: subject.to_string(),
        tags: tags
            .iter()
            .filter(|(k, _)| *k != "MESSAGEID")
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        id: new_id(),
    };
    match ron::to_string(&job) {
        Ok(text) => Some(text),
        Err(e) => {
            tracing::error!("cannot serialise a notification: {e}");
            None
        }
    }
}

/// Messages of one lane go out one after the other, in order.
fn lane(job: &Job) -> String {
    let method = ron::to_string(&job.method).unwrap_or_default();
    format!("{method}\u{1f}{}\u{1f}{}", job.set, job.subject)
}

/// Minutes between reminders as milliseconds; `None` = no reminders.
fn reminder_ms(minutes: u32) -> Option<i64> {
    (minutes > 0).then(|| i64::from(minutes) * 60_000)
}

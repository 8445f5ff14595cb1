//! The dispatcher: for each notice (an engine event) it picks the methods of the set
//! (the Options' defaults, the set's own, or both, each filtered by its events), coalesces
//! repeats, stores every message in the outbox before sending it, retries failures with
//! back-off, and reports each outcome back (the engine turns failures into 3xx problems).
//!
//! Coalescing: the first notice of an event for a subject goes out at once and opens a
//! window of `coalesce_secs`; repeats inside the window are only counted. When the window
//! closes with repeats, one message says how many times it happened (`$COUNT$`, and
//! `$EVENT$` reads e.g. `Server failed (19 more times in 60 s)`), and a new window opens.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::dispatch_rules::{backoff, full_tags, methods_for, tags_from};
use super::{NotifyConfig, NotifyError, build, describe, resolve};
use crate::model::failure::{Area, ProblemCode};
use crate::model::tags::TagValues;
use crate::model::{EventKind, NotificationKind, Settings};
use crate::store::{Outbox, Pending, StoreError};

/// The outbox itself failed (3, no kind, no stage).
const OUTBOX_FAULT: u16 = ProblemCode::of_area(Area::Notification).get();

/// An event as the dispatcher sees it; the engine fills the tags it knows (`$SETNAME$`,
/// `$SERVERIP$`, ...). `$EVENT$`, `$COUNT$`, `$TIME$`, `$TIMEUTC$` and `$COMPUTER$` are
/// added here.
#[derive(Clone, Debug)]
pub struct Notice {
    pub kind: EventKind,
    /// The set; blank for an event of no set.
    pub set: String,
    pub subject: String,
    pub time: SystemTime,
    pub tags: TagValues,
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
    pub reply: oneshot::Sender<Result<String, String>>,
}

/// What the outbox stores for one message: the method with the e-mail defaults filled in,
/// and the tag values, so a retry after a restart sends the same message.
#[derive(Serialize, Deserialize)]
struct Job {
    method: NotificationKind,
    set: String,
    tags: Vec<(String, String)>,
}

/// The subject of a notification problem.
pub fn problem_subject(method: &NotificationKind) -> String {
    format!("notification: {}", describe(method))
}

struct Window {
    until: Instant,
    repeats: u32,
    last: Notice,
}

struct Done {
    id: i64,
    outcome: Result<String, NotifyError>,
}

pub struct Dispatcher {
    config: NotifyConfig,
    settings: Box<dyn Fn() -> Arc<Settings> + Send + Sync>,
    reports: mpsc::UnboundedSender<Report>,
    outbox: Outbox,
    /// Mirror of the outbox rows, by id; `in_flight` ones are being sent.
    waiting: BTreeMap<i64, Pending>,
    in_flight: HashMap<i64, (String, String)>,
    windows: HashMap<(String, String, EventKind), Window>,
    done_tx: mpsc::UnboundedSender<Done>,
    done_rx: mpsc::UnboundedReceiver<Done>,
}

impl Dispatcher {
    /// Opens the outbox; if the database cannot be opened the outbox lives in memory and
    /// the failure is reported (nothing is lost while Standby runs).
    pub fn new(
        config: NotifyConfig,
        settings: impl Fn() -> Arc<Settings> + Send + Sync + 'static,
        reports: mpsc::UnboundedSender<Report>,
    ) -> Result<Self, StoreError> {
        let outbox = match Outbox::open(config.database.as_deref()) {
            Ok(outbox) => outbox,
            Err(e) => {
                let _ = reports.send(Report::Failed {
                    set: String::new(),
                    subject: "notification outbox".into(),
                    code: OUTBOX_FAULT,
                    text: format!("{e}; notifications are kept in memory only"),
                    dropped: false,
                });
                Outbox::open(None)?
            }
        };
        let (done_tx, done_rx) = mpsc::unbounded_channel();
        Ok(Self {
            config,
            settings: Box::new(settings),
            reports,
            outbox,
            waiting: BTreeMap::new(),
            in_flight: HashMap::new(),
            windows: HashMap::new(),
            done_tx,
            done_rx,
        })
    }

    /// Runs until `notices` closes. Messages left in the outbox go out at the next start.
    pub async fn run(
        mut self,
        mut notices: mpsc::Receiver<Notice>,
        mut tests: mpsc::Receiver<TestRequest>,
    ) {
        match self.outbox.pending() {
            Ok(pending) => {
                let now = now_ms();
                for mut p in pending {
                    // Left over from the last run: send now, not after its old back-off.
                    p.next_try_ms = p.next_try_ms.min(now);
                    self.waiting.insert(p.id, p);
                }
            }
            Err(e) => self.store_error(&e),
        }
        let mut tests_open = true;
        loop {
            self.start_due();
            let wake = self.next_wake();
            tokio::select! {
                notice = notices.recv() => match notice {
                    Some(notice) => self.on_notice(notice),
                    None => break,
                },
                test = tests.recv(), if tests_open => match test {
                    Some(test) => self.on_test(test),
                    None => tests_open = false,
                },
                Some(done) = self.done_rx.recv() => self.on_done(done),
                () = sleep_until(wake) => self.close_windows(),
            }
        }
    }

    fn on_test(&self, test: TestRequest) {
        let defaults = (self.settings)().email_defaults.clone();
        let config = self.config.clone();
        tokio::spawn(async move {
            let outcome = super::send_test(&test.method, &defaults, &config)
                .await
                .map_err(|e| format!("{} {e}", e.code()));
            let _ = test.reply.send(outcome);
        });
    }

    fn on_notice(&mut self, notice: Notice) {
        let window = Duration::from_secs(u64::from(
            (self.settings)().options.notification.coalesce_secs,
        ));
        let key = (notice.set.clone(), notice.subject.clone(), notice.kind);
        let now = Instant::now();
        if let Some(open) = self.windows.get_mut(&key)
            && open.until > now
        {
            open.repeats += 1;
            open.last = notice;
            return;
        }
        if !window.is_zero() {
            self.windows.insert(
                key,
                Window {
                    until: now + window,
                    repeats: 0,
                    last: notice.clone(),
                },
            );
        }
        self.deliver(&notice, 1, window);
    }

    /// Sends the summaries of windows that closed with repeats.
    fn close_windows(&mut self) {
        let now = Instant::now();
        let window = Duration::from_secs(u64::from(
            (self.settings)().options.notification.coalesce_secs,
        ));
        let closed: Vec<_> = self
            .windows
            .iter()
            .filter(|(_, w)| w.until <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in closed {
            let Some(w) = self.windows.remove(&key) else {
                continue;
            };
            if w.repeats > 0 {
                self.deliver(&w.last, w.repeats, window);
                // Still flapping? Its next repeats are counted again, not sent one by one.
                self.windows.insert(
                    key,
                    Window {
                        until: now + window,
                        repeats: 0,
                        last: w.last,
                    },
                );
            }
        }
    }

    fn deliver(&mut self, notice: &Notice, count: u32, window: Duration) {
        let settings = (self.settings)();
        let tags = full_tags(notice, count, window);
        // The balloon and the sound are "on problems" (Options): not for recoveries.
        if self.config.desktop && notice.kind.is_problem() {
            self.desktop(&settings, &tags, notice);
        }
        for method in methods_for(&settings, &notice.set, notice.kind) {
            let job = Job {
                // As configured: the e-mail defaults are filled in at each try, so that a
                // mended SMTP server or login in the defaults reaches waiting messages too.
                method,
                set: notice.set.clone(),
                tags: tags
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            let text = match ron::to_string(&job) {
                Ok(text) => text,
                Err(e) => {
                    tracing::error!("cannot serialise a notification: {e}");
                    continue;
                }
            };
            let now = now_ms();
            match self.outbox.push(&text, now) {
                Ok(id) => {
                    self.waiting.insert(
                        id,
                        Pending {
                            id,
                            job: text,
                            attempts: 0,
                            next_try_ms: now,
                        },
                    );
                }
                Err(e) => self.store_error(&e),
            }
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

    fn start_due(&mut self) {
        let now = now_ms();
        let due: Vec<i64> = self
            .waiting
            .values()
            .filter(|p| p.next_try_ms <= now && !self.in_flight.contains_key(&p.id))
            .map(|p| p.id)
            .collect();
        for id in due {
            self.start(id);
        }
    }

    fn start(&mut self, id: i64) {
        let Some(pending) = self.waiting.get(&id) else {
            return;
        };
        let job: Job = match ron::from_str(&pending.job) {
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
        let tags = tags_from(&job.tags);
        let limit = self.config.send_timeout;
        let done = self.done_tx.clone();
        tokio::spawn(async move {
            let outcome = match tokio::time::timeout(limit, notifier.send(&tags)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(NotifyError::new(
                    super::FailureKind::Timeout,
                    super::Stage::Answer,
                    format!("no result after {} s", limit.as_secs()),
                )),
            };
            let _ = done.send(Done { id, outcome });
        });
    }

    fn drop_job(&mut self, id: i64, set: &str, subject: &str, code: u16, text: &str) {
        self.waiting.remove(&id);
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
        match done.outcome {
            Ok(text) => {
                self.waiting.remove(&done.id);
                if let Err(e) = self.outbox.remove(done.id) {
                    self.store_error(&e);
                }
                let _ = self.reports.send(Report::Delivered { set, subject, text });
            }
            Err(e) => {
                let Some(pending) = self.waiting.get_mut(&done.id) else {
                    return;
                };
                pending.attempts += 1;
                let delay = backoff(
                    pending.attempts,
                    self.config.retry_first,
                    self.config.retry_max,
                );
                pending.next_try_ms = now_ms() + i64::try_from(delay.as_millis()).unwrap_or(0);
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
        let now_ms = now_ms();
        let retry = self
            .waiting
            .values()
            .filter(|p| !self.in_flight.contains_key(&p.id))
            .map(|p| {
                now + Duration::from_millis(u64::try_from(p.next_try_ms - now_ms).unwrap_or(0))
            })
            .min();
        let window = self.windows.values().map(|w| w.until).min();
        match (retry, window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

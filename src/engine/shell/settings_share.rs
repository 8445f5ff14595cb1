//! Cluster mode's shared settings, the shell's side (issue 13 item 2; the rules are
//! `cluster/shared_settings.rs`): a follower task reads the cluster's settings key and
//! watches it, write tasks change it by compare-and-swap, and their results come back to
//! the loop as [`ShareResult`]s. The loop puts a document in force through the settings
//! keeper, like an apply: the local file is the cache an instance starts on.
//!
//! **Invariant:** a change of the shared part is in force here only after etcd took it (or
//! it came from etcd): an edit is written first and installed when written; an edit that
//! loses the compare-and-swap is refused with [`EditError::SharedConflict`] once the winner's
//! settings are in force. While etcd is unreachable the shared part cannot be edited (edits
//! of the local part still can), and a pause made here stays local until etcd's copy, read
//! again, replaces it. *Why:* two instances never run on two different versions for longer
//! than a watch takes, and no change is lost unseen.
//!
//! **Invariant:** a document is put in force only while no apply and no write is under way
//! (it waits for them); a newer one replaces one that waits. *Why:* it is merged into the
//! local settings in force, which an apply under way is about to change.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use super::settings_keeper::Answer;
use super::{Level, Shell};
use crate::cluster::etcd::{Compare, Etcd, EtcdError, TxnOutcome};
use crate::cluster::shared_settings::{
    DecodeError, Follow, Reach, Seen, Shared, SharedStatus, Step, changes_shared, settings_key,
};
use crate::cluster::watch::EventKind;
use crate::engine::edit::EditError;
use crate::engine::machine::Pause;
use crate::model::cluster::Cluster;
use crate::model::{Settings, validate};

/// Results waiting for the loop; the tasks wait when it is full.
const RESULTS: usize = 16;
/// One request to one etcd member at most this long.
const ETCD_TIMEOUT: Duration = Duration::from_secs(2);
/// After etcd did not answer, the next read: soon, then less often (but within seconds,
/// so an instance catches up soon after etcd is back).
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MOST: Duration = Duration::from_secs(2);
/// A pause is made again on a document that won meanwhile, this often at most.
const PAUSE_TRIES: usize = 3;

/// What a task tells the loop. `generation` names the follower it belongs to: results of
/// one started for an older cluster section are dropped (their edits answered).
pub enum ShareResult {
    /// The key was read or changed: its mod revision and document (`None`: no key).
    Read {
        generation: u64,
        revision: i64,
        doc: Result<Option<Shared>, DecodeError>,
    },
    /// etcd did not answer (the follower tries again).
    Unreachable { generation: u64, why: String },
    /// A write ended.
    Wrote {
        generation: u64,
        wrote: Wrote,
        job: Job,
    },
}

/// What a write did.
pub enum Wrote {
    /// Written at this revision (`shared`: what was written, a pause made on a newer
    /// document included).
    Written {
        revision: i64,
        shared: Shared,
    },
    /// Another value was there: its revision and document (`None`: no key).
    Lost {
        current: Option<(i64, Result<Shared, DecodeError>)>,
    },
    Failed(String),
}

/// Why a write was made.
pub enum Job {
    /// An edit: installed (through the keeper) once written, then answered.
    Edit {
        settings: Box<Settings>,
        answer: Answer,
    },
    /// This instance's settings, into a cluster that had none.
    Publish,
    /// A pause or resume made here.
    Pause,
}

/// The loop's side: the follower in force, the rules' state, the writes under way.
pub struct SettingsShare {
    /// The connection the follower was started with (endpoints, login, TLS, name).
    section: Option<Cluster>,
    key: String,
    etcd: Option<Etcd>,
    generation: u64,
    follower: Option<tokio::task::AbortHandle>,
    follow: Follow,
    writes: usize,
    /// Edits that lost to a document not in force yet: told when it is.
    losers: Vec<Answer>,
    results: mpsc::Sender<ShareResult>,
}

impl Drop for SettingsShare {
    fn drop(&mut self) {
        if let Some(follower) = &self.follower {
            follower.abort();
        }
    }
}

/// The parts of the section that the follower's connection depends on.
fn connection(c: &Cluster) -> Cluster {
    Cluster {
        instance: String::new(),
        quorum: Default::default(),
        lease_secs: 0,
        ..c.clone()
    }
}

impl SettingsShare {
    pub fn new() -> (SettingsShare, mpsc::Receiver<ShareResult>) {
        let (results, rx) = mpsc::channel(RESULTS);
        let share = SettingsShare {
            section: None,
            key: String::new(),
            etcd: None,
            generation: 0,
            follower: None,
            follow: Follow::default(),
            writes: 0,
            losers: Vec::new(),
            results,
        };
        (share, rx)
    }

    /// Cluster mode is on: the shared part is etcd's.
    pub fn enabled(&self) -> bool {
        self.etcd.is_some()
    }

    /// Writes under way.
    pub fn writes(&self) -> usize {
        self.writes
    }

    /// Follows the cluster section of new settings: starts, restarts or stops the follower
    /// when its connection changed. `Err`: etcd's client could not be made (it is logged).
    pub fn follow_section(&mut self, settings: &Settings) -> Result<(), EtcdError> {
        let wanted = settings.cluster.as_ref().map(connection);
        if wanted == self.section {
            return Ok(());
        }
        if let Some(follower) = self.follower.take() {
            follower.abort();
        }
        self.generation += 1;
        self.follow = Follow::default();
        self.etcd = None;
        self.section = wanted.clone();
        let Some(section) = wanted else {
            return Ok(());
        };
        self.key = settings_key(&section);
        let etcd = Etcd::new(&section, ETCD_TIMEOUT)?;
        let task = tokio::spawn(follow(
            etcd.clone(),
            self.key.clone(),
            self.generation,
            self.results.clone(),
        ));
        self.follower = Some(task.abort_handle());
        self.etcd = Some(etcd);
        Ok(())
    }

    pub fn status(&self) -> SharedStatus {
        SharedStatus {
            enabled: self.enabled(),
            key: self.key.clone(),
            revision: self.follow.installed(),
            etcd: self.follow.reach.clone(),
            refused: self.follow.refused.clone(),
        }
    }

    fn spawn_write(&mut self, condition: Compare, shared: Shared, job: Job, pause: Option<Pause>) {
        let Some(etcd) = self.etcd.clone() else {
            return;
        };
        self.writes += 1;
        let (key, generation, results) = (self.key.clone(), self.generation, self.results.clone());
        tokio::spawn(async move {
            let wrote = write(&etcd, &key, condition, shared, pause).await;
            let _ = results
                .send(ShareResult::Wrote {
                    generation,
                    wrote,
                    job,
                })
                .await;
        });
    }
}

/// The follower: reads the key, then watches it from the revision read; when etcd does not
/// answer it says so and reads again, a little later each time (at most [`RETRY_MOST`]).
async fn follow(etcd: Etcd, key: String, generation: u64, results: mpsc::Sender<ShareResult>) {
    let mut retry = RETRY_FIRST;
    loop {
        let why = match read(&etcd, &key).await {
            Ok((revision, doc, store_revision)) => {
                retry = RETRY_FIRST;
                let read = ShareResult::Read {
                    generation,
                    revision,
                    doc,
                };
                if results.send(read).await.is_err() {
                    return;
                }
                match watch(&etcd, &key, store_revision + 1, generation, &results).await {
                    Ok(()) => return, // the loop has stopped
                    // etcd dropped the revisions the watch was to start from: read again.
                    Err(EtcdError::Compacted { .. }) => continue,
                    Err(e) => e.to_string(),
                }
            }
            Err(e) => e.to_string(),
        };
        let unreachable = ShareResult::Unreachable { generation, why };
        if results.send(unreachable).await.is_err() {
            return;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(RETRY_MOST);
    }
}

/// The key's mod revision and document, and the store's revision it was read at.
async fn read(
    etcd: &Etcd,
    key: &str,
) -> Result<(i64, Result<Option<Shared>, DecodeError>, i64), EtcdError> {
    // A range over the key as a prefix gives the store's revision too (where to watch
    // from); only the key itself is taken.
    let (kvs, store_revision) = etcd.get_prefix(key).await?;
    Ok(match kvs.into_iter().find(|kv| kv.key == key) {
        Some(kv) => (
            kv.mod_revision,
            Shared::decode(&kv.value).map(Some),
            store_revision,
        ),
        None => (0, Ok(None), store_revision),
    })
}

/// Each change of the key from `from` on, to the loop, until etcd fails (`Err`) or the
/// loop stops (`Ok`).
async fn watch(
    etcd: &Etcd,
    key: &str,
    from: i64,
    generation: u64,
    results: &mpsc::Sender<ShareResult>,
) -> Result<(), EtcdError> {
    let mut watcher = etcd.watch(key, from);
    loop {
        let events = watcher.next().await?;
        // The watch is on the key as a prefix: only the key itself counts.
        for event in events.into_iter().filter(|e| e.kv.key == key) {
            let doc = match event.kind {
                EventKind::Put => Shared::decode(&event.kv.value).map(Some),
                EventKind::Delete => Ok(None),
            };
            let read = ShareResult::Read {
                generation,
                revision: event.revision(),
                doc,
            };
            if results.send(read).await.is_err() {
                return Ok(());
            }
        }
    }
}

/// One compare-and-swap; a pause lost to a newer document is made on it and tried again.
async fn write(
    etcd: &Etcd,
    key: &str,
    mut condition: Compare,
    mut shared: Shared,
    pause: Option<Pause>,
) -> Wrote {
    for _ in 0..PAUSE_TRIES {
        let outcome = etcd.put_if(&condition, key, &shared.encode(), None).await;
        let current = match outcome {
            Ok(TxnOutcome::Written { revision }) => return Wrote::Written { revision, shared },
            Ok(TxnOutcome::Lost { current }) => current,
            Err(e) => return Wrote::Failed(e.to_string()),
        };
        let current = current.map(|kv| {
            let doc = Shared::decode(&kv.value);
            (kv.mod_revision, doc)
        });
        match (&pause, current) {
            (Some(pause), Some((revision, Ok(theirs)))) => {
                // Only the pause is ours to make: on their document.
                let mut settings = theirs.merged_into(&Settings::default());
                pause.apply_to(&mut settings);
                shared = Shared::of(&settings);
                condition = Compare::ModRevision(key.to_string(), revision);
            }
            (Some(_), None) => condition = Compare::Absent(key.to_string()),
            (_, current) => return Wrote::Lost { current },
        }
    }
    Wrote::Failed("the shared settings kept changing: the pause was not shared".into())
}

// ---- the loop's handling ------------------------------------------------------------------

impl Shell {
    /// The settings (validated) of an edit or apply: in cluster mode a change of the shared
    /// part is written to etcd first. `Some`: not a shared change, the keeper saves it.
    pub(super) fn share_edit(
        &mut self,
        settings: Box<Settings>,
        answer: Answer,
    ) -> Option<(Box<Settings>, Answer)> {
        let current = self.core.settings();
        // A change of the cluster section itself is local; the shared part then follows
        // the (new) cluster's etcd.
        if !self.share.enabled()
            || settings.cluster != current.cluster
            || !changes_shared(current, &settings)
        {
            return Some((settings, answer));
        }
        match self.share.follow.condition(&self.share.key) {
            Ok(condition) => {
                let shared = Shared::of(&settings);
                self.share
                    .spawn_write(condition, shared, Job::Edit { settings, answer }, None);
            }
            Err(why) => {
                self.log(Level::Error, format!("settings not applied: {why}"));
                answer.send(Err(EditError::SharedUnavailable(why.to_string())));
            }
        }
        self.publish_share_status();
        None
    }

    /// A pause or resume made here (saved to the file by the keeper): shared too.
    pub(super) fn share_pause(&mut self, settings: &Settings, pause: Pause) {
        if !self.share.enabled() {
            return;
        }
        match self.share.follow.condition(&self.share.key) {
            Ok(condition) => {
                let shared = Shared::of(settings);
                self.share
                    .spawn_write(condition, shared, Job::Pause, Some(pause));
            }
            Err(why) => self.log(
                Level::Warning,
                format!("the pause is made on this instance only: {why}"),
            ),
        }
    }

    /// New settings are in force: the follower follows their cluster section.
    pub(super) fn share_follow_section(&mut self, settings: &Settings) {
        if let Err(e) = self.share.follow_section(settings) {
            self.log(
                Level::Error,
                format!("cluster mode: the shared settings cannot be followed: {e}"),
            );
        }
        self.publish_share_status();
    }

    /// A hand edit of the file was installed: its shared part, if it differs from etcd's,
    /// is replaced by etcd's (the file is a cache in cluster mode).
    pub(super) fn share_after_reload(&mut self) {
        let Some((revision, shared)) = self.share.follow.newest().cloned() else {
            return;
        };
        if !self.share.enabled() || Shared::of(self.core.settings()) == shared {
            return;
        }
        self.log(
            Level::Warning,
            format!(
                "the settings file's copy of the cluster's shared settings was edited: etcd's \
                 (revision {revision}) are put back; change shared settings in a window or \
                 through the API"
            ),
        );
        self.share.follow.diverged();
        self.adopt_pending();
    }

    pub(super) fn on_share(&mut self, result: ShareResult) {
        let generation = match &result {
            ShareResult::Read { generation, .. }
            | ShareResult::Unreachable { generation, .. }
            | ShareResult::Wrote { generation, .. } => *generation,
        };
        if generation != self.share.generation {
            if let ShareResult::Wrote { job, .. } = result {
                self.share.writes = self.share.writes.saturating_sub(1);
                if let Job::Edit { answer, .. } = job {
                    let why = "the cluster section changed meanwhile: make the change again";
                    answer.send(Err(EditError::SharedUnavailable(why.into())));
                }
                self.after_settings_work();
            }
            return;
        }
        match result {
            ShareResult::Read { revision, doc, .. } => self.on_read(revision, doc),
            ShareResult::Unreachable { why, .. } => {
                let was = self.share.follow.reach.clone();
                self.share
                    .follow
                    .unreachable(SystemTime::now(), why.clone());
                if !matches!(was, Reach::Unreachable { .. }) {
                    self.log(
                        Level::Warning,
                        format!(
                            "cluster's shared settings: etcd unreachable ({why}); running on \
                             the local copy until it answers"
                        ),
                    );
                }
            }
            ShareResult::Wrote { wrote, job, .. } => {
                self.share.writes = self.share.writes.saturating_sub(1);
                self.on_wrote(wrote, job);
                self.after_settings_work();
            }
        }
        self.publish_share_status();
    }

    fn on_read(&mut self, revision: i64, doc: Result<Option<Shared>, DecodeError>) {
        if matches!(self.share.follow.reach, Reach::Unreachable { .. }) {
            self.log(
                Level::Info,
                "cluster's shared settings: etcd answers again".into(),
            );
        }
        let seen = match doc {
            Ok(Some(shared)) => Seen::Doc {
                revision,
                shared: Box::new(shared),
            },
            Ok(None) => Seen::Absent,
            Err(why) => {
                self.share.follow.undecodable(revision, &why);
                self.log(
                    Level::Error,
                    format!(
                        "the cluster's shared settings in etcd (revision {revision}) are not \
                         used: {why}"
                    ),
                );
                return;
            }
        };
        match self.share.follow.seen(seen, self.core.settings()) {
            Step::Nothing => {}
            Step::Adopt { .. } => self.adopt_pending(),
            Step::Publish => {
                let shared = Shared::of(self.core.settings());
                let condition = Compare::Absent(self.share.key.clone());
                self.share
                    .spawn_write(condition, shared, Job::Publish, None);
            }
        }
    }

    fn on_wrote(&mut self, wrote: Wrote, job: Job) {
        match (wrote, job) {
            (Wrote::Written { revision, shared }, job) => {
                let ours = Shared::of(self.core.settings()) == shared;
                self.share.follow.written(revision, shared);
                match job {
                    Job::Edit { settings, answer } => {
                        self.share.follow.adopted(revision);
                        self.log(
                            Level::Info,
                            format!("cluster's shared settings changed (etcd revision {revision})"),
                        );
                        let answer = Answer::Shared {
                            revision,
                            winner: Some(Box::new(answer)),
                            losers: Vec::new(),
                        };
                        if let Some(result) = self.keeper.apply(settings, answer) {
                            self.on_keeper(result);
                        }
                    }
                    // A pause made on a newer document: that one is put in force.
                    Job::Publish | Job::Pause if ours => self.share.follow.adopted(revision),
                    Job::Publish | Job::Pause => {}
                }
            }
            (Wrote::Lost { current }, job) => {
                match current {
                    Some((revision, Ok(shared))) => {
                        let _ = self.share.follow.seen(
                            Seen::Doc {
                                revision,
                                shared: Box::new(shared),
                            },
                            self.core.settings(),
                        );
                    }
                    Some((revision, Err(why))) => self.share.follow.undecodable(revision, &why),
                    None => {
                        if let Step::Publish =
                            self.share.follow.seen(Seen::Absent, self.core.settings())
                        {
                            let shared = Shared::of(self.core.settings());
                            let condition = Compare::Absent(self.share.key.clone());
                            self.share
                                .spawn_write(condition, shared, Job::Publish, None);
                        }
                    }
                }
                if let Job::Edit { answer, .. } = job {
                    self.log(
                        Level::Warning,
                        "settings not applied: another instance of the cluster changed the \
                         shared settings first"
                            .into(),
                    );
                    self.share.losers.push(answer);
                }
            }
            (Wrote::Failed(why), Job::Edit { answer, .. }) => {
                let why = format!("the shared settings could not be written to etcd: {why}");
                self.log(Level::Error, format!("settings not applied: {why}"));
                answer.send(Err(EditError::SharedUnavailable(why)));
            }
            (Wrote::Failed(why), Job::Pause) => self.log(
                Level::Warning,
                format!("the pause is made on this instance only: {why}"),
            ),
            (Wrote::Failed(why), Job::Publish) => self.log(
                Level::Warning,
                format!("this instance's settings could not be published to etcd: {why}"),
            ),
        }
    }

    /// Puts the newest document read in force, unless an apply or a write is under way (it
    /// is tried again when they end). Edits that lost to it are told once it is in force.
    pub(super) fn adopt_pending(&mut self) {
        if self.settings_busy() {
            return;
        }
        let Some((revision, shared)) = self.share.follow.pending() else {
            // Losers to a document that is in force already.
            let current = self.core.settings_revision();
            let etcd_revision = self.share.follow.installed();
            for loser in std::mem::take(&mut self.share.losers) {
                loser.send(Err(EditError::SharedConflict {
                    etcd_revision,
                    current,
                }));
            }
            return;
        };
        let merged = shared.merged_into(self.core.settings());
        let errors = validate(&merged);
        if !errors.is_empty() {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            let why = list.join("; ");
            self.log(
                Level::Error,
                format!(
                    "the cluster's shared settings in etcd (revision {revision}) are not valid \
                     here and are not used: {why}"
                ),
            );
            self.share.follow.refuse(why);
            self.adopt_pending(); // tell the losers
            return;
        }
        self.log(
            Level::Info,
            format!("cluster's shared settings changed in etcd (revision {revision}): applying"),
        );
        self.share.follow.adopted(revision);
        let losers = std::mem::take(&mut self.share.losers);
        let answer = Answer::Shared {
            revision,
            winner: None,
            losers,
        };
        if let Some(result) = self.keeper.apply(Box::new(merged), answer) {
            self.on_keeper(result);
        }
    }

    /// The keeper refused to save a document from etcd (a broken file, a hand edit): it
    /// is put in force anyway, kept in memory only.
    pub(super) fn adopt_unsaved(&mut self, why: &EditError, answer: Answer) {
        let Some((revision, shared)) = self.share.follow.newest().cloned() else {
            answer.send(Err(why.clone()));
            return;
        };
        let merged = shared.merged_into(self.core.settings());
        self.install(Arc::new(merged));
        self.log(
            Level::Warning,
            format!(
                "cluster's shared settings of etcd revision {revision} in force, but not saved \
                 to the settings file: {why}"
            ),
        );
        self.publish(true);
        answer.send(Ok(self.core.settings_revision()));
    }

    /// An apply or a write is under way: settings edits wait, documents from etcd too.
    pub(super) fn settings_busy(&self) -> bool {
        self.keeper.applies_pending() > 0 || self.share.writes() > 0
    }

    /// An apply or a write ended: a document from etcd that waited is put in force, then
    /// the edits that waited are made on what is in force.
    pub(super) fn after_settings_work(&mut self) {
        self.adopt_pending();
        while !self.settings_busy() {
            let Some(call) = self.deferred.pop_front() else {
                return;
            };
            self.handle(super::Inbound::Call(call));
        }
    }

    fn publish_share_status(&mut self) {
        self.output.set_shared_status(self.share.status());
    }
}

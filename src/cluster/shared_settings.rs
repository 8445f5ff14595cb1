//! Shared settings (issue 13 item 2): in cluster mode the server sets and the options that
//! are the cluster's live in etcd, under one key (`/standby/<cluster>/settings`), and every
//! instance follows them. Pure: what is shared, its encoding, and what an instance does with
//! each document it reads from etcd. The shell (`engine/shell/settings_share.rs`) reads,
//! watches and writes.
//!
//! **Shared** (the cluster's, the same on every instance): the server sets (with their
//! overrides, maintenance windows and pauses), the e-mail defaults and the Options pages
//! *Polling*, *Notification* and *DNS updating*. **Local** (this instance's own, only in its
//! settings file): the *Cluster* section (this instance's name, etcd's endpoints and login),
//! *HTTP API* (its listen address, password, certificate), *DNS serving* (its listeners and
//! zones), *Logging*, *System log*, *User interface* and the *Connectivity guard* (each
//! instance sits in a network of its own, with references of its own).
//!
//! The whole shared part is one etcd value, changed only by compare-and-swap on its mod
//! revision: two instances that change it at the same moment cannot both win, and the one
//! that loses is told (nothing is merged behind anyone's back). The local settings file
//! keeps a copy (a cache): an instance starts, and polls, on it while etcd is unreachable.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::etcd::Compare;
use crate::model::Settings;
use crate::model::cluster::Cluster;
use crate::model::notification::EmailDefaults;
use crate::model::options::{DnsUpdatingOptions, NotificationOptions, PollingOptions};
use crate::model::server_set::ServerSet;

/// The version of the encoding below; a document of a newer one is refused (not guessed at).
pub const FORMAT: u32 = 1;

/// The key of the cluster's shared settings.
pub fn settings_key(cluster: &Cluster) -> String {
    format!("{}settings", cluster.key_prefix())
}

/// The cluster's part of the settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shared {
    pub polling: PollingOptions,
    pub notification: NotificationOptions,
    pub dns_updating: DnsUpdatingOptions,
    pub email_defaults: EmailDefaults,
    pub server_sets: Vec<ServerSet>,
}

/// The value stored in etcd: the shared part and its format.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    format: u32,
    shared: Shared,
}

/// Why the shared settings cannot be changed from this instance now.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotWritable {
    #[error(
        "etcd is unreachable ({0}): the cluster's shared settings (server sets, polling, \
         notification and DNS updating options) cannot be changed now"
    )]
    Unreachable(String),
    #[error(
        "etcd has not been read yet: the cluster's shared settings cannot be changed until it is"
    )]
    NotReadYet,
    /// The newest document is refused here (`0`: why).
    #[error(
        "the cluster's shared settings in etcd are not in force here ({0}): they cannot be \
         changed from this instance"
    )]
    NotInForce(String),
    /// A newer document is read and being put in force.
    #[error("the cluster's shared settings are being updated from etcd: try again")]
    Updating,
}

/// Why a value in etcd is not a document this version reads.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "written by a newer Standby (format {0}, this one reads {FORMAT}): upgrade this instance"
    )]
    Newer(u32),
    #[error("not shared settings: {0}")]
    Invalid(String),
}

impl Shared {
    /// The shared part of `settings`.
    pub fn of(settings: &Settings) -> Shared {
        let o = &settings.options;
        Shared {
            polling: o.polling.clone(),
            notification: o.notification.clone(),
            dns_updating: o.dns_updating.clone(),
            email_defaults: settings.email_defaults.clone(),
            server_sets: settings.server_sets.clone(),
        }
    }

    /// `local` with its shared part replaced by this one (its local part kept).
    pub fn merged_into(&self, local: &Settings) -> Settings {
        let mut settings = local.clone();
        self.clone().put_into(&mut settings);
        settings
    }

    fn put_into(self, settings: &mut Settings) {
        settings.options.polling = self.polling;
        settings.options.notification = self.notification;
        settings.options.dns_updating = self.dns_updating;
        settings.email_defaults = self.email_defaults;
        settings.server_sets = self.server_sets;
    }

    /// The value written to etcd (JSON, like the API's settings: `etcdctl get` shows it).
    pub fn encode(&self) -> Vec<u8> {
        let document = DocumentRef {
            format: FORMAT,
            shared: self,
        };
        // Serializing plain settings data to JSON cannot fail (no maps with non-string
        // keys); an empty value would be refused by `decode`, never taken as settings.
        serde_json::to_vec(&document).unwrap_or_default()
    }

    pub fn decode(bytes: &[u8]) -> Result<Shared, DecodeError> {
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let format: Format =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        if format.format > FORMAT {
            return Err(DecodeError::Newer(format.format));
        }
        let document: Document =
            serde_json::from_slice(bytes).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        Ok(document.shared)
    }
}

#[derive(Serialize)]
struct DocumentRef<'a> {
    format: u32,
    shared: &'a Shared,
}

/// Whether an edit from `before` to `after` changes the cluster's part (and so must be
/// written to etcd first) or only this instance's.
pub fn changes_shared(before: &Settings, after: &Settings) -> bool {
    Shared::of(before) != Shared::of(after)
}

/// What an instance read from etcd.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// The document at this mod revision.
    Doc { revision: i64, shared: Box<Shared> },
    /// No shared settings in etcd (a new cluster, or the key was deleted).
    Absent,
}

/// What to do with what was read.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The engine runs on it already (or on something newer).
    Nothing,
    /// Install the document of this revision ([`Follow::pending`]) over the local settings.
    Adopt { revision: i64 },
    /// etcd holds none: write ours, create-only (of several instances one wins, the others
    /// then read and adopt its document).
    Publish,
}

/// How etcd was, as this instance last saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reach {
    /// Not read yet since the start (or since the cluster section changed).
    #[default]
    NotYet,
    Reachable,
    /// Since when, and the last reason.
    Unreachable {
        since: SystemTime,
        why: String,
    },
}

/// What the window, the API and `/metrics` show of the shared settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharedStatus {
    /// Off: no cluster section, the settings are this instance's alone.
    pub enabled: bool,
    /// The etcd key.
    pub key: String,
    /// The etcd mod revision of the shared part in force; 0 = the local copy, not (yet)
    /// confirmed by etcd.
    pub revision: i64,
    pub etcd: Reach,
    /// Why the newest document in etcd is not in force, if it is not (it does not decode or
    /// validate here).
    pub refused: Option<String>,
}

/// The follower's state: which document the engine runs on, the newest one read.
#[derive(Clone, Debug, Default)]
pub struct Follow {
    /// The mod revision of the document in force (0: none, the cache).
    installed: i64,
    /// The newest document read, with its revision.
    newest: Option<(i64, Shared)>,
    /// The revision of the newest value read (one that does not decode included).
    newest_revision: i64,
    /// etcd said there is no document (so a write is create-only).
    absent: bool,
    pub reach: Reach,
    pub refused: Option<String>,
}

impl Follow {
    /// A document (or its absence) read from etcd, while the engine runs on `current`.
    pub fn seen(&mut self, seen: Seen, current: &Settings) -> Step {
        self.reach = Reach::Reachable;
        match seen {
            Seen::Absent => {
                self.absent = true;
                self.newest = None;
                self.newest_revision = 0;
                self.installed = 0;
                Step::Publish
            }
            Seen::Doc { revision, shared } => {
                self.absent = false;
                if self.newest_revision >= revision {
                    return Step::Nothing;
                }
                let shared = *shared;
                let ours = Shared::of(current) == shared;
                self.newest = Some((revision, shared));
                self.newest_revision = revision;
                self.refused = None;
                if revision <= self.installed {
                    return Step::Nothing;
                }
                if ours {
                    // Ours already (our own write, or a cache that is up to date).
                    self.installed = revision;
                    self.refused = None;
                    return Step::Nothing;
                }
                Step::Adopt { revision }
            }
        }
    }

    /// The document of `revision` is in force now.
    pub fn adopted(&mut self, revision: i64) {
        self.installed = self.installed.max(revision);
        self.refused = None;
    }

    /// The newest document cannot be put in force here.
    pub fn refuse(&mut self, why: String) {
        self.refused = Some(why);
    }

    /// The value of `revision` is no document this instance reads (`why`).
    pub fn undecodable(&mut self, revision: i64, why: &DecodeError) {
        self.reach = Reach::Reachable;
        self.absent = false;
        self.newest_revision = self.newest_revision.max(revision);
        self.refused = Some(format!("revision {revision}: {why}"));
    }

    /// The engine now runs on settings whose shared part is not the document in force (a
    /// hand edit of the file's copy): the newest document is to be put in force again.
    pub fn diverged(&mut self) {
        self.installed = 0;
    }

    /// This instance wrote `shared` at `revision`.
    pub fn written(&mut self, revision: i64, shared: Shared) {
        self.absent = false;
        if self.newest_revision < revision {
            self.newest = Some((revision, shared));
            self.newest_revision = revision;
        }
        self.installed = self.installed.max(revision);
    }

    /// etcd did not answer.
    pub fn unreachable(&mut self, now: SystemTime, why: String) {
        match &mut self.reach {
            Reach::Unreachable { why: last, .. } => *last = why,
            _ => self.reach = Reach::Unreachable { since: now, why },
        }
    }

    /// The condition of a write made on the settings in force, or why none can be made now.
    pub fn condition(&self, key: &str) -> Result<Compare, NotWritable> {
        match &self.reach {
            Reach::Reachable => {}
            Reach::Unreachable { why, .. } => return Err(NotWritable::Unreachable(why.clone())),
            Reach::NotYet => return Err(NotWritable::NotReadYet),
        }
        if self.absent {
            return Ok(Compare::Absent(key.to_string()));
        }
        if self.installed == 0 || self.newest_revision > self.installed {
            // A newer document is read but not in force (it is being installed, or it is
            // refused here): writing over it would undo a change unseen.
            return Err(match &self.refused {
                Some(why) => NotWritable::NotInForce(why.clone()),
                None => NotWritable::Updating,
            });
        }
        Ok(Compare::ModRevision(key.to_string(), self.installed))
    }

    /// The newest document read, if it is not the one in force (nor refused here).
    pub fn pending(&self) -> Option<(i64, Shared)> {
        self.newest
            .as_ref()
            .filter(|(r, _)| *r > self.installed && *r == self.newest_revision)
            .filter(|_| self.refused.is_none())
            .cloned()
    }

    /// The newest document read (in force or not).
    pub fn newest(&self) -> Option<&(i64, Shared)> {
        self.newest.as_ref()
    }

    pub fn installed(&self) -> i64 {
        self.installed
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::{Server, ServerSet};

    fn settings(sets: &[&str]) -> Settings {
        let mut s = Settings::default();
        for (i, name) in sets.iter().enumerate() {
            s.server_sets.push(ServerSet {
                name: (*name).into(),
                servers: vec![Server {
                    public_ip: format!("192.0.2.{}", i + 1),
                    ..Server::default()
                }],
                ..ServerSet::default()
            });
        }
        s
    }

    #[test]
    fn the_local_part_stays_and_the_shared_part_is_replaced() {
        let mut local = settings(&["mine"]);
        local.options.http_api.listen = "127.0.0.1:8101".into();
        local.options.logging.memory_lines = 77;
        local.options.dns_serving.port = 5301;
        local.cluster = Some(Cluster {
            instance: "berlin".into(),
            ..Cluster::default()
        });
        let mut theirs = settings(&["web", "mail"]);
        theirs.options.polling.max_concurrent_polls = 7;
        theirs.options.notification.coalesce_secs = 9;
        theirs.options.dns_updating.max_concurrent_updates = 3;
        theirs.email_defaults.from = "standby@example.com".into();
        theirs.options.http_api.listen = "127.0.0.1:9999".into();
        let merged = Shared::of(&theirs).merged_into(&local);
        assert_eq!(Shared::of(&merged), Shared::of(&theirs));
        assert_eq!(merged.options.http_api.listen, "127.0.0.1:8101");
        assert_eq!(merged.options.logging.memory_lines, 77);
        assert_eq!(merged.options.dns_serving.port, 5301);
        assert_eq!(merged.cluster, local.cluster);
        assert!(changes_shared(&local, &merged));
        let mut local_only = local.clone();
        local_only.options.http_api.listen = "127.0.0.1:8102".into();
        assert!(!changes_shared(&local, &local_only));
    }

    #[test]
    fn documents_round_trip_and_strangers_are_refused() {
        let mut s = settings(&["web"]);
        s.server_sets[0].paused = true;
        s.email_defaults.smtp.host = "192.0.2.25".into();
        let shared = Shared::of(&s);
        assert_eq!(Shared::decode(&shared.encode()), Ok(shared.clone()));
        let newer = String::from_utf8(shared.encode())
            .unwrap()
            .replace("\"format\":1", "\"format\":2");
        assert_eq!(Shared::decode(newer.as_bytes()), Err(DecodeError::Newer(2)));
        for bad in [&b"not json"[..], b"{}", b"{\"format\":1}", b""] {
            assert!(
                matches!(Shared::decode(bad), Err(DecodeError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    /// What each document read does, in order: (what is read, the settings in force, the
    /// step, the revision in force afterwards, the write condition afterwards).
    #[test]
    fn each_document_read_is_adopted_once_and_in_order() {
        let key = "/standby/c/settings";
        let ours = settings(&["web"]);
        let theirs = settings(&["web", "mail"]);
        let doc = |revision, s: &Settings| Seen::Doc {
            revision,
            shared: Box::new(Shared::of(s)),
        };
        let adopt = |revision, _: &Settings| Step::Adopt { revision };
        let cas = |r| Ok::<_, &'static str>(Compare::ModRevision(key.into(), r));
        type Row = (Seen, Settings, Step, i64, Result<Compare, &'static str>);
        let table: Vec<Row> = vec![
            // A new cluster: ours is published, create-only.
            (
                Seen::Absent,
                ours.clone(),
                Step::Publish,
                0,
                Ok(Compare::Absent(key.into())),
            ),
            // Our own write read back: nothing to install.
            (doc(5, &ours), ours.clone(), Step::Nothing, 5, cas(5)),
            // Another instance's change: adopted; no write until it is in force.
            (
                doc(8, &theirs),
                ours.clone(),
                adopt(8, &theirs),
                5,
                Err("being updated"),
            ),
            // The same document again (the watch after a read): nothing more.
            (
                doc(8, &theirs),
                ours.clone(),
                Step::Nothing,
                5,
                Err("being updated"),
            ),
            // An older one arriving late: ignored.
            (
                doc(6, &ours),
                ours.clone(),
                Step::Nothing,
                5,
                Err("being updated"),
            ),
        ];
        let mut follow = Follow::default();
        assert_eq!(follow.condition(key), Err(NotWritable::NotReadYet));
        for (i, (seen, current, step, installed, condition)) in table.into_iter().enumerate() {
            assert_eq!(follow.seen(seen, &current), step, "row {i}");
            assert_eq!(follow.installed(), installed, "row {i}");
            match (follow.condition(key), condition) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "row {i}"),
                (Err(got), Err(words)) => {
                    assert!(got.to_string().contains(words), "row {i}: {got}");
                }
                (got, want) => panic!("row {i}: {got:?}, wanted {want:?}"),
            }
        }
        follow.adopted(8);
        assert_eq!(
            follow.condition(key),
            Ok(Compare::ModRevision(key.into(), 8))
        );
        assert_eq!(follow.pending(), None);
        // A cache up to date at the start: taken as in force at once.
        let mut fresh = Follow::default();
        assert_eq!(fresh.seen(doc(8, &theirs), &theirs), Step::Nothing);
        assert_eq!(
            fresh.condition(key),
            Ok(Compare::ModRevision(key.into(), 8))
        );
    }

    #[test]
    fn without_etcd_no_shared_change_can_be_made() {
        let key = "/standby/c/settings";
        let mut follow = Follow::default();
        follow.seen(
            Seen::Doc {
                revision: 3,
                shared: Box::new(Shared::of(&settings(&[]))),
            },
            &settings(&[]),
        );
        let t0 = SystemTime::UNIX_EPOCH;
        follow.unreachable(t0, "connection refused".into());
        follow.unreachable(t0 + std::time::Duration::from_secs(5), "time-out".into());
        assert_eq!(
            follow.reach,
            Reach::Unreachable {
                since: t0,
                why: "time-out".into()
            }
        );
        let why = follow.condition(key).unwrap_err();
        assert_eq!(why, NotWritable::Unreachable("time-out".into()));
        assert!(
            why.to_string().contains("etcd is unreachable (time-out)"),
            "{why}"
        );
        // etcd back: the next read makes it reachable again; in force is still 3.
        follow.seen(
            Seen::Doc {
                revision: 3,
                shared: Box::new(Shared::of(&settings(&[]))),
            },
            &settings(&[]),
        );
        assert_eq!(
            follow.condition(key),
            Ok(Compare::ModRevision(key.into(), 3))
        );
    }

    #[test]
    fn a_refused_document_blocks_writes_over_it_and_says_why() {
        let key = "/standby/c/settings";
        let mut follow = Follow::default();
        let step = follow.seen(
            Seen::Doc {
                revision: 4,
                shared: Box::new(Shared::of(&settings(&["a"]))),
            },
            &settings(&[]),
        );
        assert!(matches!(step, Step::Adopt { revision: 4, .. }));
        follow.refuse("server_sets[0].name: required".into());
        let why = follow.condition(key).unwrap_err();
        assert!(
            why.to_string()
                .contains("not in force here (server_sets[0]"),
            "{why}"
        );
        // Our write at 9 (a create after a delete, say) moves on past it.
        follow.written(9, Shared::of(&settings(&[])));
        follow.adopted(9);
        assert_eq!(
            follow.condition(key),
            Ok(Compare::ModRevision(key.into(), 9))
        );
    }
}

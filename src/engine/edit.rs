//! Typed edits of the settings (the API's PUT, POST and DELETE of settings, a dialog's OK).
//!
//! The engine applies an edit to the settings *in force when it arrives*, never to a copy a
//! client read earlier: two clients that change different sets at the same moment both
//! win. A client that must not overwrite a change it has not seen names the revision it
//! read (`if_revision`, the API's `If-Match`), and the edit is refused if the settings
//! moved on since.

use crate::model::{
    Cluster, EmailDefaults, Forced, Maintenance, Options, ServerSet, Settings, ValidationError,
};

/// One error per line, as `path: message`.
fn lines(errors: &[ValidationError]) -> String {
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    list.join("\n")
}

/// One change of the settings.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SettingsEdit {
    /// Replace the options (everything but the server sets and the e-mail defaults).
    Options(Box<Options>),
    /// Add a set after the others; its name must be new.
    AddSet(Box<ServerSet>),
    /// Replace the set named `name` (the new one may have another name).
    ReplaceSet { name: String, set: Box<ServerSet> },
    /// Remove the set named so.
    DeleteSet(String),
    /// The Options dialog's OK: the options, the e-mail defaults and this instance's
    /// cluster section. *Pause all* stays as it is in force: it is the tool bar's toggle,
    /// not the dialog's.
    OptionsDialog {
        options: Box<Options>,
        email_defaults: Box<EmailDefaults>,
        cluster: Option<Box<Cluster>>,
    },
    /// The set dialog's OK: `set` replaces the set named `original`, or is added when
    /// `original` is `None`. The set's *paused* stays as it is in force (the buttons').
    SetDialog {
        original: Option<String>,
        set: Box<ServerSet>,
    },
    /// Force the server `server` (its public address) of the set `set` up or down, or
    /// clear its override (`None`): the window's row menu, the API, `standby override`.
    Force {
        set: String,
        server: String,
        forced: Option<Forced>,
    },
    /// Add a maintenance window to the set `set`, or to its server `server` (public
    /// address): "Maintenance for 30 min" on a row, the API.
    AddMaintenance {
        set: String,
        server: Option<String>,
        window: Maintenance,
    },
    /// Remove the maintenance windows of the server `server` of the set `set`, or (`None`)
    /// of the set and every server of it: `standby maintenance SET [SERVER] clear`, the API.
    ClearMaintenance { set: String, server: Option<String> },
}

/// Why an edit was not applied; nothing changed then.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum EditError {
    #[error("no server set {0:?}")]
    NoSuchSet(String),
    #[error("server set {set:?} has no server {server}")]
    NoSuchServer { set: String, server: String },
    #[error("a server set named {0:?} exists already")]
    SetExists(String),
    #[error(
        "the settings changed since revision {expected} (now {current}): read them again and redo the change"
    )]
    Conflict { expected: u64, current: u64 },
    /// Every wrong field, each with its path (`server_sets[0].servers[1].public_ip`), so
    /// that a dialog shows it beside the field and the API's 400 lists it.
    #[error("{}", lines(.0))]
    Invalid(Vec<ValidationError>),
    /// Valid, but not saved: the settings file is broken (it is never overwritten) or
    /// cannot be written, or was edited by hand meanwhile.
    #[error("{0}")]
    NotSaved(String),
    #[error("the engine has stopped")]
    Stopped,
    /// Cluster mode: another instance changed the cluster's shared settings first (etcd's
    /// compare-and-swap refused this change); theirs are in force here now, at `current`.
    #[error(
        "another instance of the cluster changed the shared settings first (etcd revision {etcd_revision}); this change was not made. Their settings are in force now: read them again and redo the change"
    )]
    SharedConflict { etcd_revision: i64, current: u64 },
    /// Cluster mode: the shared settings cannot be changed now (etcd unreachable, or its
    /// newest document not in force here); nothing changed.
    #[error("{0}")]
    SharedUnavailable(String),
}

impl SettingsEdit {
    /// The settings after this edit of `current` (pure: validation and saving come after).
    pub fn apply_to(self, current: &Settings) -> Result<Settings, EditError> {
        let mut settings = current.clone();
        match self {
            SettingsEdit::Options(options) => settings.options = *options,
            SettingsEdit::AddSet(set) => {
                if current.set(&set.name).is_some() {
                    return Err(EditError::SetExists(set.name));
                }
                settings.server_sets.push(*set);
            }
            SettingsEdit::ReplaceSet { name, set } => {
                let slot = settings
                    .server_sets
                    .iter_mut()
                    .find(|s| s.name == name)
                    .ok_or(EditError::NoSuchSet(name))?;
                *slot = *set;
            }
            SettingsEdit::DeleteSet(name) => {
                let before = settings.server_sets.len();
                settings.server_sets.retain(|s| s.name != name);
                if settings.server_sets.len() == before {
                    return Err(EditError::NoSuchSet(name));
                }
            }
            SettingsEdit::OptionsDialog {
                options,
                email_defaults,
                cluster,
            } => {
                settings.options = *options;
                settings.options.polling.paused = current.options.polling.paused;
                settings.email_defaults = *email_defaults;
                settings.cluster = cluster.map(|c| *c);
            }
            SettingsEdit::SetDialog { original, set } => match original {
                Some(name) => {
                    let slot = settings
                        .server_sets
                        .iter_mut()
                        .find(|s| s.name == name)
                        .ok_or(EditError::NoSuchSet(name))?;
                    let paused = slot.paused;
                    let old = std::mem::replace(slot, *set);
                    slot.paused = paused;
                    // Overrides are the row menu's, not the dialog's: kept as in force.
                    // Maintenance windows are the dialog's (its Maintenance page): a window
                    // added from a row meanwhile moved the revision on, so the dialog's OK
                    // is refused first ("changed meanwhile") rather than dropping it unseen.
                    for server in &mut slot.servers {
                        let before = old
                            .servers
                            .iter()
                            .find(|o| o.public_ip.trim() == server.public_ip.trim());
                        server.forced = before.and_then(|o| o.forced.clone());
                    }
                }
                None => return SettingsEdit::AddSet(set).apply_to(current),
            },
            SettingsEdit::Force {
                set,
                server,
                forced,
            } => {
                let slot = settings
                    .server_sets
                    .iter_mut()
                    .find(|s| s.name == set)
                    .ok_or_else(|| EditError::NoSuchSet(set.clone()))?;
                let target = slot
                    .servers
                    .iter_mut()
                    .find(|s| s.public_ip.trim() == server.trim())
                    .ok_or(EditError::NoSuchServer { set, server })?;
                target.forced = forced;
            }
            SettingsEdit::AddMaintenance {
                set,
                server,
                window,
            } => {
                let slot = settings
                    .server_sets
                    .iter_mut()
                    .find(|s| s.name == set)
                    .ok_or_else(|| EditError::NoSuchSet(set.clone()))?;
                match server {
                    None => slot.maintenance.push(window),
                    Some(server) => slot
                        .servers
                        .iter_mut()
                        .find(|s| s.public_ip.trim() == server.trim())
                        .ok_or(EditError::NoSuchServer { set, server })?
                        .maintenance
                        .push(window),
                }
            }
            SettingsEdit::ClearMaintenance { set, server } => {
                let slot = settings
                    .server_sets
                    .iter_mut()
                    .find(|s| s.name == set)
                    .ok_or_else(|| EditError::NoSuchSet(set.clone()))?;
                match server {
                    None => {
                        slot.maintenance.clear();
                        for server in &mut slot.servers {
                            server.maintenance.clear();
                        }
                    }
                    Some(server) => slot
                        .servers
                        .iter_mut()
                        .find(|s| s.public_ip.trim() == server.trim())
                        .ok_or(EditError::NoSuchServer { set, server })?
                        .maintenance
                        .clear(),
                }
            }
        }
        Ok(settings)
    }
}

/// Refuses an edit made from `expected` when the settings are at `current` now.
pub fn check_revision(expected: Option<u64>, current: u64) -> Result<(), EditError> {
    match expected {
        Some(expected) if expected != current => Err(EditError::Conflict { expected, current }),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn set(name: &str, interval: u32) -> ServerSet {
        let mut set = ServerSet {
            name: name.into(),
            ..ServerSet::default()
        };
        set.frequency.interval = std::time::Duration::from_secs(interval.into());
        set
    }

    fn two_sets() -> Settings {
        Settings {
            server_sets: vec![set("a", 10), set("b", 10)],
            ..Settings::default()
        }
    }

    #[test]
    fn edits_of_different_sets_both_survive_in_either_order() {
        let a = || SettingsEdit::ReplaceSet {
            name: "a".into(),
            set: Box::new(set("a", 11)),
        };
        let b = || SettingsEdit::ReplaceSet {
            name: "b".into(),
            set: Box::new(set("b", 12)),
        };
        let ab = b().apply_to(&a().apply_to(&two_sets()).unwrap()).unwrap();
        let ba = a().apply_to(&b().apply_to(&two_sets()).unwrap()).unwrap();
        assert_eq!(ab, ba);
        assert_eq!(ab.set("a").unwrap().frequency.interval.as_secs(), 11);
        assert_eq!(ab.set("b").unwrap().frequency.interval.as_secs(), 12);
    }

    #[test]
    fn options_edits_keep_the_sets_and_set_edits_keep_the_options() {
        let mut options = Options::default();
        options.polling.max_concurrent_polls = 7;
        let edited = SettingsEdit::Options(Box::new(options.clone()))
            .apply_to(&two_sets())
            .unwrap();
        assert_eq!(edited.server_sets, two_sets().server_sets);
        let edited = SettingsEdit::DeleteSet("a".into())
            .apply_to(&edited)
            .unwrap();
        assert_eq!(edited.options, options);
        assert_eq!(edited.server_sets, vec![set("b", 10)]);
    }

    #[test]
    fn the_dialogs_leave_the_pause_toggles_as_they_are_in_force() {
        let mut current = two_sets();
        current.options.polling.paused = true;
        current.server_sets[0].paused = true;
        let mut options = Options::default();
        options.logging.memory_lines = 5;
        let edited = SettingsEdit::OptionsDialog {
            options: Box::new(options),
            email_defaults: Box::default(),
            cluster: None,
        }
        .apply_to(&current)
        .unwrap();
        assert!(edited.options.polling.paused);
        assert_eq!(edited.options.logging.memory_lines, 5);
        let renamed = SettingsEdit::SetDialog {
            original: Some("a".into()),
            set: Box::new(set("a2", 30)),
        }
        .apply_to(&current)
        .unwrap();
        assert_eq!(renamed.server_sets[0].name, "a2");
        assert!(renamed.server_sets[0].paused);
        let gone = SettingsEdit::SetDialog {
            original: Some("deleted meanwhile".into()),
            set: Box::new(set("x", 30)),
        };
        assert_eq!(
            gone.apply_to(&current),
            Err(EditError::NoSuchSet("deleted meanwhile".into()))
        );
    }

    #[test]
    fn overrides_are_the_row_menus_and_the_set_dialog_keeps_them() {
        use crate::model::{Forced, ForcedState, Server};
        let mut current = two_sets();
        current.server_sets[0].servers = vec![Server {
            public_ip: "192.0.2.1".into(),
            ..Server::default()
        }];
        let now = std::time::SystemTime::UNIX_EPOCH;
        let forced = Forced::new(ForcedState::Down, now, None);
        let force = |server: &str, forced: Option<Forced>| SettingsEdit::Force {
            set: "a".into(),
            server: server.into(),
            forced,
        };
        let edited = force("192.0.2.1", Some(forced.clone()))
            .apply_to(&current)
            .unwrap();
        assert_eq!(
            edited.server_sets[0].servers[0].forced,
            Some(forced.clone())
        );
        assert_eq!(
            force("192.0.2.9", None).apply_to(&current),
            Err(EditError::NoSuchServer {
                set: "a".into(),
                server: "192.0.2.9".into()
            })
        );
        // The set dialog's OK, from a draft made before the override: the override stays.
        let mut draft = current.server_sets[0].clone();
        draft.notes = "edited".into();
        let after = SettingsEdit::SetDialog {
            original: Some("a".into()),
            set: Box::new(draft),
        }
        .apply_to(&edited)
        .unwrap();
        assert_eq!(after.server_sets[0].notes, "edited");
        assert_eq!(after.server_sets[0].servers[0].forced, Some(forced));
    }

    #[test]
    fn maintenance_windows_are_the_dialogs_and_clear_removes_them() {
        use crate::model::Server;
        let mut current = two_sets();
        current.server_sets[0].servers = vec![Server {
            public_ip: "192.0.2.1".into(),
            ..Server::default()
        }];
        let now = std::time::SystemTime::UNIX_EPOCH;
        let window = Maintenance::once(now, std::time::Duration::from_secs(60));
        let add = |server: Option<&str>| SettingsEdit::AddMaintenance {
            set: "a".into(),
            server: server.map(String::from),
            window: window.clone(),
        };
        let both = add(Some("192.0.2.1"))
            .apply_to(&add(None).apply_to(&current).unwrap())
            .unwrap();
        assert_eq!(both.server_sets[0].maintenance, vec![window.clone()]);
        assert_eq!(
            both.server_sets[0].servers[0].maintenance,
            vec![window.clone()]
        );
        // The dialog's OK writes the windows of its Maintenance page.
        let mut draft = both.server_sets[0].clone();
        draft.servers[0].maintenance.clear();
        let after = SettingsEdit::SetDialog {
            original: Some("a".into()),
            set: Box::new(draft),
        }
        .apply_to(&both)
        .unwrap();
        assert!(after.server_sets[0].servers[0].maintenance.is_empty());
        assert_eq!(after.server_sets[0].maintenance, vec![window.clone()]);
        // Clear: one server's, or the set's and all its servers'.
        let clear = |server: Option<&str>| SettingsEdit::ClearMaintenance {
            set: "a".into(),
            server: server.map(String::from),
        };
        let one = clear(Some("192.0.2.1")).apply_to(&both).unwrap();
        assert!(one.server_sets[0].servers[0].maintenance.is_empty());
        assert_eq!(one.server_sets[0].maintenance, vec![window]);
        let all = clear(None).apply_to(&both).unwrap();
        assert!(all.server_sets[0].maintenance.is_empty());
        assert!(all.server_sets[0].servers[0].maintenance.is_empty());
        assert_eq!(
            clear(Some("192.0.2.9")).apply_to(&both),
            Err(EditError::NoSuchServer {
                set: "a".into(),
                server: "192.0.2.9".into()
            })
        );
    }

    #[test]
    fn unknown_and_duplicate_names_and_stale_revisions_are_refused() {
        let settings = two_sets();
        assert_eq!(
            SettingsEdit::DeleteSet("c".into()).apply_to(&settings),
            Err(EditError::NoSuchSet("c".into()))
        );
        let replace = SettingsEdit::ReplaceSet {
            name: "c".into(),
            set: Box::new(set("c", 1)),
        };
        assert_eq!(
            replace.apply_to(&settings),
            Err(EditError::NoSuchSet("c".into()))
        );
        assert_eq!(
            SettingsEdit::AddSet(Box::new(set("b", 1))).apply_to(&settings),
            Err(EditError::SetExists("b".into()))
        );
        assert_eq!(check_revision(None, 5), Ok(()));
        assert_eq!(check_revision(Some(5), 5), Ok(()));
        assert_eq!(
            check_revision(Some(4), 5),
            Err(EditError::Conflict {
                expected: 4,
                current: 5
            })
        );
    }
}

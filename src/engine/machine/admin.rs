//! Operators' decisions in the core: which servers are forced up or down now, and when the
//! next of those ends. The settings hold the overrides (so they survive a restart); this
//! part turns them into each server's [`Admin`] at the step's wall time, logs and emits an
//! event for each change, and tells [`Core::next_wakeup`] when to look again.
//!
//! **Invariant:** the decision sees a forced server as its override says (up = OK, down =
//! failed) while the server goes on being polled and shown as its polls say; so clearing
//! an override gives the real state back at once.

use std::time::SystemTime;

use super::{Core, Effect, Now, emit, log};
use crate::engine::events::{EventDetails, Level};
use crate::engine::server_state::ServerStatus;
use crate::model::admin::maintenance_at;
use crate::model::{EventKind, ForcedState, Maintenance, Server};

/// What an operator decided for a server, in force now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admin {
    /// The polls decide.
    Normal,
    /// Forced up or down by an override (it wins over maintenance: the later, more
    /// particular word of an operator).
    Forced(ForcedState),
    /// In a maintenance window until then: treated as disabled, no failed/recovered events.
    Maintenance(SystemTime),
}

impl Admin {
    /// The status the address decision sees for a server whose polls say `status`.
    pub fn effective(self, status: ServerStatus) -> ServerStatus {
        match (self, status) {
            (_, ServerStatus::Disabled) | (Admin::Maintenance(_), _) => ServerStatus::Disabled,
            (Admin::Forced(ForcedState::Up), _) => ServerStatus::Ok,
            (Admin::Forced(ForcedState::Down), _) => ServerStatus::Failed,
            (Admin::Normal, status) => status,
        }
    }
}

/// The operator's decision for `server` of a set with the maintenance windows `set` at
/// `now`, and when it changes next, if ever.
pub fn admin_at(
    server: &Server,
    set: &[Maintenance],
    now: SystemTime,
) -> (Admin, Option<SystemTime>) {
    let windows: Vec<&Maintenance> = set.iter().chain(&server.maintenance).collect();
    let (until, next) = maintenance_at(&windows, now);
    let forced_end = server
        .forced
        .as_ref()
        .and_then(|f| f.until_time())
        .filter(|until| *until > now);
    let next = [next, forced_end].into_iter().flatten().min();
    let admin = match (&server.forced, until) {
        (Some(forced), _) if forced.is_active(now) => Admin::Forced(forced.state),
        (_, Some(until)) => Admin::Maintenance(until),
        _ => Admin::Normal,
    };
    (admin, next)
}

impl Core {
    /// Brings every server's [`Admin`] up to `now`: a change is logged, raises a
    /// `ServerOverridden` event (not for a server seen the first time: a restart announces
    /// nothing new) and the set's decision follows.
    pub(super) fn refresh_admin(&mut self, now: Now, out: &mut Vec<Effect>) {
        let mut next: Option<SystemTime> = None;
        for i in 0..self.sets.len() {
            let mut changed = false;
            for k in 0..self.sets[i].servers.len() {
                let set = &self.sets[i];
                let server = &set.servers[k];
                let (admin, at) = admin_at(&server.config, &set.config.maintenance, now.wall);
                if let Some(at) = at {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                if server.admin == Some(admin) {
                    continue;
                }
                let first = server.admin.is_none();
                let server_admin_before = server.admin;
                let subject = set.subject(k);
                let name = set.config.name.clone();
                let text = match (admin, &server.config.forced) {
                    (Admin::Maintenance(until), _) => format!(
                        "server {subject} of {name:?} in maintenance until {}",
                        crate::model::admin::rfc3339(until)
                    ),
                    (_, _) if matches!(server.admin, Some(Admin::Maintenance(_))) => {
                        format!("server {subject} of {name:?}: maintenance ended")
                    }
                    (Admin::Forced(state), Some(forced)) => {
                        let until = forced
                            .until
                            .as_deref()
                            .map(|u| format!(" until {u}"))
                            .unwrap_or_default();
                        format!(
                            "server {subject} of {name:?} forced {}{until} (set at {})",
                            state.label(),
                            forced.set_at
                        )
                    }
                    (_, Some(forced)) if forced.until.is_some() => {
                        format!("server {subject} of {name:?}: override ended")
                    }
                    _ => format!("server {subject} of {name:?}: override cleared"),
                };
                self.sets[i].servers[k].admin = Some(admin);
                self.sets[i].dirty = true;
                if first && admin == Admin::Normal {
                    continue;
                }
                log(out, Level::Info, text.clone());
                changed = true;
                if !first {
                    emit(
                        out,
                        match admin {
                            Admin::Maintenance(_) => EventKind::Maintenance,
                            _ if matches!(server_admin_before, Some(Admin::Maintenance(_))) => {
                                EventKind::Maintenance
                            }
                            _ => EventKind::ServerOverridden,
                        },
                        &name,
                        &subject,
                        text,
                        EventDetails::default(),
                        now.wall,
                    );
                }
            }
            if changed {
                self.after_change(i, now, out);
            }
        }
        self.admin_next = next;
    }
}

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
use crate::model::{EventKind, ForcedState, Server};

/// What an operator decided for a server, in force now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admin {
    /// The polls decide.
    Normal,
    /// Forced up or down by an override.
    Forced(ForcedState),
}

impl Admin {
    /// The status the address decision sees for a server whose polls say `status`.
    pub fn effective(self, status: ServerStatus) -> ServerStatus {
        match (self, status) {
            (_, ServerStatus::Disabled) => ServerStatus::Disabled,
            (Admin::Forced(ForcedState::Up), _) => ServerStatus::Ok,
            (Admin::Forced(ForcedState::Down), _) => ServerStatus::Failed,
            (Admin::Normal, status) => status,
        }
    }
}

/// The operator's decision for `server` at `now`.
pub fn admin_at(server: &Server, now: SystemTime) -> Admin {
    match &server.forced {
        Some(forced) if forced.is_active(now) => Admin::Forced(forced.state),
        _ => Admin::Normal,
    }
}

/// When the operator's decision for `server` changes next after `now`, if ever.
pub fn next_change(server: &Server, now: SystemTime) -> Option<SystemTime> {
    server
        .forced
        .as_ref()
        .and_then(|f| f.until_time())
        .filter(|until| *until > now)
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
                if let Some(at) = next_change(&server.config, now.wall) {
                    next = Some(next.map_or(at, |n| n.min(at)));
                }
                let admin = admin_at(&server.config, now.wall);
                if server.admin == Some(admin) {
                    continue;
                }
                let first = server.admin.is_none();
                let subject = set.subject(k);
                let name = set.config.name.clone();
                let text = match (admin, &server.config.forced) {
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
                        EventKind::ServerOverridden,
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

//! The TTL that follows the set's state (issue 16 item 7): the set's lower TTL while a
//! server has failed and/or for a while after what DNS gives changed, so that clients
//! that cached a backup's address come back soon after the failback. The core decides it
//! ([`effective`], pure, table-tested); DNS updates write it (the records a pair wants
//! carry it, and a TTL that differs is an update to make) and DNS serving answers it
//! (`SetStatus::ttl`).
//!
//! **Invariant:** the TTL is a function of the settings, the servers' statuses, when
//! the addresses last changed and the time: no wall clock, and the core wakes at the end
//! of the window ([`Ttl::window_ends`]) to give the normal TTL again.

use std::time::Duration;

use tokio::time::Instant;

use super::{Core, Effect, Now, log};
use crate::engine::events::Level;
use crate::engine::server_state::ServerStatus;
use crate::model::DnsData;

/// Why the lower TTL is given (shown in the window and the API).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LowTtlReason {
    /// A server of the set has failed.
    Failed,
    /// The addresses DNS gives changed a short while ago.
    JustChanged,
    /// Both.
    FailedAndJustChanged,
}

impl LowTtlReason {
    pub fn label(self) -> &'static str {
        match self {
            LowTtlReason::Failed => "a server has failed",
            LowTtlReason::JustChanged => "DNS changed just now",
            LowTtlReason::FailedAndJustChanged => "a server has failed, DNS changed just now",
        }
    }
}

/// The TTL in force and what makes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ttl {
    pub ttl: u32,
    /// `None`: the normal TTL.
    pub low: Option<LowTtlReason>,
    /// When the window after the last change ends, while it is still ahead: the core
    /// wakes then to look again.
    pub window_ends: Option<Instant>,
}

/// The TTL a set gives at `now`: its lower TTL while `failed` (a server has failed) if
/// the rule says so, or until `after_change` after `changed_at` (when the addresses last
/// changed); else the normal one. A lower TTL of 0 is off.
pub fn effective(dns: &DnsData, failed: bool, changed_at: Option<Instant>, now: Instant) -> Ttl {
    let rule = &dns.low_ttl;
    let normal = Ttl {
        ttl: dns.ttl,
        low: None,
        window_ends: None,
    };
    if rule.ttl == 0 {
        return normal;
    }
    let window_ends = changed_at
        .filter(|_| rule.after_change > Duration::ZERO)
        .map(|at| at + rule.after_change)
        .filter(|end| *end > now);
    let failed = failed && rule.while_failed;
    let low = match (failed, window_ends.is_some()) {
        (true, true) => Some(LowTtlReason::FailedAndJustChanged),
        (true, false) => Some(LowTtlReason::Failed),
        (false, true) => Some(LowTtlReason::JustChanged),
        (false, false) => None,
    };
    Ttl {
        // Never above the normal one (validation says so too).
        ttl: if low.is_some() {
            rule.ttl.min(dns.ttl)
        } else {
            dns.ttl
        },
        low,
        window_ends,
    }
}

impl Core {
    /// Brings the set's TTL up to date at `now`; true when it changed (then DNS must
    /// follow: the records wanted carry the TTL).
    pub(super) fn refresh_ttl(&mut self, set: usize, now: Now, out: &mut Vec<Effect>) -> bool {
        let s = &mut self.sets[set];
        let failed = s
            .servers
            .iter()
            .any(|v| v.effective_status() == ServerStatus::Failed);
        let ttl = effective(&s.config.dns, failed, s.dns_changed_at, now.at);
        let changed = ttl.ttl != s.ttl.ttl;
        if ttl != s.ttl {
            s.dirty = true;
        }
        s.ttl = ttl;
        if changed && !s.config.dns.host_names.is_empty() {
            let why = match ttl.low {
                Some(reason) => format!(" ({})", reason.label()),
                None => String::new(),
            };
            let text = format!("{:?}: DNS gives TTL {} s now{why}", s.config.name, ttl.ttl);
            log(out, Level::Info, text);
        }
        changed
    }

    /// The sets whose change window ended by `now` get their TTL again (and DNS follows).
    pub(super) fn end_ttl_windows(&mut self, now: Now, out: &mut Vec<Effect>) {
        for i in 0..self.sets.len() {
            if self.sets[i]
                .ttl
                .window_ends
                .is_some_and(|end| end <= now.at)
                && self.refresh_ttl(i, now, out)
            {
                super::dns::DnsSync::follow_decision(&mut self.sets[i], now.at, now.wall, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LowTtl;
    use LowTtlReason::{Failed, FailedAndJustChanged as Both, JustChanged};

    /// case, rule, failed, changed at (s), now (s), (TTL, why, window ends at (s)).
    type Row = (
        &'static str,
        DnsData,
        bool,
        Option<u64>,
        u64,
        (u32, Option<LowTtlReason>, Option<u64>),
    );

    #[test]
    fn the_ttl_follows_failures_and_the_window_after_a_change() {
        let base = Instant::now();
        let s = Duration::from_secs;
        let dns = |ttl, while_failed, after_change| DnsData {
            ttl: 60,
            low_ttl: LowTtl {
                ttl,
                while_failed,
                after_change: s(after_change),
            },
            ..DnsData::default()
        };
        #[rustfmt::skip]
        let table: &[Row] = &[
            ("off",                     dns(0, true, 300),   true,  Some(0), 10,  (60, None, None)),
            ("normal",                  dns(10, true, 300),  false, None,    10,  (60, None, None)),
            ("degraded",                dns(10, true, 300),  true,  None,    10,  (10, Some(Failed), None)),
            ("degraded, rule off",      dns(10, false, 300), true,  None,    10,  (60, None, None)),
            ("just changed",            dns(10, true, 300),  false, Some(5), 10,  (10, Some(JustChanged), Some(305))),
            ("window expired",          dns(10, true, 300),  false, Some(5), 305, (60, None, None)),
            ("window's last moment",    dns(10, true, 300),  false, Some(5), 304, (10, Some(JustChanged), Some(305))),
            ("both",                    dns(10, true, 300),  true,  Some(5), 10,  (10, Some(Both), Some(305))),
            ("both, window expired",    dns(10, true, 300),  true,  Some(5), 400, (10, Some(Failed), None)),
            ("no window configured",    dns(10, true, 0),    false, Some(5), 6,   (60, None, None)),
            ("window only, failed",     dns(10, false, 300), true,  Some(5), 6,   (10, Some(JustChanged), Some(305))),
            ("above normal: capped",    dns(90, true, 300),  true,  None,    6,   (60, Some(Failed), None)),
        ];
        for (case, rule, failed, changed, now, (ttl, low, ends)) in table {
            let got = effective(rule, *failed, changed.map(|c| base + s(c)), base + s(*now));
            let want = Ttl {
                ttl: *ttl,
                low: *low,
                window_ends: ends.map(|e| base + s(e)),
            };
            assert_eq!(got, want, "{case}");
        }
    }
}

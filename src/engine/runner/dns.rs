//! The engine's side of keeping DNS right: follows each set's decision, starts pipeline
//! runs as tasks (at most `max_concurrent_updates` at once), and applies their outcomes
//! through the pure state machine of `dns_sync`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::Engine;
use crate::dnsupdate::{DnsError, DnsStage, FailureKind};
use crate::engine::dns_sync::{Effect, Outcome, on_outcome, on_wanted, wanted_records};
use crate::engine::dns_worker::{self, Job};
use crate::engine::events::{EventDetails, Level};
use crate::model::EventKind;

/// A finished pipeline run.
pub(super) struct DnsResult {
    set_id: u64,
    pair: usize,
    /// Which run of the pair; a result of a cancelled run does not match and is dropped.
    run: u64,
    outcome: Outcome,
}

impl Engine {
    /// The records the set's decision wants changed: every pair starts over (a run in
    /// flight is cancelled). `Waiting` / `LeaveAsIs`: nothing is changed.
    pub(super) fn dns_follow_decision(&mut self, set: usize) {
        let s = &mut self.sets[set];
        let wanted = wanted_records(&s.decision, s.config.dns.ttl);
        // The same records in another priority order are a change too: `$IP$` follows it.
        let first = |r: &Option<crate::dnsupdate::Records>| r.as_ref().and_then(|r| r.first);
        if wanted == s.dns.wanted && first(&wanted) == first(&s.dns.wanted) {
            return;
        }
        s.dns.wanted = wanted.clone();
        let now = Instant::now();
        let time = SystemTime::now();
        for pair in &mut s.dns.pairs {
            pair.cancel();
            let core = on_wanted(&pair.core, wanted.as_ref(), now);
            if core.state != pair.core.state {
                pair.last_change = Some(time);
            }
            pair.core = core;
        }
        s.dirty = true;
        self.dirty = true;
    }

    /// Runs every idle pair of the set now (the operator's *Poll now*), instead of at its
    /// re-check time.
    pub(super) fn dns_recheck_now(&mut self, set: usize) {
        let now = Instant::now();
        let s = &mut self.sets[set];
        if s.dns.wanted.is_none() {
            return;
        }
        for pair in &mut s.dns.pairs {
            if pair.running.is_none() {
                pair.core.next = Some(now);
            }
        }
    }

    /// When the next pair is due, if any.
    pub(super) fn dns_next_due(&self) -> Option<Instant> {
        self.sets.iter().filter_map(|s| s.dns.next_due()).min()
    }

    /// Starts every pair that is due.
    pub(super) fn dns_dispatch_due(&mut self) {
        let now = Instant::now();
        for set in 0..self.sets.len() {
            for pair in 0..self.sets[set].dns.pairs.len() {
                let p = &self.sets[set].dns.pairs[pair];
                if p.running.is_none() && p.core.next.is_some_and(|due| due <= now) {
                    self.dns_start(set, pair);
                }
            }
        }
    }

    fn dns_start(&mut self, set: usize, pair: usize) {
        let s = &mut self.sets[set];
        let Some(wanted) = s.dns.wanted.clone() else {
            s.dns.pairs[pair].core.next = None;
            return;
        };
        let target = &s.dns.targets[s.dns.pairs[pair].target];
        let job = Job {
            set_name: s.config.name.clone(),
            server: target.config.clone(),
            server_label: target.label.clone(),
            host: s.dns.pairs[pair].host.clone(),
            wanted,
            ttl: s.config.dns.ttl,
            updater: target.updater.clone(),
        };
        self.dns_runs += 1;
        let run = self.dns_runs;
        let set_id = s.id;
        let permits = self.dns_permits.clone();
        let results = self.dns_tx.clone();
        let task = tokio::spawn(async move {
            // The semaphore is never closed; should that change, the run simply goes ahead.
            let _permit = permits.acquire_owned().await.ok();
            let limit = dns_worker::run_limit();
            let outcome = match tokio::time::timeout(limit, dns_worker::run(&job)).await {
                Ok(outcome) => outcome,
                // Each step has its own time-out; this is the safety net.
                Err(_) => Outcome::Failed {
                    error: DnsError::new(
                        FailureKind::Timeout,
                        DnsStage::Updating,
                        format!("timeout after {} s", limit.as_secs()),
                    ),
                    served: None,
                },
            };
            let _ = results.send(DnsResult {
                set_id,
                pair,
                run,
                outcome,
            });
        });
        s.dns.pairs[pair].running = Some((run, task.abort_handle()));
        s.dirty = true;
        self.dirty = true;
    }

    pub(super) fn on_dns_result(&mut self, result: DnsResult) {
        let Some(&set) = self.set_index.get(&result.set_id) else {
            return;
        };
        let Some(p) = self.sets[set].dns.pairs.get_mut(result.pair) else {
            return;
        };
        if p.running.as_ref().map(|(run, _)| *run) != Some(result.run) {
            return; // a cancelled run
        }
        p.running = None;
        self.dns_apply(set, result.pair, result.outcome);
    }

    /// Stores an outcome and does what the state machine says.
    fn dns_apply(&mut self, set: usize, pair: usize, outcome: Outcome) {
        let now = SystemTime::now();
        let s = &mut self.sets[set];
        let subject = s.dns.subject(pair);
        let name = s.config.name.clone();
        let host = s.dns.pairs[pair].host.clone();
        let target = &s.dns.targets[s.dns.pairs[pair].target];
        let label = target.label.clone();
        let recheck = Duration::from_secs(60 * u64::from(target.config.recheck_minutes.max(1)));
        let p = &mut s.dns.pairs[pair];
        let old = p.served.clone();
        let (core, effects) = on_outcome(&p.core, &outcome, recheck, Instant::now());
        let state_changed = core.state != p.core.state;
        if state_changed {
            p.last_change = Some(now);
        }
        p.core = core;
        match &outcome {
            Outcome::Matched {
                served,
                propagation,
            } => {
                p.served = Some(served.clone());
                p.error = None;
                p.propagation = *propagation;
            }
            Outcome::Updated {
                after, propagation, ..
            } => {
                p.served = Some(after.clone());
                p.error = None;
                p.propagation = *propagation;
                p.last_change = Some(now);
            }
            Outcome::Failed { error, served } => {
                if served.is_some() {
                    p.served = served.clone();
                }
                p.error = Some(error.clone());
            }
        }
        s.dirty = true;
        self.dirty = true;

        match &outcome {
            Outcome::Matched { served, .. } if state_changed => self.log(
                Level::Info,
                format!(
                    "{name:?}: {label} already gives {host} {}",
                    served.describe()
                ),
            ),
            Outcome::Updated { text, .. } => {
                self.log(Level::Info, format!("{name:?}: {subject} updated ({text})"));
            }
            Outcome::Failed { error, .. } => self.log(
                Level::Warning,
                format!("{name:?}: {subject}: {} ({})", error.text, error.code()),
            ),
            Outcome::Matched { .. } => {}
        }
        for effect in effects {
            match effect {
                Effect::ClearProblem => {
                    self.problems.clear(&name, &subject);
                }
                Effect::RaiseProblem => {
                    if let Outcome::Failed { error, .. } = &outcome {
                        self.problems
                            .raise(&name, &subject, error.code(), &error.text, now);
                    }
                }
                Effect::Event(kind) => {
                    let (text, details) = event_text(kind, &label, &host, old.as_ref(), &outcome);
                    self.emit(kind, &name, &subject, text, details, now);
                }
            }
        }
    }

    /// The problem subjects of every DNS pair of a set (kept when settings change).
    pub(super) fn dns_subjects(&self, set: usize) -> Vec<String> {
        let dns = &self.sets[set].dns;
        (0..dns.pairs.len()).map(|i| dns.subject(i)).collect()
    }

    /// A new limit of concurrent updates; runs holding permits of the old one finish.
    pub(super) fn dns_set_limit(&mut self, max: u32) {
        let max = max.max(1);
        if max != self.max_updates {
            self.dns_permits = Arc::new(tokio::sync::Semaphore::new(max as usize));
            self.max_updates = max;
        }
    }
}

/// The sentence and notification details of a DNS event.
fn event_text(
    kind: EventKind,
    label: &str,
    host: &str,
    old: Option<&crate::dnsupdate::Records>,
    outcome: &Outcome,
) -> (String, EventDetails) {
    let mut details = EventDetails {
        dns_server: label.to_string(),
        ..EventDetails::default()
    };
    let text = match outcome {
        Outcome::Updated { before, after, .. } => {
            details.old_ips = before.describe();
            details.new_ips = after.describe();
            if kind == EventKind::DnsChangedExternally {
                format!(
                    "{host} at {label} had been changed to {} by someone else: put back {}",
                    details.old_ips, details.new_ips
                )
            } else {
                format!(
                    "{host} at {label} updated to {} (was {})",
                    details.new_ips, details.old_ips
                )
            }
        }
        Outcome::Failed { error, served } => {
            details.problem = error.text.clone();
            details.problem_code = Some(error.code());
            details.old_ips = served
                .as_ref()
                .or(old)
                .map(|r| r.describe())
                .unwrap_or_default();
            format!("updating {host} at {label} failed: {}", error.text)
        }
        Outcome::Matched { served, .. } => {
            details.new_ips = served.describe();
            format!("{host} at {label} gives {}", details.new_ips)
        }
    };
    (text, details)
}

//! The core's DNS part. It owns the numbering of DNS runs and drives each set's pairs
//! (DNS server × host name, `dns_sync::SetDns`) through the pure pair state machine of
//! `dns_sync`: following the decision, starting due runs, applying their outcomes
//! (problems, events, log lines), back-off and re-checks.
//!
//! **Invariant:** a pair has at most one run in flight, and only the result of its current
//! run counts: a new decision cancels the run (an [`Effect::CancelDns`]) and a late result
//! of it is dropped by its run number. DNS is only ever asked to change to what the current
//! decision publishes (`wanted`), and never while the decision is `Waiting`.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::{Effect, emit, log};
use crate::dnsupdate::Records;
use crate::engine::dns_sync::wanted_records;
use crate::engine::dns_sync::{Effect as PairEffect, Outcome, on_outcome, on_wanted};
use crate::engine::dns_worker::Job;
use crate::engine::events::{EventDetails, Level};
use crate::engine::problems::{ProblemSubject, Problems};
use crate::engine::sets::SetRuntime;
use crate::model::EventKind;

/// Which run a result belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DnsRunId {
    pub set_id: u64,
    pub pair: usize,
    /// Numbers every run, so that a cancelled run's late result is recognised.
    pub run: u64,
}

/// Start this DNS run now (an [`Effect`]).
#[derive(Clone, Debug, PartialEq)]
pub struct DnsStart {
    pub id: DnsRunId,
    pub job: Job,
}

/// The run counter; the pairs themselves live in each set.
#[derive(Default)]
pub struct DnsSync {
    runs: u64,
}

impl DnsSync {
    /// The records the set's decision wants changed: every pair starts over (a run in
    /// flight is cancelled). `Waiting` / `LeaveAsIs`: nothing is changed.
    pub fn follow_decision(
        set: &mut SetRuntime,
        now: Instant,
        wall: SystemTime,
        out: &mut Vec<Effect>,
    ) {
        let wanted = wanted_records(&set.decision, set.ttl.ttl);
        // The same records in another priority order are a change too: `$IP$` follows it.
        let first = |r: &Option<Records>| r.as_ref().and_then(|r| r.first);
        if wanted == set.dns.wanted && first(&wanted) == first(&set.dns.wanted) {
            return;
        }
        set.dns.wanted = wanted.clone();
        for pair in &mut set.dns.pairs {
            if let Some(run) = pair.running.take() {
                out.push(Effect::CancelDns { run });
            }
            let core = on_wanted(&pair.core, wanted.as_ref(), now);
            if core.state != pair.core.state {
                pair.last_change = Some(wall);
            }
            pair.core = core;
        }
        set.dirty = true;
    }

    /// Runs every idle pair of the set now (the operator's *Poll now*), instead of at its
    /// re-check time.
    pub fn recheck_now(set: &mut SetRuntime, now: Instant) {
        if set.dns.wanted.is_none() {
            return;
        }
        for pair in &mut set.dns.pairs {
            if pair.running.is_none() {
                pair.core.next = Some(now);
            }
        }
    }

    /// Cancels every run of a set that goes away (or whose DNS servers changed).
    pub fn cancel_all(set: &mut SetRuntime, out: &mut Vec<Effect>) {
        for pair in &mut set.dns.pairs {
            if let Some(run) = pair.running.take() {
                out.push(Effect::CancelDns { run });
            }
        }
    }

    /// Starts every pair of the set that is due.
    pub fn dispatch_due(&mut self, set: &mut SetRuntime, now: Instant, out: &mut Vec<Effect>) {
        for pair in 0..set.dns.pairs.len() {
            let p = &set.dns.pairs[pair];
            if p.running.is_none() && p.core.next.is_some_and(|due| due <= now) {
                self.start(set, pair, out);
            }
        }
    }

    fn start(&mut self, set: &mut SetRuntime, pair: usize, out: &mut Vec<Effect>) {
        let Some(wanted) = set.dns.wanted.clone() else {
            set.dns.pairs[pair].core.next = None;
            return;
        };
        let target = &set.dns.targets[set.dns.pairs[pair].target];
        // A DNS server whose TTL is not compared (it sets its own) is never given the
        // lower TTL: nothing would ever write the normal one back.
        let ttl = if target.config.ignore_ttl {
            set.config.dns.ttl
        } else {
            set.ttl.ttl
        };
        let wanted = Records {
            ttl: wanted.ttl.map(|_| ttl),
            ..wanted
        };
        let job = Job {
            set_name: set.config.name.clone(),
            server: target.config.clone(),
            server_label: target.label.clone(),
            host: set.dns.pairs[pair].host.clone(),
            wanted,
            ttl,
        };
        self.runs += 1;
        let run = self.runs;
        set.dns.pairs[pair].running = Some(run);
        set.dirty = true;
        out.push(Effect::StartDns(DnsStart {
            id: DnsRunId {
                set_id: set.id,
                pair,
                run,
            },
            job,
        }));
    }

    /// A run finished: stores its outcome and does what the pair's state machine says.
    /// A result of a cancelled run is dropped.
    pub fn on_done(
        set: &mut SetRuntime,
        id: DnsRunId,
        outcome: Outcome,
        problems: &mut Problems,
        (now, wall): (Instant, SystemTime),
        out: &mut Vec<Effect>,
    ) {
        let Some(p) = set.dns.pairs.get_mut(id.pair) else {
            return;
        };
        if p.running != Some(id.run) {
            return; // a cancelled run
        }
        p.running = None;
        let subject = set.dns.subject(id.pair);
        let name = set.config.name.clone();
        let target = &set.dns.targets[set.dns.pairs[id.pair].target];
        let label = target.label.clone();
        let recheck = Duration::from_secs(60 * u64::from(target.config.recheck_minutes.max(1)));
        let p = &mut set.dns.pairs[id.pair];
        let host = p.host.clone();
        let old = p.served.clone();
        let (core, effects) = on_outcome(&p.core, &outcome, recheck, now);
        let state_changed = core.state != p.core.state;
        if state_changed {
            p.last_change = Some(wall);
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
                p.last_change = Some(wall);
                p.updates += 1;
            }
            Outcome::Failed { error, served } => {
                p.update_failures += 1;
                if served.is_some() {
                    p.served = served.clone();
                }
                p.error = Some(error.clone());
            }
        }
        set.dirty = true;

        match &outcome {
            Outcome::Matched { served, .. } if state_changed => log(
                out,
                Level::Info,
                format!(
                    "{name:?}: {label} already gives {host} {}",
                    served.describe()
                ),
            ),
            Outcome::Updated { text, .. } => {
                log(
                    out,
                    Level::Info,
                    format!("{name:?}: {subject} updated ({text})"),
                );
            }
            Outcome::Failed { error, .. } => log(
                out,
                Level::Warning,
                format!("{name:?}: {subject}: {} ({})", error.text, error.code()),
            ),
            Outcome::Matched { .. } => {}
        }
        for effect in effects {
            match effect {
                PairEffect::ClearProblem => {
                    problems.clear(&name, &ProblemSubject::Dns(subject.clone()));
                }
                PairEffect::RaiseProblem => {
                    if let Outcome::Failed { error, .. } = &outcome {
                        let key = ProblemSubject::Dns(subject.clone());
                        let code = error.problem_code();
                        problems.raise_fixed(&name, key, code, &error.text, wall);
                    }
                }
                PairEffect::Event(kind) => {
                    let (text, details) = event_text(kind, &label, &host, old.as_ref(), &outcome);
                    emit(out, kind, &name, &subject, text, details, wall);
                }
            }
        }
    }

    /// The problem subjects of every DNS pair of a set (kept when settings change).
    pub fn subjects(set: &SetRuntime) -> Vec<String> {
        (0..set.dns.pairs.len())
            .map(|i| set.dns.subject(i))
            .collect()
    }
}

/// The sentence and notification details of a DNS event.
fn event_text(
    kind: EventKind,
    label: &str,
    host: &str,
    old: Option<&Records>,
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

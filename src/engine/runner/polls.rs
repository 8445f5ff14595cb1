//! Polling: arming timers (spread first polls, cadence kept), starting polls within the
//! limit of polls in flight, and what a result changes (state, problems, events, the
//! decision, sequential skipping, pause-on-failure).

use super::*;

impl Engine {
    // ---- scheduling ---------------------------------------------------------------------

    pub(super) fn polling_allowed(&self, set: usize) -> bool {
        !self.settings.options.polling.paused
            && !self.sets[set].config.paused
            && self.sets[set].probe.is_ok()
    }

    pub(super) fn reschedule_all(&mut self) {
        self.timers.clear();
        let now = Instant::now();
        for i in 0..self.sets.len() {
            self.unschedule_set(i);
        }
        let total: usize = self.sets.iter().map(|s| s.servers.len()).sum();
        let mut n = 0;
        for i in 0..self.sets.len() {
            let interval = Duration::from_secs(u64::from(
                self.sets[i].config.frequency.interval_secs.max(1),
            ));
            for k in 0..self.sets[i].servers.len() {
                let due = now + spread_offset(n, total, interval);
                n += 1;
                self.arm(i, k, due);
            }
        }
    }

    pub(super) fn schedule_set(&mut self, set: usize, start: Instant) {
        let count = self.sets[set].servers.len();
        let interval = Duration::from_secs(u64::from(
            self.sets[set].config.frequency.interval_secs.max(1),
        ));
        for k in 0..count {
            self.arm(set, k, start + spread_offset(k, count, interval));
        }
    }

    pub(super) fn unschedule_set(&mut self, set: usize) {
        for server in &mut self.sets[set].servers {
            server.arming += 1;
            server.due = None;
        }
    }

    /// Arms the timer of one server, unless it is disabled, in flight or polling is off.
    pub(super) fn arm(&mut self, set: usize, server: usize, due: Instant) {
        if !self.polling_allowed(set) {
            return;
        }
        let set_id = self.sets[set].id;
        let s = &mut self.sets[set].servers[server];
        if s.config.disabled || s.in_flight {
            return;
        }
        s.arming += 1;
        s.due = Some(due);
        self.timers.arm(
            due,
            TimerKey {
                set_id,
                server,
                arming: s.arming,
            },
        );
    }

    pub(super) fn poll_set_now(&mut self, set: usize) {
        // Poll now also re-checks the set's DNS records (records someone changed are put back).
        self.dns_recheck_now(set);
        if !self.polling_allowed(set) {
            return;
        }
        self.schedule_set(set, Instant::now());
    }

    pub(super) fn dispatch_due(&mut self) {
        let now = Instant::now();
        while let Some((due, key)) = self.timers.pop_due(now) {
            let Some(&set) = self.set_index.get(&key.set_id) else {
                continue;
            };
            let Some(server) = self.sets[set].servers.get(key.server) else {
                continue;
            };
            if server.arming != key.arming || server.due != Some(due) {
                continue; // stale
            }
            self.sets[set].servers[key.server].due = None;
            if !self.polling_allowed(set) {
                continue;
            }
            if !self.sets[set].is_needed(key.server) {
                self.mark_skipped(set, key.server);
                continue;
            }
            self.start_poll(set, key.server, due);
        }
    }

    pub(super) fn mark_skipped(&mut self, set: usize, server: usize) {
        let s = &mut self.sets[set].servers[server];
        if s.state.status != ServerStatus::Skipped && s.state.status != ServerStatus::Disabled {
            s.state.status = ServerStatus::Skipped;
            self.sets[set].dirty = true;
            self.dirty = true;
        }
    }

    pub(super) fn start_poll(&mut self, set: usize, server: usize, due: Instant) {
        let Ok(probe) = self.sets[set].probe.clone() else {
            return;
        };
        let target: PollTarget = self.sets[set].target(server);
        let set_id = self.sets[set].id;
        let public_ip = self.sets[set].servers[server].public_ip;
        self.sets[set].servers[server].in_flight = true;
        self.in_flight += 1;
        let permits = self.permits.clone();
        let results = self.results_tx.clone();
        tokio::spawn(async move {
            // The semaphore is never closed; should that change, the poll simply runs.
            let _permit = permits.acquire_owned().await.ok();
            let started = Instant::now();
            let lateness = started.saturating_duration_since(due);
            // A probe must end by its time-out; this is the safety net if one does not.
            let limit = target.timeout + Duration::from_secs(1);
            let outcome = match tokio::time::timeout(limit, probe.poll(&target)).await {
                Ok(outcome) => outcome,
                Err(_) => PollOutcome::failure(
                    crate::probe::Failure::new(
                        crate::probe::FailureKind::Timeout,
                        crate::probe::PollStage::Waiting,
                    ),
                    format!("timeout after {} s", target.timeout.as_secs()),
                    started.elapsed(),
                ),
            };
            let _ = results.send(PollResult {
                set_id,
                server,
                public_ip,
                due,
                lateness,
                outcome,
            });
        });
    }

    // ---- results ------------------------------------------------------------------------

    pub(super) fn on_result(&mut self, result: PollResult) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.polls_completed += 1;
        push_bounded(
            &mut self.lateness_ms,
            result.lateness.as_secs_f32() * 1000.0,
            LATENESS_SAMPLES,
        );
        self.dirty = true;
        // Whatever set it was for, a result tells whether the monitor itself can poll.
        let local = result.outcome.is_local_fault();
        self.note_local_fault(
            local.then_some(result.outcome.response.as_str()),
            result.due + result.lateness,
            Instant::now(),
        );
        let Some(&set) = self.set_index.get(&result.set_id) else {
            return;
        };
        let frequency = self.sets[set].config.frequency.clone();
        let Some(server) = self.sets[set].servers.get_mut(result.server) else {
            return;
        };
        if server.public_ip != result.public_ip {
            return;
        }
        server.in_flight = false;
        if server.config.disabled {
            return;
        }
        if local {
            // No observation of the server (its state, counts and DNS stay): poll it
            // again at the retry interval, to see it as soon as the monitor can.
            if self.polling_allowed(set) && self.sets[set].is_needed(result.server) {
                let delay = Duration::from_secs(u64::from(frequency.retry_interval_secs.max(1)));
                self.arm(set, result.server, (result.due + delay).max(Instant::now()));
            }
            return;
        }
        let now = SystemTime::now();
        let (state, transition) = observe(&server.state, &result.outcome, &frequency, now);
        let changed = state.status != server.state.status;
        if changed || !self.settings.options.polling.history_only_changes {
            self.history_batch.push(HistoryRow {
                time: now,
                set: self.sets[set].config.name.clone(),
                server: result.public_ip.to_string(),
                status: state.status.label().to_string(),
                success: result.outcome.is_success(),
                response: result.outcome.response.clone(),
                response_ms: Some(result.outcome.elapsed.as_secs_f64() * 1000.0),
                code: result.outcome.failure.map(|f| f.code()),
                changed,
            });
        }
        let server = &mut self.sets[set].servers[result.server];
        server.state = state;
        let ms = result
            .outcome
            .is_success()
            .then_some(result.outcome.elapsed.as_secs_f32() * 1000.0);
        server.record_time(ms);
        self.sets[set].dirty = true;
        self.update_server_problem(set, result.server, now);
        self.update_certificate_warning(set, result.server, &result.outcome, now);
        if let Some(transition) = transition {
            self.on_transition(set, result.server, transition, now);
        }
        self.after_change(set, now);
        // The next poll of this server keeps its cadence from the time it was due.
        if self.polling_allowed(set) && self.sets[set].is_needed(result.server) {
            let has_failure = self.sets[set].has_failure();
            let delay = next_poll_delay(
                &self.sets[set].servers[result.server].state,
                has_failure,
                &frequency,
            );
            let due = (result.due + delay).max(Instant::now());
            self.arm(set, result.server, due);
        }
    }

    /// Raises the monitor's own problem while polls fail for its shortage (logged once),
    /// clears it when they work again.
    fn note_local_fault(&mut self, local: Option<&str>, started: Instant, finished: Instant) {
        use crate::engine::problems::{LocalChange, MONITOR_SHORTAGE, MONITOR_SUBJECT};
        match self.local_faults.note(local, started, finished) {
            LocalChange::Raise(text) => {
                let now = SystemTime::now();
                if self
                    .problems
                    .raise("", MONITOR_SUBJECT, MONITOR_SHORTAGE, &text, now)
                {
                    self.log(Level::Error, text);
                }
            }
            LocalChange::Clear => {
                if self.problems.clear("", MONITOR_SUBJECT) {
                    self.log(Level::Info, "this monitor can poll again".into());
                }
            }
            LocalChange::Keep => {}
        }
    }

    pub(super) fn update_server_problem(&mut self, set: usize, server: usize, now: SystemTime) {
        let name = self.sets[set].config.name.clone();
        let subject = self.sets[set].subject(server);
        let state = &self.sets[set].servers[server].state;
        match state.status {
            ServerStatus::Failed => {
                let code = state.last_failure_kind.map(|f| f.code()).unwrap_or(100);
                let text = if state.last_failure_kind.is_some() {
                    state.last_response.clone()
                } else {
                    format!(
                        "recovering: {} of {} successful polls",
                        state.successes_while_failed, self.sets[set].config.frequency.recover_after
                    )
                };
                let code = if state.last_failure_kind.is_some() {
                    code
                } else {
                    self.problems
                        .list()
                        .iter()
                        .find(|p| p.set == name && p.subject == subject)
                        .map(|p| p.code)
                        .unwrap_or(code)
                };
                self.problems.raise(&name, &subject, code, &text, now);
            }
            ServerStatus::Ok => {
                self.problems.clear(&name, &subject);
            }
            _ => {}
        }
    }

    /// Raises the low-severity certificate problem while polls warn; only a successful poll
    /// without a warning clears it (a failed poll may not have reached the handshake).
    pub(super) fn update_certificate_warning(
        &mut self,
        set: usize,
        server: usize,
        outcome: &PollOutcome,
        now: SystemTime,
    ) {
        use crate::engine::problems::{CERTIFICATE_SUFFIX, CERTIFICATE_WARNING};
        let name = &self.sets[set].config.name;
        let subject = format!("{}{CERTIFICATE_SUFFIX}", self.sets[set].subject(server));
        match &outcome.warning {
            Some(text) => {
                self.problems
                    .raise(name, &subject, CERTIFICATE_WARNING, text, now);
            }
            None if outcome.is_success() => {
                self.problems.clear(name, &subject);
            }
            None => {}
        }
    }

    pub(super) fn on_transition(
        &mut self,
        set: usize,
        server: usize,
        transition: Transition,
        now: SystemTime,
    ) {
        let s = &self.sets[set];
        let name = s.config.name.clone();
        let subject = s.subject(server);
        let sv = &s.servers[server];
        let details = EventDetails {
            server_ip: sv.public_ip.to_string(),
            server_name: sv.config.display_name().to_string(),
            status: sv.state.status.label().to_string(),
            response: sv.state.last_response.clone(),
            problem: sv
                .state
                .last_failure_kind
                .map(|_| sv.state.last_response.clone())
                .unwrap_or_default(),
            problem_code: sv.state.last_failure_kind.map(|f| f.code()),
            ..EventDetails::default()
        };
        let pause = transition == Transition::Failed && sv.config.pause_set_on_failure;
        match transition {
            Transition::Failed => {
                let text = format!("server {subject} of {name:?} failed: {}", details.response);
                self.log(Level::Warning, text.clone());
                self.emit(EventKind::ServerFailed, &name, &subject, text, details, now);
            }
            Transition::Recovered => {
                let text = format!(
                    "server {subject} of {name:?} recovered: {}",
                    details.response
                );
                self.log(Level::Info, text.clone());
                self.emit(
                    EventKind::ServerRecovered,
                    &name,
                    &subject,
                    text,
                    details,
                    now,
                );
            }
        }
        if pause {
            // The decision is made (and DNS follows) before the set stops polling.
            self.after_change(set, now);
            self.set_paused(&name, true, true);
            let text =
                format!("server set {name:?} paused because {subject} failed; resume it by hand");
            self.emit(
                EventKind::SetPausedAutomatically,
                &name,
                &subject,
                text,
                EventDetails::default(),
                now,
            );
        }
    }

    /// Recomputes what depends on the servers' states: sequential skipping, the address
    /// decision, the all-failed event.
    pub(super) fn after_change(&mut self, set: usize, now: SystemTime) {
        if self.sets[set].config.frequency.sequential {
            for k in 0..self.sets[set].servers.len() {
                let needed = self.sets[set].is_needed(k);
                let s = &mut self.sets[set].servers[k];
                if s.config.disabled {
                    continue;
                }
                if !needed {
                    if s.due.is_some() {
                        s.arming += 1;
                        s.due = None;
                    }
                    if !s.in_flight {
                        self.mark_skipped(set, k);
                    }
                } else if s.due.is_none() && !s.in_flight {
                    // A higher server stopped working: this one is needed now.
                    self.arm(set, k, Instant::now());
                }
            }
        }
        let decision = self.sets[set].decide();
        if decision != self.sets[set].decision {
            let name = self.sets[set].config.name.clone();
            if !matches!(decision, Decision::Waiting) {
                self.log(
                    Level::Info,
                    format!("{name:?}: DNS should give {}", decision.describe()),
                );
            }
            self.sets[set].decision = decision;
            self.sets[set].dirty = true;
            self.note_published(set);
            self.dns_follow_decision(set);
        }
        let failed = all_failed(&self.sets[set].candidates());
        if failed != self.sets[set].all_failed {
            self.sets[set].all_failed = failed;
            if failed {
                let name = self.sets[set].config.name.clone();
                let text = format!("all servers of {name:?} failed");
                self.log(Level::Error, text.clone());
                self.emit(
                    EventKind::AllServersFailed,
                    &name,
                    "",
                    text,
                    EventDetails::default(),
                    now,
                );
            }
        }
    }
}

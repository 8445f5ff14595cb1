//! `GET /metrics`: the snapshot in Prometheus text format (checked by `promtool check
//! metrics` in the tests). A state is an enum-style gauge (one series per possible state,
//! 1 for the current one), never a label whose value changes, so no series appears or
//! vanishes when a server fails; addresses published are an info metric.

use std::fmt::Write as _;
use std::time::SystemTime;

use crate::engine::Snapshot;
use crate::engine::dns_sync::PairState;
use crate::engine::server_state::ServerStatus;
use crate::model::ForcedState;

/// Every server status, with its label value.
const SERVER_STATES: [(ServerStatus, &str); 6] = [
    (ServerStatus::NotTested, "not_tested"),
    (ServerStatus::Ok, "ok"),
    (ServerStatus::Retrying, "retrying"),
    (ServerStatus::Failed, "failed"),
    (ServerStatus::Disabled, "disabled"),
    (ServerStatus::Skipped, "skipped"),
];

/// Every DNS pair state, with its label value.
const PAIR_STATES: [(PairState, &str); 4] = [
    (PairState::Pending, "pending"),
    (PairState::Matched, "matched"),
    (PairState::Updated, "updated"),
    (PairState::Failed, "failed"),
];

/// Escapes a label value (backslash, quote, newline).
pub(super) fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A sample value: Prometheus spells infinities `+Inf` / `-Inf`.
fn number(value: f64) -> String {
    if value == f64::INFINITY {
        "+Inf".into()
    } else if value == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        value.to_string()
    }
}

fn unix_secs(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// The `# HELP` and `# TYPE` lines of a family.
pub(super) fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    servers(&mut out, s);
    dns_pairs(&mut out, s);
    engine(&mut out, s);
    super::report::metrics(&mut out, s);
    super::cluster::metrics(&mut out, s, SystemTime::now());
    out
}

fn servers(out: &mut String, s: &Snapshot) {
    let all = || {
        s.sets.iter().flat_map(|set| {
            set.servers.iter().map(move |v| {
                let labels = format!(
                    "set=\"{}\",server=\"{}\"",
                    label(&set.name),
                    label(&v.public_ip)
                );
                (labels, v)
            })
        })
    };
    family(
        out,
        "standby_server_up",
        "gauge",
        "1 if the server counts as functional (OK or retrying).",
    );
    for (l, v) in all() {
        let _ = writeln!(
            out,
            "standby_server_up{{{l}}} {}",
            u8::from(v.status.is_functional())
        );
    }
    family(
        out,
        "standby_server_state",
        "gauge",
        "The server's status: 1 for the current state, 0 for the others.",
    );
    for (l, v) in all() {
        for (state, name) in SERVER_STATES {
            let _ = writeln!(
                out,
                "standby_server_state{{{l},state=\"{name}\"}} {}",
                u8::from(v.status == state)
            );
        }
    }
    family(
        out,
        "standby_server_drained",
        "gauge",
        "1 if the server is drained (weight 0): polled, not published while another works.",
    );
    for (l, v) in all() {
        let _ = writeln!(
            out,
            "standby_server_drained{{{l}}} {}",
            u8::from(v.admin.drained)
        );
    }
    family(
        out,
        "standby_server_forced",
        "gauge",
        "1 for the state an operator forced the server to (up or down), 0 otherwise.",
    );
    for (l, v) in all() {
        let forced = v.admin.forced.as_ref().map(|f| f.state);
        for state in [ForcedState::Up, ForcedState::Down] {
            let _ = writeln!(
                out,
                "standby_server_forced{{{l},state=\"{}\"}} {}",
                state.label(),
                u8::from(forced == Some(state))
            );
        }
    }
    family(
        out,
        "standby_server_maintenance_seconds",
        "gauge",
        "Time left of the server's maintenance (absent: none).",
    );
    for (l, v) in all() {
        if let Some(until) = v.admin.maintenance_until {
            let left = until.duration_since(SystemTime::now()).unwrap_or_default();
            let _ = writeln!(
                out,
                "standby_server_maintenance_seconds{{{l}}} {}",
                left.as_secs()
            );
        }
    }
    family(
        out,
        "standby_server_polls_total",
        "counter",
        "Polls by result since the start.",
    );
    for (l, v) in all() {
        for (result, n) in [("success", v.successes), ("failure", v.failures)] {
            let _ = writeln!(
                out,
                "standby_server_polls_total{{{l},result=\"{result}\"}} {n}"
            );
        }
    }
    family(
        out,
        "standby_server_response_seconds",
        "gauge",
        "Response time of the last poll.",
    );
    for (l, v) in all() {
        if let Some(t) = v.last_response_time {
            let _ = writeln!(
                out,
                "standby_server_response_seconds{{{l}}} {}",
                t.as_secs_f64()
            );
        }
    }
    family(
        out,
        "standby_server_response_time_seconds",
        "histogram",
        "Response times of the successful polls since the start.",
    );
    for (l, v) in all() {
        let h = &v.response_times;
        for (le, n) in h.cumulative() {
            let _ = writeln!(
                out,
                "standby_server_response_time_seconds_bucket{{{l},le=\"{}\"}} {n}",
                number(le)
            );
        }
        let _ = writeln!(
            out,
            "standby_server_response_time_seconds_sum{{{l}}} {}",
            h.sum_micros as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "standby_server_response_time_seconds_count{{{l}}} {}",
            h.count
        );
    }
    family(
        out,
        "standby_server_last_success_timestamp_seconds",
        "gauge",
        "When the server's last poll succeeded (Unix time; absent: never).",
    );
    for (l, v) in all() {
        if let Some(t) = v.last_success {
            let _ = writeln!(
                out,
                "standby_server_last_success_timestamp_seconds{{{l}}} {}",
                unix_secs(t)
            );
        }
    }
    family(
        out,
        "standby_server_certificate_days_left",
        "gauge",
        "HTTPS: days until the server's certificate expires (negative: expired; absent: not seen).",
    );
    let now = unix_secs(SystemTime::now());
    for (l, v) in all() {
        if let Some(end) = v.certificate_not_after {
            let _ = writeln!(
                out,
                "standby_server_certificate_days_left{{{l}}} {:.3}",
                (end as f64 - now) / 86_400.0
            );
        }
    }
    family(
        out,
        "standby_server_certificate_expiry_timestamp_seconds",
        "gauge",
        "HTTPS: when the server's certificate expires (Unix time; absent: not seen).",
    );
    for (l, v) in all() {
        if let Some(end) = v.certificate_not_after {
            let _ = writeln!(
                out,
                "standby_server_certificate_expiry_timestamp_seconds{{{l}}} {end}"
            );
        }
    }
    family(
        out,
        "standby_set_paused",
        "gauge",
        "1 if the set is paused.",
    );
    for set in &s.sets {
        let _ = writeln!(
            out,
            "standby_set_paused{{set=\"{}\"}} {}",
            label(&set.name),
            u8::from(set.paused)
        );
    }
    family(
        out,
        "standby_set_published_info",
        "gauge",
        "An address the set publishes now (always 1; one series per address and weight).",
    );
    for set in &s.sets {
        for (address, weight) in set.published.iter().flatten() {
            let _ = writeln!(
                out,
                "standby_set_published_info{{set=\"{}\",address=\"{address}\",weight=\"{weight}\"}} 1",
                label(&set.name)
            );
        }
    }
    family(
        out,
        "standby_set_dns_ttl_seconds",
        "gauge",
        "The TTL the set's records get now (lower while the set is unsettled, if so set).",
    );
    for set in &s.sets {
        let _ = writeln!(
            out,
            "standby_set_dns_ttl_seconds{{set=\"{}\"}} {}",
            label(&set.name),
            set.ttl
        );
    }
    family(
        out,
        "standby_set_dns_ttl_low",
        "gauge",
        "1 while the set's records get its lower TTL.",
    );
    for set in &s.sets {
        let _ = writeln!(
            out,
            "standby_set_dns_ttl_low{{set=\"{}\"}} {}",
            label(&set.name),
            u8::from(set.low_ttl.is_some())
        );
    }
    family(
        out,
        "standby_set_published_addresses",
        "gauge",
        "How many addresses the set publishes now.",
    );
    for set in &s.sets {
        let _ = writeln!(
            out,
            "standby_set_published_addresses{{set=\"{}\"}} {}",
            label(&set.name),
            set.published.as_ref().map_or(0, Vec::len)
        );
    }
}

fn dns_pairs(out: &mut String, s: &Snapshot) {
    let all = || {
        s.sets.iter().flat_map(|set| {
            set.dns.iter().map(move |p| {
                let labels = format!(
                    "set=\"{}\",dns_server=\"{}\",host=\"{}\"",
                    label(&set.name),
                    label(&p.dns_server),
                    label(&p.host)
                );
                (labels, p)
            })
        })
    };
    family(
        out,
        "standby_dns_pair_state",
        "gauge",
        "A DNS server x host name pair: 1 for its current state, 0 for the others.",
    );
    for (l, p) in all() {
        for (state, name) in PAIR_STATES {
            let _ = writeln!(
                out,
                "standby_dns_pair_state{{{l},state=\"{name}\"}} {}",
                u8::from(p.state == state)
            );
        }
    }
    family(
        out,
        "standby_dns_pair_updates_total",
        "counter",
        "Updates Standby made and checked on the pair since the start.",
    );
    for (l, p) in all() {
        let _ = writeln!(out, "standby_dns_pair_updates_total{{{l}}} {}", p.updates);
    }
    family(
        out,
        "standby_dns_pair_failures_total",
        "counter",
        "Checks or updates of the pair that failed since the start.",
    );
    for (l, p) in all() {
        let _ = writeln!(
            out,
            "standby_dns_pair_failures_total{{{l}}} {}",
            p.update_failures
        );
    }
    family(
        out,
        "standby_dns_pair_last_change_timestamp_seconds",
        "gauge",
        "When the pair's state or records last changed (Unix time; absent: not since the start).",
    );
    for (l, p) in all() {
        if let Some(t) = p.last_change {
            let _ = writeln!(
                out,
                "standby_dns_pair_last_change_timestamp_seconds{{{l}}} {}",
                unix_secs(t)
            );
        }
    }
}

fn engine(out: &mut String, s: &Snapshot) {
    family(out, "standby_problems", "gauge", "Current problems.");
    let _ = writeln!(out, "standby_problems {}", s.problems.len());
    family(
        out,
        "standby_monitor_network_down",
        "gauge",
        "1 while the connectivity guard's references fail too: no server is judged failed.",
    );
    let down = s
        .problems
        .iter()
        .any(|p| p.set.is_empty() && p.subject == crate::engine::problems::NETWORK_SUBJECT);
    let _ = writeln!(out, "standby_monitor_network_down {}", u8::from(down));
    family(
        out,
        "standby_polls_completed_total",
        "counter",
        "Polls finished since the start.",
    );
    let _ = writeln!(
        out,
        "standby_polls_completed_total {}",
        s.stats.polls_completed
    );
    family(
        out,
        "standby_poll_lateness_seconds",
        "summary",
        "How late polls started after they were due: quantiles of the recent ones, sum and count since the start.",
    );
    for (q, ms) in [
        ("0.5", s.stats.lateness_p50_ms),
        ("0.99", s.stats.lateness_p99_ms),
    ] {
        let _ = writeln!(
            out,
            "standby_poll_lateness_seconds{{quantile=\"{q}\"}} {}",
            f64::from(ms) / 1000.0
        );
    }
    let _ = writeln!(
        out,
        "standby_poll_lateness_seconds_sum {}",
        s.stats.lateness_sum_secs
    );
    let _ = writeln!(
        out,
        "standby_poll_lateness_seconds_count {}",
        s.stats.lateness_count
    );
    family(
        out,
        "standby_notification_outbox_messages",
        "gauge",
        "Notifications waiting in the outbox (being sent or to be retried).",
    );
    let _ = writeln!(
        out,
        "standby_notification_outbox_messages {}",
        s.outbox.depth
    );
    family(
        out,
        "standby_notifications_delivered_total",
        "counter",
        "Notifications delivered since the start.",
    );
    let _ = writeln!(
        out,
        "standby_notifications_delivered_total {}",
        s.outbox.delivered
    );
    family(
        out,
        "standby_notification_failures_total",
        "counter",
        "Failed notification tries (each retry counts) and dropped messages since the start.",
    );
    let _ = writeln!(
        out,
        "standby_notification_failures_total {}",
        s.outbox.failed
    );
    family(
        out,
        "standby_paused",
        "gauge",
        "1 if all polling is paused.",
    );
    let _ = writeln!(out, "standby_paused {}", u8::from(s.all_paused));
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Every `standby_...` name the Grafana dashboard queries is a family `/metrics` has
    /// (`_bucket`, `_sum`, `_count` of a histogram or summary included).
    #[test]
    fn the_dashboard_uses_only_metrics_that_exist() {
        let text = include_str!("../../assets/grafana-dashboard.json");
        let dashboard: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
        let families: Vec<String> = render(&Snapshot::empty(Default::default(), None))
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_string)
            .collect();
        let mut used = 0;
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                for (i, _) in expr.match_indices("standby_") {
                    let name: String = expr[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    let base = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| name.strip_suffix(s))
                        .filter(|b| families.iter().any(|f| f == b))
                        .unwrap_or(&name);
                    assert!(
                        families.iter().any(|f| f == base),
                        "{:?} queries {name}, which /metrics does not have",
                        panel["title"]
                    );
                    used += 1;
                }
            }
        }
        assert!(used >= 15, "{used}");
    }

    #[test]
    fn infinities_are_spelled_the_prometheus_way() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}

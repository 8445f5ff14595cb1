//! `GET /metrics`: the snapshot in Prometheus text format.

use std::fmt::Write as _;

use crate::engine::Snapshot;
use crate::engine::server_state::ServerStatus;

/// Escapes a label value (backslash, quote, newline).
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn render(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP standby_server_up 1 if the server counts as functional (OK or retrying)."
    );
    let _ = writeln!(out, "# TYPE standby_server_up gauge");
    for set in &s.sets {
        for v in &set.servers {
            let up = u8::from(matches!(
                v.status,
                ServerStatus::Ok | ServerStatus::Retrying
            ));
            let _ = writeln!(
                out,
                "standby_server_up{{set=\"{}\",server=\"{}\",status=\"{}\"}} {up}",
                label(&set.name),
                label(&v.public_ip),
                v.status.label()
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP standby_server_drained 1 if the server is drained (weight 0): polled, not published while another works."
    );
    let _ = writeln!(out, "# TYPE standby_server_drained gauge");
    for set in &s.sets {
        for v in &set.servers {
            let _ = writeln!(
                out,
                "standby_server_drained{{set=\"{}\",server=\"{}\"}} {}",
                label(&set.name),
                label(&v.public_ip),
                u8::from(v.admin.drained)
            );
        }
    }
    let _ = writeln!(
        out,
        "# HELP standby_server_forced 1 if an operator forced the server up or down (state label)."
    );
    let _ = writeln!(out, "# TYPE standby_server_forced gauge");
    for set in &s.sets {
        for v in &set.servers {
            if let Some(forced) = &v.admin.forced {
                let _ = writeln!(
                    out,
                    "standby_server_forced{{set=\"{}\",server=\"{}\",state=\"{}\"}} 1",
                    label(&set.name),
                    label(&v.public_ip),
                    forced.state.label()
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP standby_server_maintenance_seconds Time left of the server's maintenance (absent: none)."
    );
    let _ = writeln!(out, "# TYPE standby_server_maintenance_seconds gauge");
    for set in &s.sets {
        for v in &set.servers {
            if let Some(until) = v.admin.maintenance_until {
                let left = until
                    .duration_since(std::time::SystemTime::now())
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "standby_server_maintenance_seconds{{set=\"{}\",server=\"{}\"}} {}",
                    label(&set.name),
                    label(&v.public_ip),
                    left.as_secs()
                );
            }
        }
    }
    let _ = writeln!(out, "# HELP standby_server_polls_total Polls by result.");
    let _ = writeln!(out, "# TYPE standby_server_polls_total counter");
    for set in &s.sets {
        for v in &set.servers {
            for (result, n) in [("success", v.successes), ("failure", v.failures)] {
                let _ = writeln!(
                    out,
                    "standby_server_polls_total{{set=\"{}\",server=\"{}\",result=\"{result}\"}} {n}",
                    label(&set.name),
                    label(&v.public_ip)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP standby_server_response_seconds Response time of the last poll."
    );
    let _ = writeln!(out, "# TYPE standby_server_response_seconds gauge");
    for set in &s.sets {
        for v in &set.servers {
            if let Some(t) = v.last_response_time {
                let _ = writeln!(
                    out,
                    "standby_server_response_seconds{{set=\"{}\",server=\"{}\"}} {}",
                    label(&set.name),
                    label(&v.public_ip),
                    t.as_secs_f64()
                );
            }
        }
    }
    let _ = writeln!(out, "# HELP standby_set_paused 1 if the set is paused.");
    let _ = writeln!(out, "# TYPE standby_set_paused gauge");
    for set in &s.sets {
        let _ = writeln!(
            out,
            "standby_set_paused{{set=\"{}\"}} {}",
            label(&set.name),
            u8::from(set.paused)
        );
    }
    let _ = writeln!(out, "# HELP standby_problems Current problems.");
    let _ = writeln!(out, "# TYPE standby_problems gauge");
    let _ = writeln!(out, "standby_problems {}", s.problems.len());
    let _ = writeln!(
        out,
        "# HELP standby_monitor_network_down 1 while the connectivity guard's references fail too: no server is judged failed."
    );
    let _ = writeln!(out, "# TYPE standby_monitor_network_down gauge");
    let down = s
        .problems
        .iter()
        .any(|p| p.set.is_empty() && p.subject == crate::engine::problems::NETWORK_SUBJECT);
    let _ = writeln!(out, "standby_monitor_network_down {}", u8::from(down));
    let _ = writeln!(
        out,
        "# HELP standby_polls_completed_total Polls finished since start."
    );
    let _ = writeln!(out, "# TYPE standby_polls_completed_total counter");
    let _ = writeln!(
        out,
        "standby_polls_completed_total {}",
        s.stats.polls_completed
    );
    let _ = writeln!(
        out,
        "# HELP standby_poll_lateness_seconds How late recent polls started (quantiles)."
    );
    let _ = writeln!(out, "# TYPE standby_poll_lateness_seconds gauge");
    let _ = writeln!(
        out,
        "standby_poll_lateness_seconds{{quantile=\"0.5\"}} {}",
        s.stats.lateness_p50_ms / 1000.0
    );
    let _ = writeln!(
        out,
        "standby_poll_lateness_seconds{{quantile=\"0.99\"}} {}",
        s.stats.lateness_p99_ms / 1000.0
    );
    let _ = writeln!(out, "# HELP standby_paused 1 if all polling is paused.");
    let _ = writeln!(out, "# TYPE standby_paused gauge");
    let _ = writeln!(out, "standby_paused {}", u8::from(s.all_paused));
    out
}

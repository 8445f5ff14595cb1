//! The selected set's detail on the Server Sets tab: its servers (expandable, with a
//! response-time sparkline) and its DNS servers × host names.

use std::collections::HashSet;

use eframe::egui::{self, Color32, RichText};

use crate::engine::dns_sync::PairState;
use crate::engine::{AdminView, DnsPairView, ServerView, SetStatus, SettingsEdit};
use crate::model::{Forced, ForcedState};
use crate::ui::dialogs::DialogRequest;
use crate::ui::widgets;

/// Width and height of a sparkline, in points.
const SPARK: egui::Vec2 = egui::vec2(90.0, 16.0);

/// Which server rows are expanded, by set and server address.
#[derive(Default)]
pub struct ExpandedRows(HashSet<(String, String)>);

impl ExpandedRows {
    pub fn is_open(&self, set: &str, server: &str) -> bool {
        self.0.contains(&(set.to_string(), server.to_string()))
    }

    pub fn toggle(&mut self, set: &str, server: &str) {
        let key = (set.to_string(), server.to_string());
        if !self.0.remove(&key) {
            self.0.insert(key);
        }
    }
}

/// The servers of a set as a table; an expanded row shows *Polling history...*, *Ping...*
/// and *What if it fails...*.
pub fn servers(
    ui: &mut egui::Ui,
    set: &SetStatus,
    uptime: &crate::store::report::UptimeReport,
    cluster: Option<&crate::engine::ClusterStatus>,
    expanded: &mut ExpandedRows,
    requests: &mut Vec<DialogRequest>,
) {
    egui::Grid::new("servers")
        .num_columns(12)
        .striped(true)
        .spacing([14.0, 4.0])
        .show(ui, |ui| {
            for title in [
                "",
                "Server",
                "Address",
                "Status",
                "Last response",
                "Time (ms)",
                "Uptime 24 h",
                "Recent",
                "Successes",
                "Failures",
                "Last success (UTC)",
                "Last failure (UTC)",
            ] {
                ui.label(RichText::new(title).strong());
            }
            ui.end_row();
            for server in &set.servers {
                let open = expanded.is_open(&set.name, &server.public_ip);
                // Plain ASCII: the default fonts have no triangle glyphs.
                let arrow = if open { "-" } else { "+" };
                if ui
                    .small_button(arrow)
                    .on_hover_text("Show the server's actions")
                    .clicked()
                {
                    expanded.toggle(&set.name, &server.public_ip);
                }
                let figures = uptime.server(&set.name, &server.public_ip);
                // Cluster mode: what the instances see of it ("failed at 2 of 3: berlin, paris").
                let view = cluster.and_then(|c| c.server(&set.name, &server.public_ip));
                server_row(ui, server, figures, view).context_menu(|ui| {
                    admin_actions(ui, &set.name, server, requests);
                });
                ui.end_row();
                if open {
                    // The buttons sit under the address, the widest column, so that
                    // opening a row does not widen the Server column.
                    ui.label("");
                    ui.label("");
                    ui.horizontal(|ui| {
                        if ui.button("Polling history...").clicked() {
                            requests.push(DialogRequest::History {
                                set: set.name.clone(),
                                server: Some(server.public_ip.clone()),
                            });
                        }
                        if ui.button("Ping...").clicked() {
                            // The poll address: the one this machine can reach (NAT).
                            requests.push(DialogRequest::Ping(server.poll_ip.clone()));
                        }
                        if ui.button("What if it fails...").clicked() {
                            requests.push(DialogRequest::WhatIf {
                                set: set.name.clone(),
                                server: Some(server.public_ip.clone()),
                            });
                        }
                        admin_actions(ui, &set.name, server, requests);
                    });
                    ui.end_row();
                }
            }
        });
}

/// The operator's actions on a server (its row's context menu and its expanded row): force
/// it up or down (for good or for 30 minutes), clear the override.
pub fn admin_actions(
    ui: &mut egui::Ui,
    set: &str,
    server: &ServerView,
    requests: &mut Vec<DialogRequest>,
) {
    let force = |forced: Option<Forced>| {
        DialogRequest::Admin(SettingsEdit::Force {
            set: set.to_string(),
            server: server.public_ip.clone(),
            forced,
        })
    };
    let now = std::time::SystemTime::now();
    let half_hour = Some(std::time::Duration::from_secs(30 * 60));
    if ui.button("Force up").clicked() {
        requests.push(force(Some(Forced::new(ForcedState::Up, now, None))));
        ui.close();
    }
    if ui.button("Force down").clicked() {
        requests.push(force(Some(Forced::new(ForcedState::Down, now, None))));
        ui.close();
    }
    if ui.button("Force down for 30 min").clicked() {
        requests.push(force(Some(Forced::new(ForcedState::Down, now, half_hour))));
        ui.close();
    }
    if server.admin.forced.is_some() && ui.button("Clear override").clicked() {
        requests.push(force(None));
        ui.close();
    }
    if ui.button("Maintenance for 30 min").clicked() {
        requests.push(DialogRequest::Admin(SettingsEdit::AddMaintenance {
            set: set.to_string(),
            server: Some(server.public_ip.clone()),
            window: crate::model::Maintenance::once(now, std::time::Duration::from_secs(30 * 60)),
        }));
        ui.close();
    }
}

/// One server's row; the response of its name (for the context menu).
fn server_row(
    ui: &mut egui::Ui,
    server: &ServerView,
    uptime: Option<&crate::store::report::ServerUptime>,
    cluster: Option<&crate::engine::cluster_status::ServerClusterView>,
) -> egui::Response {
    let name = ui
        .add(egui::Label::new(&server.name).sense(egui::Sense::click()))
        .on_hover_text("Right-click: force up or down");
    if server.poll_ip.is_empty() || server.poll_ip == server.public_ip {
        ui.label(&server.public_ip);
    } else {
        ui.label(format!(
            "{} (polled at {})",
            server.public_ip, server.poll_ip
        ));
    }
    ui.horizontal(|ui| {
        ui.label(widgets::status_text(server.status));
        for note in admin_notes(&server.admin) {
            ui.label(RichText::new(note).italics());
        }
        if let Some(view) = cluster {
            ui.label(RichText::new(format!("cluster: {}", view.describe())).italics());
        }
    });
    widgets::clipped_label(ui, &server.last_response, 60);
    ui.label(
        server
            .last_response_time
            .map(|t| format!("{:.0}", t.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "–".into()),
    );
    uptime_cell(ui, uptime);
    sparkline(ui, &server.recent_times_ms);
    ui.label(server.successes.to_string());
    ui.label(server.failures.to_string());
    ui.label(widgets::clock_or_dash(server.last_success));
    ui.label(widgets::clock_or_dash(server.last_failure));
    name
}

/// The 24 h uptime from the history; 7 d, 30 d and the percentiles on hover.
fn uptime_cell(ui: &mut egui::Ui, uptime: Option<&crate::store::report::ServerUptime>) {
    use crate::store::report::PERIODS;
    let Some(u) = uptime else {
        ui.label("–");
        return;
    };
    let day = u.periods.first().cloned().unwrap_or_default();
    let hover: Vec<String> = PERIODS
        .iter()
        .zip(&u.periods)
        .map(|((name, _), p)| {
            let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1}"));
            format!(
                "{name}: {} of {} poll(s); p50 {} p95 {} p99 {} ms",
                crate::ui::dialogs::history_percent(p),
                p.polls,
                ms(p.p50_ms),
                ms(p.p95_ms),
                ms(p.p99_ms)
            )
        })
        .collect();
    ui.label(crate::ui::dialogs::history_percent(&day))
        .on_hover_text(hover.join("\n"));
}

/// What the operator decided for a server, in words beside its status.
pub fn admin_notes(admin: &AdminView) -> Vec<String> {
    let mut notes = Vec::new();
    if admin.drained {
        notes.push("drained (weight 0)".to_string());
    }
    if let Some(until) = admin.maintenance_until {
        let left = until
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default()
            .as_secs();
        notes.push(format!(
            "in maintenance, {} min left (until {})",
            left.div_ceil(60),
            widgets::clock_or_dash(Some(until))
        ));
    }
    if let Some(forced) = &admin.forced {
        let until = forced
            .until_time()
            .map(|t| format!(" until {}", widgets::clock_or_dash(Some(t))))
            .unwrap_or_default();
        notes.push(format!(
            "forced {} since {}{until}",
            forced.state.label(),
            widgets::clock_or_dash(forced.set_at_time())
        ));
    }
    notes
}

/// Recent response times as a line; a failed poll is a red tick at the bottom. Painted
/// directly: a plot widget per row would cost far more per frame.
pub fn sparkline(ui: &mut egui::Ui, times: &[Option<f32>]) -> egui::Response {
    let (response, painter) = ui.allocate_painter(SPARK, egui::Sense::hover());
    let rect = response.rect;
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let max = times.iter().flatten().fold(1.0_f32, |m, t| m.max(*t));
    let n = times.len().max(2) - 1;
    let x = |i: usize| rect.left() + rect.width() * i as f32 / n as f32;
    let y = |t: f32| rect.bottom() - 1.0 - (rect.height() - 2.0) * t / max;
    let mut line: Vec<egui::Pos2> = Vec::with_capacity(times.len());
    let stroke = egui::Stroke::new(1.2, widgets::GREEN);
    for (i, time) in times.iter().enumerate() {
        match time {
            Some(t) => line.push(egui::pos2(x(i), y(*t))),
            None => {
                // A gap in the line where the poll failed.
                if line.len() > 1 {
                    painter.line(std::mem::take(&mut line), stroke);
                }
                line.clear();
                painter.vline(
                    x(i),
                    (rect.bottom() - 5.0)..=rect.bottom(),
                    egui::Stroke::new(1.5, widgets::RED),
                );
            }
        }
    }
    if line.len() > 1 {
        painter.line(line, stroke);
    } else if let Some(p) = line.first() {
        painter.circle_filled(*p, 1.5, widgets::GREEN);
    }
    let last = times.iter().rev().flatten().next();
    response.on_hover_text(match last {
        Some(t) => format!(
            "{} recent poll(s), slowest {max:.0} ms, last {t:.0} ms",
            times.len()
        ),
        None => format!("{} recent poll(s), none answered", times.len()),
    })
}

/// The DNS servers × host names of a set that updates DNS.
pub fn dns_pairs(ui: &mut egui::Ui, pairs: &[DnsPairView]) {
    egui::Grid::new("dns_pairs")
        .num_columns(7)
        .striped(true)
        .spacing([14.0, 4.0])
        .show(ui, |ui| {
            for title in [
                "DNS server",
                "Host name",
                "State",
                "Records served",
                "Propagation",
                "Last change (UTC)",
                "Error",
            ] {
                ui.label(RichText::new(title).strong());
            }
            ui.end_row();
            for pair in pairs {
                ui.label(&pair.dns_server);
                ui.label(&pair.host);
                let state = if pair.in_flight {
                    format!("{} (checking...)", pair.state.label())
                } else {
                    pair.state.label().to_string()
                };
                ui.label(RichText::new(state).color(state_color(pair.state)));
                ui.label(pair.served.as_deref().unwrap_or("–"));
                ui.label(
                    pair.propagation
                        .map(|p| p.to_string())
                        .unwrap_or_else(|| "–".into()),
                );
                ui.label(widgets::clock_or_dash(pair.last_change));
                match (&pair.error, pair.error_code) {
                    (Some(e), Some(code)) => {
                        widgets::clipped_label(ui, &format!("{code}: {e}"), 80);
                    }
                    (Some(e), None) => widgets::clipped_label(ui, e, 80),
                    (None, _) => {
                        ui.label("");
                    }
                }
                ui.end_row();
            }
        });
}

fn state_color(state: PairState) -> Color32 {
    match state {
        PairState::Matched | PairState::Updated => widgets::GREEN,
        PairState::Failed => widgets::RED,
        PairState::Pending => widgets::GREY,
    }
}

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

/// The column titles of the servers table.
pub const SERVER_COLUMNS: [&str; 12] = [
    "",
    "Server",
    "Address",
    "Status",
    "Last response",
    "Time",
    "Uptime 24 h",
    "Recent",
    "Successes",
    "Failures",
    "Last success (UTC)",
    "Last failure (UTC)",
];

/// The servers of a set as a table whose columns resize (drag a header's edge; the
/// widths are remembered with the window) and which scrolls sideways inside the tab's
/// scroll area when it is wider than the window; an expanded row shows *Polling
/// history...*, *Ping...* and *What if it fails...*.
pub fn servers(
    ui: &mut egui::Ui,
    set: &SetStatus,
    uptime: &crate::store::report::UptimeReport,
    cluster: Option<&crate::engine::ClusterStatus>,
    expanded: &mut ExpandedRows,
    requests: &mut Vec<DialogRequest>,
) {
    use egui_extras::{Column, TableBuilder};
    let row_height = ui.spacing().interact_size.y + 4.0;
    // Not clipped: a column grows to what it shows (a response time appears after the
    // first frame); the operator can still drag it wider.
    let auto = || Column::auto().resizable(true).at_least(24.0);
    let table = TableBuilder::new(ui)
        .id_salt(("servers", set.name.as_str()))
        .striped(true)
        // The tab's own scroll area scrolls, both ways; a table scrolling inside it
        // would hide its rows behind a second bar.
        .vscroll(false)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::exact(24.0))
        // The Server column: a width of its own (dragged wider for long names), not
        // measured, because an expanded row's buttons run on from it.
        .column(
            Column::initial(170.0)
                .resizable(true)
                .clip(true)
                .at_least(60.0),
        )
        .column(auto())
        .column(auto())
        .column(
            Column::initial(220.0)
                .resizable(true)
                .clip(true)
                .at_least(60.0),
        )
        .column(auto())
        .column(auto())
        .column(Column::exact(SPARK.x + 8.0))
        .column(auto())
        .column(auto())
        .column(auto())
        .column(auto());
    // The table's right edge (its last column's, as the header lays it out): an expanded
    // row's background ends there, as the other rows' stripes do.
    let mut right = f32::INFINITY;
    table
        .header(row_height, |mut header| {
            for title in SERVER_COLUMNS {
                header.col(|ui| {
                    ui.label(RichText::new(title).strong());
                    right = ui.max_rect().max.x;
                });
            }
        })
        .body(|mut body| {
            for server in &set.servers {
                let open = expanded.is_open(&set.name, &server.public_ip);
                let figures = uptime.server(&set.name, &server.public_ip);
                body.row(row_height, |mut row| {
                    row.col(|ui| {
                        // Plain ASCII: the default fonts have no triangle glyphs.
                        let arrow = if open { "-" } else { "+" };
                        if ui
                            .small_button(arrow)
                            .on_hover_text("Show the server's actions")
                            .clicked()
                        {
                            expanded.toggle(&set.name, &server.public_ip);
                        }
                    });
                    // Cluster mode: what the instances see ("failed at 2 of 3: berlin, paris").
                    let view = cluster.and_then(|c| c.server(&set.name, &server.public_ip));
                    server_row(&mut row, server, figures, view, &set.name, requests);
                });
                if open {
                    // The body's visible area: the buttons below may paint across it.
                    let visible = body.ui_mut().clip_rect();
                    body.row(row_height, |mut row| {
                        // egui_extras stripes the even rows.
                        let striped = row.index().is_multiple_of(2);
                        row.col(|_| {});
                        // The buttons start under the server's name and run across the
                        // row's other cells (empty in this row); the Server column keeps
                        // its width (it is not sized by what it holds), so opening a row
                        // widens no column.
                        row.col(|ui| {
                            expanded_row(ui, visible, right, striped, |ui| {
                                row_actions(ui, &set.name, server, requests);
                            });
                        });
                    });
                }
            }
        });
}

/// An expanded row's content, from its Server cell (`ui`) to the table's `right` edge.
/// The table paints its column dividers after all its rows, so they would cross the
/// buttons: the content goes on a layer of its own just above the table's, over the
/// row's own background (the panel's fill, striped like the table's other rows), which
/// hides the dividers inside the row. The buttons, being on top, also win a click over a
/// divider's drag handle.
fn expanded_row(
    ui: &mut egui::Ui,
    visible: egui::Rect,
    right: f32,
    striped: bool,
    add: impl FnOnce(&mut egui::Ui),
) {
    let cell = ui.max_rect();
    let gap = ui.spacing().item_spacing * 0.5;
    let background = egui::Rect::from_min_max(
        cell.min - gap,
        // One point past the last divider, whose stroke is centred on its x.
        egui::pos2(right.min(visible.max.x) + gap.x + 1.0, cell.max.y + gap.y),
    );
    let layer = egui::LayerId::new(ui.layer_id().order, ui.scope_id().with("expanded_row"));
    ui.ctx().set_sublayer(ui.layer_id(), layer);
    let mut rect = cell;
    rect.max.x = rect.min.x + 2000.0;
    ui.scope_builder(
        egui::UiBuilder::new()
            .layer_id(layer)
            .max_rect(rect)
            .layout(egui::Layout::left_to_right(egui::Align::Center)),
        |ui| {
            ui.set_clip_rect(visible);
            let painter = ui.painter();
            painter.rect_filled(background, 0.0, ui.visuals().panel_fill);
            if striped {
                painter.rect_filled(background, 0.0, ui.visuals().faint_bg_color);
            }
            add(ui);
        },
    );
}

/// An expanded row's buttons: the history, a ping, What if, and the operator's actions.
fn row_actions(
    ui: &mut egui::Ui,
    set: &str,
    server: &ServerView,
    requests: &mut Vec<DialogRequest>,
) {
    if ui.button("Polling history...").clicked() {
        requests.push(DialogRequest::History {
            set: set.to_string(),
            server: Some(server.public_ip.clone()),
        });
    }
    if ui.button("Ping...").clicked() {
        // The poll address: the one this machine can reach (NAT).
        requests.push(DialogRequest::Ping(server.poll_ip.clone()));
    }
    if ui.button("What if it fails...").clicked() {
        requests.push(DialogRequest::WhatIf {
            set: set.to_string(),
            server: Some(server.public_ip.clone()),
        });
    }
    admin_actions(ui, set, server, requests);
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

/// One server's cells after the expand button; its name's context menu holds the
/// operator's actions.
fn server_row(
    row: &mut egui_extras::TableRow<'_, '_>,
    server: &ServerView,
    uptime: Option<&crate::store::report::ServerUptime>,
    cluster: Option<&crate::engine::cluster_status::ServerClusterView>,
    set: &str,
    requests: &mut Vec<DialogRequest>,
) {
    row.col(|ui| {
        ui.add(egui::Label::new(&server.name).sense(egui::Sense::click()))
            .on_hover_text("Right-click: force up or down")
            .context_menu(|ui| admin_actions(ui, set, server, requests));
    });
    row.col(|ui| {
        if server.poll_ip.is_empty() || server.poll_ip == server.public_ip {
            ui.label(&server.public_ip);
        } else {
            ui.label(format!(
                "{} (polled at {})",
                server.public_ip, server.poll_ip
            ));
        }
    });
    row.col(|ui| {
        ui.label(widgets::status_text(ui, server.status));
        for note in admin_notes(&server.admin) {
            ui.label(RichText::new(note).italics());
        }
        if let Some(view) = cluster {
            ui.label(RichText::new(format!("cluster: {}", view.describe())).italics());
        }
    });
    row.col(|ui| widgets::clipped_label(ui, &server.last_response, 60));
    row.col(|ui| {
        ui.label(
            server
                .last_response_time
                .map(widgets::duration_ms)
                .unwrap_or_else(|| "–".into()),
        );
    });
    row.col(|ui| uptime_cell(ui, uptime));
    row.col(|ui| {
        sparkline(ui, &server.recent_times_ms);
    });
    row.col(|ui| {
        ui.label(server.successes.to_string());
    });
    row.col(|ui| {
        ui.label(server.failures.to_string());
    });
    row.col(|ui| {
        ui.label(widgets::clock_or_dash(server.last_success));
    });
    row.col(|ui| {
        ui.label(widgets::clock_or_dash(server.last_failure));
    });
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
    let colors = widgets::spark_colors(ui.visuals().dark_mode);
    painter.rect(
        rect,
        2.0,
        colors.background,
        egui::Stroke::new(1.0, colors.border),
        egui::StrokeKind::Inside,
    );
    // Scaled to the slowest shown, however fast: loopback polls take microseconds.
    let max = times.iter().flatten().fold(0.0_f32, |m, t| m.max(*t));
    let scale = max.max(1e-3);
    let n = times.len().max(2) - 1;
    // Inset from the border: the slowest poll drew its line on the top edge, where it
    // merged with the border and could not be told apart (seen on the light theme).
    let inner = rect.shrink2(egui::vec2(2.0, 3.0));
    let x = |i: usize| inner.left() + inner.width() * i as f32 / n as f32;
    let y = |t: f32| inner.bottom() - inner.height() * t / scale;
    let mut line: Vec<egui::Pos2> = Vec::with_capacity(times.len());
    let stroke = egui::Stroke::new(1.5, colors.line);
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
                    egui::Stroke::new(1.5, colors.failure),
                );
            }
        }
    }
    if line.len() > 1 {
        painter.line(line, stroke);
    } else if let Some(p) = line.first() {
        painter.circle_filled(*p, 1.5, colors.line);
    }
    let last = times.iter().rev().flatten().next();
    response.on_hover_text(match last {
        Some(t) => format!(
            "{} recent poll(s), slowest {}, last {}",
            times.len(),
            widgets::millis(f64::from(max)),
            widgets::millis(f64::from(*t))
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
                // DNS carries an international name in punycode; people read Unicode.
                ui.label(crate::model::idn::to_unicode(&pair.host));
                let state = if pair.in_flight {
                    format!("{} (checking...)", pair.state.label())
                } else {
                    pair.state.label().to_string()
                };
                ui.label(RichText::new(state).color(widgets::tone(ui, state_color(pair.state))));
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

//! Parts of the History dialog: the uptime figures of the chosen set or server (from the
//! snapshot's report), the lists to choose a set, server or event kind from, and the
//! table of events.

use eframe::egui::{self, RichText};

use crate::engine::SetStatus;
use crate::store::events::{EventKind, HistoryEvent};
use crate::store::history::iso_utc;
use crate::store::report::{PERIODS, Uptime, UptimeReport};
use crate::ui::{forms, widgets};

/// A list to choose one of `items` or none (`all`); `true` when the choice changed.
pub fn choose(
    ui: &mut egui::Ui,
    label: &str,
    all: &str,
    items: &[String],
    value: &mut String,
) -> bool {
    let before = value.clone();
    let label = forms::help_label(ui, label);
    let shown = if value.is_empty() {
        all.to_string()
    } else {
        value.clone()
    };
    egui::ComboBox::from_id_salt(label.id)
        .selected_text(shown)
        .width(160.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(value, String::new(), all);
            for item in items {
                ui.selectable_value(value, item.clone(), item);
            }
        })
        .response
        .labelled_by(label.id);
    *value != before
}

/// The list of event kinds; `true` when the choice changed.
pub fn choose_kind(ui: &mut egui::Ui, kind: &mut Option<EventKind>) -> bool {
    let before = *kind;
    let label = forms::help_label(ui, "Kind:");
    egui::ComboBox::from_id_salt("history event kind")
        .selected_text(kind.map_or("All kinds", EventKind::label))
        .width(160.0)
        .show_ui(ui, |ui| {
            ui.selectable_value(kind, None, "All kinds");
            for k in EventKind::ALL {
                ui.selectable_value(kind, Some(k), k.label());
            }
        })
        .response
        .labelled_by(label.id);
    *kind != before
}

/// `99.95 %` with sensible precision, `–` without polls.
pub fn percent(u: &Uptime) -> String {
    match u.percent() {
        None => "–".into(),
        Some(p) if (99.0..100.0).contains(&p) => format!("{p:.2} %"),
        Some(p) => format!("{p:.1} %"),
    }
}

/// A response time in ms with sensible precision (`0.20` under 10 ms, not `0`), `–`
/// without one.
pub fn ms(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v < 10.0 => format!("{v:.2}"),
        Some(v) => format!("{v:.0}"),
    }
}

/// The chosen server's (else set's, else every set's) uptime and percentiles per period.
/// The rows are the snapshot's sets (or the chosen server), with dashes until the report
/// has them: the grid keeps its shape when the report comes, so nothing below it moves
/// under a pointer about to click.
pub fn uptime(
    ui: &mut egui::Ui,
    sets: &[std::sync::Arc<SetStatus>],
    report: &UptimeReport,
    set: &str,
    server: &str,
) {
    let rows: Vec<(String, Option<&[Uptime]>)> = sets
        .iter()
        .filter(|s| set.is_empty() || s.name == set)
        .flat_map(|s| {
            let found = report.sets.iter().find(|r| r.set == s.name);
            if server.is_empty() {
                vec![(s.name.clone(), found.map(|r| r.periods.as_slice()))]
            } else if s.servers.iter().any(|v| v.public_ip == server) {
                let own = found
                    .and_then(|r| r.servers.iter().find(|v| v.server == server))
                    .map(|v| v.periods.as_slice());
                vec![(format!("{} / {server}", s.name), own)]
            } else {
                vec![]
            }
        })
        .collect();
    egui::Grid::new("history uptime")
        .num_columns(1 + 2 * PERIODS.len())
        .spacing([12.0, 2.0])
        .striped(true)
        .show(ui, |ui| {
            if report.at.is_none() {
                ui.label(RichText::new("Uptime: not computed yet").strong().italics());
            } else {
                ui.label(RichText::new("Uptime").strong());
            }
            for (name, _) in PERIODS {
                ui.label(RichText::new(name).strong());
                ui.label(RichText::new(format!("p50/p95/p99 ms ({name})")).strong());
            }
            ui.end_row();
            for (name, periods) in rows.iter().take(20) {
                ui.label(name);
                match periods {
                    Some(periods) => {
                        for u in *periods {
                            ui.label(percent(u)).on_hover_text(format!(
                                "{} poll(s), {} failed",
                                u.polls, u.failures
                            ));
                            ui.label(format!(
                                "{} / {} / {}",
                                ms(u.p50_ms),
                                ms(u.p95_ms),
                                ms(u.p99_ms)
                            ));
                        }
                    }
                    None => {
                        for _ in PERIODS {
                            ui.label("–");
                            ui.label("– / – / –");
                        }
                    }
                }
                ui.end_row();
            }
        });
}

/// The events, newest last; only the visible rows are laid out.
pub fn events_table(ui: &mut egui::Ui, events: &[HistoryEvent]) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, row_height, events.len(), |ui, range| {
            egui::Grid::new("history events")
                .num_columns(5)
                .spacing([12.0, 2.0])
                .striped(true)
                .show(ui, |ui| {
                    for e in &events[range] {
                        ui.label(iso_utc(e.time));
                        let kind = RichText::new(e.kind.label());
                        ui.label(if e.kind == EventKind::NotificationFailed {
                            kind.color(widgets::tone(ui, widgets::RED))
                        } else {
                            kind
                        });
                        ui.label(&e.set);
                        ui.label(&e.server);
                        ui.label(widgets::clip(&e.text, 120));
                        ui.end_row();
                    }
                });
        });
}

#[cfg(test)]
mod tests {
    #[test]
    fn response_times_under_a_millisecond_keep_their_digits() {
        assert_eq!(super::ms(Some(0.2)), "0.20");
        assert_eq!(super::ms(Some(0.05)), "0.05");
        assert_eq!(super::ms(Some(123.4)), "123");
        assert_eq!(super::ms(None), "–");
    }
}

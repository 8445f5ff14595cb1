//! The set dialog's Maintenance page: the set's windows and each server's, one-off and
//! weekly (days of the week, a time range, a named time zone), added, edited and removed
//! in the draft like every other field.

use eframe::egui;

use crate::model::{Day, Maintenance, ServerSet};
use crate::ui::forms::{self, Form};

const DAYS: [(Day, &str); 7] = [
    (Day::Mon, "Mon"),
    (Day::Tue, "Tue"),
    (Day::Wed, "Wed"),
    (Day::Thu, "Thu"),
    (Day::Fri, "Fri"),
    (Day::Sat, "Sat"),
    (Day::Sun, "Sun"),
];

/// Draws the page for the set `d`.
pub fn show(ui: &mut egui::Ui, form: &mut Form, d: &mut ServerSet) {
    forms::note(
        ui,
        "While a window lasts, its servers count as disabled and their failures are not \
         notified. Times are RFC 3339 (2026-12-01T22:00:00Z); a weekly end before its start \
         runs past midnight.",
    );
    forms::section_heading(ui, "Every server of the set");
    windows(ui, form, "maintenance", "the set", &mut d.maintenance);
    for (k, server) in d.servers.iter_mut().enumerate() {
        let who = server.public_ip.trim().to_string();
        forms::section_heading(ui, &format!("Server {who}"));
        windows(
            ui,
            form,
            &format!("servers[{k}].maintenance"),
            &who,
            &mut server.maintenance,
        );
    }
}

/// One list of windows at `path`, with its add buttons (named after `who`).
fn windows(ui: &mut egui::Ui, form: &mut Form, path: &str, who: &str, list: &mut Vec<Maintenance>) {
    let mut remove = None;
    for (j, window) in list.iter_mut().enumerate() {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            if window_fields(ui, form, &format!("{path}[{j}]"), window) {
                remove = Some(j);
            }
        });
    }
    if let Some(j) = remove {
        list.remove(j);
    }
    ui.horizontal(|ui| {
        if ui.button(format!("Add weekly window for {who}")).clicked() {
            list.push(Maintenance::Weekly {
                days: Vec::new(),
                start: "22:00".into(),
                end: "23:00".into(),
                time_zone: "UTC".into(),
            });
        }
        if ui.button(format!("Add one-off window for {who}")).clicked() {
            // From now for an hour, to be edited.
            let now = std::time::SystemTime::now();
            list.push(Maintenance::once(now, std::time::Duration::from_secs(3600)));
        }
    });
}

/// The fields of one window; true when its Remove button was clicked.
fn window_fields(ui: &mut egui::Ui, form: &mut Form, path: &str, window: &mut Maintenance) -> bool {
    let mut remove = false;
    forms::grid(ui, path, |ui| match window {
        Maintenance::Once { from, to } => {
            let p = format!("{path}.Once");
            form.text(ui, "One-off from:", &format!("{p}.from"), from, None);
            form.text(ui, "To:", &format!("{p}.to"), to, None);
            ui.label("");
            remove = ui.button("Remove window").clicked();
            ui.end_row();
        }
        Maintenance::Weekly {
            days,
            start,
            end,
            time_zone,
        } => {
            let p = format!("{path}.Weekly");
            form.row(ui, "Weekly on:", &format!("{p}.days"), |ui| {
                for (day, name) in DAYS {
                    let mut on = days.contains(&day);
                    if ui.checkbox(&mut on, name).changed() {
                        // Kept in the week's order, whatever order they were ticked in.
                        days.retain(|d| *d != day);
                        if on {
                            days.push(day);
                            days.sort_by_key(|d| DAYS.iter().position(|(x, _)| x == d));
                        }
                    }
                }
            });
            form.text(ui, "From (HH:MM):", &format!("{p}.start"), start, None);
            form.text(ui, "To (HH:MM):", &format!("{p}.end"), end, None);
            form.text(ui, "Time zone:", &format!("{p}.time_zone"), time_zone, None);
            ui.label("");
            remove = ui.button("Remove window").clicked();
            ui.end_row();
        }
    });
    remove
}

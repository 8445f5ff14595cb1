//! The Server Sets tab: the list of sets on the left, the selected set on the right.

use eframe::egui::{self, RichText};

use crate::engine::{Command, Inbound, SetStatus, Snapshot};
use crate::ui::dialogs::DialogRequest;
use crate::ui::tabs::set_status::{self, ExpandedRows};
use crate::ui::widgets;

/// What the tab remembers between frames.
#[derive(Default)]
pub struct SetsView {
    /// The selected set, by name; `None` (or a name that is gone) = the first set.
    pub selected: Option<String>,
    /// Server rows opened to show their actions.
    pub expanded: ExpandedRows,
}

impl SetsView {
    /// The set to show on the right.
    pub fn selected<'a>(&self, snapshot: &'a Snapshot) -> Option<&'a SetStatus> {
        self.selected
            .as_deref()
            .and_then(|name| snapshot.set(name))
            .or_else(|| snapshot.sets.first().map(|s| s.as_ref()))
    }
}

/// The tab's buttons, for the tool bar: New server set, then those of the selected set.
pub fn tool_buttons(
    ui: &mut egui::Ui,
    snapshot: &Snapshot,
    view: &SetsView,
    outbox: &mut Vec<Inbound>,
    requests: &mut Vec<DialogRequest>,
) {
    if ui.button("New server set").clicked() {
        requests.push(DialogRequest::NewSet);
    }
    let Some(set) = view.selected(snapshot) else {
        return;
    };
    let (label, command) = if set.paused {
        ("Resume", Command::ResumeSet(set.name.clone()))
    } else {
        ("Pause", Command::PauseSet(set.name.clone()))
    };
    if ui.button(label).clicked() {
        outbox.push(command.into());
    }
    if ui.button("Poll now").clicked() {
        outbox.push(Command::PollSet(set.name.clone()).into());
    }
    if ui.button("Delete").clicked() {
        requests.push(DialogRequest::Delete(set.name.clone()));
    }
    if ui.button("Properties").clicked() {
        requests.push(DialogRequest::Properties(set.name.clone()));
    }
    if ui
        .button("What if...")
        .on_hover_text("Which DNS changes a failure of chosen servers would cause")
        .clicked()
    {
        requests.push(DialogRequest::WhatIf {
            set: set.name.clone(),
            server: None,
        });
    }
}

/// Draws the tab; commands for the engine go to `outbox`.
pub fn show(
    ui: &mut egui::Ui,
    snapshot: &Snapshot,
    view: &mut SetsView,
    requests: &mut Vec<DialogRequest>,
) {
    let selected_name = view.selected(snapshot).map(|s| s.name.clone());
    egui::Panel::left("server_set_list")
        .resizable(true)
        .default_size(220.0)
        .min_size(140.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical()
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    if snapshot.sets.is_empty() {
                        ui.label("No server sets yet.");
                    }
                    for set in &snapshot.sets {
                        ui.horizontal(|ui| {
                            widgets::health_icon(ui, set.health, 16.0);
                            let selected = selected_name.as_deref() == Some(set.name.as_str());
                            if ui
                                .add(egui::Button::selectable(selected, set.name.as_str()))
                                .clicked()
                            {
                                view.selected = Some(set.name.clone());
                            }
                        });
                    }
                });
        });
    egui::ScrollArea::both()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // A little air between the list's edge and the set.
            let margin = egui::Margin {
                left: 8,
                ..Default::default()
            };
            egui::Frame::new()
                .inner_margin(margin)
                .show(ui, |ui| match view.selected(snapshot) {
                    Some(set) => show_set(ui, set, snapshot, &mut view.expanded, requests),
                    None => crate::ui::tabs::first_run::show(ui, requests),
                });
        });
}

/// `60 s`, or `10 s (lower: a server has failed)` while the lower TTL is given.
fn ttl_text(set: &SetStatus) -> String {
    match set.low_ttl {
        Some(reason) => format!("{} s (lower: {})", set.ttl, reason.label()),
        None => format!("{} s", set.ttl),
    }
}

fn show_set(
    ui: &mut egui::Ui,
    set: &SetStatus,
    snapshot: &crate::engine::Snapshot,
    expanded: &mut ExpandedRows,
    requests: &mut Vec<DialogRequest>,
) {
    ui.horizontal(|ui| {
        widgets::health_icon(ui, set.health, 22.0);
        ui.label(RichText::new(format!("Server set: {}", set.name)).heading());
    });
    ui.add_space(4.0);
    egui::Grid::new("set_facts")
        .num_columns(2)
        .spacing([12.0, 4.0])
        .show(ui, |ui| {
            ui.label("Polling method:");
            ui.label(set.method.as_ref());
            ui.end_row();
            ui.label("Host names:");
            if set.host_names.is_empty() {
                ui.label(RichText::new("none").italics());
            } else {
                ui.label(set.host_names.join(", "));
            }
            ui.end_row();
            ui.label("DNS should give:");
            ui.label(set.decision.describe());
            ui.end_row();
            if !set.host_names.is_empty() {
                ui.label("TTL:");
                ui.label(ttl_text(set));
                ui.end_row();
            }
            if set.paused {
                ui.label("State:");
                ui.label("paused");
                ui.end_row();
            }
            if let Some(error) = &set.error {
                ui.label("Error:");
                ui.label(RichText::new(error).color(widgets::tone(ui, widgets::RED)));
                ui.end_row();
            }
        });
    ui.add_space(8.0);
    ui.separator();
    if set.servers.is_empty() {
        ui.label("This set has no servers.");
        return;
    }
    let cluster = snapshot.cluster.as_deref();
    set_status::servers(ui, set, &snapshot.uptime, cluster, expanded, requests);
    if !set.dns.is_empty() {
        ui.add_space(12.0);
        ui.separator();
        ui.label(RichText::new("DNS servers × host names").strong());
        set_status::dns_pairs(ui, &set.dns);
    }
}

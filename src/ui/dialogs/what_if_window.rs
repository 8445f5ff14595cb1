//! The *What if* window (SPEC §11): tick servers of a set and see which DNS changes their
//! failure would cause, how soon, and on which DNS servers. Worked out on every frame by
//! the engine's own decision (`engine::what_if`), from the snapshot: no IO, no command.

use eframe::egui::{self, RichText};

use crate::engine::Snapshot;
use crate::engine::server_state::ServerStatus;
use crate::engine::what_if::{WhatIf, failure_of};

pub struct WhatIfWindow {
    pub set: String,
    /// Public addresses of the servers ticked as failing.
    failing: Vec<String>,
}

impl WhatIfWindow {
    /// The window for `set`, with `server` (a public address) ticked.
    pub fn new(set: String, server: Option<String>) -> Self {
        Self {
            set,
            failing: server.into_iter().collect(),
        }
    }

    /// Draws the window; returns whether it stays open.
    pub fn show(&mut self, ctx: &egui::Context, snapshot: &Snapshot) -> bool {
        let mut open = true;
        let mut close = false;
        egui::Window::new(format!("What if: {}", self.set))
            .id(egui::Id::unique("what if window"))
            .open(&mut open)
            .collapsible(false)
            .resizable(true)
            .default_width(520.0)
            // Low on the screen: the servers and the DNS pairs it speaks of stay in sight.
            .pivot(egui::Align2::RIGHT_BOTTOM)
            .default_pos(ctx.content_rect().right_bottom() - egui::vec2(24.0, 40.0))
            .show(ctx, |ui| {
                self.body(ui, snapshot);
                ui.separator();
                if ui.button("Close").clicked() {
                    close = true;
                }
            });
        open && !close
    }

    fn body(&mut self, ui: &mut egui::Ui, snapshot: &Snapshot) {
        let config = snapshot
            .settings
            .server_sets
            .iter()
            .find(|s| s.name == self.set);
        let (Some(config), Some(status)) = (config, snapshot.set(&self.set)) else {
            ui.label("This server set no longer exists.");
            return;
        };
        ui.label(format!("If these servers of {:?} failed:", self.set));
        let mut statuses = Vec::with_capacity(config.servers.len());
        let mut ticks = Vec::with_capacity(config.servers.len());
        for server in &config.servers {
            let now = status
                .servers
                .iter()
                .find(|v| v.public_ip == server.public_ip)
                .map(|v| v.status)
                .unwrap_or_default();
            statuses.push(now);
            let mut failing = self.failing.contains(&server.public_ip);
            let text = format!(
                "{} ({}) — {} now",
                server.display_name(),
                server.public_ip,
                now.label()
            );
            // A disabled server is out of the set already: its failure changes nothing.
            let enabled = now != ServerStatus::Disabled;
            if ui
                .add_enabled(enabled, egui::Checkbox::new(&mut failing, text))
                .changed()
            {
                self.failing.retain(|ip| *ip != server.public_ip);
                if failing {
                    self.failing.push(server.public_ip.clone());
                }
            }
            ticks.push(failing);
        }
        ui.separator();
        if !ticks.contains(&true) {
            ui.label("Tick the servers whose failure you want to see.");
            return;
        }
        match failure_of(
            config,
            &statuses,
            &ticks,
            &snapshot.settings.options.dns_updating,
        ) {
            Ok(what_if) => consequences(ui, &what_if),
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e.to_string());
            }
        }
    }
}

/// The answer, in the order an operator asks: what DNS gives, where it changes, how soon.
fn consequences(ui: &mut egui::Ui, w: &WhatIf) {
    ui.label(format!("DNS gives now: {}", w.now.describe()));
    if w.all_failed {
        ui.label("Every server of the set would have failed.");
    }
    if w.changes_dns() {
        ui.label(RichText::new(format!("It would give: {}", w.then.describe())).strong());
        if w.dns_servers.is_empty() {
            ui.label("The set updates no DNS server (only DNS served by Standby would change).");
        } else {
            ui.label(format!(
                "Updated on {} for {}.",
                w.dns_servers.join(", "),
                w.host_names.join(", ")
            ));
        }
        ui.label(format!(
            "Noticed within about {} of the failure (the next poll, then it and its retries \
             timing out); resolvers may give the old records for up to {} s (the TTL) after.",
            crate::model::duration::format(w.detect_within),
            w.ttl
        ));
    } else {
        ui.label(RichText::new(format!("DNS would not change ({}).", w.then.describe())).strong());
    }
    if !w.pausing.is_empty() {
        ui.label(format!(
            "The set would then be paused ({} pauses it on failure): no failback until it is \
             resumed by hand.",
            w.pausing.join(", ")
        ));
    }
    if !w.assumed_working.is_empty() {
        ui.label(format!(
            "Assuming {} work: no poll result yet.",
            w.assumed_working.join(", ")
        ));
    }
}

//! The *Cluster* window (issue 13 item 6): the instances (live, leader, lease age), the
//! leader and since when, etcd's health and the shared settings' state, from the snapshot
//! (no IO). Without a cluster view — alone, or etcd unreachable — it says why.

use std::time::SystemTime;

use eframe::egui::{self, RichText};

use crate::cluster::shared_settings::Reach;
use crate::engine::Snapshot;
use crate::engine::cluster_status::no_view_note;

/// Seconds since `then`, in words.
fn ago(now: SystemTime, then: SystemTime) -> String {
    let secs = now
        .duration_since(then)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    format!("{secs:.1} s ago")
}

/// Draws the window; returns whether it stays open.
pub fn show(ctx: &egui::Context, snapshot: &Snapshot) -> bool {
    let mut open = true;
    let mut close = false;
    egui::Window::new("Cluster")
        .id(egui::Id::unique("cluster window"))
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .default_width(460.0)
        .show(ctx, |ui| {
            body(ui, snapshot, SystemTime::now());
            ui.separator();
            if ui.button("Close").clicked() {
                close = true;
            }
        });
    open && !close
}

fn body(ui: &mut egui::Ui, snapshot: &Snapshot, now: SystemTime) {
    let shared = &snapshot.shared_settings;
    if let Some(section) = &snapshot.settings.cluster {
        ui.label(format!(
            "This instance: {} in cluster {:?}; quorum: {}; lease {} s.",
            section.instance,
            section.name,
            section.quorum.describe(),
            section.lease_secs
        ));
        let settings = match &shared.etcd {
            Reach::NotYet => {
                "Shared settings: etcd not read yet (running on the local copy).".into()
            }
            Reach::Reachable => format!(
                "Shared settings: etcd revision {} in force ({}).",
                shared.revision, shared.key
            ),
            Reach::Unreachable { since, why } => format!(
                "Shared settings: etcd unreachable since {} ({why}); running on the local copy.",
                ago(now, *since)
            ),
        };
        ui.label(settings);
        if let Some(why) = &shared.refused {
            ui.label(
                RichText::new(format!("etcd's newest shared settings are not used: {why}"))
                    .color(crate::ui::widgets::tone(ui, crate::ui::widgets::RED)),
            );
        }
    }
    let Some(c) = snapshot.cluster.as_deref() else {
        ui.label(RichText::new(no_view_note(snapshot)).strong());
        return;
    };
    let etcd = if c.etcd.reachable {
        "etcd: reachable".to_string()
    } else {
        format!(
            "etcd: UNREACHABLE ({})",
            c.etcd.error.as_deref().unwrap_or("no answer")
        )
    };
    ui.label(etcd);
    match (&c.leader, c.leader_since) {
        (Some(leader), Some(since)) => {
            ui.label(format!("Leader: {leader} (since {})", ago(now, since)))
        }
        (Some(leader), None) => ui.label(format!("Leader: {leader}")),
        (None, _) => ui.label("Leader: none (no instance writes DNS now)"),
    };
    egui::Grid::new("cluster instances")
        .striped(true)
        .show(ui, |ui| {
            ui.strong("Instance");
            ui.strong("State");
            ui.strong("Last heartbeat (lease age)");
            ui.end_row();
            for i in &c.instances {
                let mut name = i.name.clone();
                if i.is_leader {
                    name.push_str(" (leader)");
                }
                ui.label(name);
                ui.label(if i.live { "live" } else { "lease expired" });
                ui.label(i.last_heartbeat.map_or("never".into(), |t| ago(now, t)));
                ui.end_row();
            }
        });
}

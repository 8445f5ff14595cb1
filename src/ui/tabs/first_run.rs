//! What the Server Sets tab shows while there are no sets: a first start's two ways in.

use eframe::egui::{self, RichText};

use crate::ui::dialogs::DialogRequest;

/// The first-run screen: *New server set...* (the guided path: servers, method, DNS) and
/// *Open an example* (a set that pings this machine, DNS updating off).
pub fn show(ui: &mut egui::Ui, requests: &mut Vec<DialogRequest>) {
    ui.add_space(24.0);
    ui.vertical(|ui| {
        ui.label(RichText::new("Welcome to Standby").heading());
        ui.add_space(6.0);
        ui.add(
            egui::Label::new(
                "Standby polls the servers of a server set, decides which of them work and \
                 keeps the set's host names pointing at those. There are no server sets yet.",
            )
            .wrap(),
        );
        ui.add_space(12.0);
        ui.horizontal(|ui| {
            if ui
                .button(RichText::new("New server set...").strong())
                .on_hover_text("Three steps: the servers, how to poll them, the host names")
                .clicked()
            {
                requests.push(DialogRequest::FirstSet);
            }
            // Wrapped: the tab scrolls sideways, so a long line would run out of view.
            ui.add(
                egui::Label::new(
                    "Step by step: your servers, how to poll them, the DNS names they serve.",
                )
                .wrap(),
            );
        });
        ui.add_space(6.0);
        ui.horizontal(|ui| {
            if ui
                .button("Open an example")
                .on_hover_text("Adds a set that pings this machine; DNS updating stays off")
                .clicked()
            {
                requests.push(DialogRequest::Example);
            }
            ui.add(
                egui::Label::new(
                    "A set that pings this machine's own loopback addresses: within seconds \
                     you see their statuses, the log and what DNS should give. It changes no \
                     DNS.",
                )
                .wrap(),
            );
        });
    });
}

//! The frame every dialog shares: its window, the OK / Cancel / ? row under its fields,
//! and the layout of those fields (scrolled body, section headings, label / field grid).
//! How the fields themselves edit and validate a draft is in [`crate::ui::forms`], which
//! re-exports these so that a dialog needs only `forms`.

use eframe::egui::{self, Color32, Id, RichText};

use crate::ui::help::HelpTopic;

/// How a dialog ended this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Ok,
    Cancel,
}

/// The row at the bottom of every dialog: OK (disabled while anything is wrong, with the
/// reason on hover), Cancel and ?. F1 opens the help too, for the dialog on top.
pub fn buttons(
    ui: &mut egui::Ui,
    ok_enabled: bool,
    why_not: &str,
    topic: HelpTopic,
    help: &mut Option<HelpTopic>,
) -> Outcome {
    let mut outcome = Outcome::Open;
    ui.separator();
    ui.horizontal(|ui| {
        let ok = ui
            .add_enabled(
                ok_enabled,
                egui::Button::new("OK").min_size(egui::vec2(70.0, 0.0)),
            )
            .on_disabled_hover_text(why_not);
        if ok.clicked() {
            outcome = Outcome::Ok;
        }
        if ui
            .add(egui::Button::new("Cancel").min_size(egui::vec2(70.0, 0.0)))
            .clicked()
        {
            outcome = Outcome::Cancel;
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui
                .button("?")
                .on_hover_text("Help for this window (F1)")
                .clicked()
            {
                *help = Some(topic);
            }
        });
    });
    if ui.is_enabled() && ui.input(|i| i.key_pressed(egui::Key::F1)) {
        *help = Some(topic);
    }
    outcome
}

/// A dialog window: closing it by its title bar is Cancel. While `enabled` is false (a
/// nested dialog is open on top of it) its contents do not react.
pub fn window(
    ctx: &egui::Context,
    title: &str,
    id: &str,
    width: f32,
    enabled: bool,
    add: impl FnOnce(&mut egui::Ui) -> Outcome,
) -> Outcome {
    let mut open = true;
    let mut outcome = Outcome::Open;
    // Centred under the tool bar the first time; the operator may move it.
    let top = ctx.content_rect().center_top() + egui::vec2(0.0, 60.0);
    egui::Window::new(title)
        .id(Id::unique(id))
        .pivot(egui::Align2::CENTER_TOP)
        .default_pos(top)
        .open(&mut open)
        .collapsible(false)
        .resizable(false)
        .default_width(width)
        .show(ctx, |ui| {
            if !enabled {
                ui.disable();
            }
            outcome = add(ui);
        });
    if open { outcome } else { Outcome::Cancel }
}

/// The fields of a dialog, scrolled when they are taller than the screen allows, so that the
/// buttons under them stay in view.
pub fn scroll_body<R>(ui: &mut egui::Ui, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    let max = (ui.ctx().content_rect().height() - 200.0).max(200.0);
    egui::ScrollArea::vertical()
        .max_height(max)
        .auto_shrink([false, true])
        .show(ui, add)
        .inner
}

/// A heading for a group of fields inside a dialog.
pub fn section_heading(ui: &mut egui::Ui, text: &str) {
    ui.add_space(6.0);
    ui.label(
        RichText::new(text)
            .strong()
            .color(ui.visuals().strong_text_color()),
    );
}

/// A grid of label / field rows.
pub fn grid<R>(ui: &mut egui::Ui, id: &str, add: impl FnOnce(&mut egui::Ui) -> R) -> R {
    egui::Grid::new(id)
        .num_columns(2)
        .spacing([10.0, 6.0])
        .min_col_width(150.0)
        .show(ui, add)
        .inner
}

/// A grey note.
pub fn note(ui: &mut egui::Ui, text: &str) {
    ui.label(RichText::new(text).color(Color32::GRAY));
}

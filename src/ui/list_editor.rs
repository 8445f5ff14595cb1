//! A list of items with Add/Edit/Remove (and Move up/down) buttons, for the servers, DNS
//! servers and notification methods of the dialogs.

use eframe::egui::{self, RichText};

use crate::ui::forms::{FIELD_WIDTH, error_text};
use crate::ui::widgets;

/// What the operator did with a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListAction {
    None,
    Add,
    Edit(usize),
    Remove(usize),
    Up(usize),
    Down(usize),
}

/// A list with Add/Edit/Remove (and Move up/down when `reorder`) buttons named after `noun`
/// ("Add server...", "Edit server...", "Remove server"). `rows` are the texts of the items;
/// `row_errors` a reason per item, shown in red under it.
pub fn list_editor(
    ui: &mut egui::Ui,
    noun: &str,
    rows: &[String],
    row_errors: &[Option<String>],
    reorder: bool,
) -> ListAction {
    let selected_id = ui.scope_id().with(("list selection", noun));
    let mut selected = ui
        .data(|d| d.get_temp::<usize>(selected_id))
        .filter(|&i| i < rows.len());
    let mut action = ListAction::None;
    ui.horizontal(|ui| {
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_min_size(egui::vec2(FIELD_WIDTH + 40.0, 60.0));
            ui.vertical(|ui| {
                if rows.is_empty() {
                    ui.label(
                        RichText::new("(none)")
                            .italics()
                            .color(widgets::tone(ui, widgets::GREY)),
                    );
                }
                for (i, row) in rows.iter().enumerate() {
                    let response = ui.selectable_label(selected == Some(i), row);
                    if response.clicked() {
                        selected = Some(i);
                    }
                    if response.double_clicked() {
                        action = ListAction::Edit(i);
                    }
                    if let Some(Some(message)) = row_errors.get(i) {
                        error_text(ui, message);
                    }
                }
            });
        });
        ui.vertical(|ui| {
            if ui.button(format!("Add {noun}...")).clicked() {
                action = ListAction::Add;
            }
            let some = selected.is_some();
            if ui
                .add_enabled(some, egui::Button::new(format!("Edit {noun}...")))
                .clicked()
                && let Some(i) = selected
            {
                action = ListAction::Edit(i);
            }
            if ui
                .add_enabled(some, egui::Button::new(format!("Remove {noun}")))
                .clicked()
                && let Some(i) = selected
            {
                action = ListAction::Remove(i);
            }
            if reorder {
                let up = selected.is_some_and(|i| i > 0);
                if ui.add_enabled(up, egui::Button::new("Move up")).clicked()
                    && let Some(i) = selected
                {
                    action = ListAction::Up(i);
                }
                let down = selected.is_some_and(|i| i + 1 < rows.len());
                if ui
                    .add_enabled(down, egui::Button::new("Move down"))
                    .clicked()
                    && let Some(i) = selected
                {
                    action = ListAction::Down(i);
                }
            }
        });
    });
    // The selection follows a moved item and leaves a removed one.
    selected = match action {
        ListAction::Up(i) => Some(i - 1),
        ListAction::Down(i) => Some(i + 1),
        ListAction::Remove(_) => None,
        _ => selected,
    };
    ui.data_mut(|d| match selected {
        Some(i) => {
            d.insert_temp(selected_id, i);
        }
        None => {
            d.remove::<usize>(selected_id);
        }
    });
    action
}

/// Carries out Remove / Move up / Move down; Add and Edit are the caller's (they open a
/// dialog). Returns the action when it is one of those two.
pub fn apply_list_action<T>(items: &mut Vec<T>, action: ListAction) -> ListAction {
    match action {
        ListAction::Remove(i) if i < items.len() => {
            items.remove(i);
            ListAction::None
        }
        ListAction::Up(i) if i > 0 && i < items.len() => {
            items.swap(i - 1, i);
            ListAction::None
        }
        ListAction::Down(i) if i + 1 < items.len() => {
            items.swap(i, i + 1);
            ListAction::None
        }
        ListAction::Add | ListAction::Edit(_) => action,
        _ => ListAction::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_actions() {
        let mut v = vec![1, 2, 3];
        assert_eq!(
            apply_list_action(&mut v, ListAction::Up(2)),
            ListAction::None
        );
        assert_eq!(v, [1, 3, 2]);
        apply_list_action(&mut v, ListAction::Down(0));
        assert_eq!(v, [3, 1, 2]);
        apply_list_action(&mut v, ListAction::Remove(1));
        assert_eq!(v, [3, 2]);
        assert_eq!(
            apply_list_action(&mut v, ListAction::Edit(0)),
            ListAction::Edit(0)
        );
        assert_eq!(
            apply_list_action(&mut v, ListAction::Up(0)),
            ListAction::None
        );
    }
}

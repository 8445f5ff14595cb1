//! The Problems tab: current problems in a table sortable by any column.

use std::cmp::Ordering;

use eframe::egui;

use crate::engine::{Problem, Snapshot};
use crate::ui::widgets;

/// A column of the problems table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    FirstSeen,
    Set,
    Subject,
    Code,
    Text,
}

impl Column {
    pub const ALL: [Column; 5] = [
        Column::FirstSeen,
        Column::Set,
        Column::Subject,
        Column::Code,
        Column::Text,
    ];

    /// The header text (also the button's accessible label).
    pub fn title(self) -> &'static str {
        match self {
            Column::FirstSeen => "First seen (UTC)",
            Column::Set => "Server set",
            Column::Subject => "Subject",
            Column::Code => "Code",
            Column::Text => "Problem",
        }
    }

    fn compare(self, a: &Problem, b: &Problem) -> Ordering {
        match self {
            Column::FirstSeen => a.first_seen.cmp(&b.first_seen),
            Column::Set => a.set.cmp(&b.set),
            Column::Subject => a.subject.cmp(&b.subject),
            Column::Code => a.code.cmp(&b.code),
            Column::Text => a.text.cmp(&b.text),
        }
    }
}

/// How the table is sorted: by one column, either way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProblemsView {
    pub column: Column,
    pub ascending: bool,
}

impl Default for ProblemsView {
    fn default() -> Self {
        // The engine's own order: oldest first.
        Self {
            column: Column::FirstSeen,
            ascending: true,
        }
    }
}

impl ProblemsView {
    /// A click on a header: the same column flips the direction, another sorts by it ascending.
    pub fn click(&mut self, column: Column) {
        if self.column == column {
            self.ascending = !self.ascending;
        } else {
            self.column = column;
            self.ascending = true;
        }
    }

    /// The problems in display order. Ties keep the engine's order (the sort is stable).
    pub fn sorted<'a>(&self, problems: &'a [Problem]) -> Vec<&'a Problem> {
        let mut rows: Vec<&Problem> = problems.iter().collect();
        rows.sort_by(|a, b| {
            let order = self.column.compare(a, b);
            if self.ascending {
                order
            } else {
                order.reverse()
            }
        });
        rows
    }
}

/// Draws the tab.
pub fn show(ui: &mut egui::Ui, snapshot: &Snapshot, view: &mut ProblemsView) {
    if snapshot.problems.is_empty() {
        ui.label("No current problems.");
        return;
    }
    let rows = view.sorted(&snapshot.problems);
    let mut clicked = None;
    egui::ScrollArea::both()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::Grid::new("problems")
                .num_columns(Column::ALL.len())
                .striped(true)
                .spacing([16.0, 4.0])
                .show(ui, |ui| {
                    for column in Column::ALL {
                        ui.horizontal(|ui| {
                            let button =
                                egui::Button::new(egui::RichText::new(column.title()).strong())
                                    .frame(false);
                            if ui
                                .add(button)
                                .on_hover_text("Sort by this column")
                                .clicked()
                            {
                                clicked = Some(column);
                            }
                            if view.column == column {
                                widgets::sort_arrow(ui, view.ascending);
                            }
                        });
                    }
                    ui.end_row();
                    for p in rows {
                        ui.label(widgets::clock_utc(p.first_seen));
                        ui.label(&p.set);
                        ui.label(&p.subject);
                        ui.label(p.code.to_string());
                        widgets::clipped_label(ui, &p.text, 100);
                        ui.end_row();
                    }
                });
        });
    if let Some(column) = clicked {
        view.click(column);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    fn problem(secs: u64, set: &str, code: u16) -> Problem {
        Problem {
            first_seen: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            set: set.into(),
            subject: "192.0.2.1".into(),
            code: code.into(),
            text: format!("text {code}"),
        }
    }

    fn sets(rows: &[&Problem]) -> Vec<String> {
        rows.iter().map(|p| p.set.clone()).collect()
    }

    #[test]
    fn clicking_a_header_sorts_and_clicking_again_reverses() {
        let list = vec![
            problem(1, "b", 124),
            problem(2, "a", 111),
            problem(3, "c", 100),
        ];
        let mut view = ProblemsView::default();
        assert_eq!(sets(&view.sorted(&list)), ["b", "a", "c"]);
        view.click(Column::Set);
        assert_eq!(sets(&view.sorted(&list)), ["a", "b", "c"]);
        view.click(Column::Set);
        assert_eq!(sets(&view.sorted(&list)), ["c", "b", "a"]);
        view.click(Column::Code);
        assert!(view.ascending);
        assert_eq!(sets(&view.sorted(&list)), ["c", "a", "b"]);
        view.click(Column::FirstSeen);
        view.click(Column::FirstSeen);
        assert_eq!(sets(&view.sorted(&list)), ["c", "a", "b"]);
    }

    #[test]
    fn ties_keep_the_engine_order() {
        let list = vec![problem(1, "x", 100), problem(1, "y", 100)];
        let mut view = ProblemsView::default();
        view.click(Column::Code);
        assert_eq!(sets(&view.sorted(&list)), ["x", "y"]);
        view.click(Column::Code);
        assert_eq!(sets(&view.sorted(&list)), ["x", "y"]);
    }
}

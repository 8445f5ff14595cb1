//! The Log tab: the live log, with Copy to clipboard, Clear and Freeze.

use std::collections::VecDeque;
use std::sync::Arc;

use eframe::egui::{self, RichText};

use crate::engine::{Command, Inbound, Level, LogLine, Snapshot};
use crate::ui::widgets;

/// What the tab remembers between frames.
#[derive(Default)]
pub struct LogView {
    /// The log as it was when frozen; `None` = live.
    frozen: Option<Arc<VecDeque<LogLine>>>,
}

impl LogView {
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// Freezes on the current log, or goes live again.
    pub fn toggle_freeze(&mut self, live: &Arc<VecDeque<LogLine>>) {
        self.frozen = match self.frozen {
            Some(_) => None,
            None => Some(live.clone()),
        };
    }

    /// The lines to show: the frozen copy, or the live log.
    pub fn lines<'a>(&'a self, live: &'a Arc<VecDeque<LogLine>>) -> &'a Arc<VecDeque<LogLine>> {
        self.frozen.as_ref().unwrap_or(live)
    }

    /// After Clear the view is empty even while frozen.
    pub fn clear(&mut self) {
        if let Some(frozen) = &mut self.frozen {
            *frozen = Arc::default();
        }
    }
}

/// The log as plain text, one line each, for the clipboard.
pub fn as_text(lines: &VecDeque<LogLine>) -> String {
    let mut text = String::new();
    for line in lines {
        text.push_str(&format!(
            "{} {} {}\n",
            widgets::clock_utc(line.time),
            level_name(line.level),
            line.text
        ));
    }
    text
}

/// "1 line", "7 lines (frozen)".
pub fn count_text(count: usize, frozen: bool) -> String {
    let lines = if count == 1 { "line" } else { "lines" };
    let note = if frozen { " (frozen)" } else { "" };
    format!("{count} {lines}{note}")
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Info => "info",
        Level::Warning => "warning",
        Level::Error => "error",
    }
}

fn level_text(ui: &egui::Ui, level: Level) -> RichText {
    let text = RichText::new(level_name(level)).monospace();
    match level {
        Level::Info => text,
        Level::Warning => text.color(widgets::tone(ui, widgets::ORANGE)),
        Level::Error => text.color(widgets::tone(ui, widgets::RED)),
    }
}

/// The tab's buttons, for the tool bar: Copy to clipboard, Clear, Freeze.
pub fn tool_buttons(
    ui: &mut egui::Ui,
    snapshot: &Snapshot,
    view: &mut LogView,
    outbox: &mut Vec<Inbound>,
) {
    if ui.button("Copy to clipboard").clicked() {
        ui.ctx().copy_text(as_text(view.lines(&snapshot.log)));
    }
    if ui.button("Clear").clicked() {
        outbox.push(Command::ClearLog.into());
        view.clear();
    }
    let frozen = view.is_frozen();
    if ui
        .add(egui::Button::selectable(frozen, "Freeze").frame_when_inactive(true))
        .on_hover_text("Keep showing the log as it is now")
        .clicked()
    {
        view.toggle_freeze(&snapshot.log);
    }
}

/// Draws the tab (its buttons are in the tool bar).
pub fn show(ui: &mut egui::Ui, snapshot: &Snapshot, view: &LogView) {
    ui.label(count_text(
        view.lines(&snapshot.log).len(),
        view.is_frozen(),
    ));
    ui.separator();
    let lines = view.lines(&snapshot.log).clone();
    let row_height = ui.text_style_height(&egui::TextStyle::Body);
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .stick_to_bottom(true)
        .show_rows(ui, row_height, lines.len(), |ui, range| {
            for line in lines.range(range) {
                ui.horizontal(|ui| {
                    ui.label(RichText::new(widgets::clock_utc(line.time)).monospace());
                    ui.add_sized(
                        [64.0, row_height],
                        egui::Label::new(level_text(ui, line.level)),
                    );
                    ui.label(&line.text);
                });
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn log(n: usize) -> Arc<VecDeque<LogLine>> {
        Arc::new(
            (0..n)
                .map(|i| LogLine {
                    time: SystemTime::UNIX_EPOCH,
                    level: Level::Info,
                    text: format!("line {i}"),
                })
                .collect(),
        )
    }

    #[test]
    fn freeze_keeps_the_old_log_and_clear_empties_it() {
        let mut view = LogView::default();
        let first = log(2);
        assert_eq!(view.lines(&first).len(), 2);
        view.toggle_freeze(&first);
        let more = log(5);
        assert_eq!(view.lines(&more).len(), 2);
        view.clear();
        assert!(view.is_frozen());
        assert_eq!(view.lines(&more).len(), 0);
        view.toggle_freeze(&more);
        assert_eq!(view.lines(&more).len(), 5);
    }

    #[test]
    fn count_text_says_line_or_lines() {
        assert_eq!(count_text(1, false), "1 line");
        assert_eq!(count_text(0, false), "0 lines");
        assert_eq!(count_text(7, true), "7 lines (frozen)");
    }

    #[test]
    fn text_has_one_line_each() {
        assert_eq!(
            as_text(&log(2)),
            "00:00:00 info line 0\n00:00:00 info line 1\n"
        );
    }
}

//! Polling history (SPEC §7): filters (set and server chosen from lists), the uptime and
//! response-time percentiles of the chosen set or server, a table of polls or of events
//! (DNS updates, notifications, pauses, overrides, settings changes), a response-time
//! plot, *Save CSV...* and the SLA report (CSV or HTML) of the chosen dates. Both ask
//! where with the desktop's file dialog ([`file_dialog`]); where none can open, the path
//! typed in the field is used and the dialog says why.
//!
//! The rows come from the engine ([`crate::engine::Request::QueryHistory`],
//! [`crate::engine::Request::QueryEvents`]) and the files are written by it
//! ([`crate::engine::Request::SaveHistoryCsv`], [`crate::engine::Request::SaveSlaReport`]);
//! the answers are polled with `try_recv` each frame, so the UI thread never waits for the
//! database or the disk. The uptime figures come with the snapshot.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use eframe::egui::{self, RichText};

use crate::engine::{Call, CallError, Inbound, Pending, Snapshot};
use crate::model::field::FieldError;
use crate::store::events::{EventFilter, EventKind, HistoryEvent};

use crate::store::history::{HistoryFilter, HistoryRow, iso_utc};
use crate::ui::desktop::file_dialog::{self, Answer, Ask};
use crate::ui::{forms, widgets};

/// The table shows at most this many rows (the newest): enough to read, cheap to draw.
const MAX_ROWS: usize = 10_000;

/// Which polls to show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Outcomes {
    #[default]
    All,
    Successes,
    Failures,
}

/// What the table shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Showing {
    #[default]
    Polls,
    Events,
}

/// The filter fields as chosen and typed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterDraft {
    pub showing: Showing,
    /// Events of this kind only (`None` = every kind).
    pub kind: Option<EventKind>,
    /// Blank = every set.
    pub set: String,
    /// Blank = every server.
    pub server: String,
    /// `YYYY-MM-DD` (UTC), blank = no bound; `to` includes its whole day.
    pub from: String,
    pub to: String,
    pub outcomes: Outcomes,
    pub changes_only: bool,
}

impl FilterDraft {
    /// The engine's filter, or which field is wrong.
    pub fn filter(&self) -> Result<HistoryFilter, FilterError> {
        let blank = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let day = Duration::from_secs(86_400);
        Ok(HistoryFilter {
            set: blank(&self.set),
            server: blank(&self.server),
            from: parse_day(&self.from, "From")?,
            to: parse_day(&self.to, "To")?.map(|t| t + day),
            success: match self.outcomes {
                Outcomes::All => None,
                Outcomes::Successes => Some(true),
                Outcomes::Failures => Some(false),
            },
            changes_only: self.changes_only,
            limit: MAX_ROWS,
        })
    }

    /// The engine's filter of events, or which field is wrong.
    pub fn event_filter(&self) -> Result<EventFilter, FilterError> {
        let f = self.filter()?;
        Ok(EventFilter {
            kind: self.kind,
            set: f.set,
            server: f.server,
            from: f.from,
            to: f.to,
            limit: MAX_ROWS,
        })
    }

    /// The SLA report's period, Unix seconds: the From and To dates, or the last 30 days
    /// up to `now` where blank.
    pub fn report_period(&self, now: SystemTime) -> Result<(i64, i64), FilterError> {
        let f = self.filter()?;
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        };
        let to = f.to.map_or(secs(now), secs);
        let from = f.from.map_or(to - 30 * 86_400, secs);
        if to <= from {
            return Err(FilterError {
                field: "To",
                reason: FieldError::EndsBeforeItStarts,
            });
        }
        Ok((from, to))
    }
}

/// Which filter field is wrong, and why (shown on the line under the filters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct FilterError {
    /// The field's label: `From`, `To`.
    pub field: &'static str,
    #[source]
    pub reason: FieldError,
}

/// `2026-11-25` → its midnight UTC; blank → `None`.
pub fn parse_day(text: &str, field: &'static str) -> Result<Option<SystemTime>, FilterError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let wrong = || FilterError {
        field,
        reason: FieldError::NotADate(text.to_string()),
    };
    // The civil date first, so that only a bare date is taken (not a time stamp).
    let date: jiff::civil::Date = text.parse().map_err(|_| wrong())?;
    let midnight: jiff::Timestamp = format!("{date}T00:00:00Z").parse().map_err(|_| wrong())?;
    let secs = u64::try_from(midnight.as_second()).map_err(|_| wrong())?;
    Ok(Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs)))
}

/// The line under the filters: what the last query or save said, or what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    Said(String),
    /// Shown in red.
    Wrong(String),
}

pub struct HistoryDialog {
    pub draft: FilterDraft,
    /// Where *Save CSV...* writes: the desktop's file dialog fills it, or it is typed.
    pub csv_path: String,
    /// Where the SLA report goes (its extension follows the format chosen).
    pub report_path: String,
    pub rows: Vec<HistoryRow>,
    pub events: Vec<HistoryEvent>,
    /// What the last query or save said, for the line under the filters.
    pub status: Option<Line>,
    query: Option<Pending<Result<Vec<HistoryRow>, CallError>>>,
    event_query: Option<Pending<Result<Vec<HistoryEvent>, CallError>>>,
    save: Option<Pending<Result<usize, CallError>>>,
    /// What the save under way writes, for its line.
    saving: String,
    /// The file dialog of *Save CSV...* or of the SLA report (`true`: HTML) under way.
    csv_dialog: Option<file_dialog::Pending>,
    report_dialog: Option<(file_dialog::Pending, bool)>,
    /// Why the last file dialog could not open (the typed path was used).
    pub dialog_note: Option<String>,
    /// The filter of the rows shown: *Save CSV* saves what is shown.
    shown: Option<HistoryFilter>,
    shown_events: Option<EventFilter>,
    /// A query goes out on the first frame.
    wants_query: bool,
}

impl HistoryDialog {
    pub fn new(set: String, server: Option<String>) -> Self {
        let csv_path = std::env::temp_dir()
            .join("standby-history.csv")
            .display()
            .to_string();
        let report_path = std::env::temp_dir()
            .join("standby-sla-report.html")
            .display()
            .to_string();
        Self {
            draft: FilterDraft {
                set,
                server: server.unwrap_or_default(),
                ..FilterDraft::default()
            },
            csv_path,
            report_path,
            rows: Vec::new(),
            events: Vec::new(),
            status: None,
            query: None,
            event_query: None,
            save: None,
            saving: String::new(),
            csv_dialog: None,
            report_dialog: None,
            dialog_note: None,
            shown: None,
            shown_events: None,
            wants_query: true,
        }
    }

    /// Whether an answer of the engine is awaited.
    pub fn busy(&self) -> bool {
        self.query.is_some() || self.event_query.is_some() || self.save.is_some()
    }

    /// Whether a file dialog or a save is under way (the save buttons wait).
    fn saving(&self) -> bool {
        self.save.is_some() || self.csv_dialog.is_some() || self.report_dialog.is_some()
    }

    /// The file dialogs' answers: a path chosen is saved to, no dialog means the typed
    /// path is, a cancel saves nothing.
    fn take_dialog_answers(&mut self, outbox: &mut Vec<Inbound>) {
        if let Some(answer) = self.csv_dialog.as_ref().and_then(|p| p.try_take()) {
            self.csv_dialog = None;
            if self.typed_or_chosen(answer, Field::Csv) {
                self.send_save(outbox);
            }
        }
        if let Some((answer, html)) = self
            .report_dialog
            .as_ref()
            .and_then(|(p, html)| p.try_take().map(|a| (a, *html)))
        {
            self.report_dialog = None;
            if self.typed_or_chosen(answer, Field::Report) {
                self.send_report(html, outbox);
            }
        }
    }

    /// Takes a dialog's answer into its field; `false` when nothing is to be saved.
    fn typed_or_chosen(&mut self, answer: Answer, field: Field) -> bool {
        match answer {
            Answer::Chosen(path) => {
                self.dialog_note = None;
                let text = path.display().to_string();
                match field {
                    Field::Csv => self.csv_path = text,
                    Field::Report => self.report_path = text,
                }
                true
            }
            Answer::Cancelled => {
                self.status = Some(Line::Said("Not saved (cancelled)".into()));
                false
            }
            Answer::Unavailable(why) => {
                self.dialog_note = Some(file_dialog::unavailable_text(&why));
                true
            }
        }
    }

    fn ask_where(&mut self, ctx: &egui::Context, field: Field, html: bool) {
        let (path, extension, title) = match field {
            Field::Csv => (&self.csv_path, "csv", "Save CSV"),
            Field::Report if html => (&self.report_path, "html", "Save the SLA report"),
            Field::Report => (&self.report_path, "csv", "Save the SLA report"),
        };
        let typed = PathBuf::from(path.trim());
        let name = typed
            .with_extension(extension)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("standby.{extension}"));
        let ask = Ask::Save {
            title,
            name,
            extension,
        };
        let pending = file_dialog::open(ctx, ask, Some(&typed));
        self.status = Some(Line::Said("Waiting for the file dialog...".into()));
        match field {
            Field::Csv => self.csv_dialog = Some(pending),
            Field::Report => self.report_dialog = Some((pending, html)),
        }
    }

    fn take_answers(&mut self) {
        if let Some(answer) = self.query.as_mut().and_then(Pending::try_take) {
            self.query = None;
            match answer {
                Ok(rows) => {
                    self.status = Some(Line::Said(format!("{} row(s)", rows.len())));
                    self.rows = rows;
                }
                Err(e) => self.status = Some(Line::Wrong(e.to_string())),
            }
        }
        if let Some(answer) = self.event_query.as_mut().and_then(Pending::try_take) {
            self.event_query = None;
            match answer {
                Ok(events) => {
                    self.status = Some(Line::Said(format!("{} event(s)", events.len())));
                    self.events = events;
                }
                Err(e) => self.status = Some(Line::Wrong(e.to_string())),
            }
        }
        if let Some(answer) = self.save.as_mut().and_then(Pending::try_take) {
            self.save = None;
            self.status = Some(match answer {
                Ok(n) => Line::Said(format!("{n} {}", self.saving)),
                Err(e) => Line::Wrong(e.to_string()),
            });
        }
    }

    fn send_query(&mut self, outbox: &mut Vec<Inbound>) {
        if self.draft.showing == Showing::Events {
            match self.draft.event_filter() {
                Ok(filter) => {
                    self.shown_events = Some(filter.clone());
                    let (call, rx) = Call::query_events(filter);
                    outbox.push(call.into());
                    self.event_query = Some(rx);
                    self.status = Some(Line::Said("Reading...".into()));
                }
                Err(e) => self.status = Some(Line::Wrong(e.to_string())),
            }
            return;
        }
        match self.draft.filter() {
            Ok(filter) => {
                self.shown = Some(filter.clone());
                let (call, rx) = Call::query_history(filter);
                outbox.push(call.into());
                self.query = Some(rx);
                self.status = Some(Line::Said("Reading...".into()));
            }
            Err(e) => self.status = Some(Line::Wrong(e.to_string())),
        }
    }

    fn send_save(&mut self, outbox: &mut Vec<Inbound>) {
        let path = self.csv_path.trim();
        if path.is_empty() {
            self.status = Some(Line::Wrong("CSV file: give a path".into()));
            return;
        }
        let path = PathBuf::from(path);
        let (call, rx, what) = if self.draft.showing == Showing::Events {
            let filter = match self
                .shown_events
                .clone()
                .map(Ok)
                .unwrap_or_else(|| self.draft.event_filter())
            {
                Ok(f) => f,
                Err(e) => {
                    self.status = Some(Line::Wrong(e.to_string()));
                    return;
                }
            };
            let (call, rx) = Call::save_events_csv(filter, path.clone());
            (call, rx, "event(s)")
        } else {
            let filter = match self
                .shown
                .clone()
                .map(Ok)
                .unwrap_or_else(|| self.draft.filter())
            {
                Ok(f) => f,
                Err(e) => {
                    self.status = Some(Line::Wrong(e.to_string()));
                    return;
                }
            };
            let (call, rx) = Call::save_history_csv(filter, path.clone());
            (call, rx, "row(s)")
        };
        outbox.push(call.into());
        self.save = Some(rx);
        self.saving = format!("{what} saved to {}", path.display());
        self.status = Some(Line::Said("Saving...".into()));
    }

    fn send_report(&mut self, html: bool, outbox: &mut Vec<Inbound>) {
        let (from, to) = match self.draft.report_period(SystemTime::now()) {
            Ok(period) => period,
            Err(e) => {
                self.status = Some(Line::Wrong(e.to_string()));
                return;
            }
        };
        let path = PathBuf::from(self.report_path.trim()).with_extension(if html {
            "html"
        } else {
            "csv"
        });
        if path.as_os_str().is_empty() || self.report_path.trim().is_empty() {
            self.status = Some(Line::Wrong("Report file: give a path".into()));
            return;
        }
        self.report_path = path.display().to_string();
        self.saving = format!("set(s) of the SLA report saved to {}", path.display());
        let (call, rx) = Call::save_sla_report(from, to, html, path);
        outbox.push(call.into());
        self.save = Some(rx);
        self.status = Some(Line::Said("Saving...".into()));
    }

    /// Draws the dialog; `false` once it is closed.
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        snapshot: &Snapshot,
        outbox: &mut Vec<Inbound>,
    ) -> bool {
        self.take_answers();
        self.take_dialog_answers(outbox);
        if self.wants_query {
            self.wants_query = false;
            self.send_query(outbox);
        }
        let mut open = true;
        let mut close = false;
        egui::Window::new("Polling history")
            .id(egui::Id::unique("history dialog"))
            .open(&mut open)
            .collapsible(false)
            .default_size([900.0, 640.0])
            .show(ctx, |ui| {
                self.filters(ui, snapshot, outbox);
                ui.separator();
                super::history_report::uptime(
                    ui,
                    &snapshot.sets,
                    &snapshot.uptime,
                    &self.draft.set,
                    &self.draft.server,
                );
                ui.horizontal(|ui| {
                    let label = forms::help_label(ui, "Report file:");
                    // Fixed ids: an auto id shifts when the uptime grid above appears,
                    // and text typed in that frame (by a screen reader) would be lost.
                    ui.add(
                        egui::TextEdit::singleline(&mut self.report_path)
                            .id_salt("history report path")
                            .desired_width(300.0),
                    )
                    .labelled_by(label.id);
                    let idle = !self.saving();
                    if ui
                        .add_enabled(idle, egui::Button::new("SLA report (HTML)..."))
                        .on_hover_text(
                            "Every set over From–To (blank: the last 30 days), with a chart",
                        )
                        .clicked()
                    {
                        self.ask_where(ctx, Field::Report, true);
                    }
                    if ui
                        .add_enabled(idle, egui::Button::new("SLA report (CSV)..."))
                        .clicked()
                    {
                        self.ask_where(ctx, Field::Report, false);
                    }
                });
                ui.separator();
                if self.draft.showing == Showing::Polls {
                    plot(ui, &self.rows);
                    ui.separator();
                }
                ui.horizontal(|ui| {
                    let label = forms::help_label(ui, "CSV file:");
                    ui.add(
                        egui::TextEdit::singleline(&mut self.csv_path)
                            .id_salt("history csv path")
                            .desired_width(360.0),
                    )
                    .labelled_by(label.id);
                    if ui
                        .add_enabled(!self.saving(), egui::Button::new("Save CSV..."))
                        .clicked()
                    {
                        self.ask_where(ctx, Field::Csv, false);
                    }
                    if ui.button("Close").clicked() {
                        close = true;
                    }
                });
                ui.separator();
                match self.draft.showing {
                    Showing::Polls => table(ui, &self.rows),
                    Showing::Events => super::history_report::events_table(ui, &self.events),
                }
            });
        if self.busy() {
            // The answer arrives without a new snapshot, so nothing else would wake us.
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        open && !close
    }

    fn filters(&mut self, ui: &mut egui::Ui, snapshot: &Snapshot, outbox: &mut Vec<Inbound>) {
        let query_idle = self.query.is_none() && self.event_query.is_none();
        let mut show = false;
        let d = &mut self.draft;
        ui.horizontal(|ui| {
            forms::help_label(ui, "Show:");
            let before = d.showing;
            ui.radio_value(&mut d.showing, Showing::Polls, "Polls");
            ui.radio_value(&mut d.showing, Showing::Events, "Events");
            show |= d.showing != before;
        });
        egui::Grid::new("history filters")
            .num_columns(4)
            .spacing([8.0, 4.0])
            .show(ui, |ui| {
                let sets: Vec<String> = snapshot.sets.iter().map(|s| s.name.clone()).collect();
                show |= super::history_report::choose(ui, "Set:", "All sets", &sets, &mut d.set);
                let servers: Vec<String> = snapshot
                    .sets
                    .iter()
                    .filter(|s| d.set.is_empty() || s.name == d.set)
                    .flat_map(|s| s.servers.iter().map(|v| v.public_ip.clone()))
                    .collect();
                if !d.server.is_empty() && !servers.contains(&d.server) && !d.set.is_empty() {
                    // The set changed under a server of another set.
                    d.server.clear();
                }
                show |= super::history_report::choose(
                    ui,
                    "Server:",
                    "All servers",
                    &servers,
                    &mut d.server,
                );
                ui.end_row();
                labelled(ui, "From (YYYY-MM-DD):", &mut d.from, 100.0);
                labelled(ui, "To (YYYY-MM-DD):", &mut d.to, 100.0);
                ui.end_row();
            });
        ui.horizontal(|ui| {
            match d.showing {
                Showing::Polls => {
                    forms::help_label(ui, "Outcome:");
                    ui.radio_value(&mut d.outcomes, Outcomes::All, "All polls");
                    ui.radio_value(&mut d.outcomes, Outcomes::Successes, "Successes");
                    ui.radio_value(&mut d.outcomes, Outcomes::Failures, "Failures");
                    forms::with_help(
                        ui.checkbox(&mut d.changes_only, "Only changes of status"),
                        "Only changes of status",
                    );
                }
                Showing::Events => {
                    show |= super::history_report::choose_kind(ui, &mut d.kind);
                }
            }
            if ui
                .add_enabled(query_idle, egui::Button::new("Show"))
                .clicked()
            {
                show = true;
            }
        });
        if show && query_idle {
            self.send_query(outbox);
        }
        match &self.status {
            Some(Line::Said(text)) => {
                ui.label(text);
            }
            Some(Line::Wrong(e)) => {
                ui.label(RichText::new(e).color(widgets::tone(ui, widgets::RED)));
            }
            None => {}
        }
        if let Some(note) = &self.dialog_note {
            forms::note(ui, note);
        }
    }
}

/// The path field a file dialog answers into.
#[derive(Clone, Copy)]
enum Field {
    Csv,
    Report,
}

/// A label and its text field, linked for screen readers and tests.
fn labelled(ui: &mut egui::Ui, name: &str, text: &mut String, width: f32) {
    let label = forms::help_label(ui, name);
    // Sized explicitly: in a grid a text field's desired width alone gets clamped to
    // the column's first-frame width.
    ui.add_sized(
        [width, 20.0],
        // Named by its label, like the path fields, so its id does not shift.
        egui::TextEdit::singleline(text).id_salt(("history field", name)),
    )
    .labelled_by(label.id);
}

/// Response times over time; failed polls as red points on the axis.
fn plot(ui: &mut egui::Ui, rows: &[HistoryRow]) {
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let origin = rows.first().map(|r| secs(r.time)).unwrap_or(0.0);
    let ok: Vec<[f64; 2]> = rows
        .iter()
        .filter_map(|r| r.response_ms.map(|ms| [secs(r.time) - origin, ms]))
        .collect();
    let failed: Vec<[f64; 2]> = rows
        .iter()
        .filter(|r| !r.success)
        .map(|r| [secs(r.time) - origin, 0.0])
        .collect();
    let start = rows.first().map(|r| iso_utc(r.time)).unwrap_or_default();
    ui.label(format!("Response time (ms) over seconds since {start}"));
    let (green, red) = (
        widgets::tone(ui, widgets::GREEN),
        widgets::tone(ui, widgets::RED),
    );
    egui_plot::Plot::new("history plot")
        .height(180.0)
        .allow_scroll(false)
        .legend(egui_plot::Legend::default())
        .show(ui, |plot| {
            plot.line(egui_plot::Line::new("Response time (ms)", ok).color(green));
            plot.points(
                egui_plot::Points::new("Failed poll", failed)
                    .color(red)
                    .radius(3.0),
            );
        });
}

fn table(ui: &mut egui::Ui, rows: &[HistoryRow]) {
    let row_height = ui.text_style_height(&egui::TextStyle::Body) + 4.0;
    const WIDTHS: [f32; 7] = [180.0, 110.0, 110.0, 70.0, 70.0, 50.0, 300.0];
    let header = [
        "Time (UTC)",
        "Set",
        "Server",
        "Status",
        "Time (ms)",
        "Code",
        "Response",
    ];
    ui.horizontal(|ui| {
        for (title, w) in header.iter().zip(WIDTHS) {
            cell(ui, w, row_height, RichText::new(*title).strong());
        }
    });
    // Only the visible rows are laid out: thousands of rows cost nothing more.
    egui::ScrollArea::vertical()
        .auto_shrink([false, false])
        .show_rows(ui, row_height, rows.len(), |ui, range| {
            for r in &rows[range] {
                ui.horizontal(|ui| {
                    let status = if r.success {
                        RichText::new(&r.status)
                    } else {
                        RichText::new(&r.status).color(widgets::tone(ui, widgets::RED))
                    };
                    let cells = [
                        RichText::new(iso_utc(r.time)),
                        RichText::new(&r.set),
                        RichText::new(&r.server),
                        status,
                        // Loopback polls take a fraction of a millisecond: "0.20", not "0".
                        RichText::new(
                            r.response_ms
                                .map(|v| super::history_report::ms(Some(v)))
                                .unwrap_or_default(),
                        ),
                        RichText::new(r.code.map(|c| c.to_string()).unwrap_or_default()),
                        RichText::new(widgets::clip(&r.response, 60)),
                    ];
                    for (text, w) in cells.into_iter().zip(WIDTHS) {
                        cell(ui, w, row_height, text);
                    }
                });
            }
        });
}

/// One left-aligned table cell of a fixed width; longer text is cut with "…".
fn cell(ui: &mut egui::Ui, width: f32, height: f32, text: RichText) {
    ui.allocate_ui_with_layout(
        egui::vec2(width, height),
        egui::Layout::left_to_right(egui::Align::Center),
        |ui| {
            ui.set_width(width);
            ui.add(egui::Label::new(text).truncate().halign(egui::Align::LEFT));
        },
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_to_includes_its_day() {
        let draft = FilterDraft {
            from: "2026-11-24".into(),
            to: "2026-11-24".into(),
            ..FilterDraft::default()
        };
        let f = draft.filter().unwrap();
        let span = f.to.unwrap().duration_since(f.from.unwrap()).unwrap();
        assert_eq!(span, Duration::from_secs(86_400));
        assert_eq!(
            parse_day("24/11/2026", "From").unwrap_err().to_string(),
            r#"From: "24/11/2026" is not a date like 2026-11-25"#
        );
        assert_eq!(parse_day("  ", "From").unwrap(), None);
    }
}

//! Shared pieces of the dialogs: a labelled field with its validation message, parsed text
//! fields (numbers, ports, lists), a secret field, a list editor and the dialog's footer.
//! The window and button row around them are in [`crate::ui::dialog_frame`], re-exported here.
//!
//! Validation comes from the model: each dialog runs `validate` / `validate_set` on its draft
//! (wrapped where needed so that the paths are relative to the dialog) and hands the errors to
//! a [`Form`]; each field claims the errors of its path and shows them beside itself in red.
//! Errors no field claimed are listed above the buttons, so nothing wrong is ever hidden.

use std::collections::BTreeMap;

use eframe::egui::{self, Id, Response, RichText};

use crate::model::ValidationError;
use crate::model::field::FieldError;
use crate::model::secret::Secret;
use crate::model::tags;
pub use crate::ui::dialog_frame::{
    Outcome, buttons, grid, note, scroll_body, section_heading, window,
};
use crate::ui::help::HelpTopic;
pub use crate::ui::list_editor::{ListAction, apply_list_action, list_editor};
use crate::ui::widgets;

/// Width of text fields, so that the dialogs line up.
pub const FIELD_WIDTH: f32 = 260.0;

/// Text a field shows that the model could not take (e.g. "abc" for a number), by field.
/// Kept by the dialog across frames so that a wrong field in a hidden section still keeps OK
/// disabled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ParseErrors(BTreeMap<u64, (String, String)>);

impl ParseErrors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Forgets them all, e.g. when a method's kind changes and its fields are gone; the fields
    /// still shown register again when drawn.
    pub fn clear(&mut self) {
        self.0.clear();
    }
}

/// The validation errors of a draft, computed again only when the draft changes.
#[derive(Clone, Debug)]
pub struct Validated<T> {
    last: Option<(T, Vec<ValidationError>)>,
}

impl<T> Default for Validated<T> {
    fn default() -> Self {
        Self { last: None }
    }
}

impl<T: Clone + PartialEq> Validated<T> {
    pub fn errors(
        &mut self,
        draft: &T,
        check: impl FnOnce(&T) -> Vec<ValidationError>,
    ) -> Vec<ValidationError> {
        match &self.last {
            Some((seen, errors)) if seen == draft => errors.clone(),
            _ => {
                let errors = check(draft);
                self.last = Some((draft.clone(), errors.clone()));
                errors
            }
        }
    }
}

/// The errors under `prefix`, with the prefix cut off their paths.
pub fn errors_under(errors: Vec<ValidationError>, prefix: &str) -> Vec<ValidationError> {
    errors
        .into_iter()
        .filter_map(|e| {
            let rest = e.path.strip_prefix(prefix)?;
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            Some(ValidationError {
                path: rest.to_string(),
                message: e.message,
            })
        })
        .collect()
}

/// One frame of a dialog's fields.
pub struct Form<'p> {
    errors: Vec<ValidationError>,
    shown: Vec<bool>,
    parse_errors: &'p mut ParseErrors,
}

impl<'p> Form<'p> {
    pub fn new(errors: Vec<ValidationError>, parse_errors: &'p mut ParseErrors) -> Self {
        let shown = vec![false; errors.len()];
        Self {
            errors,
            shown,
            parse_errors,
        }
    }

    /// Nothing is wrong: OK may be pressed.
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty() && self.parse_errors.is_empty()
    }

    /// The first error of exactly this path (all of them count as shown).
    pub fn take(&mut self, path: &str) -> Option<String> {
        let mut first = None;
        for (i, e) in self.errors.iter().enumerate() {
            if e.path == path {
                self.shown[i] = true;
                first.get_or_insert_with(|| e.message.clone());
            }
        }
        first
    }

    /// Every error at `prefix` or below it, as `(rest of the path, message)`.
    pub fn take_under(&mut self, prefix: &str) -> Vec<(String, String)> {
        let mut found = Vec::new();
        for (i, e) in self.errors.iter().enumerate() {
            if let Some(rest) = e.path.strip_prefix(prefix)
                && (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
            {
                self.shown[i] = true;
                found.push((rest.to_string(), e.message.clone()));
            }
        }
        found
    }

    /// Whether any error lies at `prefix` or below it (without counting it as shown).
    pub fn has_errors_under(&self, prefix: &str) -> bool {
        self.errors.iter().any(|e| {
            e.path.strip_prefix(prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            })
        })
    }

    /// Runs `draw` with the errors at `from` (and below) seen at `to` instead, so that a
    /// part drawn for one place (the polling-method editor's `polling`) shows the errors of
    /// another (`options.connectivity_guard.method`); the rest keep their paths.
    pub fn with_errors_moved<R>(
        &mut self,
        from: &str,
        to: &str,
        draw: impl FnOnce(&mut Self) -> R,
    ) -> R {
        let moved = |path: &str, a: &str, b: &str| {
            path.strip_prefix(a)
                .filter(|rest| rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
                .map(|rest| format!("{b}{rest}"))
        };
        let mut renamed = vec![false; self.errors.len()];
        for (i, e) in self.errors.iter_mut().enumerate() {
            if let Some(path) = moved(&e.path, from, to) {
                e.path = path;
                renamed[i] = true;
            }
        }
        let result = draw(self);
        for (i, e) in self.errors.iter_mut().enumerate() {
            if renamed[i]
                && let Some(path) = moved(&e.path, to, from)
            {
                e.path = path;
            }
        }
        result
    }

    /// Records (or clears) a wrong text of a field drawn by hand, keyed by `key`.
    pub fn flag(&mut self, key: &str, label: &str, error: Option<String>) {
        let id = Id::unique(("flagged field", key));
        match error {
            Some(message) => {
                self.parse_errors.0.insert(
                    id.value(),
                    (label.trim_end_matches(':').to_string(), message),
                );
            }
            None => {
                self.parse_errors.0.remove(&id.value());
            }
        }
    }

    /// Forgets the text of parsed fields that are gone (see [`ParseErrors::clear`]).
    pub fn clear_parse_errors(&mut self) {
        self.parse_errors.clear();
    }

    /// A row: the label, then whatever `add` draws, named by the label for screen readers and
    /// tests; then the error of `path` in red.
    pub fn row<R>(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        path: &str,
        add: impl FnOnce(&mut egui::Ui) -> R,
    ) -> R {
        let label_response = with_help(ui.label(label), label);
        let message = if path.is_empty() {
            None
        } else {
            self.take(path)
        };
        let inner = ui
            .horizontal(|ui| {
                let inner = ui.label_inputs_by(label_response.id, add);
                if let Some(message) = message {
                    error_text(ui, &message);
                }
                inner
            })
            .inner;
        ui.end_row();
        inner
    }

    /// A one-line text field; unknown `$TAG$`s are flagged when `known_tags` is given.
    pub fn text(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        path: &str,
        value: &mut String,
        known_tags: Option<&[&str]>,
    ) -> Response {
        self.row(ui, label, path, |ui| {
            let response = ui.add(egui::TextEdit::singleline(value).desired_width(FIELD_WIDTH));
            if let Some(known) = known_tags {
                tag_warning(ui, value, known);
            }
            response
        })
    }

    /// A text field of several lines; unknown tags are flagged as in [`Form::text`].
    pub fn multiline(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        path: &str,
        value: &mut String,
        known_tags: Option<&[&str]>,
    ) -> Response {
        self.row(ui, label, path, |ui| {
            let response = ui.add(
                egui::TextEdit::multiline(value)
                    .desired_width(FIELD_WIDTH)
                    .desired_rows(3),
            );
            if let Some(known) = known_tags {
                tag_warning(ui, value, known);
            }
            response
        })
    }

    /// A checkbox in the field column (its own text names it).
    pub fn check(&mut self, ui: &mut egui::Ui, text: &str, value: &mut bool) -> Response {
        ui.label("");
        let response = with_help(ui.checkbox(value, text), text);
        ui.end_row();
        response
    }

    /// A field whose text is parsed into `value`. While the text does not parse, `value`
    /// keeps its last good value, the reason is shown and OK stays disabled.
    #[allow(clippy::too_many_arguments)]
    pub fn parsed<T, E: std::fmt::Display>(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        path: &str,
        value: &mut T,
        to_text: impl Fn(&T) -> String,
        parse: impl Fn(&str) -> Result<T, E>,
        multiline: bool,
    ) -> Response
    where
        T: Clone + PartialEq + Send + Sync + 'static,
    {
        let id = ui.scope_id().with(("parsed", label, path));
        // The text as typed, and the value it gave: when the value changed elsewhere (a
        // preset, a reset), the text follows it.
        let (mut text, mut seen) = ui
            .data(|d| d.get_temp::<(String, T)>(id))
            .filter(|(_, seen)| seen == value)
            .unwrap_or_else(|| (to_text(value), value.clone()));
        let mut parse_error = None;
        let response = self.row(ui, label, path, |ui| {
            let edit = if multiline {
                egui::TextEdit::multiline(&mut text).desired_rows(3)
            } else {
                egui::TextEdit::singleline(&mut text)
            };
            let response = ui.add(edit.desired_width(FIELD_WIDTH));
            match parse(&text) {
                Ok(parsed) => {
                    if parsed != *value {
                        *value = parsed;
                    }
                    seen = value.clone();
                }
                Err(message) => {
                    let message = message.to_string();
                    error_text(ui, &message);
                    parse_error = Some(message);
                }
            }
            response
        });
        match parse_error {
            Some(message) => {
                self.parse_errors.0.insert(
                    id.value(),
                    (label.trim_end_matches(':').to_string(), message),
                );
            }
            None => {
                self.parse_errors.0.remove(&id.value());
            }
        }
        ui.data_mut(|d| d.insert_temp(id, (text, seen)));
        response
    }

    /// A whole number.
    pub fn number(&mut self, ui: &mut egui::Ui, label: &str, path: &str, value: &mut u32) {
        self.parsed(ui, label, path, value, u32::to_string, parse_u32, false);
    }

    /// A duration written `250ms`, `10s`, `5m`.
    pub fn duration(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        path: &str,
        value: &mut std::time::Duration,
    ) {
        use crate::model::duration;
        let to_text = |d: &std::time::Duration| duration::format(*d);
        self.parsed(ui, label, path, value, to_text, duration::parse, false);
    }

    /// A port, 1–65535.
    pub fn port(&mut self, ui: &mut egui::Ui, label: &str, path: &str, value: &mut u16) {
        self.parsed(ui, label, path, value, u16::to_string, parse_port, false);
    }

    /// One item per line (blank lines are dropped by [`clean_lines`] before saving).
    pub fn lines(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        path: &str,
        value: &mut Vec<String>,
        known_tags: Option<&[&str]>,
    ) {
        let mut text = value.join("\n");
        let messages = self.take_under(path);
        self.row(ui, label, "", |ui| {
            ui.vertical(|ui| {
                let response = ui.add(
                    egui::TextEdit::multiline(&mut text)
                        .desired_width(FIELD_WIDTH)
                        .desired_rows(3),
                );
                if response.changed() {
                    *value = split_lines(&text);
                }
                if let Some(known) = known_tags {
                    tag_warning(ui, &text, known);
                }
                for (rest, message) in &messages {
                    match line_number(rest) {
                        Some(n) => error_text(ui, &format!("line {n}: {message}")),
                        None => error_text(ui, message),
                    }
                }
            });
        });
    }

    /// A secret (masked unless *Show* is ticked).
    pub fn secret(&mut self, ui: &mut egui::Ui, label: &str, path: &str, value: &mut Secret) {
        let show_id = ui.scope_id().with(("show secret", label, path));
        let mut show = ui.data(|d| d.get_temp::<bool>(show_id).unwrap_or(false));
        self.row(ui, label, path, |ui| {
            ui.add(
                egui::TextEdit::singleline(value.expose_mut())
                    .password(!show)
                    .desired_width(FIELD_WIDTH),
            );
        });
        // The checkbox sits under the field, named by its own text.
        ui.label("");
        ui.checkbox(
            &mut show,
            format!("Show {}", label.trim_end_matches(':').to_lowercase()),
        );
        ui.end_row();
        ui.data_mut(|d| d.insert_temp(show_id, show));
    }

    /// A combo box in a row; `choose` draws the choices.
    pub fn combo(
        &mut self,
        ui: &mut egui::Ui,
        label: &str,
        path: &str,
        selected: &str,
        choose: impl FnOnce(&mut egui::Ui),
    ) {
        let label_response = with_help(ui.label(label), label);
        let message = self.take(path);
        ui.horizontal(|ui| {
            egui::ComboBox::from_id_salt(("combo", label, path))
                .selected_text(selected)
                .width(FIELD_WIDTH - 8.0)
                .show_ui(ui, choose)
                .response
                .labelled_by(label_response.id);
            if let Some(message) = message {
                error_text(ui, &message);
            }
        });
        ui.end_row();
    }

    /// The errors that no field showed, and the text of wrong fields that are hidden, in red
    /// above the buttons.
    pub fn show_rest(&mut self, ui: &mut egui::Ui) {
        let mut lines: Vec<String> = Vec::new();
        for (i, e) in self.errors.iter().enumerate() {
            if !self.shown[i] {
                lines.push(if e.path.is_empty() {
                    e.message.clone()
                } else {
                    format!("{}: {}", e.path, e.message)
                });
            }
        }
        for (label, message) in self.parse_errors.0.values() {
            let line = format!("{label}: {message}");
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
        for line in lines {
            error_text(ui, &line);
        }
    }
}

/// A field's label drawn outside a [`Form`] (the History dialog's filters), with the
/// field's line of help on hover.
pub fn help_label(ui: &mut egui::Ui, label: &str) -> Response {
    with_help(ui.label(label), label)
}

/// The field's line of help ([`crate::ui::help::field_help`]) on hover of its label.
pub fn with_help(response: Response, label: &str) -> Response {
    match crate::ui::help::field_help(label) {
        Some(text) => response.on_hover_text(text),
        None => response,
    }
}

/// A reason in red.
pub fn error_text(ui: &mut egui::Ui, message: &str) {
    ui.label(RichText::new(message).color(widgets::tone(ui, widgets::RED)));
}

/// A warning in orange (something that is allowed but probably wrong).
pub fn warning_text(ui: &mut egui::Ui, message: &str) {
    ui.label(RichText::new(message).color(widgets::tone(ui, widgets::ORANGE)));
}

/// Flags `$TAG$`s that are not in `known`: a warning, since an unknown tag is sent as written.
pub fn tag_warning(ui: &mut egui::Ui, text: &str, known: &[&str]) {
    let unknown = tags::unknown_tags(text, known);
    if !unknown.is_empty() {
        warning_text(
            ui,
            &format!("unknown tag(s) {}: sent as written", unknown.join(" ")),
        );
    }
}

pub fn parse_u32(text: &str) -> Result<u32, FieldError> {
    text.trim()
        .parse()
        .map_err(|_| FieldError::NotAWholeNumber(text.trim().into()))
}

pub fn parse_u64(text: &str) -> Result<u64, FieldError> {
    text.trim()
        .parse()
        .map_err(|_| FieldError::NotAWholeNumber(text.trim().into()))
}

pub fn parse_i32(text: &str) -> Result<i32, FieldError> {
    text.trim()
        .parse()
        .map_err(|_| FieldError::NotANumber(text.trim().into()))
}

pub fn parse_port(text: &str) -> Result<u16, FieldError> {
    let value: u32 = text
        .trim()
        .parse()
        .map_err(|_| FieldError::NotAPort(text.trim().into()))?;
    match u16::try_from(value) {
        Ok(port) if port > 0 => Ok(port),
        _ => Err(FieldError::PortZero),
    }
}

/// A port that may be left blank (= the default).
pub fn parse_optional_port(text: &str) -> Result<Option<u16>, FieldError> {
    if text.trim().is_empty() {
        Ok(None)
    } else {
        parse_port(text).map(Some)
    }
}

/// Status codes separated by commas or spaces.
pub fn parse_status_codes(text: &str) -> Result<Vec<u16>, FieldError> {
    text.split([',', ' '])
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim()
                .parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| FieldError::NotAStatusCode(s.trim().into()))
        })
        .collect()
}

pub fn status_codes_text(codes: &[u16]) -> String {
    codes
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Lines as list items; an empty text is an empty list.
pub fn split_lines(text: &str) -> Vec<String> {
    if text.is_empty() {
        Vec::new()
    } else {
        text.split('\n').map(str::to_string).collect()
    }
}

/// Drops blank items and trims the others (before validating and saving).
pub fn clean_lines(items: &mut Vec<String>) {
    items.retain(|s| !s.trim().is_empty());
    for item in items.iter_mut() {
        *item = item.trim().to_string();
    }
}

/// `[3].x` → 4 (the line number of item 3).
fn line_number(rest: &str) -> Option<usize> {
    let inner = rest.strip_prefix('[')?;
    let end = inner.find(']')?;
    inner[..end].parse::<usize>().ok().map(|i| i + 1)
}

/// The foot of a top-level dialog: the errors no field shows, the engine's refusal,
/// "Saving..." while the engine answers, then OK (only when valid) / Cancel / ?.
pub fn save_footer(
    ui: &mut egui::Ui,
    form: &mut Form,
    apply_error: &Option<String>,
    saving: bool,
    topic: HelpTopic,
    help: &mut Option<HelpTopic>,
) -> Outcome {
    form.show_rest(ui);
    if let Some(error) = apply_error {
        error_text(ui, &format!("Not saved: {error}"));
    }
    if saving {
        ui.label("Saving...");
    }
    let valid = form.is_valid() && !saving;
    buttons(ui, valid, "Correct the fields in red first", topic, help)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers() {
        assert_eq!(parse_port("53"), Ok(53));
        assert!(parse_port("0").is_err());
        assert!(parse_port("70000").is_err());
        assert_eq!(parse_optional_port(" "), Ok(None));
        assert_eq!(parse_status_codes("200, 204 301"), Ok(vec![200, 204, 301]));
        assert!(parse_status_codes("200, 99").is_err());
        assert_eq!(status_codes_text(&[200, 204]), "200, 204");
        assert_eq!(split_lines(""), Vec::<String>::new());
        assert_eq!(split_lines("a\n"), vec!["a".to_string(), String::new()]);
        assert_eq!(line_number("[2].x"), Some(3));
    }

    #[test]
    fn errors_are_cut_to_the_dialog() {
        let errors = vec![ValidationError {
            path: "update_dns.dns_servers[0].port".into(),
            message: "x".into(),
        }];
        let cut = errors_under(errors, "update_dns.dns_servers[0]");
        assert_eq!(cut[0].path, "port");
    }
}

//! Editors for the rules and requests that several dialogs share: text, length and exit-code
//! rules, HTTP success criteria, a command line and an HTTP request. Each draws rows into the
//! caller's grid; `path` is the model path of the edited value, for the validation messages.

use eframe::egui;

use crate::model::field::FieldError;
use crate::model::{
    BasicAuth, BodyType, CommandSpec, CommandWait, Comparison, ExitCodeRule, HttpCriteria,
    HttpRequest, HttpVerb, LengthRule, TextRule,
};
use crate::ui::desktop::file_dialog::{self, Ask};
use crate::ui::forms::{self, Form};

const TEXT_RULE_KINDS: [&str; 7] = [
    "anything",
    "starts with",
    "does not start with",
    "contains",
    "does not contain",
    "matches regex",
    "does not match regex",
];

fn text_rule_kind(rule: &TextRule) -> usize {
    match rule {
        TextRule::Any => 0,
        TextRule::StartsWith(_) => 1,
        TextRule::NotStartsWith(_) => 2,
        TextRule::Contains(_) => 3,
        TextRule::NotContains(_) => 4,
        TextRule::Matches(_) => 5,
        TextRule::NotMatches(_) => 6,
    }
}

fn text_rule_text(rule: &mut TextRule) -> Option<&mut String> {
    match rule {
        TextRule::Any => None,
        TextRule::StartsWith(s)
        | TextRule::NotStartsWith(s)
        | TextRule::Contains(s)
        | TextRule::NotContains(s)
        | TextRule::Matches(s)
        | TextRule::NotMatches(s) => Some(s),
    }
}

fn make_text_rule(kind: usize, text: String) -> TextRule {
    match kind {
        1 => TextRule::StartsWith(text),
        2 => TextRule::NotStartsWith(text),
        3 => TextRule::Contains(text),
        4 => TextRule::NotContains(text),
        5 => TextRule::Matches(text),
        6 => TextRule::NotMatches(text),
        _ => TextRule::Any,
    }
}

/// An optional text rule: a combo ("(no rule)", "starts with"...) and its text, in one row.
pub fn optional_text_rule(
    form: &mut Form,
    ui: &mut egui::Ui,
    label: &str,
    path: &str,
    rule: &mut Option<TextRule>,
) {
    form.row(ui, label, path, |ui| {
        let current = rule.as_ref().map(text_rule_kind);
        let mut chosen = current;
        egui::ComboBox::from_id_salt(("text rule", label, path))
            .selected_text(match current {
                Some(k) => TEXT_RULE_KINDS[k],
                None => "(no rule)",
            })
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut chosen, None, "(no rule)");
                for (k, name) in TEXT_RULE_KINDS.iter().enumerate() {
                    ui.selectable_value(&mut chosen, Some(k), *name);
                }
            });
        if chosen != current {
            let text = rule
                .as_mut()
                .and_then(text_rule_text)
                .map(std::mem::take)
                .unwrap_or_default();
            *rule = chosen.map(|k| make_text_rule(k, text));
        }
        if let Some(text) = rule.as_mut().and_then(text_rule_text) {
            ui.add(egui::TextEdit::singleline(text).desired_width(FIELD_TEXT));
        }
    });
}

const FIELD_TEXT: f32 = 160.0;

/// The rules a body must pass, one row each with a Remove button, and an Add button.
pub fn body_rules(form: &mut Form, ui: &mut egui::Ui, path: &str, rules: &mut Vec<TextRule>) {
    let mut remove = None;
    for (i, rule) in rules.iter_mut().enumerate() {
        let mut some = Some(rule.clone());
        let label = format!("Body rule {}:", i + 1);
        optional_text_rule(form, ui, &label, &format!("{path}[{i}]"), &mut some);
        match some {
            Some(r) => *rule = r,
            // "(no rule)" removes the rule.
            None => remove = Some(i),
        }
    }
    ui.label("");
    ui.horizontal(|ui| {
        if ui.button("Add body rule").clicked() {
            rules.push(TextRule::Contains(String::new()));
        }
        if !rules.is_empty() && ui.button("Remove last body rule").clicked() {
            remove = Some(rules.len() - 1);
        }
    });
    ui.end_row();
    if let Some(i) = remove {
        rules.remove(i);
    }
}

const COMPARISONS: [(Comparison, &str); 4] = [
    (Comparison::Equal, "equal to"),
    (Comparison::NotEqual, "not equal to"),
    (Comparison::Less, "less than"),
    (Comparison::Greater, "greater than"),
];

fn comparison_name(c: Comparison) -> &'static str {
    COMPARISONS
        .iter()
        .find(|(k, _)| *k == c)
        .map(|(_, n)| *n)
        .unwrap_or("")
}

/// A comparison combo with "(any)" for `None`; returns the new choice.
fn comparison_combo(
    ui: &mut egui::Ui,
    salt: &str,
    current: Option<Comparison>,
    none: &str,
) -> Option<Comparison> {
    let mut chosen = current;
    egui::ComboBox::from_id_salt(("comparison", salt))
        .selected_text(current.map(comparison_name).unwrap_or(none))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut chosen, None, none);
            for (c, name) in COMPARISONS {
                ui.selectable_value(&mut chosen, Some(c), name);
            }
        });
    chosen
}

/// A number typed in a small field beside a combo; the text is kept while it does not parse.
fn inline_number<T>(ui: &mut egui::Ui, salt: &str, value: &mut T) -> Option<String>
where
    T: std::str::FromStr + ToString + Clone + PartialEq + Send + Sync + 'static,
{
    let id = ui.scope_id().with(("inline number", salt));
    let (mut text, seen) = ui
        .data(|d| d.get_temp::<(String, T)>(id))
        .filter(|(_, seen)| seen == value)
        .unwrap_or_else(|| (value.to_string(), value.clone()));
    ui.add(egui::TextEdit::singleline(&mut text).desired_width(80.0));
    let mut error = None;
    let seen = match text.trim().parse::<T>() {
        Ok(v) => {
            *value = v;
            value.clone()
        }
        Err(_) => {
            error = Some(format!("{:?} is not a number", text.trim()));
            seen
        }
    };
    ui.data_mut(|d| d.insert_temp(id, (text, seen)));
    error
}

/// An optional content-length rule: a comparison and a number of bytes.
pub fn length_rule(form: &mut Form, ui: &mut egui::Ui, label: &str, rule: &mut Option<LengthRule>) {
    let mut error = None;
    form.row(ui, label, "", |ui| {
        let chosen = comparison_combo(ui, label, rule.map(|r| r.comparison), "(no rule)");
        match (chosen, rule.as_mut()) {
            (None, _) => *rule = None,
            (Some(c), Some(r)) => r.comparison = c,
            (Some(c), None) => {
                *rule = Some(LengthRule {
                    comparison: c,
                    bytes: 0,
                })
            }
        }
        if let Some(r) = rule.as_mut() {
            error = inline_number(ui, label, &mut r.bytes);
            ui.label("bytes");
        }
        if let Some(e) = &error {
            forms::error_text(ui, e);
        }
    });
    form.flag(label, label, error);
}

/// An optional exit-code rule.
fn exit_code_rule(
    form: &mut Form,
    ui: &mut egui::Ui,
    label: &str,
    rule: &mut Option<ExitCodeRule>,
) {
    let mut error = None;
    form.row(ui, label, "", |ui| {
        let chosen = comparison_combo(ui, label, rule.map(|r| r.comparison), "(any exit code)");
        match (chosen, rule.as_mut()) {
            (None, _) => *rule = None,
            (Some(c), Some(r)) => r.comparison = c,
            (Some(c), None) => {
                *rule = Some(ExitCodeRule {
                    comparison: c,
                    code: 0,
                })
            }
        }
        if let Some(r) = rule.as_mut() {
            error = inline_number(ui, label, &mut r.code);
        }
        if let Some(e) = &error {
            forms::error_text(ui, e);
        }
    });
    form.flag(label, label, error);
}

/// Status codes, content length and body rules.
pub fn http_criteria(
    form: &mut Form,
    ui: &mut egui::Ui,
    path: &str,
    criteria: &mut HttpCriteria,
    has_body: bool,
) {
    form.parsed(
        ui,
        "Status codes:",
        &format!("{path}.status_codes"),
        &mut criteria.status_codes,
        |codes: &Vec<u16>| forms::status_codes_text(codes),
        forms::parse_status_codes,
        false,
    );
    length_rule(form, ui, "Content length:", &mut criteria.content_length);
    if has_body {
        body_rules(form, ui, &format!("{path}.body"), &mut criteria.body);
    }
}

/// Program, arguments (one per line, with tags) and how to wait for it.
pub fn command(
    form: &mut Form,
    ui: &mut egui::Ui,
    path: &str,
    spec: &mut CommandSpec,
    known_tags: &[&str],
) {
    form.text(
        ui,
        "Program:",
        &format!("{path}.program"),
        &mut spec.program,
        None,
    );
    ui.label("");
    let ask = Ask::Open { title: "Program" };
    let id = ui.scope_id().with(("program dialog", path));
    let current = std::path::Path::new(spec.program.trim());
    let current = (!spec.program.trim().is_empty()).then_some(current);
    if let Some(chosen) = file_dialog::browse_button(ui, id, ask, current) {
        spec.program = chosen.display().to_string();
    }
    ui.end_row();
    form.lines(
        ui,
        "Arguments (one per line):",
        &format!("{path}.args"),
        &mut spec.args,
        Some(known_tags),
    );
    let mut wait = spec.wait.is_some();
    if form
        .check(ui, "Wait for the program to end and judge it", &mut wait)
        .changed()
    {
        spec.wait = wait.then(CommandWait::default);
    }
    match &mut spec.wait {
        Some(w) => {
            form.number(
                ui,
                "Wait at most (s):",
                &format!("{path}.wait.timeout_secs"),
                &mut w.timeout_secs,
            );
            exit_code_rule(form, ui, "Exit code must be:", &mut w.exit_code);
            optional_text_rule(
                form,
                ui,
                "Standard output:",
                &format!("{path}.wait.stdout"),
                &mut w.stdout,
            );
        }
        None => {
            ui.label("");
            forms::note(ui, "A program that starts counts as a success.");
            ui.end_row();
        }
    }
}

/// An HTTP request with tags (HTTP DNS updates and HTTP notifications).
pub fn http_request(
    form: &mut Form,
    ui: &mut egui::Ui,
    path: &str,
    request: &mut HttpRequest,
    known_tags: &[&str],
) {
    form.combo(ui, "Request:", "", request.verb.name(), |ui| {
        for verb in HttpVerb::ALL {
            ui.selectable_value(&mut request.verb, verb, verb.name());
        }
    });
    form.text(
        ui,
        "URL:",
        &format!("{path}.url"),
        &mut request.url,
        Some(known_tags),
    );
    form.parsed(
        ui,
        "Headers (Name: value):",
        &format!("{path}.headers"),
        &mut request.headers,
        |headers: &Vec<(String, String)>| headers_text(headers),
        parse_headers,
        true,
    );
    if request.verb.has_body() {
        form.combo(ui, "Body type:", "", request.body_type.label(), |ui| {
            for body_type in BodyType::ALL {
                ui.selectable_value(&mut request.body_type, body_type, body_type.label());
            }
        });
        form.multiline(
            ui,
            "Body:",
            &format!("{path}.body"),
            &mut request.body,
            Some(known_tags),
        );
    }
    let mut auth = request.basic_auth.is_some();
    if form.check(ui, "Basic authentication", &mut auth).changed() {
        request.basic_auth = auth.then(BasicAuth::default);
    }
    if let Some(a) = &mut request.basic_auth {
        form.text(
            ui,
            "User:",
            &format!("{path}.basic_auth.user"),
            &mut a.user,
            None,
        );
        form.secret(
            ui,
            "Password:",
            &format!("{path}.basic_auth.password"),
            &mut a.password,
        );
    }
    http_criteria(
        form,
        ui,
        &format!("{path}.criteria"),
        &mut request.criteria,
        true,
    );
    form.number(
        ui,
        "Time-out (s):",
        &format!("{path}.timeout_secs"),
        &mut request.timeout_secs,
    );
}

pub fn headers_text(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .map(|(n, v)| format!("{n}: {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, FieldError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), value.trim().to_string()))
            }
            _ => Err(FieldError::NotAHeader(line.into())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip() {
        let parsed = parse_headers("X-Key: abc\n\nAccept: */*").unwrap_or_default();
        assert_eq!(headers_text(&parsed), "X-Key: abc\nAccept: */*");
        assert!(parse_headers("no colon").is_err());
    }

    #[test]
    fn text_rule_kinds_round_trip() {
        for k in 0..TEXT_RULE_KINDS.len() {
            assert_eq!(text_rule_kind(&make_text_rule(k, "x".into())), k);
        }
    }
}

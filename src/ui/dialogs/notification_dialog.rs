//! Notification properties: one way to tell someone, and the events it is sent for.

use eframe::egui;

use crate::model::services::{Service, ServiceNotification};
use crate::model::tags::NOTIFY_TAGS;
use crate::model::validate::validate_set;
use crate::model::{
    CommandSpec, EmailMessage, EmailNotification, EventKind, HttpRequest, NotificationKind,
    NotificationMethod, ServerSet, SetNotification, SmtpServer, ValidationError,
};
use crate::ui::dialogs::child::{ChildDialog, Draft};
use crate::ui::dialogs::email_defaults_dialog as email;
use crate::ui::dialogs::rules;
use crate::ui::dialogs::test_send::TestSend;
use crate::ui::forms::{self, Form, Outcome};
use crate::ui::help::HelpTopic;

pub struct NotificationDialog {
    pub draft: Draft<NotificationMethod>,
    /// The Test... button's request and outcome.
    pub test: TestSend,
}

impl NotificationDialog {
    pub fn new(index: Option<usize>, draft: NotificationMethod) -> Self {
        Self {
            draft: Draft::new(index, draft),
            test: TestSend::default(),
        }
    }

    fn errors(&mut self) -> Vec<ValidationError> {
        self.draft.errors(|draft| {
            let set = ServerSet {
                notification: SetNotification {
                    methods: vec![draft.clone()],
                    ..SetNotification::default()
                },
                ..ServerSet::default()
            };
            forms::errors_under(validate_set(&set), "notification.methods[0]")
        })
    }

    /// The edited method, with blank lines dropped from its lists.
    pub fn result(&self) -> NotificationMethod {
        let mut method = self.draft.value.clone();
        match &mut method.kind {
            NotificationKind::Email(e) => forms::clean_lines(&mut e.to),
            NotificationKind::Command(c) => forms::clean_lines(&mut c.args),
            _ => {}
        }
        method
    }

    pub fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        let errors = self.errors();
        let can_test = errors.is_empty();
        let test = &mut self.test;
        let draft = &mut self.draft.value;
        let parse_errors = &mut self.draft.parse_errors;
        forms::window(
            ctx,
            "Notification properties",
            "notification dialog",
            560.0,
            true,
            |ui| {
                let mut form = Form::new(errors, parse_errors);
                forms::scroll_body(ui, |ui| {
                    forms::grid(ui, "notification fields", |ui| {
                        kind(&mut form, ui, &mut draft.kind);
                        if !matches!(draft.kind, NotificationKind::SystemLog) {
                            test.row(ui, can_test, || draft.clone());
                        }
                    });
                    forms::section_heading(ui, "Send for these events");
                    ui.horizontal_wrapped(|ui| {
                        for event in EventKind::ALL {
                            let mut on = draft.events.contains(&event);
                            if ui.checkbox(&mut on, event.label()).changed() {
                                draft.events.retain(|e| *e != event);
                                if on {
                                    draft.events.push(event);
                                    draft.events.sort();
                                }
                            }
                        }
                    });
                    if draft.events.is_empty() {
                        forms::warning_text(
                            ui,
                            "No event is ticked: this method never sends anything",
                        );
                    }
                    forms::grid(ui, "notification notes", |ui| {
                        form.number(
                            ui,
                            "Remind every N minutes while a problem lasts (0 = never):",
                            "remind_every_mins",
                            &mut draft.remind_every_mins,
                        );
                        form.multiline(ui, "Notes:", "notes", &mut draft.notes, None);
                    });
                });
                form.show_rest(ui);
                let valid = form.is_valid();
                forms::buttons(
                    ui,
                    valid,
                    "Correct the fields in red first",
                    HelpTopic::Notification,
                    help,
                )
            },
        )
    }
}

fn kind(form: &mut Form, ui: &mut egui::Ui, kind: &mut NotificationKind) {
    let mut chosen = None;
    form.combo(ui, "Method:", "kind", kind.label(), |ui| {
        let choices = [
            NotificationKind::Email(EmailNotification::default()),
            NotificationKind::Http(HttpRequest::default()),
            NotificationKind::Command(CommandSpec::default()),
            NotificationKind::SystemLog,
            NotificationKind::Service(ServiceNotification::default()),
        ];
        for choice in choices {
            let same = std::mem::discriminant(&choice) == std::mem::discriminant(kind);
            if ui.selectable_label(same, choice.label()).clicked() && !same {
                chosen = Some(choice);
            }
        }
    });
    if let Some(choice) = chosen {
        *kind = choice;
        form.clear_parse_errors();
    }
    match kind {
        NotificationKind::Email(e) => email_fields(form, ui, e),
        NotificationKind::Http(r) => rules::http_request(form, ui, "kind.Http", r, NOTIFY_TAGS),
        NotificationKind::Command(c) => rules::command(form, ui, "kind.Command", c, NOTIFY_TAGS),
        NotificationKind::Service(s) => service_fields(form, ui, s),
        NotificationKind::SystemLog => {
            ui.label("");
            forms::note(
                ui,
                "Events go to the Windows Event Log, or to syslog / the journal.",
            );
            ui.end_row();
        }
    }
}

fn email_fields(form: &mut Form, ui: &mut egui::Ui, e: &mut EmailNotification) {
    let p = "kind.Email";
    form.lines(
        ui,
        "To (one per line):",
        &format!("{p}.to"),
        &mut e.to,
        None,
    );
    let mut own_from = e.from.is_some();
    if form
        .check(ui, "Own sender (else the default)", &mut own_from)
        .changed()
    {
        e.from = own_from.then(String::new);
    }
    if let Some(from) = &mut e.from {
        form.text(ui, "From:", &format!("{p}.from"), from, None);
    }
    let mut own_message = e.message.is_some();
    if form
        .check(
            ui,
            "Own subject and body (else the default)",
            &mut own_message,
        )
        .changed()
    {
        e.message = own_message.then(EmailMessage::default);
    }
    if let Some(message) = &mut e.message {
        email::message(form, ui, &format!("{p}.message"), message);
    }
    let mut own_smtp = e.smtp.is_some();
    if form
        .check(ui, "Own SMTP server (else the default)", &mut own_smtp)
        .changed()
    {
        e.smtp = own_smtp.then(SmtpServer::default);
    }
    if let Some(smtp) = &mut e.smtp {
        email::smtp_server(form, ui, &format!("{p}.smtp"), smtp);
    }
}

impl ChildDialog for NotificationDialog {
    type Item = NotificationMethod;

    fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        NotificationDialog::show(self, ctx, help)
    }

    fn index(&self) -> Option<usize> {
        self.draft.index
    }

    fn result(&self) -> NotificationMethod {
        NotificationDialog::result(self)
    }
}

/// The page of a chat or paging service: the service, its URL or token, channel/topic
/// where it has one, its priority, and the message.
fn service_fields(form: &mut Form, ui: &mut egui::Ui, s: &mut ServiceNotification) {
    let p = "kind.Service";
    let mut chosen = None;
    form.combo(
        ui,
        "Service:",
        &format!("{p}.service"),
        s.service.label(),
        |ui| {
            for service in Service::ALL {
                if ui
                    .selectable_label(service == s.service, service.label())
                    .clicked()
                {
                    chosen = Some(service);
                }
            }
        },
    );
    if let Some(service) = chosen
        && service != s.service
    {
        // A new service starts from its own defaults, keeping the message.
        let (title, text) = (s.title.clone(), s.text.clone());
        *s = ServiceNotification::new(service);
        s.title = title;
        s.text = text;
    }
    if !s.service.is_web_hook() {
        form.text(ui, "Server URL:", &format!("{p}.url"), &mut s.url, None);
    }
    let (label, _) = s.service.secret_label();
    form.secret(ui, label, &format!("{p}.secret"), &mut s.secret);
    if let Some((label, _)) = s.service.target_label() {
        form.text(ui, label, &format!("{p}.target"), &mut s.target, None);
    }
    if let Some((low, high)) = s.service.priorities() {
        let shown = |p: Option<i32>| match (s.service, p) {
            (_, None) => "From the event's severity".to_string(),
            (Service::Opsgenie, Some(n)) => format!("P{n}"),
            (_, Some(n)) => n.to_string(),
        };
        let mut picked = None;
        form.combo(
            ui,
            "Priority:",
            &format!("{p}.priority"),
            &shown(s.priority),
            |ui| {
                for choice in std::iter::once(None).chain((low..=high).map(Some)) {
                    if ui
                        .selectable_label(choice == s.priority, shown(choice))
                        .clicked()
                    {
                        picked = Some(choice);
                    }
                }
            },
        );
        if let Some(choice) = picked {
            s.priority = choice;
        }
    }
    form.text(
        ui,
        "Title:",
        &format!("{p}.title"),
        &mut s.title,
        Some(NOTIFY_TAGS),
    );
    form.multiline(
        ui,
        "Text:",
        &format!("{p}.text"),
        &mut s.text,
        Some(NOTIFY_TAGS),
    );
    if matches!(s.service, Service::PagerDuty | Service::Opsgenie) {
        ui.label("");
        forms::note(
            ui,
            "A failure opens an alert keyed by $PROBLEMID$; its recovery resolves it.",
        );
        ui.end_row();
    }
}

//! E-mail defaults: the sender, message and SMTP server that e-mail notifications use when
//! they say "use the defaults".

use eframe::egui;

use crate::model::tags::NOTIFY_TAGS;
use crate::model::{
    EmailDefaults, EmailMessage, EmailNotification, NotificationKind, NotificationMethod, Settings,
    SmtpLogin, SmtpSecurity, SmtpServer, ValidationError, validate,
};
use crate::ui::dialogs::child::{ChildDialog, Draft};
use crate::ui::dialogs::test_send::TestSend;
use crate::ui::forms::{self, Form, Outcome};
use crate::ui::help::HelpTopic;

pub struct EmailDefaultsDialog {
    pub draft: Draft<EmailDefaults>,
    /// The Test... button's request and outcome.
    pub test: TestSend,
}

impl EmailDefaultsDialog {
    pub fn new(draft: EmailDefaults) -> Self {
        Self {
            draft: Draft::new(None, draft),
            test: TestSend::default(),
        }
    }

    fn errors(&mut self) -> Vec<ValidationError> {
        self.draft.errors(|draft| {
            let settings = Settings {
                email_defaults: draft.clone(),
                ..Settings::default()
            };
            forms::errors_under(validate(&settings), "email_defaults")
        })
    }

    pub fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        let errors = self.errors();
        let can_test = errors.is_empty();
        let test = &mut self.test;
        let draft = &mut self.draft.value;
        let parse_errors = &mut self.draft.parse_errors;
        forms::window(
            ctx,
            "E-mail defaults",
            "email defaults dialog",
            560.0,
            true,
            |ui| {
                let mut form = Form::new(errors, parse_errors);
                forms::grid(ui, "email defaults fields", |ui| {
                    form.text(ui, "From:", "from", &mut draft.from, None);
                    message(&mut form, ui, "message", &mut draft.message);
                    smtp_server(&mut form, ui, "smtp", &mut draft.smtp);
                    // The test goes to the sender's own address: the defaults name no
                    // recipient.
                    test.row(ui, can_test, || test_method(draft));
                });
                form.show_rest(ui);
                let valid = form.is_valid();
                forms::buttons(
                    ui,
                    valid,
                    "Correct the fields in red first",
                    HelpTopic::EmailDefaults,
                    help,
                )
            },
        )
    }
}

/// Subject and body, with tags.
pub fn message(form: &mut Form, ui: &mut egui::Ui, path: &str, message: &mut EmailMessage) {
    form.text(
        ui,
        "Subject:",
        &format!("{path}.subject"),
        &mut message.subject,
        Some(NOTIFY_TAGS),
    );
    form.multiline(
        ui,
        "Body:",
        &format!("{path}.body"),
        &mut message.body,
        Some(NOTIFY_TAGS),
    );
}

const SECURITY: [(SmtpSecurity, &str); 3] = [
    (SmtpSecurity::Plain, "None"),
    (SmtpSecurity::StartTls, "STARTTLS"),
    (SmtpSecurity::Tls, "TLS"),
];

/// Host, port, security and an optional login.
pub fn smtp_server(form: &mut Form, ui: &mut egui::Ui, path: &str, smtp: &mut SmtpServer) {
    form.text(
        ui,
        "SMTP server:",
        &format!("{path}.host"),
        &mut smtp.host,
        None,
    );
    form.port(ui, "SMTP port:", &format!("{path}.port"), &mut smtp.port);
    let name = SECURITY
        .iter()
        .find(|(s, _)| *s == smtp.security)
        .map(|(_, n)| *n)
        .unwrap_or("None");
    form.combo(ui, "Security:", "", name, |ui| {
        for (security, name) in SECURITY {
            ui.selectable_value(&mut smtp.security, security, name);
        }
    });
    let mut login = smtp.login.is_some();
    if form
        .check(ui, "Log in to the SMTP server", &mut login)
        .changed()
    {
        smtp.login = login.then(SmtpLogin::default);
    }
    if let Some(l) = &mut smtp.login {
        form.text(
            ui,
            "SMTP user:",
            &format!("{path}.login.user"),
            &mut l.user,
            None,
        );
        form.secret(
            ui,
            "SMTP password:",
            &format!("{path}.login.password"),
            &mut l.password,
        );
    }
    // Allowed (a relay on the same host), but the password would cross the network in clear.
    if let Some(warning) = crate::model::validate::smtp_warning(smtp) {
        ui.label("");
        forms::warning_text(ui, &warning);
        ui.end_row();
    }
}

/// A test e-mail with the drafted defaults, to the From address.
fn test_method(draft: &EmailDefaults) -> NotificationMethod {
    NotificationMethod {
        kind: NotificationKind::Email(EmailNotification {
            to: vec![draft.from.clone()],
            from: Some(draft.from.clone()),
            message: Some(draft.message.clone()),
            smtp: Some(draft.smtp.clone()),
        }),
        ..NotificationMethod::default()
    }
}

impl ChildDialog for EmailDefaultsDialog {
    type Item = EmailDefaults;

    fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        EmailDefaultsDialog::show(self, ctx, help)
    }

    fn index(&self) -> Option<usize> {
        None
    }

    fn result(&self) -> EmailDefaults {
        self.draft.value.clone()
    }
}

//! Options: the settings of every set, section by section (SPEC §9). The dialog edits a draft
//! of the options and the e-mail defaults; OK sends the whole settings with the draft in.

use std::path::PathBuf;
use std::sync::Arc;

use eframe::egui;

use crate::engine::SettingsEdit;
use crate::model::Cluster;
use crate::model::options::DnsZone;
use crate::model::options::{
    DnsUpdatingOptions, HttpApiOptions, LogRotation, LoggingOptions, NotificationOptions,
    PollingOptions, SystemLogOptions, UserInterfaceOptions,
};
use crate::model::{
    DnsServer, EmailDefaults, NotificationMethod, Options, ServerSet, Settings, ValidationError,
    validate,
};
use crate::ui::desktop::file_dialog::{self, Ask};
use crate::ui::dialogs::child;
use crate::ui::dialogs::cluster_page;
use crate::ui::dialogs::dns_server_dialog::DnsServerDialog;
use crate::ui::dialogs::dns_serving_page;
use crate::ui::dialogs::email_defaults_dialog::EmailDefaultsDialog;
use crate::ui::dialogs::guard_page;
use crate::ui::dialogs::notification_dialog::NotificationDialog;
use crate::ui::dialogs::set_dialog::{dns_server_row, notification_row};
use crate::ui::dialogs::zone_dialog::ZoneDialog;
use crate::ui::forms::{self, Form, ListAction, Outcome, ParseErrors, Validated};
use crate::ui::help::HelpTopic;

/// Shown under the API password while it is blank (the engine logs the same at each start).
pub const API_WITHOUT_PASSWORD: &str = "No password: any program on this computer, and anyone who \
     can reach the address, can change the settings and pause polling.";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionsSection {
    UserInterface,
    ServerPolling,
    Notification,
    DnsUpdating,
    DnsServing,
    Logging,
    HttpApi,
    SystemLog,
    ConnectivityGuard,
    Cluster,
}

impl OptionsSection {
    pub const ALL: [OptionsSection; 10] = [
        OptionsSection::UserInterface,
        OptionsSection::ServerPolling,
        OptionsSection::Notification,
        OptionsSection::DnsUpdating,
        OptionsSection::DnsServing,
        OptionsSection::Logging,
        OptionsSection::HttpApi,
        OptionsSection::SystemLog,
        OptionsSection::ConnectivityGuard,
        OptionsSection::Cluster,
    ];

    pub fn title(self) -> &'static str {
        match self {
            OptionsSection::UserInterface => "User interface",
            OptionsSection::ServerPolling => "Server polling",
            OptionsSection::Notification => "Notification",
            OptionsSection::DnsUpdating => "DNS updating",
            OptionsSection::DnsServing => "DNS serving",
            OptionsSection::Logging => "Logging",
            OptionsSection::HttpApi => "HTTP API",
            OptionsSection::SystemLog => "System log",
            OptionsSection::ConnectivityGuard => "Connectivity guard",
            OptionsSection::Cluster => "Cluster",
        }
    }

    /// Where the section's fields sit in the settings (for the error markers).
    fn paths(self) -> &'static [&'static str] {
        match self {
            OptionsSection::UserInterface => &["options.user_interface"],
            OptionsSection::ServerPolling => &["options.polling"],
            OptionsSection::Notification => &["options.notification", "email_defaults"],
            OptionsSection::DnsUpdating => &["options.dns_updating"],
            OptionsSection::DnsServing => &["options.dns_serving"],
            OptionsSection::Logging => &["options.logging"],
            OptionsSection::HttpApi => &["options.http_api"],
            OptionsSection::SystemLog => &["options.system_log"],
            OptionsSection::ConnectivityGuard => &["options.connectivity_guard"],
            OptionsSection::Cluster => &["cluster"],
        }
    }
}

/// What the dialog edits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionsDraft {
    pub options: Options,
    pub email_defaults: EmailDefaults,
    /// This instance's cluster section (`None` = it runs alone).
    pub cluster: Option<Cluster>,
}

pub enum OptionsChild {
    Notification(NotificationDialog),
    DnsServer(DnsServerDialog),
    EmailDefaults(EmailDefaultsDialog),
    Zone(ZoneDialog),
}

pub struct OptionsDialog {
    pub draft: OptionsDraft,
    base: Arc<Settings>,
    pub section: OptionsSection,
    pub child: Option<OptionsChild>,
    validated: Validated<OptionsDraft>,
    parse_errors: ParseErrors,
    pub saving: bool,
    pub apply_error: Option<String>,
    /// The fields the engine refused, with the draft it refused: shown beside their
    /// fields until the draft changes.
    pub refused: Option<(OptionsDraft, Vec<ValidationError>)>,
    /// The settings revision the draft was copied from: OK is refused (and says so) if the
    /// settings changed meanwhile, through the API or by hand.
    pub revision: u64,
    /// The cluster section while the Cluster page's box is unticked.
    cluster_stash: Option<Cluster>,
    /// What *most polls in flight* 0 (auto) gives for the settings in force (0: not known
    /// yet), from the snapshot.
    pub auto_poll_limit: usize,
}

impl OptionsDialog {
    pub fn new(base: Arc<Settings>) -> Self {
        Self {
            draft: OptionsDraft {
                options: base.options.clone(),
                email_defaults: base.email_defaults.clone(),
                cluster: base.cluster.clone(),
            },
            base,
            section: OptionsSection::UserInterface,
            child: None,
            validated: Validated::default(),
            parse_errors: ParseErrors::default(),
            saving: false,
            apply_error: None,
            refused: None,
            revision: 0,
            cluster_stash: None,
            auto_poll_limit: 0,
        }
    }

    /// The change OK sends to the engine.
    pub fn change(&self) -> SettingsEdit {
        SettingsEdit::OptionsDialog {
            options: Box::new(cleaned(&self.draft).options),
            email_defaults: Box::new(self.draft.email_defaults.clone()),
            cluster: cleaned(&self.draft).cluster.map(Box::new),
        }
    }

    fn errors(&mut self) -> Vec<ValidationError> {
        let base = &self.base;
        let ours = |e: &ValidationError| {
            e.path.starts_with("options")
                || e.path.starts_with("email_defaults")
                || e.path.starts_with("cluster")
        };
        let mut errors = self.validated.errors(&self.draft, |draft| {
            validate(&merge(base, &cleaned(draft)))
                .into_iter()
                .filter(ours)
                .collect()
        });
        if let Some((draft, refused)) = &self.refused
            && *draft == self.draft
        {
            let new: Vec<ValidationError> = refused
                .iter()
                .filter(|e| ours(e) && !errors.contains(e))
                .cloned()
                .collect();
            errors.extend(new);
        }
        errors
    }

    pub fn help_topic(&self) -> HelpTopic {
        match &self.child {
            Some(OptionsChild::Notification(_)) => HelpTopic::Notification,
            Some(OptionsChild::DnsServer(_)) => HelpTopic::DnsServer,
            Some(OptionsChild::EmailDefaults(_)) => HelpTopic::EmailDefaults,
            Some(OptionsChild::Zone(_)) => HelpTopic::Zone,
            None => HelpTopic::Options,
        }
    }

    pub fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        let errors = self.errors();
        let enabled = self.child.is_none() && !self.saving;
        let mut action = Action::None;
        let (draft, current, parse_errors, stash) = (
            &mut self.draft,
            &mut self.section,
            &mut self.parse_errors,
            &mut self.cluster_stash,
        );
        let sets = &self.base.server_sets;
        let auto_poll_limit = self.auto_poll_limit;
        let (saving, apply_error) = (self.saving, &self.apply_error);
        let outcome = forms::window(ctx, "Options", "options dialog", 760.0, enabled, |ui| {
            let mut form = Form::new(errors, parse_errors);
            ui.horizontal_top(|ui| {
                egui::Frame::group(ui.style()).show(ui, |ui| {
                    ui.vertical(|ui| {
                        ui.set_width(150.0);
                        for s in OptionsSection::ALL {
                            ui.horizontal(|ui| {
                                ui.selectable_value(current, s, s.title());
                                let wrong = s.paths().iter().any(|p| form.has_errors_under(p));
                                if *current != s && wrong {
                                    forms::error_text(ui, "(!)");
                                }
                            });
                        }
                    });
                });
                // Not a separator: in a row it spans the available height, and the window
                // would grow by it every frame.
                ui.add_space(8.0);
                ui.vertical(|ui| {
                    ui.set_min_width(520.0);
                    forms::scroll_body(ui, |ui| {
                        action =
                            section(ui, &mut form, *current, draft, sets, auto_poll_limit, stash);
                    });
                });
            });
            // F1 opens the help at the section shown.
            let topic = HelpTopic::Options.at(current.title());
            forms::save_footer(ui, &mut form, apply_error, saving, topic, help)
        });
        self.act(action);
        self.show_child(ctx, help);
        outcome
    }

    fn act(&mut self, action: Action) {
        let o = &mut self.draft.options;
        self.child = match action {
            Action::None => return,
            Action::EmailDefaults => Some(OptionsChild::EmailDefaults(EmailDefaultsDialog::new(
                self.draft.email_defaults.clone(),
            ))),
            Action::Methods(a) => {
                let methods = &mut o.notification.default_methods;
                match forms::apply_list_action(methods, a) {
                    ListAction::Add => Some(OptionsChild::Notification(NotificationDialog::new(
                        None,
                        NotificationMethod::default(),
                    ))),
                    ListAction::Edit(i) => methods.get(i).map(|m| {
                        OptionsChild::Notification(NotificationDialog::new(Some(i), m.clone()))
                    }),
                    _ => return,
                }
            }
            Action::DnsServers(a) => {
                let servers = &mut o.dns_updating.default_dns_servers;
                match forms::apply_list_action(servers, a) {
                    ListAction::Add => Some(OptionsChild::DnsServer(DnsServerDialog::new(
                        None,
                        DnsServer::default(),
                    ))),
                    ListAction::Edit(i) => servers
                        .get(i)
                        .map(|s| OptionsChild::DnsServer(DnsServerDialog::new(Some(i), s.clone()))),
                    _ => return,
                }
            }
            Action::Zones(a) => {
                let zones = &mut o.dns_serving.zones;
                match forms::apply_list_action(zones, a) {
                    ListAction::Add => Some(OptionsChild::Zone(ZoneDialog::new(
                        None,
                        DnsZone::default(),
                    ))),
                    ListAction::Edit(i) => zones
                        .get(i)
                        .map(|z| OptionsChild::Zone(ZoneDialog::new(Some(i), z.clone()))),
                    _ => return,
                }
            }
        };
    }

    fn show_child(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) {
        let d = &mut self.draft;
        let o = &mut d.options;
        let done = match &mut self.child {
            None => false,
            Some(OptionsChild::Notification(dialog)) => {
                child::edit_in_list(dialog, &mut o.notification.default_methods, ctx, help)
            }
            Some(OptionsChild::DnsServer(dialog)) => {
                child::edit_in_list(dialog, &mut o.dns_updating.default_dns_servers, ctx, help)
            }
            Some(OptionsChild::EmailDefaults(dialog)) => {
                child::edit_in_place(dialog, &mut d.email_defaults, ctx, help)
            }
            Some(OptionsChild::Zone(dialog)) => {
                child::edit_in_list(dialog, &mut o.dns_serving.zones, ctx, help)
            }
        };
        if done {
            self.child = None;
        }
    }
}

/// The draft as it is saved: blank lines of the list fields dropped.
fn cleaned(draft: &OptionsDraft) -> OptionsDraft {
    let mut draft = draft.clone();
    forms::clean_lines(&mut draft.options.dns_serving.forward_allowed_from);
    if let Some(c) = &mut draft.cluster {
        forms::clean_lines(&mut c.endpoints);
    }
    draft
}

fn merge(current: &Settings, draft: &OptionsDraft) -> Settings {
    let mut settings = current.clone();
    let paused = settings.options.polling.paused;
    settings.options = draft.options.clone();
    settings.options.polling.paused = paused;
    settings.email_defaults = draft.email_defaults.clone();
    settings.cluster = draft.cluster.clone();
    settings
}

/// What a section asked for.
enum Action {
    None,
    EmailDefaults,
    Methods(ListAction),
    DnsServers(ListAction),
    Zones(ListAction),
}

fn optional_path(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn parse_optional_path(text: &str) -> Result<Option<PathBuf>, std::convert::Infallible> {
    Ok((!text.trim().is_empty()).then(|| PathBuf::from(text.trim())))
}

/// One section of the dialog; what it asks the dialog to do (open a child dialog, change a
/// list) comes back as an [`Action`].
fn section(
    ui: &mut egui::Ui,
    form: &mut Form,
    section: OptionsSection,
    d: &mut OptionsDraft,
    sets: &[ServerSet],
    auto_poll_limit: usize,
    cluster_stash: &mut Option<Cluster>,
) -> Action {
    let o = &mut d.options;
    match section {
        OptionsSection::UserInterface => user_interface(ui, form, &mut o.user_interface),
        OptionsSection::ServerPolling => server_polling(ui, form, &mut o.polling, auto_poll_limit),
        OptionsSection::Notification => return notification(ui, form, &mut o.notification),
        OptionsSection::DnsUpdating => return dns_updating(ui, form, &mut o.dns_updating),
        OptionsSection::DnsServing => {
            let a = dns_serving_page::page(ui, form, &mut o.dns_serving, sets);
            if a != ListAction::None {
                return Action::Zones(a);
            }
        }
        OptionsSection::Logging => logging(ui, form, &mut o.logging),
        OptionsSection::HttpApi => http_api(ui, form, &mut o.http_api),
        OptionsSection::SystemLog => system_log(ui, form, &mut o.system_log),
        OptionsSection::ConnectivityGuard => {
            guard_page::page(ui, form, &mut o.connectivity_guard);
        }
        OptionsSection::Cluster => cluster_page::page(ui, form, &mut d.cluster, cluster_stash),
    }
    Action::None
}

fn user_interface(ui: &mut egui::Ui, form: &mut Form, u: &mut UserInterfaceOptions) {
    forms::grid(ui, "options ui", |ui| {
        form.check(ui, "Start in the tray", &mut u.start_in_tray);
        form.check(ui, "Start at login", &mut u.start_at_login);
        form.check(
            ui,
            "Closing the window hides it to the tray",
            &mut u.close_to_tray,
        );
        form.check(
            ui,
            "Desktop notification on problems",
            &mut u.desktop_notification,
        );
        form.check(ui, "Play a sound on problems", &mut u.play_sound);
        if u.play_sound {
            form.parsed(
                ui,
                "Sound file (blank = built-in):",
                "options.user_interface.sound_file",
                &mut u.sound_file,
                optional_path,
                parse_optional_path,
                false,
            );
            ui.label("");
            let ask = Ask::Open {
                title: "Sound file",
            };
            let id = ui.scope_id().with("sound file dialog");
            if let Some(path) = file_dialog::browse_button(ui, id, ask, u.sound_file.as_deref()) {
                u.sound_file = Some(path);
            }
            ui.end_row();
        }
    });
}

fn server_polling(ui: &mut egui::Ui, form: &mut Form, p: &mut PollingOptions, auto: usize) {
    forms::grid(ui, "options polling", |ui| {
        form.number(
            ui,
            "Max concurrent polls:",
            "options.polling.max_concurrent_polls",
            &mut p.max_concurrent_polls,
        );
        form.row(ui, "", "", |ui| {
            ui.label(auto_limit_text(p.max_concurrent_polls, auto));
        });
        form.check(
            ui,
            "History: store only changes of status",
            &mut p.history_only_changes,
        );
        form.number(
            ui,
            "Purge history after (days):",
            "options.polling.history_purge_days",
            &mut p.history_purge_days,
        );
        form.number(
            ui,
            "Keep raw polls for (hours):",
            "options.polling.history_raw_hours",
            &mut p.history_raw_hours,
        );
    });
}

/// What the field's value means: 0 is auto, shown with the limit it gives for the
/// settings in force (the engine works it out: it knows the open-file limit).
fn auto_limit_text(value: u32, auto: usize) -> String {
    match (value, auto) {
        (0, 0) => "auto".into(),
        (0, n) => format!("auto ({n})"),
        (_, 0) => "0 = auto".into(),
        (_, n) => format!("0 = auto ({n})"),
    }
}

fn logging(ui: &mut egui::Ui, form: &mut Form, l: &mut LoggingOptions) {
    forms::grid(ui, "options logging", |ui| {
        form.number(
            ui,
            "Lines kept in memory:",
            "options.logging.memory_lines",
            &mut l.memory_lines,
        );
        form.check(ui, "Also write the log to files", &mut l.to_files);
        form.parsed(
            ui,
            "Log directory:",
            "options.logging.directory",
            &mut l.directory,
            optional_path,
            parse_optional_path,
            false,
        );
        ui.label("");
        ui.horizontal(|ui| {
            let ask = Ask::Folder {
                title: "Log directory",
            };
            let id = ui.scope_id().with("log directory dialog");
            if let Some(path) = file_dialog::browse_button(ui, id, ask, l.directory.as_deref()) {
                l.directory = Some(path);
            }
            forms::note(ui, "Blank = a logs folder beside the settings file.");
        });
        ui.end_row();
        let rotations = [
            (LogRotation::Hourly, "every hour"),
            (LogRotation::Daily, "every day"),
            (LogRotation::Monthly, "every month"),
        ];
        let name = rotations
            .iter()
            .find(|(r, _)| *r == l.rotation)
            .map(|(_, n)| *n)
            .unwrap_or("");
        form.combo(ui, "New file:", "", name, |ui| {
            for (r, n) in rotations {
                ui.selectable_value(&mut l.rotation, r, n);
            }
        });
        form.check(ui, "Time stamps in UTC", &mut l.utc);
    });
}

fn http_api(ui: &mut egui::Ui, form: &mut Form, a: &mut HttpApiOptions) {
    forms::grid(ui, "options http api", |ui| {
        form.check(ui, "Enable the HTTP API", &mut a.enabled);
        form.text(
            ui,
            "Listen on (address:port):",
            "options.http_api.listen",
            &mut a.listen,
            None,
        );
        form.secret(
            ui,
            "Password of admin:",
            "options.http_api.password",
            &mut a.password,
        );
        ui.label("");
        forms::note(ui, "Blank = no password.");
        ui.end_row();
        if a.enabled && a.password.is_empty() {
            ui.label("");
            forms::warning_text(ui, API_WITHOUT_PASSWORD);
            ui.end_row();
        }
        form.check(ui, "Log every request", &mut a.log_requests);
    });
}

fn system_log(ui: &mut egui::Ui, form: &mut Form, s: &mut SystemLogOptions) {
    forms::grid(ui, "options system log", |ui| {
        let label = if cfg!(windows) {
            "Write events to the Windows Event Log"
        } else {
            "Write events to syslog / the journal"
        };
        form.check(ui, label, &mut s.enabled);
    });
}

fn notification(ui: &mut egui::Ui, form: &mut Form, n: &mut NotificationOptions) -> Action {
    let mut action = Action::None;
    forms::section_heading(ui, "Default notification methods");
    let rows: Vec<String> = n.default_methods.iter().map(notification_row).collect();
    let errors = list_errors(form, "options.notification.default_methods", rows.len());
    let a = forms::list_editor(ui, "notification method", &rows, &errors, false);
    if a != ListAction::None {
        action = Action::Methods(a);
    }
    forms::grid(ui, "options notification", |ui| {
        form.number(
            ui,
            "Coalesce repeats within (s):",
            "options.notification.coalesce_secs",
            &mut n.coalesce_secs,
        );
    });
    let wrong = form.take_under("email_defaults");
    if ui.button("E-mail defaults...").clicked() {
        action = Action::EmailDefaults;
    }
    if let Some((_, message)) = wrong.first() {
        forms::error_text(ui, &format!("E-mail defaults: {message}"));
    }
    action
}

fn dns_updating(ui: &mut egui::Ui, form: &mut Form, u: &mut DnsUpdatingOptions) -> Action {
    let mut action = Action::None;
    forms::grid(ui, "options dns updating", |ui| {
        form.number(
            ui,
            "Max concurrent updates:",
            "options.dns_updating.max_concurrent_updates",
            &mut u.max_concurrent_updates,
        );
        form.text(
            ui,
            "Resolver for name servers (blank = system's):",
            "options.dns_updating.propagation_resolver",
            &mut u.propagation_resolver,
            None,
        );
    });
    forms::section_heading(ui, "Default DNS servers");
    let rows: Vec<String> = u.default_dns_servers.iter().map(dns_server_row).collect();
    let errors = list_errors(form, "options.dns_updating.default_dns_servers", rows.len());
    let a = forms::list_editor(ui, "DNS server", &rows, &errors, false);
    if a != ListAction::None {
        action = Action::DnsServers(a);
    }
    action
}

fn list_errors(form: &mut Form, prefix: &str, len: usize) -> Vec<Option<String>> {
    (0..len)
        .map(|i| {
            form.take_under(&format!("{prefix}[{i}]"))
                .into_iter()
                .next()
                .map(|(_, m)| m)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_engines_refusal_shows_at_its_field_until_the_draft_changes() {
        let mut dialog = OptionsDialog::new(Arc::new(Settings::default()));
        let refused = ValidationError {
            path: "options.http_api.listen".into(),
            message: "\"x\" is not an address:port".into(),
        };
        dialog.refused = Some((dialog.draft.clone(), vec![refused.clone()]));
        assert!(dialog.errors().contains(&refused));
        dialog.draft.options.polling.max_concurrent_polls += 1;
        assert!(!dialog.errors().contains(&refused));
    }

    #[test]
    fn zero_polls_in_flight_reads_auto_with_its_limit() {
        let table = [
            (0, 0, "auto"),
            (0, 12_500, "auto (12500)"),
            (7, 12_500, "0 = auto (12500)"),
            (7, 0, "0 = auto"),
        ];
        for (value, auto, text) in table {
            assert_eq!(auto_limit_text(value, auto), text);
        }
    }
}

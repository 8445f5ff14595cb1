//! Server set properties: one set, edited as a draft; OK sends the whole settings with the
//! draft in place of the set (SPEC §9). Nested dialogs edit this draft, never the settings.

use std::sync::Arc;

use eframe::egui;

use crate::model::{
    AddressSelection, AllFailedPolicy, DnsServer, NotificationKind, NotificationMethod, Server,
    ServerSet, Settings, ValidationError, validate,
};
use crate::ui::dialogs::child;
use crate::ui::dialogs::dns_server_dialog::DnsServerDialog;
use crate::ui::dialogs::notification_dialog::NotificationDialog;
use crate::ui::dialogs::poll_method;
use crate::ui::forms::{self, Form, ListAction, Outcome, ParseErrors, Validated};
use crate::ui::help::HelpTopic;

/// The pages of the dialog, with the model path of each (for error markers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetSection {
    Name,
    Servers,
    PollingMethod,
    PollingFrequency,
    Notification,
    DnsData,
    UpdateDns,
    Maintenance,
    Notes,
}

impl SetSection {
    pub const ALL: [SetSection; 9] = [
        SetSection::Name,
        SetSection::Servers,
        SetSection::PollingMethod,
        SetSection::PollingFrequency,
        SetSection::Notification,
        SetSection::DnsData,
        SetSection::UpdateDns,
        SetSection::Maintenance,
        SetSection::Notes,
    ];

    pub fn title(self) -> &'static str {
        match self {
            SetSection::Name => "Name",
            SetSection::Servers => "Servers",
            SetSection::PollingMethod => "Polling method",
            SetSection::PollingFrequency => "Polling frequency",
            SetSection::Notification => "Notification",
            SetSection::DnsData => "DNS data",
            SetSection::UpdateDns => "Update DNS",
            SetSection::Maintenance => "Maintenance",
            SetSection::Notes => "Notes",
        }
    }

    fn path(self) -> &'static str {
        match self {
            SetSection::Name => "name",
            SetSection::Servers => "servers",
            SetSection::PollingMethod => "polling",
            SetSection::PollingFrequency => "frequency",
            SetSection::Notification => "notification",
            SetSection::DnsData => "dns",
            SetSection::UpdateDns => "update_dns",
            SetSection::Maintenance => "maintenance",
            SetSection::Notes => "notes",
        }
    }
}

/// A dialog opened on top of the set dialog.
pub enum SetChild {
    Server(crate::ui::dialogs::server_dialog::ServerDialog),
    Notification(NotificationDialog),
    DnsServer(DnsServerDialog),
}

pub struct SetDialog {
    /// The set's name in the settings when the dialog opened; `None` for a new set.
    pub original_name: Option<String>,
    pub draft: ServerSet,
    /// The settings when the dialog opened, for the duplicate-name check.
    base: Arc<Settings>,
    pub section: SetSection,
    pub child: Option<SetChild>,
    validated: Validated<ServerSet>,
    parse_errors: ParseErrors,
    /// Set while the engine validates and saves; the dialog waits for its answer.
    pub saving: bool,
    /// Why the engine refused the settings, shown above the buttons.
    pub apply_error: Option<String>,
    /// The fields the engine refused (paths of the whole settings), with the draft it
    /// refused: shown beside their fields until the draft changes.
    pub refused: Option<(ServerSet, Vec<ValidationError>)>,
    /// The settings revision the draft was copied from (see `OptionsDialog::revision`).
    pub revision: u64,
    /// The first set's guided path (the first-run screen): Back and Next above the page.
    pub guided: bool,
}

/// The guided path's steps, in order: who is polled, how, and which names DNS gives.
pub const GUIDE: [SetSection; 3] = [
    SetSection::Servers,
    SetSection::PollingMethod,
    SetSection::DnsData,
];

/// What a step of the guided path asks for.
fn guide_text(section: SetSection) -> &'static str {
    match section {
        SetSection::Servers => {
            "Add the servers that can do the job, most preferred first (Add...: an address \
             and a name)."
        }
        SetSection::PollingMethod => {
            "Choose how Standby tells that a server works: HTTP for a web site, TCP for a \
             mail or FTP service, Ping for the bare machine."
        }
        _ => {
            "Give the host names that should point at a working server. Updating DNS servers \
             is off until you turn it on (Update DNS); OK starts polling."
        }
    }
}

impl SetDialog {
    /// A dialog for a new set.
    pub fn new_set(base: Arc<Settings>) -> Self {
        let mut draft = ServerSet::default();
        // A free name, so that the new set is valid apart from its servers.
        let mut n = 1;
        while base.set(&draft.name).is_some() {
            n += 1;
            draft.name = format!("New server set {n}");
        }
        Self::with(None, draft, base)
    }

    /// A dialog on the set called `name`, if there is one.
    pub fn edit(base: Arc<Settings>, name: &str) -> Option<Self> {
        let draft = base.set(name)?.clone();
        Some(Self::with(Some(name.to_string()), draft, base))
    }

    fn with(original_name: Option<String>, draft: ServerSet, base: Arc<Settings>) -> Self {
        Self {
            original_name,
            draft,
            base,
            section: SetSection::Name,
            child: None,
            validated: Validated::default(),
            parse_errors: ParseErrors::default(),
            saving: false,
            apply_error: None,
            refused: None,
            revision: 0,
            guided: false,
        }
    }

    /// The first set's dialog: it opens on the guided path's first step.
    pub fn guided(mut self) -> Self {
        self.guided = true;
        self.section = GUIDE[0];
        self
    }

    /// The change OK sends to the engine.
    pub fn change(&self) -> crate::engine::SettingsEdit {
        crate::engine::SettingsEdit::SetDialog {
            original: self.original_name.clone(),
            set: Box::new(self.result()),
        }
    }

    /// The draft, tidied for saving (blank lines of the lists dropped).
    pub fn result(&self) -> ServerSet {
        let mut set = self.draft.clone();
        set.name = set.name.trim().to_string();
        forms::clean_lines(&mut set.dns.host_names);
        if let AllFailedPolicy::Fallback(addresses) = &mut set.dns.if_all_fail {
            forms::clean_lines(addresses);
        }
        if let crate::model::PollMethod::Command(c) = &mut set.polling {
            forms::clean_lines(&mut c.args);
        }
        set
    }

    fn errors(&mut self) -> Vec<ValidationError> {
        let (base, original) = (&self.base, self.original_name.as_deref());
        let set = self.result();
        // Where the set is in the whole settings: its errors' paths start there.
        let at = |sets: usize| {
            original
                .and_then(|name| base.server_sets.iter().position(|s| s.name == name))
                .unwrap_or(sets.saturating_sub(1))
        };
        let mut errors = self.validated.errors(&self.draft, |_| {
            let merged = merge(base, original, set);
            let at = at(merged.server_sets.len());
            forms::errors_under(validate(&merged), &format!("server_sets[{at}]"))
        });
        if let Some((draft, refused)) = &self.refused
            && *draft == self.draft
        {
            let sets = base.server_sets.len() + usize::from(original.is_none());
            let prefix = format!("server_sets[{}]", at(sets));
            let new: Vec<ValidationError> = forms::errors_under(refused.clone(), &prefix)
                .into_iter()
                .filter(|e| !errors.contains(e))
                .collect();
            errors.extend(new);
        }
        errors
    }

    /// The help topic of the window on top.
    pub fn help_topic(&self) -> HelpTopic {
        match &self.child {
            Some(SetChild::Server(_)) => HelpTopic::Server,
            Some(SetChild::Notification(_)) => HelpTopic::Notification,
            Some(SetChild::DnsServer(_)) => HelpTopic::DnsServer,
            None => HelpTopic::ServerSet,
        }
    }

    pub fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        let errors = self.errors();
        let enabled = self.child.is_none() && !self.saving;
        let title = match &self.original_name {
            Some(_) => "Server set properties",
            None => "New server set",
        };
        let mut action = (SetList::None, ListAction::None);
        let (draft, current, parse_errors) =
            (&mut self.draft, &mut self.section, &mut self.parse_errors);
        let (saving, apply_error) = (self.saving, &self.apply_error);
        let guided = self.guided;
        let outcome = forms::window(ctx, title, "set dialog", 760.0, enabled, |ui| {
            if guided {
                guide_strip(ui, current);
            }
            let mut form = Form::new(errors, parse_errors);
            ui.horizontal_top(|ui| {
                section_list(ui, &mut form, current);
                // Not a separator: in a row it spans the available height, and the window
                // would grow by it every frame.
                ui.add_space(8.0);
                ui.vertical(|ui| {
                    ui.set_min_width(520.0);
                    forms::scroll_body(ui, |ui| {
                        action = section(ui, &mut form, *current, draft);
                    });
                });
            });
            forms::save_footer(
                ui,
                &mut form,
                apply_error,
                saving,
                // F1 opens the help at the section shown.
                HelpTopic::ServerSet.at(current.title()),
                help,
            )
        });
        self.list_action(action);
        self.show_child(ctx, help);
        outcome
    }

    fn list_action(&mut self, (list, action): (SetList, ListAction)) {
        let d = &mut self.draft;
        match list {
            SetList::None => {}
            SetList::Servers => match forms::apply_list_action(&mut d.servers, action) {
                ListAction::Add => {
                    self.child = Some(SetChild::Server(
                        crate::ui::dialogs::server_dialog::ServerDialog::new(
                            None,
                            Server::default(),
                            d.servers.clone(),
                        ),
                    ));
                }
                ListAction::Edit(i) => {
                    if let Some(server) = d.servers.get(i) {
                        self.child = Some(SetChild::Server(
                            crate::ui::dialogs::server_dialog::ServerDialog::new(
                                Some(i),
                                server.clone(),
                                d.servers.clone(),
                            ),
                        ));
                    }
                }
                _ => {}
            },
            SetList::Notifications => {
                match forms::apply_list_action(&mut d.notification.methods, action) {
                    ListAction::Add => {
                        self.child = Some(SetChild::Notification(NotificationDialog::new(
                            None,
                            NotificationMethod::default(),
                        )));
                    }
                    ListAction::Edit(i) => {
                        if let Some(m) = d.notification.methods.get(i) {
                            self.child = Some(SetChild::Notification(NotificationDialog::new(
                                Some(i),
                                m.clone(),
                            )));
                        }
                    }
                    _ => {}
                }
            }
            SetList::DnsServers => {
                match forms::apply_list_action(&mut d.update_dns.dns_servers, action) {
                    ListAction::Add => {
                        self.child = Some(SetChild::DnsServer(DnsServerDialog::new(
                            None,
                            DnsServer::default(),
                        )));
                    }
                    ListAction::Edit(i) => {
                        if let Some(s) = d.update_dns.dns_servers.get(i) {
                            self.child = Some(SetChild::DnsServer(DnsServerDialog::new(
                                Some(i),
                                s.clone(),
                            )));
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    fn show_child(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) {
        let d = &mut self.draft;
        let done = match &mut self.child {
            None => false,
            Some(SetChild::Server(dialog)) => {
                child::edit_in_list(dialog, &mut d.servers, ctx, help)
            }
            Some(SetChild::Notification(dialog)) => {
                child::edit_in_list(dialog, &mut d.notification.methods, ctx, help)
            }
            Some(SetChild::DnsServer(dialog)) => {
                child::edit_in_list(dialog, &mut d.update_dns.dns_servers, ctx, help)
            }
        };
        if done {
            self.child = None;
        }
    }
}

/// `current` with `set` in place of the set called `original` (or added at the end). The
/// set's paused flag stays the one in force: pausing is not the dialog's business.
fn merge(current: &Settings, original: Option<&str>, mut set: ServerSet) -> Settings {
    let mut settings = current.clone();
    let at = original.and_then(|name| settings.server_sets.iter().position(|s| s.name == name));
    match at {
        Some(i) => {
            set.paused = settings.server_sets[i].paused;
            settings.server_sets[i] = set;
        }
        None => settings.server_sets.push(set),
    }
    settings
}

/// Which list of the draft an action is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SetList {
    None,
    Servers,
    Notifications,
    DnsServers,
}

/// The page names on the left; a page with a wrong field gets a red "(!)".
/// The guided path's line above the page: the step, what it asks, Back and Next.
fn guide_strip(ui: &mut egui::Ui, current: &mut SetSection) {
    let step = GUIDE.iter().position(|s| s == current);
    ui.horizontal(|ui| {
        let shown = step.map_or(GUIDE.len(), |i| i + 1);
        ui.label(egui::RichText::new(format!("Step {shown} of {}", GUIDE.len())).strong());
        if let Some(i) = step.filter(|&i| i > 0)
            && ui.button("< Back").clicked()
        {
            *current = GUIDE[i - 1];
        }
        match step {
            Some(i) if i + 1 < GUIDE.len() => {
                if ui.button("Next >").clicked() {
                    *current = GUIDE[i + 1];
                }
            }
            Some(_) => {}
            // The operator went to another page: this brings the path back.
            None => {
                if ui.button("Back to the steps").clicked() {
                    *current = GUIDE[0];
                }
            }
        }
    });
    if step.is_some() {
        ui.label(guide_text(*current));
    }
    ui.separator();
}

fn section_list(ui: &mut egui::Ui, form: &mut Form, current: &mut SetSection) {
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.vertical(|ui| {
            ui.set_width(150.0);
            for s in SetSection::ALL {
                ui.horizontal(|ui| {
                    ui.selectable_value(current, s, s.title());
                    if *current != s && form.has_errors_under(s.path()) {
                        forms::error_text(ui, "(!)");
                    }
                });
            }
        });
    });
}

fn section(
    ui: &mut egui::Ui,
    form: &mut Form,
    section: SetSection,
    d: &mut ServerSet,
) -> (SetList, ListAction) {
    let mut action = (SetList::None, ListAction::None);
    match section {
        SetSection::Name => forms::grid(ui, "set name", |ui| {
            form.text(ui, "Set name:", "name", &mut d.name, None);
        }),
        SetSection::Servers => {
            forms::note(ui, "In priority order: the first server is preferred.");
            let rows: Vec<String> = d.servers.iter().map(server_row).collect();
            let errors = row_errors(form, "servers", d.servers.len());
            let a = forms::list_editor(ui, "server", &rows, &errors, true);
            if let Some(message) = form.take("servers") {
                forms::error_text(ui, &message);
            }
            action = (SetList::Servers, a);
        }
        SetSection::PollingMethod => forms::grid(ui, "polling method", |ui| {
            poll_method::show(form, ui, &mut d.polling);
        }),
        SetSection::PollingFrequency => forms::grid(ui, "polling frequency", |ui| {
            let f = &mut d.frequency;
            let p = "frequency";
            form.duration(ui, "Poll every:", &format!("{p}.interval"), &mut f.interval);
            form.duration(
                ui,
                "Once a server failed, every:",
                &format!("{p}.failed_interval"),
                &mut f.failed_interval,
            );
            form.number(
                ui,
                "Retry a failed poll (times):",
                &format!("{p}.retries"),
                &mut f.retries,
            );
            form.duration(
                ui,
                "Retry every:",
                &format!("{p}.retry_interval"),
                &mut f.retry_interval,
            );
            form.duration(
                ui,
                "Response time-out:",
                &format!("{p}.timeout"),
                &mut f.timeout,
            );
            form.number(
                ui,
                "Successful polls to recover:",
                &format!("{p}.recover_after"),
                &mut f.recover_after,
            );
            form.check(
                ui,
                "Poll sequentially and stop at the first server that succeeds",
                &mut f.sequential,
            );
        }),
        SetSection::Notification => {
            forms::grid(ui, "set notification", |ui| {
                form.check(
                    ui,
                    "Use the default notification methods",
                    &mut d.notification.use_defaults,
                );
            });
            forms::section_heading(ui, "This set's own methods");
            let rows: Vec<String> = d
                .notification
                .methods
                .iter()
                .map(notification_row)
                .collect();
            let errors = row_errors(form, "notification.methods", rows.len());
            action = (
                SetList::Notifications,
                forms::list_editor(ui, "notification method", &rows, &errors, false),
            );
        }
        SetSection::DnsData => forms::grid(ui, "dns data", |ui| dns_data(form, ui, d)),
        SetSection::UpdateDns => {
            forms::grid(ui, "update dns", |ui| {
                form.check(ui, "Update DNS servers", &mut d.update_dns.enabled);
                form.check(
                    ui,
                    "Update the default DNS servers (Options)",
                    &mut d.update_dns.use_default_servers,
                );
            });
            if !d.update_dns.enabled {
                forms::note(ui, "Monitoring only: no DNS server is changed.");
            }
            forms::section_heading(ui, "This set's own DNS servers");
            let rows: Vec<String> = d
                .update_dns
                .dns_servers
                .iter()
                .map(dns_server_row)
                .collect();
            let errors = row_errors(form, "update_dns.dns_servers", rows.len());
            action = (
                SetList::DnsServers,
                forms::list_editor(ui, "DNS server", &rows, &errors, false),
            );
        }
        SetSection::Maintenance => {
            crate::ui::dialogs::maintenance_page::show(ui, form, d);
        }
        SetSection::Notes => forms::grid(ui, "set notes", |ui| {
            form.multiline(ui, "Notes:", "notes", &mut d.notes, None);
        }),
    }
    action
}

fn dns_data(form: &mut Form, ui: &mut egui::Ui, d: &mut ServerSet) {
    let dns = &mut d.dns;
    form.lines(
        ui,
        "Host names (one per line):",
        "dns.host_names",
        &mut dns.host_names,
        None,
    );
    form.number(ui, "TTL (s):", "dns.ttl", &mut dns.ttl);
    // The TTL that follows the state: lower while unsettled, so clients come back soon.
    form.number(
        ui,
        "Lower TTL (s), 0 = off:",
        "dns.low_ttl.ttl",
        &mut dns.low_ttl.ttl,
    );
    if dns.low_ttl.ttl > 0 {
        form.check(
            ui,
            "Give the lower TTL while a server has failed",
            &mut dns.low_ttl.while_failed,
        );
        form.duration(
            ui,
            "Lower TTL after a change for:",
            "dns.low_ttl.after_change",
            &mut dns.low_ttl.after_change,
        );
    }
    let selections = [
        (
            AddressSelection::FirstFunctional,
            "the first functional server",
        ),
        (AddressSelection::AllFunctional, "all functional servers"),
        (
            AddressSelection::WeightedRoundRobin,
            "all functional servers, weighted round robin",
        ),
    ];
    let name = selections
        .iter()
        .find(|(s, _)| *s == dns.addresses_of)
        .map(|(_, n)| *n)
        .unwrap_or("");
    form.combo(
        ui,
        "Give the addresses of:",
        "dns.addresses_of",
        name,
        |ui| {
            for (s, n) in selections {
                ui.selectable_value(&mut dns.addresses_of, s, n);
            }
        },
    );
    let policy = match dns.if_all_fail {
        AllFailedPolicy::AssumeLocalFault => 0,
        AllFailedPolicy::Fallback(_) => 1,
        AllFailedPolicy::LeaveAsIs => 2,
    };
    let names = [
        "assume a local fault (publish as if they worked)",
        "publish fallback addresses",
        "leave DNS as it is",
    ];
    let mut chosen = policy;
    form.combo(ui, "If all servers fail:", "", names[policy], |ui| {
        for (i, n) in names.iter().enumerate() {
            ui.selectable_value(&mut chosen, i, *n);
        }
    });
    if chosen != policy {
        dns.if_all_fail = match chosen {
            1 => AllFailedPolicy::Fallback(Vec::new()),
            2 => AllFailedPolicy::LeaveAsIs,
            _ => AllFailedPolicy::AssumeLocalFault,
        };
    }
    if let AllFailedPolicy::Fallback(addresses) = &mut dns.if_all_fail {
        form.lines(
            ui,
            "Fallback addresses (one per line):",
            "dns.if_all_fail",
            addresses,
            None,
        );
    }
}

/// The first error of each item of a list, for the list editor.
fn row_errors(form: &mut Form, prefix: &str, len: usize) -> Vec<Option<String>> {
    (0..len)
        .map(|i| {
            form.take_under(&format!("{prefix}[{i}]"))
                .into_iter()
                .next()
                .map(|(_, message)| message)
        })
        .collect()
}

pub fn server_row(s: &Server) -> String {
    let mut row = if s.name.is_empty() {
        s.public_ip.clone()
    } else {
        format!("{} ({})", s.name, s.public_ip)
    };
    if let Some(poll) = s.poll_ip.as_deref().filter(|ip| !ip.is_empty()) {
        row.push_str(&format!(", polled at {poll}"));
    }
    if s.disabled {
        row.push_str(", disabled");
    }
    row
}

pub fn notification_row(m: &NotificationMethod) -> String {
    let detail = match &m.kind {
        NotificationKind::Email(e) if e.to.is_empty() => "no recipient".to_string(),
        NotificationKind::Email(e) => e.to.join(", "),
        NotificationKind::Http(r) => r.url.clone(),
        NotificationKind::Command(c) => c.program.clone(),
        NotificationKind::SystemLog => String::new(),
        NotificationKind::Service(s) => s.service.label().to_string(),
    };
    let mut row = m.kind.label().to_string();
    if !detail.is_empty() {
        row.push_str(&format!(": {detail}"));
    }
    row
}

pub fn dns_server_row(s: &DnsServer) -> String {
    format!("{}:{} ({})", s.address, s.port, s.update.label())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod refusal_tests {
    use super::*;

    #[test]
    fn the_engines_refusal_shows_at_the_sets_field_until_the_draft_changes() {
        let mut settings = Settings::default();
        for name in ["mail", "web"] {
            settings.server_sets.push(ServerSet {
                name: name.into(),
                ..ServerSet::default()
            });
        }
        let mut dialog = SetDialog::edit(Arc::new(settings), "web").unwrap();
        let refused = ValidationError {
            path: "server_sets[1].host_names[0]".into(),
            message: "taken".into(),
        };
        dialog.refused = Some((dialog.draft.clone(), vec![refused]));
        let at_field = ValidationError {
            path: "host_names[0]".into(),
            message: "taken".into(),
        };
        assert!(dialog.errors().contains(&at_field));
        dialog.draft.name = "www".into();
        assert!(!dialog.errors().contains(&at_field));
    }
}

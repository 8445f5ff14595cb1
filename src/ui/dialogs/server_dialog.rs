//! Server properties: one IP address of a set, edited as a copy of the set dialog's draft.

use eframe::egui;

use crate::model::validate::validate_set;
use crate::model::{Server, ServerSet, ValidationError};
use crate::ui::dialogs::child::{ChildDialog, Draft};
use crate::ui::forms::{self, Form, Outcome};
use crate::ui::help::HelpTopic;

pub struct ServerDialog {
    pub draft: Draft<Server>,
    /// The set's other servers, for the duplicate-address check.
    siblings: Vec<Server>,
}

impl ServerDialog {
    pub fn new(index: Option<usize>, draft: Server, siblings: Vec<Server>) -> Self {
        Self {
            draft: Draft::new(index, draft),
            siblings,
        }
    }

    /// The errors of the draft, as the set's validation sees them at its place in the list.
    fn errors(&mut self) -> Vec<ValidationError> {
        let (index, siblings) = (self.draft.index, &self.siblings);
        self.draft.errors(|draft| {
            let mut servers = siblings.clone();
            let at = match index {
                Some(i) if i < servers.len() => {
                    servers[i] = draft.clone();
                    i
                }
                _ => {
                    servers.push(draft.clone());
                    servers.len() - 1
                }
            };
            let set = ServerSet {
                servers,
                ..ServerSet::default()
            };
            forms::errors_under(validate_set(&set), &format!("servers[{at}]"))
        })
    }

    pub fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        let errors = self.errors();
        let draft = &mut self.draft.value;
        let parse_errors = &mut self.draft.parse_errors;
        forms::window(
            ctx,
            "Server properties",
            "server dialog",
            480.0,
            true,
            |ui| {
                let mut form = Form::new(errors, parse_errors);
                forms::grid(ui, "server fields", |ui| {
                    form.text(
                        ui,
                        "Public IP address:",
                        "public_ip",
                        &mut draft.public_ip,
                        None,
                    );
                    let mut other = draft.poll_ip.is_some();
                    if form
                        .check(ui, "Poll a different IP address (NAT)", &mut other)
                        .changed()
                    {
                        draft.poll_ip = other.then(String::new);
                    }
                    if let Some(poll_ip) = &mut draft.poll_ip {
                        form.text(ui, "Poll IP address:", "poll_ip", poll_ip, None);
                    }
                    form.text(ui, "Display name:", "name", &mut draft.name, None);
                    form.number(ui, "Weight:", "weight", &mut draft.weight);
                    if draft.weight == 0 {
                        ui.label("");
                        ui.label(
                            "0 drains the server: polled, but published only when no other works",
                        );
                        ui.end_row();
                    }
                    form.check(
                        ui,
                        "Pause the set if this server fails",
                        &mut draft.pause_set_on_failure,
                    );
                    form.check(ui, "Disabled (off line on purpose)", &mut draft.disabled);
                    form.multiline(ui, "Notes:", "notes", &mut draft.notes, None);
                });
                form.show_rest(ui);
                let valid = form.is_valid();
                forms::buttons(
                    ui,
                    valid,
                    "Correct the fields in red first",
                    HelpTopic::Server,
                    help,
                )
            },
        )
    }
}

impl ServerDialog {
    /// The edited server, tidied: a blank poll address means "poll the public one".
    pub fn result(&self) -> Server {
        let mut server = self.draft.value.clone();
        server.public_ip = server.public_ip.trim().to_string();
        if server
            .poll_ip
            .as_deref()
            .is_some_and(|ip| ip.trim().is_empty())
        {
            server.poll_ip = None;
        }
        server
    }
}

impl ChildDialog for ServerDialog {
    type Item = Server;

    fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        ServerDialog::show(self, ctx, help)
    }

    fn index(&self) -> Option<usize> {
        self.draft.index
    }

    fn result(&self) -> Server {
        ServerDialog::result(self)
    }
}

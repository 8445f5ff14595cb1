//! The dialogs of the main window and their round trip to the engine.
//!
//! A dialog's OK sends its change as a typed [`crate::engine::Request::EditSettings`] with
//! the settings revision it was opened from, and keeps the dialog open ("Saving...") until
//! the engine answers; the reply is polled each frame with `try_recv`, never awaited, so
//! the UI thread does not block. A refusal is shown in the dialog and nothing is lost;
//! success closes it. If the settings changed since the dialog opened (the API, a hand
//! edit), the engine refuses and the dialog says so: OK again applies the dialog's change
//! over them.

pub mod child;
pub mod cluster_page;
pub mod dns_server_dialog;
pub mod dns_serving_page;
pub mod email_defaults_dialog;
pub mod guard_page;
pub mod history_dialog;
mod history_report;
pub use history_report::percent as history_percent;
pub mod cluster_window;
pub mod maintenance_page;
pub mod notification_dialog;
pub mod options_dialog;
pub mod ping_window;
pub mod poll_method;
pub mod rules;
pub mod server_dialog;
pub mod set_dialog;
pub mod test_send;
pub mod what_if_window;
pub mod zone_dialog;

use std::sync::Arc;
use std::time::Duration;

use eframe::egui;
use tokio::sync::oneshot::error::TryRecvError;

use crate::engine::{self, Call, EditError, Inbound, SettingsEdit, Snapshot};
use crate::model::Settings;
use crate::ui::dialogs::history_dialog::HistoryDialog;
use crate::ui::dialogs::options_dialog::{OptionsChild, OptionsDialog};
use crate::ui::dialogs::ping_window::PingWindow;
use crate::ui::dialogs::set_dialog::{SetChild, SetDialog};
use crate::ui::dialogs::what_if_window::WhatIfWindow;
use crate::ui::forms::Outcome;
use crate::ui::help::{self, HelpTopic};

/// What the main window asks of the dialogs.
#[derive(Clone, Debug, PartialEq)]
pub enum DialogRequest {
    Options,
    NewSet,
    /// The first set, on the first-run screen: the set dialog's guided path.
    FirstSet,
    /// The first-run screen's *Open an example*: adds `model::example`'s set.
    Example,
    Properties(String),
    Delete(String),
    /// The polling history of a set (blank = all), optionally of one server.
    History {
        set: String,
        server: Option<String>,
    },
    /// Ping a server (by address).
    Ping(String),
    /// What a failure of servers of a set would change, optionally one server ticked.
    WhatIf {
        set: String,
        server: Option<String>,
    },
    /// Write a support file to this path.
    SupportFile(std::path::PathBuf),
    /// The Cluster window (instances, leader, etcd, shared settings).
    Cluster,
    /// An operator's decision from a server row (force up/down, clear, maintenance):
    /// sent to the engine as it is.
    Admin(SettingsEdit),
}

/// Which change an engine reply is for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Options,
    Set,
    Delete(String),
    Admin,
}

struct Pending {
    change: Change,
    reply: engine::Pending<Result<u64, EditError>>,
}

/// Shown in a dialog whose OK met settings changed since it opened.
pub const CHANGED_MEANWHILE: &str = "The settings were changed elsewhere (through the HTTP API, \
     or in the file) since this dialog opened. OK again applies this dialog's changes over \
     them; Cancel keeps them as they are.";

/// Shown when another instance of the cluster changed the shared settings first.
pub const CHANGED_IN_CLUSTER: &str = "Another instance of the cluster changed the shared \
     settings first, so this dialog's changes were not made. Theirs are in force now. OK \
     again applies this dialog's changes over them; Cancel keeps them as they are.";

#[derive(Default)]
pub struct Dialogs {
    pub options: Option<OptionsDialog>,
    pub set: Option<SetDialog>,
    /// The set whose deletion waits for the operator's yes.
    pub confirm_delete: Option<String>,
    pub help: Option<HelpTopic>,
    /// The main window's tab, where F1 opens the main window's page.
    pub main_section: &'static str,
    /// Why a deletion failed, for the status bar.
    pub message: Option<String>,
    pending: Vec<Pending>,
    pub history: Option<HistoryDialog>,
    /// The Ping... window, if open.
    pub ping: Option<PingWindow>,
    /// The What if... window, if open.
    pub what_if: Option<WhatIfWindow>,
    /// The Cluster window is open.
    pub cluster: bool,
    /// The support file being written, or what came of it.
    pub support: Option<SupportFile>,
    /// Row actions waiting to go to the engine.
    admin: Vec<SettingsEdit>,
    /// The engine's host when it is not this machine (a remote window): the Ping window
    /// says that it pings from there.
    pub engine_host: Option<String>,
}

/// The help topic of the window on top when it is one of the windows without OK / Cancel
/// buttons (those handle F1 themselves).
fn top_window_topic(ctx: &egui::Context) -> Option<HelpTopic> {
    let top = ctx.top_layer_id()?.id;
    [
        ("history dialog", HelpTopic::History),
        ("ping window", HelpTopic::Ping),
        ("what if window", HelpTopic::WhatIf),
    ]
    .into_iter()
    .find(|(id, _)| egui::Id::unique(id) == top)
    .map(|(_, topic)| topic)
}

/// File → Support file...: the path, then the engine's answer.
pub struct SupportFile {
    pub path: std::path::PathBuf,
    reply: Option<engine::Pending<Result<std::path::PathBuf, engine::CallError>>>,
    pub outcome: Option<Result<std::path::PathBuf, engine::CallError>>,
}

impl Dialogs {
    /// Opens what was asked for; a dialog already open stays as it is.
    pub fn open(&mut self, request: DialogRequest, settings: &Arc<Settings>, revision: u64) {
        match request {
            DialogRequest::Options => {
                if self.options.is_none() {
                    let mut dialog = OptionsDialog::new(settings.clone());
                    dialog.revision = revision;
                    self.options = Some(dialog);
                }
            }
            DialogRequest::NewSet => {
                if self.set.is_none() {
                    let mut dialog = SetDialog::new_set(settings.clone());
                    dialog.revision = revision;
                    self.set = Some(dialog);
                }
            }
            DialogRequest::FirstSet => {
                if self.set.is_none() {
                    let mut dialog = SetDialog::new_set(settings.clone()).guided();
                    dialog.revision = revision;
                    self.set = Some(dialog);
                }
            }
            DialogRequest::Example => {
                let set =
                    crate::model::example::first_run_example(|name| settings.set(name).is_some());
                self.admin.push(SettingsEdit::AddSet(Box::new(set)));
            }
            DialogRequest::Properties(name) => {
                if self.set.is_none() {
                    self.set = SetDialog::edit(settings.clone(), &name).map(|mut dialog| {
                        dialog.revision = revision;
                        dialog
                    });
                }
            }
            DialogRequest::Delete(name) => self.confirm_delete = Some(name),
            DialogRequest::History { set, server } => {
                self.history = Some(HistoryDialog::new(set, server));
            }
            DialogRequest::Ping(address) => {
                if self.ping.as_ref().is_none_or(|p| p.address != address) {
                    self.ping = Some(PingWindow::new(address).from_host(self.engine_host.clone()));
                }
            }
            DialogRequest::WhatIf { set, server } => {
                self.what_if = Some(WhatIfWindow::new(set, server));
            }
            DialogRequest::Admin(change) => self.admin.push(change),
            DialogRequest::Cluster => self.cluster = true,
            DialogRequest::SupportFile(path) => {
                self.support = Some(SupportFile {
                    path,
                    reply: None,
                    outcome: None,
                });
            }
        }
    }

    /// Whether any dialog is open (F1 then is the dialog's, not the main window's).
    pub fn any_open(&self) -> bool {
        self.options.is_some() || self.set.is_some() || self.confirm_delete.is_some()
    }

    /// Draws the open dialogs; changes for the engine go to `outbox`.
    pub fn show(&mut self, ctx: &egui::Context, snapshot: &Snapshot, outbox: &mut Vec<Inbound>) {
        if let Some(dialog) = &mut self.options {
            dialog.auto_poll_limit = snapshot.stats.auto_poll_limit;
            match dialog.show(ctx, &mut self.help) {
                Outcome::Ok => {
                    dialog.saving = true;
                    dialog.apply_error = None;
                    let change = dialog.change();
                    let revision = Some(dialog.revision);
                    self.pending
                        .push(edit(change, revision, Change::Options, outbox));
                }
                Outcome::Cancel => self.options = None,
                Outcome::Open => {}
            }
        }
        if let Some(dialog) = &mut self.set {
            match dialog.show(ctx, &mut self.help) {
                Outcome::Ok => {
                    dialog.saving = true;
                    dialog.apply_error = None;
                    let change = dialog.change();
                    let revision = Some(dialog.revision);
                    self.pending
                        .push(edit(change, revision, Change::Set, outbox));
                }
                Outcome::Cancel => self.set = None,
                Outcome::Open => {}
            }
        }
        self.confirm_delete_window(ctx, outbox);
        for change in std::mem::take(&mut self.admin) {
            self.pending.push(edit(change, None, Change::Admin, outbox));
        }
        outbox.extend(self.test_commands());
        if let Some(history) = &mut self.history
            && !history.show(ctx, snapshot, outbox)
        {
            self.history = None;
        }
        if let Some(ping) = &mut self.ping
            && !ping.show(ctx, outbox)
        {
            self.ping = None;
        }
        if let Some(what_if) = &mut self.what_if
            && !what_if.show(ctx, snapshot)
        {
            self.what_if = None;
        }
        if self.cluster && !cluster_window::show(ctx, snapshot) {
            self.cluster = false;
        }
        self.support_window(ctx, outbox);
        if ctx.input(|i| i.key_pressed(egui::Key::F1)) {
            // The window on top decides: a dialog's own F1 has run already (in its buttons);
            // the windows without buttons are found by their layer, else the main window's
            // page opens at its tab.
            if let Some(topic) = top_window_topic(ctx) {
                self.help = Some(topic);
            } else if !self.any_open() {
                self.help = Some(HelpTopic::MainWindow.at(self.main_section));
            }
        }
        help::show(ctx, &mut self.help);
    }

    /// The Test... clicks of the open notification and e-mail defaults dialogs.
    fn test_commands(&mut self) -> Vec<Inbound> {
        let mut tests = Vec::new();
        match self.options.as_mut().and_then(|d| d.child.as_mut()) {
            Some(OptionsChild::Notification(d)) => tests.extend(d.test.take_command()),
            Some(OptionsChild::EmailDefaults(d)) => tests.extend(d.test.take_command()),
            _ => {}
        }
        if let Some(SetChild::Notification(d)) = self.set.as_mut().and_then(|d| d.child.as_mut()) {
            tests.extend(d.test.take_command());
        }
        tests
    }

    fn support_window(&mut self, ctx: &egui::Context, outbox: &mut Vec<Inbound>) {
        let Some(support) = &mut self.support else {
            return;
        };
        if support.reply.is_none() && support.outcome.is_none() {
            let (call, rx) = Call::write_support_file(support.path.clone());
            outbox.push(call.into());
            support.reply = Some(rx);
        }
        if let Some(rx) = &mut support.reply {
            match rx.try_take() {
                None => ctx.request_repaint_after(Duration::from_millis(50)),
                Some(outcome) => {
                    support.outcome = Some(outcome);
                    support.reply = None;
                }
            }
        }
        let mut open = true;
        let mut close = false;
        egui::Window::new("Support file")
            .id(egui::Id::unique("support file window"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .show(ctx, |ui| {
                match &support.outcome {
                    None => ui.label(format!("Writing {}...", support.path.display())),
                    Some(Ok(path)) => ui.label(format!(
                        "Support file written to {}\nIt holds the settings (secrets shown \
                         as ***), the current problems and the live log.",
                        path.display()
                    )),
                    Some(Err(e)) => ui.label(
                        egui::RichText::new(format!("Support file not written: {e}"))
                            .color(crate::ui::widgets::tone(ui, crate::ui::widgets::RED)),
                    ),
                };
                if ui.button("Close").clicked() {
                    close = true;
                }
            });
        if !open || close {
            self.support = None;
        }
    }

    /// Handles the engine's answers that have arrived (from the app's `logic`, which runs
    /// also while the window is hidden).
    pub fn take_replies(&mut self, ctx: &egui::Context) {
        let mut still = Vec::new();
        for mut pending in std::mem::take(&mut self.pending) {
            let result = match pending.reply.try_recv() {
                Ok(result) => result,
                Err(TryRecvError::Empty) => {
                    still.push(pending);
                    continue;
                }
                Err(TryRecvError::Closed) => Err(EditError::Stopped),
            };
            self.finish(pending.change, result);
        }
        if !still.is_empty() {
            // The engine's waker repaints on a new snapshot; a refusal publishes none.
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        self.pending = still;
    }

    fn finish(&mut self, change: Change, result: Result<u64, EditError>) {
        // A conflict moves the dialog on to the revision in force: OK again applies it.
        let refusal = |error: EditError, revision: &mut u64| match error {
            EditError::Conflict { current, .. } => {
                *revision = current;
                CHANGED_MEANWHILE.to_string()
            }
            EditError::SharedConflict { current, .. } => {
                *revision = current;
                CHANGED_IN_CLUSTER.to_string()
            }
            other => other.to_string(),
        };
        match change {
            Change::Options => match (result, &mut self.options) {
                (Ok(_), _) => self.options = None,
                (Err(e), Some(dialog)) => {
                    dialog.saving = false;
                    if let EditError::Invalid(fields) = &e {
                        dialog.refused = Some((dialog.draft.clone(), fields.clone()));
                    }
                    dialog.apply_error = Some(refusal(e, &mut dialog.revision));
                }
                (Err(_), None) => {}
            },
            Change::Set => match (result, &mut self.set) {
                (Ok(_), _) => self.set = None,
                (Err(e), Some(dialog)) => {
                    dialog.saving = false;
                    if let EditError::Invalid(fields) = &e {
                        dialog.refused = Some((dialog.draft.clone(), fields.clone()));
                    }
                    dialog.apply_error = Some(refusal(e, &mut dialog.revision));
                }
                (Err(_), None) => {}
            },
            Change::Delete(name) => {
                self.message = result
                    .err()
                    .map(|e| format!("Server set {name:?} not deleted: {e}"));
            }
            Change::Admin => {
                self.message = result.err().map(|e| format!("Not changed: {e}"));
            }
        }
    }

    fn confirm_delete_window(&mut self, ctx: &egui::Context, outbox: &mut Vec<Inbound>) {
        let Some(name) = self.confirm_delete.clone() else {
            return;
        };
        let mut answer = None;
        let mut open = true;
        egui::Window::new("Delete server set")
            .id(egui::Id::unique("confirm delete"))
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, [0.0, 0.0])
            .show(ctx, |ui| {
                ui.label(format!(
                    "Delete the server set \"{name}\"? Standby stops polling its servers and \
                     updating its DNS records."
                ));
                ui.add_space(6.0);
                ui.horizontal(|ui| {
                    if ui.button("Delete set").clicked() {
                        answer = Some(true);
                    }
                    if ui.button("Keep set").clicked() {
                        answer = Some(false);
                    }
                });
            });
        if !open {
            answer = Some(false);
        }
        match answer {
            Some(true) => {
                let change = SettingsEdit::DeleteSet(name.clone());
                self.pending
                    .push(edit(change, None, Change::Delete(name), outbox));
                self.confirm_delete = None;
            }
            Some(false) => self.confirm_delete = None,
            None => {}
        }
    }
}

/// Queues a change for the engine; its answer is polled each frame.
fn edit(
    change: SettingsEdit,
    if_revision: Option<u64>,
    which: Change,
    outbox: &mut Vec<Inbound>,
) -> Pending {
    let (call, rx) = Call::edit_settings(change, if_revision);
    outbox.push(call.into());
    Pending {
        change: which,
        reply: rx,
    }
}

//! The dialogs of the main window and their round trip to the engine.
//!
//! A dialog's OK sends [`Command::ApplySettings`] with a reply channel and keeps the dialog
//! open ("Saving...") until the engine answers; the reply is polled each frame with
//! `try_recv`, never awaited, so the UI thread does not block. A refusal is shown in the
//! dialog and nothing is lost; success closes it.

use std::sync::Arc;
use std::time::Duration;

use eframe::egui;
use tokio::sync::oneshot::{self, error::TryRecvError};

use super::forms::Outcome;
use super::help::{self, HelpTopic};
use super::options_dialog::OptionsDialog;
use super::set_dialog::SetDialog;
use crate::engine::{Command, Snapshot};
use crate::model::Settings;

/// What the main window asks of the dialogs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DialogRequest {
    Options,
    NewSet,
    Properties(String),
    Delete(String),
}

/// Which change an engine reply is for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    Options,
    Set,
    Delete(String),
}

struct Pending {
    change: Change,
    reply: oneshot::Receiver<Result<(), String>>,
}

#[derive(Default)]
pub struct Dialogs {
    pub options: Option<OptionsDialog>,
    pub set: Option<SetDialog>,
    /// The set whose deletion waits for the operator's yes.
    pub confirm_delete: Option<String>,
    pub help: Option<HelpTopic>,
    /// Why a deletion failed, for the status bar.
    pub message: Option<String>,
    pending: Vec<Pending>,
}

impl Dialogs {
    /// Opens what was asked for; a dialog already open stays as it is.
    pub fn open(&mut self, request: DialogRequest, settings: &Arc<Settings>) {
        match request {
            DialogRequest::Options => {
                if self.options.is_none() {
                    self.options = Some(OptionsDialog::new(settings.clone()));
                }
            }
            DialogRequest::NewSet => {
                if self.set.is_none() {
                    self.set = Some(SetDialog::new_set(settings.clone()));
                }
            }
            DialogRequest::Properties(name) => {
                if self.set.is_none() {
                    self.set = SetDialog::edit(settings.clone(), &name);
                }
            }
            DialogRequest::Delete(name) => self.confirm_delete = Some(name),
        }
    }

    /// Whether any dialog is open (F1 then is the dialog's, not the main window's).
    pub fn any_open(&self) -> bool {
        self.options.is_some() || self.set.is_some() || self.confirm_delete.is_some()
    }

    /// Draws the open dialogs; changes for the engine go to `outbox`.
    pub fn show(&mut self, ctx: &egui::Context, snapshot: &Snapshot, outbox: &mut Vec<Command>) {
        self.take_replies(ctx);
        if let Some(dialog) = &mut self.options {
            match dialog.show(ctx, &mut self.help) {
                Outcome::Ok => {
                    let settings = dialog.merged_into(&snapshot.settings);
                    dialog.saving = true;
                    dialog.apply_error = None;
                    self.pending.push(apply(settings, Change::Options, outbox));
                }
                Outcome::Cancel => self.options = None,
                Outcome::Open => {}
            }
        }
        if let Some(dialog) = &mut self.set {
            match dialog.show(ctx, &mut self.help) {
                Outcome::Ok => {
                    let settings = dialog.merged_into(&snapshot.settings);
                    dialog.saving = true;
                    dialog.apply_error = None;
                    self.pending.push(apply(settings, Change::Set, outbox));
                }
                Outcome::Cancel => self.set = None,
                Outcome::Open => {}
            }
        }
        self.confirm_delete_window(ctx, snapshot, outbox);
        if !self.any_open() && ctx.input(|i| i.key_pressed(egui::Key::F1)) {
            self.help = Some(HelpTopic::MainWindow);
        }
        help::show(ctx, &mut self.help);
    }

    /// Handles the engine's answers that have arrived.
    fn take_replies(&mut self, ctx: &egui::Context) {
        let mut still = Vec::new();
        for mut pending in std::mem::take(&mut self.pending) {
            let result = match pending.reply.try_recv() {
                Ok(result) => result,
                Err(TryRecvError::Empty) => {
                    still.push(pending);
                    continue;
                }
                Err(TryRecvError::Closed) => Err("the engine did not answer".to_string()),
            };
            self.finish(pending.change, result);
        }
        if !still.is_empty() {
            // The engine's waker repaints on a new snapshot; a refusal publishes none.
            ctx.request_repaint_after(Duration::from_millis(50));
        }
        self.pending = still;
    }

    fn finish(&mut self, change: Change, result: Result<(), String>) {
        match change {
            Change::Options => {
                if result.is_ok() {
                    self.options = None;
                } else if let Some(dialog) = &mut self.options {
                    dialog.saving = false;
                    dialog.apply_error = result.err();
                }
            }
            Change::Set => {
                if result.is_ok() {
                    self.set = None;
                } else if let Some(dialog) = &mut self.set {
                    dialog.saving = false;
                    dialog.apply_error = result.err();
                }
            }
            Change::Delete(name) => {
                self.message = result
                    .err()
                    .map(|e| format!("Server set {name:?} not deleted: {e}"));
            }
        }
    }

    fn confirm_delete_window(
        &mut self,
        ctx: &egui::Context,
        snapshot: &Snapshot,
        outbox: &mut Vec<Command>,
    ) {
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
                let mut settings = (*snapshot.settings).clone();
                settings.server_sets.retain(|s| s.name != name);
                self.pending
                    .push(apply(settings, Change::Delete(name), outbox));
                self.confirm_delete = None;
            }
            Some(false) => self.confirm_delete = None,
            None => {}
        }
    }
}

/// Queues the settings for the engine with a reply channel.
fn apply(settings: Settings, change: Change, outbox: &mut Vec<Command>) -> Pending {
    let (tx, rx) = oneshot::channel();
    outbox.push(Command::ApplySettings {
        settings: Box::new(settings),
        reply: Some(tx),
    });
    Pending { change, reply: rx }
}

//! The Options dialog's Connectivity guard page (issue 16 item 6): the reference targets,
//! how they are polled, how often, and how many failing mean this monitor is cut off.

use eframe::egui;

use crate::model::guard::ConnectivityGuard;
use crate::ui::dialogs::poll_method;
use crate::ui::forms::{self, Form};

/// What the page says the guard does.
pub const GUARD_NOTE: &str = "The reference targets (the gateway, resolvers, another site) are \
     polled like servers. When as many of them fail as set below, this monitor is taken to \
     be cut off: a failed poll of a server moves no DNS and sends no server-failed \
     notification until they answer again. A server's failure also waits (at most two of \
     their rounds) for a result of theirs from after it began.";

/// Shown while there are no reference targets.
pub const GUARD_OFF: &str = "No reference targets: the guard is off.";

const PATH: &str = "options.connectivity_guard";

/// Draws the page.
pub fn page(ui: &mut egui::Ui, form: &mut Form, g: &mut ConnectivityGuard) {
    forms::note(ui, GUARD_NOTE);
    forms::grid(ui, "options connectivity guard", |ui| {
        form.lines(
            ui,
            "Reference targets (one IP per line):",
            &format!("{PATH}.references"),
            &mut g.references,
            None,
        );
        form.number(
            ui,
            "Cut off when failing (0 = more than half):",
            &format!("{PATH}.failed_at_least"),
            &mut g.failed_at_least,
        );
        form.duration(
            ui,
            "Poll each every:",
            &format!("{PATH}.interval"),
            &mut g.interval,
        );
        form.duration(ui, "Time-out:", &format!("{PATH}.timeout"), &mut g.timeout);
        // The polling-method editor draws for a set's `polling`: its errors are ours.
        form.with_errors_moved(&format!("{PATH}.method"), "polling", |form| {
            poll_method::show(form, ui, &mut g.method);
        });
    });
    if g.as_set().is_none() {
        forms::note(ui, GUARD_OFF);
    }
}

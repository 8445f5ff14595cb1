//! The Options dialog's Cluster page (issue 13): whether this instance is one of a cluster,
//! how it reaches etcd, its name, the quorum rule and its lease.

use std::path::PathBuf;

use eframe::egui;

use crate::model::cluster::{Cluster, EtcdTls, Quorum, SHARED_THROUGH_ETCD};
use crate::ui::forms::{self, Form};

/// Shown while the page is off.
pub const ALONE: &str = "Standby runs alone: its own polls decide, and it writes DNS itself.";

/// What the page says the quorum rule means.
pub const QUORUM_NOTE: &str = "A server counts as failed (or recovered) for DNS only when this \
     many of the live instances that poll it see it so; an instance that alone sees it \
     failed shows a problem of its own instead of moving DNS.";

/// Draws the page. `stash` keeps the section while the box is unticked, so that ticking it
/// again brings the fields back as they were.
pub fn page(
    ui: &mut egui::Ui,
    form: &mut Form,
    cluster: &mut Option<Cluster>,
    stash: &mut Option<Cluster>,
) {
    let mut on = cluster.is_some();
    forms::grid(ui, "options cluster switch", |ui| {
        form.check(
            ui,
            "Run as one instance of a cluster (coordinated through etcd)",
            &mut on,
        );
    });
    match (on, cluster.is_some()) {
        (true, false) => *cluster = Some(stash.take().unwrap_or_default()),
        (false, true) => *stash = cluster.take(),
        _ => {}
    }
    let Some(c) = cluster else {
        forms::note(ui, ALONE);
        return;
    };
    forms::note(ui, SHARED_THROUGH_ETCD);
    let p = "cluster";
    forms::grid(ui, "options cluster", |ui| {
        form.lines(
            ui,
            "etcd endpoints (one per line):",
            &format!("{p}.endpoints"),
            &mut c.endpoints,
            None,
        );
        form.text(ui, "Cluster name:", &format!("{p}.name"), &mut c.name, None);
        ui.label("");
        forms::note(
            ui,
            &format!("Its keys lie under {} in etcd.", c.key_prefix()),
        );
        ui.end_row();
        form.text(
            ui,
            "This instance's name:",
            &format!("{p}.instance"),
            &mut c.instance,
            None,
        );
        quorum(ui, form, &mut c.quorum);
        form.number(
            ui,
            "Lease (s):",
            &format!("{p}.lease_secs"),
            &mut c.lease_secs,
        );
    });
    // Long notes outside the grid, where they wrap (in a grid cell they widen the dialog).
    forms::note(ui, QUORUM_NOTE);
    forms::note(
        ui,
        "Lease: a dead instance's views and leadership vanish this long after it stopped.",
    );
    forms::section_heading(ui, "etcd login and TLS");
    forms::grid(ui, "options cluster login", |ui| {
        form.text(
            ui,
            "etcd user (blank = none):",
            &format!("{p}.user"),
            &mut c.user,
            None,
        );
        form.secret(
            ui,
            "etcd password:",
            &format!("{p}.password"),
            &mut c.password,
        );
        let mut tls = c.tls.is_some();
        form.check(ui, "Own CA or client certificate for etcd", &mut tls);
        match (tls, c.tls.is_some()) {
            (true, false) => c.tls = Some(EtcdTls::default()),
            (false, true) => c.tls = None,
            _ => {}
        }
        if let Some(t) = &mut c.tls {
            path_field(
                ui,
                form,
                "CA file (blank = system's):",
                "tls.ca_file",
                &mut t.ca_file,
            );
            path_field(
                ui,
                form,
                "Client certificate:",
                "tls.client_certificate",
                &mut t.client_certificate,
            );
            path_field(ui, form, "Client key:", "tls.client_key", &mut t.client_key);
        }
    });
}

fn quorum(ui: &mut egui::Ui, form: &mut Form, q: &mut Quorum) {
    let name = match q {
        Quorum::Majority => "a majority",
        Quorum::All => "all",
        Quorum::AtLeast(_) => "at least N",
    };
    let mut choice = *q;
    form.combo(ui, "Quorum of instances:", "", name, |ui| {
        ui.selectable_value(&mut choice, Quorum::Majority, "a majority");
        ui.selectable_value(&mut choice, Quorum::All, "all");
        let at_least = match q {
            Quorum::AtLeast(n) => Quorum::AtLeast(*n),
            _ => Quorum::AtLeast(2),
        };
        ui.selectable_value(&mut choice, at_least, "at least N");
    });
    *q = choice;
    if let Quorum::AtLeast(n) = q {
        form.number(ui, "Instances needed (N):", "cluster.quorum", n);
    }
}

fn path_field(
    ui: &mut egui::Ui,
    form: &mut Form,
    label: &str,
    field: &str,
    value: &mut Option<PathBuf>,
) {
    form.parsed(
        ui,
        label,
        &format!("cluster.{field}"),
        value,
        |p| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        |t| {
            Ok::<_, std::convert::Infallible>(
                (!t.trim().is_empty()).then(|| PathBuf::from(t.trim())),
            )
        },
        false,
    );
}

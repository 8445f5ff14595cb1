//! DNS server properties: address, lookups, and how the records are updated (SPEC §4).

use eframe::egui;

use crate::model::tags::UPDATE_TAGS;
use crate::model::validate::validate_set;
use crate::model::{
    CloudflareApi, CommandSpec, DnsServer, DnscmdUpdate, HttpRequest, PowerDnsApi, Rfc2136Update,
    Route53Api, ServerSet, TsigAlgorithm, TsigKey, UpdateDns, UpdateMethod, ValidationError,
};
use crate::ui::dialogs::child::{ChildDialog, Draft};
use crate::ui::dialogs::rules;
use crate::ui::forms::{self, Form, Outcome};
use crate::ui::help::HelpTopic;

/// Why the dnscmd choice is greyed out here.
pub const DNSCMD_ONLY_ON_WINDOWS: &str = "Microsoft DNS (dnscmd) works only on Windows";

pub struct DnsServerDialog {
    pub draft: Draft<DnsServer>,
}

impl DnsServerDialog {
    pub fn new(index: Option<usize>, draft: DnsServer) -> Self {
        Self {
            draft: Draft::new(index, draft),
        }
    }

    fn errors(&mut self) -> Vec<ValidationError> {
        self.draft.errors(|draft| {
            // Validated as the one DNS server of a set, and cut to its own paths.
            let set = ServerSet {
                update_dns: UpdateDns {
                    dns_servers: vec![draft.clone()],
                    ..UpdateDns::default()
                },
                ..ServerSet::default()
            };
            forms::errors_under(validate_set(&set), "update_dns.dns_servers[0]")
        })
    }

    /// The edited server, with its address trimmed.
    pub fn result(&self) -> DnsServer {
        let mut server = self.draft.value.clone();
        server.address = server.address.trim().to_string();
        if let UpdateMethod::Command(c) = &mut server.update {
            forms::clean_lines(&mut c.args);
        }
        server
    }

    pub fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        let errors = self.errors();
        let draft = &mut self.draft.value;
        let parse_errors = &mut self.draft.parse_errors;
        forms::window(
            ctx,
            "DNS server properties",
            "dns server dialog",
            560.0,
            true,
            |ui| {
                let mut form = Form::new(errors, parse_errors);
                forms::scroll_body(ui, |ui| {
                    forms::grid(ui, "dns server fields", |ui| {
                        form.text(
                            ui,
                            "DNS server (name or IP):",
                            "address",
                            &mut draft.address,
                            None,
                        );
                        form.port(ui, "Port:", "port", &mut draft.port);
                    });
                    forms::section_heading(ui, "DNS lookup");
                    forms::grid(ui, "dns lookup fields", |ui| {
                        form.check(ui, "Use EDNS0", &mut draft.edns0);
                        form.check(
                            ui,
                            "Ignore the TTL when comparing records",
                            &mut draft.ignore_ttl,
                        );
                        form.number(
                            ui,
                            "Re-check every (minutes):",
                            "recheck_minutes",
                            &mut draft.recheck_minutes,
                        );
                    });
                    forms::section_heading(ui, "Update method");
                    forms::grid(ui, "dns update fields", |ui| {
                        update_method(&mut form, ui, &mut draft.update)
                    });
                    forms::grid(ui, "dns notes", |ui| {
                        form.multiline(ui, "Notes:", "notes", &mut draft.notes, None);
                    });
                });
                form.show_rest(ui);
                let valid = form.is_valid();
                forms::buttons(
                    ui,
                    valid,
                    "Correct the fields in red first",
                    HelpTopic::DnsServer,
                    help,
                )
            },
        )
    }
}

fn update_method(form: &mut Form, ui: &mut egui::Ui, update: &mut UpdateMethod) {
    let current = update.label();
    let mut chosen: Option<UpdateMethod> = None;
    form.combo(ui, "Update method:", "update", current, |ui| {
        let choices = [
            UpdateMethod::Rfc2136(Rfc2136Update::default()),
            UpdateMethod::Http(HttpRequest::default()),
            UpdateMethod::Command(CommandSpec::default()),
            UpdateMethod::PowerDns(PowerDnsApi::default()),
            UpdateMethod::Route53(Route53Api::default()),
            UpdateMethod::Cloudflare(CloudflareApi::default()),
        ];
        for choice in choices {
            let same = std::mem::discriminant(&choice) == std::mem::discriminant(update);
            if ui.selectable_label(same, choice.label()).clicked() && !same {
                chosen = Some(choice);
            }
        }
        let dnscmd = UpdateMethod::Dnscmd(DnscmdUpdate::default());
        let same = matches!(update, UpdateMethod::Dnscmd(_));
        let response = ui
            .add_enabled(
                cfg!(windows),
                egui::Button::selectable(same, dnscmd.label()),
            )
            .on_disabled_hover_text(DNSCMD_ONLY_ON_WINDOWS);
        if response.clicked() && !same {
            chosen = Some(dnscmd);
        }
    });
    if let Some(choice) = chosen {
        *update = choice;
        form.clear_parse_errors();
    }
    if !cfg!(windows) {
        ui.label("");
        forms::note(
            ui,
            &format!("{DNSCMD_ONLY_ON_WINDOWS}: not available here."),
        );
        ui.end_row();
    }
    match update {
        UpdateMethod::Rfc2136(r) => rfc2136(form, ui, r),
        UpdateMethod::Http(request) => {
            rules::http_request(form, ui, "update.Http", request, UPDATE_TAGS);
        }
        UpdateMethod::Command(spec) => {
            rules::command(form, ui, "update.Command", spec, UPDATE_TAGS)
        }
        UpdateMethod::PowerDns(p) => powerdns(form, ui, p),
        UpdateMethod::Route53(r) => route53(form, ui, r),
        UpdateMethod::Cloudflare(c) => cloudflare(form, ui, c),
        UpdateMethod::Dnscmd(d) => {
            form.text(
                ui,
                "Zone (blank = found by SOA):",
                "update.Dnscmd.zone",
                &mut d.zone,
                None,
            );
        }
    }
}

fn powerdns(form: &mut Form, ui: &mut egui::Ui, p: &mut PowerDnsApi) {
    let path = "update.PowerDns";
    form.text(ui, "API URL:", &format!("{path}.url"), &mut p.url, None);
    form.text(
        ui,
        "Server id:",
        &format!("{path}.server_id"),
        &mut p.server_id,
        None,
    );
    form.secret(ui, "API key:", &format!("{path}.api_key"), &mut p.api_key);
    form.number(
        ui,
        "Time-out (s):",
        &format!("{path}.timeout_secs"),
        &mut p.timeout_secs,
    );
    ui.label("");
    forms::note(
        ui,
        "Records are read and replaced through the API (A and AAAA in one PATCH). \
         The DNS server above is optional: given, the zone's name servers are asked \
         for propagation.",
    );
    ui.end_row();
}

fn cloudflare(form: &mut Form, ui: &mut egui::Ui, c: &mut CloudflareApi) {
    let path = "update.Cloudflare";
    form.secret(
        ui,
        "API token:",
        &format!("{path}.api_token"),
        &mut c.api_token,
    );
    form.text(
        ui,
        "API URL:",
        &format!("{path}.api_url"),
        &mut c.api_url,
        None,
    );
    form.number(
        ui,
        "Time-out (s):",
        &format!("{path}.timeout_secs"),
        &mut c.timeout_secs,
    );
    ui.label("");
    forms::note(
        ui,
        "An API token with Zone:Read and DNS:Edit on the zone (not the global API key). \
         Records change in one batch; proxied, comments and tags are kept. Leave the DNS \
         server above blank.",
    );
    ui.end_row();
}

fn route53(form: &mut Form, ui: &mut egui::Ui, r: &mut Route53Api) {
    let path = "update.Route53";
    form.text(
        ui,
        "Access key id (blank = environment / profile):",
        &format!("{path}.access_key_id"),
        &mut r.access_key_id,
        None,
    );
    if !r.access_key_id.trim().is_empty() {
        form.secret(
            ui,
            "Secret access key:",
            &format!("{path}.secret_access_key"),
            &mut r.secret_access_key,
        );
    } else {
        form.text(
            ui,
            "Profile (blank = AWS_PROFILE or default):",
            &format!("{path}.profile"),
            &mut r.profile,
            None,
        );
    }
    form.check(
        ui,
        "Wait until Route 53 says INSYNC (shown as propagation)",
        &mut r.wait_for_insync,
    );
    form.text(
        ui,
        "Endpoint:",
        &format!("{path}.endpoint"),
        &mut r.endpoint,
        None,
    );
    form.number(
        ui,
        "Time-out (s):",
        &format!("{path}.timeout_secs"),
        &mut r.timeout_secs,
    );
    ui.label("");
    forms::note(
        ui,
        "The hosted zone is found by name; A and AAAA change in one batch. Leave the DNS \
         server above blank: Route 53's name servers are asked through GetChange.",
    );
    ui.end_row();
}

fn rfc2136(form: &mut Form, ui: &mut egui::Ui, r: &mut Rfc2136Update) {
    let mut signed = r.tsig.is_some();
    if form
        .check(ui, "Sign updates with TSIG", &mut signed)
        .changed()
    {
        r.tsig = signed.then(TsigKey::default);
    }
    let Some(key) = &mut r.tsig else {
        ui.label("");
        forms::warning_text(ui, "Updates are unauthenticated");
        ui.end_row();
        return;
    };
    let path = "update.Rfc2136.tsig";
    form.text(
        ui,
        "Key name:",
        &format!("{path}.name"),
        &mut key.name,
        None,
    );
    form.combo(ui, "Algorithm:", "", key.algorithm.name(), |ui| {
        for algorithm in TsigAlgorithm::ALL {
            ui.selectable_value(&mut key.algorithm, algorithm, algorithm.name());
        }
    });
    form.secret(
        ui,
        "Secret (base64):",
        &format!("{path}.secret"),
        &mut key.secret,
    );
    ui.label("");
    if ui
        .button("Generate")
        .on_hover_text(
            "Make a new random secret for this algorithm; give the DNS server the same one",
        )
        .clicked()
    {
        key.secret = key.algorithm.generate_secret();
    }
    ui.end_row();
    if !key.secret.is_empty() && !key.name.trim().is_empty() {
        let clause = key.bind_clause();
        ui.label("BIND key clause:");
        ui.vertical(|ui| {
            ui.monospace(clause.replace(key.secret.expose(), "***"));
            if ui
                .button("Copy")
                .on_hover_text("Copy the key clause (with the secret) to paste into named.conf")
                .clicked()
            {
                ui.ctx().copy_text(clause);
            }
        });
        ui.end_row();
    }
}

impl ChildDialog for DnsServerDialog {
    type Item = DnsServer;

    fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        DnsServerDialog::show(self, ctx, help)
    }

    fn index(&self) -> Option<usize> {
        self.draft.index
    }

    fn result(&self) -> DnsServer {
        DnsServerDialog::result(self)
    }
}

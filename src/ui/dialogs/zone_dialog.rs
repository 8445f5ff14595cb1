//! Zone properties: a zone delegated to Standby's DNS server, its SOA fields and its name
//! servers with their glue addresses (issue 15, item 1). A child of the Options dialog.

use eframe::egui;

use crate::model::options::{DnsZone, ZoneNameServer, ZoneTransfer};
use crate::model::{Settings, TsigAlgorithm, TsigKey, ValidationError, validate};
use crate::ui::dialogs::child::{ChildDialog, Draft};
use crate::ui::forms::{self, Form, Outcome};
use crate::ui::help::HelpTopic;

pub struct ZoneDialog {
    pub draft: Draft<DnsZone>,
}

impl ZoneDialog {
    pub fn new(index: Option<usize>, draft: DnsZone) -> Self {
        Self {
            draft: Draft::new(index, draft),
        }
    }

    fn errors(&mut self) -> Vec<ValidationError> {
        self.draft.errors(|draft| {
            // Validated as the one zone of a switched-on server (zones are checked only
            // then), and cut to its own paths.
            let mut settings = Settings::default();
            let serving = &mut settings.options.dns_serving;
            serving.enabled = true;
            serving.zones = vec![trimmed(draft)];
            forms::errors_under(validate(&settings), "options.dns_serving.zones[0]")
        })
    }

    /// The edited zone, its names trimmed.
    pub fn result(&self) -> DnsZone {
        trimmed(&self.draft.value)
    }

    pub fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        let errors = self.errors();
        let draft = &mut self.draft.value;
        let parse_errors = &mut self.draft.parse_errors;
        forms::window(ctx, "Zone properties", "zone dialog", 560.0, true, |ui| {
            let mut form = Form::new(errors, parse_errors);
            forms::scroll_body(ui, |ui| {
                forms::grid(ui, "zone fields", |ui| {
                    form.text(ui, "Zone name:", "name", &mut draft.name, None);
                    ui.label("");
                    forms::note(
                        ui,
                        "The apex, e.g. failover.example.com: its parent delegates it to \
                         the name servers below.",
                    );
                    ui.end_row();
                });
                forms::section_heading(ui, "SOA");
                forms::grid(ui, "zone soa fields", |ui| {
                    form.text(
                        ui,
                        "Primary name server:",
                        "primary",
                        &mut draft.primary,
                        None,
                    );
                    form.text(ui, "Contact (e-mail):", "contact", &mut draft.contact, None);
                    form.number(ui, "Refresh (s):", "refresh_secs", &mut draft.refresh_secs);
                    form.number(ui, "Retry (s):", "retry_secs", &mut draft.retry_secs);
                    form.number(ui, "Expire (s):", "expire_secs", &mut draft.expire_secs);
                    form.number(
                        ui,
                        "Minimum / negative TTL (s):",
                        "minimum_secs",
                        &mut draft.minimum_secs,
                    );
                    form.number(ui, "TTL of SOA, NS and glue (s):", "ttl", &mut draft.ttl);
                });
                forms::section_heading(ui, "Name servers");
                forms::grid(ui, "zone ns fields", |ui| {
                    name_servers(&mut form, ui, &mut draft.name_servers);
                });
                forms::section_heading(ui, "Transfers to secondaries (hidden primary)");
                forms::grid(ui, "zone transfer fields", |ui| {
                    transfers(&mut form, ui, &mut draft.transfer);
                });
            });
            form.show_rest(ui);
            let valid = form.is_valid();
            forms::buttons(
                ui,
                valid,
                "Correct the fields in red first",
                HelpTopic::Zone,
                help,
            )
        })
    }
}

/// The NS records, one per line: the name, then its glue addresses (if any).
fn name_servers(form: &mut Form, ui: &mut egui::Ui, servers: &mut Vec<ZoneNameServer>) {
    let messages = form.take_under("name_servers");
    form.parsed(
        ui,
        "Name servers:",
        "",
        servers,
        |servers| {
            servers
                .iter()
                .map(|s| {
                    std::iter::once(s.name.as_str())
                        .chain(s.addresses.iter().map(String::as_str))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
        |text| Ok::<_, std::convert::Infallible>(parse_name_servers(text)),
        true,
    );
    ui.label("");
    ui.vertical(|ui| {
        forms::note(
            ui,
            "One per line: the name, then its addresses (glue) if the name is inside \
             the zone, e.g. ns1.failover.example.com 192.0.2.53",
        );
        for (rest, message) in &messages {
            // `[2].addresses[0]` → "line 3: ..."
            let line = rest
                .strip_prefix('[')
                .and_then(|r| r.split_once(']'))
                .and_then(|(n, _)| n.parse::<usize>().ok());
            match line {
                Some(i) => forms::error_text(ui, &format!("line {}: {message}", i + 1)),
                None => forms::error_text(ui, message),
            }
        }
    });
    ui.end_row();
}

/// Who may transfer the zone, with which key, and whom to NOTIFY (Standby as the hidden
/// primary of a provider's secondary servers).
fn transfers(form: &mut Form, ui: &mut egui::Ui, t: &mut ZoneTransfer) {
    form.lines(
        ui,
        "May transfer (networks):",
        "transfer.allowed_from",
        &mut t.allowed_from,
        None,
    );
    ui.label("");
    forms::note(
        ui,
        "One network per line, e.g. 192.0.2.53/32 (the secondaries); empty = no transfers.",
    );
    ui.end_row();
    form.lines(ui, "NOTIFY:", "transfer.notify", &mut t.notify, None);
    ui.label("");
    forms::note(
        ui,
        "Secondaries told of every change, one per line: an address (port 53) or address:port.",
    );
    ui.end_row();
    form.check(
        ui,
        "Also NOTIFY the name servers' glue addresses (port 53)",
        &mut t.notify_name_servers,
    );
    let mut signed = t.key.is_some();
    if form
        .check(ui, "Require TSIG on transfers", &mut signed)
        .changed()
    {
        t.key = signed.then(TsigKey::default);
    }
    let Some(key) = &mut t.key else {
        ui.label("");
        forms::warning_text(ui, "Transfers are limited by address only");
        ui.end_row();
        return;
    };
    form.text(ui, "Key name:", "transfer.key.name", &mut key.name, None);
    form.combo(ui, "Algorithm:", "", key.algorithm.name(), |ui| {
        for algorithm in TsigAlgorithm::ALL {
            ui.selectable_value(&mut key.algorithm, algorithm, algorithm.name());
        }
    });
    form.secret(
        ui,
        "Secret (base64):",
        "transfer.key.secret",
        &mut key.secret,
    );
    ui.label("");
    if ui
        .button("Generate")
        .on_hover_text("Make a new random secret; give the secondaries the same key")
        .clicked()
    {
        key.secret = key.algorithm.generate_secret();
    }
    ui.end_row();
}

/// `ns1.example.com 192.0.2.1 2001:db8::1` per line; blank lines dropped.
pub fn parse_name_servers(text: &str) -> Vec<ZoneNameServer> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?.to_string();
            Some(ZoneNameServer {
                name,
                addresses: words.map(str::to_string).collect(),
            })
        })
        .collect()
}

fn trimmed(zone: &DnsZone) -> DnsZone {
    let mut zone = zone.clone();
    zone.name = zone.name.trim().to_string();
    zone.primary = zone.primary.trim().to_string();
    zone.contact = zone.contact.trim().to_string();
    forms::clean_lines(&mut zone.transfer.allowed_from);
    forms::clean_lines(&mut zone.transfer.notify);
    if let Some(key) = &mut zone.transfer.key {
        key.name = key.name.trim().to_string();
    }
    zone
}

impl ChildDialog for ZoneDialog {
    type Item = DnsZone;

    fn show(&mut self, ctx: &egui::Context, help: &mut Option<HelpTopic>) -> Outcome {
        ZoneDialog::show(self, ctx, help)
    }

    fn index(&self) -> Option<usize> {
        self.draft.index
    }

    fn result(&self) -> DnsZone {
        ZoneDialog::result(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_servers_are_a_name_then_its_addresses_per_line() {
        let parsed = parse_name_servers("ns1.z.test 192.0.2.1  2001:db8::1\n\n ns.other.test \n");
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].name, "ns1.z.test");
        assert_eq!(parsed[0].addresses, ["192.0.2.1", "2001:db8::1"]);
        assert_eq!(parsed[1].name, "ns.other.test");
        assert!(parsed[1].addresses.is_empty());
    }

    #[test]
    fn a_new_zone_is_invalid_until_named_and_given_a_name_server() {
        let mut dialog = ZoneDialog::new(None, DnsZone::default());
        let paths: Vec<String> = dialog.errors().into_iter().map(|e| e.path).collect();
        assert!(paths.contains(&"name".to_string()), "{paths:?}");
        assert!(paths.contains(&"name_servers".to_string()), "{paths:?}");
        dialog.draft.name = "z.test".into();
        dialog.draft.primary = "ns1.z.test".into();
        dialog.draft.contact = "hostmaster@z.test".into();
        dialog.draft.name_servers = parse_name_servers("ns1.z.test");
        let errors = dialog.errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "name_servers[0].addresses");
        dialog.draft.name_servers = parse_name_servers("ns1.z.test 192.0.2.53");
        assert!(dialog.errors().is_empty());
    }
}

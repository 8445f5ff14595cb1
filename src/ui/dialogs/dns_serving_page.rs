//! The Options dialog's DNS-serving page (SPEC §5, issue 15): where Standby listens, what
//! it forwards and for whom, its limits, and the zones delegated to it. It warns when a
//! public address forwards, and names the sets' host names that no zone holds.

use std::net::IpAddr;

use eframe::egui;

use crate::model::ServerSet;
use crate::model::options::{DnsServingOptions, DnsZone, parse_network};
use crate::ui::forms::{self, Form, ListAction};

/// Shown while forwarding is on and the listen address is not a loopback address.
pub const PUBLIC_FORWARDING: &str = "Forwarding on an address other machines can reach: \
     only the client networks below get forwarded answers (the others get REFUSED). Never \
     allow the whole internet, or Standby becomes an open resolver that attackers use to \
     flood others.";

/// Shown when a forwarding network covers every address.
pub const OPEN_RESOLVER: &str = "A forwarding network covers every address: anyone can use \
     Standby as an open resolver.";

/// The hint beside a set's host name that no zone holds.
pub const NO_ZONE: &str = "answered, but not authoritatively: no zone holds it";

/// Draws the page; returns what the operator did with the zone list.
pub fn page(
    ui: &mut egui::Ui,
    form: &mut Form,
    s: &mut DnsServingOptions,
    sets: &[ServerSet],
) -> ListAction {
    let p = "options.dns_serving";
    forms::grid(ui, "options dns serving", |ui| {
        form.check(
            ui,
            "Answer DNS queries for the sets' host names",
            &mut s.enabled,
        );
        form.text(
            ui,
            "Listen on address:",
            &format!("{p}.listen_address"),
            &mut s.listen_address,
            None,
        );
        form.port(ui, "Listen on port:", &format!("{p}.port"), &mut s.port);
    });
    forms::section_heading(ui, "Forwarding");
    forms::grid(ui, "options dns forwarding", |ui| {
        form.check(ui, "Forward other queries", &mut s.forward);
        if s.forward && listens_publicly(&s.listen_address) {
            ui.label("");
            forms::warning_text(ui, PUBLIC_FORWARDING);
            ui.end_row();
        }
        form.text(
            ui,
            "Forward to:",
            &format!("{p}.forward_to"),
            &mut s.forward_to,
            None,
        );
        form.port(
            ui,
            "Forward to port:",
            &format!("{p}.forward_port"),
            &mut s.forward_port,
        );
        form.check(
            ui,
            "Clear RD in forwarded requests and RA in their answers",
            &mut s.clear_recursion_flags,
        );
        form.lines(
            ui,
            "Forward for clients in:",
            &format!("{p}.forward_allowed_from"),
            &mut s.forward_allowed_from,
            None,
        );
        ui.label("");
        forms::note(
            ui,
            "One network per line (127.0.0.0/8, ::1/128, 192.0.2.0/24). Other clients get \
             REFUSED for names that are not Standby's.",
        );
        ui.end_row();
        if s.forward && s.forward_allowed_from.iter().any(|n| covers_everything(n)) {
            ui.label("");
            forms::warning_text(ui, OPEN_RESOLVER);
            ui.end_row();
        }
    });
    forms::section_heading(ui, "Limits");
    forms::grid(ui, "options dns limits", |ui| {
        form.number(
            ui,
            "Answers per second per client network:",
            &format!("{p}.rate_limit_per_sec"),
            &mut s.rate_limit_per_sec,
        );
        ui.label("");
        forms::note(
            ui,
            "0 = no limit. Past it, every second UDP answer is dropped and the other sent \
             truncated, so real clients retry over TCP.",
        );
        ui.end_row();
        form.number(
            ui,
            "Most TCP connections:",
            &format!("{p}.max_tcp_connections"),
            &mut s.max_tcp_connections,
        );
        form.number(
            ui,
            "Close idle TCP connections after (s):",
            &format!("{p}.tcp_idle_secs"),
            &mut s.tcp_idle_secs,
        );
        form.number(
            ui,
            "Most forwards in flight:",
            &format!("{p}.max_forwards_in_flight"),
            &mut s.max_forwards_in_flight,
        );
        form.number(
            ui,
            "UDP threads (0 = one per core):",
            &format!("{p}.udp_workers"),
            &mut s.udp_workers,
        );
    });
    forms::section_heading(ui, "Zones");
    let rows: Vec<String> = s.zones.iter().map(zone_row).collect();
    let errors: Vec<Option<String>> = (0..rows.len())
        .map(|i| {
            form.take_under(&format!("{p}.zones[{i}]"))
                .into_iter()
                .next()
                .map(|(_, m)| m)
        })
        .collect();
    let action = forms::list_editor(ui, "zone", &rows, &errors, false);
    if s.enabled {
        let lone = names_under_no_zone(s, sets);
        if !lone.is_empty() {
            forms::section_heading(ui, "Host names under no zone");
            for (set, host) in lone {
                forms::note(ui, &format!("{host} (set {set}): {NO_ZONE}"));
            }
        }
    }
    action
}

fn zone_row(zone: &DnsZone) -> String {
    let name = if zone.name.trim().is_empty() {
        "(no name)"
    } else {
        zone.name.trim()
    };
    match zone.name_servers.len() {
        1 => format!("{name} (1 name server)"),
        n => format!("{name} ({n} name servers)"),
    }
}

/// Whether `address` can be reached from other machines (not loopback; the unspecified
/// address listens on every interface, so it counts).
pub fn listens_publicly(address: &str) -> bool {
    address
        .trim()
        .parse::<IpAddr>()
        .is_ok_and(|ip| !ip.is_loopback())
}

/// Whether a network contains every address of its family (`0.0.0.0/0`, `::/0`).
fn covers_everything(network: &str) -> bool {
    parse_network(network).is_ok_and(|(_, prefix)| prefix == 0)
}

/// The sets' host names that no zone holds, as (set, host name).
pub fn names_under_no_zone(s: &DnsServingOptions, sets: &[ServerSet]) -> Vec<(String, String)> {
    sets.iter()
        .flat_map(|set| {
            set.dns
                .host_names
                .iter()
                .filter(|host| !host.trim().is_empty() && s.zone_of(host.trim()).is_none())
                .map(|host| (set.name.clone(), host.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DnsData;

    #[test]
    fn public_means_reachable_from_elsewhere() {
        assert!(!listens_publicly("127.0.0.1"));
        assert!(!listens_publicly("::1"));
        assert!(listens_publicly("0.0.0.0"));
        assert!(listens_publicly("192.0.2.1"));
        assert!(!listens_publicly("not an address"));
        assert!(covers_everything("0.0.0.0/0"));
        assert!(covers_everything("::/0"));
        assert!(!covers_everything("127.0.0.0/8"));
    }

    #[test]
    fn host_names_outside_every_zone_are_named() {
        let mut s = DnsServingOptions::default();
        s.zones.push(DnsZone {
            name: "failover.example.test".into(),
            ..DnsZone::default()
        });
        let set = ServerSet {
            name: "web".into(),
            dns: DnsData {
                host_names: vec![
                    "www.failover.example.test".into(),
                    "*.failover.example.test".into(),
                    "www.other.test".into(),
                ],
                ..DnsData::default()
            },
            ..ServerSet::default()
        };
        assert_eq!(
            names_under_no_zone(&s, &[set]),
            [("web".to_string(), "www.other.test".to_string())]
        );
    }
}

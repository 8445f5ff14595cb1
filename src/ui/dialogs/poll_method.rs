//! The Polling method page of the set dialog: one combo for the method and every field of
//! the chosen one (SPEC §1).

use eframe::egui;

use crate::model::tags::POLL_TAGS;
use crate::model::{
    AddressRecordType, CommandSpec, DnsPoll, FtpLogin, HttpPoll, HttpPollMethod, PollMethod,
    TcpPoll, TcpService,
};
use crate::ui::dialogs::rules;
use crate::ui::forms::{self, Form};

/// The methods of the combo, in the order of the original.
const CHOICES: [&str; 10] = [
    "Ping",
    "HTTP/HTTPS",
    "TCP connect",
    "FTP",
    "SMTP",
    "POP3",
    "IMAP",
    "NNTP",
    "DNS",
    "Command line",
];

fn choice_of(method: &PollMethod) -> usize {
    match method {
        PollMethod::Ping => 0,
        PollMethod::Http(_) => 1,
        PollMethod::Tcp(t) => match t.service {
            TcpService::Custom => 2,
            TcpService::Ftp => 3,
            TcpService::Smtp => 4,
            TcpService::Pop3 => 5,
            TcpService::Imap => 6,
            TcpService::Nntp => 7,
        },
        PollMethod::Dns(_) => 8,
        PollMethod::Command(_) => 9,
    }
}

fn method_of(choice: usize) -> PollMethod {
    let tcp = |service| {
        PollMethod::Tcp(TcpPoll {
            service,
            ..TcpPoll::default()
        })
    };
    match choice {
        0 => PollMethod::Ping,
        2 => tcp(TcpService::Custom),
        3 => tcp(TcpService::Ftp),
        4 => tcp(TcpService::Smtp),
        5 => tcp(TcpService::Pop3),
        6 => tcp(TcpService::Imap),
        7 => tcp(TcpService::Nntp),
        8 => PollMethod::Dns(DnsPoll::default()),
        9 => PollMethod::Command(CommandSpec::default()),
        _ => PollMethod::Http(HttpPoll::default()),
    }
}

/// Draws the page into a grid.
pub fn show(form: &mut Form, ui: &mut egui::Ui, method: &mut PollMethod) {
    let current = choice_of(method);
    let mut chosen = current;
    form.combo(ui, "Polling method:", "polling", CHOICES[current], |ui| {
        for (i, name) in CHOICES.iter().enumerate() {
            ui.selectable_value(&mut chosen, i, *name);
        }
    });
    if chosen != current {
        *method = method_of(chosen);
        form.clear_parse_errors();
    }
    match method {
        PollMethod::Ping => {
            ui.label("");
            forms::note(ui, "ICMP echo, 3 tries of 1 s each.");
            ui.end_row();
        }
        PollMethod::Http(h) => http(form, ui, h),
        PollMethod::Tcp(t) => tcp(form, ui, t),
        PollMethod::Dns(d) => dns(form, ui, d),
        PollMethod::Command(c) => rules::command(form, ui, "polling.Command", c, POLL_TAGS),
    }
}

fn http(form: &mut Form, ui: &mut egui::Ui, h: &mut HttpPoll) {
    let p = "polling.Http";
    form.text(ui, "URL:", &format!("{p}.url"), &mut h.url, None);
    let name = match h.method {
        HttpPollMethod::Get => "GET",
        HttpPollMethod::Head => "HEAD",
    };
    form.combo(ui, "Request:", "", name, |ui| {
        ui.selectable_value(&mut h.method, HttpPollMethod::Get, "GET");
        ui.selectable_value(&mut h.method, HttpPollMethod::Head, "HEAD");
    });
    let get = h.method == HttpPollMethod::Get;
    rules::http_criteria(form, ui, &format!("{p}.criteria"), &mut h.criteria, get);
    if !get && !h.criteria.body.is_empty() {
        ui.label("");
        forms::warning_text(
            ui,
            "A HEAD response has no body: the body rules are not used",
        );
        ui.end_row();
    }
    form.check(
        ui,
        "Verify the HTTPS certificate",
        &mut h.verify_certificate,
    );
    form.number(
        ui,
        "Certificate warning (days):",
        &format!("{p}.certificate_warning_days"),
        &mut h.certificate_warning_days,
    );
    ui.label("");
    forms::note(
        ui,
        "Warn this many days before the certificate expires; 0 = never.",
    );
    ui.end_row();
}

fn tcp(form: &mut Form, ui: &mut egui::Ui, t: &mut TcpPoll) {
    let p = "polling.Tcp";
    let port_label = match t.service.default_port() {
        Some(port) => format!("Port (blank = {port}):"),
        None => "Port:".to_string(),
    };
    form.parsed(
        ui,
        &port_label,
        &format!("{p}.port"),
        &mut t.port,
        |port| port.map(|p| p.to_string()).unwrap_or_default(),
        forms::parse_optional_port,
        false,
    );
    rules::optional_text_rule(
        form,
        ui,
        "Greeting:",
        &format!("{p}.greeting"),
        &mut t.greeting,
    );
    if t.greeting.is_none() {
        ui.label("");
        match t.service.default_greeting() {
            Some(_) => forms::note(
                ui,
                &format!("(no rule) = the {} preset's rule", t.service.label()),
            ),
            None => forms::note(ui, "(no rule) = connecting is enough"),
        }
        ui.end_row();
    }
    form.duration(
        ui,
        "Greeting time-out:",
        &format!("{p}.greeting_timeout"),
        &mut t.greeting_timeout,
    );
    if t.service == TcpService::Ftp {
        let mut login = t.ftp_login.is_some();
        if form
            .check(ui, "Log in to the FTP server", &mut login)
            .changed()
        {
            t.ftp_login = login.then(FtpLogin::default);
        }
        if let Some(l) = &mut t.ftp_login {
            form.text(
                ui,
                "FTP user:",
                &format!("{p}.ftp_login.user"),
                &mut l.user,
                None,
            );
            form.secret(
                ui,
                "FTP password:",
                &format!("{p}.ftp_login.password"),
                &mut l.password,
            );
            form.check(ui, "Explicit FTPS (AUTH TLS)", &mut l.explicit_tls);
            // Without AUTH TLS there is no certificate, and the probe ignores the setting.
            if l.explicit_tls {
                form.check(
                    ui,
                    "Verify the server's certificate",
                    &mut l.verify_certificate,
                );
            }
        }
    }
}

fn dns(form: &mut Form, ui: &mut egui::Ui, d: &mut DnsPoll) {
    let p = "polling.Dns";
    form.text(
        ui,
        "Query host name:",
        &format!("{p}.host_name"),
        &mut d.host_name,
        None,
    );
    let name = match d.record_type {
        AddressRecordType::A => "A",
        AddressRecordType::Aaaa => "AAAA",
    };
    form.combo(ui, "Record type:", "", name, |ui| {
        ui.selectable_value(&mut d.record_type, AddressRecordType::A, "A");
        ui.selectable_value(&mut d.record_type, AddressRecordType::Aaaa, "AAAA");
    });
    form.port(ui, "DNS port:", &format!("{p}.port"), &mut d.port);
    form.check(ui, "Recursion desired (RD flag)", &mut d.recursion_desired);
    form.parsed(
        ui,
        "Expected address:",
        &format!("{p}.expect_address"),
        &mut d.expect_address,
        |a| a.clone().unwrap_or_default(),
        |text| Ok((!text.trim().is_empty()).then(|| text.trim().to_string())),
        false,
    );
    form.check(
        ui,
        "Answer must be authoritative (AA flag)",
        &mut d.require_authoritative,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_choice_round_trips() {
        for i in 0..CHOICES.len() {
            assert_eq!(choice_of(&method_of(i)), i);
        }
    }
}

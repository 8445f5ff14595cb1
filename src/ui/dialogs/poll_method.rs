//! The Polling method page of the set dialog: one combo for the method and every field of
//! the chosen one (SPEC §1).

use eframe::egui;

use crate::model::tags::POLL_TAGS;
use crate::model::{
    AddressRecordType, CommandSpec, DnsPoll, FtpLogin, HttpAuth, HttpPoll, HttpPollMethod,
    JsonRule, JsonTest, PollMethod, Secret, TcpPoll, TcpService,
};
use crate::ui::dialogs::rules;
use crate::ui::forms::{self, Form};

/// The methods of the combo, in the order of the original, with the later TCP presets
/// beside the others.
const CHOICES: [&str; 12] = [
    "Ping",
    "HTTP/HTTPS",
    "TCP connect",
    "FTP",
    "SMTP",
    "POP3",
    "IMAP",
    "NNTP",
    "Redis",
    "Memcached",
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
            TcpService::Redis => 8,
            TcpService::Memcached => 9,
        },
        PollMethod::Dns(_) => 10,
        PollMethod::Command(_) => 11,
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
        8 => tcp(TcpService::Redis),
        9 => tcp(TcpService::Memcached),
        10 => PollMethod::Dns(DnsPoll::default()),
        11 => PollMethod::Command(CommandSpec::default()),
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
    form.combo(ui, "Request:", "", h.method.name(), |ui| {
        for method in HttpPollMethod::ALL {
            ui.selectable_value(&mut h.method, method, method.name());
        }
    });
    form.parsed(
        ui,
        "Headers (Name: value):",
        &format!("{p}.headers"),
        &mut h.headers,
        |headers: &Vec<(String, String)>| rules::headers_text(headers),
        rules::parse_headers,
        true,
    );
    if h.method.has_body() {
        form.multiline(
            ui,
            "Body:",
            &format!("{p}.body"),
            &mut h.body,
            Some(POLL_TAGS),
        );
    }
    auth(form, ui, p, &mut h.auth);
    let get = h.method != HttpPollMethod::Head;
    rules::http_criteria(form, ui, &format!("{p}.criteria"), &mut h.criteria, get);
    if !get && !h.criteria.body.is_empty() {
        ui.label("");
        forms::warning_text(
            ui,
            "A HEAD response has no body: the body rules are not used",
        );
        ui.end_row();
    }
    if get {
        json_rules(form, ui, &format!("{p}.json"), &mut h.json);
    }
    form.number(
        ui,
        "Follow redirects (at most):",
        &format!("{p}.follow_redirects"),
        &mut h.follow_redirects,
    );
    if h.follow_redirects > 0 {
        form.check(
            ui,
            "Follow redirects only on the URL's host",
            &mut h.redirect_same_host_only,
        );
    }
    form.duration(
        ui,
        "Response-time limit:",
        &format!("{p}.response_time_limit"),
        &mut h.response_time_limit,
    );
    ui.label("");
    forms::note(
        ui,
        "e.g. 800ms or 2s: a slower poll fails with problem 128; 0s = no limit.",
    );
    ui.end_row();
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

const AUTH_KINDS: [&str; 3] = ["none", "basic", "bearer token"];

fn auth(form: &mut Form, ui: &mut egui::Ui, p: &str, auth: &mut Option<HttpAuth>) {
    let current = match auth {
        None => 0,
        Some(HttpAuth::Basic { .. }) => 1,
        Some(HttpAuth::Bearer { .. }) => 2,
    };
    let mut chosen = current;
    form.combo(ui, "Authentication:", "", AUTH_KINDS[current], |ui| {
        for (i, name) in AUTH_KINDS.iter().enumerate() {
            ui.selectable_value(&mut chosen, i, *name);
        }
    });
    if chosen != current {
        *auth = match chosen {
            1 => Some(HttpAuth::Basic {
                user: String::new(),
                password: Secret::default(),
            }),
            2 => Some(HttpAuth::Bearer {
                token: Secret::default(),
            }),
            _ => None,
        };
    }
    match auth {
        None => {}
        Some(HttpAuth::Basic { user, password }) => {
            form.text(ui, "User:", &format!("{p}.auth.Basic.user"), user, None);
            form.secret(
                ui,
                "Password:",
                &format!("{p}.auth.Basic.password"),
                password,
            );
        }
        Some(HttpAuth::Bearer { token }) => {
            form.secret(ui, "Token:", &format!("{p}.auth.Bearer.token"), token);
        }
    }
}

const JSON_TESTS: [&str; 4] = ["exists", "equals", "does not equal", "contains"];

fn json_test_kind(test: &JsonTest) -> usize {
    match test {
        JsonTest::Exists => 0,
        JsonTest::Equals(_) => 1,
        JsonTest::NotEquals(_) => 2,
        JsonTest::Contains(_) => 3,
    }
}

fn make_json_test(kind: usize, value: String) -> JsonTest {
    match kind {
        1 => JsonTest::Equals(value),
        2 => JsonTest::NotEquals(value),
        3 => JsonTest::Contains(value),
        _ => JsonTest::Exists,
    }
}

/// The JSON body rules: pointer, test and value (JSON text) per row; Add / Remove last.
fn json_rules(form: &mut Form, ui: &mut egui::Ui, path: &str, rules: &mut Vec<JsonRule>) {
    for (i, rule) in rules.iter_mut().enumerate() {
        let label = format!("JSON rule {}:", i + 1);
        form.row(ui, &label, &format!("{path}[{i}]"), |ui| {
            ui.add(
                egui::TextEdit::singleline(&mut rule.pointer)
                    .hint_text("/status")
                    .desired_width(90.0),
            );
            let current = json_test_kind(&rule.test);
            let mut chosen = current;
            egui::ComboBox::from_id_salt(("json test", path, i))
                .selected_text(JSON_TESTS[current])
                .show_ui(ui, |ui| {
                    for (k, name) in JSON_TESTS.iter().enumerate() {
                        ui.selectable_value(&mut chosen, k, *name);
                    }
                });
            if chosen != current {
                let value = rule.test.value().unwrap_or_default().to_owned();
                rule.test = make_json_test(chosen, value);
            }
            let value = match &mut rule.test {
                JsonTest::Exists => None,
                JsonTest::Equals(v) | JsonTest::NotEquals(v) | JsonTest::Contains(v) => Some(v),
            };
            if let Some(value) = value {
                ui.add(
                    egui::TextEdit::singleline(value)
                        .hint_text("\"UP\"")
                        .desired_width(90.0),
                );
            }
        });
    }
    ui.label("");
    ui.horizontal(|ui| {
        if ui.button("Add JSON rule").clicked() {
            rules.push(JsonRule {
                pointer: String::new(),
                test: JsonTest::Equals(String::new()),
            });
        }
        if !rules.is_empty() && ui.button("Remove last JSON rule").clicked() {
            rules.pop();
        }
    });
    ui.end_row();
    if !rules.is_empty() {
        ui.label("");
        forms::note(
            ui,
            "Values are JSON: a string in quotes (\"UP\"), a number, true, an object...",
        );
        ui.end_row();
    }
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
    if t.ftp_login.is_none() {
        send_text(form, ui, p, t);
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

/// The text sent after connecting: blank = the preset's (or nothing).
fn send_text(form: &mut Form, ui: &mut egui::Ui, p: &str, t: &mut TcpPoll) {
    let preset = t.service.default_send();
    let label = match preset {
        Some(text) => format!("Send (blank = {text}):"),
        None => "Send after connecting:".to_string(),
    };
    form.parsed(
        ui,
        &label,
        &format!("{p}.send"),
        &mut t.send,
        |send| send.clone().unwrap_or_default(),
        |text| Ok::<_, std::convert::Infallible>((!text.is_empty()).then(|| text.to_string())),
        false,
    );
    if t.send.is_some() || preset.is_some() {
        ui.label("");
        forms::note(
            ui,
            r"Escapes: \r \n \t \0 \\ \xNN; the reply is judged by the greeting rule.",
        );
        ui.end_row();
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
        |text| {
            Ok::<_, std::convert::Infallible>(
                (!text.trim().is_empty()).then(|| text.trim().to_string()),
            )
        },
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

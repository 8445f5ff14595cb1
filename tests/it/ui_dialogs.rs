//! The dialogs, driven headless through AccessKit as an operator would: by the labels of
//! the fields and buttons, with a real engine that saves to a settings file in a temp dir.

use egui_kittest::kittest::Queryable;
use standby::engine::SettingsEdit;
use standby::model::{
    DnsData, FtpLogin, PollMethod, Server, ServerSet, Settings, TcpPoll, TcpService, UpdateMethod,
    validate,
};

use crate::support::ui::Window;

fn tcp_set(name: &str, ip: &str) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: vec![Server {
            public_ip: ip.into(),
            ..Default::default()
        }],
        // Nothing listens on port 1: polls fail fast and need no peer.
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(1),
            ..Default::default()
        }),
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ..Default::default()
        },
        ..Default::default()
    }
}

/// A set polled over FTP with a login over explicit FTPS (nothing listens on port 1).
fn ftps_set(name: &str) -> ServerSet {
    ServerSet {
        polling: PollMethod::Tcp(TcpPoll {
            service: TcpService::Ftp,
            port: Some(1),
            ftp_login: Some(FtpLogin {
                user: "probe".into(),
                explicit_tls: true,
                ..FtpLogin::default()
            }),
            ..Default::default()
        }),
        ..tcp_set(name, "127.0.0.1")
    }
}

fn ftp_login(polling: &PollMethod) -> &FtpLogin {
    match polling {
        PollMethod::Tcp(TcpPoll {
            ftp_login: Some(login),
            ..
        }) => login,
        other => panic!("an FTP login expected, got {other:?}"),
    }
}

/// The FTP login of the open set dialog's draft.
fn draft_login(w: &Window) -> FtpLogin {
    let dialog = w.app().view().dialogs.set.as_ref();
    ftp_login(&dialog.expect("the set dialog is open").draft.polling).clone()
}

/// A main window on a fresh engine that saves to `standby.ron` in a temp dir, shown once
/// the engine has the sets.
fn window(settings: Settings) -> Window {
    let sets = settings.server_sets.len();
    let mut w = Window::saving(settings);
    w.wait_for("the sets", |s| s.sets.len() == sets);
    w
}

#[test]
fn new_set_with_two_servers_http_and_a_tsig_dns_server_is_saved() {
    let mut w = window(Settings::default());
    w.click("New server set");
    assert!(w.has_window("New server set"));
    w.type_into("Set name:", "web farm");

    w.click("Servers");
    // Loopback addresses: the engine polls the set once it is saved (tests never leave
    // the machine; a documentation address here would send packets off it).
    for ip in ["127.0.0.10", "127.0.0.11"] {
        w.click("Add server...");
        assert!(w.has_window("Server properties"));
        w.type_into("Public IP address:", ip);
        w.click_in("Server properties", "OK");
        assert!(!w.has_window("Server properties"));
    }
    w.harness.get_by_label("127.0.0.10");
    w.harness.get_by_label("127.0.0.11");

    w.click("Polling method");
    w.choose("Polling method:", "HTTP/HTTPS");
    w.type_into("URL:", "https://www.example.test/health");
    w.type_into("Status codes:", "200, 204");

    w.click("DNS data");
    w.type_into("Host names (one per line):", "www.example.test");

    w.click("Update DNS");
    w.click("Update DNS servers");
    w.click("Add DNS server...");
    assert!(w.has_window("DNS server properties"));
    w.type_into("DNS server (name or IP):", "127.0.0.1");
    w.harness.get_by_label("Updates are unauthenticated");
    w.click("Sign updates with TSIG");
    assert!(
        w.harness
            .query_by_label("Updates are unauthenticated")
            .is_none(),
        "the warning goes with TSIG on"
    );
    w.type_into("Key name:", "ddns-key");
    assert!(
        !w.ok_enabled("DNS server properties"),
        "no secret yet: OK is disabled"
    );
    w.harness.get_by_label("a secret is required");
    w.click("Generate");
    // Generate offers a ready-to-paste BIND key clause, the secret hidden on screen and
    // in the clause's Copy only.
    w.harness
        .get_by_label("key \"ddns-key\" {\n    algorithm hmac-sha256;\n    secret \"***\";\n};\n");
    let copied = w
        .click_and_copy("Copy")
        .expect("Copy puts the key clause on the clipboard");
    assert!(w.ok_enabled("DNS server properties"));
    w.click_in("DNS server properties", "OK");
    w.harness
        .get_by_label("127.0.0.1:53 (Dynamic update (RFC 2136))");

    assert!(w.ok_enabled("New server set"));
    w.click_in("New server set", "OK");
    let saved = w.wait_for_file("the new set", |s| s.set("web farm").is_some());
    // The file is written before the engine answers; the dialog closes on the answer.
    w.wait_until_closed("New server set");

    let set = saved.set("web farm").unwrap();
    let ips: Vec<&str> = set.servers.iter().map(|s| s.public_ip.as_str()).collect();
    assert_eq!(ips, ["127.0.0.10", "127.0.0.11"]);
    match &set.polling {
        PollMethod::Http(h) => {
            assert_eq!(h.url, "https://www.example.test/health");
            assert_eq!(h.criteria.status_codes, [200, 204]);
        }
        other => panic!("HTTP polling expected, got {other:?}"),
    }
    assert_eq!(set.dns.host_names, ["www.example.test"]);
    assert!(set.update_dns.enabled);
    let dns = &set.update_dns.dns_servers[0];
    assert_eq!(dns.address, "127.0.0.1");
    match &dns.update {
        UpdateMethod::Rfc2136(r) => {
            let key = r.tsig.as_ref().expect("TSIG on");
            assert_eq!(key.name, "ddns-key");
            assert!(!key.secret.is_empty());
            // What Copy gave is the clause of the saved key, its real secret included.
            assert_eq!(copied, key.bind_clause());
            assert!(copied.contains(&format!("secret \"{}\";", key.secret.expose())));
        }
        other => panic!("RFC 2136 expected, got {other:?}"),
    }
    assert_eq!(validate(&saved), vec![], "what is saved is valid");
}

#[test]
fn an_invalid_ip_shows_its_reason_and_keeps_ok_disabled() {
    let mut w = window(Settings::default());
    w.click("New server set");
    w.click("Servers");
    w.click("Add server...");
    w.type_into("Public IP address:", "127.0.0.300");
    w.harness
        .get_by_label("\"127.0.0.300\" is not an IP address");
    assert!(!w.ok_enabled("Server properties"));
    w.type_into("Public IP address:", "127.0.0.30");
    assert!(
        w.harness
            .query_by_label("\"127.0.0.300\" is not an IP address")
            .is_none()
    );
    assert!(w.ok_enabled("Server properties"));
    // A set without servers cannot be saved either.
    w.click_in("Server properties", "Cancel");
    assert!(!w.ok_enabled("New server set"));
    w.harness.get_by_label("a set needs at least one server");
}

#[test]
fn a_change_in_options_is_saved() {
    let mut w = window(Settings::default());
    w.click("Options");
    assert!(w.has_window("Options"));
    w.click("Server polling");
    w.type_into("Max concurrent polls:", "abc");
    w.harness.get_by_label("\"abc\" is not a whole number");
    assert!(!w.ok_enabled("Options"));
    // 0 is auto, shown with the limit it gives (no servers: the floor, 100).
    w.type_into("Max concurrent polls:", "0");
    w.harness.get_by_label("auto (100)");
    assert!(w.ok_enabled("Options"));
    w.type_into("Max concurrent polls:", "100001");
    w.harness.get_by_label("must be at most 100000 (0 = auto)");
    assert!(!w.ok_enabled("Options"));
    w.type_into("Max concurrent polls:", "7");
    assert!(w.ok_enabled("Options"));
    w.click_in("Options", "OK");
    let saved = w.wait_for_file("the new option", |s| {
        s.options.polling.max_concurrent_polls == 7
    });
    assert_eq!(saved.options.polling.max_concurrent_polls, 7);
    w.wait_for("the settings in force", |s| {
        s.settings.options.polling.max_concurrent_polls == 7
    });
    w.wait_until_closed("Options");
}

#[test]
fn delete_asks_first_then_removes_the_set() {
    let settings = Settings {
        server_sets: vec![tcp_set("alpha", "127.0.0.1"), tcp_set("beta", "127.0.0.2")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("beta");
    w.click("Delete");
    assert!(w.has_window("Delete server set"));
    w.click("Keep set");
    assert!(!w.has_window("Delete server set"));
    assert_eq!(w.app().engine().snapshot().sets.len(), 2, "nothing deleted");

    w.click("Delete");
    w.click("Delete set");
    let saved = w.wait_for_file("beta gone", |s| s.set("beta").is_none());
    assert!(saved.set("alpha").is_some());
    w.wait_for("one set left", |s| s.sets.len() == 1);
}

#[test]
fn cancel_discards_a_change() {
    let settings = Settings {
        server_sets: vec![tcp_set("alpha", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    assert!(w.has_window("Server set properties"));
    w.type_into("Set name:", "renamed");
    w.click_in("Server set properties", "Cancel");
    assert!(!w.has_window("Server set properties"));

    w.click("Properties");
    assert_eq!(
        w.harness.get_by_label("Set name:").value().as_deref(),
        Some("alpha")
    );
    w.click_in("Server set properties", "Cancel");
    let snapshot = w.app().engine().snapshot();
    assert!(snapshot.settings.set("alpha").is_some());
    assert!(snapshot.settings.set("renamed").is_none());
    assert!(!w.settings_path().exists(), "nothing was saved");
}

#[test]
fn f1_and_the_question_mark_open_help() {
    let mut w = window(Settings::default());
    w.click("Options");
    w.click("?");
    w.harness.get_by_label("Help: Options");
    w.click("Close help");
    assert!(w.harness.query_by_label("Help: Options").is_none());
}

#[test]
fn ftps_certificate_check_is_ticked_and_unticked_in_the_set_dialog() {
    const VERIFY: &str = "Verify the server's certificate";
    let settings = Settings {
        server_sets: vec![ftps_set("files")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    w.click("Polling method");
    assert!(draft_login(&w).verify_certificate, "on by default");
    w.click(VERIFY);
    assert!(!draft_login(&w).verify_certificate, "unticked in the draft");
    // Without AUTH TLS there is no certificate: the box goes, and comes back with it.
    w.click("Explicit FTPS (AUTH TLS)");
    assert!(w.harness.query_by_label(VERIFY).is_none());
    w.click("Explicit FTPS (AUTH TLS)");
    w.harness.get_by_label(VERIFY);
    assert!(!draft_login(&w).verify_certificate, "kept while hidden");

    w.click_in("Server set properties", "OK");
    let saved = w.wait_for_file("the unticked box", |s| {
        s.set("files")
            .is_some_and(|set| !ftp_login(&set.polling).verify_certificate)
    });
    assert!(ftp_login(&saved.set("files").unwrap().polling).explicit_tls);
    w.wait_until_closed("Server set properties");
    // The engine answers before its next snapshot carries the new settings.
    w.wait_for("the settings in force", |s| {
        s.settings
            .set("files")
            .is_some_and(|set| !ftp_login(&set.polling).verify_certificate)
    });

    w.click("Properties");
    w.click("Polling method");
    assert!(
        !draft_login(&w).verify_certificate,
        "the dialog shows what is saved"
    );
    w.click(VERIFY);
    assert!(draft_login(&w).verify_certificate, "ticked in the draft");
    w.click_in("Server set properties", "OK");
    w.wait_for_file("the ticked box", |s| {
        s.set("files")
            .is_some_and(|set| ftp_login(&set.polling).verify_certificate)
    });
}

#[test]
fn the_options_page_warns_of_an_api_without_password() {
    let mut settings = Settings::default();
    settings.options.http_api.enabled = true;
    let mut w = window(settings);
    w.click("Options");
    w.click("HTTP API");
    w.harness
        .get_by_label(standby::ui::dialogs::options_dialog::API_WITHOUT_PASSWORD);
    w.type_into("Password of admin:", "s3cret");
    assert!(
        w.harness
            .query_by_label(standby::ui::dialogs::options_dialog::API_WITHOUT_PASSWORD)
            .is_none(),
        "no warning once a password is typed"
    );
}

#[test]
fn a_dialog_whose_settings_changed_meanwhile_says_so_and_ok_again_applies_it() {
    let settings = Settings {
        server_sets: vec![tcp_set("alpha", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    w.type_into("Set name:", "renamed");
    // Meanwhile the options change through the API's path (a typed edit of the engine).
    let client = w.app().engine().clone();
    let mut options = w.app().engine().snapshot().settings.options.clone();
    options.logging.memory_lines = 5;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(client.edit_settings(SettingsEdit::Options(Box::new(options)), None))
        .unwrap();
    w.click_in("Server set properties", "OK");
    w.wait_until("the conflict in the dialog", |w| {
        w.shows("The settings were changed elsewhere")
    });
    assert!(w.has_window("Server set properties"), "the draft is kept");
    let snapshot = w.app().engine().snapshot();
    assert!(
        snapshot.settings.set("alpha").is_some(),
        "nothing overwritten"
    );
    // OK again: the dialog's change goes in over the other one, which stays.
    w.click_in("Server set properties", "OK");
    w.wait_for("the rename, beside the API's change", |s| {
        s.settings.set("renamed").is_some() && s.settings.options.logging.memory_lines == 5
    });
    w.wait_until_closed("Server set properties");
}

#[test]
fn weight_zero_is_valid_and_says_it_drains() {
    let mut w = window(Settings::default());
    w.click("New server set");
    w.click("Servers");
    w.click("Add server...");
    w.type_into("Public IP address:", "127.0.0.30");
    assert!(!w.shows("0 drains the server: polled, but published only when no other works"));
    w.type_into("Weight:", "0");
    assert!(w.shows("0 drains the server: polled, but published only when no other works"));
    assert!(w.ok_enabled("Server properties"));
}

#[test]
fn the_cluster_page_saves_this_instances_section() {
    let mut w = window(Settings::default());
    w.click("Options");
    w.click("Cluster");
    assert!(w.shows(standby::ui::dialogs::cluster_page::ALONE));
    w.click("Run as one instance of a cluster (coordinated through etcd)");
    // The instance's name is required: OK waits for it, and says why at the field.
    w.harness.get_by_label("a name is required");
    assert!(!w.ok_enabled("Options"));
    w.type_into("This instance's name:", "berlin");
    w.type_into(
        "etcd endpoints (one per line):",
        "http://127.0.0.58:2379\nftp://x",
    );
    w.harness
        .get_by_label_contains("must start with http:// or https://");
    assert!(!w.ok_enabled("Options"));
    w.type_into(
        "etcd endpoints (one per line):",
        "http://127.0.0.58:2379\nhttp://127.0.0.59:2379\n",
    );
    w.choose("Quorum of instances:", "at least N");
    w.type_into("Instances needed (N):", "0");
    w.harness
        .get_by_label("at least 1 instance must see a change");
    w.type_into("Instances needed (N):", "2");
    w.type_into("Lease (s):", "7");
    assert!(w.ok_enabled("Options"));
    w.click_in("Options", "OK");
    let saved = w.wait_for_file("the cluster section", |s| s.cluster.is_some());
    let cluster = saved.cluster.unwrap();
    assert_eq!(cluster.instance, "berlin");
    assert_eq!(
        cluster.endpoints,
        ["http://127.0.0.58:2379", "http://127.0.0.59:2379"],
        "blank lines dropped"
    );
    assert_eq!(cluster.quorum, standby::model::Quorum::AtLeast(2));
    assert_eq!(cluster.lease_secs, 7);
    w.wait_until_closed("Options");

    // Unticked: the section leaves the file, and nothing else changes.
    w.click("Options");
    w.click("Cluster");
    w.click("Run as one instance of a cluster (coordinated through etcd)");
    w.click_in("Options", "OK");
    let saved = w.wait_for_file("no cluster section", |s| s.cluster.is_none());
    assert_eq!(saved, Settings::default());
}

/// The set dialog's Maintenance page adds a weekly window for one server: days ticked,
/// times and time zone typed; a wrong time keeps OK disabled with its reason; OK saves it.
#[test]
fn a_weekly_maintenance_window_is_added_in_the_set_dialog() {
    use standby::model::{Day, Maintenance};
    let settings = Settings {
        server_sets: vec![tcp_set("web", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    w.click("Maintenance");
    w.click("Add weekly window for 127.0.0.1");
    w.click("Tue");
    w.click("Thu");
    w.type_into("From (HH:MM):", "25:00");
    assert!(w.shows("\"25:00\" is not a time of day like 22:00"));
    assert!(!w.ok_enabled("Server set properties"));
    w.type_into("From (HH:MM):", "22:30");
    w.type_into("To (HH:MM):", "01:00");
    w.type_into("Time zone:", "Europe/Berlin");
    assert!(w.ok_enabled("Server set properties"));
    w.click_in("Server set properties", "OK");
    let saved = w.wait_for_file("the weekly window", |s| {
        s.set("web")
            .is_some_and(|set| !set.servers[0].maintenance.is_empty())
    });
    assert_eq!(
        saved.set("web").unwrap().servers[0].maintenance,
        vec![Maintenance::Weekly {
            days: vec![Day::Tue, Day::Thu],
            start: "22:30".into(),
            end: "01:00".into(),
            time_zone: "Europe/Berlin".into(),
        }]
    );
    assert!(saved.set("web").unwrap().maintenance.is_empty());
}

/// Picks `choice` in the set dialog's combo `label` (the main window may show the same
/// label beside the set).
fn choose_in_set_dialog(w: &mut Window, label: &str, choice: &str) {
    w.click_in("Server set properties", label);
    w.harness
        .get_all_by_label(choice)
        .last()
        .expect("the choice is shown")
        .click();
    w.steps();
}

/// The HTTP check fields of the Polling method page (issue 16): method with a body,
/// headers, bearer token, redirects, the response-time limit; a JSON rule without a value
/// keeps OK disabled until it is removed; OK saves them all.
#[test]
fn http_check_fields_are_edited_in_the_set_dialog() {
    use standby::model::{HttpAuth, HttpPollMethod};
    let settings = Settings {
        server_sets: vec![tcp_set("api", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    w.click("Polling method");
    choose_in_set_dialog(&mut w, "Polling method:", "HTTP/HTTPS");
    // Port 1: nothing listens, the engine's polls fail fast.
    w.type_into("URL:", "http://api.example.test:1/health");
    choose_in_set_dialog(&mut w, "Request:", "POST");
    w.type_into("Body:", r#"{"from":"$SERVERNAME$"}"#);
    w.type_into("Headers (Name: value):", "Content-Type: application/json");
    choose_in_set_dialog(&mut w, "Authentication:", "bearer token");
    w.type_into("Token:", "t0ken-123");
    w.type_into("Follow redirects (at most):", "2");
    w.type_into("Response-time limit:", "500ms");
    w.click("Add JSON rule");
    assert!(
        !w.ok_enabled("Server set properties"),
        "a JSON rule without a value is refused"
    );
    w.click("Remove last JSON rule");
    assert!(w.ok_enabled("Server set properties"));
    w.click_in("Server set properties", "OK");
    let saved = w.wait_for_file("the HTTP checks", |s| {
        s.set("api")
            .is_some_and(|set| matches!(set.polling, PollMethod::Http(_)))
    });
    let PollMethod::Http(h) = &saved.set("api").unwrap().polling else {
        unreachable!()
    };
    assert_eq!(h.method, HttpPollMethod::Post);
    assert_eq!(h.body, r#"{"from":"$SERVERNAME$"}"#);
    assert_eq!(
        h.headers,
        [("Content-Type".to_string(), "application/json".to_string())]
    );
    assert!(matches!(&h.auth, Some(HttpAuth::Bearer { token }) if token.expose() == "t0ken-123"));
    assert_eq!(
        (h.follow_redirects, h.response_time_limit),
        (2, std::time::Duration::from_millis(500))
    );
    assert!(h.redirect_same_host_only);
    assert!(h.json.is_empty());
}

/// The Redis preset with a text to send: a bad escape keeps OK disabled with its reason.
#[test]
fn the_redis_preset_and_its_text_to_send() {
    let settings = Settings {
        server_sets: vec![tcp_set("cache", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    w.click("Polling method");
    choose_in_set_dialog(&mut w, "Polling method:", "Redis");
    w.type_into("Port (blank = 6379):", "1");
    w.type_into(r"Send (blank = PING\r\n):", r"PING\q");
    assert!(w.shows(r"character 5: \q is no escape (use \r, \n, \t, \0, \\ or \xNN)"));
    assert!(!w.ok_enabled("Server set properties"));
    w.type_into(r"Send (blank = PING\r\n):", r"\x2a1\r\n$4\r\nPING\r\n");
    assert!(w.ok_enabled("Server set properties"));
    w.click_in("Server set properties", "OK");
    let saved = w.wait_for_file("the Redis preset", |s| {
        s.set("cache").is_some_and(
            |set| matches!(&set.polling, PollMethod::Tcp(t) if t.service == TcpService::Redis),
        )
    });
    let PollMethod::Tcp(t) = &saved.set("cache").unwrap().polling else {
        unreachable!()
    };
    assert_eq!(t.send.as_deref(), Some(r"\x2a1\r\n$4\r\nPING\r\n"));
    assert_eq!(t.port, Some(1));
}

/// The frequency page takes durations to the millisecond (`250ms`), refuses a text that is
/// none with its reason, and OK saves them in the new form.
#[test]
fn the_frequency_page_takes_millisecond_durations() {
    let settings = Settings {
        server_sets: vec![tcp_set("web", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    w.click("Polling frequency");
    w.type_into("Poll every:", "soon");
    // Beside the field and above the buttons.
    assert!(
        w.harness
            .query_all_by_label_contains("\"soon\" is not a duration like 250ms")
            .next()
            .is_some()
    );
    assert!(!w.ok_enabled("Server set properties"));
    w.type_into("Poll every:", "250ms");
    w.type_into("Retry every:", "100ms");
    w.type_into("Response time-out:", "5ms");
    assert!(w.shows("must be at least 10ms"));
    w.type_into("Response time-out:", "1500ms");
    w.click_in("Server set properties", "OK");
    let ms = std::time::Duration::from_millis;
    w.wait_for_file("the durations", |s| {
        s.set("web").is_some_and(|set| {
            set.frequency.interval == ms(250)
                && set.frequency.retry_interval == ms(100)
                && set.frequency.timeout == ms(1500)
        })
    });
    let text = std::fs::read_to_string(w.settings_path()).unwrap();
    assert!(text.contains(r#"interval: "250ms""#), "{text}");
    assert!(text.contains(r#"timeout: "1500ms""#), "{text}");
}

#[test]
fn the_lower_ttl_is_edited_on_the_dns_data_page() {
    let settings = Settings {
        server_sets: vec![tcp_set("web", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    w.click("Properties");
    w.click("DNS data");
    assert!(
        !w.shows("Lower TTL after a change for:"),
        "its conditions are hidden while it is off"
    );
    w.type_into("Lower TTL (s), 0 = off:", "90");
    assert!(w.shows("must be at most the TTL (60 s)"));
    assert!(!w.ok_enabled("Server set properties"));
    w.type_into("Lower TTL (s), 0 = off:", "10");
    w.type_into("Lower TTL after a change for:", "soon");
    // Beside the field and above the buttons.
    assert!(
        w.harness
            .query_all_by_label_contains("\"soon\" is not a duration like 250ms")
            .next()
            .is_some()
    );
    assert!(!w.ok_enabled("Server set properties"));
    w.type_into("Lower TTL after a change for:", "2m");
    assert!(w.ok_enabled("Server set properties"));
    w.click_in("Server set properties", "OK");
    w.wait_for_file("the lower TTL", |s| {
        s.set("web").is_some_and(|set| {
            let low = &set.dns.low_ttl;
            low.ttl == 10 && low.while_failed && low.after_change.as_secs() == 120
        })
    });
    let text = std::fs::read_to_string(w.settings_path()).unwrap();
    assert!(text.contains(r#"after_change: "2m""#), "{text}");
}

/// Opens the set dialog's Notification page and a new method's dialog, as a chat or
/// paging service.
fn new_service_method(w: &mut Window) {
    w.click("Properties");
    w.click("Notification");
    w.click("Add notification method...");
    assert!(w.has_window("Notification properties"));
    w.choose("Method:", "Chat or paging service");
}

/// Picks a service in the pop-up, scrolled to it first: the last ones lie below the
/// pop-up's visible part.
fn choose_service(w: &mut Window, service: &str) {
    w.click("Service:");
    w.harness
        .get_all_by_label(service)
        .last()
        .expect("the service is offered")
        .scroll_to_me();
    w.steps();
    w.harness.get_all_by_label(service).last().unwrap().click();
    w.steps();
}

/// The ntfy preset page: its server URL (the public one by default), a required topic
/// (OK stays disabled without it), its own priorities, and the reminder field; OK saves
/// them all.
#[test]
fn the_ntfy_preset_page_and_the_reminder_are_saved() {
    use standby::model::NotificationKind;
    use standby::model::services::Service;
    let settings = Settings {
        server_sets: vec![tcp_set("web", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    new_service_method(&mut w);
    w.choose("Service:", "ntfy");
    assert!(w.shows("Topic:") && w.shows("Priority:"));
    assert!(
        !w.ok_enabled("Notification properties"),
        "a topic is required"
    );
    w.type_into("Server URL:", "http://127.0.0.1:1");
    w.type_into("Topic:", "standby-alerts");
    w.choose("Priority:", "4");
    w.type_into(
        "Remind every N minutes while a problem lasts (0 = never):",
        "many",
    );
    assert!(!w.ok_enabled("Notification properties"), "not a number");
    w.type_into(
        "Remind every N minutes while a problem lasts (0 = never):",
        "15",
    );
    assert!(w.ok_enabled("Notification properties"));
    w.click_in("Notification properties", "OK");
    w.wait_until_closed("Notification properties");
    w.click_in("Server set properties", "OK");
    let saved = w.wait_for_file("the ntfy method", |s| {
        s.set("web")
            .is_some_and(|set| !set.notification.methods.is_empty())
    });
    let method = &saved.set("web").unwrap().notification.methods[0];
    assert_eq!(method.remind_every_mins, 15);
    let NotificationKind::Service(s) = &method.kind else {
        panic!("{method:?}")
    };
    assert_eq!(s.service, Service::Ntfy);
    assert_eq!(
        (s.url.as_str(), s.target.as_str(), s.priority),
        ("http://127.0.0.1:1", "standby-alerts", Some(4))
    );
}

/// Each preset shows its own fields: a web hook (Slack) has no server URL and a secret
/// web-hook URL that must be one; Opsgenie its P1-P5 priorities; PagerDuty none, and the
/// note that a recovery resolves the alert. The message is kept across a change of service.
#[test]
fn each_preset_page_shows_its_own_fields() {
    use standby::model::NotificationKind;
    use standby::model::services::Service;
    let settings = Settings {
        server_sets: vec![tcp_set("web", "127.0.0.1")],
        ..Default::default()
    };
    let mut w = window(settings);
    new_service_method(&mut w);
    choose_service(&mut w, "Slack");
    assert!(!w.shows("Server URL:") && !w.shows("Priority:"));
    assert!(w.shows("Channel (optional):"));
    w.type_into("Web hook URL:", "hooks.slack.test/T000");
    assert!(w.shows("must start with http:// or https://"));
    assert!(!w.ok_enabled("Notification properties"));
    choose_service(&mut w, "Opsgenie");
    assert!(w.shows("API integration key:") && w.shows("Server URL:"));
    w.click("Priority:");
    assert!(w.shows("P5"));
    w.harness.get_all_by_label("P2").last().unwrap().click();
    w.steps();
    w.type_into("Title:", "Standby says \"$EVENT$\"");
    choose_service(&mut w, "PagerDuty (Events API v2)");
    assert!(!w.shows("Priority:"));
    assert!(w.shows("A failure opens an alert keyed by $PROBLEMID$; its recovery resolves it."));
    w.type_into("Integration (routing) key:", "R0UT1NGKEY");
    assert!(w.ok_enabled("Notification properties"));
    w.click_in("Notification properties", "OK");
    w.wait_until_closed("Notification properties");
    w.click_in("Server set properties", "OK");
    let saved = w.wait_for_file("the PagerDuty method", |s| {
        s.set("web")
            .is_some_and(|set| !set.notification.methods.is_empty())
    });
    let method = &saved.set("web").unwrap().notification.methods[0];
    let NotificationKind::Service(s) = &method.kind else {
        panic!("{method:?}")
    };
    assert_eq!(s.service, Service::PagerDuty);
    assert_eq!(s.secret.expose(), "R0UT1NGKEY");
    assert_eq!(s.title, "Standby says \"$EVENT$\"", "the message is kept");
    assert_eq!(
        s.priority, None,
        "a new service starts from its own defaults"
    );
    assert_eq!(method.remind_every_mins, 0);
}

/// The connectivity guard's Options page: its fields, their errors beside them (a bad
/// reference, a threshold above the count, a bad duration, the method's own URL), and OK
/// saving the guard.
#[test]
fn the_connectivity_guard_page_saves_references_method_and_threshold() {
    let mut w = window(Settings::default());
    w.click("Options");
    w.click("Connectivity guard");
    assert!(w.shows("No reference targets: the guard is off."));
    w.type_into(
        "Reference targets (one IP per line):",
        "127.0.0.1\nnot an address",
    );
    assert!(w.shows("line 2: \"not an address\" is not an IP address"));
    assert!(!w.ok_enabled("Options"));
    w.type_into(
        "Reference targets (one IP per line):",
        "127.0.0.1\n127.0.0.2",
    );
    assert!(!w.shows("the guard is off"));
    w.type_into("Cut off when failing (0 = more than half):", "3");
    assert!(w.shows("must be at most the number of reference targets (2)"));
    assert!(!w.ok_enabled("Options"));
    w.type_into("Cut off when failing (0 = more than half):", "2");
    w.type_into("Poll each every:", "5ms");
    assert!(w.shows("must be at least 10ms"));
    w.type_into("Poll each every:", "250ms");
    // The method's own fields and errors, at the guard's paths.
    w.choose("Polling method:", "HTTP/HTTPS");
    w.type_into("URL:", "not a url");
    assert!(!w.ok_enabled("Options"));
    assert!(w.shows("\"not a url\" is not a valid URL"));
    // Beside its field: not in the list of errors no field showed (which names the path).
    assert!(
        !w.shows("options.connectivity_guard.method"),
        "the method's error is not shown at its field"
    );
    w.type_into("URL:", "http://127.0.0.1:1/health");
    assert!(w.ok_enabled("Options"));
    w.click_in("Options", "OK");
    let saved = w.wait_for_file("the guard", |s| {
        s.options.connectivity_guard.references.len() == 2
    });
    let g = &saved.options.connectivity_guard;
    assert_eq!(g.references, ["127.0.0.1", "127.0.0.2"]);
    assert_eq!(g.failed_at_least, 2);
    assert_eq!(g.interval, std::time::Duration::from_millis(250));
    assert!(
        matches!(&g.method, PollMethod::Http(h) if h.url == "http://127.0.0.1:1/health"),
        "{:?}",
        g.method
    );
    w.wait_until_closed("Options");
}

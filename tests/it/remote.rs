//! Remote windows (issue 12): the real program runs headless with its API on HTTPS (a
//! self-signed certificate), and a window attaches to it with `--connect`'s link — the
//! session streamed as server-sent events, its frames POSTed back. Trust on first use:
//! the first accepted connection pins the fingerprint `standby api fingerprint` prints;
//! another certificate is refused. A wrong password is a clear error; no secret crosses;
//! a dialog's change lands in the engine's file with the secrets it did not see kept.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use standby::attach::known_hosts::KnownHosts;
use standby::attach::remote::Remote;
use standby::attach::{AttachError, Link, LinkStatus};
use standby::engine::{Call, CallError, EditError, Inbound, SettingsEdit};
use standby::model::options::ApiTls;
use standby::model::{Secret, Settings, file};

use crate::support::poll_until;
use crate::support::ports::free_addr;
use crate::support::process::Standby;
use crate::support::ui::Window;
use eframe::egui::accesskit::Role;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT as _, Queryable as _};
use standby::attach::login::Login;
use standby::ui::login::RemoteWindow;

const BIN: &str = env!("CARGO_BIN_EXE_standby");
const PASSWORD: &str = "remote-admin-pw";
const TOKEN: &str = "remote-read-token";

fn link(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    password: &str,
    known: &Path,
) -> Result<Link, AttachError> {
    let remote = Remote::new(url, Some(Secret::new(password)), KnownHosts::at(known))?;
    runtime.block_on(Link::open(Arc::new(remote), Arc::new(|| {})))
}

fn api_up(engine: &Standby) -> bool {
    poll_until(Duration::from_secs(30), || {
        engine.log().contains("HTTP API listening on https://")
    })
}

#[test]
fn a_remote_window_pins_the_certificate_streams_without_secrets_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let api = free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut settings = Settings::from_ron(
        r#"(server_sets: [(
            name: "web",
            servers: [(public_ip: "127.0.0.1")],
            polling: Tcp(port: 9),
            frequency: (retries: 0, interval_secs: 1, failed_interval_secs: 1),
        )])"#,
    )
    .unwrap();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = api.to_string();
    settings.options.http_api.password = Secret::new(PASSWORD);
    settings.options.http_api.read_tokens = vec![Secret::new(TOKEN)];
    settings.options.http_api.tls = ApiTls::SelfSigned;
    file::save(&path, &settings).unwrap();
    let engine = Standby::start(&path, 1);
    assert!(api_up(&engine), "the API never listened: {}", engine.log());
    let printed = std::process::Command::new(BIN)
        .args(["api", "fingerprint", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let fingerprint = String::from_utf8(printed.stdout)
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint:?}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("https://{api}");
    let known = dir.path().join("config/known_hosts");

    // A wrong password: a clear error, and nothing pinned.
    let refused = link(&runtime, &url, "not-the-password", &known)
        .err()
        .unwrap()
        .to_string();
    assert!(refused.contains("refused the password"), "{refused}");
    assert!(!known.exists(), "pinned although refused");

    // The first accepted connection pins the certificate it showed.
    let remote = link(&runtime, &url, PASSWORD, &known).unwrap();
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        format!("{api} {fingerprint}\n")
    );
    let client = remote.client.clone();
    assert!(poll_until(Duration::from_secs(20), || client
        .snapshot()
        .set("web")
        .is_some()));
    // Streamed, not polled: the engine's polls show up as deltas.
    let polls = client.snapshot().stats.polls_completed;
    assert!(
        poll_until(Duration::from_secs(20), || client
            .snapshot()
            .stats
            .polls_completed
            >= polls + 2),
        "no new polls streamed"
    );
    // No secret crosses: the settings carry placeholders.
    let shown = serde_json::to_string(&*client.snapshot()).unwrap();
    for secret in [PASSWORD, TOKEN] {
        assert!(!shown.contains(secret), "the stream gives away {secret:?}");
    }
    assert!(
        client
            .snapshot()
            .settings
            .options
            .http_api
            .password
            .expose()
            .starts_with("(secret ")
    );

    // A change made from an older revision is reported, not applied.
    let stale = client.snapshot().settings_revision;
    runtime
        .block_on(client.edit_settings(SettingsEdit::DeleteSet("nothing".into()), None))
        .unwrap_err();
    let refused = runtime.block_on(client.edit_settings(
        SettingsEdit::DeleteSet("web".into()),
        Some(stale.wrapping_sub(1)),
    ));
    assert!(
        matches!(refused, Err(EditError::Conflict { .. })),
        "{refused:?}"
    );

    // Test... runs on the engine's dispatcher and its outcome comes back (a method without
    // a receiver fails there with its 3xx code: the engine's answer, not the link's).
    let tested =
        runtime.block_on(client.test_notification(standby::model::NotificationMethod::default()));
    assert!(
        matches!(tested, Ok(_) | Err(CallError::Notification { .. })),
        "{tested:?}"
    );

    // Ping goes from the engine's host; the replies come back over the stream.
    let (replies, mut received) = tokio::sync::mpsc::channel(4);
    runtime
        .block_on(client.send(Inbound::Ping {
            address: IpAddr::V4(Ipv4Addr::LOCALHOST),
            replies,
        }))
        .unwrap();
    let reply = runtime
        .block_on(async { tokio::time::timeout(Duration::from_secs(20), received.recv()).await });
    assert!(matches!(reply, Ok(Some(_))), "no ping reply: {reply:?}");
    drop(received);

    // Save CSV and the support file are written here, not on the engine's host.
    let local = tempfile::tempdir().unwrap();
    let csv = local.path().join("history.csv");
    let (call, pending) = Call::save_history_csv(Default::default(), csv.clone());
    runtime.block_on(client.send(call)).unwrap();
    let saved = runtime.block_on(pending.wait());
    assert!(saved.is_ok(), "{saved:?}");
    assert!(
        std::fs::read_to_string(&csv).unwrap().starts_with("time"),
        "a CSV with its header"
    );
    let (call, pending) =
        Call::write_support_file("/on/the/engine/host/standby-support-7.txt".into());
    runtime.block_on(client.send(call)).unwrap();
    let support = runtime.block_on(pending.wait()).unwrap();
    assert_eq!(support.file_name().unwrap(), "standby-support-7.txt");
    let text = std::fs::read_to_string(&support).unwrap();
    let _ = std::fs::remove_file(&support);
    assert!(text.contains("web") && !text.contains(PASSWORD), "{text}");
    // The engine's own file, downloaded: its log lines, none of its secrets.
    assert!(text.contains("HTTP API listening on https://"), "{text}");
    assert!(!text.contains(TOKEN), "{text}");

    // The window: a dialog's change lands in the engine's file, the secrets it only saw
    // as placeholders kept.
    let mut w = Window::attached(standby::ui::EngineLink::Attached {
        link: remote,
        runtime: Some(runtime),
    });
    w.steps();
    assert!(w.shows(&format!("engine at {api}")));
    w.click("Options");
    w.click("Server polling");
    w.type_into("Max concurrent polls:", "7");
    w.click_in("Options", "OK");
    w.wait_until_closed("Options");
    assert!(
        poll_until(Duration::from_secs(20), || file::load(&path)
            .is_ok_and(|s| s.options.polling.max_concurrent_polls == 7)),
        "the change did not land in the engine's file"
    );
    let on_disk = file::load(&path).unwrap();
    assert_eq!(on_disk.options.http_api.password.expose(), PASSWORD);
    assert_eq!(on_disk.options.http_api.read_tokens[0].expose(), TOKEN);

    // The engine goes while a dialog is open: the window says so at once, the dialog keeps
    // what was typed, the window reconnects when the engine is back, and OK applies it.
    w.click("Options");
    w.click("Server polling");
    w.type_into("Max concurrent polls:", "9");
    engine.kill_9();
    w.wait_until("the banner", |w| {
        w.shows(&format!("Lost the engine at {api}"))
    });
    assert!(w.has_window("Options"));
    let typed = |w: &Window| w.harness.get_by_label("Max concurrent polls:").value();
    assert_eq!(typed(&w).as_deref(), Some("9"));
    let engine = Standby::start(&path, 2);
    w.wait_until("reattached", |w| {
        matches!(w.app().engine_status(), Some(LinkStatus::Attached { .. }))
    });
    assert!(!w.shows("Lost the engine"));
    assert_eq!(typed(&w).as_deref(), Some("9"), "the draft survived");
    w.click_in("Options", "OK");
    // A new engine may count revisions anew: then OK says the settings changed meanwhile,
    // and OK again applies the draft.
    let applied = poll_until(Duration::from_secs(20), || {
        w.harness.step();
        if w.has_window("Options") && w.shows("changed elsewhere") {
            w.click_in("Options", "OK");
        }
        file::load(&path).is_ok_and(|s| s.options.polling.max_concurrent_polls == 9)
    });
    let said = w
        .app()
        .view()
        .dialogs
        .options
        .as_ref()
        .map(|d| (d.apply_error.clone(), d.saving));
    assert!(
        applied,
        "the kept draft did not land in the engine's file: {said:?}"
    );
    assert_eq!(
        file::load(&path)
            .unwrap()
            .options
            .http_api
            .password
            .expose(),
        PASSWORD
    );
    drop(w);

    // Another certificate under the same address is refused, with both fingerprints.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let other = dir.path().join("other_known_hosts");
    let wrong = vec!["AB"; 32].join(":");
    std::fs::write(&other, format!("{api} {wrong}\n")).unwrap();
    match link(&runtime, &url, PASSWORD, &other) {
        Err(e @ AttachError::FingerprintChanged { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains(&wrong) && text.contains(&fingerprint),
                "{text}"
            );
        }
        Err(e) => panic!("refused, but not for the certificate: {e}"),
        Ok(_) => panic!("a changed certificate was accepted"),
    }
    drop(engine);
}

/// A remote window on its login screen, driven like the main window's tests.
fn login_window(login: standby::attach::login::Login) -> Harness<'static, RemoteWindow> {
    Harness::builder()
        .with_size(crate::support::ui::LARGE)
        .with_max_steps(50)
        .build_ui_state(
            |ui, window: &mut RemoteWindow| {
                window.refresh(ui.ctx());
                window.show(ui);
            },
            RemoteWindow::new(login),
        )
}

fn steps_until(
    harness: &mut Harness<'static, RemoteWindow>,
    done: impl Fn(&Harness<'static, RemoteWindow>) -> bool,
) -> bool {
    poll_until(Duration::from_secs(20), || {
        harness.step();
        done(harness)
    })
}

#[test]
fn a_remote_window_asks_for_a_refused_password_and_attaches_with_the_right_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let api = free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut settings = Settings::from_ron(
        r#"(server_sets: [(
            name: "login-web",
            servers: [(public_ip: "127.0.0.1")],
            polling: Tcp(port: 9),
            frequency: (retries: 0, interval_secs: 1, failed_interval_secs: 1),
        )])"#,
    )
    .unwrap();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = api.to_string();
    settings.options.http_api.password = Secret::new(PASSWORD);
    settings.options.http_api.tls = ApiTls::SelfSigned;
    file::save(&path, &settings).unwrap();
    let engine = Standby::start(&path, 1);
    assert!(api_up(&engine), "the API never listened: {}", engine.log());

    // As `--connect` with a wrong password file: the engine says no, the login screen
    // shows why.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let known = dir.path().join("known_hosts");
    let remote = Arc::new(
        Remote::new(
            &format!("https://{api}"),
            Some(Secret::new("wrong-1")),
            KnownHosts::at(&known),
        )
        .unwrap(),
    );
    let refused = runtime
        .block_on(Link::open(remote.clone(), Arc::new(|| {})))
        .err()
        .unwrap();
    assert!(refused.wants_password(), "{refused:?}");
    let mut w = login_window(Login::new(remote, runtime, Some(refused)));
    w.run_steps(3);
    assert!(
        w.query_by_label_contains(&format!("Engine: {api}"))
            .is_some()
    );
    assert!(w.query_by_label_contains("User: admin").is_some());
    assert!(
        w.query_by_label_contains("refused the password of admin")
            .is_some()
    );
    // The field is a password field: masked.
    let field = w.get_by_role_and_label(Role::PasswordInput, "API password of admin:");
    field.set_text_value_accesskit("wrong-2");
    w.run_steps(3);

    // A wrong password typed: refused again, said so, nothing attached or pinned. The
    // third failure in a row closes the address out: the throttle's wait is shown and
    // Connect waits for it.
    let attempt = |w: &mut Harness<'static, RemoteWindow>| {
        w.get_by_label("Connect").click();
        assert!(steps_until(w, |w| w
            .state()
            .login()
            .is_some_and(|l| l.error.is_some() && !l.connecting())));
    };
    attempt(&mut w);
    assert!(w.state().app().is_none(), "attached with a wrong password");
    assert!(
        w.query_by_label_contains("refused the password of admin")
            .is_some()
    );
    // Each failure from the third on closes the address out for longer (1 s, 2 s...): a
    // few tries meet the wait (429, Retry-After), whatever this machine's speed.
    let mut tries = 0;
    while w.state().login().is_some_and(|l| l.wait_left() == 0) {
        tries += 1;
        assert!(tries <= 6, "the login throttle never answered");
        attempt(&mut w);
    }
    assert!(w.state().app().is_none());
    let said = w.state().login().and_then(|l| l.error.clone()).unwrap();
    assert!(said.contains("too many wrong passwords"), "{said}");
    w.run_steps(2);
    assert!(
        w.query_by_label_contains("accepts a login again in")
            .is_some()
    );
    assert!(
        w.get_by_label("Connect").accesskit_node().is_disabled(),
        "Connect while closed out"
    );
    assert!(!known.exists(), "pinned although refused");

    // The right password, once the wait is over: the main window, live.
    w.get_by_role_and_label(Role::PasswordInput, "API password of admin:")
        .set_text_value_accesskit(PASSWORD);
    assert!(steps_until(&mut w, |w| w
        .state()
        .login()
        .is_some_and(|l| l.wait_left() == 0)));
    w.run_steps(2);
    w.get_by_label("Connect").click();
    assert!(
        steps_until(&mut w, |w| w.state().app().is_some()),
        "not attached: {:?}",
        w.state().login().and_then(|l| l.error.clone())
    );
    assert!(steps_until(&mut w, |w| w
        .state()
        .app()
        .is_some_and(|a| a.snapshot().set("login-web").is_some())));
    let polls = w.state().app().unwrap().snapshot().stats.polls_completed;
    assert!(
        steps_until(&mut w, |w| w.state().app().is_some_and(|a| a
            .snapshot()
            .stats
            .polls_completed
            >= polls + 2)),
        "no live state"
    );
    w.run_steps(3);
    assert!(
        w.query_by_label_contains(&format!("engine at {api}"))
            .is_some()
    );
    assert!(w.query_all_by_label_contains("login-web").next().is_some());
    assert!(
        known.exists(),
        "the certificate was not pinned after the login"
    );
    // The support file is downloaded from the engine (`GET /support`), over the pinned
    // certificate only: with the pin gone, it is refused rather than fetched from whoever
    // answers (a file made from the streamed state would not need the engine at all).
    let client = w.state().app().unwrap().engine().clone();
    let support = |client: &standby::engine::EngineClient| {
        let (call, mut pending) = Call::write_support_file("standby-support-login.txt".into());
        client.try_send(call).unwrap();
        let mut answer = None;
        poll_until(Duration::from_secs(20), || {
            answer = pending.try_take();
            answer.is_some()
        });
        answer.expect("no answer to the support file")
    };
    let saved = support(&client).unwrap();
    let text = std::fs::read_to_string(&saved).unwrap();
    let _ = std::fs::remove_file(&saved);
    assert!(text.contains("HTTP API listening on https://"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    std::fs::remove_file(&known).unwrap();
    let refused = support(&client).unwrap_err().to_string();
    assert!(refused.contains("no certificate pinned"), "{refused}");
    drop(w);
    drop(engine);
}

/// What if... and the polling history of a remote window: the same answers as the
/// engine's own window (What if from the streamed snapshot with the engine's own
/// decision; the history rows queried from the engine's database over the session).
#[test]
fn a_remote_windows_what_if_and_history_give_the_engines_answers() {
    use standby::model::{
        AddressSelection, DnsData, DnsServer, PollFrequency, PollMethod, Server, ServerSet,
        TcpPoll, UpdateDns,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let api = free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    // Never answers: What if only names it.
    let silent_dns = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dns_port = silent_dns.local_addr().unwrap().port();
    let server = |ip: &str, name: &str| Server {
        public_ip: ip.into(),
        poll_ip: Some("127.0.0.1".into()),
        name: name.into(),
        ..Server::default()
    };
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: vec![server("192.0.2.10", "web-a"), server("192.0.2.20", "web-b")],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(crate::support::ui::tcp_peer()),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: Duration::from_secs(1),
            ..PollFrequency::default()
        },
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ttl: 300,
            addresses_of: AddressSelection::FirstFunctional,
            ..DnsData::default()
        },
        update_dns: UpdateDns {
            enabled: true,
            use_default_servers: false,
            dns_servers: vec![DnsServer {
                address: "127.0.0.1".into(),
                port: dns_port,
                ..DnsServer::default()
            }],
        },
        ..ServerSet::default()
    });
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = api.to_string();
    settings.options.http_api.password = Secret::new(PASSWORD);
    settings.options.http_api.tls = ApiTls::SelfSigned;
    file::save(&path, &settings).unwrap();
    let engine = Standby::start(&path, 1);
    assert!(api_up(&engine), "the API never listened: {}", engine.log());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let known = dir.path().join("known_hosts");
    let remote = link(&runtime, &format!("https://{api}"), PASSWORD, &known).unwrap();
    let mut w = Window::attached(standby::ui::EngineLink::Attached {
        link: remote,
        runtime: Some(runtime),
    });
    w.wait_for("both servers polled twice", |s| {
        s.set("web")
            .is_some_and(|web| web.servers.iter().all(|v| v.successes >= 2))
    });

    w.click("web");
    w.click("What if...");
    assert!(w.has_window("What if: web"));
    w.click("web-a (192.0.2.10) — OK now");
    assert!(w.shows("DNS gives now: 192.0.2.10"));
    assert!(w.shows("It would give: 192.0.2.20"));
    assert!(w.shows(&format!(
        "Updated on 127.0.0.1:{dns_port} for www.example.test."
    )));
    w.click("Close");
    assert!(!w.has_window("What if: web"));

    // The first server's history, from the engine's database.
    w.harness.get_all_by_label("+").next().unwrap().click();
    w.steps();
    w.click("Polling history...");
    assert!(w.has_window("Polling history"));
    w.wait_until("the engine's rows", |w| {
        w.app()
            .view()
            .dialogs
            .history
            .as_ref()
            .is_some_and(|h| h.rows.len() >= 2)
    });
    assert!(w.shows("row(s)"));
    let rows = w
        .harness
        .get_by_role_and_label(Role::Window, "Polling history")
        .query_all_by_label("192.0.2.10")
        .count();
    assert!(rows >= 2, "{rows} row(s) on screen");
    w.click("Close");

    // Ping... pings from the engine's host, and says so; the replies come over the stream.
    w.click("Ping...");
    w.wait_until("an echo reply from the engine", |w| {
        w.harness.query_all_by_label_contains("echo reply").count() >= 1
    });
    assert!(
        w.shows(&format!("Pinging from the engine's host, {}", api.ip())),
        "the Ping window does not say where it pings from"
    );
    w.click("Close");
    drop(w);
    drop(silent_dns);
    drop(engine);
}

/// The password changes on the engine while a remote window is attached (here from that
/// window itself, as the Options dialog would): the live link's next connection is
/// refused, and the login screen comes back over the last state instead of a banner that
/// retries the old password for ever. A wrong password there is refused again; the new
/// one attaches the same window again, live, on the certificate pinned at the start.
#[test]
fn a_password_changed_on_the_engine_brings_the_login_screen_back() {
    const NEW: &str = "changed-admin-pw";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let api = free_addr(IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut settings = Settings::from_ron(
        r#"(server_sets: [(
            name: "relogin-web",
            servers: [(public_ip: "127.0.0.1")],
            polling: Tcp(port: 9),
            frequency: (retries: 0, interval_secs: 1, failed_interval_secs: 1),
        )])"#,
    )
    .unwrap();
    settings.options.http_api.enabled = true;
    settings.options.http_api.listen = api.to_string();
    settings.options.http_api.password = Secret::new(PASSWORD);
    settings.options.http_api.tls = ApiTls::SelfSigned;
    file::save(&path, &settings).unwrap();
    let engine = Standby::start(&path, 1);
    assert!(api_up(&engine), "the API never listened: {}", engine.log());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let known = dir.path().join("known_hosts");
    let remote = Arc::new(
        Remote::new(
            &format!("https://{api}"),
            Some(Secret::new(PASSWORD)),
            KnownHosts::at(&known),
        )
        .unwrap(),
    );
    let mut w = login_window(Login::new(remote, runtime, None));
    w.run_steps(2);
    let field = "API password of admin:";
    w.get_by_role_and_label(Role::PasswordInput, field)
        .set_text_value_accesskit(PASSWORD);
    w.run_steps(2);
    w.get_by_label("Connect").click();
    assert!(steps_until(&mut w, |w| w.state().app().is_some()
        && w.state().login().is_none()));
    assert!(steps_until(&mut w, |w| w
        .state()
        .app()
        .is_some_and(|a| a.snapshot().set("relogin-web").is_some())));
    let pinned = std::fs::read_to_string(&known).unwrap();
    assert!(pinned.starts_with(&format!("{api} ")), "{pinned}");

    // The password changes on the engine (its placeholders keep the other secrets).
    let client = w.state().app().unwrap().engine().clone();
    let mut options = client.snapshot().settings.options.clone();
    options.http_api.password = Secret::new(NEW);
    let (call, _answer) = Call::edit_settings(SettingsEdit::Options(Box::new(options)), None);
    client.try_send(call).unwrap();
    assert!(
        poll_until(Duration::from_secs(20), || file::load(&path)
            .is_ok_and(|s| s.options.http_api.password.expose() == NEW)),
        "the new password did not land in the engine's file"
    );

    // The login screen comes back over the main window, saying why; the state stays.
    assert!(
        steps_until(&mut w, |w| w.state().login().is_some()),
        "no login screen after the password changed: {:?}",
        w.state().app().unwrap().engine_status()
    );
    assert!(w.state().app().is_some(), "the main window went");
    let said = w.state().login().and_then(|l| l.error.clone()).unwrap();
    assert!(said.contains("refused the password of admin"), "{said}");
    w.run_steps(3);
    assert!(w.query_by_label_contains("log in again").is_some());
    assert!(
        w.query_all_by_label_contains("relogin-web")
            .next()
            .is_some()
    );
    let status = w.state().app().unwrap().engine_status();
    assert!(
        matches!(status, Some(LinkStatus::Lost { login: Some(ref l), .. }) if l.refusals == 1),
        "{status:?}"
    );

    // A wrong password: refused again, the screen stays.
    w.get_by_role_and_label(Role::PasswordInput, field)
        .set_text_value_accesskit("still-wrong");
    w.run_steps(2);
    w.get_by_label("Connect").click();
    let refused_twice = |w: &Harness<'static, RemoteWindow>| {
        matches!(
            w.state().app().unwrap().engine_status(),
            Some(LinkStatus::Lost { login: Some(l), .. }) if l.refusals == 2
        ) && w.state().login().is_some_and(|l| !l.connecting())
    };
    assert!(
        steps_until(&mut w, refused_twice),
        "{:?}",
        w.state().app().unwrap().engine_status()
    );
    assert!(
        w.state()
            .login()
            .and_then(|l| l.error.clone())
            .is_some_and(|e| e.contains("refused the password of admin"))
    );

    // The new password: attached again, live, on the same pinned certificate.
    w.get_by_role_and_label(Role::PasswordInput, field)
        .set_text_value_accesskit(NEW);
    w.run_steps(2);
    assert!(steps_until(&mut w, |w| w
        .state()
        .login()
        .is_some_and(|l| l.wait_left() == 0)));
    w.get_by_label("Connect").click();
    assert!(
        steps_until(&mut w, |w| w.state().login().is_none()),
        "not attached again: {:?}",
        w.state().login().and_then(|l| l.error.clone())
    );
    assert!(matches!(
        w.state().app().unwrap().engine_status(),
        Some(LinkStatus::Attached { .. })
    ));
    let polls = w.state().app().unwrap().snapshot().stats.polls_completed;
    assert!(
        steps_until(&mut w, |w| w.state().app().is_some_and(|a| a
            .snapshot()
            .stats
            .polls_completed
            >= polls + 2)),
        "no live state after the login"
    );
    assert_eq!(std::fs::read_to_string(&known).unwrap(), pinned);
    w.run_steps(2);
    assert!(w.query_by_label_contains("Lost the engine").is_none());
    drop(w);
    drop(engine);
}

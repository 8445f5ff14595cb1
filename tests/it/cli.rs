//! The command line as an operator uses it: check-config, headless mode, bad input.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_standby");

/// `standby check-config FILE`, run to its end.
fn check_config(file: impl AsRef<std::ffi::OsStr>) -> std::process::Output {
    Command::new(BIN)
        .arg("check-config")
        .arg(file)
        .output()
        .unwrap()
}

fn settings_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("settings")
}

#[test]
fn check_config_accepts_the_shipped_files() {
    for name in ["default.ron", "example.ron"] {
        let out = check_config(settings_dir().join(name));
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    }
}

#[test]
fn check_config_prints_every_error_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(
        &path,
        r#"(server_sets: [
            (name: "a", servers: [(public_ip: "10.0.0.300")]),
            (name: "a", servers: [(public_ip: "192.0.2.1", poll_ip: Some("x"))]),
        ])"#,
    )
    .unwrap();
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server_sets[0].servers[0].public_ip: \"10.0.0.300\" is not an IP address"),
        "{err}"
    );
    assert!(
        err.contains("server_sets[1].name: duplicate set name \"a\""),
        "{err}"
    );
    assert!(
        err.contains("server_sets[1].servers[0].poll_ip: \"x\" is not an IP address"),
        "{err}"
    );
}

#[test]
fn check_config_names_line_and_column_of_a_syntax_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.ron");
    std::fs::write(
        &path,
        "(\n  server_sets: [\n    (name: \"a\" servers: []),\n  ],\n)",
    )
    .unwrap();
    let out = check_config(&path);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken.ron:3:"), "{err}");
}

#[test]
fn missing_file_and_wrong_arguments_are_clear() {
    let out = Command::new(BIN)
        .args(["check-config", "/nonexistent/standby.ron"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/standby.ron"));
    let out = Command::new(BIN).arg("--frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--frobnicate") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn headless_refuses_a_broken_file_without_touching_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    std::fs::write(&path, "(options: (polling: (max_concurrent_polls: -1)))").unwrap();
    let out = Command::new(BIN)
        .arg("--headless")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("standby.ron:1:"));
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "(options: (polling: (max_concurrent_polls: -1)))"
    );
}

#[cfg(unix)]
#[test]
fn headless_logs_changes_of_state_refuses_a_second_instance_and_stops_on_sigterm() {
    // A server on a port where nothing listens: it fails at once (no retries).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    std::fs::write(
        &path,
        r#"(server_sets: [(
            name: "web",
            servers: [(public_ip: "127.0.0.1")],
            polling: Tcp(port: 9),
            frequency: (retries: 0, interval_secs: 1),
        )])"#,
    )
    .unwrap();
    let mut child = Command::new(BIN)
        .arg("--headless")
        .arg("--config")
        .arg(&path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut lines = Vec::new();
    while !lines
        .iter()
        .any(|l: &String| l.contains("127.0.0.1 of \"web\" failed"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(_) => panic!("no failure logged: {lines:#?}"),
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("engine started with 1 server set")),
        "{lines:#?}"
    );
    // A second Standby on the same settings is refused: it would poll and update twice.
    let second = Command::new(BIN)
        .arg("--headless")
        .arg("--config")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains(&format!("already running on {}", path.display())),
        "{said}"
    );
    assert!(said.contains(&format!("process {}", child.id())), "{said}");
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "headless did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn import_v1_converts_and_the_result_checks() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("v1.xml");
    std::fs::write(
        &xml,
        r#"<SimpleFailover><ServerSet Domain="www.example.com" ServerType="HTTPS" PollingIV="30">
             <Server IP="192.0.2.1"/><Server IP="192.0.2.2"/></ServerSet></SimpleFailover>"#,
    )
    .unwrap();
    let out = dir.path().join("standby.ron");
    let run = Command::new(BIN)
        .arg("import-v1")
        .arg(&xml)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let check = check_config(&out);
    assert!(check.status.success());
    let settings = standby::model::file::load(&out).unwrap();
    assert_eq!(settings.server_sets[0].servers.len(), 2);
    assert_eq!(settings.server_sets[0].frequency.interval.as_secs(), 30);
    // Never overwrites.
    let again = Command::new(BIN)
        .arg("import-v1")
        .arg(&xml)
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    // A broken file names the line.
    std::fs::write(&xml, "<SimpleFailover>\n<ServerSet/>").unwrap();
    let bad = Command::new(BIN)
        .arg("import-v1")
        .arg(&xml)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr)
            .contains("line 2: <ServerSet> needs the attribute Domain")
    );
}

#[test]
fn import_v1_of_the_complete_sample_saves_a_file_that_checks_and_warns_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("standby.ron");
    let run = Command::new(BIN)
        .arg("import-v1")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/v1-complete.xml"
        ))
        .arg("--output")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(stderr.contains("standby service install"), "{stderr}");
    assert!(check_config(&out).status.success());
    let settings = standby::model::file::load(&out).unwrap();
    assert_eq!(settings.server_sets.len(), 6);
    assert_eq!(settings.server_sets[0].update_dns.dns_servers.len(), 3);
}

#[test]
fn import_v1_of_bad_input_exits_1_and_names_where() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("v1.xml");
    std::fs::write(
        &xml,
        b"<SimpleFailover>\n<ServerSet Domain=\"caf\xe9.example.test\"/>",
    )
    .unwrap();
    let run = Command::new(BIN)
        .arg("import-v1")
        .arg(&xml)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("v1.xml: line 2, column 23: invalid UTF-8 (byte 0xe9)"),
        "{err}"
    );
    let missing = dir.path().join("none.xml");
    let run = Command::new(BIN)
        .arg("import-v1")
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("cannot read"));
}

#[test]
fn check_config_warns_of_a_login_over_plain_smtp_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("standby.ron");
    let mut settings = standby::model::Settings::default();
    settings.email_defaults.smtp.login = Some(standby::model::SmtpLogin {
        user: "ops".into(),
        password: standby::model::Secret::new("pw"),
    });
    standby::model::file::save(&path, &settings).unwrap();
    let out = check_config(&path);
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("warning: email_defaults.smtp.security: the login and password go over the network in clear"),
        "{err}"
    );
}

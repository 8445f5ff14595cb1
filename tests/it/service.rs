//! `standby service ...`: the systemd units it writes are checked by systemd's own
//! `systemd-analyze verify` (and the system unit's sandbox by `systemd-analyze security`),
//! and the command line says what it would do (`--dry-run`) or why it refuses.
//!
//! Nothing here registers a service with this machine's service manager: the units are
//! written to temporary directories.

use std::path::{Path, PathBuf};
use std::process::Command;

use standby::service::{Scope, Spec, systemd};

const BIN: &str = env!("CARGO_BIN_EXE_standby");

fn systemd_analyze() -> Command {
    // Installed by scripts/install-deps.sh (Debian's `systemd`): a missing tool fails the
    // test rather than skipping the check.
    Command::new("systemd-analyze")
}

fn write_unit(dir: &Path, spec: &Spec) -> PathBuf {
    let path = dir.join(systemd::UNIT_NAME);
    std::fs::write(&path, systemd::unit(spec)).unwrap();
    path
}

/// Runs `systemd-analyze` and returns its output, failing the test on a non-zero exit or
/// on any warning about the unit (verify exits 0 on unknown keys and only warns).
fn analyze(command: &mut Command, unit: &Path) -> String {
    let out = command
        .output()
        .expect("systemd-analyze (Debian package systemd, see scripts/install-deps.sh)");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{command:?} failed for\n{}\n{stderr}{stdout}",
        std::fs::read_to_string(unit).unwrap()
    );
    let unit_name = unit.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        !stderr.contains(&unit_name),
        "warnings about the unit:\n{stderr}"
    );
    stdout
}

#[test]
fn the_system_unit_passes_systemd_analyze_verify() {
    let dir = tempfile::tempdir().unwrap();
    let unit = write_unit(
        dir.path(),
        &Spec {
            program: BIN.into(),
            settings: systemd::system_settings(),
            scope: Scope::System,
        },
    );
    analyze(systemd_analyze().arg("verify").arg(&unit), &unit);
}

#[test]
fn the_system_unit_is_sandboxed_by_systemds_own_measure() {
    let dir = tempfile::tempdir().unwrap();
    let unit = write_unit(
        dir.path(),
        &Spec {
            program: BIN.into(),
            settings: systemd::system_settings(),
            scope: Scope::System,
        },
    );
    // Exposure is 0.0 (locked down) to 10.0 (none); the threshold is in tenths. An
    // unhardened unit scores 9.6 and fails this.
    let report = analyze(
        systemd_analyze()
            .args(["security", "--offline=true", "--threshold=30"])
            .arg(&unit),
        &unit,
    );
    assert!(report.contains("Overall exposure level"), "{report}");
}

#[test]
fn the_user_unit_passes_systemd_analyze_verify_for_a_user_manager() {
    let dir = tempfile::tempdir().unwrap();
    // A user manager wants its runtime directory; this namespace has no session.
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&runtime).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let unit = write_unit(
        dir.path(),
        &Spec {
            program: BIN.into(),
            settings: dir.path().join("my settings/standby.ron"),
            scope: Scope::User,
        },
    );
    let text = std::fs::read_to_string(&unit).unwrap();
    assert!(
        text.contains("\"/"),
        "a path with a space is quoted: {text}"
    );
    analyze(
        systemd_analyze()
            .env("XDG_RUNTIME_DIR", &runtime)
            .args(["--user", "verify"])
            .arg(&unit),
        &unit,
    );
}

#[test]
fn install_dry_run_prints_the_unit_and_the_commands_and_changes_nothing() {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["service", "install", "--user", "--dry-run"])
        .env("HOME", home.path())
        .env("XDG_CONFIG_HOME", home.path().join(".config"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let unit_path = home.path().join(".config/systemd/user/standby.service");
    assert!(
        stdout.contains(&format!("write {}:\n", unit_path.display())),
        "{stdout}"
    );
    let settings = home.path().join(".config/standby/standby.ron");
    assert!(
        stdout.contains(&format!(
            "ExecStart={BIN} --headless --config {}\n",
            settings.display()
        )),
        "{stdout}"
    );
    let reload = stdout.find("run systemctl --user daemon-reload").unwrap();
    let enable = stdout
        .find("run systemctl --user enable standby.service")
        .unwrap();
    assert!(reload < enable, "{stdout}");
    assert!(!unit_path.exists(), "a dry run wrote the unit");
}

#[test]
fn a_system_install_with_settings_outside_its_state_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("standby.ron");
    let out = Command::new(BIN)
        .args(["service", "install", "--config"])
        .arg(&settings)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/var/lib/standby"), "{stderr}");
    assert!(stderr.contains(&settings.display().to_string()), "{stderr}");
}

#[test]
fn service_run_outside_windows_says_what_to_run_instead() {
    let out = Command::new(BIN).args(["service", "run"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("standby --headless"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

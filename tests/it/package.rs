//! `scripts/package.sh`: the .deb, made from this test run's own (debug) binary, installs
//! on this machine with `dpkg -i`, its program runs from where the package put it, its
//! unit verifies, and `dpkg -r` removes every file it brought.
//!
//! Needs root (dpkg); CI and the developers' machines run as root.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::support::poll_until;

const BIN: &str = env!("CARGO_BIN_EXE_standby");

fn run(command: &mut Command) -> Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn installed_status() -> String {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "standby"])
        .output()
        .unwrap();
    stdout(&out)
}

/// `dpkg ARGS`, waiting (bounded) while another dpkg or apt holds its lock.
fn dpkg(args: &[&str]) -> Output {
    let mut last = None;
    let done = poll_until(Duration::from_secs(120), || {
        let out = Command::new("dpkg").args(args).output().unwrap();
        let locked = String::from_utf8_lossy(&out.stderr).contains("lock");
        let finished = out.status.success() || !locked;
        last = Some(out);
        finished
    });
    let out = last.unwrap();
    assert!(
        done && out.status.success(),
        "dpkg {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Removes the package however the test ends.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let status = installed_status();
        if !status.is_empty() && !status.contains("not-installed") {
            let _ = Command::new("dpkg").args(["--purge", "standby"]).output();
        }
    }
}

#[test]
fn the_deb_installs_runs_and_is_removed_without_a_trace() {
    assert!(
        rustix::process::getuid().is_root(),
        "installing a .deb needs root (run the tests as root, as CI does)"
    );
    assert!(
        !installed_status().contains("ok installed"),
        "a standby package is installed on this machine already: not touching it"
    );
    let out_dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/package.sh");
    run(Command::new("bash")
        .arg(&script)
        .args(["--deb", "--binary", BIN, "--out"])
        .arg(out_dir.path()));
    let deb: PathBuf = std::fs::read_dir(out_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("package.sh made no .deb");

    // What the package brings, from the package itself.
    let listing = stdout(&run(Command::new("dpkg-deb").arg("--contents").arg(&deb)));
    let files: Vec<PathBuf> = listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .map(|p| PathBuf::from(p.trim_start_matches('.')))
        .collect();
    for wanted in [
        "/usr/bin/standby",
        "/lib/systemd/system/standby.service",
        "/usr/share/applications/standby.desktop",
        "/usr/share/icons/hicolor/128x128/apps/standby.png",
        "/usr/share/standby/default.ron",
    ] {
        assert!(
            files.iter().any(|f| f == Path::new(wanted)),
            "{wanted} not in the package:\n{listing}"
        );
    }
    let control = stdout(&run(Command::new("dpkg-deb").arg("--info").arg(&deb)));
    assert!(control.contains("Depends: libc6"), "{control}");

    let _installed = Installed;
    dpkg(&["-i", &deb.to_string_lossy()]);
    assert!(installed_status().contains("ok installed"));

    let version = stdout(&run(Command::new("/usr/bin/standby").arg("--version")));
    assert_eq!(
        version.trim(),
        format!("standby {}", env!("CARGO_PKG_VERSION"))
    );
    for settings in ["default.ron", "example.ron"] {
        let checked = run(Command::new("/usr/bin/standby")
            .arg("check-config")
            .arg(Path::new("/usr/share/standby").join(settings)));
        assert!(stdout(&checked).contains("OK"), "{}", stdout(&checked));
    }
    // The unit as installed, with the program where it names it.
    let verify = run(
        Command::new("systemd-analyze").args(["verify", "/lib/systemd/system/standby.service"])
    );
    assert!(
        !String::from_utf8_lossy(&verify.stderr).contains("standby.service"),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    dpkg(&["-r", "standby"]);
    let status = installed_status();
    assert!(
        !status.contains("ok installed") && !status.contains("config-files"),
        "dpkg still knows the package: {status}"
    );
    let left: Vec<&PathBuf> = files.iter().filter(|f| f.exists()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(!Path::new("/usr/share/standby").exists());
    assert!(!Path::new("/usr/share/doc/standby").exists());
}

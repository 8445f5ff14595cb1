//! What an operator decides for a server beside its polls, end to end through a real
//! engine, its API and `/metrics`: drain (weight 0), overrides (also by `standby override`
//! and across a restart).

use std::net::{IpAddr, TcpListener};

use standby::engine::{EngineConfig, EngineHandle};
use standby::model::{
    EventKind, ForcedState, PollFrequency, PollMethod, Secret, Server, ServerSet, Settings,
    TcpPoll, file,
};

use crate::api::{PASSWORD, request, start_with};
use crate::support::{bounded, ports, wait_until};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A set of TCP-polled servers on `port`, polled every second, failed at the first
/// failed poll.
fn tcp_set(name: &str, servers: Vec<Server>, port: u16) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers,
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 0,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
            ..PollFrequency::default()
        },
        ..ServerSet::default()
    }
}

fn published(s: &standby::engine::Snapshot, set: &str) -> Option<Vec<IpAddr>> {
    s.set(set).and_then(|v| v.decision.addresses())
}

/// A drained server (weight 0) is polled and shown, passed over while another works, and
/// takes over when it is the only one left working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_server_is_polled_but_published_only_when_alone() {
    bounded(async {
        let (a, b) = (ip("127.0.0.61"), ip("127.0.0.62"));
        let port = ports::common_port(&[a, b]);
        let _drained = TcpListener::bind((a, port)).unwrap();
        let other = TcpListener::bind((b, port)).unwrap();
        let servers = vec![
            Server {
                public_ip: a.to_string(),
                weight: 0,
                ..Server::default()
            },
            Server {
                public_ip: b.to_string(),
                ..Server::default()
            },
        ];
        let settings = Settings {
            server_sets: vec![tcp_set("drain", servers, port)],
            ..Settings::default()
        };
        let (engine, api) = start_with(settings, "drain").await;
        // Both polled and working; only the one that is not drained is published.
        let s = wait_until(&engine, "both polled, the second published", |s| {
            s.set("drain")
                .is_some_and(|v| v.servers.iter().all(|x| x.successes > 0))
                && published(s, "drain") == Some(vec![b])
        })
        .await;
        assert!(s.set("drain").unwrap().servers[0].admin.drained);
        let auth = Some(PASSWORD);
        let (status, body) = request(api, "GET", "/serversets/drain/status", auth, "").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"drained\":true"), "{body}");
        assert!(body.contains("\"drained\":false"), "{body}");
        let (_, metrics) = request(api, "GET", "/metrics", auth, "").await;
        assert!(
            metrics.contains(&format!(
                "standby_server_drained{{set=\"drain\",server=\"{a}\"}} 1"
            )),
            "{metrics}"
        );
        // The published server stops: the drained one takes over rather than nothing.
        drop(other);
        wait_until(&engine, "the drained server takes over", |s| {
            published(s, "drain") == Some(vec![a])
        })
        .await;
        engine.shutdown();
    })
    .await;
}

/// `standby --config FILE override ARGS...`: exit code, stdout, stderr.
async fn standby_override(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_standby"))
        .arg("--config")
        .arg(config)
        .arg("override")
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn forced_of(s: &standby::engine::Snapshot, k: usize) -> Option<ForcedState> {
    s.set("web")
        .and_then(|v| v.servers[k].admin.forced.as_ref())
        .map(|f| f.state)
}

/// `standby override` reaches the running engine through its API: forced down, the other
/// server is published; cleared, the polls decide again; forced for 30 minutes, it is in
/// the settings file and still in force after a restart, which announces nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_from_the_command_line_is_in_force_and_survives_a_restart() {
    bounded(async {
        let (a, b) = (ip("127.0.0.63"), ip("127.0.0.64"));
        let port = ports::common_port(&[a, b]);
        let _a = TcpListener::bind((a, port)).unwrap();
        let _b = TcpListener::bind((b, port)).unwrap();
        let servers = [a, b]
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect();
        let mut settings = Settings {
            server_sets: vec![tcp_set("web", servers, port)],
            ..Settings::default()
        };
        let api = ports::free_addr(ip("127.0.0.1"));
        settings.options.http_api.enabled = true;
        settings.options.http_api.listen = api.to_string();
        settings.options.http_api.password = Secret::new(PASSWORD);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        file::save(&path, &settings).unwrap();
        let spawn = |settings: Settings| {
            EngineHandle::spawn(EngineConfig {
                settings_path: Some(path.clone()),
                ..EngineConfig::in_memory(settings)
            })
            .unwrap()
        };
        let engine = spawn(settings);
        standby::api::spawn(engine.client()).unwrap();
        wait_until(&engine, "the first server published", |s| {
            published(s, "web") == Some(vec![a])
        })
        .await;

        let (code, out, err) = standby_override(&path, &["web", "127.0.0.63", "down"]).await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("127.0.0.63 forced down"), "{out}");
        let s = wait_until(&engine, "forced down: the second published", |s| {
            published(s, "web") == Some(vec![b]) && forced_of(s, 0) == Some(ForcedState::Down)
        })
        .await;
        assert!(
            s.events
                .iter()
                .any(|e| e.kind == EventKind::ServerOverridden && e.text.contains("forced down")),
            "an event: {:?}",
            s.events
        );
        let auth = Some(PASSWORD);
        let (_, status) = request(api, "GET", "/serversets/web/status", auth, "").await;
        assert!(
            status.contains("\"forced\":{\"state\":\"Down\""),
            "{status}"
        );
        let (_, metrics) = request(api, "GET", "/metrics", auth, "").await;
        assert!(
            metrics.contains(&format!(
                "standby_server_forced{{set=\"web\",server=\"{a}\",state=\"down\"}} 1"
            )),
            "{metrics}"
        );

        let (code, _, err) = standby_override(&path, &["web", "127.0.0.63", "clear"]).await;
        assert_eq!(code, 0, "{err}");
        wait_until(&engine, "cleared: the first published again", |s| {
            published(s, "web") == Some(vec![a]) && forced_of(s, 0).is_none()
        })
        .await;

        // Bad input is refused with the reason, and changes nothing.
        let (code, _, err) = standby_override(&path, &["web", "127.0.0.99", "down"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("has no server 127.0.0.99"), "{err}");
        let (code, _, err) =
            standby_override(&path, &["web", "127.0.0.63", "down", "--for", "soon"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("for: \\\"soon\\\" is not a duration"), "{err}");

        let (code, _, err) =
            standby_override(&path, &["web", "127.0.0.63", "down", "--for", "30m"]).await;
        assert_eq!(code, 0, "{err}");
        wait_until(&engine, "forced down for 30 min", |s| {
            published(s, "web") == Some(vec![b])
        })
        .await;
        assert!(crate::support::poll_until(
            std::time::Duration::from_secs(10),
            || {
                file::load(&path).is_ok_and(|f| {
                    f.server_sets[0].servers[0]
                        .forced
                        .as_ref()
                        .is_some_and(|f| f.until.is_some())
                })
            }
        ));
        engine.shutdown();

        let engine = spawn(file::load(&path).unwrap());
        let s = wait_until(&engine, "after the restart: still forced down", |s| {
            published(s, "web") == Some(vec![b]) && forced_of(s, 0) == Some(ForcedState::Down)
        })
        .await;
        assert!(
            !s.events
                .iter()
                .any(|e| e.kind == EventKind::ServerOverridden),
            "a restart announces nothing new: {:?}",
            s.events
        );
        engine.shutdown();
    })
    .await;
}

/// `POST /serversets/{id}/maintenance` puts a server in maintenance from now: it counts as
/// disabled (the other one is published), its failure raises no event, and the status and
/// `/metrics` show the time left; a wrong duration names the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_from_the_api_takes_a_server_out_quietly() {
    bounded(async {
        let (a, b) = (ip("127.0.0.65"), ip("127.0.0.66"));
        let port = ports::common_port(&[a, b]);
        let first = TcpListener::bind((a, port)).unwrap();
        let _b = TcpListener::bind((b, port)).unwrap();
        let servers = [a, b]
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect();
        let settings = Settings {
            server_sets: vec![tcp_set("web", servers, port)],
            ..Settings::default()
        };
        let (engine, api) = start_with(settings, "web").await;
        wait_until(&engine, "the first published", |s| {
            published(s, "web") == Some(vec![a])
        })
        .await;
        let auth = Some(PASSWORD);
        let (status, body) = request(
            api,
            "POST",
            "/serversets/web/maintenance",
            auth,
            r#"{"server": "127.0.0.65", "for": "half an hour"}"#,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("\"path\":\"for\""), "{body}");
        let (status, body) = request(
            api,
            "POST",
            "/serversets/web/maintenance",
            auth,
            r#"{"server": "127.0.0.65", "for": "30m"}"#,
        )
        .await;
        assert_eq!(status, 204, "{body}");
        wait_until(&engine, "in maintenance: the second published", |s| {
            published(s, "web") == Some(vec![b])
                && s.set("web").unwrap().servers[0]
                    .admin
                    .maintenance_until
                    .is_some()
        })
        .await;
        // It fails in maintenance: polled and shown failed, no event.
        drop(first);
        let s = wait_until(&engine, "failed in maintenance", |s| {
            s.set("web").unwrap().servers[0].status
                == standby::engine::server_state::ServerStatus::Failed
        })
        .await;
        assert!(
            !s.events.iter().any(|e| e.kind == EventKind::ServerFailed),
            "{:?}",
            s.events
        );
        assert!(s.events.iter().any(|e| e.kind == EventKind::Maintenance));
        let (_, status) = request(api, "GET", "/serversets/web/status", auth, "").await;
        assert!(status.contains("\"maintenance_until\":\""), "{status}");
        let (_, metrics) = request(api, "GET", "/metrics", auth, "").await;
        // About 1800 s left (1799 or 1800).
        assert!(
            metrics.contains(&format!(
                "standby_server_maintenance_seconds{{set=\"web\",server=\"{a}\"}} 1"
            )),
            "{metrics}"
        );
        engine.shutdown();
    })
    .await;
}

/// `standby --config FILE maintenance ARGS...`: exit code, stdout, stderr.
async fn standby_maintenance(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_standby"))
        .arg("--config")
        .arg(config)
        .arg("maintenance")
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn in_maintenance(s: &standby::engine::Snapshot, k: usize) -> bool {
    s.set("web")
        .is_some_and(|v| v.servers[k].admin.maintenance_until.is_some())
}

/// `standby maintenance` reaches the running engine: a one-off window for a server
/// (`--for`), a weekly one for the whole set (`--weekly`, lasting now), and `clear`; bad
/// input names its field; and the windows, kept in the settings file, are in force after a
/// restart of the engine, which announces nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_from_the_command_line_survives_a_restart() {
    bounded(async {
        let (a, b) = (ip("127.0.0.67"), ip("127.0.0.68"));
        let port = ports::common_port(&[a, b]);
        let _a = TcpListener::bind((a, port)).unwrap();
        let _b = TcpListener::bind((b, port)).unwrap();
        let servers = [a, b]
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect();
        let mut settings = Settings {
            server_sets: vec![tcp_set("web", servers, port)],
            ..Settings::default()
        };
        let api = ports::free_addr(ip("127.0.0.1"));
        settings.options.http_api.enabled = true;
        settings.options.http_api.listen = api.to_string();
        settings.options.http_api.password = Secret::new(PASSWORD);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        file::save(&path, &settings).unwrap();
        let spawn = |settings: Settings| {
            EngineHandle::spawn(EngineConfig {
                settings_path: Some(path.clone()),
                ..EngineConfig::in_memory(settings)
            })
            .unwrap()
        };
        let engine = spawn(settings);
        standby::api::spawn(engine.client()).unwrap();
        wait_until(&engine, "the first server published", |s| {
            published(s, "web") == Some(vec![a])
        })
        .await;

        // Bad input: the field is named, nothing changes.
        let (code, _, err) = standby_maintenance(
            &path,
            &[
                "web", "--weekly", "Tue", "--start", "25:00", "--end", "01:00",
            ],
        )
        .await;
        assert_eq!(code, 1);
        assert!(err.contains("weekly.start"), "{err}");
        let (code, _, err) = standby_maintenance(&path, &["web"]).await;
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("give one of --for"), "{err}");

        let (code, out, err) =
            standby_maintenance(&path, &["web", "127.0.0.67", "--for", "30m"]).await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.contains("127.0.0.67 in maintenance for 30m"), "{out}");
        wait_until(
            &engine,
            "the first in maintenance: the second published",
            |s| {
                published(s, "web") == Some(vec![b])
                    && in_maintenance(s, 0)
                    && !in_maintenance(s, 1)
            },
        )
        .await;

        // A weekly window of the whole set, every day, from an hour ago to an hour ahead
        // (in UTC; past midnight it runs into the next day).
        let now = jiff::Timestamp::now();
        let hhmm = |t: jiff::Timestamp| t.strftime("%H:%M").to_string();
        let start = hhmm(now - jiff::SignedDuration::from_hours(1));
        let end = hhmm(now + jiff::SignedDuration::from_hours(1));
        let days = "mon,tue,wed,thu,fri,sat,sun";
        let (code, out, err) = standby_maintenance(
            &path,
            &[
                "web",
                "--weekly",
                days,
                "--start",
                &start,
                "--end",
                &end,
                "--time-zone",
                "UTC",
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}{err}");
        wait_until(&engine, "both in maintenance", |s| {
            in_maintenance(s, 0) && in_maintenance(s, 1)
        })
        .await;
        assert!(crate::support::poll_until(
            std::time::Duration::from_secs(10),
            || file::load(&path).is_ok_and(|f| f.server_sets[0].maintenance.len() == 1
                && f.server_sets[0].servers[0].maintenance.len() == 1)
        ));
        engine.shutdown();

        // After a restart: both windows in force, no event announces them again.
        let engine = spawn(file::load(&path).unwrap());
        let s = wait_until(&engine, "after the restart: both in maintenance", |s| {
            in_maintenance(s, 0) && in_maintenance(s, 1)
        })
        .await;
        assert!(
            !s.events.iter().any(|e| e.kind == EventKind::Maintenance),
            "a restart announces nothing new: {:?}",
            s.events
        );
        drop(s);
        // The first engine's API stopped with it: this one takes its address.
        standby::api::spawn(engine.client()).unwrap();
        // Clear the set: the windows of the set and of its servers go.
        let (code, out, err) = standby_maintenance(&path, &["web", "clear"]).await;
        assert_eq!(code, 0, "{out}{err}");
        assert!(
            out.contains("every server maintenance windows cleared"),
            "{out}"
        );
        wait_until(&engine, "no server in maintenance", |s| {
            !in_maintenance(s, 0) && !in_maintenance(s, 1) && published(s, "web") == Some(vec![a])
        })
        .await;
        engine.shutdown();
    })
    .await;
}

//! The history's reports and events as an operator reaches them: through the engine and
//! its API (`/uptime`, `/report`, `/events`, `/metrics`) and `standby report`.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use standby::engine::Command;
use standby::model::{PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};
use standby::store::events::{EventFilter, EventKind};
use tokio::net::TcpListener;

use crate::api::{PASSWORD, request, start_with};
use crate::support::{bounded, http, notify, peers, ports, wait_until};

const ADDRESS: [u8; 4] = [127, 0, 0, 23];

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uptime_reports_and_events_through_the_engine_and_the_api() {
    bounded(async {
        let listener = TcpListener::bind(SocketAddr::from((ADDRESS, 0)))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        let mut settings = Settings::default();
        settings.server_sets.push(tcp_set("h", "127.0.0.23", port));
        let (engine, api) = start_with(settings.clone(), "h").await;
        wait_until(&engine, "three polls", |s| {
            s.set("h").is_some_and(|h| h.servers[0].successes >= 3)
        })
        .await;
        let auth = Some(PASSWORD);

        // Uptime, computed now over the raw polls.
        let (status, body) = request(api, "GET", "/uptime", auth, "").await;
        assert_eq!(status, 200, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        let day = &json["sets"][0]["servers"][0]["periods"]["24h"];
        assert_eq!(json["sets"][0]["servers"][0]["server"], "127.0.0.23");
        assert!(day["polls"].as_u64().unwrap() >= 3, "{body}");
        assert_eq!(day["uptime_percent"].as_f64(), Some(100.0), "{body}");
        assert!(day["p99_ms"].as_f64().is_some(), "{body}");
        // ... and in /metrics, from the snapshot's report, which the /uptime request refreshed.
        let series =
            "standby_server_uptime_ratio{set=\"h\",server=\"127.0.0.23\",period=\"24h\"} 1";
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, metrics) = request(api, "GET", "/metrics", auth, "").await;
            if metrics.lines().any(|l| l == series) {
                assert!(metrics.contains("# TYPE standby_server_response_p95_seconds gauge"));
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{metrics}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // The SLA report of the last hour, as CSV and as an HTML page.
        let period = format!("from={}&to={}", now_secs() - 3_600, now_secs() + 60);
        let (status, csv) = request(
            api,
            "GET",
            &format!("/report?{period}&format=csv"),
            auth,
            "",
        )
        .await;
        assert_eq!(status, 200, "{csv}");
        let lines: Vec<&str> = csv.lines().collect();
        assert!(
            lines[0].starts_with("from_utc,to_utc,set,server,polls"),
            "{csv}"
        );
        assert!(
            lines[1].contains(",h,,") && lines[1].contains(",100.000,"),
            "{csv}"
        );
        assert!(lines[2].contains(",h,127.0.0.23,"), "{csv}");
        let (status, html) = request(
            api,
            "GET",
            &format!("/report?{period}&format=html"),
            auth,
            "",
        )
        .await;
        assert_eq!(status, 200);
        assert!(
            html.contains("<svg") && html.contains("127.0.0.23"),
            "{html}"
        );
        let (status, error) = request(
            api,
            "GET",
            &format!("/report?{period}&format=xml"),
            auth,
            "",
        )
        .await;
        assert_eq!(status, 400);
        assert!(error.contains("format"), "{error}");
        let (status, error) =
            request(api, "GET", "/report?from=yesterday&to=2026-12-01", auth, "").await;
        assert_eq!(status, 400);
        assert!(error.contains("from: \\\"yesterday\\\""), "{error}");

        // Events: an operator's pause and a settings change become rows.
        engine.send(Command::PauseSet("h".into())).await.unwrap();
        // The settings in force (with the API on), applied again: a settings change.
        let current = (*engine.snapshot().settings).clone();
        engine.apply_settings(current).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let events = engine.query_events(EventFilter::default()).await.unwrap();
            let kinds: Vec<EventKind> = events.iter().map(|e| e.kind).collect();
            if kinds.contains(&EventKind::Pause) && kinds.contains(&EventKind::SettingsChanged) {
                let pause = events.iter().find(|e| e.kind == EventKind::Pause).unwrap();
                assert_eq!(
                    (pause.set.as_str(), pause.text.as_str()),
                    ("h", "set paused")
                );
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{events:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let (status, body) = request(api, "GET", "/events?kind=pause&set=h", auth, "").await;
        assert_eq!(status, 200, "{body}");
        let events: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(events.as_array().unwrap().len(), 1, "{body}");
        assert_eq!(events[0]["kind"], "pause");
        let (status, body) = request(api, "GET", "/events?kind=settings_changed", auth, "").await;
        assert_eq!(status, 200);
        assert!(body.contains("settings applied"), "{body}");
        let (status, body) = request(api, "GET", "/events?kind=reboot", auth, "").await;
        assert_eq!(status, 400);
        assert!(
            body.contains("kind: \\\"reboot\\\" is not one of server_failed"),
            "{body}"
        );
        engine.shutdown();
    })
    .await;
}

/// Waits (bounded) until the event history holds events of every kind of `kinds`.
async fn events_with(
    engine: &standby::engine::EngineHandle,
    kinds: &[EventKind],
) -> Vec<standby::store::events::HistoryEvent> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let events = engine.query_events(EventFilter::default()).await.unwrap();
        if kinds.iter().all(|k| events.iter().any(|e| e.kind == *k)) {
            return events;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{kinds:?}: {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A real failover (two HTTP servers, BIND updated by RFC 2136, a notification by a
/// program): the server's failure, the DNS update it causes and the notification sent
/// are rows of the event history, in that order, each with its set and server; then the
/// recovery and the update back. The dialog's filters (kind, set, server) find them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failover_leaves_its_transition_dns_update_and_notification_in_order() {
    bounded(async {
        use standby::model::{
            DnsData, DnsServer, HttpPoll, NotificationMethod, Rfc2136Update, TsigAlgorithm,
            UpdateDns, UpdateMethod,
        };
        let (a, b): (std::net::IpAddr, std::net::IpAddr) =
            ("127.0.0.26".parse().unwrap(), "127.0.0.27".parse().unwrap());
        let port = ports::common_port(&[a, b]);
        let server_a = http::stoppable_http_server(a, port).await;
        let _server_b = http::stoppable_http_server(b, port).await;
        let bind = peers::Peer::primary(peers::Kind::Bind).await;
        let key = bind.key(TsigAlgorithm::HmacSha256);
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("notified.txt");
        let mut settings = Settings::default();
        settings.options.notification.default_methods = vec![NotificationMethod {
            kind: notify::appending_command(&out),
            events: vec![standby::model::EventKind::ServerFailed],
            ..NotificationMethod::default()
        }];
        settings.server_sets.push(ServerSet {
            name: "web".into(),
            servers: vec![
                Server {
                    public_ip: a.to_string(),
                    ..Server::default()
                },
                Server {
                    public_ip: b.to_string(),
                    ..Server::default()
                },
            ],
            polling: PollMethod::Http(HttpPoll {
                url: format!("http://www.example.test:{port}/"),
                ..HttpPoll::default()
            }),
            frequency: PollFrequency {
                interval: Duration::from_secs(1),
                failed_interval: Duration::from_secs(1),
                retries: 1,
                retry_interval: Duration::from_secs(1),
                timeout: Duration::from_secs(2),
                recover_after: 1,
                sequential: false,
            },
            dns: DnsData {
                host_names: vec!["www.example.test".into()],
                ttl: 30,
                ..DnsData::default()
            },
            update_dns: UpdateDns {
                enabled: true,
                use_default_servers: false,
                dns_servers: vec![DnsServer {
                    address: bind.addr.ip().to_string(),
                    port: bind.addr.port(),
                    update: UpdateMethod::Rfc2136(Rfc2136Update {
                        tsig: Some(key.clone()),
                    }),
                    ..DnsServer::default()
                }],
            },
            ..ServerSet::default()
        });
        let engine = standby::engine::EngineHandle::spawn(
            standby::engine::EngineConfig::in_memory(settings),
        )
        .unwrap();
        // The first update puts the first server in the zone.
        events_with(&engine, &[EventKind::DnsUpdate]).await;
        let start = engine
            .query_events(EventFilter::default())
            .await
            .unwrap()
            .len();

        server_a.abort();
        let _ = server_a.await;
        let events = events_with(
            &engine,
            &[EventKind::ServerFailed, EventKind::NotificationSent],
        )
        .await;
        // The update that follows the failure: to the second server's address.
        let moved = |e: &standby::store::events::HistoryEvent| {
            e.kind == EventKind::DnsUpdate && e.text.contains("→ 127.0.0.27]")
        };
        let events = if events[start..].iter().any(moved) {
            events
        } else {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let events = engine.query_events(EventFilter::default()).await.unwrap();
                if events[start..].iter().any(moved) {
                    break events;
                }
                assert!(tokio::time::Instant::now() < deadline, "{events:#?}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        assert_eq!(bind.dig("www.example.test", "A").await, ["127.0.0.27"]);
        let at = |f: &dyn Fn(&standby::store::events::HistoryEvent) -> bool| {
            events
                .iter()
                .position(f)
                .unwrap_or_else(|| panic!("{events:#?}"))
        };
        let failed = at(&|e| e.kind == EventKind::ServerFailed);
        let update = start + events[start..].iter().position(moved).unwrap();
        let sent = at(&|e| e.kind == EventKind::NotificationSent);
        assert!(
            failed >= start && failed < update && failed < sent,
            "{events:#?}"
        );
        let row = &events[failed];
        assert_eq!(
            (row.set.as_str(), row.server.as_str()),
            ("web", "127.0.0.26")
        );
        assert!(row.text.contains("failed"), "{row:?}");
        assert!(
            events[update].text.contains("[127.0.0.26 → 127.0.0.27]"),
            "{:?}",
            events[update]
        );
        assert_eq!(events[sent].set, "web");
        assert!(
            std::fs::read_to_string(&out)
                .unwrap()
                .contains("127.0.0.26")
        );
        // The History dialog's filters: kind, set and server chosen from lists.
        let only = engine
            .query_events(EventFilter {
                kind: Some(EventKind::ServerFailed),
                set: Some("web".into()),
                server: Some("127.0.0.26".into()),
                ..EventFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(only, vec![events[failed].clone()]);

        // It comes back: recovered, then the update back, after everything before.
        let _server_a = http::stoppable_http_server(a, port).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let events = engine.query_events(EventFilter::default()).await.unwrap();
            let recovered = events
                .iter()
                .position(|e| e.kind == EventKind::ServerRecovered);
            let back = events
                .iter()
                .rposition(|e| e.kind == EventKind::DnsUpdate && e.text.contains("→ 127.0.0.26]"));
            // The last update to the first server's address, once it follows the recovery
            // (before, it is the first update of all).
            if let (Some(recovered), Some(back)) = (recovered, back)
                && back > recovered
            {
                assert!(recovered > update, "{events:#?}");
                assert_eq!(events[recovered].server, "127.0.0.26");
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "{events:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        engine.shutdown();
    })
    .await;
}

/// An operator's override and a notification that could not be delivered (an HTTP
/// method whose server refuses connections) are rows of the event history, read back
/// through the engine's event query as the History dialog reads them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_and_a_failed_notification_are_rows_of_the_event_history() {
    bounded(async {
        use standby::engine::SettingsEdit;
        use standby::model::{
            Forced, ForcedState, HttpRequest, NotificationKind, NotificationMethod,
        };
        let ip: std::net::IpAddr = "127.0.0.24".parse().unwrap();
        let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        // Held until the test ends: bound, never listening, so the notification is refused.
        let (_held, closed) = ports::refusing_port(ip);
        let mut settings = Settings::default();
        settings.options.notification.default_methods = vec![NotificationMethod {
            kind: NotificationKind::Http(HttpRequest {
                url: format!("http://127.0.0.24:{closed}/hook"),
                timeout_secs: 5,
                ..HttpRequest::default()
            }),
            events: vec![standby::model::EventKind::ServerOverridden],
            ..NotificationMethod::default()
        }];
        settings
            .server_sets
            .push(tcp_set("ops", &ip.to_string(), port));
        let engine = standby::engine::EngineHandle::spawn(
            standby::engine::EngineConfig::in_memory(settings),
        )
        .unwrap();
        wait_until(&engine, "a poll", |s| {
            s.set("ops").is_some_and(|o| o.servers[0].successes >= 1)
        })
        .await;
        let forced = Forced::new(ForcedState::Down, SystemTime::now(), None);
        engine
            .edit_settings(
                SettingsEdit::Force {
                    set: "ops".into(),
                    server: ip.to_string(),
                    forced: Some(forced.clone()),
                },
                None,
            )
            .await
            .unwrap();
        let events = events_with(
            &engine,
            &[EventKind::Override, EventKind::NotificationFailed],
        )
        .await;
        let forced_row = events
            .iter()
            .find(|e| e.kind == EventKind::Override)
            .unwrap();
        assert_eq!(
            (forced_row.set.as_str(), forced_row.server.as_str()),
            ("ops", "127.0.0.24"),
            "{forced_row:?}"
        );
        assert!(
            forced_row.text.contains("forced down") && forced_row.text.contains(&forced.set_at),
            "{forced_row:?}"
        );
        let failed = events
            .iter()
            .find(|e| e.kind == EventKind::NotificationFailed)
            .unwrap();
        assert_eq!(failed.set, "ops", "{failed:?}");
        // Its 3xx code, what went wrong, and that it is kept for another try.
        assert!(failed.text.starts_with('3'), "{failed:?}");
        assert!(
            failed.text.contains(&format!("127.0.0.24:{closed}")),
            "{failed:?}"
        );
        assert!(failed.text.ends_with("(will be retried)"), "{failed:?}");
        assert!(
            !events.iter().any(|e| e.kind == EventKind::NotificationSent),
            "{events:#?}"
        );
        // The dialog's kind filter finds each alone.
        for kind in [EventKind::Override, EventKind::NotificationFailed] {
            let only = engine
                .query_events(EventFilter {
                    kind: Some(kind),
                    ..EventFilter::default()
                })
                .await
                .unwrap();
            assert!(
                !only.is_empty() && only.iter().all(|e| e.kind == kind),
                "{kind:?}: {only:#?}"
            );
        }
        engine.shutdown();
    })
    .await;
}

/// `standby report` on a database of the first schema (the fixture of `store::schema`):
/// migrated, read, written as CSV and as HTML; bad dates are refused by name.
#[test]
fn the_report_command_reads_the_history_beside_the_settings() {
    const BIN: &str = env!("CARGO_BIN_EXE_standby");
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("standby.ron");
    std::fs::write(
        &settings,
        r#"(server_sets: [
            (name: "web", servers: [(public_ip: "127.0.0.2"), (public_ip: "127.0.0.3")]),
            (name: "mail", servers: [(public_ip: "127.0.0.4")]),
        ])"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(BIN)
            .arg("--config")
            .arg(&settings)
            .arg("report")
            .args(args)
            .output()
            .unwrap()
    };
    let none = run(&["--from", "2026-11-01", "--to", "2026-11-01"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no history database"));
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/history-5ed8d9c.db"
        ),
        dir.path().join("standby.db"),
    )
    .unwrap();
    let out = run(&["--from", "2026-11-01", "--to", "2026-11-01"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 3 + 2, "{csv}");
    // 120 polls per server, every 7th minute failed: (minute + 9) % 7 == 0 → 17 failures.
    assert!(
        lines[2]
            .starts_with("2026-11-01 00:00 UTC,2026-11-02 00:00 UTC,web,127.0.0.2,120,17,85.833,"),
        "{csv}"
    );
    assert!(lines[1].contains(",web,,240,34,85.833,"), "{csv}");
    let page = dir.path().join("sla.html");
    let out = run(&[
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-01",
        "--format",
        "html",
        "--output",
        page.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains("mail"), "{html}");
    let bad = run(&["--from", "01/11/2026", "--to", "2026-11-01"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--from: \"01/11/2026\""));
}

/// A set `name` of one server at `ip`, polled every second by TCP connect to `port`.
fn tcp_set(name: &str, ip: &str, port: u16) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: vec![Server {
            public_ip: ip.into(),
            ..Server::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: Duration::from_secs(1),
            ..PollFrequency::default()
        },
        ..ServerSet::default()
    }
}

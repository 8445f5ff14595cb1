//! `/metrics` of a real engine through its API, checked by Prometheus's own `promtool
//! check metrics` (Debian's `prometheus` package, installed by scripts/install-deps.sh):
//! servers that work (states as enum gauges, the response-time histogram), a DNS pair that
//! fails (its state, failure counter, last change), and a notification that cannot be
//! delivered (outbox depth, failures).

use std::io::Write as _;
use std::process::{Command, Stdio};

use standby::engine::PairState;
use standby::model::{
    CommandSpec, DnsServer, HttpRequest, HttpVerb, NotificationKind, NotificationMethod,
    UpdateMethod,
};

use crate::api::{PASSWORD, request, start_with};
use crate::support::ports::silent_udp;
use crate::support::{bounded, dns_sync, wait_until};

const PROMTOOL: &str = "promtool";

/// The value of the one sample whose line starts with `series` (name and labels).
pub fn sample(metrics: &str, series: &str) -> f64 {
    let line = metrics
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"));
    line[series.len()..].trim().parse().unwrap()
}

/// Runs `promtool check metrics` on `text`; returns its exit status and output.
pub fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{PROMTOOL} cannot run ({e}): install Debian's prometheus package (scripts/install-deps.sh)")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_pass_promtool_and_tell_states_histograms_dns_and_the_outbox() {
    bounded(async {
        // Queries to it are never answered: the pair fails.
        let (_silent, port) = silent_udp("127.0.0.1".parse().unwrap());
        let dns = DnsServer {
            address: "127.0.0.1".into(),
            port,
            update: UpdateMethod::Command(CommandSpec {
                program: "/bin/false".into(),
                ..CommandSpec::default()
            }),
            ..DnsServer::default()
        };
        let mut settings = dns_sync::settings(
            &["192.0.2.1", "192.0.2.2"],
            &["www.example.test"],
            vec![dns],
        )
        .await;
        // Nobody listens on port 9 (discard): every try fails and stays in the outbox.
        settings.options.notification.default_methods = vec![NotificationMethod {
            kind: NotificationKind::Http(HttpRequest {
                verb: HttpVerb::Post,
                url: "http://127.0.0.1:9/hook".into(),
                body: "$EVENT$".into(),
                ..HttpRequest::default()
            }),
            ..NotificationMethod::default()
        }];
        let (engine, api) = start_with(settings, "web").await;
        wait_until(
            &engine,
            "servers polled, the pair failed, a delivery failed",
            |s| {
                s.set("web").is_some_and(|v| {
                    v.servers.iter().all(|x| x.successes > 0)
                        && v.dns
                            .iter()
                            .all(|p| p.state == PairState::Failed && p.update_failures > 0)
                }) && s.outbox.failed > 0
            },
        )
        .await;
        let (status, metrics) = request(api, "GET", "/metrics", Some(PASSWORD), "").await;
        assert_eq!(status, 200, "{metrics}");

        let (ok, said) = promtool(&metrics);
        assert!(ok, "promtool check metrics:\n{said}\n{metrics}");

        let server = r#"set="web",server="192.0.2.1""#;
        assert_eq!(
            sample(&metrics, &format!("standby_server_up{{{server}}}")),
            1.0
        );
        assert_eq!(
            sample(
                &metrics,
                &format!("standby_server_state{{{server},state=\"ok\"}}")
            ),
            1.0
        );
        for other in ["not_tested", "retrying", "failed", "disabled", "skipped"] {
            let series = format!("standby_server_state{{{server},state=\"{other}\"}}");
            assert_eq!(sample(&metrics, &series), 0.0, "{series}");
        }
        let count = sample(
            &metrics,
            &format!("standby_server_response_time_seconds_count{{{server}}}"),
        );
        assert!(count >= 1.0, "{metrics}");
        assert_eq!(
            sample(
                &metrics,
                &format!("standby_server_response_time_seconds_bucket{{{server},le=\"+Inf\"}}")
            ),
            count
        );
        assert!(
            sample(
                &metrics,
                &format!("standby_server_response_time_seconds_sum{{{server}}}")
            ) > 0.0
        );

        let pair = format!(r#"set="web",dns_server="127.0.0.1:{port}",host="www.example.test""#);
        assert_eq!(
            sample(
                &metrics,
                &format!("standby_dns_pair_state{{{pair},state=\"failed\"}}")
            ),
            1.0
        );
        assert_eq!(
            sample(
                &metrics,
                &format!("standby_dns_pair_state{{{pair},state=\"matched\"}}")
            ),
            0.0
        );
        assert!(
            sample(
                &metrics,
                &format!("standby_dns_pair_failures_total{{{pair}}}")
            ) >= 1.0
        );
        assert_eq!(
            sample(
                &metrics,
                &format!("standby_dns_pair_updates_total{{{pair}}}")
            ),
            0.0
        );
        let changed = sample(
            &metrics,
            &format!("standby_dns_pair_last_change_timestamp_seconds{{{pair}}}"),
        );
        assert!(changed > 1.7e9, "{changed}");

        assert!(sample(&metrics, "standby_notification_failures_total") >= 1.0);
        assert!(sample(&metrics, "standby_notification_outbox_messages") >= 1.0);
        assert!(sample(&metrics, "standby_poll_lateness_seconds_count") >= 2.0);
        assert!(metrics.contains("# TYPE standby_poll_lateness_seconds summary\n"));
        assert!(metrics.contains("# TYPE standby_server_response_time_seconds histogram\n"));
        engine.shutdown();
    })
    .await;
}

//! What an operator decides for a server beside its polls, end to end through a real
//! engine, its API and `/metrics`: drain (weight 0).

use std::net::{IpAddr, TcpListener};

use standby::model::{PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};

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
            interval_secs: 1,
            failed_interval_secs: 1,
            retries: 0,
            retry_interval_secs: 1,
            timeout_secs: 2,
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

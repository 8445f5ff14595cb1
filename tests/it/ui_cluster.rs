//! The window in cluster mode with content (issue 13 item 6): a server row's cluster view
//! ("failed at 2 of 3: berlin, paris") and the Cluster window's instances, leader, lease
//! ages and etcd's health. The window's own engine is instance berlin of a real etcd; the
//! test writes paris's and london's heartbeats and views into that etcd under a lease,
//! in the keys and form the instances publish (`cluster::views`).

use std::time::{Duration, SystemTime};

use egui_kittest::kittest::Queryable;
use standby::cluster::views::{self, Heartbeat, PublishedView};
use standby::model::{Cluster, PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};

use crate::support::peers::etcd::Etcd as EtcdPeer;
use crate::support::ui::{LARGE, Window};

#[test]
fn a_rows_cluster_view_and_the_cluster_window_show_the_instances() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let etcd = runtime.block_on(EtcdPeer::start(68));
    let section = Cluster {
        endpoints: vec![etcd.url()],
        name: "ui".into(),
        instance: "berlin".into(),
        lease_secs: 2,
        ..Cluster::default()
    };
    let prefix = section.key_prefix();
    // paris cannot reach the server either, london can.
    let client = etcd.client();
    runtime.block_on(async {
        let lease = client.grant(60).await.unwrap();
        for (name, seen) in [("paris", "down"), ("london", "up")] {
            let beat = Heartbeat {
                at_ms: views::unix_ms(SystemTime::now()),
            };
            let key = views::instance_key(&prefix, name);
            let value = serde_json::to_vec(&beat).unwrap();
            client.put(&key, &value, Some(lease.id)).await.unwrap();
            let view = PublishedView {
                seen: seen.into(),
                status: if seen == "up" { "OK" } else { "failed" }.into(),
                since_ms: views::unix_ms(SystemTime::now()),
                last_response: String::new(),
            };
            let key = views::view_key(&prefix, name, "web", "127.0.0.1");
            let value = serde_json::to_vec(&view).unwrap();
            client.put(&key, &value, Some(lease.id)).await.unwrap();
        }
    });
    let settings = Settings {
        server_sets: vec![ServerSet {
            name: "web".into(),
            servers: vec![Server {
                public_ip: "127.0.0.1".into(),
                ..Server::default()
            }],
            // Nothing listens on port 1: berlin sees the server fail at its first poll.
            polling: PollMethod::Tcp(TcpPoll {
                port: Some(1),
                ..TcpPoll::default()
            }),
            frequency: PollFrequency {
                interval: Duration::from_millis(500),
                retries: 0,
                ..PollFrequency::default()
            },
            ..ServerSet::default()
        }],
        cluster: Some(section),
        ..Settings::default()
    };
    let mut w = Window::in_memory(settings, LARGE);
    w.wait_until("the row's cluster view", |w| {
        w.shows("cluster: failed at 2 of 3: berlin, paris")
    });

    w.click("File");
    w.click("Cluster...");
    w.wait_until("the Cluster window's leader", |w| {
        w.shows("Leader: berlin (since")
    });
    for text in [
        "This instance: berlin in cluster \"ui\"",
        "etcd: reachable",
        "Last heartbeat (lease age)",
    ] {
        assert!(w.shows(text), "the Cluster window shows {text:?}");
    }
    // The instances' rows: each name (the leader marked), and each lease's age.
    for name in ["berlin (leader)", "paris", "london"] {
        assert!(
            w.harness.query_by_label(name).is_some(),
            "the Cluster window lists {name:?}"
        );
    }
    let ages = w.harness.query_all_by_label_contains(" s ago").count();
    assert!(ages >= 3, "{ages} lease ages shown");
    // paris's and london's leases are alive: none shows as expired.
    assert!(!w.shows("lease expired"));
    drop(w);
    drop(etcd);
}

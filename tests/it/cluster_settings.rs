//! Cluster mode's shared settings (issue 13 item 2) with real processes: a real etcd
//! (tests/peers/etcd.sh) and three real `standby --headless` instances on loopback, each with
//! its own settings file and API. An edit through one instance's API reaches the others; two
//! edits made at once on two instances from the same revision: one wins, the other gets the
//! conflict; with etcd down an instance starts from its file and polls, and catches up when
//! etcd is back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use standby::model::{Cluster, PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};
use tokio::time::Instant;

use crate::api_metrics::{promtool, sample};
use crate::support::bounded;
use crate::support::peers::etcd::Etcd as EtcdPeer;
use crate::support::ports;
use crate::support::process::{LIMIT, Standby, api, api_with};

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// One instance: its settings file and API address.
struct Instance {
    name: &'static str,
    file: PathBuf,
    api: SocketAddr,
    process: Option<Standby>,
    runs: u32,
}

impl Instance {
    fn new(dir: &Path, name: &'static str, etcd: &str, sets: Vec<ServerSet>) -> Instance {
        let api = ports::free_addr(LOOPBACK);
        let file = dir.join(name).join("standby.ron");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        let mut settings = Settings::default();
        settings.options.http_api.enabled = true;
        settings.options.http_api.listen = api.to_string();
        settings.server_sets = sets;
        settings.cluster = Some(Cluster {
            endpoints: vec![etcd.to_string()],
            name: "it".into(),
            instance: name.into(),
            ..Cluster::default()
        });
        standby::model::file::save(&file, &settings).unwrap();
        Instance {
            name,
            file,
            api,
            process: None,
            runs: 0,
        }
    }

    async fn start(&mut self) {
        self.runs += 1;
        self.process = Some(Standby::start(&self.file, self.runs));
        let api = self.api;
        wait(&format!("{}'s API", self.name), || async move {
            api_ok(api, "/serversets").await.map(|_| ())
        })
        .await;
    }

    fn log(&self) -> String {
        self.process.as_ref().map(Standby::log).unwrap_or_default()
    }

    /// The names of the sets its API lists.
    async fn sets(&self) -> Option<Vec<String>> {
        let list = api_ok(self.api, "/serversets").await?;
        Some(
            list.as_array()?
                .iter()
                .filter_map(|s| s["name"].as_str().map(String::from))
                .collect(),
        )
    }
}

async fn api_ok(api_address: SocketAddr, path: &str) -> Option<Value> {
    match api(api_address, "GET", path, "").await {
        Some((200, body)) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}

/// Waits (bounded by [`LIMIT`]) until `test` gives a value, trying every 25 ms.
async fn wait<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut test: impl FnMut() -> F,
) -> T {
    let until = Instant::now() + LIMIT;
    loop {
        if let Some(value) = test().await {
            return value;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn set(name: &str, port: u16) -> ServerSet {
    ServerSet {
        name: name.into(),
        servers: vec![Server {
            public_ip: "127.0.0.1".into(),
            ..Server::default()
        }],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: Duration::from_secs(1),
            failed_interval: Duration::from_secs(1),
            retries: 0,
            retry_interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            recover_after: 1,
            sequential: false,
        },
        ..ServerSet::default()
    }
}

/// A TCP server that accepts and closes, for the sets to poll.
async fn tcp_server() -> u16 {
    let listener = tokio::net::TcpListener::bind((LOOPBACK, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    port
}

fn etag(head: &str) -> String {
    head.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("etag:")
                .then(|| l[5..].trim().to_string())
        })
        .unwrap_or_else(|| panic!("no ETag in {head}"))
}

/// The successes of the set's first server, as its API shows them.
async fn successes(api_address: SocketAddr, set: &str) -> Option<u64> {
    let status = api_ok(api_address, &format!("/serversets/{set}/status")).await?;
    status["servers"][0]["successes"].as_u64()
}

#[tokio::test]
async fn settings_edited_on_one_instance_reach_all_and_concurrent_edits_conflict() {
    bounded(async {
        let etcd = EtcdPeer::start(65).await;
        let port = tcp_server().await;
        let dir = tempfile::tempdir().unwrap();
        let url = etcd.url();
        let mut a = Instance::new(dir.path(), "berlin", &url, vec![set("web", port)]);
        let mut b = Instance::new(dir.path(), "paris", &url, Vec::new());
        let mut c = Instance::new(dir.path(), "tokyo", &url, Vec::new());

        // The first instance seeds the cluster with its sets; the others, joining with
        // none, take the cluster's.
        a.start().await;
        let client = etcd.client();
        wait("berlin's settings in etcd", || {
            let client = client.clone();
            async move { client.get("/standby/it/settings").await.ok().flatten() }
        })
        .await;
        b.start().await;
        c.start().await;
        for instance in [&a, &b, &c] {
            wait(&format!("web on {}", instance.name), || async {
                instance
                    .sets()
                    .await
                    .filter(|sets| sets == &["web".to_string()])
            })
            .await;
        }
        // The joiners' files now hold the cluster's sets (their cache).
        let cached = standby::model::file::load(&b.file).unwrap();
        assert_eq!(cached.server_sets.len(), 1, "{}", b.log());
        assert_eq!(
            cached.options.http_api.listen,
            b.api.to_string(),
            "the local part stays"
        );

        // GET /cluster and /metrics say so: cluster mode, the shared settings' revision.
        let cluster = api_ok(b.api, "/cluster").await.unwrap();
        assert_eq!(cluster["mode"], "cluster", "{cluster}");
        assert_eq!(cluster["instance"], "paris", "{cluster}");
        assert_eq!(cluster["shared_settings"]["etcd"], "reachable", "{cluster}");
        assert!(
            cluster["shared_settings"]["revision"].as_i64() > Some(0),
            "{cluster}"
        );
        // Since the engine runs cluster mode, etcd's reach in /metrics comes from the cluster
        // task, which reports once it holds its lease: wait for that, then check the rest.
        let metrics = wait("berlin's cluster task reporting etcd", || async {
            let (status, metrics) = api(a.api, "GET", "/metrics", "").await?;
            assert_eq!(status, 200);
            (sample(&metrics, "standby_cluster_etcd_reachable") == 1.0).then_some(metrics)
        })
        .await;
        let (ok, out) = promtool(&metrics);
        assert!(ok, "promtool: {out}\n{metrics}");
        assert_eq!(sample(&metrics, "standby_cluster_mode"), 1.0);
        assert_eq!(sample(&metrics, "standby_cluster_etcd_reachable"), 1.0);
        assert!(sample(&metrics, "standby_cluster_shared_settings_revision") > 0.0);

        // An edit through one instance's API reaches the two others.
        let mail = serde_json::to_string(&set("mail", port)).unwrap();
        let sent = Instant::now();
        let created = api(b.api, "POST", "/serversets", &mail).await;
        assert_eq!(created.as_ref().map(|r| r.0), Some(201), "{created:?}");
        // Both watched at once (every 25 ms): each figure is when that instance listed it.
        let mut reached: [Option<Duration>; 2] = [None, None];
        let until = Instant::now() + LIMIT;
        while reached.iter().any(Option::is_none) {
            for (i, instance) in [&a, &c].into_iter().enumerate() {
                if reached[i].is_none()
                    && instance
                        .sets()
                        .await
                        .is_some_and(|sets| sets.contains(&"mail".to_string()))
                {
                    reached[i] = Some(sent.elapsed());
                }
            }
            assert!(Instant::now() < until, "timed out waiting for mail: {reached:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let reached: Vec<Duration> = reached.into_iter().flatten().collect();
        // Issue 13 item 2 says "within 2 s": measured and printed (BENCHMARKS.md), not
        // asserted as a wall-clock limit (the API's answer and the polls of `sets()` are
        // in it, and a loaded machine stretches both).
        eprintln!(
            "settings propagation: an edit on paris (API POST) reached berlin and tokyo after {reached:?}"
        );

        // Two edits at once, on two instances, each from the revision its instance gave:
        // etcd's compare-and-swap lets exactly one win; the other is told of the conflict.
        let read = |instance: &Instance| {
            let api_address = instance.api;
            async move {
                let (status, head, body) =
                    api_with(api_address, "GET", "/serversets/web/config", &[], "")
                        .await
                        .unwrap();
                assert_eq!(status, 200, "{body}");
                (etag(&head), serde_json::from_str::<Value>(&body).unwrap())
            }
        };
        let mut outcomes = Vec::new();
        for round in 0..5 {
            let ((tag_a, mut config_a), (tag_c, mut config_c)) = tokio::join!(read(&a), read(&c));
            config_a["notes"] = Value::String(format!("berlin {round}"));
            config_c["notes"] = Value::String(format!("tokyo {round}"));
            let (body_a, body_c) = (config_a.to_string(), config_c.to_string());
            let put = |api_address, tag: String, body: String| async move {
                let headers = [("If-Match", tag.as_str())];
                api_with(
                    api_address,
                    "PUT",
                    "/serversets/web/config",
                    &headers,
                    &body,
                )
                .await
                .map(|(status, _, body)| (status, body))
                .unwrap()
            };
            let (put_a, put_c) = tokio::join!(put(a.api, tag_a, body_a), put(c.api, tag_c, body_c));
            let won = [&put_a, &put_c]
                .iter()
                .filter(|(status, _)| *status == 204)
                .count();
            let winner = if put_a.0 == 204 { "berlin" } else { "tokyo" };
            let loser = if put_a.0 == 204 { &put_c } else { &put_a };
            assert_eq!(won, 1, "exactly one wins: {put_a:?} {put_c:?}");
            // The loser lost in etcd (409) or, when the winner's change had reached its
            // instance already, to the revision it read (412): either way it is told.
            assert!(
                matches!(loser.0, 409 | 412),
                "the loser is told: {put_a:?} {put_c:?}"
            );
            let words = match loser.0 {
                409 => "another instance of the cluster changed the shared settings first",
                _ => "the settings changed since revision",
            };
            assert!(loser.1.contains(words), "{loser:?}");
            outcomes.push(loser.0);
            // Every instance ends on the winner's change.
            let want = format!("{winner} {round}");
            for instance in [&a, &b, &c] {
                wait(&format!("{want:?} on {}", instance.name), || async {
                    let config = api_ok(instance.api, "/serversets/web/config").await?;
                    (config["notes"] == want.as_str()).then_some(())
                })
                .await;
            }
        }
        eprintln!("the losers' answers over 5 rounds: {outcomes:?}");
    })
    .await;
}

#[tokio::test]
async fn without_etcd_an_instance_starts_from_its_file_polls_and_catches_up_later() {
    bounded(async {
        let mut etcd = EtcdPeer::start(66).await;
        let port = tcp_server().await;
        let dir = tempfile::tempdir().unwrap();
        let url = etcd.url();
        let mut a = Instance::new(dir.path(), "berlin", &url, vec![set("web", port)]);
        let mut b = Instance::new(dir.path(), "paris", &url, Vec::new());
        a.start().await;
        b.start().await;
        wait("web on paris", || async {
            b.sets().await.filter(|s| s == &["web".to_string()])
        })
        .await;

        // etcd goes; paris is restarted while it is gone.
        etcd.kill();
        if let Some(process) = b.process.take() {
            process.kill_9();
        }
        b.start().await;
        wait("paris on its file's sets", || async {
            b.sets().await.filter(|s| s == &["web".to_string()])
        })
        .await;
        let before = successes(b.api, "web").await.unwrap_or(0);
        wait("paris polling from its file", || async {
            successes(b.api, "web").await.filter(|n| *n > before)
        })
        .await;
        // GET /cluster says etcd is unreachable and that it runs on its copy.
        let cluster = wait("paris saying etcd is unreachable", || async {
            let cluster = api_ok(b.api, "/cluster").await?;
            (cluster["shared_settings"]["etcd"] == "unreachable").then_some(cluster)
        })
        .await;
        // The cluster task reports the same in its own view (no note: the view exists).
        assert_eq!(cluster["etcd"]["reachable"], false, "{cluster}");
        let why = cluster["etcd"]["error"].as_str().unwrap_or_default();
        assert!(why.contains("etcd unreachable"), "{cluster}");
        // The shared part cannot change without etcd, and says why.
        let mail = serde_json::to_string(&set("mail", port)).unwrap();
        let refused = api(b.api, "POST", "/serversets", &mail).await.unwrap();
        assert_eq!(refused.0, 503, "{refused:?}");
        assert!(refused.1.contains("etcd is unreachable"), "{refused:?}");

        // etcd is back: an edit on berlin reaches paris.
        etcd.start_again().await;
        wait("berlin's edit once etcd is back", || {
            let mail = mail.clone();
            let api_address = a.api;
            async move {
                match api(api_address, "POST", "/serversets", &mail).await {
                    Some((201, _)) => Some(()),
                    _ => None,
                }
            }
        })
        .await;
        wait("mail on paris", || async {
            b.sets().await.filter(|s| s.contains(&"mail".to_string()))
        })
        .await;
    })
    .await;
}

/// The Cluster window (File > Cluster...) on a real engine in cluster mode with a real
/// etcd: the shared settings' revision in force, the leader and the instances; with etcd
/// killed, that etcd is unreachable and the instance runs on its local copy.
#[test]
fn the_cluster_window_says_what_etcd_gives_and_when_it_is_gone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut etcd = runtime.block_on(EtcdPeer::start(67));
    let settings = Settings {
        cluster: Some(Cluster {
            endpoints: vec![etcd.url()],
            name: "ui".into(),
            instance: "berlin".into(),
            ..Cluster::default()
        }),
        ..Settings::default()
    };
    let mut w = crate::support::ui::Window::saving(settings);
    w.steps();
    w.click("File");
    w.click("Cluster...");
    assert!(w.has_window("Cluster"));
    w.wait_until("the revision in force", |w| {
        w.shows("Shared settings: etcd revision")
    });
    assert!(w.shows("This instance: berlin in cluster \"ui\""));
    // The only instance gets the lead and lists itself.
    w.wait_until("berlin leading", |w| w.shows("Leader: berlin"));
    assert!(w.shows("berlin (leader)"));
    etcd.kill();
    w.wait_until("etcd unreachable", |w| {
        w.shows("Shared settings: etcd unreachable since")
    });
    assert!(w.shows("running on the local copy"));
    w.wait_until("the cluster view's etcd line", |w| {
        w.shows("etcd: UNREACHABLE")
    });
    w.click_in("Cluster", "Close");
    w.wait_until_closed("Cluster");
}

//! Cluster mode (issue 13) against a real etcd (Debian's etcd-server, started by
//! tests/peers/etcd.sh on 127.0.0.x): the v3 JSON gateway client of `standby::cluster`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use standby::cluster::{Compare, Etcd, EtcdError, EventKind, TxnOutcome};
use standby::model::Cluster;

use crate::support::bounded;
use crate::support::peers::etcd::Etcd as EtcdPeer;

fn client_of(endpoints: Vec<String>) -> Etcd {
    let section = Cluster {
        endpoints,
        instance: "berlin".into(),
        ..Cluster::default()
    };
    Etcd::new(&section, Duration::from_secs(2)).unwrap()
}

#[tokio::test]
async fn values_round_trip_and_compare_and_swap_refuses_a_stale_revision() {
    bounded(async {
        let peer = EtcdPeer::start(61).await;
        let etcd = peer.client();
        assert_eq!(etcd.get("/standby/t/settings").await.unwrap(), None);
        let first = etcd.put("/standby/t/settings", b"one", None).await.unwrap();
        let kv = etcd.get("/standby/t/settings").await.unwrap().unwrap();
        assert_eq!((kv.value.as_slice(), kv.mod_revision), (&b"one"[..], first));

        // Two writers read revision `first`; the first to write wins, the second loses
        // and is shown what is there now.
        let stale = Compare::ModRevision("/standby/t/settings".into(), first);
        let won = etcd
            .put_if(&stale, "/standby/t/settings", b"two", None)
            .await
            .unwrap();
        let TxnOutcome::Written { revision } = won else {
            panic!("the first writer must win: {won:?}")
        };
        assert!(revision > first);
        let lost = etcd
            .put_if(&stale, "/standby/t/settings", b"three", None)
            .await
            .unwrap();
        match lost {
            TxnOutcome::Lost { current: Some(kv) } => {
                assert_eq!(kv.value, b"two");
                assert_eq!(kv.mod_revision, revision);
            }
            other => panic!("the second writer must lose: {other:?}"),
        }
        // Create-only: refused while the key exists, written once it is gone.
        let absent = Compare::Absent("/standby/t/settings".into());
        let exists = etcd
            .put_if(&absent, "/standby/t/settings", b"x", None)
            .await
            .unwrap();
        assert!(
            matches!(exists, TxnOutcome::Lost { current: Some(_) }),
            "{exists:?}"
        );
        assert_eq!(etcd.delete("/standby/t/settings").await.unwrap(), 1);
        let created = etcd
            .put_if(&absent, "/standby/t/settings", b"x", None)
            .await
            .unwrap();
        assert!(matches!(created, TxnOutcome::Written { .. }), "{created:?}");
    })
    .await;
}

#[tokio::test]
async fn a_prefix_reads_only_its_keys() {
    bounded(async {
        let peer = EtcdPeer::start(62).await;
        let etcd = peer.client();
        for key in [
            "/standby/a/x",
            "/standby/a/y",
            "/standby/ab/z",
            "/standby/b/x",
        ] {
            etcd.put(key, key.as_bytes(), None).await.unwrap();
        }
        let (kvs, revision) = etcd.get_prefix("/standby/a/").await.unwrap();
        let keys: Vec<&str> = kvs.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["/standby/a/x", "/standby/a/y"]);
        assert!(revision >= kvs.iter().map(|kv| kv.mod_revision).max().unwrap());
    })
    .await;
}

#[tokio::test]
async fn a_key_bound_to_a_lease_vanishes_when_the_lease_ends() {
    bounded(async {
        let peer = EtcdPeer::start(63).await;
        let etcd = peer.client();
        // Revoked: the key goes at once, and a keep-alive says the lease is gone.
        let lease = etcd.grant(5).await.unwrap();
        assert!(lease.ttl_secs >= 2, "{lease:?}");
        etcd.put("/standby/t/leader", b"berlin", Some(lease.id)).await.unwrap();
        let kv = etcd.get("/standby/t/leader").await.unwrap().unwrap();
        assert_eq!(kv.lease, lease.id);
        assert!(etcd.keep_alive(lease.id).await.unwrap() > 0);
        etcd.revoke(lease.id).await.unwrap();
        assert_eq!(etcd.get("/standby/t/leader").await.unwrap(), None);
        assert_eq!(
            etcd.keep_alive(lease.id).await,
            Err(EtcdError::LeaseExpired(lease.id))
        );

        // Not renewed: etcd lets it expire by itself, and the key goes with it.
        let lease = etcd.grant(2).await.unwrap();
        etcd.put("/standby/t/view", b"up", Some(lease.id)).await.unwrap();
        let started = tokio::time::Instant::now();
        while etcd.get("/standby/t/view").await.unwrap().is_some() {
            assert!(started.elapsed() < Duration::from_secs(15), "the lease never expired");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            etcd.keep_alive(lease.id).await,
            Err(EtcdError::LeaseExpired(lease.id))
        );
        // A key may not be bound to a lease that is gone.
        let refused = etcd.put("/standby/t/view", b"up", Some(lease.id)).await;
        assert!(
            matches!(&refused, Err(EtcdError::Refused { message, .. }) if message.contains("lease not found")),
            "{refused:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn a_dead_member_is_skipped_and_no_member_is_an_error_that_names_one() {
    bounded(async {
        let peer = EtcdPeer::start(64).await;
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 64));
        let (_held, refusing) = crate::support::ports::refusing_port(ip);
        let dead = format!("http://127.0.0.64:{refusing}");
        let etcd = client_of(vec![dead.clone(), peer.url()]);
        etcd.put("/standby/t/k", b"v", None).await.unwrap();
        assert_eq!(etcd.get("/standby/t/k").await.unwrap().unwrap().value, b"v");
        let alone = client_of(vec![dead.clone()]);
        match alone.get("/standby/t/k").await {
            Err(EtcdError::Unreachable { endpoint, .. }) => assert_eq!(endpoint, dead),
            other => panic!("a dead member must be unreachable: {other:?}"),
        }
    })
    .await;
}

/// The next `n` events of the watch, in order.
async fn events(watch: &mut standby::cluster::Watcher, n: usize) -> Vec<(EventKind, String, i64)> {
    let mut seen = Vec::new();
    while seen.len() < n {
        for event in watch.next().await.unwrap() {
            seen.push((event.kind, event.kv.key.clone(), event.revision()));
        }
    }
    seen
}

#[tokio::test]
async fn a_watch_follows_a_prefix_resumes_after_a_restart_and_reports_compaction() {
    bounded(async {
        let mut peer = EtcdPeer::start(61).await;
        let etcd = peer.client();
        let first = etcd.put("/standby/w/a", b"up", None).await.unwrap();
        // From the revision after a read: the changes after it, nothing before it, and
        // nothing outside the prefix.
        let mut watch = etcd.watch("/standby/w/", first + 1);
        let b = etcd.put("/standby/w/b", b"down", None).await.unwrap();
        etcd.put("/standby/x/other", b"no", None).await.unwrap();
        let _ = etcd.delete("/standby/w/a").await.unwrap();
        let seen = events(&mut watch, 2).await;
        assert_eq!(seen[0], (EventKind::Put, "/standby/w/b".into(), b));
        assert_eq!(seen[1].0, EventKind::Delete);
        assert_eq!(seen[1].1, "/standby/w/a");
        assert!(seen[1].2 > b + 1, "{seen:?}");
        assert_eq!(watch.next_revision(), seen[1].2 + 1);

        // etcd restarts: the stream breaks, a change is made while the watcher is away,
        // and the watcher resumes from the last revision seen + 1 (the change, once).
        peer.restart().await;
        let etcd = peer.client();
        let c = etcd.put("/standby/w/c", b"up", None).await.unwrap();
        let mut resumed = Vec::new();
        while resumed.is_empty() {
            match watch.next().await {
                Ok(batch) => resumed.extend(batch),
                Err(EtcdError::Unreachable { .. }) => {}
                Err(other) => panic!("a broken stream is unreachable, then resumes: {other:?}"),
            }
        }
        assert_eq!(resumed.len(), 1, "{resumed:?}");
        assert_eq!((resumed[0].kv.key.as_str(), resumed[0].revision()), ("/standby/w/c", c));

        // Revisions compacted away: a clear error, and it stays until a new watch.
        peer.compact(c);
        let mut stale = etcd.watch("/standby/w/", first);
        let compacted = stale.next().await;
        assert!(
            matches!(compacted, Err(EtcdError::Compacted { compact_revision }) if compact_revision == c),
            "{compacted:?}"
        );
        assert!(matches!(stale.next().await, Err(EtcdError::Compacted { .. })));
        // The caller re-reads and watches from there.
        let (kvs, at) = etcd.get_prefix("/standby/w/").await.unwrap();
        assert_eq!(kvs.len(), 2);
        let mut fresh = etcd.watch("/standby/w/", at + 1);
        let d = etcd.put("/standby/w/d", b"up", None).await.unwrap();
        assert_eq!(events(&mut fresh, 1).await[0].2, d);
    })
    .await;
}

/// Issue 13 item 3: an engine in cluster mode publishes its views under its lease when
/// they change and a heartbeat every lease time, not at every poll. 1,000 servers polled
/// every second (a tenth of the 10 s of the figure, to see many polls in a short test):
/// after the first statuses settle, the writes are the heartbeats alone. The figures are
/// printed for BENCHMARKS.md; the test asserts far fewer writes than polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn views_are_written_on_change_and_as_a_heartbeat_not_at_every_poll() {
    write_rate(1, 10, Duration::from_secs(1), 5).await;
}

/// The same for 10,000 servers polled every 10 s (the figure's cadence), two rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_servers_views_are_written_on_change_not_at_every_poll() {
    write_rate(2, 100, Duration::from_secs(10), 2).await;
}

/// `sets` sets of 100 servers on 127.`net`.S.1-100 (the first set's answer, the others
/// refuse), polled every `interval`; measured over `rounds` rounds of every server once
/// the first statuses are in etcd.
async fn write_rate(net: u8, sets: u8, interval: Duration, rounds: u64) {
    use standby::engine::{EngineConfig, EngineHandle};
    use standby::model::{PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};
    let servers = u64::from(sets) * 100;
    let limit = Duration::from_secs(60) + interval * (rounds as u32 + 3);
    tokio::time::timeout(limit, async {
        let peer = EtcdPeer::start(60 + net).await;
        let port = crate::support::ports::free_port(IpAddr::V4(Ipv4Addr::new(127, net, 0, 1)));
        let mut listeners = Vec::new();
        for k in 0..100u8 {
            let ip = IpAddr::V4(Ipv4Addr::new(127, net, 0, 1 + k));
            let listener = tokio::net::TcpListener::bind((ip, port)).await.unwrap();
            listeners.push(tokio::spawn(async move {
                while listener.accept().await.is_ok() {}
            }));
        }
        let ms = Duration::from_millis;
        let server_sets = (0..sets)
            .map(|s| ServerSet {
                name: format!("set{s}"),
                servers: (0..100u8)
                    .map(|k| Server {
                        public_ip: Ipv4Addr::new(127, net, s, 1 + k).to_string(),
                        ..Server::default()
                    })
                    .collect(),
                polling: PollMethod::Tcp(TcpPoll {
                    port: Some(port),
                    ..TcpPoll::default()
                }),
                frequency: PollFrequency {
                    interval,
                    failed_interval: interval,
                    retries: 0,
                    // Long enough that a loaded machine's slow answer is no status change.
                    timeout: (interval / 2).clamp(ms(500), ms(2000)),
                    ..PollFrequency::default()
                },
                ..ServerSet::default()
            })
            .collect();
        let settings = Settings {
            server_sets,
            cluster: Some(Cluster {
                endpoints: vec![peer.url()],
                name: "rate".into(),
                instance: "berlin".into(),
                lease_secs: 2,
                ..Cluster::default()
            }),
            ..Settings::default()
        };
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
        let mut watch = engine.watch();
        let counts = |s: &standby::engine::Snapshot| {
            (
                s.stats.polls_completed,
                s.cluster.as_ref().map_or(0, |c| c.etcd_writes),
            )
        };
        // Settled: every server's first status (up or down) is in etcd.
        let first = tokio::time::Instant::now();
        loop {
            if etcd_views(&peer).await as u64 == servers {
                break;
            }
            tokio::time::sleep(ms(100)).await;
        }
        // Writes counted by etcd's revision (one per put or transaction; this engine is
        // its only writer): the snapshot's counter may lag its last publish by a tick.
        let (polls0, writes0) = counts(&watch.borrow_and_update());
        let (_, rev0) = peer.client().get_prefix("/standby/rate/").await.unwrap();
        eprintln!(
            "cluster write rate: the first statuses of {servers} servers in etcd after {:.1} s, \
             at etcd revision {rev0} (the engine counted {writes0} writes)",
            first.elapsed().as_secs_f64()
        );
        let started = tokio::time::Instant::now();
        // More rounds of every server.
        let polls1 = loop {
            watch.changed().await.unwrap();
            let (polls, _) = counts(&watch.borrow_and_update());
            if polls >= polls0 + rounds * servers {
                break polls;
            }
        };
        let secs = started.elapsed().as_secs_f64();
        let (kvs, rev1) = peer.client().get_prefix("/standby/rate/").await.unwrap();
        let polls = polls1 - polls0;
        // Each failure (every set's but the first) is announced once, and what was
        // announced goes to etcd in transactions of its own (up to 100 problems each):
        // one-time writes that may fall into the window. They are not the views' writes.
        let announcing: std::collections::BTreeSet<i64> = kvs
            .iter()
            .filter(|kv| kv.key.contains("/announced/") && kv.mod_revision > rev0)
            .map(|kv| kv.mod_revision)
            .collect();
        let writes = u64::try_from(rev1 - rev0).unwrap() - announcing.len() as u64;
        eprintln!(
            "cluster write rate: {} transactions of announced failures meanwhile, not counted",
            announcing.len()
        );
        eprintln!(
            "cluster write rate: {polls} polls and {writes} etcd writes in {secs:.1} s \
             ({:.0} polls/s, {:.2} writes/s; {servers} servers every {interval:?}, lease 2 s)",
            polls as f64 / secs,
            writes as f64 / secs
        );
        let changed: Vec<_> = kvs.iter().filter(|kv| kv.mod_revision > rev0).collect();
        let views = changed
            .iter()
            .filter(|kv| kv.key.contains("/views/"))
            .count();
        eprintln!("cluster write rate: {views} views written again meanwhile (status changes)");
        assert!(polls >= rounds * servers);
        // The heartbeats (one per lease time) and nothing per poll.
        assert!(writes * 100 < polls, "{writes} writes for {polls} polls");
        assert!(writes >= 1, "no heartbeat in {secs:.1} s");
        engine.shutdown();
        for l in listeners {
            l.abort();
        }
    })
    .await
    .expect("test took too long");
}

/// How many of berlin's published views say up or down (not unknown: not polled yet).
async fn etcd_views(peer: &EtcdPeer) -> usize {
    let (kvs, _) = peer
        .client()
        .get_prefix("/standby/rate/views/berlin/")
        .await
        .unwrap_or_default();
    kvs.iter()
        .filter(|kv| !String::from_utf8_lossy(&kv.value).contains("\"seen\":\"unknown\""))
        .count()
}

//! Cluster mode (issue 13) against a real etcd (Debian's etcd-server, started by
//! tests/peers/etcd.sh on 127.0.0.x): the v3 JSON gateway client of `standby::cluster`.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use standby::cluster::{Compare, Etcd, EtcdError, TxnOutcome};
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

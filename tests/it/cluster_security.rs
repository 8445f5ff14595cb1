//! Cluster mode's secured etcd (issue 13 item 1) against a real etcd (tests/peers/etcd.sh):
//! TLS with a CA made by the test, client certificates (`--client-cert-auth`), and users
//! with a password (`etcdctl auth enable`), whose tokens expire (`--auth-token-ttl`) and are
//! replaced by a new login. Each works for a cluster instance (an in-memory engine that
//! takes the leadership), and each refusal is a prompt error that says why.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use standby::cluster::{Etcd, EtcdError};
use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::{Cluster, EtcdTls, Secret, Settings};

use crate::support::peers::etcd::Etcd as EtcdPeer;
use crate::support::{bounded, wait_until};

/// A CA made for one test, its certificate in a PEM file.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
    file: PathBuf,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("Standby test CA {name}"));
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let file = dir.join(format!("{name}-ca.crt"));
        std::fs::write(&file, issuer.pem()).unwrap();
        Ca { issuer, file }
    }

    /// A certificate for `names` (an IP address becomes an IP SAN) signed by this CA:
    /// (certificate file, key file).
    fn issue(
        &self,
        dir: &Path,
        file: &str,
        names: Vec<String>,
        usages: Vec<ExtendedKeyUsagePurpose>,
    ) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, file);
        params.extended_key_usages = usages;
        let cert = params.signed_by(&key, &*self.issuer).unwrap();
        let (cert_file, key_file) = (
            dir.join(format!("{file}.crt")),
            dir.join(format!("{file}.key")),
        );
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }

    /// etcd's certificate for `ip`. Client use too: etcd's own gateway dials its gRPC
    /// server with it, which checks it as a client certificate under `--client-cert-auth`.
    fn server(&self, dir: &Path, ip: IpAddr) -> (PathBuf, PathBuf) {
        let usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        self.issue(dir, "etcd", vec![ip.to_string()], usages)
    }

    fn client(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(dir, name, Vec::new(), usages)
    }
}

fn ip(host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))
}

/// etcd's flags to serve https with `cert`.
fn tls_flags(cert: &(PathBuf, PathBuf)) -> Vec<String> {
    vec![
        "--cert-file".into(),
        cert.0.display().to_string(),
        "--key-file".into(),
        cert.1.display().to_string(),
    ]
}

fn tls(ca: Option<&Path>, client: Option<&(PathBuf, PathBuf)>) -> Option<EtcdTls> {
    Some(EtcdTls {
        ca_file: ca.map(Path::to_path_buf),
        client_certificate: client.map(|c| c.0.clone()),
        client_key: client.map(|c| c.1.clone()),
    })
}

/// The peer's section as an instance's: cluster `sec`, instance `berlin`.
fn instance(peer: &EtcdPeer, change: impl FnOnce(&mut Cluster)) -> Cluster {
    let mut section = Cluster {
        name: "sec".into(),
        instance: "berlin".into(),
        lease_secs: 2,
        ..peer.access()
    };
    change(&mut section);
    section
}

fn client_of(section: &Cluster) -> Etcd {
    // Long: a refusal must come from TLS or etcd at once, not from this time-out.
    Etcd::new(section, Duration::from_secs(20)).unwrap()
}

fn engine_of(section: Cluster) -> EngineHandle {
    let settings = Settings {
        cluster: Some(section),
        ..Settings::default()
    };
    EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap()
}

/// The instance leads (its own election key, proved) and etcd answers it.
async fn leads(engine: &EngineHandle, peer: &EtcdPeer) {
    let leading = |s: &Snapshot| {
        s.cluster
            .as_ref()
            .is_some_and(|c| c.is_leader && c.etcd.reachable)
    };
    wait_until(engine, "berlin leads", leading).await;
    let key = peer.client().get("/standby/sec/leader").await.unwrap();
    assert_eq!(key.map(|kv| kv.value), Some(b"berlin".to_vec()));
}

/// The instance's etcd error once it has one that contains `word`.
async fn etcd_error(engine: &EngineHandle, word: &str) -> String {
    let has = |s: &Snapshot| {
        s.cluster
            .as_ref()
            .and_then(|c| c.etcd.error.as_deref())
            .is_some_and(|e| e.contains(word))
    };
    let snapshot = wait_until(engine, &format!("an etcd error naming {word}"), has).await;
    let cluster = snapshot.cluster.as_ref().unwrap();
    assert!(!cluster.is_leader);
    cluster.etcd.error.clone().unwrap()
}

/// The error of a call that etcd or TLS must refuse (at once: not the client's time-out).
async fn refused(section: &Cluster) -> EtcdError {
    let started = tokio::time::Instant::now();
    let error = client_of(section)
        .put("/standby/sec/probe", b"x", None)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "a refusal, not a time-out: {error}"
    );
    eprintln!("refused: {error}");
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_over_tls_serves_a_client_with_its_ca_and_refuses_one_without() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "etcd");
        let cert = ca.server(dir.path(), ip(71));
        let access = Cluster {
            tls: tls(Some(&ca.file), None),
            ..Cluster::default()
        };
        let peer = EtcdPeer::start_with(ip(71), tls_flags(&cert), access).await;
        assert!(
            peer.url().starts_with("https://127.0.0.71:"),
            "{}",
            peer.url()
        );

        // With the CA: every call, the watch's stream too, and an instance that leads.
        let etcd = client_of(&instance(&peer, |_| {}));
        let (_, at) = etcd.get_prefix("/standby/sec/").await.unwrap();
        let mut watch = etcd.watch("/standby/sec/", at + 1);
        let written = etcd.put("/standby/sec/k", b"v", None).await.unwrap();
        let seen = watch.next().await.unwrap();
        assert_eq!(seen[0].revision(), written);
        let engine = engine_of(instance(&peer, |_| {}));
        leads(&engine, &peer).await;
        engine.shutdown();

        // Without it (the system's roots) and with another CA: refused, naming the
        // certificate; the instance says so and does not lead.
        let other = Ca::new(dir.path(), "other");
        for tls in [tls(None, None), tls(Some(&other.file), None)] {
            let section = instance(&peer, |s| s.tls = tls);
            let error = refused(&section).await;
            let names_the_ca = |reason: &str| {
                reason.contains("invalid peer certificate") && reason.contains("tls.ca_file")
            };
            assert!(
                matches!(&error, EtcdError::Tls { reason, .. } if names_the_ca(reason)),
                "{error}"
            );
            let engine = engine_of(section);
            let shown = etcd_error(&engine, "TLS with etcd failed").await;
            assert!(names_the_ca(&shown), "{shown}");
            engine.shutdown();
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_client_certificates_serves_only_a_client_with_one() {
    bounded(async {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), "etcd");
        let cert = ca.server(dir.path(), ip(72));
        let mut flags = tls_flags(&cert);
        flags.extend(["--client-cert-auth".into(), "--trusted-ca-file".into()]);
        flags.push(ca.file.display().to_string());
        let admin = ca.client(dir.path(), "admin");
        let access = Cluster {
            tls: tls(Some(&ca.file), Some(&admin)),
            ..Cluster::default()
        };
        let peer = EtcdPeer::start_with(ip(72), flags, access).await;

        // With a certificate of etcd's CA: calls and an instance that leads.
        let berlin = ca.client(dir.path(), "berlin");
        let section = instance(&peer, |s| s.tls = tls(Some(&ca.file), Some(&berlin)));
        client_of(&section)
            .put("/standby/sec/k", b"v", None)
            .await
            .unwrap();
        let engine = engine_of(section);
        leads(&engine, &peer).await;
        engine.shutdown();

        // Without one, or with one of another CA: refused, naming the certificate.
        let other = Ca::new(dir.path(), "other");
        let stranger = other.client(dir.path(), "stranger");
        for client in [None, Some(&stranger)] {
            let section = instance(&peer, |s| s.tls = tls(Some(&ca.file), client));
            let error = refused(&section).await;
            let names_the_certificate =
                |reason: &str| reason.contains("refused this instance's client certificate");
            assert!(
                matches!(&error, EtcdError::Tls { reason, .. } if names_the_certificate(reason)),
                "{error}"
            );
            let engine = engine_of(section);
            let shown = etcd_error(&engine, "TLS with etcd failed").await;
            assert!(names_the_certificate(&shown), "{shown}");
            engine.shutdown();
        }
    })
    .await;
}

/// An etcd on 127.0.0.`host` over TLS (its CA in the returned directory, as the documented
/// set-up has it: the password never in clear) with authentication enabled: `root`
/// (password `rootpw`, the peer's own client) and `standby` (password `pw`), whose role may
/// read and write `/standby/sec/` alone.
async fn with_users(host: u8, more_flags: &[&str]) -> (EtcdPeer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new(dir.path(), "etcd");
    let mut flags = tls_flags(&ca.server(dir.path(), ip(host)));
    flags.extend(more_flags.iter().map(|f| f.to_string()));
    let access = Cluster {
        tls: tls(Some(&ca.file), None),
        ..Cluster::default()
    };
    let mut peer = EtcdPeer::start_with(ip(host), flags, access).await;
    let prefix = "/standby/sec/";
    let steps: [&[&str]; 8] = [
        &["user", "add", "root:rootpw"],
        &["role", "add", "root"],
        &["user", "grant-role", "root", "root"],
        &["user", "add", "standby:pw"],
        &["role", "add", "standby"],
        &[
            "role",
            "grant-permission",
            "standby",
            "--prefix=true",
            "readwrite",
            prefix,
        ],
        &["user", "grant-role", "standby", "standby"],
        &["auth", "enable"],
    ];
    for step in steps {
        peer.etcdctl(step);
    }
    peer.log_in_as("root", "rootpw");
    (peer, dir)
}

fn as_user(peer: &EtcdPeer, user: &str, password: &str) -> Cluster {
    instance(peer, |s| {
        s.user = user.into();
        s.password = Secret::new(password);
    })
}

/// How many times etcd has refused a token that it no longer holds.
fn invalid_tokens(peer: &EtcdPeer) -> usize {
    peer.log().matches("invalid auth token").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_with_users_serves_the_right_password_and_names_a_wrong_one() {
    bounded(async {
        let (mut peer, _certificates) = with_users(73, &[]).await;

        // The right password: calls under the role's prefix, refused elsewhere.
        let etcd = client_of(&as_user(&peer, "standby", "pw"));
        etcd.put("/standby/sec/k", b"v", None).await.unwrap();
        let outside = etcd.put("/standby/other/k", b"v", None).await.unwrap_err();
        eprintln!("outside: {outside}");
        assert!(
            outside.to_string().contains("permission denied"),
            "{outside}"
        );
        let engine = engine_of(as_user(&peer, "standby", "pw"));
        leads(&engine, &peer).await;
        engine.shutdown();

        // A wrong password, and no user at all: refused, saying why.
        let error = refused(&as_user(&peer, "standby", "wrong")).await;
        let text = error.to_string();
        assert!(
            text.contains("login as \"standby\": etcdserver: authentication failed"),
            "{text}"
        );
        assert!(
            !text.contains("wrong"),
            "the password must not show: {text}"
        );
        let engine = engine_of(as_user(&peer, "standby", "wrong"));
        etcd_error(&engine, "authentication").await;
        engine.shutdown();
        let error = refused(&instance(&peer, |s| s.user.clear())).await;
        assert!(
            error.to_string().contains("set the cluster's user"),
            "{error}"
        );

        // etcd restarts and forgets its tokens (simple tokens live in its memory): the
        // client's token is refused once, and it logs in again.
        let before = invalid_tokens(&peer);
        peer.restart().await;
        assert_eq!(
            etcd.get("/standby/sec/k").await.unwrap().unwrap().value,
            b"v"
        );
        assert!(
            invalid_tokens(&peer) > before,
            "the old token was not refused"
        );
    })
    .await;
}

/// `--auth-token-ttl 1`: a token unused for a second expires. The client logs in again,
/// and an instance keeps leading through many expiries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_token_is_replaced_by_a_new_login() {
    bounded(async {
        let (peer, _certificates) = with_users(74, &["--auth-token-ttl", "1"]).await;
        let etcd = client_of(&as_user(&peer, "standby", "pw"));
        etcd.put("/standby/sec/k", b"v", None).await.unwrap();
        // Idle past the TTL (etcd checks its tokens every second), then a call: until etcd
        // says it refused the expired token, each call must still succeed.
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        while invalid_tokens(&peer) == 0 {
            assert!(
                tokio::time::Instant::now() < until,
                "the token never expired"
            );
            tokio::time::sleep(Duration::from_millis(2500)).await;
            let kv = etcd.get("/standby/sec/k").await.unwrap();
            assert_eq!(kv.unwrap().value, b"v");
        }

        // An instance: its writes are spaced by more than the TTL (a heartbeat per lease
        // time), so its tokens expire again and again while it leads.
        let engine = engine_of(as_user(&peer, "standby", "pw"));
        leads(&engine, &peer).await;
        let before = invalid_tokens(&peer);
        let writes = |s: &Snapshot| s.cluster.as_ref().map_or(0, |c| c.etcd_writes);
        let start = writes(&engine.snapshot());
        let until = tokio::time::Instant::now() + Duration::from_secs(30);
        while invalid_tokens(&peer) < before + 3 {
            assert!(
                tokio::time::Instant::now() < until,
                "no token of the instance expired"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let snapshot = wait_until(&engine, "more heartbeats", |s| writes(s) > start + 1).await;
        let cluster = snapshot.cluster.as_ref().unwrap();
        assert!(
            cluster.is_leader && cluster.etcd.reachable,
            "{:?}",
            cluster.etcd
        );
        engine.shutdown();
    })
    .await;
}

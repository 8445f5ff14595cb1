//! International host names (issue 17 item 9) against a real BIND: a set whose host name
//! is typed in Unicode (`bücher.example.test`) updates BIND over RFC 2136 with TSIG, and
//! BIND then answers the punycode name (`xn--bcher-kva.example.test`), asked with dig; and
//! the names Standby resolves itself (a DNS server by name, a notification URL's host) are
//! asked as punycode of the tests' own resolver.

use std::time::Duration;

use standby::model::{DnsServer, Rfc2136Update, TsigAlgorithm, UpdateMethod};

use crate::support::dns_sync::{settings, start};
use crate::support::peers::{Kind, Peer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unicode_host_name_reaches_bind_as_punycode() {
    let bind = Peer::primary(Kind::Bind).await;
    let key = bind.key(TsigAlgorithm::HmacSha256);
    let dns = DnsServer {
        address: bind.addr.ip().to_string(),
        port: bind.addr.port(),
        update: UpdateMethod::Rfc2136(Rfc2136Update { tsig: Some(key) }),
        ..DnsServer::default()
    };
    let settings = settings(&["192.0.2.77"], &["bücher.example.test"], vec![dns]).await;
    assert_eq!(standby::model::validate(&settings), Vec::new());
    let engine = start(settings);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = bind.dig("xn--bcher-kva.example.test", "A").await;
        if got == ["192.0.2.77"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "BIND gives {got:?} for xn--bcher-kva.example.test"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The engine's pair carries the name as DNS does.
    let snapshot = engine.snapshot();
    let pairs = &snapshot.set("web").unwrap().dns;
    assert_eq!(pairs[0].host, "xn--bcher-kva.example.test");
}

const RESOLVER_CHILD: &str = "STANDBY_TEST_IDN_RESOLVER_CHILD";
const RESOLVER_TEST: &str = "unicode_names_are_resolved_as_punycode_through_the_tests_resolver";
/// The notification receiver's address, and the Unicode names Standby resolves itself.
const HOOK_IP: [u8; 4] = [127, 0, 0, 69];
const HOOK_HOST: &str = "bücher.example.test";
const HOOK_ASCII: &str = "xn--bcher-kva.example.test";
const NS_HOST: &str = "nämeserver.example.test";
const NS_ASCII: &str = "xn--nmeserver-v2a.example.test";

/// Standby resolves some names itself, through the system's resolver (getaddrinfo): a DNS
/// server given by name, and the host of a notification or DNS-update URL (reqwest). Typed
/// in Unicode, they must be asked as punycode. The system's resolver reads
/// /etc/resolv.conf and asks port 53 only, so the test reruns itself under `unshare
/// --mount` and bind-mounts a resolv.conf of its own over it, naming an unbound on
/// 127.0.0.x:53 that knows only the test's names: nothing is asked outside the machine,
/// and no other process sees the change. Needs root (CI runs as root); without it the
/// test is skipped with a banner.
#[test]
fn unicode_names_are_resolved_as_punycode_through_the_tests_resolver() {
    if std::env::var_os(RESOLVER_CHILD).is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(resolved());
        return;
    }
    crate::support::process::rerun_in_mount_namespace(
        module_path!(),
        RESOLVER_TEST,
        RESOLVER_CHILD,
        "a mount namespace with a resolv.conf of its own",
    );
}

async fn resolved() {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use standby::model::tags::TagValues;
    use standby::model::{HttpRequest, HttpVerb, NotificationKind};
    use standby::notify::{NotifyConfig, build};

    use crate::support::notify::Recorder;
    use crate::support::peers::unbound::Unbound;
    use crate::support::ports::port_free;

    let bind = Peer::primary(Kind::Bind).await;
    let hook_ip = IpAddr::from(HOOK_IP);
    let recorder = Recorder::start(hook_ip, 0).await;
    let resolver_ip = (201..=210)
        .map(|n| IpAddr::V4(Ipv4Addr::new(127, 0, 0, n)))
        .find(|ip| port_free(SocketAddr::new(*ip, 53)))
        .expect("port 53 free on some 127.0.0.x (the tests run as root)");
    let unbound = Unbound::start_at(
        SocketAddr::new(resolver_ip, 53),
        &[],
        &format!(
            "log-queries: yes\n\
             local-zone: \"example.test.\" static\n\
             local-data: \"{HOOK_ASCII}. 60 IN A {hook_ip}\"\n\
             local-data: \"{NS_ASCII}. 60 IN A {}\"\n",
            bind.addr.ip()
        ),
        "",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("resolv.conf");
    std::fs::write(
        &conf,
        format!("nameserver {resolver_ip}\noptions timeout:2 attempts:1\n"),
    )
    .unwrap();
    let mounted = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&conf)
        .arg("/etc/resolv.conf")
        .status()
        .unwrap();
    assert!(mounted.success(), "mount --bind resolv.conf: {mounted}");

    // A notification whose URL names its host in Unicode: reqwest resolves the punycode.
    let kind = NotificationKind::Http(HttpRequest {
        verb: HttpVerb::Post,
        url: format!("http://{HOOK_HOST}:{}/hook", recorder.port),
        body: "{\"text\":\"$EVENT$\"}".into(),
        ..HttpRequest::default()
    });
    let notifier = build(&kind, &NotifyConfig::default()).unwrap();
    let tags = TagValues::new().with("EVENT", "Server failed");
    let sent = tokio::time::timeout(Duration::from_secs(20), notifier.send(&tags))
        .await
        .expect("sent in time");
    assert!(sent.is_ok(), "{sent:?}\n{}", unbound.log());
    let requests = recorder.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("host"),
        Some(format!("{HOOK_ASCII}:{}", recorder.port).as_str())
    );

    // A DNS server given by a Unicode name: the engine resolves it and updates BIND there.
    let dns = DnsServer {
        address: NS_HOST.into(),
        port: bind.addr.port(),
        update: UpdateMethod::Rfc2136(Rfc2136Update {
            tsig: Some(bind.key(TsigAlgorithm::HmacSha256)),
        }),
        ..DnsServer::default()
    };
    let mut settings = settings(&["192.0.2.78"], &["www.example.test"], vec![dns]).await;
    // The helper asks the first DNS server for the zone's name servers; that takes an IP.
    settings.options.dns_updating.propagation_resolver = bind.addr.to_string();
    assert_eq!(standby::model::validate(&settings), Vec::new());
    let _engine = start(settings);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = bind.dig("www.example.test", "A").await;
        if got == ["192.0.2.78"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "BIND gives {got:?} for www.example.test\n{}",
            unbound.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The resolver was asked the punycode names (and nothing else resolved them: only it
    // knows them).
    let log = unbound.log();
    for name in [HOOK_ASCII, NS_ASCII] {
        assert!(
            log.contains(&format!("{name}. A IN")),
            "{name} not asked:\n{log}"
        );
    }
}

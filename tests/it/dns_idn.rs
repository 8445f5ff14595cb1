//! International host names (issue 17 item 9) against a real BIND: a set whose host name
//! is typed in Unicode (`bücher.example.test`) updates BIND over RFC 2136 with TSIG, and
//! BIND then answers the punycode name (`xn--bcher-kva.example.test`), asked with dig.

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

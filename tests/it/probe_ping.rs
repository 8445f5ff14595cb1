//! Ping polling: loopback v4 and v6 answer; a host in a network namespace made here (a veth
//! pair on 198.18.0.0/15, the range RFC 2544 sets aside for test networks: neither a private
//! range nor the Internet; nothing leaves the machine) ignores echoes (3 tries, then a
//! time-out) or routes to an `unreachable` route (an ICMP host unreachable, a failure at once).
//!
//! Needs root or CAP_NET_RAW where datagram ICMP sockets are not allowed (CI runs as
//! root). Without them the build error must say what to change, which is then checked.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::time::Duration;

use standby::probe::ping::PingProbe;
use standby::probe::{BuildError, PollOutcome, PollTarget, Probe};

use crate::support::{bounded, test_name};

fn target(address: IpAddr, timeout: Duration) -> PollTarget {
    PollTarget {
        address,
        public_address: address,
        name: "test".into(),
        host: "www.example.test".into(),
        set_name: "set".into(),
        timeout,
    }
}

/// The probe, or `None` when this machine allows no ICMP socket to this user — then the
/// build error must name the fix.
fn probe() -> Option<PingProbe> {
    match PingProbe::new() {
        Ok(probe) => Some(probe),
        Err(BuildError::Invalid(text)) => {
            assert!(text.contains("ping_group_range"), "{text}");
            eprintln!("ICMP not allowed here; checked the problem text only: {text}");
            None
        }
        Err(e) => panic!("unexpected build error: {e}"),
    }
}

async fn ping(probe: &PingProbe, address: IpAddr, timeout: Duration) -> PollOutcome {
    probe.poll(&target(address, timeout)).await
}

#[tokio::test]
async fn loopback_v4_and_v6_answer() {
    bounded(async {
        let Some(probe) = probe() else { return };
        let v4 = ping(
            &probe,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Duration::from_secs(5),
        )
        .await;
        assert!(v4.is_success(), "{v4:?}");
        assert!(v4.response.starts_with("echo reply in "), "{v4:?}");
        let v4b = ping(
            &probe,
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)),
            Duration::from_secs(5),
        )
        .await;
        assert!(v4b.is_success(), "{v4b:?}");
        let v6 = ping(
            &probe,
            IpAddr::V6(Ipv6Addr::LOCALHOST),
            Duration::from_secs(5),
        )
        .await;
        assert!(v6.is_success(), "{v6:?}");
        // Many polls at once share the socket and each gets its own reply.
        let probe = std::sync::Arc::new(probe);
        let polls: Vec<_> = (1..=20u8)
            .map(|i| {
                let probe = probe.clone();
                let address = IpAddr::V4(Ipv4Addr::new(127, 0, 1, i));
                tokio::spawn(async move { ping(&probe, address, Duration::from_secs(5)).await })
            })
            .collect();
        for poll in polls {
            let outcome = poll.await.unwrap();
            assert!(outcome.is_success(), "{outcome:?}");
        }
    })
    .await;
}

/// A network namespace joined to this one by a veth pair: `host` (in the namespace)
/// ignores echo requests; `routed` is a /24 the namespace routes to `unreachable`.
/// Removed when dropped (deleting the namespace deletes the pair and the route).
struct Namespace {
    name: String,
    host: Ipv4Addr,
    routed: Ipv4Addr,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

impl Namespace {
    /// `None` when namespaces cannot be made here (not root, no `ip`).
    fn new() -> Option<Self> {
        let id = std::process::id() % 250;
        let name = format!("sbping{}", std::process::id());
        let (outer, inner) = (format!("sbp{id}a"), format!("sbp{id}b"));
        if !ip(&["netns", "add", &name]) {
            return None;
        }
        let ns = Namespace {
            name: name.clone(),
            host: Ipv4Addr::new(198, 18, id as u8, 2),
            routed: Ipv4Addr::new(198, 19, id as u8, 1),
        };
        let ours = format!("198.18.{id}.1/30");
        let theirs = format!("198.18.{id}.2/30");
        let routed = format!("198.19.{id}.0/24");
        let via = format!("198.18.{id}.2");
        let steps: [&[&str]; 9] = [
            &[
                "link", "add", &outer, "type", "veth", "peer", "name", &inner, "netns", &name,
            ],
            &["addr", "add", &ours, "dev", &outer],
            &["link", "set", &outer, "up"],
            &["-n", &name, "addr", "add", &theirs, "dev", &inner],
            &["-n", &name, "link", "set", &inner, "up"],
            &["-n", &name, "link", "set", "lo", "up"],
            &["-n", &name, "route", "add", "unreachable", &routed],
            &["route", "add", &routed, "via", &via, "dev", &outer],
            &[
                "netns",
                "exec",
                &name,
                "sysctl",
                "-qw",
                "net.ipv4.icmp_echo_ignore_all=1",
            ],
        ];
        for step in steps {
            assert!(ip(step), "ip {}", step.join(" "));
        }
        assert!(ip(&[
            "netns",
            "exec",
            &name,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1"
        ]));
        Some(ns)
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        ip(&["netns", "del", &self.name]);
    }
}

#[tokio::test]
async fn no_reply_is_retried_and_unreachable_fails_at_once() {
    bounded(async {
        let Some(probe) = probe() else { return };
        let Some(ns) = Namespace::new() else {
            eprintln!("SKIPPED: cannot create a network namespace here (not root?)");
            return;
        };
        // Sanity: the namespace is reachable (its neighbour answers ARP), so what follows
        // is about ICMP, not a broken link.
        let started = std::time::Instant::now();
        let silent = ping(&probe, IpAddr::V4(ns.host), Duration::from_secs(10)).await;
        assert_eq!(silent.failure.map(|f| f.code()), Some(124), "{silent:?}");
        assert_eq!(
            silent.response,
            "timeout: no echo reply after 3 tries of 1 s"
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(2900) && took < Duration::from_secs(5),
            "{took:?}"
        );

        let started = std::time::Instant::now();
        let unreachable = ping(&probe, IpAddr::V4(ns.routed), Duration::from_secs(10)).await;
        assert_eq!(
            unreachable.failure.map(|f| f.code()),
            Some(114),
            "{unreachable:?}"
        );
        assert!(
            unreachable
                .response
                .starts_with("host unreachable (ICMP from 198.18."),
            "{unreachable:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "an unreachable ends the poll at once"
        );

        // A poll time-out shorter than 3 tries cuts them short and says so.
        let short = ping(&probe, IpAddr::V4(ns.host), Duration::from_millis(1500)).await;
        assert_eq!(short.response, "timeout: no echo reply within 1.5 s");
    })
    .await;
}

/// Where the OS allows datagram ICMP sockets the probe works without raw ones: this test
/// runs the loopback test again inside a network namespace of its own whose
/// `net.ipv4.ping_group_range` admits every group (the setting is per namespace, so the
/// machine's own stays as it is). Datagram sockets are tried first, so they are the ones
/// used there.
#[test]
fn datagram_sockets_where_the_system_allows_them() {
    if std::env::var_os("STANDBY_PING_IN_NETNS").is_some() {
        return; // the inner run: only the loopback test matters there
    }
    let name = format!("sbdgram{}", std::process::id());
    if !ip(&["netns", "add", &name]) {
        eprintln!("SKIPPED: cannot create a network namespace here (not root?)");
        return;
    }
    struct Delete(String);
    impl Drop for Delete {
        fn drop(&mut self) {
            ip(&["netns", "del", &self.0]);
        }
    }
    let _delete = Delete(name.clone());
    assert!(ip(&["-n", &name, "link", "set", "lo", "up"]));
    assert!(ip(&[
        "netns",
        "exec",
        &name,
        "sysctl",
        "-qw",
        "net.ipv4.ping_group_range=0 2147483647"
    ]));
    let output = Command::new("ip")
        .args(["netns", "exec", &name])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_name(module_path!(), "loopback_v4_and_v6_answer"),
        ])
        .env("STANDBY_PING_IN_NETNS", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && text.contains("1 passed"),
        "{text}"
    );
}

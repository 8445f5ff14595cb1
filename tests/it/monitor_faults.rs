//! The monitor's own faults are not the servers' faults: a real engine in a child process
//! with a low open-file limit runs out of file descriptors while it polls two working TCP
//! servers. No server may fail, the decision (what DNS gives) may not move, and the
//! monitor's own problem is shown — then cleared once descriptors are free again.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use standby::engine::problems::{MONITOR_SHORTAGE, MONITOR_SUBJECT};
use standby::engine::server_state::ServerStatus;
use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::{
    DnsData, EventKind, PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll,
};

use crate::support::{test_name, wait_until};

/// Set in the child that really runs the engine (the limit is lowered there only, so that
/// other tests of this binary keep their descriptors).
const CHILD: &str = "STANDBY_TEST_FD_EXHAUSTION_CHILD";
const TEST: &str = "running_out_of_file_descriptors_fails_no_server";

#[test]
fn running_out_of_file_descriptors_fails_no_server() {
    if std::env::var_os(CHILD).is_some() {
        lower_the_limit();
        runtime().block_on(exhaust_and_recover());
        return;
    }
    run_child(CHILD, TEST);
}

const PING_CHILD: &str = "STANDBY_TEST_PING_EXHAUSTION_CHILD";
const PING_TEST: &str = "a_ping_without_descriptors_is_the_monitors_fault";

/// A ping poll that cannot open its ICMP socket for want of descriptors is a local failure
/// (kind 5), and the next poll once descriptors are back works: the failed open is not kept.
#[test]
fn a_ping_without_descriptors_is_the_monitors_fault() {
    if std::env::var_os(PING_CHILD).is_some() {
        lower_the_limit();
        runtime().block_on(ping_without_descriptors());
        return;
    }
    run_child(PING_CHILD, PING_TEST);
}

/// Runs this binary's test `test` alone in a child process with `env` set, and waits for it.
fn run_child(env: &str, test: &str) {
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            &test_name(module_path!(), test),
            "--nocapture",
            "--test-threads=1",
        ])
        .env(env, "1")
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child {test} did not finish in 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the child's test {test} failed: {status}");
}

fn lower_the_limit() {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    // Low enough to exhaust quickly, high enough for the runtime and the engine.
    let hard = getrlimit(Resource::Nofile).maximum;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(256),
            maximum: hard,
        },
    )
    .unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Opens `/dev/null` until EMFILE; the files hold every descriptor left.
fn take_every_descriptor() -> Vec<std::fs::File> {
    let mut held = Vec::new();
    loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MFILE.raw_os_error()) => {
                return held;
            }
            Err(e) => panic!("unexpected error while exhausting descriptors: {e}"),
        }
    }
}

async fn ping_without_descriptors() {
    use standby::probe::ping::PingProbe;
    use standby::probe::{FailureKind, PollTarget, Probe};
    let probe = match PingProbe::new() {
        Ok(probe) => probe,
        Err(e) => {
            // probe_ping checks this problem's text; CI runs as root, where ICMP works.
            eprintln!("ICMP not allowed here, nothing to exhaust: {e}");
            return;
        }
    };
    let target = |address: IpAddr| PollTarget {
        address,
        public_address: address,
        name: "test".into(),
        host: "www.example.test".into(),
        set_name: "set".into(),
        timeout: Duration::from_secs(5),
    };
    let v4 = target("127.0.0.1".parse().unwrap());
    let held = take_every_descriptor();
    let outcome = probe.poll(&v4).await;
    drop(held);
    let failure = outcome.failure.expect("a failure without descriptors");
    assert_eq!(failure.kind, FailureKind::Local, "{outcome:?}");
    assert!(outcome.is_local_fault());
    assert!(
        outcome
            .response
            .starts_with("this monitor is out of file descriptors"),
        "{outcome:?}"
    );
    let again = probe.poll(&v4).await;
    assert!(again.is_success(), "{again:?}");
}

async fn tcp_server(ip: IpAddr, port: u16) {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, port))
        .await
        .unwrap();
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => drop(stream),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    });
}

fn any_failed(s: &Snapshot) -> bool {
    s.set("web")
        .is_some_and(|w| w.servers.iter().any(|v| v.status != ServerStatus::Ok))
}

fn monitor_problem(s: &Snapshot) -> Option<&standby::engine::problems::Problem> {
    s.problems
        .iter()
        .find(|p| p.set.is_empty() && p.subject == MONITOR_SUBJECT)
}

async fn exhaust_and_recover() {
    let a: IpAddr = "127.0.0.2".parse().unwrap();
    let b: IpAddr = "127.0.0.3".parse().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind(SocketAddr::new(a, 0)).unwrap();
        probe.local_addr().unwrap().port()
    };
    tcp_server(a, port).await;
    tcp_server(b, port).await;
    let mut settings = Settings::default();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: vec![
            Server {
                public_ip: a.to_string(),
                ..Server::default()
            },
            Server {
                public_ip: b.to_string(),
                ..Server::default()
            },
        ],
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        // No retries: a single poll counted against a server would fail it.
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 0,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
            recover_after: 1,
            sequential: false,
        },
        dns: DnsData {
            host_names: vec!["www.example.test".into()],
            ..DnsData::default()
        },
        ..ServerSet::default()
    });
    let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
    let mut events = engine.events();
    let before = wait_until(&engine, "both servers are OK", |s| {
        s.set("web")
            .is_some_and(|w| w.servers.iter().all(|v| v.status == ServerStatus::Ok))
    })
    .await;
    let decision = before.set("web").unwrap().decision.clone();
    assert!(decision.addresses().is_some(), "{decision:?}");

    let held = take_every_descriptor();
    let polls_at_exhaustion = engine.snapshot().stats.polls_completed;
    // The monitor's problem shows (or, the defect, a server fails): whichever comes first.
    let s = wait_until(&engine, "the monitor's problem or a failed server", |s| {
        monitor_problem(s).is_some() || any_failed(s)
    })
    .await;
    assert!(!any_failed(&s), "a server failed: {:#?}", s.sets);
    // Several more polls fail locally: still no server fails and DNS stays.
    let s = wait_until(&engine, "four more polls while out of descriptors", |s| {
        s.stats.polls_completed >= polls_at_exhaustion + 4 || any_failed(s)
    })
    .await;
    drop(held);
    assert!(!any_failed(&s), "a server failed: {:#?}", s.sets);
    assert_eq!(s.set("web").unwrap().decision, decision, "DNS moved");
    for server in &s.set("web").unwrap().servers {
        assert_eq!(server.failures, 0, "{server:#?}");
    }
    let problem = monitor_problem(&s).expect("the monitor's problem");
    assert_eq!(problem.code, MONITOR_SHORTAGE);
    assert!(
        problem
            .text
            .starts_with("this monitor is out of file descriptors"),
        "{problem:?}"
    );
    assert!(
        s.log
            .iter()
            .any(|l| l.text.contains("out of file descriptors")),
        "{:?}",
        s.log
    );

    // Descriptors are free again: the problem clears, servers are polled as before.
    let successes: u64 = s
        .set("web")
        .unwrap()
        .servers
        .iter()
        .map(|v| v.successes)
        .sum();
    let s = wait_until(&engine, "the monitor's problem clears", |s| {
        monitor_problem(s).is_none()
            && s.set("web")
                .unwrap()
                .servers
                .iter()
                .map(|v| v.successes)
                .sum::<u64>()
                > successes
    })
    .await;
    assert!(!any_failed(&s));
    assert_eq!(s.set("web").unwrap().decision, decision);
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(
                event.kind,
                EventKind::ServerFailed | EventKind::AllServersFailed | EventKind::DnsUpdated
            ),
            "{event:?}"
        );
    }
    engine.shutdown();
}

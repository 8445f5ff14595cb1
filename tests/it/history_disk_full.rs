//! A full disk for the history: `standby.db` on a small tmpfs that a filler file fills up.
//! The monitor's problem `polling history` is raised (and stays while the disk is full),
//! polling goes on and a failover still reaches the built-in DNS server; when space returns
//! the history is written again and the problem clears.
//!
//! The tmpfs needs root and a mount namespace of its own, so that it vanishes with the
//! test: the test reruns itself under `unshare --mount` (CI runs as root). Without root it
//! is skipped with a banner.

use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use standby::engine::problems::HISTORY_SUBJECT;
use standby::engine::server_state::ServerStatus;
use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::{DnsData, PollFrequency, PollMethod, Server, ServerSet, Settings, TcpPoll};
use tokio::net::UdpSocket;

use crate::support::{ports, wait_until};

const CHILD: &str = "STANDBY_TEST_DISK_FULL_CHILD";
const TEST: &str = "a_full_disk_for_the_history_is_a_problem_and_polling_and_dns_go_on";
const HOST: &str = "www.example.test";

#[test]
fn a_full_disk_for_the_history_is_a_problem_and_polling_and_dns_go_on() {
    if std::env::var_os(CHILD).is_some() {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
            .block_on(full_disk());
        return;
    }
    crate::support::process::rerun_in_mount_namespace(
        module_path!(),
        TEST,
        CHILD,
        "a tmpfs of its own",
    );
}

/// The addresses the DNS server gives for [`HOST`], if it answers.
async fn served(server: SocketAddr) -> Option<Vec<IpAddr>> {
    let mut query = Message::new(0x5151, MessageType::Query, OpCode::Query);
    query.add_query(Query::query(
        Name::from_ascii(format!("{HOST}.")).unwrap(),
        RecordType::A,
    ));
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket
        .send_to(&query.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buffer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(1), socket.recv(&mut buffer))
        .await
        .ok()?
        .ok()?;
    let answer = Message::from_vec(&buffer[..n]).ok()?;
    Some(
        answer
            .answers
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                _ => None,
            })
            .collect(),
    )
}

/// Asks until the answer is `wanted` (bounded).
async fn wait_served(server: SocketAddr, wanted: IpAddr) {
    let asked = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if served(server).await == Some(vec![wanted]) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(asked.is_ok(), "{HOST} was never served as {wanted}");
}

fn rows(db: &Path) -> u64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row("SELECT COUNT(*) FROM poll_history", [], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap() as u64
}

fn history_problem(s: &Snapshot) -> bool {
    s.problems.iter().any(|p| p.subject == HISTORY_SUBJECT)
}

fn status(s: &Snapshot, ip: IpAddr) -> Option<ServerStatus> {
    let ip = ip.to_string();
    let set = s.set("web")?;
    Some(set.servers.iter().find(|v| v.public_ip == ip)?.status)
}

async fn full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=4m", "tmpfs"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(mounted.success(), "mount tmpfs: {mounted}");
    let db = dir.path().join("standby.db");

    let (a, b): (IpAddr, IpAddr) = ([127, 0, 0, 150].into(), [127, 0, 0, 151].into());
    let port = ports::common_port(&[a, b]);
    let listener_a = tokio::net::TcpListener::bind((a, port)).await.unwrap();
    let server_a = tokio::spawn(async move { while listener_a.accept().await.is_ok() {} });
    let listener_b = tokio::net::TcpListener::bind((b, port)).await.unwrap();
    tokio::spawn(async move { while listener_b.accept().await.is_ok() {} });
    let dns = ports::free_addr([127, 0, 0, 152].into());

    let mut settings = Settings::default();
    settings.options.dns_serving.enabled = true;
    settings.options.dns_serving.listen_address = dns.ip().to_string();
    settings.options.dns_serving.port = dns.port();
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: [a, b]
            .iter()
            .map(|ip| Server {
                public_ip: ip.to_string(),
                ..Server::default()
            })
            .collect(),
        polling: PollMethod::Tcp(TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 0,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(1),
            recover_after: 1,
            sequential: false,
        },
        dns: DnsData {
            host_names: vec![HOST.into()],
            ttl: 5,
            ..DnsData::default()
        },
        ..ServerSet::default()
    });
    let engine = EngineHandle::spawn(EngineConfig {
        database: Some(db.clone()),
        ..EngineConfig::in_memory(settings)
    })
    .unwrap();
    let _dns_thread = standby::dnsserve::spawn(engine.client()).unwrap();
    wait_served(dns, a).await;
    let before = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let n = rows(&db);
            if n >= 4 {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("history rows written before the disk fills");

    // Fill the disk.
    let filler_path = dir.path().join("filler");
    let mut filler = std::fs::File::create(&filler_path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        match filler.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) => break,
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    // Whatever partial page is left, take it too.
    while filler.write_all(&[0u8; 512]).is_ok() {}
    drop(filler);

    let s = wait_until(&engine, "the history problem", history_problem).await;
    let problem = s
        .problems
        .iter()
        .find(|p| p.subject == HISTORY_SUBJECT)
        .unwrap();
    assert!(
        problem.text.contains("polling and DNS go on"),
        "{problem:?}"
    );

    // Polling and DNS go on: A stops answering, fails, and DNS gives B.
    server_a.abort();
    let _ = server_a.await;
    wait_until(&engine, "A failed while the disk is full", |s| {
        status(s, a) == Some(ServerStatus::Failed)
    })
    .await;
    wait_served(dns, b).await;
    let s = engine.snapshot();
    assert!(
        history_problem(&s),
        "the problem went while the disk is still full: {:#?}",
        s.problems
    );
    let cleared_while_full: Vec<_> = s
        .log
        .iter()
        .filter(|l| l.text.contains("keeps up again"))
        .map(|l| l.text.clone())
        .collect();
    assert!(
        cleared_while_full.is_empty(),
        "said to keep up while the disk was full: {cleared_while_full:?}"
    );
    let during = rows(&db);

    // Space returns: rows are written again, the problem clears.
    std::fs::remove_file(&filler_path).unwrap();
    wait_until(&engine, "the history problem cleared", |s| {
        !history_problem(s)
    })
    .await;
    let resumed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let n = rows(&db);
            if n >= during + 4 {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("history rows written again once space returns");
    eprintln!(
        "history_disk_full: {before} rows before the disk filled, {during} while full, \
         {resumed} after space returned"
    );
    engine.shutdown();
    let _ = std::process::Command::new("umount")
        .arg(dir.path())
        .status();
}

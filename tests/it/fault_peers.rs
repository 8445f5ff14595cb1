//! Peers that misbehave, through a real engine polling them over HTTP: one stalls after
//! reading the request, one resets the connection, one half-closes (FIN, no answer), one
//! answers within the time-out but slowly, one too slowly, one sends half a body and stalls,
//! one works. Each server ends in the state and problem its peer deserves, and the engine
//! never hangs: the working server is polled on schedule all along, while connections to
//! the stalled peers are held open.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use standby::engine::server_state::ServerStatus;
use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::{
    HttpCriteria, HttpPoll, PollFrequency, PollMethod, Server, ServerSet, Settings, TextRule,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::http::read_head;
use crate::support::{bounded, ports, wait_until};

/// What a peer does once it has read a request head.
#[derive(Clone, Copy, Debug)]
enum Behaviour {
    Works,
    /// Reads, then never answers nor closes.
    Stalls,
    /// Reads, then resets the connection (RST).
    Resets,
    /// Reads, then closes its sending side (FIN) and keeps reading.
    HalfCloses,
    /// Answers after this long.
    Slow(Duration),
    /// Sends the head and 10 of 100 body bytes, then stalls.
    StallsInTheBody,
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK";
const TIMEOUT: Duration = Duration::from_secs(2);

async fn peer(address: SocketAddr, behaviour: Behaviour) {
    let listener = TcpListener::bind(address).await.unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer(stream, behaviour));
        }
    });
}

async fn answer(mut stream: TcpStream, behaviour: Behaviour) {
    read_head(&mut stream).await;
    match behaviour {
        Behaviour::Works => {
            let _ = stream.write_all(OK).await;
        }
        Behaviour::Stalls => {
            // Held until the client gives up and closes.
            let _ = stream.read_to_end(&mut Vec::new()).await;
        }
        Behaviour::Resets => {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            drop(stream);
        }
        Behaviour::HalfCloses => {
            let _ = stream.shutdown().await;
            let _ = stream.read_to_end(&mut Vec::new()).await;
        }
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            let _ = stream.write_all(OK).await;
        }
        Behaviour::StallsInTheBody => {
            let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789";
            let _ = stream.write_all(head).await;
            let _ = stream.read_to_end(&mut Vec::new()).await;
        }
    }
}

fn server<'a>(s: &'a Snapshot, ip: &IpAddr) -> Option<&'a standby::engine::snapshot::ServerView> {
    let ip = ip.to_string();
    s.set("peers")?.servers.iter().find(|v| v.public_ip == ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn misbehaving_peers_get_their_own_problem_and_never_hang_the_engine() {
    bounded(async {
        let peers = [
            (Behaviour::Works, Some(ServerStatus::Ok), None),
            (Behaviour::Stalls, Some(ServerStatus::Failed), Some(124)),
            (Behaviour::Resets, Some(ServerStatus::Failed), Some(114)),
            (Behaviour::HalfCloses, Some(ServerStatus::Failed), Some(134)),
            (
                Behaviour::Slow(Duration::from_millis(600)),
                Some(ServerStatus::Ok),
                None,
            ),
            (
                Behaviour::Slow(TIMEOUT + Duration::from_secs(2)),
                Some(ServerStatus::Failed),
                Some(124),
            ),
            (
                Behaviour::StallsInTheBody,
                Some(ServerStatus::Failed),
                Some(126),
            ),
        ];
        let ips: Vec<IpAddr> = (0..peers.len() as u8)
            .map(|i| [127, 0, 0, 130 + i].into())
            .collect();
        let port = ports::common_port(&ips);
        for (ip, (behaviour, _, _)) in ips.iter().zip(&peers) {
            peer(SocketAddr::new(*ip, port), *behaviour).await;
        }
        let mut settings = Settings::default();
        settings.server_sets.push(ServerSet {
            name: "peers".into(),
            servers: ips
                .iter()
                .map(|ip| Server {
                    public_ip: ip.to_string(),
                    ..Server::default()
                })
                .collect(),
            // A body rule, so that a body cut short is read (and fails) too.
            polling: PollMethod::Http(HttpPoll {
                url: format!("http://www.example.test:{port}/health"),
                criteria: HttpCriteria {
                    body: vec![TextRule::Contains("OK".into())],
                    ..HttpCriteria::default()
                },
                ..HttpPoll::default()
            }),
            frequency: PollFrequency {
                interval: std::time::Duration::from_secs(1),
                failed_interval: std::time::Duration::from_secs(1),
                retries: 0,
                retry_interval: std::time::Duration::from_secs(1),
                timeout: TIMEOUT,
                recover_after: 1,
                sequential: false,
            },
            ..ServerSet::default()
        });
        let engine = EngineHandle::spawn(EngineConfig::in_memory(settings)).unwrap();
        // Every server judged, and each misbehaving one failed at least twice.
        let s = wait_until(&engine, "every server judged twice", |s| {
            ips.iter().zip(&peers).all(|(ip, (_, status, _))| {
                let Some(v) = server(s, ip) else {
                    return false;
                };
                v.failures + v.successes >= 2
                    && match status {
                        Some(ServerStatus::Failed) => v.failures >= 2,
                        _ => v.successes >= 2,
                    }
            })
        })
        .await;
        for (ip, (behaviour, status, code)) in ips.iter().zip(&peers) {
            let v = server(&s, ip).unwrap();
            assert_eq!(Some(v.status), *status, "{behaviour:?}: {v:#?}");
            assert_eq!(v.problem_code, *code, "{behaviour:?}: {v:#?}");
        }
        let slow = server(&s, &ips[4]).unwrap();
        assert!(
            slow.last_response_time >= Some(Duration::from_millis(600)),
            "{slow:#?}"
        );
        // The engine keeps its schedule while three peers hold polls for the whole time-out:
        // the working server gets five more polls (one a second).
        let works = server(&s, &ips[0]).unwrap().successes;
        wait_until(&engine, "five more polls of the working server", |s| {
            server(s, &ips[0]).is_some_and(|v| v.successes >= works + 5)
        })
        .await;
        engine.shutdown();
    })
    .await;
}

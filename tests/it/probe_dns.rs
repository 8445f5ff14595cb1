//! DNS polling against a real BIND 9 (started by tests/peers/named_probe.sh: authoritative
//! for example.test, no recursion) and against small fake responders for what BIND will
//! not do (a non-authoritative answer, silence).

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hickory_proto::op::{Message, OpCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record};
use standby::model::{AddressRecordType, DnsPoll};
use standby::probe::dns::DnsProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};
use tokio::net::UdpSocket;

use crate::support::ports::free_addr;
use crate::support::{bounded, peer_script};

/// BIND listens only on addresses an interface carries; 127.0.0.1 always is.
const BIND_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FAKE_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11));

/// A running `named`, stopped (SIGTERM, then reaped) when dropped.
struct Named {
    child: Child,
    port: u16,
    stopped: bool,
    _dir: tempfile::TempDir,
}

impl Named {
    /// Starts named and waits for its "running" log line (named logs to stderr with -g).
    fn start() -> Named {
        let dir = tempfile::tempdir().unwrap();
        // named needs the port for both UDP and TCP.
        let port = free_addr(BIND_IP).port();
        let script = peer_script("named_probe.sh");
        let mut child = Command::new("bash")
            .arg(script)
            .arg(dir.path())
            .arg(BIND_IP.to_string())
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run tests/peers/named_probe.sh (is bind9 installed?)");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut log = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.ends_with(" running") {
                    let _ = tx.send(Ok(()));
                }
                log.push(line);
            }
            let _ = tx.send(Err(log.join("\n")));
        });
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(Ok(())) => {}
            Ok(Err(log)) => panic!("named ended before it was running:\n{log}"),
            Err(_) => panic!("named did not start within 15 s"),
        }
        Named {
            child,
            port,
            stopped: false,
            _dir: dir,
        }
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        self.stop();
    }
}

fn settings(host: &str, port: u16) -> DnsPoll {
    DnsPoll {
        host_name: host.into(),
        port,
        ..DnsPoll::default()
    }
}

async fn poll_at(address: IpAddr, settings: &DnsPoll, timeout: Duration) -> PollOutcome {
    DnsProbe::new(settings)
        .unwrap()
        .poll(&PollTarget {
            address,
            public_address: address,
            name: "ns".into(),
            host: "www.example.test".into(),
            set_name: "dns".into(),
            timeout,
        })
        .await
}

async fn poll(settings: &DnsPoll) -> PollOutcome {
    poll_at(BIND_IP, settings, Duration::from_secs(5)).await
}

fn code(outcome: &PollOutcome) -> Option<u16> {
    outcome.failure.map(|f| f.code())
}

#[tokio::test]
async fn against_bind() {
    bounded(async {
        let mut named = Named::start();
        let port = named.port;

        let a = poll(&settings("www.example.test", port)).await;
        assert!(a.is_success(), "{a:?}");
        assert_eq!(a.response, "NOERROR: 192.0.2.10 (authoritative)");

        let mut strict = settings("www.example.test", port);
        strict.recursion_desired = false;
        strict.expect_address = Some("192.0.2.10".into());
        strict.require_authoritative = true;
        let outcome = poll(&strict).await;
        assert!(outcome.is_success(), "{outcome:?}");

        let mut aaaa = settings("www.example.test", port);
        aaaa.record_type = AddressRecordType::Aaaa;
        aaaa.expect_address = Some("2001:db8::10".into());
        let outcome = poll(&aaaa).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "NOERROR: 2001:db8::10 (authoritative)");

        // An answer too big for UDP arrives truncated and is asked again over TCP.
        let mut big = settings("big.example.test", port);
        big.expect_address = Some("198.51.100.40".into());
        let outcome = poll(&big).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response.matches("198.51.100.").count(), 40);

        // Wrong answers.
        strict.expect_address = Some("192.0.2.99".into());
        let outcome = poll(&strict).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "NOERROR: 192.0.2.10 (authoritative): 192.0.2.99 is not in the answer"
        );
        let outcome = poll(&settings("nosuch.example.test", port)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(outcome.response, "NXDOMAIN for nosuch.example.test. A");
        // Not its zone, and it does not recurse.
        let outcome = poll(&settings("www.example.org", port)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert!(
            outcome
                .response
                .starts_with("REFUSED for www.example.org. A"),
            "{outcome:?}"
        );

        // Stopped: the closed port answers with ICMP port unreachable.
        named.stop();
        let outcome = poll(&settings("www.example.test", port)).await;
        assert_eq!(code(&outcome), Some(114), "{outcome:?}");
        assert!(outcome.response.contains("refused"), "{outcome:?}");
    })
    .await;
}

/// A UDP responder that answers every query with `www.example.test A 192.0.2.10`, AA unset
/// (as a caching resolver would).
async fn non_authoritative_responder() -> u16 {
    let socket = UdpSocket::bind(SocketAddr::new(FAKE_IP, 0)).await.unwrap();
    let port = socket.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buffer = vec![0u8; 4096];
        while let Ok((n, from)) = socket.recv_from(&mut buffer).await {
            let query = Message::from_vec(&buffer[..n]).unwrap();
            let mut answer = Message::response(query.metadata.id, OpCode::Query);
            answer.metadata.recursion_desired = query.metadata.recursion_desired;
            answer.add_queries(query.queries.clone());
            answer.add_answer(Record::from_rdata(
                Name::from_ascii("www.example.test.").unwrap(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 10))),
            ));
            let _ = socket.send_to(&answer.to_vec().unwrap(), from).await;
        }
    });
    port
}

#[tokio::test]
async fn authoritative_required_and_silence() {
    bounded(async {
        let port = non_authoritative_responder().await;
        let mut s = settings("www.example.test", port);
        let outcome = poll_at(FAKE_IP, &s, Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "NOERROR: 192.0.2.10");
        s.require_authoritative = true;
        let outcome = poll_at(FAKE_IP, &s, Duration::from_secs(5)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "NOERROR: 192.0.2.10: not authoritative (AA not set)"
        );

        // A socket that never answers: a time-out while waiting.
        let silent = UdpSocket::bind(SocketAddr::new(FAKE_IP, 0)).await.unwrap();
        let port = silent.local_addr().unwrap().port();
        let outcome = poll_at(
            FAKE_IP,
            &settings("www.example.test", port),
            Duration::from_millis(2500),
        )
        .await;
        assert_eq!(code(&outcome), Some(124), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "timeout after 2.5 s waiting for the answer"
        );
        drop(silent);
    })
    .await;
}

//! TCP polling against real sockets on 127.0.0.3.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use standby::model::{TcpPoll, TcpService, TextRule};
use standby::probe::tcp::TcpProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::bounded;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

fn target(timeout: Duration) -> PollTarget {
    PollTarget {
        address: IP,
        public_address: IP,
        name: "test".into(),
        host: "mail.example.test".into(),
        set_name: "set".into(),
        timeout,
    }
}

async fn poll(settings: TcpPoll, timeout: Duration) -> PollOutcome {
    TcpProbe::new(&settings)
        .unwrap()
        .poll(&target(timeout))
        .await
}

fn code(outcome: &PollOutcome) -> Option<u16> {
    outcome.failure.map(|f| f.code())
}

/// What a test server does with its one connection.
enum Behaviour {
    /// Sends these bytes, then reads until the client closes.
    Greet(&'static [u8]),
    /// Sends nothing and reads until the client closes.
    Silent,
    /// Closes at once.
    Close,
    /// Reads up to a line end, then sends these bytes and reads until the client closes.
    Reply(&'static [u8]),
}

/// A one-connection server; the receiver gets what the client sent before closing.
async fn server(behaviour: Behaviour) -> (u16, oneshot::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind(SocketAddr::new(IP, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let greeting = match behaviour {
            Behaviour::Close => return,
            Behaviour::Silent => None,
            Behaviour::Greet(g) => Some(g),
            Behaviour::Reply(reply) => {
                let mut received = Vec::new();
                let mut byte = [0u8; 1];
                while !received.ends_with(b"\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        break;
                    }
                    received.push(byte[0]);
                }
                stream.write_all(reply).await.unwrap();
                let _ = stream.read_to_end(&mut received).await;
                let _ = tx.send(received);
                return;
            }
        };
        if let Some(g) = greeting {
            stream.write_all(g).await.unwrap();
        }
        let mut received = Vec::new();
        let _ = stream.read_to_end(&mut received).await;
        let _ = tx.send(received);
    });
    (port, rx)
}

fn preset(service: TcpService, port: u16) -> TcpPoll {
    TcpPoll {
        service,
        port: Some(port),
        ..TcpPoll::default()
    }
}

/// A preset accepts its greeting and says goodbye.
async fn preset_ok(service: TcpService, greeting: &'static [u8], text: &str, goodbye: &[u8]) {
    bounded(async {
        let (port, received) = server(Behaviour::Greet(greeting)).await;
        let outcome = poll(preset(service, port), Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, text);
        assert_eq!(received.await.unwrap(), goodbye);
    })
    .await;
}

#[tokio::test]
async fn ftp_greeting() {
    preset_ok(
        TcpService::Ftp,
        b"220 ftp.example.test FTP ready\r\n",
        "220 ftp.example.test FTP ready",
        b"QUIT\r\n",
    )
    .await;
}

#[tokio::test]
async fn smtp_greeting() {
    preset_ok(
        TcpService::Smtp,
        b"220 mail.example.com ESMTP\r\n",
        "220 mail.example.com ESMTP",
        b"QUIT\r\n",
    )
    .await;
}

#[tokio::test]
async fn pop3_greeting() {
    preset_ok(
        TcpService::Pop3,
        b"+OK POP3 ready\r\n",
        "+OK POP3 ready",
        b"QUIT\r\n",
    )
    .await;
}

#[tokio::test]
async fn imap_greeting_and_logout() {
    preset_ok(
        TcpService::Imap,
        b"* OK IMAP4rev1 ready\r\n",
        "* OK IMAP4rev1 ready",
        b"a1 LOGOUT\r\n",
    )
    .await;
}

#[tokio::test]
async fn nntp_greeting_200() {
    preset_ok(
        TcpService::Nntp,
        b"200 news.example.test ready\r\n",
        "200 news.example.test ready",
        b"QUIT\r\n",
    )
    .await;
}

#[tokio::test]
async fn nntp_greeting_201() {
    preset_ok(
        TcpService::Nntp,
        b"201 no posting\n",
        "201 no posting",
        b"QUIT\r\n",
    )
    .await;
}

#[tokio::test]
async fn wrong_greeting_is_147() {
    bounded(async {
        let (port, _received) = server(Behaviour::Greet(b"421 too busy\r\n")).await;
        let outcome = poll(preset(TcpService::Smtp, port), Duration::from_secs(5)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            r#"421 too busy: does not start with "220""#
        );
    })
    .await;
}

#[tokio::test]
async fn no_greeting_is_124_after_greeting_timeout() {
    bounded(async {
        let (port, _received) = server(Behaviour::Silent).await;
        let settings = TcpPoll {
            greeting_timeout: std::time::Duration::from_secs(1),
            ..preset(TcpService::Smtp, port)
        };
        let outcome = poll(settings, Duration::from_secs(10)).await;
        assert_eq!(code(&outcome), Some(124), "{outcome:?}");
        assert_eq!(outcome.response, "timeout after 1 s waiting for greeting");
        assert!(outcome.elapsed >= Duration::from_secs(1));
        assert!(outcome.elapsed < Duration::from_secs(3), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn poll_timeout_cuts_greeting_wait() {
    bounded(async {
        let (port, _received) = server(Behaviour::Silent).await;
        let outcome = poll(preset(TcpService::Ftp, port), Duration::from_secs(1)).await;
        assert_eq!(code(&outcome), Some(124), "{outcome:?}");
        assert_eq!(outcome.response, "timeout after 1 s waiting for greeting");
        assert!(outcome.elapsed < Duration::from_secs(3), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn closed_without_greeting_is_134() {
    bounded(async {
        let (port, _received) = server(Behaviour::Close).await;
        let outcome = poll(preset(TcpService::Pop3, port), Duration::from_secs(5)).await;
        assert_eq!(code(&outcome), Some(134), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn refused_is_111() {
    bounded(async {
        // A port that was just free: nothing listens there now.
        let port = {
            let listener = TcpListener::bind(SocketAddr::new(IP, 0)).await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let outcome = poll(preset(TcpService::Smtp, port), Duration::from_secs(5)).await;
        assert_eq!(code(&outcome), Some(111), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn custom_port_without_rule_is_connected() {
    bounded(async {
        let (port, received) = server(Behaviour::Silent).await;
        let settings = TcpPoll {
            port: Some(port),
            ..TcpPoll::default()
        };
        let outcome = poll(settings, Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "connected");
        // A custom poll says no goodbye.
        assert_eq!(received.await.unwrap(), b"");
    })
    .await;
}

/// 150 bytes without a line end: only the first 100 are the greeting.
const LONG: &[u8] = b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB";

#[tokio::test]
async fn long_greeting_is_judged_on_first_100_bytes() {
    bounded(async {
        assert_eq!(LONG.len(), 150);
        let (port, _received) = server(Behaviour::Greet(LONG)).await;
        let settings = TcpPoll {
            port: Some(port),
            greeting: Some(TextRule::NotContains("B".into())),
            ..TcpPoll::default()
        };
        let outcome = poll(settings, Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "A".repeat(100));

        let (port, _received) = server(Behaviour::Greet(LONG)).await;
        let settings = TcpPoll {
            port: Some(port),
            greeting: Some(TextRule::Contains("B".into())),
            ..TcpPoll::default()
        };
        let outcome = poll(settings, Duration::from_secs(5)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn custom_rule_and_port_override_preset() {
    bounded(async {
        let (port, received) = server(Behaviour::Greet(b"250 custom hello\r\n")).await;
        let settings = TcpPoll {
            greeting: Some(TextRule::Matches("^25[0-9] ".into())),
            ..preset(TcpService::Smtp, port)
        };
        let outcome = poll(settings, Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "250 custom hello");
        assert_eq!(received.await.unwrap(), b"QUIT\r\n");
    })
    .await;
}

#[tokio::test]
async fn a_text_with_escapes_is_sent_and_its_reply_judged() {
    bounded(async {
        let (port, received) = server(Behaviour::Reply(b"OK ready\r\n")).await;
        let settings = TcpPoll {
            port: Some(port),
            send: Some(r"HELLO\t\x00\xff\\\r\n".into()),
            greeting: Some(TextRule::StartsWith("OK".into())),
            ..TcpPoll::default()
        };
        let outcome = poll(settings, Duration::from_secs(5)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "OK ready");
        assert_eq!(received.await.unwrap(), b"HELLO\t\x00\xff\\\r\n");
        // Failing: the reply the rule refuses.
        let (port, _received) = server(Behaviour::Reply(b"ERR unknown command\r\n")).await;
        let settings = TcpPoll {
            port: Some(port),
            send: Some(r"HELLO\r\n".into()),
            greeting: Some(TextRule::StartsWith("OK".into())),
            ..TcpPoll::default()
        };
        let outcome = poll(settings, Duration::from_secs(5)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "ERR unknown command: does not start with \"OK\""
        );
    })
    .await;
}

#[tokio::test]
async fn a_text_sent_without_a_rule_needs_a_reply() {
    bounded(async {
        // The server reads the line and closes without a word.
        let (port, _received) = server(Behaviour::Reply(b"")).await;
        let settings = TcpPoll {
            port: Some(port),
            send: Some(r"PING\r\n".into()),
            ..TcpPoll::default()
        };
        let outcome = poll(settings, Duration::from_secs(1)).await;
        // The server keeps reading until we close: no reply comes, the wait runs out.
        assert_eq!(code(&outcome), Some(124), "{outcome:?}");
        assert_eq!(outcome.response, "timeout after 1 s waiting for reply");
    })
    .await;
}

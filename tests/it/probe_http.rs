//! HTTP/HTTPS polling against real servers on 127.0.0.2 and 127.0.0.3. The URLs name
//! `www.example.test`, which does not resolve: a success proves the probe connected to the
//! poll address and sent the URL's host only as Host header and SNI.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use standby::model::{Comparison, HttpCriteria, HttpPoll, HttpPollMethod, LengthRule, TextRule};
use standby::probe::http::HttpProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::support::http::{
    BIG_FILLER, HOST, IDN_ASCII, IDN_HOST, Raw, WELCOME, ca_signed, http_server, raw_server, seen,
    self_signed, url,
};
use crate::support::{bounded, test_name};

const IP2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const IP3: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

fn target(address: IpAddr, timeout: Duration) -> PollTarget {
    PollTarget {
        address,
        public_address: address,
        name: "test".into(),
        host: HOST.into(),
        set_name: "set".into(),
        timeout,
    }
}

fn settings(url: String) -> HttpPoll {
    HttpPoll {
        url,
        ..HttpPoll::default()
    }
}

async fn poll_at(address: IpAddr, settings: &HttpPoll, timeout: Duration) -> PollOutcome {
    HttpProbe::new(settings)
        .unwrap()
        .poll(&target(address, timeout))
        .await
}

async fn poll(address: IpAddr, settings: &HttpPoll) -> PollOutcome {
    poll_at(address, settings, Duration::from_secs(10)).await
}

fn code(outcome: &PollOutcome) -> Option<u16> {
    outcome.failure.map(|f| f.code())
}

#[tokio::test]
async fn get_200_ok() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let outcome = poll(IP2, &settings(url(port, "/"))).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        let seen = seen(&log);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "GET");
        let agent = seen[0].user_agent.clone().unwrap();
        assert!(agent.starts_with("Standby/"), "{agent}");
        assert_eq!(seen[0].connection.as_deref(), Some("close"));
    })
    .await;
}

#[tokio::test]
async fn host_header_is_url_host_while_connecting_to_the_ip() {
    bounded(async {
        let (port, log) = http_server(IP3, None).await;
        let outcome = poll(IP3, &settings(url(port, "/"))).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(seen(&log)[0].host, Some(format!("{HOST}:{port}")));
    })
    .await;
}

#[tokio::test]
async fn status_503_fails_with_147() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let outcome = poll(IP2, &settings(url(port, "/busy"))).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "503 Service Unavailable: status 503 is not 200"
        );
    })
    .await;
}

#[tokio::test]
async fn status_204_accepted_when_listed() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let mut s = settings(url(port, "/empty"));
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        s.criteria.status_codes = vec![200, 204];
        let outcome = poll(IP2, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "204 No Content");
    })
    .await;
}

fn length(comparison: Comparison, bytes: u64) -> HttpCriteria {
    HttpCriteria {
        content_length: Some(LengthRule { comparison, bytes }),
        ..HttpCriteria::default()
    }
}

#[tokio::test]
async fn head_request_uses_content_length() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let len = WELCOME.len() as u64;
        let mut s = HttpPoll {
            method: HttpPollMethod::Head,
            criteria: length(Comparison::Equal, len),
            ..settings(url(port, "/"))
        };
        let outcome = poll(IP2, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        assert_eq!(seen(&log)[0].method, "HEAD");

        s.criteria = length(Comparison::Greater, len);
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            format!("200 OK: length {len} is not > {len}")
        );

        // Body rules do not apply to a HEAD, which has no body.
        s.criteria = HttpCriteria {
            body: vec![TextRule::Contains("not there".into())],
            ..HttpCriteria::default()
        };
        assert!(poll(IP2, &s).await.is_success());
    })
    .await;
}

#[tokio::test]
async fn content_length_rules() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let len = WELCOME.len() as u64;
        let cases = [
            (Comparison::Equal, len, true),
            (Comparison::Equal, len + 1, false),
            (Comparison::Less, len + 1, true),
            (Comparison::Less, len, false),
            (Comparison::Greater, len - 1, true),
            (Comparison::Greater, len, false),
        ];
        for (comparison, bytes, ok) in cases {
            let s = HttpPoll {
                criteria: length(comparison, bytes),
                ..settings(url(port, "/"))
            };
            let outcome = poll(IP2, &s).await;
            if ok {
                assert!(outcome.is_success(), "{comparison:?} {bytes}: {outcome:?}");
            } else {
                assert_eq!(
                    code(&outcome),
                    Some(147),
                    "{comparison:?} {bytes}: {outcome:?}"
                );
            }
        }
    })
    .await;
}

#[tokio::test]
async fn body_rules() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let cases = [
            (TextRule::Contains("Welcome".into()), None),
            (
                TextRule::Contains("Goodbye".into()),
                Some(r#"200 OK: body does not contain "Goodbye""#),
            ),
            (TextRule::NotContains("Error".into()), None),
            (
                TextRule::NotContains("Welcome".into()),
                Some(r#"200 OK: body contains "Welcome""#),
            ),
            (TextRule::Matches("<h1>W[a-z]+</h1>".into()), None),
            (
                TextRule::Matches("^Welcome".into()),
                Some("200 OK: body does not match /^Welcome/"),
            ),
            (TextRule::NotMatches("(?i)internal error".into()), None),
            (
                TextRule::NotMatches("test server".into()),
                Some("200 OK: body matches /test server/"),
            ),
        ];
        for (rule, failure) in cases {
            let s = HttpPoll {
                criteria: HttpCriteria {
                    body: vec![rule.clone()],
                    ..HttpCriteria::default()
                },
                ..settings(url(port, "/"))
            };
            let outcome = poll(IP2, &s).await;
            match failure {
                None => assert!(outcome.is_success(), "{rule:?}: {outcome:?}"),
                Some(text) => {
                    assert_eq!(code(&outcome), Some(147), "{rule:?}: {outcome:?}");
                    assert_eq!(outcome.response, text);
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn big_body_counts_whole_length_but_judges_first_mib() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let total = BIG_FILLER as u64 + 4;
        let mut s = HttpPoll {
            criteria: length(Comparison::Equal, total),
            ..settings(url(port, "/big"))
        };
        let outcome = poll(IP2, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");

        // `TAIL` lies past the first MiB, so the text rule does not see it.
        s.criteria.body = vec![TextRule::Contains("TAIL".into())];
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        s.criteria.content_length = None;
        let outcome = poll(IP2, &s).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------- HTTPS

fn https(port: u16, verify: bool) -> HttpPoll {
    HttpPoll {
        verify_certificate: verify,
        ..settings(format!("https://{HOST}:{port}/"))
    }
}

/// HTTPS to `host`, the certificate verified.
fn https_at(host: &str, port: u16) -> HttpPoll {
    HttpPoll {
        verify_certificate: true,
        ..settings(format!("https://{host}:{port}/"))
    }
}

#[tokio::test]
async fn https_without_verification_sends_sni_and_host() {
    bounded(async {
        let (port, log) = http_server(IP3, Some(self_signed())).await;
        let outcome = poll(IP3, &https(port, false)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        let seen = seen(&log);
        assert_eq!(seen[0].sni.as_deref(), Some(HOST));
        assert_eq!(seen[0].host, Some(format!("{HOST}:{port}")));
    })
    .await;
}

/// An international host name (IDNA): typed in Unicode, the server sees its punycode in
/// the Host header and the TLS server name, and a Unicode path percent-encoded. (The
/// certificate is checked against the punycode name in `https_verify_on_child`.)
#[tokio::test]
async fn a_unicode_host_is_sent_as_punycode_in_host_and_sni() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let outcome = poll(IP2, &settings(format!("http://{IDN_HOST}:{port}/"))).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(seen(&log)[0].host, Some(format!("{IDN_ASCII}:{port}")));

        let (port, log) = http_server(IP3, Some(self_signed())).await;
        let s = HttpPoll {
            verify_certificate: false,
            ..settings(format!("https://{IDN_HOST}:{port}/straße"))
        };
        let outcome = poll(IP3, &s).await;
        // The test server has no such page: what matters is what it saw.
        assert!(outcome.response.starts_with("404"), "{outcome:?}");
        let seen = seen(&log);
        assert_eq!(seen[0].sni.as_deref(), Some(IDN_ASCII));
        assert_eq!(seen[0].host, Some(format!("{IDN_ASCII}:{port}")));
        assert_eq!(seen[0].path, "/stra%C3%9Fe");
    })
    .await;
}

#[tokio::test]
async fn https_to_ip_literal_sends_no_sni() {
    bounded(async {
        let (port, log) = http_server(IP3, Some(self_signed())).await;
        let s = HttpPoll {
            verify_certificate: false,
            ..settings(format!("https://{IP3}:{port}/"))
        };
        let outcome = poll(IP3, &s).await;
        assert!(outcome.is_success(), "{outcome:?}");
        // SNI carries DNS names only (RFC 6066 §3).
        assert_eq!(seen(&log)[0].sni, None);
    })
    .await;
}

#[tokio::test]
async fn https_verification_rejects_self_signed_with_112() {
    bounded(async {
        let (port, log) = http_server(IP3, Some(self_signed())).await;
        let outcome = poll(IP3, &https(port, true)).await;
        assert_eq!(code(&outcome), Some(112), "{outcome:?}");
        assert!(outcome.response.starts_with("TLS: "), "{outcome:?}");
        assert!(seen(&log).is_empty());
    })
    .await;
}

/// The platform verifier reads the system's roots once per probe; on Linux they come from
/// `SSL_CERT_FILE` when it is set. Setting it in this process would race the other tests,
/// so this test runs `https_verify_on_child` in a child process with it set.
#[tokio::test]
async fn https_verification_trusts_ssl_cert_file() {
    bounded(async {
        let (ca_pem, config) = ca_signed();
        let (port, log) = http_server(IP2, Some(config)).await;
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).unwrap();
        let output = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                &test_name(module_path!(), "https_verify_on_child"),
                "--exact",
                "--test-threads=1",
            ])
            .env("SSL_CERT_FILE", &ca_file)
            .env_remove("SSL_CERT_DIR")
            .env("STANDBY_TEST_HTTPS_PORT", port.to_string())
            .kill_on_drop(true)
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The child's successful polls (its URL host, then the same in Unicode) reached
        // this server.
        assert_eq!(seen(&log).len(), 2);
    })
    .await;
}

/// The child half of `https_verification_trusts_ssl_cert_file`: it only runs in the child
/// that test starts with `SSL_CERT_FILE` and the port set (the parent checks that it
/// passed there); in the ordinary run it has nothing to poll and returns.
#[tokio::test]
async fn https_verify_on_child() {
    let Ok(port) = std::env::var("STANDBY_TEST_HTTPS_PORT") else {
        return;
    };
    let port: u16 = port.parse().unwrap();
    bounded(async {
        let outcome = poll(IP2, &https(port, true)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK");
        // A Unicode host name is verified as its punycode, which the certificate names.
        let outcome = poll(IP2, &https_at(IDN_HOST, port)).await;
        assert!(outcome.is_success(), "{outcome:?}");
        // The chain is trusted, but the name must still match.
        let other = HttpPoll {
            verify_certificate: true,
            ..settings(format!("https://other.example.test:{port}/"))
        };
        let outcome = poll(IP2, &other).await;
        assert_eq!(code(&outcome), Some(112), "{outcome:?}");
    })
    .await;
}

// ------------------------------------------------------------------------ broken servers

#[tokio::test]
async fn refused_is_111() {
    bounded(async {
        // A port that was just free: nothing listens there now.
        let port = {
            let listener = TcpListener::bind(SocketAddr::new(IP2, 0)).await.unwrap();
            listener.local_addr().unwrap().port()
        };
        let outcome = poll(IP2, &settings(url(port, "/"))).await;
        assert_eq!(code(&outcome), Some(111), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn silent_server_times_out_with_124_and_is_let_go() {
    bounded(async {
        let (closed_tx, closed) = oneshot::channel();
        let port = raw_server(IP2, Raw::Silent(closed_tx)).await;
        let timeout = Duration::from_secs(1);
        let outcome = poll_at(IP2, &settings(url(port, "/")), timeout).await;
        assert_eq!(code(&outcome), Some(124), "{outcome:?}");
        assert_eq!(outcome.response, "timeout after 1 s waiting for response");
        assert!(outcome.elapsed >= timeout, "{outcome:?}");
        assert!(outcome.elapsed < Duration::from_secs(2), "{outcome:?}");
        // Nothing of the poll lingers: the server sees the connection closed.
        tokio::time::timeout(Duration::from_secs(5), closed)
            .await
            .expect("the connection stayed open after the time-out")
            .unwrap();
    })
    .await;
}

#[tokio::test]
async fn closed_before_answer_is_134() {
    bounded(async {
        let port = raw_server(IP3, Raw::Close).await;
        let outcome = poll(IP3, &settings(url(port, "/"))).await;
        assert_eq!(code(&outcome), Some(134), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "connection closed before a complete response"
        );
    })
    .await;
}

#[tokio::test]
async fn closed_in_body_is_136() {
    bounded(async {
        let port = raw_server(
            IP3,
            Raw::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly a part"),
        )
        .await;
        let s = HttpPoll {
            criteria: HttpCriteria {
                body: vec![TextRule::Contains("part".into())],
                ..HttpCriteria::default()
            },
            ..settings(url(port, "/"))
        };
        let outcome = poll(IP3, &s).await;
        assert_eq!(code(&outcome), Some(136), "{outcome:?}");
        assert!(
            outcome
                .response
                .starts_with("connection closed before a complete response"),
            "{outcome:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn garbage_response_is_145() {
    bounded(async {
        let port = raw_server(IP3, Raw::Send(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")).await;
        let outcome = poll(IP3, &settings(url(port, "/"))).await;
        assert_eq!(code(&outcome), Some(145), "{outcome:?}");
    })
    .await;
}

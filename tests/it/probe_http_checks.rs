//! The HTTP check criteria of issue 16 against real HTTP servers (hyper) on 127.0.0.2 and
//! 127.0.0.3, a passing and a failing case each: headers with tags, basic and bearer
//! authentication, GET/HEAD/POST/PUT with a body, redirects (at most N, same host only), the
//! response-time limit (problem 128) and JSON body rules.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use standby::model::{HttpAuth, HttpPoll, HttpPollMethod, JsonRule, JsonTest, Secret, TextRule};
use standby::probe::http::HttpProbe;
use standby::probe::{PollOutcome, PollTarget, Probe};

use crate::support::bounded;
use crate::support::http::{
    BASIC_PASSWORD, BASIC_USER, BEARER_TOKEN, CHECK_HEADER, HOST, http_server, seen, self_signed,
    url,
};

const IP2: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const IP3: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

fn target(address: IpAddr) -> PollTarget {
    PollTarget {
        address,
        public_address: address,
        name: "test".into(),
        host: HOST.into(),
        set_name: "set".into(),
        timeout: Duration::from_secs(10),
    }
}

async fn poll(settings: &HttpPoll) -> PollOutcome {
    HttpProbe::new(settings).unwrap().poll(&target(IP2)).await
}

fn code(outcome: &PollOutcome) -> Option<u16> {
    outcome.failure.map(|f| f.code())
}

fn at(port: u16, path: &str) -> HttpPoll {
    HttpPoll {
        url: url(port, path),
        ..HttpPoll::default()
    }
}

#[tokio::test]
async fn headers_with_tags_are_sent() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let mut settings = at(port, "/header");
        settings.headers = vec![
            ("X-Check".into(), "$SERVERNAME$@$SETNAME$".into()),
            ("X-Port".into(), "$PORT$".into()),
            // Replaces Standby's own.
            ("User-Agent".into(), "probe/1".into()),
        ];
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        let seen = seen(&log);
        assert_eq!(seen[0].header(CHECK_HEADER.0), [CHECK_HEADER.1]);
        assert_eq!(seen[0].header("x-port"), [port.to_string()]);
        assert_eq!(seen[0].header("user-agent"), ["probe/1"]);
        // Failing: the server wants the header.
        settings.headers.remove(0);
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "412 Precondition Failed: status 412 is not 200"
        );
    })
    .await;
}

#[tokio::test]
async fn basic_authentication() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let mut settings = at(port, "/auth/basic");
        settings.auth = Some(HttpAuth::Basic {
            user: BASIC_USER.into(),
            password: Secret::new(BASIC_PASSWORD),
        });
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        settings.auth = Some(HttpAuth::Basic {
            user: BASIC_USER.into(),
            password: Secret::new("wrong"),
        });
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(outcome.response, "401 Unauthorized: status 401 is not 200");
        assert!(!outcome.response.contains("wrong"));
        assert_eq!(seen(&log).len(), 2);
    })
    .await;
}

#[tokio::test]
async fn bearer_authentication() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let mut settings = at(port, "/auth/bearer");
        settings.auth = Some(HttpAuth::Bearer {
            token: Secret::new(BEARER_TOKEN),
        });
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        settings.auth = Some(HttpAuth::Bearer {
            token: Secret::new("t0ken-124"),
        });
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        // Without any authentication too.
        settings.auth = None;
        assert_eq!(code(&poll(&settings).await), Some(147));
    })
    .await;
}

#[tokio::test]
async fn post_and_put_send_the_body_with_tags() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        for (method, name) in [(HttpPollMethod::Post, "POST"), (HttpPollMethod::Put, "PUT")] {
            let mut settings = at(port, &format!("/method/{name}"));
            settings.method = method;
            settings.body = r#"{"from":"$SERVERNAME$"}"#.into();
            settings.headers = vec![("Content-Type".into(), "application/json".into())];
            settings.criteria.body = vec![TextRule::Contains(format!(
                r#"got {name} {{"from":"test"}}"#
            ))];
            let outcome = poll(&settings).await;
            assert!(outcome.is_success(), "{name}: {outcome:?}");
            let last = seen(&log).pop().unwrap();
            assert_eq!(last.method, name);
            assert_eq!(last.body, br#"{"from":"test"}"#);
            assert_eq!(last.header("content-type"), ["application/json"]);
            assert_eq!(last.header("content-length"), ["15"]);
        }
        // Failing: a PUT where only POST is allowed.
        let mut settings = at(port, "/method/POST");
        settings.method = HttpPollMethod::Put;
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "405 Method Not Allowed: status 405 is not 200"
        );
    })
    .await;
}

#[tokio::test]
async fn get_and_head_send_no_body() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        for (method, name) in [(HttpPollMethod::Get, "GET"), (HttpPollMethod::Head, "HEAD")] {
            let mut settings = at(port, &format!("/method/{name}"));
            settings.method = method;
            settings.body = "ignored".into();
            let outcome = poll(&settings).await;
            assert!(outcome.is_success(), "{name}: {outcome:?}");
            assert!(seen(&log).pop().unwrap().body.is_empty());
        }
        // Failing: a GET where only HEAD is allowed.
        let outcome = poll(&at(port, "/method/HEAD")).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn redirects_are_followed_at_most_n_times() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let mut settings = at(port, "/hop/2");
        settings.follow_redirects = 2;
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK (after 2 redirects)");
        let paths: Vec<String> = seen(&log).into_iter().map(|s| s.path).collect();
        assert_eq!(paths, ["/hop/2", "/hop/1", "/hop/0"]);
        // Every hop on the same host goes to the poll address with the URL's Host.
        assert!(
            seen(&log)
                .iter()
                .all(|s| s.host == Some(format!("{HOST}:{port}")))
        );
        // Failing: one more than allowed.
        let mut settings = at(port, "/hop/3");
        settings.follow_redirects = 2;
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(outcome.response, "302 Found: more than 2 redirects");
        // Not following: the redirect itself is judged.
        let outcome = poll(&at(port, "/hop/1")).await;
        assert_eq!(outcome.response, "302 Found: status 302 is not 200");
    })
    .await;
}

#[tokio::test]
async fn a_redirect_to_another_host_fails_when_only_the_same_host_is_allowed() {
    bounded(async {
        let (port2, _log2) = http_server(IP2, None).await;
        let (port3, log3) = http_server(IP3, None).await;
        let mut settings = at(port2, &format!("/away/{port3}"));
        settings.follow_redirects = 3;
        settings.auth = Some(HttpAuth::Bearer {
            token: Secret::new(BEARER_TOKEN),
        });
        assert!(settings.redirect_same_host_only, "the default");
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert_eq!(
            outcome.response,
            "302 Found: redirect to another host (127.0.0.3) not followed"
        );
        assert!(seen(&log3).is_empty());
        // Allowed: followed to 127.0.0.3, without the credentials of the first host.
        settings.redirect_same_host_only = false;
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK (after 1 redirect)");
        let seen3 = seen(&log3);
        assert_eq!(seen3.len(), 1);
        assert_eq!(seen3[0].host, Some(format!("127.0.0.3:{port3}")));
        assert!(seen3[0].header("authorization").is_empty());
    })
    .await;
}

#[tokio::test]
async fn a_redirect_to_https_on_the_same_host_takes_tls_to_the_poll_address() {
    bounded(async {
        let (plain, _log) = http_server(IP2, None).await;
        let (tls, tls_log) = http_server(IP2, Some(self_signed())).await;
        let mut settings = at(plain, &format!("/to-https/{tls}"));
        settings.follow_redirects = 1;
        settings.verify_certificate = false;
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        assert_eq!(outcome.response, "200 OK (after 1 redirect)");
        let seen = seen(&tls_log);
        assert_eq!(seen[0].sni.as_deref(), Some(HOST));
        assert_eq!(seen[0].host, Some(format!("{HOST}:{tls}")));
        // Failing: verified, the self-signed certificate is refused in the TLS stage.
        settings.verify_certificate = true;
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(112), "{outcome:?}");
    })
    .await;
}

#[tokio::test]
async fn see_other_after_a_post_continues_with_get() {
    bounded(async {
        let (port, log) = http_server(IP2, None).await;
        let mut settings = at(port, "/see-other");
        settings.method = HttpPollMethod::Post;
        settings.body = "form".into();
        settings.follow_redirects = 1;
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        let seen = seen(&log);
        assert_eq!((seen[1].method.as_str(), seen[1].body.len()), ("GET", 0));
    })
    .await;
}

#[tokio::test]
async fn a_response_slower_than_the_limit_fails_with_128() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let mut settings = at(port, "/slow/20");
        settings.response_time_limit = Duration::from_secs(5);
        let outcome = poll(&settings).await;
        assert!(outcome.is_success(), "{outcome:?}");
        // Failing: the server answers after 3 s, the limit is 300 ms (the time-out 10 s).
        let mut settings = at(port, "/slow/3000");
        settings.response_time_limit = Duration::from_millis(300);
        let outcome = poll(&settings).await;
        assert_eq!(code(&outcome), Some(128), "{outcome:?}");
        assert!(
            outcome.response.starts_with(
                "slower than the limit of 300 ms: timeout after 0.3 s waiting for response"
            ),
            "{}",
            outcome.response
        );
        // The poll stopped waiting at the limit, not at the server's answer.
        assert!(outcome.elapsed < Duration::from_secs(3), "{outcome:?}");
    })
    .await;
}

fn json(pointer: &str, test: JsonTest) -> JsonRule {
    JsonRule {
        pointer: pointer.into(),
        test,
    }
}

async fn json_poll(port: u16, path: &str, rule: JsonRule) -> PollOutcome {
    let mut settings = at(port, path);
    settings.json = vec![rule];
    poll(&settings).await
}

#[tokio::test]
async fn json_rules_pass_and_fail() {
    bounded(async {
        let (port, _log) = http_server(IP2, None).await;
        let text = |v: &str| format!("{v:?}");
        let cases: Vec<(&str, JsonRule, Result<(), &str>)> = vec![
            ("/json/up", json("/components/db", JsonTest::Exists), Ok(())),
            (
                "/json/up",
                json("/components/cache", JsonTest::Exists),
                Err("200 OK: /components/cache is missing"),
            ),
            (
                "/json/up",
                json("/status", JsonTest::Equals(text("UP"))),
                Ok(()),
            ),
            (
                "/json/down",
                json("/status", JsonTest::Equals(text("UP"))),
                Err(r#"200 OK: /status is "DOWN", not "UP""#),
            ),
            (
                "/json/up",
                json("/version", JsonTest::Equals("3".into())),
                Ok(()),
            ),
            (
                "/json/up",
                json("/status", JsonTest::NotEquals(text("DOWN"))),
                Ok(()),
            ),
            (
                "/json/down",
                json("/status", JsonTest::NotEquals(text("DOWN"))),
                Err(r#"200 OK: /status is "DOWN""#),
            ),
            (
                "/json/up",
                json("/tags", JsonTest::Contains(text("primary"))),
                Ok(()),
            ),
            (
                "/json/up",
                json("/tags", JsonTest::Contains(text("backup"))),
                Err(r#"200 OK: /tags (["eu","primary"]) does not contain "backup""#),
            ),
        ];
        for (path, rule, want) in cases {
            let label = format!("{path} {rule:?}");
            let outcome = json_poll(port, path, rule).await;
            match want {
                Ok(()) => assert!(outcome.is_success(), "{label}: {outcome:?}"),
                Err(text) => {
                    assert_eq!(code(&outcome), Some(147), "{label}: {outcome:?}");
                    assert_eq!(outcome.response, text, "{label}");
                }
            }
        }
        // A body that is no JSON fails every rule.
        let outcome = json_poll(port, "/json/broken", json("", JsonTest::Exists)).await;
        assert_eq!(code(&outcome), Some(147), "{outcome:?}");
        assert!(
            outcome
                .response
                .starts_with("200 OK: the body is not JSON ("),
            "{}",
            outcome.response
        );
    })
    .await;
}

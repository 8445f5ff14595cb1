//! The support file (File → *Support file...*): what a helper needs to see, without secrets.

use std::collections::VecDeque;

use super::events::LogLine;
use super::problems::Problem;
use crate::model::{Settings, redact};
use crate::store::history::iso_utc;

/// The text of the support file. The settings are written in their `Debug` form on
/// purpose: every secret (TSIG secrets, passwords, the API password) is a
/// [`crate::model::Secret`], whose `Debug` prints `***`, so no secret can reach the file.
/// What is not a `Secret` but may hold one is hidden too ([`redact`]): user info and query
/// values of URLs, secret headers, command arguments; URLs in problems and log lines.
pub fn bundle(settings: &Settings, problems: &[Problem], log: &VecDeque<LogLine>) -> String {
    let settings = match redact::settings(settings) {
        Some(redacted) => format!("{redacted:#?}"),
        None => "(not shown: they could not be redacted)".to_string(),
    };
    let mut out = format!(
        "Standby {} support file, written {}\n\n== Settings (secrets, credentials in URLs, \
         secret headers and command arguments shown as ***) ==\n{settings}\n\n",
        env!("CARGO_PKG_VERSION"),
        iso_utc(std::time::SystemTime::now()),
    );
    out.push_str(&format!("== Problems ({}) ==\n", problems.len()));
    for p in problems {
        out.push_str(&format!(
            "{} {} {} {}: {}\n",
            iso_utc(p.first_seen),
            p.set,
            p.subject,
            p.code,
            redact::urls_in_text(&p.text)
        ));
    }
    out.push_str(&format!("\n== Live log ({} lines) ==\n", log.len()));
    for line in log {
        out.push_str(&format!(
            "{} {:?} {}\n",
            iso_utc(line.time),
            line.level,
            redact::urls_in_text(&line.text)
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Secret;

    #[test]
    fn secrets_do_not_reach_the_file() {
        let mut settings = Settings::default();
        settings.options.http_api.password = Secret::new("api-hunter2");
        let text = bundle(&settings, &[], &VecDeque::new());
        assert!(!text.contains("api-hunter2"), "{text}");
        assert!(text.contains("***"));
    }

    #[test]
    fn credentials_that_are_not_secrets_do_not_reach_the_file_either() {
        use crate::model::dns_server::HttpRequest;
        use crate::model::notification::{NotificationKind, NotificationMethod};
        use crate::model::{CommandSpec, HttpPoll, PollMethod, ServerSet};
        let mut settings = Settings::default();
        settings
            .options
            .notification
            .default_methods
            .push(NotificationMethod {
                kind: NotificationKind::Http(HttpRequest {
                    url: "https://hook:pw-in-url@chat.example.test/send?token=tok-in-query".into(),
                    headers: vec![
                        ("Authorization".into(), "Bearer bearer-token".into()),
                        ("X-API-Key".into(), "api-key-value".into()),
                        ("Accept".into(), "text/plain".into()),
                    ],
                    ..HttpRequest::default()
                }),
                ..NotificationMethod::default()
            });
        settings.server_sets.push(ServerSet {
            name: "web".into(),
            polling: PollMethod::Http(HttpPoll {
                url: "http://monitor:poll-pw@www.example.test/health?key=poll-key".into(),
                ..HttpPoll::default()
            }),
            ..ServerSet::default()
        });
        settings.server_sets.push(ServerSet {
            name: "cmd".into(),
            polling: PollMethod::Command(CommandSpec {
                program: "/usr/bin/check".into(),
                args: vec![
                    "--quiet".into(),
                    "--password=arg-pw".into(),
                    "$SERVERIP$".into(),
                ],
                ..CommandSpec::default()
            }),
            ..ServerSet::default()
        });
        let log = VecDeque::from([LogLine {
            time: std::time::SystemTime::UNIX_EPOCH,
            level: super::super::events::Level::Warning,
            text: "POST https://u:log-pw@chat.example.test/send?token=log-token: 401".into(),
        }]);
        let text = bundle(&settings, &[], &log);
        for secret in [
            "pw-in-url",
            "tok-in-query",
            "bearer-token",
            "api-key-value",
            "poll-pw",
            "poll-key",
            "arg-pw",
            "log-pw",
            "log-token",
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        // What helps a helper stays.
        for kept in [
            "chat.example.test/send?token=***",
            "text/plain",
            "--quiet",
            "$SERVERIP$",
            "/usr/bin/check",
        ] {
            assert!(text.contains(kept), "{kept} missing:\n{text}");
        }
    }
}

//! Every message has a stable id that a receiver can de-duplicate on: the same at every
//! retry. E-mail carries it as the Message-ID (checked against a real SMTP server that
//! refuses the first try), commands get it as `$MESSAGEID$`.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::support::notify::{SmtpOptions, SmtpSink, header};
use crate::support::ports::free_port;
use standby::model::tags::TagValues;
use standby::model::{
    CommandSpec, EmailNotification, EventKind, NotificationKind, NotificationMethod, Settings,
    SmtpSecurity, SmtpServer,
};
use standby::notify::{Dispatcher, Input, Notice, NotifyConfig, Report};
use tokio::sync::mpsc;

/// Runs a dispatcher with one method and fast retries; sends one "server failed" and
/// waits (bounded) for its delivery after `failures` failed tries.
async fn deliver_after_failures(method: NotificationKind, failures: usize) {
    let mut settings = Settings::default();
    settings.options.notification.default_methods = vec![NotificationMethod {
        kind: method,
        ..NotificationMethod::default()
    }];
    let settings = Arc::new(settings);
    let (reports_tx, mut reports) = mpsc::unbounded_channel();
    let config = NotifyConfig {
        retry_first: Duration::from_millis(100),
        retry_max: Duration::from_millis(200),
        ..NotifyConfig::default()
    };
    let dispatcher = Dispatcher::new(config, move || settings.clone(), reports_tx).unwrap();
    let (notices, notices_rx) = mpsc::channel(10);
    let (_tests, tests_rx) = mpsc::channel(1);
    tokio::spawn(dispatcher.run(notices_rx, tests_rx));
    notices
        .send(Input::Notice(Notice {
            kind: EventKind::ServerFailed,
            set: "web".into(),
            subject: "192.0.2.7".into(),
            time: SystemTime::now(),
            tags: TagValues::new().with("SERVERIP", "192.0.2.7"),
        }))
        .await
        .unwrap();
    let mut failed = 0;
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match reports.recv().await.unwrap() {
                Report::Delivered { .. } => break,
                Report::Failed { .. } => failed += 1,
            }
        }
    })
    .await
    .expect("delivered within 20 s");
    assert_eq!(failed, failures);
}

#[tokio::test]
async fn an_e_mail_tried_again_has_the_same_message_id() {
    let dir = tempfile::tempdir().unwrap();
    let ip = IpAddr::from([127, 0, 0, 66]);
    let port = free_port(ip);
    let options = SmtpOptions {
        fail_first: 1,
        ..SmtpOptions::default()
    };
    let sink = SmtpSink::start(ip, port, dir.path(), &options).await;
    let method = NotificationKind::Email(EmailNotification {
        to: vec!["ops@example.test".into()],
        smtp: Some(SmtpServer {
            host: ip.to_string(),
            port,
            security: SmtpSecurity::Plain,
            login: None,
        }),
        ..EmailNotification::default()
    });
    deliver_after_failures(method, 1).await;
    let rejected = std::fs::read_to_string(dir.path().join("rejected-1.eml")).unwrap();
    let delivered = sink.messages();
    assert_eq!(delivered.len(), 1);
    let id = header(&delivered[0], "Message-ID").expect("a Message-ID");
    assert!(id.starts_with('<') && id.ends_with("@standby>"), "{id}");
    assert_eq!(header(&rejected, "Message-ID"), Some(id));
    sink.stop().await;
}

#[tokio::test]
async fn a_command_tried_again_gets_the_same_messageid_tag() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ids.txt");
    let flag = dir.path().join("tried");
    // Writes the id, and fails the first time.
    let method = NotificationKind::Command(CommandSpec {
        program: "sh".into(),
        args: vec![
            "-c".into(),
            "printf '%s\\n' \"$1\" >> \"$2\"; [ -e \"$3\" ] || { : > \"$3\"; exit 1; }".into(),
            "sh".into(),
            "$MESSAGEID$".into(),
            out.display().to_string(),
            flag.display().to_string(),
        ],
        wait: Some(standby::model::criteria::CommandWait {
            exit_code: Some(standby::model::criteria::ExitCodeRule::default()),
            ..Default::default()
        }),
    });
    deliver_after_failures(method, 1).await;
    let ids: Vec<String> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[0].len(), 32, "{ids:?}");
}

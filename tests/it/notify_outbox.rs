//! The outbox survives a restart: with the SMTP server down, a failing server raises
//! events whose e-mails fail and wait in the outbox; the engine is stopped and started
//! again (on the same database), the SMTP server comes up, and every message is delivered
//! exactly once. A message waiting in the outbox takes the e-mail defaults as they are
//! at each try: mending the SMTP server there reaches it.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use standby::engine::{EngineConfig, EngineHandle, Snapshot};
use standby::model::{
    EmailNotification, HttpPoll, NotificationKind, NotificationMethod, PollFrequency, PollMethod,
    Server, ServerSet, Settings, SmtpSecurity, SmtpServer,
};
use standby::notify::NotifyConfig;
use standby::store::Outbox;

use crate::support::notify::{SmtpOptions, SmtpSink, header};
use crate::support::ports::free_port;
use crate::support::wait_until;

fn settings(smtp_ip: IpAddr, smtp_port: u16, paused: bool) -> Settings {
    let dead = IpAddr::from([127, 0, 0, 38]);
    let mut settings = Settings::default();
    settings.options.notification.default_methods = vec![NotificationMethod {
        kind: NotificationKind::Email(EmailNotification {
            to: vec!["ops@example.test".into()],
            smtp: Some(SmtpServer {
                host: smtp_ip.to_string(),
                port: smtp_port,
                security: SmtpSecurity::Plain,
                login: None,
            }),
            ..EmailNotification::default()
        }),
        ..NotificationMethod::default()
    }];
    settings.server_sets.push(ServerSet {
        name: "web".into(),
        servers: vec![Server {
            public_ip: dead.to_string(),
            name: "only".into(),
            ..Server::default()
        }],
        polling: PollMethod::Http(HttpPoll {
            url: format!("http://www.example.test:{}/", free_port(dead)),
            ..HttpPoll::default()
        }),
        frequency: PollFrequency {
            interval: std::time::Duration::from_secs(1),
            failed_interval: std::time::Duration::from_secs(1),
            retries: 0,
            retry_interval: std::time::Duration::from_secs(1),
            timeout: std::time::Duration::from_secs(2),
            recover_after: 2,
            sequential: false,
        },
        paused,
        ..ServerSet::default()
    });
    settings
}

fn engine(settings: Settings, database: &Path) -> EngineHandle {
    EngineHandle::spawn(EngineConfig {
        settings,
        settings_path: None,
        settings_error: None,
        database: Some(database.to_path_buf()),
        notify: NotifyConfig {
            database: Some(database.to_path_buf()),
            retry_first: Duration::from_millis(200),
            retry_max: Duration::from_secs(1),
            ..NotifyConfig::default()
        },
    })
    .unwrap()
}

fn log_lines(snapshot: &Arc<Snapshot>, needle: &str) -> usize {
    snapshot
        .log
        .iter()
        .filter(|l| l.text.contains(needle))
        .count()
}

#[test]
fn pending_messages_go_out_after_a_restart_exactly_once() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("standby.db");
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    let smtp_ip = IpAddr::from([127, 0, 0, 37]);
    let smtp_port = free_port(smtp_ip);

    // 1. The SMTP server is down: "server failed" and "all servers failed" cannot go out.
    let first = engine(settings(smtp_ip, smtp_port, false), &database);
    runtime.block_on(wait_until(&first, "two failed e-mails", |s| {
        log_lines(&Arc::new(s.clone()), "(attempt 1;") >= 2
    }));
    let snapshot = first.snapshot();
    let problem = snapshot
        .problems
        .iter()
        .find(|p| p.code.get() / 100 == 3)
        .expect("a notification problem");
    assert_eq!(problem.code, 311, "{problem:?}");
    assert_eq!(problem.set, "web");
    first.shutdown();
    assert_eq!(Outbox::open(Some(&database)).unwrap().len().unwrap(), 2);

    // 2. Started again (the set paused, so no new events); then the SMTP server comes up.
    let second = engine(settings(smtp_ip, smtp_port, true), &database);
    let sink = runtime.block_on(SmtpSink::start(
        smtp_ip,
        smtp_port,
        &mail,
        &SmtpOptions::default(),
    ));
    runtime.block_on(wait_until(&second, "both delivered", |s| {
        log_lines(&Arc::new(s.clone()), "accepted by") >= 2
            && !s.problems.iter().any(|p| p.code.get() / 100 == 3)
    }));
    second.shutdown();

    let messages = sink.messages();
    let mut subjects: Vec<&str> = messages
        .iter()
        .map(|m| header(m, "Subject").unwrap())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "Standby: All servers failed - web ",
            "Standby: Server failed - web only"
        ]
    );
    assert_eq!(Outbox::open(Some(&database)).unwrap().len().unwrap(), 0);
    runtime.block_on(sink.stop());
}

#[test]
fn a_mended_smtp_server_in_the_e_mail_defaults_reaches_waiting_messages() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("standby.db");
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    let smtp_ip = IpAddr::from([127, 0, 0, 39]);
    let wrong_port = free_port(smtp_ip);
    let right_port = free_port(smtp_ip);
    // The method takes its SMTP server from the e-mail defaults, which name a dead port.
    let with_defaults = |port: u16, paused: bool| {
        let mut s = settings(smtp_ip, port, paused);
        if let NotificationKind::Email(email) = &mut s.options.notification.default_methods[0].kind
        {
            s.email_defaults.smtp = email.smtp.take().unwrap();
        }
        s
    };
    let engine = engine(with_defaults(wrong_port, false), &database);
    runtime.block_on(wait_until(&engine, "two failed e-mails", |s| {
        log_lines(&Arc::new(s.clone()), "(attempt 1;") >= 2
    }));
    // The operator mends the port in the defaults (and pauses the set: no new events).
    let sink = runtime.block_on(SmtpSink::start(
        smtp_ip,
        right_port,
        &mail,
        &SmtpOptions::default(),
    ));
    runtime
        .block_on(engine.apply_settings(with_defaults(right_port, true)))
        .unwrap();
    runtime.block_on(wait_until(&engine, "both delivered", |s| {
        log_lines(&Arc::new(s.clone()), "accepted by") >= 2
    }));
    engine.shutdown();
    assert_eq!(sink.messages().len(), 2);
    assert_eq!(Outbox::open(Some(&database)).unwrap().len().unwrap(), 0);
    runtime.block_on(sink.stop());
}

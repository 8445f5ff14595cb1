//! E-mail notifications against a real SMTP server (aiosmtpd, tests/peers/smtp_sink.py):
//! plain, STARTTLS with a test certificate and a login, TLS from the first byte, a wrong
//! password, the e-mail defaults, and the engine's Test command.

use std::net::IpAddr;
use std::time::Duration;

use standby::engine::{EngineConfig, EngineHandle};
use standby::model::tags::TagValues;
use standby::model::{
    EmailDefaults, EmailMessage, EmailNotification, NotificationKind, NotificationMethod, Secret,
    Settings, SmtpLogin, SmtpSecurity, SmtpServer,
};
use standby::notify::{NotifyConfig, build, resolve};

use crate::support::notify::{SmtpOptions, SmtpSink, body, header, test_certificate};
use crate::support::ports::free_port;

const LIMIT: Duration = Duration::from_secs(30);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn server(
    ip: IpAddr,
    port: u16,
    security: SmtpSecurity,
    login: Option<(&str, &str)>,
) -> SmtpServer {
    SmtpServer {
        host: ip.to_string(),
        port,
        security,
        login: login.map(|(user, password)| SmtpLogin {
            user: user.into(),
            password: Secret::new(password),
        }),
    }
}

fn tags() -> TagValues {
    TagValues::new()
        .with("EVENT", "Server failed")
        .with("SETNAME", "web")
        .with("SERVERIP", "192.0.2.7")
        .with("RESPONSE", "connection refused")
}

async fn send(
    email: EmailNotification,
    defaults: &EmailDefaults,
    config: &NotifyConfig,
) -> Result<String, standby::notify::NotifyError> {
    let kind = resolve(&NotificationKind::Email(email), defaults);
    let notifier = build(&kind, config)?;
    tokio::time::timeout(LIMIT, notifier.send(&tags()))
        .await
        .expect("send ended in time")
}

#[tokio::test]
async fn plain_smtp_to_two_recipients_with_expanded_tags() {
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(31);
    let sink = SmtpSink::start(ip, free_port(ip), dir.path(), &SmtpOptions::default()).await;
    let email = EmailNotification {
        to: vec!["ops@example.test".into(), "boss@example.test".into()],
        from: Some("standby@example.test".into()),
        message: Some(EmailMessage {
            subject: "$EVENT$: $SETNAME$".into(),
            body: "Server $SERVERIP$ answered: $RESPONSE$ ($UNKNOWN$)".into(),
        }),
        smtp: Some(server(ip, sink.port, SmtpSecurity::Plain, None)),
    };
    let text = send(email, &EmailDefaults::default(), &NotifyConfig::default())
        .await
        .unwrap();
    assert!(text.contains("250"), "{text}");
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(header(m, "From"), Some("standby@example.test"));
    assert_eq!(header(m, "To"), Some("ops@example.test, boss@example.test"));
    assert_eq!(
        header(m, "X-Envelope-To"),
        Some("ops@example.test, boss@example.test")
    );
    assert_eq!(header(m, "Subject"), Some("Server failed: web"));
    assert_eq!(
        body(m).trim_end(),
        "Server 192.0.2.7 answered: connection refused ($UNKNOWN$)"
    );
    sink.stop().await;
}

#[tokio::test]
async fn starttls_with_login_from_the_email_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(32);
    let (ca, cert, key) = test_certificate(dir.path(), ip);
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    let options = SmtpOptions {
        tls: Some((cert, key)),
        implicit: false,
        auth: Some(("alice".into(), "s3cret".into())),
        ..SmtpOptions::default()
    };
    let sink = SmtpSink::start(ip, free_port(ip), &mail, &options).await;
    let defaults = EmailDefaults {
        from: "defaults@example.test".into(),
        message: EmailMessage {
            subject: "Default: $EVENT$".into(),
            body: "Set $SETNAME$".into(),
        },
        smtp: server(
            ip,
            sink.port,
            SmtpSecurity::StartTls,
            Some(("alice", "s3cret")),
        ),
    };
    let config = NotifyConfig {
        extra_roots_pem: vec![ca.into_bytes()],
        ..NotifyConfig::default()
    };
    // Every field left to the defaults.
    let email = EmailNotification {
        to: vec!["ops@example.test".into()],
        ..EmailNotification::default()
    };
    send(email, &defaults, &config).await.unwrap();
    let messages = sink.messages();
    assert_eq!(messages.len(), 1);
    assert_eq!(header(&messages[0], "From"), Some("defaults@example.test"));
    assert_eq!(
        header(&messages[0], "Subject"),
        Some("Default: Server failed")
    );
    assert_eq!(body(&messages[0]).trim_end(), "Set web");

    // The same server with a wrong password: the server's answer, a 3xx problem of stage 2.
    let wrong = EmailNotification {
        to: vec!["ops@example.test".into()],
        smtp: Some(server(
            ip,
            sink.port,
            SmtpSecurity::StartTls,
            Some(("alice", "wrong")),
        )),
        ..EmailNotification::default()
    };
    let err = send(wrong, &defaults, &config).await.unwrap_err();
    assert_eq!(err.code(), 342, "{err}");
    assert!(err.text.contains("535"), "{err}");
    assert!(!err.text.contains("wrong"), "the password leaked: {err}");
    assert_eq!(sink.messages().len(), 1);

    // An untrusted certificate is refused at the TLS stage.
    let untrusted = EmailNotification {
        to: vec!["ops@example.test".into()],
        ..EmailNotification::default()
    };
    let err = send(untrusted, &defaults, &NotifyConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.code() / 10 % 10, 4, "{err}");
    assert_eq!(err.code() % 10, 2, "{err}");
    sink.stop().await;
}

#[tokio::test]
async fn tls_from_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(33);
    let (ca, cert, key) = test_certificate(dir.path(), ip);
    let mail = dir.path().join("mail");
    std::fs::create_dir(&mail).unwrap();
    let options = SmtpOptions {
        tls: Some((cert, key)),
        implicit: true,
        ..SmtpOptions::default()
    };
    let sink = SmtpSink::start(ip, free_port(ip), &mail, &options).await;
    let email = EmailNotification {
        to: vec!["ops@example.test".into()],
        from: Some("tls@example.test".into()),
        message: None,
        smtp: Some(server(ip, sink.port, SmtpSecurity::Tls, None)),
    };
    let config = NotifyConfig {
        extra_roots_pem: vec![ca.into_bytes()],
        ..NotifyConfig::default()
    };
    send(email, &EmailDefaults::default(), &config)
        .await
        .unwrap();
    assert_eq!(
        header(&sink.messages()[0], "From"),
        Some("tls@example.test")
    );
    sink.stop().await;
}

#[tokio::test]
async fn nobody_listening_is_a_connect_problem() {
    let ip = ip(34);
    let email = EmailNotification {
        to: vec!["ops@example.test".into()],
        smtp: Some(server(ip, free_port(ip), SmtpSecurity::Plain, None)),
        ..EmailNotification::default()
    };
    let err = send(email, &EmailDefaults::default(), &NotifyConfig::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 311, "{err}");
    assert!(err.text.contains(&ip.to_string()), "{err}");
}

#[test]
fn the_engines_test_command_reports_success_and_the_exact_error() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ip = ip(35);
    let sink = runtime.block_on(SmtpSink::start(
        ip,
        free_port(ip),
        dir.path(),
        &SmtpOptions {
            auth: Some(("bob".into(), "right".into())),
            ..SmtpOptions::default()
        },
    ));
    let engine = EngineHandle::spawn(EngineConfig::in_memory(Settings::default())).unwrap();
    let method = |password: &str| NotificationMethod {
        kind: NotificationKind::Email(EmailNotification {
            to: vec!["ops@example.test".into()],
            smtp: Some(server(
                ip,
                sink.port,
                SmtpSecurity::Plain,
                Some(("bob", password)),
            )),
            ..EmailNotification::default()
        }),
        ..NotificationMethod::default()
    };
    runtime.block_on(async {
        let ok = tokio::time::timeout(LIMIT, engine.test_notification(method("right")))
            .await
            .unwrap()
            .unwrap();
        assert!(ok.contains("250"), "{ok}");
        let messages = sink.messages();
        assert_eq!(messages.len(), 1);
        assert!(
            header(&messages[0], "Subject").unwrap().contains("Test"),
            "{}",
            messages[0]
        );
        let err = tokio::time::timeout(LIMIT, engine.test_notification(method("bad")))
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err,
                standby::engine::CallError::Notification { code: 342, .. }
            ),
            "{err:?}"
        );
        let err = err.to_string();
        assert!(err.starts_with("342 "), "{err}");
        assert!(err.contains("535"), "{err}");
    });
    engine.shutdown();
    runtime.block_on(sink.stop());
}

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::model::{SmtpSecurity, validate};

const COMPLETE: &str = include_str!("../../../tests/fixtures/v1-complete.xml");
const UNKNOWN: &str = include_str!("../../../tests/fixtures/v1-unknown.xml");

fn rfc2136(server: &DnsServer) -> &Rfc2136Update {
    match &server.update {
        UpdateMethod::Rfc2136(r) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_complete_file_converts_field_by_field_and_validates() {
    let imported = import(COMPLETE).unwrap();
    let s = &imported.settings;

    // The root's options.
    let smtp = &s.email_defaults.smtp;
    assert_eq!((smtp.host.as_str(), smtp.port), ("smtp.example.com", 587));
    assert_eq!(smtp.security, SmtpSecurity::Plain);
    let login = smtp.login.as_ref().unwrap();
    assert_eq!(
        (login.user.as_str(), login.password.expose()),
        ("failover", "smtp-pass")
    );
    assert_eq!(s.email_defaults.from, "failover@example.com");
    assert!(s.options.http_api.enabled);
    assert_eq!(s.options.http_api.listen, "127.0.0.1:8101");
    assert_eq!(s.options.http_api.password.expose(), "api-pass");
    assert!(s.options.system_log.enabled);
    assert!(!s.options.user_interface.desktop_notification);
    let defaults = &s.options.dns_updating.default_dns_servers;
    assert_eq!(defaults.len(), 1);
    assert_eq!(
        (defaults[0].address.as_str(), defaults[0].port),
        ("192.0.2.53", 53)
    );
    assert_eq!(rfc2136(&defaults[0]).tsig, None);

    let names: Vec<&str> = s.server_sets.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "www.example.com",
            "status.example.com",
            "mail.example.com",
            "ftp.example.com",
            "app.example.com",
            "gw.example.com"
        ]
    );

    // The web set: HTTPS poll, frequency, servers with their Custom, DNS, e-mail, notes.
    let web = &s.server_sets[0];
    match &web.polling {
        PollMethod::Http(h) => {
            assert_eq!(h.url, "https://www.example.com:8443/health?full=1&fmt=txt");
            assert_eq!(h.method, HttpPollMethod::Get);
            assert_eq!(h.criteria.status_codes, vec![200, 301]);
        }
        other => panic!("{other:?}"),
    }
    let f = &web.frequency;
    assert_eq!(
        (
            f.interval.as_secs(),
            f.failed_interval.as_secs(),
            f.retry_interval.as_secs(),
            f.timeout.as_secs(),
            f.retries,
            f.sequential
        ),
        (120, 30, 15, 20, 3, true)
    );
    assert!(!web.paused);
    let servers: Vec<(&str, &str)> = web
        .servers
        .iter()
        .map(|x| (x.public_ip.as_str(), x.notes.as_str()))
        .collect();
    assert_eq!(
        servers,
        [
            ("192.0.2.1", "v1 Custom: rack A"),
            ("192.0.2.2", ""),
            ("2001:db8::2", "")
        ]
    );
    assert_eq!(
        web.dns.host_names,
        ["www.example.com", "example.com", "web.example.com"]
    );
    assert_eq!(web.dns.ttl, 30);
    assert_eq!(web.dns.addresses_of, AddressSelection::AllFunctional);
    assert!(web.update_dns.enabled);
    assert!(web.update_dns.use_default_servers);
    let own = &web.update_dns.dns_servers;
    assert_eq!(own.len(), 3);
    assert_eq!(
        (own[0].address.as_str(), own[0].port, own[0].notes.as_str()),
        ("198.51.100.53", 5353, "v1 Custom: primary")
    );
    let key = rfc2136(&own[0]).tsig.as_ref().unwrap();
    assert_eq!(
        (key.name.as_str(), key.algorithm, key.secret.expose()),
        (
            "failover-key",
            TsigAlgorithm::HmacMd5,
            "c2VjcmV0LXNlY3JldA=="
        )
    );
    let key = rfc2136(&own[1]).tsig.as_ref().unwrap();
    assert_eq!(
        (key.name.as_str(), key.algorithm, key.secret.expose()),
        ("second.key", TsigAlgorithm::HmacSha256, "b3RoZXItc2VjcmV0")
    );
    assert_eq!(own[2].address, "ns.example.net");
    match &own[2].update {
        UpdateMethod::Http(r) => {
            assert_eq!(
                r.url,
                "https://dyn.example.net/nic/update?hostname=$DOM$&myip=$IP$"
            );
            let auth = r.basic_auth.as_ref().unwrap();
            assert_eq!(
                (auth.user.as_str(), auth.password.expose()),
                ("dyn-user", "dyn-pass")
            );
            assert_eq!(r.criteria.body, vec![TextRule::Contains("good".into())]);
        }
        other => panic!("{other:?}"),
    }
    assert!(web.notification.use_defaults);
    assert_eq!(web.notification.methods.len(), 1);
    match &web.notification.methods[0].kind {
        NotificationKind::Email(e) => {
            assert_eq!(e.to, ["ops@example.com", "oncall@example.com"]);
            assert_eq!((&e.from, &e.message, &e.smtp), (&None, &None, &None));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        web.notes,
        "Main web site & shop.\nCall the hosting company first.\nv1 Custom: account 4711"
    );

    // HEAD stays HEAD.
    let status = &s.server_sets[1];
    match &status.polling {
        PollMethod::Http(h) => {
            assert_eq!(h.url, "http://status.example.com/ping");
            assert_eq!(h.method, HttpPollMethod::Head);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(status.notes, "Polled with HEAD: <no body>");
    assert!(
        !status.update_dns.enabled,
        "no <DNSUpdate>: monitoring only"
    );

    // StatusCodes of TCP types are the greeting.
    let mail = &s.server_sets[2];
    assert!(mail.paused);
    match &mail.polling {
        PollMethod::Tcp(t) => {
            assert_eq!((t.service, t.port), (TcpService::Smtp, Some(2525)));
            assert_eq!(t.greeting, Some(TextRule::Matches("^(?:220|250)".into())));
        }
        other => panic!("{other:?}"),
    }
    assert!(!mail.update_dns.enabled, "Enabled=\"0\" kept");
    assert_eq!(mail.update_dns.dns_servers[0].address, "198.51.100.55");
    assert!(!mail.update_dns.use_default_servers);
    match &s.server_sets[3].polling {
        PollMethod::Tcp(t) => {
            assert_eq!((t.service, t.port), (TcpService::Ftp, None));
            assert_eq!(t.greeting, Some(TextRule::StartsWith("220".into())));
        }
        other => panic!("{other:?}"),
    }
    match &s.server_sets[4].polling {
        PollMethod::Tcp(t) => {
            assert_eq!((t.service, t.port), (TcpService::Custom, Some(7000)));
            assert_eq!(t.greeting, Some(TextRule::StartsWith("+OK".into())));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.server_sets[5].polling, PollMethod::Ping);
    assert_eq!(s.server_sets[5].frequency.failed_interval.as_secs(), 10);

    // The only warning: WinService, pointing to the service install.
    assert_eq!(imported.warnings.len(), 1, "{:?}", imported.warnings);
    assert!(imported.warnings[0].starts_with("line 4: WinService"));
    assert!(imported.warnings[0].contains("standby service install"));
    assert_eq!(validate(s), vec![], "the converted settings are valid");
}

#[test]
fn every_unknown_element_and_attribute_is_named_once_with_its_line() {
    let imported = import(UNKNOWN).unwrap();
    let mut expected = vec![
        "line 2: attribute Language of <SimpleFailover> ignored".to_string(),
        "line 3: <Scripting> ignored".into(),
        "line 4: attribute Colour of <ServerSet> ignored".into(),
        "line 5: attribute Weight of <Server> ignored".into(),
    ];
    if !cfg!(windows) {
        expected.push(
            "line 7: <DNSServer> 198.51.100.1 not converted: UpdateMethod MSWMI (Microsoft DNS) \
             works only on Windows; import there, or use dynamic updates"
                .into(),
        );
    }
    expected.extend([
        "line 8: <DNSServer> 198.51.100.2 not converted: UpdateMethod SCRIPT called the v1 \
         script's SFOUpdateDNS; make it a program and add a Command-line update with the \
         arguments $DNSSERVER$ $ZONE$ $HOST$ $IP$"
            .to_string(),
        "line 9: attribute TSIGKey of <DNSServer> ignored".into(),
        "line 11: <Schedule> ignored".into(),
        "line 14: text inside <ServerSet> ignored".into(),
    ]);
    // Sorted by line: the text's warning comes when its element is done.
    let mut got = imported.warnings.clone();
    got.sort_by_key(|w| {
        w.trim_start_matches("line ")
            .split(':')
            .next()
            .and_then(|n| n.parse::<usize>().ok())
    });
    assert_eq!(got, expected);
    let set = &imported.settings.server_sets[0];
    assert_eq!(set.servers[0].public_ip, "192.0.2.10");
    let kept: Vec<&str> = set
        .update_dns
        .dns_servers
        .iter()
        .map(|d| d.address.as_str())
        .collect();
    if cfg!(windows) {
        assert_eq!(kept, ["198.51.100.1", "198.51.100.3"]);
    } else {
        assert_eq!(kept, ["198.51.100.3"]);
    }
    assert_eq!(validate(&imported.settings), vec![]);
}

#[test]
fn secrets_never_appear_in_warnings_or_errors() {
    let xml = r#"<SimpleFailover SMTPPassword="hunter2" Odd="x">
        <ServerSet Domain="a.example.com"><DNSUpdate>
        <DNSServer IP="192.0.2.1" UpdateMethod="DNS" TSIGKey="hunter2" Password="hunter2"/>
        </DNSUpdate></ServerSet></SimpleFailover>"#;
    let imported = import(xml).unwrap();
    assert_eq!(imported.warnings.len(), 3, "{:?}", imported.warnings);
    assert!(imported.warnings.iter().all(|w| !w.contains("hunter2")));
    let err = import(
        r#"<SimpleFailover><ServerSet Domain="a.example.com"><DNSUpdate>
        <DNSServer IP="192.0.2.1" UpdateMethod="DNSTSIG" TSIGKey="hunter2"/>
        </DNSUpdate></ServerSet></SimpleFailover>"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 2: <DNSServer> needs the attribute TSIGKeyName"
    );
}

#[test]
fn a_file_cut_short_converts_what_it_has_and_says_so() {
    let imported = import(
        "<SimpleFailover>\n<ServerSet Domain=\"a.example.com\">\n<Server IP=\"192.0.2.1\"/>",
    )
    .unwrap();
    assert_eq!(imported.settings.server_sets[0].servers.len(), 1);
    assert_eq!(
        imported.warnings,
        [
            "line 1: <SimpleFailover> is not closed: the file may be cut short",
            "line 2: <ServerSet> is not closed: the file may be cut short"
        ]
    );
}

#[test]
fn errors_name_the_line() {
    let err =
        import("<SimpleFailover>\n<ServerSet ServerType=\"HTTP\">\n</ServerSet></SimpleFailover>")
            .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 2: <ServerSet> needs the attribute Domain"
    );
    let err = import("<SimpleFailover>\n\n<ServerSet Domain=\"a.example\" PollingIV=\"often\"/>")
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 3: PollingIV: \"often\" is not a valid number"
    );
    let err = import("<Other/>").unwrap_err();
    assert!(err.to_string().contains("no <SimpleFailover>"));
    let err = import("<SimpleFailover>\n<ServerSet Domain=a/>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 2: the value of Domain must be in quotes"
    );
    let err = import(
        "<SimpleFailover>\n<ServerSet Domain=\"a.example\">\n<DNSUpdate>\n\
         <DNSServer IP=\"192.0.2.1\" UpdateMethod=\"CARRIER-PIGEON\"/>",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 4: UpdateMethod \"CARRIER-PIGEON\" is not known"
    );
    let err = import(
        "<SimpleFailover>\n<ServerSet Domain=\"a.example\" ServerType=\"HTTP\" HTTPMethod=\"POST\"/>",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 2: HTTPMethod: \"POST\" is not GET or HEAD"
    );
}

#[test]
fn attributes_a_type_does_not_use_are_warned_not_dropped() {
    let imported = import(
        r#"<SimpleFailover><ServerSet Domain="g.example.com" ServerType="PING" Port="80"
           URLPath="/x" StatusCodes="200"><Server IP="192.0.2.1"/></ServerSet></SimpleFailover>"#,
    )
    .unwrap();
    assert_eq!(
        imported.warnings,
        [
            "line 1: attribute Port of <ServerSet> ignored",
            "line 1: attribute StatusCodes of <ServerSet> ignored",
            "line 1: attribute URLPath of <ServerSet> ignored"
        ]
    );
}

//! Every file in `settings/` parses and validates, and the documented defaults are the
//! code's defaults.

use std::path::Path;

use standby::model::{PollMethod, Settings, file};

#[test]
fn every_settings_file_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("settings");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "ron") {
            file::load(&path).unwrap_or_else(|e| panic!("{e}"));
            count += 1;
        }
    }
    assert!(count >= 2, "expected default.ron and example.ron");
}

#[test]
fn default_ron_is_the_code_default() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("settings/default.ron");
    assert_eq!(file::load(&path).unwrap(), Settings::default());
}

#[test]
fn example_has_realistic_sets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("settings/example.ron");
    let settings = file::load(&path).unwrap();
    assert_eq!(settings.server_sets.len(), 4);
    let web = &settings.server_sets[0];
    assert_eq!(web.servers[1].poll_address(), "203.0.113.20");
    assert!(matches!(&web.polling, PollMethod::Http(h) if h.url.starts_with("https://")));
    assert_eq!(web.frequency.recover_after, 3);
    // Fields left out take their defaults.
    assert_eq!(web.frequency.timeout.as_secs(), 10);
    let mail = &settings.server_sets[1];
    assert!(mail.frequency.sequential);
    let cluster = settings.cluster.as_ref().unwrap();
    assert_eq!(cluster.instance, "berlin");
    assert_eq!(cluster.key_prefix(), "/standby/web/");
    assert!(!format!("{cluster:?}").contains("etcd-password"));
    let secret = &settings.options.dns_updating.default_dns_servers[0];
    assert!(
        !format!("{secret:?}").contains("c3RhbmRieS"),
        "secrets must not print"
    );
}

#[test]
fn example_shows_the_http_and_tcp_checks() {
    use standby::model::{HttpAuth, TcpService};
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("settings/example.ron");
    let settings = file::load(&path).unwrap();
    let PollMethod::Http(api) = &settings.server_sets[2].polling else {
        panic!("the third set polls HTTP");
    };
    assert!(matches!(&api.auth, Some(HttpAuth::Basic { user, .. }) if user == "monitor"));
    assert_eq!(
        (api.follow_redirects, api.response_time_limit),
        (3, std::time::Duration::from_millis(800))
    );
    assert_eq!(api.json.len(), 4);
    assert!(api.json.iter().all(|rule| rule.compile().is_ok()));
    let PollMethod::Tcp(cache) = &settings.server_sets[3].polling else {
        panic!("the fourth set polls TCP");
    };
    assert_eq!(cache.service, TcpService::Redis);
    assert_eq!(
        standby::model::escapes::unescape(cache.effective_send().unwrap()).unwrap(),
        b"PING\r\n"
    );
}

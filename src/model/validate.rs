//! Validation of settings: every error, each with the path of its field.
//!
//! The single-field checks are public so that the dialogs can show the same reason beside
//! the field as it is typed.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use base64::Engine as _;

use super::Settings;
use super::criteria::{CommandSpec, HttpCriteria, TextRule};
use super::dns_server::{DnsServer, HttpRequest, UpdateMethod};
pub use super::field::FieldError;
use super::notification::{
    EmailDefaults, NotificationKind, NotificationMethod, SmtpSecurity, SmtpServer,
};
use super::polling::PollMethod;
use super::server_set::{AllFailedPolicy, ServerSet};
use super::tags;

/// One wrong field.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ValidationError {
    /// Where, e.g. `server_sets[1].servers[0].public_ip`.
    pub path: String,
    /// Why, e.g. `"10.0.0.300" is not an IP address`.
    pub message: String,
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Most redirects an HTTP poll may follow: more is a loop, not a setup.
pub const MOST_REDIRECTS: u32 = 20;

/// Checks the whole settings tree and returns every error (empty = valid).
pub fn validate(settings: &Settings) -> Vec<ValidationError> {
    let mut v = Validator::default();
    v.options(settings);
    v.email_defaults("email_defaults", &settings.email_defaults);
    let mut names = HashSet::new();
    for (i, set) in settings.server_sets.iter().enumerate() {
        let path = format!("server_sets[{i}]");
        if !set.name.is_empty() && !names.insert(set.name.as_str()) {
            v.error(
                format!("{path}.name"),
                format!("duplicate set name {:?}", set.name),
            );
        }
        v.server_set(&path, set);
    }
    v.host_names_claimed_once(settings);
    if let Some(cluster) = &settings.cluster {
        v.errors
            .extend(super::cluster::validate_cluster("cluster", cluster));
    }
    v.connectivity_guard(settings);
    v.errors
}

/// What is allowed but risky, each with the path of its field (shown in the dialogs, by
/// `check-config` and in the log when settings are applied; it does not stop a save).
pub fn warnings(settings: &Settings) -> Vec<ValidationError> {
    let mut v = Validator::default();
    v.options(settings);
    v.email_defaults("email_defaults", &settings.email_defaults);
    for (i, set) in settings.server_sets.iter().enumerate() {
        v.server_set(&format!("server_sets[{i}]"), set);
    }
    if let Some(cluster) = &settings.cluster {
        v.warnings
            .extend(super::cluster::cluster_warnings("cluster", cluster));
    }
    v.warnings
}

/// The warning of an SMTP server that would send its login in clear (no TLS, no STARTTLS).
pub fn smtp_warning(smtp: &SmtpServer) -> Option<String> {
    (smtp.security == SmtpSecurity::Plain && smtp.login.is_some()).then(|| {
        "the login and password go over the network in clear: use STARTTLS or TLS".to_string()
    })
}

/// A host name as compared between sets: lower case, without the final dot.
fn host_key(name: &str) -> String {
    // `bücher.example` and `xn--bcher-kva.example` are one name.
    super::idn::ascii_or_same(name.trim())
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

/// Checks one server set on its own (the set dialog; the duplicate-name check needs the
/// other sets and is done by [`validate`]).
pub fn validate_set(set: &ServerSet) -> Vec<ValidationError> {
    let mut v = Validator::default();
    v.server_set("", set);
    v.errors
}

// ---- single fields ------------------------------------------------------------------------

/// An IPv4 or IPv6 address.
pub fn ip_address(text: &str) -> Result<IpAddr, FieldError> {
    text.trim()
        .parse()
        .map_err(|_| FieldError::NotAnIpAddress(text.into()))
}

/// A host name (letters, digits, hyphens, dots; labels of 1–63, 253 in all). With
/// `allow_wildcard`, a leading `*.` label is accepted.
pub fn host_name(text: &str, allow_wildcard: bool) -> Result<(), FieldError> {
    // International names are judged in the form DNS carries (punycode, issue 17).
    let ascii = super::idn::to_ascii(text)?;
    let name = ascii.strip_suffix('.').unwrap_or(&ascii);
    let name = match name.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        Some(_) => return Err(FieldError::WildcardNotAllowed(text.into())),
        None => name,
    };
    if name.is_empty() {
        return Err(FieldError::HostNameRequired);
    }
    if name.len() > 253 {
        return Err(FieldError::TooLong {
            text: text.into(),
            most: 253,
        });
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(FieldError::NotAHostName(text.into()));
        }
    }
    Ok(())
}

/// A host name or an IP address.
pub fn host_or_ip(text: &str) -> Result<(), FieldError> {
    if ip_address(text).is_ok() {
        return Ok(());
    }
    host_name(text, false).map_err(|_| FieldError::NotAHostOrIp(text.into()))
}

/// An `http://` or `https://` URL with a host.
pub fn http_url(text: &str) -> Result<http::Uri, FieldError> {
    // A Unicode host is sent as punycode (and other non-ASCII text percent-encoded), so
    // it is that form that must parse.
    let ascii = super::idn::url_to_ascii(text).map_err(|e| FieldError::NotAUrl {
        text: text.into(),
        reason: e.to_string(),
    })?;
    let uri: http::Uri = ascii
        .parse()
        .map_err(|e: http::uri::InvalidUri| FieldError::NotAUrl {
            text: text.into(),
            reason: e.to_string(),
        })?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => return Err(FieldError::NotHttp(text.into())),
    }
    match uri.host() {
        Some(host) if !host.is_empty() => Ok(uri),
        _ => Err(FieldError::NoHost(text.into())),
    }
}

/// A URL that may contain `$TAG$`s: checked with sample values in place of the tags.
pub fn http_url_with_tags(text: &str) -> Result<(), FieldError> {
    http_url(&tags::expand_with_samples(text)).map(|_| ())
}

/// A regular expression.
pub fn regex(text: &str) -> Result<(), FieldError> {
    regex::Regex::new(text)
        .map(|_| ())
        .map_err(|e| FieldError::BadRegex(first_line(&e.to_string()).to_string()))
}

/// A base64 secret that is not empty.
pub fn base64_secret(text: &str) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return Err(FieldError::SecretRequired);
    }
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map(|_| ())
        .map_err(|_| FieldError::NotBase64)
}

/// An `address:port` socket address.
pub fn socket_address(text: &str) -> Result<SocketAddr, FieldError> {
    text.trim()
        .parse()
        .map_err(|_| FieldError::NotASocketAddress(text.into()))
}

/// A port other than 0.
pub fn port(value: u16) -> Result<(), FieldError> {
    if value == 0 {
        Err(FieldError::PortZero)
    } else {
        Ok(())
    }
}

/// An e-mail address (`local@domain`).
pub fn email_address(text: &str) -> Result<(), FieldError> {
    let text = text.trim();
    match text.split_once('@') {
        Some((local, domain))
            if !local.is_empty()
                && !local.contains(char::is_whitespace)
                && host_name(domain, false).is_ok() =>
        {
            Ok(())
        }
        _ => Err(FieldError::NotAnEmailAddress(text.into())),
    }
}

/// A number of at least `min`.
pub fn at_least(value: u32, min: u32) -> Result<(), FieldError> {
    if value < min {
        Err(FieldError::TooSmall {
            least: min.to_string(),
        })
    } else {
        Ok(())
    }
}

/// `value` is at most `max`; `hint` follows the message (what else the field accepts).
pub fn at_most(value: u32, max: u32, hint: &str) -> Result<(), FieldError> {
    if value > max {
        Err(FieldError::TooLarge {
            most: max,
            hint: hint.into(),
        })
    } else {
        Ok(())
    }
}

fn first_line(text: &str) -> &str {
    text.lines().last().unwrap_or(text).trim()
}

// ---- the tree -----------------------------------------------------------------------------

#[derive(Default)]
struct Validator {
    errors: Vec<ValidationError>,
    warnings: Vec<ValidationError>,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

impl Validator {
    fn maintenance(&mut self, path: &str, windows: &[super::Maintenance]) {
        for (j, window) in windows.iter().enumerate() {
            let variant = match window {
                super::Maintenance::Once { .. } => "Once",
                super::Maintenance::Weekly { .. } => "Weekly",
            };
            let wp = join(path, &format!("maintenance[{j}].{variant}"));
            for (field, message) in window.errors() {
                self.error(join(&wp, field), message.to_string());
            }
        }
    }

    fn error(&mut self, path: String, message: String) {
        self.errors.push(ValidationError { path, message });
    }

    fn check<E: std::fmt::Display>(
        &mut self,
        path: &str,
        field: &str,
        result: Result<impl Sized, E>,
    ) {
        if let Err(message) = result {
            self.error(join(path, field), message.to_string());
        }
    }

    /// DNS serving (checked only while it is on: a half-typed zone of a switched-off
    /// server blocks nothing).
    fn dns_serving(&mut self, s: &crate::model::options::DnsServingOptions) {
        if !s.enabled {
            return;
        }
        let p = "options.dns_serving";
        self.check(p, "listen_address", ip_address(&s.listen_address));
        self.check(p, "port", port(s.port));
        self.check(p, "max_tcp_connections", at_least(s.max_tcp_connections, 1));
        self.check(p, "tcp_idle_secs", at_least(s.tcp_idle_secs, 1));
        self.check(
            p,
            "max_forwards_in_flight",
            at_least(s.max_forwards_in_flight, 1),
        );
        if s.forward {
            self.check(p, "forward_to", host_or_ip(&s.forward_to));
            self.check(p, "forward_port", port(s.forward_port));
        }
        for (i, network) in s.forward_allowed_from.iter().enumerate() {
            self.check(
                p,
                &format!("forward_allowed_from[{i}]"),
                crate::model::options::parse_network(network),
            );
        }
        for (i, zone) in s.zones.iter().enumerate() {
            let zp = format!("{p}.zones[{i}]");
            self.check(&zp, "name", host_name(&zone.name, false));
            let duplicate = s.zones[..i].iter().any(|z| {
                z.name
                    .trim_end_matches('.')
                    .eq_ignore_ascii_case(zone.name.trim_end_matches('.'))
            });
            if duplicate {
                self.error(join(&zp, "name"), format!("duplicate zone {:?}", zone.name));
            }
            self.check(&zp, "primary", host_name(&zone.primary, false));
            self.check(&zp, "contact", email_address(&zone.contact));
            self.check(&zp, "minimum_secs", at_least(zone.minimum_secs, 1));
            if zone.name_servers.is_empty() {
                self.error(
                    join(&zp, "name_servers"),
                    "a zone needs at least one name server".into(),
                );
            }
            for (k, ns) in zone.name_servers.iter().enumerate() {
                let np = format!("{zp}.name_servers[{k}]");
                self.check(&np, "name", host_name(&ns.name, false));
                for (a, address) in ns.addresses.iter().enumerate() {
                    self.check(&np, &format!("addresses[{a}]"), ip_address(address));
                }
                if ns.addresses.is_empty()
                    && crate::model::options::name_is_under(&ns.name, &zone.name)
                {
                    self.error(
                        join(&np, "addresses"),
                        format!("{:?} is inside the zone: it needs a glue address", ns.name),
                    );
                }
            }
            self.zone_transfer(&join(&zp, "transfer"), &zone.transfer);
        }
    }

    /// A zone's transfers: the networks, the key, the secondaries to NOTIFY.
    fn zone_transfer(&mut self, path: &str, t: &crate::model::options::ZoneTransfer) {
        for (i, network) in t.allowed_from.iter().enumerate() {
            self.check(
                path,
                &format!("allowed_from[{i}]"),
                crate::model::options::parse_network(network),
            );
        }
        if let Some(key) = &t.key {
            let kp = join(path, "key");
            self.check(
                &kp,
                "name",
                host_name(&key.name, false)
                    .map_err(|_| format!("{:?} is not a valid key name", key.name)),
            );
            self.check(&kp, "secret", base64_secret(key.secret.expose()));
        }
        for (i, target) in t.notify.iter().enumerate() {
            self.check(
                path,
                &format!("notify[{i}]"),
                crate::model::options::parse_notify_target(target),
            );
        }
    }

    /// The guard's references, method and times; no set may take the guard's name.
    fn connectivity_guard(&mut self, settings: &Settings) {
        let g = &settings.options.connectivity_guard;
        let path = "options.connectivity_guard";
        if g.as_set().is_none() {
            return;
        }
        for (i, r) in g.references.iter().enumerate() {
            if !r.trim().is_empty() {
                self.check(path, &format!("references[{i}]"), ip_address(r).map(|_| ()));
            }
        }
        self.poll_method(&join(path, "method"), &g.method);
        let min = std::time::Duration::from_millis(10);
        self.check(path, "interval", super::duration::at_least(g.interval, min));
        self.check(path, "timeout", super::duration::at_least(g.timeout, min));
        let references = g.references.iter().filter(|r| !r.trim().is_empty()).count();
        if g.failed_at_least as usize > references {
            self.error(
                join(path, "failed_at_least"),
                format!("must be at most the number of reference targets ({references})"),
            );
        }
        for (i, set) in settings.server_sets.iter().enumerate() {
            if set.name == super::guard::GUARD_SET {
                self.error(
                    format!("server_sets[{i}].name"),
                    "is the connectivity guard's name while it has references".into(),
                );
            }
        }
    }

    fn options(&mut self, settings: &Settings) {
        let o = &settings.options;
        self.check(
            "options.polling",
            "max_concurrent_polls",
            at_most(
                o.polling.max_concurrent_polls,
                crate::model::options::MAX_CONCURRENT_POLLS,
                "(0 = auto)",
            ),
        );
        self.check(
            "options.polling",
            "history_purge_days",
            at_least(o.polling.history_purge_days, 1),
        );
        self.check(
            "options.polling",
            "history_raw_hours",
            at_least(o.polling.history_raw_hours, 1),
        );
        for (i, m) in o.notification.default_methods.iter().enumerate() {
            self.notification_method(&format!("options.notification.default_methods[{i}]"), m);
        }
        let u = &o.dns_updating;
        self.check(
            "options.dns_updating",
            "max_concurrent_updates",
            at_least(u.max_concurrent_updates, 1),
        );
        self.check(
            "options.dns_updating",
            "propagation_resolver",
            u.resolver().map(|_| ()),
        );
        for (i, server) in u.default_dns_servers.iter().enumerate() {
            self.dns_server(
                &format!("options.dns_updating.default_dns_servers[{i}]"),
                server,
            );
        }
        self.dns_serving(&o.dns_serving);
        self.check(
            "options.logging",
            "memory_lines",
            at_least(o.logging.memory_lines, 1),
        );
        self.check(
            "options.http_api",
            "listen",
            socket_address(&o.http_api.listen),
        );
    }

    fn email_defaults(&mut self, path: &str, d: &EmailDefaults) {
        self.check(path, "from", email_address(&d.from));
        self.smtp(&join(path, "smtp"), &d.smtp);
    }

    fn smtp(&mut self, path: &str, smtp: &SmtpServer) {
        self.check(path, "host", host_or_ip(&smtp.host));
        self.check(path, "port", port(smtp.port));
        if let Some(message) = smtp_warning(smtp) {
            self.warnings.push(ValidationError {
                path: join(path, "security"),
                message,
            });
        }
    }

    /// Two sets giving the same host name would fight over its records (and DNS serving
    /// could answer only one of them).
    fn host_names_claimed_once(&mut self, settings: &Settings) {
        let mut claimed: std::collections::HashMap<String, usize> = Default::default();
        for (i, set) in settings.server_sets.iter().enumerate() {
            for (j, name) in set.dns.host_names.iter().enumerate() {
                let key = host_key(name);
                if key.is_empty() {
                    continue;
                }
                match claimed.get(&key) {
                    Some(&first) if first != i => self.error(
                        format!("server_sets[{i}].dns.host_names[{j}]"),
                        format!(
                            "{name:?} is already a host name of set {:?} (server_sets[{first}])",
                            settings.server_sets[first].name
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        claimed.insert(key, i);
                    }
                }
            }
        }
    }

    fn server_set(&mut self, path: &str, set: &ServerSet) {
        if set.name.trim().is_empty() {
            self.error(join(path, "name"), "a name is required".into());
        }
        if set.servers.is_empty() {
            self.error(
                join(path, "servers"),
                "a set needs at least one server".into(),
            );
        }
        self.maintenance(path, &set.maintenance);
        let mut seen = HashSet::new();
        for (i, server) in set.servers.iter().enumerate() {
            let sp = join(path, &format!("servers[{i}]"));
            match ip_address(&server.public_ip) {
                Ok(ip) if !seen.insert(ip) => {
                    self.error(
                        join(&sp, "public_ip"),
                        format!("{ip} is already in this set"),
                    );
                }
                Ok(_) => {}
                Err(e) => self.error(join(&sp, "public_ip"), e.to_string()),
            }
            if let Some(poll_ip) = server.poll_ip.as_deref().filter(|ip| !ip.is_empty()) {
                self.check(&sp, "poll_ip", ip_address(poll_ip));
            }
            self.maintenance(&sp, &server.maintenance);
            if let Some(forced) = &server.forced {
                let fp = join(&sp, "forced");
                let set_at = super::admin::parse_time(&forced.set_at);
                let until = forced.until.as_deref().map(super::admin::parse_time);
                if let (Ok(from), Some(Ok(to))) = (&set_at, &until)
                    && to <= from
                {
                    self.error(join(&fp, "until"), "must be after set_at".into());
                }
                self.check(&fp, "set_at", set_at);
                if let Some(until) = until {
                    self.check(&fp, "until", until);
                }
            }
        }
        self.poll_method(&join(path, "polling"), &set.polling);
        let f = &set.frequency;
        let fp = join(path, "frequency");
        // 10 ms: below it a poll could not even be started and judged in time.
        let min = std::time::Duration::from_millis(10);
        let at_least_min = |d| super::duration::at_least(d, min);
        self.check(&fp, "interval", at_least_min(f.interval));
        self.check(&fp, "failed_interval", at_least_min(f.failed_interval));
        self.check(&fp, "retry_interval", at_least_min(f.retry_interval));
        self.check(&fp, "timeout", at_least_min(f.timeout));
        self.check(&fp, "recover_after", at_least(f.recover_after, 1));
        for (i, m) in set.notification.methods.iter().enumerate() {
            self.notification_method(&join(path, &format!("notification.methods[{i}]")), m);
        }
        let dp = join(path, "dns");
        for (i, name) in set.dns.host_names.iter().enumerate() {
            self.check(&dp, &format!("host_names[{i}]"), host_name(name, true));
        }
        if set.dns.ttl > i32::MAX as u32 {
            self.error(join(&dp, "ttl"), format!("must be at most {}", i32::MAX));
        }
        let low = &set.dns.low_ttl;
        if low.ttl > 0 {
            let lp = join(&dp, "low_ttl");
            if low.ttl > set.dns.ttl {
                self.error(
                    join(&lp, "ttl"),
                    format!("must be at most the TTL ({} s)", set.dns.ttl),
                );
            } else if !low.while_failed && low.after_change.is_zero() {
                self.error(
                    join(&lp, "ttl"),
                    "is never given: turn on \"while a server has failed\" or give a time \
                     after a change (or set 0)"
                        .into(),
                );
            }
            // A day: longer is no longer "just after a change", and a typo of `5d` for `5m`
            // would keep the low TTL for days.
            if low.after_change > std::time::Duration::from_secs(86_400) {
                self.error(join(&lp, "after_change"), "must be at most 1d".into());
            }
        }
        if let AllFailedPolicy::Fallback(addresses) = &set.dns.if_all_fail {
            if addresses.is_empty() {
                self.error(
                    join(&dp, "if_all_fail"),
                    "give at least one fallback address".into(),
                );
            }
            for (i, a) in addresses.iter().enumerate() {
                self.check(&dp, &format!("if_all_fail[{i}]"), ip_address(a));
            }
        }
        let up = join(path, "update_dns");
        if set.update_dns.enabled && set.dns.host_names.is_empty() {
            self.error(
                join(&dp, "host_names"),
                "updating DNS needs at least one host name".into(),
            );
        }
        for (i, server) in set.update_dns.dns_servers.iter().enumerate() {
            self.dns_server(&join(&up, &format!("dns_servers[{i}]")), server);
        }
    }

    fn poll_method(&mut self, path: &str, method: &PollMethod) {
        match method {
            PollMethod::Ping => {}
            PollMethod::Http(h) => {
                let p = join(path, "Http");
                self.check(&p, "url", http_url(&h.url));
                self.http_criteria(&join(&p, "criteria"), &h.criteria);
                self.http_poll_extras(&p, h);
            }
            PollMethod::Tcp(t) => {
                let p = join(path, "Tcp");
                match t.effective_port() {
                    Some(value) => self.check(&p, "port", port(value)),
                    None => self.error(join(&p, "port"), "a port is required".into()),
                }
                if let Some(rule) = &t.greeting {
                    self.text_rule(&join(&p, "greeting"), rule);
                }
                self.check(
                    &p,
                    "greeting_timeout",
                    super::duration::at_least(
                        t.greeting_timeout,
                        std::time::Duration::from_millis(10),
                    ),
                );
                self.tcp_send(&p, t);
            }
            PollMethod::Dns(d) => {
                let p = join(path, "Dns");
                self.check(&p, "host_name", host_name(&d.host_name, false));
                self.check(&p, "port", port(d.port));
                if let Some(a) = &d.expect_address {
                    self.check(&p, "expect_address", ip_address(a));
                }
            }
            PollMethod::Command(c) => self.command(&join(path, "Command"), c),
        }
    }

    fn text_rule(&mut self, path: &str, rule: &TextRule) {
        if let Some(pattern) = rule.pattern()
            && let Err(message) = regex(pattern)
        {
            self.error(path.to_string(), message.to_string());
        }
    }

    fn http_criteria(&mut self, path: &str, c: &HttpCriteria) {
        for (i, code) in c.status_codes.iter().enumerate() {
            if !(100..=599).contains(code) {
                self.error(
                    join(path, &format!("status_codes[{i}]")),
                    format!("{code} is not an HTTP status code"),
                );
            }
        }
        for (i, rule) in c.body.iter().enumerate() {
            self.text_rule(&join(path, &format!("body[{i}]")), rule);
        }
    }

    fn command(&mut self, path: &str, c: &CommandSpec) {
        if c.program.trim().is_empty() {
            self.error(join(path, "program"), "a program is required".into());
        }
        if let Some(wait) = &c.wait {
            self.check(
                &join(path, "wait"),
                "timeout_secs",
                at_least(wait.timeout_secs, 1),
            );
            if let Some(rule) = &wait.stdout {
                self.text_rule(&join(path, "wait.stdout"), rule);
            }
        }
    }

    fn header_names(&mut self, path: &str, headers: &[(String, String)]) {
        for (i, (name, _)) in headers.iter().enumerate() {
            let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !valid {
                self.error(
                    join(path, &format!("headers[{i}]")),
                    format!("{name:?} is not a header name"),
                );
            }
        }
    }

    /// An HTTP poll's request and JSON rules (issue 16).
    fn http_poll_extras(&mut self, p: &str, h: &super::HttpPoll) {
        use super::{HttpAuth, HttpPollMethod};
        self.header_names(p, &h.headers);
        match &h.auth {
            Some(HttpAuth::Basic { user, .. }) if user.contains(':') => self.error(
                join(p, "auth.Basic.user"),
                "a basic-authentication user cannot contain ':'".into(),
            ),
            Some(HttpAuth::Bearer { token }) if token.is_empty() => self.error(
                join(p, "auth.Bearer.token"),
                "a bearer token is required".into(),
            ),
            Some(HttpAuth::Bearer { token })
                if !token.expose().bytes().all(|b| b.is_ascii_graphic()) =>
            {
                self.error(
                    join(p, "auth.Bearer.token"),
                    "a bearer token is printable ASCII without spaces".into(),
                )
            }
            _ => {}
        }
        if h.follow_redirects > MOST_REDIRECTS {
            self.error(
                join(p, "follow_redirects"),
                format!("at most {MOST_REDIRECTS} redirects can be followed"),
            );
        }
        if h.method == HttpPollMethod::Head && !h.json.is_empty() {
            self.error(
                join(p, "json"),
                "a HEAD response has no body to judge as JSON".into(),
            );
        }
        for (i, rule) in h.json.iter().enumerate() {
            if let Err(e) = rule.compile() {
                self.error(join(p, &format!("json[{i}]")), e.to_string());
            }
        }
    }

    /// A TCP poll's text to send: its escapes, and not beside an FTP login (issue 16).
    fn tcp_send(&mut self, p: &str, t: &super::TcpPoll) {
        if let Some(text) = &t.send {
            if let Err(e) = super::escapes::unescape(text) {
                self.error(join(p, "send"), e.to_string());
            } else if !text.is_empty() && t.ftp_login.is_some() {
                self.error(
                    join(p, "send"),
                    "an FTP login check sends its own commands: leave this empty".into(),
                );
            }
        }
    }

    fn http_request(&mut self, path: &str, r: &HttpRequest) {
        self.check(path, "url", http_url_with_tags(&r.url));
        self.header_names(path, &r.headers);
        self.http_criteria(&join(path, "criteria"), &r.criteria);
        self.check(path, "timeout_secs", at_least(r.timeout_secs, 1));
    }

    fn dns_server(&mut self, path: &str, s: &DnsServer) {
        // An API method needs no DNS server; one given is asked for propagation.
        if !(s.update.is_api() && s.address.trim().is_empty()) {
            self.check(path, "address", host_or_ip(&s.address));
        }
        self.check(path, "port", port(s.port));
        self.check(path, "recheck_minutes", at_least(s.recheck_minutes, 1));
        match &s.update {
            UpdateMethod::Rfc2136(r) => {
                if let Some(key) = &r.tsig {
                    let kp = join(path, "update.Rfc2136.tsig");
                    self.check(
                        &kp,
                        "name",
                        host_name(&key.name, false)
                            .map_err(|_| format!("{:?} is not a valid key name", key.name)),
                    );
                    self.check(&kp, "secret", base64_secret(key.secret.expose()));
                }
            }
            UpdateMethod::Http(r) => self.http_request(&join(path, "update.Http"), r),
            UpdateMethod::Command(c) => self.command(&join(path, "update.Command"), c),
            UpdateMethod::PowerDns(p) => {
                let pp = join(path, "update.PowerDns");
                self.check(&pp, "url", http_url(p.url.trim()).map(|_| ()));
                if p.server_id.trim().is_empty() {
                    self.error(
                        join(&pp, "server_id"),
                        "a server id is required (PowerDNS's is \"localhost\")".into(),
                    );
                }
                if p.api_key.is_empty() {
                    self.error(join(&pp, "api_key"), "the API key is required".into());
                }
                self.check(&pp, "timeout_secs", at_least(p.timeout_secs, 1));
            }
            UpdateMethod::Cloudflare(c) => {
                let cp = join(path, "update.Cloudflare");
                self.check(&cp, "api_url", http_url(c.api_url.trim()).map(|_| ()));
                if c.api_token.is_empty() {
                    self.error(join(&cp, "api_token"), "the API token is required".into());
                }
                self.check(&cp, "timeout_secs", at_least(c.timeout_secs, 1));
            }
            UpdateMethod::Route53(r) => {
                let rp = join(path, "update.Route53");
                self.check(&rp, "endpoint", http_url(r.endpoint.trim()).map(|_| ()));
                if !r.access_key_id.trim().is_empty() && r.secret_access_key.is_empty() {
                    self.error(
                        join(&rp, "secret_access_key"),
                        "the secret access key of the access key id is required".into(),
                    );
                }
                self.check(&rp, "timeout_secs", at_least(r.timeout_secs, 1));
            }
            UpdateMethod::Dnscmd(_) => {
                if !cfg!(windows) {
                    self.error(
                        join(path, "update"),
                        "Microsoft DNS (dnscmd) works only on Windows".into(),
                    );
                }
            }
        }
    }

    fn notification_method(&mut self, path: &str, m: &NotificationMethod) {
        match &m.kind {
            NotificationKind::Email(e) => {
                let p = join(path, "kind.Email");
                if e.to.is_empty() {
                    self.error(join(&p, "to"), "at least one recipient is required".into());
                }
                for (i, to) in e.to.iter().enumerate() {
                    self.check(&p, &format!("to[{i}]"), email_address(to));
                }
                if let Some(from) = &e.from {
                    self.check(&p, "from", email_address(from));
                }
                if let Some(smtp) = &e.smtp {
                    self.smtp(&join(&p, "smtp"), smtp);
                }
            }
            NotificationKind::Http(r) => self.http_request(&join(path, "kind.Http"), r),
            NotificationKind::Command(c) => self.command(&join(path, "kind.Command"), c),
            NotificationKind::SystemLog => {}
            NotificationKind::Service(s) => {
                let p = join(path, "kind.Service");
                for (field, message) in s.problems() {
                    self.error(join(&p, field), message);
                }
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::{Server, TcpPoll};

    #[test]
    fn field_checks() {
        assert!(ip_address("192.0.2.1").is_ok());
        assert!(ip_address("2001:db8::1").is_ok());
        assert_eq!(
            ip_address("10.0.0.300"),
            Err(FieldError::NotAnIpAddress("10.0.0.300".into()))
        );
        assert!(host_name("www.example.com", false).is_ok());
        assert!(host_name("*.example.com", true).is_ok());
        assert!(host_name("*.example.com", false).is_err());
        assert!(host_name("-bad.example.com", false).is_err());
        assert!(host_name("a..b", false).is_err());
        assert!(http_url("https://www.example.com:8443/x").is_ok());
        assert!(http_url("ftp://x").is_err());
        assert!(http_url("not a url").is_err());
        // International host names are taken, in their punycode form.
        let uri = http_url("https://bücher.example.test/straße").unwrap();
        assert_eq!(uri.host(), Some("xn--bcher-kva.example.test"));
        assert_eq!(uri.path(), "/stra%C3%9Fe");
        assert!(http_url("https://bü cher.example/").is_err());
        assert!(http_url_with_tags("https://api.example.com/update?ip=$IP$&host=$HOST$").is_ok());
        assert!(regex("^a(b").is_err());
        assert!(base64_secret("c2VjcmV0").is_ok());
        assert!(base64_secret("not base64!").is_err());
        assert!(socket_address("127.0.0.1:8100").is_ok());
        assert!(email_address("ops@example.com").is_ok());
        assert!(email_address("ops").is_err());
    }

    fn set_with_names(name: &str, ip: &str, host_names: &[&str]) -> ServerSet {
        ServerSet {
            name: name.into(),
            servers: vec![Server {
                public_ip: ip.into(),
                ..Server::default()
            }],
            dns: crate::model::DnsData {
                host_names: host_names.iter().map(|h| h.to_string()).collect(),
                ..crate::model::DnsData::default()
            },
            ..ServerSet::default()
        }
    }

    #[test]
    fn international_host_names_are_accepted_and_bad_labels_named_by_field() {
        let settings = Settings {
            server_sets: vec![
                set_with_names(
                    "web",
                    "192.0.2.1",
                    &["bücher.example.test", "*.müller.test"],
                ),
                set_with_names("jp", "192.0.2.2", &["例え.テスト"]),
            ],
            ..Settings::default()
        };
        assert_eq!(validate(&settings), Vec::new());
        let mut bad = settings.clone();
        bad.server_sets[1].dns.host_names = vec!["ok.test".into(), "xn--a.example".into()];
        let errors = validate(&bad);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "server_sets[1].dns.host_names[1]");
        assert!(errors[0].message.contains("IDNA"), "{}", errors[0].message);
        // The Unicode and the punycode spelling are one name, claimed once.
        let mut twice = settings;
        twice.server_sets[1].dns.host_names = vec!["xn--bcher-kva.example.test".into()];
        let errors = validate(&twice);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "server_sets[1].dns.host_names[0]");
        assert!(host_or_ip("bücher.example").is_ok());
    }

    #[test]
    fn two_sets_may_not_claim_one_host_name() {
        let mut settings = Settings {
            server_sets: vec![
                set_with_names("web", "192.0.2.1", &["www.example.test", "example.test"]),
                set_with_names("mail", "192.0.2.2", &["mail.example.test"]),
                // Case and a final dot do not make it another name.
                set_with_names(
                    "copy",
                    "192.0.2.3",
                    &["ftp.example.test", "WWW.Example.Test."],
                ),
            ],
            ..Settings::default()
        };
        let errors = validate(&settings);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "server_sets[2].dns.host_names[1]");
        assert!(
            errors[0]
                .message
                .contains("already a host name of set \"web\""),
            "{}",
            errors[0]
        );
        settings.server_sets[2].dns.host_names[1] = "www2.example.test".into();
        assert!(validate(&settings).is_empty());
    }

    #[test]
    fn the_low_ttl_is_checked_by_field() {
        use crate::model::LowTtl;
        use std::time::Duration;
        let mut settings = Settings {
            server_sets: vec![set_with_names("web", "192.0.2.1", &["www.example.test"])],
            ..Settings::default()
        };
        let errors_with = |settings: &mut Settings, low: LowTtl| {
            settings.server_sets[0].dns.low_ttl = low;
            validate(settings)
                .into_iter()
                .map(|e| (e.path, e.message))
                .collect::<Vec<_>>()
        };
        let low = |ttl, while_failed, after_change| LowTtl {
            ttl,
            while_failed,
            after_change: Duration::from_secs(after_change),
        };
        // Off (0) is never an error; 10 ≤ 60 with either condition is fine.
        assert!(errors_with(&mut settings, low(0, false, 0)).is_empty());
        assert!(errors_with(&mut settings, low(10, true, 0)).is_empty());
        assert!(errors_with(&mut settings, low(60, false, 300)).is_empty());
        let path = "server_sets[0].dns.low_ttl.ttl";
        let e = errors_with(&mut settings, low(61, true, 300));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, path);
        assert!(e[0].1.contains("at most the TTL (60 s)"), "{e:?}");
        let e = errors_with(&mut settings, low(10, false, 0));
        assert_eq!((e.len(), e[0].0.as_str()), (1, path), "{e:?}");
        assert!(e[0].1.contains("never given"), "{e:?}");
        let e = errors_with(&mut settings, low(10, true, 2 * 86_400));
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(e[0].0, "server_sets[0].dns.low_ttl.after_change");
    }

    #[test]
    fn a_login_over_plain_smtp_is_warned_about() {
        use crate::model::notification::{SmtpLogin, SmtpSecurity};
        let mut settings = Settings::default();
        assert!(warnings(&settings).is_empty());
        settings.email_defaults.smtp.login = Some(SmtpLogin {
            user: "ops".into(),
            password: crate::model::Secret::new("pw"),
        });
        let found = warnings(&settings);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "email_defaults.smtp.security");
        assert!(found[0].message.contains("in clear"), "{}", found[0]);
        // Only a warning: the settings stay valid.
        assert!(validate(&settings).is_empty());
        settings.email_defaults.smtp.security = SmtpSecurity::StartTls;
        assert!(warnings(&settings).is_empty());
    }

    #[test]
    fn every_error_has_its_path() {
        let mut settings = Settings::default();
        settings.server_sets.push(ServerSet {
            name: "web".into(),
            servers: vec![Server {
                public_ip: "192.0.2.1".into(),
                ..Server::default()
            }],
            ..ServerSet::default()
        });
        settings.server_sets.push(ServerSet {
            name: "web".into(),
            servers: vec![
                Server {
                    public_ip: "10.0.0.300".into(),
                    ..Server::default()
                },
                Server {
                    public_ip: "192.0.2.2".into(),
                    poll_ip: Some("x".into()),
                    ..Server::default()
                },
            ],
            polling: PollMethod::Tcp(TcpPoll::default()),
            ..ServerSet::default()
        });
        settings.server_sets[1].frequency.interval = std::time::Duration::ZERO;
        let errors: Vec<String> = validate(&settings)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec![
                "server_sets[1].name: duplicate set name \"web\"",
                "server_sets[1].servers[0].public_ip: \"10.0.0.300\" is not an IP address",
                "server_sets[1].servers[1].poll_ip: \"x\" is not an IP address",
                "server_sets[1].polling.Tcp.port: a port is required",
                "server_sets[1].frequency.interval: must be at least 10ms",
            ]
        );
    }

    #[test]
    fn http_and_tcp_check_fields_have_paths() {
        use crate::model::{HttpAuth, HttpPoll, HttpPollMethod, JsonRule, JsonTest, Secret};
        let set = |polling| ServerSet {
            name: "s".into(),
            servers: vec![Server {
                public_ip: "192.0.2.1".into(),
                ..Server::default()
            }],
            polling,
            ..ServerSet::default()
        };
        let http = HttpPoll {
            method: HttpPollMethod::Head,
            headers: vec![("X Bad".into(), "v".into())],
            auth: Some(HttpAuth::Bearer {
                token: Secret::default(),
            }),
            follow_redirects: 21,
            json: vec![JsonRule {
                pointer: "status".into(),
                test: JsonTest::Exists,
            }],
            ..HttpPoll::default()
        };
        let errors: Vec<String> = validate_set(&set(PollMethod::Http(http)))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec![
                "polling.Http.headers[0]: \"X Bad\" is not a header name",
                "polling.Http.auth.Bearer.token: a bearer token is required",
                "polling.Http.follow_redirects: at most 20 redirects can be followed",
                "polling.Http.json: a HEAD response has no body to judge as JSON",
                "polling.Http.json[0]: a JSON pointer is empty or starts with / (e.g. /status), not \"status\"",
            ]
        );
        let tcp = TcpPoll {
            port: Some(6379),
            send: Some(r"PING\r\q".into()),
            ..TcpPoll::default()
        };
        let errors: Vec<String> = validate_set(&set(PollMethod::Tcp(tcp)))
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec![
                r"polling.Tcp.send: character 7: \q is no escape (use \r, \n, \t, \0, \\ or \xNN)"
            ]
        );
    }

    #[test]
    fn an_override_needs_times_in_order() {
        use crate::model::{Forced, ForcedState};
        let mut settings = Settings::default();
        let forced = |set_at: &str, until: Option<&str>| {
            Some(Forced {
                state: ForcedState::Down,
                set_at: set_at.into(),
                until: until.map(Into::into),
            })
        };
        let servers = [
            forced("2026-12-01T12:00:00Z", Some("2026-12-01T12:30:00Z")),
            forced("noon", None),
            forced("2026-12-01T12:00:00Z", Some("2026-12-01T11:00:00Z")),
        ];
        settings.server_sets.push(ServerSet {
            name: "web".into(),
            servers: servers
                .into_iter()
                .enumerate()
                .map(|(i, forced)| Server {
                    public_ip: format!("192.0.2.{}", i + 1),
                    forced,
                    ..Server::default()
                })
                .collect(),
            ..ServerSet::default()
        });
        let errors: Vec<String> = validate(&settings)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec![
                "server_sets[0].servers[1].forced.set_at: \"noon\" is not a time like 2026-12-01T12:00:00Z",
                "server_sets[0].servers[2].forced.until: must be after set_at",
            ]
        );
    }

    #[test]
    fn dns_serving_limits_are_at_least_one() {
        let mut settings = Settings::default();
        let d = &mut settings.options.dns_serving;
        d.enabled = true;
        d.max_tcp_connections = 0;
        d.tcp_idle_secs = 0;
        d.max_forwards_in_flight = 0;
        let errors: Vec<String> = validate(&settings)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            vec![
                "options.dns_serving.max_tcp_connections: must be at least 1",
                "options.dns_serving.tcp_idle_secs: must be at least 1",
                "options.dns_serving.max_forwards_in_flight: must be at least 1",
            ]
        );
    }

    #[test]
    fn zone_transfer_fields_are_checked_by_path() {
        use crate::model::options::{DnsZone, ZoneNameServer, ZoneTransfer};
        use crate::model::{Secret, TsigAlgorithm, TsigKey};
        let mut settings = Settings::default();
        let d = &mut settings.options.dns_serving;
        d.enabled = true;
        d.zones = vec![DnsZone {
            name: "failover.example.com".into(),
            primary: "ns1.example.com".into(),
            contact: "hostmaster@example.com".into(),
            name_servers: vec![ZoneNameServer {
                name: "ns1.example.com".into(),
                addresses: vec![],
            }],
            transfer: ZoneTransfer {
                allowed_from: vec!["192.0.2.0/24".into(), "192.0.2.0/33".into()],
                key: Some(TsigKey {
                    name: "xfr key".into(),
                    algorithm: TsigAlgorithm::HmacSha256,
                    secret: Secret::new("not base64!"),
                }),
                notify: vec![
                    "192.0.2.53".into(),
                    "[2001:db8::53]:5300".into(),
                    "ns2".into(),
                ],
                notify_name_servers: true,
            },
            ..DnsZone::default()
        }];
        let errors: Vec<String> = validate(&settings)
            .iter()
            .map(ToString::to_string)
            .collect();
        let t = "options.dns_serving.zones[0].transfer";
        assert_eq!(
            errors,
            vec![
                format!("{t}.allowed_from[1]: \"192.0.2.0/33\" is not a network (address/prefix)"),
                format!("{t}.key.name: \"xfr key\" is not a valid key name"),
                format!("{t}.key.secret: the secret is not valid base64"),
                format!(
                    "{t}.notify[2]: \"ns2\" is not an address or address:port such as 192.0.2.53:53"
                ),
            ]
        );
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(validate(&Settings::default()), vec![]);
    }
}

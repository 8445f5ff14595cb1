//! Converts a first-generation XML configuration (`sfo.config.xml`) into settings.
//!
//! Every element and attribute is either converted or named, with its line, in exactly one
//! warning: nothing is dropped silently. An element that is not understood is one warning
//! (its attributes and what it contains are not warned about again).
//!
//! What is understood (the v1 help documents `<ServerSet>` and `<Server>`; the names of the
//! other elements and attributes follow the v1 dialogs' wording):
//!
//! ```text
//! <SimpleFailover Version SMTPServer SMTPPort SMTPUser SMTPPassword EmailFrom
//!                 APIPort APIPassword EventLog BalloonTips WinService>
//!   <DefaultDNSServers> <DNSServer …/>… </DefaultDNSServers>   the Options' DNS servers
//!   <ServerSet Domain ServerType Port URLPath HTTPMethod PollingIV RetryIV ResponseTimeout
//!              AcceptFailed StatusCodes SkipLow Paused Custom>
//!     <Server IP Custom/>…
//!     <DNSUpdate Enabled UseDefault RoundRobin TTL>
//!       <DNSServer IP Port UpdateMethod Custom       UpdateMethod: DNS, DNSTSIG, HTTP,
//!                  TSIGKeyName TSIGKey TSIGAlgorithm             MSWMI, SCRIPT
//!                  URL UserID Password SuccessText/>…
//!       <Alias Domain/>…
//!     </DNSUpdate>
//!     <EmailNotify To/>
//!     <Notes>text</Notes>
//!   </ServerSet>…
//! </SimpleFailover>
//! ```
//!
//! `ServerType` is HTTP, HTTPS, HEAD (an HTTP HEAD poll), FTP, SMTP, POP3, IMAP, NNTP, TCP or
//! PING. `StatusCodes` is the accepted status list of an HTTP poll and the greeting that a
//! TCP type's reply must start with (one of them, when several are given).

mod xml;

use super::Settings;
use super::criteria::{HttpCriteria, TextRule};
use super::dns_server::{
    BasicAuth, DnsServer, DnscmdUpdate, HttpRequest, Rfc2136Update, TsigAlgorithm, TsigKey,
    UpdateMethod,
};
use super::notification::{EmailNotification, NotificationKind, NotificationMethod, SmtpLogin};
use super::polling::{HttpPoll, HttpPollMethod, PollMethod, TcpPoll, TcpService};
use super::secret::Secret;
use super::server_set::{AddressSelection, DnsData, PollFrequency, Server, ServerSet};
use xml::{Document, Node, error};

/// Why a v1 file cannot be converted; names the line.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

/// The converted settings and what the operator should check by hand.
#[derive(Debug)]
pub struct Imported {
    pub settings: Settings,
    /// One line per element or attribute not converted (or converted only in part), each
    /// starting with `line N:`.
    pub warnings: Vec<String>,
}

/// Converts the text of a v1 configuration.
pub fn import(text: &str) -> Result<Imported, ImportError> {
    let mut doc = xml::read(text)?;
    let mut warnings = Vec::new();
    for &open in &doc.unclosed {
        let node = &doc.nodes[open];
        warnings.push(format!(
            "line {}: <{}> is not closed: the file may be cut short",
            node.line, node.name
        ));
    }
    let mut settings = Settings::default();
    let mut seen_root = false;
    for root in doc.roots.clone() {
        if doc.nodes[root].name == "SimpleFailover" && !seen_root {
            seen_root = true;
            convert_root(&mut doc, root, &mut settings, &mut warnings)?;
        } else {
            let node = &doc.nodes[root];
            warnings.push(format!("line {}: <{}> ignored", node.line, node.name));
        }
    }
    if !seen_root {
        return Err(error(
            1,
            "not a first-generation configuration: no <SimpleFailover> element",
        ));
    }
    Ok(Imported { settings, warnings })
}

/// The attributes of one element, taken one by one as they are converted; what is left
/// at the end is warned about.
struct Attributes {
    element: String,
    line: usize,
    map: std::collections::BTreeMap<String, String>,
}

impl Attributes {
    fn of(node: &mut Node) -> Self {
        Self {
            element: node.name.clone(),
            line: node.line,
            map: std::mem::take(&mut node.attributes),
        }
    }

    /// The value, if given and not blank.
    fn take(&mut self, name: &str) -> Option<String> {
        self.map
            .remove(name)
            .filter(|v| !v.trim().is_empty())
            .map(|v| v.trim().to_string())
    }

    fn required(&mut self, name: &str) -> Result<String, ImportError> {
        self.take(name).ok_or_else(|| {
            error(
                self.line,
                &format!("<{}> needs the attribute {name}", self.element),
            )
        })
    }

    fn number<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, ImportError> {
        match self.take(name) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| error(self.line, &format!("{name}: {v:?} is not a valid number"))),
        }
    }

    fn flag(&mut self, name: &str) -> Result<Option<bool>, ImportError> {
        match self.take(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(None),
            Some(v) => match v.as_str() {
                "1" | "true" | "yes" | "on" | "-1" => Ok(Some(true)),
                "0" | "false" | "no" | "off" => Ok(Some(false)),
                _ => Err(error(
                    self.line,
                    &format!("{name}: {v:?} is not a yes/no value"),
                )),
            },
        }
    }

    /// Warns about every attribute not taken.
    fn finish(self, warnings: &mut Vec<String>) {
        for name in self.map.keys() {
            warnings.push(format!(
                "line {}: attribute {name} of <{}> ignored",
                self.line, self.element
            ));
        }
    }
}

/// Warns about text inside an element that has none of its own.
fn no_text(node: &Node, warnings: &mut Vec<String>) {
    if node.text_line != 0 {
        warnings.push(format!(
            "line {}: text inside <{}> ignored",
            node.text_line, node.name
        ));
    }
}

fn unknown(node: &Node, warnings: &mut Vec<String>) {
    warnings.push(format!("line {}: <{}> ignored", node.line, node.name));
}

fn convert_root(
    doc: &mut Document,
    root: usize,
    settings: &mut Settings,
    warnings: &mut Vec<String>,
) -> Result<(), ImportError> {
    let mut a = Attributes::of(&mut doc.nodes[root]);
    // The file format's version: nothing to convert.
    a.take("Version");
    let smtp = &mut settings.email_defaults.smtp;
    if let Some(host) = a.take("SMTPServer") {
        smtp.host = host;
    }
    if let Some(port) = a.number("SMTPPort")? {
        smtp.port = port;
    }
    let user = a.take("SMTPUser");
    let password = a.take("SMTPPassword");
    if user.is_some() || password.is_some() {
        smtp.login = Some(SmtpLogin {
            user: user.unwrap_or_default(),
            password: Secret::new(password.unwrap_or_default()),
        });
    }
    if let Some(from) = a.take("EmailFrom") {
        settings.email_defaults.from = from;
    }
    if let Some(port) = a.number::<u16>("APIPort")? {
        // v1 answered on every interface; loopback is the safe start, and the listen
        // address is one field to change in the Options.
        settings.options.http_api.enabled = true;
        settings.options.http_api.listen = format!("127.0.0.1:{port}");
    }
    if let Some(password) = a.take("APIPassword") {
        settings.options.http_api.password = Secret::new(password);
    }
    if let Some(on) = a.flag("EventLog")? {
        settings.options.system_log.enabled = on;
    }
    if let Some(on) = a.flag("BalloonTips")? {
        settings.options.user_interface.desktop_notification = on;
    }
    let line = a.line;
    if a.flag("WinService")? == Some(true) {
        warnings.push(format!(
            "line {line}: WinService: v1 ran as a Windows service; run `standby service install` \
             to register Standby's headless engine with the service manager"
        ));
    }
    a.finish(warnings);
    no_text(&doc.nodes[root], warnings);
    for child in std::mem::take(&mut doc.nodes[root].children) {
        match doc.nodes[child].name.as_str() {
            "ServerSet" => {
                let set = convert_set(doc, child, warnings)?;
                settings.server_sets.push(set);
            }
            "DefaultDNSServers" => {
                let node = &mut doc.nodes[child];
                Attributes::of(node).finish(warnings);
                no_text(node, warnings);
                for server in std::mem::take(&mut node.children) {
                    if doc.nodes[server].name == "DNSServer" {
                        if let Some(s) = convert_dns_server(doc, server, warnings)? {
                            settings.options.dns_updating.default_dns_servers.push(s);
                        }
                    } else {
                        unknown(&doc.nodes[server], warnings);
                    }
                }
            }
            _ => unknown(&doc.nodes[child], warnings),
        }
    }
    Ok(())
}

fn convert_set(
    doc: &mut Document,
    index: usize,
    warnings: &mut Vec<String>,
) -> Result<ServerSet, ImportError> {
    let mut a = Attributes::of(&mut doc.nodes[index]);
    let domain = a.required("Domain")?;
    let mut set = ServerSet {
        name: domain.clone(),
        polling: polling(&mut a, &domain)?,
        frequency: frequency(&mut a)?,
        dns: DnsData {
            host_names: vec![domain],
            ..DnsData::default()
        },
        paused: a.flag("Paused")?.unwrap_or(false),
        ..ServerSet::default()
    };
    let mut notes = Vec::new();
    let custom = a.take("Custom");
    a.finish(warnings);
    no_text(&doc.nodes[index], warnings);
    for child in std::mem::take(&mut doc.nodes[index].children) {
        let node = &mut doc.nodes[child];
        match node.name.as_str() {
            "Server" => {
                let mut a = Attributes::of(node);
                let server = Server {
                    public_ip: a.required("IP")?,
                    notes: a.take("Custom").map(custom_note).unwrap_or_default(),
                    ..Server::default()
                };
                a.finish(warnings);
                no_text(node, warnings);
                set.servers.push(server);
            }
            "Notes" => {
                Attributes::of(node).finish(warnings);
                let text = node.text.trim();
                if !text.is_empty() {
                    notes.push(text.to_string());
                }
                for inner in std::mem::take(&mut node.children) {
                    unknown(&doc.nodes[inner], warnings);
                }
            }
            "EmailNotify" => {
                let mut a = Attributes::of(node);
                let to: Vec<String> = a
                    .required("To")?
                    .split([',', ';'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from)
                    .collect();
                a.finish(warnings);
                no_text(node, warnings);
                for inner in std::mem::take(&mut node.children) {
                    unknown(&doc.nodes[inner], warnings);
                }
                set.notification.methods.push(NotificationMethod {
                    kind: NotificationKind::Email(EmailNotification {
                        to,
                        ..EmailNotification::default()
                    }),
                    notes: "imported from a first-generation configuration".into(),
                    ..NotificationMethod::default()
                });
            }
            "DNSUpdate" => convert_dns_update(doc, child, &mut set, warnings)?,
            _ => unknown(node, warnings),
        }
    }
    if let Some(custom) = custom {
        notes.push(custom_note(custom));
    }
    set.notes = if notes.is_empty() {
        "imported from a first-generation configuration".into()
    } else {
        notes.join("\n")
    };
    Ok(set)
}

/// v1's `Custom` attribute (free data such as a client account number) becomes a line of
/// the notes.
fn custom_note(custom: String) -> String {
    format!("v1 Custom: {custom}")
}

fn frequency(a: &mut Attributes) -> Result<PollFrequency, ImportError> {
    let mut frequency = PollFrequency::default();
    // v1 wrote whole seconds.
    let secs = std::time::Duration::from_secs;
    if let Some(v) = a.number("PollingIV")? {
        frequency.interval = secs(v);
        frequency.failed_interval = secs(v).min(frequency.failed_interval).max(secs(1));
    }
    if let Some(v) = a.number("RetryIV")? {
        frequency.retry_interval = secs(v);
    }
    if let Some(v) = a.number("ResponseTimeout")? {
        frequency.timeout = secs(v);
    }
    // v1 counted the failed polls it accepted before failing over: our retries.
    if let Some(v) = a.number("AcceptFailed")? {
        frequency.retries = v;
    }
    frequency.sequential = a.flag("SkipLow")?.unwrap_or(false);
    Ok(frequency)
}

/// The polling method from `ServerType` and the attributes that go with it; attributes the
/// type does not use are left for the warning.
fn polling(a: &mut Attributes, domain: &str) -> Result<PollMethod, ImportError> {
    let line = a.line;
    let kind = a
        .take("ServerType")
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| "HTTP".into());
    let polling = match kind.as_str() {
        "HTTP" | "HTTPS" | "HEAD" => {
            let scheme = if kind == "HTTPS" { "https" } else { "http" };
            let method = match a.take("HTTPMethod").map(|m| m.to_ascii_uppercase()) {
                None if kind == "HEAD" => HttpPollMethod::Head,
                None => HttpPollMethod::Get,
                Some(m) if m == "GET" => HttpPollMethod::Get,
                Some(m) if m == "HEAD" => HttpPollMethod::Head,
                Some(m) => {
                    return Err(error(
                        line,
                        &format!("HTTPMethod: {m:?} is not GET or HEAD"),
                    ));
                }
            };
            let path = a.take("URLPath").unwrap_or_else(|| "/".into());
            let path = if path.starts_with('/') {
                path
            } else {
                format!("/{path}")
            };
            let port = match a.number::<u16>("Port")? {
                Some(p) if !(scheme == "http" && p == 80 || scheme == "https" && p == 443) => {
                    format!(":{p}")
                }
                _ => String::new(),
            };
            let mut criteria = HttpCriteria::default();
            if let Some(codes) = a.take("StatusCodes") {
                criteria.status_codes = codes
                    .split([',', ';', ' '])
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        c.parse().map_err(|_| {
                            error(line, &format!("StatusCodes: {c:?} is not a status code"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            PollMethod::Http(HttpPoll {
                url: format!("{scheme}://{domain}{port}{path}"),
                method,
                criteria,
                ..HttpPoll::default()
            })
        }
        "FTP" | "SMTP" | "POP3" | "IMAP" | "NNTP" | "TCP" => {
            let service = match kind.as_str() {
                "FTP" => TcpService::Ftp,
                "SMTP" => TcpService::Smtp,
                "POP3" => TcpService::Pop3,
                "IMAP" => TcpService::Imap,
                "NNTP" => TcpService::Nntp,
                _ => TcpService::Custom,
            };
            let port = a.number::<u16>("Port")?;
            if service == TcpService::Custom && port.is_none() {
                return Err(error(line, "ServerType TCP needs a Port"));
            }
            PollMethod::Tcp(TcpPoll {
                service,
                port: port.filter(|p| Some(*p) != service.default_port()),
                greeting: a.take("StatusCodes").map(|codes| greeting(&codes)),
                ..TcpPoll::default()
            })
        }
        "PING" | "ICMP" => PollMethod::Ping,
        other => return Err(error(line, &format!("ServerType {other:?} is not known"))),
    };
    Ok(polling)
}

/// v1's alternate status codes of a TCP type: the greeting starts with one of them.
fn greeting(codes: &str) -> TextRule {
    let codes: Vec<&str> = codes
        .split([',', ';', ' '])
        .filter(|c| !c.is_empty())
        .collect();
    match codes.as_slice() {
        [one] => TextRule::StartsWith((*one).to_string()),
        many => {
            let alternatives: Vec<String> = many.iter().map(|c| regex::escape(c)).collect();
            TextRule::Matches(format!("^(?:{})", alternatives.join("|")))
        }
    }
}

fn convert_dns_update(
    doc: &mut Document,
    index: usize,
    set: &mut ServerSet,
    warnings: &mut Vec<String>,
) -> Result<(), ImportError> {
    let mut a = Attributes::of(&mut doc.nodes[index]);
    // The element is there when the set updates DNS.
    set.update_dns.enabled = a.flag("Enabled")?.unwrap_or(true);
    set.update_dns.use_default_servers = a.flag("UseDefault")?.unwrap_or(false);
    if a.flag("RoundRobin")? == Some(true) {
        set.dns.addresses_of = AddressSelection::AllFunctional;
    }
    if let Some(ttl) = a.number("TTL")? {
        set.dns.ttl = ttl;
    }
    a.finish(warnings);
    no_text(&doc.nodes[index], warnings);
    for child in std::mem::take(&mut doc.nodes[index].children) {
        if doc.nodes[child].name == "DNSServer" {
            if let Some(server) = convert_dns_server(doc, child, warnings)? {
                set.update_dns.dns_servers.push(server);
            }
            continue;
        }
        let node = &mut doc.nodes[child];
        match node.name.as_str() {
            "Alias" => {
                let mut a = Attributes::of(node);
                let alias = a.required("Domain")?;
                a.finish(warnings);
                no_text(node, warnings);
                if !set.dns.host_names.contains(&alias) {
                    set.dns.host_names.push(alias);
                }
            }
            _ => unknown(node, warnings),
        }
    }
    Ok(())
}

/// One DNS server; `None` (with a warning) for a method that cannot run here.
fn convert_dns_server(
    doc: &mut Document,
    index: usize,
    warnings: &mut Vec<String>,
) -> Result<Option<DnsServer>, ImportError> {
    let mut a = Attributes::of(&mut doc.nodes[index]);
    let line = a.line;
    let address = a.required("IP")?;
    let port = a.number("Port")?.unwrap_or(53);
    let custom = a.take("Custom");
    let method = a
        .take("UpdateMethod")
        .map(|m| m.to_ascii_uppercase())
        .unwrap_or_else(|| "DNS".into());
    let update = match method.as_str() {
        "DNS" => Some(UpdateMethod::Rfc2136(Rfc2136Update { tsig: None })),
        "DNSTSIG" => {
            let name = a.required("TSIGKeyName")?;
            let secret = Secret::new(a.required("TSIGKey")?);
            // v1 signed with HMAC-MD5 unless told otherwise.
            let algorithm = match a.take("TSIGAlgorithm") {
                None => TsigAlgorithm::HmacMd5,
                Some(text) => tsig_algorithm(&text)
                    .ok_or_else(|| error(line, &format!("TSIGAlgorithm: {text:?} is not known")))?,
            };
            Some(UpdateMethod::Rfc2136(Rfc2136Update {
                tsig: Some(TsigKey {
                    name,
                    algorithm,
                    secret,
                }),
            }))
        }
        "HTTP" => {
            let url = a.required("URL")?;
            let user = a.take("UserID");
            let password = a.take("Password");
            let basic_auth = (user.is_some() || password.is_some()).then(|| BasicAuth {
                user: user.unwrap_or_default(),
                password: Secret::new(password.unwrap_or_default()),
            });
            let mut criteria = HttpCriteria::default();
            if let Some(text) = a.take("SuccessText") {
                criteria.body.push(TextRule::Contains(text));
            }
            Some(UpdateMethod::Http(HttpRequest {
                url,
                basic_auth,
                criteria,
                ..HttpRequest::default()
            }))
        }
        "MSWMI" if cfg!(windows) => Some(UpdateMethod::Dnscmd(DnscmdUpdate::default())),
        "MSWMI" => {
            warnings.push(format!(
                "line {line}: <DNSServer> {address} not converted: UpdateMethod MSWMI \
                 (Microsoft DNS) works only on Windows; import there, or use dynamic updates"
            ));
            None
        }
        "SCRIPT" => {
            warnings.push(format!(
                "line {line}: <DNSServer> {address} not converted: UpdateMethod SCRIPT called \
                 the v1 script's SFOUpdateDNS; make it a program and add a Command-line update \
                 with the arguments $DNSSERVER$ $ZONE$ $HOST$ $IP$"
            ));
            None
        }
        other => {
            return Err(error(line, &format!("UpdateMethod {other:?} is not known")));
        }
    };
    // Of a server not converted, the rest is covered by its one warning.
    let Some(update) = update else {
        return Ok(None);
    };
    a.finish(warnings);
    no_text(&doc.nodes[index], warnings);
    for &inner in &doc.nodes[index].children {
        unknown(&doc.nodes[inner], warnings);
    }
    Ok(Some(DnsServer {
        address,
        port,
        update,
        notes: custom.map(custom_note).unwrap_or_default(),
        ..DnsServer::default()
    }))
}

fn tsig_algorithm(text: &str) -> Option<TsigAlgorithm> {
    let wanted = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let wanted = wanted.strip_suffix(".sig-alg.reg.int").unwrap_or(&wanted);
    TsigAlgorithm::ALL
        .into_iter()
        .find(|a| a.name() == wanted || a.name().replace('-', "") == wanted)
}

#[cfg(test)]
mod tests;

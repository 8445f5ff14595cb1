//! Converts a first-generation XML configuration into settings:
//! `<SimpleFailover><ServerSet Domain ServerType Port URLPath PollingIV RetryIV
//! ResponseTimeout AcceptFailed StatusCodes SkipLow Paused><Server IP/>…`.
//!
//! The format is a handful of elements with attributes, so a small reader does (no XML
//! crate): elements, attributes in single or double quotes, the five predefined entities,
//! comments and the XML declaration. Anything it does not know is reported, not guessed.

use std::collections::BTreeMap;

use super::Settings;
use super::criteria::HttpCriteria;
use super::polling::{HttpPoll, PollMethod, TcpPoll, TcpService};
use super::server_set::{DnsData, PollFrequency, Server, ServerSet};

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
    pub warnings: Vec<String>,
}

/// One start or empty tag.
#[derive(Debug)]
struct Tag {
    name: String,
    attributes: BTreeMap<String, String>,
    line: usize,
    closing: bool,
    self_closing: bool,
}

/// Converts the text of a v1 configuration.
pub fn import(xml: &str) -> Result<Imported, ImportError> {
    let tags = read_tags(xml)?;
    let mut settings = Settings::default();
    let mut warnings = Vec::new();
    let mut current: Option<ServerSet> = None;
    let mut seen_root = false;
    for tag in tags {
        match (tag.name.as_str(), tag.closing) {
            ("SimpleFailover", false) => seen_root = true,
            ("SimpleFailover", true) => {}
            ("ServerSet", false) => {
                let set = server_set(&tag, &mut warnings)?;
                if tag.self_closing {
                    settings.server_sets.push(set);
                } else {
                    current = Some(set);
                }
            }
            ("ServerSet", true) => {
                if let Some(set) = current.take() {
                    settings.server_sets.push(set);
                }
            }
            ("Server", false) => {
                let Some(set) = current.as_mut() else {
                    return Err(error(tag.line, "<Server> outside a <ServerSet>"));
                };
                let ip = required(&tag, "IP")?;
                set.servers.push(Server {
                    public_ip: ip.to_string(),
                    ..Server::default()
                });
            }
            ("Server", true) => {}
            (other, false) => warnings.push(format!("line {}: <{other}> ignored", tag.line)),
            (_, true) => {}
        }
    }
    if !seen_root {
        return Err(error(
            1,
            "not a first-generation configuration: no <SimpleFailover> element",
        ));
    }
    if let Some(set) = current {
        settings.server_sets.push(set);
    }
    Ok(Imported { settings, warnings })
}

fn server_set(tag: &Tag, warnings: &mut Vec<String>) -> Result<ServerSet, ImportError> {
    let line = tag.line;
    let domain = required(tag, "Domain")?.to_string();
    let kind = tag
        .attributes
        .get("ServerType")
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_else(|| "HTTP".into());
    let port: Option<u16> = number(tag, "Port")?;
    let mut frequency = PollFrequency::default();
    // v1 wrote whole seconds.
    let secs = |v: u64| std::time::Duration::from_secs(v);
    if let Some(v) = number(tag, "PollingIV")? {
        frequency.interval = secs(v);
        frequency.failed_interval = secs(v).min(frequency.failed_interval).max(secs(1));
    }
    if let Some(v) = number(tag, "RetryIV")? {
        frequency.retry_interval = secs(v);
    }
    if let Some(v) = number(tag, "ResponseTimeout")? {
        frequency.timeout = secs(v);
    }
    // v1 counted the failed polls it accepted before failing over: our retries.
    if let Some(v) = number(tag, "AcceptFailed")? {
        frequency.retries = v;
    }
    frequency.sequential = flag(tag, "SkipLow")?;
    let polling = match kind.as_str() {
        "HTTP" | "HTTPS" => {
            let scheme = kind.to_ascii_lowercase();
            let path = tag
                .attributes
                .get("URLPath")
                .map(String::as_str)
                .unwrap_or("/");
            let path = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/{path}")
            };
            let port = match port {
                Some(p) if !(scheme == "http" && p == 80 || scheme == "https" && p == 443) => {
                    format!(":{p}")
                }
                _ => String::new(),
            };
            let mut criteria = HttpCriteria::default();
            if let Some(codes) = tag
                .attributes
                .get("StatusCodes")
                .filter(|c| !c.trim().is_empty())
            {
                criteria.status_codes = codes
                    .split([',', ';', ' '])
                    .filter(|c| !c.is_empty())
                    .map(|c| {
                        c.trim().parse().map_err(|_| {
                            error(line, &format!("StatusCodes: {c:?} is not a status code"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
            PollMethod::Http(HttpPoll {
                url: format!("{scheme}://{domain}{port}{path}"),
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
            if service == TcpService::Custom && port.is_none() {
                return Err(error(line, "ServerType TCP needs a Port"));
            }
            PollMethod::Tcp(TcpPoll {
                service,
                port: port.filter(|p| Some(*p) != service.default_port()),
                ..TcpPoll::default()
            })
        }
        "PING" | "ICMP" => PollMethod::Ping,
        other => return Err(error(line, &format!("ServerType {other:?} is not known"))),
    };
    let known = [
        "Domain",
        "ServerType",
        "Port",
        "URLPath",
        "PollingIV",
        "RetryIV",
        "ResponseTimeout",
        "AcceptFailed",
        "StatusCodes",
        "SkipLow",
        "Paused",
    ];
    for name in tag
        .attributes
        .keys()
        .filter(|k| !known.contains(&k.as_str()))
    {
        warnings.push(format!(
            "line {line}: attribute {name} of <ServerSet> ignored"
        ));
    }
    Ok(ServerSet {
        name: domain.clone(),
        polling,
        frequency,
        dns: DnsData {
            host_names: vec![domain],
            ..DnsData::default()
        },
        paused: flag(tag, "Paused")?,
        notes: "imported from a first-generation configuration".into(),
        ..ServerSet::default()
    })
}

fn error(line: usize, message: &str) -> ImportError {
    ImportError {
        line,
        message: message.to_string(),
    }
}

fn required<'a>(tag: &'a Tag, name: &str) -> Result<&'a str, ImportError> {
    tag.attributes
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            error(
                tag.line,
                &format!("<{}> needs the attribute {name}", tag.name),
            )
        })
}

fn number<T: std::str::FromStr>(tag: &Tag, name: &str) -> Result<Option<T>, ImportError> {
    match tag
        .attributes
        .get(name)
        .map(|v| v.trim())
        .filter(|v| !v.is_empty())
    {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| error(tag.line, &format!("{name}: {v:?} is not a valid number"))),
    }
}

fn flag(tag: &Tag, name: &str) -> Result<bool, ImportError> {
    match tag
        .attributes
        .get(name)
        .map(|v| v.trim().to_ascii_lowercase())
    {
        None => Ok(false),
        Some(v) => match v.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" | "" => Ok(false),
            _ => Err(error(
                tag.line,
                &format!("{name}: {v:?} is not a yes/no value"),
            )),
        },
    }
}

// ---- a reader for the XML subset ----------------------------------------------------------

fn read_tags(xml: &str) -> Result<Vec<Tag>, ImportError> {
    let mut tags = Vec::new();
    let mut rest = xml;
    // Lines are counted from where the last tag was, not from the start: linear in the
    // file's size (counting from the start for every tag took 36 s for 2.7 MB).
    let mut line = 1;
    let mut counted = 0;
    let mut line_of = |rest: &str| {
        let at = xml.len() - rest.len();
        line += xml[counted..at].matches('\n').count();
        counted = at;
        line
    };
    while let Some(start) = rest.find('<') {
        rest = &rest[start..];
        let line = line_of(rest);
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after
                .find("-->")
                .ok_or_else(|| error(line, "unterminated comment"))?;
            rest = &after[end + 3..];
            continue;
        }
        if rest.starts_with("<?") || rest.starts_with("<!") {
            let end = rest
                .find('>')
                .ok_or_else(|| error(line, "unterminated declaration"))?;
            rest = &rest[end + 1..];
            continue;
        }
        let (tag, consumed) = read_tag(&rest[1..], line)?;
        rest = &rest[1 + consumed..];
        tags.push(tag);
    }
    Ok(tags)
}

/// Reads one tag after its `<`; returns it and how many bytes it took (up to its `>`).
fn read_tag(text: &str, line: usize) -> Result<(Tag, usize), ImportError> {
    let closing = text.starts_with('/');
    let mut i = usize::from(closing);
    let bytes = text.as_bytes();
    let name_start = i;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'>' && bytes[i] != b'/'
    {
        i += 1;
    }
    let name = text[name_start..i].to_string();
    if name.is_empty() {
        return Err(error(line, "a tag without a name"));
    }
    let mut attributes = BTreeMap::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        match bytes.get(i) {
            None => return Err(error(line, &format!("<{name}> is not closed with >"))),
            Some(b'>') => {
                let tag = Tag {
                    name,
                    attributes,
                    line,
                    closing,
                    self_closing: false,
                };
                return Ok((tag, i + 1));
            }
            Some(b'/') if bytes.get(i + 1) == Some(&b'>') => {
                let tag = Tag {
                    name,
                    attributes,
                    line,
                    closing,
                    self_closing: true,
                };
                return Ok((tag, i + 2));
            }
            Some(_) => {
                let key_start = i;
                while i < bytes.len()
                    && bytes[i] != b'='
                    && !bytes[i].is_ascii_whitespace()
                    && bytes[i] != b'>'
                {
                    i += 1;
                }
                let key = text[key_start..i].to_string();
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) != Some(&b'=') {
                    return Err(error(
                        line,
                        &format!("attribute {key} of <{name}> has no value"),
                    ));
                }
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let quote = match bytes.get(i) {
                    Some(q @ (b'"' | b'\'')) => *q,
                    _ => {
                        return Err(error(
                            line,
                            &format!("the value of {key} must be in quotes"),
                        ));
                    }
                };
                let value_start = i + 1;
                let end = text[value_start..]
                    .find(quote as char)
                    .ok_or_else(|| error(line, &format!("the value of {key} is not closed")))?;
                attributes.insert(key, unescape(&text[value_start..value_start + end]));
                i = value_start + end + 1;
            }
        }
    }
}

fn unescape(value: &str) -> String {
    value
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::validate;

    const V1: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<!-- exported by Simple Failover 1.x -->
<SimpleFailover>
  <ServerSet Domain="www.example.com" ServerType="HTTP" Port="8080" URLPath="status?full=1&amp;x=2"
             PollingIV="120" RetryIV="15" ResponseTimeout="20" AcceptFailed="3" StatusCodes="200,301"
             SkipLow="1" Paused="0">
    <Server IP="192.0.2.1"/>
    <Server IP='192.0.2.2' />
  </ServerSet>
  <ServerSet Domain="mail.example.com" ServerType="SMTP" Paused="true" Colour="red">
    <Server IP="2001:db8::25"/>
  </ServerSet>
</SimpleFailover>"#;

    #[test]
    fn converts_sets_servers_and_frequencies() {
        let imported = import(V1).unwrap();
        let s = &imported.settings;
        assert_eq!(s.server_sets.len(), 2);
        let web = &s.server_sets[0];
        assert_eq!(web.name, "www.example.com");
        assert_eq!(
            web.servers
                .iter()
                .map(|x| x.public_ip.as_str())
                .collect::<Vec<_>>(),
            ["192.0.2.1", "192.0.2.2"]
        );
        match &web.polling {
            PollMethod::Http(h) => {
                assert_eq!(h.url, "http://www.example.com:8080/status?full=1&x=2");
                assert_eq!(h.criteria.status_codes, vec![200, 301]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            (
                web.frequency.interval.as_secs(),
                web.frequency.retry_interval.as_secs(),
                web.frequency.timeout.as_secs(),
                web.frequency.retries
            ),
            (120, 15, 20, 3)
        );
        assert!(web.frequency.sequential);
        assert!(!web.paused);
        let mail = &s.server_sets[1];
        assert!(mail.paused);
        assert!(
            matches!(&mail.polling, PollMethod::Tcp(t) if t.service == TcpService::Smtp && t.port.is_none())
        );
        assert_eq!(
            imported.warnings,
            vec!["line 10: attribute Colour of <ServerSet> ignored".to_string()]
        );
        assert_eq!(validate(s), vec![], "the converted settings are valid");
    }

    #[test]
    fn errors_name_the_line() {
        let err = import(
            "<SimpleFailover>\n<ServerSet ServerType=\"HTTP\">\n</ServerSet></SimpleFailover>",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "line 2: <ServerSet> needs the attribute Domain"
        );
        let err =
            import("<SimpleFailover>\n\n<ServerSet Domain=\"a.example\" PollingIV=\"often\"/>")
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
    }
}

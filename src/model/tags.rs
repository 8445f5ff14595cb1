//! The one `$TAG$` expander, shared by command-line polls, DNS updates and notifications.
//!
//! A tag is `$NAME$` with NAME in capitals. An unknown tag is left as written (and the
//! dialogs flag it with [`unknown_tags`]).

use std::collections::BTreeMap;

/// Tags of a command-line poll's arguments (SPEC §1).
pub const POLL_TAGS: &[&str] = &[
    "SERVERIP",
    "PUBLICIP",
    "SERVERNAME",
    "PORT",
    "HOST",
    "SETNAME",
    "TIMEOUT",
];

/// Tags of DNS updates (SPEC §4).
pub const UPDATE_TAGS: &[&str] = &[
    "HOST",
    "DOM",
    "ZONE",
    "IP",
    "IPS",
    "IPV4",
    "IPV6",
    "TTL",
    "DNSSERVER",
    "SETNAME",
];

/// Tags of notifications (SPEC §6).
pub const NOTIFY_TAGS: &[&str] = &[
    "EVENT",
    "SETNAME",
    "HOST",
    "SERVERIP",
    "SERVERNAME",
    "STATUS",
    "RESPONSE",
    "PROBLEM",
    "PCODE",
    "DNSSERVER",
    "OLDIPS",
    "NEWIPS",
    "TIME",
    "TIMEUTC",
    "COMPUTER",
    // How many times the event happened in the coalescing window (1 for a single one).
    "COUNT",
    // A stable id of this message: the same at every retry, also after a restart, so a
    // receiver can drop a duplicate (also sent as the e-mail Message-ID and an HTTP header).
    "MESSAGEID",
    // A stable id of the problem: the same for its failure, reminders and resolution.
    "PROBLEMID",
    // What a recovery resolves (e.g. `Server failed at 2026-11-25 13:03:07 UTC`); blank
    // when the message resolves nothing.
    "RESOLVES",
    // How long the resolved (or, in a reminder, the current) problem lasted: `12 min 5 s`.
    "DURATION",
    // `critical`, `error`, `warning` or `info`, for services with priorities.
    "SEVERITY",
];

/// How a value is written into the template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// As is (arguments, bodies, e-mail).
    Plain,
    /// Percent-encoded, for values put into a URL.
    Url,
    /// Escaped as the inside of a JSON string (`"` `\\` and control characters), for
    /// bodies sent as `application/json`: a value with quotes cannot break the document.
    Json,
}

/// Values of tags, by name without the dollars.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TagValues(BTreeMap<&'static str, String>);

impl TagValues {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, tag: &'static str, value: impl Into<String>) -> &mut Self {
        self.0.insert(tag, value.into());
        self
    }

    pub fn with(mut self, tag: &'static str, value: impl Into<String>) -> Self {
        self.set(tag, value);
        self
    }

    pub fn get(&self, tag: &str) -> Option<&str> {
        self.0.get(tag).map(String::as_str)
    }

    /// Every value, by tag name.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str()))
    }
}

/// Replaces every known `$TAG$` in `template`; unknown ones stay as written.
pub fn expand(template: &str, values: &TagValues, encoding: Encoding) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('$') {
            Some(end) if is_tag_name(&after[..end]) => {
                let name = &after[..end];
                match values.get(name) {
                    Some(value) => match encoding {
                        Encoding::Plain => out.push_str(value),
                        Encoding::Url => out.push_str(&url_encode(value)),
                        Encoding::Json => out.push_str(&json_escape(value)),
                    },
                    None => {
                        out.push('$');
                        out.push_str(name);
                        out.push('$');
                    }
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The tags in `template` that are not in `known`, for the dialogs to flag.
pub fn unknown_tags(template: &str, known: &[&str]) -> Vec<String> {
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('$') {
        let after = &rest[start + 1..];
        match after.find('$') {
            Some(end) if is_tag_name(&after[..end]) => {
                let name = &after[..end];
                if !known.contains(&name) {
                    unknown.push(format!("${name}$"));
                }
                rest = &after[end + 1..];
            }
            _ => rest = after,
        }
    }
    unknown
}

/// The template with every tag replaced by a harmless sample, to validate the shape of a
/// URL before any real value exists.
pub fn expand_with_samples(template: &str) -> String {
    let mut values = TagValues::new();
    for tag in POLL_TAGS.iter().chain(UPDATE_TAGS).chain(NOTIFY_TAGS) {
        values.set(tag, "x");
    }
    expand(template, &values, Encoding::Url)
}

fn is_tag_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// The inside of a JSON string for `value` (serde_json's escaping, without the quotes).
pub fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn expands_known_and_keeps_unknown() {
        let values = TagValues::new()
            .with("HOST", "www.example.com")
            .with("IP", "192.0.2.1");
        assert_eq!(
            expand("$HOST$ -> $IP$ ($NOPE$) costs $5", &values, Encoding::Plain),
            "www.example.com -> 192.0.2.1 ($NOPE$) costs $5"
        );
        assert_eq!(
            expand("$$HOST$", &values, Encoding::Plain),
            "$www.example.com"
        );
    }

    #[test]
    fn url_encoding() {
        let values = TagValues::new().with("IPS", "2001:db8::1,192.0.2.1");
        assert_eq!(
            expand("https://x/?ips=$IPS$", &values, Encoding::Url),
            "https://x/?ips=2001%3Adb8%3A%3A1%2C192.0.2.1"
        );
    }

    #[test]
    fn json_encoding_keeps_the_document_valid() {
        let values = TagValues::new().with("RESPONSE", "say \"hi\" \\ back\nnow: é\u{1}");
        let body = expand(r#"{"text": "$RESPONSE$"}"#, &values, Encoding::Json);
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["text"], "say \"hi\" \\ back\nnow: é\u{1}");
    }

    #[test]
    fn flags_unknown_tags() {
        assert_eq!(
            unknown_tags("$HOST$ $HOTS$ $ip$", UPDATE_TAGS),
            vec!["$HOTS$".to_string()]
        );
    }
}

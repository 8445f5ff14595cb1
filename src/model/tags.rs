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
    // The same three lists as JSON arrays of strings (`["192.0.2.1","2001:db8::1"]`), for
    // provider APIs that take a list.
    "IPS_JSON",
    "IPV4_JSON",
    "IPV6_JSON",
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
    /// Escaped for the inside of a JSON string (quotes, backslashes, control characters),
    /// for JSON bodies. A tag whose name ends in `_JSON` is already JSON and goes in as is.
    Json,
    /// Percent-encoded, for `application/x-www-form-urlencoded` bodies.
    Form,
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
                        Encoding::Url | Encoding::Form => out.push_str(&url_encode(value)),
                        Encoding::Json if name.ends_with("_JSON") => out.push_str(value),
                        Encoding::Json => json_escape_into(&mut out, value),
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
    name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Writes `value` as the inside of a JSON string (RFC 8259 §7).
fn json_escape_into(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c => out.push(c),
        }
    }
}

/// A list of values as a JSON array of strings: `["a","b"]`.
pub fn json_array<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::from("[");
    for (i, value) in values.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        json_escape_into(&mut out, value);
        out.push('"');
    }
    out.push(']');
    out
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
    fn json_encoding_keeps_the_body_valid_json() {
        let nasty = "a \"quoted\" back\\slash\nnew line\ttab \u{1} end";
        let values = TagValues::new()
            .with("SETNAME", nasty)
            .with("IPS_JSON", json_array(["192.0.2.1", "2001:db8::1"]));
        let body = expand(
            r#"{"name": "$SETNAME$", "ips": $IPS_JSON$}"#,
            &values,
            Encoding::Json,
        );
        let parsed: serde_json::Value = serde_json::from_str(&body).expect(&body);
        assert_eq!(parsed["name"], nasty);
        assert_eq!(parsed["ips"][1], "2001:db8::1");
        assert_eq!(json_array([]), "[]");
        assert_eq!(
            expand("a=$SETNAME$", &values, Encoding::Form),
            "a=a%20%22quoted%22%20back%5Cslash%0Anew%20line%09tab%20%01%20end"
        );
    }

    #[test]
    fn flags_unknown_tags() {
        assert_eq!(
            unknown_tags("$HOST$ $HOTS$ $ip$", UPDATE_TAGS),
            vec!["$HOTS$".to_string()]
        );
    }
}

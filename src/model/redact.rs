//! What the support file must not show beyond the [`super::Secret`]s: credentials in URLs
//! (user:password@, query tokens), secret-looking headers (`Authorization`, API keys) and
//! command-line arguments (a password passed as an argument is common).

use super::Settings;

/// What replaces a hidden value.
pub const HIDDEN: &str = "***";

/// A copy of the settings with every `url` redacted ([`url`]), secret headers' values and
/// command arguments ([`argument`]) hidden. The copy is made through serde's data model,
/// so that a new place with a URL, headers or arguments is covered by its field name.
/// `None` if the settings do not survive the round trip (then show none of them).
pub fn settings(settings: &Settings) -> Option<Settings> {
    let mut value = serde_json::to_value(settings).ok()?;
    redact_value(&mut value);
    serde_json::from_value(value).ok()
}

fn redact_value(value: &mut serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match (key.as_str(), item) {
                    ("url", Value::String(text)) => *text = url(text),
                    ("headers", Value::Array(headers)) => {
                        for header in headers {
                            if let Value::Array(pair) = header
                                && let [Value::String(name), Value::String(value)] =
                                    pair.as_mut_slice()
                                && secret_header(name)
                            {
                                *value = HIDDEN.into();
                            }
                        }
                    }
                    ("args", Value::Array(args)) => {
                        for arg in args {
                            if let Value::String(text) = arg {
                                *text = argument(text);
                            }
                        }
                    }
                    (_, item) => redact_value(item),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        _ => {}
    }
}

/// Header names whose values are credentials.
pub fn secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "authorization",
        "api-key",
        "apikey",
        "api_key",
        "token",
        "secret",
        "password",
        "cookie",
        "auth",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// A command argument as shown: a bare flag (`-v`, `--quiet`) or a lone tag (`$SERVERIP$`)
/// as it is; anything else may be a password and is hidden.
pub fn argument(arg: &str) -> String {
    let flag = arg.starts_with('-')
        && arg[1..]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    let tag = arg.len() > 2
        && arg.starts_with('$')
        && arg.ends_with('$')
        && arg[1..arg.len() - 1]
            .chars()
            .all(|c| c.is_ascii_uppercase() || c == '_');
    if flag || tag {
        arg.to_string()
    } else {
        HIDDEN.to_string()
    }
}

/// A URL without its credentials: `https://***@host/path?key=***#***`. Scheme, host, port,
/// path and query keys stay (they help a helper); user info, query values and the
/// fragment go.
pub fn url(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_string();
    };
    let (scheme, rest) = text.split_at(scheme_end + 3);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(authority_end);
    let mut out = String::from(scheme);
    match authority.rfind('@') {
        Some(at) => {
            out.push_str(HIDDEN);
            out.push_str(&authority[at..]);
        }
        None => out.push_str(authority),
    }
    let (before_fragment, fragment) = match rest.find('#') {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) => format!("{key}={HIDDEN}"),
                    None if pair.is_empty() => String::new(),
                    None => HIDDEN.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(before_fragment),
    }
    if fragment.is_some_and(|f| !f.is_empty()) {
        out.push('#');
        out.push_str(HIDDEN);
    }
    out
}

/// Every URL in free text (log lines, problem texts) redacted like [`url`]. A URL starts
/// at its scheme (`https://`) and ends at white space or a quote.
pub fn urls_in_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let scheme_start = rest[..i]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || "+.-".contains(c)))
            .map_or(0, |j| j + 1);
        let end = rest[i..]
            .find(|c: char| c.is_whitespace() || "\"'<>`".contains(c))
            .map_or(rest.len(), |j| i + j);
        out.push_str(&rest[..scheme_start]);
        out.push_str(&url(&rest[scheme_start..end]));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials_only() {
        let table = [
            ("https://example.test/health", "https://example.test/health"),
            (
                "https://user:hunter2@example.test:8443/x?token=abc&v=1#frag",
                "https://***@example.test:8443/x?token=***&v=***#***",
            ),
            (
                "http://example.test/hook?key=s3cr3t",
                "http://example.test/hook?key=***",
            ),
            ("http://example.test/?s3cr3t", "http://example.test/?***"),
            ("http://a@b@example.test/", "http://***@example.test/"),
            ("not a url", "not a url"),
        ];
        for (given, expected) in table {
            assert_eq!(url(given), expected, "{given}");
        }
        assert_eq!(
            urls_in_text("POST \"https://u:p@h.test/a?k=v\" failed: 401"),
            "POST \"https://***@h.test/a?k=***\" failed: 401"
        );
    }

    #[test]
    fn arguments_and_headers() {
        assert_eq!(argument("--quiet"), "--quiet");
        assert_eq!(argument("-v"), "-v");
        assert_eq!(argument("$SERVERIP$"), "$SERVERIP$");
        assert_eq!(argument("--password=hunter2"), HIDDEN);
        assert_eq!(argument("hunter2"), HIDDEN);
        assert_eq!(argument("$SERVERIP$:hunter2"), HIDDEN);
        for name in [
            "Authorization",
            "X-API-Key",
            "X-Auth-Token",
            "Cookie",
            "apikey",
        ] {
            assert!(secret_header(name), "{name}");
        }
        assert!(!secret_header("Content-Type"));
    }

    #[test]
    fn every_settings_file_survives_the_round_trip() {
        for file in ["default.ron", "example.ron"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("settings")
                .join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            let settings = Settings::from_ron(&text).unwrap();
            assert!(self::settings(&settings).is_some(), "{file}");
        }
    }
}

//! International host names (IDNA, UTS #46): operators type and read them in Unicode
//! (`bücher.example`); DNS, the built-in DNS server and the probes send the ASCII form
//! (`xn--bcher-kva.example`). The settings keep what was typed.

use std::borrow::Cow;

/// A host name that IDNA refuses, named as it was typed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a valid international host name (IDNA)")]
pub struct NotIdna {
    pub name: String,
}

/// The ASCII (punycode) form of a host name, lower case; a leading `*.` and a trailing
/// `.` are kept. An ASCII name comes back lower-cased; a name that IDNA refuses (a label
/// that decodes to nothing valid, a disallowed character) is an error saying why.
pub fn to_ascii(name: &str) -> Result<String, NotIdna> {
    let (wild, rest) = match name.strip_prefix("*.") {
        Some(rest) => ("*.", rest),
        None => ("", name),
    };
    let (rest, dot) = match rest.strip_suffix('.') {
        Some(rest) => (rest, "."),
        None => (rest, ""),
    };
    if rest.is_ascii() && !has_punycode_label(rest) {
        // Plain ASCII needs no IDNA: the label rules of `validate::host_name` judge it
        // (underscores included, which UTS #46's STD3 rules would refuse).
        return Ok(format!("{wild}{}{dot}", rest.to_ascii_lowercase()));
    }
    let ascii =
        idna::domain_to_ascii_cow(rest.as_bytes(), idna::AsciiDenyList::STD3).map_err(|_| {
            NotIdna {
                name: name.to_string(),
            }
        })?;
    Ok(format!("{wild}{ascii}{dot}"))
}

/// A URL as HTTP sends it: its host in ASCII ([`to_ascii`]) and every other non-ASCII
/// character percent-encoded as UTF-8 (`https://bücher.example/straße` →
/// `https://xn--bcher-kva.example/stra%C3%9Fe`). An ASCII URL comes back as it is; the
/// settings keep what was typed, so the window shows the Unicode.
pub fn url_to_ascii(url: &str) -> Result<Cow<'_, str>, NotIdna> {
    if url.is_ascii() {
        return Ok(Cow::Borrowed(url));
    }
    let (scheme, rest) = match url.find("://") {
        Some(i) => url.split_at(i + 3),
        None => ("", url),
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let (userinfo, host_port) = match authority.rfind('@') {
        Some(i) => authority.split_at(i + 1),
        None => ("", authority),
    };
    // An IPv6 literal is ASCII in brackets; elsewhere the port follows the last colon.
    let (host, port) = match host_port.rfind(':') {
        Some(i) if !host_port.starts_with('[') => host_port.split_at(i),
        _ => (host_port, ""),
    };
    let host: Cow<'_, str> = if host.is_ascii() {
        Cow::Borrowed(host)
    } else {
        Cow::Owned(to_ascii(host)?)
    };
    Ok(Cow::Owned(format!(
        "{scheme}{}{host}{}{}",
        percent_non_ascii(userinfo),
        percent_non_ascii(port),
        percent_non_ascii(tail)
    )))
}

/// Non-ASCII characters as `%XX` of their UTF-8 bytes (RFC 3986 §2.5), ASCII as it is.
fn percent_non_ascii(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() * 3);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut bytes = [0; 4];
            for b in c.encode_utf8(&mut bytes).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    Cow::Owned(out)
}

/// Whether a label starts with the ACE prefix `xn--` (then IDNA must check it).
fn has_punycode_label(name: &str) -> bool {
    name.split('.').any(|label| {
        label
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    })
}

/// [`to_ascii`], or the name as it is where IDNA refuses it (validation has said so;
/// the engine never stops over a name it cannot convert, the DNS server then answers
/// the name as written).
pub fn ascii_or_same(name: &str) -> String {
    to_ascii(name).unwrap_or_else(|_| name.to_string())
}

/// The Unicode form of a host name for the window (`xn--bcher-kva.example` →
/// `bücher.example`); a name that does not decode is shown as it is.
pub fn to_unicode(name: &str) -> String {
    if !has_punycode_label(name) {
        return name.to_string();
    }
    match idna::domain_to_unicode(name) {
        (unicode, Ok(())) => unicode,
        (_, Err(_)) => name.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn unicode_names_become_punycode_and_back() {
        for (unicode, ascii) in [
            ("bücher.example", "xn--bcher-kva.example"),
            ("Bücher.Example", "xn--bcher-kva.example"),
            (
                "www.müller.example.test.",
                "www.xn--mller-kva.example.test.",
            ),
            ("*.bücher.example", "*.xn--bcher-kva.example"),
            ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
            ("www.example.com", "www.example.com"),
            ("WWW.Example.COM", "www.example.com"),
            ("_sip._tcp.example.com", "_sip._tcp.example.com"),
        ] {
            assert_eq!(to_ascii(unicode).as_deref(), Ok(ascii), "{unicode}");
        }
        assert_eq!(to_unicode("xn--bcher-kva.example"), "bücher.example");
        assert_eq!(to_unicode("www.xn--r8jz45g.xn--zckzah"), "www.例え.テスト");
        assert_eq!(to_unicode("www.example.com"), "www.example.com");
    }

    #[test]
    fn urls_get_an_ascii_host_and_percent_encoded_text() {
        for (typed, sent) in [
            ("http://bücher.example/", "http://xn--bcher-kva.example/"),
            (
                "https://Bücher.example:8443/straße?q=ü#x",
                "https://xn--bcher-kva.example:8443/stra%C3%9Fe?q=%C3%BC#x",
            ),
            (
                "http://user:pässword@例え.テスト",
                "http://user:p%C3%A4ssword@xn--r8jz45g.xn--zckzah",
            ),
            ("http://[::1]:8080/ü", "http://[::1]:8080/%C3%BC"),
            ("https://www.example.com/x", "https://www.example.com/x"),
        ] {
            assert_eq!(url_to_ascii(typed).unwrap(), sent, "{typed}");
        }
        // An ASCII URL is not touched (nor lower-cased).
        assert!(matches!(
            url_to_ascii("http://WWW.Example.com/"),
            Ok(Cow::Borrowed("http://WWW.Example.com/"))
        ));
        let error = url_to_ascii("http://bü cher.example/").unwrap_err();
        assert_eq!(error.name, "bü cher.example");
    }

    #[test]
    fn invalid_international_labels_are_refused() {
        // A punycode label that decodes to nothing valid, and characters IDNA disallows.
        for bad in [
            "xn--a.example",
            "xn--ab-.example",
            "bü cher.example",
            "bü/cher.example",
        ] {
            let error = to_ascii(bad).unwrap_err();
            assert_eq!(error.name, bad);
            assert!(error.to_string().contains("IDNA"), "{bad}: {error}");
        }
        assert_eq!(to_unicode("xn--a.example"), "xn--a.example");
        assert_eq!(ascii_or_same("xn--a.example"), "xn--a.example");
    }
}

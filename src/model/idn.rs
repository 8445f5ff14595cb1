//! International host names (IDNA, UTS #46): operators type and read them in Unicode
//! (`bücher.example`); DNS, the built-in DNS server and the probes send the ASCII form
//! (`xn--bcher-kva.example`). The settings keep what was typed.

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

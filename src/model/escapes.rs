//! The escapes of a TCP poll's text to send: `\r`, `\n`, `\t`, `\0`, `\\` and `\xNN` (one
//! byte), so that a line protocol's `PING\r\n` or a binary hello can be written in a
//! settings field. Pure: the validation and the probe share it.

/// Why an escaped text is refused; `at` is the character position (from 1) of the `\`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EscapeError {
    #[error(r"character {at}: \{found} is no escape (use \r, \n, \t, \0, \\ or \xNN)")]
    Unknown { at: usize, found: char },
    #[error(r"character {at}: \x needs two hex digits (e.g. \x0d)")]
    BadHex { at: usize },
    #[error(r"character {at}: a lone \ at the end (write \\ for a backslash)")]
    Trailing { at: usize },
}

/// The bytes an escaped text stands for.
pub fn unescape(text: &str) -> Result<Vec<u8>, EscapeError> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars().enumerate();
    while let Some((i, c)) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        let at = i + 1;
        let Some((_, escape)) = chars.next() else {
            return Err(EscapeError::Trailing { at });
        };
        match escape {
            'r' => out.push(b'\r'),
            'n' => out.push(b'\n'),
            't' => out.push(b'\t'),
            '0' => out.push(0),
            '\\' => out.push(b'\\'),
            'x' => {
                let high = chars.next().and_then(|(_, c)| c.to_digit(16));
                let low = chars.next().and_then(|(_, c)| c.to_digit(16));
                match (high, low) {
                    // Two hex digits are at most 255.
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(EscapeError::BadHex { at }),
                }
            }
            found => return Err(EscapeError::Unknown { at, found }),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        let cases: &[(&str, &[u8])] = &[
            (r"PING\r\n", b"PING\r\n"),
            (r"a\tb\\c", b"a\tb\\c"),
            (r"\x00\xff\x0D\x0a", &[0, 0xff, 0x0d, 0x0a]),
            (r"\0", &[0]),
            ("plain", b"plain"),
            // Real line ends (a RON string's own escapes) pass through.
            ("PING\r\n", b"PING\r\n"),
            ("é", "é".as_bytes()),
            ("", b""),
        ];
        for (text, bytes) in cases {
            assert_eq!(unescape(text).as_deref(), Ok(*bytes), "{text}");
        }
    }

    #[test]
    fn bad_escapes_name_their_place() {
        assert_eq!(
            unescape(r"ab\q"),
            Err(EscapeError::Unknown { at: 3, found: 'q' })
        );
        assert_eq!(unescape(r"\x4"), Err(EscapeError::BadHex { at: 1 }));
        assert_eq!(unescape(r"\xzz"), Err(EscapeError::BadHex { at: 1 }));
        assert_eq!(unescape(r"abc\"), Err(EscapeError::Trailing { at: 4 }));
        assert_eq!(
            unescape(r"ab\q").unwrap_err().to_string(),
            r"character 3: \q is no escape (use \r, \n, \t, \0, \\ or \xNN)"
        );
    }
}

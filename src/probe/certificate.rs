//! Certificate expiry for the HTTPS poll's warning (SPEC §1: "can warn N days before it
//! expires"): the leaf certificate's notAfter, read by a minimal DER walk.
//!
//! Only one field of one structure is needed, so a few lines of DER beat an X.509 crate
//! and its dependency tree. The walk follows RFC 5280 §4.1: Certificate ::= SEQUENCE {
//! tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber, signature, issuer,
//! validity SEQUENCE { notBefore, notAfter }, ... }, ... }.

#[cfg(test)]
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};

const SEQUENCE: u8 = 0x30;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A certificate's end of validity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAfter {
    /// Seconds since the Unix epoch (negative before 1970).
    pub unix: i64,
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

/// Reads notAfter from a DER certificate; `None` if it is not a well-formed one.
pub fn not_after(der: &[u8]) -> Option<NotAfter> {
    let (tag, certificate, _) = tlv(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = tlv(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = tlv(rest)?.2;
    }
    // serialNumber, signature, issuer
    for _ in 0..3 {
        rest = tlv(rest)?.2;
    }
    let (tag, validity, _) = tlv(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (_, _, after_not_before) = tlv(validity)?;
    let (tag, time, _) = tlv(after_not_before)?;
    parse_time(tag, std::str::from_utf8(time).ok()?)
}

/// The warning for a certificate that expires within `days` days of `now` (0 = never
/// warn): `certificate expires in 5 days (2026-11-30)`.
pub fn expiry_warning(der: &[u8], days: u32, now: SystemTime) -> Option<String> {
    if days == 0 {
        return None;
    }
    let Some(end) = not_after(der) else {
        return Some("certificate expiry unknown: cannot read its notAfter date".into());
    };
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).ok()?,
        Err(_) => 0,
    };
    let left = end.unix - now;
    if left > i64::from(days) * 86_400 {
        return None;
    }
    let date = format!("{:04}-{:02}-{:02}", end.year, end.month, end.day);
    let whole_days = left / 86_400;
    Some(match whole_days {
        _ if left < 0 => format!("certificate expired on {date}"),
        0 => format!("certificate expires within a day ({date})"),
        1 => format!("certificate expires in 1 day ({date})"),
        n => format!("certificate expires in {n} days ({date})"),
    })
}

/// One DER element: (tag, content, what follows). Single-byte tags only, which is all a
/// certificate's outer structure uses.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *input.first()?;
    let first = *input.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for &b in input.get(2..2 + count)? {
            length = (length << 8) | usize::from(b);
        }
        (length, 2 + count)
    };
    let content = input.get(header..header.checked_add(length)?)?;
    Some((tag, content, &input[header + length..]))
}

/// UTCTime `YYMMDDHHMMSSZ` (years 1950–2049, RFC 5280 §4.1.2.5.1) or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`.
fn parse_time(tag: u8, text: &str) -> Option<NotAfter> {
    let text = text.strip_suffix('Z')?;
    let (year, rest) = match tag {
        UTC_TIME if text.len() == 12 => {
            let yy: i64 = text.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        GENERALIZED_TIME if text.len() == 14 => (text.get(..4)?.parse().ok()?, &text[4..]),
        _ => return None,
    };
    if !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let field = |i: usize| -> Option<u32> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let unix = days_from_civil(year, month, day) * 86_400
        + i64::from(hour * 3600 + minute * 60 + second.min(60));
    Some(NotAfter {
        unix,
        year,
        month,
        day,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
fn days(n: u64) -> Duration {
    Duration::from_secs(n * 86_400)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 30), 20_787);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
    }

    #[test]
    fn times() {
        let t = parse_time(UTC_TIME, "261130120000Z").unwrap();
        assert_eq!((t.year, t.month, t.day), (2026, 11, 30));
        assert_eq!(t.unix, 20_787 * 86_400 + 12 * 3600);
        assert_eq!(parse_time(UTC_TIME, "991231235959Z").unwrap().year, 1999);
        let g = parse_time(GENERALIZED_TIME, "20501231235959Z").unwrap();
        assert_eq!(g.year, 2050);
        assert!(parse_time(UTC_TIME, "2611301200Z").is_none());
        assert!(parse_time(UTC_TIME, "261330120000Z").is_none());
        assert!(parse_time(GENERALIZED_TIME, "20501231235959").is_none());
    }

    #[test]
    fn long_lengths_and_garbage() {
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(0u8, 256));
        long.push(0x05);
        let (tag, content, rest) = tlv(&long).unwrap();
        assert_eq!((tag, content.len(), rest), (0x04, 256, &[0x05][..]));
        assert!(tlv(&[0x30, 0x82, 0x01]).is_none());
        assert!(not_after(b"not a certificate").is_none());
        assert!(not_after(&[]).is_none());
    }

    #[test]
    fn warnings() {
        // SEQUENCE { SEQUENCE { [0]{INTEGER 2}, INTEGER 1, SEQ{}, SEQ{}, SEQ{ UTCTime,
        // UTCTime } } } — the least that passes the walk.
        let not_before = b"250101000000Z";
        let not_after_text = b"261130000000Z";
        let mut validity = vec![SEQUENCE, 30, UTC_TIME, 13];
        validity.extend_from_slice(not_before);
        validity.extend_from_slice(&[UTC_TIME, 13]);
        validity.extend_from_slice(not_after_text);
        let mut tbs = vec![VERSION, 3, 0x02, 1, 2, 0x02, 1, 1, SEQUENCE, 0, SEQUENCE, 0];
        tbs.extend_from_slice(&validity);
        let mut cert = vec![SEQUENCE, tbs.len() as u8 + 2, SEQUENCE, tbs.len() as u8];
        cert.extend_from_slice(&tbs);
        let end = UNIX_EPOCH + days(20_787);
        assert_eq!(not_after(&cert).unwrap().unix, 20_787 * 86_400);
        assert_eq!(
            expiry_warning(&cert, 14, end - days(5)).unwrap(),
            "certificate expires in 5 days (2026-11-30)"
        );
        assert_eq!(expiry_warning(&cert, 14, end - days(30)), None);
        assert_eq!(expiry_warning(&cert, 0, end - days(5)), None);
        assert_eq!(
            expiry_warning(&cert, 14, end + days(1)).unwrap(),
            "certificate expired on 2026-11-30"
        );
        assert_eq!(
            expiry_warning(&cert, 14, end - days(1)).unwrap(),
            "certificate expires in 1 day (2026-11-30)"
        );
    }
}

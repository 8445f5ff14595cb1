//! What an operator decides for a server beside its polls: a manual override (forced up or
//! down, like gdnsd's admin state), optionally until a time. Kept in the settings, so that
//! it survives a restart. Times are RFC 3339 texts in UTC (`2026-12-01T12:00:00Z`).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::field::FieldError;

/// Which way an override forces a server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ForcedState {
    /// Counts as functional, whatever its polls say.
    Up,
    /// Counts as failed, whatever its polls say.
    Down,
}

impl ForcedState {
    pub fn label(self) -> &'static str {
        match self {
            ForcedState::Up => "up",
            ForcedState::Down => "down",
        }
    }
}

/// A manual override of a server's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Forced {
    pub state: ForcedState,
    /// When it was set (RFC 3339).
    pub set_at: String,
    /// When it ends by itself (RFC 3339); `None` = until it is cleared.
    #[serde(default)]
    pub until: Option<String>,
}

impl Forced {
    /// An override set at `now`, lasting `duration` if given.
    pub fn new(
        state: ForcedState,
        now: SystemTime,
        duration: Option<std::time::Duration>,
    ) -> Forced {
        Forced {
            state,
            set_at: rfc3339(now),
            until: duration.map(|d| rfc3339(now + d)),
        }
    }

    /// When it ends, if it ends by itself (a text that does not parse: never; validation
    /// refuses it).
    pub fn until_time(&self) -> Option<SystemTime> {
        self.until.as_deref().and_then(|t| parse_time(t).ok())
    }

    pub fn set_at_time(&self) -> Option<SystemTime> {
        parse_time(&self.set_at).ok()
    }

    /// In force at `now`: set, and not yet ended.
    pub fn is_active(&self, now: SystemTime) -> bool {
        self.until_time().is_none_or(|until| now < until)
    }
}

/// `2026-12-01T12:00:00Z` (to the second; earlier times than 1970 are not written here).
pub fn rfc3339(time: SystemTime) -> String {
    match jiff::Timestamp::try_from(time) {
        Ok(t) => t.round(jiff::Unit::Second).unwrap_or(t).to_string(),
        Err(_) => "1970-01-01T00:00:00Z".into(),
    }
}

/// Parses an RFC 3339 time (`2026-12-01T12:00:00Z`, `2026-12-01T13:00:00+01:00`).
pub fn parse_time(text: &str) -> Result<SystemTime, FieldError> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| FieldError::NotATime(text.into()))
}

/// Parses a duration written `250ms`, `10s`, `30m`, `2h` or `1d` (whole numbers).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, FieldError> {
    let text = text.trim();
    let wrong = || FieldError::NotADuration(text.into());
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or_else(wrong)?;
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| wrong())?;
    let ms = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" | "min" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(wrong()),
    };
    n.checked_mul(ms)
        .map(std::time::Duration::from_millis)
        .ok_or_else(wrong)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        for wrong in ["", "m", "10", "1.5s", "-1s", "10 parsecs"] {
            assert!(parse_duration(wrong).is_err(), "{wrong}");
        }
    }

    #[test]
    fn an_override_ends_at_its_time() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_590_400);
        let forced = Forced::new(ForcedState::Down, now, Some(Duration::from_secs(1800)));
        assert_eq!(forced.set_at, "2025-12-01T12:00:00Z");
        assert_eq!(forced.until.as_deref(), Some("2025-12-01T12:30:00Z"));
        assert!(forced.is_active(now));
        assert!(forced.is_active(now + Duration::from_secs(1799)));
        assert!(!forced.is_active(now + Duration::from_secs(1800)));
        let lasting = Forced::new(ForcedState::Up, now, None);
        assert!(lasting.is_active(now + Duration::from_secs(10_000_000)));
        assert_eq!(parse_time(&forced.set_at), Ok(now));
        assert!(parse_time("yesterday").is_err());
    }
}

/// A maintenance window: while it lasts the server (or every server of the set) is *in
/// maintenance*: treated as disabled by the decision, no failed/recovered notifications.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Maintenance {
    /// From one time to another (RFC 3339), e.g. "Maintenance for 30 min" from the window.
    Once { from: String, to: String },
    /// On these days of the week, from `start` to `end` (`22:00`, `23:30`; an end before the
    /// start runs past midnight) in the named time zone (`Europe/Berlin`, `UTC`).
    Weekly {
        days: Vec<Day>,
        start: String,
        end: String,
        time_zone: String,
    },
}

/// A day of the week.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Day {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Day {
    fn weekday(self) -> jiff::civil::Weekday {
        use jiff::civil::Weekday::*;
        match self {
            Day::Mon => Monday,
            Day::Tue => Tuesday,
            Day::Wed => Wednesday,
            Day::Thu => Thursday,
            Day::Fri => Friday,
            Day::Sat => Saturday,
            Day::Sun => Sunday,
        }
    }
}

/// A time zone by name, from the tz data built in (pure: no file is read).
pub fn time_zone(name: &str) -> Result<jiff::tz::TimeZone, FieldError> {
    jiff::tz::TimeZoneDatabase::bundled()
        .get(name.trim())
        .map_err(|_| FieldError::NotATimeZone(name.into()))
}

/// A time of day `HH:MM`.
pub fn time_of_day(text: &str) -> Result<jiff::civil::Time, FieldError> {
    text.trim()
        .parse::<jiff::civil::Time>()
        .map_err(|_| FieldError::NotATimeOfDay(text.into()))
}

impl Maintenance {
    /// One lasting `duration` from `now`.
    pub fn once(now: SystemTime, duration: std::time::Duration) -> Maintenance {
        Maintenance::Once {
            from: rfc3339(now),
            to: rfc3339(now + duration),
        }
    }

    /// Every error, by the field it is in (for validation).
    pub fn errors(&self) -> Vec<(&'static str, FieldError)> {
        let mut errors = Vec::new();
        match self {
            Maintenance::Once { from, to } => {
                let (f, t) = (parse_time(from), parse_time(to));
                if let (Ok(f), Ok(t)) = (&f, &t)
                    && t <= f
                {
                    errors.push(("to", FieldError::EndsBeforeItStarts));
                }
                errors.extend(f.err().map(|e| ("from", e)));
                errors.extend(t.err().map(|e| ("to", e)));
            }
            Maintenance::Weekly {
                days,
                start,
                end,
                time_zone: zone,
            } => {
                if days.is_empty() {
                    errors.push(("days", FieldError::NoDays));
                }
                errors.extend(time_of_day(start).err().map(|e| ("start", e)));
                errors.extend(time_of_day(end).err().map(|e| ("end", e)));
                errors.extend(time_zone(zone).err().map(|e| ("time_zone", e)));
            }
        }
        errors
    }

    /// The stretch of this window around `now`: `Some((true, end))` while it lasts,
    /// `Some((false, start))` for the next one to come, `None` when none comes any more
    /// (or the window does not parse).
    pub fn at(&self, now: SystemTime) -> Option<(bool, SystemTime)> {
        match self {
            Maintenance::Once { from, to } => {
                let (from, to) = (parse_time(from).ok()?, parse_time(to).ok()?);
                if now < from {
                    Some((false, from))
                } else if now < to {
                    Some((true, to))
                } else {
                    None
                }
            }
            Maintenance::Weekly {
                days,
                start,
                end,
                time_zone: zone,
            } => {
                let tz = time_zone(zone).ok()?;
                let (start, end) = (time_of_day(start).ok()?, time_of_day(end).ok()?);
                let stamp = jiff::Timestamp::try_from(now).ok()?;
                let today = stamp.to_zoned_datetime(tz.clone()).date();
                let mut next: Option<SystemTime> = None;
                // Yesterday's window may still run (past midnight); the next start is at
                // most a week away.
                for offset in -1..=7_i32 {
                    let day = today.checked_add(jiff::Span::new().days(offset)).ok()?;
                    if !days.iter().any(|d| d.weekday() == day.weekday()) {
                        continue;
                    }
                    let last_day = if end <= start {
                        day.tomorrow().ok()?
                    } else {
                        day
                    };
                    let s = day
                        .to_datetime(start)
                        .to_zoned_datetime(tz.clone())
                        .ok()?
                        .timestamp();
                    let e = last_day
                        .to_datetime(end)
                        .to_zoned_datetime(tz.clone())
                        .ok()?
                        .timestamp();
                    if s <= stamp && stamp < e {
                        return Some((true, SystemTime::try_from(e).ok()?));
                    }
                    if s > stamp {
                        let s = SystemTime::try_from(s).ok()?;
                        next = Some(next.map_or(s, |n| n.min(s)));
                    }
                }
                next.map(|n| (false, n))
            }
        }
    }
}

/// While any of `windows` lasts at `now`: when the last of those overlapping ends.
/// Also when the state changes next.
pub fn maintenance_at(
    windows: &[&Maintenance],
    now: SystemTime,
) -> (Option<SystemTime>, Option<SystemTime>) {
    let mut until: Option<SystemTime> = None;
    let mut next: Option<SystemTime> = None;
    for window in windows {
        if let Some((active, at)) = window.at(now) {
            if active {
                until = Some(until.map_or(at, |u| u.max(at)));
            }
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    (until, next)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod maintenance_tests {
    use super::*;

    fn t(text: &str) -> SystemTime {
        parse_time(text).unwrap()
    }

    #[test]
    fn a_weekly_window_in_a_named_time_zone() {
        // Tuesdays and Wednesdays 22:00–01:00 in Berlin (UTC+1 in December).
        let window = Maintenance::Weekly {
            days: vec![Day::Tue, Day::Wed],
            start: "22:00".into(),
            end: "01:00".into(),
            time_zone: "Europe/Berlin".into(),
        };
        assert!(window.errors().is_empty());
        // 2026-12-01 is a Tuesday.
        #[rustfmt::skip]
        let table = [
            ("2026-12-01T12:00:00Z", Some((false, "2026-12-01T21:00:00Z"))),
            ("2026-12-01T21:00:00Z", Some((true, "2026-12-02T00:00:00Z"))),
            ("2026-12-01T23:59:59Z", Some((true, "2026-12-02T00:00:00Z"))),
            ("2026-12-02T00:00:00Z", Some((false, "2026-12-02T21:00:00Z"))),
            // Wednesday's runs into Thursday; the next is Tuesday.
            ("2026-12-02T23:30:00Z", Some((true, "2026-12-03T00:00:00Z"))),
            ("2026-12-03T00:00:00Z", Some((false, "2026-12-08T21:00:00Z"))),
        ];
        for (now, expected) in table {
            let got = window.at(t(now));
            assert_eq!(got, expected.map(|(a, at)| (a, t(at))), "at {now}");
        }
    }

    #[test]
    fn a_one_off_window_and_overlaps() {
        let once = Maintenance::once(
            t("2026-12-01T12:00:00Z"),
            std::time::Duration::from_secs(1800),
        );
        assert_eq!(
            once.at(t("2026-12-01T11:00:00Z")),
            Some((false, t("2026-12-01T12:00:00Z")))
        );
        assert_eq!(
            once.at(t("2026-12-01T12:10:00Z")),
            Some((true, t("2026-12-01T12:30:00Z")))
        );
        assert_eq!(once.at(t("2026-12-01T12:30:00Z")), None);
        let longer = Maintenance::Once {
            from: "2026-12-01T12:20:00Z".into(),
            to: "2026-12-01T13:00:00Z".into(),
        };
        let (until, next) = maintenance_at(&[&once, &longer], t("2026-12-01T12:25:00Z"));
        assert_eq!(until, Some(t("2026-12-01T13:00:00Z")));
        assert_eq!(next, Some(t("2026-12-01T12:30:00Z")));
    }

    #[test]
    fn wrong_windows_name_their_field() {
        let wrong = Maintenance::Weekly {
            days: vec![],
            start: "25:00".into(),
            end: "23:00".into(),
            time_zone: "Mars/Olympus".into(),
        };
        let fields: Vec<&str> = wrong.errors().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, vec!["days", "start", "time_zone"]);
        let backwards = Maintenance::Once {
            from: "2026-12-01T12:00:00Z".into(),
            to: "2026-12-01T11:00:00Z".into(),
        };
        assert_eq!(
            backwards.errors(),
            vec![("to", FieldError::EndsBeforeItStarts)]
        );
    }
}

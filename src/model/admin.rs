//! What an operator decides for a server beside its polls: a manual override (forced up or
//! down, like gdnsd's admin state), optionally until a time. Kept in the settings, so that
//! it survives a restart. Times are RFC 3339 texts in UTC (`2026-12-01T12:00:00Z`).

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

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
pub fn parse_time(text: &str) -> Result<SystemTime, String> {
    text.trim()
        .parse::<jiff::Timestamp>()
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| format!("{text:?} is not a time like 2026-12-01T12:00:00Z"))
}

/// Parses a duration written `250ms`, `10s`, `30m`, `2h` or `1d` (whole numbers).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let wrong = || format!("{text:?} is not a duration like 250ms, 10s, 30m, 2h or 1d");
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

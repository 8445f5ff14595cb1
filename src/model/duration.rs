//! Durations with millisecond precision, written as settings and dialogs show them:
//! `250ms`, `10s`, `5m`, `2h`, `1d`. A bare whole number is seconds: that is how the
//! first-round `*_secs` fields were written, and those files still load.

use std::time::Duration;

pub use super::admin::parse_duration as parse;

/// The shortest exact text: `250ms`, `1500ms`, `10s`, `5m`, `2h`, `1d` (zero is `0s`).
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `must be at least 10ms`, for validation.
pub fn at_least(value: Duration, min: Duration) -> Result<(), super::field::FieldError> {
    if value < min {
        Err(super::field::FieldError::TooSmall { least: format(min) })
    } else {
        Ok(())
    }
}

/// `#[serde(with = "duration::text")]`: written as text, read from text or from a whole
/// number of seconds (the old form).
pub mod text {
    use super::*;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(*d))
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Seconds(u64),
        Text(String),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        match Written::deserialize(d)? {
            Written::Seconds(secs) => Ok(Duration::from_secs(secs)),
            Written::Text(text) => parse(&text).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn written_back_as_read() {
        for (ms, text) in [
            (250, "250ms"),
            (1500, "1500ms"),
            (10_000, "10s"),
            (300_000, "5m"),
            (90_000, "90s"),
            (7_200_000, "2h"),
            (86_400_000, "1d"),
            (0, "0s"),
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(format(d), text);
            assert_eq!(parse(text), Ok(d), "{text}");
        }
        assert_eq!(
            at_least(Duration::from_millis(5), Duration::from_millis(10)),
            Err(crate::model::field::FieldError::TooSmall {
                least: "10ms".into()
            })
        );
    }

    #[test]
    fn old_seconds_fields_load_and_a_save_writes_the_new_form() {
        use crate::model::{PollMethod, Settings};
        let old = r#"(server_sets: [(
            name: "web",
            servers: [(public_ip: "192.0.2.1")],
            polling: Tcp(port: 80, greeting_timeout_secs: 3),
            frequency: (interval_secs: 30, failed_interval_secs: 15, retry_interval_secs: 5,
                        timeout_secs: 2, retries: 2),
        )])"#;
        let settings = Settings::from_ron(old).unwrap();
        let f = &settings.server_sets[0].frequency;
        let s = Duration::from_secs;
        assert_eq!(
            (f.interval, f.failed_interval, f.retry_interval, f.timeout),
            (s(30), s(15), s(5), s(2))
        );
        let PollMethod::Tcp(tcp) = &settings.server_sets[0].polling else {
            panic!("a TCP poll")
        };
        assert_eq!(tcp.greeting_timeout, s(3));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standby.ron");
        let mut settings = settings;
        settings.server_sets[0].frequency.interval = Duration::from_millis(250);
        crate::model::file::save(&path, &settings).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for old in ["interval_secs", "greeting_timeout_secs"] {
            assert!(!text.contains(old), "{old} in {text}");
        }
        for written in [
            r#"interval: "250ms""#,
            r#"failed_interval: "15s""#,
            r#"retry_interval: "5s""#,
            r#"timeout: "2s""#,
            r#"greeting_timeout: "3s""#,
        ] {
            assert!(text.contains(written), "{written} in {text}");
        }
        assert_eq!(crate::model::file::load(&path).unwrap(), settings);
        // A wrong text names the field.
        let wrong = old.replace("interval_secs: 30", "interval: \"soon\"");
        let e = Settings::from_ron(&wrong).unwrap_err().to_string();
        assert!(e.contains("\"soon\" is not a duration"), "{e}");
    }
}

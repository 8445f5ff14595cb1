//! The support file (File → *Support file...*): what a helper needs to see, without secrets.

use std::collections::VecDeque;

use super::events::LogLine;
use super::problems::Problem;
use crate::model::Settings;
use crate::store::history::iso_utc;

/// The text of the support file. The settings are written in their `Debug` form on
/// purpose: every secret (TSIG secrets, passwords, the API password) is a
/// [`crate::model::Secret`], whose `Debug` prints `***`, so no secret can reach the file.
pub fn bundle(settings: &Settings, problems: &[Problem], log: &VecDeque<LogLine>) -> String {
    let mut out = format!(
        "Standby {} support file, written {}\n\n== Settings (secrets shown as ***) ==\n{settings:#?}\n\n",
        env!("CARGO_PKG_VERSION"),
        iso_utc(std::time::SystemTime::now()),
    );
    out.push_str(&format!("== Problems ({}) ==\n", problems.len()));
    for p in problems {
        out.push_str(&format!(
            "{} {} {} {}: {}\n",
            iso_utc(p.first_seen),
            p.set,
            p.subject,
            p.code,
            p.text
        ));
    }
    out.push_str(&format!("\n== Live log ({} lines) ==\n", log.len()));
    for line in log {
        out.push_str(&format!(
            "{} {:?} {}\n",
            iso_utc(line.time),
            line.level,
            line.text
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::model::Secret;

    #[test]
    fn secrets_do_not_reach_the_file() {
        let mut settings = Settings::default();
        settings.options.http_api.password = Secret::new("api-hunter2");
        let text = bundle(&settings, &[], &VecDeque::new());
        assert!(!text.contains("api-hunter2"), "{text}");
        assert!(text.contains("***"));
    }
}

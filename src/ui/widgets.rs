//! Small shared pieces of drawing: time formatting, icons and colours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eframe::egui::{self, Color32, RichText};

use crate::engine::SetHealth;
use crate::engine::server_state::ServerStatus;

pub const GREEN: Color32 = Color32::from_rgb(0x2e, 0xa0, 0x43);
pub const RED: Color32 = Color32::from_rgb(0xd0, 0x30, 0x30);
pub const ORANGE: Color32 = Color32::from_rgb(0xe0, 0x8a, 0x00);
pub const GREY: Color32 = Color32::from_gray(0x90);

/// `HH:MM:SS` in UTC. Only std is used (no time-zone database), so the UI labels these
/// columns "UTC" rather than pretending they are local time.
pub fn clock_utc(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// [`clock_utc`] of an optional time, or a dash.
pub fn clock_or_dash(time: Option<SystemTime>) -> String {
    time.map(clock_utc).unwrap_or_else(|| "–".into())
}

/// The icon of a set in the list, and its colour.
pub fn health_icon(health: SetHealth) -> (&'static str, Color32) {
    match health {
        SetHealth::Ok => ("✔", GREEN),
        SetHealth::Problem => ("✖", RED),
        SetHealth::Unknown => ("?", GREY),
        SetHealth::Paused => ("⏸", GREY),
    }
}

/// The colour of a server status label.
pub fn status_color(status: ServerStatus) -> Color32 {
    match status {
        ServerStatus::Ok => GREEN,
        ServerStatus::Retrying => ORANGE,
        ServerStatus::Failed => RED,
        ServerStatus::NotTested | ServerStatus::Disabled | ServerStatus::Skipped => GREY,
    }
}

/// A coloured server status label.
pub fn status_text(status: ServerStatus) -> RichText {
    RichText::new(status.label()).color(status_color(status))
}

/// Cuts a long text to `max` characters (with an ellipsis) for a table cell.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(max.saturating_sub(1)).collect();
        short.push('…');
        short
    }
}

/// A label that shows at most `max` characters and the whole text on hover.
pub fn clipped_label(ui: &mut egui::Ui, text: &str, max: usize) {
    let short = clip(text, max);
    if short.len() == text.len() {
        ui.label(text);
    } else {
        ui.label(short).on_hover_text(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_utc_hours_minutes_seconds() {
        let t = UNIX_EPOCH + Duration::from_secs(3 * 86_400 + 13 * 3600 + 5 * 60 + 9);
        assert_eq!(clock_utc(t), "13:05:09");
        assert_eq!(clock_utc(UNIX_EPOCH), "00:00:00");
        assert_eq!(clock_or_dash(None), "–");
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}

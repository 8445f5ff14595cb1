//! Small shared pieces of drawing: time formatting, icons and colours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eframe::egui::{self, Color32, Pos2, RichText, Sense, Shape, Stroke, Vec2, WidgetInfo, vec2};

use crate::engine::SetHealth;
use crate::engine::server_state::ServerStatus;

pub const GREEN: Color32 = Color32::from_rgb(0x2e, 0xa0, 0x43);
pub const RED: Color32 = Color32::from_rgb(0xd0, 0x30, 0x30);
pub const ORANGE: Color32 = Color32::from_rgb(0xe0, 0x8a, 0x00);
pub const GREY: Color32 = Color32::from_gray(0x90);

/// `HH:MM:SS` in UTC. Only std is used (no time-zone database), so the UI labels these
/// columns "UTC" rather than pretending they are local time.
pub fn clock_utc(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let day = secs % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

/// [`clock_utc`] of an optional time, or a dash.
pub fn clock_or_dash(time: Option<SystemTime>) -> String {
    time.map(clock_utc).unwrap_or_else(|| "–".into())
}

/// The words for a set's health (tool tips and the icon's accessible label).
pub fn health_name(health: SetHealth) -> &'static str {
    match health {
        SetHealth::Ok => "OK",
        SetHealth::Problem => "problem",
        SetHealth::Unknown => "unknown",
        SetHealth::Paused => "paused",
    }
}

/// The icon of a set: a green check (all OK), a red cross (a problem), a grey question
/// mark (unknown) or a grey pause sign (paused).
///
/// Painted rather than written: egui's default fonts have no ✔ ✖ ⏸ glyphs.
pub fn health_icon(ui: &mut egui::Ui, health: SetHealth, size: f32) -> egui::Response {
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(size), Sense::hover());
    let c = rect.center();
    let r = size * 0.5 - 1.0;
    let white = Stroke::new((size / 8.0).max(1.5), Color32::WHITE);
    let p = |x: f32, y: f32| c + vec2(x * r, y * r);
    let painter = ui.painter();
    match health {
        SetHealth::Ok => {
            painter.circle_filled(c, r, GREEN);
            painter.add(Shape::line(
                vec![p(-0.5, 0.0), p(-0.15, 0.38), p(0.5, -0.35)],
                white,
            ));
        }
        SetHealth::Problem => {
            painter.circle_filled(c, r, RED);
            painter.line_segment([p(-0.4, -0.4), p(0.4, 0.4)], white);
            painter.line_segment([p(-0.4, 0.4), p(0.4, -0.4)], white);
        }
        SetHealth::Unknown => {
            painter.circle_filled(c, r, GREY);
            painter.text(
                c,
                egui::Align2::CENTER_CENTER,
                "?",
                egui::FontId::proportional(size * 0.8),
                Color32::WHITE,
            );
        }
        SetHealth::Paused => {
            painter.circle_filled(c, r, GREY);
            // Two bars with a clear gap, readable even at 16 px.
            let bar = vec2(r * 0.26, r * 1.0);
            for x in [-0.22, 0.22] {
                let rect = egui::Rect::from_center_size(p(x, 0.0), bar);
                painter.rect_filled(rect, 0.0, Color32::WHITE);
            }
        }
    }
    let name = health_name(health);
    response
        .widget_info(|| WidgetInfo::labeled(egui::Role::Image, true, format!("Status: {name}")));
    response.on_hover_text(name)
}

/// A small triangle pointing up (ascending) or down, beside a sorted column's header.
pub fn sort_arrow(ui: &mut egui::Ui, ascending: bool) {
    let size = ui.text_style_height(&egui::TextStyle::Body) * 0.6;
    let (rect, _) = ui.allocate_exact_size(Vec2::splat(size), Sense::hover());
    let (c, h) = (rect.center(), size * 0.45);
    let points: Vec<Pos2> = if ascending {
        vec![c + vec2(0.0, -h), c + vec2(h, h), c + vec2(-h, h)]
    } else {
        vec![c + vec2(-h, -h), c + vec2(h, -h), c + vec2(0.0, h)]
    };
    ui.painter().add(Shape::convex_polygon(
        points,
        ui.visuals().text_color(),
        Stroke::NONE,
    ));
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

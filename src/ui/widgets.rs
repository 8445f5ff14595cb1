//! Small shared pieces of drawing: time formatting, icons and colours.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use eframe::egui::{self, Color32, Pos2, RichText, Sense, Shape, Stroke, Vec2, WidgetInfo, vec2};

use crate::engine::SetHealth;
use crate::engine::server_state::ServerStatus;

pub const GREEN: Color32 = Color32::from_rgb(0x2e, 0xa0, 0x43);
pub const RED: Color32 = Color32::from_rgb(0xd0, 0x30, 0x30);
pub const ORANGE: Color32 = Color32::from_rgb(0xe0, 0x8a, 0x00);
pub const GREY: Color32 = Color32::from_gray(0x90);

/// A status colour as text on the current theme. The constants above are drawn for the
/// dark theme (and as the filled icons on both); on the light one their text was pale
/// (orange on white at 2.5:1), so it takes a darker shade of each, at least 4.5:1 on
/// the light window (tested).
pub fn tone(ui: &egui::Ui, color: Color32) -> Color32 {
    tone_for(ui.visuals().dark_mode, color)
}

/// [`tone`] for a theme.
pub fn tone_for(dark_mode: bool, color: Color32) -> Color32 {
    if dark_mode {
        return color;
    }
    match color {
        GREEN => Color32::from_rgb(0x1a, 0x7f, 0x37),
        RED => Color32::from_rgb(0xb4, 0x23, 0x18),
        ORANGE => Color32::from_rgb(0x9a, 0x52, 0x00),
        GREY => Color32::from_gray(0x6a),
        other => other,
    }
}

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
pub fn status_text(ui: &egui::Ui, status: ServerStatus) -> RichText {
    RichText::new(status.label()).color(tone(ui, status_color(status)))
}

/// A response time in milliseconds with the precision its size needs: `0.05 ms`,
/// `2.4 ms`, `120 ms`. Whole milliseconds made every loopback or LAN poll a "0".
pub fn millis(ms: f64) -> String {
    if !ms.is_finite() || ms < 0.0 {
        return "–".into();
    }
    if ms == 0.0 {
        "0 ms".into()
    } else if ms < 0.01 {
        "< 0.01 ms".into()
    } else if ms < 1.0 {
        format!("{ms:.2} ms")
    } else if ms < 10.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// [`millis`] of a duration.
pub fn duration_ms(time: Duration) -> String {
    millis(time.as_secs_f64() * 1000.0)
}

/// The colours of a response-time sparkline on the current theme.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SparkColors {
    pub background: Color32,
    pub border: Color32,
    pub line: Color32,
    pub failure: Color32,
}

/// A sparkline's colours for a dark or a light theme: a background a step off the
/// window's (not the near-black `extreme_bg_color`, which swallowed the line) and a line
/// bright enough on it (contrast ratio at least 3, tested).
pub fn spark_colors(dark_mode: bool) -> SparkColors {
    if dark_mode {
        SparkColors {
            background: Color32::from_gray(0x30),
            border: Color32::from_gray(0x50),
            line: Color32::from_rgb(0x5e, 0xd6, 0x7a),
            failure: Color32::from_rgb(0xff, 0x6b, 0x6b),
        }
    } else {
        SparkColors {
            background: Color32::from_gray(0xe8),
            border: Color32::from_gray(0xc0),
            line: Color32::from_rgb(0x1a, 0x7f, 0x37),
            failure: Color32::from_rgb(0xc0, 0x20, 0x20),
        }
    }
}

/// WCAG's contrast ratio of two colours (1 = none, 21 = black on white).
pub fn contrast_ratio(a: Color32, b: Color32) -> f32 {
    fn luminance(c: Color32) -> f32 {
        let lin = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.039_28 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c.r()) + 0.7152 * lin(c.g()) + 0.0722 * lin(c.b())
    }
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
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
    fn response_times_keep_the_precision_their_size_needs() {
        for (ms, shown) in [
            (0.0, "0 ms"),
            (0.004, "< 0.01 ms"),
            (0.05, "0.05 ms"),
            (0.123, "0.12 ms"),
            (0.999, "1.00 ms"),
            (1.0, "1.0 ms"),
            (2.44, "2.4 ms"),
            (9.94, "9.9 ms"),
            (10.0, "10 ms"),
            (120.4, "120 ms"),
            (2500.0, "2500 ms"),
            (-1.0, "–"),
            (f64::NAN, "–"),
        ] {
            assert_eq!(millis(ms), shown, "{ms} ms");
        }
        assert_eq!(duration_ms(Duration::from_micros(50)), "0.05 ms");
    }

    #[test]
    fn sparklines_are_readable_on_both_themes() {
        for dark in [true, false] {
            let c = spark_colors(dark);
            assert!(
                contrast_ratio(c.line, c.background) >= 3.0,
                "dark {dark}: line"
            );
            assert!(
                contrast_ratio(c.failure, c.background) >= 3.0,
                "dark {dark}: failure"
            );
            // The box stands off the window's own background.
            let window = if dark {
                egui::Visuals::dark().panel_fill
            } else {
                egui::Visuals::light().panel_fill
            };
            assert!(
                contrast_ratio(c.background, window) > 1.1,
                "dark {dark}: box"
            );
        }
        assert!((contrast_ratio(Color32::BLACK, Color32::WHITE) - 21.0).abs() < 0.01);
    }

    #[test]
    fn status_text_is_readable_on_both_themes() {
        for dark in [true, false] {
            let visuals = if dark {
                egui::Visuals::dark()
            } else {
                egui::Visuals::light()
            };
            // The window, a dialog's and a text field's background (a striped row is a
            // translucent shade of the window's).
            for background in [
                visuals.panel_fill,
                visuals.window_fill,
                visuals.extreme_bg_color,
            ] {
                for color in [GREEN, RED, ORANGE] {
                    let ratio = contrast_ratio(tone_for(dark, color), background);
                    let needed = if dark { 3.0 } else { 4.5 };
                    assert!(
                        ratio >= needed,
                        "dark {dark}: {color:?} on {background:?}: {ratio}"
                    );
                }
            }
        }
    }

    #[test]
    fn clip_keeps_short_text_and_cuts_long_text() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("abcdef", 4), "abc…");
    }
}

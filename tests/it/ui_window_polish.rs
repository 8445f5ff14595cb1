//! The main window's polish (issue 17 item 11): the servers table scrolls sideways to its
//! last column in a small window, response times under a millisecond keep their digits,
//! and the table's column dividers do not cross an expanded row's buttons.

use eframe::egui::{self, Pos2, Rect, Shape};
use egui_kittest::kittest::Queryable;
use standby::model::{Server, ServerSet, Settings};

use crate::support::ui::Window;

fn settings() -> Settings {
    Settings {
        server_sets: vec![ServerSet {
            name: "wide".into(),
            servers: vec![Server {
                public_ip: "192.0.2.10".into(),
                poll_ip: Some("127.0.0.1".into()),
                name: "a server with a rather long name".into(),
                ..Default::default()
            }],
            // Nothing listens on port 1: refused at once, so the row has a time.
            polling: standby::model::PollMethod::Tcp(standby::model::TcpPoll {
                port: Some(1),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn the_servers_table_scrolls_to_its_last_column_in_a_small_window() {
    let width = 800.0;
    let mut w = Window::in_memory(settings(), [width, 600.0]);
    w.wait_for("a poll", |s| {
        s.set("wide")
            .is_some_and(|set| set.servers[0].last_response_time.is_some())
    });
    let right = w.harness.get_by_label("Last failure (UTC)").rect().max.x;
    assert!(
        right > width,
        "the last column starts out of view (at {right})"
    );
    w.harness.get_by_label("Last failure (UTC)").scroll_to_me();
    w.steps();
    let right = w.harness.get_by_label("Last failure (UTC)").rect().max.x;
    assert!(right <= width, "scrolled into view (now at {right})");
    // The refused poll took well under a millisecond on loopback and still shows digits.
    assert!(
        w.harness.query_by_label_contains(" ms").is_some(),
        "a response time in ms"
    );
}

/// The last frame's shapes in paint order (nested lists opened), each with its clip rect.
fn painted(output: &egui::FullOutput) -> Vec<(Rect, Shape)> {
    fn open(clip: Rect, shape: &Shape, out: &mut Vec<(Rect, Shape)>) {
        match shape {
            Shape::Vec(shapes) => shapes.iter().for_each(|s| open(clip, s, out)),
            other => out.push((clip, other.clone())),
        }
    }
    let mut out = Vec::new();
    for clipped in &output.shapes {
        open(clipped.clip_rect, &clipped.shape, &mut out);
    }
    out
}

/// The table's column dividers: vertical lines taller than a few rows, as painted
/// (clipped): (index in paint order, x, visible y range).
fn dividers(shapes: &[(Rect, Shape)]) -> Vec<(usize, f32, egui::Rangef)> {
    shapes
        .iter()
        .enumerate()
        .filter_map(|(i, (clip, shape))| match shape {
            Shape::LineSegment { points: [a, b], .. } if a.x == b.x => {
                let y = egui::Rangef::new(a.y.min(b.y), a.y.max(b.y)).intersection(clip.y_range());
                (clip.x_range().contains(a.x) && y.span() > 40.0).then_some((i, a.x, y))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_column_dividers_do_not_cross_an_expanded_rows_buttons() {
    let mut w = Window::in_memory(settings(), [1100.0, 700.0]);
    w.wait_for("a poll", |s| {
        s.set("wide")
            .is_some_and(|set| set.servers[0].last_response_time.is_some())
    });
    w.click("+");
    let labels = [
        "Polling history...",
        "Ping...",
        "What if it fails...",
        "Force up",
        "Force down",
        "Force down for 30 min",
    ];
    let buttons: Vec<Rect> = labels
        .iter()
        .map(|label| w.harness.get_by_label(label).rect())
        .collect();
    let shapes = painted(w.harness.output());
    let lines = dividers(&shapes);
    // Each button's frame: a filled rect of the button's size around its centre.
    let frame_of = |button: &Rect| {
        shapes.iter().position(|(_, shape)| match shape {
            Shape::Rect(r) => {
                (r.rect.center() - button.center()).length() < 1.0
                    && (r.rect.size() - button.size()).length() < 2.0
            }
            _ => false,
        })
    };
    let mut crossing = 0;
    for button in &buttons {
        let frame = frame_of(button).expect("the button's frame is painted");
        for &(i, x, y) in &lines {
            if button.x_range().contains(x) && y.intersects(button.y_range()) {
                crossing += 1;
                assert!(
                    i < frame,
                    "a divider at x = {x} is painted over the button at {button:?}"
                );
            }
        }
    }
    // The table's geometry puts dividers where the buttons are: without that the checks
    // above would prove nothing.
    assert!(
        crossing > 0,
        "no divider runs through the buttons {buttons:?} ({lines:?})"
    );
    // Inside the expanded row a divider is hidden by the row's background: an opaque
    // rect painted after it covers it at the row's height.
    // (The side panel's edge, left of the table, is no column divider.)
    let (x0, y) = (buttons[0].min.x, buttons[0].center().y);
    let in_row = lines.iter().filter(|(_, x, r)| *x > x0 && r.contains(y));
    for &(i, x, range) in in_row {
        let covered = shapes[i + 1..].iter().any(|(clip, shape)| match shape {
            Shape::Rect(r) => {
                r.fill.a() == 255
                    && r.rect.contains(Pos2::new(x, y))
                    && clip.contains(Pos2::new(x, y))
            }
            _ => false,
        });
        assert!(
            covered,
            "the divider at x = {x} ({range:?}) crosses the expanded row"
        );
    }
}

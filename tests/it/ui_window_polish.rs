//! The main window's polish (issue 17 item 11): the servers table scrolls sideways to its
//! last column in a small window, and response times under a millisecond keep their digits.

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

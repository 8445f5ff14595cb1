//! The first start (issue 17 item 10): no sets → *New server set...* (a guided path:
//! servers, method, DNS) and *Open an example* (a set that pings this machine: statuses,
//! the log and a DNS decision, with DNS updating off).

use eframe::egui::accesskit::Role;
use egui_kittest::kittest::Queryable;
use standby::engine::server_state::ServerStatus;
use standby::model::Settings;
use standby::model::example::EXAMPLE_SET;

use crate::support::ui::Window;

#[test]
fn no_sets_offer_a_new_set_and_an_example() {
    let mut w = Window::in_memory(Settings::default(), [1100.0, 700.0]);
    w.steps();
    assert!(w.shows("Welcome to Standby"));
    w.harness.get_by_label("New server set...");
    w.harness.get_by_label("Open an example");
}

#[test]
fn the_example_polls_this_machine_and_decides_without_updating_dns() {
    let mut w = Window::saving(Settings::default());
    w.steps();
    w.click("Open an example");
    // The set lands in the settings file, DNS updating off.
    let saved = w.wait_for_file("the example", |s| s.set(EXAMPLE_SET).is_some());
    let set = saved.set(EXAMPLE_SET).unwrap();
    assert!(!set.update_dns.enabled);
    // Its loopback servers answer, the decision publishes 127.0.0.1 and the log says so.
    w.wait_for("the example's decision", |s| {
        s.set(EXAMPLE_SET).is_some_and(|set| {
            set.servers
                .iter()
                .any(|server| server.status == ServerStatus::Ok)
                && set
                    .decision
                    .addresses()
                    .is_some_and(|a| a.iter().any(|ip| ip.to_string() == "127.0.0.1"))
        })
    });
    w.harness
        .get_by_label(&format!("Server set: {EXAMPLE_SET}"));
    assert!(w.shows("DNS should give"));
    assert!(
        w.app()
            .snapshot()
            .log
            .iter()
            .any(|line| line.text.contains(EXAMPLE_SET)),
        "the log names the example"
    );
    // The welcome is gone once a set exists.
    assert!(!w.shows("Welcome to Standby"));
}

#[test]
fn new_server_set_walks_servers_method_dns() {
    let mut w = Window::in_memory(Settings::default(), crate::support::ui::LARGE);
    w.steps();
    w.click("New server set...");
    assert!(w.has_window("New server set"));
    let dialog = |w: &Window, text: &str| {
        w.harness
            .get_by_role_and_label(Role::Window, "New server set")
            .query_by_label_contains(text)
            .is_some()
    };
    assert!(dialog(&w, "Step 1 of 3"), "starts at the servers");
    assert!(dialog(&w, "Add the servers"));
    w.click_in("New server set", "Next >");
    assert!(dialog(&w, "Step 2 of 3"));
    assert!(dialog(&w, "how Standby tells that a server works"));
    w.click_in("New server set", "Next >");
    assert!(dialog(&w, "Step 3 of 3"));
    assert!(dialog(&w, "host names that should point"));
    assert!(
        w.harness.query_by_label("Next >").is_none(),
        "the last step"
    );
    w.click_in("New server set", "< Back");
    assert!(dialog(&w, "Step 2 of 3"));
}

//! The help (issue 17 item 8): F1 opens the page of the window on top at the section it
//! shows; the problem-code page lists every code; a field's label carries its help line.

use egui_kittest::kittest::Queryable;
use standby::engine::problem_codes;
use standby::model::{DnsData, PollMethod, Server, ServerSet, Settings, TcpPoll};
use standby::ui::help::{HelpTopic, Page};

use crate::support::ui::{LARGE, Window};

fn settings() -> Settings {
    Settings {
        server_sets: vec![ServerSet {
            name: "web".into(),
            servers: vec![Server {
                public_ip: "127.0.0.1".into(),
                ..Default::default()
            }],
            // Nothing listens on port 1: polls fail fast and need no peer.
            polling: PollMethod::Tcp(TcpPoll {
                port: Some(1),
                ..Default::default()
            }),
            dns: DnsData {
                host_names: vec!["www.example.test".into()],
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Settings::default()
    }
}

fn window() -> Window {
    let mut w = Window::in_memory(settings(), LARGE);
    w.wait_for("the set", |s| s.sets.len() == 1);
    w
}

fn f1(w: &mut Window) {
    w.harness.key_press(eframe::egui::Key::F1);
    w.steps();
}

fn help(w: &Window) -> Option<HelpTopic> {
    w.app().view().dialogs.help
}

#[test]
fn f1_in_a_dialog_opens_its_page_at_the_section_shown() {
    let mut w = window();
    w.click("Options");
    w.click("DNS serving");
    f1(&mut w);
    assert_eq!(help(&w), Some(HelpTopic::Options.at("DNS serving")));
    assert!(w.has_window("Help: Options"));
    w.click("Close help");
    assert!(!w.has_window("Help: Options"));
    w.click_in("Options", "Cancel");

    w.click("web");
    w.click("Properties");
    w.click("Polling frequency");
    f1(&mut w);
    assert_eq!(help(&w), Some(HelpTopic::ServerSet.at("Polling frequency")));
    assert!(w.has_window("Help: Server set properties"));
    w.click("Close help");
    w.click_in("Server set properties", "Cancel");

    // No dialog: the main window's page, at the tab shown.
    w.click("Log");
    f1(&mut w);
    assert_eq!(help(&w), Some(HelpTopic::MainWindow.at("Log")));
    assert!(w.has_window("Help: Standby"));
}

#[test]
fn the_problem_code_page_lists_every_code() {
    let mut w = window();
    f1(&mut w);
    w.click("Problem codes");
    assert_eq!(help(&w).map(|t| t.page), Some(Page::ProblemCodes));
    assert!(w.has_window("Help: Problem codes"));
    let codes = problem_codes::catalogue();
    assert!(codes.len() > 60);
    for info in codes {
        let code = info.code.to_string();
        assert!(
            w.harness.query_all_by_label(&code).next().is_some(),
            "code {code} is not on the page"
        );
        assert!(
            w.harness
                .query_all_by_label_contains(&info.meaning)
                .next()
                .is_some(),
            "the meaning of {code} is not shown"
        );
    }
    // And the tags page, from the same list as the dialogs flag unknown tags by.
    w.click("Tags");
    for tag in standby::model::tags::NOTIFY_TAGS {
        let shown = w
            .harness
            .query_all_by_label(&format!("${tag}$"))
            .next()
            .is_some();
        assert!(shown, "${tag}$ is not on the tags page");
    }
}

#[test]
fn a_fields_label_carries_its_help_line() {
    let mut w = window();
    // egui shows a tooltip after a delay of real time; none here.
    w.harness
        .ctx
        .all_styles_mut(|s| s.interaction.tooltip_delay = 0.0);
    w.click("web");
    w.click("Properties");
    // The label itself (its text is its value; the field it labels has the set's name).
    w.harness
        .get_all_by_value("Set name:")
        .next()
        .expect("the label is shown")
        .hover();
    let line = standby::ui::help::field_help("Set name").unwrap();
    w.wait_until("the help line on hover", |w| w.shows(line));
}

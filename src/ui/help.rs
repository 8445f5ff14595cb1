//! The help: a page per window and reference pages (tags, problem codes, DNS server setup),
//! embedded in the binary (`assets/help/*.md`, or made from the code's own lists), so that
//! all of it works off line. F1 or a dialog's ? opens the page of the window on top, at the
//! section it shows; the pages list on the left goes to any other page.
//!
//! - `markdown.rs` — the pages' markdown subset, parsed and drawn.
//! - `generated.rs` — the tags and problem-code pages, made from `model::tags` and
//!   `engine::problem_codes`.
//! - `fields.rs` — a line of help per dialog field, shown on hover.

mod fields;
mod generated;
mod markdown;

use eframe::egui;

pub use fields::field_help;
pub use generated::{problem_codes_page, tags_page};

/// A page of the help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Page {
    MainWindow,
    Options,
    ServerSet,
    Server,
    Notification,
    DnsServer,
    EmailDefaults,
    Zone,
    History,
    Ping,
    WhatIf,
    DnsSetup,
    Tags,
    ProblemCodes,
}

impl Page {
    pub const ALL: [Page; 14] = [
        Page::MainWindow,
        Page::Options,
        Page::ServerSet,
        Page::Server,
        Page::Notification,
        Page::DnsServer,
        Page::EmailDefaults,
        Page::Zone,
        Page::History,
        Page::Ping,
        Page::WhatIf,
        Page::DnsSetup,
        Page::Tags,
        Page::ProblemCodes,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Page::MainWindow => "Standby",
            Page::Options => "Options",
            Page::ServerSet => "Server set properties",
            Page::Server => "Server properties",
            Page::Notification => "Notification properties",
            Page::DnsServer => "DNS server properties",
            Page::EmailDefaults => "E-mail defaults",
            Page::Zone => "Zone properties",
            Page::History => "Polling history",
            Page::Ping => "Ping",
            Page::WhatIf => "What if",
            Page::DnsSetup => "DNS server setup",
            Page::Tags => "Tags",
            Page::ProblemCodes => "Problem codes",
        }
    }

    /// The page's markdown.
    pub fn text(self) -> std::borrow::Cow<'static, str> {
        let embedded = match self {
            Page::MainWindow => include_str!("../../assets/help/main-window.md"),
            Page::Options => include_str!("../../assets/help/options.md"),
            Page::ServerSet => include_str!("../../assets/help/server-set.md"),
            Page::Server => include_str!("../../assets/help/server.md"),
            Page::Notification => include_str!("../../assets/help/notification.md"),
            Page::DnsServer => include_str!("../../assets/help/dns-server.md"),
            Page::EmailDefaults => include_str!("../../assets/help/email-defaults.md"),
            Page::Zone => include_str!("../../assets/help/zone.md"),
            Page::History => include_str!("../../assets/help/history.md"),
            Page::Ping => include_str!("../../assets/help/ping.md"),
            Page::WhatIf => include_str!("../../assets/help/what-if.md"),
            Page::DnsSetup => include_str!("../../assets/help/dns-setup.md"),
            Page::Tags => return tags_page().into(),
            Page::ProblemCodes => return problem_codes_page().into(),
        };
        embedded.into()
    }
}

/// What the help shows: a page, and the section (a heading of it) to open it at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HelpTopic {
    pub page: Page,
    pub section: Option<&'static str>,
}

/// The topics by window, as the dialogs name them.
#[expect(
    non_upper_case_globals,
    reason = "named like the windows, as when HelpTopic was a plain enum"
)]
impl HelpTopic {
    pub const MainWindow: HelpTopic = HelpTopic::page(Page::MainWindow);
    pub const Options: HelpTopic = HelpTopic::page(Page::Options);
    pub const ServerSet: HelpTopic = HelpTopic::page(Page::ServerSet);
    pub const Server: HelpTopic = HelpTopic::page(Page::Server);
    pub const Notification: HelpTopic = HelpTopic::page(Page::Notification);
    pub const DnsServer: HelpTopic = HelpTopic::page(Page::DnsServer);
    pub const EmailDefaults: HelpTopic = HelpTopic::page(Page::EmailDefaults);
    pub const Zone: HelpTopic = HelpTopic::page(Page::Zone);
    pub const History: HelpTopic = HelpTopic::page(Page::History);
    pub const Ping: HelpTopic = HelpTopic::page(Page::Ping);
    pub const WhatIf: HelpTopic = HelpTopic::page(Page::WhatIf);
}

impl HelpTopic {
    pub const fn page(page: Page) -> Self {
        Self {
            page,
            section: None,
        }
    }

    /// The same page, opened at `section` (a heading of the page; blank = its top).
    pub fn at(self, section: &'static str) -> Self {
        Self {
            section: Some(section).filter(|s| !s.is_empty()),
            ..self
        }
    }

    pub fn title(self) -> String {
        format!("Help: {}", self.page.title())
    }
}

/// The help window; closes itself by its Close button or title bar.
pub fn show(ctx: &egui::Context, help: &mut Option<HelpTopic>) {
    let Some(topic) = *help else {
        return;
    };
    // Scroll to the section once, when a topic is opened, not at every frame (the reader
    // scrolls on from there).
    let shown_id = egui::Id::unique("help topic shown");
    let scroll = ctx.data(|d| d.get_temp::<HelpTopic>(shown_id)) != Some(topic);
    ctx.data_mut(|d| d.insert_temp(shown_id, topic));
    let mut open = true;
    let mut close = false;
    let mut chosen = None;
    egui::Window::new(topic.title())
        .id(egui::Id::unique("help window"))
        .open(&mut open)
        .collapsible(false)
        .resizable(true)
        .default_size([720.0, 480.0])
        .order(egui::Order::Foreground)
        .show(ctx, |ui| {
            ui.horizontal_top(|ui| {
                ui.vertical(|ui| {
                    ui.set_width(170.0);
                    for page in Page::ALL {
                        if ui
                            .selectable_label(page == topic.page, page.title())
                            .clicked()
                        {
                            chosen = Some(page);
                        }
                    }
                    // Under the list, not under the page: always in view.
                    ui.add_space(12.0);
                    if ui.button("Close help").clicked() {
                        close = true;
                    }
                });
                ui.separator();
                ui.vertical(|ui| {
                    // A page may be long: it scrolls on a small screen.
                    egui::ScrollArea::vertical()
                        .id_salt(("help page", topic.page))
                        .max_height(440.0)
                        .auto_shrink([false, false])
                        .show(ui, |ui| {
                            let text = topic.page.text();
                            markdown::show(ui, &markdown::parse(&text), topic.section, scroll);
                        });
                });
            });
        });
    if let Some(page) = chosen {
        *help = Some(HelpTopic::page(page));
    }
    if !open || close {
        *help = None;
        ctx.data_mut(|d| d.remove::<HelpTopic>(shown_id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headings(page: Page) -> Vec<String> {
        let text = page.text();
        markdown::headings(&markdown::parse(&text))
            .map(String::from)
            .collect()
    }

    #[test]
    fn every_page_has_a_title_heading() {
        for page in Page::ALL {
            assert_eq!(
                headings(page).first().map(String::as_str),
                Some(page.title()),
                "{page:?}"
            );
        }
    }

    /// F1 opens a dialog at its section: every section the dialogs name is a heading.
    #[test]
    fn every_section_of_the_windows_is_a_heading() {
        use crate::ui::app::Tab;
        use crate::ui::dialogs::options_dialog::OptionsSection;
        use crate::ui::dialogs::set_dialog::SetSection;
        let main = headings(Page::MainWindow);
        for tab in Tab::ALL {
            assert!(main.iter().any(|h| h == tab.title()), "{}", tab.title());
        }
        let options = headings(Page::Options);
        for s in OptionsSection::ALL {
            assert!(options.iter().any(|h| h == s.title()), "{}", s.title());
        }
        let set = headings(Page::ServerSet);
        for s in SetSection::ALL {
            assert!(set.iter().any(|h| h == s.title()), "{}", s.title());
        }
    }

    /// The DNS setup page guides every server and provider, with the piece each one needs.
    #[test]
    fn the_dns_setup_page_guides_every_server_and_provider() {
        let text = Page::DnsSetup.text();
        for needed in [
            "BIND",
            "update-policy",
            "Knot",
            "action: update",
            "PowerDNS",
            "TSIG-ALLOW-DNSUPDATE",
            "api-key",
            "Windows DNS",
            "dnscmd",
            "Cloudflare",
            "Zone > Zone > Read",
            "Route 53",
            "route53:ListHostedZonesByName",
            "route53:ListResourceRecordSets",
            "route53:ChangeResourceRecordSets",
            "route53:GetChange",
            "$IP$",
        ] {
            assert!(text.contains(needed), "the setup page lacks {needed:?}");
        }
    }
}

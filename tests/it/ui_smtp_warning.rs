//! The E-mail defaults dialog warns when a login would go to the SMTP server in clear.

use standby::model::{Secret, Settings, SmtpLogin};

use crate::support::ui::Window;

const WARNING: &str = "the login and password go over the network in clear";

#[test]
fn a_login_over_plain_smtp_is_warned_about_in_the_dialog() {
    let mut settings = Settings::default();
    settings.email_defaults.smtp.login = Some(SmtpLogin {
        user: "ops".into(),
        password: Secret::new("pw"),
    });
    let mut w = Window::saving(settings);
    w.wait_for("the first snapshot", |s| s.generation > 0);
    w.click("Options");
    w.click("Notification");
    w.click("E-mail defaults...");
    assert!(w.has_window("E-mail defaults"));
    assert!(w.shows(WARNING));
    // Only a warning: OK stays enabled.
    assert!(w.ok_enabled("E-mail defaults"));
    w.choose("Security:", "STARTTLS");
    assert!(!w.shows(WARNING));
}

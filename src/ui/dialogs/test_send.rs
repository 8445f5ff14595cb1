//! The *Test...* button of the notification and e-mail defaults dialogs.
//!
//! A click queues [`crate::engine::Request::TestNotification`]; the answer is polled with `try_recv` each
//! frame, so a slow SMTP server never freezes the window. The outcome stays beside the
//! button: the server's answer, or the exact error with its code.

use std::time::Duration;

use eframe::egui::{self, RichText};

use crate::engine::{Call, CallError, Inbound, Pending};
use crate::model::NotificationMethod;
use crate::ui::widgets;

#[derive(Default)]
pub struct TestSend {
    /// The method to test, set by a click and taken by [`TestSend::take_command`]
    /// (boxed: the dialogs that hold a `TestSend` stay small).
    request: Option<Box<NotificationMethod>>,
    pending: Option<Pending<Result<String, CallError>>>,
    pub outcome: Option<Result<String, CallError>>,
}

impl TestSend {
    /// The call of a click; its pending answer is kept here.
    pub fn take_command(&mut self) -> Option<Inbound> {
        let method = self.request.take()?;
        let (call, rx) = Call::test_notification(*method);
        self.pending = Some(rx);
        Some(call.into())
    }

    fn poll(&mut self) {
        let Some(rx) = &mut self.pending else {
            return;
        };
        let Some(outcome) = rx.try_take() else {
            return;
        };
        self.outcome = Some(outcome);
        self.pending = None;
    }

    /// The button and the outcome, as one row of a form grid. `method` is built only on
    /// a click; `None` from it (fields still wrong) keeps the button greyed out.
    pub fn row(
        &mut self,
        ui: &mut egui::Ui,
        enabled: bool,
        method: impl FnOnce() -> NotificationMethod,
    ) {
        self.poll();
        ui.label("");
        ui.vertical(|ui| {
            let busy = self.pending.is_some() || self.request.is_some();
            let button = ui
                .add_enabled(enabled && !busy, egui::Button::new("Test..."))
                .on_hover_text("Send a test notification now, with sample values")
                .on_disabled_hover_text("Correct the fields in red first");
            if button.clicked() {
                self.request = Some(Box::new(method()));
                self.outcome = None;
            }
            if busy {
                ui.label("Sending test...");
                // The answer comes without a new snapshot: look again soon.
                ui.ctx().request_repaint_after(Duration::from_millis(50));
            }
            match &self.outcome {
                Some(Ok(text)) => {
                    ui.label(
                        RichText::new(format!("Test sent: {text}"))
                            .color(widgets::tone(ui, widgets::GREEN)),
                    );
                }
                Some(Err(e)) => {
                    ui.label(
                        RichText::new(format!("Test failed: {e}"))
                            .color(widgets::tone(ui, widgets::RED)),
                    );
                }
                None => {}
            }
        });
        ui.end_row();
    }
}

//! The Ping window: asks the engine to ping an address once a second and shows the replies
//! as they come (the engine pings; this window only reads a channel).

use std::time::Duration;

use eframe::egui;
use tokio::sync::mpsc;

use crate::engine::Inbound;
use crate::engine::ping::PingReply;

/// Replies kept on screen.
const LINES_KEPT: usize = 200;

pub struct PingWindow {
    pub address: String,
    replies: Option<mpsc::Receiver<PingReply>>,
    lines: Vec<PingReply>,
    error: Option<String>,
    /// The remote engine's host the pings go from (`None`: this machine).
    pub from: Option<String>,
}

impl PingWindow {
    pub fn new(address: String) -> Self {
        Self {
            address,
            replies: None,
            lines: Vec::new(),
            error: None,
            from: None,
        }
    }

    /// Pings sent by a remote engine, from its host: the window says so.
    pub fn from_host(mut self, host: Option<String>) -> Self {
        self.from = host;
        self
    }

    /// Draws the window; the first call asks the engine to start pinging. Returns whether
    /// the window stays open (closing it drops the channel, which stops the pings).
    pub fn show(&mut self, ctx: &egui::Context, outbox: &mut Vec<Inbound>) -> bool {
        if self.replies.is_none() && self.error.is_none() {
            match self.address.parse() {
                Ok(address) => {
                    let (replies, receiver) = mpsc::channel(64);
                    outbox.push(Inbound::Ping { address, replies });
                    self.replies = Some(receiver);
                }
                Err(_) => self.error = Some(format!("{:?} is not an IP address", self.address)),
            }
        }
        if let Some(receiver) = &mut self.replies {
            while let Ok(reply) = receiver.try_recv() {
                self.lines.push(reply);
            }
            if self.lines.len() > LINES_KEPT {
                self.lines.drain(..self.lines.len() - LINES_KEPT);
            }
            // Replies come without a new snapshot: look again soon while the window is open.
            ctx.request_repaint_after(Duration::from_millis(250));
        }
        let mut open = true;
        let mut close = false;
        egui::Window::new(format!("Ping {}", self.address))
            .id(egui::Id::unique("ping window"))
            .open(&mut open)
            .collapsible(false)
            .default_width(420.0)
            .show(ctx, |ui| {
                if let Some(host) = &self.from {
                    ui.label(format!("Pinging from the engine's host, {host}"));
                }
                if let Some(error) = &self.error {
                    ui.colored_label(egui::Color32::RED, error);
                }
                let answered = self.lines.iter().filter(|l| l.success).count();
                let times: Vec<f64> = self.lines.iter().filter_map(|l| l.ms).collect();
                let summary = if times.is_empty() {
                    format!("{} sent, {answered} answered", self.lines.len())
                } else {
                    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
                    let max = times.iter().copied().fold(0.0, f64::max);
                    let avg = times.iter().sum::<f64>() / times.len() as f64;
                    format!(
                        "{} sent, {answered} answered; min/avg/max {min:.2}/{avg:.2}/{max:.2} ms",
                        self.lines.len()
                    )
                };
                ui.label(summary);
                ui.separator();
                egui::ScrollArea::vertical()
                    .max_height(260.0)
                    .stick_to_bottom(true)
                    .show(ui, |ui| {
                        for line in &self.lines {
                            let time = crate::ui::widgets::clock_utc(line.time);
                            let color = if line.success {
                                ui.visuals().text_color()
                            } else {
                                egui::Color32::RED
                            };
                            ui.colored_label(color, format!("{time}  {}", line.text));
                        }
                        if self.lines.is_empty() && self.error.is_none() {
                            ui.label("waiting for the first reply...");
                        }
                    });
                if ui.button("Close").clicked() {
                    close = true;
                }
            });
        open && !close
    }
}

//! The main window (placeholder until the UI is written).

use std::sync::Arc;

use eframe::egui;

use crate::engine::{Command, EngineHandle, Snapshot};

pub struct StandbyApp {
    engine: EngineHandle,
    snapshot: Arc<Snapshot>,
}

impl StandbyApp {
    pub fn new(engine: EngineHandle, ctx: &egui::Context) -> Self {
        let repaint = ctx.clone();
        let _ = engine.send(Command::SetRepaintWaker(Arc::new(move || {
            repaint.request_repaint()
        })));
        let snapshot = engine.snapshot();
        Self { engine, snapshot }
    }
}

impl eframe::App for StandbyApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.snapshot = self.engine.snapshot();
        for set in &self.snapshot.sets {
            ui.label(&set.name);
        }
    }
}

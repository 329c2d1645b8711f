//! The bottom line (analysis time, sample rate, render and drop notes) and the *About* window
//! with the active model's origin and the embedded weights' licence notices.

use egui::{Align, Align2, Layout, RichText, Sense, Vec2};

use super::theme::DIM;
use super::App;
use crate::state::{Snapshot, BUILTIN_NAME};

impl App {
    pub(super) fn footer(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
        ui.horizontal(|ui| {
            ui.label(RichText::new(status_line(snap)).size(11.0).color(DIM));
            ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                let about = ui.add(
                    egui::Label::new(
                        RichText::new("Weights © K. Choi, A. Jiménez (MIT) · About")
                            .size(11.0)
                            .color(DIM),
                    )
                    .sense(Sense::click()),
                );
                if about.clicked() {
                    self.show_about = !self.show_about;
                }
            });
        });
        if self.show_about {
            self.about(ui, snap);
        }
    }

    fn about(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
        egui::Window::new("About mgr")
            .collapsible(false)
            .resizable(false)
            .default_width(520.0)
            .anchor(Align2::CENTER_CENTER, Vec2::ZERO)
            .open(&mut self.show_about)
            .show(ui.ctx(), |ui| {
                ui.label("mgr reproduces Jiménez & Marqués, Music genre recognition with deep neural networks, on K. Choi's CRNN.");
                let m = &snap.model;
                ui.label(format!("Active model: {}", m.name));
                if let Some(d) = &m.description {
                    ui.label(RichText::new(d).size(11.0).color(DIM));
                }
                ui.label(
                    RichText::new(match &m.provenance {
                        Some(p) => format!("Made by mgr-cli finetune: {p}"),
                        None if m.name == BUILTIN_NAME => {
                            "The published GTZAN CRNN (Jiménez & Marqués), as released.".into()
                        }
                        None => "No training record in this file.".into(),
                    })
                    .size(11.0)
                    .color(DIM),
                );
                ui.separator();
                ui.label("Licence notices of the embedded weights:");
                egui::ScrollArea::vertical().max_height(300.0).show(ui, |ui| {
                    ui.label(
                        RichText::new(mgr_core::model::spec::LICENSE_JIMENEZ)
                            .monospace()
                            .size(10.0),
                    );
                    ui.separator();
                    ui.label(
                        RichText::new(mgr_core::model::spec::LICENSE_CHOI)
                            .monospace()
                            .size(10.0),
                    );
                });
            });
    }
}

/// Time of the last analysis, the sample rate, and whether the stream renders or drops.
fn status_line(snap: &Snapshot) -> String {
    let timing = snap
        .last_inference_ms
        .map(|ms| format!("last analysis {ms:.0} ms"))
        .unwrap_or_else(|| "model loads on first audio".into());
    let rate = if snap.rate > 0 {
        format!(
            "{:.1} kHz in, analysed at 12 kHz",
            snap.rate as f32 / 1000.0
        )
    } else {
        "no audio yet".into()
    };
    let mut line = format!("{timing} · {rate}");
    if snap.stream.faster_than_realtime {
        line.push_str(" · render (faster than real time)");
    }
    if snap.dropped > 0 {
        line.push_str(&format!(" · {} samples dropped", snap.dropped));
    }
    line
}

//! The controls card: the model row with *Reset song*, the model's description, one line of
//! notices (a model still loading, the last model error, what a loaded project state had
//! wrong), and the parameters' sliders.

use egui::{Align, Color32, Layout, RichText};
use nice_plug_egui::widgets::ParamSlider;

use super::model::model_lines;
use super::theme::{card, ACCENT, DIM, ERROR};
use super::App;
use crate::loader::LOAD_SLOW;
use crate::state::Snapshot;

/// The notices to show, most pressing first, and the colour of the line.
fn notices(snap: &Snapshot, dialog_note: Option<&String>) -> Option<(String, Color32)> {
    let mut lines = Vec::new();
    let mut colour = DIM;
    if let Some(l) = &snap.model_loading {
        let secs = l.since.elapsed().as_secs();
        if l.since.elapsed() < LOAD_SLOW {
            lines.push(format!("loading {}…", l.path));
        } else {
            lines.push(format!(
                "still loading {} ({secs} s): the file may be on a slow or unreachable disk; \
                 choose another model to replace it",
                l.path
            ));
            colour = ERROR;
        }
    }
    if let Some(e) = &snap.model_error {
        lines.push(e.clone());
        colour = ERROR;
    }
    if let Some(n) = &snap.state_note {
        lines.push(format!("project state: {n}"));
        if colour == DIM {
            colour = ACCENT;
        }
    }
    lines.extend(dialog_note.cloned());
    (!lines.is_empty()).then(|| (lines.join(" · "), colour))
}

impl App {
    pub(super) fn controls(&mut self, ui: &mut egui::Ui, snap: &Snapshot) {
        self.poll_dialog();
        self.drive_reset();
        let w = ui.available_width();
        card(ui, w, 104.0, |ui| {
            ui.horizontal(|ui| {
                self.model_picker(ui, snap);
                ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
                    self.reset_button(ui);
                });
            });
            model_lines(ui, snap);
            if let Some((line, colour)) = notices(snap, self.dialog_note.as_ref()) {
                // One line (the card has a fixed height); the whole text on hover.
                ui.add(egui::Label::new(RichText::new(&line).size(11.0).color(colour)).truncate())
                    .on_hover_text(line);
            }
            self.sliders(ui);
        });
    }

    /// *Update every*, *Silence gate* and *New song on restart* (once the host's GUI context
    /// is there to set them through).
    fn sliders(&self, ui: &mut egui::Ui) {
        let Some(gui) = &self.gui else {
            return;
        };
        let setter = gui.param_setter();
        ui.horizontal(|ui| {
            ui.label(RichText::new("Update every").color(DIM));
            ui.add(ParamSlider::for_param(&self.params.hop, &setter).with_width(90.0));
            ui.label(RichText::new("Silence gate").color(DIM));
            ui.add(ParamSlider::for_param(&self.params.gate, &setter).with_width(90.0));
            ui.label(RichText::new("New song on restart").color(DIM));
            ui.add(ParamSlider::for_param(&self.params.reset_on_restart, &setter).with_width(50.0));
        });
    }
}

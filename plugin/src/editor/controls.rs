//! The controls card: the model row with *Reset song*, the model's description, the last
//! model error, and the parameters' sliders.

use egui::{Align, Layout, RichText};
use nice_plug_egui::widgets::ParamSlider;

use super::model::model_lines;
use super::theme::{card, DIM, ERROR};
use super::App;
use crate::state::Snapshot;

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
            if let Some(e) = snap.model_error.as_ref().or(self.dialog_note.as_ref()) {
                ui.label(RichText::new(e).size(11.0).color(ERROR));
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

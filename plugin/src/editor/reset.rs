//! The *Reset song* button. It drives the `reset` parameter like a host would: on, and off
//! again once the audio thread has counted the press.

use std::sync::atomic::Ordering;

use egui::RichText;

use super::theme::ACCENT;
use super::App;

/// Where the button is in its press.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum ResetButton {
    Idle,
    /// The parameter was left on (e.g. by automation): switched off, switch on next frame.
    PressNext,
    /// Switched on when the audio thread had counted this many presses.
    Pressed(u64),
}

impl App {
    /// The button, disabled while a press is under way.
    pub(super) fn reset_button(&mut self, ui: &mut egui::Ui) {
        let pending = self.reset != ResetButton::Idle;
        if ui
            .add_enabled(
                !pending,
                egui::Button::new(RichText::new("Reset song").color(ACCENT)),
            )
            .on_hover_text("Start a new song now (parameter \"Reset song\")")
            .clicked()
        {
            self.press_reset();
        }
    }

    fn set_reset(&self, on: bool) {
        if let Some(gui) = &self.gui {
            let setter = gui.param_setter();
            setter.begin_set_parameter(&self.params.reset);
            setter.set_parameter(&self.params.reset, on);
            setter.end_set_parameter(&self.params.reset);
        }
    }

    fn press_reset(&mut self) {
        if self.params.reset.value() {
            self.set_reset(false);
            self.reset = ResetButton::PressNext;
        } else {
            let count = self.shared.signals.resets.load(Ordering::Acquire);
            self.set_reset(true);
            self.reset = ResetButton::Pressed(count);
        }
    }

    /// Move a press on by one frame (called every frame).
    pub(super) fn drive_reset(&mut self) {
        match self.reset {
            ResetButton::Idle => {}
            ResetButton::PressNext => self.press_reset(),
            ResetButton::Pressed(before) => {
                if self.shared.signals.resets.load(Ordering::Acquire) > before {
                    self.set_reset(false);
                    self.reset = ResetButton::Idle;
                }
            }
        }
    }
}

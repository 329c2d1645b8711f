//! The editor: song average (big), current window, history strip, status, model selector,
//! parameters and the weights' licence notices. It only reads
//! [`Snapshot`](crate::state::Snapshot)s and acts through what a host can do as well: the
//! `reset` parameter, and a state whose model path changes
//! ([`crate::state::SavedCell::request`]). It never touches the model.
//!
//! One file per panel, in the order they are drawn: `header.rs` (name and status), `song.rs`
//! (the song average) and `current.rs` (the latest window) side by side, `history.rs`, then
//! `controls.rs` with the model panel (`model.rs`) and the *Reset song* button (`reset.rs`),
//! and `footer.rs` with *About*. `theme.rs` holds the colours and the card frame, `bars.rs`
//! the bars both result cards draw.

use std::path::PathBuf;
use std::sync::mpsc::Receiver;
use std::sync::Arc;

use egui::{Margin, Vec2};
use nice_plug::context::gui::GuiContext;
use nice_plug::editor::dpi::LogicalSize;
use nice_plug_egui::{
    create_egui_editor, EguiEditor, EguiEditorState, EguiNiceSettings, NiceEguiApp,
};

use crate::params::MgrParams;
use crate::worker::Shared;

mod bars;
mod controls;
mod current;
mod footer;
mod header;
mod history;
mod model;
mod reset;
mod song;
mod theme;

pub use model::request_model;
use reset::ResetButton;
use theme::{ACCENT, BG, CARD, TEXT, TRACK};

/// Logical editor size.
pub const WIDTH: u32 = 780;
pub const HEIGHT: u32 = 580;

/// Build the editor (called once per plugin instance; the window may open many times).
pub fn create(params: Arc<MgrParams>, shared: Arc<Shared>) -> Option<EguiEditor<App>> {
    let state =
        EguiEditorState::from_size(LogicalSize::new(f64::from(WIDTH), f64::from(HEIGHT)), 1.0);
    let repaint = shared.repaint.clone();
    let app = App {
        params,
        shared,
        gui: None,
        path_input: String::new(),
        show_about: false,
        dialog: None,
        dialog_note: None,
        reset: ResetButton::Idle,
    };
    create_egui_editor(
        state,
        repaint,
        EguiNiceSettings::new().with_tile("mgr"),
        app,
    )
}

/// The editor's state between frames.
pub struct App {
    params: Arc<MgrParams>,
    shared: Arc<Shared>,
    gui: Option<GuiContext>,
    path_input: String,
    show_about: bool,
    /// An open file dialog (on its own thread; `None` = cancelled or no dialog available).
    dialog: Option<Receiver<Option<PathBuf>>>,
    dialog_note: Option<String>,
    reset: ResetButton,
}

impl NiceEguiApp for App {
    fn build(
        &mut self,
        egui_ctx: egui::Context,
        nice_gui_ctx: GuiContext,
        _frame: &mut nice_plug_egui::Frame,
    ) -> Result<(), nice_plug_egui::baseview::HandlerError> {
        let mut visuals = egui::Visuals::dark();
        visuals.panel_fill = BG;
        visuals.window_fill = CARD;
        visuals.override_text_color = Some(TEXT);
        visuals.widgets.inactive.bg_fill = TRACK;
        visuals.widgets.inactive.weak_bg_fill = TRACK;
        visuals.selection.bg_fill = ACCENT.gamma_multiply(0.7);
        egui_ctx.set_visuals(visuals);
        if self.path_input.is_empty() {
            if let Some(p) = &self.shared.snapshot.load().model_path {
                self.path_input = p.clone();
            }
        }
        self.gui = Some(nice_gui_ctx);
        Ok(())
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut nice_plug_egui::Frame) {
        let snap = self.shared.snapshot.load_full();
        let full = ui.max_rect();
        ui.painter().rect_filled(full, 0.0, BG);
        egui::Frame::new()
            .inner_margin(Margin::same(14))
            .show(ui, |ui| {
                ui.spacing_mut().item_spacing = Vec2::new(10.0, 10.0);
                header::header(ui, &snap);
                ui.horizontal_top(|ui| {
                    let w = (ui.available_width() - 10.0) / 2.0;
                    song::song_card(ui, &snap, w);
                    current::current_card(ui, &snap, w);
                });
                history::history_card(ui, &snap);
                self.controls(ui, &snap);
                self.footer(ui, &snap);
            });
        // Keep the status line (buffering, timing) fresh while audio flows.
        ui.ctx()
            .request_repaint_after(std::time::Duration::from_millis(250));
    }

    fn editor_closed(&mut self) {
        self.gui = None;
    }
}

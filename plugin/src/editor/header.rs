//! The top line: the plugin's name and a status pill (waiting, listening, live, or the audio
//! stream's error).

use egui::{Align, Color32, FontId, Layout, RichText, Sense, Vec2};

use super::theme::{ACCENT, DIM, ERROR};
use crate::state::Snapshot;

pub(super) fn header(ui: &mut egui::Ui, snap: &Snapshot) {
    ui.horizontal(|ui| {
        ui.label(RichText::new("mgr").size(22.0).strong().color(ACCENT));
        ui.label(
            RichText::new("music genre recognition")
                .size(14.0)
                .color(DIM),
        );
        ui.with_layout(Layout::right_to_left(Align::Center), |ui| {
            let (text, col) = status(snap);
            let galley = ui.painter().layout_no_wrap(
                text.clone(),
                FontId::proportional(12.0),
                Color32::BLACK,
            );
            let size = galley.size() + Vec2::new(20.0, 8.0);
            let (rect, _) = ui.allocate_exact_size(size, Sense::hover());
            ui.painter().rect_filled(rect, 12.0, col);
            ui.painter()
                .galley(rect.center() - galley.size() / 2.0, galley, Color32::BLACK);
        });
    });
}

/// The status pill's text and colour.
fn status(snap: &Snapshot) -> (String, Color32) {
    if let Some(e) = &snap.stream_error {
        return (format!("audio: {e}"), ERROR);
    }
    if snap.heard_s <= 0.0 {
        return ("waiting for audio".into(), DIM);
    }
    if snap.current.is_none() && snap.buffered < 1.0 {
        return (
            format!("listening · {:.0} %", snap.buffered * 100.0),
            Color32::from_rgb(0x8e, 0xc5, 0xff),
        );
    }
    ("live".into(), Color32::from_rgb(0x6b, 0xd4, 0x8f))
}

//! Colours, the card frame and the small text helpers every panel uses.

use egui::{Color32, CornerRadius, Margin, RichText, Vec2};

use crate::state::Snapshot;

pub(super) const BG: Color32 = Color32::from_rgb(0x14, 0x16, 0x1c);
pub(super) const CARD: Color32 = Color32::from_rgb(0x1d, 0x20, 0x29);
pub(super) const TRACK: Color32 = Color32::from_rgb(0x2a, 0x2e, 0x3a);
pub(super) const TEXT: Color32 = Color32::from_rgb(0xe8, 0xea, 0xf0);
pub(super) const DIM: Color32 = Color32::from_rgb(0x8b, 0x91, 0xa1);
pub(super) const ACCENT: Color32 = Color32::from_rgb(0xff, 0xb3, 0x47);
pub(super) const ERROR: Color32 = Color32::from_rgb(0xff, 0x6b, 0x6b);

/// The colour of label `i`: mgr-core's palette ([`mgr_core::timeline::PALETTE`], shared with
/// `classify --timeline --plot`; other label sets cycle through it).
pub(super) fn colour(i: usize) -> Color32 {
    let [r, g, b] = mgr_core::timeline::colour(i);
    Color32::from_rgb(r, g, b)
}

/// A rounded card of the given outer width and inner height, its content laid out vertically.
pub(super) fn card(ui: &mut egui::Ui, width: f32, height: f32, add: impl FnOnce(&mut egui::Ui)) {
    egui::Frame::new()
        .fill(CARD)
        .corner_radius(CornerRadius::same(10))
        .inner_margin(Margin::same(12))
        .show(ui, |ui| {
            ui.set_width(width - 24.0);
            ui.set_height(height);
            ui.vertical(|ui| {
                ui.spacing_mut().item_spacing = Vec2::new(8.0, 6.0);
                add(ui);
            });
        });
}

/// A card's title line.
pub(super) fn caption(ui: &mut egui::Ui, text: &str) {
    ui.label(RichText::new(text).size(11.0).color(DIM).strong());
}

/// The name of label `i` (`#i` where the model gave fewer labels).
pub(super) fn label(snap: &Snapshot, i: usize) -> String {
    snap.labels
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("#{i}"))
}

/// Seconds as `m:ss`.
pub(super) fn mmss(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

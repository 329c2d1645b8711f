//! The two bar widgets of the result cards: score bars, highest first, and the fill of the
//! first window.

use egui::{Align2, FontId, Sense, Vec2};
use mgr_core::aggregate::share;

use super::theme::{colour, label, ACCENT, DIM, TEXT, TRACK};
use crate::state::Snapshot;

/// A thin bar filled to `f` (0..1).
pub(super) fn progress(ui: &mut egui::Ui, f: f32) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 8.0), Sense::hover());
    ui.painter().rect_filled(rect, 4.0, TRACK);
    let mut fill = rect;
    fill.set_width(rect.width() * f.clamp(0.0, 1.0));
    ui.painter().rect_filled(fill, 4.0, ACCENT);
}

/// Horizontal bars, highest first, `max` rows.
pub(super) fn bars(ui: &mut egui::Ui, snap: &Snapshot, scores: &[f32], max: usize) {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let top = scores.iter().copied().fold(0f32, f32::max).max(1e-6);
    let row_h = if max <= 5 { 22.0 } else { 15.0 };
    let width = ui.available_width();
    ui.spacing_mut().item_spacing.y = 2.0;
    for &i in order.iter().take(max) {
        let (rect, _) = ui.allocate_exact_size(Vec2::new(width, row_h), Sense::hover());
        let p = ui.painter();
        let name_w = 74.0;
        p.text(
            rect.left_center(),
            Align2::LEFT_CENTER,
            label(snap, i),
            FontId::proportional(if max <= 5 { 13.0 } else { 11.0 }),
            TEXT,
        );
        let mut track = rect;
        track.min.x += name_w;
        track.max.x -= 44.0;
        track = track.shrink2(Vec2::new(0.0, row_h * 0.22));
        p.rect_filled(track, 3.0, TRACK);
        let mut bar = track;
        bar.set_width(track.width() * (scores[i] / top).clamp(0.0, 1.0));
        p.rect_filled(bar, 3.0, colour(i));
        p.text(
            rect.right_center(),
            Align2::RIGHT_CENTER,
            format!("{:.0} %", share(scores, i) * 100.0),
            FontId::monospace(11.0),
            DIM,
        );
    }
}

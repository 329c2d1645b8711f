//! The *History* card: one cell per analysed window, coloured by its top genre, and the
//! colour legend.

use egui::{Align2, FontId, RichText, Sense, Vec2};

use super::theme::{caption, card, colour, mmss, DIM, TRACK};
use crate::state::{HistoryEntry, Snapshot};

pub(super) fn history_card(ui: &mut egui::Ui, snap: &Snapshot) {
    let w = ui.available_width();
    card(ui, w, 62.0, |ui| {
        let span = snap.history.last().map(|e| mmss(f64::from(e.end_s)));
        caption(
            ui,
            &format!(
                "HISTORY · TOP GENRE PER WINDOW{}",
                span.map(|s| format!(" · 0:29 – {s}")).unwrap_or_default()
            ),
        );
        strip(ui, &snap.history);
        legend(ui, snap);
    });
}

/// The cells, or a hint while there are none.
fn strip(ui: &mut egui::Ui, h: &[HistoryEntry]) {
    let (rect, _) = ui.allocate_exact_size(Vec2::new(ui.available_width(), 22.0), Sense::hover());
    let p = ui.painter();
    p.rect_filled(rect, 4.0, TRACK);
    if h.is_empty() {
        p.text(
            rect.center(),
            Align2::CENTER_CENTER,
            "one cell per window, as the song plays",
            FontId::proportional(11.0),
            DIM,
        );
    } else {
        let cell = (rect.width() / h.len() as f32).min(18.0);
        for (k, e) in h.iter().enumerate() {
            let x = rect.left() + k as f32 * cell;
            let r = egui::Rect::from_min_size(
                egui::pos2(x, rect.top()),
                Vec2::new((cell - 1.0).max(1.0), rect.height()),
            );
            let c = e.top.map(|t| colour(t as usize)).unwrap_or(TRACK);
            p.rect_filled(r, 2.0, c);
        }
    }
}

/// One swatch and name per label.
fn legend(ui: &mut egui::Ui, snap: &Snapshot) {
    ui.horizontal_wrapped(|ui| {
        ui.spacing_mut().item_spacing.x = 4.0;
        for (i, name) in snap.labels.iter().enumerate() {
            let (r, _) = ui.allocate_exact_size(Vec2::splat(9.0), Sense::hover());
            ui.painter().rect_filled(r, 2.0, colour(i));
            ui.label(RichText::new(name).size(10.5).color(DIM));
            ui.add_space(4.0);
        }
    });
}

//! The *Now* card: the latest 29.12 s window, its top genre (or why it does not vote) and all
//! its scores.

use egui::RichText;
use mgr_core::aggregate::share;

use super::bars::{bars, progress};
use super::theme::{caption, card, colour, label, DIM};
use crate::state::Snapshot;

pub(super) fn current_card(ui: &mut egui::Ui, snap: &Snapshot, w: f32) {
    card(ui, w, 214.0, |ui| {
        caption(ui, "NOW · LAST 29.12 s");
        match &snap.current {
            Some(cur) => {
                if let Some(top) = mgr_core::model::argmax(&cur.scores) {
                    ui.horizontal(|ui| {
                        ui.label(
                            RichText::new(label(snap, top))
                                .size(24.0)
                                .strong()
                                .color(colour(top)),
                        );
                        let note = if cur.silent {
                            format!("silent ({:.0} dB), not voting", cur.rms_db)
                        } else {
                            format!("{:.0} %", share(&cur.scores, top) * 100.0)
                        };
                        ui.label(RichText::new(note).size(12.0).color(DIM));
                    });
                }
                bars(ui, snap, &cur.scores, 10);
            }
            None => {
                ui.add_space(6.0);
                ui.label(
                    RichText::new("filling the first 29.12 s window")
                        .size(13.0)
                        .color(DIM),
                );
                progress(ui, snap.buffered);
            }
        }
    });
}

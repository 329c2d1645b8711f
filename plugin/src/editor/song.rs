//! The *Song average* card: the song's genre so far (the paper's multiframe mean), its
//! confidence and the top five scores, or how far the first window has filled.

use egui::RichText;
use mgr_core::aggregate::share;

use super::bars::{bars, progress};
use super::theme::{caption, card, colour, label, mmss, DIM};
use crate::state::Snapshot;

pub(super) fn song_card(ui: &mut egui::Ui, snap: &Snapshot, w: f32) {
    card(ui, w, 214.0, |ui| {
        caption(ui, "SONG AVERAGE");
        match snap.song.as_ref().and_then(|s| s.top().map(|t| (s, t))) {
            Some((song, (top, _))) => {
                ui.label(
                    RichText::new(label(snap, top).to_uppercase())
                        .size(40.0)
                        .strong()
                        .color(colour(top)),
                );
                ui.label(
                    RichText::new(format!(
                        "{:.0} % confidence · {} frame{} · {} heard",
                        share(&song.mean, top) * 100.0,
                        song.frames,
                        if song.frames == 1 { "" } else { "s" },
                        mmss(snap.heard_s)
                    ))
                    .size(12.0)
                    .color(DIM),
                );
                bars(ui, snap, &song.mean, 5);
            }
            None => {
                ui.add_space(18.0);
                ui.label(RichText::new("—").size(40.0).color(DIM));
                let msg = if snap.heard_s > 0.0 {
                    format!(
                        "listening… first result after 29.12 s ({} heard)",
                        mmss(snap.heard_s)
                    )
                } else {
                    "press play: the song's genre builds up here".into()
                };
                ui.label(RichText::new(msg).size(12.0).color(DIM));
                progress(ui, snap.buffered);
            }
        }
    });
}

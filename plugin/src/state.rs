//! What the analysis shows (the [`Snapshot`], worker → editor) and what the host saves
//! ([`SavedState`], inside the plugin state under the field `analysis`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nice_plug::params::persist::PersistentField;
use serde::{Deserialize, Serialize};

/// One analysed 29.12 s window in the song's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// End of the window, seconds since the song started.
    pub end_s: f32,
    /// Index of the top genre, `None` when the window was below the silence gate.
    pub top: Option<u16>,
    /// Score of the top genre.
    pub score: f32,
}

/// The song-level decision so far (the paper's multiframe mean, see `analysis.rs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SongResult {
    /// Mean frame score per label.
    pub mean: Vec<f32>,
    /// Frames that voted.
    pub frames: usize,
}

impl SongResult {
    /// Index and score of the top label.
    pub fn top(&self) -> Option<(usize, f32)> {
        mgr_core::model::argmax(&self.mean).map(|i| (i, self.mean[i]))
    }
}

/// Scores of the latest window.
#[derive(Debug, Clone, PartialEq)]
pub struct Current {
    pub scores: Vec<f32>,
    pub end_s: f64,
    /// Window RMS in dBFS.
    pub rms_db: f32,
    /// Below the silence gate: shown, but not voted.
    pub silent: bool,
}

/// Everything the editor draws; replaced whole by the worker (never mutated in place).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub labels: Vec<String>,
    /// Display name of the active model.
    pub model_name: String,
    /// User model file, `None` for the built-in GTZAN CRNN.
    pub model_path: Option<String>,
    /// Last model-load failure (the previous model stays active).
    pub model_error: Option<String>,
    /// Audio stream problem (e.g. an unsupported sample rate).
    pub stream_error: Option<String>,
    /// Seconds of this song analysed (at 12 kHz).
    pub heard_s: f64,
    /// Fill of the first 29.12 s window, 0..1.
    pub buffered: f32,
    pub current: Option<Current>,
    pub song: Option<SongResult>,
    pub history: Vec<HistoryEntry>,
    /// Wall time of the latest forward pass, milliseconds.
    pub last_inference_ms: Option<f32>,
    /// Forward passes since the worker started.
    pub inferences: u64,
    /// Input samples lost because the ring was full (realtime mode only).
    pub dropped: u64,
    /// Host sample rate.
    pub rate: u32,
}

/// The persisted part of the analysis (JSON in the plugin state). Documented as the channel a
/// host (or a test) can read the song result from: `song_label` is the top genre.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    /// User model file; `None` = built-in GTZAN CRNN.
    #[serde(default)]
    pub model_path: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub song: Option<SongResult>,
    /// Top genre of `song`, for readers that do not want to index `labels`.
    #[serde(default)]
    pub song_label: Option<String>,
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    #[serde(default)]
    pub heard_s: f64,
    /// Samples of this song analysed, at 12 kHz (an offline render is complete when this is
    /// `ceil(input samples · 12000 / rate)`).
    #[serde(default)]
    pub heard_samples: u64,
    /// Input samples lost to a full ring since the plugin was created (realtime mode only).
    #[serde(default)]
    pub dropped_samples: u64,
}

/// Shared cell for [`SavedState`]: the worker writes it after every update, the host reads it
/// when saving, and a host load marks it `restored` for the worker to pick up.
#[derive(Debug, Default)]
pub struct SavedCell {
    state: Mutex<SavedState>,
    restored: AtomicBool,
}

impl SavedCell {
    /// Replace the saved state (worker side; does not count as a restore). Skipped while a
    /// host load is waiting to be picked up, so that the load is not overwritten.
    pub fn store(&self, s: SavedState) {
        if self.restored.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut g) = self.state.lock() {
            *g = s;
        }
    }

    /// A copy of the current state.
    pub fn get(&self) -> SavedState {
        self.state.lock().map(|g| g.clone()).unwrap_or_default()
    }

    /// The state a host loaded since the last call, if any.
    pub fn take_restored(&self) -> Option<SavedState> {
        self.restored
            .swap(false, Ordering::AcqRel)
            .then(|| self.get())
    }
}

impl<'a> PersistentField<'a, SavedState> for SavedCell {
    fn set(&self, new_value: SavedState) {
        self.store(new_value);
        self.restored.store(true, Ordering::Release);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SavedState) -> R,
    {
        match self.state.lock() {
            Ok(g) => f(&g),
            Err(_) => f(&SavedState::default()),
        }
    }
}

impl<'a> PersistentField<'a, SavedState> for std::sync::Arc<SavedCell> {
    fn set(&self, new_value: SavedState) {
        PersistentField::set(self.as_ref(), new_value);
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SavedState) -> R,
    {
        PersistentField::map(self.as_ref(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_load_is_seen_once_and_worker_stores_are_not_loads() {
        let cell = SavedCell::default();
        cell.store(SavedState {
            heard_s: 1.0,
            ..Default::default()
        });
        assert!(cell.take_restored().is_none());
        PersistentField::set(
            &cell,
            SavedState {
                heard_s: 2.0,
                ..Default::default()
            },
        );
        assert_eq!(cell.take_restored().map(|s| s.heard_s), Some(2.0));
        assert!(cell.take_restored().is_none());
        assert_eq!(cell.map(|s| s.heard_s), 2.0);
    }
}

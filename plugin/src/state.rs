//! What the analysis shows (the [`Snapshot`], worker → editor) and what the host saves
//! ([`SavedState`], inside the plugin state under the field `analysis`).

use std::sync::atomic::{AtomicU64, Ordering};
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

/// Name shown for the embedded model (the editor's selector, *About*, the saved state).
pub const BUILTIN_NAME: &str = "GTZAN CRNN (built-in)";

/// What the active model says about itself (its safetensors metadata).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// Display name: the file name, or the built-in model's name.
    pub name: String,
    /// The model's own description (metadata `model`).
    #[serde(default)]
    pub description: Option<String>,
    /// The model it was fine-tuned from (metadata `base_model`, else `base_model_spec`).
    #[serde(default)]
    pub base_model: Option<String>,
    /// How `mgr-cli finetune` made it: strategy, data, split, seed and its measured accuracy
    /// (the provenance summary; `None` for the built-in model and older files).
    #[serde(default)]
    pub provenance: Option<String>,
}

impl ModelInfo {
    /// The embedded GTZAN CRNN before it is loaded.
    pub fn builtin() -> Self {
        Self {
            name: BUILTIN_NAME.into(),
            ..Self::default()
        }
    }
}

/// How the audio arrived since the plugin was created (hosts re-activate plugins around a
/// bounce, so per-activation figures would hide it): the render-speed evidence (see
/// `docs/plugin.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamStats {
    /// The stream ran ahead of real time by more than the render lead (a render, whatever
    /// the host's process mode says).
    pub faster_than_realtime: bool,
    /// Largest lead over real time seen, seconds.
    pub lead_peak_s: f64,
    /// Time the audio thread waited for ring space (renders only), seconds.
    pub waited_s: f64,
    /// Fullest the ring has been, seconds of host audio (of `ring_s`, the current ring).
    pub ring_peak_s: f64,
    pub ring_s: f64,
    /// "Now" windows skipped because the worker was behind (song frames are never skipped).
    pub skipped_windows: u64,
}

/// Everything the editor draws; replaced whole by the worker (never mutated in place).
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub labels: Vec<String>,
    /// The active model.
    pub model: ModelInfo,
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
    pub stream: StreamStats,
}

/// The persisted part of the analysis (JSON in the plugin state). Documented as the channel a
/// host (or a test) can read the song result from: `song_label` is the top genre.
/// Every field may be missing from a stored state (older versions, hand-written states).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SavedState {
    /// User model file; `None` = built-in GTZAN CRNN. A state loaded with another path loads
    /// that model and starts a new song (the editor's model selector goes this way too).
    pub model_path: Option<String>,
    /// Folder the model file dialog opens in.
    pub last_folder: Option<String>,
    /// The active model (written by the plugin; ignored on load).
    pub model: Option<ModelInfo>,
    /// Why the last model load failed, if it did (the previous model stays active).
    pub model_error: Option<String>,
    pub labels: Vec<String>,
    pub song: Option<SongResult>,
    /// Top genre of `song`, for readers that do not want to index `labels`.
    pub song_label: Option<String>,
    pub history: Vec<HistoryEntry>,
    pub heard_s: f64,
    /// Samples of this song analysed, at 12 kHz (an offline render is complete when this is
    /// `ceil(input samples · 12000 / rate)`).
    pub heard_samples: u64,
    /// Input samples lost to a full ring since the plugin was created (realtime mode only).
    pub dropped_samples: u64,
    /// Render speed and ring use since the plugin was created (written by the plugin).
    pub stream: Option<StreamStats>,
    /// State loads (host or editor) since the plugin was created that the worker has applied:
    /// it publishes this state only after it has acted on the load it took. A load is picked
    /// up a moment later on the worker thread, so this is how a host (or a test) can tell that
    /// a load has taken effect before it reads the result. Written by the plugin; the value in
    /// a loaded state is ignored (older states have none).
    pub loads_applied: u64,
}

/// Shared cell for [`SavedState`]: the worker writes it after every update, the host reads it
/// when saving, and a host load marks it `restored` for the worker to pick up.
#[derive(Debug, Default)]
pub struct SavedCell {
    /// The state and the load bookkeeping, changed together so that a worker store cannot slip
    /// in between a host load's write and its mark.
    inner: Mutex<Slot>,
    /// State loads so far (host or editor); the audio thread reads it to tell a loaded
    /// parameter value from a press of the `reset` trigger.
    loads: AtomicU64,
}

#[derive(Debug, Default)]
struct Slot {
    state: SavedState,
    /// A load is waiting for the worker.
    restored: bool,
    /// Loads up to the one the worker took last (see [`SavedState::loads_applied`]).
    taken: u64,
}

impl SavedCell {
    /// Replace the saved state (worker side; does not count as a restore). Skipped while a
    /// host load is waiting to be picked up, so that the load is not overwritten. Its
    /// `loads_applied` becomes the loads the worker has taken with [`Self::take_restored`]:
    /// the worker stores only after it has acted on what it took.
    pub fn store(&self, s: SavedState) {
        if let Ok(mut g) = self.inner.lock() {
            if !g.restored {
                g.state = SavedState {
                    loads_applied: g.taken,
                    ..s
                };
            }
        }
    }

    /// A copy of the current state.
    pub fn get(&self) -> SavedState {
        self.inner
            .lock()
            .map(|g| g.state.clone())
            .unwrap_or_default()
    }

    /// Act as if a host had loaded `s` (the editor's path to the same behaviour).
    pub fn request(&self, s: SavedState) {
        PersistentField::set(self, s);
    }

    /// State loads so far.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Acquire)
    }

    /// The state a host loaded since the last call, if any (the latest of several loads).
    pub fn take_restored(&self) -> Option<SavedState> {
        let mut g = self.inner.lock().ok()?;
        if !g.restored {
            return None;
        }
        g.restored = false;
        g.taken = self.loads.load(Ordering::Acquire);
        Some(g.state.clone())
    }
}

impl<'a> PersistentField<'a, SavedState> for SavedCell {
    fn set(&self, new_value: SavedState) {
        if let Ok(mut g) = self.inner.lock() {
            // What the worker applied so far stays: the loaded value says nothing about it.
            g.state = SavedState {
                loads_applied: g.state.loads_applied,
                ..new_value
            };
            g.restored = true;
            self.loads.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn map<F, R>(&self, f: F) -> R
    where
        F: Fn(&SavedState) -> R,
    {
        match self.inner.lock() {
            Ok(g) => f(&g.state),
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

    /// `loads_applied` counts the loads the worker took, shows only in what it stores after
    /// taking them, and ignores the value a loaded state brings; a second load before the
    /// worker took the first replaces it.
    #[test]
    fn loads_applied_counts_the_loads_the_worker_took() {
        let cell = SavedCell::default();
        let loaded = |heard_s| SavedState {
            heard_s,
            loads_applied: 7,
            ..Default::default()
        };
        PersistentField::set(&cell, loaded(1.0));
        PersistentField::set(&cell, loaded(2.0));
        assert_eq!(cell.loads(), 2);
        // Not taken yet: the saved state shows no load applied, and worker stores wait.
        assert_eq!(cell.get().loads_applied, 0);
        cell.store(SavedState::default());
        assert_eq!(cell.get().heard_s, 2.0);
        let taken = cell.take_restored().expect("a load");
        assert_eq!((taken.heard_s, taken.loads_applied), (2.0, 0));
        cell.store(SavedState {
            heard_s: 3.0,
            loads_applied: 99,
            ..Default::default()
        });
        assert_eq!((cell.get().heard_s, cell.get().loads_applied), (3.0, 2));
        // The next load keeps the count until the worker takes it.
        PersistentField::set(&cell, loaded(4.0));
        assert_eq!((cell.get().heard_s, cell.get().loads_applied), (4.0, 2));
        assert!(cell.take_restored().is_some());
        cell.store(SavedState::default());
        assert_eq!(cell.get().loads_applied, 3);
    }

    /// A state saved before the counter existed still loads.
    #[test]
    fn a_state_without_the_counter_loads() {
        let s: SavedState = serde_json::from_str(r#"{"heard_s": 5.0, "labels": ["a"]}"#).unwrap();
        assert_eq!((s.heard_s, s.loads_applied), (5.0, 0));
    }
}

//! What the analysis shows (the [`Snapshot`], worker → editor) and what the host saves
//! ([`SavedState`], inside the plugin state under the field `analysis`).
//!
//! A state a host hands back is untrusted (projects travel between people):
//! [`SavedState::from_untrusted`] reads it within fixed limits, replaces what is unreadable or
//! out of range by the default, and says what it replaced in [`SavedState::state_note`], which
//! the editor shows.

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
    /// A model file being loaded (on a thread of its own), and since when.
    pub model_loading: Option<Loading>,
    /// What was wrong with the last state a host loaded, and what was used instead.
    pub state_note: Option<String>,
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

/// A model load that has not finished.
#[derive(Debug, Clone, PartialEq)]
pub struct Loading {
    /// The file.
    pub path: String,
    /// When the load started.
    pub since: std::time::Instant,
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
    /// What was wrong with the last state a host loaded and what was used instead (written
    /// by the plugin; ignored on load).
    pub state_note: Option<String>,
    /// A model file chosen but still loading, e.g. from a slow or unreachable network disk
    /// (written by the plugin; ignored on load). `model_path` stays the active model's
    /// until the file has loaded.
    pub model_loading: Option<String>,
    /// State loads (host or editor) since the plugin was created that the worker has applied:
    /// it publishes this state only after it has acted on the load it took. A load is picked
    /// up a moment later on the worker thread, so this is how a host (or a test) can tell that
    /// a load has taken effect before it reads the result. Written by the plugin; the value in
    /// a loaded state is ignored (older states have none).
    pub loads_applied: u64,
}

/// Largest `analysis` field read from a loaded state, in bytes. A state the plugin saves holds
/// at most [`MAX_HISTORY`] history cells (about 50 bytes each), [`MAX_LABELS`] labels and the
/// model's description: under 1 MiB.
pub const MAX_SAVED_BYTES: usize = 2 << 20;

/// Most history cells kept, loaded or live: one per window, so 2 h 46 min at the shortest
/// update interval (1 s). Older cells are dropped first.
pub const MAX_HISTORY: usize = 10_000;

/// Most song frames a loaded song result may count: a frame is 29.12 s, so a million frames
/// is some 8,000 hours. (The count weighs the saved mean against new frames.)
pub const MAX_FRAMES: usize = 1_000_000;

/// Longest model path or folder read from a state, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH_BYTES: usize = 4096;

pub use mgr_core::model::meta::{MAX_LABELS, MAX_LABEL_BYTES};

/// Longest note about one field of a loaded state (serde's messages quote the value).
const MAX_NOTE_CHARS: usize = 160;

impl SavedState {
    /// The state in the `analysis` JSON a host handed back, never trusted: at most
    /// [`MAX_SAVED_BYTES`] are read, a field that is not JSON of its type is its default,
    /// values out of range are dropped or clamped (see [`SavedState::sanitize`]), and what was
    /// replaced is said in `state_note`. Never panics; allocates in proportion to the input.
    pub fn from_untrusted(json: &str) -> SavedState {
        let mut notes = Vec::new();
        let mut s = if json.len() > MAX_SAVED_BYTES {
            notes.push(format!(
                "the saved analysis is {} bytes (at most {MAX_SAVED_BYTES}): not read",
                json.len()
            ));
            SavedState::default()
        } else {
            // Whole and typed first (the common case, no intermediate tree); else field by
            // field, so that one bad field costs only itself.
            serde_json::from_str(json).unwrap_or_else(|_| Self::field_by_field(json, &mut notes))
        };
        s.sanitize(&mut notes);
        s.state_note = (!notes.is_empty()).then(|| notes.join("; "));
        s
    }

    /// Each known field of `json` that reads as its type, the others at their defaults.
    fn field_by_field(json: &str, notes: &mut Vec<String>) -> SavedState {
        let mut map = match serde_json::from_str::<serde_json::Value>(json) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(other) => {
                notes.push(format!(
                    "the saved analysis is a JSON {}, not an object: not read",
                    json_kind(&other)
                ));
                return SavedState::default();
            }
            Err(e) => {
                notes.push(short(&format!(
                    "the saved analysis is not JSON ({e}): not read"
                )));
                return SavedState::default();
            }
        };
        let mut s = SavedState::default();
        macro_rules! field {
            ($($name:ident),*) => {$(
                if let Some(v) = map.remove(stringify!($name)) {
                    match serde_json::from_value(v) {
                        Ok(v) => s.$name = v,
                        Err(e) => notes.push(short(&format!(
                            "{}: {e} (not read)",
                            stringify!($name)
                        ))),
                    }
                }
            )*};
        }
        field!(
            model_path,
            last_folder,
            labels,
            song,
            history,
            heard_s,
            heard_samples,
            dropped_samples
        );
        s
    }

    /// Drop or clamp what is out of range: paths longer than [`MAX_PATH_BYTES`] or with
    /// control characters, more than [`MAX_LABELS`] labels (and then the song and history
    /// that refer to them), a song result that does not match the labels or is not a
    /// probability per label, history cells past [`MAX_HISTORY`] (the oldest) or not finite,
    /// a negative or non-finite time. What the plugin writes for itself (`model`,
    /// `model_error`, `stream`, `state_note`, `model_loading`, `loads_applied`) is cleared.
    pub fn sanitize(&mut self, notes: &mut Vec<String>) {
        for (name, path) in [
            ("model_path", &mut self.model_path),
            ("last_folder", &mut self.last_folder),
        ] {
            if path
                .as_deref()
                .is_some_and(|p| p.len() > MAX_PATH_BYTES || p.chars().any(char::is_control))
            {
                notes.push(format!(
                    "{name} is longer than {MAX_PATH_BYTES} bytes or holds control characters \
                     (not used)"
                ));
                *path = None;
            }
        }
        let bad_label = |l: &String| l.len() > MAX_LABEL_BYTES || l.chars().any(char::is_control);
        if self.labels.len() > MAX_LABELS || self.labels.iter().any(bad_label) {
            notes.push(format!(
                "{} labels, or a label longer than {MAX_LABEL_BYTES} bytes (labels, song and \
                 history not used)",
                self.labels.len()
            ));
            self.labels.clear();
            self.song = None;
            self.history.clear();
        }
        let n = self.labels.len();
        if let Some(song) = &self.song {
            let fits = n > 0
                && song.mean.len() == n
                && song.mean.iter().all(|m| (0.0..=1.0).contains(m))
                && (1..=MAX_FRAMES).contains(&song.frames);
            if !fits {
                notes.push(format!(
                    "the song result is not {n} scores in [0, 1] over 1 to {MAX_FRAMES} \
                     frames (not used)"
                ));
                self.song = None;
            }
        }
        self.song_label = None;
        if self.history.len() > MAX_HISTORY {
            notes.push(format!(
                "{} history cells (the last {MAX_HISTORY} kept)",
                self.history.len()
            ));
            self.history.drain(..self.history.len() - MAX_HISTORY);
        }
        let before = self.history.len();
        self.history.retain(|h| {
            h.end_s.is_finite()
                && h.end_s >= 0.0
                && (0.0..=1.0).contains(&h.score)
                && h.top.is_none_or(|t| usize::from(t) < n)
        });
        if self.history.len() < before {
            notes.push(format!(
                "{} history cells with a time, score or genre out of range (dropped)",
                before - self.history.len()
            ));
        }
        if !(self.heard_s.is_finite() && self.heard_s >= 0.0) {
            notes.push(format!("heard_s {} is not a time (0 used)", self.heard_s));
            self.heard_s = 0.0;
        }
        self.model = None;
        self.model_error = None;
        self.stream = None;
        self.state_note = None;
        self.model_loading = None;
        self.loads_applied = 0;
    }
}

/// At most [`MAX_NOTE_CHARS`] characters of `s`.
fn short(s: &str) -> String {
    match s.char_indices().nth(MAX_NOTE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "object",
    }
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

    fn note(s: &SavedState) -> &str {
        s.state_note.as_deref().unwrap_or_default()
    }

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("g{i}")).collect()
    }

    /// A state as the plugin saves it reads back as it was, with no note.
    #[test]
    fn a_valid_state_reads_back_unchanged() {
        let s = SavedState {
            model_path: Some("/m/house.safetensors".into()),
            last_folder: Some("/m".into()),
            labels: labels(3),
            song: Some(SongResult {
                mean: vec![0.2, 0.5, 0.3],
                frames: 4,
            }),
            history: vec![HistoryEntry {
                end_s: 29.12,
                top: Some(1),
                score: 0.5,
            }],
            heard_s: 120.0,
            heard_samples: 1_440_000,
            ..SavedState::default()
        };
        let back = SavedState::from_untrusted(&serde_json::to_string(&s).unwrap());
        assert_eq!(back, s);
    }

    /// Too large, not JSON, nested past serde_json's limit, not an object: defaults and a
    /// note, at once.
    #[test]
    fn unreadable_states_are_defaults_with_a_note() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let nested_field = format!("{{\"song\": {deep}}}");
        let huge = format!("{{\"labels\": [\"{}\"]}}", "x".repeat(MAX_SAVED_BYTES));
        for (json, want) in [
            (huge.as_str(), "bytes (at most 2097152): not read"),
            ("{\"song\": ", "the saved analysis is not JSON"),
            (deep.as_str(), "recursion limit exceeded"),
            (nested_field.as_str(), "recursion limit exceeded"),
            ("[1, 2]", "a JSON list, not an object"),
            ("", "the saved analysis is not JSON"),
        ] {
            let s = SavedState::from_untrusted(json);
            assert!(
                note(&s).contains(want),
                "{:?}: {}",
                &json[..json.len().min(20)],
                note(&s)
            );
            assert_eq!(
                SavedState {
                    state_note: None,
                    ..s
                },
                SavedState::default()
            );
        }
    }

    /// A field of the wrong type costs only itself.
    #[test]
    fn a_field_of_the_wrong_type_is_its_default() {
        let s = SavedState::from_untrusted(
            r#"{"model_path": 7, "labels": ["a", "b"], "song": {"mean": "x"},
                "history": [{"end_s": 30.0, "top": 1, "score": 0.9}], "heard_s": "long"}"#,
        );
        assert_eq!(s.model_path, None);
        assert_eq!(s.labels, ["a", "b"]);
        assert_eq!(s.song, None);
        assert_eq!(s.history.len(), 1);
        assert_eq!(s.heard_s, 0.0);
        let n = note(&s);
        for want in [
            "model_path: invalid type",
            "song: invalid type",
            "heard_s: invalid",
        ] {
            assert!(n.contains(want), "{n}");
        }
    }

    /// Out-of-range values: dropped or clamped, each with a note.
    #[test]
    fn values_out_of_range_are_dropped() {
        let cell = |end_s: f32, top: Option<u16>, score: f32| HistoryEntry { end_s, top, score };
        let history = |n: usize| SavedState {
            labels: labels(2),
            history: (0..n).map(|i| cell(i as f32, Some(1), 0.5)).collect(),
            ..SavedState::default()
        };
        // A million cells are 40 MB of JSON: not read at all.
        let s = SavedState::from_untrusted(&serde_json::to_string(&history(1_000_000)).unwrap());
        assert_eq!(s.history.len(), 0);
        assert!(
            note(&s).contains("(at most 2097152): not read"),
            "{}",
            note(&s)
        );
        // Twice the limit fits in the bytes: the newest cells are kept.
        let s = SavedState::from_untrusted(&serde_json::to_string(&history(20_000)).unwrap());
        assert_eq!(s.history.len(), MAX_HISTORY);
        assert_eq!(s.history[0].end_s, (20_000 - MAX_HISTORY) as f32);
        assert!(note(&s).contains("20000 history cells (the last 10000 kept)"));

        let bad = SavedState {
            model_path: Some("a\u{0}b".into()),
            last_folder: Some("/".repeat(MAX_PATH_BYTES + 1)),
            labels: labels(2),
            song: Some(SongResult {
                mean: vec![0.5, 7.0],
                frames: 3,
            }),
            history: vec![
                cell(-1.0, None, 0.5),
                cell(5.0, Some(2), 0.5),
                cell(5.0, Some(1), 0.5),
                cell(5.0, None, 2.0),
            ],
            heard_s: -3.0,
            model_error: Some("old".into()),
            loads_applied: 9,
            ..SavedState::default()
        };
        let s = SavedState::from_untrusted(&serde_json::to_string(&bad).unwrap());
        assert_eq!((s.model_path, s.last_folder), (None, None));
        assert_eq!(s.song, None);
        assert_eq!(s.history, [cell(5.0, Some(1), 0.5)]);
        assert_eq!((s.heard_s, s.model_error, s.loads_applied), (0.0, None, 0));
        let n = s.state_note.unwrap();
        for want in [
            "model_path is longer",
            "last_folder is longer",
            "the song result is not 2 scores in [0, 1]",
            "3 history cells",
            "heard_s -3 is not a time",
        ] {
            assert!(n.contains(want), "{n}\nwanted: {want}");
        }

        let many = SavedState {
            labels: labels(MAX_LABELS + 1),
            song: Some(SongResult {
                mean: vec![0.0; MAX_LABELS + 1],
                frames: 1,
            }),
            ..SavedState::default()
        };
        let s = SavedState::from_untrusted(&serde_json::to_string(&many).unwrap());
        assert!(
            s.labels.is_empty() && s.song.is_none(),
            "{:?}",
            s.state_note
        );
        // A song of more frames than anyone has heard would outweigh every new frame.
        let frames = SavedState {
            labels: labels(1),
            song: Some(SongResult {
                mean: vec![0.5],
                frames: usize::MAX,
            }),
            ..SavedState::default()
        };
        let s = SavedState::from_untrusted(&serde_json::to_string(&frames).unwrap());
        assert!(s.song.is_none());
    }

    /// A state saved before the counter existed still loads.
    #[test]
    fn a_state_without_the_counter_loads() {
        let s: SavedState = serde_json::from_str(r#"{"heard_s": 5.0, "labels": ["a"]}"#).unwrap();
        assert_eq!((s.heard_s, s.loads_applied), (5.0, 0));
    }
}

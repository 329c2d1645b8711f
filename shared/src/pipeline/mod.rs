//! File → genre: the stages of `mgr-core` strung together with reusable state.
//!
//! * [`FrontEnd`]: decode → resample to 12 kHz → cut frames → log-mel, one file at a time,
//!   reusing its buffers from file to file.
//! * [`parallel`]: many files at full machine speed — front-end workers on every core feed
//!   log-mel frames of any song into full network batches through a bounded queue; each
//!   song's result is delivered as soon as its last frame is scored.
//! * [`Analyzer`]: one model and one front-end, for a song at a time (and, through
//!   [`parallel`], for a list of files in order).

pub mod parallel;

use std::ops::Range;
use std::path::Path;

use crate::aggregate::{frame_ranges, SongScores};
use crate::audio::{Audio, Decoder};
use crate::config::{FramingConfig, CLIP_SAMPLES, N_FRAMES, N_MELS};
use crate::error::{Error, Result};
use crate::mel::LogMel;
use crate::model::{CandleDevice, Model};
use crate::resample::{Resampler, ResamplerKind};

pub use parallel::{Pipeline, PipelineConfig, PipelineSummary};

/// Frames per forward pass on the CPU: enough to amortise per-call overhead, small enough for
/// memory (CRNN block-1 activations are ≈ 8.8 MB per frame). Scores do not depend on it.
pub const DEFAULT_BATCH: usize = 8;

/// Frames per forward pass on a GPU: large batches are what keep a GPU busy (one CRNN frame
/// is ≈ 6.5 GFLOP); 64 frames of log-mels are 34 MB of input.
pub const DEFAULT_GPU_BATCH: usize = 64;

/// The default batch for a device: [`DEFAULT_BATCH`] on the CPU, [`DEFAULT_GPU_BATCH`] on
/// CUDA and Metal.
pub fn default_batch(device: &CandleDevice) -> usize {
    if device.is_cpu() {
        DEFAULT_BATCH
    } else {
        DEFAULT_GPU_BATCH
    }
}

/// Values in one log-mel frame (`96 × 1366`).
pub const FRAME_VALUES: usize = N_MELS * N_FRAMES;

/// Owns everything needed to analyse many files with one model.
pub struct Analyzer {
    front: FrontEnd,
    model: Model,
    batch: usize,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("resampler", &self.front.resampler)
            .field("model", &self.model)
            .finish()
    }
}

/// Log-mels of every frame of a song, concatenated (`frames × 96 × 1366`).
#[derive(Debug, Clone)]
pub struct SongFeatures {
    /// `frames` network inputs of [`FRAME_VALUES`] each, row-major `[96 mel bands, 1366
    /// STFT frames]` in dB (reference README, "The canonical front-end", steps 5–8).
    pub logmels: Vec<f32>,
    /// Number of 29.12 s frames ([`crate::aggregate`]'s rule; ≥ 1 for a decoded song).
    pub frames: usize,
}

/// File → log-mels of every frame: decode, resample to 12 kHz, cut into frames, log-mel.
/// Keeps its buffers (file bytes, samples, 12 kHz signal, FFT plan) from file to file.
///
/// Two ways to use it: [`FrontEnd::file`] returns all frames of a song at once;
/// [`FrontEnd::open`] + [`FrontEnd::frame_into`] give them one at a time into caller-owned
/// buffers (what [`parallel`] does, so that a long song never holds all its log-mels).
pub struct FrontEnd {
    decoder: Decoder,
    resampler: Resampler,
    logmel: LogMel,
    framing: FramingConfig,
    /// The current song at 12 kHz.
    y: Vec<f32>,
    /// Sample ranges of the current song's frames in `y`.
    ranges: Vec<Range<usize>>,
}

impl std::fmt::Debug for FrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrontEnd")
            .field("resampler", &self.resampler)
            .field("framing", &self.framing)
            .finish_non_exhaustive()
    }
}

impl FrontEnd {
    /// A front end with empty buffers, resampling with `resampler` and cutting frames by
    /// `framing` (`FramingConfig::default()`: the paper's 20 s trim).
    pub fn new(resampler: ResamplerKind, framing: FramingConfig) -> Self {
        Self {
            decoder: Decoder::new(),
            resampler: Resampler::new(resampler),
            logmel: LogMel::new(),
            framing,
            y: Vec::new(),
            ranges: Vec::new(),
        }
    }

    /// Decode and resample `path` and cut it into frames; returns the number of frames
    /// (≥ 1). The frames' log-mels then come from [`FrontEnd::frame_into`].
    pub fn open(&mut self, path: &Path) -> Result<usize> {
        // The decoder's buffer is borrowed while the other fields work on it.
        let mut decoder = std::mem::take(&mut self.decoder);
        let result = decoder
            .decode(path)
            .and_then(|audio| self.open_audio(audio));
        self.decoder = decoder;
        result
    }

    /// [`FrontEnd::open`] for audio already decoded.
    pub fn open_audio(&mut self, audio: &Audio) -> Result<usize> {
        self.resampler
            .to_12k_into(audio.samples(), audio.sample_rate(), &mut self.y)?;
        self.ranges = frame_ranges(self.y.len(), &self.framing);
        Ok(self.ranges.len())
    }

    /// [`FrontEnd::open`] for a signal already at 12 kHz.
    pub fn open_12k(&mut self, y: &[f32]) -> usize {
        self.y.clear();
        self.y.extend_from_slice(y);
        self.ranges = frame_ranges(self.y.len(), &self.framing);
        self.ranges.len()
    }

    /// Log-mel of frame `i` of the song opened last into `out` (`96 × 1366` values).
    ///
    /// # Panics
    /// If `i` is not below the frame count [`FrontEnd::open`] returned, or `out` has the
    /// wrong length.
    pub fn frame_into(&mut self, i: usize, out: &mut [f32]) {
        let r = self.ranges[i].clone();
        debug_assert!(r.len() <= CLIP_SAMPLES);
        self.logmel.compute_into(&self.y[r], out);
    }

    /// All frames of the song opened last, concatenated.
    fn features(&mut self) -> SongFeatures {
        let frames = self.ranges.len();
        let mut logmels = vec![0f32; FRAME_VALUES * frames];
        for (i, out) in logmels.chunks_mut(FRAME_VALUES).enumerate() {
            self.frame_into(i, out);
        }
        SongFeatures { logmels, frames }
    }

    /// Decode, resample and cut into frames; log-mel of every frame.
    pub fn file(&mut self, path: &Path) -> Result<SongFeatures> {
        self.file_with(path, |_| {})
    }

    /// [`FrontEnd::file`] with a hook: `edit` may change the 12 kHz signal before the frames'
    /// log-mels are taken (training's augmentation adds noise there).
    pub fn file_with(
        &mut self,
        path: &Path,
        edit: impl FnOnce(&mut [f32]),
    ) -> Result<SongFeatures> {
        self.open(path)?;
        edit(&mut self.y);
        Ok(self.features())
    }

    /// [`FrontEnd::file`] for audio already decoded.
    pub fn audio(&mut self, audio: &Audio) -> Result<SongFeatures> {
        self.open_audio(audio)?;
        Ok(self.features())
    }

    /// Log-mels of the frames of a 12 kHz signal.
    pub fn at_12k(&mut self, y: &[f32]) -> SongFeatures {
        self.open_12k(y);
        self.features()
    }
}

impl Analyzer {
    /// An analyser of `model` with the paper's framing and [`DEFAULT_BATCH`] frames per
    /// forward pass. [`ResamplerKind::Reference`] reproduces the published inputs;
    /// [`ResamplerKind::Fast`] is faster (the plugin's; its drift is measured in
    /// `docs/verification.md`).
    pub fn new(model: Model, resampler: ResamplerKind) -> Self {
        Self {
            front: FrontEnd::new(resampler, FramingConfig::default()),
            model,
            batch: DEFAULT_BATCH,
        }
    }

    /// Frames per forward pass (≥ 1).
    pub fn with_batch(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// The model it runs (its labels name the scores' classes).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Resample and cut into frames; log-mel of every frame.
    pub fn features(&mut self, audio: &Audio) -> Result<SongFeatures> {
        self.front.audio(audio)
    }

    /// Log-mels of the frames of a 12 kHz signal.
    pub fn features_12k(&mut self, y: &[f32]) -> SongFeatures {
        self.front.at_12k(y)
    }

    /// Scores of every frame and the song-level decision for decoded audio.
    pub fn analyze_audio(&mut self, audio: &Audio) -> Result<SongScores> {
        let feats = self.features(audio)?;
        score(&self.model, &feats, self.batch)
    }

    /// Analyse many files, reporting each result to `done` in input order. This runs the
    /// [`parallel`] pipeline (front-end workers on every thread of rayon's pool, frames of
    /// several files in one batch) and puts its results back in order; songs finish out of
    /// order, so a result may wait for an earlier, longer song.
    pub fn analyze_files(
        &mut self,
        paths: &[impl AsRef<Path> + Sync],
        mut done: impl FnMut(usize, Result<SongScores>),
    ) {
        let config = PipelineConfig {
            resampler: self.front.resampler.kind(),
            framing: self.front.framing,
            batch: self.batch,
            ..PipelineConfig::for_device(self.model.device())
        };
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0;
        let never = std::sync::atomic::AtomicBool::new(false);
        Pipeline::new(&self.model, config).run(paths, &never, |i, r| {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&next) {
                done(next, r);
                next += 1;
            }
        });
    }

    /// Decode a file and analyse it.
    pub fn analyze_file(&mut self, path: &Path) -> Result<SongScores> {
        let feats = self.front.file(path)?;
        score(&self.model, &feats, self.batch)
    }
}

/// Network scores of every frame and the song-level decision.
fn score(model: &Model, feats: &SongFeatures, batch: usize) -> Result<SongScores> {
    let frames = model.predict(&feats.logmels, batch)?;
    song_scores(frames, model)
}

/// The song decision of a song's frame scores; a song with no frame scores (an empty
/// feature matrix, or a model with no outputs) is an error, never a made-up result.
pub(crate) fn song_scores(frames: Vec<Vec<f32>>, model: &Model) -> Result<SongScores> {
    let n = frames.len();
    SongScores::from_frames(frames)
        .filter(|s| !s.mean.is_empty())
        .ok_or_else(|| Error::NoScores {
            model: model.name().to_string(),
            frames: n,
        })
}

//! File → genre: the stages of `mgr-core` strung together with reusable state.

use std::path::Path;

use crate::aggregate::{frame_ranges, SongScores};
use crate::audio::{Audio, Decoder};
use crate::config::{FramingConfig, CLIP_SAMPLES, N_FRAMES, N_MELS};
use crate::error::Result;
use crate::mel::LogMel;
use crate::model::Model;
use crate::resample::{Resampler, ResamplerKind};

/// Frames per forward pass: enough to amortise per-call overhead, small enough for memory
/// (CRNN block-1 activations are ≈ 8.8 MB per frame).
pub const DEFAULT_BATCH: usize = 8;

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
    pub logmels: Vec<f32>,
    pub frames: usize,
}

/// File → log-mels of every frame: decode, resample to 12 kHz, cut into frames, log-mel.
/// Keeps its buffers (file bytes, samples, 12 kHz signal, FFT plan) from file to file.
pub struct FrontEnd {
    decoder: Decoder,
    resampler: Resampler,
    logmel: LogMel,
    framing: FramingConfig,
    /// The current file at 12 kHz.
    y: Vec<f32>,
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
    pub fn new(resampler: ResamplerKind, framing: FramingConfig) -> Self {
        Self {
            decoder: Decoder::new(),
            resampler: Resampler::new(resampler),
            logmel: LogMel::new(),
            framing,
            y: Vec::new(),
        }
    }

    /// Decode, resample and cut into frames; log-mel of every frame.
    pub fn file(&mut self, path: &Path) -> Result<SongFeatures> {
        // The decoder's buffer is borrowed while the other fields work on it.
        let mut decoder = std::mem::take(&mut self.decoder);
        let result = decoder.decode(path).and_then(|audio| self.audio(audio));
        self.decoder = decoder;
        result
    }

    /// [`FrontEnd::file`] for audio already decoded.
    pub fn audio(&mut self, audio: &Audio) -> Result<SongFeatures> {
        self.resampler
            .to_12k_into(audio.samples(), audio.sample_rate(), &mut self.y)?;
        Ok(features_of(&mut self.logmel, &self.framing, &self.y))
    }

    /// Log-mels of the frames of a 12 kHz signal.
    pub fn at_12k(&mut self, y: &[f32]) -> SongFeatures {
        features_of(&mut self.logmel, &self.framing, y)
    }
}

impl Analyzer {
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

    /// Analyse many files, reporting each result to `done` in order. The front-end of the
    /// next file (decode, resample, log-mel: single-threaded) runs while the network works on
    /// the current one, so a second core is not left idle during the front-end.
    pub fn analyze_files(
        &mut self,
        paths: &[impl AsRef<Path> + Sync],
        mut done: impl FnMut(usize, Result<SongScores>),
    ) {
        let Self {
            front,
            model,
            batch,
        } = self;
        let Some(first) = paths.first() else {
            return;
        };
        let mut next = Some(front.file(first.as_ref()));
        for i in 0..paths.len() {
            let current = next.take();
            let (result, upcoming) = rayon::join(
                || current.map(|f| f.and_then(|f| score(model, &f, *batch))),
                || paths.get(i + 1).map(|p| front.file(p.as_ref())),
            );
            next = upcoming;
            if let Some(result) = result {
                done(i, result);
            }
        }
    }

    /// Decode a file and analyse it.
    pub fn analyze_file(&mut self, path: &Path) -> Result<SongScores> {
        let feats = self.front.file(path)?;
        score(&self.model, &feats, self.batch)
    }
}

fn features_of(logmel: &mut LogMel, framing: &FramingConfig, y: &[f32]) -> SongFeatures {
    let ranges = frame_ranges(y.len(), framing);
    let per = N_MELS * N_FRAMES;
    let mut logmels = vec![0f32; per * ranges.len()];
    for (r, out) in ranges.iter().zip(logmels.chunks_mut(per)) {
        debug_assert!(r.len() <= CLIP_SAMPLES);
        logmel.compute_into(&y[r.clone()], out);
    }
    SongFeatures {
        frames: ranges.len(),
        logmels,
    }
}

/// Network scores of every frame and the song-level decision.
fn score(model: &Model, feats: &SongFeatures, batch: usize) -> Result<SongScores> {
    let frames = model.predict(&feats.logmels, batch)?;
    // frame_ranges always yields at least one frame for non-empty audio.
    Ok(SongScores::from_frames(frames).unwrap_or(SongScores {
        frames: vec![],
        mean: vec![0.0; model.labels().len()],
        votes: vec![0; model.labels().len()],
    }))
}

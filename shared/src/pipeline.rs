//! File → genre: the stages of `mgr-core` strung together with reusable state.

use std::path::Path;

use crate::aggregate::{frame_ranges, SongScores};
use crate::audio::{decode_file, Audio};
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
    resampler: Resampler,
    logmel: LogMel,
    model: Model,
    framing: FramingConfig,
    batch: usize,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("resampler", &self.resampler)
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

impl Analyzer {
    pub fn new(model: Model, resampler: ResamplerKind) -> Self {
        Self {
            resampler: Resampler::new(resampler),
            logmel: LogMel::new(),
            model,
            framing: FramingConfig::default(),
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

    /// Decode, resample and cut into frames; log-mel of every frame.
    pub fn features(&mut self, audio: &Audio) -> Result<SongFeatures> {
        let y = self.resampler.to_12k(&audio.samples, audio.sample_rate)?;
        Ok(self.features_12k(&y))
    }

    /// Log-mels of the frames of a 12 kHz signal.
    pub fn features_12k(&mut self, y: &[f32]) -> SongFeatures {
        let ranges = frame_ranges(y.len(), &self.framing);
        let per = N_MELS * N_FRAMES;
        let mut logmels = vec![0f32; per * ranges.len()];
        for (r, out) in ranges.iter().zip(logmels.chunks_mut(per)) {
            debug_assert!(r.len() <= CLIP_SAMPLES);
            self.logmel.compute_into(&y[r.clone()], out);
        }
        SongFeatures {
            frames: ranges.len(),
            logmels,
        }
    }

    /// Scores of every frame and the song-level decision for decoded audio.
    pub fn analyze_audio(&mut self, audio: &Audio) -> Result<SongScores> {
        let feats = self.features(audio)?;
        let frames = self.model.predict(&feats.logmels, self.batch)?;
        // frame_ranges always yields at least one frame for non-empty audio.
        Ok(SongScores::from_frames(frames).unwrap_or(SongScores {
            frames: vec![],
            mean: vec![0.0; self.model.labels().len()],
            votes: vec![0; self.model.labels().len()],
        }))
    }

    /// Decode a file and analyse it.
    pub fn analyze_file(&mut self, path: &Path) -> Result<SongScores> {
        let audio = decode_file(path)?;
        self.analyze_audio(&audio)
    }
}

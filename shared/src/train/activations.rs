//! Running the frozen part of a network once per clip (and augmentation) and caching what the
//! trainable part needs, so each training epoch only runs the small top (issue 5: "cache the
//! frozen part's activations once per clip").
//!
//! Per 29.12 s frame we keep: the CRNN's conv sequence `[15, 128]` (input of `gru1`), the
//! penultimate features (CRNN `gru2` 32-d, FCN 256-d), the global average of every conv
//! block's output (Choi et al. 2017's "convnet feature"), the network's logits and output
//! scores, and the MFCC descriptor of the same frame for the baseline.

use std::path::{Path, PathBuf};

use super::TrainError;
use crate::config::{FramingConfig, N_FRAMES, N_MELS};
use crate::model::net::head::Taps;
use crate::model::{Architecture, CandleTensor, Model};
use crate::pipeline::FrontEnd;
use crate::resample::ResamplerKind;
use crate::rng::Rng;

/// What one frame leaves behind.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameActs {
    /// CRNN conv output `[15 × 128]` row-major (step-major); empty for the FCN.
    pub seq: Vec<f32>,
    /// Penultimate features (CRNN 32, FCN 256).
    pub features: Vec<f32>,
    /// Mean over (mel, time) of each conv block's output channels, blocks concatenated
    /// (CRNN 64 + 3 × 128 = 448, FCN 32 + 128 + 128 + 192 + 256 = 736).
    pub pooled: Vec<f32>,
    /// The output layer's pre-activation values.
    pub logits: Vec<f32>,
    /// Output scores of the network as loaded.
    pub probs: Vec<f32>,
    /// [`crate::mfcc::descriptor`] of the frame's log-mel.
    pub mfcc: Vec<f32>,
}

/// All frames of one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipActs {
    /// One entry per 29.12 s frame, in time order.
    pub frames: Vec<FrameActs>,
}

/// Random transformations for `--augment` (all drawn from the seeded [`Rng`]):
///
/// * additive white noise on the 12 kHz signal at an SNR drawn from `noise_snr_db`;
/// * time stretch: the log-mel resampled along time by a factor in `1 ± stretch` (linear
///   interpolation; the tail is filled with the clip's floor value) — tempo changes by the same
///   factor, pitch stays;
/// * pitch shift: the log-mel shifted by an integer number of mel bands in `±pitch_bands`
///   (one band ≈ 1/3–1 semitone above 1 kHz on this scale; an approximation of a pitch shift
///   that keeps the network's input size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    /// Range (low, high) of the noise's signal-to-noise ratio in dB, drawn uniformly
    /// (default 20–40 dB).
    pub noise_snr_db: (f32, f32),
    /// Largest relative time stretch (default 0.1: factors 0.9–1.1).
    pub stretch: f32,
    /// Largest shift in mel bands, either way (default 2).
    pub pitch_bands: usize,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            noise_snr_db: (20.0, 40.0),
            stretch: 0.1,
            pitch_bands: 2,
        }
    }
}

impl Augment {
    /// Add noise to a 12 kHz signal in place.
    pub fn noise(&self, y: &mut [f32], rng: &mut Rng) {
        let rms = (y.iter().map(|v| v * v).sum::<f32>() / y.len().max(1) as f32).sqrt();
        let snr = rng.range(self.noise_snr_db.0, self.noise_snr_db.1);
        let sigma = rms * 10f32.powf(-snr / 20.0);
        for v in y {
            *v += sigma * rng.normal();
        }
    }

    /// Time-stretch and pitch-shift one row-major `[96, 1366]` log-mel in place.
    pub fn logmel(&self, lm: &mut [f32], rng: &mut Rng) {
        let factor = rng.range(1.0 - self.stretch, 1.0 + self.stretch);
        let shift = rng.below(2 * self.pitch_bands + 1) as isize - self.pitch_bands as isize;
        let floor = lm.iter().copied().fold(f32::INFINITY, f32::min);
        let src = lm.to_vec();
        for m in 0..N_MELS {
            let sm = (m as isize - shift).clamp(0, N_MELS as isize - 1) as usize;
            let row = &src[sm * N_FRAMES..(sm + 1) * N_FRAMES];
            for t in 0..N_FRAMES {
                let pos = t as f32 * factor;
                let i = pos.floor() as usize;
                lm[m * N_FRAMES + t] = if i + 1 < N_FRAMES {
                    let f = pos - i as f32;
                    row[i] * (1.0 - f) + row[i + 1] * f
                } else {
                    floor
                };
            }
        }
    }
}

/// Runs a model over clips and collects [`ClipActs`]: the same [`FrontEnd`] as `classify`
/// (decode, resample, frames, log-mel), with the augmentation applied between its stages.
pub struct Extractor<'m> {
    model: &'m Model,
    front: FrontEnd,
    batch: usize,
}

impl std::fmt::Debug for Extractor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Extractor")
            .field("model", self.model)
            .field("front", &self.front)
            .finish()
    }
}

impl<'m> Extractor<'m> {
    /// Run `model` with `resampler` and forward passes of `batch` frames.
    pub fn new(model: &'m Model, resampler: ResamplerKind, batch: usize) -> Self {
        Self {
            model,
            front: FrontEnd::new(resampler, FramingConfig::default()),
            batch: batch.max(1),
        }
    }

    /// The network this runs.
    pub fn model(&self) -> &Model {
        self.model
    }

    /// Decode a file and run it; `augment` = (seed, settings) for an augmented copy: noise on
    /// the 12 kHz signal before the frames are cut, then each frame's log-mel stretched and
    /// shifted, all drawn from one generator seeded by `seed`.
    pub fn extract(
        &mut self,
        path: &Path,
        augment: Option<(u64, &Augment)>,
    ) -> Result<ClipActs, TrainError> {
        let mut rng = augment.map(|(seed, _)| Rng::new(seed));
        let mut feats = self.front.file_with(path, |y| {
            if let (Some((_, aug)), Some(rng)) = (augment, rng.as_mut()) {
                aug.noise(y, rng);
            }
        })?;
        let per = N_MELS * N_FRAMES;
        if let (Some((_, aug)), Some(rng)) = (augment, rng.as_mut()) {
            for lm in feats.logmels.chunks_mut(per) {
                aug.logmel(lm, rng);
            }
        }
        let mut frames = Vec::with_capacity(feats.frames);
        for chunk in feats.logmels.chunks(per * self.batch) {
            frames.extend(self.run(chunk)?);
        }
        Ok(ClipActs { frames })
    }

    /// Run a batch of concatenated log-mels through the network, tapping what we keep.
    fn run(&self, logmels: &[f32]) -> Result<Vec<FrameActs>, TrainError> {
        let model = self.model;
        let x = model.input_tensor(logmels)?;
        let n = x.dim(0).map_err(crate::Error::from)?;
        let crnn = model.architecture() == Architecture::Crnn;
        let mut seq: Option<CandleTensor> = None;
        let mut taps = Taps::default();
        let probs = model.forward_traced(&x, &mut |name, t| {
            taps.observe(name, t);
            if name == "block4" && crnn {
                seq = Some(t.clone());
            }
        })?;
        let (feat, logits) = (taps.features.take(), taps.logits.take());
        let pooled = taps.pooled()?;
        let rows = |t: &CandleTensor| -> Result<Vec<Vec<f32>>, crate::Error> {
            Ok(t.flatten_from(1)?
                .to_device(&candle_core::Device::Cpu)?
                .to_vec2::<f32>()?)
        };
        let seq_rows = match seq {
            // [n, 128, 1, 15] → [n, 15, 128]: the sequence the GRU reads.
            Some(t) => rows(&t.squeeze(2)?.transpose(1, 2)?.contiguous()?)?,
            None => vec![Vec::new(); n],
        };
        let feat_rows = match feat {
            Some(t) => rows(&t)?,
            None => vec![Vec::new(); n],
        };
        let logit_rows = match logits {
            Some(t) => rows(&t)?,
            None => vec![Vec::new(); n],
        };
        let pooled_rows = match pooled {
            Some(t) => rows(&t)?,
            None => vec![Vec::new(); n],
        };
        let prob_rows = rows(&probs)?;
        let per = N_MELS * N_FRAMES;
        Ok((0..n)
            .map(|i| FrameActs {
                seq: seq_rows[i].clone(),
                features: feat_rows[i].clone(),
                pooled: pooled_rows[i].clone(),
                logits: logit_rows[i].clone(),
                probs: prob_rows[i].clone(),
                mfcc: crate::mfcc::descriptor(&logmels[i * per..(i + 1) * per]),
            })
            .collect())
    }
}

/// A folder of cached [`ClipActs`], one small binary file per (model, clip, augmentation).
#[derive(Debug, Clone)]
pub struct ActivationCache {
    dir: Option<PathBuf>,
}

const MAGIC: &[u8; 8] = b"MGRACT02";

/// Version of everything between a file and its cached activations (decoders, resamplers,
/// log-mel, network kernels, what a [`FrameActs`] holds). Part of every cache key: raise it
/// whenever a change can move a cached number, so that no run reads activations computed by
/// older code.
pub const PIPELINE_VERSION: u32 = 3;

impl ActivationCache {
    /// `None` = no caching.
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self { dir }
    }

    /// The cache key of a clip: pipeline version, model identity, file identity (path, size,
    /// mtime), resampler, augmentation seed.
    pub fn key(model_id: &str, path: &Path, resampler: ResamplerKind, aug: Option<u64>) -> String {
        let meta = std::fs::metadata(path).ok();
        let size = meta.as_ref().map_or(0, |m| m.len());
        let mtime = meta
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        format!(
            "v{PIPELINE_VERSION}|{model_id}|{}|{size}|{mtime}|{resampler:?}|{aug:?}",
            path.display()
        )
    }

    fn file(&self, key: &str) -> Option<PathBuf> {
        // Stable across runs and platforms (std's hasher is not).
        let h = crate::hash::fnv1a(0, key.bytes());
        self.dir.as_ref().map(|d| d.join(format!("{h:016x}.bin")))
    }

    /// The cached value, if present and intact.
    pub fn get(&self, key: &str) -> Option<ClipActs> {
        let bytes = std::fs::read(self.file(key)?).ok()?;
        decode(&bytes, key)
    }

    /// Store a value (atomically; failures only cost a recomputation later).
    pub fn put(&self, key: &str, acts: &ClipActs) {
        let Some(file) = self.file(key) else { return };
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(key.len() as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(&(acts.frames.len() as u32).to_le_bytes());
        for f in &acts.frames {
            for v in [&f.seq, &f.features, &f.pooled, &f.logits, &f.probs, &f.mfcc] {
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                for x in v.iter() {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = file.with_extension("tmp");
        if std::fs::write(&tmp, &out).is_ok() {
            let _ = std::fs::rename(&tmp, &file);
        }
    }
}

/// Reads little-endian fields from a byte slice; `None` past the end.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.bytes.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    fn u32(&mut self) -> Option<usize> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }

    fn f32s(&mut self) -> Option<Vec<f32>> {
        let n = self.u32()?;
        let raw = self.take(n.checked_mul(4)?)?;
        Some(
            raw.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        )
    }
}

fn decode(bytes: &[u8], key: &str) -> Option<ClipActs> {
    let mut c = Cursor { bytes, pos: 0 };
    if c.take(8)? != MAGIC {
        return None;
    }
    let klen = c.u32()?;
    if c.take(klen)? != key.as_bytes() {
        return None; // hash collision: treat as a miss
    }
    let n = c.u32()?;
    let mut frames = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        frames.push(FrameActs {
            seq: c.f32s()?,
            features: c.f32s()?,
            pooled: c.f32s()?,
            logits: c.f32s()?,
            probs: c.f32s()?,
            mfcc: c.f32s()?,
        });
    }
    (c.pos == bytes.len()).then_some(ClipActs { frames })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_key_check() {
        let dir = std::env::temp_dir().join(format!("mgr-cache-{}", std::process::id()));
        let cache = ActivationCache::new(Some(dir.clone()));
        let acts = ClipActs {
            frames: vec![
                FrameActs {
                    seq: vec![1.0, 2.0],
                    features: vec![3.0],
                    pooled: vec![0.5; 4],
                    logits: vec![-1.0, 1.0],
                    probs: vec![0.25, 0.75],
                    mfcc: vec![-1.5; 3],
                },
                FrameActs {
                    seq: vec![],
                    features: vec![4.0],
                    pooled: vec![],
                    logits: vec![0.0, 0.0],
                    probs: vec![0.5, 0.5],
                    mfcc: vec![],
                },
            ],
        };
        assert!(cache.get("k").is_none());
        cache.put("k", &acts);
        assert_eq!(cache.get("k"), Some(acts));
        assert!(cache.get("other").is_none());
        // A truncated file is a miss, not a panic.
        let f = cache.file("k").unwrap();
        let bytes = std::fs::read(&f).unwrap();
        std::fs::write(&f, &bytes[..bytes.len() - 3]).unwrap();
        assert!(cache.get("k").is_none());
        assert!(ActivationCache::new(None).get("k").is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn augmentations_are_seeded_and_bounded() {
        let aug = Augment::default();
        let mut lm: Vec<f32> = (0..N_MELS * N_FRAMES)
            .map(|i| (i % 97) as f32 - 60.0)
            .collect();
        let orig = lm.clone();
        let mut a = lm.clone();
        aug.logmel(&mut lm, &mut Rng::new(3));
        aug.logmel(&mut a, &mut Rng::new(3));
        assert_eq!(lm, a, "same seed, same result");
        assert_ne!(lm, orig);
        let (lo, hi) = (-60.0, 36.0);
        assert!(
            lm.iter().all(|v| (lo..=hi).contains(v)),
            "interpolation stays in range"
        );
        let mut y: Vec<f32> = (0..12_000).map(|i| (i as f32 * 0.05).sin()).collect();
        let clean = y.clone();
        aug.noise(&mut y, &mut Rng::new(1));
        let noise: f32 = y.iter().zip(&clean).map(|(a, b)| (a - b).powi(2)).sum();
        let signal: f32 = clean.iter().map(|v| v * v).sum();
        let snr = 10.0 * (signal / noise).log10();
        assert!((19.0..41.0).contains(&snr), "{snr}");
    }

    /// The kept activations of a real clip: the pooled block means are the means of the
    /// network's own block outputs, the logits give the scores, the sequence is block 4.
    #[test]
    fn extracted_frames_hold_pooled_blocks_logits_and_scores() {
        let pack = std::env::var_os("MGR_SHARED").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
            PathBuf::from,
        );
        let clip = pack.join("data/gtzan-mini/genres/blues/blues.00000.flac");
        let model = crate::model::Builtin::Gtzan
            .load(&candle_core::Device::Cpu)
            .unwrap();
        let mut ex = Extractor::new(&model, ResamplerKind::Fast, 1);
        let acts = ex.extract(&clip, None).unwrap();
        assert_eq!(acts.frames.len(), 1);
        let f = &acts.frames[0];
        assert_eq!(
            (
                f.seq.len(),
                f.features.len(),
                f.pooled.len(),
                f.logits.len()
            ),
            (15 * 128, 32, 64 + 3 * 128, 10)
        );
        for (z, p) in f.logits.iter().zip(&f.probs) {
            assert!((1.0 / (1.0 + (-z).exp()) - p).abs() < 1e-6, "{z} {p}");
        }
        // Block 4 is [128, 1, 15]: its channel means are the means of the sequence's columns.
        for c in 0..128 {
            let mean = (0..15).map(|t| f.seq[t * 128 + c]).sum::<f32>() / 15.0;
            let got = f.pooled[64 + 2 * 128 + c];
            assert!(
                (mean - got).abs() <= 1e-5 * mean.abs().max(1.0),
                "{c}: {mean} {got}"
            );
        }
    }
}

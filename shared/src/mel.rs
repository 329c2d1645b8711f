//! Log-mel front-end: STFT (periodic Hann 512, hop 256, reflect padding) → power →
//! 96 Slaney mel bands (0–6 kHz) → squared again → `10·log10(max(1e-10, ·))` → clip at max − 80 dB.
//!
//! Every step follows `reference/README.md` ("The canonical front-end", steps 5–8). The filter
//! bank is computed here (not loaded) and tested against `frontend_mel_filterbank.npy`.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use crate::config::{
    AMIN, CLIP_SAMPLES, HOP, N_BINS, N_FFT, N_FRAMES, N_MELS, SAMPLE_RATE, TOP_DB,
};

/// Slaney (Auditory Toolbox) Hz → mel: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
pub fn hz_to_mel(f: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if f >= MIN_LOG_HZ {
        min_log_mel + (f / MIN_LOG_HZ).ln() / logstep
    } else {
        f / F_SP
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(m: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if m >= min_log_mel {
        MIN_LOG_HZ * (logstep * (m - min_log_mel)).exp()
    } else {
        F_SP * m
    }
}

/// The dense 96 × 257 Slaney-normalised mel filter bank (row = band, column = FFT bin),
/// identical to librosa `filters.mel(sr=12000, n_fft=512, n_mels=96)` (htk=False, norm='slaney').
pub fn mel_filterbank() -> Vec<[f32; N_BINS]> {
    let fmax = f64::from(SAMPLE_RATE) / 2.0;
    let (mel_lo, mel_hi) = (hz_to_mel(0.0), hz_to_mel(fmax));
    let edges: Vec<f64> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(mel_lo + (mel_hi - mel_lo) * i as f64 / (N_MELS + 1) as f64))
        .collect();
    (0..N_MELS)
        .map(|m| {
            let (lo, mid, hi) = (edges[m], edges[m + 1], edges[m + 2]);
            let norm = 2.0 / (hi - lo);
            let mut row = [0f32; N_BINS];
            for (k, w) in row.iter_mut().enumerate() {
                let f = k as f64 * f64::from(SAMPLE_RATE) / N_FFT as f64;
                let rising = (f - lo) / (mid - lo);
                let falling = (hi - f) / (hi - mid);
                *w = (norm * rising.min(falling).max(0.0)) as f32;
            }
            row
        })
        .collect()
}

/// One mel band stored sparsely: the first non-zero bin and the weights from there.
#[derive(Debug, Clone)]
struct Band {
    start: usize,
    weights: Vec<f32>,
}

/// Computes `[96, 1366]` log-mel spectrograms of 29.12 s clips at 12 kHz.
///
/// Holds the FFT plan, window, filter bank and scratch buffers, so repeated calls allocate
/// nothing when used through [`LogMel::compute_into`].
pub struct LogMel {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    bands: Vec<Band>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    power: Vec<f32>,
}

impl std::fmt::Debug for LogMel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogMel").finish_non_exhaustive()
    }
}

impl Default for LogMel {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMel {
    /// Plan the FFT and build the filter bank (allocates; do it once).
    pub fn new() -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(N_FFT);
        // Periodic Hann: 0.5 − 0.5·cos(2πn/N), n = 0..N−1.
        let window = (0..N_FFT)
            .map(|n| {
                (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / N_FFT as f64).cos()) as f32
            })
            .collect();
        let bands = mel_filterbank()
            .iter()
            .map(|row| {
                let start = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let end = row.iter().rposition(|&w| w != 0.0).map_or(start, |e| e + 1);
                Band {
                    start,
                    weights: row[start..end].to_vec(),
                }
            })
            .collect();
        let frame = fft.make_input_vec();
        let spectrum = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Self {
            fft,
            window,
            bands,
            frame,
            spectrum,
            scratch,
            power: vec![0.0; N_BINS],
        }
    }

    /// Log-mel of one clip of exactly [`CLIP_SAMPLES`] samples at 12 kHz, as a row-major
    /// `[96, 1366]` vector (row = mel band, low to high; column = frame).
    pub fn compute(&mut self, clip: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; N_MELS * N_FRAMES];
        self.compute_into(clip, &mut out);
        out
    }

    /// Non-allocating form of [`LogMel::compute`]. `clip` shorter than [`CLIP_SAMPLES`] is
    /// treated as zero-padded at the end; longer is truncated. `out` must hold 96 × 1366 values.
    pub fn compute_into(&mut self, clip: &[f32], out: &mut [f32]) {
        assert_eq!(out.len(), N_MELS * N_FRAMES, "log-mel output buffer size");
        let n = CLIP_SAMPLES;
        let pad = N_FFT / 2;
        let sample = |i: usize| clip.get(i).copied().unwrap_or(0.0);
        // Reflect padding without repeating the edge sample: index p of the padded signal.
        let padded = |p: usize| -> f32 {
            if p < pad {
                sample(pad - p)
            } else if p - pad < n {
                sample(p - pad)
            } else {
                sample(2 * (n - 1) - (p - pad))
            }
        };
        for t in 0..N_FRAMES {
            let start = t * HOP;
            if start >= pad && start + N_FFT <= n + pad {
                let base = start - pad;
                for (i, (f, w)) in self.frame.iter_mut().zip(&self.window).enumerate() {
                    *f = sample(base + i) * w;
                }
            } else {
                for (i, (f, w)) in self.frame.iter_mut().zip(&self.window).enumerate() {
                    *f = padded(start + i) * w;
                }
            }
            // Lengths are fixed by construction, so the FFT cannot fail.
            let _ = self.fft.process_with_scratch(
                &mut self.frame,
                &mut self.spectrum,
                &mut self.scratch,
            );
            for (p, c) in self.power.iter_mut().zip(&self.spectrum) {
                *p = c.re * c.re + c.im * c.im;
            }
            for (m, band) in self.bands.iter().enumerate() {
                let bins = &self.power[band.start..band.start + band.weights.len()];
                let mel: f32 = bins.iter().zip(&band.weights).map(|(p, w)| p * w).sum();
                // The original preprocessing squares the mel power once more (step 7).
                let s = mel * mel;
                out[m * N_FRAMES + t] = 10.0 * s.max(AMIN).log10();
            }
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - TOP_DB;
        for v in out.iter_mut() {
            *v = v.max(floor);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips() {
        for f in [0.0, 440.0, 999.0, 1000.0, 3000.0, 6000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9, "{f}");
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn silence_is_finite_and_flat() {
        let mut lm = LogMel::new();
        let out = lm.compute(&[]);
        assert!(out.iter().all(|v| *v == -100.0));
    }

    #[test]
    fn a_tone_lands_in_its_band() {
        // 1 kHz is mel 15 → band index ≈ 15 / (mel(6000)/97) − 1.
        let clip: Vec<f32> = (0..CLIP_SAMPLES)
            .map(|i| (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / 12_000.0).sin() as f32)
            .collect();
        let mut lm = LogMel::new();
        let out = lm.compute(&clip);
        let col = 600;
        let loudest = (0..N_MELS)
            .max_by(|&a, &b| out[a * N_FRAMES + col].total_cmp(&out[b * N_FRAMES + col]))
            .unwrap();
        let mel_step = hz_to_mel(6000.0) / 97.0;
        let expected = (15.0 / mel_step).round() as usize - 1;
        assert!(loudest.abs_diff(expected) <= 1, "{loudest} vs {expected}");
    }
}

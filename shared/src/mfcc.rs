//! MFCC statistics for the baseline of the literature (e.g. Tzanetakis & Cook 2002 used
//! MFCC means and variances with GMM / kNN classifiers; ≈ 60 % on GTZAN).
//!
//! Computed from the network's own log-mel (`mel` module) so the baseline sees exactly the same
//! 29.12 s frame: that log-mel is `10·log10(mel_power²)`, so halving it gives the dB of the mel
//! power; a DCT-II (orthonormal) over the 96 bands gives the cepstrum, of which the first
//! [`N_MFCC`] coefficients are kept. Δ is the usual regression over ±2 frames. The clip
//! descriptor is mean and standard deviation over time of the MFCCs and their Δ.

use crate::config::{N_FRAMES, N_MELS};

/// Cepstral coefficients kept (20, as in common MFCC baselines).
pub const N_MFCC: usize = 20;
/// Length of the descriptor: mean and std of MFCC and ΔMFCC.
pub const DIM: usize = 4 * N_MFCC;
/// Half-width of the Δ regression window (frames).
const DELTA_N: usize = 2;

/// Orthonormal DCT-II basis `[N_MFCC][N_MELS]`.
fn dct_basis() -> Vec<[f32; N_MELS]> {
    (0..N_MFCC)
        .map(|k| {
            let scale = if k == 0 {
                (1.0 / N_MELS as f64).sqrt()
            } else {
                (2.0 / N_MELS as f64).sqrt()
            };
            let mut row = [0f32; N_MELS];
            for (m, r) in row.iter_mut().enumerate() {
                let a = std::f64::consts::PI * k as f64 * (m as f64 + 0.5) / N_MELS as f64;
                *r = (scale * a.cos()) as f32;
            }
            row
        })
        .collect()
}

/// MFCC-statistics descriptor of one row-major `[96, 1366]` log-mel.
pub fn descriptor(logmel: &[f32]) -> Vec<f32> {
    let basis = dct_basis();
    let t_len = N_FRAMES.min(logmel.len() / N_MELS);
    // c[k][t]
    let mut c = vec![vec![0f32; t_len]; N_MFCC];
    for (k, b) in basis.iter().enumerate() {
        for t in 0..t_len {
            let mut acc = 0f32;
            for (m, w) in b.iter().enumerate() {
                acc += w * 0.5 * logmel[m * N_FRAMES + t];
            }
            c[k][t] = acc;
        }
    }
    let denom: f32 = 2.0 * (1..=DELTA_N).map(|n| (n * n) as f32).sum::<f32>();
    let mut out = Vec::with_capacity(DIM);
    let mut deltas = Vec::with_capacity(N_MFCC);
    for ck in &c {
        let d: Vec<f32> = (0..t_len)
            .map(|t| {
                (1..=DELTA_N)
                    .map(|n| {
                        let ahead = ck[(t + n).min(t_len - 1)];
                        let behind = ck[t.saturating_sub(n)];
                        n as f32 * (ahead - behind)
                    })
                    .sum::<f32>()
                    / denom
            })
            .collect();
        deltas.push(d);
    }
    for series in c.iter().chain(&deltas) {
        // f64 accumulation: 1366 f32 terms would leave a visible rounding "variance".
        let n = series.len().max(1) as f64;
        let mean = series.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = series
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        out.push(mean as f32);
        out.push(var.sqrt() as f32);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_spectrum_has_only_c0_and_no_motion() {
        let lm = vec![-20f32; N_MELS * N_FRAMES];
        let d = descriptor(&lm);
        assert_eq!(d.len(), DIM);
        // c0 = sqrt(96) · (−10): orthonormal DCT of a constant −10 dB.
        assert!(
            (d[0] - (-10.0 * (N_MELS as f32).sqrt())).abs() < 1e-2,
            "{}",
            d[0]
        );
        assert!(d[1].abs() < 1e-4, "no variation over time");
        assert!(d[2..].iter().all(|v| v.abs() < 1e-3), "{:?}", &d[2..8]);
    }

    #[test]
    fn a_ramp_in_time_shows_in_delta_c0() {
        // Every band rises 0.02 dB per frame (log-mel units are 2× dB of mel power).
        let mut lm = vec![0f32; N_MELS * N_FRAMES];
        for m in 0..N_MELS {
            for t in 0..N_FRAMES {
                lm[m * N_FRAMES + t] = 0.04 * t as f32;
            }
        }
        let d = descriptor(&lm);
        let mean_delta_c0 = d[2 * N_MFCC];
        // Δ of c0 = sqrt(96) · 0.02 per frame away from the edges.
        assert!(
            (mean_delta_c0 - 0.02 * (N_MELS as f32).sqrt()).abs() < 0.01,
            "{mean_delta_c0}"
        );
    }
}

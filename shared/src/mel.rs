//! Log-mel front-end: STFT (periodic Hann 512, hop 256, reflect padding) → power →
//! 96 Slaney mel bands (0–6 kHz) → squared again → `10·log10(max(1e-10, ·))` → clip at max − 80 dB.
//!
//! Every step follows `reference/README.md` ("The canonical front-end", steps 5–8). The filter
//! bank is computed here (not loaded) and tested against `frontend_mel_filterbank.npy`.

use std::sync::Arc;

use rustfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

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

/// Frames per block: the mel sums and the dB conversion run over this many frames at once
/// (one 16-lane inner loop per filter weight: one AVX-512 vector or two AVX2 vectors), and each
/// band's row of the output is written as one contiguous run of `BLOCK` values instead of one
/// strided value per frame.
const BLOCK: usize = 16;
/// Frame pairs per block (one complex FFT each).
const PAIRS: usize = BLOCK / 2;

/// The signal a log-mel is taken of: its length (where the end reflection of the padding
/// turns) and its number of STFT frames (the output's columns).
#[derive(Debug, Clone, Copy)]
struct Extent {
    len: usize,
    frames: usize,
}

impl Extent {
    /// One network input: 29.12 s, 1366 frames.
    const CLIP: Self = Self {
        len: CLIP_SAMPLES,
        frames: N_FRAMES,
    };

    /// A whole signal of `len` samples.
    fn signal(len: usize) -> Self {
        Self {
            len,
            frames: frames_of(len),
        }
    }
}

/// STFT frames of a whole signal of `len` samples with centred frames every [`HOP`] samples:
/// `1 + len / 256`, librosa's count (1366 for a 29.12 s clip).
pub fn frames_of(len: usize) -> usize {
    1 + len / HOP
}

/// Computes `[96, 1366]` log-mel spectrograms of 29.12 s clips at 12 kHz.
///
/// Holds the FFT plan, window, filter bank and scratch buffers, so repeated calls allocate
/// nothing when used through [`LogMel::compute_into`].
///
/// Two real frames go through one complex 512-point FFT (frame `t` as the real part, frame
/// `t + 1` as the imaginary part) and are separated afterwards by the conjugate symmetry of
/// real spectra: `X[k] = (Z[k] + conj Z[N−k]) / 2`, `Y[k] = (Z[k] − conj Z[N−k]) / 2i`.
pub struct LogMel {
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    bands: Vec<Band>,
    frame_a: Vec<f32>,
    frame_b: Vec<f32>,
    /// FFT input (two windowed frames) and output.
    buf: Vec<Complex<f32>>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Power spectra of one frame pair, `[|X[k]|², |Y[k]|²]` per bin.
    pair: Vec<[f32; 2]>,
    /// Power spectra of one block, bin-major: `power[k][p]` holds frames `2p` and `2p + 1`.
    power: Vec<[[f32; 2]; PAIRS]>,
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
        let fft = FftPlanner::<f32>::new().plan_fft_forward(N_FFT);
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
        let scratch = vec![Complex::default(); fft.get_outofplace_scratch_len()];
        Self {
            fft,
            window,
            bands,
            frame_a: vec![0.0; N_FFT],
            frame_b: vec![0.0; N_FFT],
            buf: vec![Complex::default(); N_FFT],
            spectrum: vec![Complex::default(); N_FFT],
            scratch,
            pair: vec![[0.0; 2]; N_BINS],
            power: vec![[[0.0; 2]; PAIRS]; N_BINS],
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
        let clip = &clip[..clip.len().min(CLIP_SAMPLES)];
        self.compute_extent(clip, Extent::CLIP, out);
    }

    /// Log-mel of a whole 12 kHz signal of any length, row-major `[96, frames_of(len)]`: the
    /// frames librosa's centred STFT takes (reflect padding at the signal's own two ends) and
    /// the 80 dB range below the signal's own maximum. A 29.12 s signal gives exactly
    /// [`LogMel::compute`]'s network input; any other length gives what librosa's
    /// `melspectrogram` + `power_to_db` give with the reference parameters (a signal shorter
    /// than 257 samples has too few samples to reflect: the missing ones are zeros).
    pub fn compute_signal(&mut self, y: &[f32]) -> Vec<f32> {
        let extent = Extent::signal(y.len());
        let mut out = vec![0.0; N_MELS * extent.frames];
        self.compute_extent(y, extent, &mut out);
        out
    }

    /// `clip` (at most `extent.len` samples; zeros up to it) into `out` (`96 × extent.frames`).
    fn compute_extent(&mut self, clip: &[f32], extent: Extent, out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if self.compute_avx2_into(clip, extent, out) {
            return;
        }
        self.compute_portable_into(clip, extent, out);
    }

    /// [`LogMel::compute_into`] through the AVX2 kernels; false (and `out` untouched) where the
    /// CPU lacks AVX2. AVX2 machines take hand-written shuffles for the windowing and power
    /// spectrum (the compiler's own vectorisation of those loops gathers and scatters lane by
    /// lane). The FFT dispatches on its own.
    #[cfg(target_arch = "x86_64")]
    fn compute_avx2_into(&mut self, clip: &[f32], extent: Extent, out: &mut [f32]) -> bool {
        let Some(v3) = pulp::x86::V3::try_new() else {
            return false;
        };
        v3.vectorize(
            #[inline(always)]
            || self.compute_body(v3, clip, extent, out),
        );
        true
    }

    /// [`LogMel::compute_into`] through the portable loops, compiled per instruction set; the
    /// same bits as the AVX2 kernels (element-wise work and per-lane sums in the same order).
    fn compute_portable_into(&mut self, clip: &[f32], extent: Extent, out: &mut [f32]) {
        struct Run<'a> {
            lm: &'a mut LogMel,
            clip: &'a [f32],
            extent: Extent,
            out: &'a mut [f32],
        }
        impl pulp::WithSimd for Run<'_> {
            type Output = ();
            #[inline(always)]
            fn with_simd<S: pulp::Simd>(self, _simd: S) {
                self.lm
                    .compute_body(Portable, self.clip, self.extent, self.out);
            }
        }
        pulp::Arch::new().dispatch(Run {
            lm: self,
            clip,
            extent,
            out,
        });
    }

    #[inline(always)]
    fn compute_body<K: Kernels>(&mut self, k: K, clip: &[f32], extent: Extent, out: &mut [f32]) {
        assert_eq!(
            out.len(),
            N_MELS * extent.frames,
            "log-mel output buffer size"
        );
        let n = extent.len;
        let clip = &clip[..clip.len().min(n)];
        for t0 in (0..extent.frames).step_by(BLOCK) {
            let frames = BLOCK.min(extent.frames - t0);
            for p in 0..frames.div_ceil(2) {
                let f = 2 * p;
                let a = frame(clip, n, t0 + f, &mut self.frame_a);
                let b = if f + 1 < frames {
                    frame(clip, n, t0 + f + 1, &mut self.frame_b)
                } else {
                    self.frame_b.fill(0.0);
                    &self.frame_b
                };
                k.pack_windowed(a, b, &self.window, &mut self.buf);
                // Out of place: the in-place form copies through the scratch buffer.
                self.fft.process_outofplace_with_scratch(
                    &mut self.buf,
                    &mut self.spectrum,
                    &mut self.scratch,
                );
                k.split_power(&self.spectrum, &mut self.pair);
                // Into the block's bin-major layout: one 8-byte store per bin. (Stored from
                // the kernel directly, the compiler narrows its vectors to one bin each.)
                for (row, &v) in self.power.iter_mut().zip(&self.pair) {
                    row[p] = v;
                }
            }
            // A short last block leaves the columns past `frames` stale; they are never
            // written out.
            mel_db_block(
                &self.bands,
                &self.power,
                &mut out[t0..],
                extent.frames,
                frames,
            );
        }
        // Clip at max − 80 dB over the whole clip (step 8).
        // Sixteen running maxima (a vector's worth), not one serial chain.
        let mut lanes = [f32::NEG_INFINITY; 16];
        let mut chunks = out.chunks_exact(16);
        for c in &mut chunks {
            for (m, &v) in lanes.iter_mut().zip(c) {
                *m = m.max(v);
            }
        }
        let max = chunks
            .remainder()
            .iter()
            .chain(&lanes)
            .copied()
            .fold(f32::NEG_INFINITY, f32::max);
        let floor = max - TOP_DB;
        for v in out.iter_mut() {
            *v = v.max(floor);
        }
    }
}

/// The per-frame-pair steps of the front-end, written once portably and once with AVX2
/// shuffles. Both do the same float operations in the same order.
trait Kernels: Copy {
    /// `z[i] = (a[i]·w[i], b[i]·w[i])`: two windowed real frames as one complex input.
    fn pack_windowed(self, a: &[f32], b: &[f32], window: &[f32], z: &mut [Complex<f32>]);

    /// Power spectra `[|X[k]|², |Y[k]|²]` → `out[k]` (k = 0..=256) of the two real frames
    /// packed in `z` (real part, imaginary part):
    /// `|X|² = ((Zr[k] + Zr[N−k])² + (Zi[k] − Zi[N−k])²) / 4`,
    /// `|Y|² = ((Zi[k] + Zi[N−k])² + (Zr[k] − Zr[N−k])²) / 4` (indices mod N).
    fn split_power(self, z: &[Complex<f32>], out: &mut [[f32; 2]]);
}

/// Plain loops, left to the compiler's vectoriser.
#[derive(Clone, Copy)]
struct Portable;

impl Kernels for Portable {
    #[inline(always)]
    fn pack_windowed(self, a: &[f32], b: &[f32], window: &[f32], z: &mut [Complex<f32>]) {
        let (a, b, window, z) = (&a[..N_FFT], &b[..N_FFT], &window[..N_FFT], &mut z[..N_FFT]);
        for (((z, &a), &b), &w) in z.iter_mut().zip(a).zip(b).zip(window) {
            *z = Complex::new(a * w, b * w);
        }
    }

    #[inline(always)]
    fn split_power(self, z: &[Complex<f32>], out: &mut [[f32; 2]]) {
        let (z, out) = (&z[..N_FFT], &mut out[..N_BINS]);
        for (k, o) in out.iter_mut().enumerate().skip(1) {
            let (a, b) = (z[k], z[N_FFT - k]);
            let (sr, dr) = (a.re + b.re, a.re - b.re);
            let (si, di) = (a.im + b.im, a.im - b.im);
            *o = [0.25 * (sr * sr + di * di), 0.25 * (si * si + dr * dr)];
        }
        out[0] = [z[0].re * z[0].re, z[0].im * z[0].im];
    }
}

/// Mel sums, the second squaring (step 7) and `10·log10(max(1e-10, ·))` for the `frames`
/// frames of the current block; `out` starts at the block's first frame of band 0, and a band's
/// row is `stride` values long. Plain loops: compiled inside the AVX2 or per-ISA dispatch they
/// vectorise 16 frames at a time.
#[inline(always)]
fn mel_db_block(
    bands: &[Band],
    power: &[[[f32; 2]; PAIRS]],
    out: &mut [f32],
    stride: usize,
    frames: usize,
) {
    for (m, band) in bands.iter().enumerate() {
        let rows = &power[band.start..band.start + band.weights.len()];
        let mut acc = [0f32; BLOCK];
        for (&w, row) in band.weights.iter().zip(rows) {
            for (a, &p) in acc.iter_mut().zip(row.as_flattened()) {
                *a += p * w;
            }
        }
        write_db(&acc, &mut out[m * stride..], frames);
    }
}

/// The second squaring (step 7) and the dB conversion of one band's block of mel sums, written
/// to the first `frames` values of `dst`.
#[inline(always)]
fn write_db(acc: &[f32; BLOCK], dst: &mut [f32], frames: usize) {
    if frames == BLOCK {
        // Straight into the output: through a temporary, the compiler merges both arms into
        // one `memcpy` call of variable length per band.
        for (d, &a) in dst[..BLOCK].iter_mut().zip(acc) {
            *d = db10(a * a);
        }
    } else {
        let mut db = [0f32; BLOCK];
        for (d, &a) in db.iter_mut().zip(acc) {
            *d = db10(a * a);
        }
        dst[..frames].copy_from_slice(&db[..frames]);
    }
}

/// The kernels with AVX2 shuffles, through `pulp`'s safe wrappers of the intrinsics.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::{__m256, __m256d};

    use pulp::bytemuck::cast;
    use pulp::x86::V3;
    use rustfft::num_complex::Complex;

    use super::{Kernels, N_BINS, N_FFT};

    #[inline(always)]
    fn load(x: &[f32]) -> __m256 {
        let mut a = [0f32; 8];
        a.copy_from_slice(&x[..8]);
        cast(a)
    }

    /// Four complex numbers as one vector (re, im, re, im, …).
    #[inline(always)]
    fn load4(z: &[Complex<f32>]) -> __m256 {
        let mut a = [0f32; 8];
        for (pair, z) in a.chunks_exact_mut(2).zip(&z[..4]) {
            pair.copy_from_slice(&[z.re, z.im]);
        }
        cast(a)
    }

    #[inline(always)]
    fn store4(v: __m256, z: &mut [Complex<f32>]) {
        let a: [f32; 8] = cast(v);
        for (z, pair) in z[..4].iter_mut().zip(a.chunks_exact(2)) {
            *z = Complex::new(pair[0], pair[1]);
        }
    }

    impl Kernels for V3 {
        #[inline(always)]
        fn pack_windowed(self, a: &[f32], b: &[f32], window: &[f32], z: &mut [Complex<f32>]) {
            let (a, b, window, z) = (&a[..N_FFT], &b[..N_FFT], &window[..N_FFT], &mut z[..N_FFT]);
            for (((z, a), b), w) in z
                .chunks_exact_mut(8)
                .zip(a.chunks_exact(8))
                .zip(b.chunks_exact(8))
                .zip(window.chunks_exact(8))
            {
                let w = load(w);
                let xa = self.avx._mm256_mul_ps(load(a), w);
                let xb = self.avx._mm256_mul_ps(load(b), w);
                // a0 b0 a1 b1 | a4 b4 a5 b5 and a2 b2 a3 b3 | a6 b6 a7 b7, then the halves
                // put in order.
                let lo = self.avx._mm256_unpacklo_ps(xa, xb);
                let hi = self.avx._mm256_unpackhi_ps(xa, xb);
                let (head, tail) = z.split_at_mut(4);
                store4(self.avx._mm256_permute2f128_ps::<0x20>(lo, hi), head);
                store4(self.avx._mm256_permute2f128_ps::<0x31>(lo, hi), tail);
            }
        }

        #[inline(always)]
        fn split_power(self, z: &[Complex<f32>], out: &mut [[f32; 2]]) {
            let (z, out) = (&z[..N_FFT], &mut out[..N_BINS]);
            let quarter = self.avx._mm256_set1_ps(0.25);
            // Bins k0..k0 + 4 against the mirrored bins N − k0 − 3 ..= N − k0, reversed.
            for k0 in (1..N_BINS).step_by(4) {
                let a = load4(&z[k0..]);
                let b: __m256d = cast(load4(&z[N_FFT - k0 - 3..]));
                let b: __m256 = cast(self.avx2._mm256_permute4x64_pd::<0b00_01_10_11>(b));
                let s = self.avx._mm256_add_ps(a, b); // (sr, si)
                let d = self.avx._mm256_sub_ps(a, b); // (dr, di)
                let s2 = self.avx._mm256_mul_ps(s, s);
                let d2 = self.avx._mm256_mul_ps(d, d);
                // (di², dr²): the swap puts each square beside the one it is added to.
                let d2 = self.avx._mm256_permute_ps::<0b10_11_00_01>(d2);
                let t: [[f32; 2]; 4] = cast(
                    self.avx
                        ._mm256_mul_ps(quarter, self.avx._mm256_add_ps(s2, d2)),
                );
                out[k0..k0 + 4].copy_from_slice(&t);
            }
            out[0] = [z[0].re * z[0].re, z[0].im * z[0].im];
        }
    }
}

/// Frame `t` of the reflect-padded signal of `n` samples (step 5), before the window: padded
/// samples `256·t … 256·t + 511`. Interior frames are borrowed from `clip`; the two edge
/// frames (and frames past the end of a clip shorter than `n`, whose missing samples are
/// zeros) are built in `tmp`.
#[inline(always)]
fn frame<'a>(clip: &'a [f32], n: usize, t: usize, tmp: &'a mut [f32]) -> &'a [f32] {
    let pad = N_FFT / 2;
    let start = t * HOP;
    if start >= pad && start - pad + N_FFT <= clip.len() {
        return &clip[start - pad..start - pad + N_FFT];
    }
    let sample = |i: usize| clip.get(i).copied().unwrap_or(0.0);
    // Reflect padding without repeating the edge sample: index p of the padded signal.
    let padded = |p: usize| -> f32 {
        if p < pad {
            sample(pad - p)
        } else if p - pad < n {
            sample(p - pad)
        } else {
            // Past the start again only for a signal shorter than the padding: zeros there.
            (2 * n.saturating_sub(1))
                .checked_sub(p - pad)
                .map_or(0.0, sample)
        }
    };
    for (i, f) in tmp.iter_mut().enumerate() {
        *f = padded(start + i);
    }
    tmp
}

/// `10·log10(max(1e-10, x))` for finite `x ≥ 0`, branch-free so that loops over it vectorise.
///
/// `x = 2^e · m` with `m ∈ [√½, √2)` from the float's bits; `ln m = 2·atanh(s)` with
/// `s = (m − 1)/(m + 1)`, `|s| ≤ 0.172`, by its odd series to `s¹¹` (truncation < 4e-10);
/// `10·log10 2` is split in two (Cody–Waite) so that `e · 10·log10 2` is exact for the high
/// part. Worst error against `f64` over 1e-10 … 1e12 (unit test): 1.5e-5 dB, about one f32 ulp
/// of the result, far inside the front-end's 2e-3 dB tolerance (reference README,
/// "Recommended tolerances").
#[inline(always)]
pub fn db10(x: f32) -> f32 {
    // 10·log10 2 = 3.010299956639812 = DB2_HI + DB2_LO, DB2_HI = 49320 / 2^14 (16 bits).
    const DB2_HI: f32 = 49_320.0 / 16_384.0;
    const DB2_LO: f32 = (3.010_299_956_639_812_f64 - 49_320.0 / 16_384.0) as f32;
    const DB_PER_LN: f32 = 4.342_944_8; // 10 / ln 10
    let x = x.max(AMIN);
    let bits = x.to_bits();
    // Exponent relative to a mantissa in [√½, √2): add (1 − √½) worth of mantissa first.
    let shifted = bits.wrapping_add(0x3f80_0000 - 0x3f35_04f3);
    let e = (shifted >> 23) as i32 - 127;
    let m = f32::from_bits((shifted & 0x007f_ffff) + 0x3f35_04f3);
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 1.0
        + s2 * (1.0 / 3.0
            + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
    let ln_m = 2.0 * s * series;
    let ef = e as f32;
    ef * DB2_HI + (ef * DB2_LO + DB_PER_LN * ln_m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::abs_diff;

    #[test]
    fn mel_scale_round_trips() {
        for f in [0.0, 440.0, 999.0, 1000.0, 3000.0, 6000.0] {
            assert!((mel_to_hz(hz_to_mel(f)) - f).abs() < 1e-9, "{f}");
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
    }

    #[test]
    fn db10_matches_f64_log10() {
        let mut worst = 0f64;
        let mut x = 1e-10f32;
        while x < 1e12 {
            for v in [
                x,
                x * 1.000_001,
                x * std::f32::consts::SQRT_2,
                x * 0.999_999,
            ] {
                let want = 10.0 * f64::from(v.max(AMIN)).log10();
                worst = worst.max(abs_diff(db10(v), want));
            }
            x *= 1.37;
        }
        println!("db10: worst |Δ| {worst:.2e} dB");
        assert!(worst < 2e-5, "worst |Δ| {worst:e} dB");
        assert_eq!(db10(0.0), -100.0);
        assert_eq!(db10(1e-30), -100.0);
        assert_eq!(db10(1.0), 0.0);
    }

    /// The paired complex FFT against one real FFT per frame, computed directly in f64.
    #[test]
    fn paired_fft_matches_direct_dft() {
        let clip: Vec<f32> = (0..CLIP_SAMPLES)
            .map(|i| {
                let t = i as f64 / 12_000.0;
                ((2.0 * std::f64::consts::PI * 440.0 * t).sin() * (1.0 + (i % 97) as f64 / 97.0)
                    + 0.01 * ((i * 7919 % 1013) as f64 / 1013.0 - 0.5)) as f32
            })
            .collect();
        let lm = LogMel::new();
        let mut pair = vec![[0f32; 2]; N_BINS];
        let (mut a, mut b) = (vec![0f32; N_FFT], vec![0f32; N_FFT]);
        let mut buf = vec![Complex::default(); N_FFT];
        let mut scratch = vec![Complex::default(); lm.fft.get_inplace_scratch_len()];
        // Edge frame 0 with interior frame 1, and the last pair (the end reflection).
        for t in [0, 700, N_FRAMES - 2] {
            let mut tmp = vec![0f32; N_FFT];
            for (dst, t) in [(&mut a, t), (&mut b, t + 1)] {
                let x = frame(&clip, CLIP_SAMPLES, t, &mut tmp);
                for ((d, &x), &w) in dst.iter_mut().zip(x).zip(&lm.window) {
                    *d = x * w;
                }
            }
            for ((z, &x), &y) in buf.iter_mut().zip(&a).zip(&b) {
                *z = Complex::new(x, y);
            }
            lm.fft.process_with_scratch(&mut buf, &mut scratch);
            Portable.split_power(&buf, &mut pair);
            for (lane, frame) in [(0, &a), (1, &b)] {
                let direct: Vec<f64> = (0..N_BINS)
                    .map(|k| {
                        let (mut re, mut im) = (0f64, 0f64);
                        for (n, &x) in frame.iter().enumerate() {
                            let ph = -2.0 * std::f64::consts::PI * (k * n) as f64 / N_FFT as f64;
                            re += f64::from(x) * ph.cos();
                            im += f64::from(x) * ph.sin();
                        }
                        re * re + im * im
                    })
                    .collect();
                let peak = direct.iter().copied().fold(0.0, f64::max);
                for (k, &d) in direct.iter().enumerate() {
                    let got = f64::from(pair[k][lane]);
                    assert!(
                        (got - d).abs() <= 1e-5 * peak,
                        "frame pair {t} bin {k}: {got} vs {d}"
                    );
                }
            }
        }
    }

    /// The AVX2 kernels against the portable loops, each called by name (not through the
    /// dispatch, which on a CPU without AVX2 would compare the portable loops with themselves),
    /// bit for bit, on a clip whose missing tail is zero padding; the public entry point gives
    /// the same bits. Skipped, with a note, where the CPU lacks AVX2.
    #[test]
    fn avx2_kernels_equal_portable_bits() {
        let clip: Vec<f32> = (0..CLIP_SAMPLES - 1000)
            .map(|i| {
                let t = i as f64 / 12_000.0;
                ((2.0 * std::f64::consts::PI * 210.0 * t * (1.0 + t / 10.0)).sin()
                    * (0.2 + (i % 331) as f64 / 400.0)) as f32
            })
            .collect();
        let mut lm = LogMel::new();
        let mut portable = vec![0f32; N_MELS * N_FRAMES];
        lm.compute_portable_into(&clip, Extent::CLIP, &mut portable);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let dispatched = lm.compute(&clip);
        assert!(bits(&dispatched) == bits(&portable), "the dispatch differs");
        // The portable path did real work: a spread of values above the −80 dB floor.
        let mut sorted = portable.clone();
        sorted.sort_by(f32::total_cmp);
        let (floor, top) = (sorted[0], sorted[sorted.len() - 1]);
        assert!((top - floor - TOP_DB).abs() < 1e-3, "{floor} .. {top}");
        let above = sorted.iter().filter(|&&v| v > floor + 1.0).count();
        assert!(above > sorted.len() / 10, "{above} values above the floor");

        #[cfg(target_arch = "x86_64")]
        {
            let mut avx2 = vec![f32::NAN; N_MELS * N_FRAMES];
            if !lm.compute_avx2_into(&clip, Extent::CLIP, &mut avx2) {
                println!("SKIPPED: this CPU lacks AVX2; only the portable kernels were run");
                return;
            }
            let differ = avx2
                .iter()
                .zip(&portable)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differ, 0, "{differ} values differ");
        }
        #[cfg(not(target_arch = "x86_64"))]
        println!("SKIPPED: no AVX2 kernels on this architecture; only the portable ones ran");
    }

    /// A whole signal of 29.12 s is the network input, bit for bit; other lengths follow the
    /// centred STFT of the whole signal, checked against a direct f64 DFT of every frame.
    #[test]
    fn whole_signals_of_any_length() {
        let tone = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|i| {
                    let t = i as f64 / 12_000.0;
                    ((2.0 * std::f64::consts::PI * 330.0 * t * (1.0 + t)).sin()
                        * (0.3 + (i % 127) as f64 / 200.0)) as f32
                })
                .collect()
        };
        let mut lm = LogMel::new();
        let clip = tone(CLIP_SAMPLES);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert!(bits(&lm.compute_signal(&clip)) == bits(&lm.compute(&clip)));
        assert_eq!(frames_of(CLIP_SAMPLES), N_FRAMES);

        let y = tone(20_000 + 77);
        let ours = lm.compute_signal(&y);
        let frames = frames_of(y.len());
        assert_eq!(ours.len(), N_MELS * frames);
        // Direct: reflect-padded frames, periodic Hann, DFT, mel, squared, dB, 80 dB range.
        let n = y.len() as isize;
        let reflect = |i: isize| {
            let i = if i < 0 { -i } else { i };
            let i = if i >= n { 2 * (n - 1) - i } else { i };
            f64::from(y[i as usize])
        };
        let fb = mel_filterbank();
        let mut want = vec![0f64; N_MELS * frames];
        for t in 0..frames {
            let x: Vec<f64> = (0..N_FFT)
                .map(|k| {
                    let w =
                        0.5 - 0.5 * (2.0 * std::f64::consts::PI * k as f64 / N_FFT as f64).cos();
                    w * reflect((t * HOP + k) as isize - (N_FFT / 2) as isize)
                })
                .collect();
            let power: Vec<f64> = (0..N_BINS)
                .map(|b| {
                    let (mut re, mut im) = (0f64, 0f64);
                    for (k, &v) in x.iter().enumerate() {
                        let ph = -2.0 * std::f64::consts::PI * (b * k) as f64 / N_FFT as f64;
                        re += v * ph.cos();
                        im += v * ph.sin();
                    }
                    re * re + im * im
                })
                .collect();
            for (m, row) in fb.iter().enumerate() {
                let mel: f64 = row.iter().zip(&power).map(|(&w, p)| f64::from(w) * p).sum();
                want[m * frames + t] = 10.0 * (mel * mel).max(1e-10).log10();
            }
        }
        let top = want.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let worst = ours
            .iter()
            .zip(&want)
            .map(|(&a, &b)| abs_diff(a, b.max(top - f64::from(TOP_DB))))
            .fold(0f64, f64::max);
        println!(
            "whole signal of {} samples: worst |Δ| {worst:.2e} dB",
            y.len()
        );
        // Measured 2.2e-5 dB.
        assert!(worst < 2e-3, "worst |Δ| {worst:e} dB");

        // Signals too short to reflect: finite, one frame per hop, no panic.
        for len in [0, 1, 100, 256, 257, 511, 512] {
            let out = lm.compute_signal(&tone(len));
            assert_eq!(out.len(), N_MELS * frames_of(len), "{len}");
            assert!(out.iter().all(|v| v.is_finite()), "{len}");
        }
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

//! The Reference resampler: a port of the band-limited interpolator of resampy ≤ 0.2.2 with its
//! 2016 `kaiser_best` filter, which produced the authors' published inputs (reference README,
//! step 3). Bit-faithful to the golden `clip_12k.npy`.

use rayon::prelude::*;

use super::math::bessel_i0;
use crate::config::SAMPLE_RATE;

/// The 2016 resampy `kaiser_best` filter: 64 zero crossings, 512 table entries per crossing.
pub(super) struct KaiserTable {
    /// Half-window `h[k]`, k = 0..=32768, before scaling by the ratio.
    h: Vec<f64>,
}

/// Entries per zero crossing of the interpolation table.
const PRECISION: usize = 512;
/// Zero crossings of the windowed sinc (one wing).
const ZERO_CROSSINGS: usize = 64;
/// Kaiser β of resampy's `kaiser_best`.
const KAISER_BETA: f64 = 14.769_656_459_379_492;
/// Roll-off (cut-off relative to Nyquist) of resampy's `kaiser_best`.
const ROLLOFF: f64 = 0.947_593_716_739_959_6;

impl KaiserTable {
    pub(super) fn new() -> Self {
        let n = ZERO_CROSSINGS * PRECISION; // 32768
        let i0_beta = bessel_i0(KAISER_BETA);
        let h = (0..=n)
            .map(|k| {
                let x = ROLLOFF * k as f64 / PRECISION as f64;
                let sinc = if k == 0 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let u = k as f64 / n as f64;
                let w = bessel_i0(KAISER_BETA * (1.0 - u * u).max(0.0).sqrt()) / i0_beta;
                ROLLOFF * sinc * w
            })
            .collect();
        Self { h }
    }
}

/// The reference filter for one input rate: the table scaled by the ratio and regrouped
/// ([`Wings`]), and the output clock. Built once per rate and shared by the streams that
/// resample from it.
pub(super) struct RefBank {
    rate: u32,
    /// 12000 / rate.
    ratio: f64,
    /// `1 / ratio`: the step between output times in input samples.
    increment: f64,
    /// `min(ratio, 1)`: the table's scale when downsampling.
    scale: f64,
    wings: Wings,
    /// The longest wing in input samples (235 at 44.1 kHz): how far an output reads on each
    /// side of its time.
    reach: usize,
}

impl RefBank {
    pub(super) fn new(table: &KaiserTable, rate: u32) -> Self {
        let ratio = f64::from(SAMPLE_RATE) / f64::from(rate);
        let scale = ratio.min(1.0);
        let nwin = table.h.len();
        let h: Vec<f64> = table.h.iter().map(|v| v * scale).collect();
        let mut d: Vec<f64> = h.windows(2).map(|w| w[1] - w[0]).collect();
        d.push(0.0);
        // floor(scale·512): this truncation is part of the filter's response (reference README).
        let step = (scale * PRECISION as f64) as usize;
        let wings = Wings::new(&h, &d, step, nwin);
        let reach = wings.runs.iter().map(|r| r.1).max().unwrap_or(0);
        Self {
            rate,
            ratio,
            increment: 1.0 / ratio,
            scale,
            wings,
            reach,
        }
    }

    pub(super) fn rate(&self) -> u32 {
        self.rate
    }

    pub(super) fn reach(&self) -> usize {
        self.reach
    }

    /// Outputs computed of a signal of `n` samples, `floor(n · ratio)` as resampy computes it
    /// (the output-length rule then appends zeros up to `ceil`).
    pub(super) fn computed(&self, n: u64) -> u64 {
        (n as f64 * self.ratio) as u64
    }

    /// The input time of the next output after one at `time`: resampy's loop adds `1 / ratio`
    /// in f64 from 0. The drift of this sum against `t · rate / 12000` (≈ 3e-6 samples over
    /// 30 s) is part of the reference output, because the taps' table positions advance by
    /// floor(scale·512), not scale·512, so the response is not continuous where the drift moves
    /// a time across an integer.
    #[inline(always)]
    pub(super) fn next_time(&self, time: f64) -> f64 {
        time + self.increment
    }

    /// Band-limited interpolation as resampy 0.2.2 `resample_f` (reference README, step 3),
    /// accumulating in f64: the output at each of `times` into `out`, from the signal of `end`
    /// samples whose samples from absolute index `origin` on are `x`. `x` must hold every input
    /// the outputs read: `reach` samples (fewer at the start) before each time's integer part
    /// and `reach` after it (fewer at the end). Each output is computed alone, so a signal gives
    /// the same bits fed whole or in pieces; many outputs run in parallel on rayon's pool.
    pub(super) fn outputs_into(
        &self,
        x: &[f32],
        origin: u64,
        end: u64,
        times: &[f64],
        out: &mut [f32],
    ) {
        let chunk = |ys: &mut [f32], ts: &[f64]| {
            pulp::Arch::new().dispatch(WingChunk {
                x,
                origin: origin as usize,
                end: usize::try_from(end).unwrap_or(usize::MAX),
                wings: &self.wings,
                scale: self.scale,
                times: ts,
                out: ys,
            })
        };
        if out.len() >= PARALLEL_OUTPUTS {
            out.par_chunks_mut(8192)
                .zip(times.par_chunks(8192))
                .for_each(|(ys, ts)| chunk(ys, ts));
        } else {
            chunk(out, times);
        }
    }
}

/// Outputs computed at once from which they run in parallel (5.5 s at 12 kHz): a whole
/// signal, not the few packets a stream is fed at a time.
const PARALLEL_OUTPUTS: usize = 1 << 16;

/// The filter table regrouped by starting offset: for offset o (0..=step) the taps one wing
/// reads, `h[o], h[o + step], h[o + 2·step], …` and likewise `d`, stored contiguously so that
/// every output is a few contiguous, vectorisable dot products instead of strided gathers.
struct Wings {
    h: Vec<f64>,
    d: Vec<f64>,
    /// `(start, len)` of each offset's run in `h` and `d`.
    runs: Vec<(usize, usize)>,
}

impl Wings {
    fn new(h: &[f64], d: &[f64], step: usize, nwin: usize) -> Self {
        let (mut hs, mut ds, mut runs) = (Vec::new(), Vec::new(), Vec::new());
        for offset in 0..=step.min(nwin - 1) {
            let len = (nwin - offset) / step;
            runs.push((hs.len(), len));
            for i in 0..len {
                hs.push(h[offset + i * step]);
                ds.push(d[offset + i * step]);
            }
        }
        Self { h: hs, d: ds, runs }
    }

    /// Offset, interpolation weight and the wing's (h, d) runs for a table position `frac`.
    #[inline(always)]
    fn at(&self, frac: f64) -> (f64, &[f64], &[f64]) {
        let index = frac * PRECISION as f64;
        let offset = index as usize;
        let eta = index - offset as f64;
        let (start, len) = self.runs[offset];
        (
            eta,
            &self.h[start..start + len],
            &self.d[start..start + len],
        )
    }
}

/// Outputs at `times` as resampy's `resample_f` computes them (same offsets, weights and tap
/// values `h + η·d`; only the f64 summation order differs), compiled per vector ISA. The signal
/// has `end` samples; `x` holds those from index `origin` on that the outputs read.
struct WingChunk<'a> {
    x: &'a [f32],
    origin: usize,
    end: usize,
    wings: &'a Wings,
    scale: f64,
    times: &'a [f64],
    out: &'a mut [f32],
}

impl pulp::WithSimd for WingChunk<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let (x, origin) = (self.x, self.origin);
        for (out, &time) in self.out.iter_mut().zip(self.times) {
            let n = time as usize;
            let frac = self.scale * (time - n as f64);
            // Left wing: x[n], x[n − 1], … against the run for `frac`.
            let (eta, h, d) = self.wings.at(frac);
            let len = h.len().min(n + 1);
            let left = wing_dot::<true>(
                &h[..len],
                &d[..len],
                eta,
                &x[n + 1 - len - origin..=n - origin],
            );
            // Right wing: x[n + 1], x[n + 2], … against the run for `scale − frac`.
            let (eta, h, d) = self.wings.at(self.scale - frac);
            let len = h.len().min(self.end.saturating_sub(n + 1));
            let right = wing_dot::<false>(
                &h[..len],
                &d[..len],
                eta,
                &x[n + 1 - origin..n + 1 + len - origin],
            );
            *out = (left + right) as f32;
        }
    }
}

/// `Σ (h[i] + η·d[i]) · x_i` in f64, with eight partial sums so that it vectorises. `x_i` is
/// `xs[i]`, or with `reversed` `xs[len − 1 − i]` (the left wing runs backwards in time).
#[inline(always)]
fn wing_dot<const REVERSED: bool>(h: &[f64], d: &[f64], eta: f64, xs: &[f32]) -> f64 {
    let len = h.len().min(d.len()).min(xs.len());
    let (h, d) = (&h[..len], &d[..len]);
    let blocks = len / 8;
    let mut acc = [0f64; 8];
    for b in 0..blocks {
        let (hb, db) = (&h[b * 8..b * 8 + 8], &d[b * 8..b * 8 + 8]);
        if REVERSED {
            let xb = &xs[len - 8 - b * 8..len - b * 8];
            for l in 0..8 {
                acc[l] += (hb[l] + eta * db[l]) * f64::from(xb[7 - l]);
            }
        } else {
            let xb = &xs[b * 8..b * 8 + 8];
            for l in 0..8 {
                acc[l] += (hb[l] + eta * db[l]) * f64::from(xb[l]);
            }
        }
    }
    let mut sum = acc.iter().sum::<f64>();
    for i in blocks * 8..len {
        let xv = if REVERSED { xs[len - 1 - i] } else { xs[i] };
        sum += (h[i] + eta * d[i]) * f64::from(xv);
    }
    sum
}

/// One output sample of resampy's `resample_f` at input time `time`, as a plain loop: the
/// definition the regrouped kernel is tested against.
#[cfg(test)]
fn interpolate(
    x: &[f32],
    h: &[f64],
    d: &[f64],
    time: f64,
    scale: f64,
    step: usize,
    nwin: usize,
) -> f32 {
    let n_orig = x.len();
    let n = time as usize;
    let mut acc = 0.0f64;
    // Left wing: x[n], x[n-1], ...
    let frac = scale * (time - n as f64);
    let index = frac * PRECISION as f64;
    let offset = index as usize;
    let eta = index - offset as f64;
    let i_max = (n + 1).min((nwin - offset) / step);
    for i in 0..i_max {
        let j = offset + i * step;
        acc += (h[j] + eta * d[j]) * f64::from(x[n - i]);
    }
    // Right wing: x[n+1], x[n+2], ...
    let frac = scale - frac;
    let index = frac * PRECISION as f64;
    let offset = index as usize;
    let eta = index - offset as f64;
    let k_max = (n_orig.saturating_sub(n + 1)).min((nwin - offset) / step);
    for k in 0..k_max {
        let j = offset + k * step;
        acc += (h[j] + eta * d[j]) * f64::from(x[n + 1 + k]);
    }
    acc as f32
}

/// Half-window of the reference filter (k = 0..=32768) before scaling by the ratio.
pub fn kaiser_best_table() -> Vec<f64> {
    KaiserTable::new().h
}

#[cfg(test)]
mod tests {
    use super::super::math::output_len;
    use super::*;
    use crate::testing::abs_diff;

    #[test]
    fn regrouped_kernel_equals_the_plain_loop() {
        // White noise at 22,050 and 44,100 Hz: every output against resampy's loop at the
        // same (drifting) times, ends included.
        let mut s = 7u32;
        let mut noise = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (s >> 8) as f32 / 16_777_216.0 - 0.5
                })
                .collect()
        };
        let table = KaiserTable::new();
        let resampler = super::super::Resampler::new(super::super::ResamplerKind::Reference);
        for rate in [22_050u32, 44_100, 16_000] {
            let x = noise(rate as usize * 3 + 17);
            let y = resampler.to_12k(&x, rate).unwrap();
            assert_eq!(y.len(), output_len(x.len(), rate));
            let ratio = f64::from(SAMPLE_RATE) / f64::from(rate);
            let scale = ratio.min(1.0);
            let h: Vec<f64> = table.h.iter().map(|v| v * scale).collect();
            let mut d: Vec<f64> = h.windows(2).map(|w| w[1] - w[0]).collect();
            d.push(0.0);
            let step = (scale * PRECISION as f64) as usize;
            let mut time = 0.0f64;
            let computed = (x.len() as f64 * ratio) as usize;
            let mut worst = 0f64;
            for &out in &y[..computed] {
                let want = interpolate(&x, &h, &d, time, scale, step, h.len());
                worst = worst.max(abs_diff(out, want));
                time += 1.0 / ratio;
            }
            assert!(worst <= 1e-7, "{rate} Hz: {worst}");
        }
    }
}

//! Polyphase windowed-sinc resampling to 12 kHz: the kernel of the [`ResamplerKind::Fast`]
//! resampler. [`super::StreamResampler`] runs it on signals fed in pieces (a whole signal is
//! one piece); [`Bank::units_into`] computes outputs a unit at a time from whatever window of
//! the input it is given.
//!
//! The ratio is reduced to `up / down` (22,050 Hz: 80 / 147; 44,100 Hz: 40 / 147; 48 kHz:
//! 1 / 4). Output sample `n` sits at input time `n · down / up`, exactly as in the reference
//! resampler (no delay to trim), and is one dot product of the input around that time with one
//! row of a table of `up` phases of the filter. Rates whose `up` would need more than 2,048
//! rows (12 kHz against a rate with few common factors, say 44,101 Hz) use 1,024 rows and
//! interpolate linearly between the two nearest.
//!
//! The filter is the reference's kind of filter (a Kaiser-windowed sinc with the same roll-off,
//! cut off at the lower of the two Nyquist frequencies) with fewer zero crossings, which is
//! where the speed comes from: 128 taps per output at 22,050 Hz instead of 235, and no table
//! interpolation. How far it moves log-mel and scores from the reference is measured by
//! `fast_resampler_drift` in `tests/golden.rs` and written down in `docs/verification.md`.
//!
//! [`ResamplerKind::Fast`]: crate::resample::ResamplerKind::Fast

use rayon::prelude::*;

use super::math::bessel_i0;
use crate::config::SAMPLE_RATE;

/// Zero crossings of the sinc on each side of the centre, counted at the lower of the two
/// rates (the reference filter has 64).
const ZERO_CROSSINGS: f64 = 32.0;
/// Cut-off relative to the lower Nyquist frequency: the reference filter's roll-off.
const ROLLOFF: f64 = 0.947_593_716_739_959_6;
/// Kaiser window β.
const BETA: f64 = 10.0;
/// Largest phase count built as an exact table.
const MAX_EXACT_PHASES: u64 = 2048;
/// Table rows (plus one) when the exact phase count is larger.
const APPROX_PHASES: usize = 1024;
/// Taps are a multiple of this: whole vectors on every instruction set, no scalar tail.
const LANES: usize = 16;

/// The phase table for one input rate.
#[derive(Debug, Clone)]
pub struct Bank {
    rate: u32,
    up: u64,
    down: u64,
    taps: usize,
    /// Output `n` with base `i = floor(n · down / up)` reads inputs `i + 1 − half ..= i + half`.
    pub(super) half: usize,
    /// Whether `up ≤ MAX_EXACT_PHASES`.
    exact: bool,
    /// `taps` coefficients per row: `up` rows when exact, `APPROX_PHASES + 1` otherwise.
    table: Vec<f32>,
    /// Output columns of one [`Block`] (vector lanes × [`BLOCK_VECTORS`]); exact tables only.
    cols: usize,
}

/// Where output `n` reads: the first input index of its window (may be negative) and the
/// table row(s) with the interpolation weight of the second.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tap {
    pub(super) start: i64,
    row: usize,
    eta: f32,
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The continuous filter at distance `u` from the centre, in samples of the lower rate.
fn kernel(u: f64) -> f64 {
    let r = u / ZERO_CROSSINGS;
    if r.abs() >= 1.0 {
        return 0.0;
    }
    let x = ROLLOFF * u;
    let sinc = if x == 0.0 {
        1.0
    } else {
        (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
    };
    ROLLOFF * sinc * bessel_i0(BETA * (1.0 - r * r).sqrt()) / bessel_i0(BETA)
}

impl Bank {
    /// The table for input at `rate` Hz (≥ 1; the callers refuse rates below 8 kHz).
    pub fn new(rate: u32) -> Self {
        let g = gcd(u64::from(rate), u64::from(SAMPLE_RATE));
        let (up, down) = (u64::from(SAMPLE_RATE) / g, u64::from(rate) / g);
        let scale = (up as f64 / down as f64).min(1.0);
        // Inputs within ZERO_CROSSINGS / scale of the output time, plus one for the fraction.
        let reach = (ZERO_CROSSINGS / scale).ceil() as usize + 1;
        let half = reach.div_ceil(LANES / 2) * (LANES / 2);
        let taps = 2 * half;
        let exact = up <= MAX_EXACT_PHASES;
        let rows = if exact {
            up as usize
        } else {
            APPROX_PHASES + 1
        };
        let mut table = Vec::with_capacity(rows * taps);
        for row in 0..rows {
            let frac = if exact {
                row as f64 / up as f64
            } else {
                row as f64 / APPROX_PHASES as f64
            };
            for k in 0..taps {
                // Input `i + 1 − half + k` against output time `i + frac`.
                let d = k as f64 + 1.0 - half as f64 - frac;
                table.push((scale * kernel(scale * d)) as f32);
            }
        }
        Self {
            rate,
            up,
            down,
            taps,
            half,
            exact,
            table,
            cols: BlockArch.dispatch(Lanes) * BLOCK_VECTORS,
        }
    }

    /// The input rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Filter taps per output sample.
    pub fn taps(&self) -> usize {
        self.taps
    }

    pub(super) fn tap(&self, n: u64) -> Tap {
        // n · down fits in u64 for any realistic length (n < 2^40, down < 2^24).
        let num = n * self.down;
        self.tap_at(num / self.up, num % self.up)
    }

    /// The tap of the output at input time `i + p / up`.
    #[inline(always)]
    fn tap_at(&self, i: u64, p: u64) -> Tap {
        let start = i as i64 + 1 - self.half as i64;
        if self.exact {
            Tap {
                start,
                row: p as usize,
                eta: 0.0,
            }
        } else {
            let pos = p as f64 / self.up as f64 * APPROX_PHASES as f64;
            let row = (pos as usize).min(APPROX_PHASES - 1);
            Tap {
                start,
                row,
                eta: (pos - row as f64) as f32,
            }
        }
    }

    /// Output `n` from the window `w` (`taps` inputs from the tap's start).
    #[inline(always)]
    fn apply<S: pulp::Simd>(&self, simd: S, t: Tap, w: &[f32]) -> f32 {
        let row = |r: usize| &self.table[r * self.taps..(r + 1) * self.taps];
        let a = dot(simd, row(t.row), w);
        if self.exact {
            a
        } else {
            let b = dot(simd, row(t.row + 1), w);
            a + t.eta * (b - a)
        }
    }

    /// Outputs per unit: the outputs are computed a unit at a time, whole signal or stream
    /// alike. With an exact table a unit is one [`Block`] (`up` phases × `cols` columns); with
    /// an interpolated one, [`APPROX_UNIT`] outputs.
    pub(super) fn unit(&self) -> usize {
        if self.exact {
            self.up as usize * self.cols
        } else {
            APPROX_UNIT
        }
    }

    /// The first input (may be negative: the zeros before the signal) that unit `u` reads.
    pub(super) fn unit_start(&self, u: u64) -> i64 {
        self.tap(u * self.unit() as u64).start
    }

    /// Index one past the last input that unit `u` reads.
    pub(super) fn unit_needs(&self, u: u64) -> u64 {
        if self.exact {
            // Column `cols − 1` of the block; phase `up − 1` reads the furthest rows.
            let first = self.tap((u + 1) * self.unit() as u64 - self.up).start;
            let rows = (self.up - 1) * self.down / self.up + 2 * self.half as u64;
            (first + rows as i64).max(0) as u64
        } else {
            let last = (u + 1) * self.unit() as u64 - 1;
            last * self.down / self.up + self.half as u64 + 1
        }
    }

    /// The outputs of units `u0, u0 + 1, …` into `out` (a whole number of units, or fewer
    /// outputs for the last), from the signal whose samples from absolute index `origin` on are
    /// `x` and zeros outside it. Each output is the same sum of the same products whatever the
    /// units computed with it, so a signal gives the same bits fed whole or in pieces. Many
    /// units at once run in parallel on rayon's pool; a few run here, in `scratch` (kept by
    /// the caller, so that a stream fed packet by packet allocates nothing per packet).
    pub(super) fn units_into(
        &self,
        x: &[f32],
        origin: i64,
        u0: u64,
        out: &mut [f32],
        scratch: &mut Vec<f32>,
    ) {
        let unit = self.unit();
        let run = |u: u64, ys: &mut [f32], t: &mut Vec<f32>| {
            if self.exact {
                let rows = self.block_rows();
                t.resize(rows * self.cols, 0.0);
                self.block_rows_into(x, origin, u * self.cols as u64, t);
                BlockArch.dispatch(Block {
                    bank: self,
                    t,
                    cols: self.cols,
                    out: ys,
                });
            } else {
                self.fill(x, origin, u * unit as u64, ys);
            }
        };
        if out.len() >= PARALLEL_OUTPUTS {
            out.par_chunks_mut(unit)
                .enumerate()
                .for_each_init(Vec::new, |t, (k, ys)| run(u0 + k as u64, ys, t));
        } else {
            for (k, ys) in out.chunks_mut(unit).enumerate() {
                run(u0 + k as u64, ys, scratch);
            }
        }
    }

    /// Outputs `n0..n0 + out.len()` of the signal whose samples from absolute index `origin`
    /// on are `x` (zeros outside it), one dot product each.
    fn fill(&self, x: &[f32], origin: i64, n0: u64, out: &mut [f32]) {
        pulp::Arch::new().dispatch(Fill {
            bank: self,
            x,
            origin,
            n0,
            out,
        });
    }

    /// The first `out_len` output samples of the whole signal `x` (tests).
    #[cfg(test)]
    pub fn resample(&self, x: &[f32], out_len: usize) -> Vec<f32> {
        let mut y = vec![0f32; out_len];
        self.units_into(x, 0, 0, &mut y, &mut Vec::new());
        y
    }

    /// Rows of a [`Block`]'s transposed input: enough for every phase's window, rounded up to
    /// a multiple of 8 for the 8 × 8 transposes.
    fn block_rows(&self) -> usize {
        let rows = ((self.up - 1) * self.down / self.up) as usize + 2 * self.half;
        rows.div_ceil(8) * 8
    }

    /// The input rows of the block starting at column `m0`:
    /// `T[r][c] = s[r + 1 − half + down·(m0 + c)]`, where the signal `s` is `x` from absolute
    /// index `origin` on and zeros outside it; `t` holds [`Bank::block_rows`] rows of `cols`
    /// values.
    fn block_rows_into(&self, x: &[f32], origin: i64, m0: u64, t: &mut [f32]) {
        let cols = self.cols;
        let rows = t.len() / cols;
        let first = |c: usize| ((m0 + c as u64) * self.down) as i64 + 1 - self.half as i64 - origin;
        #[cfg(target_arch = "x86_64")]
        let inside = |c: usize| first(c) >= 0 && first(c) as usize + rows <= x.len();
        for c0 in (0..cols).step_by(8) {
            // Eight columns inside the signal: 8 × 8 register transposes (AVX2).
            #[cfg(target_arch = "x86_64")]
            if c0 + 8 <= cols && inside(c0) && inside(c0 + 7) {
                if let Some(v3) = pulp::x86::V3::try_new() {
                    let src: [&[f32]; 8] =
                        std::array::from_fn(|i| &x[first(c0 + i) as usize..][..rows]);
                    v3.vectorize(
                        #[inline(always)]
                        || transpose_columns(v3, src, c0, cols, t),
                    );
                    continue;
                }
            }
            for c in c0..(c0 + 8).min(cols) {
                let f = first(c);
                for (r, row) in t.chunks_exact_mut(cols).enumerate() {
                    let idx = f + r as i64;
                    row[c] = if idx >= 0 && (idx as usize) < x.len() {
                        x[idx as usize]
                    } else {
                        0.0
                    };
                }
            }
        }
    }
}

/// Outputs per unit of an interpolated (inexact) table.
const APPROX_UNIT: usize = 1024;

/// Outputs computed at once from which the units run in parallel (5.5 s at 12 kHz): a whole
/// signal, not the few packets a stream is fed at a time.
const PARALLEL_OUTPUTS: usize = 1 << 16;

/// Vectors of outputs per phase in a [`Block`]: 4 × 8 columns with AVX2, so that the rows one
/// phase reads (`taps` × 128 bytes at 22,050 Hz) stay in the L1 cache.
const BLOCK_VECTORS: usize = 4;

/// The instruction sets the [`Block`] kernel runs on: AVX2 at most. With AVX-512 a phase's
/// rows (16-lane vectors × [`BLOCK_VECTORS`]) outgrow the L1 cache, and machines that split
/// 512-bit multiply-adds in two gain nothing from them.
struct BlockArch;

impl BlockArch {
    fn dispatch<W: pulp::WithSimd>(self, op: W) -> W::Output {
        #[cfg(target_arch = "x86_64")]
        if let Some(v3) = pulp::x86::V3::try_new() {
            return v3.vectorize(
                #[inline(always)]
                || op.with_simd(v3),
            );
        }
        pulp::Arch::new().dispatch(op)
    }
}

/// `f32` lanes of the instruction set in use.
struct Lanes;

impl pulp::WithSimd for Lanes {
    type Output = usize;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) -> usize {
        std::mem::size_of::<S::f32s>() / std::mem::size_of::<f32>()
    }
}

/// Columns `c0 .. c0 + 8` of a block's rows from eight input runs (`src[i]` is column
/// `c0 + i`, top to bottom), by 8 × 8 transposes in registers instead of one strided store per
/// value.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn transpose_columns(v3: pulp::x86::V3, src: [&[f32]; 8], c0: usize, cols: usize, t: &mut [f32]) {
    use core::arch::x86_64::__m256;
    use pulp::bytemuck::cast;
    let rows = t.len() / cols;
    let avx = v3.avx;
    for r0 in (0..rows).step_by(8) {
        let a: [__m256; 8] = std::array::from_fn(|i| {
            let mut v = [0f32; 8];
            v.copy_from_slice(&src[i][r0..r0 + 8]);
            cast(v)
        });
        // Pairs, then quads, then halves: the classic three-stage 8 × 8 transpose.
        let p: [__m256; 8] = std::array::from_fn(|i| {
            let (x, y) = (a[i & 6], a[(i & 6) | 1]);
            if i % 2 == 0 {
                avx._mm256_unpacklo_ps(x, y)
            } else {
                avx._mm256_unpackhi_ps(x, y)
            }
        });
        // p[0] = (a0, a1) lo, p[1] = (a0, a1) hi, p[2] = (a2, a3) lo, … p[7] = (a6, a7) hi.
        let q: [__m256; 8] = std::array::from_fn(|i| {
            // q[4·h + e] holds element e (low half) and e + 4 (high half) of the columns of quad
            // h (0–3 or 4–7): e = 2·s + j, s the lo/hi pair source, j which half of a pair.
            let (h, s, j) = (i / 4, (i / 2) % 2, i % 2);
            let (x, y) = (p[4 * h + s], p[4 * h + 2 + s]);
            if j == 0 {
                avx._mm256_shuffle_ps::<0x44>(x, y)
            } else {
                avx._mm256_shuffle_ps::<0xee>(x, y)
            }
        });
        for j in 0..8 {
            // Row r0 + j: element j of every column, from quad 0 (columns 0–3) and quad 1.
            let (lo, hi) = (q[j % 4], q[4 + j % 4]);
            let v = if j < 4 {
                avx._mm256_permute2f128_ps::<0x20>(lo, hi)
            } else {
                avx._mm256_permute2f128_ps::<0x31>(lo, hi)
            };
            let row: [f32; 8] = cast(v);
            t[(r0 + j) * cols + c0..][..8].copy_from_slice(&row);
        }
    }
}

/// Outputs `n = p + up·m` for every residue `p < up` and `m0 ≤ m < m0 + cols` (a contiguous
/// run of `up · cols` outputs, `out`), from the input rows
/// `T[r][c] = x[r + 1 − half + down·(m0 + c)]` ([`Bank::block_rows_into`]): output `(p, c)` is
/// `Σ_k h[k] · T[i_p + k][c]` with `i_p = ⌊p · down / up⌋` and `h` the table row
/// `(p · down) mod up`.
struct Block<'a> {
    bank: &'a Bank,
    t: &'a [f32],
    cols: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Block<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let Self { bank, t, cols, out } = self;
        let up = bank.up;
        // Two phases per pass: eight independent multiply-add chains, and the two phases'
        // windows overlap, so the rows they read are in cache for each other.
        let mut p = 0;
        while p + 1 < up as usize {
            phases::<S, 2>(simd, bank, t, cols, p, out);
            p += 2;
        }
        if p < up as usize {
            phases::<S, 1>(simd, bank, t, cols, p, out);
        }
    }
}

/// Phases `p0 .. p0 + PH` of a [`Block`] from its rows `t`, into `out`.
#[inline(always)]
fn phases<S: pulp::Simd, const PH: usize>(
    simd: S,
    bank: &Bank,
    t: &[f32],
    cols: usize,
    p0: usize,
    out: &mut [f32],
) {
    let (up, down, taps) = (bank.up, bank.down, bank.taps);
    let lanes = std::mem::size_of::<S::f32s>() / std::mem::size_of::<f32>();
    let first_row: [usize; PH] = std::array::from_fn(|q| ((p0 + q) as u64 * down / up) as usize);
    // Output residue p (n ≡ p mod up) sits at input time p · down / up + down · m: table row
    // (p · down) mod up.
    let h: [&[f32]; PH] = std::array::from_fn(|q| {
        let row = ((p0 + q) as u64 * down % up) as usize;
        &bank.table[row * taps..(row + 1) * taps]
    });
    let mut acc = [[simd.splat_f32s(0.0); BLOCK_VECTORS]; PH];
    // acc += tap · row, in tap order for every phase (the same sums whichever loop runs).
    let fma = |acc: &mut [S::f32s; BLOCK_VECTORS], tap: f32, row: &[f32]| {
        let hk = simd.splat_f32s(tap);
        let (rv, _) = S::as_simd_f32s(row);
        // A fixed-size view, so that the loop unrolls and `acc` stays in registers.
        if let Some(rv) = rv.first_chunk::<BLOCK_VECTORS>() {
            for v in 0..BLOCK_VECTORS {
                acc[v] = simd.mul_add_e_f32s(hk, rv[v], acc[v]);
            }
        }
    };
    let shift = first_row[PH - 1] - first_row[0];
    if PH == 2 && shift <= taps {
        // The two windows overlap but for `shift` rows: each shared row is loaded once for
        // both phases. Tap iterators first in each zip, so that no row is skipped when they
        // run out.
        let (h0, h1) = (h[0], h[PH - 1]);
        let (a0, a1) = acc.split_at_mut(1);
        let (a0, a1) = (&mut a0[0], &mut a1[0]);
        let mut rows = t[first_row[0] * cols..].chunks_exact(cols);
        for (&k0, row) in h0[..shift].iter().zip(rows.by_ref()) {
            fma(a0, k0, row);
        }
        for ((&k0, &k1), row) in h0[shift..]
            .iter()
            .zip(&h1[..taps - shift])
            .zip(rows.by_ref())
        {
            fma(a0, k0, row);
            fma(a1, k1, row);
        }
        for (&k1, row) in h1[taps - shift..].iter().zip(rows) {
            fma(a1, k1, row);
        }
    } else {
        for (q, acc) in acc.iter_mut().enumerate() {
            let rows = t[first_row[q] * cols..].chunks_exact(cols);
            for (&k, row) in h[q].iter().zip(rows) {
                fma(acc, k, row);
            }
        }
    }
    let mut lane_buf = [0f32; 64];
    for (q, acc) in acc.iter().enumerate() {
        for (v, &a) in acc.iter().enumerate() {
            let (dst, _) = S::as_mut_simd_f32s(&mut lane_buf[..lanes]);
            dst[0] = a;
            for (j, &val) in lane_buf[..lanes].iter().enumerate() {
                if let Some(o) = out.get_mut(p0 + q + up as usize * (v * lanes + j)) {
                    *o = val;
                }
            }
        }
    }
}

struct Fill<'a> {
    bank: &'a Bank,
    x: &'a [f32],
    origin: i64,
    n0: u64,
    out: &'a mut [f32],
}

impl pulp::WithSimd for Fill<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let (bank, x) = (self.bank, self.x);
        let taps = bank.taps;
        // Only windows over an end of the signal need it (never the stream's).
        let mut edge = Vec::new();
        // Input time of output n0, then steps of down / up without a division per output.
        let num = self.n0 * bank.down;
        let (mut i, mut p) = (num / bank.up, num % bank.up);
        let (q, r) = (bank.down / bank.up, bank.down % bank.up);
        for y in self.out.iter_mut() {
            let t = bank.tap_at(i, p);
            i += q;
            p += r;
            if p >= bank.up {
                p -= bank.up;
                i += 1;
            }
            let start = t.start - self.origin;
            let end = start + taps as i64;
            *y = if start >= 0 && end <= x.len() as i64 {
                bank.apply(simd, t, &x[start as usize..end as usize])
            } else {
                // Window over an end of the signal: zeros outside.
                edge.resize(taps, 0.0);
                for (k, e) in edge.iter_mut().enumerate() {
                    let idx = start + k as i64;
                    *e = if idx >= 0 && idx < x.len() as i64 {
                        x[idx as usize]
                    } else {
                        0.0
                    };
                }
                bank.apply(simd, t, &edge)
            };
        }
    }
}

/// `Σ h[k]·w[k]` with four vector partial sums, then the vector's lanes.
#[inline(always)]
fn dot<S: pulp::Simd>(simd: S, h: &[f32], w: &[f32]) -> f32 {
    let (hv, ht) = S::as_simd_f32s(h);
    let (wv, wt) = S::as_simd_f32s(&w[..h.len()]);
    let zero = simd.splat_f32s(0.0);
    let mut acc = [zero; 4];
    let mut hq = hv.chunks_exact(4);
    let mut wq = wv.chunks_exact(4);
    for (hc, wc) in (&mut hq).zip(&mut wq) {
        for l in 0..4 {
            acc[l] = simd.mul_add_e_f32s(hc[l], wc[l], acc[l]);
        }
    }
    for (l, (&hc, &wc)) in hq.remainder().iter().zip(wq.remainder()).enumerate() {
        acc[l] = simd.mul_add_e_f32s(hc, wc, acc[l]);
    }
    let pair = [simd.add_f32s(acc[0], acc[2]), simd.add_f32s(acc[1], acc[3])];
    let mut sum = simd.reduce_sum_f32s(simd.add_f32s(pair[0], pair[1]));
    for (&a, &b) in ht.iter().zip(wt) {
        sum += a * b;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::abs_diff;

    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / 16_777_216.0 - 0.5
            })
            .collect()
    }

    /// Each output is the filter evaluated at its exact distance from the input samples, in
    /// f64: the table, the window indexing and the ends of the signal.
    #[test]
    fn outputs_equal_the_direct_sum() {
        for rate in [22_050u32, 44_100, 48_000, 11_025, 8_000, 44_101] {
            let x = noise(rate as usize / 2 + 13, rate);
            let bank = Bank::new(rate);
            let out_len = super::super::math::output_len(x.len(), rate);
            let y = bank.resample(&x, out_len);
            let scale = (f64::from(SAMPLE_RATE) / f64::from(rate)).min(1.0);
            let mut worst = 0f64;
            for n in (0..out_len).step_by(7).chain(out_len - 3..out_len) {
                let time = n as f64 * f64::from(rate) / f64::from(SAMPLE_RATE);
                let want: f64 = x
                    .iter()
                    .enumerate()
                    .map(|(j, &v)| scale * kernel(scale * (j as f64 - time)) * f64::from(v))
                    .sum();
                worst = worst.max(abs_diff(y[n], want));
            }
            // Exact tables: f32 rounding only; 44,101 Hz: linear interpolation between
            // 1,024 phases as well.
            let limit = if bank.exact { 2e-6 } else { 1e-4 };
            assert!(worst < limit, "{rate} Hz: worst {worst:e}");
        }
    }

    /// A sine in the pass band keeps its amplitude; one above 6 kHz is removed.
    #[test]
    fn pass_band_and_stop_band() {
        for rate in [22_050u32, 44_100, 48_000] {
            let bank = Bank::new(rate);
            let tone = |f: f64| -> f64 {
                let x: Vec<f32> = (0..rate as usize)
                    .map(|i| {
                        (2.0 * std::f64::consts::PI * f * i as f64 / f64::from(rate)).sin() as f32
                    })
                    .collect();
                let y = bank.resample(&x, super::super::math::output_len(x.len(), rate));
                let mid = &y[2000..10_000];
                (mid.iter().map(|v| f64::from(*v).powi(2)).sum::<f64>() / mid.len() as f64 * 2.0)
                    .sqrt()
            };
            for f in [100.0, 1000.0, 4000.0, 5000.0] {
                let a = tone(f);
                assert!(
                    (a - 1.0).abs() < 2e-3,
                    "{rate} Hz, {f} Hz tone: amplitude {a}"
                );
            }
            for f in [6500.0, 8000.0, 10_000.0] {
                let a = tone(f);
                assert!(a < 1e-4, "{rate} Hz, {f} Hz tone: leaks {a}");
            }
        }
    }

    #[test]
    fn phase_counts() {
        assert_eq!((Bank::new(22_050).up, Bank::new(22_050).down), (80, 147));
        assert_eq!((Bank::new(48_000).up, Bank::new(48_000).down), (1, 4));
        assert!(!Bank::new(44_101).exact);
        assert_eq!(Bank::new(22_050).taps() % LANES, 0);
    }
}

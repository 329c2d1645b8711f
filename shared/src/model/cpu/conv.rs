//! A fused CPU kernel for the conv blocks: 3×3 "same" convolution → max-pool → bias → ELU.
//!
//! candle's CPU conv2d builds one im2col matrix for the whole input (80 MB for the CRNN's
//! second block) and then runs bias, ELU and pooling as separate passes over the full-size
//! activations. Here each task computes a few conv rows of one image in column chunks that
//! stay in cache and pools them straight away; only pooled values are written.
//!
//! * Layers with one input channel (the first block) run a direct 3×3 stencil.
//! * All others run Winograd F(m×m, 3×3) ([`super::winograd`]): 3.2–4× fewer multiply-adds,
//!   the channel sums done by `gemm`.
//!
//! Activations are channels-last (`[batch, h, w, c]`) so that every step works on contiguous
//! channel vectors; the networks convert to and from candle's `[batch, c, h, w]` only at the
//! ends of the conv stack. The loops are compiled once per vector ISA through `pulp` and the
//! widest one the CPU has is picked at run time.
//!
//! Two identities make the fusion exact: ELU and adding a per-channel bias are monotonically
//! non-decreasing, so `maxpool(elu(conv + b)) = elu(maxpool(conv) + b)` bit for bit, and ELU runs
//! on 4–20× fewer values. Rows and columns that the floor-mode pool drops are never computed.

use std::cell::Cell;

use rayon::prelude::*;

use super::winograd::{self, Winograd};

/// One worker thread's buffers for the conv tasks: Winograd transforms and conv rows.
#[derive(Debug, Default)]
struct TaskScratch {
    winograd: winograd::Scratch,
    conv: Vec<f32>,
}

thread_local! {
    /// The buffers this thread used in its last conv call, kept for the next one. Fresh
    /// buffers per call (a few MB per layer and thread, four layers per forward pass) made the
    /// allocator keep the high-water mark of every thread that ever ran a conv: about +30 MiB
    /// per plugin instance.
    static SPARE: Cell<Option<Box<TaskScratch>>> = const { Cell::new(None) };
}

/// A thread's [`TaskScratch`] for the duration of one rayon split, handed back on drop. A
/// split that starts while another is still running on the same thread (work stealing)
/// finds no spare and makes its own; one of the two is kept afterwards.
struct Lease(Option<Box<TaskScratch>>);

impl Lease {
    fn take() -> Self {
        Self(Some(SPARE.with(Cell::take).unwrap_or_default()))
    }

    fn parts(&mut self) -> (&mut winograd::Scratch, &mut Vec<f32>) {
        let s = self.0.get_or_insert_with(Box::default);
        (&mut s.winograd, &mut s.conv)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(s) = self.0.take() {
            // During thread teardown the slot may be gone: then the buffers are simply freed.
            let _ = SPARE.try_with(|spare| spare.set(Some(s)));
        }
    }
}

/// Conv weights (BatchNorm already folded in) plus pooling, prepared for the CPU kernels.
#[derive(Debug, Clone)]
pub struct FusedConv {
    c_in: usize,
    c_out: usize,
    pool: (usize, usize),
    /// One-channel layers: the 9 taps as `[ky·3 + kx][c_out]`.
    taps: Vec<f32>,
    bias: Vec<f32>,
    /// Layers with several input channels: the Winograd form of the weights.
    winograd: Option<Winograd>,
}

/// Budget for one worker's buffers (transformed input and products, or conv rows) in floats.
const TILE_ENTRIES: usize = 1 << 18;

impl FusedConv {
    /// `weight`: `[c_out, c_in, 3, 3]` row-major; `bias`: `[c_out]`; `pool`: (rows, columns).
    pub fn new(
        c_in: usize,
        c_out: usize,
        pool: (usize, usize),
        weight: Vec<f32>,
        bias: Vec<f32>,
    ) -> Self {
        assert!(c_in > 0 && c_out > 0, "conv channels");
        assert_eq!(weight.len(), c_out * c_in * 9, "conv weight size");
        assert_eq!(bias.len(), c_out, "conv bias size");
        assert!(pool.0 > 0 && pool.1 > 0, "pool size");
        // Output tiles of 3 rows line up with 3-row pools; otherwise 4 (a 2- or 4-row pool
        // fits in one tile row, other pools in a few).
        let m = if pool.0 % 3 == 0 { 3 } else { 4 };
        let winograd = (c_in > 1).then(|| Winograd::new(m, c_in, c_out, &weight));
        let mut taps = Vec::new();
        if c_in == 1 {
            taps = vec![0f32; 9 * c_out];
            for co in 0..c_out {
                for k in 0..9 {
                    taps[k * c_out + co] = weight[co * 9 + k];
                }
            }
        }
        Self {
            c_in,
            c_out,
            pool,
            taps,
            bias,
            winograd,
        }
    }

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.c_out
    }

    /// Output spatial size for an `h × w` input (floor-mode pooling).
    pub fn out_dims(&self, h: usize, w: usize) -> (usize, usize) {
        (h / self.pool.0, w / self.pool.1)
    }

    /// `x`: `[batch, h, w, c_in]` (channels-last) → `[batch, h/ph, w/pw, c_out]`.
    pub fn forward(&self, x: &[f32], batch: usize, h: usize, w: usize) -> Vec<f32> {
        assert_eq!(x.len(), batch * self.c_in * h * w, "conv input size");
        let (ph, pw) = self.pool;
        let (oh, ow) = self.out_dims(h, w);
        if oh == 0 || ow == 0 {
            return Vec::new();
        }
        let c = self.c_out;
        let row_len = ow * c;
        let mut out = vec![0f32; batch * oh * row_len];
        // Each task: `rows` conv rows (whole tile rows and whole pool rows) of one image.
        let tile = self.winograd.as_ref().map_or(1, |wg| wg.m);
        let rows = lcm(tile, ph);
        let pooled_per_task = rows / ph;
        // Column chunks: a multiple of lcm(tile, pw) conv columns within the buffer budget.
        let unit = lcm(tile, pw);
        let chunk_cols = match &self.winograd {
            Some(wg) => {
                let tiles = TILE_ENTRIES / (wg.alpha * wg.alpha * (self.c_in + c));
                tiles * tile / (rows / tile)
            }
            None => TILE_ENTRIES / (rows * c),
        };
        let needed = ow * pw;
        let chunk_cols = ((chunk_cols / unit).max(1) * unit).min(needed.div_ceil(unit) * unit);
        let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::new();
        for (b, image_rows) in out.chunks_mut(oh * row_len).enumerate() {
            for (k, task) in image_rows.chunks_mut(pooled_per_task * row_len).enumerate() {
                tasks.push((b, k, task));
            }
        }
        let per_image = self.c_in * h * w;
        tasks
            .into_par_iter()
            .for_each_init(Lease::take, |lease, (b, k, out)| {
                let (scratch, conv) = lease.parts();
                let image = &x[b * per_image..(b + 1) * per_image];
                let mut x0 = 0;
                while x0 < needed {
                    let cw = chunk_cols.min(needed - x0);
                    let op = ChunkOp {
                        conv: self,
                        image,
                        hw: (h, w),
                        rows: (k * rows, rows),
                        cols: (x0, cw),
                        scratch,
                        buf: conv,
                        out,
                    };
                    // Two instantiations, so that profiles tell the two kernels apart.
                    match self.winograd {
                        Some(_) => pulp::Arch::new().dispatch(op),
                        None => pulp::Arch::new().dispatch(DirectOp(op)),
                    }
                    x0 += cw;
                }
            });
        out
    }

    /// One-channel layers: conv rows `y0 ..` of the task (only those its pooled rows need),
    /// columns `x0 .. x0 + cw`, pooled, biased and ELU'd straight into `out`
    /// (`[pooled rows, ow, c_out]`). A direct 3×3 stencil over a zero-padded copy of the rows,
    /// vectorised along the output channels.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn direct_pooled<S: pulp::Simd>(
        &self,
        simd: S,
        plane: &[f32],
        (h, w): (usize, usize),
        y0: usize,
        (x0, cw): (usize, usize),
        pad: &mut Vec<f32>,
        out: &mut [f32],
    ) {
        let (ph, pw) = self.pool;
        let c = self.c_out;
        let row_len = w / pw * c;
        let pooled_rows = out.len() / row_len;
        let rows = pooled_rows * ph;
        // pad[i] = input row y0 + i − 1, columns x0 − 1 .. x0 + cw + 1 (zero outside).
        let stride = cw + 2;
        pad.resize((rows + 2) * stride, 0.0);
        for i in 0..rows + 2 {
            let dst = &mut pad[i * stride..(i + 1) * stride];
            let yy = (y0 + i) as isize - 1;
            if yy < 0 || yy as usize >= h {
                dst.fill(0.0);
            } else {
                let row = &plane[yy as usize * w..(yy as usize + 1) * w];
                copy_shifted(row, x0 as isize - 1, dst);
            }
        }
        let pad = &pad[..];
        let lanes = std::mem::size_of::<S::f32s>() / std::mem::size_of::<f32>();
        let (taps, taps_tail) = S::as_simd_f32s(&self.taps);
        if c % lanes == 0 && taps_tail.is_empty() {
            // One vector of output channels at a time: its 9 taps stay in registers over the
            // whole chunk, each input value is broadcast, the pool's max is taken in registers.
            let nb = c / lanes;
            for b in 0..nb {
                let t: [S::f32s; 9] = std::array::from_fn(|k| taps[k * nb + b]);
                for (r, out_row) in out.chunks_exact_mut(row_len).enumerate() {
                    let cols = &mut out_row[x0 / pw * c..(x0 + cw) / pw * c];
                    let (cols, _) = S::as_mut_simd_f32s(cols);
                    for (oc, px) in cols.chunks_exact_mut(nb).enumerate() {
                        let mut best = simd.splat_f32s(f32::NEG_INFINITY);
                        for dy in 0..ph {
                            for dx in 0..pw {
                                let x = patch(pad, stride, r * ph + dy, oc * pw + dx);
                                let mut a = simd.mul_f32s(simd.splat_f32s(x[0]), t[0]);
                                for k in 1..9 {
                                    a = simd.mul_add_e_f32s(simd.splat_f32s(x[k]), t[k], a);
                                }
                                best = simd.max_f32s(best, a);
                            }
                        }
                        px[b] = best;
                    }
                }
            }
        } else {
            let t: [&[f32]; 9] = std::array::from_fn(|k| &self.taps[k * c..(k + 1) * c]);
            for (r, out_row) in out.chunks_exact_mut(row_len).enumerate() {
                for oc in 0..cw / pw {
                    let dst = &mut out_row[(x0 / pw + oc) * c..][..c];
                    for dy in 0..ph {
                        for dx in 0..pw {
                            let x = patch(pad, stride, r * ph + dy, oc * pw + dx);
                            let first = dy == 0 && dx == 0;
                            for (i, d) in dst.iter_mut().enumerate() {
                                let mut a = x[0] * t[0][i];
                                for k in 1..9 {
                                    a = x[k].mul_add(t[k][i], a);
                                }
                                *d = if first || a > *d { a } else { *d };
                            }
                        }
                    }
                }
            }
        }
        // ELU as one pass over each row's new values: a long loop vectorises, sixteen-wide
        // blocks of the transcendental did not.
        for out_row in out.chunks_exact_mut(row_len) {
            for px in out_row[x0 / pw * c..(x0 + cw) / pw * c].chunks_exact_mut(c) {
                for (v, &b) in px.iter_mut().zip(&self.bias) {
                    *v = elu(*v + b);
                }
            }
        }
    }

    /// Max-pool `conv` (`[rows, cw, c_out]`, columns from `x0`) into the task's pooled rows
    /// `out` (`[pooled rows, ow, c_out]`), then add the bias and apply ELU. The conv output
    /// is finite, so plain comparisons (which vectorise) replace NaN-aware `f32::max`.
    #[inline(always)]
    fn pool_into(&self, conv: &[f32], (x0, cw): (usize, usize), out: &mut [f32], row_len: usize) {
        let (ph, pw) = self.pool;
        let c = self.c_out;
        for (r, out_row) in out.chunks_exact_mut(row_len).enumerate() {
            for oc in 0..cw / pw {
                let dst = &mut out_row[(x0 / pw + oc) * c..][..c];
                dst.copy_from_slice(&conv[((r * ph) * cw + oc * pw) * c..][..c]);
                for dy in 0..ph {
                    for dx in 0..pw {
                        let src = &conv[((r * ph + dy) * cw + oc * pw + dx) * c..][..c];
                        for (d, &v) in dst.iter_mut().zip(src) {
                            *d = if v > *d { v } else { *d };
                        }
                    }
                }
                for (d, &b) in dst.iter_mut().zip(&self.bias) {
                    *d = elu(*d + b);
                }
            }
        }
    }
}

/// One column chunk of one task as a [`pulp::WithSimd`] operation: `with_simd` and everything
/// it calls are inlined into pulp's per-ISA entry points (AVX2, AVX-512, NEON, scalar).
struct ChunkOp<'a> {
    conv: &'a FusedConv,
    image: &'a [f32],
    hw: (usize, usize),
    rows: (usize, usize),
    cols: (usize, usize),
    scratch: &'a mut winograd::Scratch,
    buf: &'a mut Vec<f32>,
    out: &'a mut [f32],
}

impl pulp::WithSimd for ChunkOp<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _simd: S) {
        let ChunkOp {
            conv,
            image,
            hw,
            rows,
            cols,
            scratch,
            buf,
            out,
        } = self;
        if let Some(wg) = &conv.winograd {
            let row_len = conv.out_dims(hw.0, hw.1).1 * conv.c_out;
            buf.resize(rows.1 * cols.1 * conv.c_out, 0.0);
            wg.conv_tile(image, hw, rows, cols, scratch, buf);
            conv.pool_into(buf, cols, out, row_len);
        }
    }
}

/// The one-channel variant of [`ChunkOp`].
struct DirectOp<'a>(ChunkOp<'a>);

impl pulp::WithSimd for DirectOp<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) {
        let op = self.0;
        op.conv
            .direct_pooled(simd, op.image, op.hw, op.rows.0, op.cols, op.buf, op.out);
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let gcd = |mut a: usize, mut b: usize| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    a / gcd(a, b) * b
}

/// The 9 inputs of conv pixel (row `r`, column `col`) of a zero-padded tile, in tap order.
#[inline(always)]
fn patch(pad: &[f32], stride: usize, r: usize, col: usize) -> [f32; 9] {
    let rows = &pad[r * stride + col..];
    let (a, b, c) = (
        &rows[..3],
        &rows[stride..stride + 3],
        &rows[2 * stride..2 * stride + 3],
    );
    [a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]]
}

/// `dst[j] = src[start + j]` where that index exists, 0 elsewhere (the conv's zero padding).
fn copy_shifted(src: &[f32], start: isize, dst: &mut [f32]) {
    let len = dst.len() as isize;
    let lo = (-start).clamp(0, len) as usize;
    let hi = (src.len() as isize - start).clamp(lo as isize, len) as usize;
    dst[..lo].fill(0.0);
    let s = (start + lo as isize) as usize;
    dst[lo..hi].copy_from_slice(&src[s..s + (hi - lo)]);
    dst[hi..].fill(0.0);
}

/// `[batch, c, h, w]` → `[batch, h, w, c]`.
pub fn to_channels_last(x: &[f32], batch: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    let plane = h * w;
    for b in 0..batch {
        let src = &x[b * c * plane..(b + 1) * c * plane];
        let dst = &mut y[b * c * plane..(b + 1) * c * plane];
        for ch in 0..c {
            for (p, &v) in src[ch * plane..(ch + 1) * plane].iter().enumerate() {
                dst[p * c + ch] = v;
            }
        }
    }
    y
}

/// `[batch, h, w, c]` → `[batch, c, h, w]`.
pub fn to_channels_first(x: &[f32], batch: usize, c: usize, h: usize, w: usize) -> Vec<f32> {
    let mut y = vec![0f32; x.len()];
    let plane = h * w;
    for b in 0..batch {
        let src = &x[b * c * plane..(b + 1) * c * plane];
        let dst = &mut y[b * c * plane..(b + 1) * c * plane];
        for (p, px) in src.chunks_exact(c).enumerate() {
            for (ch, &v) in px.iter().enumerate() {
                dst[ch * plane + p] = v;
            }
        }
    }
    y
}

/// ELU with α = 1: `x` for `x > 0`, else `exp(x) − 1`.
///
/// `exp` by range reduction `x = k·ln2 + r`, |r| ≤ ln2/2, and a degree-6 Taylor polynomial
/// (relative error < 2e-7, absolute error of `exp(x) − 1` < 2.5e-7 over x ≤ 0), branch-free
/// so the loop vectorises; libm's `exp_m1` made ELU the most expensive part of the first block.
#[inline]
pub fn elu(x: f32) -> f32 {
    let pos = x;
    let x = x.clamp(-87.0, 0.0);
    // Round to nearest by adding and subtracting 1.5·2^23 (|x·log2 e| < 2^22 here): unlike
    // `f32::round` this stays a plain add and vectorises.
    const ROUND: f32 = 12_582_912.0;
    let k = (x * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = x - k * std::f32::consts::LN_2;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // 2^k for k in [-126, 0] through the exponent bits.
    let two_k = f32::from_bits(((k as i32 + 127) as u32) << 23);
    // Both sides are computed and one is selected, so a loop over `elu` stays branch-free.
    if pos > 0.0 {
        pos
    } else {
        p * two_k - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{abs_diff, max_abs_diff};

    /// Direct (naive) conv → bias → ELU → max-pool, the definition the kernel must equal.
    fn naive(conv: &FusedConv, weight: &[f32], x: &[f32], h: usize, w: usize) -> Vec<f32> {
        let (ph, pw) = conv.pool;
        let (oh, ow) = conv.out_dims(h, w);
        let mut full = vec![0f32; conv.c_out * h * w];
        for co in 0..conv.c_out {
            for y in 0..h {
                for xx in 0..w {
                    let mut acc = 0f64;
                    for ci in 0..conv.c_in {
                        for ky in 0..3 {
                            for kx in 0..3 {
                                let (yy, xs) =
                                    (y as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                                if yy < 0 || xs < 0 || yy >= h as isize || xs >= w as isize {
                                    continue;
                                }
                                let wv = weight[co * conv.c_in * 9 + ci * 9 + ky * 3 + kx];
                                acc += f64::from(wv)
                                    * f64::from(x[(ci * h + yy as usize) * w + xs as usize]);
                            }
                        }
                    }
                    let v = acc as f32 + conv.bias[co];
                    full[(co * h + y) * w + xx] = if v > 0.0 { v } else { v.exp_m1() };
                }
            }
        }
        let mut out = vec![0f32; conv.c_out * oh * ow];
        for co in 0..conv.c_out {
            for r in 0..oh {
                for c in 0..ow {
                    let mut best = f32::NEG_INFINITY;
                    for dy in 0..ph {
                        for dx in 0..pw {
                            best = best.max(full[(co * h + r * ph + dy) * w + c * pw + dx]);
                        }
                    }
                    out[(co * oh + r) * ow + c] = best;
                }
            }
        }
        out
    }

    fn pseudo_random(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn fast_elu_matches_libm() {
        let mut worst = 0f64;
        let mut x = -30.0f32;
        while x < 5.0 {
            let want = if x > 0.0 { x } else { x.exp_m1() };
            worst = worst.max(abs_diff(elu(x), want));
            x += 0.001_3;
        }
        assert!(worst < 3e-7, "worst {worst}");
        assert_eq!(elu(-1000.0), -1.0);
        assert_eq!(elu(2.5), 2.5);
        assert_eq!(elu(0.0), 0.0);
    }

    #[test]
    fn equals_naive_conv_elu_pool_on_odd_shapes() {
        // Odd sizes exercise edge padding, dropped floor rows/columns, partial tiles and
        // column chunks; c_in = 1 takes the direct path, the others Winograd with m = 3 and 4.
        for (c_in, c_out, h, w, pool) in [
            (1, 4, 9, 23, (2, 4)),
            (1, 64, 10, 37, (2, 2)),
            (3, 5, 13, 17, (3, 5)),
            (6, 2, 8, 8, (4, 4)),
            (32, 16, 11, 50, (3, 3)),
            (48, 40, 9, 61, (2, 4)),
            (40, 24, 17, 29, (4, 4)),
            (24, 8, 12, 1000, (3, 5)),
        ] {
            let weight = pseudo_random(c_out * c_in * 9, 1);
            let conv = FusedConv::new(c_in, c_out, pool, weight.clone(), pseudo_random(c_out, 2));
            let x = pseudo_random(2 * c_in * h * w, 3);
            let (oh, ow) = conv.out_dims(h, w);
            let y = conv.forward(&to_channels_last(&x, 2, c_in, h, w), 2, h, w);
            let y = to_channels_first(&y, 2, c_out, oh, ow);
            let per = c_in * h * w;
            let out_per = y.len() / 2;
            for b in 0..2 {
                let want = naive(&conv, &weight, &x[b * per..(b + 1) * per], h, w);
                let got = &y[b * out_per..(b + 1) * out_per];
                let worst = max_abs_diff(got, &want);
                let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
                println!("{c_in}x{c_out} {h}x{w} {pool:?}: {worst:.2e} (max {scale:.1})");
                assert!(
                    worst < f64::from(1e-6 * scale.max(1.0) * (c_in as f32).sqrt() * 4.0),
                    "{c_in}x{c_out} {h}x{w} {pool:?}: {worst}"
                );
            }
        }
    }

    #[test]
    fn layouts_round_trip() {
        let x = pseudo_random(2 * 3 * 4 * 5, 9);
        let y = to_channels_last(&x, 2, 3, 4, 5);
        assert_eq!(y[(4 * 5 + 1) * 3 + 2], x[(3 + 2) * 20 + 1]);
        assert_eq!(to_channels_first(&y, 2, 3, 4, 5), x);
    }
}

//! A fused CPU kernel for the conv blocks: 3×3 "same" convolution → max-pool → bias → ELU.
//!
//! candle's CPU conv2d builds one im2col matrix for the whole input (80 MB for the CRNN's
//! second block) and then runs bias, ELU and pooling as separate passes over the full-size
//! activations. Here each pooled output row is computed from a small im2col tile that stays in
//! cache, multiplied with `gemm`, and pooled straight away; only pooled values are written.
//!
//! Two identities make the fusion exact: ELU and adding a per-channel bias are monotonically
//! non-decreasing, so `maxpool(elu(conv + b)) = elu(maxpool(conv) + b)` bit for bit, and ELU runs
//! on 4–20× fewer values. Rows and columns that the floor-mode pool drops are never computed.

use rayon::prelude::*;

/// Conv weights (BatchNorm already folded in) in `[c_out, c_in·9]` layout plus pooling.
#[derive(Debug, Clone)]
pub struct FusedConv {
    c_in: usize,
    c_out: usize,
    pool: (usize, usize),
    /// `[c_out, c_in·9]` row-major, k = ci·9 + ky·3 + kx.
    weight: Vec<f32>,
    bias: Vec<f32>,
}

/// Upper bound on im2col tile entries (K × N floats ≈ 1 MB): keeps the tile in L2/L3.
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
        assert_eq!(weight.len(), c_out * c_in * 9, "conv weight size");
        assert_eq!(bias.len(), c_out, "conv bias size");
        assert!(pool.0 > 0 && pool.1 > 0, "pool size");
        Self {
            c_in,
            c_out,
            pool,
            weight,
            bias,
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

    /// `x`: `[batch, c_in, h, w]` row-major → `[batch, c_out, h/ph, w/pw]`.
    pub fn forward(&self, x: &[f32], batch: usize, h: usize, w: usize) -> Vec<f32> {
        assert_eq!(x.len(), batch * self.c_in * h * w, "conv input size");
        let (oh, ow) = self.out_dims(h, w);
        let row_len = self.c_out * ow;
        if oh == 0 || ow == 0 {
            return Vec::new();
        }
        // Computed in [batch, oh, c_out, ow] so every (b, r) task owns a contiguous chunk.
        let mut by_row = vec![0f32; batch * oh * row_len];
        let k = self.c_in * 9;
        // Output columns per tile: a multiple of the pool width within the tile budget.
        let cols_per_tile = (TILE_ENTRIES / (k * self.pool.0 * self.pool.1)).clamp(1, ow);
        // One contiguous group of (b, r) rows per worker thread, so each thread allocates its
        // scratch tiles once.
        let tasks = batch * oh;
        let per_group = tasks.div_ceil(rayon::current_num_threads().max(1));
        let cw = cols_per_tile * self.pool.1;
        let n = self.pool.0 * cw;
        let col_len = (k * n).max((self.pool.0 + 2) * (cw + 2));
        by_row
            .par_chunks_mut(row_len * per_group)
            .enumerate()
            .for_each(|(group, rows)| {
                let mut col = vec![0f32; col_len];
                let mut prod = vec![0f32; self.c_out * n];
                let mut colmax = vec![0f32; cw];
                for (i, out) in rows.chunks_mut(row_len).enumerate() {
                    let task = group * per_group + i;
                    let (b, r) = (task / oh, task % oh);
                    let image = &x[b * self.c_in * h * w..(b + 1) * self.c_in * h * w];
                    let mut ox0 = 0;
                    while ox0 < ow {
                        let ox1 = (ox0 + cols_per_tile).min(ow);
                        let scratch = (&mut col[..], &mut prod[..], &mut colmax[..]);
                        self.tile(image, h, w, r, ox0, ox1, scratch, out, ow);
                        ox0 = ox1;
                    }
                }
            });
        // Back to [batch, c_out, oh, ow].
        let mut y = vec![0f32; batch * self.c_out * oh * ow];
        for b in 0..batch {
            for r in 0..oh {
                let src = &by_row[(b * oh + r) * row_len..(b * oh + r + 1) * row_len];
                for c in 0..self.c_out {
                    let dst = ((b * self.c_out + c) * oh + r) * ow;
                    y[dst..dst + ow].copy_from_slice(&src[c * ow..(c + 1) * ow]);
                }
            }
        }
        y
    }

    /// One output row `r`, output columns `ox0..ox1`, written into `out` (`[c_out, ow]`).
    #[allow(clippy::too_many_arguments)]
    fn tile(
        &self,
        image: &[f32],
        h: usize,
        w: usize,
        r: usize,
        ox0: usize,
        ox1: usize,
        (col, prod, colmax): (&mut [f32], &mut [f32], &mut [f32]),
        out: &mut [f32],
        ow: usize,
    ) {
        let (ph, pw) = self.pool;
        let cw = (ox1 - ox0) * pw; // conv columns in this tile
        let n = ph * cw;
        let x0 = ox0 * pw;
        let y0 = r * ph;
        let m = self.c_out;
        if self.c_in == 1 {
            let (acc, out_cols) = (&mut prod[..n], (ox0, ox1));
            self.direct_single_channel(
                image,
                (h, w),
                (y0, x0, cw),
                col,
                acc,
                colmax,
                out,
                ow,
                out_cols,
            );
        } else {
            self.im2col_gemm(image, h, w, y0, x0, cw, col, &mut prod[..m * n]);
            for c in 0..m {
                let dst = &mut out[c * ow + ox0..c * ow + ox1];
                self.pool_channel(&prod[c * n..(c + 1) * n], cw, c, dst, colmax);
            }
        }
    }

    /// One input channel (the first block): im2col would give K = 9, too thin for a GEMM.
    /// Direct 3×3 stencil over a zero-padded copy of the rows (contiguous inner loop), one
    /// output channel at a time into an L1-sized buffer that is pooled straight away.
    #[allow(clippy::too_many_arguments)]
    fn direct_single_channel(
        &self,
        plane: &[f32],
        (h, w): (usize, usize),
        (y0, x0, cw): (usize, usize, usize),
        rows: &mut [f32],
        acc_buf: &mut [f32],
        colmax: &mut [f32],
        out: &mut [f32],
        ow: usize,
        (ox0, ox1): (usize, usize),
    ) {
        let ph = self.pool.0;
        let pw_len = cw + 2;
        // rows[i] = input row y0 + i − 1, columns x0 − 1 .. x0 + cw + 1 (zero outside).
        for i in 0..ph + 2 {
            let dst = &mut rows[i * pw_len..(i + 1) * pw_len];
            let yy = (y0 + i) as isize - 1;
            if yy < 0 || yy >= h as isize {
                dst.fill(0.0);
                continue;
            }
            let src = &plane[yy as usize * w..(yy as usize + 1) * w];
            copy_shifted(src, x0 as isize - 1, dst);
        }
        for c in 0..self.c_out {
            let wk = &self.weight[c * 9..(c + 1) * 9];
            for dy in 0..ph {
                let acc = &mut acc_buf[dy * cw..(dy + 1) * cw];
                acc.fill(0.0);
                for ky in 0..3 {
                    let row = &rows[(dy + ky) * pw_len..(dy + ky + 1) * pw_len];
                    for kx in 0..3 {
                        let wv = wk[ky * 3 + kx];
                        for (a, v) in acc.iter_mut().zip(&row[kx..kx + cw]) {
                            *a += wv * v;
                        }
                    }
                }
            }
            let dst = &mut out[c * ow + ox0..c * ow + ox1];
            self.pool_channel(&acc_buf[..ph * cw], cw, c, dst, colmax);
        }
    }

    /// im2col of the tile followed by one GEMM with the weights.
    #[allow(clippy::too_many_arguments)]
    fn im2col_gemm(
        &self,
        image: &[f32],
        h: usize,
        w: usize,
        y0: usize,
        x0: usize,
        cw: usize,
        col: &mut [f32],
        prod: &mut [f32],
    ) {
        let ph = self.pool.0;
        let n = ph * cw;
        let k = self.c_in * 9;
        // im2col: col[kk][dy·cw + j] = image[ci, y0+dy+ky−1, x0+j+kx−1] (zero outside).
        for ci in 0..self.c_in {
            let plane = &image[ci * h * w..(ci + 1) * h * w];
            for ky in 0..3 {
                for kx in 0..3 {
                    let kk = ci * 9 + ky * 3 + kx;
                    let dst_row = &mut col[kk * n..(kk + 1) * n];
                    for dy in 0..ph {
                        let dst = &mut dst_row[dy * cw..(dy + 1) * cw];
                        let yy = (y0 + dy + ky) as isize - 1;
                        if yy < 0 || yy >= h as isize {
                            dst.fill(0.0);
                            continue;
                        }
                        let src = &plane[yy as usize * w..(yy as usize + 1) * w];
                        copy_shifted(src, x0 as isize + kx as isize - 1, dst);
                    }
                }
            }
        }
        matmul(&self.weight, &col[..k * n], prod, self.c_out, k, n);
    }

    /// Max-pool one channel's `[ph, cw]` conv output into `dst` (`cw / pw` values), then add
    /// the bias and apply ELU to the pooled values. The conv output is finite, so plain
    /// comparisons (which vectorise) replace NaN-aware `f32::max`.
    fn pool_channel(&self, conv: &[f32], cw: usize, c: usize, dst: &mut [f32], colmax: &mut [f32]) {
        let (ph, pw) = self.pool;
        let colmax = &mut colmax[..cw];
        colmax.copy_from_slice(&conv[..cw]);
        for dy in 1..ph {
            for (m, &v) in colmax.iter_mut().zip(&conv[dy * cw..(dy + 1) * cw]) {
                *m = if v > *m { v } else { *m };
            }
        }
        let b = self.bias[c];
        for (d, seg) in dst.iter_mut().zip(colmax.chunks_exact(pw)) {
            let m = seg.iter().fold(seg[0], |m, &v| if v > m { v } else { m });
            *d = elu(m + b);
        }
    }
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

/// ELU with α = 1: `x` for `x > 0`, else `exp(x) − 1`.
///
/// `exp` by range reduction `x = k·ln2 + r`, |r| ≤ ln2/2, and a degree-6 Taylor polynomial
/// (relative error < 2e-7, absolute error of `exp(x) − 1` < 2.5e-7 over x ≤ 0), branch-free
/// so the loop vectorises; libm's `exp_m1` made ELU the most expensive part of the first block.
#[inline]
pub fn elu(x: f32) -> f32 {
    if x > 0.0 {
        return x;
    }
    let x = x.max(-87.0);
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
    p * two_k - 1.0
}

/// `c[m×n] = a[m×k] · b[k×n]`, all row-major and densely packed, single-threaded (the caller
/// parallelises over output rows).
fn matmul(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "matmul sizes"
    );
    // SAFETY: the three slices are live, non-overlapping (c is a unique borrow) and at least
    // m·k, k·n and m·n long (asserted above); with row strides k, n, n and column stride 1,
    // gemm reads a[i·k + l], b[l·n + j] and writes c[i·n + j] only for i < m, l < k, j < n.
    #[allow(unsafe_code)]
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Direct (naive) conv → bias → ELU → max-pool, the definition the kernel must equal.
    fn naive(conv: &FusedConv, x: &[f32], h: usize, w: usize) -> Vec<f32> {
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
                                let wv = conv.weight[co * conv.c_in * 9 + ci * 9 + ky * 3 + kx];
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
        let mut worst = 0f32;
        let mut x = -30.0f32;
        while x < 5.0 {
            let want = if x > 0.0 { x } else { x.exp_m1() };
            worst = worst.max((elu(x) - want).abs());
            x += 0.001_3;
        }
        assert!(worst < 3e-7, "worst {worst}");
        assert_eq!(elu(-1000.0), -1.0);
        assert_eq!(elu(2.5), 2.5);
        assert_eq!(elu(0.0), 0.0);
    }

    #[test]
    fn equals_naive_conv_elu_pool_on_odd_shapes() {
        // Odd sizes exercise edge padding, dropped floor rows/columns and partial tiles.
        for (c_in, c_out, h, w, pool) in [
            (1, 4, 9, 23, (2, 4)),
            (3, 5, 13, 17, (3, 5)),
            (6, 2, 8, 8, (4, 4)),
        ] {
            let conv = FusedConv::new(
                c_in,
                c_out,
                pool,
                pseudo_random(c_out * c_in * 9, 1),
                pseudo_random(c_out, 2),
            );
            let x = pseudo_random(2 * c_in * h * w, 3);
            let y = conv.forward(&x, 2, h, w);
            let per = c_in * h * w;
            let out_per = y.len() / 2;
            for b in 0..2 {
                let want = naive(&conv, &x[b * per..(b + 1) * per], h, w);
                let got = &y[b * out_per..(b + 1) * out_per];
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(worst < 1e-5, "{c_in}x{c_out} {h}x{w} {pool:?}: {worst}");
            }
        }
    }
}

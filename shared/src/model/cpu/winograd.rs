//! Winograd minimal filtering F(m×m, 3×3) for the conv blocks with many input channels.
//!
//! A 3×3 "same" convolution over `c_in` channels costs 9·c_in multiply-adds per output value.
//! Winograd's algorithm computes an m×m output tile from an α×α input tile (α = m + 2) with
//! α² products per channel pair instead of 9·m²: `Y = Aᵀ [ Σ_ci (G g Gᵀ) ⊙ (Bᵀ d B) ] A`.
//! The sum over input channels is, for each of the α² tile positions ξ, a matrix product
//! `[tiles × c_in] · [c_in × c_out]`, which runs through `gemm`. For m = 4 that is 4× fewer
//! multiply-adds than the direct convolution, for m = 3 3.2×.
//!
//! Activations are channels-last (`[h, w, c]`), so every transform is a sum of whole
//! channel vectors: contiguous, and vectorised along the channels.
//!
//! The transforms come from the Toom–Cook construction over α − 1 finite points and ∞: with
//! `V` the α×α evaluation (Vandermonde) matrix of a degree-(α−1) polynomial at those points,
//! `G` and `A` evaluate the filter and the output polynomial there and `Bᵀ = V⁻ᵀ` (the
//! transposed interpolation). Points 0, ±1, ±½ keep the transform entries small, which keeps the
//! float32 rounding error close to the direct convolution's (see the tests).

/// The transforms for one output tile size and the transformed weights of one conv layer.
#[derive(Debug, Clone)]
pub struct Winograd {
    /// Output tile side.
    pub m: usize,
    /// Input tile side, `m + 2`.
    pub alpha: usize,
    c_in: usize,
    c_out: usize,
    /// `Bᵀ`, α×α, as one list of (column, coefficient) per row, zero entries left out.
    bt: Vec<Vec<(usize, f32)>>,
    /// `Aᵀ`, m×α, sparse as `bt`.
    at: Vec<Vec<(usize, f32)>>,
    /// Transformed weights `G g Gᵀ`: `[α²][c_in][c_out]`, one GEMM right operand per ξ.
    u: Vec<f32>,
}

/// Scratch buffers for one worker (sized on first use, then reused).
#[derive(Debug, Default)]
pub struct Scratch {
    half: Vec<f32>,
    v: Vec<f32>,
    mm: Vec<f32>,
    zeros: Vec<f32>,
}

/// The finite interpolation points for output tile side `m` (α − 1 = m + 1 of them).
fn points(m: usize) -> &'static [f64] {
    match m {
        2 => &[0.0, 1.0, -1.0],
        3 => &[0.0, 1.0, -1.0, 0.5],
        4 => &[0.0, 1.0, -1.0, 0.5, -0.5],
        _ => panic!("Winograd tile side {m} not supported (2, 3 or 4)"),
    }
}

/// `(Bᵀ [α×α], G [α×3], Aᵀ [m×α])` in f64, row-major.
pub(crate) fn transforms(m: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let r = 3;
    let alpha = m + r - 1;
    let pts = points(m);
    // Evaluation at a finite point p: the row of powers p^0..p^(n−1); at ∞: the leading
    // coefficient.
    let eval = |n: usize| -> Vec<f64> {
        let mut e = vec![0.0; alpha * n];
        for (j, &p) in pts.iter().enumerate() {
            for k in 0..n {
                e[j * n + k] = p.powi(k as i32);
            }
        }
        e[(alpha - 1) * n + n - 1] = 1.0;
        e
    };
    let v = eval(alpha);
    let v_inv = invert(&v, alpha);
    let mut bt = vec![0.0; alpha * alpha];
    for i in 0..alpha {
        for j in 0..alpha {
            bt[i * alpha + j] = v_inv[j * alpha + i];
        }
    }
    let g = eval(r);
    let a = eval(m);
    let mut at = vec![0.0; m * alpha];
    for i in 0..m {
        for j in 0..alpha {
            at[i * alpha + j] = a[j * m + i];
        }
    }
    (bt, g, at)
}

/// Gauss–Jordan inverse with partial pivoting of an n×n row-major matrix (non-singular:
/// distinct points make the Vandermonde matrix invertible).
fn invert(a: &[f64], n: usize) -> Vec<f64> {
    let mut m = a.to_vec();
    let mut inv = vec![0.0; n * n];
    for i in 0..n {
        inv[i * n + i] = 1.0;
    }
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| m[x * n + col].abs().total_cmp(&m[y * n + col].abs()))
            .unwrap_or(col);
        for k in 0..n {
            m.swap(col * n + k, pivot * n + k);
            inv.swap(col * n + k, pivot * n + k);
        }
        let d = m[col * n + col];
        for k in 0..n {
            m[col * n + k] /= d;
            inv[col * n + k] /= d;
        }
        for row in 0..n {
            if row == col {
                continue;
            }
            let f = m[row * n + col];
            if f != 0.0 {
                for k in 0..n {
                    m[row * n + k] -= f * m[col * n + k];
                    inv[row * n + k] -= f * inv[col * n + k];
                }
            }
        }
    }
    inv
}

fn sparse(mat: &[f64], rows: usize, cols: usize) -> Vec<Vec<(usize, f32)>> {
    (0..rows)
        .map(|i| {
            (0..cols)
                .filter(|&j| mat[i * cols + j].abs() > 1e-12)
                .map(|j| (j, mat[i * cols + j] as f32))
                .collect()
        })
        .collect()
}

/// `dst = Σ coef · src(index)` over the sparse row `terms` (slices of `dst.len()` values).
#[inline(always)]
fn combine<'a>(dst: &mut [f32], terms: &[(usize, f32)], src: impl Fn(usize) -> &'a [f32]) {
    let len = dst.len();
    match terms {
        [] => dst.fill(0.0),
        [(i0, c0), rest @ ..] => {
            for (d, s) in dst.iter_mut().zip(&src(*i0)[..len]) {
                *d = c0 * s;
            }
            for &(i, c) in rest {
                for (d, s) in dst.iter_mut().zip(&src(i)[..len]) {
                    *d = c.mul_add(*s, *d);
                }
            }
        }
    }
}

impl Winograd {
    /// `weight`: `[c_out, c_in, 3, 3]` row-major (cross-correlation kernels).
    pub fn new(m: usize, c_in: usize, c_out: usize, weight: &[f32]) -> Self {
        assert_eq!(weight.len(), c_out * c_in * 9, "conv weight size");
        let alpha = m + 2;
        let (bt, g, at) = transforms(m);
        let mut u = vec![0f32; alpha * alpha * c_in * c_out];
        let mut gk = vec![0f64; alpha * 3];
        for co in 0..c_out {
            for ci in 0..c_in {
                let k = &weight[(co * c_in + ci) * 9..(co * c_in + ci + 1) * 9];
                // gk = G · k  [α × 3]
                for i in 0..alpha {
                    for j in 0..3 {
                        gk[i * 3 + j] =
                            (0..3).map(|l| g[i * 3 + l] * f64::from(k[l * 3 + j])).sum();
                    }
                }
                // U = gk · Gᵀ  [α × α], stored as u[ξ][ci][co].
                for i in 0..alpha {
                    for j in 0..alpha {
                        let val: f64 = (0..3).map(|l| gk[i * 3 + l] * g[j * 3 + l]).sum();
                        u[((i * alpha + j) * c_in + ci) * c_out + co] = val as f32;
                    }
                }
            }
        }
        Self {
            m,
            alpha,
            c_in,
            c_out,
            bt: sparse(&bt, alpha, alpha),
            at: sparse(&at, m, alpha),
            u,
        }
    }

    /// Convolution (without bias) of conv rows `y0 .. y0 + rows` (`rows` a multiple of `m`) and
    /// columns `x0 .. x0 + cw` of one channels-last `[h, w, c_in]` image, written to `out` as
    /// `[rows, cw, c_out]`. Input outside the image is zero (the "same" padding). Inlined so
    /// that it is compiled for the vector unit of its caller (see [`super::conv`]).
    #[inline(always)]
    pub fn conv_tile(
        &self,
        image: &[f32],
        (h, w): (usize, usize),
        (y0, rows): (usize, usize),
        (x0, cw): (usize, usize),
        s: &mut Scratch,
        out: &mut [f32],
    ) {
        let (m, alpha) = (self.m, self.alpha);
        let a2 = alpha * alpha;
        let tr = rows / m;
        let tc = cw.div_ceil(m);
        let t = tr * tc;
        let (c_in, c_out) = (self.c_in, self.c_out);
        s.half.resize(a2 * c_in.max(c_out), 0.0);
        s.v.resize(a2 * t * c_in, 0.0);
        s.mm.resize(a2 * t * c_out, 0.0);
        s.zeros.resize(c_in, 0.0);
        let zeros = &s.zeros[..];

        // 1. Input transform: V[ξ][tile] = (Bᵀ d B)[ξ] with d the tile's α×α input patch.
        for i in 0..tr {
            for j in 0..tc {
                let tile = i * tc + j;
                let pixel = |a: usize, b: usize| -> &[f32] {
                    let yy = (y0 + i * m + a) as isize - 1;
                    let xx = (x0 + j * m + b) as isize - 1;
                    if yy < 0 || xx < 0 || yy as usize >= h || xx as usize >= w {
                        zeros
                    } else {
                        let at = (yy as usize * w + xx as usize) * c_in;
                        &image[at..at + c_in]
                    }
                };
                // half[p][b] = Σ_a Bᵀ[p][a] · d[a][b]
                for (p, terms) in self.bt.iter().enumerate() {
                    for b in 0..alpha {
                        let dst = &mut s.half[(p * alpha + b) * c_in..][..c_in];
                        combine(dst, terms, |a| pixel(a, b));
                    }
                }
                // V[p·α + q][tile] = Σ_b Bᵀ[q][b] · half[p][b]
                for p in 0..alpha {
                    let half = &s.half[p * alpha * c_in..(p + 1) * alpha * c_in];
                    for (q, terms) in self.bt.iter().enumerate() {
                        let xi = p * alpha + q;
                        let dst = &mut s.v[(xi * t + tile) * c_in..][..c_in];
                        combine(dst, terms, |b| &half[b * c_in..]);
                    }
                }
            }
        }

        // 2. M[ξ] = V[ξ] · U[ξ]: [tiles × c_in] · [c_in × c_out].
        for xi in 0..a2 {
            super::gemm::matmul(
                &s.v[xi * t * c_in..(xi + 1) * t * c_in],
                &self.u[xi * c_in * c_out..(xi + 1) * c_in * c_out],
                &mut s.mm[xi * t * c_out..(xi + 1) * t * c_out],
                t,
                c_in,
                c_out,
            );
        }

        // 3. Output transform Y = Aᵀ M A per tile, written into out[row][col].
        let mm = &s.mm[..];
        for i in 0..tr {
            for j in 0..tc {
                let tile = i * tc + j;
                // half[p][b] = Σ_a Aᵀ[p][a] · M[a·α + b][tile]
                for (p, terms) in self.at.iter().enumerate() {
                    for b in 0..alpha {
                        let dst = &mut s.half[(p * alpha + b) * c_out..][..c_out];
                        combine(dst, terms, |a| &mm[((a * alpha + b) * t + tile) * c_out..]);
                    }
                }
                // Y[p][q] = Σ_b Aᵀ[q][b] · half[p][b]; columns past cw are dropped.
                for p in 0..m {
                    let half = &s.half[p * alpha * c_out..(p + 1) * alpha * c_out];
                    let row = i * m + p;
                    for (q, terms) in self.at.iter().enumerate() {
                        let col = j * m + q;
                        if col >= cw {
                            break;
                        }
                        let dst = &mut out[(row * cw + col) * c_out..][..c_out];
                        combine(dst, terms, |b| &half[b * c_out..]);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1-D: Aᵀ[(G g) ⊙ (Bᵀ d)] equals the correlation y_i = Σ_k g_k d_{i+k}.
    #[test]
    fn one_dimensional_identity() {
        for m in [2, 3, 4] {
            let alpha = m + 2;
            let (bt, g, at) = transforms(m);
            let gk = [0.3, -1.2, 0.7];
            let d: Vec<f64> = (0..alpha).map(|i| (i as f64 * 0.37).sin() + 0.1).collect();
            let gg: Vec<f64> = (0..alpha)
                .map(|j| (0..3).map(|k| g[j * 3 + k] * gk[k]).sum())
                .collect();
            let bd: Vec<f64> = (0..alpha)
                .map(|j| (0..alpha).map(|k| bt[j * alpha + k] * d[k]).sum())
                .collect();
            for i in 0..m {
                let got: f64 = (0..alpha).map(|j| at[i * alpha + j] * gg[j] * bd[j]).sum();
                let want: f64 = (0..3).map(|k| gk[k] * d[i + k]).sum();
                assert!((got - want).abs() < 1e-12, "m {m} i {i}: {got} vs {want}");
            }
        }
    }
}

//! Classifiers on frozen features (the paper's "network as feature extractor", §2): a softmax
//! (multinomial logistic) regression and a one-vs-rest linear SVM, both written here, plus
//! the k-nearest-neighbour rule of the MFCC baseline.
//!
//! Both linear models work on standardised features and fold the standardisation back into
//! `W`, `b`, so the result drops into a network's `output` layer as `y = W x + b`.

use crate::rng::Rng;

/// Per-dimension mean and standard deviation of the training features.
#[derive(Debug, Clone)]
pub struct Standardizer {
    /// Mean of each dimension.
    pub mean: Vec<f32>,
    /// Population standard deviation (divided by n) of each dimension; 1 where it is below
    /// 1e-8 (a constant dimension).
    pub std: Vec<f32>,
}

impl Standardizer {
    /// Fit on rows of equal length (at least one row).
    pub fn fit(rows: &[&[f32]]) -> Self {
        let d = rows.first().map_or(0, |r| r.len());
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0f64; d];
        for r in rows {
            for (m, v) in mean.iter_mut().zip(*r) {
                *m += f64::from(*v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0f64; d];
        for r in rows {
            for ((s, v), m) in var.iter_mut().zip(*r).zip(&mean) {
                *s += (f64::from(*v) - m).powi(2);
            }
        }
        Self {
            mean: mean.iter().map(|&m| m as f32).collect(),
            // Constant dimensions keep scale 1 (their standardised value is 0 anyway).
            std: var
                .iter()
                .map(|&v| {
                    let s = (v / n).sqrt() as f32;
                    if s > 1e-8 {
                        s
                    } else {
                        1.0
                    }
                })
                .collect(),
        }
    }

    /// `(row − mean) / std`, dimension by dimension.
    pub fn apply(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.std)
            .map(|((v, m), s)| (v - m) / s)
            .collect()
    }
}

/// A linear layer `scores = W x + b`, `W` row-major `[classes][dims]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// One row of weights per class, on the raw (unstandardised) inputs.
    pub weight: Vec<Vec<f32>>,
    /// One bias per class.
    pub bias: Vec<f32>,
}

impl LinearModel {
    /// `W x + b`: one score per class (argmax decides).
    pub fn scores(&self, x: &[f32]) -> Vec<f32> {
        self.weight
            .iter()
            .zip(&self.bias)
            .map(|(w, b)| w.iter().zip(x).map(|(a, v)| a * v).sum::<f32>() + b)
            .collect()
    }

    /// Express a model trained on standardised inputs in terms of the raw inputs.
    fn unstandardize(self, s: &Standardizer) -> Self {
        let mut bias = self.bias;
        let weight = self
            .weight
            .into_iter()
            .zip(bias.iter_mut())
            .map(|(w, b)| {
                w.iter()
                    .zip(&s.mean)
                    .zip(&s.std)
                    .map(|((wi, m), sd)| {
                        *b -= wi * m / sd;
                        wi / sd
                    })
                    .collect()
            })
            .collect();
        Self { weight, bias }
    }
}

/// Options of [`softmax_regression`].
#[derive(Debug, Clone, Copy)]
pub struct SoftmaxConfig {
    /// Full-batch gradient steps (default 300).
    pub epochs: usize,
    /// Step size of each update (default 0.1).
    pub lr: f32,
    /// L2 penalty on the weights.
    pub l2: f32,
}

impl Default for SoftmaxConfig {
    fn default() -> Self {
        Self {
            epochs: 300,
            lr: 0.1,
            l2: 1e-3,
        }
    }
}

/// Multinomial logistic regression by full-batch gradient descent with momentum 0.9
/// (deterministic; the problems here have ≤ a few thousand rows). `weights` (one per row,
/// mean 1; `None` = all 1) weigh each row's loss ([`super::balance`]).
pub fn softmax_regression(
    x: &[&[f32]],
    y: &[usize],
    weights: Option<&[f64]>,
    n_classes: usize,
    cfg: &SoftmaxConfig,
) -> LinearModel {
    let st = Standardizer::fit(x);
    let xs: Vec<Vec<f32>> = x.iter().map(|r| st.apply(r)).collect();
    let d = st.mean.len();
    let n = weights
        .map_or(xs.len() as f32, |w| w.iter().sum::<f64>() as f32)
        .max(1.0);
    let mut w = vec![vec![0f32; d]; n_classes];
    let mut b = vec![0f32; n_classes];
    let mut vw = vec![vec![0f32; d]; n_classes];
    let mut vb = vec![0f32; n_classes];
    for _ in 0..cfg.epochs {
        let mut gw = vec![vec![0f32; d]; n_classes];
        let mut gb = vec![0f32; n_classes];
        for (i, (row, &t)) in xs.iter().zip(y).enumerate() {
            let z: Vec<f32> = w
                .iter()
                .zip(&b)
                .map(|(wc, bc)| wc.iter().zip(row).map(|(a, v)| a * v).sum::<f32>() + bc)
                .collect();
            let p = softmax(&z);
            let wi = weights.map_or(1.0, |w| w[i] as f32);
            for c in 0..n_classes {
                let g = wi * (p[c] - if c == t { 1.0 } else { 0.0 });
                gb[c] += g;
                for (gi, v) in gw[c].iter_mut().zip(row) {
                    *gi += g * v;
                }
            }
        }
        for c in 0..n_classes {
            for i in 0..d {
                let g = gw[c][i] / n + cfg.l2 * w[c][i];
                vw[c][i] = 0.9 * vw[c][i] - cfg.lr * g;
                w[c][i] += vw[c][i];
            }
            vb[c] = 0.9 * vb[c] - cfg.lr * gb[c] / n;
            b[c] += vb[c];
        }
    }
    LinearModel { weight: w, bias: b }.unstandardize(&st)
}

/// Numerically stable softmax.
pub fn softmax(z: &[f32]) -> Vec<f32> {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = z.iter().map(|v| (v - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|v| v / s).collect()
}

/// Multinomial logistic regression over the classes `classes` (indices into `n_classes`
/// outputs; the others get no weights and score −∞; rows of other classes are left out),
/// solved to its optimum: on standardised rows `z` (mean and deviation unweighted), minimise
/// `Σ w_i·(−log softmax(W z_i + b)[y_i]) / Σ w_i + (l2/2)·‖W‖²` (bias not penalised; strictly
/// convex) by L-BFGS from zero, with `w_i` = `weights` (one per row of `x`; `None` = all 1,
/// the plain mean). Deterministic, and with a unique answer whatever solver finds it, so a
/// model trained here equals one trained by any other exact solver.
pub fn logistic_regression(
    x: &[&[f32]],
    y: &[usize],
    weights: Option<&[f64]>,
    n_classes: usize,
    classes: &[usize],
    l2: f64,
) -> LinearModel {
    let slot: Vec<Option<usize>> = (0..n_classes)
        .map(|c| classes.iter().position(|&k| k == c))
        .collect();
    let kept: Vec<usize> = (0..x.len().min(y.len()))
        .filter(|&i| slot.get(y[i]).copied().flatten().is_some())
        .collect();
    let x: Vec<&[f32]> = kept.iter().map(|&i| x[i]).collect();
    let targets: Vec<usize> = kept.iter().filter_map(|&i| slot[y[i]]).collect();
    let w_rows: Vec<f64> = kept
        .iter()
        .map(|&i| weights.map_or(1.0, |w| w[i]))
        .collect();
    let st = Standardizer::fit(&x);
    let d = st.mean.len();
    let k = classes.len();
    let rows: Vec<Vec<f64>> = x
        .iter()
        .map(|r| st.apply(r).into_iter().map(f64::from).collect())
        .collect();
    let n = match weights {
        None => rows.len().max(1) as f64,
        Some(_) => w_rows.iter().sum::<f64>().max(f64::MIN_POSITIVE),
    };
    // Parameters: W (k × d, row-major), then b (k).
    let objective = |theta: &[f64], grad: &mut [f64]| -> f64 {
        grad.iter_mut().for_each(|g| *g = 0.0);
        let (w, b) = theta.split_at(k * d);
        let (gw, gb) = grad.split_at_mut(k * d);
        let mut loss = 0.0;
        let mut z = vec![0f64; k];
        for ((row, t), wi) in rows.iter().zip(&targets).zip(&w_rows) {
            for (c, zc) in z.iter_mut().enumerate() {
                *zc = b[c]
                    + w[c * d..(c + 1) * d]
                        .iter()
                        .zip(row)
                        .map(|(a, v)| a * v)
                        .sum::<f64>();
            }
            let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - m).exp()).sum();
            let lse = m + sum.ln();
            loss += wi * (lse - z[*t]);
            for c in 0..k {
                let g = wi * ((z[c] - lse).exp() - if *t == c { 1.0 } else { 0.0 });
                gb[c] += g / n;
                for (gi, v) in gw[c * d..(c + 1) * d].iter_mut().zip(row) {
                    *gi += g * v / n;
                }
            }
        }
        let mut penalty = 0.0;
        for (gi, wi) in gw.iter_mut().zip(w) {
            *gi += l2 * wi;
            penalty += wi * wi;
        }
        loss / n + 0.5 * l2 * penalty
    };
    let theta = lbfgs(objective, vec![0.0; k * d + k], 1000, 1e-9);
    let mut weight = vec![vec![0f32; d]; n_classes];
    let mut bias = vec![f32::NEG_INFINITY; n_classes];
    for (slot, &c) in classes.iter().enumerate() {
        weight[c] = theta[slot * d..(slot + 1) * d]
            .iter()
            .map(|&v| v as f32)
            .collect();
        bias[c] = theta[k * d + slot] as f32;
    }
    LinearModel { weight, bias }.unstandardize(&st)
}

/// Minimise a smooth convex `f` (which writes its gradient into the second argument) by
/// limited-memory BFGS (J. Nocedal, "Updating quasi-Newton matrices with limited storage",
/// 1980; 10 pairs) with a backtracking Armijo line search, until the largest gradient entry
/// is below `gtol` or `max_iter` iterations.
pub fn lbfgs(
    mut f: impl FnMut(&[f64], &mut [f64]) -> f64,
    mut x: Vec<f64>,
    max_iter: usize,
    gtol: f64,
) -> Vec<f64> {
    const MEMORY: usize = 10;
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    let n = x.len();
    let mut g = vec![0.0; n];
    let mut fx = f(&x, &mut g);
    let mut pairs: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> =
        std::collections::VecDeque::new();
    let (mut x_new, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..max_iter {
        if g.iter().all(|v| v.abs() < gtol) {
            break;
        }
        // Two-loop recursion: direction = −H·g.
        let mut q = g.clone();
        let mut alphas = Vec::with_capacity(pairs.len());
        for (s, y, rho) in pairs.iter().rev() {
            let a = rho * dot(s, &q);
            q.iter_mut().zip(y).for_each(|(qi, yi)| *qi -= a * yi);
            alphas.push(a);
        }
        if let Some((s, y, _)) = pairs.back() {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for ((s, y, rho), a) in pairs.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &q);
            q.iter_mut().zip(s).for_each(|(qi, si)| *qi += (a - b) * si);
        }
        let mut dir: Vec<f64> = q.iter().map(|v| -v).collect();
        let mut slope = dot(&g, &dir);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            pairs.clear();
            dir = g.iter().map(|v| -v).collect();
            slope = -dot(&g, &g);
        }
        let mut step = if pairs.is_empty() {
            1.0 / dot(&g, &g).sqrt().max(1.0)
        } else {
            1.0
        };
        let mut accepted = false;
        for _ in 0..60 {
            for ((xn, xi), di) in x_new.iter_mut().zip(&x).zip(&dir) {
                *xn = xi + step * di;
            }
            let f_new = f(&x_new, &mut g_new);
            if f_new <= fx + 1e-4 * step * slope {
                let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
                let yv: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
                let sy = dot(&s, &yv);
                if sy > 1e-12 {
                    if pairs.len() == MEMORY {
                        pairs.pop_front();
                    }
                    pairs.push_back((s, yv, 1.0 / sy));
                }
                std::mem::swap(&mut x, &mut x_new);
                std::mem::swap(&mut g, &mut g_new);
                fx = f_new;
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            break; // no decrease possible at float precision: this is the optimum
        }
    }
    x
}

/// Options of [`linear_svm`].
#[derive(Debug, Clone, Copy)]
pub struct SvmConfig {
    /// Soft-margin cost C.
    pub c: f32,
    /// Passes of dual coordinate descent.
    pub passes: usize,
    /// Seed of the order in which each pass visits the examples.
    pub seed: u64,
}

impl Default for SvmConfig {
    fn default() -> Self {
        Self {
            c: 1.0,
            passes: 200,
            seed: 0,
        }
    }
}

/// One-vs-rest L2-regularised hinge-loss linear SVM, solved in the dual by coordinate descent
/// (C.-J. Hsieh et al., "A dual coordinate descent method for large-scale linear SVM", ICML
/// 2008, algorithm 1), the bias learned as the weight of a constant feature 1. `weights` (one
/// per row, mean 1; `None` = all 1) scale each row's cost: `C_i = C·w_i`, the upper bound of
/// its dual variable (LIBLINEAR's per-class weights, per row).
pub fn linear_svm(
    x: &[&[f32]],
    y: &[usize],
    weights: Option<&[f64]>,
    n_classes: usize,
    cfg: &SvmConfig,
) -> LinearModel {
    let st = Standardizer::fit(x);
    let xs: Vec<Vec<f32>> = x
        .iter()
        .map(|r| {
            let mut v = st.apply(r);
            v.push(1.0);
            v
        })
        .collect();
    let d = st.mean.len() + 1;
    let qii: Vec<f32> = xs.iter().map(|r| r.iter().map(|v| v * v).sum()).collect();
    let cost: Vec<f32> = (0..xs.len())
        .map(|i| weights.map_or(cfg.c, |w| cfg.c * w[i] as f32))
        .collect();
    let mut rng = Rng::new(cfg.seed);
    let mut weight = Vec::with_capacity(n_classes);
    let mut bias = Vec::with_capacity(n_classes);
    for c in 0..n_classes {
        let yy: Vec<f32> = y.iter().map(|&t| if t == c { 1.0 } else { -1.0 }).collect();
        let mut alpha = vec![0f32; xs.len()];
        let mut w = vec![0f32; d];
        let mut order: Vec<usize> = (0..xs.len()).collect();
        for _ in 0..cfg.passes {
            rng.shuffle(&mut order);
            let mut max_step = 0f32;
            for &i in &order {
                let g = yy[i] * xs[i].iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() - 1.0;
                let new = (alpha[i] - g / qii[i].max(1e-12)).clamp(0.0, cost[i]);
                let delta = new - alpha[i];
                if delta != 0.0 {
                    alpha[i] = new;
                    for (wj, xj) in w.iter_mut().zip(&xs[i]) {
                        *wj += delta * yy[i] * xj;
                    }
                    max_step = max_step.max(delta.abs());
                }
            }
            if max_step < 1e-5 {
                break;
            }
        }
        bias.push(w[d - 1]);
        w.truncate(d - 1);
        weight.push(w);
    }
    LinearModel { weight, bias }.unstandardize(&st)
}

/// k-nearest neighbours (Euclidean on standardised features): the fraction of the `k`
/// nearest training rows in each class; ties broken by the nearest neighbour's class.
#[derive(Debug, Clone)]
pub struct Knn {
    st: Standardizer,
    rows: Vec<Vec<f32>>,
    y: Vec<usize>,
    n_classes: usize,
    k: usize,
}

impl Knn {
    /// Store the standardised rows `x` with their classes `y` (indices below `n_classes`);
    /// `k` is raised to at least 1.
    pub fn fit(x: &[&[f32]], y: &[usize], n_classes: usize, k: usize) -> Self {
        let st = Standardizer::fit(x);
        Self {
            rows: x.iter().map(|r| st.apply(r)).collect(),
            st,
            y: y.to_vec(),
            n_classes,
            k: k.max(1),
        }
    }

    /// For each class, the fraction of the `k` nearest training rows in it, plus 1e-3 for the
    /// nearest row's class (the tie-break).
    pub fn scores(&self, x: &[f32]) -> Vec<f32> {
        let q = self.st.apply(x);
        let mut d: Vec<(f32, usize)> = self
            .rows
            .iter()
            .zip(&self.y)
            .map(|(r, &t)| (r.iter().zip(&q).map(|(a, b)| (a - b).powi(2)).sum(), t))
            .collect();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        let k = self.k.min(d.len());
        let mut s = vec![0f32; self.n_classes];
        for (_, t) in &d[..k] {
            s[*t] += 1.0 / k as f32;
        }
        if let Some((_, nearest)) = d.first() {
            s[*nearest] += 1e-3; // tie-break, never changes a strict majority
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::argmax;

    /// Three Gaussian blobs in 4-d with a large offset and scale on one axis (tests the
    /// standardisation fold-back).
    fn blobs(n: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut r = Rng::new(seed);
        let centres = [
            [2.0, 0.0, 0.0, 100.0],
            [0.0, 2.0, 0.0, 100.0],
            [0.0, 0.0, 2.0, 100.0],
        ];
        let mut x = Vec::new();
        let mut y = Vec::new();
        for i in 0..n {
            let c = i % 3;
            x.push(
                (0..4)
                    .map(|j| centres[c][j] + 0.5 * r.normal() * if j == 3 { 50.0 } else { 1.0 })
                    .collect(),
            );
            y.push(c);
        }
        (x, y)
    }

    fn accuracy(f: impl Fn(&[f32]) -> Vec<f32>, x: &[Vec<f32>], y: &[usize]) -> f64 {
        let ok = x
            .iter()
            .zip(y)
            .filter(|(r, &t)| argmax(&f(r)) == Some(t))
            .count();
        ok as f64 / y.len() as f64
    }

    #[test]
    fn classifiers_separate_blobs() {
        let (xtr, ytr) = blobs(150, 1);
        let (xte, yte) = blobs(150, 2);
        let refs: Vec<&[f32]> = xtr.iter().map(Vec::as_slice).collect();
        let sm = softmax_regression(&refs, &ytr, None, 3, &SoftmaxConfig::default());
        let svm = linear_svm(&refs, &ytr, None, 3, &SvmConfig::default());
        let knn = Knn::fit(&refs, &ytr, 3, 5);
        let a_sm = accuracy(|r| sm.scores(r), &xte, &yte);
        let a_svm = accuracy(|r| svm.scores(r), &xte, &yte);
        let a_knn = accuracy(|r| knn.scores(r), &xte, &yte);
        // Bayes accuracy of these blobs is ≈ 0.98; chance is 0.33.
        assert!(
            a_sm > 0.9 && a_svm > 0.9 && a_knn > 0.85,
            "{a_sm} {a_svm} {a_knn}"
        );
    }

    /// The largest entry of the gradient of [`logistic_regression`]'s objective at the model
    /// `m` (raw scale), computed independently here in f64 on the rows of `classes`.
    fn objective_gradient(
        m: &LinearModel,
        x: &[Vec<f32>],
        y: &[usize],
        weights: Option<&[f64]>,
        classes: &[usize],
        l2: f64,
    ) -> f64 {
        let kept: Vec<usize> = (0..y.len()).filter(|&i| classes.contains(&y[i])).collect();
        let rows: Vec<&[f32]> = kept.iter().map(|&i| x[i].as_slice()).collect();
        let st = Standardizer::fit(&rows);
        let d = st.mean.len();
        let w = |i: usize| weights.map_or(1.0, |w| w[i]);
        let total: f64 = kept.iter().map(|&i| w(i)).sum();
        let mut grad = vec![vec![0f64; d + 1]; classes.len()];
        for &i in &kept {
            let s = m.scores(&x[i]);
            let z: Vec<f64> = classes.iter().map(|&c| f64::from(s[c])).collect();
            let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let sum: f64 = z.iter().map(|v| (v - mx).exp()).sum();
            let zs: Vec<f64> = st.apply(&x[i]).into_iter().map(f64::from).collect();
            for (k, &c) in classes.iter().enumerate() {
                let g = w(i) * ((z[k] - mx).exp() / sum - f64::from(u8::from(y[i] == c)));
                grad[k][d] += g / total;
                for (gj, zj) in grad[k][..d].iter_mut().zip(&zs) {
                    *gj += g * zj / total;
                }
            }
        }
        // Weights on the standardised scale: W_std = W_raw · std.
        for (g, &c) in grad.iter_mut().zip(classes) {
            for ((gj, w), sd) in g.iter_mut().zip(&m.weight[c]).zip(&st.std) {
                *gj += l2 * f64::from(*w) * f64::from(*sd);
            }
        }
        grad.iter().flatten().fold(0f64, |a, g| a.max(g.abs()))
    }

    /// At the L-BFGS answer the gradient of the penalised objective vanishes: checked
    /// independently, in f64, on the raw rows through the folded model, unweighted and
    /// weighted. Classes left out score −∞.
    #[test]
    fn logistic_regression_reaches_the_optimum() {
        let (x, y) = blobs(90, 3);
        let refs: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
        let l2 = 0.1;
        // Train on classes 0 and 2 of 4 outputs: class 1's rows are left out.
        let m = logistic_regression(&refs, &y, None, 4, &[0, 2], l2);
        assert_eq!(m.bias[1], f32::NEG_INFINITY);
        assert_eq!(m.bias[3], f32::NEG_INFINITY);
        let g = objective_gradient(&m, &x, &y, None, &[0, 2], l2);
        assert!(g < 1e-4, "gradient {g}");
        // And it classifies the two trained blobs.
        let ok = (0..y.len())
            .filter(|&i| y[i] != 1 && argmax(&m.scores(&x[i])) == Some(y[i]))
            .count();
        assert!(ok >= 55, "{ok} of 60");
        // Weighted rows (three weight levels, mean 1): the weighted objective's optimum, and
        // not the unweighted one's.
        let w: Vec<f64> = (0..y.len()).map(|i| [0.5, 1.0, 1.5][i % 7 % 3]).collect();
        let mw = logistic_regression(&refs, &y, Some(&w), 4, &[0, 2], l2);
        let g = objective_gradient(&mw, &x, &y, Some(&w), &[0, 2], l2);
        assert!(g < 1e-4, "weighted gradient {g}");
        let g = objective_gradient(&m, &x, &y, Some(&w), &[0, 2], l2);
        assert!(
            g > 1e-3,
            "the unweighted answer is not the weighted optimum: {g}"
        );
    }

    /// Two overlapping 2-d Gaussians, 19 : 1 in training. The unweighted fits learn the prior
    /// and all but ignore the small class; weighted so that both classes count the same (as
    /// `--balance weights` does), every classifier finds most of it.
    #[test]
    fn class_weights_find_the_small_class() {
        let skewed = |n_big: usize, n_small: usize, seed: u64| {
            let mut r = Rng::new(seed);
            let mut x = Vec::new();
            let mut y = Vec::new();
            for i in 0..n_big + n_small {
                let c = usize::from(i >= n_big);
                let centre = if c == 1 { 1.5 } else { 0.0 };
                x.push(vec![centre + r.normal(), r.normal()]);
                y.push(c);
            }
            (x, y)
        };
        let (xtr, ytr) = skewed(380, 20, 11);
        let (xte, yte) = skewed(500, 500, 12);
        let refs: Vec<&[f32]> = xtr.iter().map(Vec::as_slice).collect();
        let n = ytr.len() as f64;
        let w: Vec<f64> = ytr
            .iter()
            .map(|&c| n / (2.0 * if c == 1 { 20.0 } else { 380.0 }))
            .collect();
        let recall_small = |f: &dyn Fn(&[f32]) -> Vec<f32>| {
            let hit = (500..1000)
                .filter(|&i| argmax(&f(&xte[i])) == Some(yte[i]))
                .count();
            hit as f64 / 500.0
        };
        let lr = |w| logistic_regression(&refs, &ytr, w, 2, &[0, 1], 0.1);
        let sm = |w| softmax_regression(&refs, &ytr, w, 2, &SoftmaxConfig::default());
        let svm = |w| linear_svm(&refs, &ytr, w, 2, &SvmConfig::default());
        for (name, plain, weighted) in [
            ("logistic", lr(None), lr(Some(&w))),
            ("softmax", sm(None), sm(Some(&w))),
            ("svm", svm(None), svm(Some(&w))),
        ] {
            let (r0, r1) = (
                recall_small(&|r| plain.scores(r)),
                recall_small(&|r| weighted.scores(r)),
            );
            // Bayes boundary with equal priors: x = 0.75, recall ≈ 0.77; with the 19 : 1
            // prior: x ≈ 2.7, recall ≈ 0.12.
            assert!(
                r0 < 0.3 && r1 > 0.5,
                "{name}: small-class recall {r0} → {r1}"
            );
        }
    }

    #[test]
    fn lbfgs_minimises_a_quadratic() {
        // f = Σ (i+1)·(x_i − i)²: minimum at x_i = i.
        let x = lbfgs(
            |x, g| {
                let mut f = 0.0;
                for (i, (xi, gi)) in x.iter().zip(g.iter_mut()).enumerate() {
                    let a = (i + 1) as f64;
                    f += a * (xi - i as f64).powi(2);
                    *gi = 2.0 * a * (xi - i as f64);
                }
                f
            },
            vec![0.0; 6],
            200,
            1e-10,
        );
        for (i, v) in x.iter().enumerate() {
            assert!((v - i as f64).abs() < 1e-8, "{i}: {v}");
        }
    }

    #[test]
    fn svm_margin_on_separable_points() {
        // 1-d, classes at −2 and +2: the max-margin boundary is 0 whatever the class sizes.
        let x: Vec<Vec<f32>> = vec![vec![-2.0], vec![-2.0], vec![-2.0], vec![2.0]];
        let refs: Vec<&[f32]> = x.iter().map(Vec::as_slice).collect();
        let m = linear_svm(
            &refs,
            &[0, 0, 0, 1],
            None,
            2,
            &SvmConfig {
                c: 100.0,
                ..Default::default()
            },
        );
        let s = m.scores(&[0.3]);
        let s2 = m.scores(&[-0.3]);
        assert!(s[1] > s[0] && s2[0] > s2[1], "{s:?} {s2:?}");
    }
}

//! Building blocks shared by the FCN and the CRNN: BatchNorm, conv → BN → ELU → max-pool blocks.
//!
//! BatchNorm uses the stored running statistics (Keras "mode 0", weights README "BatchNorm"):
//! `y = gamma·(x − mean)/sqrt(var + eps) + beta`. For the conv blocks it is folded into the
//! convolution's weights and bias at load time (one pass over the activations fewer).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

/// Scale and shift equivalent to an inference-mode BatchNorm: `y = x·scale + shift`.
#[derive(Debug, Clone)]
pub struct Affine {
    pub scale: Tensor,
    pub shift: Tensor,
}

impl Affine {
    /// Read `gamma`, `beta`, `running_mean`, `running_var` of length `n` under `vb`.
    pub fn batch_norm(n: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let gamma = vb.get(n, "gamma")?;
        let beta = vb.get(n, "beta")?;
        let mean = vb.get(n, "running_mean")?;
        let var = vb.get(n, "running_var")?;
        let scale = gamma.div(&(var + eps)?.sqrt()?)?;
        let shift = beta.sub(&mean.mul(&scale)?)?;
        Ok(Self { scale, shift })
    }
}

/// The input BatchNorm of both networks: one parameter set per time frame, shared by all
/// 96 mel bands of that frame (weights README: `bn0` normalises along time).
#[derive(Debug, Clone)]
pub struct TimeBatchNorm {
    affine: Affine,
}

impl TimeBatchNorm {
    pub fn new(frames: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            affine: Affine::batch_norm(frames, eps, vb)?,
        })
    }
}

impl Module for TimeBatchNorm {
    /// `x`: `[batch, 1, 96, frames]`; the statistics broadcast along the last axis.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.broadcast_mul(&self.affine.scale)?
            .broadcast_add(&self.affine.shift)
    }
}

/// conv 3×3 ("same", cross-correlation) → BatchNorm (folded) → ELU(1) → max-pool (floor).
#[derive(Debug, Clone)]
pub struct ConvBlock {
    conv: Conv2d,
    pool: (usize, usize),
}

impl ConvBlock {
    /// `index` selects `conv{index}.*` and `bn{index}.*`; `pool` is (mel, frames).
    pub fn new(
        index: usize,
        c_in: usize,
        c_out: usize,
        pool: (usize, usize),
        eps: f64,
        vb: &VarBuilder,
    ) -> Result<Self> {
        let cv = vb.pp(format!("conv{index}"));
        let weight = cv.get((c_out, c_in, 3, 3), "weight")?;
        let bias = cv.get(c_out, "bias")?;
        let bn = Affine::batch_norm(c_out, eps, vb.pp(format!("bn{index}")))?;
        // BN(conv(x) + b) = conv(x)·s + (b·s + t): fold s into the kernel's output rows.
        let weight = weight.broadcast_mul(&bn.scale.reshape((c_out, 1, 1, 1))?)?;
        let bias = bias.mul(&bn.scale)?.add(&bn.shift)?;
        let cfg = Conv2dConfig {
            padding: 1,
            ..Default::default()
        };
        Ok(Self {
            conv: Conv2d::new(weight, Some(bias), cfg),
            pool,
        })
    }
}

impl Module for ConvBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv
            .forward(x)?
            .elu(1.0)?
            .max_pool2d_with_stride(self.pool, self.pool)
    }
}

/// Dense layer `y = W x + b` with `W: [out, in]`, followed by nothing (logits).
#[derive(Debug, Clone)]
pub struct Dense {
    weight_t: Tensor,
    bias: Tensor,
}

impl Dense {
    pub fn new(n_in: usize, n_out: usize, vb: VarBuilder) -> Result<Self> {
        let weight = vb.get((n_out, n_in), "weight")?;
        let bias = vb.get(n_out, "bias")?;
        Ok(Self {
            weight_t: weight.t()?.contiguous()?,
            bias,
        })
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight_t)?.broadcast_add(&self.bias)
    }
}

/// Flatten everything after the batch axis.
pub fn flatten_batch(x: &Tensor) -> Result<Tensor> {
    x.flatten_from(1)
}

/// Logistic sigmoid: every output is an independent tag probability.
pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::sigmoid(x)
}

/// Keras' `hard_sigmoid`: `min(1, max(0, 0.2·a + 0.5))`.
pub fn hard_sigmoid(x: &Tensor) -> Result<Tensor> {
    x.affine(0.2, 0.5)?.clamp(0f32, 1f32)
}

/// Index of the largest value along the last axis of a 1-d slice (NaN-safe: NaN never wins).
pub fn argmax(values: &[f32]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_nan())
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
}

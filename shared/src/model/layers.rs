//! Building blocks shared by the FCN and the CRNN: BatchNorm, conv → BN → ELU → max-pool blocks.
//!
//! BatchNorm uses the stored running statistics (Keras "mode 0", weights README "BatchNorm"):
//! `y = gamma·(x − mean)/sqrt(var + eps) + beta`. For the conv blocks it is folded into the
//! convolution's weights and bias at load time (one pass over the activations fewer).

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

use super::conv::{to_channels_first, to_channels_last, FusedConv};

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
///
/// On the CPU the fused kernel of [`super::conv`] runs the block; on other devices candle's ops.
#[derive(Debug, Clone)]
pub struct ConvBlock {
    conv: Conv2d,
    pool: (usize, usize),
    fused: FusedConv,
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
        let fused = FusedConv::new(
            c_in,
            c_out,
            pool,
            weight.flatten_all()?.to_vec1::<f32>()?,
            bias.to_vec1::<f32>()?,
        );
        Ok(Self {
            conv: Conv2d::new(weight, Some(bias), cfg),
            pool,
            fused,
        })
    }

    /// The block with candle's generic ops (conv2d, ELU, max-pool): used off the CPU, and as
    /// the parity reference for the fused kernel.
    pub fn forward_candle(&self, x: &Tensor) -> Result<Tensor> {
        self.conv
            .forward(x)?
            .elu(1.0)?
            .max_pool2d_with_stride(self.pool, self.pool)
    }
}

impl Module for ConvBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        run_blocks(std::slice::from_ref(self), x, None)
    }
}

/// Receives intermediate activations by name (see `forward_traced` of the networks).
pub type Tap<'a> = dyn FnMut(&str, &Tensor) + 'a;

/// Run conv blocks in sequence: `[batch, c, h, w]` in and out. On the CPU the activations stay
/// channels-last between the fused kernels and are converted only at the ends (and for `tap`,
/// which receives each block's output as `block1`, `block2`, … when given).
pub fn run_blocks(
    blocks: &[ConvBlock],
    x: &Tensor,
    mut tap: Option<&mut Tap<'_>>,
) -> Result<Tensor> {
    if !x.device().is_cpu() {
        let mut x = x.clone();
        for (i, block) in blocks.iter().enumerate() {
            x = block.forward_candle(&x)?;
            if let Some(tap) = tap.as_mut() {
                tap(&format!("block{}", i + 1), &x);
            }
        }
        return Ok(x);
    }
    let (batch, c, h, w) = x.dims4()?;
    let input = x.flatten_all()?.to_vec1::<f32>()?;
    let dev = x.device();
    // Untapped batches go through the stack one frame at a time: a frame's activations
    // (8.8 MB after the CRNN's first block) stay in cache between blocks, a batch's do not.
    let group = if tap.is_some() { batch } else { 1 };
    let per_group = c * h * w * group;
    let (mut out, mut dims) = (Vec::new(), (c, h, w));
    for chunk in input.chunks(per_group.max(1)) {
        let n = chunk.len() / (c * h * w).max(1);
        let (mut c, mut h, mut w) = (c, h, w);
        let mut act = to_channels_last(chunk, n, c, h, w);
        for (i, block) in blocks.iter().enumerate() {
            act = block.fused.forward(&act, n, h, w);
            (h, w) = block.fused.out_dims(h, w);
            c = block.fused.channels();
            if let Some(tap) = tap.as_mut() {
                let t = Tensor::from_vec(to_channels_first(&act, n, c, h, w), (n, c, h, w), dev)?;
                tap(&format!("block{}", i + 1), &t);
            }
        }
        out.extend(to_channels_first(&act, n, c, h, w));
        dims = (c, h, w);
    }
    if batch == 0 {
        let (c, h, w) = blocks.iter().fold((c, h, w), |(_, h, w), b| {
            let (h, w) = b.fused.out_dims(h, w);
            (b.fused.channels(), h, w)
        });
        dims = (c, h, w);
    }
    Tensor::from_vec(out, (batch, dims.0, dims.1, dims.2), dev)
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    /// Untapped batches run frame by frame, tapped ones as a whole: same numbers.
    #[test]
    fn frame_by_frame_equals_whole_batch() {
        let dev = Device::Cpu;
        let tensors =
            candle_core::safetensors::load_buffer(super::super::builtin::GTZAN_CRNN, &dev).unwrap();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        let mut c_in = 1;
        let blocks: Vec<ConvBlock> = super::super::crnn::CHANNELS
            .iter()
            .zip(&super::super::crnn::POOLS)
            .enumerate()
            .map(|(i, (&c, &pool))| {
                let b = ConvBlock::new(i + 1, c_in, c, pool, 1e-5, &vb).unwrap();
                c_in = c;
                b
            })
            .collect();
        let x = Tensor::randn(0f32, 1.0, (3, 1, 96, 200), &dev).unwrap();
        let mut taps = 0;
        let whole = run_blocks(&blocks, &x, Some(&mut |_, _| taps += 1)).unwrap();
        let framewise = run_blocks(&blocks, &x, None).unwrap();
        assert_eq!(taps, 4);
        assert_eq!(whole.dims(), [3, 128, 1, 2]);
        assert_eq!(
            whole.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            framewise.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    /// The fused CPU kernel against candle's conv2d → ELU → max-pool on the published weights.
    #[test]
    fn fused_kernel_equals_candle_ops_on_published_weights() {
        let dev = Device::Cpu;
        let tensors =
            candle_core::safetensors::load_buffer(super::super::builtin::GTZAN_CRNN, &dev).unwrap();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        let mut x = Tensor::randn(0f32, 1.0, (2, 1, 48, 150), &dev).unwrap();
        let mut c_in = 1;
        for (i, (&c, &pool)) in super::super::crnn::CHANNELS
            .iter()
            .zip(&super::super::crnn::POOLS)
            .enumerate()
            .take(2)
        {
            let block = ConvBlock::new(i + 1, c_in, c, pool, 1e-5, &vb).unwrap();
            let fused = block.forward(&x).unwrap();
            let reference = block.forward_candle(&x).unwrap();
            assert_eq!(fused.dims(), reference.dims());
            let diff = (&fused - &reference)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap();
            let scale = reference.abs().unwrap().max_all().unwrap();
            let (d, s) = (
                diff.to_scalar::<f32>().unwrap(),
                scale.to_scalar::<f32>().unwrap(),
            );
            println!(
                "block {}: max |fused − candle| = {d:.2e} (max {s:.2})",
                i + 1
            );
            assert!(d <= 1e-5 * s.max(1.0), "block {}: {d} vs scale {s}", i + 1);
            x = fused;
            c_in = c;
        }
    }
}

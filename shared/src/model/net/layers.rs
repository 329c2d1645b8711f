//! Building blocks shared by the FCN and the CRNN: BatchNorm, conv → BN → ELU → max-pool blocks.
//!
//! BatchNorm uses the stored running statistics (Keras "mode 0", weights README "BatchNorm"):
//! `y = gamma·(x − mean)/sqrt(var + eps) + beta`. For the conv blocks it is folded into the
//! convolution's weights and bias at load time (one pass over the activations fewer).

use candle_core::{Module, Result, Tensor, D};
use candle_nn::{Conv2d, Conv2dConfig, VarBuilder};

use crate::model::cpu::conv::{to_channels_first, to_channels_last, FusedConv};

/// Scale and shift equivalent to an inference-mode BatchNorm: `y = x·scale + shift`.
#[derive(Debug, Clone)]
pub struct Affine {
    /// `gamma / sqrt(running_var + eps)`, one value per channel (or frame, for `bn0`).
    pub scale: Tensor,
    /// `beta − running_mean · scale`, same shape.
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
    /// Read `bn0`'s tensors of length `frames` under `vb` (1366 for the FCN, 1440 for the
    /// padded CRNN input; weights README); `eps` as in [`Affine::batch_norm`].
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
/// On the CPU the fused kernel of [`crate::model::cpu::conv`] runs the block; on other devices candle's ops.
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

    /// Output channels.
    pub fn channels(&self) -> usize {
        self.fused.channels()
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
        run_blocks(std::slice::from_ref(self), x, ConvKernels::Auto, None)
    }
}

/// Receives intermediate activations by name (see `forward_traced` of the networks).
pub type Tap<'a> = dyn FnMut(&str, &Tensor) + 'a;

/// Which implementation runs the conv blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConvKernels {
    /// The fused kernels of [`crate::model::cpu::conv`] on the CPU, candle's generic ops on every other
    /// device.
    #[default]
    Auto,
    /// candle's conv2d → ELU → max-pool on every device, the CPU included: the code path that
    /// CUDA and Metal take, runnable where neither is (parity tests, debugging).
    Generic,
}

/// Elements one generic conv op may produce per call: the im2col buffer (`c_in·9` values per
/// output pixel) or the conv output (`c_out` per pixel), whichever is larger.
///
/// candle's CUDA kernels launch with `el as u32` element counts and 32-bit thread indices, so
/// a tensor of more than 2³² elements comes out silently wrong; the CRNN's second block needs
/// 19.9 M im2col values per frame and crosses that at 216 frames. 2²⁸ (1 GiB of f32) keeps
/// every op far from the limit and bounds the buffer's memory, while a chunk is still large
/// enough to fill a GPU (the CRNN's worst block gets 13 frames, a 449 k × 576 × 128 matmul).
pub const GENERIC_CHUNK_ELEMENTS: usize = 1 << 28;

/// Run conv blocks in sequence: `[batch, c, h, w]` in and out. On the CPU (with
/// [`ConvKernels::Auto`]) the activations stay channels-last between the fused kernels and are
/// converted only at the ends (and for `tap`, which receives each block's output as `block1`,
/// `block2`, … when given).
pub fn run_blocks(
    blocks: &[ConvBlock],
    x: &Tensor,
    kernels: ConvKernels,
    tap: Option<&mut Tap<'_>>,
) -> Result<Tensor> {
    if !x.device().is_cpu() || kernels == ConvKernels::Generic {
        return run_blocks_generic(blocks, x, GENERIC_CHUNK_ELEMENTS, tap);
    }
    run_blocks_fused(blocks, x, tap)
}

/// The blocks with candle's ops, each block over as many frames at a time as keep its largest
/// tensor within `max_elements` (see [`GENERIC_CHUNK_ELEMENTS`]).
fn run_blocks_generic(
    blocks: &[ConvBlock],
    x: &Tensor,
    max_elements: usize,
    mut tap: Option<&mut Tap<'_>>,
) -> Result<Tensor> {
    let mut x = x.clone();
    for (i, block) in blocks.iter().enumerate() {
        let (batch, c_in, h, w) = x.dims4()?;
        let per_frame = (h * w * (9 * c_in).max(block.channels())).max(1);
        let chunk = (max_elements / per_frame).max(1);
        x = if batch <= chunk {
            block.forward_candle(&x)?
        } else {
            let parts = (0..batch)
                .step_by(chunk)
                .map(|start| block.forward_candle(&x.narrow(0, start, chunk.min(batch - start))?))
                .collect::<Result<Vec<_>>>()?;
            Tensor::cat(&parts, 0)?
        };
        if let Some(tap) = tap.as_mut() {
            tap(&format!("block{}", i + 1), &x);
        }
    }
    Ok(x)
}

/// The blocks with the fused CPU kernels.
fn run_blocks_fused(
    blocks: &[ConvBlock],
    x: &Tensor,
    mut tap: Option<&mut Tap<'_>>,
) -> Result<Tensor> {
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
    /// Read `weight [n_out, n_in]` and `bias [n_out]` under `vb`.
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
        matmul(x, &self.weight_t)?.broadcast_add(&self.bias)
    }
}

/// `a · b` for contiguous operands only, on every device.
///
/// candle's CUDA matmul refuses most strided operands (a `narrow`ed row block of a batch, for
/// one: "matmul is only supported for contiguous tensors") where the CPU's accepts any stride.
/// Every matrix product of the networks goes through here, so the CPU tests fail wherever
/// CUDA would. A size-1 axis may have any stride (candle's `is_contiguous`, and CUDA, agree).
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    if !a.is_contiguous() || !b.is_contiguous() {
        let dims =
            |t: &Tensor| -> Result<(usize, usize)> { Ok((t.dim(D::Minus2)?, t.dim(D::Minus1)?)) };
        let ((m, k), (_, n)) = (dims(a)?, dims(b)?);
        let batch = a.dims()[..a.rank() - 2].iter().product();
        return Err(candle_core::Error::MatMulUnexpectedStriding(Box::new(
            candle_core::error::MatMulUnexpectedStriding {
                lhs_l: a.layout().clone(),
                rhs_l: b.layout().clone(),
                bmnk: (batch, m, n, k),
                msg: "matmul is only supported for contiguous tensors (as on CUDA)",
            },
        )));
    }
    a.matmul(b)
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
    use crate::testing::max_abs_diff;
    use candle_core::{DType, Device};

    /// max |a − b| over all elements (candle's `max_all` skips a NaN past the first element).
    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        max_abs_diff(&flat(a), &flat(b))
    }

    /// max |t| over all elements.
    fn max_abs(t: &Tensor) -> f32 {
        t.abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// The GTZAN CRNN's four conv blocks on the CPU.
    fn crnn_blocks() -> Vec<ConvBlock> {
        let dev = Device::Cpu;
        let tensors =
            candle_core::safetensors::load_buffer(crate::model::Builtin::Gtzan.bytes(), &dev)
                .unwrap();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        let mut c_in = 1;
        crate::model::net::crnn::CHANNELS
            .iter()
            .zip(&crate::model::net::crnn::POOLS)
            .enumerate()
            .map(|(i, (&c, &pool))| {
                let b = ConvBlock::new(i + 1, c_in, c, pool, 1e-5, &vb).unwrap();
                c_in = c;
                b
            })
            .collect()
    }

    /// Untapped batches run frame by frame, tapped ones as a whole: same numbers.
    #[test]
    fn frame_by_frame_equals_whole_batch() {
        let blocks = crnn_blocks();
        let x = Tensor::randn(0f32, 1.0, (3, 1, 96, 200), &Device::Cpu).unwrap();
        let mut taps = 0;
        let whole =
            run_blocks(&blocks, &x, ConvKernels::Auto, Some(&mut |_, _| taps += 1)).unwrap();
        let framewise = run_blocks(&blocks, &x, ConvKernels::Auto, None).unwrap();
        assert_eq!(taps, 4);
        assert_eq!(whole.dims(), [3, 128, 1, 2]);
        assert_eq!(
            whole.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            framewise.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }

    /// The generic path split into chunks of a frame or two (as CUDA splits batches too large
    /// for its 32-bit kernels) gives the numbers of one pass over the whole batch.
    #[test]
    fn generic_chunks_equal_one_pass() {
        let blocks = crnn_blocks();
        let x = Tensor::randn(0f32, 1.0, (5, 1, 96, 120), &Device::Cpu).unwrap();
        let mut chunked_taps = Vec::new();
        let mut record =
            |name: &str, t: &Tensor| chunked_taps.push((name.to_string(), t.dims().to_vec()));
        // Block 1 of a 96 × 120 frame: 96·120·64 = 737 280 output values; 2 frames fit.
        let chunked = run_blocks_generic(&blocks, &x, 1_500_000, Some(&mut record)).unwrap();
        let whole = run_blocks_generic(&blocks, &x, usize::MAX, None).unwrap();
        let fused = run_blocks(&blocks, &x, ConvKernels::Auto, None).unwrap();
        assert_eq!(chunked.dims(), [5, 128, 1, 1]);
        assert_eq!(chunked_taps.len(), 4);
        assert_eq!(chunked_taps[0], ("block1".to_string(), vec![5, 64, 48, 60]));
        assert_eq!(max_diff(&chunked, &whole), 0.0);
        let d = max_diff(&chunked, &fused);
        assert!(d < 1e-4, "generic vs fused: {d}");
    }

    /// A strided operand is refused the way CUDA refuses it, on every device.
    #[test]
    fn matmul_refuses_strided_operands() {
        let dev = Device::Cpu;
        let seq = Tensor::randn(0f32, 1.0, (4, 15, 32), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (32, 10), &dev).unwrap();
        // The last step of a batch of sequences: [4, 32] with row stride 15·32.
        let last = seq.narrow(1, 14, 1).unwrap().squeeze(1).unwrap();
        let e = matmul(&last, &w).unwrap_err().to_string();
        assert!(e.contains("contiguous"), "{e}");
        assert!(last.matmul(&w).is_ok(), "candle's CPU matmul takes strides");
        let ok = matmul(&last.contiguous().unwrap(), &w).unwrap();
        assert_eq!(ok.dims(), [4, 10]);
        // Batch 1: the row stride does not matter (CUDA agrees).
        let one = seq
            .narrow(0, 0, 1)
            .unwrap()
            .narrow(1, 14, 1)
            .unwrap()
            .squeeze(1)
            .unwrap();
        assert!(matmul(&one, &w).is_ok());
        assert!(
            matmul(&w.t().unwrap(), &w).is_err(),
            "a transposed operand is strided"
        );
    }

    /// The fused CPU kernel against candle's conv2d → ELU → max-pool on the published weights.
    #[test]
    fn fused_kernel_equals_candle_ops_on_published_weights() {
        let dev = Device::Cpu;
        let tensors =
            candle_core::safetensors::load_buffer(crate::model::Builtin::Gtzan.bytes(), &dev)
                .unwrap();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &dev);
        let mut x = Tensor::randn(0f32, 1.0, (2, 1, 48, 150), &dev).unwrap();
        let mut c_in = 1;
        for (i, (&c, &pool)) in crate::model::net::crnn::CHANNELS
            .iter()
            .zip(&crate::model::net::crnn::POOLS)
            .enumerate()
            .take(2)
        {
            let block = ConvBlock::new(i + 1, c_in, c, pool, 1e-5, &vb).unwrap();
            let fused = block.forward(&x).unwrap();
            let reference = block.forward_candle(&x).unwrap();
            assert_eq!(fused.dims(), reference.dims());
            let (d, s) = (max_diff(&fused, &reference), max_abs(&reference));
            println!(
                "block {}: max |fused − candle| = {d:.2e} (max {s:.2})",
                i + 1
            );
            assert!(
                d <= f64::from(1e-5 * s.max(1.0)),
                "block {}: {d} vs scale {s}",
                i + 1
            );
            x = fused;
            c_in = c;
        }
    }
}

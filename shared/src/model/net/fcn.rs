//! Choi's FCN ("MusicTaggerCNN", 5 conv layers), in the layout of the published weights:
//! time-axis input BatchNorm, widths 32/128/128/192/256 (weights README, "choi_fcn_msd").

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::layers::{
    flatten_batch, run_blocks, sigmoid, ConvBlock, ConvKernels, Dense, Tap, TimeBatchNorm,
};
use crate::config::N_FRAMES;

/// Channels per conv block.
pub const CHANNELS: [usize; 5] = [32, 128, 128, 192, 256];
/// Max-pool (mel, frames) per block; the last one reduces 4 × 4 to 1 × 1.
pub const POOLS: [(usize, usize); 5] = [(2, 4), (2, 4), (2, 4), (3, 5), (4, 4)];

/// The FCN: bn0 → 5 × (conv, BN, ELU, pool) → flatten (256) → dense → sigmoid.
#[derive(Debug, Clone)]
pub struct Fcn {
    bn0: TimeBatchNorm,
    blocks: Vec<ConvBlock>,
    kernels: ConvKernels,
    output: Dense,
}

impl Fcn {
    /// The network with `n_out` outputs (50 MSD tags) from the tensors under `vb`, named as
    /// in the weights README (`bn0.*`, `convK.*`, `bnK.*`, `output.*`); `eps` is the BatchNorm
    /// epsilon (metadata `bn_eps`, 1e-5 in the published file).
    pub fn new(n_out: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let bn0 = TimeBatchNorm::new(N_FRAMES, eps, vb.pp("bn0"))?;
        let mut c_in = 1;
        let mut blocks = Vec::with_capacity(5);
        for (i, (&c, &pool)) in CHANNELS.iter().zip(&POOLS).enumerate() {
            blocks.push(ConvBlock::new(i + 1, c_in, c, pool, eps, &vb)?);
            c_in = c;
        }
        let output = Dense::new(c_in, n_out, vb.pp("output"))?;
        Ok(Self {
            bn0,
            blocks,
            kernels: ConvKernels::Auto,
            output,
        })
    }

    /// Choose the implementation of the conv blocks (default: [`ConvKernels::Auto`]).
    pub fn set_conv_kernels(&mut self, kernels: ConvKernels) {
        self.kernels = kernels;
    }

    /// Forward `[batch, 1, 96, 1366]` → probabilities `[batch, n_out]`, reporting every
    /// intermediate to `tap` under the golden file names (`fcn_bn0`, `fcn_block1`, …).
    pub fn forward_traced(&self, x: &Tensor, tap: &mut dyn FnMut(&str, &Tensor)) -> Result<Tensor> {
        self.run(x, Some(tap))
    }

    /// Forward without reporting intermediates.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, None)
    }

    fn run(&self, x: &Tensor, mut tap: Option<&mut Tap<'_>>) -> Result<Tensor> {
        let x = self.bn0.forward(x)?;
        if let Some(tap) = tap.as_mut() {
            tap("bn0", &x);
        }
        let x = run_blocks(&self.blocks, &x, self.kernels, tap.as_deref_mut())?;
        let features = flatten_batch(&x)?;
        let logits = self.output.forward(&features)?;
        if let Some(tap) = tap.as_mut() {
            tap("features", &features);
            tap("logits", &logits);
        }
        sigmoid(&logits)
    }

    /// The 256-d penultimate features (input to the output layer).
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.bn0.forward(x)?;
        flatten_batch(&run_blocks(&self.blocks, &x, self.kernels, None)?)
    }
}

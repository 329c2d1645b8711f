//! Choi's CRNN ("MusicTaggerCRNN": 4 conv blocks + 2 Keras-1 GRUs), also the architecture of
//! Jiménez's GTZAN genre model (weights README, "choi_crnn_msd and jimenez_crnn_gtzan").

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use super::gru::KerasGru;
use super::layers::{run_blocks, sigmoid, ConvBlock, ConvKernels, Dense, Tap, TimeBatchNorm};
use crate::config::N_FRAMES;

/// Zero frames added before and after the 1366 input frames (→ 1440).
pub const TIME_PAD: usize = 37;
/// Channels per conv block.
pub const CHANNELS: [usize; 4] = [64, 128, 128, 128];
/// Max-pool (mel, frames) per block: 96 × 1440 → 1 × 15.
pub const POOLS: [(usize, usize); 4] = [(2, 2), (3, 3), (4, 4), (4, 4)];
/// Hidden units of both GRUs.
pub const GRU_UNITS: usize = 32;

/// The CRNN: pad → bn0 → 4 conv blocks → 15-step sequence → GRU(32, all) → GRU(32, last) → dense.
#[derive(Debug, Clone)]
pub struct Crnn {
    bn0: TimeBatchNorm,
    blocks: Vec<ConvBlock>,
    kernels: ConvKernels,
    gru1: KerasGru,
    gru2: KerasGru,
    output: Dense,
}

impl Crnn {
    /// The network with `n_out` outputs (50 MSD tags, 10 GTZAN genres) from the tensors under
    /// `vb`, named as in the weights README (`bn0.*`, `convK.*`, `bnK.*`, `gru1.*`, `gru2.*`,
    /// `output.*`); `eps` is the BatchNorm epsilon (metadata `bn_eps`, 1e-5 in all three
    /// published files).
    pub fn new(n_out: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        let bn0 = TimeBatchNorm::new(N_FRAMES + 2 * TIME_PAD, eps, vb.pp("bn0"))?;
        let mut c_in = 1;
        let mut blocks = Vec::with_capacity(4);
        for (i, (&c, &pool)) in CHANNELS.iter().zip(&POOLS).enumerate() {
            blocks.push(ConvBlock::new(i + 1, c_in, c, pool, eps, &vb)?);
            c_in = c;
        }
        let gru1 = KerasGru::new(c_in, GRU_UNITS, vb.pp("gru1"))?;
        let gru2 = KerasGru::new(GRU_UNITS, GRU_UNITS, vb.pp("gru2"))?;
        let output = Dense::new(GRU_UNITS, n_out, vb.pp("output"))?;
        Ok(Self {
            bn0,
            blocks,
            kernels: ConvKernels::Auto,
            gru1,
            gru2,
            output,
        })
    }

    /// Choose the implementation of the conv blocks (default: [`ConvKernels::Auto`]).
    pub fn set_conv_kernels(&mut self, kernels: ConvKernels) {
        self.kernels = kernels;
    }

    /// The conv stack up to the sequence: `[batch, 1, 96, 1366]` → `[batch, 15, 128]`.
    pub fn conv_sequence(&self, x: &Tensor, mut tap: Option<&mut Tap<'_>>) -> Result<Tensor> {
        let x = x.pad_with_zeros(3, TIME_PAD, TIME_PAD)?;
        let x = self.bn0.forward(&x)?;
        if let Some(tap) = tap.as_mut() {
            tap("bn0", &x);
        }
        let x = run_blocks(&self.blocks, &x, self.kernels, tap)?;
        // [batch, 128, 1, 15] → [batch, 15, 128]: step t = frame column t.
        x.squeeze(2)?.transpose(1, 2)?.contiguous()
    }

    /// Forward `[batch, 1, 96, 1366]` → probabilities, reporting intermediates to `tap`
    /// (`bn0`, `block1..4`, `gru1`, `gru2`, `logits`).
    pub fn forward_traced(&self, x: &Tensor, tap: &mut dyn FnMut(&str, &Tensor)) -> Result<Tensor> {
        self.run(x, Some(tap))
    }

    /// Forward without reporting intermediates.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, None)
    }

    fn run(&self, x: &Tensor, mut tap: Option<&mut Tap<'_>>) -> Result<Tensor> {
        let seq = self.conv_sequence(x, tap.as_deref_mut())?;
        let h1 = self.gru1.forward_sequence(&seq)?;
        let h2 = self.gru2.forward(&h1)?;
        let logits = self.output.forward(&h2)?;
        if let Some(tap) = tap.as_mut() {
            tap("gru1", &h1);
            tap("gru2", &h2);
            tap("logits", &logits);
        }
        sigmoid(&logits)
    }

    /// The 32-d output of the second GRU (input to the output layer).
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let seq = self.conv_sequence(x, None)?;
        self.gru2.forward(&self.gru1.forward_sequence(&seq)?)
    }
}

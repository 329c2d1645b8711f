//! The Keras-1 GRU cell, written by hand (weights README, "The GRU (Keras 1 flavour)").
//!
//! Gate blocks are ordered z (update), r (reset), h (candidate); gates use `hard_sigmoid`; the
//! reset gate multiplies `h_{t-1}` *before* the recurrent matrix; there is no recurrent bias.
//! `candle_nn::rnn::GRU` (PyTorch semantics) differs in all three and must not be used.

use candle_core::{Module, Result, Tensor, D};
use candle_nn::VarBuilder;

use super::layers::{hard_sigmoid, matmul};

/// One Keras-1 GRU layer with `units` hidden units.
#[derive(Debug, Clone)]
pub struct KerasGru {
    units: usize,
    /// `[in, 3·units]` (transposed `w_ih`), columns z | r | h.
    w_ih_t: Tensor,
    /// `[3·units]`.
    b_ih: Tensor,
    /// `[units, 2·units]`: the z and r blocks of `w_hh`, transposed.
    u_zr_t: Tensor,
    /// `[units, units]`: the h block of `w_hh`, transposed.
    u_h_t: Tensor,
}

impl KerasGru {
    /// A layer reading `n_in` features per step, from `w_ih [3·units, n_in]`,
    /// `w_hh [3·units, units]` and `b_ih [3·units]` under `vb` (row blocks z, r, h; weights
    /// README, "Tensor layout conventions").
    pub fn new(n_in: usize, units: usize, vb: VarBuilder) -> Result<Self> {
        let w_ih = vb.get((3 * units, n_in), "w_ih")?;
        let w_hh = vb.get((3 * units, units), "w_hh")?;
        let b_ih = vb.get(3 * units, "b_ih")?;
        Ok(Self {
            units,
            w_ih_t: w_ih.t()?.contiguous()?,
            b_ih,
            u_zr_t: w_hh.narrow(0, 0, 2 * units)?.t()?.contiguous()?,
            u_h_t: w_hh.narrow(0, 2 * units, units)?.t()?.contiguous()?,
        })
    }

    /// Run over a sequence `x: [batch, steps, in]`; returns all hidden states `[batch, steps, units]`.
    pub fn forward_sequence(&self, x: &Tensor) -> Result<Tensor> {
        let mut states = Vec::with_capacity(x.dim(1)?);
        self.run(x, |h| states.push(h.clone()))?;
        Tensor::stack(&states, 1)
    }

    /// The recurrence over `x: [batch, steps, in]`, handing each hidden state `[batch, units]`
    /// to `step`; returns the last one.
    ///
    /// Every matrix product takes contiguous operands ([`matmul`]): the input projection runs
    /// as one `[batch·steps, in] × [in, 3·units]` product, and the state is never a `narrow`ed
    /// view (a strided row block, which candle's CUDA matmul refuses at batch > 1).
    fn run(&self, x: &Tensor, mut step: impl FnMut(&Tensor)) -> Result<Tensor> {
        let (batch, steps, n_in) = x.dims3()?;
        let u = self.units;
        // Input projections of every step at once: [batch, steps, 3u].
        let xp = matmul(&x.reshape((batch * steps, n_in))?, &self.w_ih_t)?
            .broadcast_add(&self.b_ih)?
            .reshape((batch, steps, 3 * u))?;
        let mut h = Tensor::zeros((batch, u), x.dtype(), x.device())?;
        for t in 0..steps {
            let xt = xp.narrow(1, t, 1)?.squeeze(1)?;
            let hu = matmul(&h, &self.u_zr_t)?;
            let z = hard_sigmoid(&(xt.narrow(D::Minus1, 0, u)? + hu.narrow(D::Minus1, 0, u)?)?)?;
            let r = hard_sigmoid(&(xt.narrow(D::Minus1, u, u)? + hu.narrow(D::Minus1, u, u)?)?)?;
            let c = (xt.narrow(D::Minus1, 2 * u, u)? + matmul(&(r * &h)?, &self.u_h_t)?)?.tanh()?;
            // h_t = z·h_{t−1} + (1 − z)·c_t  =  c + z·(h − c)
            h = (&c + z.mul(&(&h - &c)?)?)?;
            step(&h);
        }
        Ok(h)
    }
}

impl Module for KerasGru {
    /// Last hidden state only: `[batch, units]` (contiguous).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.run(x, |_| {})
    }
}

//! The trainable tensors of the CRNN top by layer name, instead of positions in a list.

use super::config::TrainFrom;

/// One Keras-1 GRU layer's tensors (`w_ih [3u, in]`, `w_hh [3u, u]`, `b_ih [3u]`).
#[derive(Debug, Clone)]
pub struct GruParams<T> {
    /// Input weights `[3u, in]`, row blocks z, r, h.
    pub w_ih: T,
    /// Recurrent weights `[3u, u]`, row blocks z, r, h.
    pub w_hh: T,
    /// Input-side biases `[3u]` (Keras 1 has no recurrent bias).
    pub b_ih: T,
}

/// The output layer's tensors (`weight [classes, 32]`, `bias [classes]`).
#[derive(Debug, Clone)]
pub struct DenseParams<T> {
    /// `[classes, 32]`.
    pub weight: T,
    /// `[classes]`.
    pub bias: T,
}

/// `gru1 → gru2 → output`, one `T` per tensor (a `Var` while training, a `Tensor` for the
/// selected weights).
#[derive(Debug, Clone)]
pub struct TopParams<T> {
    /// The first GRU (reads the 128-channel conv sequence, returns all 15 steps).
    pub gru1: GruParams<T>,
    /// The second GRU (returns its last state, 32 values).
    pub gru2: GruParams<T>,
    /// The output layer (sigmoid per class).
    pub output: DenseParams<T>,
}

/// Tensor names in the published layout, in the order of [`TopParams::named`] (which is also
/// the order initial values are drawn in).
pub const NAMES: [&str; 8] = [
    "gru1.w_ih",
    "gru1.w_hh",
    "gru1.b_ih",
    "gru2.w_ih",
    "gru2.w_hh",
    "gru2.b_ih",
    "output.weight",
    "output.bias",
];

impl<T> TopParams<T> {
    /// Build from a function of the tensor name, called in [`NAMES`] order.
    pub fn try_from_names<E>(mut f: impl FnMut(&'static str) -> Result<T, E>) -> Result<Self, E> {
        let mut gru = |layer: usize| -> Result<GruParams<T>, E> {
            let base = 3 * layer;
            Ok(GruParams {
                w_ih: f(NAMES[base])?,
                w_hh: f(NAMES[base + 1])?,
                b_ih: f(NAMES[base + 2])?,
            })
        };
        let gru1 = gru(0)?;
        let gru2 = gru(1)?;
        let output = DenseParams {
            weight: f(NAMES[6])?,
            bias: f(NAMES[7])?,
        };
        Ok(Self { gru1, gru2, output })
    }

    /// Every tensor with its name, in [`NAMES`] order.
    pub fn named(&self) -> [(&'static str, &T); 8] {
        [
            (NAMES[0], &self.gru1.w_ih),
            (NAMES[1], &self.gru1.w_hh),
            (NAMES[2], &self.gru1.b_ih),
            (NAMES[3], &self.gru2.w_ih),
            (NAMES[4], &self.gru2.w_hh),
            (NAMES[5], &self.gru2.b_ih),
            (NAMES[6], &self.output.weight),
            (NAMES[7], &self.output.bias),
        ]
    }

    /// The same structure with `f` applied to every tensor.
    pub fn try_map<U, E>(&self, mut f: impl FnMut(&T) -> Result<U, E>) -> Result<TopParams<U>, E> {
        let mut gru = |g: &GruParams<T>| -> Result<GruParams<U>, E> {
            Ok(GruParams {
                w_ih: f(&g.w_ih)?,
                w_hh: f(&g.w_hh)?,
                b_ih: f(&g.b_ih)?,
            })
        };
        let gru1 = gru(&self.gru1)?;
        let gru2 = gru(&self.gru2)?;
        Ok(TopParams {
            gru1,
            gru2,
            output: DenseParams {
                weight: f(&self.output.weight)?,
                bias: f(&self.output.bias)?,
            },
        })
    }

    /// The layers trained with `--train-from from` (everything from that layer up), in
    /// [`NAMES`] order: the optimiser's variable list.
    pub fn trainable(&self, from: TrainFrom) -> Vec<(&'static str, &T)> {
        let first = match from {
            TrainFrom::Gru1 => 0,
            TrainFrom::Gru2 => 3,
            TrainFrom::Output => 6,
        };
        self.named().into_iter().skip(first).collect()
    }
}

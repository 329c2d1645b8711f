//! What decides a fine-tuning run of the CRNN top (stored in checkpoints and model metadata).

use crate::train::balance::Balance;
use crate::train::optim::OptimConfig;

/// First trained layer (`--train-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainFrom {
    /// Train `gru1`, `gru2` and `output` (the paper's best setting, §4).
    Gru1,
    /// Train `gru2` and `output`; `gru1` stays frozen.
    Gru2,
    /// Train only the `output` layer.
    Output,
}

crate::names::kebab_names!(TrainFrom);

/// `--init`: start the trained layers from the pretrained tensors or at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    /// The base model's tensors where it has them (named for the MSD CRNN, the paper's
    /// starting point); the output layer too when it has as many outputs as there are genres
    /// to learn, else Glorot-uniform.
    Msd,
    /// Glorot-uniform weights and zero biases, drawn from [`TopConfig::seed`].
    Random,
}

crate::names::kebab_names!(Init);

/// Everything that decides a training run (stored in checkpoints and the output metadata).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopConfig {
    /// The first trained layer; those below stay as in the base model.
    pub train_from: TrainFrom,
    /// Where the trained layers start.
    pub init: Init,
    /// Optimiser and initial learning rate.
    pub optim: OptimConfig,
    /// Frames per mini-batch (≥ 1).
    pub batch_size: usize,
    /// Most epochs to run.
    pub epochs: usize,
    /// Stop after this many epochs without a lower validation loss (training loss without
    /// validation songs); at least 1 is used.
    pub patience: usize,
    /// Halve the learning rate after this many epochs without improvement (at least 1).
    pub lr_patience: usize,
    /// Dropout rate on the conv sequence `gru1` reads (Choi's CRNN: 0.1; weights README,
    /// "Architectures").
    pub dropout_seq: f32,
    /// Dropout rate before the output layer (Choi's CRNN: 0.3).
    pub dropout_out: f32,
    /// Standardise each of the 128 conv channels (training-set mean and deviation) before
    /// `gru1`; folded into `gru1.w_ih`/`b_ih` on export. Only with `train_from = gru1`.
    pub input_norm: bool,
    /// Seed of the initialisation, the shuffles and the dropout masks.
    pub seed: u64,
    /// How the training frames are weighted (set from `TrainSpec::balance` by
    /// `train::top_trainer`; recorded so that a checkpoint resumes only with the same weights).
    /// Not written when unweighted, so that those files read as before `--balance` existed
    /// (and files written before it, which lack it, read as unweighted).
    #[serde(default = "Balance::legacy", skip_serializing_if = "Balance::is_none")]
    pub balance: Balance,
}

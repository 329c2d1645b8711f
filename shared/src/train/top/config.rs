//! What decides a fine-tuning run of the CRNN top (stored in checkpoints and model metadata).

use crate::train::balance::Balance;
use crate::train::optim::OptimConfig;

/// First trained layer (`--train-from`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainFrom {
    Gru1,
    Gru2,
    Output,
}

crate::names::kebab_names!(TrainFrom);

/// `--init`: start the trained layers from the pretrained tensors or at random.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Init {
    Msd,
    Random,
}

crate::names::kebab_names!(Init);

/// Everything that decides a training run (stored in checkpoints and the output metadata).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TopConfig {
    pub train_from: TrainFrom,
    pub init: Init,
    pub optim: OptimConfig,
    pub batch_size: usize,
    pub epochs: usize,
    pub patience: usize,
    pub lr_patience: usize,
    pub dropout_seq: f32,
    pub dropout_out: f32,
    /// Standardise each of the 128 conv channels (training-set mean and deviation) before
    /// `gru1`; folded into `gru1.w_ih`/`b_ih` on export. Only with `train_from = gru1`.
    pub input_norm: bool,
    pub seed: u64,
    /// How the training frames are weighted (set from `TrainSpec::balance` by
    /// `train::top_trainer`; recorded so that a checkpoint resumes only with the same weights).
    /// Not written when unweighted, so that those files read as before `--balance` existed
    /// (and files written before it, which lack it, read as unweighted).
    #[serde(default = "Balance::legacy", skip_serializing_if = "Balance::is_none")]
    pub balance: Balance,
}

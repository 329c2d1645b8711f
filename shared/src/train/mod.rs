//! Transfer learning after Jiménez & Marqués (§2–§4): the pretrained network as a frozen
//! feature extractor with a softmax or linear-SVM classifier on top, or fine-tuning of the
//! CRNN's recurrent top on cached conv activations.
//!
//! Data flow: clips → [`activations::Extractor`] (frozen network, once per clip and
//! augmentation, cached on disk) → per-frame [`activations::FrameActs`] → [`fit`] on the
//! training songs' frames (every 29.12 s frame of a training song is an example; songs are
//! split before frames are cut) → per-frame scores → song decision by the mean of its frames.

pub mod activations;
pub mod balance;
pub mod experiment;
pub mod export;
pub mod extract;
pub mod finetune;
pub mod linear;
pub mod optim;
pub mod stack;
pub mod top;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};

use crate::model::net::head::{stack_features, StackHead};
use activations::ClipActs;
pub use balance::Balance;
use linear::{Knn, LinearModel, SoftmaxConfig, SvmConfig};
use top::{EpochReport, TopConfig, TopData, TopTrainer};

/// What can go wrong while training or writing a model.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A clip could not be decoded or run (the caller reports it and goes on).
    #[error(transparent)]
    Core(#[from] crate::Error),
    /// The data folders, the artist index or the split request.
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    /// Reading or writing a file.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// A safetensors file could not be read or written.
    #[error("safetensors: {0}")]
    Format(String),
    /// A checkpoint does not belong to this run.
    #[error("checkpoint {path} cannot be resumed: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What does not match (another configuration, a missing tensor, …).
        reason: String,
    },
    /// The requested combination of options is not possible.
    #[error("{0}")]
    Config(String),
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        Self::Core(crate::Error::Tensor(e))
    }
}

/// `--strategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Logistic regression on the base network's pooled conv blocks, penultimate features
    /// and logits, fused per genre with its own scores ([`crate::model::net::head`]). The default.
    Stack,
    /// Softmax regression on the frozen network's penultimate features (FCN 256, CRNN `gru2`
    /// 32; the paper's "network as feature extractor", §2): becomes the `output` layer.
    FeaturesSoftmax,
    /// One-vs-rest linear SVM on the same features ([`linear::linear_svm`]).
    FeaturesSvm,
    /// Fine-tune the CRNN's `gru1 → gru2 → output` on cached conv sequences ([`top`]), with
    /// early stopping on validation songs.
    Finetune,
}

crate::names::kebab_names!(Strategy);

/// A full training request.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    /// Which classifier is trained.
    pub strategy: Strategy,
    /// How uneven genres are weighted (every strategy; [`balance`]).
    pub balance: Balance,
    /// Options of [`Strategy::Stack`].
    pub stack: stack::StackConfig,
    /// Options of [`Strategy::Finetune`].
    pub top: TopConfig,
    /// Options of [`Strategy::FeaturesSoftmax`].
    pub softmax: SoftmaxConfig,
    /// Options of [`Strategy::FeaturesSvm`].
    pub svm: SvmConfig,
}

impl TrainSpec {
    /// A request for `strategy`. `balance` (default: [`Balance::default_for`] the strategy)
    /// weights every strategy, the CRNN top's loss included; the top's seed also seeds the
    /// SVM; the softmax keeps its defaults.
    pub fn new(
        strategy: Strategy,
        balance: Option<Balance>,
        stack: stack::StackConfig,
        top: TopConfig,
    ) -> Self {
        let balance = balance.unwrap_or_else(|| Balance::default_for(strategy));
        let seed = top.seed;
        Self {
            strategy,
            balance,
            stack,
            top: TopConfig { balance, ..top },
            softmax: SoftmaxConfig::default(),
            svm: SvmConfig {
                seed,
                ..Default::default()
            },
        }
    }

    /// Whether training holds validation songs back (early stopping); the other strategies
    /// train on them too.
    pub fn uses_validation(&self) -> bool {
        self.strategy == Strategy::Finetune
    }
}

/// A trained classifier.
pub enum Trained {
    /// Logistic regression on the base network's activations fused with its scores: becomes
    /// the model's stacked head.
    Stack(StackHead),
    /// Softmax or SVM on the penultimate features: becomes the `output` layer.
    Linear(LinearModel),
    /// The CRNN's trained top.
    Top(Box<TopTrainer>),
}

impl std::fmt::Debug for Trained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Linear(_) => f.write_str("Trained::Linear"),
            Self::Top(_) => f.write_str("Trained::Top"),
            Self::Stack(_) => f.write_str("Trained::Stack"),
        }
    }
}

/// One training or validation song: its activations, genre (index into the labels) and
/// artist (augmented copies of a song are separate songs of the same artist).
#[derive(Debug, Clone, Copy)]
pub struct Song<'a> {
    /// What the frozen network computed for each of its frames.
    pub acts: &'a ClipActs,
    /// Genre, as an index into the labels being learned.
    pub target: usize,
    /// The artist group, `None` when the artist is unknown
    /// ([`crate::dataset::artists::Groups::artist`]).
    pub artist: Option<usize>,
}

/// Training and validation songs.
pub type Songs<'a> = [Song<'a>];

fn frames_of<'a>(songs: &Songs<'a>) -> (Vec<&'a activations::FrameActs>, Vec<usize>, Vec<usize>) {
    let mut frames = Vec::new();
    let mut targets = Vec::new();
    let mut ids = Vec::new();
    for (i, song) in songs.iter().enumerate() {
        for f in &song.acts.frames {
            frames.push(f);
            targets.push(song.target);
            ids.push(i);
        }
    }
    (frames, targets, ids)
}

/// Frame-level training data for the CRNN top, its frames weighted as `balance` says.
pub fn top_data(songs: &Songs, balance: Balance) -> Result<TopData, TrainError> {
    let (frames, targets, ids) = frames_of(songs);
    let rows: Vec<&[f32]> = frames.iter().map(|f| f.seq.as_slice()).collect();
    let weights = balance::frame_weights(balance, songs);
    TopData::new(&rows, targets, ids)?.weighted(weights.as_deref())
}

/// A fresh [`TopTrainer`] for `spec` starting from the base model's tensors. Its configuration
/// records `spec.balance`, so that a checkpoint is resumed only with the same weighting.
pub fn top_trainer(
    spec: &TrainSpec,
    base: &HashMap<String, Tensor>,
    n_classes: usize,
) -> Result<TopTrainer, TrainError> {
    let cfg = TopConfig {
        balance: spec.balance,
        ..spec.top.clone()
    };
    TopTrainer::new(cfg, base, n_classes)
}

/// What training starts from besides the songs: the labels to learn, and the base model's
/// tensors and labels.
#[derive(Debug, Clone, Copy)]
pub struct FitContext<'a> {
    /// The genres to learn; [`Song::target`] indexes them.
    pub labels: &'a [String],
    /// The base model's tensors by name (the fine-tune starts from its `gru*`, `output`).
    pub base: &'a HashMap<String, Tensor>,
    /// The base model's output labels (the stacked head fuses with the outputs of the same
    /// genre).
    pub base_labels: &'a [String],
}

/// Train as `spec` says. `on_epoch` sees every epoch of a fine-tune (to print, plot and
/// checkpoint) and may stop the run with an error; `trainer` lets the caller pass one that was
/// resumed from a checkpoint.
pub fn fit(
    spec: &TrainSpec,
    train: &Songs,
    valid: &Songs,
    ctx: &FitContext,
    trainer: Option<TopTrainer>,
    on_epoch: &mut dyn FnMut(&EpochReport, &TopTrainer) -> Result<(), TrainError>,
) -> Result<Trained, TrainError> {
    if train.is_empty() {
        return Err(TrainError::Config("no training songs".into()));
    }
    let (n_classes, base) = (ctx.labels.len(), ctx.base);
    match spec.strategy {
        Strategy::Stack => Ok(Trained::Stack(stack::fit(
            &spec.stack,
            spec.balance,
            train,
            ctx.labels,
            ctx.base_labels,
        )?)),
        Strategy::FeaturesSoftmax | Strategy::FeaturesSvm => {
            let (frames, targets, _) = frames_of(train);
            let x: Vec<&[f32]> = frames.iter().map(|f| f.features.as_slice()).collect();
            let w = balance::frame_weights(spec.balance, train);
            Ok(Trained::Linear(if spec.strategy == Strategy::FeaturesSvm {
                linear::linear_svm(&x, &targets, w.as_deref(), n_classes, &spec.svm)
            } else {
                linear::softmax_regression(&x, &targets, w.as_deref(), n_classes, &spec.softmax)
            }))
        }
        Strategy::Finetune => {
            let data = top_data(train, spec.balance)?;
            // Validation is unweighted: it is carved per genre, so already balanced.
            let val = if valid.is_empty() {
                None
            } else {
                Some(top_data(valid, Balance::None)?)
            };
            let mut tr = match trainer {
                Some(t) => t,
                None => top_trainer(spec, base, n_classes)?,
            };
            tr.fit_input_norm(&data)?;
            while !tr.finished() {
                let r = tr.epoch(&data, val.as_ref())?;
                on_epoch(&r, &tr)?;
            }
            Ok(Trained::Top(Box::new(tr)))
        }
    }
}

impl Trained {
    /// Scores of every frame of a clip (sigmoid for the top, raw `W x + b` for linear models,
    /// fused probabilities for the stack; all decide by argmax).
    pub fn predict(&mut self, clip: &ClipActs) -> Result<Vec<Vec<f32>>, TrainError> {
        match self {
            Self::Linear(m) => Ok(clip.frames.iter().map(|f| m.scores(&f.features)).collect()),
            Self::Top(t) => {
                let song = Song {
                    acts: clip,
                    target: 0,
                    artist: None,
                };
                let data = top_data(&[song], Balance::None)?;
                t.predict(&data.seq, true)
            }
            Self::Stack(h) => Ok(clip
                .frames
                .iter()
                .map(|f| h.scores(&stack_features(&f.pooled, &f.features, &f.logits), &f.probs))
                .collect()),
        }
    }

    /// The tensors that replace the base model's (`output.*`, and `gru*.*` for a fine-tune).
    pub fn tensors(&self) -> Result<Vec<(String, Tensor)>, TrainError> {
        match self {
            Self::Linear(m) => {
                let d = m.weight.first().map_or(0, Vec::len);
                let w: Vec<f32> = m.weight.iter().flatten().copied().collect();
                Ok(vec![
                    (
                        "output.weight".into(),
                        Tensor::from_vec(w, (m.weight.len(), d), &Device::Cpu)?,
                    ),
                    (
                        "output.bias".into(),
                        Tensor::from_vec(m.bias.clone(), m.bias.len(), &Device::Cpu)?,
                    ),
                ])
            }
            Self::Top(t) => t.best_tensors(),
            Self::Stack(h) => Ok(h.tensors()?),
        }
    }
}

/// The MFCC baseline's classifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineKind {
    /// One-vs-rest linear SVM ([`linear::linear_svm`], default options).
    Svm,
    /// [`KNN_K`]-nearest neighbours ([`linear::Knn`]).
    Knn,
}

/// A trained baseline on the MFCC descriptors of frames.
#[derive(Debug)]
pub enum Baseline {
    /// The fitted SVM.
    Svm(LinearModel),
    /// The stored training rows.
    Knn(Knn),
}

/// Neighbours of the kNN baseline.
pub const KNN_K: usize = 5;

impl Baseline {
    /// Fit `kind` on the MFCC descriptors of every frame of the `train` songs (each frame an
    /// example with its song's genre); `seed` orders the SVM's coordinate descent.
    pub fn fit(kind: BaselineKind, train: &Songs, n_classes: usize, seed: u64) -> Self {
        let (frames, targets, _) = frames_of(train);
        let x: Vec<&[f32]> = frames.iter().map(|f| f.mfcc.as_slice()).collect();
        match kind {
            BaselineKind::Svm => Self::Svm(linear::linear_svm(
                &x,
                &targets,
                None,
                n_classes,
                &SvmConfig {
                    seed,
                    ..Default::default()
                },
            )),
            BaselineKind::Knn => Self::Knn(Knn::fit(&x, &targets, n_classes, KNN_K)),
        }
    }

    /// Scores of every frame of a clip (SVM: `W x + b`; kNN: the share of the neighbours in
    /// each class); the song decision is the argmax of their mean.
    pub fn predict(&self, clip: &ClipActs) -> Vec<Vec<f32>> {
        clip.frames
            .iter()
            .map(|f| match self {
                Self::Svm(m) => m.scores(&f.mfcc),
                Self::Knn(k) => k.scores(&f.mfcc),
            })
            .collect()
    }
}

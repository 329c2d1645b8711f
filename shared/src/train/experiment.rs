//! The front door of every experiment: what `finetune` and `eval` share, set up once. The base
//! model is read, parsed and loaded once; the data is found, grouped by artist and split once;
//! the frozen network then runs once over the clips the experiment needs.

use std::path::PathBuf;

use candle_core::Device;

use super::extract::{extract, Activations, AugmentPlan, ExtractConfig};
use super::{FitContext, Song, TrainError};
use crate::dataset::artists::{ArtistSource, TrainArtists};
use crate::dataset::split::SplitSpec;
use crate::dataset::tagged::LabelSource;
use crate::dataset::{prepare, Prepared};
use crate::model::{device, DeviceKind, Model, ModelFile, ModelSpec, Weights};
use crate::progress::Progress;

/// The data, how it is split, the base model and how its frozen part runs.
#[derive(Debug, Clone)]
pub struct ExperimentConfig {
    /// Data folders (GTZAN layouts), used together.
    pub data: Vec<PathBuf>,
    /// Where each song's label comes from: its genre folder or its genre tag.
    pub labels_from: LabelSource,
    /// Where the clips' artists come from (artist-grouped splits and validation).
    pub artists: ArtistSource,
    /// What training is told about them (the stacked head's β counts artists).
    pub train_artists: TrainArtists,
    /// How the clips are split into training, validation and test parts.
    pub split: SplitSpec,
    /// Validation songs per genre carved from a training part (splits `all` and k-fold).
    pub valid_per_genre: usize,
    /// The model evaluated, or the base a classifier is trained on.
    pub model: ModelSpec,
    /// Augmented copies of every training song (noise, time stretch, pitch shift; seeded).
    pub augment: usize,
    /// Seed of every random choice (splits, initialisation, shuffling, augmentation).
    pub seed: u64,
    /// How the frozen network runs (resampler, batch, activation cache).
    pub extract: ExtractConfig,
    /// Where the networks run.
    pub device: DeviceKind,
}

/// The genres an experiment predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// The model's own outputs (evaluating a fixed model): every data genre must be one.
    Model,
    /// The data's genres (training a classifier for them).
    Data,
}

/// An experiment set up once: see the module documentation.
pub struct Experiment {
    /// What was asked for.
    pub config: ExperimentConfig,
    /// The device the networks run on.
    pub device: Device,
    /// The base model's bytes and identity (activation cache keys, the trained file's base).
    pub file: ModelFile,
    /// The base model's tensors and metadata, parsed once (training starts from them).
    pub weights: Weights,
    /// The base model on [`Experiment::device`].
    pub model: Model,
    /// The clips, their genres and artist groups, and the planned split.
    pub prep: Prepared,
}

impl std::fmt::Debug for Experiment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Experiment")
            .field("config", &self.config)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

impl Experiment {
    /// Pick the device, load the model, find the data and its artists, plan the split.
    pub fn prepare(
        config: ExperimentConfig,
        labels: Labels,
        progress: &dyn Progress,
    ) -> Result<Self, TrainError> {
        let device = device(config.device)?;
        let file = config.model.open()?;
        let name = config.model.to_string();
        let weights = Weights::parse(&file.bytes, &name)?;
        let model = Model::from_weights(&weights, &name, &device)?;
        let prep = prepare(
            &config.data,
            &config.labels_from,
            (labels == Labels::Model).then_some(model.labels()),
            &config.artists,
            config.split,
            config.seed,
            config.valid_per_genre,
        )?;
        for line in &prep.notes {
            progress.note(line);
        }
        if prep.plan.missing > 0 || prep.plan.unlisted > 0 {
            progress.note(&format!(
                "split {}: {} clips named by the lists are not in {} (skipped); {} clips of the folder are in no list",
                config.split,
                prep.plan.missing,
                config.data_names(),
                prep.plan.unlisted
            ));
        }
        Ok(Self {
            config,
            device,
            file,
            weights,
            model,
            prep,
        })
    }

    /// Run the frozen base model over the clips `wanted` (and `copies` augmented copies of
    /// each clip in `augmented`), from the activation cache where it has them.
    pub fn activations(
        &self,
        wanted: &[usize],
        augmented: &[usize],
        progress: &dyn Progress,
    ) -> Activations {
        extract(
            &self.model,
            &self.file,
            &self.config.extract,
            &self.prep.dataset.clips,
            wanted,
            &AugmentPlan {
                clips: augmented,
                copies: self.config.augment,
                seed: self.config.seed,
            },
            progress,
        )
    }

    /// The readable clips among `idx` as songs (genre, and artist as training is told it),
    /// with their augmented copies if `with_aug`.
    pub fn songs<'a>(&self, acts: &'a Activations, idx: &[usize], with_aug: bool) -> Vec<Song<'a>> {
        let artists = self.prep.groups.artists(self.config.train_artists);
        acts.songs(idx, &self.prep.targets, &artists, with_aug)
    }

    /// What training starts from besides the songs.
    pub fn fit_context(&self) -> FitContext<'_> {
        FitContext {
            labels: &self.prep.labels,
            base: &self.weights.tensors,
            base_labels: self.model.labels(),
        }
    }
}

impl ExperimentConfig {
    /// The data folders for messages: `a + b`.
    pub fn data_names(&self) -> String {
        self.data
            .iter()
            .map(|d| d.display().to_string())
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

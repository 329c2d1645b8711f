//! Options several subcommands share: how a network runs ([`RunOptions`]), the genre timeline
//! of `classify` and `tag` ([`TimelineOptions`]) and how a classifier is trained on a data set
//! ([`TrainOptions`], for `finetune` and `eval --train`).

use std::path::PathBuf;

use clap::Args;
use mgr_core::dataset::artists::{ArtistSource, TrainArtists};
use mgr_core::dataset::split::SplitSpec;
use mgr_core::dataset::tagged::{LabelSource, TagLabels, DEFAULT_MIN_SONGS};
use mgr_core::model::{DeviceKind, ModelSpec};
use mgr_core::pipeline::default_batch;
use mgr_core::resample::ResamplerKind;
use mgr_core::timeline::{SegmentConfig, TimelineConfig, TimelineSettings};
use mgr_core::train::experiment::ExperimentConfig;
use mgr_core::train::extract::ExtractConfig;
use mgr_core::train::optim::{OptimConfig, OptimizerKind};
use mgr_core::train::stack::StackConfig;
use mgr_core::train::top::{Init, TopConfig, TrainFrom};
use mgr_core::train::{Balance, Strategy, TrainSpec};

/// Options shared by every command that runs a network.
#[derive(Args, Debug, Clone)]
pub struct RunOptions {
    /// Compute device (cuda/metal need a build with that cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: DeviceKind,
    /// Resampler to 12 kHz: `reference` reproduces the published inputs exactly; `fast`
    /// (a shorter polyphase filter) moves scores by up to 0.012 (see docs/verification.md).
    #[arg(long, default_value = "reference")]
    pub resampler: ResamplerKind,
    /// Frames per forward pass [default: 8 on the CPU, 64 on a GPU] (the scores do not
    /// depend on it).
    #[arg(long)]
    pub batch: Option<usize>,
    /// Worker threads for the networks (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Apply `--threads` before candle starts its pools.
pub fn apply_threads(run: &RunOptions) {
    if let Some(n) = run.threads.filter(|n| *n > 0) {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}

impl RunOptions {
    /// `--batch`, or the default of `device` ([`default_batch`]).
    pub fn batch_for(&self, device: &mgr_core::model::CandleDevice) -> usize {
        self.batch.unwrap_or_else(|| default_batch(device)).max(1)
    }
}

/// The genre timeline of each file (`classify` and `tag`).
#[derive(Args, Debug, Clone)]
pub struct TimelineOptions {
    /// Also score 29.12 s windows over the whole recording (every --hop seconds) and merge
    /// them into segments, runs of one label (see docs/library.md, "Genre timeline").
    #[arg(long)]
    pub timeline: bool,
    /// Seconds between window starts (≥ 1); 29.12 gives windows that do not overlap.
    #[arg(long, value_name = "SECONDS", requires = "timeline",
          default_value_t = TimelineConfig::default().hop, value_parser = hop)]
    pub hop: f64,
    /// Segments shorter than this many seconds are merged into a neighbour.
    #[arg(long, value_name = "SECONDS", requires = "timeline",
          default_value_t = SegmentConfig::default().min_segment, value_parser = non_negative)]
    pub min_segment: f64,
    /// The cost of a change of label when the windows are smoothed (Viterbi): a change must
    /// be supported by the windows it relabels by more than this, in natural-log units of
    /// their score shares; 0 keeps every window's own top label. Default 3 for classify, 1
    /// for tag (the taggers' top tags lie closer together).
    #[arg(long, value_name = "X", requires = "timeline", value_parser = non_negative)]
    pub switch_penalty: Option<f64>,
    /// Draw the timeline of the one file given as a PNG: a strip of cells coloured by label,
    /// the segments, a time axis and a legend.
    #[arg(long, value_name = "FILE.png", requires = "timeline")]
    pub plot: Option<PathBuf>,
}

fn number(s: &str) -> std::result::Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(format!("{s:?} is not a number")),
    }
}

fn hop(s: &str) -> std::result::Result<f64, String> {
    let v = number(s)?;
    if v >= 1.0 {
        Ok(v)
    } else {
        Err("the hop must be at least 1 second".into())
    }
}

fn non_negative(s: &str) -> std::result::Result<f64, String> {
    let v = number(s)?;
    if v >= 0.0 {
        Ok(v)
    } else {
        Err("must be 0 or more".into())
    }
}

impl TimelineOptions {
    /// The timeline the run makes, if `--timeline`.
    pub fn settings(&self) -> Option<TimelineSettings> {
        self.timeline.then_some(TimelineSettings {
            windows: TimelineConfig { hop: self.hop },
            segments: self.segments(),
        })
    }

    pub fn segments(&self) -> SegmentConfig {
        SegmentConfig {
            switch_penalty: self
                .switch_penalty
                .unwrap_or(SegmentConfig::default().switch_penalty),
            min_segment: self.min_segment,
        }
    }

    /// These options with `defaults`' switch penalty where none was given (`tag` takes
    /// [`SegmentConfig::tags`]).
    pub fn or_defaults(&self, defaults: SegmentConfig) -> Self {
        Self {
            switch_penalty: self.switch_penalty.or(Some(defaults.switch_penalty)),
            ..self.clone()
        }
    }

    /// `--plot` draws one recording: refuse a folder or several paths before any work.
    pub fn check_plot(&self, paths: &[PathBuf]) -> anyhow::Result<()> {
        if self.plot.is_some() && (paths.len() != 1 || paths[0].is_dir()) {
            anyhow::bail!(
                "--plot draws the timeline of one recording: give one audio file (run once per file for several)"
            );
        }
        Ok(())
    }
}

/// How to train (shared by `finetune` and `eval gtzan --train`).
#[derive(Args, Debug, Clone)]
pub struct TrainOptions {
    /// Weight of uneven genres in training: none (every frame one example), weights (every genre
    /// the same total weight, each song 1 / songs of its genre) or sqrt (1 / √songs); a song's
    /// frames share its weight. Default: sqrt for stack and finetune, none for features-* (measured:
    /// docs/training.md, "Uneven genres").
    #[arg(long)]
    pub balance: Option<Balance>,
    /// L2 penalty of the stacked head's regression (`stack`).
    #[arg(long, default_value_t = StackConfig::default().l2)]
    pub stack_l2: f64,
    /// κ of the stacked head's fusion, β = artists / (artists + κ) per genre (`stack`).
    #[arg(long, default_value_t = StackConfig::default().kappa)]
    pub stack_kappa: f64,
    /// First trained layer of the CRNN (`finetune`): gru1, gru2 or output; everything below
    /// it stays frozen (convs always: their activations are cached).
    #[arg(long, default_value = "gru1")]
    pub train_from: TrainFrom,
    /// Trained layers start from the base model's weights (`msd`) or at random.
    #[arg(long, default_value = "msd")]
    pub init: Init,
    /// adam or sgd-nesterov.
    #[arg(long, default_value = "adam")]
    pub optimizer: OptimizerKind,
    /// Learning rate [default: 0.001 for adam, 0.01 for sgd-nesterov].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Nesterov momentum (sgd-nesterov).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f64,
    /// L2 weight decay added to the gradients.
    #[arg(long, default_value_t = 0.0)]
    pub weight_decay: f64,
    /// Frames per training step.
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Maximum epochs (early stopping usually ends a run first).
    #[arg(long, default_value_t = 300)]
    pub epochs: usize,
    /// Stop after this many epochs without a lower validation loss.
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Halve the learning rate after this many epochs without a lower validation loss.
    #[arg(long, default_value_t = 4)]
    pub lr_patience: usize,
    /// Dropout on the conv sequence (Choi's CRNN: 0.1 after each conv block).
    #[arg(long, default_value_t = 0.1)]
    pub dropout_conv: f32,
    /// Dropout before the output layer (Choi's CRNN: 0.3).
    #[arg(long, default_value_t = 0.3)]
    pub dropout_out: f32,
    /// Do not standardise the conv channels before gru1 (see docs/training.md, "Strategies").
    #[arg(long)]
    pub no_input_norm: bool,
    /// Augmented copies of every training song (noise, time stretch, pitch shift; seeded).
    #[arg(long, default_value_t = 0)]
    pub augment: usize,
    /// Validation songs per genre taken from the training part (splits all and kfold).
    #[arg(long, default_value_t = 1)]
    pub valid_per_genre: usize,
    /// Seed of every random choice (splits, initialisation, shuffling, dropout, augmentation).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folder for cached frozen-network activations (reused across runs).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Artist index (Sturm's `GTZANindex.txt`) for artist-grouped splits and validation:
    /// a file, `auto` (look beside the data), or `none`.
    #[arg(long, default_value = "auto", value_parser = parse_artists)]
    pub artists: ArtistSource,
    /// Where each song's genre comes from: `folder` (the <genre>/ folder holding it) or
    /// `tags` (its genre tag; any layout, e.g. Artist/Album/track; see docs/your-genres.md).
    #[arg(long, default_value = "folder", value_parser = ["folder", "tags"])]
    pub labels: String,
    /// With --labels tags: a file of genre merges, one a line (`"Alt. Rock" = "rock"` or
    /// `Alt. Rock,rock`).
    #[arg(long, value_name = "FILE")]
    pub genre_map: Option<PathBuf>,
    /// With --labels tags: genres with fewer songs are left out (and listed).
    #[arg(long, default_value_t = DEFAULT_MIN_SONGS)]
    pub min_songs: usize,
}

fn parse_artists(s: &str) -> std::result::Result<ArtistSource, String> {
    Ok(match s {
        "auto" => ArtistSource::Auto,
        "none" => ArtistSource::Off,
        path => ArtistSource::File(PathBuf::from(path)),
    })
}

impl TrainOptions {
    pub fn spec(&self, strategy: Strategy) -> TrainSpec {
        let stack = StackConfig {
            l2: self.stack_l2,
            kappa: self.stack_kappa,
        };
        let top = TopConfig {
            train_from: self.train_from,
            init: self.init,
            optim: OptimConfig {
                kind: self.optimizer,
                lr: self.lr.unwrap_or(self.optimizer.default_lr()),
                momentum: self.momentum,
                weight_decay: self.weight_decay,
            },
            batch_size: self.batch_size.max(1),
            epochs: self.epochs,
            patience: self.patience,
            lr_patience: self.lr_patience,
            dropout_seq: self.dropout_conv,
            dropout_out: self.dropout_out,
            input_norm: !self.no_input_norm,
            seed: self.seed,
            // TrainSpec::new sets it for every strategy.
            balance: Balance::None,
        };
        TrainSpec::new(strategy, self.balance, stack, top)
    }
}

impl TrainOptions {
    /// `--labels`, with `--genre-map` and `--min-songs` when it is `tags`.
    pub fn label_source(&self) -> LabelSource {
        match self.labels.as_str() {
            "tags" => LabelSource::Tags(TagLabels {
                genre_map: self.genre_map.clone(),
                min_songs: self.min_songs.max(1),
            }),
            _ => LabelSource::Folder,
        }
    }

    /// The experiment on `data` with base model `model` and `split`, run as `run` says.
    pub fn experiment(
        &self,
        data: &[PathBuf],
        model: &ModelSpec,
        split: SplitSpec,
        run: &RunOptions,
    ) -> ExperimentConfig {
        ExperimentConfig {
            data: data.to_vec(),
            labels_from: self.label_source(),
            artists: self.artists.clone(),
            train_artists: TrainArtists::Same,
            split,
            valid_per_genre: self.valid_per_genre,
            model: model.clone(),
            augment: self.augment,
            seed: self.seed,
            extract: ExtractConfig {
                resampler: run.resampler,
                batch: run.batch.unwrap_or(mgr_core::pipeline::DEFAULT_BATCH),
                cache: self.cache.clone(),
            },
            device: run.device,
        }
    }
}

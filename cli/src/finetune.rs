//! `mgr-cli finetune`: transfer learning to the genres of GTZAN-style folders, written as a
//! model file that `classify --model` reads. Also the training options `eval gtzan --train`
//! shares. The work is `mgr_core::train::finetune`; this file parses and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use mgr_core::dataset::artists::ArtistSource;
use mgr_core::dataset::split::SplitSpec;
use mgr_core::train::extract::ExtractConfig;
use mgr_core::train::finetune::{finetune, with_suffix, FinetuneConfig};
use mgr_core::train::linear::{SoftmaxConfig, SvmConfig};
use mgr_core::train::optim::{OptimConfig, OptimizerKind};
use mgr_core::train::stack::StackConfig;
use mgr_core::train::top::{EpochReport, Init, TopConfig, TopTrainer, TrainFrom};
use mgr_core::train::{Strategy, TrainSpec};

use crate::ui::Bar;
use crate::RunOptions;

/// How to train (shared by `finetune` and `eval gtzan --train`).
#[derive(Args, Debug, Clone)]
pub struct TrainOptions {
    /// L2 penalty of the stacked head's regression (`stack`).
    #[arg(long, default_value_t = StackConfig::default().l2)]
    pub stack_l2: f64,
    /// κ of the stacked head's fusion, β = artists / (artists + κ) per genre (`stack`).
    #[arg(long, default_value_t = StackConfig::default().kappa)]
    pub stack_kappa: f64,
    /// First trained layer of the CRNN (`finetune`): gru1, gru2 or output; everything below
    /// it stays frozen (convs always: their activations are cached).
    #[arg(long, default_value = "gru1", value_parser = parse::<TrainFrom>)]
    pub train_from: TrainFrom,
    /// Trained layers start from the base model's weights (`msd`) or at random.
    #[arg(long, default_value = "msd", value_parser = parse::<Init>)]
    pub init: Init,
    /// adam or sgd-nesterov.
    #[arg(long, default_value = "adam", value_parser = parse::<OptimizerKind>)]
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
}

fn parse_artists(s: &str) -> std::result::Result<ArtistSource, String> {
    Ok(match s {
        "auto" => ArtistSource::Auto,
        "none" => ArtistSource::Off,
        path => ArtistSource::File(PathBuf::from(path)),
    })
}

pub fn parse<T: std::str::FromStr<Err = String>>(s: &str) -> std::result::Result<T, String> {
    s.parse()
}

impl TrainOptions {
    pub fn spec(&self, strategy: Strategy) -> TrainSpec {
        let lr = self.lr.unwrap_or(match self.optimizer {
            OptimizerKind::Adam => 1e-3,
            OptimizerKind::SgdNesterov => 1e-2,
        });
        TrainSpec {
            strategy,
            stack: StackConfig {
                l2: self.stack_l2,
                kappa: self.stack_kappa,
            },
            top: TopConfig {
                train_from: self.train_from,
                init: self.init,
                optim: OptimConfig {
                    kind: self.optimizer,
                    lr,
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
            },
            softmax: SoftmaxConfig::default(),
            svm: SvmConfig {
                seed: self.seed,
                ..Default::default()
            },
        }
    }
}

impl TrainOptions {
    /// How the frozen networks run for this training.
    pub fn extract(&self, run: &RunOptions) -> ExtractConfig {
        ExtractConfig {
            resampler: run.resampler,
            batch: run.batch.unwrap_or(mgr_core::pipeline::DEFAULT_BATCH),
            cache: self.cache.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// GTZAN-style data: genres/<genre>/…, genres_original/<genre>/… or <genre>/… ; repeat
    /// (or list several) to train on several folders together.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Output model (safetensors, the published layout plus metadata).
    #[arg(long)]
    out: PathBuf,
    /// Base network: gtzan (the published genre CRNN), crnn (MSD), fcn (MSD), or a
    /// safetensors file.
    #[arg(long, default_value = "gtzan")]
    model: String,
    /// stack (the default: regression on the base network's activations, fused with its
    /// scores), features-softmax, features-svm or finetune (the CRNN's recurrent top).
    #[arg(long, default_value = "stack", value_parser = parse::<Strategy>)]
    strategy: Strategy,
    /// all (validation carved from the data), fault-filtered or random (their train/valid lists).
    #[arg(long, default_value = "all")]
    split: String,
    /// Continue from the checkpoint `<out>.ckpt` (written every epoch; kept after the run, so
    /// a larger --epochs trains further).
    #[arg(long)]
    resume: bool,
    /// Training-curve PNG (default `<out>.curve.png`).
    #[arg(long)]
    curve: Option<PathBuf>,
    #[command(flatten)]
    train: TrainOptions,
    #[command(flatten)]
    run: RunOptions,
}

pub fn run(a: FinetuneArgs) -> Result<ExitCode> {
    crate::apply_threads(&a.run);
    let split: SplitSpec = a.split.parse()?;
    let cfg = FinetuneConfig {
        data: a.data.clone(),
        out: a.out.clone(),
        model: a.model.clone(),
        spec: a.train.spec(a.strategy),
        split,
        augment: a.train.augment,
        valid_per_genre: a.train.valid_per_genre,
        seed: a.train.seed,
        resume: a.resume,
        artists: a.train.artists.clone(),
        extract: a.train.extract(&a.run),
        device: a.run.device,
    };
    let curve = a
        .curve
        .clone()
        .unwrap_or_else(|| with_suffix(&a.out, ".curve.png"));
    let bar = Bar::default();
    let report = finetune(&cfg, &bar, &mut |r: &EpochReport, tr: &TopTrainer| {
        println!("{}", epoch_line(r));
        if let Err(e) = crate::plot::curve_png(&curve, tr.history(), tr.best_epoch()) {
            eprintln!("warning: {e:#}");
        }
    })?;
    let measured = match (&report.cross_validation, report.validation_accuracy) {
        (Some(cv), _) => format!(
            "{} {} cross-validation song accuracy {:.3}",
            cv.grouping, cv.split, cv.accuracy
        ),
        (None, Some(v)) => format!("validation song accuracy {v:.3}"),
        (None, None) => "no validation songs".into(),
    };
    println!(
        "wrote {} ({} genres; {measured}; {:.1} s)",
        report.out.display(),
        report.genres.len(),
        report.seconds
    );
    if !report.skipped.is_empty() {
        eprintln!("{} files skipped (see above)", report.skipped.len());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn epoch_line(r: &EpochReport) -> String {
    let opt = |v: Option<f64>, d: usize| v.map_or("-".to_string(), |x| format!("{x:.d$}"));
    format!(
        "epoch {:>3}  loss {:.4}  train acc {:.3}  val loss {}  val acc {}  lr {:.2e}  {:.1}s",
        r.epoch,
        r.train_loss,
        r.train_acc,
        opt(r.val_loss, 4),
        opt(r.val_acc, 3),
        r.lr,
        r.seconds
    )
}

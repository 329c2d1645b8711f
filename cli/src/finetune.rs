//! `mgr-cli finetune`: transfer learning to the genres of GTZAN-style folders, written as a
//! model file that `classify --model` reads. The work is `mgr_core::train::finetune`; this
//! file parses and prints.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use mgr_core::dataset::split::SplitSpec;
use mgr_core::model::ModelSpec;
use mgr_core::train::finetune::{finetune, with_suffix, FinetuneConfig};
use mgr_core::train::top::{EpochReport, TopTrainer};
use mgr_core::train::Strategy;

use crate::options::{apply_threads, RunOptions, TrainOptions};
use crate::ui::Bar;

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
    #[arg(long, default_value_t = ModelSpec::default())]
    model: ModelSpec,
    /// stack (the default: regression on the base network's activations, fused with its
    /// scores), features-softmax, features-svm or finetune (the CRNN's recurrent top).
    #[arg(long, default_value = "stack")]
    strategy: Strategy,
    /// all (validation carved from the data), fault-filtered or random (their train/valid lists).
    #[arg(long, default_value = "all")]
    split: SplitSpec,
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
    apply_threads(&a.run);
    let cfg = FinetuneConfig {
        experiment: a.train.experiment(&a.data, &a.model, a.split, &a.run),
        out: a.out.clone(),
        spec: a.train.spec(a.strategy),
        resume: a.resume,
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
        (Some(cv), _) => format!("song accuracy {}", cv.describe()),
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

//! `mgr-cli finetune`: transfer learning to the genres of a GTZAN-style folder, written as a
//! model file that `classify --model` reads. Also the pieces `eval gtzan --train` shares:
//! training options, and running the frozen network over the clips once (cached).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use mgr_core::eval::dataset::{discover, Clip};
use mgr_core::eval::split::{plan, SplitSpec};
use mgr_core::model::{builtin, Architecture, CandleTensor, Model};
use mgr_core::train::activations::{ActivationCache, Augment, ClipActs, Extractor};
use mgr_core::train::export::{model_tensors, read_safetensors, write_safetensors};
use mgr_core::train::linear::{SoftmaxConfig, SvmConfig};
use mgr_core::train::optim::{OptimConfig, OptimizerKind};
use mgr_core::train::top::{Init, TopConfig, TrainFrom};
use mgr_core::train::{fit, top_trainer, Strategy, TrainSpec, Trained};

use crate::{load_model, progress, RunOptions};

/// How to train (shared by `finetune` and `eval gtzan --train`).
#[derive(Args, Debug, Clone)]
pub struct TrainOptions {
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
    /// Do not standardise the conv channels before gru1 (see the README, "Fine-tuning").
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

/// A model spec's bytes (for writing a derived model) and cache identity.
pub fn model_source(spec: &str) -> Result<(Vec<u8>, String)> {
    let bytes = match spec {
        "gtzan" => builtin::GTZAN_CRNN.to_vec(),
        "crnn" => builtin::MSD_CRNN.to_vec(),
        "fcn" => builtin::MSD_FCN.to_vec(),
        path => std::fs::read(path).with_context(|| format!("reading model {path}"))?,
    };
    // FNV-1a of the bytes: a changed file never reuses stale cached activations.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    Ok((bytes, format!("{spec}#{h:016x}")))
}

/// Activations of the clips, computed once (or read from the cache).
pub struct Activations {
    /// Per clip; `None` if it could not be read.
    pub clips: Vec<Option<ClipActs>>,
    /// Augmented copies per clip (only for the requested clips).
    pub augmented: Vec<Vec<ClipActs>>,
    /// Files that failed, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Activations {
    /// The readable clips among `idx` with their targets, plus (if `with_aug`) each clip's
    /// augmented copies under the same target.
    pub fn songs<'a>(
        &'a self,
        idx: &[usize],
        targets: &[usize],
        with_aug: bool,
    ) -> Vec<(&'a ClipActs, usize)> {
        let mut v = Vec::new();
        for &i in idx {
            if let Some(c) = &self.clips[i] {
                v.push((c, targets[i]));
                if with_aug {
                    v.extend(self.augmented[i].iter().map(|x| (x, targets[i])));
                }
            }
        }
        v
    }
}

fn name_seed(seed: u64, name: &str, copy: usize) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for b in name.bytes().chain(copy.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Which clips get augmented copies, how many, and the seed they are drawn from.
pub struct AugmentPlan<'a> {
    pub clips: &'a [usize],
    pub copies: usize,
    pub seed: u64,
}

/// Run the frozen network over `clips[i]` for every `i` in `wanted`, plus the augmented
/// copies `plan` asks for. Unreadable files are reported on stderr and skipped.
pub fn extract(
    model: Model,
    model_id: &str,
    run: &RunOptions,
    cache_dir: Option<PathBuf>,
    clips: &[Clip],
    wanted: &[usize],
    plan: &AugmentPlan,
) -> Activations {
    let (augment, copies, seed) = (plan.clips, plan.copies, plan.seed);
    let cache = ActivationCache::new(cache_dir);
    let mut ex = Extractor::new(model, run.resampler, run.batch);
    let aug = Augment::default();
    let mut out = Activations {
        clips: vec![None; clips.len()],
        augmented: vec![Vec::new(); clips.len()],
        skipped: Vec::new(),
    };
    let jobs: usize = wanted.len() + augment.len() * copies;
    let pb = progress(jobs);
    pb.set_message("running the frozen network");
    for &i in wanted {
        let clip = &clips[i];
        let key = ActivationCache::key(model_id, &clip.path, run.resampler, None);
        let r = match cache.get(&key) {
            Some(a) => Ok(a),
            None => ex.extract(&clip.path, None).inspect(|a| cache.put(&key, a)),
        };
        pb.inc(1);
        match r {
            Ok(a) if !a.frames.is_empty() => out.clips[i] = Some(a),
            Ok(_) => out
                .skipped
                .push((clip.path.clone(), "no frames".to_string())),
            Err(e) => {
                pb.suspend(|| eprintln!("skipped {}: {e}", clip.path.display()));
                out.skipped.push((clip.path.clone(), e.to_string()));
            }
        }
    }
    for &i in augment {
        if out.clips[i].is_none() {
            continue;
        }
        let clip = &clips[i];
        for k in 0..copies {
            let s = name_seed(seed, &clip.name, k);
            let key = ActivationCache::key(model_id, &clip.path, run.resampler, Some(s));
            let r = match cache.get(&key) {
                Some(a) => Ok(a),
                None => ex
                    .extract(&clip.path, Some((s, &aug)))
                    .inspect(|a| cache.put(&key, a)),
            };
            pb.inc(1);
            if let Ok(a) = r {
                out.augmented[i].push(a);
            }
        }
    }
    pb.finish_and_clear();
    out
}

#[derive(Args, Debug)]
pub struct FinetuneArgs {
    /// GTZAN-style data: genres/<genre>/…, genres_original/<genre>/… or <genre>/… .
    #[arg(long)]
    data: PathBuf,
    /// Output model (safetensors, the published layout plus metadata).
    #[arg(long)]
    out: PathBuf,
    /// Base network: crnn (MSD), fcn (MSD), gtzan, or a safetensors file.
    #[arg(long, default_value = "crnn")]
    model: String,
    /// features-softmax, features-svm or finetune.
    #[arg(long, default_value = "finetune", value_parser = parse::<Strategy>)]
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

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

pub fn run(a: FinetuneArgs) -> Result<ExitCode> {
    crate::apply_threads(&a.run);
    let started = Instant::now();
    let split: SplitSpec = a.split.parse()?;
    if matches!(split, SplitSpec::KFold(_)) {
        bail!("finetune writes one model: use --split all|fault-filtered|random (k-fold is `eval gtzan --train`)");
    }
    let ds = discover(&a.data)?;
    let targets = ds.targets();
    let plan = plan(
        split,
        &ds.clips,
        &targets,
        a.train.seed,
        a.train.valid_per_genre,
    )?;
    let fold = &plan.folds[0];
    if plan.missing > 0 || plan.unlisted > 0 {
        eprintln!(
            "split {split}: {} listed clips not in {}, {} clips in no list (left out)",
            plan.missing,
            a.data.display(),
            plan.unlisted
        );
    }
    let model = load_model(&a.model, &a.run)?;
    let spec = a.train.spec(a.strategy);
    if a.strategy == Strategy::Finetune && model.architecture() != Architecture::Crnn {
        bail!("--strategy finetune trains the CRNN's recurrent top; for the FCN use features-softmax or features-svm");
    }
    let (base_bytes, model_id) = model_source(&a.model)?;
    let wanted: Vec<usize> = fold.train.iter().chain(&fold.valid).copied().collect();
    let acts = extract(
        model,
        &model_id,
        &a.run,
        a.train.cache.clone(),
        &ds.clips,
        &wanted,
        &AugmentPlan {
            clips: &fold.train,
            copies: a.train.augment,
            seed: a.train.seed,
        },
    );
    let songs = |idx: &[usize], with_aug: bool| acts.songs(idx, &targets, with_aug);
    let train = songs(&fold.train, true);
    let valid = songs(&fold.valid, false);
    eprintln!(
        "{} training songs ({} examples incl. augmented copies), {} validation songs, {} genres",
        fold.train
            .iter()
            .filter(|&&i| acts.clips[i].is_some())
            .count(),
        train.len(),
        valid.len(),
        ds.genres.len()
    );
    let (base_tensors, _) = read_safetensors(&base_bytes, &a.model)?;
    let base: HashMap<String, CandleTensor> = base_tensors.into_iter().collect();
    let ckpt = with_suffix(&a.out, ".ckpt");
    let curve = a
        .curve
        .clone()
        .unwrap_or_else(|| with_suffix(&a.out, ".curve.png"));
    let mut resumed = None;
    if a.strategy == Strategy::Finetune {
        let mut tr = top_trainer(&spec, &base, ds.genres.len())?;
        if a.resume {
            if ckpt.exists() {
                tr.resume(&ckpt)?;
                eprintln!(
                    "resumed from {} after epoch {}",
                    ckpt.display(),
                    tr.history().len()
                );
                for r in tr.history() {
                    println!("{}", epoch_line(r));
                }
            } else {
                eprintln!("no checkpoint {}: starting from scratch", ckpt.display());
            }
        }
        resumed = Some(tr);
    }
    let mut on_epoch = |r: &mgr_core::train::top::EpochReport,
                        tr: &mgr_core::train::top::TopTrainer|
     -> std::result::Result<(), mgr_core::train::TrainError> {
        println!("{}", epoch_line(r));
        tr.save_checkpoint(&ckpt)?;
        if let Err(e) = crate::plot::curve_png(&curve, tr.history(), tr.best_epoch()) {
            eprintln!("warning: {e:#}");
        }
        Ok(())
    };
    let mut trained = fit(
        &spec,
        &train,
        &valid,
        ds.genres.len(),
        &base,
        resumed,
        &mut on_epoch,
    )?;
    // Validation metrics of the selected model, song level (mean of frame scores).
    let mut correct = 0;
    for (c, t) in &valid {
        let frames = trained.predict(c)?;
        if let Some(s) = mgr_core::aggregate::SongScores::from_frames(frames) {
            correct += usize::from(s.by_mean() == *t);
        }
    }
    let val_acc = (!valid.is_empty()).then(|| correct as f64 / valid.len() as f64);
    let mut meta = HashMap::new();
    meta.insert("labels".to_string(), serde_json::to_string(&ds.genres)?);
    let out_name = a
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mgr_finetuned".into());
    meta.insert(
        "model".to_string(),
        format!(
            "{out_name} (mgr-cli finetune, {} from {})",
            a.strategy, a.model
        ),
    );
    meta.insert("strategy".to_string(), a.strategy.to_string());
    meta.insert("base_model_spec".to_string(), a.model.clone());
    let config = serde_json::json!({
        "strategy": a.strategy.to_string(),
        "split": split.to_string(),
        "train_songs": fold.train.len(),
        "valid_songs": valid.len(),
        "augment": a.train.augment,
        "top": spec.top,
        "resampler": format!("{:?}", a.run.resampler),
    });
    meta.insert("config".to_string(), config.to_string());
    let mut validation = serde_json::json!({ "song_accuracy": val_acc, "songs": valid.len() });
    if let Trained::Top(t) = &trained {
        validation["best_epoch"] = t.best_epoch().into();
        validation["epochs_run"] = t.history().len().into();
        if let Some(r) = t.history().get(t.best_epoch().saturating_sub(1)) {
            validation["val_loss"] = r.val_loss.into();
        }
        meta.insert("history".to_string(), serde_json::to_string(t.history())?);
    }
    meta.insert("validation".to_string(), validation.to_string());
    meta.insert("output_activation".to_string(), "sigmoid".to_string());
    let (tensors, meta) = model_tensors(&base_bytes, &trained.tensors()?, &meta)?;
    write_safetensors(&a.out, &tensors, meta)?;
    // Prove the file loads the way classify will load it.
    Model::load(&a.out, &mgr_core::model::device(a.run.device)?)
        .with_context(|| format!("re-reading {}", a.out.display()))?;
    println!(
        "wrote {} ({} genres; validation song accuracy {}; {:.1} s)",
        a.out.display(),
        ds.genres.len(),
        val_acc.map_or("n/a".into(), |v| format!("{:.3}", v)),
        started.elapsed().as_secs_f64()
    );
    if !acts.skipped.is_empty() {
        eprintln!("{} files skipped (see above)", acts.skipped.len());
    }
    Ok(ExitCode::SUCCESS)
}

pub fn epoch_line(r: &mgr_core::train::top::EpochReport) -> String {
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

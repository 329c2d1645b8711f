//! `finetune` as a library call: learn the genres of a data set and write a model file that
//! `classify`, `eval` and the plugin load like the published ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Tensor;

use super::export::{model_tensors, read_safetensors, write_safetensors};
use super::extract::{extract, AugmentPlan, ExtractConfig, ModelSource};
use super::top::{EpochReport, TopTrainer};
use super::{fit, top_trainer, FitContext, Strategy, TrainError, TrainSpec, Trained};
use crate::aggregate::SongScores;
use crate::dataset::artists::ArtistSource;
use crate::dataset::prepare;
use crate::dataset::split::SplitSpec;
use crate::model::meta::{keys, CrossValidation, Provenance};
use crate::model::{device, Architecture, DeviceKind, Model};
use crate::progress::Progress;

/// A `finetune` request.
#[derive(Debug, Clone)]
pub struct FinetuneConfig {
    /// Data folders (GTZAN layouts), used together.
    pub data: Vec<PathBuf>,
    /// The model file to write.
    pub out: PathBuf,
    /// Base network: a built-in name or a file.
    pub model: String,
    pub spec: TrainSpec,
    /// `all` (validation carved from the data), `fault-filtered` or `random` (their lists).
    pub split: SplitSpec,
    pub augment: usize,
    pub valid_per_genre: usize,
    pub seed: u64,
    /// Continue from the checkpoint [`FinetuneConfig::checkpoint`] if it exists.
    pub resume: bool,
    pub artists: ArtistSource,
    pub extract: ExtractConfig,
    pub device: DeviceKind,
}

impl FinetuneConfig {
    /// `<out>.ckpt`: written after every epoch of a fine-tune.
    pub fn checkpoint(&self) -> PathBuf {
        with_suffix(&self.out, ".ckpt")
    }
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// What a `finetune` run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FinetuneReport {
    pub out: PathBuf,
    pub genres: Vec<String>,
    pub train_songs: usize,
    /// Training examples including augmented copies.
    pub train_examples: usize,
    pub valid_songs: usize,
    /// Song-level accuracy of the written model on the validation songs.
    pub validation_accuracy: Option<f64>,
    /// The recipe's cross-validated accuracy (strategies trained on every song).
    pub cross_validation: Option<CrossValidation>,
    /// Epochs restored from the checkpoint, when resumed.
    pub resumed_epochs: Option<usize>,
    pub seconds: f64,
    pub skipped: Vec<(PathBuf, String)>,
}

/// Train as `cfg` says and write the model file. `on_epoch` sees every epoch of a fine-tune
/// after its checkpoint is written (the CLI prints it and draws the curve); the epochs restored
/// by a resume are replayed to it first.
pub fn finetune(
    cfg: &FinetuneConfig,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&EpochReport, &TopTrainer),
) -> Result<FinetuneReport, TrainError> {
    let started = Instant::now();
    if cfg.split.is_kfold() {
        return Err(TrainError::Config(
            "finetune writes one model: use --split all|fault-filtered|random (k-fold is `eval gtzan --train`)".into(),
        ));
    }
    // The model is written after all the work: refuse a destination that cannot exist first.
    let folder = match cfg.out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(TrainError::Config(format!(
            "cannot write {}: folder {} does not exist",
            cfg.out.display(),
            folder.display()
        )));
    }
    // Strategies without early stopping train on every song of `--split all` and measure
    // themselves by artist-grouped cross-validation instead of holding songs back.
    let cross_validate = !cfg.spec.uses_validation() && cfg.split == SplitSpec::All;
    let valid_per_genre = if cross_validate {
        0
    } else {
        cfg.valid_per_genre
    };
    let prep = prepare(
        &cfg.data,
        None,
        &cfg.artists,
        cfg.split,
        cfg.seed,
        valid_per_genre,
    )?;
    let fold = &prep.plan.folds[0];
    if prep.plan.missing > 0 || prep.plan.unlisted > 0 {
        progress.note(&format!(
            "split {}: {} listed clips not in the data, {} clips in no list (left out)",
            cfg.split, prep.plan.missing, prep.plan.unlisted
        ));
    }
    let dev = device(cfg.device)?;
    let source = ModelSource::new(&cfg.model)?;
    let model = Model::from_bytes(&source.bytes, &cfg.model, &dev)?;
    let base_labels = model.labels().to_vec();
    if cfg.spec.strategy == Strategy::Finetune && model.architecture() != Architecture::Crnn {
        return Err(TrainError::Config(
            "--strategy finetune trains the CRNN's recurrent top; for the FCN use features-softmax or features-svm".into(),
        ));
    }
    let wanted: Vec<usize> = fold.train.iter().chain(&fold.valid).copied().collect();
    let acts = extract(
        model,
        &source,
        &cfg.extract,
        &prep.dataset.clips,
        &wanted,
        &AugmentPlan {
            clips: &fold.train,
            copies: cfg.augment,
            seed: cfg.seed,
        },
        progress,
    );
    let targets = &prep.targets;
    let groups = &prep.groups.of;
    let train = acts.songs(&fold.train, targets, groups, true);
    let valid = acts.songs(&fold.valid, targets, groups, false);
    let train_songs = fold
        .train
        .iter()
        .filter(|&&i| acts.clips[i].is_some())
        .count();
    progress.note(&format!(
        "{train_songs} training songs ({} examples incl. augmented copies), {} validation songs, {} genres",
        train.len(),
        valid.len(),
        prep.labels.len()
    ));
    let (base_tensors, _) = read_safetensors(&source.bytes, &cfg.model)?;
    let base: HashMap<String, Tensor> = base_tensors.into_iter().collect();
    let ckpt = cfg.checkpoint();
    let mut resumed = None;
    let mut resumed_epochs = None;
    if cfg.spec.strategy == Strategy::Finetune {
        let mut tr = top_trainer(&cfg.spec, &base, prep.labels.len())?;
        if cfg.resume {
            if ckpt.exists() {
                tr.resume(&ckpt)?;
                progress.note(&format!(
                    "resumed from {} after epoch {}",
                    ckpt.display(),
                    tr.history().len()
                ));
                for r in tr.history() {
                    on_epoch(r, &tr);
                }
                resumed_epochs = Some(tr.history().len());
            } else {
                progress.note(&format!(
                    "no checkpoint {}: starting from scratch",
                    ckpt.display()
                ));
            }
        }
        resumed = Some(tr);
    }
    let ctx = FitContext {
        labels: &prep.labels,
        base: &base,
        base_labels: &base_labels,
    };
    let mut trained = fit(&cfg.spec, &train, &valid, &ctx, resumed, &mut |r, tr| {
        tr.save_checkpoint(&ckpt)?;
        on_epoch(r, tr);
        Ok(())
    })?;
    // Validation accuracy of the selected model, song level (mean of frame scores).
    let (correct, _) = song_hits(&mut trained, &valid)?;
    let validation_accuracy = (!valid.is_empty()).then(|| correct as f64 / valid.len() as f64);
    let cross_validation = if cross_validate {
        let cv = cross_validation(&cfg.spec, &acts, &prep, &ctx, CV_FOLDS, cfg.seed)?;
        progress.note(&format!(
            "{}-grouped {CV_FOLDS}-fold cross-validation on the same songs: {:.1} % of {} songs",
            cv.grouping,
            100.0 * cv.accuracy,
            cv.songs
        ));
        Some(cv)
    } else {
        None
    };

    let provenance = Provenance {
        tool: "mgr-cli finetune".into(),
        strategy: cfg.spec.strategy.to_string(),
        base_model: cfg.model.clone(),
        data: cfg.data.iter().map(|d| d.display().to_string()).collect(),
        train_songs,
        valid_songs: valid.len(),
        split: cfg.split.to_string(),
        grouping: prep.grouping().into(),
        validation_accuracy,
        cross_validation: cross_validation.clone(),
        seed: cfg.seed,
    };
    let mut meta = HashMap::new();
    meta.insert(keys::LABELS.to_string(), to_json(&prep.labels)?);
    let out_name = cfg
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "mgr_finetuned".into());
    meta.insert(
        keys::MODEL.to_string(),
        format!(
            "{out_name} (mgr-cli finetune, {} from {})",
            cfg.spec.strategy, cfg.model
        ),
    );
    meta.insert(keys::STRATEGY.to_string(), cfg.spec.strategy.to_string());
    meta.insert(keys::BASE_MODEL_SPEC.to_string(), cfg.model.clone());
    let config = serde_json::json!({
        "strategy": cfg.spec.strategy.to_string(),
        "split": cfg.split.to_string(),
        "train_songs": train_songs,
        "valid_songs": valid.len(),
        "augment": cfg.augment,
        "stack": cfg.spec.stack,
        "top": cfg.spec.top,
        "resampler": format!("{:?}", cfg.extract.resampler),
    });
    meta.insert(keys::CONFIG.to_string(), config.to_string());
    let mut validation =
        serde_json::json!({ "song_accuracy": validation_accuracy, "songs": valid.len() });
    if let Trained::Top(t) = &trained {
        validation["best_epoch"] = t.best_epoch().into();
        validation["epochs_run"] = t.history().len().into();
        if let Some(r) = t.history().get(t.best_epoch().saturating_sub(1)) {
            validation["val_loss"] = r.val_loss.into();
        }
        meta.insert(keys::HISTORY.to_string(), to_json(t.history())?);
    }
    meta.insert(keys::VALIDATION.to_string(), validation.to_string());
    let activation = match cfg.spec.strategy {
        Strategy::Stack => "fused-probability",
        _ => "sigmoid",
    };
    meta.insert(keys::OUTPUT_ACTIVATION.to_string(), activation.to_string());
    meta.insert(keys::PROVENANCE.to_string(), to_json(&provenance)?);
    let (tensors, meta) = model_tensors(&source.bytes, &trained.tensors()?, &meta)?;
    write_safetensors(&cfg.out, &tensors, meta)?;
    // Prove the file loads the way classify will load it.
    Model::load(&cfg.out, &dev)?;
    Ok(FinetuneReport {
        out: cfg.out.clone(),
        genres: prep.labels.clone(),
        train_songs,
        train_examples: train.len(),
        valid_songs: valid.len(),
        validation_accuracy,
        cross_validation,
        resumed_epochs,
        seconds: started.elapsed().as_secs_f64(),
        skipped: acts.skipped,
    })
}

/// Folds of the cross-validation `finetune` reports for strategies without early stopping.
pub const CV_FOLDS: usize = 5;

/// Song-level accuracy (mean rule) of `spec` trained and tested on the artist-grouped
/// `k`-fold split of the prepared data (clip-level folds where no artist index was found).
fn cross_validation(
    spec: &TrainSpec,
    acts: &super::extract::Activations,
    prep: &crate::dataset::Prepared,
    ctx: &FitContext,
    k: usize,
    seed: u64,
) -> Result<CrossValidation, TrainError> {
    let plan = crate::dataset::split::plan(
        SplitSpec::KFold(k),
        &prep.dataset.clips,
        &prep.targets,
        &prep.groups,
        seed,
        0,
    )?;
    let groups = &prep.groups.of;
    let (mut correct, mut songs) = (0, 0);
    for fold in &plan.folds {
        let train = acts.songs(&fold.train, &prep.targets, groups, true);
        let mut trained = fit(spec, &train, &[], ctx, None, &mut |_, _| Ok(()))?;
        let test = acts.songs(&fold.test, &prep.targets, groups, false);
        let (c, n) = song_hits(&mut trained, &test)?;
        correct += c;
        songs += n;
    }
    Ok(CrossValidation {
        split: SplitSpec::KFold(k).to_string(),
        grouping: prep.grouping().into(),
        songs,
        accuracy: correct as f64 / songs.max(1) as f64,
    })
}

/// Songs decided right (mean of the frame scores) and songs with frames, among `songs`.
fn song_hits(trained: &mut Trained, songs: &[super::Song]) -> Result<(usize, usize), TrainError> {
    let (mut correct, mut scored) = (0, 0);
    for song in songs {
        if let Some(s) = SongScores::from_frames(trained.predict(song.acts)?) {
            correct += usize::from(s.by_mean() == song.target);
            scored += 1;
        }
    }
    Ok((correct, scored))
}

fn to_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<String, TrainError> {
    serde_json::to_string(v).map_err(|e| TrainError::Format(e.to_string()))
}

//! `finetune` as a library call: learn the genres of a data set and write a model file that
//! `classify`, `eval` and the plugin load like the published ones.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::experiment::{Experiment, ExperimentConfig, Labels};
use super::export::{model_tensors, write_safetensors};
use super::extract::Activations;
use super::top::{EpochReport, TopTrainer};
use super::{fit, top_trainer, Song, Strategy, TrainError, TrainSpec, Trained};
use crate::aggregate::SongScores;
use crate::dataset::split::SplitSpec;
use crate::eval::metrics::Confusion;
use crate::model::meta::{CrossValidation, DataSources, GenreRecall, Provenance, TrainedModel};
use crate::model::{Architecture, ModelSpec};
use crate::progress::Progress;

/// A `finetune` request.
#[derive(Debug, Clone)]
pub struct FinetuneConfig {
    /// The data, its split (`all`: validation carved from the data, `fault-filtered` or
    /// `random`: their lists; never a k-fold), the base model and how it runs.
    pub experiment: ExperimentConfig,
    /// The model file to write.
    pub out: PathBuf,
    /// The strategy and its settings.
    pub spec: TrainSpec,
    /// Continue from the checkpoint [`FinetuneConfig::checkpoint`] if it exists.
    pub resume: bool,
}

impl FinetuneConfig {
    /// `<out>.ckpt`: written after every epoch of a fine-tune.
    pub fn checkpoint(&self) -> PathBuf {
        with_suffix(&self.out, ".ckpt")
    }

    /// Strategies without early stopping train on every song of split `all` and measure
    /// themselves by a [`CV_FOLDS`]-fold cross-validation instead of holding songs back.
    pub fn cross_validates(&self) -> bool {
        !self.spec.uses_validation() && self.experiment.split == SplitSpec::All
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
    /// The model file written.
    pub out: PathBuf,
    /// Its labels.
    pub genres: Vec<String>,
    /// Readable training songs (without augmented copies).
    pub train_songs: usize,
    /// Training examples including augmented copies.
    pub train_examples: usize,
    /// Validation songs held back.
    pub valid_songs: usize,
    /// Song-level accuracy of the written model on the validation songs.
    pub validation_accuracy: Option<f64>,
    /// The recipe's cross-validated accuracy (strategies trained on every song).
    pub cross_validation: Option<CrossValidation>,
    /// Epochs restored from the checkpoint, when resumed.
    pub resumed_epochs: Option<usize>,
    /// Wall time of the run.
    pub seconds: f64,
    /// Files that could not be used, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Folds of the cross-validation `finetune` reports for strategies without early stopping.
pub const CV_FOLDS: usize = 5;

/// Train as `cfg` says and write the model file. `on_epoch` sees every epoch of a fine-tune
/// after its checkpoint is written (the CLI prints it and draws the curve); the epochs restored
/// by a resume are replayed to it first.
pub fn finetune(
    cfg: &FinetuneConfig,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&EpochReport, &TopTrainer),
) -> Result<FinetuneReport, TrainError> {
    let started = Instant::now();
    check_request(cfg)?;
    let exp = Experiment::prepare(experiment_for(cfg), Labels::Data, progress)?;
    if cfg.spec.strategy == Strategy::Finetune && exp.model.architecture() != Architecture::Crnn {
        return Err(TrainError::Config(
            "strategy finetune trains the CRNN's recurrent top; for the FCN use features-softmax or features-svm".into(),
        ));
    }
    let (train_idx, valid_idx) = training_parts(cfg, &exp);
    let wanted: Vec<usize> = train_idx.iter().chain(&valid_idx).copied().collect();
    let acts = exp.activations(&wanted, &train_idx, progress);
    let train = exp.songs(&acts, &train_idx, true);
    let valid = exp.songs(&acts, &valid_idx, false);
    let train_songs = train_idx
        .iter()
        .filter(|&&i| acts.clips[i].is_some())
        .count();
    progress.note(&format!(
        "{train_songs} training songs ({} examples incl. augmented copies), {} validation songs, {} genres",
        train.len(),
        valid.len(),
        exp.prep.labels.len()
    ));
    let (trainer, resumed_epochs) = resume(cfg, &exp, progress, on_epoch)?;
    let ckpt = cfg.checkpoint();
    let mut trained = fit(
        &cfg.spec,
        &train,
        &valid,
        &exp.fit_context(),
        trainer,
        &mut |r, tr| {
            tr.save_checkpoint(&ckpt)?;
            on_epoch(r, tr);
            Ok(())
        },
    )?;
    let (correct, _) = song_hits(&mut trained, &valid)?;
    let validation_accuracy = (!valid.is_empty()).then(|| correct as f64 / valid.len() as f64);
    let cross_validation = match cfg.cross_validates() {
        true => Some(cross_validation(&cfg.spec, &exp, &acts, progress)?),
        false => None,
    };
    let report = FinetuneReport {
        out: cfg.out.clone(),
        genres: exp.prep.labels.clone(),
        train_songs,
        train_examples: train.len(),
        valid_songs: valid.len(),
        validation_accuracy,
        cross_validation,
        resumed_epochs,
        seconds: 0.0,
        skipped: acts.skipped.clone(),
    };
    write_model(cfg, &exp, &trained, &report)?;
    Ok(FinetuneReport {
        seconds: started.elapsed().as_secs_f64(),
        ..report
    })
}

/// Refuse what cannot work before any work: a k-fold split (one model is written) and a
/// destination folder that does not exist.
fn check_request(cfg: &FinetuneConfig) -> Result<(), TrainError> {
    if cfg.experiment.split.is_kfold() {
        return Err(TrainError::Config(
            "finetune writes one model: split all, fault-filtered or random (a k-fold split is for evaluation with training)".into(),
        ));
    }
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
    Ok(())
}

/// The experiment `cfg` runs: a cross-validating run plans the cross-validation's folds (its
/// training songs are all of them), any other run the split it asked for.
fn experiment_for(cfg: &FinetuneConfig) -> ExperimentConfig {
    let mut e = cfg.experiment.clone();
    if cfg.cross_validates() {
        e.split = SplitSpec::KFold(CV_FOLDS);
        e.valid_per_genre = 0;
    }
    e
}

/// Training and validation clips: every clip for a cross-validating run, else the split's.
fn training_parts(cfg: &FinetuneConfig, exp: &Experiment) -> (Vec<usize>, Vec<usize>) {
    if cfg.cross_validates() {
        return ((0..exp.prep.dataset.clips.len()).collect(), Vec::new());
    }
    let fold = &exp.prep.plan.folds[0];
    (fold.train.clone(), fold.valid.clone())
}

/// For a fine-tune: a trainer restored from the checkpoint when resuming (its epochs replayed
/// to `on_epoch`), or a fresh one.
fn resume(
    cfg: &FinetuneConfig,
    exp: &Experiment,
    progress: &dyn Progress,
    on_epoch: &mut dyn FnMut(&EpochReport, &TopTrainer),
) -> Result<(Option<TopTrainer>, Option<usize>), TrainError> {
    if cfg.spec.strategy != Strategy::Finetune {
        return Ok((None, None));
    }
    let mut tr = top_trainer(&cfg.spec, &exp.weights.tensors, exp.prep.labels.len())?;
    let ckpt = cfg.checkpoint();
    if !cfg.resume {
        return Ok((Some(tr), None));
    }
    if !ckpt.exists() {
        progress.note(&format!(
            "no checkpoint {}: starting from scratch",
            ckpt.display()
        ));
        return Ok((Some(tr), None));
    }
    tr.resume(&ckpt)?;
    progress.note(&format!(
        "resumed from {} after epoch {}",
        ckpt.display(),
        tr.history().len()
    ));
    for r in tr.history() {
        on_epoch(r, &tr);
    }
    let epochs = tr.history().len();
    Ok((Some(tr), Some(epochs)))
}

/// Song-level accuracy, balanced accuracy, macro-F1 and per-genre recall (mean rule) of
/// `spec` trained and tested on the experiment's k folds (artist-grouped where an artist index
/// was found, clip-level otherwise: then the line says it is not the accuracy on new artists).
fn cross_validation(
    spec: &TrainSpec,
    exp: &Experiment,
    acts: &Activations,
    progress: &dyn Progress,
) -> Result<CrossValidation, TrainError> {
    let labels = &exp.prep.labels;
    let mut pooled = Confusion::new(labels);
    for fold in &exp.prep.plan.folds {
        let train = exp.songs(acts, &fold.train, true);
        let mut trained = fit(spec, &train, &[], &exp.fit_context(), None, &mut |_, _| {
            Ok(())
        })?;
        for song in exp.songs(acts, &fold.test, false) {
            if let Some(s) = SongScores::from_frames(trained.predict(song.acts)?) {
                pooled.add(song.target, s.by_mean());
            }
        }
    }
    let recall = labels
        .iter()
        .zip(pooled.per_class())
        .filter(|(_, m)| m.support > 0)
        .map(|(genre, m)| GenreRecall {
            genre: genre.clone(),
            songs: m.support,
            recall: m.recall,
        })
        .collect();
    let cv = CrossValidation {
        split: SplitSpec::KFold(exp.prep.plan.folds.len()).to_string(),
        grouping: exp.prep.grouping().into(),
        songs: pooled.total(),
        accuracy: pooled.accuracy(),
        balanced_accuracy: Some(pooled.balanced_accuracy()),
        macro_f1: Some(pooled.macro_f1()),
        recall,
    };
    progress.note(&format!(
        "cross-validation on the same songs: {}",
        cv.describe()
    ));
    progress.note(&format!("recall per genre: {}", cv.recall_line()));
    Ok(cv)
}

/// Songs decided right (mean of the frame scores) and songs with frames, among `songs`.
fn song_hits(trained: &mut Trained, songs: &[Song]) -> Result<(usize, usize), TrainError> {
    let (mut correct, mut scored) = (0, 0);
    for song in songs {
        if let Some(s) = SongScores::from_frames(trained.predict(song.acts)?) {
            correct += usize::from(s.by_mean() == song.target);
            scored += 1;
        }
    }
    Ok((correct, scored))
}

/// Write the base model with the trained tensors and the metadata that says how it was
/// made, then load it back the way `classify` will.
fn write_model(
    cfg: &FinetuneConfig,
    exp: &Experiment,
    trained: &Trained,
    report: &FinetuneReport,
) -> Result<(), TrainError> {
    let meta = trained_model(cfg, exp, trained, report)?
        .metadata()
        .map_err(json_error)?;
    let (tensors, meta) = model_tensors(&exp.weights, &trained.tensors()?, &meta);
    write_safetensors(&cfg.out, &tensors, meta)?;
    ModelSpec::File(cfg.out.clone()).load(&exp.device)?;
    Ok(())
}

/// What the model file records about its training.
fn trained_model<'a>(
    cfg: &FinetuneConfig,
    exp: &'a Experiment,
    trained: &Trained,
    report: &FinetuneReport,
) -> Result<TrainedModel<'a>, TrainError> {
    let e = &cfg.experiment;
    let strategy = cfg.spec.strategy.to_string();
    let base_model = e.model.to_string();
    let mut config = serde_json::json!({
        "strategy": strategy,
        "split": e.split.to_string(),
        "train_songs": report.train_songs,
        "valid_songs": report.valid_songs,
        "augment": e.augment,
        "stack": cfg.spec.stack,
        "top": cfg.spec.top,
        "resampler": format!("{:?}", e.extract.resampler),
    });
    // Absent when unweighted: such files read as those written before `--balance` existed.
    if !cfg.spec.balance.is_none() {
        config["balance"] = serde_json::json!(cfg.spec.balance);
    }
    let mut validation = serde_json::json!({
        "song_accuracy": report.validation_accuracy,
        "songs": report.valid_songs,
    });
    let mut history = None;
    if let Trained::Top(t) = trained {
        validation["best_epoch"] = t.best_epoch().into();
        validation["epochs_run"] = t.history().len().into();
        if let Some(r) = t.history().get(t.best_epoch().saturating_sub(1)) {
            validation["val_loss"] = r.val_loss.into();
        }
        history = Some(t.history().to_vec());
    }
    Ok(TrainedModel {
        labels: &exp.prep.labels,
        display: &exp.prep.display,
        name: cfg
            .out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mgr_finetuned".into()),
        output_activation: match cfg.spec.strategy {
            Strategy::Stack => "fused-probability",
            _ => "sigmoid",
        },
        history: history
            .map(|h| serde_json::to_string(&h))
            .transpose()
            .map_err(json_error)?,
        config,
        validation,
        provenance: Provenance {
            tool: "mgr-cli finetune".into(),
            strategy: strategy.clone(),
            base_model: base_model.clone(),
            data: e.data.iter().map(|d| d.display().to_string()).collect(),
            train_songs: report.train_songs,
            valid_songs: report.valid_songs,
            split: e.split.to_string(),
            grouping: exp.prep.grouping().into(),
            validation_accuracy: report.validation_accuracy,
            cross_validation: report.cross_validation.clone(),
            seed: e.seed,
            sources: Some(DataSources {
                labels: exp.prep.labels_from.into(),
                artists: exp.prep.artist_sources,
            }),
        },
        strategy,
        base_model,
    })
}

fn json_error(e: serde_json::Error) -> TrainError {
    TrainError::Format(e.to_string())
}

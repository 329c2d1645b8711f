//! `eval gtzan` as a library call: find the clips, group them by artist, split, run the frozen
//! networks once, train per fold if asked, score every system on the same test songs, and
//! return an [`EvalReport`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use candle_core::Tensor;
use serde_json::Value;

use super::report::{
    EvalReport, FoldInfo, FoldTraining, Headline, Level, Outcome, SingleArtistGenre, Skipped,
    SongPrediction, SystemRun,
};
use super::EvalError;
use crate::dataset::artists::ArtistSource;
use crate::dataset::split::{Fold, SplitSpec};
use crate::dataset::{prepare, Prepared};
use crate::model::{device, DeviceKind, Model};
use crate::progress::Progress;
use crate::train::activations::ClipActs;
use crate::train::export::read_safetensors;
use crate::train::extract::{extract, Activations, AugmentPlan, ExtractConfig, ModelSource};
use crate::train::{fit, Baseline, BaselineKind, FitContext, TrainSpec, Trained};

/// An `eval gtzan` request.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// Data folders (GTZAN layouts), used together.
    pub data: Vec<PathBuf>,
    /// Model evaluated (or the base trained per fold): a built-in name or a file.
    pub model: String,
    pub split: SplitSpec,
    /// Train on each fold's training part first.
    pub train: Option<TrainSpec>,
    /// Augmented copies of each training song (with `train`).
    pub augment: usize,
    pub valid_per_genre: usize,
    pub seed: u64,
    /// MFCC + linear SVM and MFCC + 5-NN on the same folds.
    pub mfcc_baseline: bool,
    /// The embedded published GTZAN CRNN on the same test songs: the line to beat.
    pub published_baseline: bool,
    pub artists: ArtistSource,
    pub extract: ExtractConfig,
    pub device: DeviceKind,
}

/// Name of the published model's line in reports.
pub const PUBLISHED: &str = "published-gtzan-crnn";

/// Run an evaluation.
pub fn gtzan(cfg: &EvalConfig, progress: &dyn Progress) -> Result<EvalReport, EvalError> {
    let started = Instant::now();
    let needs_training = cfg.train.is_some() || cfg.mfcc_baseline;
    if needs_training && cfg.split == SplitSpec::All {
        return Err(EvalError::NeedsHeldOut);
    }
    let dev = device(cfg.device)?;
    let source = ModelSource::new(&cfg.model)?;
    let model = Model::from_bytes(&source.bytes, &cfg.model, &dev)?;
    let model_labels = model.labels().to_vec();
    let prep = prepare(
        &cfg.data,
        cfg.train.is_none().then_some(model_labels.as_slice()),
        &cfg.artists,
        cfg.split,
        cfg.seed,
        cfg.valid_per_genre,
    )?;
    let (clips, targets, labels) = (&prep.dataset.clips, &prep.targets, &prep.labels);
    if prep.plan.folds.iter().all(|f| f.test.is_empty()) {
        return Err(EvalError::NothingToTest {
            split: cfg.split.to_string(),
            clips: clips.len(),
            data: display_dirs(&cfg.data),
        });
    }
    if prep.plan.missing > 0 || prep.plan.unlisted > 0 {
        progress.note(&format!(
            "split {}: {} clips named by the lists are not in {} (skipped); {} clips of the folder are in no list",
            cfg.split,
            prep.plan.missing,
            display_dirs(&cfg.data),
            prep.plan.unlisted
        ));
    }
    let mut wanted: Vec<usize> = prep
        .plan
        .folds
        .iter()
        .flat_map(|f| {
            let mut v = f.test.clone();
            if needs_training {
                v.extend(&f.train);
                v.extend(&f.valid);
            }
            v
        })
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut aug_idx: Vec<usize> = if cfg.train.is_some() && cfg.augment > 0 {
        prep.plan
            .folds
            .iter()
            .flat_map(|f| f.train.clone())
            .collect()
    } else {
        Vec::new()
    };
    aug_idx.sort_unstable();
    aug_idx.dedup();
    let t_extract = Instant::now();
    let acts = extract(
        model,
        &source,
        &cfg.extract,
        clips,
        &wanted,
        &AugmentPlan {
            clips: &aug_idx,
            copies: cfg.augment,
            seed: cfg.seed,
        },
        progress,
    );
    // The published model on the test songs, unless it is the system evaluated.
    let published = if cfg.published_baseline && !(cfg.model == "gtzan" && cfg.train.is_none()) {
        // When the base model is the published one, its activations already hold the scores.
        let from = if cfg.model == "gtzan" {
            Published::Extracted(&acts, &model_labels)
        } else {
            let source = ModelSource::new("gtzan")?;
            let model = Model::from_bytes(&source.bytes, "gtzan", &dev)?;
            Published::ToExtract(source, Box::new(model))
        };
        published_scores(cfg, &prep, from, progress)?
    } else {
        None
    };
    let extract_seconds = t_extract.elapsed().as_secs_f64();
    let base: HashMap<String, Tensor> = if cfg.train.is_some() {
        read_safetensors(&source.bytes, &cfg.model)?
            .0
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };

    let main_name = match &cfg.train {
        Some(spec) => format!("{}+{}", cfg.model, spec.strategy),
        None => cfg.model.clone(),
    };
    let mut main = SystemRun::new(main_name);
    let mut baselines: Vec<SystemRun> = Vec::new();
    if cfg.mfcc_baseline {
        baselines.push(SystemRun::new("mfcc+svm"));
        baselines.push(SystemRun::new("mfcc+5nn"));
    }
    if published.is_some() {
        baselines.push(SystemRun::new(PUBLISHED));
    }
    let mut training = Vec::new();
    let mut fold_info = Vec::new();
    let n_folds = prep.plan.folds.len();
    for (k, fold) in prep.plan.folds.iter().enumerate() {
        let test: Vec<(usize, &ClipActs)> = fold
            .test
            .iter()
            .filter_map(|&i| acts.clips[i].as_ref().map(|c| (i, c)))
            .collect();
        let mut seen: Vec<usize> = fold.train.clone();
        seen.extend(&fold.valid);
        fold_info.push(FoldInfo {
            train: fold.train.len(),
            valid: fold.valid.len(),
            test: fold.test.len(),
            test_songs_with_artist_in_training: (needs_training && prep.index.is_some())
                .then(|| prep.groups.overlap(&seen, &fold.test)),
        });
        let mut outcomes = Vec::with_capacity(test.len());
        match &cfg.train {
            Some(spec) => {
                let ctx = FitContext {
                    labels,
                    base: &base,
                    base_labels: &model_labels,
                };
                let (trained, report) =
                    train_fold(spec, &acts, fold, targets, &prep.groups.of, &ctx)?;
                progress.note(&format!(
                    "fold {}/{n_folds}: trained on {} examples ({} validation songs){} in {:.1} s",
                    k + 1,
                    report.examples,
                    report.valid_songs,
                    match (report.epochs, report.best_epoch) {
                        (Some(e), Some(b)) => format!(", {e} epochs (best {b})"),
                        _ => String::new(),
                    },
                    report.seconds
                ));
                training.push(report);
                let mut trained = trained;
                for &(i, c) in &test {
                    outcomes.extend(Outcome::from_scores(i, targets[i], trained.predict(c)?));
                }
            }
            None => {
                for &(i, c) in &test {
                    let frames = c.frames.iter().map(|f| f.probs.clone()).collect();
                    outcomes.extend(Outcome::from_scores(i, targets[i], frames));
                }
            }
        }
        main.folds.push(outcomes);
        let mut b = 0;
        if cfg.mfcc_baseline {
            let mut pool = acts.songs(&fold.train, targets, &prep.groups.of, false);
            pool.extend(acts.songs(&fold.valid, targets, &prep.groups.of, false));
            for kind in [BaselineKind::Svm, BaselineKind::Knn] {
                let fitted = Baseline::fit(kind, &pool, labels.len(), cfg.seed);
                baselines[b].folds.push(
                    test.iter()
                        .filter_map(|&(i, c)| {
                            Outcome::from_scores(i, targets[i], fitted.predict(c))
                        })
                        .collect(),
                );
                b += 1;
            }
        }
        if let Some(scores) = &published {
            baselines[b].folds.push(
                test.iter()
                    .filter_map(|&(i, _)| {
                        let frames = scores.get(&i)?.clone();
                        Outcome::from_scores(i, targets[i], frames)
                    })
                    .collect(),
            );
        }
    }

    let split = cfg.split.to_string();
    let all = |_: &Outcome| true;
    let levels = Level::ALL
        .iter()
        .map(|&level| main.level_report(level, labels, &split, &all))
        .collect();
    let baseline_reports = baselines
        .iter()
        .map(|b| b.level_report(Level::SongMean, labels, &split, &all))
        .collect();
    // Genres no split can test on unheard artists are reported on their own.
    let single = prep.groups.single_group_genres(targets, labels.len());
    let present: Vec<usize> = (0..labels.len()).filter(|g| targets.contains(g)).collect();
    let testable: Vec<usize> = present
        .iter()
        .copied()
        .filter(|g| !single.contains(g))
        .collect();
    let in_headline = |o: &Outcome| testable.contains(&o.truth);
    let systems: Vec<&SystemRun> = std::iter::once(&main).chain(&baselines).collect();
    let headline = Headline {
        genres: testable.iter().map(|&g| labels[g].clone()).collect(),
        excluded: single.iter().map(|&g| labels[g].clone()).collect(),
        systems: systems
            .iter()
            .map(|s| s.level_report(Level::SongMean, labels, &split, &in_headline))
            .collect(),
    };
    let single_artist_genres = single
        .iter()
        .map(|&g| {
            let mut test_songs = 0;
            let mut trained_on = 0;
            for f in &prep.plan.folds {
                let n = f.test.iter().filter(|&&i| targets[i] == g).count();
                test_songs += n;
                if f.train.iter().any(|&i| targets[i] == g) {
                    trained_on += n;
                }
            }
            let of_genre = |o: &Outcome| o.truth == g;
            let accuracy = systems
                .iter()
                .map(|s| {
                    // No test song of the genre (a fixed split may hold none): no accuracy.
                    let acc = (test_songs > 0)
                        .then(|| s.pooled(Level::SongMean, labels, &of_genre).accuracy());
                    (s.name.clone(), acc.map_or(Value::Null, Value::from))
                })
                .collect();
            let group = targets
                .iter()
                .position(|&t| t == g)
                .map(|i| prep.groups.keys[prep.groups.of[i]].clone())
                .unwrap_or_default();
            SingleArtistGenre {
                genre: labels[g].clone(),
                group,
                test_songs,
                test_songs_trained_on_genre: trained_on,
                accuracy,
            }
        })
        .collect();
    let mut predictions: Vec<SongPrediction> = Vec::new();
    for (k, outcomes) in main.folds.iter().enumerate() {
        for o in outcomes {
            let c = &clips[o.clip];
            let predicted = systems
                .iter()
                .filter_map(|s| {
                    let p = s.folds[k].iter().find(|x| x.clip == o.clip)?;
                    Some((s.name.clone(), Value::from(labels[p.mean].clone())))
                })
                .collect();
            predictions.push(SongPrediction {
                clip: c.name.clone(),
                path: c.path.display().to_string(),
                genre: labels[o.truth].clone(),
                group: prep.groups.keys[prep.groups.of[o.clip]].clone(),
                fold: k,
                predicted,
            });
        }
    }
    predictions.sort_by(|a, b| (&a.genre, &a.clip).cmp(&(&b.genre, &b.clip)));
    let main_song = main.level_report(Level::SongMean, labels, &split, &all);
    let frames = main.pooled(Level::Frame, labels, &all).total();
    Ok(EvalReport {
        songs: main_song.n,
        main: main_song,
        levels,
        baselines: baseline_reports,
        headline,
        single_artist_genres,
        grouping: prep.grouping().into(),
        artist_index: prep
            .index
            .as_ref()
            .and_then(|i| i.source.as_ref())
            .map(|p| p.display().to_string()),
        test_songs_with_artist_in_training: fold_info
            .iter()
            .map(|f| f.test_songs_with_artist_in_training)
            .sum(),
        fold_info,
        training,
        data: cfg.data.iter().map(|d| d.display().to_string()).collect(),
        model: cfg.model.clone(),
        frames,
        wall_seconds: started.elapsed().as_secs_f64(),
        extract_seconds,
        missing_from_folder: prep.plan.missing,
        unlisted: prep.plan.unlisted,
        predictions,
        skipped: acts
            .skipped
            .iter()
            .map(|(p, e)| Skipped {
                path: p.display().to_string(),
                error: e.clone(),
            })
            .collect(),
    })
}

/// Train one fold's model on its training songs (validation songs for early stopping, or as
/// more training data for the classifiers that do not stop early).
fn train_fold(
    spec: &TrainSpec,
    acts: &Activations,
    fold: &Fold,
    targets: &[usize],
    groups: &[usize],
    ctx: &FitContext,
) -> Result<(Trained, FoldTraining), EvalError> {
    let mut train = acts.songs(&fold.train, targets, groups, true);
    let mut valid = acts.songs(&fold.valid, targets, groups, false);
    if !spec.uses_validation() {
        train.append(&mut valid);
    }
    let t = Instant::now();
    let trained = fit(spec, &train, &valid, ctx, None, &mut |_, _| Ok(()))?;
    let (epochs, best_epoch) = match &trained {
        Trained::Top(t) => (Some(t.history().len()), Some(t.best_epoch())),
        _ => (None, None),
    };
    let report = FoldTraining {
        examples: train.len(),
        valid_songs: valid.len(),
        epochs,
        best_epoch,
        seconds: t.elapsed().as_secs_f64(),
    };
    Ok((trained, report))
}

/// Frame scores by clip index.
type FrameScores = HashMap<usize, Vec<Vec<f32>>>;

/// Where the published model's scores come from.
enum Published<'a> {
    /// It is the evaluated run's base model: its activations and labels.
    Extracted(&'a Activations, &'a [String]),
    /// Loaded for the baseline: run it on the test clips.
    ToExtract(ModelSource, Box<Model>),
}

/// The published GTZAN CRNN's frame scores for every test clip, restricted to the data's
/// genres (`None` when a data genre is not one of its ten).
fn published_scores(
    cfg: &EvalConfig,
    prep: &Prepared,
    from: Published<'_>,
    progress: &dyn Progress,
) -> Result<Option<FrameScores>, EvalError> {
    let published_labels = match &from {
        Published::Extracted(_, labels) => labels.to_vec(),
        Published::ToExtract(_, model) => model.labels().to_vec(),
    };
    let columns: Option<Vec<usize>> = prep
        .labels
        .iter()
        .map(|l| published_labels.iter().position(|m| m == l))
        .collect();
    let Some(columns) = columns else {
        progress
            .note("the published GTZAN CRNN does not know every genre of the data: no line for it");
        return Ok(None);
    };
    let mut test: Vec<usize> = prep
        .plan
        .folds
        .iter()
        .flat_map(|f| f.test.clone())
        .collect();
    test.sort_unstable();
    test.dedup();
    let extracted;
    let acts = match from {
        Published::Extracted(acts, _) => acts,
        Published::ToExtract(source, model) => {
            extracted = extract(
                *model,
                &source,
                &cfg.extract,
                &prep.dataset.clips,
                &test,
                &AugmentPlan {
                    clips: &[],
                    copies: 0,
                    seed: cfg.seed,
                },
                progress,
            );
            &extracted
        }
    };
    Ok(Some(
        test.iter()
            .filter_map(|&i| {
                let c = acts.clips[i].as_ref()?;
                let frames = c
                    .frames
                    .iter()
                    .map(|f| columns.iter().map(|&j| f.probs[j]).collect())
                    .collect();
                Some((i, frames))
            })
            .collect(),
    ))
}

fn display_dirs(dirs: &[PathBuf]) -> String {
    dirs.iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}

//! `mgr-cli eval gtzan <DIR>`: accuracy, per-class precision / recall / F1, macro-F1 and the
//! confusion matrix of a model (or of a model trained per fold with `--train`) on a GTZAN-style
//! folder, at frame level and at song level (mean of frame scores, majority vote), next to the
//! MFCC baseline of the literature (`--baseline mfcc`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};
use mgr_core::aggregate::SongScores;
use mgr_core::eval::dataset::discover;
use mgr_core::eval::metrics::{mean_std, Confusion};
use mgr_core::eval::split::{plan, SplitSpec};
use mgr_core::model::{argmax, CandleTensor};
use mgr_core::train::activations::ClipActs;
use mgr_core::train::export::read_safetensors;
use mgr_core::train::{fit, Baseline, BaselineKind, Strategy};
use serde_json::{json, Map, Value};

use crate::finetune::{extract, model_source, parse, AugmentPlan, TrainOptions};
use crate::{load_model, RunOptions};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    what: EvalWhat,
}

#[derive(Subcommand, Debug)]
enum EvalWhat {
    /// Evaluate on GTZAN (original .au layout, the WAV copy, or any <genre>/<file> tree).
    Gtzan(GtzanArgs),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum BaselineArg {
    /// MFCC (+Δ) mean/std per frame with a linear SVM and with 5-NN.
    Mfcc,
}

#[derive(Args, Debug)]
struct GtzanArgs {
    /// The data folder.
    dir: PathBuf,
    /// gtzan (built in), fcn, crnn, or a safetensors file (e.g. from `mgr-cli finetune`).
    #[arg(long, default_value = "gtzan")]
    model: String,
    /// all | fault-filtered | random | kfold:K.
    #[arg(long, default_value = "all")]
    split: String,
    /// Train on each fold's training part first (features-softmax, features-svm, finetune).
    #[arg(long, value_parser = parse::<Strategy>)]
    train: Option<Strategy>,
    /// Also report the MFCC baseline trained on the same folds.
    #[arg(long, value_enum)]
    baseline: Option<BaselineArg>,
    /// Write the metrics as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the song-level confusion matrix as a PNG heat map.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[command(flatten)]
    train_opts: TrainOptions,
    #[command(flatten)]
    run: RunOptions,
}

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    match a.what {
        EvalWhat::Gtzan(g) => gtzan(g),
    }
}

/// Confusions of one system in one fold at the three levels.
#[derive(Clone)]
struct FoldResult {
    frame: Confusion,
    mean: Confusion,
    vote: Confusion,
}

struct System {
    name: String,
    folds: Vec<FoldResult>,
}

const LEVELS: [&str; 3] = ["frame", "song-mean", "song-vote"];

impl FoldResult {
    fn new(labels: &[String]) -> Self {
        Self {
            frame: Confusion::new(labels),
            mean: Confusion::new(labels),
            vote: Confusion::new(labels),
        }
    }

    fn add(&mut self, truth: usize, frames: Vec<Vec<f32>>) {
        for f in &frames {
            if let Some(p) = argmax(f) {
                self.frame.add(truth, p);
            }
        }
        if let Some(s) = SongScores::from_frames(frames) {
            self.mean.add(truth, s.by_mean());
            self.vote.add(truth, s.by_vote());
        }
    }

    fn level(&self, l: &str) -> &Confusion {
        match l {
            "frame" => &self.frame,
            "song-vote" => &self.vote,
            _ => &self.mean,
        }
    }
}

impl System {
    fn pooled(&self, level: &str, labels: &[String]) -> Confusion {
        let mut c = Confusion::new(labels);
        for f in &self.folds {
            c.merge(f.level(level));
        }
        c
    }

    /// (accuracy mean, std, macro-F1 mean, std) over folds.
    fn stats(&self, level: &str) -> (f64, f64, f64, f64) {
        let acc: Vec<f64> = self
            .folds
            .iter()
            .map(|f| f.level(level).accuracy())
            .collect();
        let f1: Vec<f64> = self
            .folds
            .iter()
            .map(|f| f.level(level).macro_f1())
            .collect();
        let (am, asd) = mean_std(&acc);
        let (fm, fsd) = mean_std(&f1);
        (am, asd, fm, fsd)
    }
}

fn gtzan(a: GtzanArgs) -> Result<ExitCode> {
    crate::apply_threads(&a.run);
    let started = Instant::now();
    let split: SplitSpec = a.split.parse()?;
    let needs_training = a.train.is_some() || a.baseline.is_some();
    if needs_training && split == SplitSpec::All {
        bail!("--train and --baseline need held-out songs: use --split kfold:K, random or fault-filtered");
    }
    let ds = discover(&a.dir)?;
    let model = load_model(&a.model, &a.run)?;
    let labels: Vec<String> = if a.train.is_some() {
        ds.genres.clone()
    } else {
        model.labels().to_vec()
    };
    let mut targets = Vec::with_capacity(ds.clips.len());
    for c in &ds.clips {
        match labels.iter().position(|l| *l == c.genre) {
            Some(i) => targets.push(i),
            None => bail!(
                "genre folder {:?} is not a label of model {} ({}); use --train to learn these genres",
                c.genre,
                a.model,
                labels.join(", ")
            ),
        }
    }
    let plan = plan(
        split,
        &ds.clips,
        &targets,
        a.train_opts.seed,
        a.train_opts.valid_per_genre,
    )?;
    if plan.missing > 0 || plan.unlisted > 0 {
        eprintln!(
            "split {split}: {} clips named by the lists are not in {} (skipped); {} clips of the folder are in no list",
            plan.missing,
            a.dir.display(),
            plan.unlisted
        );
    }
    if plan.folds.iter().all(|f| f.test.is_empty()) {
        bail!(
            "split {split}: none of the {} clips in {} is in the test part",
            ds.clips.len(),
            a.dir.display()
        );
    }
    let mut wanted: Vec<usize> = plan
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
    let mut aug_idx: Vec<usize> = if a.train.is_some() && a.train_opts.augment > 0 {
        plan.folds.iter().flat_map(|f| f.train.clone()).collect()
    } else {
        Vec::new()
    };
    aug_idx.sort_unstable();
    aug_idx.dedup();
    let (base_bytes, model_id) = model_source(&a.model)?;
    let t_extract = Instant::now();
    let acts = extract(
        model,
        &model_id,
        &a.run,
        a.train_opts.cache.clone(),
        &ds.clips,
        &wanted,
        &AugmentPlan {
            clips: &aug_idx,
            copies: a.train_opts.augment,
            seed: a.train_opts.seed,
        },
    );
    let extract_s = t_extract.elapsed().as_secs_f64();
    let base: HashMap<String, CandleTensor> = if a.train.is_some() {
        read_safetensors(&base_bytes, &a.model)?
            .0
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };

    let main_name = match a.train {
        Some(s) => format!("{}+{s}", a.model),
        None => a.model.clone(),
    };
    let mut systems = vec![System {
        name: main_name,
        folds: Vec::new(),
    }];
    if a.baseline.is_some() {
        for n in ["mfcc+svm", "mfcc+5nn"] {
            systems.push(System {
                name: n.into(),
                folds: Vec::new(),
            });
        }
    }
    let songs = |idx: &[usize], with_aug: bool| acts.songs(idx, &targets, with_aug);
    let n_folds = plan.folds.len();
    for (k, fold) in plan.folds.iter().enumerate() {
        let test: Vec<(usize, &ClipActs)> = fold
            .test
            .iter()
            .filter_map(|&i| acts.clips[i].as_ref().map(|c| (targets[i], c)))
            .collect();
        let mut main = FoldResult::new(&labels);
        match a.train {
            Some(strategy) => {
                let spec = a.train_opts.spec(strategy);
                let mut train = songs(&fold.train, true);
                let mut valid = songs(&fold.valid, false);
                if strategy != Strategy::Finetune {
                    // Only fine-tuning needs validation songs (early stopping); the linear
                    // classifiers get them as training data.
                    train.append(&mut valid);
                }
                let t = Instant::now();
                let mut trained = fit(
                    &spec,
                    &train,
                    &valid,
                    labels.len(),
                    &base,
                    None,
                    &mut |_, _| Ok(()),
                )?;
                let epochs = match &trained {
                    mgr_core::train::Trained::Top(t) => {
                        format!(", {} epochs (best {})", t.history().len(), t.best_epoch())
                    }
                    _ => String::new(),
                };
                eprintln!(
                    "fold {}/{n_folds}: trained on {} examples ({} validation songs){epochs} in {:.1} s",
                    k + 1,
                    train.len(),
                    valid.len(),
                    t.elapsed().as_secs_f64()
                );
                for (truth, c) in &test {
                    main.add(*truth, trained.predict(c)?);
                }
            }
            None => {
                for (truth, c) in &test {
                    main.add(*truth, c.frames.iter().map(|f| f.probs.clone()).collect());
                }
            }
        }
        systems[0].folds.push(main);
        if a.baseline.is_some() {
            let mut pool = songs(&fold.train, false);
            pool.extend(songs(&fold.valid, false));
            for (s, kind) in [BaselineKind::Svm, BaselineKind::Knn]
                .into_iter()
                .enumerate()
            {
                let b = Baseline::fit(kind, &pool, labels.len(), a.train_opts.seed);
                let mut r = FoldResult::new(&labels);
                for (truth, c) in &test {
                    r.add(*truth, b.predict(c));
                }
                systems[1 + s].folds.push(r);
            }
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let n_songs = systems[0].pooled("song-mean", &labels).total();
    let n_frames = systems[0].pooled("frame", &labels).total();
    print!(
        "{}",
        report(
            &a,
            split,
            &labels,
            &systems,
            n_songs,
            n_frames,
            wall,
            extract_s,
            &acts.skipped
        )
    );
    if let Some(path) = &a.json {
        let v = to_json(
            split,
            &labels,
            &systems,
            n_songs,
            n_frames,
            wall,
            &acts.skipped,
            plan.missing,
            plan.unlisted,
        );
        std::fs::write(path, serde_json::to_string_pretty(&v)? + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &a.plot {
        let m = systems[0].pooled("song-mean", &labels);
        let title = format!(
            "{} · {split} · song level · accuracy {:.1} %",
            systems[0].name,
            100.0 * m.accuracy()
        );
        crate::plot::confusion_png(path, &m, &title)?;
    }
    Ok(if acts.skipped.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn pm(mean: f64, std: f64, folds: usize) -> String {
    if folds > 1 {
        format!("{:5.1} ± {:4.1} %", 100.0 * mean, 100.0 * std)
    } else {
        format!("{:5.1} %       ", 100.0 * mean)
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    a: &GtzanArgs,
    split: SplitSpec,
    labels: &[String],
    systems: &[System],
    n_songs: usize,
    n_frames: usize,
    wall: f64,
    extract_s: f64,
    skipped: &[(PathBuf, String)],
) -> String {
    let mut s = String::new();
    let folds = systems[0].folds.len();
    let _ = writeln!(
        s,
        "GTZAN evaluation of {} on {}: {n_songs} songs, {n_frames} frames, split {split} ({folds} fold{})",
        systems[0].name,
        a.dir.display(),
        if folds == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        s,
        "\n{:<28} {:<10} {:>16} {:>16}",
        "system", "level", "accuracy", "macro-F1"
    );
    for sys in systems {
        for level in LEVELS {
            if sys.name.starts_with("mfcc") && level == "song-vote" {
                continue;
            }
            let (am, asd, fm, fsd) = sys.stats(level);
            let _ = writeln!(
                s,
                "{:<28} {:<10} {:>16} {:>16}",
                sys.name,
                level,
                pm(am, asd, folds),
                pm(fm, fsd, folds)
            );
        }
    }
    let m = systems[0].pooled("song-mean", labels);
    let _ = writeln!(
        s,
        "\nper genre ({}, song level, pooled over folds):\n{:<12} {:>9} {:>7} {:>6} {:>8}",
        systems[0].name, "genre", "precision", "recall", "F1", "songs"
    );
    for (l, c) in labels.iter().zip(m.per_class()) {
        if c.support == 0
            && m.counts
                .iter()
                .all(|r| r[labels.iter().position(|x| x == l).unwrap_or(0)] == 0)
        {
            continue;
        }
        let _ = writeln!(
            s,
            "{:<12} {:>9.3} {:>7.3} {:>6.3} {:>8}",
            l, c.precision, c.recall, c.f1, c.support
        );
    }
    let _ = writeln!(s, "\nconfusion (rows: true genre, columns: predicted):");
    let short: Vec<String> = labels.iter().map(|l| l.chars().take(5).collect()).collect();
    let _ = write!(s, "{:<12}", "");
    for l in &short {
        let _ = write!(s, "{l:>6}");
    }
    let _ = writeln!(s);
    for (l, row) in labels.iter().zip(&m.counts) {
        if row.iter().sum::<usize>() == 0 {
            continue;
        }
        let _ = write!(s, "{l:<12}");
        for c in row {
            let _ = write!(s, "{c:>6}");
        }
        let _ = writeln!(s);
    }
    if !skipped.is_empty() {
        let _ = writeln!(s, "\n{} files skipped:", skipped.len());
        for (p, e) in skipped {
            let _ = writeln!(s, "  {}: {e}", p.display());
        }
    }
    let _ = writeln!(
        s,
        "\nwall time {wall:.1} s (frozen network and front-end {extract_s:.1} s)"
    );
    s
}

fn level_json(sys: &System, level: &str, labels: &[String], split: SplitSpec) -> Value {
    let (am, asd, fm, fsd) = sys.stats(level);
    let m = sys.pooled(level, labels);
    let mut per_class = Map::new();
    for (l, c) in labels.iter().zip(m.per_class()) {
        per_class.insert(
            l.clone(),
            json!({"precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}),
        );
    }
    json!({
        "accuracy": am,
        "accuracy_std": asd,
        "macro_f1": fm,
        "macro_f1_std": fsd,
        "labels": labels,
        "confusion": m.counts,
        "per_class": per_class,
        "n": m.total(),
        "split": split.to_string(),
        "level": level,
        "system": sys.name,
        "folds": sys.folds.iter().map(|f| {
            let c = f.level(level);
            json!({"accuracy": c.accuracy(), "macro_f1": c.macro_f1(), "n": c.total()})
        }).collect::<Vec<_>>(),
    })
}

#[allow(clippy::too_many_arguments)]
fn to_json(
    split: SplitSpec,
    labels: &[String],
    systems: &[System],
    n_songs: usize,
    n_frames: usize,
    wall: f64,
    skipped: &[(PathBuf, String)],
    missing: usize,
    unlisted: usize,
) -> Value {
    // Top level: the main system at song level (mean of frame scores, the paper's rule).
    let mut v = level_json(&systems[0], "song-mean", labels, split);
    let mut levels = Map::new();
    for l in LEVELS {
        levels.insert(l.into(), level_json(&systems[0], l, labels, split));
    }
    v["levels"] = Value::Object(levels);
    let mut baselines = Map::new();
    for sys in &systems[1..] {
        baselines.insert(
            sys.name.clone(),
            level_json(sys, "song-mean", labels, split),
        );
    }
    v["baselines"] = Value::Object(baselines);
    v["songs"] = n_songs.into();
    v["frames"] = n_frames.into();
    v["wall_seconds"] = wall.into();
    v["missing_from_folder"] = missing.into();
    v["unlisted"] = unlisted.into();
    v["skipped"] = skipped
        .iter()
        .map(|(p, e)| json!({"path": p.display().to_string(), "error": e}))
        .collect();
    v
}

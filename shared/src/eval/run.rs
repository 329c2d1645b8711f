//! `eval gtzan` as a library call: set up the experiment (data, artist groups, split, base
//! model), run the frozen networks once, then one loop over folds and [`systems`]: each system
//! is fitted on the fold's training part and scored on its test songs; the report is built in
//! one place ([`EvalReport::build`]).
//!
//! [`systems`]: super::systems

use std::time::Instant;

use super::report::{EvalReport, FoldInfo, FoldResults, Outcome, SystemRun};
use super::systems::{Fixed, FoldData, Mfcc, Published, Strategy, System};
use super::EvalError;
use crate::dataset::split::{Fold, SplitSpec};
use crate::model::{Builtin, Model, ModelSpec};
use crate::progress::Progress;
use crate::train::experiment::{Experiment, ExperimentConfig, Labels};
use crate::train::extract::{extract, Activations, AugmentPlan};
use crate::train::TrainSpec;

pub use super::systems::PUBLISHED;

/// An `eval gtzan` request.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The data, its split, the model evaluated (or the base trained per fold).
    pub experiment: ExperimentConfig,
    /// Train on each fold's training part first.
    pub train: Option<TrainSpec>,
    /// MFCC + linear SVM and MFCC + 5-NN on the same folds.
    pub mfcc_baseline: bool,
    /// The embedded published GTZAN CRNN on the same test songs: the line to beat.
    pub published_baseline: bool,
}

impl EvalConfig {
    /// Whether any system is fitted on the folds' training parts.
    fn trains(&self) -> bool {
        self.train.is_some() || self.mfcc_baseline
    }
}

/// Run an evaluation.
pub fn gtzan(cfg: &EvalConfig, progress: &dyn Progress) -> Result<EvalReport, EvalError> {
    let started = Instant::now();
    if cfg.trains() && cfg.experiment.split == SplitSpec::All {
        return Err(EvalError::NeedsHeldOut);
    }
    let labels = match cfg.train {
        Some(_) => Labels::Data,
        None => Labels::Model,
    };
    let exp = Experiment::prepare(cfg.experiment.clone(), labels, progress)?;
    if exp.prep.plan.folds.iter().all(|f| f.test.is_empty()) {
        return Err(EvalError::NothingToTest {
            split: exp.config.split.to_string(),
            clips: exp.prep.dataset.clips.len(),
            data: exp.config.data_names(),
        });
    }
    let t_extract = Instant::now();
    let acts = exp.activations(&needed(&exp, cfg.trains()), &augmented(cfg, &exp), progress);
    let mut systems = systems(cfg, &exp, &acts, progress)?;
    let extract_seconds = t_extract.elapsed().as_secs_f64();
    let folds = run_folds(&exp, &acts, &mut systems, cfg.trains(), progress)?;
    let mut report = EvalReport::build(&exp, &acts, folds);
    report.extract_seconds = extract_seconds;
    report.wall_seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The clips `part` picks from any fold, in clip order, each once.
fn across_folds(exp: &Experiment, part: impl Fn(&Fold) -> Vec<usize>) -> Vec<usize> {
    let mut v: Vec<usize> = exp.prep.plan.folds.iter().flat_map(part).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Every clip some fold tests, and (when anything trains) every clip it trains or validates on.
fn needed(exp: &Experiment, trains: bool) -> Vec<usize> {
    across_folds(exp, |f| match trains {
        true => [&f.test[..], &f.train, &f.valid].concat(),
        false => f.test.clone(),
    })
}

/// The clips that get augmented copies: every fold's training clips, when a strategy trains
/// with `augment` copies.
fn augmented(cfg: &EvalConfig, exp: &Experiment) -> Vec<usize> {
    if cfg.train.is_none() || exp.config.augment == 0 {
        return Vec::new();
    }
    across_folds(exp, |f| f.train.clone())
}

/// The systems to compare, the evaluated one first.
fn systems(
    cfg: &EvalConfig,
    exp: &Experiment,
    acts: &Activations,
    progress: &dyn Progress,
) -> Result<Vec<Box<dyn System>>, EvalError> {
    let model = exp.config.model.to_string();
    let mut systems: Vec<Box<dyn System>> = vec![match &cfg.train {
        Some(spec) => Box::new(Strategy::new(&model, spec.clone())),
        None => Box::new(Fixed { name: model }),
    }];
    if cfg.mfcc_baseline {
        for m in Mfcc::both(exp.config.seed) {
            systems.push(Box::new(m));
        }
    }
    // The published model, unless it is the system evaluated.
    let base_is_published = exp.config.model.is_published_gtzan();
    if cfg.published_baseline && !(base_is_published && cfg.train.is_none()) {
        match published(exp, acts, base_is_published, progress)? {
            Some(p) => systems.push(Box::new(p)),
            None => progress.note(
                "the published GTZAN CRNN does not know every genre of the data: no line for it",
            ),
        }
    }
    Ok(systems)
}

/// The published GTZAN CRNN's scores of every test clip: from the experiment's activations
/// when it is the base model, else from a run of it over the test clips.
fn published(
    exp: &Experiment,
    acts: &Activations,
    base_is_published: bool,
    progress: &dyn Progress,
) -> Result<Option<Published>, EvalError> {
    let test = across_folds(exp, |f| f.test.clone());
    if base_is_published {
        return Ok(Published::new(
            acts,
            exp.model.labels(),
            &exp.prep.labels,
            &test,
        ));
    }
    let file = ModelSpec::Builtin(Builtin::Gtzan).open()?;
    let model = file.load(&exp.device)?;
    let own = run_published(exp, &model, &file, &test, progress);
    Ok(Published::new(
        &own,
        model.labels(),
        &exp.prep.labels,
        &test,
    ))
}

fn run_published(
    exp: &Experiment,
    model: &Model,
    file: &crate::model::ModelFile,
    test: &[usize],
    progress: &dyn Progress,
) -> Activations {
    let plan = AugmentPlan {
        clips: &[],
        copies: 0,
        seed: exp.config.seed,
    };
    let clips = &exp.prep.dataset.clips;
    extract(
        model,
        file,
        &exp.config.extract,
        clips,
        test,
        &plan,
        progress,
    )
}

/// Fit every system on every fold and score it on the fold's test songs.
fn run_folds(
    exp: &Experiment,
    acts: &Activations,
    systems: &mut [Box<dyn System>],
    trains: bool,
    progress: &dyn Progress,
) -> Result<FoldResults, EvalError> {
    let mut out = FoldResults {
        runs: systems.iter().map(|s| SystemRun::new(s.name())).collect(),
        ..FoldResults::default()
    };
    let (prep, n_folds) = (&exp.prep, exp.prep.plan.folds.len());
    for (k, fold) in prep.plan.folds.iter().enumerate() {
        out.info.push(FoldInfo::new(prep, fold, trains));
        for (system, run) in systems.iter_mut().zip(&mut out.runs) {
            if let Some(t) = system.fit(FoldData { exp, acts, fold })? {
                progress.note(&t.line(k, n_folds));
                out.training.push(t);
            }
            let mut outcomes = Vec::with_capacity(fold.test.len());
            for &i in &fold.test {
                let Some(c) = &acts.clips[i] else { continue };
                if let Some(frames) = system.predict(i, c)? {
                    outcomes.extend(Outcome::from_scores(i, prep.targets[i], frames));
                }
            }
            run.folds.push(outcomes);
        }
    }
    Ok(out)
}

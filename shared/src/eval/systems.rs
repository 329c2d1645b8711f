//! The systems an evaluation compares, one trait for all: each is fitted on a fold's training
//! songs (a fixed model ignores them) and then gives the frame scores of every test song.
//!
//! * [`Fixed`]: the evaluated model as it is (its frozen activations hold the scores).
//! * [`Strategy`]: a classifier trained per fold on the base model's activations
//!   ([`crate::train::fit`]).
//! * [`Mfcc`]: the MFCC baselines (linear SVM, 5-NN) on the same folds.
//! * [`Published`]: the published GTZAN CRNN on the same test songs, the line to beat.

use std::collections::HashMap;
use std::time::Instant;

use super::report::FoldTraining;
use super::EvalError;
use crate::dataset::split::Fold;
use crate::train::activations::ClipActs;
use crate::train::experiment::Experiment;
use crate::train::extract::Activations;
use crate::train::{fit, Baseline, BaselineKind, TrainSpec, Trained};

/// One fold as a system sees it when it is fitted.
#[derive(Clone, Copy)]
pub struct FoldData<'a> {
    /// The experiment (data, base model, labels).
    pub exp: &'a Experiment,
    /// The base model's activations of every clip the evaluation needs.
    pub acts: &'a Activations,
    /// The fold's clip indices.
    pub fold: &'a Fold,
}

/// A system under evaluation.
pub trait System {
    /// Its line in the report.
    fn name(&self) -> String;
    /// Fit on the fold's training part; a system that trains says how it went.
    fn fit(&mut self, data: FoldData<'_>) -> Result<Option<FoldTraining>, EvalError>;
    /// Frame scores of test clip `clip` (`None`: the system has none for it).
    fn predict(&mut self, clip: usize, acts: &ClipActs)
        -> Result<Option<Vec<Vec<f32>>>, EvalError>;
}

/// The evaluated model as it is.
#[derive(Debug)]
pub struct Fixed {
    /// The model as the user named it.
    pub name: String,
}

impl System for Fixed {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn fit(&mut self, _: FoldData<'_>) -> Result<Option<FoldTraining>, EvalError> {
        Ok(None)
    }

    fn predict(&mut self, _: usize, acts: &ClipActs) -> Result<Option<Vec<Vec<f32>>>, EvalError> {
        Ok(Some(acts.frames.iter().map(|f| f.probs.clone()).collect()))
    }
}

/// A training strategy, fitted anew on every fold.
pub struct Strategy {
    /// `<base model>+<strategy>`.
    pub name: String,
    /// What to train.
    pub spec: TrainSpec,
    trained: Option<Trained>,
}

impl Strategy {
    /// `spec` trained on `base`'s activations.
    pub fn new(base: &str, spec: TrainSpec) -> Self {
        Self {
            name: format!("{base}+{}", spec.strategy),
            spec,
            trained: None,
        }
    }
}

impl System for Strategy {
    fn name(&self) -> String {
        self.name.clone()
    }

    /// Train on the fold's training songs, with the validation songs for early stopping, or
    /// as more training data for the classifiers that do not stop early.
    fn fit(&mut self, d: FoldData<'_>) -> Result<Option<FoldTraining>, EvalError> {
        let mut train = d.exp.songs(d.acts, &d.fold.train, true);
        let mut valid = d.exp.songs(d.acts, &d.fold.valid, false);
        if !self.spec.uses_validation() {
            train.append(&mut valid);
        }
        let t = Instant::now();
        let ctx = d.exp.fit_context();
        let trained = fit(&self.spec, &train, &valid, &ctx, None, &mut |_, _| Ok(()))?;
        let (epochs, best_epoch) = match &trained {
            Trained::Top(t) => (Some(t.history().len()), Some(t.best_epoch())),
            _ => (None, None),
        };
        self.trained = Some(trained);
        Ok(Some(FoldTraining {
            examples: train.len(),
            valid_songs: valid.len(),
            epochs,
            best_epoch,
            seconds: t.elapsed().as_secs_f64(),
        }))
    }

    fn predict(&mut self, _: usize, acts: &ClipActs) -> Result<Option<Vec<Vec<f32>>>, EvalError> {
        match &mut self.trained {
            Some(t) => Ok(Some(t.predict(acts)?)),
            None => Ok(None),
        }
    }
}

/// An MFCC baseline, fitted on every fold's training and validation songs.
#[derive(Debug)]
pub struct Mfcc {
    kind: BaselineKind,
    seed: u64,
    fitted: Option<Baseline>,
}

impl Mfcc {
    /// Both baselines: MFCC + linear SVM, MFCC + 5-NN.
    pub fn both(seed: u64) -> [Self; 2] {
        [BaselineKind::Svm, BaselineKind::Knn].map(|kind| Self {
            kind,
            seed,
            fitted: None,
        })
    }
}

impl System for Mfcc {
    fn name(&self) -> String {
        match self.kind {
            BaselineKind::Svm => "mfcc+svm".into(),
            BaselineKind::Knn => "mfcc+5nn".into(),
        }
    }

    fn fit(&mut self, d: FoldData<'_>) -> Result<Option<FoldTraining>, EvalError> {
        let mut pool = d.exp.songs(d.acts, &d.fold.train, false);
        pool.extend(d.exp.songs(d.acts, &d.fold.valid, false));
        let genres = d.exp.prep.labels.len();
        self.fitted = Some(Baseline::fit(self.kind, &pool, genres, self.seed));
        Ok(None)
    }

    fn predict(&mut self, _: usize, acts: &ClipActs) -> Result<Option<Vec<Vec<f32>>>, EvalError> {
        Ok(self.fitted.as_ref().map(|b| b.predict(acts)))
    }
}

/// Name of the published model's line in reports.
pub const PUBLISHED: &str = "published-gtzan-crnn";

/// The published GTZAN CRNN's frame scores of the test clips, in the data's genre order.
#[derive(Debug)]
pub struct Published {
    scores: HashMap<usize, Vec<Vec<f32>>>,
}

impl Published {
    /// From the published model's activations of the clips `test` and its `labels`; `None`
    /// when a data genre is not one of its genres.
    pub fn new(
        acts: &Activations,
        labels: &[String],
        data: &[String],
        test: &[usize],
    ) -> Option<Self> {
        let columns: Vec<usize> = data
            .iter()
            .map(|l| labels.iter().position(|m| m == l))
            .collect::<Option<_>>()?;
        let scores = test
            .iter()
            .filter_map(|&i| {
                let c = acts.clips[i].as_ref()?;
                let frames = c
                    .frames
                    .iter()
                    .map(|f| columns.iter().map(|&j| f.probs[j]).collect())
                    .collect();
                Some((i, frames))
            })
            .collect();
        Some(Self { scores })
    }
}

impl System for Published {
    fn name(&self) -> String {
        PUBLISHED.into()
    }

    fn fit(&mut self, _: FoldData<'_>) -> Result<Option<FoldTraining>, EvalError> {
        Ok(None)
    }

    fn predict(&mut self, clip: usize, _: &ClipActs) -> Result<Option<Vec<Vec<f32>>>, EvalError> {
        Ok(self.scores.get(&clip).cloned())
    }
}

//! Evaluation on GTZAN-style data: the run itself ([`run`]: data, artist groups and split from
//! [`crate::dataset`], frozen networks and per-fold training from [`crate::train`]), the metrics
//! ([`metrics`]) and what it reports ([`report`]).

pub mod metrics;
pub mod report;
pub mod run;
pub mod systems;

use crate::dataset::DatasetError;

/// What can go wrong in an evaluation.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The data folders, the artist index or the split request.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// Training or a baseline was asked for with every clip in the test part.
    #[error("training and baselines need held-out songs: split kfold:K, random or fault-filtered")]
    NeedsHeldOut,
    /// The split leaves no clip of the data to test.
    #[error("split {split}: none of the {clips} clips in {data} is in the test part")]
    NothingToTest {
        /// The split as written (`fault-filtered`, `kfold:10`, …).
        split: String,
        /// Clips found in the data folders.
        clips: usize,
        /// The data folders, joined with ` + `
        /// ([`crate::train::experiment::ExperimentConfig::data_names`]).
        data: String,
    },
    /// Running a model or training failed.
    #[error(transparent)]
    Train(#[from] crate::train::TrainError),
    /// The model or device could not be set up.
    #[error(transparent)]
    Core(#[from] crate::Error),
}

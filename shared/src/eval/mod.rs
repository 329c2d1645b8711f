//! Evaluation on GTZAN-style data: finding the clips and their genres in any of the common
//! folder layouts ([`dataset`]), the published split lists and stratified k-fold ([`split`]),
//! and the metrics the issue asks for ([`metrics`]).

pub mod dataset;
pub mod metrics;
pub mod split;

use std::path::PathBuf;

/// What can go wrong when reading a data folder or a split request.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The data folder does not exist or cannot be listed.
    #[error("cannot read data folder {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// No `<genre>/<file>` audio files were found under the folder.
    #[error("{0}: no audio files in <genre>/ sub-folders (expected GTZAN's genres/<genre>/<clip> layout)")]
    NoClips(PathBuf),
    /// `--split` was not one of the accepted forms.
    #[error("unknown split {0:?} (all|fault-filtered|random|kfold:K with K ≥ 2)")]
    UnknownSplit(String),
    /// The split leaves a part empty (e.g. k-fold with more folds than clips of a genre).
    #[error("split {split}: {reason}")]
    EmptySplit { split: String, reason: String },
}

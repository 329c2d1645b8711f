//! The error of the core pipeline (file → genre): every variant says what the user gave us
//! and why we refused it. [`IoError`] is the one shape of a failed read or write, shared by
//! every module's error type.

use std::path::{Path, PathBuf};

/// A file or folder that could not be read or written: what was tried, on which path, and
/// the system's reason, in one line (`cannot read x.flac: No such file or directory`).
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}: {cause}", path.display())]
pub struct IoError {
    /// What was tried: `read`, `write`, `create`, `open`, `list`, `rename`, ….
    pub op: &'static str,
    /// The file or folder.
    pub path: PathBuf,
    /// The system's reason (part of the message, so not repeated as a source).
    pub cause: std::io::Error,
}

impl IoError {
    /// `map_err` adaptor: `std::fs::read(p).map_err(IoError::read(p))`.
    pub fn read(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Self {
        Self::on("read", path)
    }

    /// `map_err` adaptor for writing (creating, appending, renaming into place).
    pub fn write(path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Self {
        Self::on("write", path)
    }

    /// `map_err` adaptor for any operation `op` (a verb: `list`, `rename`, …).
    pub fn on(op: &'static str, path: impl AsRef<Path>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.as_ref().to_path_buf();
        move |cause| Self { op, path, cause }
    }
}

/// Everything that can go wrong between a file on disk and a genre.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The bytes are not audio in a format we can decode.
    #[error("{path}: unsupported or unrecognised audio format ({reason})")]
    UnsupportedFormat {
        /// The audio file.
        path: PathBuf,
        /// What was not recognised or not supported (e.g. `.au encoding 23 is not supported`).
        reason: String,
    },
    /// The container was recognised but the stream is damaged.
    #[error("{path}: corrupt audio stream ({reason})")]
    CorruptAudio {
        /// The audio file.
        path: PathBuf,
        /// The decoder's or our header check's description of the damage.
        reason: String,
    },
    /// The file decoded to zero samples.
    #[error("{path}: contains no audio samples")]
    EmptyAudio {
        /// The audio file.
        path: PathBuf,
    },
    /// The front-end band-limits to 6 kHz; below 8 kHz the top mel bands would be empty.
    #[error("sample rate {0} Hz is too low (mgr needs at least 8000 Hz)")]
    SampleRateTooLow(u32),
    /// Above the highest rate mgr accepts (`audio::MAX_INPUT_RATE`): no real recording has
    /// it, and the resampler's filter would grow with it.
    #[error("sample rate {0} Hz is too high (mgr accepts at most 768000 Hz)")]
    SampleRateTooHigh(u32),
    /// The file decodes to more samples than mgr holds in memory at once
    /// (`audio::MAX_SAMPLES`, for a whole file as an `Audio`), or the memory for it was
    /// refused.
    #[error("{path}: too long to decode ({reason})")]
    TooLong {
        /// The audio file.
        path: PathBuf,
        /// Which limit was passed (e.g. `larger than … bytes`).
        reason: String,
    },
    /// Samples that are not finite numbers (NaN or infinity) cannot be analysed.
    #[error("audio contains non-finite samples (NaN or infinity)")]
    NonFiniteSamples,
    /// A weights file does not have the layout of the published networks.
    #[error("model {name}: {reason}")]
    InvalidModel {
        /// The model as it was named when loaded (a built-in name or a file, see
        /// [`crate::model::ModelSpec`]), its metadata name once loaded, or `stacked head`.
        name: String,
        /// What does not fit the architecture (a missing tensor, a wrong shape, …).
        reason: String,
    },
    /// The requested compute device is not available in this build or on this machine.
    #[error("device {device} is not available: {reason}")]
    DeviceUnavailable {
        /// The device asked for: `cuda` or `metal`.
        device: String,
        /// Why it cannot be opened: no support in this build, or candle's or the loader's error.
        reason: String,
    },
    /// The network gave no scores for a song (no frames, or a model with no outputs).
    #[error("model {model} gave no scores ({frames} frames)")]
    NoScores {
        /// The model's name ([`crate::model::Model::name`]).
        model: String,
        /// Frame score vectors the network returned (0: the song gave no frames).
        frames: usize,
    },
    /// A forward pass over a batch that held frames of this song failed.
    #[error("forward pass failed: {0}")]
    Forward(String),
    /// An error inside candle that is not attributable to the user's input.
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Result alias used throughout `mgr-core`.
pub type Result<T> = std::result::Result<T, Error>;

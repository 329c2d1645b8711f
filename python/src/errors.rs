//! mgr-core's errors as Python exceptions, with the CLI's one-line messages, and the guard
//! that keeps a Rust panic from crossing into Python.
//!
//! The exception classes live in `mgr/_errors.py` (pure Python: `mgr.DecodeError` derives
//! from both `mgr.Error` and `ValueError`, which a class made here could not). A failed read
//! or write is the builtin `OSError` subclass of its cause (`FileNotFoundError`,
//! `PermissionError`, …), like Python's own `open`.

use std::any::Any;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};

use mgr_core::dataset::DatasetError;
use mgr_core::error::{Error, IoError};
use mgr_core::eval::EvalError;
use mgr_core::library::LibraryError;
use mgr_core::train::TrainError;
use pyo3::exceptions::{
    PyFileNotFoundError, PyIsADirectoryError, PyNotADirectoryError, PyOSError, PyPermissionError,
};
use pyo3::prelude::*;
use pyo3::types::PyType;

/// Which class of `mgr._errors` an error is raised as.
#[derive(Debug, Clone, Copy)]
pub enum Class {
    /// Audio that cannot be decoded or analysed (`ValueError`).
    Decode,
    /// A model file that is not a model mgr runs (`ValueError`).
    Model,
    /// A device that cannot be opened (`RuntimeError`).
    Device,
    /// Data folders, artist index or split (`ValueError`).
    Dataset,
    /// Training or evaluation that cannot go on (`RuntimeError`).
    Training,
    /// A computation that failed (`RuntimeError`).
    Compute,
    /// A panic inside mgr: a bug (`RuntimeError`).
    Internal,
}

impl Class {
    fn name(self) -> &'static str {
        match self {
            Self::Decode => "DecodeError",
            Self::Model => "ModelError",
            Self::Device => "DeviceError",
            Self::Dataset => "DatasetError",
            Self::Training => "TrainingError",
            Self::Compute => "ComputeError",
            Self::Internal => "InternalError",
        }
    }

    /// The exception of this class with `message`.
    pub fn err(self, message: impl Into<String>) -> PyErr {
        let message = message.into();
        Python::attach(|py| {
            let class = py
                .import("mgr._errors")
                .and_then(|m| m.getattr(self.name()))
                .and_then(|c| Ok(c.cast_into::<PyType>()?));
            match class {
                Ok(class) => PyErr::from_type(class, message),
                Err(e) => e,
            }
        })
    }
}

/// An mgr-core error as the Python exception a user catches.
pub trait ToPyErr {
    /// The exception, its message the error's one line.
    fn to_py(&self) -> PyErr;
}

impl ToPyErr for IoError {
    fn to_py(&self) -> PyErr {
        let message = self.to_string();
        match self.cause.kind() {
            ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            ErrorKind::IsADirectory => PyIsADirectoryError::new_err(message),
            ErrorKind::NotADirectory => PyNotADirectoryError::new_err(message),
            _ => PyOSError::new_err(message),
        }
    }
}

impl ToPyErr for Error {
    fn to_py(&self) -> PyErr {
        let class = match self {
            Self::Io(e) => return e.to_py(),
            Self::UnsupportedFormat { .. }
            | Self::CorruptAudio { .. }
            | Self::EmptyAudio { .. }
            | Self::TooLong { .. }
            | Self::NonFiniteSamples
            | Self::SampleRateTooLow(_)
            | Self::SampleRateTooHigh(_) => Class::Decode,
            Self::InvalidModel { .. } | Self::NoScores { .. } => Class::Model,
            Self::DeviceUnavailable { .. } => Class::Device,
            Self::Forward(_) | Self::Tensor(_) => Class::Compute,
        };
        class.err(self.to_string())
    }
}

impl ToPyErr for DatasetError {
    fn to_py(&self) -> PyErr {
        match self {
            Self::Io(e) => e.to_py(),
            e => Class::Dataset.err(e.to_string()),
        }
    }
}

impl ToPyErr for TrainError {
    fn to_py(&self) -> PyErr {
        match self {
            Self::Core(e) => e.to_py(),
            Self::Dataset(e) => e.to_py(),
            Self::Io(e) => e.to_py(),
            e => Class::Training.err(e.to_string()),
        }
    }
}

impl ToPyErr for EvalError {
    fn to_py(&self) -> PyErr {
        match self {
            Self::Dataset(e) => e.to_py(),
            Self::Train(e) => e.to_py(),
            Self::Core(e) => e.to_py(),
            e => Class::Training.err(e.to_string()),
        }
    }
}

impl ToPyErr for LibraryError {
    fn to_py(&self) -> PyErr {
        match self {
            Self::Io(e) => e.to_py(),
            e => Class::Compute.err(e.to_string()),
        }
    }
}

/// `map_err` adaptor: any mgr-core error to its Python exception.
pub fn py_err<E: ToPyErr>(e: E) -> PyErr {
    e.to_py()
}

/// What a Python callback unwinds with when it raised (a `KeyboardInterrupt` seen between two
/// progress reports, or the callback's own exception): the library's work stops there and the
/// binding raises the stored exception. Unwound with `resume_unwind`, so no panic message is
/// printed.
pub struct Raised(pub PyErr);

/// Run `f` with the GIL released (other Python threads run meanwhile) and without letting a
/// panic escape: a panic becomes `mgr.InternalError`, a [`Raised`] its exception.
pub fn released<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> PyResult<T> + Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(result) => result,
        Err(payload) => Err(unwound(payload)),
    }
}

/// The exception for what a caught unwind carried.
pub fn unwound(payload: Box<dyn Any + Send>) -> PyErr {
    let payload = match payload.downcast::<Raised>() {
        Ok(raised) => return raised.0,
        Err(p) => p,
    };
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    Class::Internal.err(format!(
        "internal error in mgr (a bug; please report it): {what}"
    ))
}

/// `mgr._mgr._panic(message)`: panics inside mgr with the GIL released, as a bug would. For
/// the tests that a panic reaches Python as `mgr.InternalError` and the interpreter lives on.
#[pyfunction]
#[pyo3(name = "_panic")]
pub fn panic_for_tests(py: Python<'_>, message: String) -> PyResult<()> {
    released(py, || -> PyResult<()> { panic!("{message}") })
}

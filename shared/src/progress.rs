//! How long library jobs (feature extraction, training, evaluation) tell their caller how far
//! they are. The library never prints: the CLI draws a progress bar and writes notes to stderr,
//! tests and other callers pass [`Silent`].

/// Receives progress reports. Every method has a do-nothing default.
pub trait Progress {
    /// A stage of `total` steps starts.
    fn begin(&self, _what: &str, _total: usize) {}
    /// `n` more steps are done.
    fn advance(&self, _n: usize) {}
    /// A line for the user (a skipped file, an epoch, a fold's summary).
    fn note(&self, _line: &str) {}
    /// The stage ended.
    fn end(&self) {}
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {}

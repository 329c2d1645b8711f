//! How long jobs tell their caller how far they are, in one vocabulary. The library never
//! prints: the CLI draws a progress bar and writes notes to stderr, tests and other callers
//! pass [`Silent`].
//!
//! * [`Progress`]: what a job reports as it goes (stages, steps done, notes for the user) —
//!   feature extraction, training, evaluation.
//! * [`Counters`]: what the many-file pipeline counts while it runs, readable from any thread
//!   (a library run's progress bar reads them with every song it reports).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// The longest length a header may announce and still count in the progress estimate (a
/// week); more is a garbage header, not a recording.
pub const MAX_ANNOUNCED: f64 = 7.0 * 24.0 * 3600.0;

/// Counts a [`crate::pipeline::Pipeline`] updates while it runs; read them from any thread.
#[derive(Debug, Default)]
pub struct Counters {
    /// Files through the front-end (decoded, resampled, framed), failed ones included.
    pub files: AtomicUsize,
    /// Songs delivered (results and errors).
    pub songs: AtomicUsize,
    /// Microseconds of audio decoded so far, across files (a file decoded again from its start
    /// takes back what it had added): what a bar's ETA should count, since a library's files
    /// range from seconds to hours.
    pub audio_us: AtomicU64,
    /// Clips (song frames, timeline windows) run through the network.
    pub scored: AtomicUsize,
    /// Clips given the scores of the clip before them, whose log-mel they repeat bit for bit
    /// (digital silence), without running the network.
    pub repeated: AtomicUsize,
    /// Files whose length was looked up in their header ([`Counters::add_announced`]).
    pub looked_up: AtomicUsize,
    /// Files whose header announced a length.
    pub announced: AtomicUsize,
    /// Microseconds of audio the announced lengths add up to.
    pub announced_us: AtomicU64,
}

impl Counters {
    /// `n` more files through the front-end.
    pub fn add_files(&self, n: usize) {
        self.files.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` more songs delivered.
    pub fn add_songs(&self, n: usize) {
        self.songs.fetch_add(n, Ordering::Relaxed);
    }

    /// `seconds` more audio decoded (negative: taken back; never below zero).
    pub fn add_audio_seconds(&self, seconds: f64) {
        let us = (seconds.abs() * 1e6).round() as u64;
        let _ = self
            .audio_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(if seconds >= 0.0 {
                    v.saturating_add(us)
                } else {
                    v.saturating_sub(us)
                })
            });
    }

    /// `n` more clips run through the network.
    pub fn add_scored(&self, n: usize) {
        self.scored.fetch_add(n, Ordering::Relaxed);
    }

    /// `n` more clips given their twin's scores.
    pub fn add_repeated(&self, n: usize) {
        self.repeated.fetch_add(n, Ordering::Relaxed);
    }

    /// Seconds of audio decoded so far.
    pub fn audio_seconds(&self) -> f64 {
        self.audio_us.load(Ordering::Relaxed) as f64 / 1e6
    }

    /// One more file's header looked up: the seconds it announces, if any.
    /// A length over [`MAX_ANNOUNCED`] (a garbage header) counts as none.
    pub fn add_announced(&self, seconds: Option<f64>) {
        if let Some(s) = seconds.filter(|s| (0.0..=MAX_ANNOUNCED).contains(s)) {
            let us = (s * 1e6).round() as u64;
            let _ = self
                .announced_us
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_add(us))
                });
            self.announced.fetch_add(1, Ordering::Relaxed);
        }
        self.looked_up.fetch_add(1, Ordering::Relaxed);
    }

    /// Seconds of audio that `files` files hold, estimated from the headers looked up so far:
    /// the lengths they announce, and their mean for each file not looked up yet or whose
    /// header announces none. `None` before a header announced anything.
    pub fn expected_audio_seconds(&self, files: usize) -> Option<f64> {
        let n = self.announced.load(Ordering::Relaxed);
        if n == 0 {
            return None;
        }
        let sum = self.announced_us.load(Ordering::Relaxed) as f64 / 1e6;
        Some(sum + sum / n as f64 * files.saturating_sub(n) as f64)
    }

    /// `(files, songs)` now.
    pub fn snapshot(&self) -> (usize, usize) {
        (
            self.files.load(Ordering::Relaxed),
            self.songs.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_length_counts_unknown_files_at_the_mean() {
        let c = Counters::default();
        assert_eq!(c.expected_audio_seconds(10), None);
        c.add_announced(None);
        assert_eq!(c.expected_audio_seconds(10), None);
        c.add_announced(Some(180.0));
        c.add_announced(Some(7_200.0));
        c.add_announced(Some(f64::NAN));
        c.add_announced(Some(1e30)); // a garbage header
                                     // 7,380 s announced by 2 files; the 8 others at their mean of 3,690 s.
        assert_eq!(c.expected_audio_seconds(10), Some(7_380.0 + 8.0 * 3_690.0));
        assert_eq!(c.looked_up.load(Ordering::Relaxed), 5);
    }

    #[test]
    fn audio_taken_back_never_goes_below_zero() {
        let c = Counters::default();
        c.add_audio_seconds(1.0);
        c.add_audio_seconds(-1.5);
        assert_eq!(c.audio_seconds(), 0.0);
    }
}

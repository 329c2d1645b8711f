//! [`Audio`], the one output of every decoder: mono samples at the file's own rate, checked
//! once when it is made, so a value that exists is one the rest of the pipeline can take.
//! Also the limits that bound what a decoder may produce from one file.

use std::path::Path;

use crate::config::MIN_INPUT_RATE;
use crate::error::{Error, Result};

/// Highest input sample rate accepted: 768 kHz, the highest rate audio interfaces and DAWs
/// offer. A rate is a header field like any other: above this the 12 kHz resampler's filter
/// grows with the ratio (64 taps per 12 kHz of input rate and phase), so a crafted rate of
/// 4 GHz would ask for tens of GB.
pub const MAX_INPUT_RATE: u32 = 768_000;

/// Most mono samples decoded from one file into memory as an [`Audio`]: 2^30 (4 GiB of
/// `f32`; 6.2 hours at 48 kHz, 6.8 hours at 44.1 kHz). FLAC and Vorbis can code silence in a
/// few bytes per thousand samples, so a small file can claim, and really hold, far more than
/// it is long; this cap turns such a file into an error instead of an exhausted machine. A
/// stream ([`super::AudioStream`], what `classify` reads) holds only a packet at a time and
/// has no such limit.
pub const MAX_SAMPLES: usize = 1 << 30;

/// Mono audio at its native sample rate: at least one sample, all finite, at a rate in
/// `MIN_INPUT_RATE ..= MAX_INPUT_RATE`, from at least one source channel. Only
/// [`Audio::new`] and the decoders make one, and both check all of that.
#[derive(Debug, Clone, PartialEq)]
pub struct Audio {
    /// Mono samples in [-1, 1] (channel average).
    pub(in crate::audio) samples: Vec<f32>,
    /// Sample rate in Hz.
    pub(in crate::audio) sample_rate: u32,
    /// Channel count of the source before mixdown.
    pub(in crate::audio) source_channels: usize,
}

impl Audio {
    /// Mono samples at `sample_rate` Hz, mixed down from `source_channels` channels. Refused
    /// (with the error a decoded file would give) when there are no samples, a sample is not
    /// finite, the rate is outside `8 kHz ..= 768 kHz`, there are no channels, or there are
    /// more than [`MAX_SAMPLES`] samples.
    pub fn new(samples: Vec<f32>, sample_rate: u32, source_channels: usize) -> Result<Self> {
        let audio = Self {
            samples,
            sample_rate,
            source_channels,
        };
        audio.validate(Path::new("audio in memory"))?;
        Ok(audio)
    }

    /// Mono samples in [-1, 1] (the channel average).
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// The samples, giving up the rest.
    pub fn into_samples(self) -> Vec<f32> {
        self.samples
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channel count of the source before mixdown.
    pub fn source_channels(&self) -> usize {
        self.source_channels
    }

    /// Duration in seconds.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate)
    }

    /// Everything [`Audio`] promises; `path` names the file in the error.
    pub(in crate::audio) fn validate(&self, path: &Path) -> Result<()> {
        check_rate(self.sample_rate)?;
        if self.source_channels == 0 {
            return Err(Error::CorruptAudio {
                path: path.to_path_buf(),
                reason: "no channels".into(),
            });
        }
        if self.samples.is_empty() {
            return Err(Error::EmptyAudio {
                path: path.to_path_buf(),
            });
        }
        if self.samples.len() > MAX_SAMPLES {
            return Err(too_long(path));
        }
        // Chunked fold instead of an early-exit scan, so that the check vectorises.
        let non_finite = |c: &[f32]| c.iter().fold(false, |bad, s| bad | !s.is_finite());
        if self.samples.chunks(4096).any(non_finite) {
            return Err(Error::NonFiniteSamples);
        }
        Ok(())
    }
}

/// The error for a file that decodes to more than [`MAX_SAMPLES`].
pub(in crate::audio) fn too_long(path: &Path) -> Error {
    Error::TooLong {
        path: path.to_path_buf(),
        reason: format!("more than {MAX_SAMPLES} samples"),
    }
}

/// Make room for `more` samples, or the [`Error::TooLong`] that says why not: past
/// [`MAX_SAMPLES`], or memory the system will not give.
pub(in crate::audio) fn reserve(samples: &mut Vec<f32>, more: usize, path: &Path) -> Result<()> {
    if samples.len().saturating_add(more) > MAX_SAMPLES {
        return Err(too_long(path));
    }
    samples.try_reserve(more).map_err(|_| Error::TooLong {
        path: path.to_path_buf(),
        reason: format!(
            "cannot allocate memory for {} samples",
            samples.len() + more
        ),
    })
}

/// A sample rate mgr accepts ([`MIN_INPUT_RATE`]..=[`MAX_INPUT_RATE`]).
pub(in crate::audio) fn check_rate(rate: u32) -> Result<()> {
    if rate < MIN_INPUT_RATE {
        return Err(Error::SampleRateTooLow(rate));
    }
    if rate > MAX_INPUT_RATE {
        return Err(Error::SampleRateTooHigh(rate));
    }
    Ok(())
}

//! Streaming resampling to 12 kHz for live input (the plugin's worker thread).
//!
//! [`StreamResampler`] is the block-by-block form of [`ResamplerKind::Fast`]
//! ([`crate::resample`]): the same rubato FFT resampler with the same 4096-frame chunk, fed
//! chunk by chunk, with the filter's start-up delay trimmed. For a signal fed in any block sizes
//! it therefore gives the samples that `Resampler::new(Fast).to_12k` gives for the whole signal,
//! except the last partial chunk, which stays inside until more input arrives or
//! [`StreamResampler::flush`] pads it with silence (as the whole-signal form does at the end).
//!
//! All buffers are made in [`StreamResampler::new`]; [`StreamResampler::push`] never allocates.
//!
//! [`ResamplerKind::Fast`]: crate::resample::ResamplerKind::Fast

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Indexing, Resampler as _};

use crate::config::{MIN_INPUT_RATE, SAMPLE_RATE};
use crate::error::{Error, Result};
use crate::resample::output_len;

/// Input frames per FFT chunk: the value `resample::fast_resample` uses, so that streaming and
/// whole-file resampling share one filter.
pub const CHUNK: usize = 4096;

/// Streams mono audio at a fixed input rate to 12 kHz.
pub struct StreamResampler {
    rate: u32,
    inner: Option<Inner>,
}

struct Inner {
    fft: Fft<f32>,
    /// Input waiting for a full chunk.
    pending: Vec<f32>,
    /// One chunk of output.
    out: Vec<f32>,
    /// Output frames still to drop (the filter's start-up delay).
    skip: usize,
    /// Input frames fed and output frames emitted since the last reset or flush.
    fed: usize,
    emitted: usize,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("rate", &self.rate)
            .finish()
    }
}

impl StreamResampler {
    /// A resampler from `rate` Hz to 12 kHz. Rates below 8 kHz are refused, as for files.
    pub fn new(rate: u32) -> Result<Self> {
        if rate < MIN_INPUT_RATE {
            return Err(Error::SampleRateTooLow(rate));
        }
        if rate == SAMPLE_RATE {
            return Ok(Self { rate, inner: None });
        }
        let err = |e: &dyn std::fmt::Display| Error::Resample(e.to_string());
        let fft = Fft::<f32>::new(
            rate as usize,
            SAMPLE_RATE as usize,
            CHUNK,
            1,
            FixedSync::Both,
        )
        .map_err(|e| err(&e))?;
        let chunk_in = fft.input_frames_max();
        let out = vec![0f32; fft.output_frames_max()];
        let skip = fft.output_delay();
        Ok(Self {
            rate,
            inner: Some(Inner {
                pending: Vec::with_capacity(chunk_in),
                out,
                skip,
                fft,
                fed: 0,
                emitted: 0,
            }),
        })
    }

    /// The input sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Forget all buffered input (a new song or a jump in the timeline).
    pub fn reset(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.fft.reset();
            inner.pending.clear();
            inner.skip = inner.fft.output_delay();
            inner.fed = 0;
            inner.emitted = 0;
        }
    }

    /// Emit the rest of the input fed so far, padding the last chunk with silence, so that the
    /// output has exactly `ceil(fed · 12000 / rate)` samples — what `to_12k` gives for the same
    /// signal. Then starts afresh (as after [`StreamResampler::reset`]): call it where the input
    /// pauses, not in the middle of a continuous stream.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[f32])) -> Result<()> {
        let Some(inner) = &mut self.inner else {
            return Ok(());
        };
        let target = output_len(inner.fed, self.rate);
        let err = |e: &dyn std::fmt::Display| Error::Resample(e.to_string());
        while inner.emitted < target {
            let len = inner.pending.len();
            let input = InterleavedSlice::new(&inner.pending[..], 1, len).map_err(|e| err(&e))?;
            let frames_out = inner.out.len();
            let mut output = InterleavedSlice::new_mut(&mut inner.out[..], 1, frames_out)
                .map_err(|e| err(&e))?;
            let indexing = Indexing {
                input_offset: 0,
                output_offset: 0,
                partial_len: Some(len),
                active_channels_mask: None,
            };
            let (_, produced) = inner
                .fft
                .process_into_buffer(&input, &mut output, Some(&indexing))
                .map_err(|e| err(&e))?;
            inner.pending.clear();
            let drop = inner.skip.min(produced);
            inner.skip -= drop;
            let keep = (produced - drop).min(target - inner.emitted);
            if keep > 0 {
                emit(&inner.out[drop..drop + keep]);
                inner.emitted += keep;
            }
        }
        self.reset();
        Ok(())
    }

    /// Whether input is held back that [`StreamResampler::flush`] would emit.
    pub fn has_pending(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| output_len(i.fed, self.rate) > i.emitted)
    }

    /// Feed input samples; `emit` receives the 12 kHz output in order, in pieces.
    pub fn push(&mut self, mut x: &[f32], emit: &mut dyn FnMut(&[f32])) -> Result<()> {
        let Some(inner) = &mut self.inner else {
            emit(x);
            return Ok(());
        };
        inner.fed += x.len();
        while !x.is_empty() {
            let need = inner.fft.input_frames_next();
            let take = (need - inner.pending.len()).min(x.len());
            inner.pending.extend_from_slice(&x[..take]);
            x = &x[take..];
            if inner.pending.len() < need {
                break;
            }
            let err = |e: &dyn std::fmt::Display| Error::Resample(e.to_string());
            let input = InterleavedSlice::new(&inner.pending[..], 1, need).map_err(|e| err(&e))?;
            let frames_out = inner.out.len();
            let mut output = InterleavedSlice::new_mut(&mut inner.out[..], 1, frames_out)
                .map_err(|e| err(&e))?;
            let (_, produced) = inner
                .fft
                .process_into_buffer(&input, &mut output, None)
                .map_err(|e| err(&e))?;
            inner.pending.clear();
            let drop = inner.skip.min(produced);
            inner.skip -= drop;
            if produced > drop {
                emit(&inner.out[drop..produced]);
                inner.emitted += produced - drop;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resample::{Resampler, ResamplerKind};

    fn chirp(rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (0.5 * (2.0 * std::f64::consts::PI * (200.0 + 900.0 * t) * t).sin()) as f32
            })
            .collect()
    }

    /// Streaming in odd block sizes gives the whole-signal Fast output, sample for sample, up to
    /// the chunk still held back at the end.
    #[test]
    fn streaming_matches_whole_signal_fast_resampler() {
        for rate in [22_050, 44_100, 48_000, 96_000] {
            let x = chirp(rate, 3.0);
            let whole = Resampler::new(ResamplerKind::Fast)
                .to_12k(&x, rate)
                .unwrap();
            let mut rs = StreamResampler::new(rate).unwrap();
            let mut got = Vec::new();
            for block in x.chunks(1 + 777 % rate as usize) {
                rs.push(block, &mut |y| got.extend_from_slice(y)).unwrap();
            }
            assert!(got.len() <= whole.len());
            let held = whole.len() - got.len();
            assert!(held <= CHUNK, "{rate} Hz: {held} samples held back");
            let worst = got
                .iter()
                .zip(&whole)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(worst < 1e-6, "{rate} Hz: worst difference {worst}");

            // Flushing completes the signal: same length and samples as the whole-file form.
            rs.flush(&mut |y| got.extend_from_slice(y)).unwrap();
            assert_eq!(got.len(), whole.len(), "{rate} Hz after flush");
            let worst = got
                .iter()
                .zip(&whole)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst < 1e-6,
                "{rate} Hz after flush: worst difference {worst}"
            );
            assert!(!rs.has_pending());
        }
    }

    #[test]
    fn twelve_khz_passes_through_and_low_rates_are_refused() {
        let mut rs = StreamResampler::new(12_000).unwrap();
        let mut got = Vec::new();
        rs.push(&[1.0, 2.0], &mut |y| got.extend_from_slice(y))
            .unwrap();
        assert_eq!(got, [1.0, 2.0]);
        assert!(matches!(
            StreamResampler::new(4_000),
            Err(Error::SampleRateTooLow(4_000))
        ));
    }
}

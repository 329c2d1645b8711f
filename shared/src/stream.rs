//! Streaming resampling to 12 kHz for live input (the plugin's worker thread).
//!
//! [`StreamResampler`] is the block-by-block form of [`ResamplerKind::Fast`]
//! ([`crate::polyphase`]): the same polyphase filter, fed block by block, with the last
//! `taps / 2` input samples kept for the outputs whose windows reach past them. For a signal fed
//! in any block sizes it gives the samples that `Resampler::new(Fast).to_12k` gives for the
//! whole signal (to float rounding: the whole-signal form sums the same products in another
//! order), except the outputs that read input not yet fed, which wait until it arrives or
//! [`StreamResampler::flush`] supplies the silence after the end (as the whole-signal form
//! does).
//!
//! All buffers are made in [`StreamResampler::new`]; [`StreamResampler::push`] never allocates.
//!
//! [`ResamplerKind::Fast`]: crate::resample::ResamplerKind::Fast

use crate::config::{MIN_INPUT_RATE, SAMPLE_RATE};
use crate::error::{Error, Result};
use crate::polyphase::Stream;
use crate::resample::output_len;

/// Streams mono audio at a fixed input rate to 12 kHz.
pub struct StreamResampler {
    rate: u32,
    inner: Option<Box<Stream>>,
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
        let inner = (rate != SAMPLE_RATE).then(|| Box::new(Stream::new(rate)));
        Ok(Self { rate, inner })
    }

    /// The input sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// Input samples (at the input rate) whose outputs wait for later input: the filter's
    /// half length, the latency of the stream.
    pub fn latency(&self) -> usize {
        self.inner.as_ref().map_or(0, |s| s.bank().taps() / 2)
    }

    /// Forget all buffered input (a new song or a jump in the timeline).
    pub fn reset(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.reset();
        }
    }

    /// Emit the rest of the input fed so far, reading silence past its end, so that the output
    /// has exactly `ceil(fed · 12000 / rate)` samples — what `to_12k` gives for the same
    /// signal. Then starts afresh (as after [`StreamResampler::reset`]): call it where the input
    /// pauses, not in the middle of a continuous stream.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[f32])) -> Result<()> {
        if let Some(inner) = &mut self.inner {
            let target = output_len(inner.fed() as usize, self.rate) as u64;
            inner.finish(target, emit);
            inner.reset();
        }
        Ok(())
    }

    /// Whether input is held back that [`StreamResampler::flush`] would emit.
    pub fn has_pending(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| output_len(i.fed() as usize, self.rate) as u64 > i.emitted())
    }

    /// Feed input samples; `emit` receives the 12 kHz output in order, in pieces.
    pub fn push(&mut self, x: &[f32], emit: &mut dyn FnMut(&[f32])) -> Result<()> {
        match &mut self.inner {
            Some(inner) => inner.push(x, emit),
            None => emit(x),
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

    /// Streaming in odd block sizes gives the whole-signal Fast output (to float rounding: the
    /// whole-signal form sums in another order), up to the outputs still held back at the end.
    #[test]
    fn streaming_matches_whole_signal_fast_resampler() {
        for rate in [22_050, 44_100, 48_000, 96_000, 8_000, 44_101] {
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
            // Held back: the outputs whose windows reach past the input fed.
            let held = whole.len() - got.len();
            let most = rs.latency() * 12_000 / rate as usize + 2;
            assert!(
                held <= most,
                "{rate} Hz: {held} samples held back (at most {most})"
            );
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

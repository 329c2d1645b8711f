//! Streaming resampling to 12 kHz for live input (the plugin's worker thread).
//!
//! [`StreamResampler`] is the block-by-block form of [`ResamplerKind::Fast`]
//! ([`super::polyphase`]): the same polyphase filter, fed block by block, with the last
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

use super::math::output_len;
use super::polyphase::Bank;
use crate::config::{MIN_INPUT_RATE, SAMPLE_RATE};
use crate::error::{Error, Result};

/// Block-by-block resampling with [`Bank`]: the window of recent input is kept between calls,
/// so a signal fed in any pieces gives the samples [`Bank::resample_into`] gives for the whole (the
/// same products; with exact tables summed in another order, so equal to float rounding).
#[derive(Debug, Clone)]
struct Stream {
    bank: Bank,
    /// Input from absolute index `origin` on (negative indices are the zeros before the start).
    buf: Vec<f32>,
    origin: i64,
    /// Next output index, and input samples fed (zeros of a flush not counted).
    next: u64,
    fed: u64,
    out: Vec<f32>,
}

/// Input samples taken into the window per step, and outputs emitted per call of `emit`.
const STEP_IN: usize = 4096;
const STEP_OUT: usize = 1024;

impl Stream {
    /// A stream from `rate` Hz (allocates its buffers once).
    pub fn new(rate: u32) -> Self {
        let bank = Bank::new(rate);
        let cap = bank.taps() + STEP_IN;
        let mut s = Self {
            bank,
            buf: Vec::with_capacity(cap),
            origin: 0,
            next: 0,
            fed: 0,
            out: vec![0.0; STEP_OUT],
        };
        s.reset();
        s
    }

    /// The filter in use.
    pub fn bank(&self) -> &Bank {
        &self.bank
    }

    /// Back to the start of a signal: nothing held, next output is sample 0.
    pub fn reset(&mut self) {
        self.buf.clear();
        // The zeros before input 0 that the first outputs read.
        let lead = self.bank.half - 1;
        self.buf.resize(lead, 0.0);
        self.origin = -(lead as i64);
        self.next = 0;
        self.fed = 0;
    }

    /// Input samples fed since the last reset.
    pub fn fed(&self) -> u64 {
        self.fed
    }

    /// Room left in the input window: it holds the filter's taps plus one step of input. (A
    /// copy of the stream, e.g. the one the plugin flushes to show a result while the input
    /// goes on, continues exactly as the original whatever capacity its buffer was given.)
    fn room(&self) -> usize {
        (self.bank.taps() + STEP_IN).saturating_sub(self.buf.len())
    }

    /// Output samples emitted since the last reset.
    pub fn emitted(&self) -> u64 {
        self.next
    }

    /// Feed input; every output whose window is complete goes to `emit`, in order.
    pub fn push(&mut self, mut x: &[f32], emit: &mut dyn FnMut(&[f32])) {
        while !x.is_empty() {
            let take = self.room().min(x.len());
            self.buf.extend_from_slice(&x[..take]);
            self.fed += take as u64;
            x = &x[take..];
            let available = self.origin + self.buf.len() as i64;
            self.drain(available as u64, u64::MAX, emit);
        }
    }

    /// Emit outputs up to (not including) `target`, reading zeros past the input fed.
    pub fn finish(&mut self, target: u64, emit: &mut dyn FnMut(&[f32])) {
        while self.next < target {
            let len = self.buf.len() + self.room();
            self.buf.resize(len, 0.0);
            let available = self.origin + len as i64;
            self.drain(available as u64, target, emit);
        }
    }

    /// Emit the outputs (below `limit`) whose windows end at or before input `available`, then
    /// drop the input no later output reads.
    fn drain(&mut self, available: u64, limit: u64, emit: &mut dyn FnMut(&[f32])) {
        loop {
            let mut k = 0;
            while k < STEP_OUT
                && self.next + (k as u64) < limit
                && self.bank.needs(self.next + k as u64) <= available
            {
                k += 1;
            }
            if k > 0 {
                let out = &mut self.out[..k];
                self.bank.fill(&self.buf, self.origin, self.next, out);
                emit(out);
                self.next += k as u64;
            }
            if k < STEP_OUT {
                break;
            }
        }
        let keep_from = self.bank.tap(self.next).start;
        let drop = ((keep_from - self.origin).max(0) as usize).min(self.buf.len());
        self.buf.copy_within(drop.., 0);
        self.buf.truncate(self.buf.len() - drop);
        self.origin += drop as i64;
    }
}

/// Streams mono audio at a fixed input rate to 12 kHz.
#[derive(Clone)]
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
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[f32])) {
        if let Some(inner) = &mut self.inner {
            let target = output_len(inner.fed() as usize, self.rate) as u64;
            inner.finish(target, emit);
            inner.reset();
        }
    }

    /// Whether input is held back that [`StreamResampler::flush`] would emit.
    pub fn has_pending(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|i| output_len(i.fed() as usize, self.rate) as u64 > i.emitted())
    }

    /// Feed input samples; `emit` receives the 12 kHz output in order, in pieces.
    pub fn push(&mut self, x: &[f32], emit: &mut dyn FnMut(&[f32])) {
        match &mut self.inner {
            Some(inner) => inner.push(x, emit),
            None => emit(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Resampler, ResamplerKind};
    use super::*;
    use crate::testing::max_abs_diff;

    /// A copy flushed mid-stream gives what the original gives when flushed there, and the
    /// original goes on untouched.
    #[test]
    fn a_copy_flushes_like_the_original_and_leaves_it_untouched() {
        let x = chirp(44_100, 3.0);
        let (a, b) = x.split_at(70_001);
        let mut rs = StreamResampler::new(44_100).unwrap();
        let mut head = Vec::new();
        rs.push(a, &mut |y| head.extend_from_slice(y));
        let mut copy_tail = Vec::new();
        let mut copy = rs.clone();
        copy.flush(&mut |y| copy_tail.extend_from_slice(y));
        // The copy keeps working after its flush, as a fresh stream.
        copy.push(b, &mut |_| {});
        let mut whole = head.clone();
        rs.push(b, &mut |y| whole.extend_from_slice(y));
        rs.flush(&mut |y| whole.extend_from_slice(y));
        let mut ref_a = StreamResampler::new(44_100).unwrap();
        let mut ended = Vec::new();
        ref_a.push(a, &mut |y| ended.extend_from_slice(y));
        ref_a.flush(&mut |y| ended.extend_from_slice(y));
        assert_eq!([head.as_slice(), &copy_tail].concat(), ended);
        let mut ref_all = StreamResampler::new(44_100).unwrap();
        let mut all = Vec::new();
        ref_all.push(&x, &mut |y| all.extend_from_slice(y));
        ref_all.flush(&mut |y| all.extend_from_slice(y));
        assert_eq!(whole, all);
    }

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
                rs.push(block, &mut |y| got.extend_from_slice(y));
            }
            assert!(got.len() <= whole.len());
            // Held back: the outputs whose windows reach past the input fed.
            let held = whole.len() - got.len();
            let most = rs.latency() * 12_000 / rate as usize + 2;
            assert!(
                held <= most,
                "{rate} Hz: {held} samples held back (at most {most})"
            );
            let worst = max_abs_diff(&got, &whole[..got.len()]);
            assert!(worst < 1e-6, "{rate} Hz: worst difference {worst}");

            // Flushing completes the signal: same length and samples as the whole-file form.
            rs.flush(&mut |y| got.extend_from_slice(y));
            assert_eq!(got.len(), whole.len(), "{rate} Hz after flush");
            let worst = max_abs_diff(&got, &whole);
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
        rs.push(&[1.0, 2.0], &mut |y| got.extend_from_slice(y));
        assert_eq!(got, [1.0, 2.0]);
        assert!(matches!(
            StreamResampler::new(4_000),
            Err(Error::SampleRateTooLow(4_000))
        ));
    }
}

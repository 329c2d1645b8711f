//! Resampling to 12 kHz as a stream: [`StreamResampler`], the one implementation of both
//! resamplers. A signal fed in any pieces, a whole signal being one piece, comes out as the
//! same samples, bit for bit: every output is computed alone (its own sum of its own products,
//! in the same order) from the same inputs, so which outputs are computed together, and when,
//! does not change it. `Resampler::to_12k` is this stream fed once; `classify` feeds it a
//! file's decoded packets; the plugin the host's audio.
//!
//! What each kind holds between calls: the input that later outputs still read, and
//! * Fast ([`super::polyphase`]): outputs come a unit at a time (one block of `up` phases ×
//!   the vector width; 1,280 outputs at 44.1 kHz), once every input the unit reads is in;
//! * Reference ([`super::reference`]): the running output time, accumulated by repeated
//!   addition as resampy does (its drift is part of the reference output), and an output is
//!   computed once the `reach` inputs after its time are in (235 at 44.1 kHz), since until the
//!   signal ends its right wing reads all of them.
//!
//! [`StreamResampler::flush`] ends the signal: the outputs still waiting are computed with
//! silence past the end (as the whole-signal definition reads it), up to the output-length rule
//! `ceil(len · 12000 / rate)` (reference README, step 3).

use std::sync::Arc;

use super::math::output_len;
use super::polyphase::Bank;
use super::reference::RefBank;
use super::ResamplerKind;
use crate::config::{MIN_INPUT_RATE, SAMPLE_RATE};
use crate::error::{Error, Result};

/// Input samples taken into the window at a time: a whole signal fed at once is resampled in
/// pieces this long (each in parallel), so the window never holds more than one.
const PIECE: usize = 1 << 20;

/// Reference outputs computed at a time, at most.
const STEP: usize = 1 << 17;

/// The input that later outputs still read: samples from absolute index `origin` on.
#[derive(Debug, Clone, Default)]
struct Window {
    buf: Vec<f32>,
    origin: u64,
}

impl Window {
    fn clear(&mut self) {
        self.buf.clear();
        self.origin = 0;
    }

    /// Forget the input before absolute index `first`.
    fn keep_from(&mut self, first: u64) {
        let drop = first.saturating_sub(self.origin).min(self.buf.len() as u64) as usize;
        if drop > 0 {
            self.buf.copy_within(drop.., 0);
            self.buf.truncate(self.buf.len() - drop);
            self.origin += drop as u64;
        }
    }
}

/// The Fast resampler's state: the window and the units emitted.
#[derive(Clone)]
struct Fast {
    bank: Arc<Bank>,
    win: Window,
    fed: u64,
    units: u64,
    out: Vec<f32>,
    /// The kernel's transposed input rows ([`Bank::units_into`]).
    scratch: Vec<f32>,
}

impl Fast {
    fn new(bank: Arc<Bank>) -> Self {
        Self {
            win: Window::default(),
            fed: 0,
            units: 0,
            out: Vec::with_capacity(bank.unit()),
            scratch: Vec::new(),
            bank,
        }
    }

    fn emitted(&self) -> u64 {
        self.units * self.bank.unit() as u64
    }

    fn push(&mut self, x: &[f32], emit: &mut dyn FnMut(&[f32])) {
        let mut out = std::mem::take(&mut self.out);
        for piece in x.chunks(PIECE) {
            out.clear();
            self.piece_into(piece, &mut out);
            if !out.is_empty() {
                emit(&out);
            }
        }
        self.out = out;
    }

    /// [`Fast::push`], the outputs appended to `y`.
    fn push_into(&mut self, x: &[f32], y: &mut Vec<f32>) {
        for piece in x.chunks(PIECE) {
            self.piece_into(piece, y);
        }
    }

    /// One piece of input; the units it completes are appended to `y`.
    fn piece_into(&mut self, piece: &[f32], y: &mut Vec<f32>) {
        let start = self.fed;
        self.fed += piece.len() as u64;
        let mut ready = 0;
        while self.bank.unit_needs(self.units + ready) <= self.fed {
            ready += 1;
        }
        let outputs = ready as usize * self.bank.unit();
        if self.win.buf.is_empty() {
            // Nothing held back (the start of a stream, or a whole signal fed at once): the
            // units read the piece where it lies, and only what later units read is copied.
            self.run(piece, start, ready, outputs, y);
            let first = self.bank.unit_start(self.units).max(0) as u64;
            let keep = first.saturating_sub(start).min(piece.len() as u64) as usize;
            self.win.buf.extend_from_slice(&piece[keep..]);
            self.win.origin = start + keep as u64;
        } else {
            self.win.buf.extend_from_slice(piece);
            let win = std::mem::take(&mut self.win.buf);
            self.run(&win, self.win.origin, ready, outputs, y);
            self.win.buf = win;
            let first = self.bank.unit_start(self.units).max(0) as u64;
            self.win.keep_from(first);
        }
    }

    /// The next `units` units, `outputs` samples of them (fewer than all for the last unit of
    /// a signal), appended to `y`, from the input `x` whose first sample has absolute index
    /// `origin`.
    fn run(&mut self, x: &[f32], origin: u64, units: u64, outputs: usize, y: &mut Vec<f32>) {
        if outputs == 0 {
            return;
        }
        let at = y.len();
        y.resize(at + outputs, 0.0);
        self.bank.units_into(
            x,
            origin as i64,
            self.units,
            &mut y[at..],
            &mut self.scratch,
        );
        self.units += units;
    }

    /// The outputs still waiting, reading silence past the input fed.
    fn finish(&mut self, emit: &mut dyn FnMut(&[f32])) {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        self.finish_into(&mut out);
        if !out.is_empty() {
            emit(&out);
        }
        self.out = out;
    }

    /// [`Fast::finish`], the outputs appended to `y`.
    fn finish_into(&mut self, y: &mut Vec<f32>) {
        let target = output_len(self.fed as usize, self.bank.rate()) as u64;
        let outputs = target.saturating_sub(self.emitted());
        let units = outputs.div_ceil(self.bank.unit() as u64);
        let win = std::mem::take(&mut self.win.buf);
        self.run(&win, self.win.origin, units, outputs as usize, y);
        self.win.buf = win;
    }

    fn reset(&mut self) {
        self.win.clear();
        self.fed = 0;
        self.units = 0;
    }
}

/// The Reference resampler's state: the window, the next output and its input time.
#[derive(Clone)]
struct Reference {
    bank: Arc<RefBank>,
    win: Window,
    fed: u64,
    next: u64,
    time: f64,
    times: Vec<f64>,
    out: Vec<f32>,
}

impl Reference {
    fn new(bank: Arc<RefBank>) -> Self {
        Self {
            bank,
            win: Window::default(),
            fed: 0,
            next: 0,
            time: 0.0,
            times: Vec::new(),
            out: Vec::new(),
        }
    }

    fn push(&mut self, x: &[f32], emit: &mut dyn FnMut(&[f32])) {
        for piece in x.chunks(PIECE) {
            self.win.buf.extend_from_slice(piece);
            self.fed += piece.len() as u64;
            self.run(None, emit);
        }
    }

    /// Every output that can be computed: before the end (`end` = `None`) those whose right
    /// wing is all in; at the end of a signal of `end` samples, the rest of resampy's computed
    /// outputs.
    fn run(&mut self, end: Option<u64>, emit: &mut dyn FnMut(&[f32])) {
        let reach = self.bank.reach() as u64;
        let limit = end.map_or(u64::MAX, |n| self.bank.computed(n));
        loop {
            self.times.clear();
            let mut t = self.time;
            while self.times.len() < STEP && self.next + (self.times.len() as u64) < limit {
                if end.is_none() && t as u64 + 1 + reach > self.fed {
                    break;
                }
                self.times.push(t);
                t = self.bank.next_time(t);
            }
            let k = self.times.len();
            if k == 0 {
                return;
            }
            self.out.clear();
            self.out.resize(k, 0.0);
            self.bank.outputs_into(
                &self.win.buf,
                self.win.origin,
                end.unwrap_or(u64::MAX),
                &self.times,
                &mut self.out,
            );
            emit(&self.out);
            self.next += k as u64;
            self.time = t;
            // The next output's left wing starts at most `reach` inputs before its time.
            self.win
                .keep_from((self.time as u64 + 1).saturating_sub(reach));
            if k < STEP {
                return;
            }
        }
    }

    /// The outputs still waiting, then zeros up to the output-length rule.
    fn finish(&mut self, emit: &mut dyn FnMut(&[f32])) {
        self.run(Some(self.fed), emit);
        let target = output_len(self.fed as usize, self.bank.rate()) as u64;
        let zeros = target.saturating_sub(self.next) as usize;
        if zeros > 0 {
            self.out.clear();
            self.out.resize(zeros, 0.0);
            emit(&self.out);
            self.next += zeros as u64;
        }
    }

    fn reset(&mut self) {
        self.win.clear();
        self.fed = 0;
        self.next = 0;
        self.time = 0.0;
    }
}

#[derive(Clone)]
enum Inner {
    /// 12 kHz input passes through.
    Pass {
        fed: u64,
    },
    Fast(Box<Fast>),
    Reference(Box<Reference>),
}

/// Streams mono audio at a fixed input rate to 12 kHz (see the module documentation).
/// Cloning it copies the stream: a copy flushed to show a result while the input goes on
/// leaves the original untouched.
#[derive(Clone)]
pub struct StreamResampler {
    rate: u32,
    inner: Inner,
}

impl std::fmt::Debug for StreamResampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamResampler")
            .field("rate", &self.rate)
            .field("kind", &self.kind())
            .finish()
    }
}

impl StreamResampler {
    /// A [`ResamplerKind::Fast`] stream from `rate` Hz to 12 kHz (the plugin's). Rates below
    /// 8 kHz are refused, as for files. `Resampler::stream` makes streams of either kind that
    /// share their filter tables.
    pub fn new(rate: u32) -> Result<Self> {
        check_rate(rate)?;
        Ok(Self::fast(rate, Arc::new(Bank::new(rate))))
    }

    pub(super) fn fast(rate: u32, bank: Arc<Bank>) -> Self {
        let inner = if rate == SAMPLE_RATE {
            Inner::Pass { fed: 0 }
        } else {
            Inner::Fast(Box::new(Fast::new(bank)))
        };
        Self { rate, inner }
    }

    pub(super) fn reference(rate: u32, bank: Arc<RefBank>) -> Self {
        let inner = if rate == SAMPLE_RATE {
            Inner::Pass { fed: 0 }
        } else {
            Inner::Reference(Box::new(Reference::new(bank)))
        };
        Self { rate, inner }
    }

    /// The input sample rate.
    pub fn rate(&self) -> u32 {
        self.rate
    }

    /// The algorithm (a 12 kHz stream passes through: it is reported as `Fast`).
    pub fn kind(&self) -> ResamplerKind {
        match self.inner {
            Inner::Reference(_) => ResamplerKind::Reference,
            Inner::Pass { .. } | Inner::Fast(_) => ResamplerKind::Fast,
        }
    }

    /// The most input samples (at the input rate) whose outputs can still be waiting for later
    /// input: the latency of the stream.
    pub fn latency(&self) -> usize {
        match &self.inner {
            Inner::Pass { .. } => 0,
            // A unit's outputs wait for the furthest input the unit reads.
            Inner::Fast(f) => f.bank.unit_needs(0) as usize + f.bank.taps(),
            // An output waits for `reach` inputs after its time.
            Inner::Reference(r) => r.bank.reach() + 2,
        }
    }

    /// Input samples fed since the start or the last reset.
    pub fn fed(&self) -> u64 {
        match &self.inner {
            Inner::Pass { fed } => *fed,
            Inner::Fast(f) => f.fed,
            Inner::Reference(r) => r.fed,
        }
    }

    /// Output samples emitted since the start or the last reset.
    fn emitted(&self) -> u64 {
        match &self.inner {
            Inner::Pass { fed } => *fed,
            Inner::Fast(f) => f.emitted(),
            Inner::Reference(r) => r.next,
        }
    }

    /// Forget all buffered input (a new song or a jump in the timeline).
    pub fn reset(&mut self) {
        match &mut self.inner {
            Inner::Pass { fed } => *fed = 0,
            Inner::Fast(f) => f.reset(),
            Inner::Reference(r) => r.reset(),
        }
    }

    /// Feed input samples; `emit` receives the 12 kHz output in order, in pieces.
    pub fn push(&mut self, x: &[f32], emit: &mut dyn FnMut(&[f32])) {
        match &mut self.inner {
            Inner::Pass { fed } => {
                *fed += x.len() as u64;
                if !x.is_empty() {
                    emit(x);
                }
            }
            Inner::Fast(f) => f.push(x, emit),
            Inner::Reference(r) => r.push(x, emit),
        }
    }

    /// [`StreamResampler::push`], the output appended to `y` (a whole signal resampled at once
    /// goes straight into its output, as `Resampler::to_12k_into` does).
    pub(super) fn push_into(&mut self, x: &[f32], y: &mut Vec<f32>) {
        match &mut self.inner {
            Inner::Fast(f) => f.push_into(x, y),
            _ => self.push(x, &mut |o| y.extend_from_slice(o)),
        }
    }

    /// [`StreamResampler::flush`], the output appended to `y`.
    pub(super) fn flush_into(&mut self, y: &mut Vec<f32>) {
        match &mut self.inner {
            Inner::Fast(f) => {
                f.finish_into(y);
                self.reset();
            }
            _ => self.flush(&mut |o| y.extend_from_slice(o)),
        }
    }

    /// End the signal: emit the rest of the output, reading silence past the input fed, so
    /// that it has exactly `ceil(fed · 12000 / rate)` samples, what the whole signal gives.
    /// Then starts afresh (as after [`StreamResampler::reset`]): call it where the input ends
    /// or pauses, not in the middle of a continuous stream.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[f32])) {
        match &mut self.inner {
            Inner::Pass { .. } => {}
            Inner::Fast(f) => f.finish(emit),
            Inner::Reference(r) => r.finish(emit),
        }
        self.reset();
    }

    /// Whether input is held back that [`StreamResampler::flush`] would emit.
    pub fn has_pending(&self) -> bool {
        output_len(self.fed() as usize, self.rate) as u64 > self.emitted()
    }
}

/// Rates below 8 kHz are refused (the 0–6 kHz mel range needs them).
pub(super) fn check_rate(rate: u32) -> Result<()> {
    if rate < MIN_INPUT_RATE {
        return Err(Error::SampleRateTooLow(rate));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Resampler, ResamplerKind};
    use super::*;

    fn chirp(rate: u32, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / f64::from(rate);
                (0.5 * (2.0 * std::f64::consts::PI * (200.0 + 900.0 * t) * t).sin()) as f32
            })
            .collect()
    }

    fn bits(y: &[f32]) -> Vec<u32> {
        y.iter().map(|v| v.to_bits()).collect()
    }

    /// A copy flushed mid-stream gives what the original gives when flushed there, and the
    /// original goes on untouched.
    #[test]
    fn a_copy_flushes_like_the_original_and_leaves_it_untouched() {
        let x = chirp(44_100, 3.0);
        let (a, b) = x.split_at(70_001);
        for kind in [ResamplerKind::Fast, ResamplerKind::Reference] {
            let r = Resampler::new(kind);
            let mut rs = r.stream(44_100).unwrap();
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
            let ended = r.to_12k(a, 44_100).unwrap();
            assert_eq!(bits(&[head.as_slice(), &copy_tail].concat()), bits(&ended));
            assert_eq!(bits(&whole), bits(&r.to_12k(&x, 44_100).unwrap()));
        }
    }

    /// Streaming in odd block sizes gives the whole-signal output bit for bit, up to the
    /// outputs still held back before the flush (at most the stream's latency).
    #[test]
    fn any_chunking_gives_the_whole_signal_bits() {
        for kind in [ResamplerKind::Fast, ResamplerKind::Reference] {
            let r = Resampler::new(kind);
            for rate in [22_050, 44_100, 48_000, 96_000, 8_000, 44_101, 11_025] {
                let x = chirp(rate, 3.0);
                let whole = r.to_12k(&x, rate).unwrap();
                for block in [1, 7, 441, 1152, 4096, 65_537] {
                    let mut rs = r.stream(rate).unwrap();
                    let mut got = Vec::new();
                    for piece in x.chunks(block) {
                        rs.push(piece, &mut |y| got.extend_from_slice(y));
                    }
                    let held = whole.len() - got.len();
                    let most = rs.latency() * 12_000 / rate as usize + 2;
                    assert!(
                        held <= most,
                        "{kind:?} {rate} Hz by {block}: {held} held back (at most {most})"
                    );
                    assert!(rs.has_pending() || held == 0);
                    rs.flush(&mut |y| got.extend_from_slice(y));
                    assert!(!rs.has_pending());
                    assert_eq!(
                        bits(&got),
                        bits(&whole),
                        "{kind:?} {rate} Hz in blocks of {block}"
                    );
                }
            }
        }
    }

    #[test]
    fn twelve_khz_passes_through_and_low_rates_are_refused() {
        for kind in [ResamplerKind::Fast, ResamplerKind::Reference] {
            let mut rs = Resampler::new(kind).stream(12_000).unwrap();
            let mut got = Vec::new();
            rs.push(&[1.0, 2.0], &mut |y| got.extend_from_slice(y));
            rs.flush(&mut |y| got.extend_from_slice(y));
            assert_eq!(got, [1.0, 2.0]);
            assert!(matches!(
                Resampler::new(kind).stream(4_000),
                Err(Error::SampleRateTooLow(4_000))
            ));
        }
        assert!(matches!(
            StreamResampler::new(4_000),
            Err(Error::SampleRateTooLow(4_000))
        ));
    }
}

//! How far ahead of real time the host delivers audio: the evidence that tells a render
//! (nobody listening live) from playback, whatever process mode the host reports.

use std::time::Instant;

/// A stream that has run this far ahead of real time (seconds of audio delivered beyond the
/// wall time that passed) is a render: nobody is listening live, so when the ring is full the
/// audio thread waits for the worker, but never so long that the stream falls below this lead.
/// Live playback stays within a few buffers of real time (anticipative hosts: some 200 ms).
pub const RENDER_LEAD: f64 = 1.0;

/// How far the stream runs ahead of real time: each block adds its duration, wall time
/// between blocks takes it away, never below zero (real time cannot be saved up).
#[derive(Debug, Default)]
pub(crate) struct Pace {
    rate: f64,
    last: Option<Instant>,
    lead_s: f64,
}

impl Pace {
    pub(crate) fn new(rate: f64) -> Self {
        Self {
            rate,
            ..Self::default()
        }
    }

    fn since_last(&self, now: Instant) -> f64 {
        self.last
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64())
    }

    /// A block of `n` samples starts now.
    pub(crate) fn block(&mut self, n: usize, now: Instant) {
        self.lead_s = (self.lead_s - self.since_last(now)).max(0.0) + n as f64 / self.rate;
        self.last = Some(now);
    }

    /// The lead when the current block started, seconds.
    pub(crate) fn lead_s(&self) -> f64 {
        self.lead_s
    }

    /// The lead at `now`, inside the current block.
    pub(crate) fn ahead(&self, now: Instant) -> f64 {
        self.lead_s - self.since_last(now)
    }
}

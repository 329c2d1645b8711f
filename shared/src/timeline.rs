//! A genre timeline of a recording (a DJ mix, a concert, an album in one file): the network's
//! scores of 29.12 s windows placed every `hop` seconds over the *whole* recording. The first
//! and last 20 s are included: the paper's end trim is a rule for one song's decision, not
//! for a timeline, and the song decision beside the timeline is unchanged.
//!
//! Placement ([`window_ranges`]): windows start at 0, `hop`, `2·hop`, … and are one network
//! input long ([`CLIP_SAMPLES`]); the last one is the first that reaches the end of the
//! recording, zero-padded past it like a short song's frame. A recording shorter than one
//! window has one window.

use std::ops::Range;

use crate::config::{CLIP_SAMPLES, FRAME_SECONDS, SAMPLE_RATE};

/// How a timeline is cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimelineConfig {
    /// Seconds between window starts; [`FRAME_SECONDS`] (29.12 s, the default) gives
    /// non-overlapping windows.
    pub hop: f64,
}

impl Default for TimelineConfig {
    fn default() -> Self {
        Self { hop: FRAME_SECONDS }
    }
}

impl TimelineConfig {
    /// The hop in 12 kHz samples (at least one).
    pub fn hop_samples(&self) -> usize {
        ((self.hop * f64::from(SAMPLE_RATE)).round() as usize).max(1)
    }
}

/// One window of a timeline: its place in the recording and the network's scores of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Window {
    /// Seconds from the start of the recording.
    pub start: f64,
    /// Seconds; at most the recording's length (the window's zero padding is not counted).
    pub end: f64,
    /// One score per label of the model, in label order.
    pub scores: Vec<f32>,
}

/// The sample ranges (12 kHz) of the windows of a recording of `len` samples, hop
/// `hop_samples`. A range may run past `len`: the samples there are zeros.
pub fn window_ranges(len: usize, hop_samples: usize) -> Vec<Range<usize>> {
    let hop = hop_samples.max(1);
    let n = if len <= CLIP_SAMPLES {
        1
    } else {
        (len - CLIP_SAMPLES).div_ceil(hop) + 1
    };
    (0..n).map(|k| k * hop..k * hop + CLIP_SAMPLES).collect()
}

/// The [`Window`] of range `r` in a recording of `len` samples with `scores`.
pub fn window(r: &Range<usize>, len: usize, scores: Vec<f32>) -> Window {
    let s = f64::from(SAMPLE_RATE);
    Window {
        start: r.start as f64 / s,
        end: r.end.min(len.max(r.start)) as f64 / s,
        scores,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_whole_recording() {
        let hop = TimelineConfig::default().hop_samples();
        assert_eq!(hop, CLIP_SAMPLES);
        assert_eq!(window_ranges(1000, hop), vec![0..CLIP_SAMPLES]);
        assert_eq!(window_ranges(CLIP_SAMPLES, hop).len(), 1);
        let two = window_ranges(CLIP_SAMPLES + 1, hop);
        assert_eq!(two, vec![0..CLIP_SAMPLES, CLIP_SAMPLES..2 * CLIP_SAMPLES]);
        for len in [CLIP_SAMPLES * 3, CLIP_SAMPLES * 3 + 7, 10 * 60 * 12_000] {
            for hop in [hop, hop / 2, 12_000] {
                let r = window_ranges(len, hop);
                assert_eq!(r[0].start, 0);
                assert!(r.last().unwrap().end >= len, "{len} {hop}");
                if r.len() > 1 {
                    assert!(r[r.len() - 2].end < len, "one window past the end at most");
                }
                assert!(r.windows(2).all(|w| w[1].start - w[0].start == hop));
            }
        }
        let w = window(
            &(CLIP_SAMPLES..2 * CLIP_SAMPLES),
            CLIP_SAMPLES + 6_000,
            vec![],
        );
        assert_eq!((w.start, w.end), (FRAME_SECONDS, FRAME_SECONDS + 0.5));
    }
}

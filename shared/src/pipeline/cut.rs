//! Cutting a 12 kHz recording into the network's clips as it arrives, holding only what a
//! clip still to come needs.
//!
//! * Song frames follow the paper's multiframe rule ([`crate::aggregate::FrameCutter`], the one
//!   implementation of it): a long song's frame `k` (29.12 s from 20 s + 29.12 s · k) is sent
//!   once it is certain to count, i.e. once 20 s more audio has followed it (before that the
//!   song could still end and make it the dropped tail); a song of at most 69.12 s gets its one
//!   centre-cropped or zero-padded frame at the end. So at most the last 69.12 s (a short song
//!   so far), then 49.12 s (a frame and the 20 s after it), are held.
//! * Timeline windows ([`crate::timeline::window_ranges`]) are sent once their samples are in;
//!   the last ones, which run past the end of the recording, at the end (zero-padded). They
//!   hold back at most one window (29.12 s) behind the newest sample.
//!
//! Which clips come out, and the samples of each, are exactly those of the whole-signal rules
//! on the whole recording (tested below).

use std::ops::Range;

use crate::aggregate::{FrameCutter, Framing, SongFrames};
use crate::config::CLIP_SAMPLES;
use crate::timeline::window_ranges;

use super::Clip;

/// The clips of a recording cut as it arrives.
pub(super) struct Cutter {
    rule: FrameCutter,
    /// Timeline hop in samples, when a timeline is cut.
    hop: Option<usize>,
    /// Samples from absolute index `origin` on.
    buf: Vec<f32>,
    origin: usize,
    /// Long-song frames sent, and the next timeline window.
    sent: usize,
    next_window: usize,
}

/// What the recording was cut into, once it ended.
pub(super) struct Cut {
    pub(super) frames: usize,
    pub(super) windows: Vec<Range<usize>>,
    pub(super) len: usize,
}

impl Cutter {
    pub(super) fn new(framing: Framing, hop: Option<usize>) -> Self {
        Self {
            rule: FrameCutter::new(framing),
            hop: hop.map(|h| h.max(1)),
            buf: Vec::new(),
            origin: 0,
            sent: 0,
            next_window: 0,
        }
    }

    /// Start again with an empty recording.
    pub(super) fn reset(&mut self) {
        *self = Self::new(*self.rule.framing(), self.hop);
    }

    fn len(&self) -> usize {
        self.rule.len()
    }

    /// The samples of `r`, cut at the end of what has arrived (none for a window that starts
    /// past the end, which a hop longer than a window can place).
    fn clip(&self, r: &Range<usize>) -> &[f32] {
        let end = r.end.min(self.len());
        let start = r.start.min(end);
        &self.buf[start - self.origin..end - self.origin]
    }

    /// `y` more samples: every clip now certain goes to `out`, in time order within each kind.
    /// Returns false as soon as `out` does (stop here).
    pub(super) fn push(&mut self, y: &[f32], out: &mut dyn FnMut(Clip, &[f32]) -> bool) -> bool {
        self.buf.extend_from_slice(y);
        self.rule.advance(y.len());
        let framing = *self.rule.framing();
        if let SongFrames::Long(counted) = self.rule.song_frames() {
            while self.sent < counted {
                let r = framing.long_frame(self.sent);
                if !out(Clip::Frame(self.sent), self.clip(&r)) {
                    return false;
                }
                self.sent += 1;
            }
        }
        if let Some(hop) = self.hop {
            while self.next_window * hop + CLIP_SAMPLES <= self.len() {
                let start = self.next_window * hop;
                if !out(
                    Clip::Window(self.next_window),
                    self.clip(&(start..start + CLIP_SAMPLES)),
                ) {
                    return false;
                }
                self.next_window += 1;
            }
        }
        self.forget();
        true
    }

    /// Drop the samples no clip still to come reads.
    fn forget(&mut self) {
        let framing = self.rule.framing();
        let mut keep = if self.len() <= framing.short_song() {
            0 // the short song's frame may still be any part of it
        } else {
            framing.long_frame(self.sent).start
        };
        if let Some(hop) = self.hop {
            keep = keep.min(self.next_window * hop);
        }
        let dead = keep.min(self.len()).saturating_sub(self.origin);
        // Shift only when half the buffer is dead: amortised, each sample moves once or twice.
        if dead > 0 && 2 * dead >= self.buf.len() {
            self.buf.drain(..dead);
            self.origin += dead;
        }
    }

    /// The recording ended: the short song's frame, or nothing more for a long one (its frames
    /// were all sent as they became certain), and the windows that run past the end.
    pub(super) fn finish(&mut self, out: &mut dyn FnMut(Clip, &[f32]) -> bool) -> Option<Cut> {
        let len = self.len();
        let frames = match self.rule.song_frames() {
            SongFrames::Long(n) => n,
            SongFrames::Empty | SongFrames::Short(_) => {
                let r = self.rule.framing().short_frame(len);
                if !out(Clip::Frame(0), self.clip(&r)) {
                    return None;
                }
                1
            }
        };
        let windows = match self.hop {
            Some(hop) => window_ranges(len, hop),
            None => Vec::new(),
        };
        for (k, r) in windows.iter().enumerate().skip(self.next_window) {
            if !out(Clip::Window(k), self.clip(r)) {
                return None;
            }
        }
        self.next_window = windows.len();
        Some(Cut {
            frames,
            windows,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SAMPLE_RATE;

    const S: usize = SAMPLE_RATE as usize;

    /// A ramp whose values name their own position (exact in f32 up to 2^24).
    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    /// Fed in any pieces, the clips are those of the whole-signal rules, with their samples,
    /// and the buffer stays bounded by the rules' reach, not the recording's length.
    #[test]
    fn streamed_clips_are_the_whole_signal_clips() {
        let framing = Framing::default();
        let mut seed = 0x2545_f491_u32;
        for len in [
            1,
            S,
            CLIP_SAMPLES,
            CLIP_SAMPLES + 1,
            framing.short_song(),
            framing.short_song() + 1,
            240 * S + 17,
            3 * CLIP_SAMPLES + 2 * framing.trim() - 1,
            3 * CLIP_SAMPLES + 2 * framing.trim(),
            20 * 60 * S + 1234,
        ] {
            for hop in [None, Some(CLIP_SAMPLES), Some(5 * S), Some(40 * S)] {
                let y = ramp(len);
                let mut c = Cutter::new(framing, hop);
                let mut frames: Vec<(usize, Vec<f32>)> = Vec::new();
                let mut windows: Vec<(usize, Vec<f32>)> = Vec::new();
                let mut most = 0;
                let mut keep = |clip: Clip, x: &[f32]| {
                    match clip {
                        Clip::Frame(k) => frames.push((k, x.to_vec())),
                        Clip::Window(k) => windows.push((k, x.to_vec())),
                    }
                    true
                };
                let mut at = 0;
                while at < len {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let n = (1 + (seed >> 12) as usize % 40_000).min(len - at);
                    assert!(c.push(&y[at..at + n], &mut keep));
                    most = most.max(c.buf.len());
                    at += n;
                }
                let cut = c.finish(&mut keep).unwrap();
                let want = framing.frames(len);
                assert_eq!(cut.frames, want.len(), "{len} {hop:?}");
                assert_eq!(frames.len(), want.len());
                for ((k, x), r) in frames.iter().zip(&want) {
                    assert_eq!(x.as_slice(), &y[r.clone()], "frame {k} of {len}");
                }
                assert!(frames.iter().enumerate().all(|(i, (k, _))| i == *k));
                let want = hop.map_or(Vec::new(), |h| window_ranges(len, h));
                assert_eq!(cut.windows, want);
                assert_eq!(windows.len(), want.len());
                for ((k, x), r) in windows.iter().zip(&want) {
                    assert_eq!(
                        x.as_slice(),
                        &y[r.start.min(len)..r.end.min(len)],
                        "window {k}"
                    );
                }
                // 69.12 s for a short song, then a frame and 20 s (or a window), plus a piece
                // and the dead half waiting to be dropped.
                let bound = 2 * (framing.short_song() + 40_000);
                assert!(most <= bound, "{len} {hop:?}: held {most}");
            }
        }
    }

    #[test]
    fn a_sink_that_stops_stops_the_cut() {
        let mut c = Cutter::new(Framing::default(), Some(CLIP_SAMPLES));
        let mut n = 0;
        let y = ramp(10 * CLIP_SAMPLES);
        let go_on = c.push(&y, &mut |_, _| {
            n += 1;
            n < 3
        });
        assert!(!go_on);
        assert_eq!(n, 3);
    }
}

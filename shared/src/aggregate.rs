//! The paper's multiframe rule (Jiménez & Marqués, §3.3): which 29.12 s frames of a song the
//! network sees, and the one song-level decision drawn from their scores. Used by all three
//! faces: `classify` and training (whole signals), the plugin (streaming).
//!
//! * A song longer than 29.12 s + 2 × 20 s: drop 20 s at each end, cut consecutive
//!   non-overlapping 29.12 s frames from the rest, drop a shorter tail.
//! * Any shorter song: one frame, centre-cropped to 29.12 s (start = (len − 349440) div 2, the
//!   reference README's crop) or zero-padded at the end.
//!
//! Song decision: argmax of the mean of the frame scores ([`Decision::Mean`], the paper's
//! rule); majority vote ([`Decision::Vote`]) is reported beside it.
//!
//! The whole-signal form is [`Framing::frames`]; the streaming form, [`FrameCutter`], is told
//! how many samples have arrived and says which frames can be scored now. A long frame can be
//! scored as soon as its samples are in, but it only counts once 20 s more have followed
//! (before that the song could still end and make it the dropped tail); at any length the frames
//! that count are exactly the whole-signal frames of the audio heard (tested below).

use std::ops::Range;

use crate::audio::Warning;
use crate::config::{FramingConfig, CLIP_SAMPLES, SAMPLE_RATE};
use crate::model::argmax;

/// The multiframe rule at 12 kHz, in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    /// Samples dropped at each end of a long song.
    trim: usize,
}

impl Default for Framing {
    fn default() -> Self {
        Self::new(&FramingConfig::default())
    }
}

impl Framing {
    /// The rule for `cfg`, converted to samples at 12 kHz ([`SAMPLE_RATE`]): the trim is
    /// `trim_seconds` × 12,000 rounded to the nearest sample (negative seconds count as 0).
    pub fn new(cfg: &FramingConfig) -> Self {
        Self {
            trim: (cfg.trim_seconds.max(0.0) * f64::from(SAMPLE_RATE)).round() as usize,
        }
    }

    /// Samples dropped at each end of a long song (20 s: 240,000).
    pub fn trim(&self) -> usize {
        self.trim
    }

    /// The longest song that gets one centre-cropped frame (69.12 s).
    pub fn short_song(&self) -> usize {
        CLIP_SAMPLES + 2 * self.trim
    }

    /// Sample ranges of the frames the network sees for a signal of `len` samples. A range
    /// shorter than [`CLIP_SAMPLES`] means the frame is zero-padded at the end.
    pub fn frames(&self, len: usize) -> Vec<Range<usize>> {
        match self.long_frames(len) {
            0 => vec![self.short_frame(len)],
            n => (0..n).map(|k| self.long_frame(k)).collect(),
        }
    }

    /// The one frame of a song of `len` ≤ 69.12 s samples: centre-cropped or all of it.
    pub fn short_frame(&self, len: usize) -> Range<usize> {
        if len > CLIP_SAMPLES {
            let start = (len - CLIP_SAMPLES) / 2;
            start..start + CLIP_SAMPLES
        } else {
            0..len
        }
    }

    /// Frame `k` of a long song.
    pub fn long_frame(&self, k: usize) -> Range<usize> {
        let start = self.trim + k * CLIP_SAMPLES;
        start..start + CLIP_SAMPLES
    }

    /// How many long-song frames a song of `len` samples has (0: it is a short song).
    pub fn long_frames(&self, len: usize) -> usize {
        if len > self.short_song() {
            (len - 2 * self.trim) / CLIP_SAMPLES
        } else {
            0
        }
    }

    /// How many long-song frames have all their samples once `len` samples have arrived (they
    /// can be scored; they count once [`Framing::long_frames`] includes them).
    pub fn complete_frames(&self, len: usize) -> usize {
        len.saturating_sub(self.trim) / CLIP_SAMPLES
    }
}

/// Sample ranges (at 12 kHz) of the frames the network sees for a signal of `len` samples
/// ([`Framing::frames`]).
pub fn frame_ranges(len: usize, cfg: &FramingConfig) -> Vec<Range<usize>> {
    Framing::new(cfg).frames(len)
}

/// Which frames decide a song heard so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SongFrames {
    /// Nothing heard yet.
    Empty,
    /// A short song: this one (centre-cropped or zero-padded) frame.
    Short(Range<usize>),
    /// A long song: its first `n` long frames.
    Long(usize),
}

/// The streaming form of [`Framing`]: fed sample counts as audio arrives, it says when each
/// long frame is complete (score it then, while its samples are still at hand) and which frames
/// decide the song so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameCutter {
    framing: Framing,
    len: usize,
    complete: usize,
}

impl FrameCutter {
    /// A cutter that has heard nothing yet, cutting by `framing`.
    pub fn new(framing: Framing) -> Self {
        Self {
            framing,
            len: 0,
            complete: 0,
        }
    }

    /// The rule in use.
    pub fn framing(&self) -> &Framing {
        &self.framing
    }

    /// Samples heard so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no samples have arrived yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sample count at which the next long frame is complete: feed at most up to it, then
    /// score what [`FrameCutter::advance`] returns.
    pub fn next_complete_at(&self) -> usize {
        self.framing.long_frame(self.complete).end
    }

    /// `n` more samples arrived; returns the indices of the long frames completed by them.
    pub fn advance(&mut self, n: usize) -> Range<usize> {
        self.len += n;
        let before = self.complete;
        self.complete = self.framing.complete_frames(self.len);
        before..self.complete
    }

    /// The frames that decide the song heard so far (equal to [`Framing::frames`] of it).
    pub fn song_frames(&self) -> SongFrames {
        match (self.len, self.framing.long_frames(self.len)) {
            (0, _) => SongFrames::Empty,
            (len, 0) => SongFrames::Short(self.framing.short_frame(len)),
            (_, n) => SongFrames::Long(n),
        }
    }
}

/// How frame scores become one song decision (`eval`'s levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Argmax of the mean score over frames: the paper's rule.
    #[default]
    Mean,
    /// Majority vote over the frames' top classes; ties go to the higher mean score.
    Vote,
}

/// Frame scores of one song and the decisions drawn from them.
#[derive(Debug, Clone, PartialEq)]
pub struct SongScores {
    /// One score vector per frame, in time order.
    pub frames: Vec<Vec<f32>>,
    /// Element-wise mean of the frame scores.
    pub mean: Vec<f32>,
    /// For each class, the number of frames whose top class it is.
    pub votes: Vec<usize>,
    /// The recording's genre timeline ([`crate::timeline`]): empty unless the run asked for
    /// one. It does not enter the song decision.
    pub timeline: Vec<Window>,
    /// What was odd about the file, though it was analysed (a header whose length disagrees
    /// with the data, a damaged tail): one line each.
    pub warnings: Vec<Warning>,
}

impl SongScores {
    /// Aggregate frame scores (all of the same length). Returns `None` for zero frames.
    pub fn from_frames(frames: Vec<Vec<f32>>) -> Option<Self> {
        let n_classes = frames.first()?.len();
        let mut mean = vec![0f32; n_classes];
        let mut votes = vec![0usize; n_classes];
        for f in &frames {
            for (m, v) in mean.iter_mut().zip(f) {
                *m += v;
            }
            if let Some(top) = argmax(f) {
                votes[top] += 1;
            }
        }
        let n = frames.len() as f32;
        for m in &mut mean {
            *m /= n;
        }
        Some(Self {
            frames,
            mean,
            votes,
            timeline: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The song's class under `rule`.
    pub fn decide(&self, rule: Decision) -> usize {
        match rule {
            Decision::Mean => self.by_mean(),
            Decision::Vote => self.by_vote(),
        }
    }

    /// The paper's decision: argmax of the mean score.
    pub fn by_mean(&self) -> usize {
        argmax(&self.mean).unwrap_or(0)
    }

    /// Majority vote over frames; ties go to the class with the higher mean score.
    pub fn by_vote(&self) -> usize {
        (0..self.votes.len())
            .max_by(|&a, &b| {
                self.votes[a]
                    .cmp(&self.votes[b])
                    .then(self.mean[a].total_cmp(&self.mean[b]))
            })
            .unwrap_or(0)
    }
}

/// Score `i` as a share of the sum of all `scores`: the confidence that `classify` prints beside
/// the top genre and the plugin shows, as the authors' demo shows it (the data pack's reference
/// README lists it "sum-normalised in brackets"). The genre model's outputs are independent
/// sigmoids, not a softmax, so a raw score alone does not say how clear the choice was.
/// Scores whose sum is not positive (all zero) give 0, not NaN.
pub fn share(scores: &[f32], i: usize) -> f32 {
    let total: f32 = scores.iter().sum();
    if total > 0.0 {
        scores[i] / total
    } else {
        0.0
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

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    const S: usize = SAMPLE_RATE as usize;

    #[test]
    fn short_songs_give_one_centred_frame() {
        let cfg = FramingConfig::default();
        assert_eq!(frame_ranges(S, &cfg), [0..S]);
        assert_eq!(frame_ranges(CLIP_SAMPLES, &cfg), [0..CLIP_SAMPLES]);
        // 31.27 s bensound clip at 12 kHz: crop from 12891 (reference README).
        assert_eq!(
            frame_ranges(375_223, &cfg),
            vec![12_891..12_891 + CLIP_SAMPLES]
        );
        // Exactly 29.12 s + 40 s is still "short".
        let edge = CLIP_SAMPLES + 40 * S;
        assert_eq!(frame_ranges(edge, &cfg).len(), 1);
    }

    #[test]
    fn long_songs_drop_20s_and_cut_non_overlapping_frames() {
        let cfg = FramingConfig::default();
        // 4 minutes: 240 s − 40 s = 200 s → 6 frames of 29.12 s (174.72 s), tail dropped.
        let r = frame_ranges(240 * S, &cfg);
        assert_eq!(r.len(), 6);
        assert_eq!(r[0].start, 20 * S);
        for w in r.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert!(r.last().unwrap().end <= 220 * S);
        assert!(r.iter().all(|x| x.len() == CLIP_SAMPLES));
    }

    /// The streaming framer fed in any pieces ends with the whole-signal frames of the audio
    /// heard, for every length around the boundaries and beyond; every long frame that counts
    /// was complete (and so scored) before it counted.
    #[test]
    fn streaming_framer_equals_whole_signal_framing_at_every_length() {
        let f = Framing::default();
        let mut lengths: Vec<usize> = (0..4_000).map(|i| i * 311).collect();
        for edge in [CLIP_SAMPLES, f.short_song(), f.short_song() + CLIP_SAMPLES] {
            lengths.extend(edge.saturating_sub(3)..edge + 3);
        }
        lengths.push(3_600 * S + 17);
        let mut seed = 0x2545_f491_u32;
        for len in lengths {
            let mut stream = FrameCutter::new(f);
            let mut scored: Vec<Range<usize>> = Vec::new();
            while stream.len() < len {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let piece = 1 + (seed >> 12) as usize % 50_000;
                // Never step past a frame boundary: its samples are scored when complete.
                let n = piece
                    .min(len - stream.len())
                    .min(stream.next_complete_at() - stream.len());
                for k in stream.advance(n) {
                    let r = f.long_frame(k);
                    assert_eq!(r.end, stream.len(), "frame {k} scored when complete");
                    scored.push(r);
                }
                if let SongFrames::Long(n) = stream.song_frames() {
                    assert!(n <= scored.len(), "a counted frame was scored");
                }
            }
            let want = f.frames(len);
            let got = match stream.song_frames() {
                SongFrames::Empty => vec![0..0],
                SongFrames::Short(r) => vec![r],
                SongFrames::Long(n) => scored[..n].to_vec(),
            };
            assert_eq!(got, want, "len {len}");
        }
    }

    #[test]
    fn mean_and_vote() {
        let s = SongScores::from_frames(vec![
            vec![0.9, 0.1, 0.0],
            vec![0.2, 0.3, 0.0],
            vec![0.1, 0.4, 0.0],
        ])
        .unwrap();
        assert_eq!(s.by_mean(), 0);
        assert_eq!(s.by_vote(), 1);
        assert_eq!(s.decide(Decision::Mean), 0);
        assert_eq!(s.decide(Decision::Vote), 1);
        assert_eq!(s.votes, vec![1, 2, 0]);
        assert!((s.mean[0] - 0.4).abs() < 1e-6);
        assert!(SongScores::from_frames(vec![]).is_none());
    }

    #[test]
    fn share_is_sum_normalised_and_zero_without_scores() {
        let scores = [0.6, 0.3, 0.1, 0.0];
        assert!((share(&scores, 0) - 0.6).abs() < 1e-6);
        assert_eq!(share(&scores, 3), 0.0);
        let halves: f32 = (0..4).map(|i| share(&[0.2, 0.2, 0.0, 0.0], i)).sum();
        assert!((halves - 1.0).abs() < 1e-6);
        assert_eq!(share(&[0.0; 10], 0), 0.0);
    }
}

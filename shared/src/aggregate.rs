//! The paper's multiframe rule (Jiménez & Marqués, §3.3): cut a song into 29.12 s frames and
//! turn the frame scores into one song-level decision.
//!
//! * A song longer than 29.12 s + 2 × 20 s: drop 20 s at each end, cut consecutive
//!   non-overlapping 29.12 s frames from the rest, drop a shorter tail.
//! * Any shorter song: one frame, centre-cropped to 29.12 s (start = (len − 349440) div 2, the
//!   reference README's crop) or zero-padded at the end.
//!
//! Song decision: argmax of the mean of the frame scores; majority vote is reported beside it.

use std::ops::Range;

use crate::config::{FramingConfig, CLIP_SAMPLES, SAMPLE_RATE};
use crate::model::argmax;

/// Sample ranges (at 12 kHz) of the frames the network sees for a signal of `len` samples.
/// A range shorter than [`CLIP_SAMPLES`] means the frame is zero-padded at the end.
#[allow(clippy::single_range_in_vec_init)] // one frame is a list of one range
pub fn frame_ranges(len: usize, cfg: &FramingConfig) -> Vec<Range<usize>> {
    let trim = (cfg.trim_seconds.max(0.0) * f64::from(SAMPLE_RATE)).round() as usize;
    if len > CLIP_SAMPLES + 2 * trim {
        let usable = len - 2 * trim;
        (0..usable / CLIP_SAMPLES)
            .map(|i| {
                let start = trim + i * CLIP_SAMPLES;
                start..start + CLIP_SAMPLES
            })
            .collect()
    } else if len > CLIP_SAMPLES {
        let start = (len - CLIP_SAMPLES) / 2;
        vec![start..start + CLIP_SAMPLES]
    } else {
        vec![0..len]
    }
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
        })
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
        assert_eq!(s.votes, vec![1, 2, 0]);
        assert!((s.mean[0] - 0.4).abs() < 1e-6);
        assert!(SongScores::from_frames(vec![]).is_none());
    }
}

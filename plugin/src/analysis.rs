//! The live form of the paper's analysis, fed 12 kHz samples as they arrive.
//!
//! Two results are kept apart:
//!
//! * **Current window** — the latest 29.12 s, scored every `hop` seconds (overlapping windows
//!   while playing). Each one also goes into the history strip.
//! * **Song average** — exactly the paper's multiframe rule (Jiménez & Marqués §3.3, as
//!   [`mgr_core::aggregate::frame_ranges`] implements it for `mgr-cli classify`) applied to the
//!   audio heard so far: up to 69.12 s, one centre-cropped (or zero-padded) 29.12 s frame;
//!   beyond, the non-overlapping 29.12 s frames that start 20 s in, each voting once 20 s more
//!   audio has followed it. Which frames those are is decided by the library's
//!   [`FrameCutter`], the streaming form of the rule `classify` uses, so when a song ends the
//!   song average is the CLI's answer for the same audio (up to the resampler, see
//!   `docs/verification.md`).
//!
//! Frames below the silence gate (window RMS) are shown but do not vote.

use std::time::Instant;

use mgr_core::aggregate::{FrameCutter, Framing, SongFrames};
use mgr_core::config::{CLIP_SAMPLES, SAMPLE_RATE};

use crate::state::{Current, HistoryEntry, SongResult, MAX_HISTORY};

/// Scores one 29.12 s clip at 12 kHz (shorter clips are zero-padded at the end).
pub trait Scorer {
    fn score(&mut self, clip: &[f32]) -> Result<Vec<f32>, String>;
}

/// Analysis settings read from the parameters before every step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Seconds between current-window updates.
    pub hop_s: f32,
    /// Windows quieter than this (RMS, dBFS) do not vote.
    pub gate_db: f32,
    /// The worker is behind the input (a faster-than-realtime render): score only the song
    /// frames, skip the "now" windows in between ([`Analysis::refresh`] shows the latest once
    /// the worker has caught up).
    pub catch_up: bool,
}

/// A long-song frame that has been scored, in frame order (`None` = below the gate or failed).
type Frame = Option<Vec<f32>>;

/// State of one song.
#[derive(Clone)]
pub struct Analysis {
    /// First 69.12 s of the song (for the centre-cropped short-song frame).
    head: Vec<f32>,
    /// The last 29.12 s, circular; `wpos` is the next write index.
    window: Vec<f32>,
    wpos: usize,
    /// Samples of this song so far, and which song frames they complete and decide.
    stream: FrameCutter,
    next_hop: usize,
    /// The window ending now is a long-song frame that has not been scored yet.
    frame_due: bool,
    frames: Vec<Frame>,
    /// Result for the short-song frame and the length it was computed at.
    short: Option<(usize, Option<Vec<f32>>)>,
    /// Saved song result carried over a state restore (sum of scores, frames).
    baseline: Option<(Vec<f32>, usize)>,
    pub history: Vec<HistoryEntry>,
    pub current: Option<Current>,
    pub last_inference_ms: Option<f32>,
    pub inferences: u64,
    /// "Now" windows skipped while catching up since the last one scored.
    stale: bool,
    /// Windows skipped while catching up, over the song.
    pub skipped: u64,
    /// Scratch clip, contiguous copy of the window.
    clip: Vec<f32>,
}

impl Default for Analysis {
    fn default() -> Self {
        Self::new()
    }
}

impl Analysis {
    pub fn new() -> Self {
        let framing = Framing::default();
        Self {
            head: Vec::with_capacity(framing.short_song()),
            window: vec![0.0; CLIP_SAMPLES],
            wpos: 0,
            stream: FrameCutter::new(framing),
            next_hop: CLIP_SAMPLES,
            frame_due: false,
            frames: Vec::new(),
            short: None,
            baseline: None,
            history: Vec::new(),
            current: None,
            last_inference_ms: None,
            inferences: 0,
            stale: false,
            skipped: 0,
            clip: vec![0.0; CLIP_SAMPLES],
        }
    }

    /// Start again from a saved result: it keeps counting, new frames add to it.
    pub fn restore(&mut self, song: Option<&SongResult>, history: Vec<HistoryEntry>) {
        *self = Self::new();
        self.baseline = song.filter(|s| s.frames > 0).map(|s| {
            let n = s.frames as f32;
            (s.mean.iter().map(|m| m * n).collect(), s.frames)
        });
        self.history = history;
    }

    /// Samples of this song so far (12 kHz).
    pub fn len(&self) -> usize {
        self.stream.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stream.is_empty()
    }

    /// Fill of the first window, 0..1.
    pub fn buffered(&self) -> f32 {
        (self.len() as f32 / CLIP_SAMPLES as f32).min(1.0)
    }

    /// Whether a song of the length heard so far gets the one short-song frame (≤ 69.12 s).
    fn is_short(&self) -> bool {
        self.len() <= self.stream.framing().short_song()
    }

    /// Feed 12 kHz samples; windows and frames are scored as their ends are reached.
    pub fn push(&mut self, mut y: &[f32], set: Settings, scorer: &mut dyn Scorer) {
        while !y.is_empty() {
            let next = self.next_hop.min(self.stream.next_complete_at());
            let take = (next - self.len()).min(y.len());
            let part = &y[..take];
            let short_song = self.stream.framing().short_song();
            if self.len() < short_song {
                let room = short_song - self.len();
                self.head.extend_from_slice(&part[..room.min(take)]);
            }
            let mut rest = part;
            while !rest.is_empty() {
                let n = (CLIP_SAMPLES - self.wpos).min(rest.len());
                self.window[self.wpos..self.wpos + n].copy_from_slice(&rest[..n]);
                self.wpos = (self.wpos + n) % CLIP_SAMPLES;
                rest = &rest[n..];
            }
            // At most one frame completes here: `take` stops at the next completion.
            self.frame_due = !self.stream.advance(take).is_empty();
            y = &y[take..];
            if self.len() == self.next_hop {
                if set.catch_up && !self.frame_due {
                    // Behind the input: this window would be stale before it is shown.
                    self.stale = true;
                    self.skipped += 1;
                } else {
                    self.score_window(set, scorer, !set.catch_up);
                }
                let hop = ((set.hop_s.max(0.5) * SAMPLE_RATE as f32) as usize).max(1);
                self.next_hop += hop;
            }
            if self.frame_due {
                self.score_frame(set, scorer);
            }
        }
    }

    /// Score the latest window if windows were skipped while catching up (call when the
    /// worker has drained its input), so that "now" shows the end of what was heard.
    pub fn refresh(&mut self, set: Settings, scorer: &mut dyn Scorer) {
        if self.stale && self.len() >= CLIP_SAMPLES {
            self.score_window(set, scorer, true);
        }
        self.stale = false;
    }

    /// Whether [`Analysis::refresh`] has work to do.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Bring the short-song frame up to date with everything heard (call when input pauses).
    pub fn settle(&mut self, set: Settings, scorer: &mut dyn Scorer) {
        if self.unsettled() {
            self.score_short(set, scorer);
        }
    }

    /// Whether [`Analysis::settle`] has work to do.
    pub fn unsettled(&self) -> bool {
        !self.is_empty() && self.is_short() && self.short.as_ref().map(|s| s.0) != Some(self.len())
    }

    fn copy_window(&mut self) {
        let (a, b) = self.window.split_at(self.wpos);
        self.clip[..b.len()].copy_from_slice(b);
        self.clip[b.len()..].copy_from_slice(a);
    }

    /// Score the window or the short-song frame: its scores and RMS level.
    fn run(&mut self, which: Clip, scorer: &mut dyn Scorer) -> Option<(Vec<f32>, f32)> {
        let t = Instant::now();
        let clip: &[f32] = match which {
            Clip::Window => {
                self.copy_window();
                &self.clip
            }
            Clip::Short => {
                let r = self.stream.framing().short_frame(self.len());
                &self.head[r]
            }
        };
        let rms = rms_db(clip);
        let out = scorer.score(clip).ok();
        self.inferences += 1;
        self.last_inference_ms = Some(t.elapsed().as_secs_f32() * 1e3);
        out.map(|s| (s, rms))
    }

    /// Score the window that ends here (the "now" result and a history cell); with `short`,
    /// also bring the short-song frame up to date (skipped while catching up: `settle` does it).
    fn score_window(&mut self, set: Settings, scorer: &mut dyn Scorer, short: bool) {
        self.stale = false;
        let mut short_done = false;
        if let Some((scores, rms)) = self.run(Clip::Window, scorer) {
            let silent = rms < set.gate_db;
            // The window that ends where a song frame ends is that frame: score it once.
            if self.frame_due {
                self.frames.push((!silent).then(|| scores.clone()));
                self.frame_due = false;
            }
            // The first full window is also the whole song so far: the short-song frame.
            if self.len() == CLIP_SAMPLES {
                self.short = Some((self.len(), (!silent).then(|| scores.clone())));
                short_done = true;
            }
            self.show(scores, rms, silent);
        }
        if short && self.is_short() && !short_done {
            self.score_short(set, scorer);
        }
    }

    fn score_frame(&mut self, set: Settings, scorer: &mut dyn Scorer) {
        self.frame_due = false;
        let Some((scores, rms)) = self.run(Clip::Window, scorer) else {
            self.frames.push(None);
            return;
        };
        let silent = rms < set.gate_db;
        self.frames.push((!silent).then(|| scores.clone()));
        if set.catch_up {
            // The frame is the only window scored while catching up: it is "now" and a cell of
            // the history.
            self.show(scores, rms, silent);
        }
    }

    /// The window that ends here becomes "now" and a cell of the history (the last
    /// [`MAX_HISTORY`] cells are kept).
    fn show(&mut self, scores: Vec<f32>, rms: f32, silent: bool) {
        let top = mgr_core::model::argmax(&scores);
        self.history.push(HistoryEntry {
            end_s: self.len() as f32 / SAMPLE_RATE as f32,
            top: top.filter(|_| !silent).map(|i| i as u16),
            score: top.map(|i| scores[i]).unwrap_or(0.0),
        });
        if self.history.len() > MAX_HISTORY {
            self.history.remove(0);
        }
        self.current = Some(Current {
            scores,
            end_s: self.len() as f64 / f64::from(SAMPLE_RATE),
            rms_db: rms,
            silent,
        });
    }

    fn score_short(&mut self, set: Settings, scorer: &mut dyn Scorer) {
        let scores = self
            .run(Clip::Short, scorer)
            .and_then(|(s, rms)| (rms >= set.gate_db).then_some(s));
        self.short = Some((self.len(), scores));
    }

    /// The song average so far (see the module docs), merged with a restored baseline.
    pub fn song(&self) -> Option<SongResult> {
        let mut sum: Option<Vec<f32>> = None;
        let mut n = 0usize;
        let mut add = |s: &[f32], k: usize| {
            let acc = sum.get_or_insert_with(|| vec![0.0; s.len()]);
            if acc.len() == s.len() {
                for (a, v) in acc.iter_mut().zip(s) {
                    *a += v;
                }
                n += k;
            }
        };
        if let Some((s, k)) = &self.baseline {
            add(s, *k);
        }
        match self.stream.song_frames() {
            SongFrames::Empty => {}
            SongFrames::Short(_) => {
                if let Some((_, Some(s))) = &self.short {
                    add(s, 1);
                }
            }
            SongFrames::Long(n) => {
                for s in self.frames.iter().take(n).flatten() {
                    add(s, 1);
                }
            }
        }
        let sum = sum?;
        (n > 0).then(|| SongResult {
            mean: sum.iter().map(|v| v / n as f32).collect(),
            frames: n,
        })
    }
}

#[derive(Clone, Copy)]
enum Clip {
    Window,
    Short,
}

/// RMS level in dBFS (−200 for digital silence).
pub fn rms_db(x: &[f32]) -> f32 {
    if x.is_empty() {
        return -200.0;
    }
    let ms = x.iter().map(|v| f64::from(*v) * f64::from(*v)).sum::<f64>() / x.len() as f64;
    (10.0 * (ms + 1e-20).log10()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use mgr_core::aggregate::{frame_ranges, SongScores};
    use mgr_core::config::FramingConfig;

    /// Fake network: "scores" that identify the clip (its first and last sample and length).
    struct Probe;
    impl Scorer for Probe {
        fn score(&mut self, clip: &[f32]) -> Result<Vec<f32>, String> {
            Ok(vec![clip[0], clip[clip.len() - 1], clip.len() as f32])
        }
    }

    const SET: Settings = Settings {
        hop_s: 5.0,
        gate_db: -200.0,
        catch_up: false,
    };

    /// A ramp whose values name their own position (exact in f32 up to 2^24).
    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| (i + 1) as f32).collect()
    }

    fn cli_answer(y: &[f32]) -> Vec<f32> {
        let frames = frame_ranges(y.len(), &FramingConfig::default())
            .into_iter()
            .map(|r| Probe.score(&y[r]).unwrap())
            .collect();
        SongScores::from_frames(frames).unwrap().mean
    }

    /// For short and long songs, fed in odd pieces, the song average is the CLI's frame mean.
    #[test]
    fn song_average_takes_the_frames_the_cli_takes() {
        for seconds in [10.0, 29.12, 31.27, 69.12, 69.2, 95.0, 240.0] {
            let n = (seconds * 12_000.0) as usize;
            let y = ramp(n);
            let mut a = Analysis::new();
            for piece in y.chunks(4_321) {
                a.push(piece, SET, &mut Probe);
            }
            a.settle(SET, &mut Probe);
            let song = a.song().expect("a result");
            assert_eq!(song.mean, cli_answer(&y), "{seconds} s");
        }
    }

    /// One forward pass per window, plus one for the short-song frame only where it differs
    /// from the window (after the first window and up to 69.12 s).
    #[test]
    fn forward_passes_are_not_repeated() {
        let mut a = Analysis::new();
        a.push(&ramp(CLIP_SAMPLES), SET, &mut Probe);
        assert_eq!(a.inferences, 1);
        a.push(&ramp(5 * 12_000), SET, &mut Probe);
        assert_eq!(a.inferences, 3);
    }

    /// Catching up (a render faster than the worker) scores only the song frames, yet the song
    /// average is the same; `refresh` then shows the latest window.
    #[test]
    fn catching_up_skips_windows_but_not_song_frames() {
        let fast = Settings {
            catch_up: true,
            ..SET
        };
        for seconds in [45.0, 69.2, 180.0] {
            let y = ramp((seconds * 12_000.0) as usize);
            let (mut normal, mut behind) = (Analysis::new(), Analysis::new());
            for piece in y.chunks(4_321) {
                normal.push(piece, SET, &mut Probe);
                behind.push(piece, fast, &mut Probe);
            }
            assert!(behind.inferences < normal.inferences, "{seconds} s");
            assert!(behind.skipped > 0 && behind.is_stale(), "{seconds} s");
            behind.refresh(SET, &mut Probe);
            assert!(!behind.is_stale());
            // The latest window is the last 29.12 s.
            let cur = behind.current.as_ref().unwrap();
            assert_eq!(cur.scores[1], y.len() as f32, "{seconds} s");
            normal.settle(SET, &mut Probe);
            behind.settle(SET, &mut Probe);
            assert_eq!(behind.song(), normal.song(), "{seconds} s");
            assert_eq!(behind.song().unwrap().mean, cli_answer(&y), "{seconds} s");
            println!(
                "{seconds} s: {} forward passes while catching up, {} in real time",
                behind.inferences, normal.inferences
            );
        }
    }

    #[test]
    fn windows_come_every_hop_after_the_first_full_window() {
        let mut a = Analysis::new();
        a.push(&ramp(CLIP_SAMPLES + 12_000 * 11), SET, &mut Probe);
        let ends: Vec<f32> = a.history.iter().map(|h| h.end_s).collect();
        assert_eq!(ends, [29.12, 34.12, 39.12]);
        let cur = a.current.as_ref().unwrap();
        // The latest window is the last 29.12 s.
        let end = CLIP_SAMPLES + 12_000 * 10;
        assert_eq!(
            cur.scores,
            [
                (end - CLIP_SAMPLES + 1) as f32,
                end as f32,
                CLIP_SAMPLES as f32
            ]
        );
    }

    #[test]
    fn silence_does_not_vote_and_restore_keeps_counting() {
        let set = Settings {
            hop_s: 5.0,
            gate_db: -60.0,
            catch_up: false,
        };
        let mut a = Analysis::new();
        a.push(&vec![0.0; CLIP_SAMPLES + 1_000], set, &mut Probe);
        a.settle(set, &mut Probe);
        assert!(a.song().is_none());
        assert_eq!(a.history[0].top, None);

        let saved = SongResult {
            mean: vec![1.0, 2.0, 3.0],
            frames: 2,
        };
        a.restore(Some(&saved), vec![]);
        assert_eq!(a.song(), Some(saved));
        a.push(&vec![0.5; 1_000], set, &mut Probe);
        a.settle(set, &mut Probe);
        let s = a.song().unwrap();
        assert_eq!(s.frames, 3);
        assert_eq!(
            s.mean,
            vec![(2.0 + 0.5) / 3.0, (4.0 + 0.5) / 3.0, (6.0 + 1000.0) / 3.0]
        );
    }
}

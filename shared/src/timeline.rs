//! A genre timeline of a recording (a DJ mix, a concert, an album in one file): the network's
//! scores of 29.12 s windows placed every `hop` seconds over the *whole* recording, and the
//! [`Segment`]s a person would name (runs of one genre). The first and last 20 s are included:
//! the paper's end trim is a rule for one song's decision, not for a timeline, and the song
//! decision beside the timeline is unchanged.
//!
//! Placement ([`window_ranges`]): windows start at 0, `hop`, `2·hop`, … and are one network
//! input long ([`CLIP_SAMPLES`]); the last one is the first that reaches the end of the
//! recording, zero-padded past it like a short song's frame. A recording shorter than one
//! window has one window.
//!
//! Segmentation ([`segments`]): the windows' labels are decoded by Viterbi with a switch
//! penalty ([`smooth`]), then segments shorter than a minimum length are joined to a
//! neighbour. Why not a median (mode) filter over the windows' top labels: on real music the
//! network's top label flickers between related genres from one window to the next
//! (country/rock, disco/pop, rock/pop), and a period-2 alternation stays an alternation under
//! every centred median or mode filter, whatever its width; the filter also ignores how clear
//! each window's choice was, and its width counts windows, so its effect changes with the hop.
//! The decoding weighs each window's scores by the time it stands for, so one penalty means
//! the same at every hop. On the data pack's 100 clips in one 50-minute file (ten 5-minute
//! genre blocks in label order), the windows' top labels form 39 runs at hop 29.12 s and 57
//! at hop 10 s; the defaults give 13 and 12 segments, while a mode filter of width 3, 5 or 7
//! leaves 21, 11, 11 runs at 29.12 s but 43, 35, 26 at 10 s (docs/library.md, "Genre
//! timeline"; `tests/cli_timeline.rs` prints them).

use std::ops::Range;

use crate::aggregate::share;
/// One window of a timeline (defined beside [`crate::aggregate::SongScores`], which carries it).
pub use crate::aggregate::Window;
use crate::config::{CLIP_SAMPLES, FRAME_SECONDS, SAMPLE_RATE};
use crate::model::argmax;

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

impl Window {
    /// The window's top label (the index of its highest score).
    pub fn top(&self) -> usize {
        argmax(&self.scores).unwrap_or(0)
    }
}

/// How a timeline's windows are smoothed into [`Segment`]s.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentConfig {
    /// The cost of one change of label in the Viterbi decoding ([`smooth`]), in natural-log
    /// units of a window's score share: a change is kept only where the windows it relabels
    /// favour the new label over the old one by more than this in total (for a one-window
    /// change of mind inside a run, by more than twice this, since it leaves and comes back).
    /// 0 keeps every window's own top label.
    pub switch_penalty: f64,
    /// Seconds: a segment shorter than this is merged into a neighbour ([`segments`]); 0
    /// keeps every segment.
    pub min_segment: f64,
}

impl Default for SegmentConfig {
    /// `switch_penalty` 3 (e³ ≈ 20: a change costs what a factor of 20 in one window's share
    /// ratio is worth): on the 50-minute file of the pack's clips (see the module
    /// documentation), 0–1 keep the flicker between related genres (16 and 15 segments at
    /// hop 29.12 s), 2 keeps some of it at hop 10 s (13), 3 keeps only the runs of a minute or more that the
    /// network hears as another genre (pop inside the rock block, classical inside the jazz
    /// block at hop 10 s), and 4–8 start to absorb those too. `min_segment` 45 s: at the
    /// default hop a segment needs two windows (58.24 s), so no single window is a segment
    /// of its own (docs/library.md, "Genre timeline").
    fn default() -> Self {
        Self {
            switch_penalty: 3.0,
            min_segment: 45.0,
        }
    }
}

impl SegmentConfig {
    /// `tag`'s defaults: `switch_penalty` 1, `min_segment` as [`SegmentConfig::default`]. The
    /// MSD taggers' 50 scores are independent sigmoids, not one distribution, and a window's
    /// top tags lie close together: on the pack's jazz piano and dubstep pieces, twice each in
    /// one file, the windows' top tag scores 1.0–1.9 times the next one (electronic for the
    /// piano, Hip-Hop for the dubstep), so the change between the songs is worth about 2.2 in
    /// evidence, less than [`SegmentConfig::default`]'s penalty of 3, which joins the two
    /// songs into one segment (`tests/cli_timeline.rs` checks both).
    pub fn tags() -> Self {
        Self {
            switch_penalty: 1.0,
            ..Self::default()
        }
    }
}

/// Everything a run's timeline is made with: where the windows go and how they become
/// segments. A result file records it, so that results made with other settings (or without a
/// timeline) are never mixed into it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct TimelineSettings {
    /// Where the windows go.
    pub windows: TimelineConfig,
    /// How the windows' labels become segments.
    pub segments: SegmentConfig,
}

impl TimelineSettings {
    /// For messages: `hop 29.12 s, switch penalty 3, min segment 45 s`.
    pub fn describe(&self) -> String {
        format!(
            "hop {} s, switch penalty {}, min segment {} s",
            self.windows.hop, self.segments.switch_penalty, self.segments.min_segment
        )
    }

    /// One field of a result file: `hop=29.12;switch_penalty=3;min_segment=45` (each number
    /// the shortest text that reads back as the same `f64`).
    pub fn key(&self) -> String {
        format!(
            "hop={};switch_penalty={};min_segment={}",
            self.windows.hop, self.segments.switch_penalty, self.segments.min_segment
        )
    }
}

/// One run of a single label over consecutive windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Seconds from the start of the recording.
    pub start: f64,
    /// Seconds; the last segment ends where the recording does.
    pub end: f64,
    /// The decoded label (an index into the model's labels).
    pub label: usize,
    /// Element-wise mean of its windows' scores.
    pub scores: Vec<f32>,
    /// Its windows (indices into the timeline).
    pub windows: Range<usize>,
}

/// The smallest score share a window's evidence takes (`ln 1e-4 ≈ −9.2`): a label the network
/// gave (almost) nothing counts as very unlikely, not as impossible, so one window can never
/// outweigh any number of others.
const SHARE_FLOOR: f64 = 1e-4;

/// Each window's evidence for each label: `w · ln(share)`, the log of the label's share of the
/// window's scores ([`share`]; floored at [`SHARE_FLOOR`]), weighted by the time the window
/// stands for: `w = min(1, (its edges' distance) / 29.12 s)` (see [`edges`]). Overlapping
/// windows hear the same audio more than once, so each counts for the audio it adds, and the
/// switch penalty means the same at every hop; the last window counts for the part of it that
/// is in the recording, not its zero padding.
fn evidence(windows: &[Window]) -> Vec<Vec<f64>> {
    let edges = edges(windows);
    let n_labels = windows.first().map_or(0, |w| w.scores.len());
    windows
        .iter()
        .enumerate()
        .map(|(t, win)| {
            let w = ((edges[t + 1] - edges[t]) / FRAME_SECONDS).clamp(0.0, 1.0);
            (0..n_labels)
                .map(|k| {
                    let s = if k < win.scores.len() {
                        f64::from(share(&win.scores, k))
                    } else {
                        0.0
                    };
                    let s = if s.is_finite() {
                        s.max(SHARE_FLOOR)
                    } else {
                        SHARE_FLOOR
                    };
                    w * s.ln()
                })
                .collect()
        })
        .collect()
}

/// The label of each window after smoothing: the sequence that maximises the summed evidence
/// of the windows (see [`evidence`]) minus `switch_penalty` per change of label, found by the
/// Viterbi algorithm (A. J. Viterbi, "Error bounds for convolutional codes and an
/// asymptotically optimum decoding algorithm", IEEE Trans. Information Theory 13(2), 1967;
/// L. R. Rabiner, "A tutorial on hidden Markov models and selected applications in speech
/// recognition", Proc. IEEE 77(2), 1989, §III-B). It is the most likely state sequence of an
/// HMM with one state per label, the windows' score shares as emission likelihoods and a
/// transition matrix that stays with probability `p` and moves to each other label with
/// probability `q`, where `switch_penalty = ln(p / q)`. Ties keep the current label, then go
/// to the lower index. O(windows × labels).
pub fn smooth(windows: &[Window], switch_penalty: f64) -> Vec<usize> {
    viterbi(&evidence(windows), switch_penalty.max(0.0))
}

fn viterbi(evidence: &[Vec<f64>], penalty: f64) -> Vec<usize> {
    let Some(first) = evidence.first() else {
        return Vec::new();
    };
    let n = first.len();
    if n == 0 {
        return vec![0; evidence.len()];
    }
    // best_of(v): the first index of the largest value.
    let best_of = |v: &[f64]| {
        v.iter()
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |(bi, bv), (i, &x)| {
                if x > bv {
                    (i, x)
                } else {
                    (bi, bv)
                }
            })
    };
    let mut score = first.clone();
    let mut next = vec![0.0; n];
    // from[t][k]: the label at window t − 1 on the best path that has label k at window t.
    let mut from = vec![Vec::new(); evidence.len()];
    for (t, e) in evidence.iter().enumerate().skip(1) {
        let (best, best_score) = best_of(&score);
        let mut back = Vec::with_capacity(n);
        for k in 0..n {
            let stay = score[k];
            let switch = best_score - penalty;
            let (prev, s) = if stay >= switch {
                (k, stay)
            } else {
                (best, switch)
            };
            back.push(prev);
            next[k] = s + e[k];
        }
        from[t] = back;
        std::mem::swap(&mut score, &mut next);
    }
    let mut labels = vec![0; evidence.len()];
    let mut k = best_of(&score).0;
    for t in (0..evidence.len()).rev() {
        labels[t] = k;
        if t > 0 {
            k = from[t][k];
        }
    }
    labels
}

/// Where each window takes over from the one before: `windows.len() + 1` times, from the
/// first window's start (0) to the recording's end. Between windows `j − 1` and `j` it is the
/// middle between their centres: window `j`'s start when windows do not overlap (the default
/// hop), half the overlap later when they do (a window is labelled by the majority of what it
/// hears, so a change of genre shows first in the window whose centre has passed it).
/// Segments begin and end on these times, and `--plot` draws each window's cell between them.
pub fn edges(windows: &[Window]) -> Vec<f64> {
    let Some(last) = windows.last() else {
        return Vec::new();
    };
    let mut edges = Vec::with_capacity(windows.len() + 1);
    edges.push(windows[0].start);
    for pair in windows.windows(2) {
        let overlap = pair[0].start + FRAME_SECONDS - pair[1].start;
        let t = if overlap > 1e-6 {
            pair[1].start + overlap / 2.0
        } else {
            pair[1].start
        };
        edges.push(t.min(last.end));
    }
    edges.push(last.end);
    edges
}

/// Runs of one label: (windows, label).
fn runs(labels: &[usize]) -> Vec<(Range<usize>, usize)> {
    let mut out: Vec<(Range<usize>, usize)> = Vec::new();
    for (t, &l) in labels.iter().enumerate() {
        match out.last_mut() {
            Some((r, last)) if *last == l => r.end = t + 1,
            _ => out.push((t..t + 1, l)),
        }
    }
    out
}

/// Join neighbouring runs of the same label.
fn coalesce(runs: &mut Vec<(Range<usize>, usize)>) {
    let mut out: Vec<(Range<usize>, usize)> = Vec::with_capacity(runs.len());
    for (r, l) in runs.drain(..) {
        match out.last_mut() {
            Some((last, ll)) if *ll == l => last.end = r.end,
            _ => out.push((r, l)),
        }
    }
    *runs = out;
}

/// Summed evidence of windows `r` for each label.
struct Fit<'a>(&'a [Vec<f64>]);

impl Fit<'_> {
    fn of(&self, r: &Range<usize>, label: usize) -> f64 {
        self.0[r.clone()].iter().map(|e| e[label]).sum()
    }

    /// The label that fits windows `r` best (the lowest index of equals), and its fit.
    fn best(&self, r: &Range<usize>) -> (usize, f64) {
        let n = self.0.first().map_or(0, Vec::len);
        (0..n)
            .map(|l| (l, self.of(r, l)))
            .fold((0, f64::NEG_INFINITY), |b, c| if c.1 > b.1 { c } else { b })
    }
}

/// The segments of a timeline: [`smooth`] with `cfg.switch_penalty`, then runs shorter than
/// `cfg.min_segment` seconds joined to a neighbour, shortest first (ties: the earliest), so
/// that the result does not depend on reading direction. A short run joins the neighbour with
/// which it loses the least fit: the joined run takes the one label that fits all its windows
/// best (the highest summed evidence, as the decoding would give it), and the loss is the two
/// runs' fit before minus the joined run's; on a tie it joins the longer neighbour, then the
/// earlier one. This is bottom-up merging (E. Keogh, S. Chu, D. Hart, M. Pazzani, "An online
/// algorithm for segmenting time series", ICDM 2001, §2.3) with the decoding's own measure of
/// fit. A recording that is one short run stays one segment. Segments begin and end on
/// [`edges`]: the first starts at 0 and the last ends with the recording.
pub fn segments(windows: &[Window], cfg: &SegmentConfig) -> Vec<Segment> {
    let evidence = evidence(windows);
    let fit = Fit(&evidence);
    let mut runs = runs(&viterbi(&evidence, cfg.switch_penalty.max(0.0)));
    let edges = edges(windows);
    let length = |r: &Range<usize>| edges[r.end] - edges[r.start];
    while runs.len() > 1 {
        let short = runs
            .iter()
            .enumerate()
            .filter(|(_, (r, _))| length(r) < cfg.min_segment)
            .min_by(|a, b| length(&a.1 .0).total_cmp(&length(&b.1 .0)))
            .map(|(i, _)| i);
        let Some(i) = short else { break };
        // For each neighbour j: (loss of fit, its length, the joined run and its label).
        let join = |j: usize| {
            let (lo, hi) = (i.min(j), i.max(j));
            let joined = runs[lo].0.start..runs[hi].0.end;
            let before = fit.of(&runs[i].0, runs[i].1) + fit.of(&runs[j].0, runs[j].1);
            let (label, after) = fit.best(&joined);
            (before - after, length(&runs[j].0), lo, joined, label)
        };
        let left = i.checked_sub(1).map(join);
        let right = (i + 1 < runs.len()).then(|| join(i + 1));
        let chosen = match (left, right) {
            (Some(l), Some(r)) => {
                // The right one only for a smaller loss, or an equal loss and a longer run.
                if r.0 < l.0 || (r.0 == l.0 && r.1 > l.1) {
                    r
                } else {
                    l
                }
            }
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => break,
        };
        let (_, _, lo, joined, label) = chosen;
        runs.splice(lo..lo + 2, [(joined, label)]);
        coalesce(&mut runs);
    }
    runs.into_iter()
        .map(|(r, label)| Segment {
            start: edges[r.start],
            end: edges[r.end],
            label,
            scores: mean(&windows[r.clone()]),
            windows: r,
        })
        .collect()
}

/// Element-wise mean of the windows' scores.
fn mean(windows: &[Window]) -> Vec<f32> {
    let n_labels = windows.first().map_or(0, |w| w.scores.len());
    let mut sum = vec![0f64; n_labels];
    for w in windows {
        for (s, v) in sum.iter_mut().zip(&w.scores) {
            *s += f64::from(*v);
        }
    }
    let n = windows.len().max(1) as f64;
    sum.into_iter().map(|s| (s / n) as f32).collect()
}

/// One colour per GTZAN genre, in label order (blues, classical, country, disco, hiphop,
/// jazz, metal, pop, reggae, rock), as sRGB bytes: the plugin's history and legend and
/// `classify --plot` draw labels in these colours; a model with more labels cycles through them.
pub const PALETTE: [[u8; 3]; 10] = [
    [0x4e, 0x79, 0xa7], // blues
    [0xb0, 0x7a, 0xa1], // classical
    [0xe1, 0x9d, 0x4a], // country
    [0xff, 0x5f, 0xa2], // disco
    [0xf2, 0xcf, 0x4a], // hiphop
    [0x59, 0xa1, 0x4f], // jazz
    [0xd6, 0x45, 0x45], // metal
    [0x9c, 0x6a, 0xde], // pop
    [0x3c, 0xc2, 0xa0], // reggae
    [0xff, 0x8c, 0x42], // rock
];

/// The colour of label `i` ([`PALETTE`], cycled).
pub fn colour(i: usize) -> [u8; 3] {
    PALETTE[i % PALETTE.len()]
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

    const N: usize = 10;

    /// Windows at `hop` samples over a recording they cover exactly, window `t` with top
    /// label `tops[t].0` at share `tops[t].1` and the rest shared evenly by the other labels
    /// (`tops[t].2`, if given, takes half of the rest).
    fn windows_at(hop: usize, tops: &[(usize, f32, Option<usize>)]) -> Vec<Window> {
        let len = (tops.len() - 1) * hop + CLIP_SAMPLES;
        let ranges = window_ranges(len, hop);
        assert_eq!(ranges.len(), tops.len());
        ranges
            .iter()
            .zip(tops)
            .map(|(r, &(top, p, second))| {
                let rest = 1.0 - p;
                let mut scores = vec![rest / (N - 1) as f32; N];
                if let Some(s) = second {
                    scores = vec![rest / 2.0 / (N - 2) as f32; N];
                    scores[s] = rest / 2.0;
                }
                scores[top] = p;
                window(r, len, scores)
            })
            .collect()
    }

    fn windows(tops: &[(usize, f32, Option<usize>)]) -> Vec<Window> {
        windows_at(CLIP_SAMPLES, tops)
    }

    /// `n` windows of `label` at share `p`.
    fn run(label: usize, n: usize, p: f32) -> Vec<(usize, f32, Option<usize>)> {
        vec![(label, p, None); n]
    }

    /// (label, first window, end window) of each segment.
    fn shape(segments: &[Segment]) -> Vec<(usize, usize, usize)> {
        segments
            .iter()
            .map(|g| (g.label, g.windows.start, g.windows.end))
            .collect()
    }

    fn only(switch_penalty: f64) -> SegmentConfig {
        SegmentConfig {
            switch_penalty,
            min_segment: 0.0,
        }
    }

    #[test]
    fn a_one_window_blip_makes_no_segment() {
        let cfg = SegmentConfig::default();
        // A weak blip: the decoding alone absorbs it.
        let mut tops = run(2, 5, 0.5);
        tops.push((7, 0.5, Some(2)));
        tops.extend(run(2, 5, 0.5));
        let w = windows(&tops);
        assert_eq!(smooth(&w, cfg.switch_penalty), vec![2; 11]);
        assert_eq!(shape(&segments(&w, &cfg)), [(2, 0, 11)]);
        // Without smoothing it is a segment of its own: the test can fail.
        assert_eq!(shape(&segments(&w, &only(0.0))).len(), 3);
        // A blip the network is sure of (share 0.99 against 1e-4 for the run's label: more
        // evidence than two changes cost) survives the decoding; the minimum length then
        // joins it to the run.
        tops[5] = (7, 0.99, None);
        let w = windows(&tops);
        assert_eq!(shape(&segments(&w, &only(3.0))).len(), 3);
        assert_eq!(shape(&segments(&w, &cfg)), [(2, 0, 11)]);
        // At either end too (one change only).
        let mut tops = run(4, 6, 0.6);
        tops.push((1, 0.99, None));
        assert_eq!(shape(&segments(&windows(&tops), &cfg)), [(4, 0, 7)]);
    }

    #[test]
    fn boundaries_land_on_window_edges() {
        let mut tops = run(1, 5, 0.7);
        tops.extend(run(5, 4, 0.6));
        tops.extend(run(9, 3, 0.8));
        let w = windows(&tops);
        let g = segments(&w, &SegmentConfig::default());
        assert_eq!(shape(&g), [(1, 0, 5), (5, 5, 9), (9, 9, 12)]);
        assert_eq!(g[0].start, 0.0);
        assert_eq!(g[0].end, w[5].start);
        assert_eq!(g[1].start, w[5].start);
        assert_eq!(g[1].end, w[9].start);
        assert_eq!(g[2].end, w[11].end);
        assert_eq!(g[1].start, 5.0 * FRAME_SECONDS);
        // Mean scores of the segment's windows.
        assert!((g[1].scores[5] - 0.6).abs() < 1e-6);
        assert!((g[1].scores[0] - 0.4 / 9.0).abs() < 1e-6);
        // Overlapping windows (hop 14.56 s): the middle between the centres of the last
        // window of one label and the first of the next, half the overlap after its start.
        let half = CLIP_SAMPLES / 2;
        let mut tops = run(1, 8, 0.7);
        tops.extend(run(5, 8, 0.7));
        let w = windows_at(half, &tops);
        let g = segments(&w, &SegmentConfig::default());
        assert_eq!(shape(&g), [(1, 0, 8), (5, 8, 16)]);
        let want = w[8].start + (w[7].start + FRAME_SECONDS - w[8].start) / 2.0;
        assert!((g[1].start - want).abs() < 1e-9);
        assert!((g[1].start - (8.0 * 14.56 + 7.28)).abs() < 1e-9);
        assert_eq!(g[0].end, g[1].start);
        // The same change at both hops is found at the same time (within the half hop that
        // the finer grid can resolve).
        let coarse = segments(
            &windows(&[run(1, 4, 0.7), run(5, 4, 0.7)].concat()),
            &only(3.0),
        );
        let fine = segments(
            &windows_at(half, &[run(1, 8, 0.7), run(5, 7, 0.7)].concat()),
            &only(3.0),
        );
        assert!((coarse[1].start - fine[1].start).abs() <= 14.56 / 2.0 + 1e-9);
    }

    #[test]
    fn alternation_between_two_close_labels_is_one_segment() {
        // Rock and metal taking turns at nearly equal shares: a period-2 pattern that every
        // centred median filter leaves as it is.
        let tops: Vec<_> = (0..12)
            .map(|t| {
                if t % 2 == 0 {
                    (9, 0.45, Some(6))
                } else {
                    (6, 0.45, Some(9))
                }
            })
            .collect();
        let w = windows(&tops);
        let labels = smooth(&w, 3.0);
        assert!(labels.iter().all(|&l| l == labels[0]), "{labels:?}");
        assert_eq!(segments(&w, &SegmentConfig::default()).len(), 1);
        // Unsmoothed, every window is its own run.
        assert_eq!(
            smooth(&w, 0.0),
            w.iter().map(Window::top).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_short_run_joins_the_neighbour_it_fits() {
        // blues ×4, one confident classical window whose runner-up is jazz, jazz ×4.
        let mut tops = run(0, 4, 0.7);
        tops.push((1, 0.99, Some(5)));
        tops.extend(run(5, 4, 0.7));
        let w = windows(&tops);
        let cfg = SegmentConfig::default();
        assert_eq!(shape(&segments(&w, &only(3.0))).len(), 3);
        assert_eq!(shape(&segments(&w, &cfg)), [(0, 0, 4), (5, 4, 9)]);
        // Runner-up blues: it joins the blues run.
        tops[4] = (1, 0.99, Some(0));
        assert_eq!(
            shape(&segments(&windows(&tops), &cfg)),
            [(0, 0, 5), (5, 5, 9)]
        );
        // No preference: the longer neighbour.
        tops[4] = (1, 0.99, None);
        tops.push((5, 0.7, None));
        assert_eq!(
            shape(&segments(&windows(&tops), &cfg)),
            [(0, 0, 4), (5, 4, 10)]
        );
        // The shortest run goes first, and a joined run takes the label that fits all of it:
        // pop ×1 and rock ×1 beside each other inside a long country run become country.
        let mut tops = run(2, 4, 0.6);
        tops.push((7, 0.99, None));
        tops.push((9, 0.99, None));
        tops.extend(run(2, 4, 0.6));
        let g = segments(&windows(&tops), &cfg);
        assert_eq!(shape(&g), [(2, 0, 10)]);
        // A minimum longer than the recording: one segment, with its best label.
        let mut tops = run(3, 2, 0.6);
        tops.extend(run(8, 3, 0.6));
        let long = SegmentConfig {
            min_segment: 1e6,
            ..cfg
        };
        assert_eq!(shape(&segments(&windows(&tops), &long)), [(8, 0, 5)]);
    }

    #[test]
    fn segments_tile_the_recording() {
        assert!(segments(&[], &SegmentConfig::default()).is_empty());
        assert!(edges(&[]).is_empty());
        // One short window: one segment over the recording.
        let len = 6 * 12_000;
        let w = vec![window(&(0..CLIP_SAMPLES), len, vec![0.1, 0.7, 0.2])];
        let g = segments(&w, &SegmentConfig::default());
        assert_eq!(g.len(), 1);
        assert_eq!((g[0].start, g[0].end, g[0].label), (0.0, 6.0, 1));
        // Any labels, any settings: contiguous, from 0 to the end, each its label's run.
        let tops: Vec<_> = (0..40)
            .map(|t| ((t * 7 + t / 3) % N, 0.3 + (t % 5) as f32 * 0.1, None))
            .collect();
        for hop in [CLIP_SAMPLES, CLIP_SAMPLES / 3] {
            let w = windows_at(hop, &tops);
            for penalty in [0.0, 1.0, 3.0, 10.0] {
                for min_segment in [0.0, 45.0, 200.0] {
                    let cfg = SegmentConfig {
                        switch_penalty: penalty,
                        min_segment,
                    };
                    let g = segments(&w, &cfg);
                    assert_eq!(g[0].start, 0.0);
                    assert_eq!(g.last().unwrap().end, w.last().unwrap().end);
                    assert_eq!(g[0].windows.start, 0);
                    assert_eq!(g.last().unwrap().windows.end, w.len());
                    for pair in g.windows(2) {
                        assert_eq!(pair[0].end, pair[1].start);
                        assert_eq!(pair[0].windows.end, pair[1].windows.start);
                        assert_ne!(pair[0].label, pair[1].label);
                    }
                    if g.len() > 1 {
                        assert!(g.iter().all(|s| s.end - s.start >= min_segment));
                    }
                }
            }
        }
    }

    #[test]
    fn the_plugin_palette_is_ten_distinct_colours() {
        let mut p = PALETTE.to_vec();
        p.sort();
        p.dedup();
        assert_eq!(p.len(), 10);
        assert_eq!(colour(13), PALETTE[3]);
    }
}

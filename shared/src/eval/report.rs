//! What an evaluation found, as plain data: the outcome of every test song under every system,
//! and the [`EvalReport`] drawn from them (serialisable; the CLI renders it as text, JSON or a
//! PNG).

use serde::Serialize;
use serde_json::{Map, Value};

use super::metrics::{mean_std, Confusion};
use crate::aggregate::{Decision, SongScores};
use crate::model::argmax;

/// The three levels a system is scored at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Every 29.12 s frame on its own.
    Frame,
    /// Songs by the mean of their frames' scores (the paper's rule).
    SongMean,
    /// Songs by majority vote over frames.
    SongVote,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Frame, Level::SongMean, Level::SongVote];

    pub fn name(self) -> &'static str {
        match self {
            Self::Frame => "frame",
            Self::SongMean => "song-mean",
            Self::SongVote => "song-vote",
        }
    }
}

/// One test song under one system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Index of the clip in the data set.
    pub clip: usize,
    pub truth: usize,
    /// Top class of every frame.
    pub frames: Vec<usize>,
    /// Song decisions.
    pub mean: usize,
    pub vote: usize,
}

impl Outcome {
    /// From the scores of a song's frames (`None` without frames).
    pub fn from_scores(clip: usize, truth: usize, frames: Vec<Vec<f32>>) -> Option<Self> {
        let tops = frames.iter().filter_map(|f| argmax(f)).collect();
        let song = SongScores::from_frames(frames)?;
        Some(Self {
            clip,
            truth,
            frames: tops,
            mean: song.decide(Decision::Mean),
            vote: song.decide(Decision::Vote),
        })
    }

    fn add_to(&self, level: Level, m: &mut Confusion) {
        match level {
            Level::Frame => {
                for &p in &self.frames {
                    m.add(self.truth, p);
                }
            }
            Level::SongMean => m.add(self.truth, self.mean),
            Level::SongVote => m.add(self.truth, self.vote),
        }
    }
}

/// A system's outcomes, fold by fold.
#[derive(Debug, Clone)]
pub struct SystemRun {
    pub name: String,
    pub folds: Vec<Vec<Outcome>>,
}

impl SystemRun {
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            folds: Vec::new(),
        }
    }

    /// Confusion of fold `k` at `level` over the songs `keep` accepts.
    pub fn confusion(
        &self,
        k: usize,
        level: Level,
        labels: &[String],
        keep: &dyn Fn(&Outcome) -> bool,
    ) -> Confusion {
        let mut m = Confusion::new(labels);
        for o in self.folds[k].iter().filter(|o| keep(o)) {
            o.add_to(level, &mut m);
        }
        m
    }

    /// All folds pooled.
    pub fn pooled(
        &self,
        level: Level,
        labels: &[String],
        keep: &dyn Fn(&Outcome) -> bool,
    ) -> Confusion {
        let mut m = Confusion::new(labels);
        for k in 0..self.folds.len() {
            m.merge(&self.confusion(k, level, labels, keep));
        }
        m
    }

    /// The report of this system at `level` over the songs `keep` accepts. Mean ± std are over
    /// the folds that have such songs.
    pub fn level_report(
        &self,
        level: Level,
        labels: &[String],
        split: &str,
        keep: &dyn Fn(&Outcome) -> bool,
    ) -> LevelReport {
        let folds: Vec<FoldScore> = (0..self.folds.len())
            .map(|k| {
                let c = self.confusion(k, level, labels, keep);
                FoldScore {
                    accuracy: c.accuracy(),
                    macro_f1: c.macro_f1(),
                    n: c.total(),
                }
            })
            .collect();
        let used: Vec<&FoldScore> = folds.iter().filter(|f| f.n > 0).collect();
        let (am, asd) = mean_std(&used.iter().map(|f| f.accuracy).collect::<Vec<_>>());
        let (fm, fsd) = mean_std(&used.iter().map(|f| f.macro_f1).collect::<Vec<_>>());
        let m = self.pooled(level, labels, keep);
        let mut per_class = Map::new();
        for (l, c) in labels.iter().zip(m.per_class()) {
            per_class.insert(
                l.clone(),
                serde_json::json!({
                    "precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support
                }),
            );
        }
        LevelReport {
            accuracy: am,
            accuracy_std: asd,
            macro_f1: fm,
            macro_f1_std: fsd,
            pooled_accuracy: m.accuracy(),
            pooled_macro_f1: m.macro_f1(),
            labels: labels.to_vec(),
            n: m.total(),
            confusion: m.counts,
            per_class,
            split: split.to_string(),
            level,
            system: self.name.clone(),
            folds,
        }
    }
}

/// Accuracy and macro-F1 of one fold.
#[derive(Debug, Clone, Serialize)]
pub struct FoldScore {
    pub accuracy: f64,
    pub macro_f1: f64,
    pub n: usize,
}

/// One system at one level: mean ± sample std over folds, the pooled confusion and per-class
/// metrics.
#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    pub accuracy: f64,
    pub accuracy_std: f64,
    pub macro_f1: f64,
    pub macro_f1_std: f64,
    /// Over all test songs of all folds at once.
    pub pooled_accuracy: f64,
    pub pooled_macro_f1: f64,
    pub labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
    pub per_class: Map<String, Value>,
    pub n: usize,
    pub split: String,
    pub level: Level,
    pub system: String,
    pub folds: Vec<FoldScore>,
}

impl LevelReport {
    /// The pooled confusion as a matrix again (for plots).
    pub fn confusion_matrix(&self) -> Confusion {
        Confusion {
            labels: self.labels.clone(),
            counts: self.confusion.clone(),
        }
    }
}

/// Sizes of one fold and how many of its test songs have an artist heard in training.
#[derive(Debug, Clone, Serialize)]
pub struct FoldInfo {
    pub train: usize,
    pub valid: usize,
    pub test: usize,
    /// Test songs whose (known) artist also has a song in this fold's training or validation
    /// part (`None` without training — a fixed model's training data is not ours to check — or
    /// without an artist index).
    pub test_songs_with_artist_in_training: Option<usize>,
}

/// A genre that cannot be tested on unheard artists (all its songs are one artist group).
#[derive(Debug, Clone, Serialize)]
pub struct SingleArtistGenre {
    pub genre: String,
    pub group: String,
    pub test_songs: usize,
    /// Test songs of the genre whose fold had the genre in its training part.
    pub test_songs_trained_on_genre: usize,
    /// Song-level accuracy (mean rule) of every system on the genre's test songs.
    pub accuracy: Map<String, Value>,
}

/// Songs of the genres every split can test on unheard artists, per system: the number to
/// compare systems by.
#[derive(Debug, Clone, Serialize)]
pub struct Headline {
    /// Genres with songs of two or more artist groups.
    pub genres: Vec<String>,
    /// The single-artist genres left out (reported in `single_artist_genres`).
    pub excluded: Vec<String>,
    /// Song level (mean rule), restricted to `genres`.
    pub systems: Vec<LevelReport>,
}

/// One test song: where it was tested and what every system decided (song level, mean rule).
#[derive(Debug, Clone, Serialize)]
pub struct SongPrediction {
    pub clip: String,
    pub path: String,
    pub genre: String,
    /// Artist group (`artist:<name>`, `unidentified:<genre>` or `clip:<name>`).
    pub group: String,
    pub fold: usize,
    /// System name → predicted genre.
    pub predicted: Map<String, Value>,
}

/// A file that could not be used.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub error: String,
}

/// One training run of a fold (with `--train`).
#[derive(Debug, Clone, Serialize)]
pub struct FoldTraining {
    pub examples: usize,
    pub valid_songs: usize,
    pub epochs: Option<usize>,
    pub best_epoch: Option<usize>,
    pub seconds: f64,
}

/// Everything `eval gtzan` reports. Serialised, its top level is the main system at song level
/// (mean rule), as before; the rest sits beside it.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    #[serde(flatten)]
    pub main: LevelReport,
    /// The main system at every level (JSON: an object keyed by level).
    #[serde(serialize_with = "by_level")]
    pub levels: Vec<LevelReport>,
    /// Other systems (MFCC baselines, the published CRNN) at song level, mean rule (JSON: an
    /// object keyed by system).
    #[serde(serialize_with = "by_system")]
    pub baselines: Vec<LevelReport>,
    pub headline: Headline,
    pub single_artist_genres: Vec<SingleArtistGenre>,
    /// `artist` (clips grouped by Sturm's index) or `clip` (no artist information).
    pub grouping: String,
    pub artist_index: Option<String>,
    /// Summed over folds; 0 for artist-grouped folds; `None` without training or artist index.
    pub test_songs_with_artist_in_training: Option<usize>,
    pub fold_info: Vec<FoldInfo>,
    pub training: Vec<FoldTraining>,
    pub data: Vec<String>,
    pub model: String,
    pub songs: usize,
    pub frames: usize,
    pub wall_seconds: f64,
    pub extract_seconds: f64,
    pub missing_from_folder: usize,
    pub unlisted: usize,
    pub skipped: Vec<Skipped>,
    /// Every test song, in data order.
    pub predictions: Vec<SongPrediction>,
}

fn keyed<S: serde::Serializer>(
    v: &[LevelReport],
    key: impl Fn(&LevelReport) -> &str,
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for l in v {
        m.serialize_entry(key(l), l)?;
    }
    m.end()
}

fn by_level<S: serde::Serializer>(v: &[LevelReport], s: S) -> Result<S::Ok, S::Error> {
    keyed(v, |l| l.level.name(), s)
}

fn by_system<S: serde::Serializer>(v: &[LevelReport], s: S) -> Result<S::Ok, S::Error> {
    keyed(v, |l| &l.system, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_pool_into_levels_and_subsets() {
        let labels: Vec<String> = ["a", "b"].iter().map(|s| s.to_string()).collect();
        let mut run = SystemRun::new("sys");
        let o = |clip, truth, frames: Vec<Vec<f32>>| Outcome::from_scores(clip, truth, frames);
        run.folds.push(vec![
            o(0, 0, vec![vec![0.9, 0.1], vec![0.2, 0.3]]).unwrap(),
            o(1, 1, vec![vec![0.1, 0.8]]).unwrap(),
        ]);
        run.folds.push(vec![o(2, 1, vec![vec![0.6, 0.4]]).unwrap()]);
        assert!(Outcome::from_scores(3, 0, vec![]).is_none());
        let all = |_: &Outcome| true;
        let song = run.level_report(Level::SongMean, &labels, "kfold:2", &all);
        assert_eq!(song.n, 3);
        assert!((song.pooled_accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!((song.accuracy - 0.5).abs() < 1e-12, "fold mean of 1 and 0");
        let frames = run.level_report(Level::Frame, &labels, "kfold:2", &all);
        assert_eq!(frames.n, 4);
        let only_b = |o: &Outcome| o.truth == 1;
        let b = run.level_report(Level::SongMean, &labels, "kfold:2", &only_b);
        assert_eq!(b.n, 2);
        assert_eq!(b.folds.iter().map(|f| f.n).collect::<Vec<_>>(), [1, 1]);
        let json = serde_json::to_value(&song).unwrap();
        assert_eq!(json["level"], "song-mean");
        assert_eq!(json["confusion"], serde_json::json!([[1, 0], [1, 1]]));
    }
}

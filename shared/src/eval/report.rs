//! What an evaluation found, as plain data: the outcome of every test song under every system,
//! and the [`EvalReport`] drawn from them (serialisable; the CLI renders it as text, JSON or a
//! PNG).

use serde::Serialize;
use serde_json::{Map, Value};

use super::metrics::{mean_std, Confusion};
use crate::aggregate::{Decision, SongScores};
use crate::dataset::artists::TrainArtists;
use crate::dataset::split::Fold;
use crate::dataset::Prepared;
use crate::model::argmax;
use crate::model::meta::DataSources;
use crate::train::experiment::Experiment;
use crate::train::extract::Activations;

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
    /// Every level, in report order.
    pub const ALL: [Level; 3] = [Level::Frame, Level::SongMean, Level::SongVote];

    /// The level's name in reports and JSON keys (`frame`, `song-mean`, `song-vote`).
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
    /// The clip's genre, as an index into the run's labels.
    pub truth: usize,
    /// Top class of every frame.
    pub frames: Vec<usize>,
    /// Song decision by the mean rule ([`Decision::Mean`], the paper's).
    pub mean: usize,
    /// Song decision by majority vote ([`Decision::Vote`]).
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
    /// The system's name in reports (e.g. `mfcc+svm`, [`super::systems::PUBLISHED`]).
    pub name: String,
    /// Per fold, the outcome of every test song the system scored.
    pub folds: Vec<Vec<Outcome>>,
}

impl SystemRun {
    /// A run of the system `name` with no folds yet.
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
                    balanced_accuracy: c.balanced_accuracy(),
                    macro_f1: c.macro_f1(),
                    n: c.total(),
                }
            })
            .collect();
        let used: Vec<&FoldScore> = folds.iter().filter(|f| f.n > 0).collect();
        let over_folds =
            |f: fn(&FoldScore) -> f64| mean_std(&used.iter().map(|s| f(s)).collect::<Vec<_>>());
        let (am, asd) = over_folds(|f| f.accuracy);
        let (bm, bsd) = over_folds(|f| f.balanced_accuracy);
        let (fm, fsd) = over_folds(|f| f.macro_f1);
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
            balanced_accuracy: bm,
            balanced_accuracy_std: bsd,
            macro_f1: fm,
            macro_f1_std: fsd,
            pooled_accuracy: m.accuracy(),
            pooled_balanced_accuracy: m.balanced_accuracy(),
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

/// Accuracy, balanced accuracy and macro-F1 of one fold.
#[derive(Debug, Clone, Serialize)]
pub struct FoldScore {
    /// Fraction of the fold's decisions that are right (0..=1).
    pub accuracy: f64,
    /// Mean per-genre recall over the genres with test songs in the fold.
    pub balanced_accuracy: f64,
    /// Macro-F1 over the genres the fold tests ([`Confusion::macro_f1`]).
    pub macro_f1: f64,
    /// Decisions counted: songs, or frames at [`Level::Frame`].
    pub n: usize,
}

/// One system at one level: mean ± sample std over folds, the pooled confusion and per-class
/// metrics.
#[derive(Debug, Clone, Serialize)]
pub struct LevelReport {
    /// Mean of the folds' accuracies (0..=1), over the folds with decisions.
    pub accuracy: f64,
    /// Sample standard deviation of the folds' accuracies (0 for one fold).
    pub accuracy_std: f64,
    /// Mean per-genre recall ([`Confusion::balanced_accuracy`]).
    pub balanced_accuracy: f64,
    /// Sample standard deviation of the folds' balanced accuracies.
    pub balanced_accuracy_std: f64,
    /// Mean of the folds' macro-F1.
    pub macro_f1: f64,
    /// Sample standard deviation of the folds' macro-F1.
    pub macro_f1_std: f64,
    /// Over all test songs of all folds at once.
    pub pooled_accuracy: f64,
    /// Balanced accuracy of the pooled confusion.
    pub pooled_balanced_accuracy: f64,
    /// Macro-F1 of the pooled confusion.
    pub pooled_macro_f1: f64,
    /// The genres, in the order of the confusion's rows and columns.
    pub labels: Vec<String>,
    /// Pooled counts `[true][predicted]` ([`Confusion::counts`]).
    pub confusion: Vec<Vec<usize>>,
    /// Genre → `{precision, recall, f1, support}` of the pooled confusion.
    pub per_class: Map<String, Value>,
    /// Decisions counted over all folds: songs, or frames at [`Level::Frame`].
    pub n: usize,
    /// The split as written (`kfold:10`, `fault-filtered`, …).
    pub split: String,
    /// The level these numbers are at.
    pub level: Level,
    /// The system's name ([`SystemRun::name`]).
    pub system: String,
    /// Every fold's own numbers, in fold order (folds without decisions included, `n` = 0).
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
    /// Clips in the training part.
    pub train: usize,
    /// Clips in the validation part.
    pub valid: usize,
    /// Clips in the test part.
    pub test: usize,
    /// Test songs whose (known) artist also has a song in this fold's training or validation
    /// part (`None` without training — a fixed model's training data is not ours to check — or
    /// without artist information: no index, and no artist from tags or folders).
    pub test_songs_with_artist_in_training: Option<usize>,
}

impl FoldInfo {
    /// The sizes of `fold`; artist overlap is counted when a system `trains` and the artists
    /// are known.
    pub fn new(prep: &Prepared, fold: &Fold, trains: bool) -> Self {
        let seen: Vec<usize> = fold.train.iter().chain(&fold.valid).copied().collect();
        Self {
            train: fold.train.len(),
            valid: fold.valid.len(),
            test: fold.test.len(),
            test_songs_with_artist_in_training: (trains && prep.grouping() == "artist")
                .then(|| prep.groups.overlap(&seen, &fold.test)),
        }
    }
}

/// A genre that cannot be tested on unheard artists (all its songs are one artist group).
#[derive(Debug, Clone, Serialize)]
pub struct SingleArtistGenre {
    /// The genre's label.
    pub genre: String,
    /// Its one artist group's key (`artist:<name>`, `unidentified:<genre>` or `clip:<name>`).
    pub group: String,
    /// Test songs of the genre, summed over folds.
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
    /// Clip name (file name without extension, e.g. `blues.00012`).
    pub clip: String,
    /// The audio file.
    pub path: String,
    /// The clip's true genre (its folder).
    pub genre: String,
    /// Artist group (`artist:<name>`, `unidentified:<genre>` or `clip:<name>`).
    pub group: String,
    /// The fold (0-based) whose test part held it.
    pub fold: usize,
    /// System name → predicted genre.
    pub predicted: Map<String, Value>,
}

/// A file that could not be used.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    /// The audio file.
    pub path: String,
    /// Why it could not be read (the decoder's or the network's error message).
    pub error: String,
}

/// One training run of a fold (with `--train`).
#[derive(Debug, Clone, Serialize)]
pub struct FoldTraining {
    /// Songs trained on, augmented copies included (and the validation songs, for the
    /// classifiers that do not stop early).
    pub examples: usize,
    /// Songs used for early stopping.
    pub valid_songs: usize,
    /// Epochs run (fine-tuned top only; `None` for the other strategies).
    pub epochs: Option<usize>,
    /// The epoch (1-based) whose weights were kept
    /// ([`crate::train::top::TopTrainer::best_epoch`]).
    pub best_epoch: Option<usize>,
    /// Wall-clock seconds of the training.
    pub seconds: f64,
}

impl FoldTraining {
    /// One line for the user about fold `k` of `n`.
    pub fn line(&self, k: usize, n: usize) -> String {
        format!(
            "fold {}/{n}: trained on {} examples ({} validation songs){} in {:.1} s",
            k + 1,
            self.examples,
            self.valid_songs,
            match (self.epochs, self.best_epoch) {
                (Some(e), Some(b)) => format!(", {e} epochs (best {b})"),
                _ => String::new(),
            },
            self.seconds
        )
    }
}

/// What the folds gave: each system's outcomes, each fold's sizes, the main system's training.
#[derive(Debug, Default)]
pub struct FoldResults {
    /// One run per system, in the order of the systems.
    pub runs: Vec<SystemRun>,
    /// One per fold.
    pub info: Vec<FoldInfo>,
    /// One per fold in which a system trained.
    pub training: Vec<FoldTraining>,
}

/// Everything `eval gtzan` reports. Serialised, its top level is the main system at song level
/// (mean rule), as before; the rest sits beside it.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// The evaluated system at song level, mean rule (flattened into the JSON's top level).
    #[serde(flatten)]
    pub main: LevelReport,
    /// The main system at every level (JSON: an object keyed by level).
    #[serde(serialize_with = "by_level")]
    pub levels: Vec<LevelReport>,
    /// Other systems (MFCC baselines, the published CRNN) at song level, mean rule (JSON: an
    /// object keyed by system).
    #[serde(serialize_with = "by_system")]
    pub baselines: Vec<LevelReport>,
    /// Every system on the genres that can be tested on unheard artists ([`Headline`]).
    pub headline: Headline,
    /// The genres whose songs are all one artist group, with each system's accuracy on them.
    pub single_artist_genres: Vec<SingleArtistGenre>,
    /// `artist` (clips grouped by artist: from Sturm's index, tags or folders, see `sources`)
    /// or `clip` (no artist information).
    pub grouping: String,
    /// What training was told about the artists: `same` (what the split used) or `none`.
    pub train_artists: TrainArtists,
    /// The artist index file the groups came from (`None`: no index).
    pub artist_index: Option<String>,
    /// Where the songs' labels came from (genre folders or tags) and how many songs got their
    /// artist group from the index, tags, folders, or nowhere (as `finetune` records them).
    pub sources: DataSources,
    /// Summed over folds, counting test songs of known artist only; 0 for artist-grouped
    /// folds; `None` without training or artist information.
    pub test_songs_with_artist_in_training: Option<usize>,
    /// Sizes and artist overlap of every fold, in fold order.
    pub fold_info: Vec<FoldInfo>,
    /// One entry per fold in which a system trained (empty without training).
    pub training: Vec<FoldTraining>,
    /// The data folders, as given.
    pub data: Vec<String>,
    /// The model evaluated, or the base trained per fold (a built-in name or a file).
    pub model: String,
    /// Test songs the evaluated system decided, summed over folds.
    pub songs: usize,
    /// Frames of those songs.
    pub frames: usize,
    /// Wall-clock seconds of the whole evaluation.
    pub wall_seconds: f64,
    /// Seconds spent running the frozen networks over the clips and setting up the systems
    /// (part of `wall_seconds`).
    pub extract_seconds: f64,
    /// Clips named by the split lists but not in the data folders
    /// ([`crate::dataset::split::SplitPlan::missing`]).
    pub missing_from_folder: usize,
    /// Clips of the data folders that no split list names
    /// ([`crate::dataset::split::SplitPlan::unlisted`]).
    pub unlisted: usize,
    /// Files that could not be decoded or run, left out of every fold.
    pub skipped: Vec<Skipped>,
    /// Every test song, in data order.
    pub predictions: Vec<SongPrediction>,
}

impl EvalReport {
    /// The report of the systems' runs on the experiment's folds (the first run is the
    /// system evaluated). Times are left at 0 for the caller to fill in.
    pub fn build(exp: &Experiment, acts: &Activations, folds: FoldResults) -> Self {
        let (prep, labels) = (&exp.prep, &exp.prep.labels);
        let split = exp.config.split.to_string();
        let all = |_: &Outcome| true;
        let main = &folds.runs[0];
        let main_song = main.level_report(Level::SongMean, labels, &split, &all);
        Self {
            songs: main_song.n,
            levels: Level::ALL
                .iter()
                .map(|&level| main.level_report(level, labels, &split, &all))
                .collect(),
            baselines: folds.runs[1..]
                .iter()
                .map(|b| b.level_report(Level::SongMean, labels, &split, &all))
                .collect(),
            headline: Headline::of(prep, &folds.runs, &split),
            single_artist_genres: SingleArtistGenre::all(prep, &folds.runs),
            grouping: prep.grouping().into(),
            train_artists: exp.config.train_artists,
            artist_index: prep
                .index
                .as_ref()
                .and_then(|i| i.source.as_ref())
                .map(|p| p.display().to_string()),
            sources: DataSources {
                labels: prep.labels_from.into(),
                artists: prep.artist_sources,
            },
            test_songs_with_artist_in_training: folds
                .info
                .iter()
                .map(|f| f.test_songs_with_artist_in_training)
                .sum(),
            frames: main.pooled(Level::Frame, labels, &all).total(),
            main: main_song,
            fold_info: folds.info,
            training: folds.training,
            data: exp
                .config
                .data
                .iter()
                .map(|d| d.display().to_string())
                .collect(),
            model: exp.config.model.to_string(),
            wall_seconds: 0.0,
            extract_seconds: 0.0,
            missing_from_folder: prep.plan.missing,
            unlisted: prep.plan.unlisted,
            predictions: SongPrediction::all(prep, &folds.runs),
            skipped: acts
                .skipped
                .iter()
                .map(|(p, e)| Skipped {
                    path: p.display().to_string(),
                    error: e.clone(),
                })
                .collect(),
        }
    }
}

impl Headline {
    /// Genres no split can test on unheard artists are left out of the headline.
    fn of(prep: &Prepared, runs: &[SystemRun], split: &str) -> Self {
        let labels = &prep.labels;
        let single = prep.groups.single_group_genres(&prep.targets, labels.len());
        let testable: Vec<usize> = (0..labels.len())
            .filter(|g| prep.targets.contains(g) && !single.contains(g))
            .collect();
        let in_headline = |o: &Outcome| testable.contains(&o.truth);
        Self {
            genres: testable.iter().map(|&g| labels[g].clone()).collect(),
            excluded: single.iter().map(|&g| labels[g].clone()).collect(),
            systems: runs
                .iter()
                .map(|s| s.level_report(Level::SongMean, labels, split, &in_headline))
                .collect(),
        }
    }
}

impl SingleArtistGenre {
    /// Every genre whose songs are one artist group, with every system's accuracy on it.
    fn all(prep: &Prepared, runs: &[SystemRun]) -> Vec<Self> {
        let (labels, targets) = (&prep.labels, &prep.targets);
        let single = prep.groups.single_group_genres(targets, labels.len());
        single
            .iter()
            .map(|&g| {
                let (mut test_songs, mut trained_on) = (0, 0);
                for f in &prep.plan.folds {
                    let n = f.test.iter().filter(|&&i| targets[i] == g).count();
                    test_songs += n;
                    if f.train.iter().any(|&i| targets[i] == g) {
                        trained_on += n;
                    }
                }
                let of_genre = |o: &Outcome| o.truth == g;
                let accuracy = runs
                    .iter()
                    .map(|s| {
                        // No test song of the genre (a fixed split may hold none): no accuracy.
                        let acc = (test_songs > 0)
                            .then(|| s.pooled(Level::SongMean, labels, &of_genre).accuracy());
                        (s.name.clone(), acc.map_or(Value::Null, Value::from))
                    })
                    .collect();
                let group = targets
                    .iter()
                    .position(|&t| t == g)
                    .map(|i| prep.groups.keys[prep.groups.of[i]].clone())
                    .unwrap_or_default();
                Self {
                    genre: labels[g].clone(),
                    group,
                    test_songs,
                    test_songs_trained_on_genre: trained_on,
                    accuracy,
                }
            })
            .collect()
    }
}

impl SongPrediction {
    /// Every test song of the main system with every system's decision, by genre and clip.
    fn all(prep: &Prepared, runs: &[SystemRun]) -> Vec<Self> {
        let (clips, labels) = (&prep.dataset.clips, &prep.labels);
        let mut predictions = Vec::new();
        for (k, outcomes) in runs[0].folds.iter().enumerate() {
            for o in outcomes {
                let c = &clips[o.clip];
                let predicted = runs
                    .iter()
                    .filter_map(|s| {
                        let p = s.folds[k].iter().find(|x| x.clip == o.clip)?;
                        Some((s.name.clone(), Value::from(labels[p.mean].clone())))
                    })
                    .collect();
                predictions.push(Self {
                    clip: c.name.clone(),
                    path: c.path.display().to_string(),
                    genre: labels[o.truth].clone(),
                    group: prep.groups.keys[prep.groups.of[o.clip]].clone(),
                    fold: k,
                    predicted,
                });
            }
        }
        predictions.sort_by(|a, b| (&a.genre, &a.clip).cmp(&(&b.genre, &b.clip)));
        predictions
    }
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
        // Pooled recalls: a 1/1, b 1/2.
        assert!((song.pooled_balanced_accuracy - 0.75).abs() < 1e-12);
        assert!(
            (song.balanced_accuracy - 0.5).abs() < 1e-12,
            "fold 1: recalls 1 and 1; fold 2: b only, recall 0"
        );
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

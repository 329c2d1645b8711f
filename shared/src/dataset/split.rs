//! Which clips train, validate and test: the published GTZAN lists or stratified k-fold.
//!
//! * `fault-filtered`: the artist-filtered partition after B. L. Sturm's analysis of GTZAN's
//!   faults (as used by Kereliuk, Sturm & Larsen 2015); no artist is in more than one part.
//! * `random`: stratified 50/25/25 lists per genre, artists may repeat across parts.
//! * `kfold:K`: our own stratified K-fold over the clips present (seeded); GTZAN has no artist
//!   labels, so artists may repeat across folds, as in most of the literature.
//!
//! The lists are shipped in `shared/data/gtzan-splits/` (attribution in the README there) and
//! match clips by file name without extension (`blues.00012`), whatever the audio format.
//! Everything is split by *song*; frames are cut afterwards, so no song is on both sides.

use std::collections::HashSet;

use super::dataset::Clip;
use super::EvalError;
use crate::train::rng::Rng;

const TRAIN_FILTERED: &str = include_str!("../../data/gtzan-splits/train_filtered.txt");
const VALID_FILTERED: &str = include_str!("../../data/gtzan-splits/valid_filtered.txt");
const TEST_FILTERED: &str = include_str!("../../data/gtzan-splits/test_filtered.txt");
const TRAIN_STRATIFIED: &str = include_str!("../../data/gtzan-splits/train_stratified.txt");
const VALID_STRATIFIED: &str = include_str!("../../data/gtzan-splits/valid_stratified.txt");
const TEST_STRATIFIED: &str = include_str!("../../data/gtzan-splits/test_stratified.txt");

/// A `--split` request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitSpec {
    /// Every clip is a test clip (for a fixed model).
    All,
    FaultFiltered,
    Random,
    KFold(usize),
}

impl std::str::FromStr for SplitSpec {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self, EvalError> {
        match s {
            "all" => Ok(Self::All),
            "fault-filtered" => Ok(Self::FaultFiltered),
            "random" => Ok(Self::Random),
            _ => match s.strip_prefix("kfold:").map(str::parse::<usize>) {
                Some(Ok(k)) if k >= 2 => Ok(Self::KFold(k)),
                _ => Err(EvalError::UnknownSplit(s.into())),
            },
        }
    }
}

impl std::fmt::Display for SplitSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::All => write!(f, "all"),
            Self::FaultFiltered => write!(f, "fault-filtered"),
            Self::Random => write!(f, "random"),
            Self::KFold(k) => write!(f, "kfold:{k}"),
        }
    }
}

/// Indices into the clip list for one train/validate/test round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fold {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub test: Vec<usize>,
}

/// The rounds of a split plus what the lists named that the folder lacks.
#[derive(Debug, Clone, Default)]
pub struct SplitPlan {
    pub folds: Vec<Fold>,
    /// Clips named by the lists but not found in the data folder.
    pub missing: usize,
    /// Clips in the folder that no list names (left out of every part).
    pub unlisted: usize,
}

fn names(list: &str) -> HashSet<String> {
    list.lines()
        .filter_map(|l| {
            let l = l.trim();
            let file = l.rsplit('/').next()?;
            let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
            (!stem.is_empty()).then(|| stem.to_string())
        })
        .collect()
}

/// Split `clips` (with genre indices `targets`) as `spec` says. For `all` and `kfold` the
/// validation part is carved from the training part: `valid_per_genre` songs of each genre.
pub fn plan(
    spec: SplitSpec,
    clips: &[Clip],
    targets: &[usize],
    seed: u64,
    valid_per_genre: usize,
) -> Result<SplitPlan, EvalError> {
    let empty = |reason: &str| EvalError::EmptySplit {
        split: spec.to_string(),
        reason: reason.into(),
    };
    match spec {
        SplitSpec::All => {
            let all: Vec<usize> = (0..clips.len()).collect();
            let (train, valid) = carve(&all, targets, valid_per_genre, seed);
            Ok(SplitPlan {
                folds: vec![Fold {
                    train,
                    valid,
                    test: all,
                }],
                ..Default::default()
            })
        }
        SplitSpec::FaultFiltered | SplitSpec::Random => {
            let lists = if spec == SplitSpec::FaultFiltered {
                [TRAIN_FILTERED, VALID_FILTERED, TEST_FILTERED]
            } else {
                [TRAIN_STRATIFIED, VALID_STRATIFIED, TEST_STRATIFIED]
            };
            let sets = lists.map(names);
            let present: HashSet<&str> = clips.iter().map(|c| c.name.as_str()).collect();
            let missing = sets
                .iter()
                .flatten()
                .filter(|n| !present.contains(n.as_str()))
                .count();
            let mut fold = Fold::default();
            let mut unlisted = 0;
            for (i, c) in clips.iter().enumerate() {
                if sets[0].contains(&c.name) {
                    fold.train.push(i);
                } else if sets[1].contains(&c.name) {
                    fold.valid.push(i);
                } else if sets[2].contains(&c.name) {
                    fold.test.push(i);
                } else {
                    unlisted += 1;
                }
            }
            if fold.train.is_empty() && fold.valid.is_empty() && fold.test.is_empty() {
                return Err(empty("no clip of the folder is named by the lists"));
            }
            Ok(SplitPlan {
                folds: vec![fold],
                missing,
                unlisted,
            })
        }
        SplitSpec::KFold(k) => {
            let n_genres = targets.iter().max().map_or(0, |m| m + 1);
            let mut fold_of = vec![0usize; clips.len()];
            let mut rng = Rng::new(seed);
            for g in 0..n_genres {
                let mut idx: Vec<usize> = (0..clips.len()).filter(|&i| targets[i] == g).collect();
                rng.shuffle(&mut idx);
                for (j, &i) in idx.iter().enumerate() {
                    fold_of[i] = j % k;
                }
            }
            let mut folds = Vec::with_capacity(k);
            for f in 0..k {
                let test: Vec<usize> = (0..clips.len()).filter(|&i| fold_of[i] == f).collect();
                let rest: Vec<usize> = (0..clips.len()).filter(|&i| fold_of[i] != f).collect();
                if test.is_empty() {
                    return Err(empty(&format!("fold {f} is empty: fewer clips than folds")));
                }
                let (train, valid) = carve(&rest, targets, valid_per_genre, seed ^ (f as u64 + 1));
                folds.push(Fold { train, valid, test });
            }
            Ok(SplitPlan {
                folds,
                ..Default::default()
            })
        }
    }
}

/// Move `per_genre` seeded-random songs of each genre from `pool` to a validation part,
/// keeping at least one training song per genre.
fn carve(
    pool: &[usize],
    targets: &[usize],
    per_genre: usize,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5);
    let n_genres = targets.iter().max().map_or(0, |m| m + 1);
    let mut valid = Vec::new();
    for g in 0..n_genres {
        let mut idx: Vec<usize> = pool.iter().copied().filter(|&i| targets[i] == g).collect();
        rng.shuffle(&mut idx);
        let take = per_genre.min(idx.len().saturating_sub(1));
        valid.extend_from_slice(&idx[..take]);
    }
    valid.sort_unstable();
    let train = pool
        .iter()
        .copied()
        .filter(|i| valid.binary_search(i).is_err())
        .collect();
    (train, valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn clips(names: &[&str]) -> (Vec<Clip>, Vec<usize>) {
        let mut genres: Vec<String> = Vec::new();
        let mut t = Vec::new();
        let c = names
            .iter()
            .map(|n| {
                let genre = n.split('.').next().unwrap().to_string();
                if !genres.contains(&genre) {
                    genres.push(genre.clone());
                }
                t.push(genres.iter().position(|g| *g == genre).unwrap());
                Clip {
                    path: PathBuf::from(format!("{n}.flac")),
                    genre,
                    name: n.to_string(),
                }
            })
            .collect();
        (c, t)
    }

    #[test]
    fn parses_specs() {
        assert_eq!("kfold:5".parse::<SplitSpec>().unwrap(), SplitSpec::KFold(5));
        assert_eq!("all".parse::<SplitSpec>().unwrap(), SplitSpec::All);
        for bad in ["kfold:1", "kfold:x", "folds", ""] {
            assert!(bad.parse::<SplitSpec>().is_err(), "{bad}");
        }
        assert_eq!(SplitSpec::KFold(3).to_string(), "kfold:3");
    }

    #[test]
    fn lists_match_by_name_and_count_missing() {
        // blues.00000 is in valid_filtered, blues.00012 in test_filtered, 00029 in train;
        // reggae.00003 is in no filtered list (README of the data pack).
        let (c, t) = clips(&["blues.00000", "blues.00012", "blues.00029", "reggae.00003"]);
        let p = plan(SplitSpec::FaultFiltered, &c, &t, 0, 1).unwrap();
        assert_eq!(p.folds[0].train, [2]);
        assert_eq!(p.folds[0].valid, [0]);
        assert_eq!(p.folds[0].test, [1]);
        assert_eq!(p.unlisted, 1);
        assert_eq!(p.missing, 443 + 197 + 290 - 3);
        let r = plan(SplitSpec::Random, &c, &t, 0, 1).unwrap();
        assert_eq!(
            r.missing,
            1000 - 4,
            "the stratified lists name all 1000 clips"
        );
        assert_eq!(r.unlisted, 0);
    }

    #[test]
    fn kfold_is_stratified_disjoint_and_seeded() {
        let names: Vec<String> = ["a", "b"]
            .iter()
            .flat_map(|g| (0..10).map(move |i| format!("{g}.{i:05}")))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (c, t) = clips(&refs);
        let p = plan(SplitSpec::KFold(5), &c, &t, 7, 1).unwrap();
        assert_eq!(p.folds.len(), 5);
        let mut seen = vec![0; c.len()];
        for f in &p.folds {
            assert_eq!(f.test.len(), 4);
            assert_eq!(
                f.test.iter().filter(|&&i| t[i] == 0).count(),
                2,
                "stratified"
            );
            assert_eq!(f.valid.len(), 2, "one validation song per genre");
            assert_eq!(f.train.len() + f.valid.len() + f.test.len(), 20);
            for i in &f.test {
                seen[*i] += 1;
                assert!(!f.train.contains(i) && !f.valid.contains(i));
            }
        }
        assert!(
            seen.iter().all(|&s| s == 1),
            "every clip tested exactly once"
        );
        let again = plan(SplitSpec::KFold(5), &c, &t, 7, 1).unwrap();
        assert_eq!(again.folds, p.folds);
        let other = plan(SplitSpec::KFold(5), &c, &t, 8, 1).unwrap();
        assert_ne!(other.folds, p.folds);
        assert!(plan(SplitSpec::KFold(30), &c, &t, 7, 1).is_err());
    }
}

//! Which clips train, validate and test: the published GTZAN lists or stratified k-fold.
//!
//! * `fault-filtered`: the artist-filtered partition after B. L. Sturm's analysis of GTZAN's
//!   faults (as used by Kereliuk, Sturm & Larsen 2015); no artist is in more than one part.
//! * `random`: stratified 50/25/25 lists per genre, artists may repeat across parts.
//! * `kfold:K`: K folds over the clips present, grouped by artist ([`super::artists`]: no
//!   artist on both sides) and stratified by genre as far as the groups allow. Without artist
//!   information (no index, or clips it does not list) every clip is its own group and the folds
//!   are a seeded stratified K-fold.
//! * `kfold-random:K`: the seeded stratified K-fold over clips whatever their artist — how most
//!   of the literature splits GTZAN, and what shows the artist effect beside `kfold:K`.
//!
//! The lists are shipped in `shared/data/gtzan-splits/` (attribution in the README there) and
//! match clips by file name without extension (`blues.00012`), whatever the audio format.
//! Everything is split by *song*; frames are cut afterwards, so no song is on both sides.

use std::collections::HashSet;

use super::artists::Groups;
use super::{Clip, DatasetError};
use crate::rng::Rng;

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
    /// The published fault-filtered lists (443 / 197 / 290 clips; no artist in two parts), from
    /// `data/gtzan-splits/*_filtered.txt` (sources in the README there).
    FaultFiltered,
    /// The published random lists, stratified by genre (50 / 25 / 25 clips per genre; artists
    /// may repeat across parts), from `data/gtzan-splits/*_stratified.txt`.
    Random,
    /// Artist-grouped, genre-stratified K folds.
    KFold(usize),
    /// Clip-level stratified K folds (artists may repeat across folds).
    RandomKFold(usize),
}

impl std::str::FromStr for SplitSpec {
    type Err = DatasetError;
    fn from_str(s: &str) -> Result<Self, DatasetError> {
        match s {
            "all" => Ok(Self::All),
            "fault-filtered" => Ok(Self::FaultFiltered),
            "random" => Ok(Self::Random),
            _ => {
                let k = |prefix: &str| match s.strip_prefix(prefix).map(str::parse::<usize>) {
                    Some(Ok(k)) if k >= 2 => Some(k),
                    _ => None,
                };
                if let Some(k) = k("kfold:") {
                    Ok(Self::KFold(k))
                } else if let Some(k) = k("kfold-random:") {
                    Ok(Self::RandomKFold(k))
                } else {
                    Err(DatasetError::UnknownSplit(s.into()))
                }
            }
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
            Self::RandomKFold(k) => write!(f, "kfold-random:{k}"),
        }
    }
}

/// Indices into the clip list for one train/validate/test round.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fold {
    /// Clips to fit on.
    pub train: Vec<usize>,
    /// Clips for early stopping; the classifiers that do not stop early train on them too
    /// (`eval::systems`).
    pub valid: Vec<usize>,
    /// Clips to score.
    pub test: Vec<usize>,
}

/// The rounds of a split plus what the lists named that the folder lacks.
#[derive(Debug, Clone, Default)]
pub struct SplitPlan {
    /// One round for `all` and the published lists, K for the k-folds.
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

impl SplitSpec {
    /// Whether the split is K folds that test every clip once.
    pub fn is_kfold(&self) -> bool {
        matches!(self, Self::KFold(_) | Self::RandomKFold(_))
    }
}

/// Split `clips` (with genre indices `targets` and artist `groups`) as `spec` says. For `all`
/// and the k-folds the validation part is carved from the training part: about
/// `valid_per_genre` songs of each genre, whole artist groups at a time where artists are known.
pub fn plan(
    spec: SplitSpec,
    clips: &[Clip],
    targets: &[usize],
    groups: &Groups,
    seed: u64,
    valid_per_genre: usize,
) -> Result<SplitPlan, DatasetError> {
    let grouped = groups.len() < clips.len();
    // (Without artists every clip is a group of its own, numbered in clip order.)
    let carve = |pool: &[usize], per: usize, s: u64| carve_groups(pool, targets, groups, per, s);
    let empty = |reason: &str| DatasetError::EmptySplit {
        split: spec.to_string(),
        reason: reason.into(),
    };
    match spec {
        SplitSpec::All => {
            let all: Vec<usize> = (0..clips.len()).collect();
            let (train, valid) = carve(&all, valid_per_genre, seed);
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
        SplitSpec::KFold(k) | SplitSpec::RandomKFold(k) => {
            let fold_of = if grouped && matches!(spec, SplitSpec::KFold(_)) {
                grouped_folds(k, targets, groups)
            } else {
                stratified_folds(k, targets, seed)
            };
            let mut folds = Vec::with_capacity(k);
            for f in 0..k {
                let test: Vec<usize> = (0..clips.len()).filter(|&i| fold_of[i] == f).collect();
                let rest: Vec<usize> = (0..clips.len()).filter(|&i| fold_of[i] != f).collect();
                if test.is_empty() {
                    return Err(empty(&format!("fold {f} is empty: fewer clips than folds")));
                }
                let (train, valid) = carve(&rest, valid_per_genre, seed ^ (f as u64 + 1));
                folds.push(Fold { train, valid, test });
            }
            Ok(SplitPlan {
                folds,
                ..Default::default()
            })
        }
    }
}

/// Seeded stratified k-fold over clips: each genre's clips shuffled and dealt round the folds.
fn stratified_folds(k: usize, targets: &[usize], seed: u64) -> Vec<usize> {
    let n_genres = targets.iter().max().map_or(0, |m| m + 1);
    let mut fold_of = vec![0usize; targets.len()];
    let mut rng = Rng::new(seed);
    for g in 0..n_genres {
        let mut idx: Vec<usize> = (0..targets.len()).filter(|&i| targets[i] == g).collect();
        rng.shuffle(&mut idx);
        for (j, &i) in idx.iter().enumerate() {
            fold_of[i] = j % k;
        }
    }
    fold_of
}

/// Artist-grouped k-fold, stratified by genre as far as the groups allow. Deterministic: the
/// groups go largest first (ties by key) to the fold where they add least to what it already
/// holds of their genres, `Σ_g n_group[g] · count_fold[g] / total[g]`; ties go to the fold with
/// fewer clips, then the lower index.
fn grouped_folds(k: usize, targets: &[usize], groups: &Groups) -> Vec<usize> {
    let n_genres = targets.iter().max().map_or(0, |m| m + 1);
    let mut total = vec![0usize; n_genres];
    let mut per_group = vec![vec![0usize; n_genres]; groups.len()];
    for (i, &t) in targets.iter().enumerate() {
        total[t] += 1;
        per_group[groups.of[i]][t] += 1;
    }
    let mut order: Vec<usize> = (0..groups.len()).collect();
    let size = |g: usize| per_group[g].iter().sum::<usize>();
    order.sort_by(|&a, &b| {
        size(b)
            .cmp(&size(a))
            .then(groups.keys[a].cmp(&groups.keys[b]))
    });
    let mut count = vec![vec![0usize; n_genres]; k];
    let mut fold_of_group = vec![0usize; groups.len()];
    for g in order {
        let cost = |f: usize| -> f64 {
            (0..n_genres)
                .filter(|&t| per_group[g][t] > 0)
                .map(|t| per_group[g][t] as f64 * count[f][t] as f64 / total[t] as f64)
                .sum()
        };
        let fill = |f: usize| count[f].iter().sum::<usize>();
        let best = (0..k)
            .min_by(|&a, &b| {
                cost(a)
                    .total_cmp(&cost(b))
                    .then(fill(a).cmp(&fill(b)))
                    .then(a.cmp(&b))
            })
            .unwrap_or(0);
        for (c, n) in count[best].iter_mut().zip(&per_group[g]) {
            *c += n;
        }
        fold_of_group[g] = best;
    }
    groups.of.iter().map(|&g| fold_of_group[g]).collect()
}

/// Carve a validation part from `pool` by whole artist groups: for each genre, seeded-random
/// groups of the pool that hold its clips move to validation until it has `per_genre` songs,
/// keeping at least one group of the genre for training (a genre of one group gets no
/// validation songs).
fn carve_groups(
    pool: &[usize],
    targets: &[usize],
    groups: &Groups,
    per_genre: usize,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xA5A5);
    let n_genres = targets.iter().max().map_or(0, |m| m + 1);
    let mut taken = vec![false; groups.len()];
    for g in 0..n_genres {
        let mut gs: Vec<usize> = pool
            .iter()
            .filter(|&&i| targets[i] == g && !taken[groups.of[i]])
            .map(|&i| groups.of[i])
            .collect();
        gs.sort_unstable();
        gs.dedup();
        rng.shuffle(&mut gs);
        let mut have = pool
            .iter()
            .filter(|&&i| targets[i] == g && taken[groups.of[i]])
            .count();
        for (n, &grp) in gs.iter().enumerate() {
            if have >= per_genre || n + 1 == gs.len() {
                break;
            }
            taken[grp] = true;
            have += pool
                .iter()
                .filter(|&&i| targets[i] == g && groups.of[i] == grp)
                .count();
        }
    }
    pool.iter().partition(|&&i| !taken[groups.of[i]])
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
        assert_eq!(
            "kfold-random:4".parse::<SplitSpec>().unwrap(),
            SplitSpec::RandomKFold(4)
        );
        assert_eq!(SplitSpec::RandomKFold(4).to_string(), "kfold-random:4");
    }

    #[test]
    fn lists_match_by_name_and_count_missing() {
        // blues.00000 is in valid_filtered, blues.00012 in test_filtered, 00029 in train;
        // reggae.00003 is in no filtered list (README of the data pack).
        let (c, t) = clips(&["blues.00000", "blues.00012", "blues.00029", "reggae.00003"]);
        let p = plan(
            SplitSpec::FaultFiltered,
            &c,
            &t,
            &Groups::singletons(&c),
            0,
            1,
        )
        .unwrap();
        assert_eq!(p.folds[0].train, [2]);
        assert_eq!(p.folds[0].valid, [0]);
        assert_eq!(p.folds[0].test, [1]);
        assert_eq!(p.unlisted, 1);
        assert_eq!(p.missing, 443 + 197 + 290 - 3);
        let r = plan(SplitSpec::Random, &c, &t, &Groups::singletons(&c), 0, 1).unwrap();
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
        let g = Groups::singletons(&c);
        let p = plan(SplitSpec::KFold(5), &c, &t, &g, 7, 1).unwrap();
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
        let again = plan(SplitSpec::KFold(5), &c, &t, &g, 7, 1).unwrap();
        assert_eq!(again.folds, p.folds);
        let other = plan(SplitSpec::KFold(5), &c, &t, &g, 8, 1).unwrap();
        assert_ne!(other.folds, p.folds);
        assert!(plan(SplitSpec::KFold(30), &c, &t, &g, 7, 1).is_err());
    }

    /// Three genres; artists with 1–4 clips, one artist in two genres, one genre a single
    /// artist. No artist is ever on both sides of a fold (test vs train + validation), every
    /// clip is tested once, the genres are spread across folds, and it is deterministic.
    #[test]
    fn grouped_kfold_keeps_artists_on_one_side() {
        use super::super::artists::ArtistIndex;
        let mut index = String::new();
        let mut names = Vec::new();
        let artists = [
            (
                "blues",
                &["A", "A", "A", "B", "B", "C", "D", "D", "E", "E"][..],
            ),
            (
                "jazz",
                &["F", "F", "F", "F", "G", "H", "H", "B", "I", "J"][..],
            ),
            ("rock", &["M"; 10][..]),
        ];
        for (genre, list) in artists {
            for (i, a) in list.iter().enumerate() {
                let n = format!("{genre}.{i:05}");
                index.push_str(&format!("{n}.wav ::: {a} ::: song\n"));
                names.push(n);
            }
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let (c, t) = clips(&refs);
        let g = Groups::from_index(&c, &ArtistIndex::parse(&index));
        assert_eq!(g.len(), 11, "B plays blues and jazz");
        let p = plan(SplitSpec::KFold(3), &c, &t, &g, 0, 1).unwrap();
        let mut tested = vec![0; c.len()];
        for f in &p.folds {
            let mut train = f.train.clone();
            train.extend(&f.valid);
            assert_eq!(g.overlap(&train, &f.test), 0, "{f:?}");
            assert_eq!(g.overlap(&f.train, &f.valid), 0, "validation by groups too");
            for &i in &f.test {
                tested[i] += 1;
            }
            assert_eq!(f.train.len() + f.valid.len() + f.test.len(), c.len());
            // Blues and jazz have several artists: every fold tests some of each.
            for genre in 0..2 {
                assert!(f.test.iter().any(|&i| t[i] == genre), "{f:?}");
            }
        }
        assert!(tested.iter().all(|&n| n == 1));
        // Rock is one artist: it sits in one test fold and no training part there has it.
        assert_eq!(g.single_group_genres(&t, 3), [2]);
        let rock_folds: Vec<&Fold> = p
            .folds
            .iter()
            .filter(|f| f.test.iter().any(|&i| t[i] == 2))
            .collect();
        assert_eq!(rock_folds.len(), 1);
        assert!(!rock_folds[0].train.iter().any(|&i| t[i] == 2));
        assert_eq!(
            plan(SplitSpec::KFold(3), &c, &t, &g, 0, 1).unwrap().folds,
            p.folds
        );
        // The clip-level k-fold ignores artists: the same data leaks them.
        let r = plan(SplitSpec::RandomKFold(3), &c, &t, &g, 0, 1).unwrap();
        let leaked: usize = r
            .folds
            .iter()
            .map(|f| g.overlap(&[f.train.clone(), f.valid.clone()].concat(), &f.test))
            .sum();
        assert!(leaked > 10, "{leaked}");
    }
}

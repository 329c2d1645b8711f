//! Uneven genres (`--balance`): how much each training example weighs in the loss.
//!
//! A classifier fitted to raw counts learns the training set's genre prior: a library of 8,000
//! rock songs and 150 jazz songs teaches it to say "rock" when unsure, and the accuracy it
//! reports is dominated by the big genres. Class weights are the standard remedy (the paper's
//! list of data-handling methods names class imbalance beside augmentation): each genre's
//! examples are weighted so that genres count equally in the loss, or by a power of their size.
//!
//! Weights count **songs**, not frames and not artist groups. Every 29.12 s frame of a training
//! song is an example, so a genre of long songs would be over-weighted by its frame count: a
//! song's weight is shared by its frames. Artist groups are not counted because they are not
//! always known (a genre's unknown-artist songs are one group for the fusion's β, which would
//! make such a genre look tiny and weigh it many times over), and because the prior a classifier
//! learns is a prior over songs. An augmented copy of a song is a song of the same genre (every
//! song has the same number of copies, so copies do not move the ratios).
//!
//! With weights `w_i` the training loss is `Σ w_i ℓ_i / Σ w_i`, the weights scaled to mean 1
//! over the frames, so the L2 penalty keeps its meaning; `none` is the unweighted loss of
//! before, bit for bit.

use super::{Songs, Strategy};

/// `--balance`: the weight of a genre's songs in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Balance {
    /// Every frame one example of weight 1: genres weigh by their frame counts.
    None,
    /// Every genre weighs the same in total (each song `1 / songs of its genre`).
    Weights,
    /// Halfway: a genre's total weight grows as the square root of its songs (each song
    /// `1 / √songs of its genre`).
    Sqrt,
}

crate::names::kebab_names!(Balance);

impl Balance {
    /// The default of `strategy`, chosen by measurement on the pack's artist-grouped folds and
    /// on a skewed copy of them (`docs/training.md`, "Uneven genres"): `sqrt` where it is the
    /// setting whose balanced accuracy and macro-F1 rise over `none` on both (`stack`, where
    /// `weights` loses 0.3 points of macro-F1 on the pack's 269 songs; `finetune`), `none`
    /// where no setting does (`features-softmax` on the skewed copy loses 4 points of balanced
    /// accuracy under `sqrt`: its few small-genre songs, weighted up, are overfitted in 256
    /// dimensions; `features-svm` is separable on these songs, so the weights change nothing).
    pub fn default_for(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Stack | Strategy::Finetune => Self::Sqrt,
            Strategy::FeaturesSoftmax | Strategy::FeaturesSvm => Self::None,
        }
    }

    /// Whether the loss is the plain, unweighted one (not recorded in files then: absent means
    /// unweighted, as in files written before `--balance` existed).
    pub fn is_none(&self) -> bool {
        *self == Self::None
    }

    /// What files and checkpoints written before `--balance` existed were trained with.
    pub fn legacy() -> Self {
        Self::None
    }

    /// Exponent `a` of a song's weight `1 / songs_of_genre^a`.
    fn exponent(self) -> Option<f64> {
        match self {
            Self::None => None,
            Self::Weights => Some(1.0),
            Self::Sqrt => Some(0.5),
        }
    }
}

/// The weight of every frame of `songs`, in song order and frame order within a song (the
/// order [`super::frames_of`] lists them), scaled to mean 1; `None` for [`Balance::None`] (or no
/// frames): the unweighted loss.
pub fn frame_weights(balance: Balance, songs: &Songs) -> Option<Vec<f64>> {
    let a = balance.exponent()?;
    let genres = songs.iter().map(|s| s.target + 1).max().unwrap_or(0);
    let mut per_genre = vec![0usize; genres];
    for s in songs.iter().filter(|s| !s.acts.frames.is_empty()) {
        per_genre[s.target] += 1;
    }
    let mut w = Vec::new();
    for s in songs {
        let frames = s.acts.frames.len();
        let song = (per_genre[s.target] as f64).powf(-a);
        w.extend(std::iter::repeat_n(song / frames as f64, frames));
    }
    if w.is_empty() {
        return None;
    }
    let mean = w.iter().sum::<f64>() / w.len() as f64;
    w.iter_mut().for_each(|v| *v /= mean);
    Some(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::activations::{ClipActs, FrameActs};
    use crate::train::Song;

    fn clip(frames: usize) -> ClipActs {
        ClipActs {
            frames: vec![
                FrameActs {
                    seq: vec![],
                    features: vec![0.0],
                    pooled: vec![],
                    logits: vec![],
                    probs: vec![],
                    mfcc: vec![],
                };
                frames
            ],
        }
    }

    /// Genre 0: three one-frame songs; genre 1: one song of four frames. Balanced, each genre
    /// carries half of the total weight whatever its frame count, and a long song's frames
    /// share its weight.
    #[test]
    fn weights_count_songs_not_frames() {
        let (short, long) = (clip(1), clip(4));
        let songs: Vec<Song> = [(&short, 0), (&short, 0), (&short, 0), (&long, 1)]
            .into_iter()
            .map(|(acts, target)| Song {
                acts,
                target,
                artist: None,
            })
            .collect();
        assert_eq!(frame_weights(Balance::None, &songs), None);
        let w = frame_weights(Balance::Weights, &songs).unwrap();
        assert_eq!(w.len(), 7);
        let total: f64 = w.iter().sum();
        assert!((total - 7.0).abs() < 1e-12, "mean 1");
        let genre0: f64 = w[..3].iter().sum();
        assert!((genre0 - total / 2.0).abs() < 1e-12, "{w:?}");
        assert!(w[3..].iter().all(|&v| (v - w[3]).abs() < 1e-15));
        // Sqrt: genre totals ∝ √3 : √1.
        let w = frame_weights(Balance::Sqrt, &songs).unwrap();
        let (g0, g1): (f64, f64) = (w[..3].iter().sum(), w[3..].iter().sum());
        assert!((g0 / g1 - 3f64.sqrt()).abs() < 1e-12, "{w:?}");
    }
}

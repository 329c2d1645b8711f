//! Running a frozen network over a data set once: every clip (and augmented copy) a training
//! or evaluation run needs, read from the activation cache where it is there. Shared by
//! `finetune` and `eval gtzan` so that a library user reproduces a CLI run exactly.

use std::path::PathBuf;

use super::activations::{ActivationCache, Augment, ClipActs, Extractor};
use super::Song;
use crate::dataset::Clip;
use crate::hash::fnv1a;
use crate::model::{Model, ModelFile};
use crate::progress::Progress;
use crate::resample::ResamplerKind;

/// The seed of augmented copy `copy` of a clip: derived from the run's seed and the clip's
/// name (not its position), so adding clips to a data set does not change other clips' copies.
pub fn augment_seed(seed: u64, clip_name: &str, copy: usize) -> u64 {
    fnv1a(seed, clip_name.bytes().chain(copy.to_le_bytes()))
}

/// Which clips get augmented copies, and how many.
#[derive(Debug, Clone, Copy)]
pub struct AugmentPlan<'a> {
    /// Indices into the clip list of the clips that get copies.
    pub clips: &'a [usize],
    /// Augmented copies per clip (0: none).
    pub copies: usize,
    /// The run's seed; each copy's own seed is [`augment_seed`] of it.
    pub seed: u64,
}

/// How the frozen network runs.
#[derive(Debug, Clone)]
pub struct ExtractConfig {
    /// The front end's resampler (part of the cache key: activations differ with it).
    pub resampler: ResamplerKind,
    /// Frames per forward pass.
    pub batch: usize,
    /// Folder of cached activations (kept across runs); `None` = no cache.
    pub cache: Option<PathBuf>,
}

/// Activations of a data set's clips.
#[derive(Debug, Clone)]
pub struct Activations {
    /// Per clip; `None` if it was not wanted or could not be read.
    pub clips: Vec<Option<ClipActs>>,
    /// Augmented copies per clip (only for the planned clips).
    pub augmented: Vec<Vec<ClipActs>>,
    /// Files that failed, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Activations {
    /// The readable clips among `idx` with their targets and artists (`None`: unknown), plus
    /// (if `with_aug`) each clip's augmented copies under the same target and artist.
    pub fn songs<'a>(
        &'a self,
        idx: &[usize],
        targets: &[usize],
        artists: &[Option<usize>],
        with_aug: bool,
    ) -> Vec<Song<'a>> {
        let mut v = Vec::new();
        for &i in idx {
            if let Some(c) = &self.clips[i] {
                let song = |acts| Song {
                    acts,
                    target: targets[i],
                    artist: artists[i],
                };
                v.push(song(c));
                if with_aug {
                    v.extend(self.augmented[i].iter().map(song));
                }
            }
        }
        v
    }
}

/// Run the frozen `model` over `clips[i]` for every `i` in `wanted`, plus the augmented copies
/// `plan` asks for. Unreadable files are reported to `progress` and skipped.
pub fn extract(
    model: &Model,
    source: &ModelFile,
    cfg: &ExtractConfig,
    clips: &[Clip],
    wanted: &[usize],
    plan: &AugmentPlan,
    progress: &dyn Progress,
) -> Activations {
    let cache = ActivationCache::new(cfg.cache.clone());
    let mut ex = Extractor::new(model, cfg.resampler, cfg.batch);
    let aug = Augment::default();
    let mut out = Activations {
        clips: vec![None; clips.len()],
        augmented: vec![Vec::new(); clips.len()],
        skipped: Vec::new(),
    };
    progress.begin(
        &format!("running {} over the clips", source.spec),
        wanted.len() + plan.clips.len() * plan.copies,
    );
    for &i in wanted {
        let clip = &clips[i];
        let key = ActivationCache::key(&source.id, &clip.path, cfg.resampler, None);
        let r = match cache.get(&key) {
            Some(a) => Ok(a),
            None => ex.extract(&clip.path, None).inspect(|a| cache.put(&key, a)),
        };
        progress.advance(1);
        match r {
            Ok(a) if !a.frames.is_empty() => out.clips[i] = Some(a),
            Ok(_) => out
                .skipped
                .push((clip.path.clone(), "no frames".to_string())),
            Err(e) => {
                progress.note(&format!("skipped {}: {e}", clip.path.display()));
                out.skipped.push((clip.path.clone(), e.to_string()));
            }
        }
    }
    for &i in plan.clips {
        if out.clips[i].is_none() {
            continue;
        }
        let clip = &clips[i];
        for k in 0..plan.copies {
            let s = augment_seed(plan.seed, &clip.name, k);
            let key = ActivationCache::key(&source.id, &clip.path, cfg.resampler, Some(s));
            let r = match cache.get(&key) {
                Some(a) => Ok(a),
                None => ex
                    .extract(&clip.path, Some((s, &aug)))
                    .inspect(|a| cache.put(&key, a)),
            };
            progress.advance(1);
            if let Ok(a) = r {
                out.augmented[i].push(a);
            }
        }
    }
    progress.end();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augment_seeds_depend_on_seed_name_and_copy() {
        let s = augment_seed(0, "blues.00000", 0);
        assert_eq!(s, augment_seed(0, "blues.00000", 0));
        assert_ne!(s, augment_seed(1, "blues.00000", 0));
        assert_ne!(s, augment_seed(0, "blues.00001", 0));
        assert_ne!(s, augment_seed(0, "blues.00000", 1));
    }
}

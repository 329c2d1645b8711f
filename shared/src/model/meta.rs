//! The metadata of a model file: the keys the published files carry and those `mgr-cli
//! finetune` adds, written and read in this one place.
//!
//! Published files carry `labels` (JSON list), `model` (a name), and optionally `bn_eps`. A
//! trained file adds `base_model`, `strategy`, `config`, `validation`, `history` (JSON), and
//! `provenance`: where the model came from, for `classify` and the plugin to show.

use std::collections::HashMap;

/// Most metadata entries a model file may carry: the published files carry 20, a trained one
/// 25.
pub const MAX_ENTRIES: usize = 64;

/// Most bytes of metadata (keys and values together): the published files carry 3 KB, a
/// trained one 5 KB, and a fine-tune's `history` grows by about 150 bytes an epoch (300
/// epochs at most by default: 45 KB).
pub const MAX_BYTES: usize = 1 << 20;

/// Most labels a model may have: the published taggers have 50, GTZAN 10. The limit keeps
/// every per-label table (scores, bars, history colours, the stacked head) small.
pub const MAX_LABELS: usize = 1024;

/// Longest label, in bytes (the longest published one, `female vocalists`, has 16).
pub const MAX_LABEL_BYTES: usize = 128;

/// Entries shown on one line (`classify`'s model line, the plugin's model panel): a control
/// character in them (a newline, a terminal escape) is refused.
const ONE_LINE: [&str; 6] = [
    keys::MODEL,
    keys::BASE_MODEL,
    keys::BASE_MODEL_SPEC,
    keys::STRATEGY,
    keys::OUTPUT_ACTIVATION,
    keys::BN_EPS,
];

/// `s` holds a control character other than the line breaks and tabs of formatted JSON
/// (`one_line`: any control character).
fn has_control(s: &str, one_line: bool) -> bool {
    s.chars()
        .any(|c| c.is_control() && (one_line || !matches!(c, '\n' | '\r' | '\t')))
}

/// Check a model file's metadata against the limits above: number and size of the entries,
/// no control characters in what is shown, and a provenance whose summary is one line.
pub fn check(meta: &HashMap<String, String>) -> Result<(), String> {
    if meta.len() > MAX_ENTRIES {
        return Err(format!(
            "{} metadata entries (at most {MAX_ENTRIES})",
            meta.len()
        ));
    }
    let bytes: usize = meta.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > MAX_BYTES {
        return Err(format!("{bytes} bytes of metadata (at most {MAX_BYTES})"));
    }
    let mut entries: Vec<_> = meta.iter().collect();
    entries.sort();
    for (k, v) in entries {
        let one_line = ONE_LINE.contains(&k.as_str());
        if has_control(k, true) || has_control(v, one_line) {
            return Err(format!(
                "metadata entry {:?} holds control characters",
                truncate(k, 40)
            ));
        }
    }
    if let Some(p) = Provenance::from_metadata(meta) {
        if has_control(&p.summary(), true) {
            return Err("metadata provenance holds control characters".into());
        }
    }
    Ok(())
}

/// The labels the metadata lists (`None` when it lists none), each non-empty, at most
/// [`MAX_LABEL_BYTES`] long and without control characters, at most [`MAX_LABELS`] of them.
pub fn labels(meta: &HashMap<String, String>) -> Result<Option<Vec<String>>, String> {
    let Some(json) = meta.get(keys::LABELS) else {
        return Ok(None);
    };
    let labels: Vec<String> = serde_json::from_str(json)
        .map_err(|e| format!("metadata labels is not a JSON list of strings: {e}"))?;
    if labels.len() > MAX_LABELS {
        return Err(format!("{} labels (at most {MAX_LABELS})", labels.len()));
    }
    for (i, l) in labels.iter().enumerate() {
        if l.trim().is_empty() || l.len() > MAX_LABEL_BYTES || has_control(l, true) {
            return Err(format!(
                "label {i} ({:?}) is empty, longer than {MAX_LABEL_BYTES} bytes or holds \
                 control characters",
                truncate(l, 40)
            ));
        }
    }
    Ok(Some(labels))
}

/// At most `n` characters of `s`, for messages.
fn truncate(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Metadata keys.
pub mod keys {
    /// JSON list of the output labels, in output order.
    pub const LABELS: &str = "labels";
    /// Model name (first word) and a description.
    pub const MODEL: &str = "model";
    /// The `model` entry of the model a trained file was derived from.
    pub const BASE_MODEL: &str = "base_model";
    /// BatchNorm epsilon (default 1e-5).
    pub const BN_EPS: &str = "bn_eps";
    /// Training strategy (`features-svm`, `finetune`, …).
    pub const STRATEGY: &str = "strategy";
    /// The base model as named on the command line.
    pub const BASE_MODEL_SPEC: &str = "base_model_spec";
    /// JSON: the training configuration.
    pub const CONFIG: &str = "config";
    /// JSON: validation results of the selected model.
    pub const VALIDATION: &str = "validation";
    /// JSON: one entry per epoch.
    pub const HISTORY: &str = "history";
    /// Output non-linearity of the scores (`sigmoid` or `softmax`).
    pub const OUTPUT_ACTIVATION: &str = "output_activation";
    /// JSON [`super::Provenance`].
    pub const PROVENANCE: &str = "provenance";
    /// JSON list: each label as users spelled it most often in the training tags (models
    /// trained with `--labels tags`); written into tags and shown instead of the labels.
    pub const DISPLAY_NAMES: &str = "display_names";
}

/// Where a trained model came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// What wrote the file (`mgr-cli finetune`).
    pub tool: String,
    /// Training strategy.
    pub strategy: String,
    /// The base model as named on the command line.
    pub base_model: String,
    /// Training data folders, as given.
    pub data: Vec<String>,
    /// Songs used for training (without augmented copies).
    pub train_songs: usize,
    /// Songs used for validation (0 when the recipe trains on every song and is
    /// cross-validated instead).
    pub valid_songs: usize,
    /// Split of the data (`all`, `fault-filtered`, …) and how validation songs were chosen
    /// (`artist`: whole artist groups, none of them in training; `clip`).
    pub split: String,
    /// How validation songs were kept apart from training: `artist` or `clip`
    /// ([`crate::dataset::Prepared::grouping`]).
    pub grouping: String,
    /// Song-level accuracy on the validation songs (mean rule).
    pub validation_accuracy: Option<f64>,
    /// For strategies trained on every song: the same recipe's cross-validated accuracy.
    #[serde(default)]
    pub cross_validation: Option<CrossValidation>,
    /// The seed every random choice came from.
    pub seed: u64,
    /// Where labels and artist groups came from (absent in files of earlier versions).
    #[serde(default)]
    pub sources: Option<DataSources>,
}

/// Where the training songs' labels and artist groups came from.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataSources {
    /// `folder` (genre folders) or `tags` (genre tags).
    pub labels: String,
    /// How many songs got their artist group from which source.
    pub artists: crate::dataset::tagged::ArtistSources,
}

/// The display names of a model's labels (`None` when the file has none, or not one per
/// label).
pub fn display_names(meta: &HashMap<String, String>, labels: &[String]) -> Option<Vec<String>> {
    let names: Vec<String> = serde_json::from_str(meta.get(keys::DISPLAY_NAMES)?).ok()?;
    (names.len() == labels.len()).then_some(names)
}

/// Cross-validation of a recipe on its training songs.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossValidation {
    /// `kfold:5`.
    pub split: String,
    /// `artist` (artist-grouped folds) or `clip`.
    pub grouping: String,
    /// Test songs scored over all folds (each readable training song once).
    pub songs: usize,
    /// Song-level accuracy (mean rule) pooled over the test folds.
    pub accuracy: f64,
    /// Mean per-genre recall, pooled over the test folds (`None` in files written before it
    /// was recorded).
    #[serde(default)]
    pub balanced_accuracy: Option<f64>,
    /// Mean per-genre F1, pooled over the test folds (`None` in older files).
    #[serde(default)]
    pub macro_f1: Option<f64>,
    /// Recall of every genre, in label order (empty in older files).
    #[serde(default)]
    pub recall: Vec<GenreRecall>,
}

/// How many of a genre's songs a cross-validation decided right.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GenreRecall {
    /// The genre's label.
    pub genre: String,
    /// Its songs in the cross-validation's test folds.
    pub songs: usize,
    /// The share of those songs decided right (0..=1).
    pub recall: f64,
}

impl CrossValidation {
    /// Whether the folds kept every artist on one side: only then is the accuracy what to
    /// expect on artists the model never heard.
    pub fn artist_grouped(&self) -> bool {
        self.grouping == "artist"
    }

    /// Every genre's recall for people: `blues 83 % of 47, classical 98 % of 59, …`.
    pub fn recall_line(&self) -> String {
        let genres: Vec<String> = self
            .recall
            .iter()
            .map(|r| format!("{} {:.0} % of {}", r.genre, 100.0 * r.recall, r.songs))
            .collect();
        genres.join(", ")
    }

    /// One line for people: the accuracy, the balanced numbers, and plainly what it measures.
    pub fn describe(&self) -> String {
        let balanced = match (self.balanced_accuracy, self.macro_f1) {
            (Some(b), Some(f)) => format!(" (balanced {:.1} %, macro-F1 {:.3})", 100.0 * b, f),
            _ => String::new(),
        };
        let what = if self.artist_grouped() {
            "artist-grouped, no test song's artist heard in training: the accuracy to expect on new artists"
        } else {
            "NOT artist-grouped: no artist information, so songs of one artist sit on both sides \
             of the folds; expect less on artists the model never heard"
        };
        format!(
            "{:.1} %{balanced} in {} cross-validation of {} songs ({what})",
            100.0 * self.accuracy,
            self.split,
            self.songs
        )
    }
}

impl Provenance {
    /// From a file's metadata (`None` for published files or unreadable entries).
    pub fn from_metadata(meta: &HashMap<String, String>) -> Option<Self> {
        serde_json::from_str(meta.get(keys::PROVENANCE)?).ok()
    }

    /// One line for people: what it is, what it learned from, how it validated.
    pub fn summary(&self) -> String {
        let validation = match (&self.cross_validation, self.validation_accuracy) {
            (Some(cv), _) => cv.describe(),
            (None, Some(a)) => format!(
                "{:.1} % on {} validation songs ({} grouping)",
                100.0 * a,
                self.valid_songs,
                self.grouping
            ),
            (None, None) => "no validation songs".to_string(),
        };
        let sources = match &self.sources {
            Some(s) if s.labels == "tags" => format!("; labels from tags, {}", s.artists),
            _ => String::new(),
        };
        format!(
            "{} from {} on {} songs of {} (split {}, seed {}); validation {validation}{sources}",
            self.strategy,
            self.base_model,
            self.train_songs,
            self.data.join(" + "),
            self.split,
            self.seed
        )
    }
}

/// What `finetune` records in a trained model's file beside its tensors, turned into the
/// metadata [`keys`] in one place.
#[derive(Debug, Clone)]
pub struct TrainedModel<'a> {
    /// The genres it predicts, in output order.
    pub labels: &'a [String],
    /// Their display names (empty: none recorded).
    pub display: &'a [String],
    /// Short model name (the output file's stem).
    pub name: String,
    /// Training strategy.
    pub strategy: String,
    /// The base model as the user named it.
    pub base_model: String,
    /// The training configuration.
    pub config: serde_json::Value,
    /// Validation results of the written model.
    pub validation: serde_json::Value,
    /// One JSON entry per epoch of a fine-tune (already serialised).
    pub history: Option<String>,
    /// Output non-linearity of the scores.
    pub output_activation: &'static str,
    /// Where it came from, for `classify` and the plugin to show.
    pub provenance: Provenance,
}

impl TrainedModel<'_> {
    /// The metadata entries (the base model's own entries are kept beside them).
    pub fn metadata(&self) -> Result<HashMap<String, String>, serde_json::Error> {
        let mut m = HashMap::from([
            (
                keys::LABELS.to_string(),
                serde_json::to_string(self.labels)?,
            ),
            (
                keys::MODEL.to_string(),
                format!(
                    "{} (mgr-cli finetune, {} from {})",
                    self.name, self.strategy, self.base_model
                ),
            ),
            (keys::STRATEGY.to_string(), self.strategy.clone()),
            (keys::BASE_MODEL_SPEC.to_string(), self.base_model.clone()),
            (keys::CONFIG.to_string(), self.config.to_string()),
            (keys::VALIDATION.to_string(), self.validation.to_string()),
            (
                keys::OUTPUT_ACTIVATION.to_string(),
                self.output_activation.to_string(),
            ),
            (
                keys::PROVENANCE.to_string(),
                serde_json::to_string(&self.provenance)?,
            ),
        ]);
        if !self.display.is_empty() {
            m.insert(
                keys::DISPLAY_NAMES.to_string(),
                serde_json::to_string(self.display)?,
            );
        }
        if let Some(h) = &self.history {
            m.insert(keys::HISTORY.to_string(), h.clone());
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_round_trips_through_metadata() {
        let p = Provenance {
            tool: "mgr-cli finetune".into(),
            strategy: "features-svm".into(),
            base_model: "fcn".into(),
            data: vec!["a".into(), "b".into()],
            train_songs: 200,
            valid_songs: 20,
            split: "all".into(),
            grouping: "artist".into(),
            validation_accuracy: Some(0.85),
            cross_validation: None,
            seed: 4,
            sources: None,
        };
        let meta = HashMap::from([(
            keys::PROVENANCE.to_string(),
            serde_json::to_string(&p).unwrap(),
        )]);
        assert_eq!(Provenance::from_metadata(&meta), Some(p.clone()));
        assert!(Provenance::from_metadata(&HashMap::new()).is_none());
        let line = p.summary();
        assert!(
            line.contains("85.0 % on 20 validation songs (artist grouping)"),
            "{line}"
        );
    }

    /// A file written before the balanced numbers existed still loads and reads as before; a
    /// clip-grouped cross-validation says plainly that it is not the accuracy on new artists.
    #[test]
    fn cross_validation_of_old_files_and_without_artists() {
        let old = r#"{"tool":"mgr-cli finetune","strategy":"stack","base_model":"gtzan",
            "data":["d"],"train_songs":269,"valid_songs":0,"split":"all","grouping":"artist",
            "validation_accuracy":null,"cross_validation":{"split":"kfold:5","grouping":"artist",
            "songs":269,"accuracy":0.874},"seed":0}"#;
        let meta = HashMap::from([(keys::PROVENANCE.to_string(), old.to_string())]);
        let p = Provenance::from_metadata(&meta).expect("an old provenance loads");
        let cv = p.cross_validation.clone().unwrap();
        assert_eq!((cv.balanced_accuracy, cv.macro_f1), (None, None));
        assert!(cv.recall.is_empty());
        assert_eq!(cv.recall_line(), "");
        let line = p.summary();
        assert!(
            line.contains("87.4 % in kfold:5 cross-validation of 269 songs (artist-grouped")
                && line.contains("the accuracy to expect on new artists"),
            "{line}"
        );
        let clip = CrossValidation {
            grouping: "clip".into(),
            accuracy: 0.933,
            balanced_accuracy: Some(0.9),
            macro_f1: Some(0.91),
            recall: vec![
                GenreRecall {
                    genre: "blues".into(),
                    songs: 4,
                    recall: 0.75,
                },
                GenreRecall {
                    genre: "jazz".into(),
                    songs: 3,
                    recall: 1.0,
                },
            ],
            ..cv
        };
        assert_eq!(clip.recall_line(), "blues 75 % of 4, jazz 100 % of 3");
        let line = clip.describe();
        assert!(
            line.starts_with("93.3 % (balanced 90.0 %, macro-F1 0.910) in kfold:5")
                && line.contains("NOT artist-grouped")
                && !line.contains("to expect on new artists"),
            "{line}"
        );
    }
}

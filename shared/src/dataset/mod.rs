//! Labelled songs for training and evaluation: GTZAN in its real layouts (the original
//! `genres/<genre>/<genre>.000NN.au`, the common WAV copy `genres_original/<genre>/…`, or any
//! folder of `<genre>/<file>` trees; the label of a clip is the name of the first folder below
//! the root that holds it), several folders at once, who performs each clip ([`artists`]), and
//! how the clips are split ([`split`]). [`prepare`] does all three for a run. A tagged music
//! library in any layout is data too: its labels and artists then come from the tags
//! ([`tagged`], [`genre_names`]).

pub mod artists;
pub mod genre_names;
pub mod split;
pub mod tagged;

use std::path::{Path, PathBuf};

use crate::audio::has_audio_extension;
use artists::{ArtistIndex, ArtistSource, Groups};
use split::{plan, SplitPlan, SplitSpec};
use tagged::{ArtistSources, LabelSource};

/// What can go wrong when reading data folders, an artist index or a split request.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// The data folder does not exist or cannot be listed, or an index cannot be read.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// No `<genre>/<file>` audio files were found under the folder.
    #[error("{0}: no audio files in <genre>/ sub-folders (expected GTZAN's genres/<genre>/<clip> layout)")]
    NoClips(PathBuf),
    /// `--split` was not one of the accepted forms.
    #[error("unknown split {0:?} (all|fault-filtered|random|kfold:K|kfold-random:K with K ≥ 2)")]
    UnknownSplit(String),
    /// An artist index file that lists no clip.
    #[error("{0}: not an artist index (expected lines `genre.000NN.wav ::: artist ::: title`)")]
    BadArtistIndex(PathBuf),
    /// Two data folders hold a clip of the same name: it would be counted twice.
    #[error("clip {name} is in the data twice: {first} and {second}")]
    DuplicateClip {
        /// The clip name found twice (file name without extension, e.g. `blues.00012`).
        name: String,
        /// Its path in the first folder (in sorted order).
        first: PathBuf,
        /// Its path in the other folder.
        second: PathBuf,
    },
    /// A data genre the model cannot predict.
    #[error("genre folder {genre:?} is not a label of the model ({labels}); train a classifier to learn these genres")]
    UnknownGenre {
        /// The genre folder's name.
        genre: String,
        /// The model's labels, joined with `", "` for the message.
        labels: String,
    },
    /// `--genre-map` cannot be read or parsed.
    #[error(transparent)]
    GenreMap(#[from] genre_names::GenreMapError),
    /// `--labels tags` on data where no song has a usable genre tag.
    #[error("no song in {} has a genre tag ({untagged} songs without one): tag some, or use --labels folder with <genre>/ folders", .data.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(" + "))]
    NoGenreTags {
        /// The data folders.
        data: Vec<PathBuf>,
        /// Songs found without a genre tag.
        untagged: usize,
    },
    /// More genres than a model is trained for ([`tagged::MAX_GENRES`]).
    #[error("{genres} genres with at least {min_songs} songs (at most {max} are learned): merge spellings and sub-genres with --genre-map, or raise --min-songs", max = tagged::MAX_GENRES)]
    TooManyGenres {
        /// Genres with enough songs.
        genres: usize,
        /// `--min-songs`.
        min_songs: usize,
    },
    /// Fewer than two genres have enough songs to learn.
    #[error("only {kept} of {genres} genres have at least {min_songs} songs; a classifier needs two: lower --min-songs or merge genres with --genre-map")]
    TooFewGenres {
        /// Genres with enough songs.
        kept: usize,
        /// Genres found.
        genres: usize,
        /// `--min-songs`.
        min_songs: usize,
    },
    /// The split leaves a part empty (e.g. k-fold with more folds than clips of a genre).
    #[error("split {split}: {reason}")]
    EmptySplit {
        /// The split as written (`kfold:10`, see [`split::SplitSpec`]'s `Display`).
        split: String,
        /// Which part is empty and why.
        reason: String,
    },
}

/// One audio file and its genre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    /// The audio file, as found below the data folder.
    pub path: PathBuf,
    /// Folder name directly below the root, e.g. `jazz`.
    pub genre: String,
    /// File name without extension, e.g. `jazz.00054`: what the split lists match on.
    pub name: String,
}

/// All clips under a root, sorted by genre and name, with the genres in sorted order.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Every clip, sorted by genre, then name.
    pub clips: Vec<Clip>,
    /// The genre folders that hold at least one clip, sorted.
    pub genres: Vec<String>,
}

impl Dataset {
    /// Index of every clip's genre in [`Dataset::genres`].
    pub fn targets(&self) -> Vec<usize> {
        self.clips
            .iter()
            .map(|c| self.genres.iter().position(|g| *g == c.genre).unwrap_or(0))
            .collect()
    }
}

/// The folder whose sub-folders are the genres: `dir/genres`, `dir/genres_original`, or `dir`.
pub fn genre_root(dir: &Path) -> PathBuf {
    for sub in ["genres", "genres_original"] {
        let p = dir.join(sub);
        if p.is_dir() {
            return p;
        }
    }
    dir.to_path_buf()
}

/// [`discover`] over several folders at once (e.g. gtzan-mini and gtzan-more): the clips of
/// all, sorted by genre and name, the genres of all. A clip name found twice is an error: the
/// same song would be counted twice and could sit on both sides of a split.
pub fn discover_all(dirs: &[PathBuf]) -> Result<Dataset, DatasetError> {
    let mut clips: Vec<Clip> = Vec::new();
    for dir in dirs {
        clips.extend(discover(dir)?.clips);
    }
    clips.sort_by(|a, b| (&a.genre, &a.name, &a.path).cmp(&(&b.genre, &b.name, &b.path)));
    for w in clips.windows(2) {
        if w[0].name == w[1].name && w[0].genre == w[1].genre {
            return Err(DatasetError::DuplicateClip {
                name: w[0].name.clone(),
                first: w[0].path.clone(),
                second: w[1].path.clone(),
            });
        }
    }
    let mut genres: Vec<String> = clips.iter().map(|c| c.genre.clone()).collect();
    genres.dedup();
    Ok(Dataset { clips, genres })
}

/// Find every audio file (by extension) below `dir`'s genre folders.
pub fn discover(dir: &Path) -> Result<Dataset, DatasetError> {
    let root = genre_root(dir);
    let mut genre_dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(crate::error::IoError::on("list data folder", &root))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    genre_dirs.sort();
    let mut clips = Vec::new();
    let mut genres = Vec::new();
    for gdir in genre_dirs {
        let Some(genre) = gdir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        let mut files = Vec::new();
        walk(&gdir, &mut files);
        if files.is_empty() {
            continue;
        }
        files.sort();
        genres.push(genre.clone());
        for path in files {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            clips.push(Clip {
                path,
                genre: genre.clone(),
                name,
            });
        }
    }
    if clips.is_empty() {
        return Err(DatasetError::NoClips(dir.to_path_buf()));
    }
    Ok(Dataset { clips, genres })
}

/// The data, artists and split of a run: what both `eval` and `finetune` start from.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The clips found in all data folders ([`discover_all`]).
    pub dataset: Dataset,
    /// Genre index of every clip in `labels`.
    pub targets: Vec<usize>,
    /// The genres the system predicts: the `labels` passed to [`prepare`], or the data's own
    /// genres when none were.
    pub labels: Vec<String>,
    /// The artist group of every clip (one group per clip without an index).
    pub groups: Groups,
    /// The artist index the groups came from, if the [`ArtistSource`] found one.
    pub index: Option<ArtistIndex>,
    /// The folds of the requested split ([`split::plan`]).
    pub plan: SplitPlan,
    /// `folder` or `tags` ([`LabelSource::name`]).
    pub labels_from: &'static str,
    /// How many clips got their artist group from which source.
    pub artist_sources: ArtistSources,
    /// The display name of each of `labels` (the users' most frequent spelling) when labels
    /// come from tags; empty otherwise.
    pub display: Vec<String>,
    /// What finding the data left out, one line each (for the run's report).
    pub notes: Vec<String>,
}

impl Prepared {
    /// How songs were kept apart across splits: `artist` (whole artist groups, from an index
    /// or from tags and folders) or `clip`.
    pub fn grouping(&self) -> &'static str {
        if self.index.is_some() || self.artist_sources.tag + self.artist_sources.folder > 0 {
            "artist"
        } else {
            "clip"
        }
    }
}

/// The clips of `data` labelled as `from` says, their artist groups and where those came
/// from, the display names and the notes of a tag scan.
struct Found {
    dataset: Dataset,
    groups: Groups,
    sources: ArtistSources,
    display: Vec<String>,
    notes: Vec<String>,
}

fn find(
    data: &[PathBuf],
    from: &LabelSource,
    index: Option<&ArtistIndex>,
) -> Result<Found, DatasetError> {
    match from {
        LabelSource::Folder => {
            let dataset = discover_all(data)?;
            let groups = match index {
                Some(idx) => Groups::from_index(&dataset.clips, idx),
                None => Groups::singletons(&dataset.clips),
            };
            let sources = ArtistSources::of_index(&dataset.clips, index);
            Ok(Found {
                dataset,
                groups,
                sources,
                display: Vec::new(),
                notes: Vec::new(),
            })
        }
        LabelSource::Tags(cfg) => {
            let scan = tagged::scan(data, cfg)?;
            let (groups, sources) = tagged::groups(&scan.dataset.clips, &scan.artists, index);
            let mut notes = scan.summary(cfg.min_songs);
            notes.push(sources.to_string());
            Ok(Found {
                groups,
                sources,
                display: scan.display,
                notes,
                dataset: scan.dataset,
            })
        }
    }
}

/// Find the clips of `data` (labelled as `from` says), their artists, and split them.
/// `labels` = the genres the system predicts (`None`: the data's own genres); every data
/// genre must be one of them.
pub fn prepare(
    data: &[PathBuf],
    from: &LabelSource,
    labels: Option<&[String]>,
    artists: &ArtistSource,
    split: SplitSpec,
    seed: u64,
    valid_per_genre: usize,
) -> Result<Prepared, DatasetError> {
    let index = artists.load(data)?;
    let found = find(data, from, index.as_ref())?;
    let (dataset, groups) = (found.dataset, found.groups);
    let labels = labels.map_or_else(|| dataset.genres.clone(), <[String]>::to_vec);
    let mut targets = Vec::with_capacity(dataset.clips.len());
    for c in &dataset.clips {
        let t = labels.iter().position(|l| *l == c.genre).ok_or_else(|| {
            DatasetError::UnknownGenre {
                genre: c.genre.clone(),
                labels: labels.join(", "),
            }
        })?;
        targets.push(t);
    }
    let plan = plan(
        split,
        &dataset.clips,
        &targets,
        &groups,
        seed,
        valid_per_genre,
    )?;
    Ok(Prepared {
        display: display_of(&labels, &dataset.genres, &found.display),
        dataset,
        targets,
        labels,
        groups,
        index,
        plan,
        labels_from: from.name(),
        artist_sources: found.sources,
        notes: found.notes,
    })
}

/// The display name of each label: the data genre's (`display[i]` for `genres[i]`), or the
/// label itself; empty when the data has no display names.
fn display_of(labels: &[String], genres: &[String], display: &[String]) -> Vec<String> {
    if display.is_empty() {
        return Vec::new();
    }
    labels
        .iter()
        .map(|l| {
            genres
                .iter()
                .position(|g| g == l)
                .and_then(|i| display.get(i))
                .unwrap_or(l)
                .clone()
        })
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for p in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        if p.is_dir() {
            walk(&p, out);
        } else if has_audio_extension(&p) {
            out.push(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str, files: &[&str]) -> PathBuf {
        let root = std::env::temp_dir().join(format!("mgr-ds-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for f in files {
            let p = root.join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"x").unwrap();
        }
        root
    }

    #[test]
    fn finds_the_three_layouts() {
        let a = tree(
            "orig",
            &["genres/jazz/jazz.00001.au", "genres/rock/rock.00002.au"],
        );
        let b = tree(
            "wav",
            &[
                "genres_original/jazz/jazz.00054.wav",
                "genres_original/blues/blues.00000.wav",
                "genres_original/blues/readme.txt",
            ],
        );
        let c = tree("any", &["pop/live/x.mp3", "pop/y.flac", "empty/z.txt"]);
        let da = discover(&a).unwrap();
        assert_eq!(da.genres, ["jazz", "rock"]);
        assert_eq!(da.clips[0].name, "jazz.00001");
        let db = discover(&b).unwrap();
        assert_eq!(db.genres, ["blues", "jazz"]);
        assert_eq!(db.clips.len(), 2);
        assert_eq!(db.targets(), [0, 1]);
        let dc = discover(&c).unwrap();
        assert_eq!(dc.genres, ["pop"]);
        assert_eq!(
            dc.clips.len(),
            2,
            "nested files count for the top genre folder"
        );
        assert!(matches!(
            discover(&c.join("empty")),
            Err(DatasetError::NoClips(_))
        ));
        assert!(matches!(
            discover(&c.join("missing")),
            Err(DatasetError::Io(_))
        ));
        for d in [a, b, c] {
            let _ = std::fs::remove_dir_all(d);
        }
    }

    #[test]
    fn several_folders_merge_and_refuse_a_clip_twice() {
        let a = tree(
            "multi-a",
            &["genres/jazz/jazz.00001.au", "genres/rock/rock.00002.au"],
        );
        let b = tree(
            "multi-b",
            &[
                "genres/jazz/jazz.00030.flac",
                "genres/blues/blues.00040.flac",
            ],
        );
        let ds = discover_all(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(ds.genres, ["blues", "jazz", "rock"]);
        let names: Vec<&str> = ds.clips.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["blues.00040", "jazz.00001", "jazz.00030", "rock.00002"]
        );
        assert_eq!(ds.targets(), [0, 1, 1, 2]);
        assert!(matches!(
            discover_all(&[a.clone(), a.clone()]),
            Err(DatasetError::DuplicateClip { .. })
        ));
        for d in [a, b] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

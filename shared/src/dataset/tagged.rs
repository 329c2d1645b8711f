//! A music library as training data (`--labels tags`): any layout, the genre and the artist
//! of each song read from its tags.
//!
//! * The files are those `classify` would take ([`crate::library::walk`]: sorted, hidden
//!   entries skipped, symbolic link loops reported once and skipped).
//! * A song's label is its genre tag (ID3v2 `TCON`, Vorbis `GENRE`, RIFF `IGNR`, read with
//!   lofty), turned into a label by [`super::genre_names`]: first value, ID3v1 references
//!   resolved, `--genre-map` applied, spellings normalised.
//! * Songs without a usable genre are counted and left out: they are what `classify
//!   --write-tags --only-untagged` tags later. Genres with fewer than `--min-songs` songs are
//!   left out and reported.
//! * The same audio under two paths (a copy with other tags) counts once: the first in walk
//!   order is kept ([`crate::library::tags::audio_hash`]).
//! * A song's artist group comes from the first source that knows it ([`ArtistFrom`]): the
//!   artist index, the artist tag (`TPE1` / `ARTIST`; the album artist when the track artist
//!   is missing; featured artists stripped by [`main_artist`]), the folder layout
//!   (`Artist/Album/track` below the data folder), else unknown (a group of its own).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use lofty::config::{ParseOptions, ParsingMode};
use lofty::prelude::{ItemKey, TaggedFileExt};

use super::artists::{ArtistIndex, ArtistOf, Groups};
use super::genre_names::{genre_of, normalise, GenreMap, Spellings};
use super::{Clip, Dataset, DatasetError};
use crate::library::tags::audio_hash;
use crate::library::walk::{walk, WalkOptions};

/// Default of `--min-songs`: fewer songs than this do not make a genre worth learning.
pub const DEFAULT_MIN_SONGS: usize = 10;

/// Most genres a model is trained for; a library past this needs `--genre-map` or a larger
/// `--min-songs` (a genre field used for free text gives thousands of "genres").
pub const MAX_GENRES: usize = 500;

/// Where the label of each song comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LabelSource {
    /// The genre folder that holds it (GTZAN layouts).
    #[default]
    Folder,
    /// Its genre tag.
    Tags(TagLabels),
}

impl LabelSource {
    /// `folder` or `tags`, for reports and the provenance.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Folder => "folder",
            Self::Tags(_) => "tags",
        }
    }
}

/// How genre tags become labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagLabels {
    /// The user's merges of spellings and sub-genres (`--genre-map`).
    pub genre_map: Option<PathBuf>,
    /// Genres with fewer songs are left out (`--min-songs`).
    pub min_songs: usize,
}

impl Default for TagLabels {
    fn default() -> Self {
        Self {
            genre_map: None,
            min_songs: DEFAULT_MIN_SONGS,
        }
    }
}

/// The tags of one song that training reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SongTags {
    /// The first genre value, as written.
    pub genre: Option<String>,
    /// The track artist (first value).
    pub artist: Option<String>,
    /// The album artist (first value).
    pub album_artist: Option<String>,
}

/// Read the genre and artists of `path` (every tag of the file, primary tag first). A file
/// lofty cannot read is an error with lofty's reason.
pub fn read_song_tags(path: &Path) -> Result<SongTags, String> {
    let opts = ParseOptions::new()
        .parsing_mode(ParsingMode::BestAttempt)
        .read_properties(false);
    let file = lofty::probe::Probe::open(path)
        .map_err(|e| e.to_string())?
        .options(opts)
        .guess_file_type()
        .map_err(|e| e.to_string())?
        .read()
        .map_err(|e| e.to_string())?;
    let first = |key: ItemKey| -> Option<String> {
        file.primary_tag()
            .into_iter()
            .chain(file.tags())
            .flat_map(|t| t.get_strings(key))
            .map(str::trim)
            .find(|s| !s.is_empty())
            .map(str::to_string)
    };
    Ok(SongTags {
        genre: first(ItemKey::Genre),
        artist: first(ItemKey::TrackArtist),
        album_artist: first(ItemKey::AlbumArtist),
    })
}

/// Whether `path` has a usable genre tag (what `classify --only-untagged` skips). A file
/// whose tags cannot be read counts as untagged.
pub fn has_genre(path: &Path) -> bool {
    let none = GenreMap::default();
    read_song_tags(path).is_ok_and(|t| {
        t.genre
            .as_deref()
            .and_then(|g| genre_of(g, &none))
            .is_some()
    })
}

/// The main artist of an artist tag: the text before the first featured-artist mark
/// (` feat. `, ` feat `, ` ft. `, ` featuring `, and the same in brackets, any case), trimmed.
/// `&` and `with` are kept: they join duos and bands (`Simon & Garfunkel`).
pub fn main_artist(artist: &str) -> &str {
    const MARKS: [&str; 8] = [
        " feat. ",
        " feat ",
        " ft. ",
        " ft ",
        " featuring ",
        "(feat",
        "[feat",
        "(ft.",
    ];
    let lower = artist.to_lowercase();
    let cut = MARKS
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .filter(|&i| artist.is_char_boundary(i))
        .unwrap_or(artist.len());
    artist[..cut].trim()
}

/// Where a song's artist group came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtistFrom {
    /// The artist index (`--artists`).
    Index,
    /// The artist tag, or the album-artist tag.
    Tag,
    /// The folder layout `Artist/Album/track`.
    Folder,
    /// Nothing knows it: a group of its own.
    Unknown,
}

/// How many songs got their artist group from which source (reports and provenance).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArtistSources {
    /// From the artist index.
    pub index: usize,
    /// From the artist (or album-artist) tag.
    pub tag: usize,
    /// From the folder layout.
    pub folder: usize,
    /// Unknown: each its own group.
    pub unknown: usize,
}

impl ArtistSources {
    fn count(&mut self, from: ArtistFrom) {
        match from {
            ArtistFrom::Index => self.index += 1,
            ArtistFrom::Tag => self.tag += 1,
            ArtistFrom::Folder => self.folder += 1,
            ArtistFrom::Unknown => self.unknown += 1,
        }
    }

    /// The counts of folder-labelled data: listed in the index, or unknown.
    pub fn of_index(clips: &[Clip], index: Option<&ArtistIndex>) -> Self {
        let mut s = Self::default();
        for c in clips {
            let listed = index.is_some_and(|i| i.artist(&c.name) != ArtistOf::Unlisted);
            s.count(if listed {
                ArtistFrom::Index
            } else {
                ArtistFrom::Unknown
            });
        }
        s
    }
}

impl std::fmt::Display for ArtistSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "artists of {} songs from the index, {} from tags, {} from folders, {} unknown",
            self.index, self.tag, self.folder, self.unknown
        )
    }
}

/// A library read for training: the songs with a label, and what was left out.
#[derive(Debug, Clone)]
pub struct TagScan {
    /// The labelled songs (`name` = path below the data folder without extension), sorted by
    /// genre, then name; genres are the labels.
    pub dataset: Dataset,
    /// Each song's artist from its tags or folders (before the index is consulted).
    pub artists: Vec<Option<(String, ArtistFrom)>>,
    /// The display name of each genre: the spelling users chose most often.
    pub display: Vec<String>,
    /// Songs without a usable genre tag (left out).
    pub untagged: usize,
    /// Files whose tags could not be read, with lofty's reason (left out).
    pub unreadable: Vec<(PathBuf, String)>,
    /// Genres left out for having fewer than `min_songs` songs, with their song counts.
    pub small: GenreCounts,
    /// What the walk skipped (loops, unreadable folders), one line each.
    pub notes: Vec<String>,
}

impl TagScan {
    /// One line per thing left out, for the run's report.
    pub fn summary(&self, min_songs: usize) -> Vec<String> {
        let mut lines = self.notes.clone();
        lines.push(format!(
            "labels from genre tags: {} songs in {} genres; {} songs without a genre tag left out",
            self.dataset.clips.len(),
            self.dataset.genres.len(),
            self.untagged
        ));
        for (path, reason) in &self.unreadable {
            lines.push(format!(
                "{}: cannot read its tags ({reason}); left out",
                path.display()
            ));
        }
        if !self.small.is_empty() {
            let list: Vec<String> = self
                .small
                .iter()
                .map(|(g, n)| format!("{g} ({n})"))
                .collect();
            lines.push(format!(
                "genres with fewer than {min_songs} songs left out (--min-songs): {}",
                list.join(", ")
            ));
        }
        lines
    }
}

/// One song found with a genre.
struct Found {
    path: PathBuf,
    spelling: String,
    name: String,
    label: String,
    artist: Option<(String, ArtistFrom)>,
}

/// Walk `dirs`, read every song's tags, and keep the songs whose genre has enough songs.
pub fn scan(dirs: &[PathBuf], cfg: &TagLabels) -> Result<TagScan, DatasetError> {
    let map = match &cfg.genre_map {
        Some(p) => GenreMap::load(p)?,
        None => GenreMap::default(),
    };
    let mut found = Vec::new();
    let mut spellings = Spellings::default();
    let (mut untagged, mut unreadable, mut notes) = (0, Vec::new(), Vec::new());
    for dir in dirs {
        let w = walk(std::slice::from_ref(dir), WalkOptions::default());
        notes.extend(w.notes.iter().map(ToString::to_string));
        for path in w.files {
            let tags = match read_song_tags(&path) {
                Ok(t) => t,
                Err(reason) => {
                    unreadable.push((path, reason));
                    continue;
                }
            };
            let Some(genre) = tags.genre.as_deref().and_then(|g| genre_of(g, &map)) else {
                untagged += 1;
                continue;
            };
            found.push(Found {
                spelling: genre.to_string(),
                name: name_below(dir, &path),
                label: normalise(genre),
                artist: artist_of(&tags, dir, &path),
                path,
            });
        }
    }
    drop_duplicates(&mut found, &mut notes);
    for f in &found {
        spellings.add(&f.spelling);
    }
    if found.is_empty() {
        return Err(DatasetError::NoGenreTags {
            data: dirs.to_vec(),
            untagged,
        });
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for f in &found {
        *counts.entry(f.label.clone()).or_default() += 1;
    }
    let (genres, small) = choose_labels(&counts, cfg.min_songs)?;
    found.retain(|f| genres.binary_search(&f.label).is_ok());
    found.sort_by(|a, b| (&a.label, &a.name, &a.path).cmp(&(&b.label, &b.name, &b.path)));
    let display = genres.iter().map(|g| spellings.display(g)).collect();
    let artists = found.iter().map(|f| f.artist.clone()).collect();
    let clips = found
        .into_iter()
        .map(|f| Clip {
            path: f.path,
            genre: f.label,
            name: f.name,
        })
        .collect();
    Ok(TagScan {
        dataset: Dataset { clips, genres },
        artists,
        display,
        untagged,
        unreadable,
        small,
        notes,
    })
}

/// Keep the first (in walk order) of songs with the same audio ([`audio_hash`]: a copy with
/// other tags is the same song, and must not sit on both sides of a split); one note per song
/// left out. A file whose audio cannot be demuxed is kept (extraction reports it).
fn drop_duplicates(found: &mut Vec<Found>, notes: &mut Vec<String>) {
    let mut first: HashMap<u64, PathBuf> = HashMap::new();
    found.retain(|f| {
        let Ok(h) = audio_hash(&f.path) else {
            return true;
        };
        if let Some(p) = first.get(&h) {
            notes.push(format!(
                "{}: the same audio as {}; counted once",
                f.path.display(),
                p.display()
            ));
            return false;
        }
        first.insert(h, f.path.clone());
        true
    });
}

/// Genres with their song counts.
pub type GenreCounts = Vec<(String, usize)>;

/// The genres to learn (sorted) and those too small (with their counts), or an error when
/// none is left or too many are.
pub fn choose_labels(
    counts: &BTreeMap<String, usize>,
    min_songs: usize,
) -> Result<(Vec<String>, GenreCounts), DatasetError> {
    let (kept, small): (Vec<_>, Vec<_>) = counts.iter().partition(|(_, &n)| n >= min_songs);
    let kept: Vec<String> = kept.into_iter().map(|(g, _)| g.clone()).collect();
    let small: GenreCounts = small.into_iter().map(|(g, &n)| (g.clone(), n)).collect();
    if kept.len() > MAX_GENRES {
        return Err(DatasetError::TooManyGenres {
            genres: kept.len(),
            min_songs,
        });
    }
    if kept.len() < 2 {
        return Err(DatasetError::TooFewGenres {
            kept: kept.len(),
            genres: counts.len(),
            min_songs,
        });
    }
    Ok((kept, small))
}

/// The song's name for reports and singleton groups: its path below the data folder,
/// without extension (unique, unlike a file stem such as `01 Intro`).
fn name_below(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.with_extension("").to_string_lossy().into_owned()
}

/// The artist from the tags (track artist, else album artist; featured artists stripped),
/// else from an `Artist/Album/track` layout below `dir`.
fn artist_of(tags: &SongTags, dir: &Path, path: &Path) -> Option<(String, ArtistFrom)> {
    let tagged = [&tags.artist, &tags.album_artist]
        .into_iter()
        .flatten()
        .map(|a| main_artist(a))
        .find(|a| !a.is_empty());
    if let Some(a) = tagged {
        return Some((a.to_string(), ArtistFrom::Tag));
    }
    let rel = path.strip_prefix(dir).ok()?;
    let parts: Vec<_> = rel.components().collect();
    (parts.len() >= 3).then(|| {
        let artist = parts[0].as_os_str().to_string_lossy().into_owned();
        (artist, ArtistFrom::Folder)
    })
}

/// The artist group of every song: index first (by file stem, Sturm's clip names), then the
/// tag or folder artist, else a group of its own; and how many songs each source gave.
pub fn groups(
    clips: &[Clip],
    artists: &[Option<(String, ArtistFrom)>],
    index: Option<&ArtistIndex>,
) -> (Groups, ArtistSources) {
    let mut g = Groups {
        of: Vec::with_capacity(clips.len()),
        keys: Vec::new(),
        known: Vec::new(),
    };
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut sources = ArtistSources::default();
    for (clip, artist) in clips.iter().zip(artists) {
        let stem = clip.path.file_stem().map(|s| s.to_string_lossy());
        let listed = match (index, &stem) {
            (Some(i), Some(s)) => i.artist(s),
            _ => ArtistOf::Unlisted,
        };
        let (key, known, from) = match (listed, artist) {
            (ArtistOf::Known(a), _) => (format!("artist:{a}"), true, ArtistFrom::Index),
            (ArtistOf::Unidentified, _) => (
                format!("unidentified:{}", clip.genre),
                false,
                ArtistFrom::Index,
            ),
            (ArtistOf::Unlisted, Some((a, from))) => (format!("artist:{a}"), true, *from),
            (ArtistOf::Unlisted, None) => {
                (format!("clip:{}", clip.name), false, ArtistFrom::Unknown)
            }
        };
        sources.count(from);
        let k = *by_key.entry(key.clone()).or_insert_with(|| {
            g.keys.push(key);
            g.known.push(known);
            g.keys.len() - 1
        });
        g.of.push(k);
    }
    (g, sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn featured_artists_are_stripped() {
        assert_eq!(main_artist("Jay-Z feat. Alicia Keys"), "Jay-Z");
        assert_eq!(main_artist("Santana Featuring Rob Thomas"), "Santana");
        assert_eq!(main_artist("Eminem ft. Rihanna"), "Eminem");
        assert_eq!(main_artist("Daft Punk (feat. Pharrell)"), "Daft Punk");
        assert_eq!(main_artist("Simon & Garfunkel"), "Simon & Garfunkel");
        assert_eq!(main_artist("Featurecast"), "Featurecast");
    }

    #[test]
    fn labels_need_enough_songs_and_not_too_many_genres() {
        let counts: BTreeMap<String, usize> = [("rock", 12), ("jazz", 10), ("polka", 3)]
            .map(|(g, n)| (g.to_string(), n))
            .into();
        let (kept, small) = choose_labels(&counts, 10).unwrap();
        assert_eq!(kept, ["jazz", "rock"]);
        assert_eq!(small, [("polka".to_string(), 3)]);
        assert!(matches!(
            choose_labels(&counts, 11),
            Err(DatasetError::TooFewGenres { kept: 1, .. })
        ));
        let many: BTreeMap<String, usize> = (0..5000).map(|i| (format!("g{i}"), 1)).collect();
        let err = choose_labels(&many, 1).unwrap_err();
        assert!(matches!(
            err,
            DatasetError::TooManyGenres { genres: 5000, .. }
        ));
        let msg = err.to_string();
        assert!(
            msg.contains("--genre-map") && msg.contains("--min-songs") && !msg.contains('\n'),
            "{msg}"
        );
        assert!(matches!(
            choose_labels(&many, 10),
            Err(DatasetError::TooFewGenres {
                kept: 0,
                genres: 5000,
                ..
            })
        ));
    }

    #[test]
    fn groups_take_the_index_then_tags_then_folders() {
        let idx = ArtistIndex::parse("blues.00000.wav ::: John Lee Hooker ::: x\n");
        let clip = |path: &str, genre: &str| Clip {
            path: PathBuf::from(path),
            genre: genre.into(),
            name: path.into(),
        };
        let clips = [
            clip("a/blues.00000.flac", "blues"),
            clip("Hooker/Album/01.flac", "blues"),
            clip("Someone/Album/02.flac", "blues"),
            clip("loose.flac", "rock"),
        ];
        let artists = [
            Some(("Ignored".to_string(), ArtistFrom::Tag)),
            Some(("John Lee Hooker".to_string(), ArtistFrom::Tag)),
            Some(("Someone".to_string(), ArtistFrom::Folder)),
            None,
        ];
        let (g, s) = groups(&clips, &artists, Some(&idx));
        assert_eq!(g.of[0], g.of[1], "the index and the tag name one artist");
        assert_eq!(g.len(), 3);
        assert_eq!(g.keys[g.of[3]], "clip:loose.flac");
        assert_eq!(g.known, [true, true, false]);
        assert_eq!(
            s,
            ArtistSources {
                index: 1,
                tag: 1,
                folder: 1,
                unknown: 1
            }
        );
    }
}

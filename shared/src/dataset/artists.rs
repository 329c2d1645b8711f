//! Who performs each GTZAN clip: B. L. Sturm's index (`GTZANindex.txt`, "An analysis of the
//! GTZAN music genre dataset", 2012), and the artist groups that keep an artist out of both
//! sides of a split.
//!
//! GTZAN holds runs of clips by one artist (in the pack's gtzan-mini every blues clip is John
//! Lee Hooker, every rock clip Morphine). A fold that trains on nine Morphine songs and tests on
//! the tenth measures artist recognition, not genre (the "artist effect"; Sturm 2013). Grouping
//! clips by artist before splitting removes it.
//!
//! Group of a clip:
//! * the index names its artist → that artist (across genres: Leonard Bernstein's jazz and
//!   classical clips are one group);
//! * the index lists it with no artist (unidentified) → one group per genre of all such clips,
//!   since GTZAN orders clips by artist and unidentified runs are likely one artist;
//! * the index does not list it (not a GTZAN clip) → a group of its own: nothing is known.
//!
//! Whether a clip's artist is *known* is a state of its own ([`Groups::artist`]): only a named
//! artist is. Splits keep every group on one side; training counts a genre's songs of unknown
//! artist (unidentified, unlisted, or no artist information at all) as one artist at most
//! ([`crate::train::stack::artists`]), never one per song.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::{Clip, DatasetError};

/// File name of Sturm's index as distributed (and in the data pack's `gtzan-splits/`).
pub const INDEX_FILE: &str = "GTZANindex.txt";

/// Sturm's artist index: clip name (`blues.00012`) → artist, `None` if unidentified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtistIndex {
    artists: HashMap<String, Option<String>>,
    /// Where it was read from (for reports).
    pub source: Option<PathBuf>,
}

/// What the index says about one clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtistOf<'a> {
    /// Listed with this artist.
    Known(&'a str),
    /// Listed, artist not identified.
    Unidentified,
    /// Not in the index.
    Unlisted,
}

impl ArtistIndex {
    /// Parse the index text: `genre.000NN.wav ::: artist ::: title` lines; `#` comments.
    pub fn parse(text: &str) -> Self {
        let mut artists = HashMap::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let mut fields = line.split(":::");
            let Some(file) = fields.next().map(str::trim) else {
                continue;
            };
            let name = file.rsplit_once('.').map_or(file, |(stem, _)| stem);
            if name.is_empty() {
                continue;
            }
            let artist = fields
                .next()
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_string);
            artists.insert(name.to_string(), artist);
        }
        Self {
            artists,
            source: None,
        }
    }

    /// Read an index file.
    pub fn load(path: &Path) -> Result<Self, DatasetError> {
        let bytes = std::fs::read(path).map_err(crate::error::IoError::read(path))?;
        // The file is mostly ASCII with a few Latin-1 names; a lossy read keeps every line.
        let mut index = Self::parse(&String::from_utf8_lossy(&bytes));
        if index.artists.is_empty() {
            return Err(DatasetError::BadArtistIndex(path.to_path_buf()));
        }
        index.source = Some(path.to_path_buf());
        Ok(index)
    }

    /// Look for [`INDEX_FILE`] beside the data: in each data folder, its parent, and a
    /// `gtzan-splits/` folder next to it (the data pack's layout).
    pub fn find_beside(dirs: &[PathBuf]) -> Option<PathBuf> {
        for dir in dirs {
            let mut candidates = vec![dir.join(INDEX_FILE)];
            if let Some(parent) = dir.parent() {
                candidates.push(parent.join(INDEX_FILE));
                candidates.push(parent.join("gtzan-splits").join(INDEX_FILE));
            }
            if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
                return Some(found);
            }
        }
        None
    }

    /// Clips listed.
    pub fn len(&self) -> usize {
        self.artists.len()
    }

    /// Whether the index lists no clip.
    pub fn is_empty(&self) -> bool {
        self.artists.is_empty()
    }

    /// The artist of a clip name (`blues.00012`).
    pub fn artist(&self, name: &str) -> ArtistOf<'_> {
        match self.artists.get(name) {
            Some(Some(a)) => ArtistOf::Known(a),
            Some(None) => ArtistOf::Unidentified,
            None => ArtistOf::Unlisted,
        }
    }
}

/// Where the artist of each clip comes from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ArtistSource {
    /// `GTZANindex.txt` beside the data, if there is one ([`ArtistIndex::find_beside`]).
    #[default]
    Auto,
    /// This index file.
    File(PathBuf),
    /// No artist information: every clip its own group.
    Off,
}

impl ArtistSource {
    /// The index this source names, if any.
    pub fn load(&self, data: &[PathBuf]) -> Result<Option<ArtistIndex>, DatasetError> {
        match self {
            Self::Off => Ok(None),
            Self::File(p) => ArtistIndex::load(p).map(Some),
            Self::Auto => ArtistIndex::find_beside(data)
                .map(|p| ArtistIndex::load(&p))
                .transpose(),
        }
    }
}

/// What training is told about the artists (`eval --train-artists`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TrainArtists {
    /// The artists the split used, as `finetune` with the same index would see them.
    #[default]
    Same,
    /// Nothing: every training song's artist is unknown, as for `finetune` on folders without
    /// an index, while the folds are still split by artist.
    #[serde(rename = "none")]
    Hidden,
}

crate::names::kebab_names!(TrainArtists);

/// The artist group of every clip (see the module docs), as indices into `keys`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    /// Group of each clip: what a split keeps on one side.
    pub of: Vec<usize>,
    /// A readable key per group: `artist:<name>`, `unidentified:<genre>` or `clip:<name>`.
    pub keys: Vec<String>,
    /// Whether a group stands for a known artist (only those count as artist overlap, and as
    /// an artist of their own in training).
    pub known: Vec<bool>,
}

impl Groups {
    /// One group per clip: nothing is known about artists.
    pub fn singletons(clips: &[Clip]) -> Self {
        Self {
            of: (0..clips.len()).collect(),
            keys: clips.iter().map(|c| format!("clip:{}", c.name)).collect(),
            known: vec![false; clips.len()],
        }
    }

    /// Groups from the index.
    pub fn from_index(clips: &[Clip], index: &ArtistIndex) -> Self {
        let mut keys: Vec<String> = Vec::new();
        let mut known = Vec::new();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        let of = clips
            .iter()
            .map(|c| {
                let (key, is_known) = match index.artist(&c.name) {
                    ArtistOf::Known(a) => (format!("artist:{a}"), true),
                    ArtistOf::Unidentified => (format!("unidentified:{}", c.genre), false),
                    ArtistOf::Unlisted => (format!("clip:{}", c.name), false),
                };
                *by_key.entry(key.clone()).or_insert_with(|| {
                    keys.push(key);
                    known.push(is_known);
                    keys.len() - 1
                })
            })
            .collect();
        Self { of, keys, known }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// The artist of clip `clip` as training sees it: its group when the artist is known,
    /// `None` when it is not (unidentified, unlisted, or no artist information).
    pub fn artist(&self, clip: usize) -> Option<usize> {
        let g = *self.of.get(clip)?;
        self.known[g].then_some(g)
    }

    /// [`Groups::artist`] of every clip, or `None` for all under [`TrainArtists::Hidden`].
    pub fn artists(&self, told: TrainArtists) -> Vec<Option<usize>> {
        (0..self.of.len())
            .map(|i| match told {
                TrainArtists::Same => self.artist(i),
                TrainArtists::Hidden => None,
            })
            .collect()
    }

    /// Whether there are no groups (no clips).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many clips of `test` share a known artist with a clip of `train`.
    pub fn overlap(&self, train: &[usize], test: &[usize]) -> usize {
        let mut seen = vec![false; self.len()];
        for &i in train {
            seen[self.of[i]] = true;
        }
        test.iter()
            .filter(|&&i| self.known[self.of[i]] && seen[self.of[i]])
            .count()
    }

    /// Genres (by target index) whose clips fall in fewer than two groups: no split can test
    /// them on an artist that training did not hear.
    pub fn single_group_genres(&self, targets: &[usize], n_genres: usize) -> Vec<usize> {
        (0..n_genres)
            .filter(|&g| {
                let mut groups: Vec<usize> = targets
                    .iter()
                    .zip(&self.of)
                    .filter(|(&t, _)| t == g)
                    .map(|(_, &k)| k)
                    .collect();
                groups.sort_unstable();
                groups.dedup();
                groups.len() == 1
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "## Bob L. Sturm\n\
        blues.00000.wav ::: John Lee Hooker ::: One Bourbon\n\
        blues.00001.wav ::: John Lee Hooker ::: \n\
        jazz.00002.wav :::  ::: \n\
        jazz.00003.wav ::: :::\n\
        classical.00050.wav ::: Leonard Bernstein ::: Candide\n\
        jazz.00020.wav ::: Leonard Bernstein ::: West Side Story\n";

    fn clip(name: &str) -> Clip {
        Clip {
            path: PathBuf::from(format!("{name}.flac")),
            genre: name.split('.').next().unwrap().to_string(),
            name: name.to_string(),
        }
    }

    #[test]
    fn parses_known_unidentified_and_unlisted() {
        let idx = ArtistIndex::parse(TEXT);
        assert_eq!(idx.len(), 6);
        assert_eq!(
            idx.artist("blues.00001"),
            ArtistOf::Known("John Lee Hooker")
        );
        assert_eq!(idx.artist("jazz.00002"), ArtistOf::Unidentified);
        assert_eq!(idx.artist("jazz.00003"), ArtistOf::Unidentified);
        assert_eq!(idx.artist("rock.00000"), ArtistOf::Unlisted);
    }

    #[test]
    fn groups_join_artists_across_genres_and_count_overlap() {
        let idx = ArtistIndex::parse(TEXT);
        let names = [
            "blues.00000",
            "blues.00001",
            "jazz.00002",
            "jazz.00003",
            "classical.00050",
            "jazz.00020",
            "pop.00099",
        ];
        let clips: Vec<Clip> = names.iter().map(|n| clip(n)).collect();
        let g = Groups::from_index(&clips, &idx);
        assert_eq!(g.len(), 4);
        assert_eq!(g.of[0], g.of[1], "one artist");
        assert_eq!(g.of[2], g.of[3], "unidentified clips of a genre together");
        assert_eq!(g.of[4], g.of[5], "Bernstein's jazz and classical clips");
        assert_eq!(g.keys[g.of[6]], "clip:pop.00099");
        assert!(!g.known[g.of[2]] && !g.known[g.of[6]] && g.known[g.of[0]]);
        assert_eq!(
            g.overlap(&[0, 2], &[1, 3, 6]),
            1,
            "only known artists count"
        );
        assert_eq!(g.overlap(&[4], &[5, 0]), 1);
        // Targets: blues 0, jazz 1, classical 2, pop 3.
        let targets = [0, 0, 1, 1, 2, 1, 3];
        assert_eq!(g.single_group_genres(&targets, 4), [0, 2, 3]);
        let s = Groups::singletons(&clips);
        assert_eq!(s.len(), 7);
        assert_eq!(s.overlap(&[0], &[1]), 0);
        // Only named artists are known to training.
        assert_eq!(g.artist(0), Some(g.of[0]));
        assert_eq!(g.artist(2), None, "unidentified");
        assert_eq!(g.artist(6), None, "unlisted");
        assert_eq!(g.artist(7), None, "no such clip");
        assert_eq!(g.artists(TrainArtists::Hidden), vec![None; 7]);
        assert_eq!(
            g.artists(TrainArtists::Same)[4],
            g.artists(TrainArtists::Same)[5]
        );
        assert_eq!(s.artists(TrainArtists::Same), vec![None; 7]);
    }

    #[test]
    fn the_data_pack_index_names_every_pack_clip() {
        let pack = std::env::var_os("MGR_SHARED").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
            PathBuf::from,
        );
        let path = pack.join("data/gtzan-splits");
        let Ok(idx) = ArtistIndex::load(&path.join(INDEX_FILE)) else {
            panic!("the data pack's GTZANindex.txt must sit beside the checkout");
        };
        assert!(idx.len() >= 1000, "{}", idx.len());
        assert_eq!(idx.artist("rock.00007"), ArtistOf::Known("Morphine"));
        assert_eq!(idx.artist("reggae.00003"), ArtistOf::Known("Bob Marley"));
    }
}

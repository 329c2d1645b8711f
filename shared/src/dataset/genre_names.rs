//! Genre names as users write them in tags, turned into labels to learn.
//!
//! * [`first_value`]: a genre field with several values (`Rock; Pop`, `Rock/Pop`,
//!   `Rock, Pop`, or the separate values of a multi-valued frame) counts as its **first**
//!   value: it is the one players show, and taggers put the main genre first.
//! * [`id3v1_reference`]: ID3v1 numeric references (`(17)`, `17`, `(17)Rock`) become the
//!   names of the ID3v1 genre list (17 = `Rock`); a reference followed by text keeps the text.
//! * [`normalise`]: `Hip-Hop`, `hip hop`, `HipHop` and `Hip Hop` are one genre, `hiphop`:
//!   letters and digits only, lower case (the same rule `classify --write-tags` uses to
//!   compare genres).
//! * [`GenreMap`]: the user's own merges (`"Alt. Rock" = "rock"`), from `--genre-map`.
//! * [`Spellings`]: the spelling users chose most often for each label, recorded in the model
//!   file as its display names and written back into tags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Longest genre value taken, in bytes: longer ones are not genre names (a 64 kB `TCON` is
/// damage or abuse) and the song counts as untagged.
pub const MAX_GENRE_BYTES: usize = 256;

/// Separators of several genres written in one field.
const SEPARATORS: [char; 4] = [';', '/', ',', '\0'];

/// The first of several values in a genre field (see the module documentation), trimmed;
/// `None` when it is empty or longer than [`MAX_GENRE_BYTES`].
pub fn first_value(raw: &str) -> Option<&str> {
    if raw.len() > MAX_GENRE_BYTES {
        return None;
    }
    let first = raw
        .split(SEPARATORS)
        .map(str::trim)
        .find(|v| !v.is_empty())?;
    Some(first)
}

/// An ID3v1 genre reference resolved to its name: `(17)` and `17` → `Rock`; `(17)Rock
/// & Roll` → `Rock & Roll` (ID3v2.3's refinement); anything else unchanged.
pub fn id3v1_reference(value: &str) -> &str {
    let lookup = |n: &str| {
        n.parse::<usize>()
            .ok()
            .and_then(|i| lofty::id3::v1::GENRES.get(i).copied())
    };
    if let Some(rest) = value.strip_prefix('(') {
        if let Some((num, text)) = rest.split_once(')') {
            if let Some(name) = lookup(num) {
                let text = text.trim();
                return if text.is_empty() { name } else { text };
            }
        }
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(name) = lookup(value) {
            return name;
        }
    }
    value
}

/// The label of a genre spelling: letters and digits only, lower case.
pub fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// What can be wrong with a `--genre-map` file.
#[derive(Debug, thiserror::Error)]
pub enum GenreMapError {
    /// The file cannot be read.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// A line is neither `"from" = "to"` nor `from,to`.
    #[error("{path} line {line}: expected `\"Alt. Rock\" = \"rock\"` or `Alt. Rock,rock`")]
    Syntax {
        /// The map file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
}

/// The user's genre merges: normalised spelling → the genre it counts as (as written).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GenreMap {
    to: BTreeMap<String, String>,
}

impl GenreMap {
    /// Read a map: one pair a line, TOML style (`"Alt. Rock" = "rock"`, `#` comments) or CSV
    /// (`Alt. Rock,rock`). Sources are matched normalised, so `alt rock` is covered too.
    pub fn load(path: &Path) -> Result<Self, GenreMapError> {
        let bytes = std::fs::read(path).map_err(crate::error::IoError::read(path))?;
        Self::parse(&String::from_utf8_lossy(&bytes)).map_err(|line| GenreMapError::Syntax {
            path: path.to_path_buf(),
            line,
        })
    }

    /// Parse the text of a map; `Err(line)` names the first line that is not a pair.
    pub fn parse(text: &str) -> Result<Self, usize> {
        let mut to = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            let (from, target) = line
                .split_once('=')
                .or_else(|| line.split_once(','))
                .ok_or(n + 1)?;
            let unquote = |s: &str| s.trim().trim_matches('"').trim().to_string();
            let (from, target) = (unquote(from), unquote(target));
            if normalise(&from).is_empty() || normalise(&target).is_empty() {
                return Err(n + 1);
            }
            to.insert(normalise(&from), target);
        }
        Ok(Self { to })
    }

    /// The genre a spelling counts as: the map's target, or the spelling itself.
    pub fn apply<'a>(&'a self, spelling: &'a str) -> &'a str {
        self.to
            .get(&normalise(spelling))
            .map_or(spelling, String::as_str)
    }
}

/// The genre of one song's tag value: first value, ID3v1 reference resolved, mapped; `None`
/// when nothing usable is left.
pub fn genre_of<'a>(raw: &'a str, map: &'a GenreMap) -> Option<&'a str> {
    let v = id3v1_reference(first_value(raw)?);
    let v = map.apply(v);
    (!normalise(v).is_empty()).then_some(v)
}

/// How often each spelling of each label was seen; the most frequent is the label's display
/// name (ties: the first in byte order).
#[derive(Debug, Clone, Default)]
pub struct Spellings {
    seen: BTreeMap<String, BTreeMap<String, usize>>,
}

impl Spellings {
    /// Count one song tagged `spelling`.
    pub fn add(&mut self, spelling: &str) {
        *self
            .seen
            .entry(normalise(spelling))
            .or_default()
            .entry(spelling.to_string())
            .or_default() += 1;
    }

    /// The display name of `label` (the label itself when never seen).
    pub fn display(&self, label: &str) -> String {
        self.seen
            .get(label)
            .and_then(|s| {
                s.iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .map(|(k, _)| k.clone())
            })
            .unwrap_or_else(|| label.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_genre_are_one_label() {
        for s in ["Hip-Hop", "hip hop", "HipHop", "Hip Hop", "HIP-HOP "] {
            assert_eq!(normalise(s), "hiphop", "{s}");
        }
        assert_ne!(normalise("Rock"), normalise("Pop"));
    }

    #[test]
    fn several_values_count_as_the_first() {
        assert_eq!(first_value("Rock; Pop"), Some("Rock"));
        assert_eq!(first_value("Rock/Pop"), Some("Rock"));
        assert_eq!(first_value(" , Jazz, Blues"), Some("Jazz"));
        assert_eq!(first_value("Rock\0Pop"), Some("Rock"));
        assert_eq!(first_value("  "), None);
        assert_eq!(first_value(&"x".repeat(65_536)), None, "64 kB is no genre");
    }

    #[test]
    fn id3v1_references_become_names() {
        assert_eq!(id3v1_reference("(17)"), "Rock");
        assert_eq!(id3v1_reference("17"), "Rock");
        assert_eq!(id3v1_reference("(0)"), "Blues");
        assert_eq!(id3v1_reference("(17)Rock & Roll"), "Rock & Roll");
        assert_eq!(id3v1_reference("(999)"), "(999)");
        assert_eq!(id3v1_reference("2Pac"), "2Pac");
        assert_eq!(id3v1_reference("1990"), "1990", "not in the list");
    }

    #[test]
    fn the_map_merges_spellings_and_sub_genres() {
        let m = GenreMap::parse(
            "# mine\n[genres]\n\"Alt. Rock\" = \"rock\"\nBebop,Jazz\n\n\"Trip-Hop\" = \"Electronic\"\n",
        )
        .unwrap();
        assert_eq!(m.apply("alt rock"), "rock");
        assert_eq!(m.apply("BEBOP"), "Jazz");
        assert_eq!(m.apply("Blues"), "Blues");
        assert_eq!(genre_of("Trip Hop; Downtempo", &m), Some("Electronic"));
        assert_eq!(genre_of("(17)", &m), Some("Rock"));
        assert_eq!(genre_of("--", &m), None);
        assert_eq!(GenreMap::parse("ok = fine\nno pair here\n"), Err(2));
    }

    #[test]
    fn the_display_name_is_the_most_frequent_spelling() {
        let mut s = Spellings::default();
        for g in ["Hip-Hop", "hip hop", "Hip-Hop", "Rock", "rock"] {
            s.add(g);
        }
        assert_eq!(s.display("hiphop"), "Hip-Hop");
        assert_eq!(
            s.display("rock"),
            "Rock",
            "a tie goes to the first in byte order"
        );
        assert_eq!(s.display("jazz"), "jazz");
    }
}

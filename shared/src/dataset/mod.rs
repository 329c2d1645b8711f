//! GTZAN in its real layouts: the original `genres/<genre>/<genre>.000NN.au`, the common WAV copy
//! `genres_original/<genre>/<genre>.000NN.wav`, or any folder of `<genre>/<file>` trees. The
//! label of a clip is the name of the first folder below the root that holds it.

use std::path::{Path, PathBuf};

use super::EvalError;
use crate::audio::has_audio_extension;

/// One audio file and its genre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clip {
    pub path: PathBuf,
    /// Folder name directly below the root, e.g. `jazz`.
    pub genre: String,
    /// File name without extension, e.g. `jazz.00054`: what the split lists match on.
    pub name: String,
}

/// All clips under a root, sorted by genre and name, with the genres in sorted order.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub root: PathBuf,
    pub clips: Vec<Clip>,
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

/// Find every audio file (by extension) below `dir`'s genre folders.
pub fn discover(dir: &Path) -> Result<Dataset, EvalError> {
    let root = genre_root(dir);
    let io = |source| EvalError::Io {
        path: root.clone(),
        source,
    };
    let mut genre_dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map_err(io)?
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
        return Err(EvalError::NoClips(dir.to_path_buf()));
    }
    Ok(Dataset {
        root,
        clips,
        genres,
    })
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
            Err(EvalError::NoClips(_))
        ));
        assert!(matches!(
            discover(&c.join("missing")),
            Err(EvalError::Io { .. })
        ));
        for d in [a, b, c] {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

//! Folders → the sorted list of audio files in them, the way fd and ripgrep users expect.
//!
//! * Each folder's entries are taken in sorted order (by name, byte-wise), depth first: the
//!   list is the files sorted by path, component by component, which is the same on every
//!   machine — what `--shard` relies on.
//! * Hidden entries (name starting with `.`) are skipped, files and folders alike, unless
//!   [`WalkOptions::hidden`]; a path given explicitly is always used. Their number is
//!   reported once.
//! * Symbolic links are followed (a music library is often assembled from links to other
//!   disks) unless [`WalkOptions::follow_links`] is off. A link back to a folder above it (a
//!   loop) or to a folder already walked is reported once and skipped, so every folder is
//!   walked at most once.
//! * A folder that cannot be read is reported once and skipped; the walk goes on.
//! * Files are kept when their extension is one of [`AUDIO_EXTENSIONS`]; a file given
//!   explicitly is kept whatever its name (decoding will say if it is not audio, or that it
//!   is not a regular file).
//! * Only regular files are kept: a device, FIFO or socket met in a folder (or a link to one),
//!   whatever its name, is reported once and skipped, never opened: a FIFO would block the
//!   reader, `/dev/zero` would never end.

use std::path::{Path, PathBuf};

use crate::audio::has_audio_extension;
#[cfg(doc)]
use crate::audio::AUDIO_EXTENSIONS;

/// What the walk takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkOptions {
    /// Also walk hidden files and folders (names starting with `.`).
    pub hidden: bool,
    /// Follow symbolic links to folders.
    pub follow_links: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        Self {
            hidden: false,
            follow_links: true,
        }
    }
}

/// Something the walk skipped, reported once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WalkNote {
    /// A folder that could not be listed.
    Unreadable {
        /// The folder.
        path: PathBuf,
        /// The system's error.
        reason: String,
    },
    /// A symbolic link to a folder above it: following it would never end.
    SymlinkLoop {
        /// The link.
        path: PathBuf,
        /// The folder above it that it leads to, as first walked.
        target: PathBuf,
    },
    /// A folder reached a second time (through a link, or given twice).
    AlreadyWalked {
        /// The path it was reached by this time.
        path: PathBuf,
        /// The path it was walked under first.
        first: PathBuf,
    },
    /// A symbolic link to a folder, not followed ([`WalkOptions::follow_links`] off).
    LinkNotFollowed {
        /// The link.
        path: PathBuf,
    },
    /// A device, FIFO or socket (or a link to one) with an audio file's name.
    NotAFile {
        /// The path as walked.
        path: PathBuf,
        /// What it is instead of a regular file ([`crate::fsio::kind_of`]).
        kind: &'static str,
    },
}

impl std::fmt::Display for WalkNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unreadable { path, reason } => {
                write!(
                    f,
                    "cannot read folder {}: {reason} (skipped)",
                    path.display()
                )
            }
            Self::SymlinkLoop { path, target } => write!(
                f,
                "symbolic link loop: {} leads back to {} (skipped)",
                path.display(),
                target.display()
            ),
            Self::AlreadyWalked { path, first } => write!(
                f,
                "{} is the folder {} walked already (skipped)",
                path.display(),
                first.display()
            ),
            Self::LinkNotFollowed { path } => {
                write!(
                    f,
                    "{}: symbolic link to a folder, not followed",
                    path.display()
                )
            }
            Self::NotAFile { path, kind } => {
                write!(
                    f,
                    "{}: {kind}, not a regular file (skipped)",
                    path.display()
                )
            }
        }
    }
}

/// The files found and what was skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Walk {
    /// Audio files in walk order (see the module documentation).
    pub files: Vec<PathBuf>,
    /// Folders skipped, each once.
    pub notes: Vec<WalkNote>,
    /// Hidden files and folders skipped (not counting what is inside hidden folders).
    pub hidden: usize,
}

impl Walk {
    /// True if part of the input could not be read (an unreadable folder).
    pub fn incomplete(&self) -> bool {
        self.notes
            .iter()
            .any(|n| matches!(n, WalkNote::Unreadable { .. }))
    }
}

/// Identity of a folder, to recognise it when a link leads to it again.
type DirKey = (u64, u64);

#[cfg(unix)]
fn dir_key(meta: &std::fs::Metadata, _path: &Path) -> Option<DirKey> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn dir_key(_meta: &std::fs::Metadata, path: &Path) -> Option<DirKey> {
    use std::hash::{Hash, Hasher};
    let canonical = std::fs::canonicalize(path).ok()?;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canonical.hash(&mut h);
    Some((0, h.finish()))
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.as_encoded_bytes().first() == Some(&b'.'))
}

struct Walker {
    options: WalkOptions,
    walk: Walk,
    /// Every folder walked so far, with the path it was first walked under.
    first_path: std::collections::HashMap<DirKey, PathBuf>,
    /// Folders from the root down to the current one.
    ancestors: Vec<DirKey>,
}

/// Walk `roots` (files and folders, in the order given).
pub fn walk(roots: &[PathBuf], options: WalkOptions) -> Walk {
    let mut w = Walker {
        options,
        walk: Walk::default(),
        first_path: Default::default(),
        ancestors: Vec::new(),
    };
    for root in roots {
        match std::fs::metadata(root) {
            Ok(meta) if meta.is_dir() => w.dir(root, &meta),
            // Files, and paths that do not exist: kept, so that they are reported as errors.
            _ => w.walk.files.push(root.clone()),
        }
    }
    w.walk
}

impl Walker {
    fn dir(&mut self, path: &Path, meta: &std::fs::Metadata) {
        if let Some(key) = dir_key(meta, path) {
            if self.ancestors.contains(&key) {
                let target = self.first_path.get(&key).cloned().unwrap_or_default();
                self.walk.notes.push(WalkNote::SymlinkLoop {
                    path: path.to_path_buf(),
                    target,
                });
                return;
            }
            if let Some(first) = self.first_path.get(&key) {
                self.walk.notes.push(WalkNote::AlreadyWalked {
                    path: path.to_path_buf(),
                    first: first.clone(),
                });
                return;
            }
            self.first_path.insert(key, path.to_path_buf());
            self.ancestors.push(key);
            self.entries(path);
            self.ancestors.pop();
        } else {
            self.entries(path);
        }
    }

    fn entries(&mut self, dir: &Path) {
        let read = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) => {
                self.walk.notes.push(WalkNote::Unreadable {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                });
                return;
            }
        };
        let mut entries: Vec<std::fs::DirEntry> = Vec::new();
        for e in read {
            match e {
                Ok(e) => entries.push(e),
                Err(e) => {
                    // The listing broke off part-way: what was read is kept.
                    self.walk.notes.push(WalkNote::Unreadable {
                        path: dir.to_path_buf(),
                        reason: e.to_string(),
                    });
                    break;
                }
            }
        }
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            if !self.options.hidden && is_hidden(&path) {
                self.walk.hidden += 1;
                continue;
            }
            let Ok(kind) = e.file_type() else {
                self.walk.files.push(path); // reported when it fails to open
                continue;
            };
            if kind.is_dir() {
                match e.metadata() {
                    Ok(meta) => self.dir(&path, &meta),
                    Err(err) => self.walk.notes.push(WalkNote::Unreadable {
                        path,
                        reason: err.to_string(),
                    }),
                }
            } else if kind.is_symlink() {
                match std::fs::metadata(&path) {
                    Ok(meta) if meta.is_dir() => {
                        if self.options.follow_links {
                            self.dir(&path, &meta);
                        } else {
                            self.walk.notes.push(WalkNote::LinkNotFollowed { path });
                        }
                    }
                    Ok(meta) if !meta.is_file() && has_audio_extension(&path) => {
                        self.not_a_file(path, meta.file_type());
                    }
                    // A link to a file, or a dangling link (reported when it fails to open).
                    _ if has_audio_extension(&path) => self.walk.files.push(path),
                    _ => {}
                }
            } else if has_audio_extension(&path) {
                if kind.is_file() {
                    self.walk.files.push(path);
                } else {
                    self.not_a_file(path, kind);
                }
            }
        }
    }
}

impl Walker {
    fn not_a_file(&mut self, path: PathBuf, kind: std::fs::FileType) {
        let kind = crate::fsio::kind_of(kind);
        self.walk.notes.push(WalkNote::NotAFile { path, kind });
    }
}

/// `--shard I/N`: song `k` of the walk belongs to shard `k mod N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0 ≤ index < count`.
    pub index: usize,
    /// Number of shards, ≥ 1.
    pub count: usize,
}

impl Shard {
    /// Keep every `count`-th file starting at `index`.
    pub fn select<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % self.count == self.index)
            .map(|(_, t)| t)
            .collect()
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N` with `0 ≤ I < N` (a Slurm array task id or a Kubernetes completion index).
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("shard {s:?} is not I/N with 0 <= I < N (e.g. 0/4)");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO, a socket and a link to `/dev/zero` with audio names are reported and skipped;
    /// the regular file beside them is kept, and the same special files given explicitly are
    /// kept (reading them says what they are).
    #[cfg(target_os = "linux")]
    #[test]
    fn special_files_are_reported_and_skipped() {
        let dir = std::env::temp_dir().join(format!("mgr-walk-special-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.mp3"), b"x").unwrap();
        let fifo = dir.join("b.mp3");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let _socket = std::os::unix::net::UnixListener::bind(dir.join("c.wav")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("d.flac")).unwrap();
        let w = walk(std::slice::from_ref(&dir), WalkOptions::default());
        assert_eq!(w.files, [dir.join("a.mp3")]);
        let notes: Vec<String> = w.notes.iter().map(ToString::to_string).collect();
        assert_eq!(
            notes,
            [
                format!(
                    "{}: a named pipe (FIFO), not a regular file (skipped)",
                    fifo.display()
                ),
                format!(
                    "{}: a socket, not a regular file (skipped)",
                    dir.join("c.wav").display()
                ),
                format!(
                    "{}: a device, not a regular file (skipped)",
                    dir.join("d.flac").display()
                ),
            ]
        );
        assert!(!w.incomplete());
        let explicit = walk(std::slice::from_ref(&fifo), WalkOptions::default());
        assert_eq!(explicit.files, [fifo]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn shards_partition_the_list() {
        let all: Vec<usize> = (0..10).collect();
        let mut union = Vec::new();
        for i in 0..3 {
            let s: Shard = format!("{i}/3").parse().unwrap();
            union.extend(s.select(all.clone()));
        }
        union.sort_unstable();
        assert_eq!(union, all);
        assert_eq!("1/3".parse::<Shard>().unwrap().select(all), [1, 4, 7]);
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}

//! The genre where users want it: in the file's own tag, written with `lofty`, never at the
//! cost of the file.
//!
//! | format | genre | scores (`--tag-scores`) |
//! |---|---|---|
//! | MP3 | ID3v2 `TCON` | ID3v2 `TXXX:MGR_GENRE_SCORES` |
//! | FLAC, Ogg Vorbis | Vorbis comment `GENRE` | Vorbis comment `MGR_GENRE_SCORES` |
//! | WAV | ID3v2 `TCON` in the `id3 ` chunk, and `IGNR` of the RIFF `INFO` list when the file has one | `TXXX:MGR_GENRE_SCORES` |
//!
//! (MP4/M4A would take `©gen`, but mgr does not decode AAC, so such files are never
//! classified; `.au` has no tags and is skipped.) The scores field is compact JSON:
//! `{"model": …, "label": …, "scores": {genre: score, …}}`.
//!
//! Writing is three steps, so that nothing can be lost:
//! 1. [`plan`]: read the tags (strict parsing: a tag lofty cannot read exactly is not
//!    rewritten) and decide. A genre the user set is kept unless
//!    [`TagOptions::overwrite_existing`]; a genre mgr wrote itself (the scores field names
//!    it) may be replaced. Nothing is written: this is the dry run.
//! 2. [`Plan::prepare`]: refuse read-only and hard-linked files; copy the file to a hidden
//!    temporary file beside it (same folder, so the rename is atomic), write the tags into
//!    the copy, flush it to disk, read it back and check that its tags are exactly the old
//!    ones with our change and that its audio stream is the same bytes, packet for packet
//!    (demuxed with symphonia: FLAC frames, MP3 frames, Ogg packets, WAV data, with their
//!    timestamps). Owner and modification time are copied over (unless
//!    [`TagOptions::update_mtime`]).
//! 3. [`Prepared::commit`]: rename the copy over the original (atomic on one file system).
//!    Killed before this, the original is untouched and a hidden `.NAME.mgr-tags.tmp` is
//!    left beside it (the walk skips hidden files; the next write replaces it).
//!
//! A symbolic link is followed: the real file is rewritten and the link kept.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use lofty::config::{ParseOptions, ParsingMode, WriteOptions};
use lofty::file::{AudioFile, FileType};
use lofty::flac::FlacFile;
use lofty::id3::v2::{Id3v2Tag, Id3v2Version};
use lofty::iff::wav::WavFile;
use lofty::mpeg::MpegFile;
use lofty::ogg::{OggPictureStorage, VorbisComments, VorbisFile};
use lofty::prelude::Accessor;
use serde_json::json;

use crate::aggregate::SongScores;

/// Name of the scores field (ID3v2 `TXXX` description, Vorbis comment key).
pub const SCORES_FIELD: &str = "MGR_GENRE_SCORES";
/// RIFF INFO key of the genre.
const RIFF_GENRE: &str = "IGNR";

/// What `--write-tags` may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TagOptions {
    /// Write (otherwise only say what would change).
    pub apply: bool,
    /// Also write the scores field.
    pub scores: bool,
    /// Replace a genre the user already set.
    pub overwrite_existing: bool,
    /// Let the file's modification time change (by default it is kept).
    pub update_mtime: bool,
    /// Analyse only songs without a genre tag (`--only-untagged`): the others are not even
    /// decoded ([`crate::dataset::tagged::has_genre`]).
    pub only_untagged: bool,
}

/// Why a file's tags were not written. The file is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// The file (the link's target, for a link) cannot be opened for writing.
    #[error("{path}: read-only file, tags not written")]
    ReadOnly {
        /// The file given to tag (a link, if it was one).
        path: PathBuf,
    },
    /// The file has other hard links: replacing it by a rewritten copy would leave them
    /// pointing at the old file.
    #[error("{path}: has {links} hard links; rewriting it would split them (tags not written)")]
    HardLinked {
        /// The file given to tag (a link, if it was one).
        path: PathBuf,
        /// Its number of hard links (more than 1).
        links: u64,
    },
    /// Not MP3, FLAC, Ogg Vorbis or WAV (the formats of the module's table).
    #[error("{path}: no tag format for this kind of file (tags not written)")]
    NoTagFormat {
        /// The file given to tag (a link, if it was one).
        path: PathBuf,
    },
    /// The tags could not be parsed strictly, or the file's name and content disagree on its
    /// format.
    #[error("{path}: cannot read its tags exactly ({reason}); not rewritten")]
    Read {
        /// The file given to tag (a link, if it was one).
        path: PathBuf,
        /// lofty's error, or the two formats.
        reason: String,
    },
    /// lofty could not write the tags into the temporary copy.
    #[error("{path}: writing the tags failed ({reason}); original untouched")]
    Write {
        /// The file given to tag (a link, if it was one).
        path: PathBuf,
        /// lofty's error.
        reason: String,
    },
    /// The rewritten copy, read back, does not have the old tags plus ours, or its audio
    /// packets differ from the original's.
    #[error("{path}: the rewritten copy failed its check ({reason}); original untouched")]
    Verify {
        /// The file given to tag (a link, if it was one).
        path: PathBuf,
        /// Which check failed.
        reason: String,
    },
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
}

/// The genre as written into a tag: the label with a capital letter (GTZAN's `hiphop` as
/// the ID3 genre list spells it, `Hip-Hop`).
pub fn genre_name(label: &str) -> String {
    if label.eq_ignore_ascii_case("hiphop") {
        return "Hip-Hop".into();
    }
    let mut c = label.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Genres compared the way a user reads them: case, spaces and punctuation ignored.
fn same_genre(a: &str, b: &str) -> bool {
    let norm = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    norm(a) == norm(b)
}

/// The scores field's value for a song.
pub fn scores_value(model: &str, labels: &[String], song: &SongScores) -> String {
    let scores = super::record::scores_map(labels, &song.mean);
    json!({"model": model, "label": labels[song.by_mean()], "scores": scores}).to_string()
}

/// The label a scores field names (the genre mgr wrote), if it parses.
fn scores_label(value: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(value).ok()?;
    v["label"].as_str().map(str::to_string)
}

/// A file's tags in lofty's own types (exact, no conversion to a generic tag).
enum Tags {
    Mpeg(Box<MpegFile>),
    Flac(Box<FlacFile>),
    Vorbis(Box<VorbisFile>),
    Wav(Box<WavFile>),
}

fn parse_options() -> ParseOptions {
    ParseOptions::new()
        .parsing_mode(ParsingMode::Strict)
        .read_properties(false)
        .implicit_conversions(false)
}

impl Tags {
    /// Read the tags of `path`, whose kind comes from its name.
    fn read(path: &Path) -> Result<Self, TagError> {
        let by_name = path
            .extension()
            .and_then(|e| e.to_str())
            .and_then(FileType::from_ext);
        Self::read_as(path, by_name)
    }

    /// Read the tags of `path`, a file of kind `by_name`.
    fn read_as(path: &Path, by_name: Option<FileType>) -> Result<Self, TagError> {
        let err = |reason: String| TagError::Read {
            path: path.to_path_buf(),
            reason,
        };
        // The name and the content must agree: a guess from content alone can take a
        // stray MPEG sync word in other audio (say, `.au`) for an MP3.
        let by_content = lofty::probe::Probe::open(path)
            .and_then(|p| Ok(p.guess_file_type()?))
            .map_err(|e| err(e.to_string()))?
            .file_type();
        let kind = match (by_name, by_content) {
            (Some(a), Some(b)) if a == b => Some(a),
            (Some(a), Some(b)) => {
                return Err(err(format!("named like {a:?} but the content is {b:?}")))
            }
            _ => None,
        };
        let mut f = File::open(path).map_err(crate::error::IoError::read(path))?;
        let opts = parse_options();
        let read = match kind {
            Some(FileType::Mpeg) => MpegFile::read_from(&mut f, opts).map(|t| Self::Mpeg(t.into())),
            Some(FileType::Flac) => FlacFile::read_from(&mut f, opts).map(|t| Self::Flac(t.into())),
            Some(FileType::Vorbis) => {
                VorbisFile::read_from(&mut f, opts).map(|t| Self::Vorbis(t.into()))
            }
            Some(FileType::Wav) => WavFile::read_from(&mut f, opts).map(|t| Self::Wav(t.into())),
            _ => {
                return Err(TagError::NoTagFormat {
                    path: path.to_path_buf(),
                })
            }
        };
        read.map_err(|e| err(e.to_string()))
    }

    /// The genre the file has now (the first non-empty one of its tags).
    fn genre(&self) -> Option<String> {
        let from_id3 = |t: Option<&Id3v2Tag>| t.and_then(|t| t.genre().map(Cow::into_owned));
        let from_vorbis =
            |t: Option<&VorbisComments>| t.and_then(|t| t.get("GENRE")).map(str::to_string);
        let g = match self {
            Self::Mpeg(f) => from_id3(f.id3v2()),
            Self::Flac(f) => from_vorbis(f.vorbis_comments()),
            Self::Vorbis(f) => from_vorbis(Some(f.vorbis_comments())),
            Self::Wav(f) => from_id3(f.id3v2()).or_else(|| {
                f.riff_info()
                    .and_then(|r| r.get(RIFF_GENRE))
                    .map(str::to_string)
            }),
        };
        g.filter(|g| !g.trim().is_empty())
    }

    /// The scores field the file has now.
    fn scores(&self) -> Option<String> {
        let from_id3 = |t: Option<&Id3v2Tag>| {
            t.and_then(|t| t.get_user_text(SCORES_FIELD))
                .map(str::to_string)
        };
        let from_vorbis =
            |t: Option<&VorbisComments>| t.and_then(|t| t.get(SCORES_FIELD)).map(str::to_string);
        match self {
            Self::Mpeg(f) => from_id3(f.id3v2()),
            Self::Flac(f) => from_vorbis(f.vorbis_comments()),
            Self::Vorbis(f) => from_vorbis(Some(f.vorbis_comments())),
            Self::Wav(f) => from_id3(f.id3v2()),
        }
    }

    /// Set the genre (and the scores field).
    fn set(&mut self, genre: &str, scores: Option<&str>) {
        let id3 = |t: &mut Id3v2Tag| {
            t.set_genre(genre.to_string());
            if let Some(s) = scores {
                t.insert_user_text(SCORES_FIELD.to_string(), s.to_string());
            }
        };
        let vorbis = |t: &mut VorbisComments| {
            t.insert("GENRE".to_string(), genre.to_string());
            if let Some(s) = scores {
                t.insert(SCORES_FIELD.to_string(), s.to_string());
            }
        };
        match self {
            Self::Mpeg(f) => {
                if f.id3v2().is_none() {
                    f.set_id3v2(Id3v2Tag::new());
                }
                if let Some(t) = f.id3v2_mut() {
                    id3(t);
                }
            }
            Self::Flac(f) => {
                if f.vorbis_comments().is_none() {
                    f.set_vorbis_comments(VorbisComments::new());
                }
                if let Some(t) = f.vorbis_comments_mut() {
                    vorbis(t);
                }
            }
            Self::Vorbis(f) => vorbis(f.vorbis_comments_mut()),
            Self::Wav(f) => {
                if f.id3v2().is_none() {
                    f.set_id3v2(Id3v2Tag::new());
                }
                if let Some(t) = f.id3v2_mut() {
                    id3(t);
                }
                if let Some(r) = f.riff_info_mut() {
                    r.insert(RIFF_GENRE.to_string(), genre.to_string());
                }
            }
        }
    }

    /// Every tag and picture of the file, compared exactly.
    fn same_tags(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Mpeg(a), Self::Mpeg(b)) => {
                a.id3v2() == b.id3v2() && a.id3v1() == b.id3v1() && a.ape() == b.ape()
            }
            (Self::Flac(a), Self::Flac(b)) => {
                a.id3v2() == b.id3v2()
                    && a.vorbis_comments() == b.vorbis_comments()
                    && a.pictures() == b.pictures()
            }
            (Self::Vorbis(a), Self::Vorbis(b)) => a.vorbis_comments() == b.vorbis_comments(),
            (Self::Wav(a), Self::Wav(b)) => {
                a.id3v2() == b.id3v2() && a.riff_info() == b.riff_info()
            }
            _ => false,
        }
    }

    fn kind(&self) -> FileType {
        match self {
            Self::Mpeg(_) => FileType::Mpeg,
            Self::Flac(_) => FileType::Flac,
            Self::Vorbis(_) => FileType::Vorbis,
            Self::Wav(_) => FileType::Wav,
        }
    }

    fn id3_version(&self) -> Option<Id3v2Version> {
        match self {
            Self::Mpeg(f) => f.id3v2().map(Id3v2Tag::original_version),
            Self::Wav(f) => f.id3v2().map(Id3v2Tag::original_version),
            _ => None,
        }
    }

    fn save_to(&self, file: &mut File, opts: WriteOptions) -> lofty::error::Result<()> {
        match self {
            Self::Mpeg(f) => f.save_to(file, opts),
            Self::Flac(f) => f.save_to(file, opts),
            Self::Vorbis(f) => f.save_to(file, opts),
            Self::Wav(f) => f.save_to(file, opts),
        }
    }
}

/// What [`plan`] decided for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagAction {
    /// The genre (or the scores field) will change.
    Change,
    /// The file already has this genre (and these scores).
    Unchanged,
    /// The user set another genre; kept (`--overwrite-existing` replaces it).
    KeepUsers,
}

/// The decision for one file, before anything is written.
pub struct Plan {
    path: PathBuf,
    /// The real file (links followed).
    target: PathBuf,
    tags: Tags,
    /// The file's genre now.
    pub old: Option<String>,
    /// The genre mgr would write.
    pub new: String,
    /// What writing would do.
    pub action: TagAction,
    options: TagOptions,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("path", &self.path)
            .field("old", &self.old)
            .field("new", &self.new)
            .field("action", &self.action)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// One line for the user, e.g. `Rock (was: Jazz)` / `unchanged (Rock)`.
    pub fn describe(&self, applied: bool) -> String {
        let was = self.old.as_deref().unwrap_or("none");
        match self.action {
            TagAction::Change if applied => format!("written: {} (was: {was})", self.new),
            TagAction::Change => format!("would write: {} (was: {was})", self.new),
            TagAction::Unchanged => format!("unchanged: {}", self.new),
            TagAction::KeepUsers => format!(
                "kept: {was} (set by the user; mgr says {}; overwrite-existing replaces it)",
                self.new
            ),
        }
    }
}

/// Read `path`'s tags and decide what writing `label` would change.
pub fn plan(
    path: &Path,
    label: &str,
    scores: Option<&str>,
    options: TagOptions,
) -> Result<Plan, TagError> {
    plan_named(path, genre_name(label), scores, options)
}

/// [`plan`] for a genre written exactly as `new` (a model's display name, as users spelled it).
pub fn plan_named(
    path: &Path,
    new: String,
    scores: Option<&str>,
    options: TagOptions,
) -> Result<Plan, TagError> {
    let target = std::fs::canonicalize(path).map_err(crate::error::IoError::read(path))?;
    let tags = Tags::read(&target)?;
    let old = tags.genre();
    let old_scores = tags.scores();
    let written_by_mgr = old_scores
        .as_deref()
        .and_then(scores_label)
        .zip(old.as_deref())
        .is_some_and(|(ours, now)| same_genre(&ours, now));
    let scores = if options.scores { scores } else { None };
    let action = match &old {
        Some(o) if same_genre(o, &new) && (scores.is_none() || scores == old_scores.as_deref()) => {
            TagAction::Unchanged
        }
        Some(o) if !same_genre(o, &new) && !written_by_mgr && !options.overwrite_existing => {
            TagAction::KeepUsers
        }
        _ => TagAction::Change,
    };
    let mut tags = tags;
    if action == TagAction::Change {
        tags.set(&new, scores);
    }
    Ok(Plan {
        path: path.to_path_buf(),
        target,
        tags,
        old,
        new,
        action,
        options,
    })
}

/// A verified copy with the new tags, waiting to replace the original.
#[derive(Debug)]
pub struct Prepared {
    temp: PathBuf,
    target: PathBuf,
    committed: bool,
}

impl Plan {
    /// Write the new tags into a verified copy beside the file (see the module
    /// documentation). `Ok(None)` when there is nothing to write.
    pub fn prepare(&self) -> Result<Option<Prepared>, TagError> {
        if self.action != TagAction::Change {
            return Ok(None);
        }
        let target = &self.target;
        let io = |e| TagError::from(crate::error::IoError::read(&self.path)(e));
        let meta = std::fs::metadata(target).map_err(io)?;
        if meta.permissions().readonly() || OpenOptions::new().write(true).open(target).is_err() {
            return Err(TagError::ReadOnly {
                path: self.path.clone(),
            });
        }
        let links = hard_links(&meta);
        if links > 1 {
            return Err(TagError::HardLinked {
                path: self.path.clone(),
                links,
            });
        }
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let temp = target.with_file_name(format!(".{name}.mgr-tags.tmp"));
        // From here on the guard removes the copy on every early return.
        let prepared = Prepared {
            temp,
            target: target.clone(),
            committed: false,
        };
        std::fs::copy(target, &prepared.temp).map_err(io)?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&prepared.temp)
            .map_err(io)?;
        let mut opts = WriteOptions::new().lossy_text_encoding(false);
        if self.tags.id3_version() == Some(Id3v2Version::V3) {
            opts = opts.use_id3v23(true);
        }
        self.tags
            .save_to(&mut file, opts)
            .map_err(|e| TagError::Write {
                path: self.path.clone(),
                reason: e.to_string(),
            })?;
        file.sync_all().map_err(io)?;
        let verify = |reason: String| TagError::Verify {
            path: self.path.clone(),
            reason,
        };
        let reread = Tags::read_as(&prepared.temp, Some(self.tags.kind()))
            .map_err(|e| verify(e.to_string()))?;
        if !reread.same_tags(&self.tags) {
            return Err(verify(
                "its tags are not the old ones plus the genre".into(),
            ));
        }
        same_audio(target, &prepared.temp).map_err(verify)?;
        if !self.options.update_mtime {
            let times = std::fs::FileTimes::new()
                .set_modified(meta.modified().map_err(io)?)
                .set_accessed(meta.accessed().map_err(io)?);
            file.set_times(times).map_err(io)?;
        }
        keep_owner(&meta, &prepared.temp);
        drop(file);
        Ok(Some(prepared))
    }
}

impl Prepared {
    /// The temporary copy (for tests).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// Replace the original with the verified copy.
    pub fn commit(mut self) -> Result<(), TagError> {
        std::fs::rename(&self.temp, &self.target)
            .map_err(crate::error::IoError::write(&self.target))?;
        self.committed = true;
        // Make the rename itself durable (best effort: not every platform can open a folder).
        if let Some(dir) = self.target.parent() {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for Prepared {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

/// Plan, prepare and commit in one go (or only plan when not [`TagOptions::apply`]).
pub fn write_genre(
    path: &Path,
    label: &str,
    scores: Option<&str>,
    options: TagOptions,
) -> Result<Plan, TagError> {
    write_genre_named(path, genre_name(label), scores, options)
}

/// [`write_genre`] for a genre written exactly as `name` ([`plan_named`]).
pub fn write_genre_named(
    path: &Path,
    name: String,
    scores: Option<&str>,
    options: TagOptions,
) -> Result<Plan, TagError> {
    let plan = plan_named(path, name, scores, options)?;
    if options.apply {
        if let Some(prepared) = plan.prepare()? {
            prepared.commit()?;
        }
    }
    Ok(plan)
}

#[cfg(unix)]
fn hard_links(meta: &std::fs::Metadata) -> u64 {
    use std::os::unix::fs::MetadataExt;
    meta.nlink()
}

#[cfg(not(unix))]
fn hard_links(_meta: &std::fs::Metadata) -> u64 {
    1
}

/// Give the copy the original's owner and group (possible as root or as the owner; a copy
/// made by its owner already has them).
#[cfg(unix)]
fn keep_owner(meta: &std::fs::Metadata, temp: &Path) {
    use std::os::unix::fs::MetadataExt;
    let _ = std::os::unix::fs::chown(temp, Some(meta.uid()), Some(meta.gid()));
}

#[cfg(not(unix))]
fn keep_owner(_meta: &std::fs::Metadata, _temp: &Path) {}

/// The audio stream of two files is the same, packet for packet: same codec parameters,
/// same packet bytes and timestamps (demuxed by symphonia, nothing decoded).
pub fn same_audio(a: &Path, b: &Path) -> Result<(), String> {
    let mut ra = AudioPackets::open(a)?;
    let mut rb = AudioPackets::open(b)?;
    if ra.params != rb.params {
        return Err(format!(
            "stream parameters differ ({} vs {})",
            ra.params, rb.params
        ));
    }
    let mut n = 0usize;
    loop {
        match (ra.next()?, rb.next()?) {
            (None, None) => return Ok(()),
            (Some(x), Some(y)) if x == y => n += 1,
            (Some(_), Some(_)) => return Err(format!("audio packet {n} differs")),
            _ => return Err(format!("the streams end at different packets (after {n})")),
        }
    }
}

/// A hash of a file's audio stream (codec parameters and every packet's bytes, demuxed,
/// nothing decoded): two files with the same audio and different tags hash alike.
pub fn audio_hash(path: &Path) -> Result<u64, String> {
    let mut packets = AudioPackets::open(path)?;
    let mut h = crate::hash::fnv1a(0, packets.params.bytes());
    while let Some((ts, dur, data)) = packets.next()? {
        let head = ts.to_le_bytes().into_iter().chain(dur.to_le_bytes());
        h = crate::hash::fnv1a(h, head.chain(data.iter().copied()));
    }
    Ok(h)
}

/// One demuxed packet: timestamp, duration and bytes.
type Packet = (u64, u64, Box<[u8]>);

/// The packets of a file's first audio track.
struct AudioPackets {
    reader: Box<dyn symphonia::core::formats::FormatReader>,
    track: u32,
    params: String,
}

impl AudioPackets {
    fn open(path: &Path) -> Result<Self, String> {
        use symphonia::core::codecs::CODEC_TYPE_NULL;
        use symphonia::core::formats::FormatOptions;
        use symphonia::core::io::MediaSourceStream;
        use symphonia::core::meta::MetadataOptions;
        use symphonia::core::probe::Hint;
        let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let reader = probed.format;
        let track = reader
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| format!("{}: no audio track", path.display()))?;
        let p = &track.codec_params;
        let params = format!(
            "codec {:?}, {:?} Hz, {:?} channels, {:?} bits, {:?} frames",
            p.codec,
            p.sample_rate,
            p.channels.map(|c| c.count()),
            p.bits_per_sample,
            p.n_frames
        );
        let track = track.id;
        Ok(Self {
            reader,
            track,
            params,
        })
    }

    /// The next packet of the track as (timestamp, duration, bytes), `None` at the end.
    fn next(&mut self) -> Result<Option<Packet>, String> {
        use symphonia::core::errors::Error as SymError;
        loop {
            match self.reader.next_packet() {
                Ok(p) if p.track_id() == self.track => return Ok(Some((p.ts, p.dur, p.data))),
                Ok(_) => {}
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(None)
                }
                Err(SymError::ResetRequired) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genre_names_and_matching() {
        assert_eq!(genre_name("rock"), "Rock");
        assert_eq!(genre_name("hiphop"), "Hip-Hop");
        assert!(same_genre("Hip Hop", "hiphop"));
        assert!(same_genre("ROCK", "rock"));
        assert!(!same_genre("rock", "pop"));
        let song = SongScores::from_frames(vec![vec![0.1, 0.7]]).unwrap();
        let v = scores_value("m", &["a".into(), "b".into()], &song);
        assert_eq!(v, r#"{"model":"m","label":"b","scores":{"a":0.1,"b":0.7}}"#);
        assert_eq!(scores_label(&v).as_deref(), Some("b"));
    }
}

//! `mgr_core::library::tags` on copies of the pack's MP3, Ogg Vorbis, FLAC and WAV files:
//! the genre lands in each format's own field, the audio decodes bit-identical before and
//! after, the other tags (and pictures) survive, the mtime is kept, a user's genre is kept
//! unless asked, read-only and hard-linked files are refused, and a write killed between the
//! verified copy and the rename leaves the original intact.

use std::path::{Path, PathBuf};

use lofty::config::WriteOptions;
use lofty::file::{FileType, TaggedFileExt};
use lofty::picture::{MimeType, Picture, PictureType};
use lofty::prelude::{Accessor, ItemKey, TagExt};
use lofty::tag::{Tag, TagType};
use mgr_core::audio::decode_file;
use mgr_core::library::tags::{plan, write_genre, TagAction, TagError, TagOptions, SCORES_FIELD};
use mgr_tests::{pack, scratch_dir, writable_copy};

const APPLY: TagOptions = TagOptions {
    apply: true,
    scores: true,
    overwrite_existing: false,
    update_mtime: false,
    only_untagged: false,
};

fn sources() -> Vec<(PathBuf, &'static str)> {
    vec![
        (pack("audio/bensound/bensound-cute.mp3"), "mp3"),
        (pack("data/gtzan-mini/formats/rock.00001.ogg"), "ogg"),
        (
            pack("data/gtzan-mini/genres/blues/blues.00000.flac"),
            "flac",
        ),
        (pack("data/gtzan-mini/formats/rock.00001.wav"), "wav"),
        (
            pack("data/gtzan-mini/formats/rock.00001.10s-stereo44k-s24.wav"),
            "wav",
        ),
    ]
}

/// A writable copy of `src` in `dir`, with the user's own tags: title, artist, album, a
/// comment and a front cover (and, for WAV, a RIFF INFO list too).
fn tagged_copy(dir: &Path, src: &Path, ext: &str, n: usize) -> PathBuf {
    let dst = dir.join(format!("song{n}.{ext}"));
    writable_copy(src, &dst);
    let tagged = lofty::read_from_path(&dst).unwrap();
    let kind = tagged.primary_tag_type();
    let mut tag = Tag::new(kind);
    tag.set_title("A Title ünïcode".into());
    tag.set_artist("An Artist".into());
    tag.set_album("An Album".into());
    tag.insert_text(ItemKey::Comment, "keep me".into());
    tag.push_picture(
        Picture::unchecked(b"\x89PNG\r\n\x1a\n not really a png, but bytes to keep".to_vec())
            .pic_type(PictureType::CoverFront)
            .mime_type(MimeType::Png)
            .build(),
    );
    tag.save_to_path(&dst, WriteOptions::default()).unwrap();
    if tagged.file_type() == FileType::Wav {
        let mut info = Tag::new(TagType::RiffInfo);
        info.set_title("A Title".into());
        info.save_to_path(&dst, WriteOptions::default()).unwrap();
    }
    dst
}

fn samples(path: &Path) -> Vec<u32> {
    let a = decode_file(path).unwrap();
    a.samples().iter().map(|s| s.to_bits()).collect()
}

fn genre_of(path: &Path) -> Vec<String> {
    let tagged = lofty::read_from_path(path).unwrap();
    tagged
        .tags()
        .iter()
        .filter_map(|t| t.genre().map(|g| g.to_string()))
        .collect()
}

/// The scores field, read with lofty's own types for each format.
fn scores_of(path: &Path) -> Option<String> {
    use lofty::config::ParseOptions;
    use lofty::file::AudioFile;
    let mut f = std::fs::File::open(path).unwrap();
    let opts = ParseOptions::new();
    let id3 = |t: Option<&lofty::id3::v2::Id3v2Tag>| {
        t.and_then(|t| t.get_user_text(SCORES_FIELD))
            .map(str::to_string)
    };
    match path.extension().and_then(|e| e.to_str()) {
        Some("mp3") => id3(lofty::mpeg::MpegFile::read_from(&mut f, opts)
            .unwrap()
            .id3v2()),
        Some("wav") => id3(lofty::iff::wav::WavFile::read_from(&mut f, opts)
            .unwrap()
            .id3v2()),
        Some("flac") => lofty::flac::FlacFile::read_from(&mut f, opts)
            .unwrap()
            .vorbis_comments()
            .and_then(|t| t.get(SCORES_FIELD))
            .map(str::to_string),
        Some("ogg") => lofty::ogg::VorbisFile::read_from(&mut f, opts)
            .unwrap()
            .vorbis_comments()
            .get(SCORES_FIELD)
            .map(str::to_string),
        _ => None,
    }
}

fn other_tags(path: &Path) -> (String, String, String, usize) {
    let tagged = lofty::read_from_path(path).unwrap();
    let t = tagged.primary_tag().expect("primary tag");
    (
        t.title().unwrap_or_default().to_string(),
        t.artist().unwrap_or_default().to_string(),
        t.album().unwrap_or_default().to_string(),
        t.picture_count() as usize,
    )
}

#[test]
fn genre_lands_in_each_formats_field_and_nothing_else_changes() {
    let dir = scratch_dir("tags-formats");
    for (n, (src, ext)) in sources().into_iter().enumerate() {
        let file = tagged_copy(&dir, &src, ext, n);
        let before = samples(&file);
        let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
        let others = other_tags(&file);
        assert_eq!(others.3, 1, "{ext}: the test picture is there");
        assert!(genre_of(&file).is_empty(), "{ext}: no genre yet");

        let scores = r#"{"model":"jimenez_crnn_gtzan","label":"rock","scores":{"rock":0.5}}"#;
        let p = write_genre(&file, "rock", Some(scores), APPLY).unwrap();
        assert_eq!(p.action, TagAction::Change, "{ext}");
        assert_eq!(p.describe(true), "written: Rock (was: none)");

        assert_eq!(samples(&file), before, "{ext}: audio decodes bit-identical");
        assert_eq!(other_tags(&file), others, "{ext}: other tags survive");
        let genres = genre_of(&file);
        assert!(
            !genres.is_empty() && genres.iter().all(|g| g == "Rock"),
            "{ext}: {genres:?}"
        );
        assert_eq!(scores_of(&file).as_deref(), Some(scores), "{ext}");
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            mtime,
            "{ext}: mtime kept"
        );
        // No temporary copy left behind.
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        // Writing again changes nothing.
        let again = write_genre(&file, "rock", Some(scores), APPLY).unwrap();
        assert_eq!(again.action, TagAction::Unchanged, "{ext}");
        println!(
            "{ext}: genre Rock written, {} samples unchanged, title/artist/album/picture kept",
            before.len()
        );
    }
    // WAV: the RIFF INFO list the file had gets IGNR too.
    let wav = dir.join("song3.wav");
    let tagged = lofty::read_from_path(&wav).unwrap();
    let info = tagged.tag(TagType::RiffInfo).expect("RIFF INFO kept");
    assert_eq!(info.genre().as_deref(), Some("Rock"));
    assert_eq!(info.title().as_deref(), Some("A Title"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn users_genre_is_kept_unless_asked_and_dry_run_writes_nothing() {
    let dir = scratch_dir("tags-user");
    let file = tagged_copy(&dir, &pack("audio/bensound/bensound-cute.mp3"), "mp3", 0);
    let mut tagged = lofty::read_from_path(&file).unwrap();
    let tag = tagged.primary_tag_mut().unwrap();
    tag.set_genre("Chamber Pop".into());
    tag.save_to_path(&file, WriteOptions::default()).unwrap();
    let bytes = std::fs::read(&file).unwrap();

    // Dry run: says what it would do, touches nothing.
    let dry = TagOptions {
        apply: false,
        overwrite_existing: true,
        ..APPLY
    };
    let p = write_genre(&file, "classical", None, dry).unwrap();
    assert_eq!(
        p.describe(false),
        "would write: Classical (was: Chamber Pop)"
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    // The user's genre stays without --overwrite-existing.
    let p = write_genre(&file, "classical", None, APPLY).unwrap();
    assert_eq!(p.action, TagAction::KeepUsers);
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    assert_eq!(genre_of(&file), ["Chamber Pop"]);

    // With it, replaced.
    let over = TagOptions {
        overwrite_existing: true,
        ..APPLY
    };
    write_genre(&file, "classical", Some(r#"{"label":"classical"}"#), over).unwrap();
    assert_eq!(genre_of(&file), ["Classical"]);

    // A genre mgr wrote itself (its scores field names it) may be replaced by a new run.
    let p = write_genre(&file, "jazz", Some(r#"{"label":"jazz"}"#), APPLY).unwrap();
    assert_eq!(p.action, TagAction::Change);
    assert_eq!(genre_of(&file), ["Jazz"]);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn read_only_and_hard_linked_files_are_refused() {
    let dir = scratch_dir("tags-refuse");
    let file = tagged_copy(
        &dir,
        &pack("data/gtzan-mini/formats/rock.00001.ogg"),
        "ogg",
        0,
    );
    let bytes = std::fs::read(&file).unwrap();
    let mut perms = std::fs::metadata(&file).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&file, perms.clone()).unwrap();
    let err = write_genre(&file, "rock", None, APPLY).unwrap_err();
    assert!(matches!(err, TagError::ReadOnly { .. }), "{err}");
    assert_eq!(err.to_string().lines().count(), 1);
    assert!(
        err.to_string()
            .ends_with("read-only file, tags not written"),
        "{err}"
    );
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&file, perms).unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    let link = dir.join("link.ogg");
    std::fs::hard_link(&file, &link).unwrap();
    let err = write_genre(&file, "rock", None, APPLY).unwrap_err();
    assert!(
        matches!(err, TagError::HardLinked { links: 2, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), bytes);

    // `.au` has no tag format.
    let au = dir.join("x.au");
    writable_copy(&pack("data/gtzan-mini/au-sample/blues.00000.au"), &au);
    assert!(matches!(
        write_genre(&au, "blues", None, APPLY),
        Err(TagError::NoTagFormat { .. })
    ));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_write_killed_before_the_rename_leaves_the_original_intact() {
    let dir = scratch_dir("tags-kill");
    for (n, (src, ext)) in sources().into_iter().enumerate().take(4) {
        let file = tagged_copy(&dir, &src, ext, n);
        let bytes = std::fs::read(&file).unwrap();
        let p = plan(&file, "metal", None, APPLY).unwrap();
        let prepared = p.prepare().unwrap().expect("a change to write");
        let temp = prepared.temp_path().to_path_buf();
        assert!(temp.exists(), "{ext}: the verified copy is written");
        assert_ne!(std::fs::read(&temp).unwrap(), bytes);
        // The process dies here: no rename, no clean-up.
        std::mem::forget(prepared);
        assert_eq!(
            std::fs::read(&file).unwrap(),
            bytes,
            "{ext}: original intact"
        );
        assert!(genre_of(&file).is_empty());
        // The next run replaces the stale copy and finishes the job.
        write_genre(&file, "metal", None, APPLY).unwrap();
        assert!(!temp.exists(), "{ext}: stale copy gone");
        // One genre per tag: the WAV carries an ID3v2 tag and a RIFF INFO list.
        let want = if ext == "wav" {
            vec!["Metal"; 2]
        } else {
            vec!["Metal"]
        };
        assert_eq!(genre_of(&file), want, "{ext}: the genre is written");
        assert_eq!(samples(&file), {
            let orig = dir.join(format!("orig.{ext}"));
            std::fs::write(&orig, &bytes).unwrap();
            samples(&orig)
        });
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[cfg(unix)]
#[test]
fn a_symbolic_link_is_followed_and_kept() {
    let dir = scratch_dir("tags-link");
    let file = tagged_copy(
        &dir,
        &pack("data/gtzan-mini/genres/jazz/jazz.00001.flac"),
        "flac",
        0,
    );
    let link = dir.join("link.flac");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    write_genre(&link, "jazz", None, APPLY).unwrap();
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(genre_of(&file), ["Jazz"]);
    let _ = std::fs::remove_dir_all(dir);
}

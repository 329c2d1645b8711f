//! Bad input for `--labels tags` (issue 20, item 5), on copies of the pack's files: a genre
//! that is not UTF-8, a 64 kB genre, a file that vanished after the walk listed it. Each is
//! counted or listed with a one-line reason; the good songs still make the data set.

use std::path::Path;

use lofty::config::WriteOptions;
use lofty::prelude::{ItemKey, TagExt, TaggedFileExt};
use lofty::tag::Tag;
use mgr_core::dataset::tagged::{scan, TagLabels};
use mgr_tests::{pack, scratch_dir, writable_copy};

fn flac_with_genre(src: &str, dst: &Path, genre: &str) {
    writable_copy(&pack(src), dst);
    let kind = lofty::read_from_path(dst).unwrap().primary_tag_type();
    let mut tag = Tag::new(kind);
    tag.insert_text(ItemKey::Genre, genre.into());
    tag.save_to_path(dst, WriteOptions::default()).unwrap();
}

/// The pack's MP3 with its ID3v2 tag replaced by one whose UTF-8 `TCON` is not UTF-8.
fn mp3_with_broken_genre(dst: &Path) {
    let mp3 = std::fs::read(pack("data/gtzan-mini/formats/rock.00001.mp3")).unwrap();
    assert_eq!(&mp3[..3], b"ID3");
    let size = |b: &[u8]| {
        b.iter()
            .fold(0usize, |s, &x| (s << 7) | usize::from(x & 0x7f))
    };
    let audio = &mp3[10 + size(&mp3[6..10])..];
    let body = [&[3u8][..], b"R\xffo\xc3(ck\xfe"].concat(); // encoding 3 = UTF-8
    let syncsafe = |n: usize| {
        [
            (n >> 21) as u8 & 0x7f,
            (n >> 14) as u8 & 0x7f,
            (n >> 7) as u8 & 0x7f,
            n as u8 & 0x7f,
        ]
    };
    let mut frame = b"TCON".to_vec();
    frame.extend_from_slice(&syncsafe(body.len()));
    frame.extend_from_slice(&[0, 0]);
    frame.extend_from_slice(&body);
    let mut out = b"ID3\x04\x00\x00".to_vec();
    out.extend_from_slice(&syncsafe(frame.len()));
    out.extend_from_slice(&frame);
    out.extend_from_slice(audio);
    std::fs::write(dst, out).unwrap();
}

#[test]
fn broken_and_huge_genres_and_vanished_files_are_left_out_with_a_reason() {
    let dir = scratch_dir("tagged-bad");
    let lib = dir.join("Music");
    std::fs::create_dir_all(lib.join("a")).unwrap();
    flac_with_genre(
        "data/gtzan-mini/genres/blues/blues.00000.flac",
        &lib.join("a/1.flac"),
        "Blues",
    );
    flac_with_genre(
        "data/gtzan-mini/genres/rock/rock.00002.flac",
        &lib.join("a/2.flac"),
        "Rock",
    );
    flac_with_genre(
        "data/gtzan-mini/genres/rock/rock.00003.flac",
        &lib.join("a/3.flac"),
        &"x".repeat(65_536),
    );
    mp3_with_broken_genre(&lib.join("a/4.mp3"));
    #[cfg(unix)]
    std::os::unix::fs::symlink(dir.join("gone.flac"), lib.join("a/5.flac")).unwrap();
    let cfg = TagLabels {
        genre_map: None,
        min_songs: 1,
    };
    let found = scan(std::slice::from_ref(&lib), &cfg).expect("the good songs make a data set");
    assert_eq!(found.dataset.genres, ["blues", "rock"]);
    assert_eq!(found.dataset.clips.len(), 2, "{:?}", found.dataset.clips);
    let untagged_or_listed = found.untagged + found.unreadable.len();
    assert_eq!(
        untagged_or_listed, 3,
        "64 kB genre, broken UTF-8, vanished file: {found:?}"
    );
    for line in found.summary(1) {
        assert!(!line.contains('\n') && line.len() < 400, "{line}");
    }
    #[cfg(unix)]
    assert!(
        found
            .unreadable
            .iter()
            .any(|(p, _)| p.ends_with("a/5.flac")),
        "the vanished file is listed: {:?}",
        found.unreadable
    );
    let _ = std::fs::remove_dir_all(dir);
}

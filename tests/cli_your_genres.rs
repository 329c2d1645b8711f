//! "Your own genres" end to end (issue 20): a tagged `Artist/Album/track` library built from
//! the pack's clips in MP3, FLAC, Ogg Vorbis and WAV, genres spelled several ways, artists from
//! Sturm's index written into the tags, a compilation, songs without a genre, a genre too small
//! to learn and a symbolic link loop. `finetune --labels tags` on it must give the model that
//! `finetune` gives on the same files sorted into genre folders with the index; then `classify
//! --write-tags --only-untagged` tags exactly the untagged songs, with the users' spelling;
//! and `eval --labels tags` must report what `eval` reports on the genre folders.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lofty::config::WriteOptions;
use lofty::prelude::{ItemKey, TagExt, TaggedFileExt};
use lofty::tag::{Tag, TagType};
use mgr_tests::{pack, scratch_dir, writable_copy};
use serde_json::Value;

fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_mgr-cli"))
        .args(args)
        .output()
        .expect("mgr-cli runs");
    eprintln!(
        "$ mgr-cli {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One song of the library: where its audio comes from, its place in the tagged library, the
/// GTZAN name it has in the genre-folder copy (`None`: not in that copy), and its tags.
struct Song {
    src: PathBuf,
    tagged: &'static str,
    folder: Option<&'static str>,
    genre: Option<&'static str>,
    artist: Option<&'static str>,
    album_artist: Option<&'static str>,
}

fn mini(name: &str) -> PathBuf {
    let genre = name.split('.').next().unwrap();
    pack(&format!("data/gtzan-mini/genres/{genre}/{name}.flac"))
}

#[rustfmt::skip]
fn songs(wav: &Path) -> Vec<Song> {
    let song = |src: PathBuf, tagged, folder, genre, artist, album_artist| Song {
        src, tagged, folder, genre, artist, album_artist,
    };
    vec![
        song(mini("blues.00000"), "John Lee Hooker/Urban Blues/01 One Bourbon.flac", Some("blues/blues.00000.flac"), Some("Blues"), Some("John Lee Hooker"), None),
        song(mini("blues.00001"), "John Lee Hooker/Urban Blues/02 In The Mood.flac", Some("blues/blues.00001.flac"), Some("blues"), Some("John Lee Hooker"), None),
        song(wav.to_path_buf(), "John Lee Hooker/Urban Blues/03 Think Twice.wav", Some("blues/blues.00002.wav"), Some("Blues"), Some("John Lee Hooker"), None),
        song(mini("hiphop.00000"), "Afrika Bambaataa/Planet Rock/01 Perfect Beat.flac", Some("hiphop/hiphop.00000.flac"), Some("Hip-Hop"), Some("Afrika Bambaataa"), None),
        song(mini("hiphop.00001"), "Wu-Tang Clan/Forever/01 Triumph.flac", Some("hiphop/hiphop.00001.flac"), Some("hip hop"), Some("Wu-Tang Clan feat. Cappadonna"), None),
        // A compilation: the folder says "Various Artists", the track artist is the artist.
        song(mini("hiphop.00002"), "Various Artists/Best Of/01 Buddy.flac", Some("hiphop/hiphop.00002.flac"), Some("HipHop"), Some("De La Soul"), Some("Various Artists")),
        song(mini("hiphop.00004"), "Various Artists/Best Of/02 It Ain't All Good.flac", Some("hiphop/hiphop.00004.flac"), Some("Hip Hop; Rap"), Some("De La Soul"), Some("Various Artists")),
        song(mini("blues.00003"), "Various Artists/Best Of/03 Jesse James.flac", Some("blues/blues.00003.flac"), Some("Blues"), Some("John Lee Hooker"), Some("Various Artists")),
        // No artist tag: the folder layout names the artist.
        song(mini("hiphop.00003"), "Ice Cube/Friday/01 Friday.flac", Some("hiphop/hiphop.00003.flac"), Some("Hip-Hop"), None, None),
        song(pack("data/gtzan-mini/formats/rock.00001.mp3"), "Morphine/Cure For Pain/01 I Know You.mp3", Some("rock/rock.00001.mp3"), Some("(17)"), Some("Morphine"), None),
        song(pack("data/gtzan-mini/formats/rock.00001.ogg"), "Morphine/Cure For Pain/02 I Know You (live).ogg", Some("rock/rock.00003.ogg"), Some("Rock"), Some("Morphine"), None),
        // Only the album artist.
        song(mini("rock.00002"), "Morphine/Cure For Pain/03 Early To Bed.flac", Some("rock/rock.00002.flac"), Some("rock"), None, Some("Morphine")),
        // The same audio again under another path, with other tags: counted once.
        song(mini("blues.00000"), "Someone Else/Covers/01 Bourbon.flac", None, Some("Rap"), Some("Someone Else"), None),
        // Not learned: no genre, or a genre of one song (--min-songs 2).
        song(mini("hiphop.00005"), "Ice Cube/Friday/02 Clubbin.flac", None, None, Some("Ice Cube"), None),
        song(mini("rock.00004"), "Morphine/Cure For Pain/04 Like Swimming.flac", None, Some(""), None, None),
        song(mini("jazz.00002"), "James Carter/Jurassic/01 Midnight.flac", None, Some("Jazz"), Some("James Carter"), None),
    ]
}

/// A 16-bit WAV of a FLAC clip (same samples: the pack's clips are 16-bit).
fn wav_of(src: &Path, dst: &Path) {
    let audio = mgr_core::audio::decode_file(src).unwrap();
    let pcm: Vec<u8> = audio
        .samples()
        .iter()
        .flat_map(|&x| ((x * 32768.0).round().clamp(-32768.0, 32767.0) as i16).to_le_bytes())
        .collect();
    let rate = audio.sample_rate();
    let mut w = Vec::new();
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + pcm.len() as u32).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes()); // PCM
    w.extend_from_slice(&1u16.to_le_bytes()); // mono
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&(pcm.len() as u32).to_le_bytes());
    w.extend_from_slice(&pcm);
    std::fs::write(dst, w).unwrap();
}

fn write_tags(path: &Path, song: &Song) {
    let file = lofty::read_from_path(path).unwrap();
    // WAV: the RIFF INFO list (IGNR, IART); the others their primary tag.
    let kind = match file.file_type() {
        lofty::file::FileType::Wav => TagType::RiffInfo,
        _ => file.primary_tag_type(),
    };
    let mut tag = Tag::new(kind);
    tag.insert_text(ItemKey::TrackTitle, "a title".into());
    let fields = [
        (ItemKey::Genre, song.genre),
        (ItemKey::TrackArtist, song.artist),
        (ItemKey::AlbumArtist, song.album_artist),
    ];
    for (key, value) in fields {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            tag.insert_text(key, v.into());
        }
    }
    tag.save_to_path(path, WriteOptions::default()).unwrap();
}

/// The tagged library, and the same files in `genres/<genre>/<gtzan name>` with the index.
fn build(work: &Path) -> (PathBuf, PathBuf, Vec<(PathBuf, PathBuf)>) {
    let library = work.join("Music");
    let folders = work.join("gtzan-copy");
    let wav = work.join("blues.00002.wav");
    wav_of(&mini("blues.00002"), &wav);
    let mut pairs = Vec::new();
    for song in songs(&wav) {
        let dst = library.join(song.tagged);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        writable_copy(&song.src, &dst);
        write_tags(&dst, &song);
        if let Some(name) = song.folder {
            let copy = folders.join("genres").join(name);
            std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
            std::fs::copy(&dst, &copy).unwrap();
            pairs.push((dst, copy));
        }
    }
    std::fs::copy(
        pack("data/gtzan-splits/GTZANindex.txt"),
        folders.join("GTZANindex.txt"),
    )
    .unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("..", library.join("Morphine/loop")).unwrap();
    (library, folders, pairs)
}

/// The file's tensors, name → (shape, values).
fn tensors(path: &Path) -> Vec<(String, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let data = &bytes[8 + n..];
    let mut out: Vec<(String, Vec<f32>)> = header
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| *k != "__metadata__")
        .map(|(k, v)| {
            assert_eq!(v["dtype"], "F32", "{k}");
            let off = &v["data_offsets"];
            let (a, b) = (
                off[0].as_u64().unwrap() as usize,
                off[1].as_u64().unwrap() as usize,
            );
            let vals = data[a..b]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                .collect();
            (k.clone(), vals)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn metadata(path: &Path) -> serde_json::Map<String, Value> {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    header["__metadata__"].as_object().unwrap().clone()
}

/// `classify --json` labels of `files` under `model`.
fn labels(model: &Path, files: &[&Path]) -> Vec<String> {
    let mut args = vec!["classify", "--json", "--model", s(model)];
    args.extend(files.iter().map(|f| s(f)));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap().to_string())
        .collect()
}

fn genre_tag(path: &Path) -> Option<String> {
    mgr_core::dataset::tagged::read_song_tags(path)
        .unwrap()
        .genre
}

#[test]
fn labels_from_tags_give_the_model_of_genre_folders_then_tag_the_rest() {
    let work = scratch_dir("your-genres");
    let (library, folders, pairs) = build(&work);
    let by_tags = work.join("by-tags.safetensors");
    let by_folders = work.join("by-folders.safetensors");
    let out = run(&[
        "finetune",
        "--data",
        s(&library),
        "--labels",
        "tags",
        "--min-songs",
        "2",
        "--out",
        s(&by_tags),
        "--cache",
        s(&work.join("cache")),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    for said in [
        "12 songs in 3 genres; 2 songs without a genre tag left out",
        "genres with fewer than 2 songs left out (--min-songs): jazz (1)",
        "artists of 0 songs from the index, 11 from tags, 1 from folders, 0 unknown",
        "symbolic link loop",
        "01 Bourbon.flac: the same audio as ",
    ] {
        assert!(err.contains(said), "stderr lacks {said:?}:\n{err}");
    }
    let out = run(&[
        "finetune",
        "--data",
        s(&folders),
        "--out",
        s(&by_folders),
        "--cache",
        s(&work.join("cache")),
    ]);
    assert_eq!(out.status.code(), Some(0));

    // The same model: same labels, same tensors up to summation order.
    let (mt, mf) = (metadata(&by_tags), metadata(&by_folders));
    assert_eq!(mt["labels"], "[\"blues\",\"hiphop\",\"rock\"]");
    assert_eq!(mt["labels"], mf["labels"]);
    assert_eq!(mt["display_names"], "[\"Blues\",\"Hip-Hop\",\"Rock\"]");
    assert!(
        !mf.contains_key("display_names"),
        "folder names are the labels"
    );
    let prov: Value = serde_json::from_str(mt["provenance"].as_str().unwrap()).unwrap();
    assert_eq!(prov["sources"]["labels"], "tags");
    assert_eq!(prov["sources"]["artists"]["tag"], 11);
    assert_eq!(prov["cross_validation"]["grouping"], "artist");
    let prov: Value = serde_json::from_str(mf["provenance"].as_str().unwrap()).unwrap();
    assert_eq!(prov["sources"]["artists"]["index"], 12);
    let (tt, tf) = (tensors(&by_tags), tensors(&by_folders));
    assert_eq!(tt.len(), tf.len());
    let mut worst = (0.0f32, String::new());
    for ((na, a), (nb, b)) in tt.iter().zip(&tf) {
        assert_eq!(na, nb);
        assert_eq!(a.len(), b.len(), "{na}");
        for (x, y) in a.iter().zip(b) {
            let d = (x - y).abs() / x.abs().max(1.0);
            if d > worst.0 {
                worst = (d, na.clone());
            }
        }
    }
    assert!(
        worst.0 <= 1e-5,
        "worst tensor deviation {} in {}",
        worst.0,
        worst.1
    );
    let files: Vec<&Path> = pairs.iter().map(|(t, _)| t.as_path()).collect();
    assert_eq!(labels(&by_tags, &files), labels(&by_folders, &files));
    // Text names the genre as the users spell it (the JSON above keeps the label); a model
    // trained on folders has no other spelling.
    let first = labels(&by_tags, &files[..1]);
    let label = &first[0];
    let display = match label.as_str() {
        "blues" => "Blues",
        "hiphop" => "Hip-Hop",
        _ => "Rock",
    };
    for (model, want) in [(&by_tags, display), (&by_folders, label.as_str())] {
        let out = run(&["classify", "--model", s(model), s(files[0])]);
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        let rest = line.strip_prefix(s(files[0])).unwrap_or_default();
        assert_eq!(rest.split_whitespace().next(), Some(want), "{line}");
    }

    // The rest of the loop: only the untagged songs are analysed, and get the users' spelling.
    let untagged = [
        library.join("Ice Cube/Friday/02 Clubbin.flac"),
        library.join("Morphine/Cure For Pain/04 Like Swimming.flac"),
    ];
    let only_untagged = |extra: &str| {
        let model = s(&by_tags);
        run(&[
            "classify",
            s(&library),
            "--model",
            model,
            "--write-tags",
            "--only-untagged",
            extra,
        ])
    };
    let dry = only_untagged("--json");
    assert_eq!(dry.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let paths: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, untagged.iter().map(|p| s(p)).collect::<Vec<_>>());
    assert!(String::from_utf8_lossy(&dry.stderr).contains("14 song(s) already have a genre tag"));
    assert_eq!(genre_tag(&untagged[0]), None, "a dry run writes nothing");
    let applied = only_untagged("--apply");
    assert_eq!(applied.status.code(), Some(0));
    for f in &untagged {
        let g = genre_tag(f).expect("tagged now");
        assert!(["Blues", "Hip-Hop", "Rock"].contains(&g.as_str()), "{g}");
    }
    let again = only_untagged("--json");
    assert_eq!(
        String::from_utf8_lossy(&again.stdout).trim(),
        "[]",
        "nothing left to tag"
    );
    let _ = std::fs::remove_dir_all(work);
}

/// `eval --labels tags` on the tagged library is `eval` on the genre-folder copy with the
/// index: the same songs with the same genres, in the same artist-grouped folds, predicted the
/// same, and the report says where labels and artists came from.
#[test]
fn eval_on_tags_equals_eval_on_genre_folders() {
    let work = scratch_dir("your-genres-eval");
    let (library, folders, pairs) = build(&work);
    let cache = work.join("cache");
    let eval = |data: &Path, extra: &[&str], name: &str| -> (Value, String) {
        let json = work.join(name);
        let mut args = vec![
            "eval",
            "gtzan",
            s(data),
            "--split",
            "kfold:2",
            "--train",
            "stack",
            "--json",
            s(&json),
            "--cache",
            s(&cache),
        ];
        args.extend_from_slice(extra);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0));
        let report = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        (report, String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (by_tags, tags_text) = eval(
        &library,
        &["--labels", "tags", "--min-songs", "2"],
        "tags.json",
    );
    let (by_folders, folders_text) = eval(&folders, &[], "folders.json");
    let grouped = "clips grouped by artist (artists of 0 songs from the index, 11 from tags, \
                   1 from folders, 0 unknown); 0 test songs have an artist that training also \
                   heard";
    assert!(tags_text.contains(grouped), "{tags_text}");
    assert!(
        folders_text.contains("clips grouped by artist (index ")
            && folders_text.contains("; 0 test songs have an artist that training also heard"),
        "{folders_text}"
    );
    assert_eq!(
        by_tags["sources"],
        serde_json::json!({
            "labels": "tags",
            "artists": {"index": 0, "tag": 11, "folder": 1, "unknown": 0}
        })
    );
    assert_eq!(
        by_folders["sources"],
        serde_json::json!({
            "labels": "folder",
            "artists": {"index": 12, "tag": 0, "folder": 0, "unknown": 0}
        })
    );
    for r in [&by_tags, &by_folders] {
        assert_eq!(r["grouping"], "artist");
        assert_eq!(r["n"], 12);
        assert_eq!(r["test_songs_with_artist_in_training"], 0);
    }
    let by_path = |r: &Value| -> std::collections::HashMap<String, Value> {
        r["predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["path"].as_str().unwrap().to_string(), p.clone()))
            .collect()
    };
    let (tagged, foldered) = (by_path(&by_tags), by_path(&by_folders));
    assert_eq!(tagged.len(), pairs.len());
    for (t, f) in &pairs {
        let (a, b) = (&tagged[s(t)], &foldered[s(f)]);
        for key in ["genre", "fold", "predicted"] {
            assert_eq!(a[key], b[key], "{key} of {}", t.display());
        }
    }
    for key in ["accuracy", "balanced_accuracy", "confusion", "labels"] {
        assert_eq!(by_tags[key], by_folders[key], "{key}");
    }
    let _ = std::fs::remove_dir_all(work);
}

/// A library without a single genre tag: one clear line, no model file.
#[test]
fn a_library_without_genre_tags_is_one_clear_error() {
    let work = scratch_dir("your-genres-none");
    let lib = work.join("Music/Someone/Album");
    std::fs::create_dir_all(&lib).unwrap();
    for (i, name) in ["blues.00000", "rock.00002"].iter().enumerate() {
        writable_copy(&mini(name), &lib.join(format!("0{i} song.flac")));
    }
    let model = work.join("m.safetensors");
    let out = run(&[
        "finetune",
        "--data",
        s(&work.join("Music")),
        "--labels",
        "tags",
        "--out",
        s(&model),
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.contains("genre tag"))
        .unwrap_or_default();
    assert!(
        line.contains("no song in") && line.contains("2 songs without one"),
        "{err}"
    );
    assert!(!model.exists(), "nothing written when training fails");
    let _ = std::fs::remove_dir_all(work);
}

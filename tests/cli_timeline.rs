//! `mgr-cli classify --timeline` and `tag --timeline`: the flags, every output shape (JSON,
//! JSON Lines with resume, CSV, text, the PNG) and, end to end, the segments of a file made of
//! blocks of known genres.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mgr_core::audio::decode_file;
use mgr_core::config::FRAME_SECONDS;
use mgr_core::timeline::{segments, SegmentConfig, Window};
use mgr_tests::{pack, scratch_dir, wav_bytes};
use serde_json::Value;

fn mgr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mgr-cli"))
}

fn run(args: &[&str]) -> Output {
    mgr().args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The pack clips `genre.000NN.flac` for each of `ids`.
fn clips(genre: &str, ids: &[u32]) -> Vec<PathBuf> {
    ids.iter()
        .map(|i| {
            pack(&format!(
                "data/gtzan-mini/genres/{genre}/{genre}.{i:05}.flac"
            ))
        })
        .collect()
}

/// One WAV of `files` one after the other (all at one sample rate); returns the seconds at
/// which each file starts, and the total length.
fn concatenate(files: &[PathBuf], out: &Path) -> (Vec<f64>, f64) {
    let mut samples = Vec::new();
    let mut starts = Vec::new();
    let mut rate = 0;
    for f in files {
        let audio = decode_file(f).unwrap();
        assert!(rate == 0 || rate == audio.sample_rate(), "{}", f.display());
        rate = audio.sample_rate();
        starts.push(samples.len() as f64 / f64::from(rate));
        samples.extend_from_slice(audio.samples());
    }
    std::fs::write(out, wav_bytes(&samples, 1, rate)).unwrap();
    (starts, samples.len() as f64 / f64::from(rate))
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&text(&out.stdout)).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    })
}

/// A pack clip (30.01 s, one frame) and its path as text.
fn clip() -> PathBuf {
    pack("data/gtzan-mini/genres/classical/classical.00000.flac")
}

/// The keys of a JSON object, in order.
fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

/// A timeline's `"timeline"` and `"segments"` hold what they say: `n_windows` windows every
/// `hop` seconds from 0, each labelled with its top score; segments tiling the recording on
/// the windows' edges.
fn check_timeline(song: &Value, hop: f64, n_windows: usize, score_key: &str) {
    let windows = song["timeline"].as_array().expect("a \"timeline\" array");
    let segments = song["segments"].as_array().expect("a \"segments\" array");
    assert_eq!(windows.len(), n_windows, "{song}");
    for (k, w) in windows.iter().enumerate() {
        assert_eq!(keys(w), ["start", "end", "label", score_key]);
        let start = w["start"].as_f64().unwrap();
        assert!((start - k as f64 * hop).abs() < 1e-3, "{start}");
        let end = w["end"].as_f64().unwrap();
        assert!(end > start && end <= start + FRAME_SECONDS + 1e-3);
    }
    for w in windows.iter().filter(|_| score_key == "scores") {
        let scores = w["scores"].as_object().unwrap();
        let top = scores
            .iter()
            .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
            .unwrap()
            .0;
        assert_eq!(w["label"], top.as_str());
    }
    assert!(!segments.is_empty());
    assert_eq!(segments[0]["start"], 0.0);
    assert_eq!(
        segments.last().unwrap()["end"],
        windows.last().unwrap()["end"]
    );
    for pair in segments.windows(2) {
        assert_eq!(pair[0]["end"], pair[1]["start"]);
        assert_ne!(pair[0]["label"], pair[1]["label"]);
    }
    for g in segments {
        assert_eq!(keys(g), ["start", "end", "label", score_key]);
    }
}

#[test]
fn timeline_options_need_timeline_and_sane_values() {
    let f = clip();
    let f = f.to_str().unwrap();
    for args in [
        vec!["classify", f, "--hop", "10"],
        vec!["classify", f, "--min-segment", "10"],
        vec!["classify", f, "--switch-penalty", "1"],
        vec!["classify", f, "--plot", "x.png"],
        vec!["tag", f, "--hop", "10"],
        vec!["classify", f, "--timeline", "--hop", "0.5"],
        vec!["classify", f, "--timeline", "--hop", "nan"],
        vec!["classify", f, "--timeline", "--min-segment", "-1"],
        vec!["classify", f, "--timeline", "--switch-penalty", "inf"],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty());
        assert!(text(&out.stderr).starts_with("error: "), "{args:?}");
    }
    // --plot draws one recording: a folder or two files are refused before any work.
    let dir = pack("data/gtzan-mini/au-sample");
    for args in [
        vec![
            "classify",
            "--timeline",
            "--plot",
            "x.png",
            dir.to_str().unwrap(),
        ],
        vec!["tag", "--timeline", "--plot", "x.png", f, f],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("--plot draws the timeline of one recording"),
            "{err}"
        );
        assert!(!Path::new("x.png").exists());
    }
}

#[test]
fn classify_json_gains_timeline_and_segments_and_keeps_the_song_decision() {
    let f = clip();
    let f = f.to_str().unwrap();
    let plain = json(&run(&["classify", "--json", f]));
    assert_eq!(keys(&plain[0]), ["path", "label", "scores", "frames"]);
    let out = run(&["classify", "--json", "--timeline", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    let song = &v[0];
    assert_eq!(
        keys(song),
        ["path", "label", "scores", "frames", "timeline", "segments"]
    );
    for k in ["path", "label", "scores", "frames"] {
        assert_eq!(song[k], plain[0][k], "{k}");
    }
    // 30.01 s: two windows, at the default hop and at 14.56 s (the second reaches the end).
    check_timeline(song, FRAME_SECONDS, 2, "scores");
    let v = json(&run(&[
        "classify",
        "--json",
        "--timeline",
        "--hop",
        "14.56",
        f,
    ]));
    check_timeline(&v[0], 14.56, 2, "scores");
    // With --per-frame as well: both, in that order.
    let v = json(&run(&[
        "classify",
        "--json",
        "--timeline",
        "--per-frame",
        f,
    ]));
    assert_eq!(
        keys(&v[0]),
        [
            "path",
            "label",
            "scores",
            "frames",
            "vote",
            "frame_scores",
            "timeline",
            "segments"
        ]
    );
}

#[test]
fn classify_csv_has_window_and_segment_rows_and_text_one_line_per_segment() {
    let f = clip();
    let f = f.to_str().unwrap();
    let plain = text(&run(&["classify", "--csv", f]).stdout);
    let out = run(&["classify", "--csv", "--timeline", f]);
    assert_eq!(out.status.code(), Some(0));
    let csv = text(&out.stdout);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "path,frame,start,end,label,vote,blues,classical,country,disco,hiphop,jazz,metal,pop,reggae,rock,error"
    );
    // The song row: the plain run's with two empty time columns.
    let plain_song: Vec<&str> = plain.lines().nth(1).unwrap().split(',').collect();
    let song: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(song[..2], plain_song[..2]);
    assert_eq!(song[2..4], ["", ""]);
    assert_eq!(song[4..], plain_song[2..]);
    let rows: Vec<Vec<&str>> = lines[2..].iter().map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == 17));
    let windows: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "window").collect();
    let segments: Vec<&Vec<&str>> = rows.iter().filter(|r| r[1] == "segment").collect();
    assert_eq!(windows.len() + segments.len(), rows.len());
    assert_eq!(windows.len(), 2);
    assert_eq!(windows[0][2..4], ["0.000", "29.120"]);
    assert_eq!(windows[1][2], "29.120");
    assert!(!segments.is_empty());
    assert_eq!(segments[0][2], "0.000");
    assert_eq!(segments.last().unwrap()[3], windows[1][3]);
    // Text: the song's line unchanged, then one line per segment.
    let plain = text(&run(&["classify", f]).stdout);
    let out = text(&run(&["classify", "--timeline", f]).stdout);
    let mut lines = out.lines();
    assert_eq!(lines.next(), plain.lines().next());
    let lines: Vec<&str> = lines.collect();
    assert!(!lines.is_empty(), "no segment lines: {out}");
    for l in lines {
        // `  00:00:00–00:00:30  classical  (0.74)`
        let (times, rest) = l.trim_start().split_once("  ").unwrap();
        assert_eq!(times.chars().count(), 17, "{l}");
        assert_eq!(&times[8..11], "–");
        assert!(rest.trim_end().ends_with(')'), "{l}");
    }
}

#[test]
fn tag_timeline_labels_are_top_tags() {
    let f = pack("audio/bensound/bensound-cute.mp3");
    let f = f.to_str().unwrap();
    let plain = json(&run(&["tag", "--json", "--top", "3", f]));
    let out = run(&["tag", "--json", "--top", "3", "--timeline", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    assert_eq!(keys(&v[0]), ["path", "tags", "timeline", "segments"]);
    assert_eq!(v[0]["tags"], plain[0]["tags"]);
    // bensound-cute is 31.8 s: two windows.
    check_timeline(&v[0], FRAME_SECONDS, 2, "tags");
    for w in v[0]["timeline"].as_array().unwrap() {
        let tags = w["tags"].as_array().unwrap();
        assert_eq!(tags.len(), 3);
        assert_eq!(w["label"], tags[0][0], "the label is the top tag");
    }
    let out = text(&run(&["tag", "--top", "3", "--timeline", f]).stdout);
    let plain = text(&run(&["tag", "--top", "3", f]).stdout);
    assert!(out.starts_with(&plain), "{out}");
}

/// The MSD taggers' timeline follows a change of song: the pack's jazz piano piece twice, then
/// its dubstep piece twice, in one file (about a minute each), which the CRNN tagger hears as
/// electronic and Hip-Hop. `tag` smooths with its own switch penalty
/// ([`SegmentConfig::tags`]); classify's joins the two songs into one segment.
#[test]
fn tag_timeline_of_two_songs_has_two_segments() {
    let dir = scratch_dir("timeline-tags");
    let wav = dir.join("two.wav");
    let files = ["thejazzpiano", "thejazzpiano", "dubstep", "dubstep"]
        .map(|n| pack(&format!("audio/bensound/bensound-{n}.mp3")));
    let (starts, length) = concatenate(&files, &wav);
    let w = wav.to_str().unwrap();
    let out = run(&["tag", "--json", "--timeline", w]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v = json(&out);
    let n = ((length - FRAME_SECONDS) / FRAME_SECONDS).ceil() as usize + 1;
    check_timeline(&v[0], FRAME_SECONDS, n, "tags");
    let segments = v[0]["segments"].as_array().unwrap();
    let labels: Vec<&str> = segments
        .iter()
        .map(|g| g["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["electronic", "Hip-Hop"], "{segments:?}");
    let got = segments[1]["start"].as_f64().unwrap();
    assert!(
        (got - starts[2]).abs() <= FRAME_SECONDS,
        "{got} vs {}",
        starts[2]
    );
    let penalty = SegmentConfig::default().switch_penalty.to_string();
    let out = run(&[
        "tag",
        "--json",
        "--timeline",
        "--switch-penalty",
        &penalty,
        w,
    ]);
    assert_eq!(json(&out)[0]["segments"].as_array().unwrap().len(), 1);
    let _ = std::fs::remove_dir_all(dir);
}

/// Two pack clips copied into `dir`.
fn two_songs(dir: &Path) -> PathBuf {
    let songs = dir.join("songs");
    std::fs::create_dir_all(&songs).unwrap();
    for (g, i) in [("blues", 1), ("pop", 2)] {
        let name = format!("{g}.{i:05}.flac");
        let src = pack(&format!("data/gtzan-mini/genres/{g}/{name}"));
        std::fs::copy(src, songs.join(name)).unwrap();
    }
    songs
}

#[test]
fn result_files_record_the_timeline_and_resume_only_the_same_kind() {
    let dir = scratch_dir("timeline-resume");
    let songs = two_songs(&dir);
    let songs = songs.to_str().unwrap();
    let file = dir.join("genres.jsonl");
    let f = file.to_str().unwrap();
    let out = run(&["classify", songs, "--timeline", "--jsonl", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for l in &lines {
        assert_eq!(
            keys(l),
            [
                "path",
                "label",
                "scores",
                "frames",
                "timeline",
                "segments",
                "model",
                "timeline_settings",
                "size",
                "mtime_ns"
            ]
        );
        assert_eq!(
            l["timeline_settings"],
            "hop=29.12;switch_penalty=3;min_segment=45"
        );
        check_timeline(l, FRAME_SECONDS, 2, "scores");
    }
    // Resume: the second line lost (as after a kill), the same settings complete the file.
    let first = body.lines().next().unwrap();
    std::fs::write(&file, format!("{first}\n")).unwrap();
    let out = run(&["classify", songs, "--timeline", "--jsonl", f, "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("1 of 2 songs already done"));
    let again = std::fs::read_to_string(&file).unwrap();
    assert_eq!(again.lines().count(), 2);
    assert!(again.lines().all(|l| l.contains("\"timeline\":[")));
    // Without --timeline, or with another hop, the file is not continued.
    for extra in [vec![], vec!["--timeline", "--hop", "10"]] {
        let mut args = vec!["classify", songs, "--jsonl", f, "--resume"];
        args.extend(extra);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("line 1 holds results with a timeline"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), again);
    }
    // A file made without a timeline is not continued with one.
    let plain = dir.join("plain.jsonl");
    let p = plain.to_str().unwrap();
    assert_eq!(
        run(&["classify", songs, "--jsonl", p]).status.code(),
        Some(0)
    );
    let out = run(&["classify", songs, "--jsonl", p, "--resume", "--timeline"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("holds results without a timeline, not with a timeline (hop=29.12;"),
        "{err}"
    );
    // CSV result files: the timeline's columns, and the same rules.
    let csv = dir.join("genres.csv");
    let c = csv.to_str().unwrap();
    let out = run(&["classify", songs, "--timeline", "--csv-file", c]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(&csv).unwrap();
    let header = body.lines().next().unwrap();
    assert!(header.starts_with("path,frame,start,end,label,vote,blues,"));
    assert!(header.ends_with(",error,size,mtime_ns,model,timeline_settings"));
    let song_rows: Vec<&str> = body.lines().filter(|l| l.contains(",song,")).collect();
    assert_eq!(song_rows.len(), 2);
    for r in &song_rows {
        assert!(
            r.ends_with(",jimenez_crnn_gtzan,hop=29.12;switch_penalty=3;min_segment=45"),
            "{r}"
        );
    }
    let out = run(&["classify", songs, "--timeline", "--csv-file", c, "--resume"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("2 of 2 songs already done"));
    let out = run(&["classify", songs, "--csv-file", c, "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("line 1 holds results with a timeline, not without a timeline")
    );
    let out = run(&[
        "classify",
        songs,
        "--csv-file",
        c,
        "--resume",
        "--timeline",
        "--min-segment",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("line 2 holds results with a timeline (hop=29.12;switch_penalty=3;min_segment=45), not with a timeline (hop=29.12;switch_penalty=3;min_segment=0)"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn plot_writes_one_png() {
    let dir = scratch_dir("timeline-plot");
    let png = dir.join("timeline.png");
    let f = clip();
    let out = run(&[
        "classify",
        "--timeline",
        "--plot",
        png.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: 1400 px wide whatever the recording's length.
    assert_eq!(u32::from_be_bytes(bytes[16..20].try_into().unwrap()), 1400);
    // With the results in a file, the picture is drawn all the same.
    let png2 = dir.join("t2.png");
    let jsonl = dir.join("r.jsonl");
    let out = run(&[
        "classify",
        "--timeline",
        "--plot",
        png2.to_str().unwrap(),
        "--jsonl",
        jsonl.to_str().unwrap(),
        f.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(png2.exists());
    let _ = std::fs::remove_dir_all(dir);
}

/// Blocks of five pack clips of one genre each (clips the published model classifies right
/// one by one: `classify --json` on the pack), one after the other in one WAV.
const BLOCKS: [(&str, [u32; 5]); 3] = [
    ("classical", [0, 2, 3, 4, 8]),
    ("pop", [0, 2, 3, 4, 6]),
    ("jazz", [4, 5, 11, 12, 6]),
];

/// The end-to-end check (issue 19): on a file of genre blocks the segments are the
/// blocks, in order, with each boundary within one window of where the block changes, at the
/// default hop and at a hop of half a window. Needs the pipeline to fill the timeline.
#[test]
fn segments_of_a_file_of_genre_blocks_are_the_blocks() {
    let dir = scratch_dir("timeline-blocks");
    let wav = dir.join("blocks.wav");
    let mut files = Vec::new();
    for (genre, ids) in BLOCKS {
        files.extend(clips(genre, &ids));
    }
    let (starts, length) = concatenate(&files, &wav);
    let changes: Vec<f64> = (1..BLOCKS.len()).map(|b| starts[5 * b]).collect();
    for hop in ["29.12", "14.56"] {
        let out = run(&[
            "classify",
            "--json",
            "--timeline",
            "--hop",
            hop,
            wav.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let v = json(&out);
        let h: f64 = hop.parse().unwrap();
        let n = ((length - FRAME_SECONDS) / h).ceil() as usize + 1;
        check_timeline(&v[0], h, n, "scores");
        let segments = v[0]["segments"].as_array().unwrap();
        let labels: Vec<&str> = segments
            .iter()
            .map(|g| g["label"].as_str().unwrap())
            .collect();
        assert_eq!(
            labels,
            ["classical", "pop", "jazz"],
            "hop {hop}: {segments:?}"
        );
        for (g, want) in segments[1..].iter().zip(&changes) {
            let got = g["start"].as_f64().unwrap();
            assert!(
                (got - want).abs() <= FRAME_SECONDS,
                "hop {hop}: a boundary at {got} s for a change at {want:.2} s"
            );
        }
        let end = segments.last().unwrap()["end"].as_f64().unwrap();
        assert!((end - length).abs() < 1e-3, "{end} vs {length}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The windows of a `--json --timeline` song, scores in label order.
fn windows_of(song: &Value, labels: &[String]) -> Vec<Window> {
    let windows = song["timeline"].as_array().unwrap();
    windows
        .iter()
        .map(|w| Window {
            start: w["start"].as_f64().unwrap(),
            end: w["end"].as_f64().unwrap(),
            scores: labels
                .iter()
                .map(|l| w["scores"][l].as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

/// Runs of one label in `labels`.
fn n_runs(labels: &[usize]) -> usize {
    1 + labels.windows(2).filter(|p| p[0] != p[1]).count()
}

/// A centred mode filter of `width` over the windows' top labels (a tie keeps the window's
/// own label if it is among the most frequent, else the lowest index): the smoothing the
/// Viterbi decoding is compared with in docs/library.md.
fn mode_filter(labels: &[usize], width: usize) -> Vec<usize> {
    let h = width / 2;
    (0..labels.len())
        .map(|t| {
            let around = &labels[t.saturating_sub(h)..(t + h + 1).min(labels.len())];
            let count = |l: usize| around.iter().filter(|&&x| x == l).count();
            let best = around.iter().map(|&l| count(l)).max().unwrap_or(0);
            if count(labels[t]) == best {
                labels[t]
            } else {
                let mut tied: Vec<usize> = around
                    .iter()
                    .copied()
                    .filter(|&l| count(l) == best)
                    .collect();
                tied.sort();
                tied[0]
            }
        })
        .collect()
}

/// The picture of docs/library.md ("Genre timeline") and the numbers there: every clip of
/// the pack's ten genres, in label order, ten 5-minute blocks in one 50-minute WAV. Run with
/// `MGR_TIMELINE_PNG=docs/timeline.png cargo test -p mgr-cli --test cli_timeline --
/// --ignored --nocapture`: it draws the picture, prints the segments as `classify
/// --timeline` does, and, at hops of 29.12 s and 10 s, the segments that each switch penalty
/// gives and the runs that a mode filter of the window labels leaves.
#[test]
#[ignore = "writes the docs picture; needs MGR_TIMELINE_PNG"]
fn docs_picture_of_ten_genre_blocks() {
    let png = PathBuf::from(std::env::var("MGR_TIMELINE_PNG").expect("MGR_TIMELINE_PNG"));
    let dir = scratch_dir("timeline-docs");
    let wav = dir.join("gtzan-mini-10-genres.wav");
    // The genre folders, sorted: the model's labels in their order.
    let mut labels: Vec<String> = std::fs::read_dir(pack("data/gtzan-mini/genres"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    labels.sort();
    let mut files = Vec::new();
    for genre in &labels {
        let folder = pack(&format!("data/gtzan-mini/genres/{genre}"));
        let mut clips: Vec<PathBuf> = std::fs::read_dir(folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        clips.sort();
        files.extend(clips);
    }
    let (starts, length) = concatenate(&files, &wav);
    let blocks: Vec<String> = starts
        .iter()
        .step_by(10)
        .map(|s| format!("{s:.0}"))
        .collect();
    println!(
        "{} clips, {length:.1} s; blocks start at {}",
        files.len(),
        blocks.join(", ")
    );
    let wav = wav.to_str().unwrap();
    let png = png.to_str().unwrap();
    let out = run(&["classify", "--timeline", "--plot", png, wav]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    println!("{}", text(&out.stdout));
    for hop in ["29.12", "10"] {
        let out = run(&["classify", "--json", "--timeline", "--hop", hop, wav]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let windows = windows_of(&json(&out)[0], &labels);
        let tops: Vec<usize> = windows.iter().map(Window::top).collect();
        println!(
            "hop {hop} s: {} windows, {} runs of top labels",
            windows.len(),
            n_runs(&tops)
        );
        for penalty in [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0] {
            let cfg = SegmentConfig {
                switch_penalty: penalty,
                ..SegmentConfig::default()
            };
            let g = segments(&windows, &cfg);
            let names: Vec<&str> = g.iter().map(|g| labels[g.label].as_str()).collect();
            println!(
                "  switch penalty {penalty}: {} segments: {}",
                g.len(),
                names.join(" ")
            );
        }
        for width in [3, 5, 7] {
            let runs = n_runs(&mode_filter(&tops, width));
            println!("  mode filter of width {width}: {runs} runs");
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

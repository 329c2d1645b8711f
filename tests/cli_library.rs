//! `mgr-cli classify` on a library: streaming JSON Lines / CSV results, resume after a
//! change, a Ctrl-C and a kill; shards that concatenate into the whole result; trees with
//! hidden files, symbolic link loops and unreadable folders; and the `--write-tags`
//! workflow, including a run killed while it writes tags.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use mgr_core::library::tags::genre_name;
use mgr_tests::{pack, scratch_dir, writable_copy};
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

const GENRES: [&str; 5] = ["blues", "classical", "jazz", "metal", "pop"];

/// `n` GTZAN clips copied into `dir/<genre>/`.
fn tree(dir: &Path, n: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for i in 0..n {
        let g = GENRES[i % GENRES.len()];
        let k = i / GENRES.len();
        std::fs::create_dir_all(dir.join(g)).unwrap();
        let dst = dir.join(g).join(format!("{g}.{k:05}.flac"));
        // The pack's clips of that genre (not every number is there), cycled.
        let mut clips: Vec<PathBuf> =
            std::fs::read_dir(pack(&format!("data/gtzan-mini/genres/{g}")))
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
        clips.sort();
        writable_copy(&clips[k % clips.len()], &dst);
        files.push(dst);
    }
    files.sort();
    files
}

/// path → JSON object of `classify --json`.
fn reference(root: &Path) -> BTreeMap<String, Value> {
    let out = run(&["classify", "--json", root.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|o| (o["path"].as_str().unwrap().to_string(), o.clone()))
        .collect()
}

/// Complete lines of a JSON Lines file, parsed; a partial last line is returned apart.
fn jsonl(path: &Path) -> (Vec<Value>, String) {
    let s = std::fs::read_to_string(path).unwrap_or_default();
    let (complete, partial) = match s.rfind('\n') {
        Some(i) => (&s[..=i], &s[i + 1..]),
        None => ("", s.as_str()),
    };
    let lines = complete
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    (lines, partial.to_string())
}

/// The latest successful line of each path.
fn latest(lines: &[Value]) -> BTreeMap<String, Value> {
    lines
        .iter()
        .filter(|l| l.get("label").is_some())
        .map(|l| (l["path"].as_str().unwrap().to_string(), l.clone()))
        .collect()
}

/// A line agrees with `classify --json`: same label, scores and frames.
fn assert_same_result(line: &Value, want: &Value) {
    for k in ["label", "scores", "frames"] {
        assert_eq!(line[k], want[k], "{k} of {}", line["path"]);
    }
}

fn wait_for_lines(path: &Path, n: usize, limit: Duration) {
    let start = Instant::now();
    while jsonl(path).0.len() < n {
        assert!(start.elapsed() < limit, "no {n} lines in {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn jsonl_appends_per_song_and_resume_skips_unchanged_files() {
    let dir = scratch_dir("lib-resume");
    let root = dir.join("music");
    let files = tree(&root, 6);
    let want = reference(&root);
    let out_file = dir.join("out.jsonl");
    let out_s = out_file.to_str().unwrap();
    let r = root.to_str().unwrap();

    let out = run(&["classify", "--jsonl", out_s, r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty(), "results go to the file, not stdout");
    let (lines, partial) = jsonl(&out_file);
    assert!(partial.is_empty());
    assert_eq!(lines.len(), 6);
    for l in &lines {
        assert_same_result(l, &want[l["path"].as_str().unwrap()]);
        assert_eq!(l["model"], "jimenez_crnn_gtzan");
        assert!(l["size"].as_u64().unwrap() > 0 && l["mtime_ns"].as_i64().is_some());
    }

    // A second run must not mix its results in by accident.
    let out = run(&["classify", "--jsonl", out_s, r]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--resume"),
        "{}",
        text(&out.stderr)
    );

    // Nothing changed: nothing to do.
    let out = run(&["classify", "--jsonl", out_s, "--resume", r]);
    assert!(out.status.success());
    assert_eq!(jsonl(&out_file).0.len(), 6);

    // A touched file and a new file are classified; a killed writer's partial line is cut.
    let touched = &files[2];
    let f = std::fs::File::options().write(true).open(touched).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600))
        .unwrap();
    let new = root.join("pop").join("pop.00007.flac");
    writable_copy(&pack("data/gtzan-mini/genres/pop/pop.00007.flac"), &new);
    std::fs::write(
        &out_file,
        std::fs::read_to_string(&out_file).unwrap() + "{\"path\": \"cut off mid-wr",
    )
    .unwrap();
    let out = run(&["classify", "--jsonl", out_s, "--resume", r]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("5 of 7 songs already done, 2 to go"), "{err}");
    let (lines, partial) = jsonl(&out_file);
    assert!(partial.is_empty(), "partial line cut off: {partial:?}");
    assert_eq!(lines.len(), 8);
    let new_paths: Vec<&str> = lines[6..]
        .iter()
        .map(|l| l["path"].as_str().unwrap())
        .collect();
    assert!(new_paths.contains(&touched.to_str().unwrap()));
    assert!(new_paths.contains(&new.to_str().unwrap()));
    assert_eq!(latest(&lines).len(), 7);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ctrl_c_and_kill_lose_only_songs_in_flight_and_resume_completes_the_set() {
    let dir = scratch_dir("lib-kill");
    let root = dir.join("music");
    // Enough songs that a Ctrl-C after the second one lands mid-run.
    let n = 30;
    tree(&root, n);
    let want = reference(&root);
    let out_file = dir.join("out.jsonl");
    let args = |resume: bool| {
        let mut a = vec![
            "classify".to_string(),
            "--jsonl".into(),
            out_file.display().to_string(),
            "--threads".into(),
            "1".into(),
            "--batch".into(),
            "1".into(),
        ];
        if resume {
            a.push("--resume".into());
        }
        a.push(root.display().to_string());
        a
    };

    // Ctrl-C: a clean stop, exit code 130, whole lines only.
    let child = mgr()
        .args(args(false))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_lines(&out_file, 2, Duration::from_secs(120));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("--resume"),
        "{}",
        text(&out.stderr)
    );
    let (lines, partial) = jsonl(&out_file);
    assert!(partial.is_empty());
    let after_int = lines.len();
    assert!((2..n).contains(&after_int), "{after_int} lines");

    // SIGKILL mid-run, then a partial line as a kill during a write would leave.
    let mut child = mgr()
        .args(args(true))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_lines(&out_file, after_int + 1, Duration::from_secs(120));
    child.kill().unwrap();
    let _ = child.wait();
    let mut s = std::fs::read_to_string(&out_file).unwrap();
    s.push_str("{\"path\":\"");
    std::fs::write(&out_file, s).unwrap();

    let out = run(&args(true).iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (lines, partial) = jsonl(&out_file);
    assert!(partial.is_empty());
    let got = latest(&lines);
    assert_eq!(got.len(), n, "every song exactly once");
    assert_eq!(lines.len(), n, "no song classified twice");
    for (p, l) in &got {
        assert_same_result(l, &want[p]);
    }
    println!("{n} songs: {after_int} before Ctrl-C, the rest after a kill and a resume");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn shards_concatenate_into_the_whole_result() {
    let dir = scratch_dir("lib-shards");
    let root = dir.join("music");
    tree(&root, 7);
    let want = reference(&root);
    let mut all = Vec::new();
    for i in 0..3 {
        let f = dir.join(format!("shard{i}.jsonl"));
        let out = run(&[
            "classify",
            "--shard",
            &format!("{i}/3"),
            "--jsonl",
            f.to_str().unwrap(),
            root.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let (lines, _) = jsonl(&f);
        assert_eq!(lines.len(), [3, 2, 2][i], "shard {i}");
        all.extend(lines);
    }
    assert_eq!(all.len(), 7);
    let got = latest(&all);
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (p, l) in &got {
        assert_same_result(l, &want[p]);
    }
    // Shard k holds songs k, k+3, … of the sorted list.
    let (first, _) = jsonl(&dir.join("shard0.jsonl"));
    let mut firsts: Vec<&str> = first.iter().map(|l| l["path"].as_str().unwrap()).collect();
    firsts.sort_unstable();
    let keys: Vec<&String> = want.keys().collect();
    assert_eq!(firsts, [keys[0], keys[3], keys[6]]);
    let out = run(&["classify", "--shard", "3/3", root.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn csv_file_has_one_header_and_resumes() {
    let dir = scratch_dir("lib-csv");
    let root = dir.join("music");
    tree(&root, 3);
    let f = dir.join("out.csv");
    let args = |resume: bool| {
        let mut a = vec!["classify", "--csv-file", f.to_str().unwrap(), "--per-frame"];
        if resume {
            a.push("--resume");
        }
        a.push(root.to_str().unwrap());
        a
    };
    assert!(run(&args(false)).status.success());
    writable_copy(
        &pack("data/gtzan-mini/genres/rock/rock.00002.flac"),
        &root.join("rock.00002.flac"),
    );
    let out = run(&args(true));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = std::fs::read_to_string(&f).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("path,frame,label,vote,blues,"));
    assert!(lines[0].ends_with(",error,size,mtime_ns,model"));
    assert_eq!(lines.iter().filter(|l| l.starts_with("path,")).count(), 1);
    // 4 songs, each a `song` row and one frame row.
    assert_eq!(lines.len(), 1 + 4 * 2, "{csv}");
    assert!(lines.iter().any(|l| l.contains("rock.00002.flac,song,")));
    assert!(lines[1].ends_with(",jimenez_crnn_gtzan"), "{}", lines[1]);
    let _ = std::fs::remove_dir_all(dir);
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| text(&o.stdout).trim() == "0")
}

#[cfg(unix)]
#[test]
fn bad_trees_hidden_files_loops_and_unreadable_folders_are_reported_once_and_skipped() {
    use std::os::unix::fs::PermissionsExt;
    let dir = scratch_dir("lib-badtree");
    let root = dir.join("music");
    let files = tree(&root, 4);
    // Hidden: a file and a folder.
    writable_copy(&files[0], &root.join(".hidden.flac"));
    std::fs::create_dir_all(root.join(".cache")).unwrap();
    writable_copy(&files[1], &root.join(".cache").join("x.flac"));
    // A link back to the root (a loop) and one to a folder walked already.
    std::os::unix::fs::symlink(&root, root.join("jazz").join("loop")).unwrap();
    std::os::unix::fs::symlink(root.join("blues"), root.join("zz-again")).unwrap();
    // A folder nobody may read.
    let locked = root.join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    writable_copy(&files[2], &locked.join("y.flac"));
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // World-readable folders, so that the walk can run as an unprivileged user.
    for d in [&dir, &root] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    // Root reads any folder: run the walk as `nobody` then (setpriv, util-linux).
    let bin = env!("CARGO_BIN_EXE_mgr-cli");
    let mut cmd = if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--",
            bin,
        ]);
        c
    } else {
        Command::new(bin)
    };
    let out = cmd
        .args(["classify", "--json", root.to_str().unwrap()])
        .output()
        .unwrap();
    let err = text(&out.stderr);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{err}", text(&out.stdout)));
    let paths: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["path"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    assert_eq!(paths, want, "the four songs, sorted, each once\n{err}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreadable folder makes the exit code 1"
    );
    assert_eq!(err.matches("cannot read folder").count(), 1, "{err}");
    assert!(err.contains("locked"), "{err}");
    assert_eq!(err.matches("symbolic link loop").count(), 1, "{err}");
    assert_eq!(err.matches("walked already").count(), 1, "{err}");
    assert!(err.contains("skipped 2 hidden"), "{err}");

    // --hidden takes them.
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = run(&["classify", "--json", "--hidden", root.to_str().unwrap()]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4 + 2 + 1);
    let _ = std::fs::remove_dir_all(dir);
}

fn decoded_bits(path: &Path) -> Vec<u32> {
    mgr_core::audio::decode_file(path)
        .unwrap()
        .samples()
        .iter()
        .map(|s| s.to_bits())
        .collect()
}

fn genre(path: &Path) -> Option<String> {
    use lofty::file::TaggedFileExt;
    use lofty::prelude::Accessor;
    let t = lofty::read_from_path(path).unwrap();
    t.tags()
        .iter()
        .find_map(|t| t.genre().map(|g| g.to_string()))
}

/// A tree of the pack's MP3, Ogg, FLAC and WAV files (`copies` of each).
fn tag_tree(dir: &Path, copies: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for k in 0..copies {
        for (src, ext) in [
            ("data/gtzan-mini/formats/rock.00001.mp3", "mp3"),
            ("data/gtzan-mini/formats/rock.00001.ogg", "ogg"),
            ("data/gtzan-mini/genres/jazz/jazz.00004.flac", "flac"),
            ("data/gtzan-mini/formats/rock.00001.wav", "wav"),
        ] {
            let dst = dir.join(format!("song{k:02}.{ext}"));
            writable_copy(&pack(src), &dst);
            files.push(dst);
        }
    }
    files
}

#[test]
fn write_tags_dry_run_then_apply_keeps_the_audio() {
    let dir = scratch_dir("lib-tags");
    let files = tag_tree(&dir, 1);
    let bytes: Vec<Vec<u8>> = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let before = reference(&dir);

    let out = run(&["classify", "--write-tags", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.matches("tags: would write: ").count(), 4, "{stdout}");
    for (f, b) in files.iter().zip(&bytes) {
        assert_eq!(
            &std::fs::read(f).unwrap(),
            b,
            "dry run wrote {}",
            f.display()
        );
    }

    let out = run(&[
        "classify",
        "--json",
        "--write-tags",
        "--apply",
        "--tag-scores",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for o in v.as_array().unwrap() {
        let name = genre_name(o["label"].as_str().unwrap());
        assert_eq!(
            o["tags"].as_str().unwrap(),
            format!("written: {name} (was: none)")
        );
        assert_eq!(genre(Path::new(o["path"].as_str().unwrap())), Some(name));
    }
    // Same audio, so the same scores, to the last printed digit.
    let after = reference(&dir);
    for (p, want) in &before {
        assert_same_result(&after[p], want);
    }
    let out = run(&["classify", "--write-tags", "--apply", dir.to_str().unwrap()]);
    assert_eq!(text(&out.stdout).matches("tags: unchanged: ").count(), 4);

    // A read-only file: one line on stderr, exit code 1, nothing written.
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    let ro2 = other.join("ro.mp3");
    std::fs::copy(pack("data/gtzan-mini/formats/rock.00001.mp3"), &ro2).unwrap();
    let mut perms = std::fs::metadata(&ro2).unwrap().permissions();
    perms.set_readonly(true);
    std::fs::set_permissions(&ro2, perms).unwrap();
    let before_ro = std::fs::read(&ro2).unwrap();
    let out = run(&[
        "classify",
        "--jsonl",
        dir.join("out.jsonl").to_str().unwrap(),
        "--write-tags",
        "--apply",
        "--overwrite-existing",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("error: ")).unwrap();
    assert!(
        line.ends_with("ro.mp3: read-only file, tags not written"),
        "{err}"
    );
    assert_eq!(std::fs::read(&ro2).unwrap(), before_ro);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn killing_a_tag_run_never_corrupts_a_file() {
    let dir = scratch_dir("lib-tagkill");
    let files = tag_tree(&dir, 4);
    let originals: Vec<Vec<u32>> = files.iter().map(|f| decoded_bits(f)).collect();
    let labels = reference(&dir);
    let genre_of = |f: &Path| genre_name(labels[f.to_str().unwrap()]["label"].as_str().unwrap());
    let args = [
        "classify",
        "--write-tags",
        "--apply",
        "--threads",
        "1",
        dir.to_str().unwrap(),
    ];
    // Kill at several moments; after each, every file is whole: the old one or the new one.
    for delay_ms in [400u64, 900, 1500, 2500] {
        let mut child = mgr()
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        for (f, want) in files.iter().zip(&originals) {
            assert_eq!(
                &decoded_bits(f),
                want,
                "{} after a kill at {delay_ms} ms",
                f.display()
            );
            let g = genre(f);
            assert!(g.is_none() || g == Some(genre_of(f)), "{g:?}");
        }
    }
    let out = run(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (f, want) in files.iter().zip(&originals) {
        assert_eq!(&decoded_bits(f), want);
        assert_eq!(
            genre(f),
            Some(genre_of(f)),
            "{} tagged in the end",
            f.display()
        );
    }
    // No temporary copy is left: the last run rewrote every file a kill interrupted.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
    let _ = std::fs::remove_dir_all(dir);
}

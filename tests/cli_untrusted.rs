//! Issue 22's table, row by row, through the `mgr-cli` binary: model files and audio paths
//! are untrusted input. Each run is a child process under `ulimit -v` whose peak resident
//! memory is sampled (`mgr_tests::run_bounded`): none may hold more than the model cap above
//! what a normal run holds, nor take more than a few seconds.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use mgr_core::model::spec::MAX_MODEL_BYTES;
use mgr_tests::{
    mkfifo, pack, run_bounded, scratch_dir, special_model_files, trained_model, BoundedRun,
};
use serde_json::Value;

/// Longest any of these runs may take (a normal one takes about a second).
const FEW_SECONDS: Duration = Duration::from_secs(8);

fn mgr(args: &[&OsStr]) -> BoundedRun {
    let bin = Path::new(env!("CARGO_BIN_EXE_mgr-cli"));
    let mut all: Vec<&OsStr> = args.to_vec();
    all.extend([OsStr::new("--threads"), OsStr::new("2")]);
    let r = run_bounded(bin, &all, Duration::from_secs(20));
    println!(
        "{args:?}: exit {:?}, {} KiB peak, {:.2} s\n{}",
        r.code,
        r.peak_rss_kb,
        r.elapsed.as_secs_f64(),
        r.stderr.trim_end()
    );
    assert!(r.elapsed < FEW_SECONDS, "{args:?} took {:?}", r.elapsed);
    r
}

fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// A short real clip (the same bytes as the pack's).
fn clip() -> PathBuf {
    pack("data/gtzan-mini/genres/blues/blues.00000.flac")
}

/// The peak of a normal `classify` of one clip with `model`: what every bad input is
/// measured against.
fn normal_peak_kb(model: &Path) -> u64 {
    let r = mgr(&[
        OsStr::new("classify"),
        OsStr::new("--model"),
        os(model),
        os(&clip()),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    r.peak_rss_kb
}

/// The run held at most the model cap above a normal run.
fn assert_bounded(r: &BoundedRun, normal_kb: u64) {
    let cap_kb = MAX_MODEL_BYTES / 1024;
    assert!(
        r.peak_rss_kb <= normal_kb + cap_kb,
        "peak {} KiB, a normal run {normal_kb} KiB, cap {cap_kb} KiB",
        r.peak_rss_kb
    );
}

fn one_line_error(r: &BoundedRun) -> &str {
    let line = r.stderr.trim_end();
    assert!(!line.is_empty() && !line.contains('\n'), "{:?}", r.stderr);
    line
}

/// A safetensors file's header (JSON) and data.
fn split(bytes: &[u8]) -> (Value, &[u8]) {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    (
        serde_json::from_slice(&bytes[8..8 + n]).unwrap(),
        &bytes[8 + n..],
    )
}

fn join(header: &Value, data: &[u8]) -> Vec<u8> {
    let h = serde_json::to_vec(header).unwrap();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&h);
    out.extend_from_slice(data);
    out
}

/// `bytes` with value `at` of tensor `name` set to `v` (a float32 written in place).
fn poke(bytes: &[u8], name: &str, at: usize, v: f32) -> Vec<u8> {
    let (header, data) = split(bytes);
    let start = header[name]["data_offsets"][0].as_u64().unwrap() as usize;
    let mut data = data.to_vec();
    data[start + 4 * at..start + 4 * at + 4].copy_from_slice(&v.to_le_bytes());
    join(&header, &data)
}

/// `mgr-cli classify --model ...` of every row: exit 2, one line on stderr that names the
/// file and says what is wrong, at once and in bounded memory.
#[test]
fn bad_model_files_are_refused_in_bounded_time_and_memory() {
    let dir = scratch_dir("untrusted-models");
    let gtzan = mgr_core::model::Builtin::Gtzan.bytes();
    let normal = normal_peak_kb(&trained_model());

    let [zero, fifo, folder, over_cap] = special_model_files(&dir);
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    // The case: one NaN in a trained stacked model's head.
    let nan = write(
        "nan-head.safetensors",
        &poke(
            &std::fs::read(trained_model()).unwrap(),
            "head.weight",
            77,
            f32::NAN,
        ),
    );
    let inf = write(
        "inf-conv.safetensors",
        &poke(gtzan, "conv1.weight", 0, f32::NEG_INFINITY),
    );
    let (header, data) = split(gtzan);
    let mut h = header.clone();
    h["conv1.weight"]["shape"] = serde_json::json!([1u64 << 40, 1u64 << 40, 3, 3]);
    let huge_shape = write("huge-shape.safetensors", &join(&h, data));
    let mut lying = gtzan.to_vec();
    lying[..8].copy_from_slice(&(gtzan.len() as u64).to_le_bytes());
    let lying = write("lying-length.safetensors", &lying);
    let mut h = header.clone();
    h["output.bias"]["data_offsets"] = serde_json::json!([data.len() + 100, data.len() + 140]);
    let past_end = write("past-end.safetensors", &join(&h, data));
    let mut h = header.clone();
    let labels: Vec<String> = (0..1000).map(|i| format!("genre{i}")).collect();
    h["__metadata__"]["labels"] = Value::String(serde_json::to_string(&labels).unwrap());
    let labels = write("1000-labels.safetensors", &join(&h, data));
    let empty = write("empty.safetensors", b"");
    let mut h = header.clone();
    h["__metadata__"]["notes"] = Value::String("x".repeat(50 << 20));
    let big_meta = write("50mb-metadata.safetensors", &join(&h, data));

    let rows: [(&Path, &str); 12] = [
        (&zero.0, zero.1),
        (&fifo.0, fifo.1),
        (&folder.0, folder.1),
        (&over_cap.0, over_cap.1),
        (&nan, "tensor head.weight holds NaN (value 77 of 4900)"),
        (&inf, "tensor conv1.weight holds -inf (value 0 of 576)"),
        (&huge_shape, "not a safetensors file"),
        (&lying, "not a safetensors file"),
        (&past_end, "not a safetensors file"),
        (&labels, "1000 labels for 10 outputs"),
        (&empty, "not a safetensors file"),
        (&big_meta, "a header of 52432849 bytes (at most 2097152)"),
    ];
    for (model, want) in rows {
        let r = mgr(&[
            OsStr::new("classify"),
            OsStr::new("--model"),
            os(model),
            os(&clip()),
        ]);
        assert_eq!(r.code, Some(2), "{}: {}", model.display(), r.stderr);
        let line = one_line_error(&r);
        assert!(
            line.contains(want) && line.contains(&*model.to_string_lossy()),
            "{line}\nwanted: {want}"
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert_bounded(&r, normal);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// The trained model itself loads and answers (the rows above break one thing each in it).
#[test]
fn the_trained_model_seed_classifies() {
    let r = mgr(&[
        OsStr::new("classify"),
        OsStr::new("--json"),
        OsStr::new("--model"),
        os(&trained_model()),
        os(&clip()),
    ]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["label"], "blues", "{v}");
    assert!(
        r.stderr.contains("model stack: stack from gtzan"),
        "{}",
        r.stderr
    );
}

/// Audio paths: a link to `/dev/zero` and a FIFO named explicitly are errors for that path
/// (exit 1, the good file still scored); met in a folder they are reported and skipped.
#[test]
fn special_audio_files_are_never_read() {
    let dir = scratch_dir("untrusted-audio");
    let normal = normal_peak_kb(Path::new("gtzan"));
    let zero = dir.join("zero.mp3");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    let fifo = dir.join("fifo.flac");
    mkfifo(&fifo);
    let good = dir.join("good.flac");
    std::fs::copy(clip(), &good).unwrap();

    let r = mgr(&[
        OsStr::new("classify"),
        OsStr::new("--json"),
        os(&zero),
        os(&fifo),
        os(&good),
    ]);
    assert_eq!(r.code, Some(1), "{}", r.stderr);
    assert_bounded(&r, normal);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let errors: Vec<&str> = (0..2).map(|i| v[i]["error"].as_str().unwrap()).collect();
    assert!(
        errors[0].contains("it is a device, not a regular file"),
        "{v}"
    );
    assert!(
        errors[1].contains("it is a named pipe (FIFO), not a regular file"),
        "{v}"
    );
    assert_eq!(v[2]["label"], "blues", "{v}");

    let r = mgr(&[OsStr::new("classify"), OsStr::new("--json"), os(&dir)]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    assert_bounded(&r, normal);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v[0]["label"], "blues", "{v}");
    for (path, kind) in [(&fifo, "a named pipe (FIFO)"), (&zero, "a device")] {
        let note = format!(
            "warning: {}: {kind}, not a regular file (skipped)",
            path.display()
        );
        assert!(r.stderr.contains(&note), "{}\nwanted: {note}", r.stderr);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// `classify` and `tag` of paths without audio say so and exit 1 (ripgrep's "nothing
/// matched"); a folder with only a FIFO in it holds no audio file either.
#[test]
fn paths_without_audio_files_exit_1() {
    let dir = scratch_dir("untrusted-empty");
    let empty = dir.join("empty");
    std::fs::create_dir(&empty).unwrap();
    let notes = dir.join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("readme.txt"), "no audio here").unwrap();
    mkfifo(&notes.join("pipe.mp3"));
    for command in ["classify", "tag"] {
        let r = mgr(&[OsStr::new(command), os(&empty), os(&notes)]);
        assert_eq!(r.code, Some(1), "{command}: {}", r.stderr);
        let want = format!(
            "no audio files under {}, {}",
            empty.display(),
            notes.display()
        );
        assert!(r.stderr.contains(&want), "{}\nwanted: {want}", r.stderr);
        assert!(
            r.stdout.trim().is_empty() || r.stdout.trim() == "[]",
            "{}",
            r.stdout
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

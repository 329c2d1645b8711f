//! Issue 22 through the bundled `mgr.clap` in a headless host: a project state is untrusted
//! input. A `model_path` to a device, a FIFO, a folder, an oversized or an invalid model
//! keeps the model and the song and shows the error; a state that is too large, too deep, of
//! the wrong types, with a million history cells or parameters out of range loads into
//! defaults with a note. The host's `load` call never waits for a file, and the process never
//! takes more than the model cap for any of it.
//!
//! Needs the bundle: `cargo xtask bundle mgr-plugin --features assert_process_allocs`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clack_host::prelude::*;
use mgr_core::audio::decode_file;
use mgr_core::model::spec::MAX_MODEL_BYTES;
use mgr_core::resample::output_len;
use mgr_tests::{pack, special_model_files, trained_model};
use serde_json::{json, Value};

#[path = "plugin_host.rs"]
mod plugin_host;
use plugin_host::*;

/// Longest a host's state load call may take (it only hands the state to the worker)...
const LOAD_CALL: Duration = Duration::from_millis(500);

/// ... plus this per MiB of state: nice-plug parses the whole document on the host's thread
/// before the plugin sees it (a 40 MB state takes about 0.5 s here, on a shared machine).
const LOAD_CALL_PER_MIB: Duration = Duration::from_millis(100);

/// Held by each test for its whole run: the model test measures the process's peak memory,
/// and the state test's 40 MB state must not be counted against the model cap.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// This process's peak resident memory so far, KiB.
fn peak_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Bound this process's address space (`prlimit`, util-linux) to what it has plus 2 GiB, so
/// that a read without bound (what this file tests against) fails an allocation instead of
/// taking the machine. Once per process: the tests run on threads of one process, and a
/// second call could ask to raise the limit the first one set.
fn bound_address_space() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(bound_once);
}

fn bound_once() {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    let limit = (kb + (2 << 20)) * 1024;
    let ok = std::process::Command::new("prlimit")
        .arg(format!("--pid={}", std::process::id()))
        .arg(format!("--as={limit}"))
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "prlimit (util-linux) bounds the test process");
}

/// Load a state whose analysis is `analysis` (the rest as the plugin saved it), timing the
/// host's call.
fn load_analysis(instance: &mut PluginInstance<TestHost>, analysis: &str) -> bool {
    let mut state = state_json(&save_state(instance));
    state["fields"]["analysis"] = Value::String(analysis.to_string());
    timed_load(instance, &state_blob(&state))
}

fn timed_load(instance: &mut PluginInstance<TestHost>, blob: &[u8]) -> bool {
    let limit = LOAD_CALL + LOAD_CALL_PER_MIB * (blob.len() >> 20) as u32;
    let t = Instant::now();
    let ok = load_state(instance, blob);
    assert!(
        t.elapsed() < limit,
        "the state load of {} bytes took {:?}",
        blob.len(),
        t.elapsed()
    );
    ok
}

/// The trained model with a NaN in its stacked head's weights (issue 22's case).
fn nan_copy(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(trained_model()).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = 8 + n + header["head.weight"]["data_offsets"][0].as_u64().unwrap() as usize;
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let p = dir.join("nan-head.safetensors");
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A model path to each of issue 22's files: the error names the file and says what is
/// wrong, the trained model and its song stay, the host's call returns at once, and the
/// process holds at most the model cap more than before.
#[test]
fn model_files_that_do_not_load_keep_the_model_and_the_song() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    bound_address_space();
    let dir = mgr_tests::scratch_dir("plugin-bad-models");
    let nan = (
        nan_copy(&dir),
        "tensor head.weight holds NaN (value 0 of 4900)",
    );
    let rows = special_model_files(&dir).into_iter().chain([nan]);

    let clip = decode_file(&pack("data/gtzan-mini/genres/blues/blues.00000.flac")).unwrap();
    let (_entry, mut instance) = load();
    set_offline(&mut instance);
    let trained_path = trained_model().to_str().unwrap().to_string();
    let with_path = |instance: &mut PluginInstance<TestHost>, p: &str| {
        let a = json!({"model_path": p, "last_folder": null});
        assert!(load_analysis(instance, &a.to_string()), "{p}");
    };
    with_path(&mut instance, &trained_path);
    let rate = clip.sample_rate();
    let mut s = Session::start(&mut instance, f64::from(rate), 1024);
    for c in clip.samples().chunks(1024) {
        s.block(c, c);
    }
    let heard = output_len(clip.samples().len(), rate) as u64;
    let before = wait_for(&mut instance, Duration::from_secs(120), |a| {
        song_done(a, heard) && a["model_path"] == trained_path.as_str()
    });
    assert_eq!(before["model"]["name"], "seed-finetune-stack.safetensors");
    let peak_before = peak_kb();

    for (path, want) in rows {
        let p = path.to_str().unwrap();
        let t = Instant::now();
        with_path(&mut instance, p);
        let a = wait_for(&mut instance, Duration::from_secs(10), |a| {
            a["model_error"].as_str().is_some_and(|e| e.contains(p))
        });
        println!("{p}: {} ({:?})", a["model_error"], t.elapsed());
        let err = a["model_error"].as_str().unwrap();
        assert!(
            err.contains(want) && !err.contains('\n'),
            "{err}\nwanted: {want}"
        );
        assert_eq!(a["model_path"], before["model_path"], "the model stays");
        assert_eq!(a["song"], before["song"], "the song stays");
        assert_eq!(a["model_loading"], Value::Null);
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    }
    let grew = peak_kb().saturating_sub(peak_before);
    assert!(
        grew <= MAX_MODEL_BYTES / 1024,
        "the bad files took {grew} KiB more than the model cap"
    );
    s.stop(&mut instance);
    pump(&mut instance);
    let _ = std::fs::remove_dir_all(dir);
}

/// A state that cannot be trusted loads into defaults with a note (the saved state's
/// `state_note`, shown by the editor); the song restored before is gone, the parameters are
/// in range. A document nested deeper than nice-plug reads is refused and changes nothing.
#[test]
fn untrusted_states_load_into_defaults_with_a_note() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    bound_address_space();
    let (_entry, mut instance) = load();
    let labels: Vec<String> = mgr_tests::model("gtzan").labels().to_vec();
    let good = json!({
        "labels": labels,
        "song": {"mean": vec![0.1; 10], "frames": 3},
        "history": [{"end_s": 29.12, "top": 6, "score": 0.8}],
        "heard_s": 95.0
    });
    let s = Session::start(&mut instance, 48_000.0, 512);
    let mut loads = 0;
    let load_good = |instance: &mut PluginInstance<TestHost>, loads: &mut u64| {
        assert!(load_analysis(instance, &good.to_string()));
        *loads += 1;
        let n = *loads;
        let a = wait_for(instance, Duration::from_secs(30), |a| {
            a["loads_applied"].as_u64() == Some(n)
        });
        assert_eq!(a["song"], good["song"]);
        assert_eq!(a["state_note"], Value::Null);
    };
    load_good(&mut instance, &mut loads);

    let history: Vec<Value> = (0..1_000_000)
        .map(|i| json!({"end_s": i as f32, "top": 1, "score": 0.5}))
        .collect();
    let million = json!({"labels": labels, "history": history}).to_string();
    let deep = "[".repeat(50_000) + &"]".repeat(50_000);
    let rows: [(String, &str); 6] = [
        (
            json!({"labels": ["x".repeat(10 << 20)]}).to_string(),
            "bytes (at most 2097152): not read",
        ),
        (million, "bytes (at most 2097152): not read"),
        (format!("{{\"song\": {deep}}}"), "recursion limit exceeded"),
        (
            json!({"song": {"mean": "x"}, "history": 3, "model_path": ["a"]}).to_string(),
            "song: invalid type",
        ),
        (
            json!({"labels": labels, "song": {"mean": vec![2.0; 10], "frames": 3},
                   "heard_s": -1.0})
            .to_string(),
            "the song result is not 10 scores in [0, 1]",
        ),
        ("not json".to_string(), "the saved analysis is not JSON"),
    ];
    for (analysis, want) in rows {
        assert!(load_analysis(&mut instance, &analysis), "{want}");
        loads += 1;
        let a = wait_for(&mut instance, Duration::from_secs(30), |a| {
            a["loads_applied"].as_u64() == Some(loads)
        });
        let note = a["state_note"].as_str().unwrap_or_default();
        println!("{want}: {note}");
        assert!(note.contains(want), "{note}\nwanted: {want}");
        assert_eq!((&a["song"], &a["model_path"]), (&Value::Null, &Value::Null));
        assert!(
            a["history"].as_array().unwrap().len() <= 1,
            "{}",
            a["history"]
        );
        load_good(&mut instance, &mut loads);
    }

    // Parameters out of range: defaults, and the note says which.
    let mut state = state_json(&save_state(&mut instance));
    state["params"]["hop"] = json!({"f32": -5.0});
    state["params"]["gate"] = json!({"f32": 400.0});
    assert!(timed_load(&mut instance, &state_blob(&state)));
    loads += 1;
    let a = wait_for(&mut instance, Duration::from_secs(30), |a| {
        a["loads_applied"].as_u64() == Some(loads)
    });
    let note = a["state_note"].as_str().unwrap();
    assert!(
        note.contains("parameter hop F32(-5.0)") && note.contains("parameter gate F32(400.0)"),
        "{note}"
    );
    let params = state_json(&save_state(&mut instance))["params"].clone();
    assert_eq!(params["hop"], json!({"f32": 5.0}));
    assert_eq!(params["gate"], json!({"f32": -50.0}));

    // Deeper than nice-plug reads a document: refused, nothing changes.
    let before = analysis(&save_state(&mut instance));
    let deep_doc = format!("{{\"params\": {{}}, \"fields\": {}}}", "[".repeat(10_000));
    let mut blob = (deep_doc.len() as u64).to_le_bytes().to_vec();
    blob.extend_from_slice(deep_doc.as_bytes());
    assert!(!timed_load(&mut instance, &blob));
    assert_eq!(analysis(&save_state(&mut instance))["song"], before["song"]);
    s.stop(&mut instance);
    pump(&mut instance);
}

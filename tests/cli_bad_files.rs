//! A crafted file in the middle of good ones (issue 13): `classify` and `eval gtzan` report
//! it as an error entry, give the good files their results, and exit with 1. The crafted
//! file is a FLAC cut to 200 bytes whose STREAMINFO claims 2^36 − 1 samples: before the
//! decoders bounded their allocations by the file's length, it made `classify` abort
//! (`memory allocation of 274877906940 bytes failed`) and lose the whole batch.

use std::path::Path;
use std::process::Command;

use mgr_tests::{pack, scratch_dir};
use serde_json::Value;

fn mgr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mgr-cli"))
}

/// The first 200 bytes of a real FLAC, STREAMINFO's 36-bit total set to 2^36 − 1.
fn crafted_flac() -> Vec<u8> {
    let mut b = std::fs::read(pack("data/gtzan-mini/genres/jazz/jazz.00004.flac")).unwrap();
    b.truncate(200);
    b[21] |= 0x0f;
    b[22..26].fill(0xff);
    b
}

fn copy(from: &str, to: &Path) {
    std::fs::copy(pack(from), to).unwrap_or_else(|e| panic!("{from}: {e}"));
}

#[test]
fn classify_reports_the_crafted_file_and_goes_on() {
    let dir = scratch_dir("cli-crafted");
    copy(
        "data/gtzan-mini/genres/blues/blues.00000.flac",
        &dir.join("a.flac"),
    );
    std::fs::write(dir.join("b-crafted.flac"), crafted_flac()).unwrap();
    copy(
        "data/gtzan-mini/au-sample/metal.00007.au",
        &dir.join("c.au"),
    );
    let out = mgr()
        .args(["classify", "--json", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 3, "{v}");
    assert_eq!(arr[0]["label"], "blues", "{v}");
    assert_eq!(arr[2]["label"], "metal", "{v}");
    let err = arr[1]["error"].as_str().unwrap();
    assert!(arr[1]["path"].as_str().unwrap().ends_with("b-crafted.flac"));
    assert!(!err.is_empty() && !err.contains('\n'), "{err:?}");
    assert!(arr[1].get("label").is_none());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn eval_gtzan_skips_the_crafted_file_and_scores_the_rest() {
    let dir = scratch_dir("eval-crafted");
    for (genre, ids) in [("blues", ["00000", "00001"]), ("jazz", ["00004", "00005"])] {
        std::fs::create_dir_all(dir.join(genre)).unwrap();
        for id in ids {
            let name = format!("{genre}.{id}.flac");
            copy(
                &format!("data/gtzan-mini/genres/{genre}/{name}"),
                &dir.join(genre).join(&name),
            );
        }
    }
    // Sorted between the two jazz clips.
    std::fs::write(dir.join("jazz").join("jazz.00004b.flac"), crafted_flac()).unwrap();
    let json = dir.join("metrics.json");
    let out = mgr()
        .args(["eval", "gtzan", dir.to_str().unwrap(), "--json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(stdout.contains("1 files skipped"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["songs"], 4, "{v}");
    let skipped = v["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 1, "{v}");
    assert!(skipped[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("jazz.00004b.flac"));
    let err = skipped[0]["error"].as_str().unwrap();
    assert!(!err.is_empty() && !err.contains('\n'), "{err:?}");
    let _ = std::fs::remove_dir_all(dir);
}

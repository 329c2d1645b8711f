//! `--device` from the command line: a device this build or this machine lacks is one line on
//! stderr and exit code 2, and `mgr-cli parity` checks the CUDA/Metal code path on the CPU.

use std::process::Command;

use mgr_tests::pack;
use serde_json::Value;

fn mgr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mgr-cli"))
}

/// Without a usable CUDA device (this build has no CUDA, or the machine no driver or no CUDA
/// libraries) every network command refuses in one line before touching the input.
#[test]
fn unavailable_cuda_is_one_line_and_exit_2() {
    if std::env::var_os("MGR_TEST_HAS_CUDA").is_some() {
        return; // a CUDA build on a GPU machine: the device exists
    }
    let clip = pack("audio/bensound/bensound-cute.mp3");
    for args in [
        vec!["classify", "--device", "cuda", clip.to_str().unwrap()],
        vec!["tag", "--device", "cuda", "/no/such/file.wav"],
        vec![
            "bench",
            "--device",
            "cuda",
            "--stage",
            "network",
            clip.to_str().unwrap(),
        ],
    ] {
        let out = mgr().args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: device cuda is not available: "),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// `parity --generic` on the CPU: candle's ops at batch 2 against the fused kernels.
#[test]
fn parity_of_the_generic_path_on_the_cpu() {
    let clip = pack("data/gtzan-mini/genres/jazz/jazz.00001.flac");
    let out = mgr()
        .args(["parity", "--device", "cpu", "--generic", "--models", "fcn"])
        .args(["--batches", "1,2", "--json", clip.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["pass"], true);
    assert_eq!(v["path"], "generic ops");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["batch"], 2);
    assert_eq!(rows[1]["same_top_label"], 2);
    let worst = rows[1]["worst_abs_diff"].as_f64().unwrap();
    assert!((0.0..=1e-4).contains(&worst), "{worst}");
}

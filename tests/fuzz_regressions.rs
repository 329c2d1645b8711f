//! Every input in `fuzz/regressions/` (what the fuzz targets and the issue found, one file
//! each, named for what it does) and the fuzz seed corpus, replayed on stable through the
//! same entry points and checks as the fuzz targets: valid audio or a one-line error, no
//! panic, and whatever our FLAC decoder accepts symphonia decodes to the same bits.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use mgr_core::audio::{
    decode_bytes, decode_bytes_symphonia, decode_flac_own, Audio, MAX_INPUT_RATE,
};
use mgr_core::config::MIN_INPUT_RATE;

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                dirs.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn check(what: &str, r: &mgr_core::Result<Audio>) {
    match r {
        Ok(a) => {
            assert!(
                (MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&a.sample_rate()),
                "{what}"
            );
            assert!(a.source_channels() > 0, "{what}");
            assert!(!a.samples().is_empty(), "{what}");
            assert!(a.samples().iter().all(|v| v.is_finite()), "{what}");
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{what}: {msg:?}");
        }
    }
}

#[test]
fn fuzz_regressions_and_seeds_decode_or_fail_cleanly() {
    // A panic the library catches (its guard around symphonia) is still a finding: count
    // every one, as libFuzzer's hook does.
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Relaxed);
        default_hook(info);
    }));
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let regressions = files(&root.join("regressions"));
    let seeds = files(&root.join("corpus"));
    assert!(!regressions.is_empty() && seeds.len() >= 10);
    for f in regressions.iter().chain(&seeds) {
        let bytes = std::fs::read(f).unwrap();
        let name = f.display().to_string();
        let ext = f.extension().and_then(|e| e.to_str());
        check(&name, &decode_bytes(bytes.clone(), ext, f));
        check(&name, &decode_bytes(bytes.clone(), None, f));
        let sym = decode_bytes_symphonia(bytes.clone(), ext, f);
        check(&name, &sym);
        if let Some(own) = decode_flac_own(&bytes) {
            let sym = sym.unwrap_or_else(|e| panic!("{name}: ours decodes, symphonia: {e}"));
            assert_eq!(own.sample_rate(), sym.sample_rate(), "{name}");
            assert!(own.samples() == sym.samples(), "{name}: samples differ");
        }
        assert_eq!(PANICS.load(Relaxed), 0, "{name}: a panic was caught inside");
    }
    // The seeds are valid files: each decodes, FLAC ones through our own decoder (or the
    // differential target would compare nothing).
    for f in &seeds {
        let bytes = std::fs::read(f).unwrap();
        let ext = f.extension().and_then(|e| e.to_str());
        if ext == Some("flac") {
            assert!(decode_flac_own(&bytes).is_some(), "{}", f.display());
        }
        if let Err(e) = decode_bytes(bytes, ext, f) {
            panic!("seed {}: {e}", f.display());
        }
    }
    println!("{} regressions, {} seeds", regressions.len(), seeds.len());
}

/// The issue's own case: 200 bytes of FLAC whose STREAMINFO claims 2^36 − 1 samples is a
/// one-line error, not an abort on a 275 GB allocation.
#[test]
fn a_200_byte_flac_claiming_2_pow_36_samples_is_an_error() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/regressions/streaminfo-2pow36-samples.flac");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 200);
    let e = decode_bytes(bytes, Some("flac"), &path).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "{msg}");
    println!("{msg}");
}

//! Every input in `fuzz/regressions/` (what the fuzz targets and the issue found, one file
//! each, named for what it does) and the fuzz seed corpus, replayed on stable through the
//! same entry points and the same check as the fuzz targets: valid audio or a one-line error, no
//! panic, and whatever our FLAC decoder accepts symphonia decodes to the same bits.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use mgr_core::audio::{decode_bytes, decode_bytes_symphonia, decode_flac_own};

/// The fuzz targets' own check (valid audio or a one-line error).
#[path = "../fuzz/src/lib.rs"]
mod fuzz_check;

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
    // Several targets share seed files: each distinct input is replayed once.
    let mut seen = HashSet::new();
    let (mut n_regressions, mut n_seeds) = (0, 0);
    for f in regressions.iter().chain(&seeds) {
        let bytes = std::fs::read(f).unwrap();
        if !seen.insert(bytes.clone()) {
            continue;
        }
        let is_seed = f.starts_with(root.join("corpus"));
        if is_seed {
            n_seeds += 1;
        } else {
            n_regressions += 1;
        }
        let name = f.display().to_string();
        println!("{name}");
        let ext = f.extension().and_then(|e| e.to_str());
        let decoded = decode_bytes(bytes.clone(), ext, f);
        fuzz_check::check(&decoded);
        fuzz_check::check(&decode_bytes(bytes.clone(), None, f));
        let sym = decode_bytes_symphonia(bytes.clone(), ext, f);
        fuzz_check::check(&sym);
        let own = decode_flac_own(&bytes);
        if let Some(own) = &own {
            let sym = sym
                .as_ref()
                .unwrap_or_else(|e| panic!("{name}: ours decodes, symphonia: {e}"));
            assert_eq!(own.sample_rate(), sym.sample_rate(), "{name}");
            assert_eq!(own.source_channels(), sym.source_channels(), "{name}");
            assert!(own.samples() == sym.samples(), "{name}: samples differ");
        }
        assert_eq!(PANICS.load(Relaxed), 0, "{name}: a panic was caught inside");
        // The seeds are valid files: each decodes, FLAC ones through our own decoder (or
        // the differential target would compare nothing).
        if is_seed {
            if let Err(e) = decoded {
                panic!("seed {name}: {e}");
            }
            assert!(ext != Some("flac") || own.is_some(), "{name}");
        }
    }
    assert!(
        n_regressions > 0 && n_seeds >= 10,
        "{n_regressions} {n_seeds}"
    );
    println!("{n_regressions} regressions, {n_seeds} distinct seeds");
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

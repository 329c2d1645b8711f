//! Every input in `fuzz/regressions/` (what the fuzz targets and the issue found, one file
//! each, named for what it does) and the fuzz seed corpus, replayed on stable through the
//! same entry points and the same check as the fuzz targets: valid audio or a one-line error, no
//! panic, and whatever our FLAC decoder accepts symphonia decodes to the same bits. And each
//! fuzz target's own body over its corpus and a fixed budget of seeded mutations, so that a
//! target that rots fails here (`cargo fuzz` needs nightly; CI builds the target binaries on
//! stable).

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Once;
use std::time::Instant;

use mgr_core::audio::{decode_bytes, decode_bytes_symphonia, decode_flac_own};
use mgr_core::rng::Rng;

/// The fuzz targets' bodies and their check (valid audio or a one-line error).
#[path = "../fuzz/src/lib.rs"]
mod mgr_fuzz;

/// Mutated inputs per fuzz target (the test build optimises mgr-core and its decoders: 0.3 to
/// 1.7 s per target here, 5 s for all five).
const MUTATIONS: usize = 20_000;

/// Mutated inputs for `target`: fewer for the model target, whose seeds are 1.6 to 3.5 MB
/// with every tensor parsed and checked (10,000 took 140 s on 2 shared cores), and for the
/// stream target, which runs the whole front end twice. `MGR_FUZZ_SCALE=N`
/// runs N times as many, for a longer search by hand.
fn mutations(target: &str) -> usize {
    let scale = std::env::var("MGR_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    scale
        * match target {
            "model" => 1_000,
            // Each input is decoded twice and every clip log-melled twice.
            "stream" => 500,
            _ => MUTATIONS,
        }
}

/// Whether `f` belongs to a target whose inputs are not plain audio files (not audio, or audio
/// behind a byte that picks how it is read; its corpus or regressions folder is named for it).
fn not_audio(root: &Path, f: &Path) -> bool {
    mgr_fuzz::NOT_AUDIO
        .iter()
        .chain(&mgr_fuzz::PICKED)
        .any(|t| {
            f.starts_with(root.join("corpus").join(t))
                || f.starts_with(root.join("regressions").join(t))
        })
}

fn fuzz_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// Panics so far in this process, caught or not. A panic the library catches (its guard
/// around symphonia) is still a finding: every one is counted, as libFuzzer's hook does.
fn panics() -> usize {
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default_hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Relaxed);
            default_hook(info);
        }));
    });
    PANICS.load(Relaxed)
}

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
    panics();
    let root = fuzz_root();
    let regressions = files(&root.join("regressions"));
    let seeds = files(&root.join("corpus"));
    // Several targets share seed files: each distinct input is replayed once.
    let mut seen = HashSet::new();
    let (mut n_regressions, mut n_seeds) = (0, 0);
    for f in regressions.iter().chain(&seeds) {
        if not_audio(&root, f) {
            continue;
        }
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
        mgr_fuzz::check(&decoded);
        mgr_fuzz::check(&decode_bytes(bytes.clone(), None, f));
        mgr_fuzz::check(&decode_bytes_symphonia(bytes.clone(), ext, f));
        mgr_fuzz::flac_vs_symphonia(&bytes);
        // The streamed front end on the same bytes, with no format hint and with the file's
        // own (the `stream` target's first byte), against the whole decode.
        let hint = mgr_fuzz::STREAM_HINTS
            .iter()
            .position(|&e| e.is_some() && e == ext)
            .map_or(0, |k| k as u8);
        for pick in [0, hint] {
            let mut input = vec![pick];
            input.extend_from_slice(&bytes);
            mgr_fuzz::stream(&input);
        }
        let own = decode_flac_own(&bytes);
        assert_eq!(panics(), 0, "{name}: a panic was caught inside");
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

/// One to four libFuzzer-style edits of `seed`: bits flipped, bytes set, runs erased, random
/// bytes inserted, a run copied elsewhere, or a cut; most of them in the first 4 kB (headers
/// and first frames), where the parsers branch.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut x = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let n = x.len().max(1);
        let at = if rng.below(10) < 7 {
            rng.below(n.min(4096))
        } else {
            rng.below(n)
        };
        let len = 1 + rng.below(16);
        match rng.below(6) {
            0 if at < x.len() => x[at] ^= 1 << rng.below(8),
            1 if at < x.len() => x[at] = [0, 0xff, rng.next_u64() as u8][rng.below(3)],
            2 if at < x.len() => {
                x.drain(at..(at + len).min(x.len()));
            }
            3 => {
                let run: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                let at = at.min(x.len());
                x.splice(at..at, run);
            }
            4 if !x.is_empty() => {
                let from = rng.below(x.len());
                let len = len.min(x.len() - from).min(x.len() - at.min(x.len()));
                let to = at.min(x.len() - len);
                x.copy_within(from..from + len, to);
            }
            _ => x.truncate(at),
        }
    }
    x
}

/// Each fuzz target's body (the function its `fuzz_targets/` file calls) over the target's
/// seed corpus, then over [`MUTATIONS`] seeded mutations of it: what `cargo fuzz run` does,
/// without coverage guidance but the same on every run. A finding is written to the temp dir
/// for `cargo +nightly fuzz run NAME FILE`.
#[test]
fn every_fuzz_target_runs_its_corpus_and_seeded_mutations() {
    panics();
    let root = fuzz_root();
    let stems = |dir: &Path| -> Vec<String> {
        let mut v: Vec<String> = files(dir)
            .iter()
            .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let mut names: Vec<String> = mgr_fuzz::TARGETS.iter().map(|t| t.0.to_string()).collect();
    names.sort();
    assert_eq!(
        stems(&root.join("fuzz_targets")),
        names,
        "fuzz_targets/ vs TARGETS"
    );
    for (k, (name, target)) in mgr_fuzz::TARGETS.into_iter().enumerate() {
        let seeds: Vec<Vec<u8>> = files(&root.join("corpus").join(name))
            .iter()
            .map(|f| std::fs::read(f).unwrap())
            .collect();
        assert!(!seeds.is_empty(), "{name}: no corpus");
        let mut rng = Rng::new(0x5eed_0000 + k as u64);
        let t = Instant::now();
        let n = mutations(name);
        for i in 0..seeds.len() + n {
            let input = match i.checked_sub(seeds.len()) {
                None => seeds[i].clone(),
                Some(_) => mutate(&seeds[rng.below(seeds.len())], &mut rng),
            };
            if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() || panics() > 0 {
                let file = std::env::temp_dir().join(format!("mgr-fuzz-{name}-{i}"));
                std::fs::write(&file, &input).unwrap();
                panic!("{name}: input {i} fails; written to {}", file.display());
            }
        }
        println!(
            "{name}: {} seeds and {n} mutations in {:.1} s",
            seeds.len(),
            t.elapsed().as_secs_f64()
        );
    }
}

/// What the model and plugin-state targets found, and issue 22's cases, one file each in
/// `fuzz/regressions/<target>/`: each goes through its target's body without a panic, and
/// none is taken as it is: a model file is refused with a one-line error, a state document is
/// refused or loads with a note saying what was replaced.
#[test]
fn model_and_state_regressions_are_refused_or_filtered() {
    // candle appends a backtrace to its messages when backtraces are on: a model error must
    // still be one line (`output-bias-only-network-missing`, the `model` target's first
    // finding). Set before this process's first backtrace capture, which caches it.
    std::env::set_var("RUST_BACKTRACE", "1");
    panics();
    let root = fuzz_root();
    let dev = mgr_core::model::device(mgr_core::model::DeviceKind::Cpu).unwrap();
    for f in files(&root.join("regressions").join("model")) {
        let bytes = std::fs::read(&f).unwrap();
        mgr_fuzz::model(&bytes);
        let e = mgr_core::model::Model::from_bytes(&bytes, "m.safetensors", &dev).unwrap_err();
        println!("{}: {e}", f.display());
    }
    for f in files(&root.join("regressions").join("plugin_state")) {
        let bytes = std::fs::read(&f).unwrap();
        mgr_fuzz::plugin_state(&bytes);
        let note = mgr_plugin::filtered_state(&bytes).map(|s| {
            let field = &s.fields[mgr_plugin::ANALYSIS_FIELD];
            serde_json::from_str::<mgr_plugin::state::SavedState>(field)
                .unwrap()
                .state_note
                .expect("a note says what was replaced")
        });
        println!("{}: {note:?}", f.display());
    }
    assert_eq!(panics(), 0, "a panic was caught inside");
    for t in mgr_fuzz::NOT_AUDIO {
        let n = files(&root.join("regressions").join(t)).len();
        assert!(n >= 4, "{t}: {n} regressions");
    }
}

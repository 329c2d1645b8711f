//! The bundled `mgr.clap`, loaded through a headless CLAP host (`clack-host`): descriptor,
//! parameters, bit-exact pass-through at several rates and block sizes, state round trip
//! (including a corrupted blob), activate/deactivate cycles, and the song genre the plugin
//! reports against `mgr-cli classify`'s analysis of the same audio.
//!
//! Needs the bundle: `cargo xtask bundle mgr-plugin --features assert_process_allocs` (what
//! `.ci/run` does first). With that feature the debug plugin aborts on any allocation inside
//! `process()`, so every test here also proves the audio path allocation-free.

use std::time::{Duration, Instant};

use clack_extensions::params::{ParamInfoBuffer, PluginParams};
use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use mgr_core::audio::{decode_file, Audio};
use mgr_core::model::{device, DeviceKind};
use mgr_core::pipeline::Analyzer;
use mgr_core::resample::ResamplerKind;
use mgr_tests::pack;
use serde_json::Value;

#[path = "plugin_host.rs"]
mod plugin_host;
use plugin_host::*;

/// Deterministic test signal: two detuned sines plus noise, different per channel.
fn signal(n: usize, rate: f64, seed: u32) -> (Vec<f32>, Vec<f32>) {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        (s as f32 / u32::MAX as f32 - 0.5) * 0.2
    };
    (0..n)
        .map(|i| {
            let t = i as f64 / rate;
            let l = (0.4 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32 + noise();
            let r = (0.3 * (2.0 * std::f64::consts::PI * 554.4 * t).sin()) as f32 + noise();
            (l, r)
        })
        .unzip()
}

#[test]
fn descriptor_and_parameters() {
    let (entry, mut instance) = load();
    let factory = entry.get_plugin_factory().expect("plugin factory");
    let d = factory
        .plugin_descriptors()
        .find(|d| d.id() == Some(PLUGIN_ID))
        .expect("our descriptor");
    assert_eq!(d.name().unwrap().to_str().unwrap(), "mgr");
    assert_eq!(d.vendor().unwrap().to_str().unwrap(), "mgr developers");
    let features: Vec<String> = d
        .features()
        .map(|f| f.to_string_lossy().into_owned())
        .collect();
    assert!(features.iter().any(|f| f == "analyzer"), "{features:?}");

    let handle = instance.plugin_handle();
    let params: PluginParams = handle.get_extension().expect("params extension");
    let mut buf = ParamInfoBuffer::new();
    let mut seen = Vec::new();
    for i in 0..params.count(&handle) {
        let info = params.get_info(&handle, i, &mut buf).expect("param info");
        let name = String::from_utf8_lossy(info.name).into_owned();
        let value = params.get_value(&handle, info.id).expect("param value");
        seen.push((name, info.default_value, value));
    }
    println!("parameters: {seen:?}");
    let names: Vec<&str> = seen.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "Update every",
            "Silence gate",
            "New song on restart",
            "Reset song"
        ]
    );
    // Every parameter starts at its default.
    for (name, default, value) in &seen {
        assert_eq!(default, value, "{name}");
    }
    // The stable string ids, as the saved state names them.
    let state = state_json(&save_state(&mut instance));
    let mut ids: Vec<&String> = state["params"].as_object().unwrap().keys().collect();
    ids.sort();
    assert_eq!(ids, ["gate", "hop", "reset", "restart-reset"]);
}

#[test]
fn audio_passes_bit_exact_at_all_rates_and_block_sizes() {
    let (_entry, mut instance) = load();
    for rate in [44_100.0, 48_000.0, 96_000.0] {
        let mut s = Session::start(&mut instance, rate, 8192);
        let (l, r) = signal(3 * rate as usize, rate, rate as u32);
        let sizes = [1usize, 7, 64, 511, 512, 1000, 4096, 8191, 8192, 333];
        let mut at = 0;
        let mut k = 0;
        while at < l.len() {
            let n = sizes[k % sizes.len()].min(l.len() - at);
            let (ol, or) = s.block(&l[at..at + n], &r[at..at + n]);
            // Bit-exact: compare the bit patterns, not float equality.
            for (i, (a, b)) in ol.iter().zip(&l[at..at + n]).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{rate} Hz left, sample {}",
                    at + i
                );
            }
            for (i, (a, b)) in or.iter().zip(&r[at..at + n]).enumerate() {
                assert_eq!(
                    a.to_bits(),
                    b.to_bits(),
                    "{rate} Hz right, sample {}",
                    at + i
                );
            }
            at += n;
            k += 1;
        }
        s.stop(&mut instance);
        pump(&mut instance);
    }
}

#[test]
fn survives_100_activate_deactivate_cycles() {
    let (_entry, mut instance) = load();
    let (l, r) = signal(4096, 48_000.0, 7);
    for cycle in 0..100 {
        let rate = [44_100.0, 48_000.0, 96_000.0][cycle % 3];
        let block = [64, 512, 4096][cycle % 3];
        let mut s = Session::start(&mut instance, rate, block);
        for _ in 0..3 {
            let (ol, _) = s.block(&l[..block], &r[..block]);
            assert_eq!(ol, &l[..block], "cycle {cycle}");
        }
        s.stop(&mut instance);
        pump(&mut instance);
    }
}

/// A state as the plugin saves it, with a song result and history of the built-in model's
/// labels put in, *Update every* at 12 s, and *Reset song* on (saved while it was held on).
/// Returns the blob and the analysis put in.
fn state_with_a_song() -> (Vec<u8>, Value) {
    let (_entry, mut instance) = load();
    let mut s = Session::start(&mut instance, 48_000.0, 512);
    let (l, r) = signal(512, 48_000.0, 3);
    s.block(&l, &r);
    s.stop(&mut instance);
    let blob = save_state(&mut instance);
    let mut saved = state_json(&blob);
    println!("state ({} bytes): {saved}", blob.len());
    assert!(saved["params"].get("hop").is_some(), "{saved}");

    let labels = mgr_core::model::Builtin::Gtzan
        .load(&device(DeviceKind::Cpu).unwrap())
        .unwrap()
        .labels()
        .to_vec();
    let mut mean = vec![0.02; labels.len()];
    mean[6] = 0.7;
    let song = serde_json::json!({
        "model_path": null,
        "labels": labels,
        "song": {"mean": mean, "frames": 3},
        "song_label": labels[6],
        "history": [{"end_s": 29.12, "top": 6, "score": 0.8}],
        "heard_s": 95.0
    });
    saved["fields"]["analysis"] = Value::String(song.to_string());
    saved["params"]["hop"] = serde_json::json!({"f32": 12.0});
    saved["params"]["reset"] = serde_json::json!({"bool": true});
    (state_blob(&saved), song)
}

/// Audio 80 dB below [`signal`], under the silence gate: it is analysed (the worker takes it
/// from the ring, `heard_samples` counts it) but does not vote, so a restored song stays as it
/// is unless something starts a new song.
fn quiet(n: usize, seed: u32) -> (Vec<f32>, Vec<f32>) {
    let (l, r) = signal(n, 48_000.0, seed);
    let q = |x: Vec<f32>| x.into_iter().map(|v| v * 1e-4).collect();
    (q(l), q(r))
}

/// Play `n` quiet samples in blocks of 512.
fn play_quiet(s: &mut Session, n: usize, seed: u32) {
    let (l, r) = quiet(n, seed);
    for (cl, cr) in l.chunks(512).zip(r.chunks(512)) {
        let (ol, or) = s.block(cl, cr);
        assert_eq!((ol, or), (cl, cr));
    }
}

/// Wait until the worker has acted on `n` state loads since the instance was created (the
/// saved state's `loads_applied`): a load is picked up on the worker thread, so reading the
/// result any earlier would test nothing.
fn wait_for_loads(instance: &mut PluginInstance<TestHost>, n: u64) -> Value {
    wait_for(instance, Duration::from_secs(60), |a| {
        a["loads_applied"].as_u64() == Some(n)
    })
}

#[test]
fn state_round_trip_and_a_load_is_not_a_press() {
    let (blob, song) = state_with_a_song();
    let (_entry, mut other) = load();
    assert!(load_state(&mut other, &blob), "a valid state loads");
    // The worker starts with the first activation and picks the restored state up.
    let mut s = Session::start(&mut other, 48_000.0, 512);
    let back = wait_for_loads(&mut other, 1);
    assert_eq!(back["song"], song["song"]);
    assert_eq!(back["history"], song["history"]);
    let params = state_json(&save_state(&mut other));
    assert_eq!(params["params"]["hop"], serde_json::json!({"f32": 12.0}));

    // The same state loaded while the plugin runs, after the host switched *Reset song* off:
    // the value the load brings back on is still not a press (the song stays).
    let reset = param_id(&mut other, 3);
    s.events
        .push(ParamValueEvent::new(0, reset, Pckn::match_all(), 0.0));
    play_quiet(&mut s, 512, 4);
    assert!(load_state(&mut other, &blob), "loads while active");
    // The worker restores the song first, so that a press would surely come after it.
    let back = wait_for_loads(&mut other, 2);
    assert_eq!(back["song"], song["song"]);
    // The first block after the load is where a press would start a new song. Wait until the
    // worker has analysed what follows: `heard_samples` counts from the restore and reaches
    // the 1024 samples at 12 kHz of these 4096 only once they are in, by when a press would
    // have started the new song.
    let n = 4096;
    play_quiet(&mut s, n, 5);
    let want = mgr_core::resample::output_len(n, 48_000) as u64;
    let again = wait_for(&mut other, Duration::from_secs(60), |a| {
        a["heard_samples"].as_u64().is_some_and(|h| h >= want)
    });
    assert_eq!(again["song"], song["song"], "a state load is not a press");
    assert_eq!(again["loads_applied"], 2);
    s.stop(&mut other);
    pump(&mut other);
}

#[test]
fn corrupted_state_blobs_are_refused_and_change_nothing() {
    let (blob, song) = state_with_a_song();
    let (_entry, mut instance) = load();
    assert!(load_state(&mut instance, &blob));
    let mut s = Session::start(&mut instance, 48_000.0, 512);
    wait_for_loads(&mut instance, 1);
    play_quiet(&mut s, 512, 6);
    let before = state_json(&save_state(&mut instance));
    let kept = |state: &Value| {
        let a: Value = serde_json::from_str(state["fields"]["analysis"].as_str().unwrap()).unwrap();
        (
            state["params"].clone(),
            a["song"].clone(),
            a["history"].clone(),
            a["model_path"].clone(),
            a["loads_applied"].clone(),
        )
    };
    assert_eq!(kept(&before).1, song["song"]);

    // Blobs nice-plug cannot read as a state document: refused, nothing changes. (A document
    // that reads but holds an analysis of the wrong types loads into defaults with a note:
    // tests/plugin_untrusted.rs.)
    let bad: [&[u8]; 5] = [
        b"",
        b"{",
        b"\xff\xfe\x00garbage",
        &state_blob(&serde_json::json!({"params": {"hop": "x"}, "fields": {"analysis": "{no"}})),
        &blob[..blob.len() / 2],
    ];
    let mut played = 512;
    for (k, b) in bad.iter().enumerate() {
        assert!(!load_state(&mut instance, b), "corrupted blob {k} loaded");
        // A load writes the state at once (the worker acts on it later): compare now.
        let now = state_json(&save_state(&mut instance));
        assert_eq!(
            kept(&now),
            kept(&before),
            "corrupted blob {k} changed the state"
        );
        play_quiet(&mut s, 512, 7 + k as u32);
        played += 512;
    }
    // A load that got through would be taken by the worker before the audio after it: wait
    // until all of it is analysed, then the worker must still have seen only the first load.
    let want = mgr_core::resample::output_len(played, 48_000) as u64;
    let after = wait_for(&mut instance, Duration::from_secs(60), |a| {
        a["heard_samples"].as_u64().is_some_and(|h| h >= want)
    });
    assert_eq!(after["loads_applied"], 1);
    assert_eq!(after["song"], song["song"]);
    s.stop(&mut instance);
    pump(&mut instance);
}

/// Stream a song through the plugin as an offline render and read the song result it saved.
/// With `before`, first play that with a running transport, then restart the transport at 0
/// for `audio` (a new song).
fn render_after(before: Option<&Audio>, audio: &Audio, block: usize) -> (Value, Duration) {
    let (_entry, mut instance) = load();
    set_offline(&mut instance);
    let rate = f64::from(audio.sample_rate());
    let mut s = Session::start(&mut instance, rate, block);
    // Update every 30 s: fewer forward passes in a debug test; the song average does not depend
    // on it.
    let hop_id = param_id(&mut instance, 0);
    s.events
        .push(ParamValueEvent::new(0, hop_id, Pckn::match_all(), 1.0));
    let t = Instant::now();
    if let Some(first) = before {
        s.transport = Some(playing_at(0.0));
        for (k, chunk) in first.samples().chunks(block).enumerate() {
            s.transport = Some(playing_at((k * block) as f64 / rate));
            s.block(chunk, chunk);
        }
    }
    for (k, chunk) in audio.samples().chunks(block).enumerate() {
        if before.is_some() {
            s.transport = Some(playing_at((k * block) as f64 / rate));
        }
        let (ol, _) = s.block(chunk, chunk);
        assert_eq!(ol, chunk);
    }
    // Wait until the worker has analysed every sample (the resampler's tail included).
    let want = mgr_core::resample::output_len(audio.samples().len(), audio.sample_rate()) as u64;
    let result = wait_for(&mut instance, Duration::from_secs(300), |a| {
        song_done(a, want)
    });
    assert_eq!(result["dropped_samples"], 0, "samples were dropped");
    let took = t.elapsed();
    s.stop(&mut instance);
    (result, took)
}

fn compare(name: &str, audio: &Audio) {
    compare_after(name, None, audio);
}

fn compare_after(name: &str, before: Option<&Audio>, audio: &Audio) {
    let (got, took) = render_after(before, audio, 512);
    let labels: Vec<String> = serde_json::from_value(got["labels"].clone()).unwrap();
    let mean: Vec<f32> = serde_json::from_value(got["song"]["mean"].clone()).unwrap();
    let frames = got["song"]["frames"].as_u64().unwrap();

    for kind in [ResamplerKind::Fast, ResamplerKind::Reference] {
        let dev = device(DeviceKind::Cpu).unwrap();
        let mut an = Analyzer::new(mgr_core::model::Builtin::Gtzan.load(&dev).unwrap(), kind);
        let want = an.analyze_audio(audio).unwrap();
        let worst = mgr_tests::max_abs_diff(&mean, &want.mean);
        println!(
            "{name}: plugin {} ({:.4}, {frames} frame(s), {} s heard, rendered in {:.1} s) vs Analyzer/{kind:?} {} ({:.4}, {} frame(s)); worst score difference {worst:.2e}",
            got["song_label"],
            mean[want.by_mean()],
            got["heard_s"],
            took.as_secs_f64(),
            labels[want.by_mean()],
            want.mean[want.by_mean()],
            want.frames.len(),
        );
        assert_eq!(frames as usize, want.frames.len(), "{name}: frame count");
        assert_eq!(
            got["song_label"].as_str(),
            Some(labels[want.by_mean()].as_str()),
            "{name}: genre differs from the CLI's ({kind:?} resampler)"
        );
        // The plugin streams with the Fast resampler and flushes its tail when the input
        // stops, so against `--resampler fast` only float rounding may differ. The CLI's
        // default Reference resampler has another filter: scores move by up to 0.03
        // (docs/verification.md, "Fast vs Reference resampler").
        let limit = match kind {
            ResamplerKind::Fast => 1e-5,
            ResamplerKind::Reference => 3e-2,
        };
        assert!(
            worst <= limit,
            "{name}: worst score difference {worst:.3e} > {limit:.0e} ({kind:?})"
        );
    }
}

#[test]
fn song_genre_matches_the_cli_for_a_short_song() {
    let audio = decode_file(&pack("audio/bensound/bensound-actionable.mp3")).unwrap();
    compare("bensound-actionable (31 s, 44.1 kHz)", &audio);
}

#[test]
fn song_genre_matches_the_cli_for_a_long_song() {
    // Three GTZAN jazz clips back to back: 90 s at 22,050 Hz, past the 69.12 s limit, so the
    // paper's trimmed non-overlapping frames are used.
    let mut samples = Vec::new();
    let mut rate = 0;
    for k in 0..3 {
        let a = decode_file(&pack(&format!(
            "data/gtzan-mini/genres/jazz/jazz.0000{k}.flac"
        )))
        .unwrap();
        rate = a.sample_rate();
        samples.extend_from_slice(a.samples());
    }
    let audio = Audio::new(samples, rate, 1).unwrap();
    compare("3 × GTZAN jazz (90 s, 22.05 kHz)", &audio);
}

#[test]
fn transport_restart_starts_a_new_song() {
    // 40 s of metal with the transport running, then the transport jumps back to 0 and a
    // classical clip plays: the song result must be the classical clip's alone.
    let clip = |p: &str| decode_file(&pack(p)).unwrap();
    let metal = clip("data/gtzan-mini/genres/metal/metal.00001.flac");
    let more = clip("data/gtzan-mini/genres/metal/metal.00002.flac");
    let rate = metal.sample_rate();
    let mut samples = metal.into_samples();
    samples.extend_from_slice(&more.samples()[..10 * 22_050]);
    let first = Audio::new(samples, rate, 1).unwrap();
    let second = clip("data/gtzan-mini/genres/classical/classical.00002.flac");
    compare_after(
        "metal, then restart at 0 with classical.00002",
        Some(&first),
        &second,
    );
}

#[test]
fn a_bad_model_file_keeps_the_built_in_model() {
    let dir = mgr_tests::scratch_dir("bad-model");
    let bad = dir.join("broken.safetensors");
    std::fs::write(&bad, b"this is not a safetensors file").unwrap();
    let (_entry, mut instance) = load();
    let mut state = state_json(&save_state(&mut instance));
    let saved = serde_json::json!({"model_path": bad.to_str().unwrap()});
    state["fields"]["analysis"] = Value::String(saved.to_string());
    assert!(load_state(&mut instance, &state_blob(&state)));
    set_offline(&mut instance);
    let audio = decode_file(&pack("audio/bensound/bensound-thejazzpiano.mp3")).unwrap();
    let mut s = Session::start(&mut instance, f64::from(audio.sample_rate()), 1024);
    for c in audio.samples().chunks(1024) {
        s.block(c, c);
    }
    let want = mgr_core::resample::output_len(audio.samples().len(), audio.sample_rate()) as u64;
    let a = wait_for(&mut instance, Duration::from_secs(300), |a| {
        song_done(a, want)
    });
    println!(
        "with a broken model file: {} (model_path {})",
        a["song_label"], a["model_path"]
    );
    assert_eq!(
        a["model_path"],
        Value::Null,
        "fell back to the built-in model"
    );
    let dev = device(DeviceKind::Cpu).unwrap();
    let model = mgr_core::model::Builtin::Gtzan.load(&dev).unwrap();
    let labels = model.labels().to_vec();
    let want = Analyzer::new(model, ResamplerKind::Fast)
        .analyze_audio(&audio)
        .unwrap();
    assert_eq!(
        a["song_label"].as_str(),
        Some(labels[want.by_mean()].as_str())
    );
    s.stop(&mut instance);
}

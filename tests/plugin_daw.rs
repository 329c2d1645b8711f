//! What DAWs do to the bundled `mgr.clap` that a plain playback test does not: render three
//! minutes as fast as `process()` returns while saying "realtime" (Ardour's bounce), mono and
//! 5.1 buses, a timeline jump that is not a restart, and the editor's *Reset song* and model
//! loading driven through the host (the `reset` parameter and the state's model path).
//!
//! Needs the bundle: `cargo xtask bundle mgr-plugin --features assert_process_allocs`; every
//! `process()` call here is checked allocation-free.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clack_host::events::event_types::ParamValueEvent;
use clack_host::prelude::*;
use mgr_core::aggregate::SongScores;
use mgr_core::audio::{decode_file, Audio};
use mgr_core::model::{device, DeviceKind, Model};
use mgr_core::pipeline::Analyzer;
use mgr_core::resample::{output_len, ResamplerKind, StreamResampler};
use mgr_tests::pack;
use serde_json::Value;

#[path = "plugin_host.rs"]
mod plugin_host;
use plugin_host::*;

fn builtin() -> Model {
    mgr_core::model::Builtin::Gtzan
        .load(&device(DeviceKind::Cpu).unwrap())
        .unwrap()
}

/// `mgr-cli classify --resampler fast` on `audio`: what the plugin must report for it.
fn cli_fast(audio: &Audio) -> SongScores {
    Analyzer::new(builtin(), ResamplerKind::Fast)
        .analyze_audio(audio)
        .unwrap()
}

/// The song result for a 12 kHz signal (frames and mean, as `classify` computes them).
fn song_12k(y: &[f32]) -> SongScores {
    let mut an = Analyzer::new(builtin(), ResamplerKind::Fast);
    let f = an.features_12k(y);
    let frames = an.model().predict(&f.logmels, f.frames).unwrap();
    SongScores::from_frames(frames).unwrap()
}

/// The plugin's saved song result equals `want` (frame count, label, scores within 1e-5: the
/// streaming vs whole-file summation order, see `plugin_clap.rs`).
fn assert_song(what: &str, got: &Value, want: &SongScores) {
    let labels: Vec<String> = serde_json::from_value(got["labels"].clone()).unwrap();
    let mean: Vec<f32> = serde_json::from_value(got["song"]["mean"].clone()).unwrap();
    let worst = mgr_tests::max_abs_diff(&mean, &want.mean);
    println!(
        "{what}: plugin {} ({} frames, {} s heard), Analyzer/Fast {} ({} frames); worst score difference {worst:.2e}",
        got["song_label"],
        got["song"]["frames"],
        got["heard_s"],
        labels[want.by_mean()],
        want.frames.len()
    );
    assert_eq!(
        got["song"]["frames"].as_u64(),
        Some(want.frames.len() as u64),
        "{what}: frames"
    );
    assert_eq!(
        got["song_label"].as_str(),
        Some(labels[want.by_mean()].as_str()),
        "{what}: genre"
    );
    assert!(worst <= 1e-5, "{what}: worst score difference {worst:.3e}");
}

/// Bensound clips back to back until `seconds` at `rate` (the 44.1 kHz samples are played at
/// `rate`: the analysis does not care what the content was recorded at).
fn long_song(seconds: f64, rate: u32) -> Audio {
    let clips: Vec<Audio> = ["actionable", "cute", "dubstep", "thejazzpiano"]
        .iter()
        .map(|n| decode_file(&pack(&format!("audio/bensound/bensound-{n}.mp3"))).unwrap())
        .collect();
    let want = (seconds * f64::from(rate)) as usize;
    let mut samples = Vec::with_capacity(want);
    for c in clips.iter().cycle() {
        let take = (want - samples.len()).min(c.samples().len());
        samples.extend_from_slice(&c.samples()[..take]);
        if samples.len() == want {
            break;
        }
    }
    Audio::new(samples, rate, 1).unwrap()
}

/// Ardour's bounce, in a test: three minutes fed as fast as `process()` returns while the
/// plugin is told it runs in real time. Every sample must be analysed (0 dropped) and the song
/// result must be `classify --resampler fast`'s for the whole song.
#[test]
fn a_faster_than_realtime_render_in_realtime_mode_loses_nothing() {
    let rate = 48_000;
    let audio = long_song(180.0, rate);
    let (_entry, mut instance) = load();
    // Realtime mode: the default; the host never says "offline".
    let block = 512;
    let mut s = Session::start(&mut instance, f64::from(rate), block);
    let t = Instant::now();
    let mut slowest = Duration::ZERO;
    for chunk in audio.samples().chunks(block) {
        let b = Instant::now();
        let (out, _) = s.block(chunk, chunk);
        slowest = slowest.max(b.elapsed());
        assert_eq!(out, chunk);
    }
    let fed = t.elapsed();
    let heard = output_len(audio.samples().len(), rate) as u64;
    let got = wait_for(&mut instance, Duration::from_secs(600), |a| {
        song_done(a, heard)
    });
    let total = t.elapsed();
    let stream = &got["stream"];
    println!(
        "180 s at 48 kHz fed in {:.2} s ({:.0}x real time; slowest process() {:.1} ms), analysed in {:.2} s ({:.0}x); stream: {stream}",
        fed.as_secs_f64(),
        180.0 / fed.as_secs_f64(),
        slowest.as_secs_f64() * 1e3,
        total.as_secs_f64(),
        180.0 / total.as_secs_f64(),
    );
    assert_eq!(got["dropped_samples"], 0, "samples were dropped: {got}");
    assert_eq!(
        stream["faster_than_realtime"], true,
        "the render was noticed"
    );
    assert_song("3 min render", &got, &cli_fast(&audio));
    s.stop(&mut instance);
}

/// Mono and 5.1 buses: every channel passes bit-exact, and the analysis hears their mix.
#[test]
fn mono_and_six_channel_buses() {
    let clip = decode_file(&pack("audio/bensound/bensound-actionable.mp3")).unwrap();
    for channels in [1usize, 6] {
        let (_entry, mut instance) = load();
        set_offline(&mut instance);
        let block = 1000;
        let mut s = Session::start_channels(
            &mut instance,
            f64::from(clip.sample_rate()),
            block,
            channels,
        );
        // Channel c carries the clip at gain 1 − 0.15·c.
        let gains: Vec<f32> = (0..channels).map(|c| 1.0 - 0.15 * c as f32).collect();
        let mut mix = Vec::with_capacity(clip.samples().len());
        let mut bufs: Vec<Vec<f32>> = vec![Vec::new(); channels];
        for chunk in clip.samples().chunks(block) {
            for (b, g) in bufs.iter_mut().zip(&gains) {
                b.clear();
                b.extend(chunk.iter().map(|v| v * g));
            }
            // The plugin's mixdown: the channel sum times 1 / channels.
            let scale = 1.0 / channels as f32;
            mix.extend((0..chunk.len()).map(|i| {
                let mut sum = 0.0;
                for b in &bufs {
                    sum += b[i];
                }
                sum * scale
            }));
            let refs: Vec<&[f32]> = bufs.iter().map(Vec::as_slice).collect();
            let out = s.channels(&refs);
            for (c, (o, i)) in out.iter().zip(&refs).enumerate() {
                let differ = o
                    .iter()
                    .zip(*i)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                assert_eq!(differ, 0, "{channels} channels: channel {c} changed");
            }
        }
        let heard = output_len(clip.samples().len(), clip.sample_rate()) as u64;
        let got = wait_for(&mut instance, Duration::from_secs(300), |a| {
            song_done(a, heard)
        });
        let mixed = Audio::new(mix, clip.sample_rate(), channels).unwrap();
        assert_song(&format!("{channels}-channel bus"), &got, &cli_fast(&mixed));
        s.stop(&mut instance);
    }
}

/// The transport jumps forward (a locate, not a restart at 0): the song goes on, and only the
/// resampler starts again at the jump. The plugin's result is the song of exactly that stream.
#[test]
fn a_timeline_jump_is_not_a_restart() {
    let a = decode_file(&pack("data/gtzan-mini/genres/metal/metal.00001.flac")).unwrap();
    let b = decode_file(&pack("data/gtzan-mini/genres/metal/metal.00003.flac")).unwrap();
    let rate = a.sample_rate();
    let (_entry, mut instance) = load();
    set_offline(&mut instance);
    let block = 512;
    let mut s = Session::start(&mut instance, f64::from(rate), block);
    for (k, c) in a.samples().chunks(block).enumerate() {
        s.transport = Some(playing_at((k * block) as f64 / f64::from(rate)));
        s.block(c, c);
    }
    // Locate to 2:00 and play on.
    for (k, c) in b.samples().chunks(block).enumerate() {
        s.transport = Some(playing_at(120.0 + (k * block) as f64 / f64::from(rate)));
        s.block(c, c);
    }
    // The stream the worker saw: a resampled up to the jump (its held-back tail dropped
    // there), then b resampled from a fresh start and flushed at the end.
    let mut y = Vec::new();
    let mut rs = StreamResampler::new(rate).unwrap();
    rs.push(a.samples(), &mut |o| y.extend_from_slice(o));
    rs.reset();
    rs.push(b.samples(), &mut |o| y.extend_from_slice(o));
    rs.flush(&mut |o| y.extend_from_slice(o));
    let got = wait_for(&mut instance, Duration::from_secs(300), |v| {
        song_done(v, y.len() as u64)
    });
    assert!(
        got["heard_s"].as_f64().unwrap() > 59.0,
        "the song went on over the jump: {}",
        got["heard_s"]
    );
    assert_song(
        "metal.00001, jump to 2:00, metal.00003",
        &got,
        &song_12k(&y),
    );
    s.stop(&mut instance);
}

/// A copy of the built-in weights as a user's fine-tuned model: other labels and metadata.
fn finetuned_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let labels: Vec<String> = builtin()
        .labels()
        .iter()
        .map(|l| format!("{}-ft", l.to_uppercase()))
        .collect();
    let mut meta = HashMap::new();
    meta.insert(
        "labels".to_string(),
        serde_json::to_string(&labels).unwrap(),
    );
    meta.insert(
        "model".to_string(),
        "house_genres (mgr-cli finetune, top from gtzan)".to_string(),
    );
    let provenance = mgr_core::model::meta::Provenance {
        tool: "mgr-cli finetune".into(),
        strategy: "top".into(),
        base_model: "gtzan".into(),
        data: vec!["house-set".into()],
        train_songs: 40,
        valid_songs: 10,
        split: "all".into(),
        grouping: "artist".into(),
        validation_accuracy: Some(0.7),
        cross_validation: None,
        seed: 3,
        sources: None,
    };
    meta.insert(
        mgr_core::model::meta::keys::PROVENANCE.to_string(),
        serde_json::to_string(&provenance).unwrap(),
    );
    let (tensors, meta) = mgr_core::train::export::model_tensors(&published_weights(), &[], &meta);
    let path = dir.join("house_genres.safetensors");
    mgr_core::train::export::write_safetensors(&path, &tensors, meta).unwrap();
    path
}

/// Load a state with this model path, as a host loading a project or preset does (the
/// editor's model selector takes the same path).
fn load_model_state(instance: &mut PluginInstance<TestHost>, path: Option<&str>) {
    let mut state = state_json(&save_state(instance));
    let mut saved: Value =
        serde_json::from_str(state["fields"]["analysis"].as_str().unwrap()).unwrap();
    saved["model_path"] = path.map_or(Value::Null, |p| Value::String(p.to_string()));
    if let Some(dir) = path.and_then(|p| std::path::Path::new(p).parent()) {
        saved["last_folder"] = Value::String(dir.to_string_lossy().into_owned());
    }
    saved["song"] = Value::Null;
    saved["history"] = Value::Array(vec![]);
    state["fields"]["analysis"] = Value::String(saved.to_string());
    assert!(load_state(instance, &state_blob(&state)), "state loads");
}

/// The editor's buttons, pressed by the host: the `reset` parameter starts a new song at the
/// sample it arrives with; a state with another model path loads that model (name, labels and
/// base model from its metadata), and a path that fails to load keeps model and song.
#[test]
fn reset_and_model_loading_through_the_host() {
    let jazz = decode_file(&pack("audio/bensound/bensound-thejazzpiano.mp3")).unwrap();
    let clip = decode_file(&pack("audio/bensound/bensound-actionable.mp3")).unwrap();
    let rate = jazz.sample_rate();
    let (_entry, mut instance) = load();
    set_offline(&mut instance);
    let reset = param_id(&mut instance, 3);
    let block = 1024;
    let mut s = Session::start(&mut instance, f64::from(rate), block);
    for c in jazz.samples().chunks(block) {
        s.block(c, c);
    }
    let heard = |x: &Audio| output_len(x.samples().len(), x.sample_rate()) as u64;
    let first = wait_for(&mut instance, Duration::from_secs(300), |a| {
        song_done(a, heard(&jazz))
    });
    assert_song("before Reset", &first, &cli_fast(&jazz));

    // Reset arrives with the first block of the next song: that song alone counts.
    for (k, c) in clip.samples().chunks(block).enumerate() {
        if k == 0 {
            s.events
                .push(ParamValueEvent::new(0, reset, Pckn::match_all(), 1.0));
        }
        if k == 1 {
            s.events
                .push(ParamValueEvent::new(0, reset, Pckn::match_all(), 0.0));
        }
        s.block(c, c);
    }
    let after = wait_for(&mut instance, Duration::from_secs(300), |a| {
        song_done(a, heard(&clip))
    });
    let want_clip = cli_fast(&clip);
    assert_song("after Reset", &after, &want_clip);
    s.stop(&mut instance);

    // Load a fine-tuned model through the state; the next audio is a new song on it.
    let dir = mgr_tests::scratch_dir("load-model");
    let ft = finetuned_copy(&dir);
    load_model_state(&mut instance, Some(ft.to_str().unwrap()));
    let mut s = Session::start(&mut instance, f64::from(rate), block);
    for c in clip.samples().chunks(block) {
        s.block(c, c);
    }
    let on_ft = wait_for(&mut instance, Duration::from_secs(300), |a| {
        song_done(a, heard(&clip)) && a["model_path"].is_string()
    });
    println!("model: {}", on_ft["model"]);
    assert_eq!(on_ft["model"]["name"], "house_genres.safetensors");
    assert_eq!(
        on_ft["model"]["description"],
        "house_genres (mgr-cli finetune, top from gtzan)"
    );
    let base = on_ft["model"]["base_model"].as_str().unwrap();
    assert!(base.starts_with("jimenez_crnn_gtzan"), "{base}");
    // Where it came from, for the model panel and About.
    assert_eq!(
        on_ft["model"]["provenance"],
        "top from gtzan on 40 songs of house-set (split all, seed 3); validation 70.0 % on 10 \
         validation songs (artist grouping)"
    );
    assert_eq!(on_ft["model_error"], Value::Null);
    // Same weights, other labels: the same song, named by the new model.
    let labels: Vec<String> = serde_json::from_value(on_ft["labels"].clone()).unwrap();
    assert_eq!(labels.len(), 10);
    assert!(labels.iter().all(|l| l.ends_with("-ft")), "{labels:?}");
    assert_eq!(
        on_ft["song_label"].as_str().unwrap(),
        format!(
            "{}-ft",
            builtin().labels()[want_clip.by_mean()].to_uppercase()
        )
    );
    // The folder of the last model (the state sets it with the path, as the editor does) is
    // still in the saved state after the return to the built-in model below, which sets none.
    let folder = ft.parent().unwrap().to_str().unwrap().to_string();

    // Files that do not load: the error is reported, model and song stay.
    let broken = dir.join("broken.safetensors");
    std::fs::write(&broken, b"not a model").unwrap();
    for bad in [dir.join("missing.safetensors"), broken] {
        load_model_state(&mut instance, Some(bad.to_str().unwrap()));
        // (The loaded state carries the previous error: wait for this file's.)
        let a = wait_for(&mut instance, Duration::from_secs(60), |a| {
            a["model_error"]
                .as_str()
                .is_some_and(|e| e.contains(bad.to_str().unwrap()))
        });
        println!("{}: {}", bad.display(), a["model_error"]);
        let err = a["model_error"].as_str().unwrap();
        assert!(err.contains(bad.to_str().unwrap()), "{err}");
        assert_eq!(a["model_path"].as_str(), ft.to_str());
        assert_eq!(a["song"], on_ft["song"], "the song stays");
        assert_eq!(a["heard_samples"], on_ft["heard_samples"]);
    }
    // And back to the built-in model. (The loaded state itself says no model path and no
    // error: wait for the worker to have taken it.)
    let loads = analysis(&save_state(&mut instance))["loads_applied"]
        .as_u64()
        .unwrap();
    load_model_state(&mut instance, None);
    let back = wait_for(&mut instance, Duration::from_secs(60), |a| {
        a["loads_applied"].as_u64() > Some(loads)
            && a["model_path"].is_null()
            && a["model_error"].is_null()
    });
    assert_eq!(back["labels"][0], "blues");
    assert_eq!(back["model"]["name"], "GTZAN CRNN (built-in)");
    assert_eq!(back["last_folder"].as_str(), Some(folder.as_str()));
    s.stop(&mut instance);
}

/// A model file as the default `finetune` writes it: the published GTZAN CRNN's tensors plus a
/// stacked head (`head.*`) on its 490 features, with one label trusting the regression alone
/// (β 1), one the published score alone (β 0) and the rest fused (β 0.5). The weights are a
/// fixed pattern, not a fit: what matters here is that the plugin runs the head as the library
/// does.
fn stacked_copy(dir: &std::path::Path) -> std::path::PathBuf {
    use mgr_core::model::meta::{keys, CrossValidation, Provenance};
    use mgr_core::model::net::head::StackHead;
    let labels = builtin().labels().to_vec();
    let n = labels.len();
    let dims = 64 + 3 * 128 + 32 + n;
    let head = StackHead {
        weight: (0..n * dims)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.05)
            .collect(),
        bias: (0..n).map(|c| 0.1 * c as f32 - 0.4).collect(),
        beta: (0..n)
            .map(|c| match c {
                0 => 1.0,
                9 => 0.0,
                _ => 0.5,
            })
            .collect(),
        prior: (0..n).map(Some).collect(),
        dims,
    };
    let provenance = Provenance {
        tool: "mgr-cli finetune".into(),
        strategy: "stack".into(),
        base_model: "gtzan".into(),
        data: vec!["gtzan-mini".into(), "gtzan-more".into()],
        train_songs: 269,
        valid_songs: 0,
        split: "all".into(),
        grouping: "artist".into(),
        validation_accuracy: None,
        cross_validation: Some(CrossValidation {
            split: "kfold:5".into(),
            grouping: "artist".into(),
            songs: 269,
            accuracy: 0.874,
            balanced_accuracy: Some(0.807),
            macro_f1: Some(0.816),
            recall: Vec::new(),
        }),
        seed: 0,
        sources: None,
    };
    let mut meta = HashMap::new();
    meta.insert(keys::LABELS.into(), serde_json::to_string(&labels).unwrap());
    meta.insert(keys::MODEL.into(), "stacked (mgr-cli finetune)".into());
    meta.insert(keys::STRATEGY.into(), "stack".into());
    meta.insert(
        keys::PROVENANCE.into(),
        serde_json::to_string(&provenance).unwrap(),
    );
    let (tensors, meta) = mgr_core::train::export::model_tensors(
        &published_weights(),
        &head.tensors().unwrap(),
        &meta,
    );
    let path = dir.join("stacked.safetensors");
    mgr_core::train::export::write_safetensors(&path, &tensors, meta).unwrap();
    path
}

/// The musician's path from `finetune` to the DAW: a stacked model loaded through the state
/// (as the editor's file dialog does) analyses a song exactly as `classify --model FILE
/// --resampler fast` does, and the plugin reports where the model came from.
#[test]
fn a_stacked_model_runs_in_the_plugin_as_in_classify() {
    let dir = mgr_tests::scratch_dir("stacked-model");
    let path = stacked_copy(&dir);
    let model = mgr_core::model::ModelSpec::File(path.clone())
        .load(&device(DeviceKind::Cpu).unwrap())
        .unwrap();
    let audio = decode_file(&pack("audio/bensound/bensound-thejazzpiano.mp3")).unwrap();
    let want = Analyzer::new(model, ResamplerKind::Fast)
        .analyze_audio(&audio)
        .unwrap();
    let published = cli_fast(&audio);
    assert_ne!(
        want.mean, published.mean,
        "the head changes the scores, so the comparison below tells the two apart"
    );

    let (_entry, mut instance) = load();
    set_offline(&mut instance);
    load_model_state(&mut instance, Some(path.to_str().unwrap()));
    let rate = audio.sample_rate();
    let block = 1024;
    let mut s = Session::start(&mut instance, f64::from(rate), block);
    for c in audio.samples().chunks(block) {
        s.block(c, c);
    }
    let heard = output_len(audio.samples().len(), rate) as u64;
    let got = wait_for(&mut instance, Duration::from_secs(300), |a| {
        song_done(a, heard) && a["model_path"].is_string()
    });
    s.stop(&mut instance);
    assert_eq!(got["model_error"], Value::Null);
    assert_eq!(got["model"]["name"], "stacked.safetensors");
    assert_song("stacked model", &got, &want);
    let prov = got["model"]["provenance"].as_str().unwrap();
    assert!(
        prov.starts_with("stack from gtzan on 269 songs")
            && prov.contains("87.4 % (balanced 80.7 %")
            && prov.contains("artist-grouped"),
        "{prov}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// The published GTZAN CRNN's tensors and metadata: the base of a trained model file.
fn published_weights() -> mgr_core::model::Weights {
    let bytes = mgr_core::model::Builtin::Gtzan.bytes();
    mgr_core::model::Weights::parse(bytes, "gtzan").unwrap()
}

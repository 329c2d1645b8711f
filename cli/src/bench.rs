//! `mgr-cli bench FILE`: median wall time of every pipeline stage on one file, as milliseconds
//! and as multiples of real time. Numbers for the README come from this command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use mgr_core::audio::decode_file;
use mgr_core::config::{FramingConfig, CLIP_SAMPLES, FRAME_SECONDS};
use mgr_core::mel::LogMel;
use mgr_core::model::{device, Model};
use mgr_core::pipeline::Analyzer;
use mgr_core::resample::{Resampler, ResamplerKind};
use serde_json::json;

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Audio file to time (a 30 s GTZAN clip is the reference workload).
    file: PathBuf,
    /// Timed repetitions per stage (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    run: crate::RunOptions,
}

/// Median seconds of `reps` runs of `f` after one warm-up run.
fn time<T>(reps: usize, mut f: impl FnMut() -> Result<T>) -> Result<f64> {
    f()?;
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        std::hint::black_box(f()?);
        t.push(start.elapsed().as_secs_f64());
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

pub fn run(a: BenchArgs) -> Result<ExitCode> {
    crate::apply_threads(&a.run);
    let dev = device(a.run.device)?;
    let audio = decode_file(&a.file).with_context(|| format!("decoding {}", a.file.display()))?;
    let secs = audio.seconds();
    let mut rows: Vec<(String, f64, f64)> = Vec::new(); // (stage, seconds, audio seconds)
    let reps = a.reps;

    rows.push((
        "decode".into(),
        time(reps, || Ok(decode_file(&a.file)?))?,
        secs,
    ));
    let reference = Resampler::new(ResamplerKind::Reference);
    let fast = Resampler::new(ResamplerKind::Fast);
    let rate = audio.sample_rate;
    rows.push((
        "resample (reference)".into(),
        time(reps, || Ok(reference.to_12k(&audio.samples, rate)?))?,
        secs,
    ));
    rows.push((
        "resample (fast)".into(),
        time(reps, || Ok(fast.to_12k(&audio.samples, rate)?))?,
        secs,
    ));
    let y = fast.to_12k(&audio.samples, rate)?;
    let range = mgr_core::aggregate::frame_ranges(y.len(), &FramingConfig::default())[0].clone();
    let clip = &y[range];
    let mut logmel = LogMel::new();
    let mut out = vec![0f32; mgr_core::config::N_MELS * mgr_core::config::N_FRAMES];
    rows.push((
        "log-mel (one 29.12 s frame)".into(),
        time(reps, || {
            logmel.compute_into(clip, &mut out);
            Ok(())
        })?,
        CLIP_SAMPLES as f64 / 12_000.0,
    ));
    let fcn = Model::builtin("fcn", &dev)?;
    let crnn = Model::builtin("gtzan", &dev)?;
    for (name, model, batch) in [
        ("FCN", &fcn, 1usize),
        ("CRNN", &crnn, 1),
        ("CRNN", &crnn, 8),
    ] {
        let input: Vec<f32> = out
            .iter()
            .copied()
            .cycle()
            .take(out.len() * batch)
            .collect();
        let x = model.input_tensor(&input)?;
        let t = time(reps, || {
            let p = model.forward(&x)?;
            Ok(p.to_vec2::<f32>()?)
        })?;
        rows.push((
            format!("{name} forward, batch {batch} (per frame)"),
            t / batch as f64,
            FRAME_SECONDS,
        ));
    }
    for kind in [ResamplerKind::Reference, ResamplerKind::Fast] {
        let mut analyzer =
            Analyzer::new(Model::builtin("gtzan", &dev)?, kind).with_batch(a.run.batch);
        let t = time(reps, || Ok(analyzer.analyze_file(&a.file)?))?;
        let name = if kind == ResamplerKind::Reference {
            "reference"
        } else {
            "fast"
        };
        rows.push((format!("file → genre total ({name} resampler)"), t, secs));
    }

    let threads = candle_core_threads();
    if a.json {
        let arr: Vec<_> = rows
            .iter()
            .map(|(s, t, audio_s)| json!({"stage": s, "ms": t * 1e3, "x_realtime": audio_s / t}))
            .collect();
        let doc = json!({"file": a.file.display().to_string(), "audio_seconds": secs,
                         "threads": threads, "reps": reps, "stages": arr});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{} ({secs:.2} s, {} Hz), median of {reps}, {threads} thread(s)",
            a.file.display(),
            audio.sample_rate
        );
        println!("{:<46} {:>10} {:>12}", "stage", "ms", "× realtime");
        for (s, t, audio_s) in &rows {
            println!("{s:<46} {:>10.2} {:>12.0}", t * 1e3, audio_s / t);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn candle_core_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

//! `mgr-cli bench FILE`: median wall time of every pipeline stage on one file, as milliseconds
//! and as multiples of real time. Numbers for the README come from this command, and
//! `bench/run.sh` calls it (with `--json`) to compare mgr with its Python peers.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use mgr_core::audio::{decode_file, Audio};
use mgr_core::config::{FramingConfig, CLIP_SAMPLES, FRAME_SECONDS, N_FRAMES, N_MELS};
use mgr_core::mel::LogMel;
use mgr_core::model::net::{crnn, fcn};
use mgr_core::model::{device, Architecture, Builtin, CandleDevice};
use mgr_core::pipeline::{Analyzer, FrontEnd};
use mgr_core::resample::{Resampler, ResamplerKind};
use serde_json::json;

use crate::library_bench::LibraryBench;

/// Groups of stages that `--stage` can select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// Decode, resample (both resamplers), log-mel, and the whole front-end in one go.
    Frontend,
    /// FCN and CRNN forward passes, batch 1 and `--net-batch`.
    Network,
    /// File to genre with the GTZAN CRNN (both resamplers).
    Endtoend,
    /// A library of `--files` copies of the clips under FILE (a folder) through the
    /// streaming pipeline, next to the stages' single-file throughput.
    Library,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Audio file to time (a 30 s GTZAN clip is the reference workload); with
    /// `--stage library`, a folder of clips.
    file: PathBuf,
    /// Timed repetitions per stage (after one warm-up run); the median is reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Stage groups to time (repeatable; default: all).
    #[arg(long, value_enum)]
    stage: Vec<Stage>,
    /// Larger batch for the network rows (besides batch 1).
    #[arg(long, default_value_t = 8)]
    net_batch: usize,
    /// Files in the library of `--stage library` (copies of the clips, cycled).
    #[arg(long, default_value_t = 1000)]
    files: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    run: crate::RunOptions,
}

/// One timed stage: a stable id for scripts, a readable name, seconds, audio seconds covered
/// and, for network rows, the FLOPs of one run.
struct Row {
    id: String,
    name: String,
    seconds: f64,
    audio_seconds: f64,
    flops: Option<f64>,
}

impl Row {
    /// A row without a FLOP count.
    fn new(id: &str, name: String, seconds: f64, audio_seconds: f64) -> Self {
        Self {
            id: id.into(),
            name,
            seconds,
            audio_seconds,
            flops: None,
        }
    }
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

/// FLOPs of one 3×3 "same" conv layer (a multiply-add counts as 2).
fn conv_flops(c_in: usize, c_out: usize, h: usize, w: usize) -> f64 {
    2.0 * (c_in * 9 * c_out * h * w) as f64
}

/// FLOPs of one Keras-1 GRU step with `n_in` inputs: three input and three recurrent
/// matrix-vector products.
fn gru_step_flops(n_in: usize, units: usize) -> f64 {
    2.0 * (3 * units * (n_in + units)) as f64
}

/// FLOPs of one forward pass over one 29.12 s frame, counted from the architecture: every
/// conv multiply-add, the GRU and dense matrix products. BatchNorm, ELU, pooling and the gate
/// non-linearities (element-wise, < 0.5 % of the total) are not counted.
pub fn network_flops(arch: Architecture, n_out: usize) -> f64 {
    match arch {
        Architecture::Fcn => {
            let (mut c, mut h, mut w) = (1, N_MELS, N_FRAMES);
            let mut total = 0.0;
            for (&c_out, &(ph, pw)) in fcn::CHANNELS.iter().zip(fcn::POOLS.iter()) {
                total += conv_flops(c, c_out, h, w);
                (c, h, w) = (c_out, h / ph, w / pw);
            }
            total + 2.0 * (c * h * w * n_out) as f64
        }
        Architecture::Crnn => {
            let (mut c, mut h, mut w) = (1, N_MELS, N_FRAMES + 2 * crnn::TIME_PAD);
            let mut total = 0.0;
            for (&c_out, &(ph, pw)) in crnn::CHANNELS.iter().zip(crnn::POOLS.iter()) {
                total += conv_flops(c, c_out, h, w);
                (c, h, w) = (c_out, h / ph, w / pw);
            }
            let units = crnn::GRU_UNITS;
            // After the last pool: h == 1, w == 15 steps of c features.
            total += w as f64 * (gru_step_flops(c * h, units) + gru_step_flops(units, units));
            total + 2.0 * (units * n_out) as f64
        }
    }
}

/// Time the selected stage groups on one file and print them (`--stage library` hands over to
/// [`crate::library_bench`]).
pub fn run(a: BenchArgs) -> Result<ExitCode> {
    crate::apply_threads(&a.run);
    if a.stage.contains(&Stage::Library) {
        return crate::library_bench::run(&LibraryBench {
            source: &a.file,
            files: a.files,
            json: a.json,
            run: &a.run,
        });
    }
    let dev = device(a.run.device)?;
    let stages = if a.stage.is_empty() {
        vec![Stage::Frontend, Stage::Network, Stage::Endtoend]
    } else {
        a.stage.clone()
    };
    let mut w = Workload::new(&a.file, a.reps)?;
    let mut rows: Vec<Row> = Vec::new();
    if stages.contains(&Stage::Frontend) {
        rows.extend(frontend_rows(&mut w)?);
    }
    if stages.contains(&Stage::Network) {
        rows.extend(network_rows(&w, &dev, a.net_batch)?);
    }
    if stages.contains(&Stage::Endtoend) {
        rows.extend(endtoend_rows(&w, &dev, a.run.batch_for(&dev))?);
    }
    if a.json {
        print_json(&w, &rows)?;
    } else {
        print_table(&w, &rows);
    }
    Ok(ExitCode::SUCCESS)
}

/// What the stage rows share: the file decoded once, both resamplers, and its first
/// 29.12 s frame (the range at 12 kHz and its log-mel, the network rows' input).
struct Workload<'a> {
    file: &'a Path,
    reps: usize,
    audio: Audio,
    reference: Resampler,
    fast: Resampler,
    range: Range<usize>,
    logmel: LogMel,
    frame: Vec<f32>,
}

impl<'a> Workload<'a> {
    fn new(file: &'a Path, reps: usize) -> Result<Self> {
        let audio = decode_file(file).with_context(|| format!("decoding {}", file.display()))?;
        let reference = Resampler::new(ResamplerKind::Reference);
        let fast = Resampler::new(ResamplerKind::Fast);
        let y = fast.to_12k(audio.samples(), audio.sample_rate())?;
        let range = first_frame(y.len());
        let mut logmel = LogMel::new();
        let mut frame = vec![0f32; N_MELS * N_FRAMES];
        logmel.compute_into(&y[range.clone()], &mut frame);
        Ok(Self {
            file,
            reps,
            audio,
            reference,
            fast,
            range,
            logmel,
            frame,
        })
    }

    /// Seconds of audio in the file.
    fn seconds(&self) -> f64 {
        self.audio.seconds()
    }
}

/// Samples of the first 29.12 s frame of `len` samples at 12 kHz.
fn first_frame(len: usize) -> Range<usize> {
    mgr_core::aggregate::frame_ranges(len, &FramingConfig::default())[0].clone()
}

/// Decode, each resampler, the log-mel of one frame, and the whole front-end with each
/// resampler. Every row reuses its buffers from run to run, as `classify` does from file to
/// file (`mgr_core::pipeline::FrontEnd`).
fn frontend_rows(w: &mut Workload) -> Result<Vec<Row>> {
    let (reps, secs, rate) = (w.reps, w.seconds(), w.audio.sample_rate());
    let samples = w.audio.samples();
    let mut rows = Vec::new();
    let t = time(reps, || Ok(decode_file(w.file)?.samples().len()))?;
    rows.push(Row::new("decode", "decode".into(), t, secs));
    let mut y = Vec::new();
    let t = time(reps, || {
        Ok(w.reference.to_12k_into(samples, rate, &mut y)?)
    })?;
    rows.push(Row::new(
        "resample_reference",
        "resample (reference)".into(),
        t,
        secs,
    ));
    let t = time(reps, || Ok(w.fast.to_12k_into(samples, rate, &mut y)?))?;
    rows.push(Row::new("resample_fast", "resample (fast)".into(), t, secs));
    let clip = &y[w.range.clone()];
    let t = time(reps, || {
        w.logmel.compute_into(clip, &mut w.frame);
        Ok(())
    })?;
    let clip_seconds = CLIP_SAMPLES as f64 / 12_000.0;
    rows.push(Row::new(
        "logmel",
        "log-mel (one 29.12 s frame)".into(),
        t,
        clip_seconds,
    ));
    for (id, name, kind) in [
        ("frontend_reference", "reference", ResamplerKind::Reference),
        ("frontend_fast", "fast", ResamplerKind::Fast),
    ] {
        // Everything a file needs before the network, as `classify` runs it: the file streamed
        // through decode, resample, cut and the log-mel of every frame.
        let mut front = FrontEnd::new(kind, FramingConfig::default());
        let t = time(reps, || Ok(front.file(w.file)?.frames))?;
        rows.push(Row::new(
            id,
            format!("front-end total ({name} resampler)"),
            t,
            secs,
        ));
    }
    Ok(rows)
}

/// FCN and CRNN forward passes on the file's first frame, batch 1 and `net_batch`, per frame.
fn network_rows(w: &Workload, dev: &CandleDevice, net_batch: usize) -> Result<Vec<Row>> {
    let fcn = Builtin::Fcn.load(dev)?;
    let crnn = Builtin::Gtzan.load(dev)?;
    let mut batches = vec![1usize];
    if net_batch > 1 {
        batches.push(net_batch);
    }
    let mut rows = Vec::new();
    for (name, model) in [("FCN", &fcn), ("CRNN", &crnn)] {
        let flops = network_flops(model.architecture(), model.labels().len());
        for &batch in &batches {
            let input: Vec<f32> = w
                .frame
                .iter()
                .copied()
                .cycle()
                .take(w.frame.len() * batch)
                .collect();
            let x = model.input_tensor(&input)?;
            let t = time(w.reps, || {
                let p = model.forward(&x)?;
                Ok(p.to_vec2::<f32>()?)
            })?;
            let mut r = Row::new(
                &format!("{}_b{batch}", name.to_lowercase()),
                format!("{name} forward, batch {batch} (per frame)"),
                t / batch as f64,
                FRAME_SECONDS,
            );
            r.flops = Some(flops);
            rows.push(r);
        }
    }
    Ok(rows)
}

/// File to genre with the GTZAN CRNN, once with each resampler, `batch` frames at a time.
fn endtoend_rows(w: &Workload, dev: &CandleDevice, batch: usize) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (kind, name) in [
        (ResamplerKind::Reference, "reference"),
        (ResamplerKind::Fast, "fast"),
    ] {
        let mut analyzer = Analyzer::new(Builtin::Gtzan.load(dev)?, kind).with_batch(batch);
        let t = time(w.reps, || Ok(analyzer.analyze_file(w.file)?))?;
        rows.push(Row::new(
            &format!("e2e_{name}"),
            format!("file → genre total ({name} resampler)"),
            t,
            w.seconds(),
        ));
    }
    Ok(rows)
}

/// The rows as one JSON document on stdout (the form `bench/run.sh` reads).
fn print_json(w: &Workload, rows: &[Row]) -> Result<()> {
    let arr: Vec<_> = rows
        .iter()
        .map(|r| {
            let mut v = json!({"id": r.id, "stage": r.name, "ms": r.seconds * 1e3,
                               "x_realtime": r.audio_seconds / r.seconds});
            if let Some(f) = r.flops {
                v["flops"] = json!(f);
                v["gflops_per_s"] = json!(f / r.seconds / 1e9);
            }
            v
        })
        .collect();
    let doc = json!({"file": w.file.display().to_string(), "audio_seconds": w.seconds(),
                     "threads": candle_core_threads(), "reps": w.reps, "stages": arr});
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

/// The rows as a table on stdout, under a line naming the file and the conditions.
fn print_table(w: &Workload, rows: &[Row]) {
    println!(
        "{} ({:.2} s, {} Hz), median of {}, {} thread(s)",
        w.file.display(),
        w.seconds(),
        w.audio.sample_rate(),
        w.reps,
        candle_core_threads()
    );
    println!(
        "{:<46} {:>10} {:>12} {:>10}",
        "stage", "ms", "× realtime", "GFLOP/s"
    );
    for r in rows {
        let gflops = r
            .flops
            .map_or(String::new(), |f| format!("{:.1}", f / r.seconds / 1e9));
        println!(
            "{:<46} {:>10.2} {:>12.0} {:>10}",
            r.name,
            r.seconds * 1e3,
            r.audio_seconds / r.seconds,
            gflops
        );
    }
}

fn candle_core_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The counts follow the layer tables in the data pack's `weights/README.md`, multiplied out
    /// by hand:
    /// CRNN conv 1→64 on 96×1440, 64→128 on 48×720, 128→128 on 16×240 and on 4×60, then
    /// 15 steps of GRU 128→32 and 32→32; FCN conv 1→32 on 96×1366, 32→128 on 48×341,
    /// 128→128 on 24×85, 128→192 on 12×21, 192→256 on 4×4, dense 256→50.
    #[test]
    fn flop_counts_match_the_layer_tables() {
        let crnn_convs = 2.0
            * (9.0 * 64.0 * 96.0 * 1440.0
                + 64.0 * 9.0 * 128.0 * 48.0 * 720.0
                + 128.0 * 9.0 * 128.0 * 16.0 * 240.0
                + 128.0 * 9.0 * 128.0 * 4.0 * 60.0);
        let crnn_gru = 15.0 * 2.0 * (96.0 * (128.0 + 32.0) + 96.0 * (32.0 + 32.0));
        let crnn = crnn_convs + crnn_gru + 2.0 * 32.0 * 10.0;
        assert_eq!(network_flops(Architecture::Crnn, 10), crnn);
        assert!((network_flops(Architecture::Crnn, 10) / 1e9 - 6.46).abs() < 0.01);

        let fcn = 2.0
            * (9.0 * 32.0 * 96.0 * 1366.0
                + 32.0 * 9.0 * 128.0 * 48.0 * 341.0
                + 128.0 * 9.0 * 128.0 * 24.0 * 85.0
                + 128.0 * 9.0 * 192.0 * 12.0 * 21.0
                + 192.0 * 9.0 * 256.0 * 4.0 * 4.0
                + 256.0 * 50.0);
        assert_eq!(network_flops(Architecture::Fcn, 50), fcn);
        assert!((network_flops(Architecture::Fcn, 50) / 1e9 - 2.01).abs() < 0.01);
    }
}

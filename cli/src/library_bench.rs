//! `mgr-cli bench DIR --stage library [--files 1000]`: songs per second of a library run
//! (the streaming pipeline of `classify`) next to the stages' single-file throughput,
//! measured in the same process, for 1 thread, all cores and (in a CUDA build, on a machine
//! with a GPU) `--device cuda`.
//!
//! * The library: `--files` copies of the audio files under DIR (cycled), in a temporary
//!   folder, removed afterwards.
//! * The reference: every stage timed alone, one file at a time, on each distinct clip
//!   (after one warm-up pass): decode, resample to 12 kHz, log-mel of each frame, and the
//!   network per frame (one forward pass of `batch` frames of these clips, divided by
//!   `batch`). Per song: decode + resample + frames × (log-mel + network per frame), averaged
//!   over the clips; reference songs/s = 1 / that sum. This is the throughput of running
//!   the stages back to back with nothing lost between them — the "sum of the stages'
//!   single-file throughput" of the README's stage table.
//! * 1 thread: the front-end on the calling thread, the network on a one-thread rayon pool,
//!   the reference timed in the same pool. All cores: one front-end worker per core and
//!   rayon's global pool, for both.
//! * Peak memory: the process's peak resident set (`VmHWM`), reset before each run through
//!   `/proc/self/clear_refs` where the kernel allows it.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use mgr_core::audio::decode_file;
use mgr_core::config::FramingConfig;
use mgr_core::library::walk::{walk, WalkOptions};
use mgr_core::mel::LogMel;
use mgr_core::model::{Builtin, CandleDevice, Model};
use mgr_core::pipeline::{Pipeline, PipelineConfig, FRAME_VALUES};
use mgr_core::resample::Resampler;
use serde_json::json;

/// Stage times of one file at a time, in seconds per song (mean over the clips).
#[derive(Debug, Clone, Copy, Default)]
struct StageTimes {
    decode: f64,
    resample: f64,
    logmel: f64,
    network: f64,
    frames: f64,
}

impl StageTimes {
    fn sum(&self) -> f64 {
        self.decode + self.resample + self.logmel + self.network
    }
}

/// One configuration's numbers.
struct Row {
    name: String,
    batch: usize,
    stages: StageTimes,
    songs_per_s: f64,
    peak_rss_mib: Option<f64>,
}

fn secs(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// Time each stage alone on every clip (one warm-up pass first).
fn stage_times(
    clips: &[PathBuf],
    model: &Model,
    resampler: &Resampler,
    batch: usize,
) -> Result<StageTimes> {
    let mut logmel = LogMel::new();
    let mut y = Vec::new();
    let mut frame = vec![0f32; FRAME_VALUES];
    let mut bank: Vec<f32> = Vec::new();
    let mut t = StageTimes::default();
    for pass in 0..2 {
        t = StageTimes::default();
        for clip in clips {
            let start = Instant::now();
            let audio =
                decode_file(clip).with_context(|| format!("decoding {}", clip.display()))?;
            t.decode += secs(start);
            let start = Instant::now();
            resampler.to_12k_into(audio.samples(), audio.sample_rate(), &mut y)?;
            t.resample += secs(start);
            let ranges = mgr_core::aggregate::frame_ranges(y.len(), &FramingConfig::default());
            for r in ranges {
                let start = Instant::now();
                logmel.compute_into(&y[r], &mut frame);
                t.logmel += secs(start);
                t.frames += 1.0;
                if pass == 0 && bank.len() < batch * FRAME_VALUES {
                    bank.extend_from_slice(&frame);
                }
            }
        }
    }
    // The network per frame: batches of `batch` frames of these clips (cycled if fewer).
    let base = bank.clone();
    while bank.len() < batch * FRAME_VALUES {
        bank.extend_from_slice(&base);
    }
    bank.truncate(batch * FRAME_VALUES);
    model.predict(&bank, batch)?; // warm-up
    let reps = 3;
    let start = Instant::now();
    for _ in 0..reps {
        model.predict(&bank, batch)?;
    }
    let per_frame = secs(start) / (reps * batch) as f64;
    let n = clips.len() as f64;
    t.network = per_frame * t.frames;
    Ok(StageTimes {
        decode: t.decode / n,
        resample: t.resample / n,
        logmel: t.logmel / n,
        network: t.network / n,
        frames: t.frames / n,
    })
}

/// Reset the peak resident set size (Linux ≥ 4.0); false where that is not possible.
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size in MiB (`VmHWM`), where the system reports it.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Run the library through the streaming pipeline; songs per second.
fn library_run(files: &[PathBuf], model: &Model, config: PipelineConfig) -> Result<f64> {
    let never = AtomicBool::new(false);
    let mut failed = 0usize;
    let start = Instant::now();
    let summary = Pipeline::new(model, config).run(files, &never, |_, r| {
        if r.is_err() {
            failed += 1;
        }
    });
    let elapsed = secs(start);
    if failed > 0 || summary.delivered != files.len() {
        bail!(
            "{failed} of {} files failed ({} delivered)",
            files.len(),
            summary.delivered
        );
    }
    Ok(files.len() as f64 / elapsed)
}

/// Copy `clips` cyclically into `n` files under `dir`.
fn make_library(clips: &[PathBuf], n: usize, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut files = Vec::with_capacity(n);
    for k in 0..n {
        let src = &clips[k % clips.len()];
        let name = src.file_name().unwrap_or_default().to_string_lossy();
        let dst = dir
            .join(format!("{:03}", k / 100))
            .join(format!("{k:05}-{name}"));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(src, &dst).with_context(|| format!("copying to {}", dst.display()))?;
        files.push(dst);
    }
    Ok(files)
}

/// The CUDA device, when this build has CUDA and the machine a usable GPU.
fn cuda_device() -> Option<CandleDevice> {
    if !cfg!(feature = "cuda") {
        return None;
    }
    // candle may panic instead of failing when the CUDA libraries are missing.
    std::panic::catch_unwind(|| mgr_core::model::device(mgr_core::model::DeviceKind::Cuda))
        .ok()?
        .ok()
}

/// What a library run takes from `mgr-cli bench`'s arguments.
pub struct LibraryBench<'a> {
    /// Folder of clips to copy into the library.
    pub source: &'a Path,
    /// Files in the library (copies of the clips, cycled).
    pub files: usize,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Resampler and batch size (the caller has applied the thread count).
    pub run: &'a crate::RunOptions,
}

/// Copy the library into a temporary folder, measure every configuration, remove the folder,
/// then print the table or the JSON.
pub fn run(a: &LibraryBench) -> Result<std::process::ExitCode> {
    let clips = walk(&[a.source.to_path_buf()], WalkOptions::default()).files;
    if clips.is_empty() {
        bail!("no audio files under {}", a.source.display());
    }
    let n = a.files.max(1);
    let dir = std::env::temp_dir().join(format!("mgr-bench-library-{}", std::process::id()));
    let files = make_library(&clips, n, &dir);
    let result = files.and_then(|files| measure(a, &clips, &files));
    let _ = std::fs::remove_dir_all(&dir);
    let rows = result?;
    report(a, &clips, n, &rows)?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn measure(a: &LibraryBench, clips: &[PathBuf], files: &[PathBuf]) -> Result<Vec<Row>> {
    // The stage reference takes at most 20 distinct clips (it is a mean, not a sweep).
    let sample: Vec<PathBuf> = clips.iter().take(20).cloned().collect();
    let resampler = Resampler::new(a.run.resampler);
    let cpu = CandleDevice::Cpu;
    let model = Builtin::Gtzan.load(&cpu)?;
    let cores = rayon::current_num_threads();
    // One configuration: the stage reference, then the library run, on the current pool.
    let row = |name: String, model: &Model, workers: usize| -> Result<Row> {
        let dev = model.device();
        let b = a.run.batch_for(dev);
        let stages = stage_times(&sample, model, &resampler, b)?;
        let config = PipelineConfig {
            resampler: a.run.resampler,
            batch: b,
            workers,
            ..PipelineConfig::for_device(dev)
        };
        let reset = reset_peak_rss();
        let songs_per_s = library_run(files, model, config)?;
        Ok(Row {
            name,
            batch: b,
            stages,
            songs_per_s,
            peak_rss_mib: peak_rss_mib().filter(|_| reset),
        })
    };
    // 1 thread: front-end inline, network on a one-thread pool.
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .context("building a one-thread pool")?;
    let mut rows = vec![one.install(|| row("1 thread".into(), &model, 0))?];
    rows.push(row(format!("{cores} threads (all cores)"), &model, cores)?);
    if let Some(gpu) = cuda_device() {
        let model = Builtin::Gtzan.load(&gpu)?;
        rows.push(row(
            format!("cuda + {cores} front-end threads"),
            &model,
            cores,
        )?);
    }
    Ok(rows)
}

fn report(a: &LibraryBench, clips: &[PathBuf], n: usize, rows: &[Row]) -> Result<()> {
    let resampler = format!("{:?}", a.run.resampler).to_lowercase();
    if a.json {
        let arr: Vec<_> = rows
            .iter()
            .map(|r| {
                let s = &r.stages;
                json!({
                    "config": r.name, "batch": r.batch,
                    "ms_per_song": {"decode": s.decode * 1e3, "resample": s.resample * 1e3,
                                    "logmel": s.logmel * 1e3, "network": s.network * 1e3,
                                    "sum": s.sum() * 1e3},
                    "frames_per_song": s.frames,
                    "reference_songs_per_s": 1.0 / s.sum(),
                    "songs_per_s": r.songs_per_s,
                    "ratio": r.songs_per_s * s.sum(),
                    "peak_rss_mib": r.peak_rss_mib,
                })
            })
            .collect();
        let doc = json!({"source": a.source.display().to_string(), "clips": clips.len(),
                         "files": n, "resampler": resampler, "model": Builtin::Gtzan.name(), "rows": arr});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "library of {n} files (copies of {} clips under {}), GTZAN CRNN, {resampler} resampler",
        clips.len(),
        a.source.display()
    );
    println!(
        "stage times: one file at a time, each stage alone, mean over {} clips (ms per song)",
        clips.len().min(20)
    );
    print!("{:<34}", "");
    for r in rows {
        print!("{:>28}", r.name);
    }
    println!();
    let line = |name: &str, f: &dyn Fn(&Row) -> String| {
        print!("{name:<34}");
        for r in rows {
            print!("{:>28}", f(r));
        }
        println!();
    };
    line("decode", &|r| format!("{:.2}", r.stages.decode * 1e3));
    line("resample to 12 kHz", &|r| {
        format!("{:.2}", r.stages.resample * 1e3)
    });
    line("log-mel (all frames)", &|r| {
        format!("{:.2}", r.stages.logmel * 1e3)
    });
    line("network (all frames)", &|r| {
        format!("{:.2} (batch {})", r.stages.network * 1e3, r.batch)
    });
    line("sum", &|r| format!("{:.2}", r.stages.sum() * 1e3));
    line("reference songs/s = 1 / sum", &|r| {
        format!("{:.1}", 1.0 / r.stages.sum())
    });
    line("library run songs/s", &|r| format!("{:.1}", r.songs_per_s));
    line("library / reference", &|r| {
        format!("{:.0} %", 100.0 * r.songs_per_s * r.stages.sum())
    });
    line("peak RSS (MiB)", &|r| {
        r.peak_rss_mib.map_or("n/a".into(), |m| format!("{m:.0}"))
    });
    Ok(())
}

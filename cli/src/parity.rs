//! `mgr-cli parity FILES --device cuda`: does a device give the CPU's scores? Every built-in
//! model scores the same log-mels on the CPU (the fused kernels, one frame at a time) and on
//! the device in one forward pass per batch size; the worst difference of a score must stay
//! within `--tolerance`. `--generic` runs the device's models with candle's generic conv ops,
//! the code path of CUDA and Metal, which on `--device cpu` checks that path without a GPU.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Args;
use mgr_core::config::{FramingConfig, N_FRAMES, N_MELS};
use mgr_core::model::{argmax, device, Builtin, ConvKernels, DeviceKind};
use mgr_core::pipeline::FrontEnd;
use mgr_core::resample::ResamplerKind;
use serde_json::json;

#[derive(Args, Debug)]
pub struct ParityArgs {
    /// Audio files or folders: their 29.12 s frames are the inputs (past the last distinct
    /// frame, frames repeat rotated in time so that every batch entry differs).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Device to compare with the CPU.
    #[arg(long)]
    device: DeviceKind,
    /// Batch sizes, each one forward pass.
    #[arg(long, value_delimiter = ',', default_value = "1,4,8,64")]
    batches: Vec<usize>,
    /// Built-in models to compare.
    #[arg(long, value_delimiter = ',', default_value = "gtzan,crnn,fcn")]
    models: Vec<Builtin>,
    /// Largest allowed |device − CPU| of any score.
    #[arg(long, default_value_t = 1e-4)]
    tolerance: f32,
    /// Run the device's models with candle's generic conv ops even on the CPU.
    #[arg(long)]
    generic: bool,
    /// Worker threads for the CPU reference (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// One model at one batch size.
struct Row {
    model: String,
    batch: usize,
    worst: f32,
    same_top: usize,
}

const PER: usize = N_MELS * N_FRAMES;

/// `n` log-mel frames from the files, in order; past the distinct ones, the same frames again,
/// each round rotated in time by 97 more columns.
fn frames(paths: &[PathBuf], n: usize) -> Result<Vec<f32>> {
    let mut front = FrontEnd::new(ResamplerKind::Reference, FramingConfig::default());
    let mut distinct = Vec::new();
    let found = mgr_core::library::walk::walk(paths, Default::default());
    for path in found.files {
        if distinct.len() >= n * PER {
            break;
        }
        let f = front
            .file(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        distinct.extend_from_slice(&f.logmels);
    }
    let have = distinct.len() / PER;
    if have == 0 {
        bail!("no audio frames in the given files");
    }
    let mut out = Vec::with_capacity(n * PER);
    for i in 0..n {
        let (frame, shift) = (&distinct[(i % have) * PER..][..PER], 97 * (i / have));
        for row in frame.chunks_exact(N_FRAMES) {
            out.extend(row.iter().cycle().skip(shift % N_FRAMES).take(N_FRAMES));
        }
    }
    Ok(out)
}

pub fn run(a: ParityArgs) -> Result<ExitCode> {
    if let Some(n) = a.threads.filter(|n| *n > 0) {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    if a.batches.is_empty() || a.batches.contains(&0) {
        bail!("--batches: give batch sizes of at least 1");
    }
    let dev = device(a.device)?;
    let dev_name = format!("{:?}", a.device).to_lowercase();
    let kernels = if a.generic {
        ConvKernels::Generic
    } else {
        ConvKernels::Auto
    };
    let most = a.batches.iter().copied().max().unwrap_or(1);
    let logmels = frames(&a.paths, most)?;
    let mut rows = Vec::new();
    for name in &a.models {
        let cpu = name.load(&mgr_core::model::CandleDevice::Cpu)?;
        let want = cpu.predict(&logmels, 1)?;
        let model = name.load(&dev)?.with_conv_kernels(kernels);
        for &batch in &a.batches {
            let got = model
                .predict(&logmels[..batch * PER], batch)
                .with_context(|| format!("{name} at batch {batch} on {dev_name}"))?;
            let mut row = Row {
                model: name.to_string(),
                batch,
                worst: 0.0,
                same_top: 0,
            };
            for (g, w) in got.iter().zip(&want) {
                for (x, y) in g.iter().zip(w) {
                    // NaN on either side is a failure, not a zero difference.
                    let d = (x - y).abs();
                    row.worst = if d.is_nan() {
                        f32::INFINITY
                    } else {
                        row.worst.max(d)
                    };
                }
                row.same_top += usize::from(argmax(g) == argmax(w));
            }
            rows.push(row);
        }
    }
    let pass = rows.iter().all(|r| r.worst <= a.tolerance);
    let path = if a.generic {
        "generic ops"
    } else {
        "default ops"
    };
    if a.json {
        let arr: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({"model": r.model, "batch": r.batch, "worst_abs_diff": r.worst,
                       "same_top_label": r.same_top, "frames": r.batch,
                       "pass": r.worst <= a.tolerance})
            })
            .collect();
        let doc = json!({"device": dev_name, "path": path,
                         "reference": "cpu, fused kernels, batch 1",
                         "tolerance": a.tolerance, "pass": pass, "rows": arr});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!(
            "{dev_name} ({path}) against the CPU (fused kernels, batch 1), tolerance {:.0e}",
            a.tolerance
        );
        println!(
            "{:<8} {:>6} {:>14} {:>10}  result",
            "model", "batch", "worst |Δ|", "same top"
        );
        for r in &rows {
            println!(
                "{:<8} {:>6} {:>14.2e} {:>10}  {}",
                r.model,
                r.batch,
                r.worst,
                format!("{}/{}", r.same_top, r.batch),
                if r.worst <= a.tolerance { "ok" } else { "FAIL" }
            );
        }
    }
    Ok(if pass {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

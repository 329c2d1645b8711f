//! `mgr-cli`: music genre recognition and music tagging from the command line.
//!
//! Each subcommand is a thin layer over `mgr-core`: `tag` (50 Million Song Dataset tags),
//! `classify` (10 GTZAN genres, the paper's multiframe song decision), `bench` (stage timings).

mod bench;
mod eval;
mod finetune;
mod output;
mod parity;
mod plot;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use mgr_core::audio::has_audio_extension;
use mgr_core::model::{device, DeviceKind, Model};
use mgr_core::pipeline::Analyzer;
use mgr_core::resample::ResamplerKind;

#[derive(Parser, Debug)]
#[command(
    name = "mgr-cli",
    version,
    about = "Music genre recognition with deep neural networks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Music tags (50 Million Song Dataset tags) with Choi's FCN or CRNN.
    Tag(TagArgs),
    /// Genre of each song (10 GTZAN genres) with the paper's multiframe rule.
    Classify(ClassifyArgs),
    /// Time every stage of the pipeline on one audio file.
    Bench(bench::BenchArgs),
    /// Evaluate a model on a labelled data set (GTZAN layouts, splits, metrics, baseline).
    Eval(eval::EvalArgs),
    /// Transfer learning to new genres: features + softmax/SVM, or fine-tune the CRNN top.
    Finetune(finetune::FinetuneArgs),
    /// Check that a device (`--device cuda`) gives the CPU's scores at every batch size.
    Parity(parity::ParityArgs),
}

/// Options shared by every command that runs a network.
#[derive(Args, Debug, Clone)]
pub struct RunOptions {
    /// Compute device (cuda/metal need a build with that cargo feature).
    #[arg(long, default_value = "cpu", value_parser = parse_device)]
    device: DeviceKind,
    /// Resampler to 12 kHz: `reference` reproduces the published inputs exactly; `fast`
    /// (a shorter polyphase filter) moves scores by up to 0.012 (see README).
    #[arg(long, default_value = "reference", value_parser = parse_resampler)]
    resampler: ResamplerKind,
    /// Frames per forward pass.
    #[arg(long, default_value_t = mgr_core::pipeline::DEFAULT_BATCH)]
    batch: usize,
    /// Worker threads for the networks (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn parse_device(s: &str) -> std::result::Result<DeviceKind, String> {
    s.parse()
}

fn parse_resampler(s: &str) -> std::result::Result<ResamplerKind, String> {
    s.parse()
}

#[derive(Args, Debug)]
struct TagArgs {
    /// Audio files or folders (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Tagging network: `crnn`, `fcn`, or a safetensors file in the same layout.
    #[arg(long, default_value = "crnn")]
    model: String,
    /// Number of tags to print per file.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print one JSON array: `[{"path": ..., "tags": [[tag, score], ...]}]`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    run: RunOptions,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
    Csv,
}

#[derive(Args, Debug)]
struct ClassifyArgs {
    /// Audio files or folders (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Genre model: `gtzan` (built in) or a safetensors file from `mgr-cli finetune`.
    #[arg(long, default_value = "gtzan")]
    model: String,
    /// Also print the scores of every 29.12 s frame and the majority-vote label.
    #[arg(long)]
    per_frame: bool,
    /// Print JSON (`[{"path", "label", "scores", "frames"}]`).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (one row per file).
    #[arg(long)]
    csv: bool,
    #[command(flatten)]
    run: RunOptions,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Tag(a) => tag(a),
        Command::Classify(a) => classify(a),
        Command::Bench(a) => bench::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Finetune(a) => finetune::run(a),
        Command::Parity(a) => parity::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Apply `--threads` before candle starts its pools.
fn apply_threads(run: &RunOptions) {
    if let Some(n) = run.threads.filter(|n| *n > 0) {
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
}

/// A built-in model name or a path to a safetensors file.
pub fn load_model(spec: &str, run: &RunOptions) -> Result<Model> {
    let dev = device(run.device)?;
    if mgr_core::model::BUILTIN_NAMES.contains(&spec) {
        return Ok(Model::builtin(spec, &dev)?);
    }
    let path = Path::new(spec);
    Model::load(path, &dev).with_context(|| format!("loading model {spec}"))
}

/// Expand folders recursively (sorted) into audio files; plain files are kept as given.
fn collect_inputs(paths: &[PathBuf]) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            out.push(dir.to_path_buf()); // reported as an error later
            return;
        };
        let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, out);
            } else if has_audio_extension(&p) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out);
        } else {
            out.push(p.clone());
        }
    }
    out
}

fn progress(n: usize) -> ProgressBar {
    if n > 1 && std::io::stderr().is_terminal() {
        let pb = ProgressBar::new(n as u64);
        pb.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed_precise} eta {eta} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb
    } else {
        ProgressBar::hidden()
    }
}

/// Per-file results (or error messages), in input order.
type FileResults = Vec<(
    PathBuf,
    std::result::Result<mgr_core::aggregate::SongScores, String>,
)>;

/// Load the model, expand the inputs and analyse every file; returns the results, the model's
/// labels and whether any file failed.
fn analyze_inputs(
    model: &str,
    paths: &[PathBuf],
    run: &RunOptions,
) -> Result<(FileResults, Vec<String>, bool)> {
    apply_threads(run);
    let model = load_model(model, run)?;
    let files = collect_inputs(paths);
    let mut analyzer = Analyzer::new(model, run.resampler).with_batch(run.batch);
    let pb = progress(files.len());
    let mut results = Vec::with_capacity(files.len());
    analyzer.analyze_files(&files, |i, r| {
        results.push((files[i].clone(), r.map_err(|e| e.to_string())));
        pb.inc(1);
    });
    pb.finish_and_clear();
    let failed = results.iter().any(|(_, r)| r.is_err());
    Ok((results, analyzer.model().labels().to_vec(), failed))
}

fn exit_code(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn tag(a: TagArgs) -> Result<ExitCode> {
    let (results, labels, failed) = analyze_inputs(&a.model, &a.paths, &a.run)?;
    print!("{}", output::tags(&results, &labels, a.top, a.json)?);
    Ok(exit_code(failed))
}

fn classify(a: ClassifyArgs) -> Result<ExitCode> {
    let (results, labels, failed) = analyze_inputs(&a.model, &a.paths, &a.run)?;
    let format = if a.json {
        Format::Json
    } else if a.csv {
        Format::Csv
    } else {
        Format::Text
    };
    let out = match format {
        Format::Json => output::classify_json(&results, &labels, a.per_frame)?,
        Format::Csv => output::classify_csv(&results, &labels, a.per_frame),
        Format::Text => output::classify_text(&results, &labels, a.per_frame),
    };
    print!("{out}");
    Ok(exit_code(failed))
}

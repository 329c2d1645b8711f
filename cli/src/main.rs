//! `mgr-cli`: music genre recognition and music tagging from the command line.
//!
//! Each subcommand is a thin layer over `mgr-core`: `tag` (50 Million Song Dataset tags),
//! `classify` (10 GTZAN genres, the paper's multiframe song decision), `bench` (stage timings).

mod bench;
mod eval;
mod finetune;
mod library_bench;
mod options;
mod output;
mod parity;
mod plot;
mod ui;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::ProgressBar;
use mgr_core::library::record::Format as RecordFormat;
use mgr_core::library::tags::TagOptions;
use mgr_core::library::walk::{Shard, WalkOptions};
use mgr_core::library::{self, LibraryJob, Observer, ResultsFile, RunPlan, RunReport, SongOutcome};
use mgr_core::model::{device, Builtin, Model, ModelSpec};
use mgr_core::pipeline::PipelineConfig;
use mgr_core::progress::Counters;
use mgr_core::timeline::SegmentConfig;
use options::{apply_threads, RunOptions, TimelineOptions};
use output::Row;

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

#[derive(Args, Debug)]
struct TagArgs {
    /// Audio files or folders (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Tagging network: `crnn`, `fcn`, or a safetensors file in the same layout.
    #[arg(long, default_value_t = ModelSpec::Builtin(Builtin::Crnn))]
    model: ModelSpec,
    /// Number of tags to print per file.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Print one JSON array: `[{"path": ..., "tags": [[tag, score], ...]}]`.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    timeline: TimelineOptions,
    #[command(flatten)]
    run: RunOptions,
}

#[derive(Args, Debug)]
struct ClassifyArgs {
    /// Audio files or folders (searched recursively).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Genre model: `gtzan` (built in) or a safetensors file from `mgr-cli finetune`.
    #[arg(long, default_value_t = ModelSpec::default())]
    model: ModelSpec,
    /// Also print the scores of every 29.12 s frame and the majority-vote label.
    #[arg(long)]
    per_frame: bool,
    /// Print JSON (`[{"path", "label", "scores", "frames"}]`).
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    /// Print CSV (one row per file).
    #[arg(long)]
    csv: bool,
    /// Append one JSON line per song to FILE as it finishes (flushed each time); nothing is
    /// printed on stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "csv_file")]
    jsonl: Option<PathBuf>,
    /// Append CSV rows per song to FILE as it finishes (flushed each time).
    #[arg(long, value_name = "FILE")]
    csv_file: Option<PathBuf>,
    /// Continue the --jsonl / --csv-file FILE: skip songs it holds with the same path, size
    /// and modification time.
    #[arg(long)]
    resume: bool,
    /// Take every N-th song of the sorted list, starting at song I (0 <= I < N): for job
    /// arrays; the shards' result files concatenate into the whole result.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Also walk hidden files and folders (names starting with `.`).
    #[arg(long)]
    hidden: bool,
    /// Do not follow symbolic links to folders.
    #[arg(long)]
    no_follow: bool,
    /// Write the top genre into each file's genre tag. Alone it only prints what would
    /// change; with --apply it writes.
    #[arg(long)]
    write_tags: bool,
    /// Write the tags (with --write-tags).
    #[arg(long, requires = "write_tags")]
    apply: bool,
    /// Also write an MGR_GENRE_SCORES field with the ten scores and the model name.
    #[arg(long, requires = "write_tags")]
    tag_scores: bool,
    /// Replace a genre the user already set.
    #[arg(long, requires = "write_tags")]
    overwrite_existing: bool,
    /// Let a tagged file's modification time change (it is kept by default).
    #[arg(long, requires = "write_tags")]
    update_mtime: bool,
    /// Analyse only songs whose genre tag is empty (the others are not decoded).
    #[arg(long, requires = "write_tags")]
    only_untagged: bool,
    #[command(flatten)]
    timeline: TimelineOptions,
    #[command(flatten)]
    run: RunOptions,
}

fn parse_shard(s: &str) -> std::result::Result<Shard, String> {
    s.parse()
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
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

/// A built-in model or a safetensors file, on `--device`.
pub fn load_model(spec: &ModelSpec, run: &RunOptions) -> Result<Model> {
    let dev = device(run.device)?;
    spec.load(&dev)
        .with_context(|| format!("loading model {spec}"))
}

/// The stream settings of a run: `--batch` (or the device's default), `--resampler`, one
/// front-end worker per thread (`--threads`, default all cores), the `--timeline` windows.
fn pipeline_config(run: &RunOptions, timeline: &TimelineOptions, model: &Model) -> PipelineConfig {
    PipelineConfig {
        resampler: run.resampler,
        batch: run.batch_for(model.device()),
        timeline: timeline.settings().map(|t| t.windows),
        ..PipelineConfig::for_device(model.device())
    }
}

/// Stopped by Ctrl-C: the first press stops the run cleanly, a second one quits at once.
static CANCEL: AtomicBool = AtomicBool::new(false);

fn install_ctrl_c() {
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping: songs in flight are dropped (Ctrl-C again quits at once); \
             run again with --resume to finish"
        );
    });
}

/// Collects the songs for stdout and draws the progress bar.
struct Collect {
    rows: Vec<(usize, Row)>,
    keep: bool,
    bar: ProgressBar,
    started: Instant,
    /// Songs to analyse in this run.
    todo: usize,
}

impl Collect {
    fn new(keep: bool) -> Self {
        Self {
            rows: Vec::new(),
            keep,
            bar: ProgressBar::hidden(),
            started: Instant::now(),
            todo: 0,
        }
    }

    /// The bar counts seconds of audio decoded, out of what the files' headers announce (a
    /// library's files range from seconds to hours, so its ETA is honest); the message
    /// counts songs, speed and real-time factor.
    fn show(&self, progress: &Counters) {
        let (files, songs) = progress.snapshot();
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let audio = progress.audio_seconds();
        // Before any header announced a length, the songs done so far say how long one is.
        let expected = progress
            .expected_audio_seconds(self.todo)
            .or_else(|| (songs > 0).then(|| audio / songs as f64 * self.todo as f64));
        if let Some(total) = expected {
            self.bar.set_length(total.max(audio).ceil() as u64);
        }
        self.bar.set_position(audio as u64);
        self.bar.set_message(format!(
            "{songs}/{} songs, {:.1} of ~{:.1} h of audio, {:.1} files/s, {:.0}× real time",
            self.todo,
            audio / 3600.0,
            expected.unwrap_or(audio) / 3600.0,
            files as f64 / secs,
            audio / secs
        ));
    }

    /// The rows in walk order.
    fn sorted(mut self) -> Vec<Row> {
        self.rows.sort_by_key(|(i, _)| *i);
        self.rows.into_iter().map(|(_, r)| r).collect()
    }
}

impl Observer for Collect {
    fn start(&mut self, plan: &RunPlan) {
        for note in &plan.walk.notes {
            eprintln!("warning: {note}");
        }
        if plan.walk.hidden > 0 {
            eprintln!(
                "note: skipped {} hidden file(s) or folder(s) (--hidden includes them)",
                plan.walk.hidden
            );
        }
        if plan.already_tagged > 0 {
            eprintln!(
                "note: {} song(s) already have a genre tag (--only-untagged leaves them out)",
                plan.already_tagged
            );
        }
        if plan.already_done > 0 {
            eprintln!(
                "resuming: {} of {} songs already done, {} to go",
                plan.already_done, plan.listed, plan.todo
            );
        }
        self.bar = progress(plan.todo);
        self.started = Instant::now();
        self.todo = plan.todo;
    }

    fn tick(&mut self, progress: &Counters) {
        self.show(progress);
    }

    fn song(&mut self, song: &SongOutcome<'_>, progress: &Counters) {
        self.show(progress);
        // What was odd about a file that still decoded (a header's length that lies, a cut
        // tail): one line each, beside the result.
        if let Ok(s) = song.result {
            for w in &s.warnings {
                let path = song.path.display();
                self.bar.suspend(|| eprintln!("warning: {path}: {w}"));
            }
        }
        if self.keep {
            let row = Row {
                path: song.path.to_path_buf(),
                result: match song.result {
                    Ok(s) => Ok(s.clone()),
                    Err(e) => Err(e.to_string()),
                },
                tags: song.tags_text(),
            };
            self.rows.push((song.index, row));
        } else {
            // The result file has the details; stderr says what needs attention.
            if let Err(e) = song.result {
                self.bar.suspend(|| eprintln!("error: {e}"));
            }
            if let Some(Err(e)) = song.tags {
                self.bar.suspend(|| eprintln!("error: {e}"));
            }
        }
    }
}

/// The library run's bar, even for one song (one file may be hours long): its length is
/// seconds of audio ([`Collect::show`]).
fn progress(todo: usize) -> ProgressBar {
    let bar = (todo > 0)
        .then(|| ui::terminal_bar("{bar:30} {msg}  {elapsed_precise} eta {eta}"))
        .flatten();
    match bar {
        Some(pb) => {
            // Redrawn twice a second, so that the elapsed time moves while a long song runs.
            pb.enable_steady_tick(std::time::Duration::from_millis(500));
            pb
        }
        None => ProgressBar::hidden(),
    }
}

/// Load the model and run the library workflow; returns the observer, the labels and the
/// exit code.
fn library_run(
    model: &ModelSpec,
    run: &RunOptions,
    timeline: &TimelineOptions,
    job: impl FnOnce(PipelineConfig) -> LibraryJob,
    keep: bool,
) -> Result<(Collect, Model, RunReport)> {
    apply_threads(run);
    let model = load_model(model, run)?;
    let job = job(pipeline_config(run, timeline, &model));
    install_ctrl_c();
    let mut collect = Collect::new(keep);
    let report = library::run(&job, &model, &CANCEL, &mut collect).map_err(|e| match e {
        // The library names the option; here it is a flag.
        library::LibraryError::ResultsExist { .. } => anyhow::anyhow!("{e} (--resume)"),
        e => e.into(),
    })?;
    collect.bar.finish_and_clear();
    if report.plan.found == 0 {
        let roots: Vec<String> = job.roots.iter().map(|r| r.display().to_string()).collect();
        eprintln!("no audio files under {}", roots.join(", "));
    }
    Ok((collect, model, report))
}

/// 0: every file scored; 1: a file, folder or tag write failed, or the paths hold no audio
/// file (as ripgrep exits 1 when nothing matched); 130: stopped by Ctrl-C. (2, a usage or
/// model error, comes from `main`.)
fn exit_code(report: &RunReport) -> ExitCode {
    if report.cancelled {
        ExitCode::from(130)
    } else if report.failed > 0
        || report.tag_failures > 0
        || report.plan.walk.incomplete()
        || report.plan.found == 0
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn tag(a: TagArgs) -> Result<ExitCode> {
    let timeline = a.timeline.or_defaults(SegmentConfig::tags());
    timeline.check_plot(&a.paths)?;
    let job = |pipeline| LibraryJob {
        roots: a.paths.clone(),
        walk: WalkOptions::default(),
        shard: None,
        results: None,
        per_frame: false,
        tags: None,
        segments: timeline.segments(),
        pipeline,
    };
    let (collect, model, report) = library_run(&a.model, &a.run, &timeline, job, true)?;
    let labels = model.labels().to_vec();
    let shown = shown_names(&model);
    let rows = collect.sorted();
    let settings = timeline.settings();
    let names = if a.json { &labels } else { &shown };
    print!("{}", output::tags(&rows, names, a.top, a.json, settings)?);
    plot_timeline(&timeline, &rows, &shown, model.description())?;
    Ok(exit_code(&report))
}

/// The names people read in text and plots: a model's display names (the users' spelling; a
/// model trained on tags records them), else its labels. JSON and CSV keep the labels, the
/// stable keys scripts match on.
fn shown_names(model: &Model) -> Vec<String> {
    let labels = model.labels();
    mgr_core::model::meta::display_names(model.metadata(), labels)
        .unwrap_or_else(|| labels.to_vec())
}

/// `--plot FILE.png`: the timeline of the one song of the run, if it was scored.
fn plot_timeline(
    timeline: &TimelineOptions,
    rows: &[Row],
    labels: &[String],
    model: &str,
) -> Result<()> {
    let (Some(settings), Some(png)) = (timeline.settings(), &timeline.plot) else {
        return Ok(());
    };
    match rows {
        [Row {
            path,
            result: Ok(song),
            ..
        }] => plot::timeline_png(png, path, song, labels, &settings, model),
        // The song's error is already reported with its result.
        _ => Ok(()),
    }
}

fn classify(a: ClassifyArgs) -> Result<ExitCode> {
    let results = match (&a.jsonl, &a.csv_file) {
        (Some(path), _) => Some((path.clone(), RecordFormat::Jsonl)),
        (None, Some(path)) => Some((path.clone(), RecordFormat::Csv)),
        (None, None) => None,
    };
    if a.resume && results.is_none() {
        anyhow::bail!(
            "--resume needs the result file to continue: --jsonl FILE or --csv-file FILE"
        );
    }
    let results = results.map(|(path, format)| ResultsFile {
        path,
        format,
        resume: a.resume,
    });
    let to_stdout = results.is_none();
    a.timeline.check_plot(&a.paths)?;
    let job = |pipeline| LibraryJob {
        roots: a.paths.clone(),
        walk: WalkOptions {
            hidden: a.hidden,
            follow_links: !a.no_follow,
        },
        shard: a.shard,
        results: results.clone(),
        per_frame: a.per_frame,
        tags: a.write_tags.then_some(TagOptions {
            apply: a.apply,
            scores: a.tag_scores,
            overwrite_existing: a.overwrite_existing,
            update_mtime: a.update_mtime,
            only_untagged: a.only_untagged,
        }),
        segments: a.timeline.segments(),
        pipeline,
    };
    let started = Instant::now();
    // --plot needs the song even when the results go to a file.
    let keep = to_stdout || a.timeline.plot.is_some();
    let (collect, model, report) = library_run(&a.model, &a.run, &a.timeline, job, keep)?;
    let labels = model.labels().to_vec();
    if !a.model.is_published_gtzan() {
        // Say which model answered, and where it came from (stderr: stdout stays data).
        match model.provenance() {
            Some(p) => eprintln!("model {}: {}", model.name(), p.summary()),
            None => eprintln!("model {}", model.description()),
        }
    }
    if let Some(r) = &results {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{} songs in {:.1} s ({:.1} songs/s), {} failed; {} of {} already in {}{}",
            report.finished,
            secs,
            report.finished as f64 / secs.max(1e-3),
            report.failed,
            report.plan.already_done,
            report.plan.listed,
            r.path.display(),
            if report.cancelled {
                "; interrupted: run again with --resume to finish"
            } else {
                ""
            }
        );
    }
    let rows = collect.sorted();
    let shown = shown_names(&model);
    if to_stdout {
        let shape = output::Shape {
            per_frame: a.per_frame,
            timeline: a.timeline.settings(),
        };
        let out = if a.json {
            output::classify_json(&rows, &labels, shape)?
        } else if a.csv {
            output::classify_csv(&rows, &labels, shape)
        } else {
            output::classify_text(&rows, &shown, shape)
        };
        print!("{out}");
    }
    plot_timeline(&a.timeline, &rows, &shown, model.description())?;
    Ok(exit_code(&report))
}

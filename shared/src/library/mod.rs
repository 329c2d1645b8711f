//! A music library, not a folder: the whole `classify` workflow over a tree of any size.
//!
//! ```text
//! roots ─► walk (sorted, hidden skipped, loops reported) ─► shard I/N ─► resume filter
//!       ─► pipeline::Pipeline (all cores, batched) ─► finisher thread: tags → result file → observer
//! ```
//!
//! * [`walk`]: folders → the sorted file list; [`walk::Shard`]: every N-th of it.
//! * [`record`]: one song as JSON / CSV, the append-only result files and the resume index.
//! * [`tags`]: the genre in the file's own tag, written safely.
//! * [`run`]: all of it, calling an [`Observer`] for each song (for output and progress).
//!
//! Results are appended as songs finish (completion order, each with its index in the walk),
//! so a killed run loses only the songs in flight, and `resume` completes the set. The
//! shards' result files, concatenated, are the whole library's.

pub mod record;
pub mod tags;
pub mod walk;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use crate::aggregate::SongScores;
use crate::audio::header_seconds;
use crate::error::Error;
use crate::model::Model;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::progress::Counters;
use crate::timeline::{SegmentConfig, TimelineSettings};
use record::{FileId, Format, Record, RecordWriter, ResumeIndex};
use tags::{TagError, TagOptions};
use walk::{Shard, Walk, WalkOptions};

/// What went wrong with a library run as a whole (a song's own failure is in its result).
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] crate::error::IoError),
    /// The result file is not empty and the job does not resume it: appending would mix two
    /// runs in one file.
    #[error("{path} already holds results: resume it, or name a new file")]
    ResultsExist {
        /// The result file.
        path: PathBuf,
    },
    /// The result file's length changed between reading it for resuming and opening it to
    /// append.
    #[error("{path} changed while it was being read; is another run writing to it?")]
    ChangedWhileReading {
        /// The result file.
        path: PathBuf,
    },
    /// A complete line of the result file to resume is not a record mgr writes
    /// ([`record`]).
    #[error("{path} line {line} is not a result of mgr-cli classify ({reason})")]
    NotAResultFile {
        /// The result file.
        path: PathBuf,
        /// The line (1-based; for CSV, the record's position counting the header as 1).
        line: usize,
        /// What is wrong with it (JSON parse error, missing `"path"`, other CSV columns, …).
        reason: String,
    },
    /// The result file to resume holds results of another model: the two would not compare.
    #[error("{path} line {line} holds results of model {found}, not of {model}: resume with that model or name a new file")]
    OtherModel {
        /// The result file.
        path: PathBuf,
        /// The model named on that line.
        found: String,
        /// The model of this run ([`Model::name`]).
        model: String,
        /// The line (1-based).
        line: usize,
    },
    /// The result file to resume was written with other timeline settings (or without a
    /// timeline): its records would not match this run's.
    #[error("{path} line {line} holds results {found}, not {wanted}: resume with the same timeline settings or name a new file")]
    OtherTimeline {
        /// The result file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The settings that line was written with.
        found: String,
        /// This run's settings.
        wanted: String,
    },
}

/// The append-only result file of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultsFile {
    /// Where the results go (created if missing).
    pub path: PathBuf,
    /// JSON Lines or CSV ([`record`]).
    pub format: Format,
    /// Continue the file: skip songs it holds (same path, size and mtime).
    pub resume: bool,
}

/// Everything a library run does.
#[derive(Debug, Clone)]
pub struct LibraryJob {
    /// Files and folders, in the order given.
    pub roots: Vec<PathBuf>,
    /// Hidden files and symbolic links in the walk.
    pub walk: WalkOptions,
    /// Analyse only this shard of the walk (`None`: every file).
    pub shard: Option<Shard>,
    /// The result file to append to (`None`: results go only to the [`Observer`]).
    pub results: Option<ResultsFile>,
    /// Per-frame scores in the results.
    pub per_frame: bool,
    /// Write the top genre into the files' tags.
    pub tags: Option<TagOptions>,
    /// How a genre timeline (asked for by `pipeline.timeline`) becomes segments.
    pub segments: SegmentConfig,
    /// Resampler, framing, batch and threads of the analysis.
    pub pipeline: PipelineConfig,
}

impl LibraryJob {
    /// The timeline the results carry, if the run makes one.
    pub fn timeline(&self) -> Option<TimelineSettings> {
        self.pipeline.timeline.map(|windows| TimelineSettings {
            windows,
            segments: self.segments,
        })
    }
}

/// What the run is about to do, once the tree is walked.
#[derive(Debug, Clone, Default)]
pub struct RunPlan {
    /// What the walk found and skipped (`files` left empty: they
    /// are counted in `listed`).
    pub walk: Walk,
    /// Audio files the walk found (before `--shard`): 0 when the paths hold none.
    pub found: usize,
    /// Files in this shard (all files without `--shard`).
    pub listed: usize,
    /// Files skipped because the result file has them.
    pub already_done: usize,
    /// Files to analyse now.
    pub todo: usize,
    /// Files left out because they have a genre tag (`--only-untagged`).
    pub already_tagged: usize,
}

/// One finished song, as the [`Observer`] sees it.
#[derive(Debug)]
pub struct SongOutcome<'a> {
    /// Position in the (sharded) walk order: sort by it to print in order.
    pub index: usize,
    /// The audio file.
    pub path: &'a Path,
    /// Its scores, or why it could not be analysed.
    pub result: &'a Result<SongScores, Error>,
    /// What happened to the file's tags (with `--write-tags`).
    pub tags: Option<&'a Result<String, TagError>>,
}

impl SongOutcome<'_> {
    /// What happened to the tags, as one line (`error: …` for a failure).
    pub fn tags_text(&self) -> Option<String> {
        self.tags.map(|t| match t {
            Ok(s) => s.clone(),
            Err(e) => format!("error: {e}"),
        })
    }
}

/// Receives the run's events; called on the run's finisher thread.
pub trait Observer: Send {
    /// The tree is walked and the work is known.
    fn start(&mut self, _plan: &RunPlan) {}
    /// A song is done (result file written first).
    fn song(&mut self, _song: &SongOutcome<'_>, _progress: &Counters) {}
    /// Twice a second while no song is done (a long recording): how far the run is.
    fn tick(&mut self, _progress: &Counters) {}
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// What the run set out to do.
    pub plan: RunPlan,
    /// Songs finished in this run (results and errors).
    pub finished: usize,
    /// Songs that failed.
    pub failed: usize,
    /// Files whose tags could not be written.
    pub tag_failures: usize,
    /// Stopped by the cancel flag before the end.
    pub cancelled: bool,
}

/// Walk, shard, skip what the result file has, analyse the rest with all cores, write tags
/// and results as each song finishes. `cancel` stops it cleanly (songs in flight are lost,
/// the result file stays whole).
pub fn run(
    job: &LibraryJob,
    model: &Model,
    cancel: &AtomicBool,
    observer: &mut dyn Observer,
) -> Result<RunReport, LibraryError> {
    let mut walked = walk::walk(&job.roots, job.walk);
    let files = std::mem::take(&mut walked.files);
    let found = files.len();
    let (files, already_tagged) = select(job, files);
    let listed = files.len();
    let labels = model.labels();
    // Identity of every file (only needed for a result file).
    let mut todo: Vec<(usize, PathBuf, Option<FileId>)> = files
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let id = job.results.as_ref().and_then(|_| FileId::of(&p));
            (i, p, id)
        })
        .collect();
    let mut writer = None;
    if let Some(r) = &job.results {
        let index = if r.resume {
            let timeline = job.timeline();
            Some(ResumeIndex::load(
                &r.path,
                r.format,
                model.name(),
                labels,
                timeline.as_ref(),
            )?)
        } else {
            None
        };
        if let Some(index) = &index {
            todo.retain(|(_, p, id)| !index.is_done(p, *id));
        }
        writer = Some(RecordWriter::open(
            &r.path,
            r.format,
            index.as_ref(),
            model.name(),
            labels,
            job.pipeline.timeline.is_some(),
        )?);
    }
    let plan = RunPlan {
        walk: walked,
        found,
        listed,
        already_done: listed - todo.len(),
        todo: todo.len(),
        already_tagged,
    };
    observer.start(&plan);
    let progress = Counters::default();
    let paths: Vec<&Path> = todo.iter().map(|(_, p, _)| p.as_path()).collect();
    let mut report = RunReport {
        plan,
        ..RunReport::default()
    };
    let mut fatal = None;
    let (tx, rx) = channel::<(usize, Result<SongScores, Error>)>();
    let stream = Pipeline::new(model, job.pipeline.clone());
    let ended = AtomicBool::new(false);
    let summary = std::thread::scope(|s| {
        let finisher = s.spawn(|| {
            let finisher = Finisher {
                job,
                model,
                writer: writer.as_mut(),
                observer,
                progress: &progress,
                finished: 0,
                failed: 0,
                tag_failures: 0,
            };
            finisher.receive(rx, &todo, cancel)
        });
        s.spawn(|| look_up_lengths(&paths, &progress, cancel, &ended));
        let summary = stream.run_with_progress(&paths, cancel, &progress, |k, r| {
            let _ = tx.send((k, r));
        });
        drop(tx);
        ended.store(true, Ordering::Relaxed);
        let (counts, error) = match finisher.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (report.finished, report.failed, report.tag_failures) = counts;
        fatal = error;
        summary
    });
    if let Some(e) = fatal {
        return Err(e);
    }
    report.cancelled = summary.cancelled || cancel.load(Ordering::Relaxed);
    Ok(report)
}

/// The files of this shard (`--shard`), without those that have a genre tag when only
/// untagged songs are wanted (`--only-untagged`); and how many the second left out.
fn select(job: &LibraryJob, mut files: Vec<PathBuf>) -> (Vec<PathBuf>, usize) {
    if let Some(shard) = job.shard {
        files = shard.select(files);
    }
    let before = files.len();
    if job.tags.is_some_and(|t| t.only_untagged) {
        files.retain(|p| !crate::dataset::tagged::has_genre(p));
    }
    let left_out = before - files.len();
    (files, left_out)
}

/// Tags, result file and observer for each finished song.
struct Finisher<'a> {
    job: &'a LibraryJob,
    model: &'a Model,
    writer: Option<&'a mut RecordWriter>,
    observer: &'a mut dyn Observer,
    progress: &'a Counters,
    finished: usize,
    failed: usize,
    tag_failures: usize,
}

/// How often the observer hears of the progress while no song finishes (a long file).
const TICK: Duration = Duration::from_millis(500);

/// Each file's length as its header announces it, for the progress estimate
/// ([`Counters::expected_audio_seconds`]): a header read, nothing decoded (Ogg files and
/// others whose length is not in a header count at the mean). Stops when the run ends or is
/// cancelled.
fn look_up_lengths(paths: &[&Path], progress: &Counters, cancel: &AtomicBool, ended: &AtomicBool) {
    for path in paths {
        if cancel.load(Ordering::Relaxed) || ended.load(Ordering::Relaxed) {
            return;
        }
        progress.add_announced(header_seconds(path));
    }
}

/// What a finisher did: (finished, failed, tag failures), and the error that stopped it.
type Finished = ((usize, usize, usize), Option<LibraryError>);

impl Finisher<'_> {
    fn counts(&self) -> (usize, usize, usize) {
        (self.finished, self.failed, self.tag_failures)
    }

    /// Finish each song as it is delivered, until the pipeline is done or `cancel`; while
    /// none comes, the observer hears how far the run is every [`TICK`].
    fn receive(
        mut self,
        rx: Receiver<(usize, Result<SongScores, Error>)>,
        todo: &[(usize, PathBuf, Option<FileId>)],
        cancel: &AtomicBool,
    ) -> Finished {
        loop {
            let (k, result) = match rx.recv_timeout(TICK) {
                Ok(song) => song,
                Err(RecvTimeoutError::Timeout) => {
                    self.observer.tick(self.progress);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            if cancel.load(Ordering::Relaxed) {
                break; // in-flight songs are dropped; resume redoes them
            }
            let (index, path, id) = &todo[k];
            if let Err(e) = self.song(*index, path, *id, result) {
                cancel.store(true, Ordering::Relaxed);
                return (self.counts(), Some(e));
            }
        }
        (self.counts(), None)
    }

    fn song(
        &mut self,
        index: usize,
        path: &Path,
        mut id: Option<FileId>,
        result: Result<SongScores, Error>,
    ) -> Result<(), LibraryError> {
        let labels = self.model.labels();
        let tags = match (&result, self.job.tags) {
            (Ok(song), Some(options)) => {
                // The scores field is only built when it is to be written.
                let scores = options
                    .scores
                    .then(|| tags::scores_value(self.model.name(), labels, song));
                let best = song.by_mean();
                let name = crate::model::meta::display_names(self.model.metadata(), labels)
                    .map_or_else(|| tags::genre_name(&labels[best]), |d| d[best].clone());
                let outcome = tags::write_genre_named(path, name, scores.as_deref(), options);
                if outcome
                    .as_ref()
                    .is_ok_and(|p| options.apply && p.action == tags::TagAction::Change)
                    && id.is_some()
                {
                    // The result describes the file as it is now, so that resume matches it.
                    id = FileId::of(path);
                }
                Some(outcome.map(|p| p.describe(options.apply)))
            }
            _ => None,
        };
        if let Some(Err(_)) = &tags {
            self.tag_failures += 1;
        }
        let outcome = SongOutcome {
            index,
            path,
            result: &result,
            tags: tags.as_ref(),
        };
        if let Some(w) = self.writer.as_deref_mut() {
            let error_text = result.as_ref().err().map(|e| e.to_string());
            let tags_text = outcome.tags_text();
            let record = Record {
                path,
                result: result
                    .as_ref()
                    .map_err(|_| error_text.as_deref().unwrap_or_default()),
                labels,
                per_frame: self.job.per_frame,
                tags: tags_text.as_deref(),
                timeline: self.job.timeline(),
            };
            w.write(&record, id)?;
        }
        self.finished += 1;
        if result.is_err() {
            self.failed += 1;
        }
        self.observer.song(&outcome, self.progress);
        Ok(())
    }
}

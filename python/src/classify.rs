//! `mgr.classify`: the library workflow of `mgr-cli classify` (`mgr_core::library::run`: the
//! walk, then the streaming pipeline on every core) on a thread of its own, its songs handed
//! to Python one by one as they finish.
//!
//! ```text
//!  classify() ─ load model, start ─► run thread: library::run ─► Observer ─► channel
//!  Python: for song in …: __next__ waits on the channel with the GIL released, checking for
//!          signals every 50 ms; a KeyboardInterrupt (or close(), or the iterator dropped)
//!          sets the cancel flag: the pipeline stops before its next file and batch
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mgr_core::error::IoError;
use mgr_core::library::record::Record;
use mgr_core::library::walk::WalkOptions;
use mgr_core::library::{self, LibraryError, LibraryJob, Observer, RunPlan, SongOutcome};
use mgr_core::model::Model;
use mgr_core::pipeline::PipelineConfig;
use mgr_core::progress::Counters;
use mgr_core::resample::ResamplerKind;
use mgr_core::timeline::{SegmentConfig, TimelineConfig, TimelineSettings};
use pyo3::exceptions::{PyRuntimeWarning, PyValueError};
use pyo3::prelude::*;

use crate::audio::parse_option;
use crate::errors::{unwound, ToPyErr};
use crate::json::from_text;
use crate::model::ModelArg;

/// How often a waiting `__next__` looks for signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// What the run thread sends to the iterator.
enum Event {
    /// A warning of the walk (a loop, an unreadable folder).
    Note(String),
    /// One song's JSON object.
    Song(String),
}

/// The run thread's end: the library's verdict, or a panic's payload.
type RunEnd = std::thread::Result<Result<(), LibraryError>>;

/// Files or folders as a Python argument: one, or a list.
#[derive(FromPyObject)]
pub enum Paths {
    /// One file or folder.
    One(PathBuf),
    /// Several, in this order.
    Many(Vec<PathBuf>),
}

impl Paths {
    /// The paths, in order.
    pub fn into_vec(self) -> Vec<PathBuf> {
        match self {
            Self::One(p) => vec![p],
            Self::Many(v) => v,
        }
    }
}

/// `timeline=`: off, on (windows every 29.12 s), or the hop in seconds.
#[derive(FromPyObject)]
pub enum TimelineArg {
    /// `True` / `False`.
    Flag(bool),
    /// Seconds between window starts.
    Hop(f64),
}

impl TimelineArg {
    fn config(&self) -> PyResult<Option<TimelineConfig>> {
        match *self {
            Self::Flag(false) => Ok(None),
            Self::Flag(true) => Ok(Some(TimelineConfig::default())),
            Self::Hop(hop) if hop.is_finite() && hop > 0.0 => Ok(Some(TimelineConfig { hop })),
            Self::Hop(hop) => Err(PyValueError::new_err(format!(
                "timeline={hop}: the hop must be a positive number of seconds"
            ))),
        }
    }
}

/// Genre (or tags) of every song in files and folders, on every core, as songs finish.
///
/// Runs what ``mgr-cli classify`` runs: folders are walked (sorted; hidden files skipped;
/// symbolic links followed), every file goes through the multiframe pipeline, and each song
/// is yielded as soon as its last frame is scored — in completion order, not walk order. The
/// work happens with the GIL released: other Python threads run meanwhile. Ctrl-C
/// (``KeyboardInterrupt``) stops the run cleanly; so does ``close()`` or dropping the
/// iterator.
///
/// Args:
///     paths_or_folder: a file or folder, or a list of them.
///     model: ``"gtzan"`` (default), ``"crnn"``, ``"fcn"``, a model file, or an
///         :class:`mgr.Model`.
///     threads: front-end worker threads and the network's pool (default: all cores).
///     batch: frames per forward pass (default 8 on the CPU, 64 on a GPU; the scores do not
///         depend on it).
///     timeline: also score 29.12 s windows over each whole recording (``True``: every
///         29.12 s; a number: the hop in seconds), under ``"timeline"``, and the runs of one
///         genre under ``"segments"`` (as ``mgr-cli classify --timeline --json``).
///     resampler: ``"reference"`` (exact published inputs) or ``"fast"``.
///     per_frame: also give the majority vote (``"vote"``) and every frame's scores
///         (``"frame_scores"``).
///     device: ``"cpu"``, or ``"cuda"`` / ``"metal"`` in a build with that support.
///
/// Yields:
///     dict: the object ``mgr-cli classify --json`` prints for the song — ``path``, ``label``
///     (the top genre by the mean score), ``scores`` (label → mean score, 4 decimals),
///     ``frames`` — or ``{"path", "error"}`` for a file that could not be analysed.
///
/// Raises:
///     FileNotFoundError: a path that does not exist (checked before the run starts).
///     mgr.ModelError, mgr.DeviceError: the model cannot be loaded.
#[pyfunction]
#[pyo3(signature = (
    paths_or_folder, model = ModelArg::Named(PathBuf::from("gtzan")), threads = None,
    batch = None, timeline = TimelineArg::Flag(false), resampler = "reference",
    per_frame = false, device = "cpu"
))]
#[allow(clippy::too_many_arguments)] // Python keyword arguments, each with its default.
pub fn classify(
    py: Python<'_>,
    paths_or_folder: Paths,
    model: ModelArg,
    threads: Option<usize>,
    batch: Option<usize>,
    timeline: TimelineArg,
    resampler: &str,
    per_frame: bool,
    device: &str,
) -> PyResult<Classification> {
    let roots = paths_or_folder.into_vec();
    for root in &roots {
        std::fs::metadata(root)
            .map_err(IoError::read(root))
            .map_err(|e| e.to_py())?;
    }
    let resampler: ResamplerKind = parse_option("resampler", resampler)?;
    let timeline = timeline.config()?;
    let model = model.load(py, device)?;
    let pool = thread_pool(threads)?;
    let workers = pool
        .as_ref()
        .map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
    let job = LibraryJob {
        roots,
        walk: WalkOptions::default(),
        shard: None,
        results: None,
        per_frame,
        tags: None,
        segments: SegmentConfig::default(),
        pipeline: PipelineConfig {
            resampler,
            batch: batch
                .unwrap_or_else(|| mgr_core::pipeline::default_batch(model.device()))
                .max(1),
            workers,
            timeline,
            ..PipelineConfig::for_device(model.device())
        },
    };
    Ok(Classification::start(job, model, pool))
}

/// A rayon pool of `threads` threads (`None`: the global pool, all cores).
pub fn thread_pool(threads: Option<usize>) -> PyResult<Option<rayon::ThreadPool>> {
    match threads {
        None => Ok(None),
        Some(0) => Err(PyValueError::new_err("threads must be at least 1")),
        Some(n) => rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .map(Some)
            .map_err(|e| {
                crate::errors::Class::Compute.err(format!("cannot start {n} threads: {e}"))
            }),
    }
}

/// The songs of a running :func:`mgr.classify`, as they finish (an iterator of dicts).
#[pyclass(module = "mgr")]
pub struct Classification {
    /// `None` once the run is over (a `Mutex` only because a Python object must be `Sync`;
    /// `&mut self` reaches it without locking).
    events: Mutex<Option<Receiver<Event>>>,
    cancel: Arc<AtomicBool>,
    run: Option<JoinHandle<RunEnd>>,
}

impl Classification {
    fn start(job: LibraryJob, model: Arc<Model>, pool: Option<rayon::ThreadPool>) -> Self {
        let (tx, rx) = channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&cancel);
        let run = std::thread::spawn(move || {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut forward = Forward {
                    tx,
                    model: &model,
                    cancel: &flag,
                    per_frame: job.per_frame,
                    timeline: job.pipeline.timeline.map(|windows| TimelineSettings {
                        windows,
                        segments: job.segments,
                    }),
                };
                let mut go = || library::run(&job, &model, &flag, &mut forward).map(|_| ());
                match &pool {
                    Some(pool) => pool.install(go),
                    None => go(),
                }
            }))
        });
        Self {
            events: Mutex::new(Some(rx)),
            cancel,
            run: Some(run),
        }
    }

    fn events(&mut self) -> &mut Option<Receiver<Event>> {
        self.events.get_mut().unwrap_or_else(|e| e.into_inner())
    }

    /// Stop the run (if it is still going) and wait for its thread, GIL released; the run's
    /// own failure, if any.
    fn finish(&mut self, py: Python<'_>, cancel: bool) -> PyResult<()> {
        if cancel {
            self.cancel.store(true, Ordering::SeqCst);
        }
        *self.events() = None;
        let Some(run) = self.run.take() else {
            return Ok(());
        };
        match py.detach(|| run.join()) {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(e.to_py()),
            Ok(Err(payload)) | Err(payload) => Err(unwound(payload)),
        }
    }
}

#[pymethods]
impl Classification {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        loop {
            let Some(rx) = self.events().take() else {
                return Ok(None);
            };
            let (rx, event) = py.detach(move || {
                let event = rx.recv_timeout(SIGNAL_POLL);
                (rx, event)
            });
            *self.events() = Some(rx);
            if let Err(e) = py.check_signals() {
                // Ctrl-C: stop the run, then let the KeyboardInterrupt through.
                let _ = self.finish(py, true);
                return Err(e);
            }
            match event {
                Ok(Event::Song(text)) => return from_text(py, &text).map(Some),
                Ok(Event::Note(line)) => warn(py, &line)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    self.finish(py, false)?;
                    return Ok(None);
                }
            }
        }
    }

    /// Stop the run: songs in flight are dropped; the iterator ends.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.finish(py, true)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        _args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<bool> {
        self.finish(py, true)?;
        Ok(false)
    }
}

impl Drop for Classification {
    fn drop(&mut self) {
        // Dropped unfinished (a `break` out of the loop): stop the run; its thread ends on
        // its own before its next file or batch.
        self.cancel.store(true, Ordering::SeqCst);
    }
}

fn warn(py: Python<'_>, line: &str) -> PyResult<()> {
    let message = std::ffi::CString::new(line.replace('\0', " "))
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    PyErr::warn(py, &py.get_type::<PyRuntimeWarning>(), &message, 1)
}

/// The run's observer: every song as its JSON text through the channel.
struct Forward<'a> {
    tx: Sender<Event>,
    model: &'a Model,
    cancel: &'a AtomicBool,
    per_frame: bool,
    /// The run's timeline settings: its songs carry windows and segments.
    timeline: Option<TimelineSettings>,
}

impl Forward<'_> {
    fn send(&self, event: Event) {
        if self.tx.send(event).is_err() {
            // Nobody iterates any more.
            self.cancel.store(true, Ordering::SeqCst);
        }
    }
}

impl Observer for Forward<'_> {
    fn start(&mut self, plan: &RunPlan) {
        for note in &plan.walk.notes {
            self.send(Event::Note(note.to_string()));
        }
    }

    fn song(&mut self, song: &SongOutcome<'_>, _progress: &Counters) {
        let labels = self.model.labels();
        let error = song.result.as_ref().err().map(ToString::to_string);
        let record = Record {
            path: song.path,
            result: song
                .result
                .as_ref()
                .map_err(|_| error.as_deref().unwrap_or_default()),
            labels,
            per_frame: self.per_frame,
            tags: None,
            timeline: self.timeline,
        };
        self.send(Event::Song(record.json().to_string()));
    }
}

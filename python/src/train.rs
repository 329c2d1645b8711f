//! `mgr.finetune` and `mgr.evaluate`: the library's training and evaluation workflows
//! (`train::finetune::finetune`, `eval::run::gtzan`) with the CLI's options as keyword
//! arguments, their reports as dicts, and their progress reported to a Python object.

use std::path::PathBuf;
use std::sync::Mutex;

use mgr_core::dataset::artists::{ArtistSource, TrainArtists};
use mgr_core::dataset::split::SplitSpec;
use mgr_core::dataset::tagged::{LabelSource, TagLabels, DEFAULT_MIN_SONGS};
use mgr_core::eval::run::{gtzan, EvalConfig};
use mgr_core::model::{DeviceKind, ModelSpec};
use mgr_core::pipeline::DEFAULT_BATCH;
use mgr_core::progress::Progress;
use mgr_core::resample::ResamplerKind;
use mgr_core::train::experiment::ExperimentConfig;
use mgr_core::train::extract::ExtractConfig;
use mgr_core::train::finetune::{finetune as run_finetune, FinetuneConfig};
use mgr_core::train::optim::{OptimConfig, OptimizerKind};
use mgr_core::train::stack::StackConfig;
use mgr_core::train::top::{EpochReport, Init, TopConfig, TopTrainer, TrainFrom};
use mgr_core::train::{Balance, Strategy, TrainSpec};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyDictMethods};

use crate::audio::parse_option;
use crate::classify::{thread_pool, Paths};
use crate::errors::{py_err, released, Raised};
use crate::json::to_python;

/// The options `finetune` and `evaluate` share, with the CLI's defaults
/// (`cli/src/options.rs`: `RunOptions`, `TrainOptions`; pytest checks them against
/// `mgr-cli finetune --help`).
#[derive(Debug, Clone, serde::Serialize)]
struct Options {
    model: String,
    strategy: String,
    split: String,
    seed: u64,
    cache: Option<PathBuf>,
    artists: String,
    train_artists: String,
    labels: String,
    genre_map: Option<PathBuf>,
    min_songs: usize,
    balance: Option<String>,
    augment: usize,
    valid_per_genre: usize,
    resampler: String,
    batch: Option<usize>,
    device: String,
    threads: Option<usize>,
    stack_l2: f64,
    stack_kappa: f64,
    train_from: String,
    init: String,
    optimizer: String,
    lr: Option<f64>,
    momentum: f64,
    weight_decay: f64,
    batch_size: usize,
    epochs: usize,
    patience: usize,
    lr_patience: usize,
    dropout_conv: f32,
    dropout_out: f32,
    input_norm: bool,
}

impl Default for Options {
    fn default() -> Self {
        let stack = StackConfig::default();
        Self {
            model: "gtzan".into(),
            strategy: "stack".into(),
            split: "all".into(),
            seed: 0,
            cache: None,
            artists: "auto".into(),
            train_artists: "same".into(),
            labels: "folder".into(),
            genre_map: None,
            min_songs: DEFAULT_MIN_SONGS,
            balance: None,
            augment: 0,
            valid_per_genre: 1,
            resampler: "reference".into(),
            batch: None,
            device: "cpu".into(),
            threads: None,
            stack_l2: stack.l2,
            stack_kappa: stack.kappa,
            train_from: "gru1".into(),
            init: "msd".into(),
            optimizer: "adam".into(),
            lr: None,
            momentum: 0.9,
            weight_decay: 0.0,
            batch_size: 16,
            epochs: 300,
            patience: 10,
            lr_patience: 4,
            dropout_conv: 0.1,
            dropout_out: 0.3,
            input_norm: true,
        }
    }
}

/// Keyword arguments, taken one by one; any left over is a `TypeError`.
struct Kwargs<'py>(Option<Bound<'py, PyDict>>);

impl<'py> Kwargs<'py> {
    fn take<T>(&self, key: &str, into: &mut T) -> PyResult<()>
    where
        T: for<'a> FromPyObject<'a, 'py, Error = PyErr>,
    {
        if let Some(d) = &self.0 {
            if let Some(v) = d.get_item(key)? {
                if !v.is_none() || key_is_optional(key) {
                    *into = v.extract()?;
                }
                d.del_item(key)?;
            }
        }
        Ok(())
    }

    fn finish(self, function: &str) -> PyResult<()> {
        if let Some(d) = self.0 {
            if let Some((k, _)) = d.iter().next() {
                return Err(PyTypeError::new_err(format!(
                    "{function}() got an unexpected keyword argument {k}"
                )));
            }
        }
        Ok(())
    }
}

/// Options whose value may be `None` (the default chosen by the library).
fn key_is_optional(key: &str) -> bool {
    matches!(
        key,
        "cache" | "batch" | "threads" | "lr" | "balance" | "genre_map"
    )
}

impl Options {
    /// The defaults with `kwargs` applied; `split` is the function's own default.
    fn from_kwargs(kwargs: &Kwargs<'_>, split: &str) -> PyResult<Self> {
        let mut o = Self {
            split: split.into(),
            ..Self::default()
        };
        kwargs.take("model", &mut o.model)?;
        kwargs.take("strategy", &mut o.strategy)?;
        kwargs.take("split", &mut o.split)?;
        kwargs.take("seed", &mut o.seed)?;
        kwargs.take("cache", &mut o.cache)?;
        kwargs.take("artists", &mut o.artists)?;
        kwargs.take("train_artists", &mut o.train_artists)?;
        kwargs.take("labels", &mut o.labels)?;
        kwargs.take("genre_map", &mut o.genre_map)?;
        kwargs.take("min_songs", &mut o.min_songs)?;
        kwargs.take("balance", &mut o.balance)?;
        kwargs.take("augment", &mut o.augment)?;
        kwargs.take("valid_per_genre", &mut o.valid_per_genre)?;
        kwargs.take("resampler", &mut o.resampler)?;
        kwargs.take("batch", &mut o.batch)?;
        kwargs.take("device", &mut o.device)?;
        kwargs.take("threads", &mut o.threads)?;
        kwargs.take("stack_l2", &mut o.stack_l2)?;
        kwargs.take("stack_kappa", &mut o.stack_kappa)?;
        kwargs.take("train_from", &mut o.train_from)?;
        kwargs.take("init", &mut o.init)?;
        kwargs.take("optimizer", &mut o.optimizer)?;
        kwargs.take("lr", &mut o.lr)?;
        kwargs.take("momentum", &mut o.momentum)?;
        kwargs.take("weight_decay", &mut o.weight_decay)?;
        kwargs.take("batch_size", &mut o.batch_size)?;
        kwargs.take("epochs", &mut o.epochs)?;
        kwargs.take("patience", &mut o.patience)?;
        kwargs.take("lr_patience", &mut o.lr_patience)?;
        kwargs.take("dropout_conv", &mut o.dropout_conv)?;
        kwargs.take("dropout_out", &mut o.dropout_out)?;
        kwargs.take("input_norm", &mut o.input_norm)?;
        Ok(o)
    }

    fn strategy(&self) -> PyResult<Strategy> {
        parse_option("strategy", &self.strategy)
    }

    /// The training request (what `TrainOptions::spec` builds in the CLI).
    fn spec(&self, strategy: Strategy) -> PyResult<TrainSpec> {
        let kind: OptimizerKind = parse_option("optimizer", &self.optimizer)?;
        let balance = match &self.balance {
            Some(b) => Some(parse_option::<Balance>("balance", b)?),
            None => None,
        };
        let stack = StackConfig {
            l2: self.stack_l2,
            kappa: self.stack_kappa,
        };
        let top = TopConfig {
            train_from: parse_option::<TrainFrom>("train_from", &self.train_from)?,
            init: parse_option::<Init>("init", &self.init)?,
            optim: OptimConfig {
                kind,
                lr: self.lr.unwrap_or(kind.default_lr()),
                momentum: self.momentum,
                weight_decay: self.weight_decay,
            },
            batch_size: self.batch_size.max(1),
            epochs: self.epochs,
            patience: self.patience,
            lr_patience: self.lr_patience,
            dropout_seq: self.dropout_conv,
            dropout_out: self.dropout_out,
            input_norm: self.input_norm,
            seed: self.seed,
            // TrainSpec::new sets it for every strategy.
            balance: Balance::None,
        };
        Ok(TrainSpec::new(strategy, balance, stack, top))
    }

    /// The experiment (what `TrainOptions::experiment` builds in the CLI).
    fn experiment(&self, data: Vec<PathBuf>) -> PyResult<ExperimentConfig> {
        let split: SplitSpec =
            self.split
                .parse()
                .map_err(|e: mgr_core::dataset::DatasetError| {
                    PyValueError::new_err(format!("split: {e}"))
                })?;
        Ok(ExperimentConfig {
            data,
            artists: match self.artists.as_str() {
                "auto" => ArtistSource::Auto,
                "none" => ArtistSource::Off,
                path => ArtistSource::File(PathBuf::from(path)),
            },
            labels_from: match self.labels.as_str() {
                "folder" => LabelSource::Folder,
                "tags" => LabelSource::Tags(TagLabels {
                    genre_map: self.genre_map.clone(),
                    min_songs: self.min_songs.max(1),
                }),
                other => {
                    return Err(PyValueError::new_err(format!(
                        "labels: {other:?} is not one of folder, tags"
                    )))
                }
            },
            train_artists: parse_option::<TrainArtists>("train_artists", &self.train_artists)?,
            split,
            valid_per_genre: self.valid_per_genre,
            model: ModelSpec::from(self.model.as_str()),
            augment: self.augment,
            seed: self.seed,
            extract: ExtractConfig {
                resampler: parse_option::<ResamplerKind>("resampler", &self.resampler)?,
                batch: self.batch.unwrap_or(DEFAULT_BATCH).max(1),
                cache: self.cache.clone(),
            },
            device: parse_option::<DeviceKind>("device", &self.device)?,
        })
    }
}

/// Progress reports to a Python object (any of `begin(what, total)`, `advance(n)`,
/// `note(line)`, `end()`), notes to the `mgr` logger when it has no `note`. Every report
/// also looks for signals: a `KeyboardInterrupt` (or an exception the object raised) stops
/// the job there ([`Raised`]).
struct PyProgress {
    target: Option<Py<PyAny>>,
    on_epoch: Option<Py<PyAny>>,
    /// Set once a report failed; later reports do nothing.
    failed: Mutex<bool>,
}

impl PyProgress {
    fn report(
        &self,
        method: &str,
        args: impl for<'py> FnOnce(Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyTuple>>,
    ) {
        if *self.failed.lock().unwrap_or_else(|e| e.into_inner()) {
            return;
        }
        let result = Python::attach(|py| -> PyResult<()> {
            match &self.target {
                Some(t) if t.bind(py).hasattr(method)? => {
                    t.bind(py).call_method1(method, args(py)?)?;
                }
                _ if method == "note" => {
                    let line = args(py)?;
                    py.import("logging")?
                        .call_method1("getLogger", ("mgr",))?
                        .call_method1("info", ("%s", line.get_item(0)?))?;
                }
                _ => {}
            }
            py.check_signals()
        });
        if let Err(e) = result {
            *self.failed.lock().unwrap_or_else(|e| e.into_inner()) = true;
            std::panic::resume_unwind(Box::new(Raised(e)));
        }
    }

    fn epoch(&self, report: &EpochReport) {
        let Some(f) = &self.on_epoch else {
            return;
        };
        let result = Python::attach(|py| -> PyResult<()> {
            f.bind(py).call1((to_python(py, report)?,))?;
            py.check_signals()
        });
        if let Err(e) = result {
            std::panic::resume_unwind(Box::new(Raised(e)));
        }
    }
}

impl Progress for PyProgress {
    fn begin(&self, what: &str, total: usize) {
        self.report("begin", |py| {
            pyo3::types::PyTuple::new(
                py,
                [
                    what.into_pyobject(py)?.into_any(),
                    total.into_pyobject(py)?.into_any(),
                ],
            )
        });
    }

    fn advance(&self, n: usize) {
        self.report("advance", |py| pyo3::types::PyTuple::new(py, [n]));
    }

    fn note(&self, line: &str) {
        self.report("note", |py| pyo3::types::PyTuple::new(py, [line]));
    }

    fn end(&self) {
        self.report("end", |py| Ok(pyo3::types::PyTuple::empty(py)));
    }
}

/// Run `job` with the GIL released, in a pool of `threads` if asked.
fn run_job<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    job: impl FnOnce() -> PyResult<T> + Send,
) -> PyResult<T> {
    let pool = thread_pool(threads)?;
    released(py, || match &pool {
        Some(pool) => pool.install(job),
        None => job(),
    })
}

/// Learn the genres of GTZAN-style folders and write a model file (``mgr-cli finetune``).
///
/// The data: ``genres/<genre>/<file>``, ``genres_original/<genre>/<file>`` or
/// ``<genre>/<file>``; several folders are used together. The default recipe (``stack``)
/// learns on top of the published GTZAN CRNN and, trained on every song, reports its own
/// artist-grouped 5-fold cross-validation. The file loads with :class:`mgr.Model` and
/// :func:`mgr.classify`.
///
/// Args:
///     data: a data folder or a list of them.
///     out: the model file to write (safetensors).
///     progress: where progress goes: ``None`` (nowhere; notes to the ``mgr`` logger),
///         ``True`` (a tqdm bar), a callable ``f(stage, done, total)``, or an object with any
///         of ``begin(what, total)``, ``advance(n)``, ``note(line)``, ``end()``.
///     on_epoch: called with each epoch's numbers (a dict) of the ``finetune`` strategy.
///     resume: continue from the checkpoint ``<out>.ckpt``.
///     **options: the CLI's options, by their long names with ``_`` for ``-``: ``model``,
///         ``strategy`` (``stack``, ``features-softmax``, ``features-svm``, ``finetune``),
///         ``split`` (``all``, ``fault-filtered``, ``random``), ``seed``, ``cache`` (a folder
///         for cached activations), ``artists`` (``auto``, ``none`` or an index file),
///         ``augment``, ``valid_per_genre``, ``resampler``, ``batch``, ``device``,
///         ``threads``, ``stack_l2``, ``stack_kappa``, ``train_from``, ``init``,
///         ``optimizer``, ``lr``, ``momentum``, ``weight_decay``, ``batch_size``, ``epochs``,
///         ``patience``, ``lr_patience``, ``dropout_conv``, ``dropout_out``, ``input_norm``
///         (``mgr.train_defaults()`` lists them with their defaults; docs/training.md says
///         what each does).
///
/// Returns:
///     dict: the run's report — ``out``, ``genres``, ``train_songs``, ``train_examples``,
///     ``valid_songs``, ``validation_accuracy``, ``cross_validation``, ``resumed_epochs``,
///     ``seconds``, ``skipped``.
#[pyfunction]
#[pyo3(signature = (data, out, progress = None, on_epoch = None, resume = false, **options))]
pub fn finetune(
    py: Python<'_>,
    data: Paths,
    out: PathBuf,
    progress: Option<Py<PyAny>>,
    on_epoch: Option<Py<PyAny>>,
    resume: bool,
    options: Option<Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let kwargs = Kwargs(options.map(|d| d.copy()).transpose()?);
    let o = Options::from_kwargs(&kwargs, "all")?;
    kwargs.finish("finetune")?;
    let cfg = FinetuneConfig {
        experiment: o.experiment(data.into_vec())?,
        out,
        spec: o.spec(o.strategy()?)?,
        resume,
    };
    let progress = PyProgress {
        target: progress,
        on_epoch,
        failed: Mutex::new(false),
    };
    let report = run_job(py, o.threads, || {
        run_finetune(&cfg, &progress, &mut |r: &EpochReport, _: &TopTrainer| {
            progress.epoch(r)
        })
        .map_err(py_err)
    })?;
    to_python(py, &report)
}

/// Measure a model on GTZAN-style folders or a tagged library (``mgr-cli eval gtzan``).
///
/// Accuracy, per-genre precision, recall and F1, macro-F1 and the confusion matrix, at frame
/// and song level; artist-grouped where artists are known (Sturm's index beside the data, or
/// with ``labels="tags"`` the artist tags and ``Artist/Album/`` folders; the report's
/// ``"sources"`` counts each). With
/// ``train``, a classifier is trained on each fold's training part first; ``baselines`` adds
/// the MFCC baselines and the published GTZAN CRNN on the same folds.
///
/// Args:
///     data: a data folder or a list of them.
///     split: ``kfold:K`` (artist-grouped K folds; the default ``kfold:5``),
///         ``kfold-random:K``, ``all``, ``fault-filtered`` or ``random``.
///     train: a strategy to train per fold (``stack``, ``features-softmax``,
///         ``features-svm``, ``finetune``), or ``None`` to measure the model as it is.
///     baselines: any of ``"mfcc"``, ``"published"``.
///     progress: as for :func:`finetune`.
///     **options: as for :func:`finetune` (``model`` is the model measured, or the base of
///         the classifier trained per fold).
///
/// Returns:
///     dict: the report ``mgr-cli eval gtzan --json`` writes.
#[pyfunction]
#[pyo3(signature = (data, split = "kfold:5", train = None, baselines = Vec::new(), progress = None, **options))]
pub fn evaluate(
    py: Python<'_>,
    data: Paths,
    split: &str,
    train: Option<String>,
    baselines: Vec<String>,
    progress: Option<Py<PyAny>>,
    options: Option<Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    let kwargs = Kwargs(options.map(|d| d.copy()).transpose()?);
    let o = Options::from_kwargs(&kwargs, split)?;
    kwargs.finish("evaluate")?;
    for b in &baselines {
        if !matches!(b.as_str(), "mfcc" | "published") {
            return Err(PyValueError::new_err(format!(
                "baselines: {b:?} is not one of mfcc, published"
            )));
        }
    }
    let train = match train {
        Some(s) => Some(o.spec(parse_option("train", &s)?)?),
        None => None,
    };
    let cfg = EvalConfig {
        experiment: o.experiment(data.into_vec())?,
        train,
        mfcc_baseline: baselines.iter().any(|b| b == "mfcc"),
        published_baseline: baselines.iter().any(|b| b == "published"),
    };
    let progress = PyProgress {
        target: progress,
        on_epoch: None,
        failed: Mutex::new(false),
    };
    let report = run_job(py, o.threads, || gtzan(&cfg, &progress).map_err(py_err))?;
    to_python(py, &report)
}

/// The keyword options of :func:`finetune` and :func:`evaluate` with their defaults (the
/// CLI's).
///
/// Returns:
///     dict: option name → default value.
#[pyfunction]
pub fn train_defaults(py: Python<'_>) -> PyResult<Py<PyAny>> {
    to_python(py, &Options::default())
}

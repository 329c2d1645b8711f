//! `mgr.Model`: a loaded network (built in or a file `finetune` wrote) with its labels, run
//! on batches of log-mels for scores (`predict`) or for the activations the training recipes
//! learn from (`embed`).

use std::sync::Arc;

use mgr_core::model::net::head::{stack_features, Taps};
use mgr_core::model::{device, Architecture, DeviceKind, Model, ModelSpec};
use mgr_core::pipeline::{default_batch, FRAME_VALUES};
use numpy::{PyArray1, PyArray2, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::audio::{network_input, parse_option};
use crate::errors::{py_err, released};
use crate::json::to_python;

/// A model as a Python argument: a built-in name, a file, or a loaded `mgr.Model`.
#[derive(FromPyObject)]
pub enum ModelArg {
    /// Already loaded.
    Loaded(Py<PyModel>),
    /// `"gtzan"`, `"crnn"`, `"fcn"`, or a path.
    Named(std::path::PathBuf),
}

impl ModelArg {
    /// The loaded model (loading it, GIL released, if it was named).
    pub fn load(&self, py: Python<'_>, device_name: &str) -> PyResult<Arc<Model>> {
        match self {
            Self::Loaded(m) => Ok(Arc::clone(&m.get().model)),
            Self::Named(p) => load_spec(py, &spec_of(p), device_name),
        }
    }
}

fn spec_of(path: &std::path::Path) -> ModelSpec {
    match path.to_str() {
        Some(s) => ModelSpec::from(s),
        None => ModelSpec::File(path.to_path_buf()),
    }
}

fn load_spec(py: Python<'_>, spec: &ModelSpec, device_name: &str) -> PyResult<Arc<Model>> {
    let kind: DeviceKind = parse_option("device", device_name)?;
    released(py, || {
        let dev = device(kind).map_err(py_err)?;
        spec.load(&dev).map(Arc::new).map_err(py_err)
    })
}

/// Which activations `embed` returns.
#[derive(Debug, Clone, Copy)]
enum Layer {
    Features,
    Pooled,
    Logits,
    Stack,
}

impl Layer {
    const NAMES: &'static str = "features, pooled, logits, stack";

    fn parse(name: &str) -> PyResult<Self> {
        Ok(match name {
            "features" | "penultimate" => Self::Features,
            "pooled" => Self::Pooled,
            "logits" => Self::Logits,
            "stack" => Self::Stack,
            other => {
                return Err(PyValueError::new_err(format!(
                    "layer {other:?}: expected one of {}",
                    Self::NAMES
                )))
            }
        })
    }
}

/// A genre or tag model: one of the built-in networks or a safetensors file.
///
/// Args:
///     name_or_path: ``"gtzan"`` (Jiménez's GTZAN CRNN, 10 genres; the default),
///         ``"crnn"`` or ``"fcn"`` (Choi's taggers, 50 Million Song Dataset tags), or the
///         path of a model file (one ``mgr.finetune`` or ``mgr-cli finetune`` wrote).
///     device: ``"cpu"``, or ``"cuda"`` / ``"metal"`` in a build with that support.
///
/// Raises:
///     FileNotFoundError: no such model file.
///     mgr.ModelError: a file that is not in the layout of the published networks.
///     mgr.DeviceError: the device is not available.
#[pyclass(module = "mgr", name = "Model", frozen)]
pub struct PyModel {
    pub model: Arc<Model>,
    spec: String,
}

#[pymethods]
impl PyModel {
    #[new]
    #[pyo3(signature = (name_or_path = std::path::PathBuf::from("gtzan"), device = "cpu"))]
    fn new(py: Python<'_>, name_or_path: std::path::PathBuf, device: &str) -> PyResult<Self> {
        let spec = spec_of(&name_or_path);
        let model = load_spec(py, &spec, device)?;
        Ok(Self {
            model,
            spec: spec.to_string(),
        })
    }

    /// list[str]: the outputs' labels, in output order (the columns of :meth:`predict`).
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.model.labels().to_vec()
    }

    /// str: the model's short name from its metadata (``jimenez_crnn_gtzan``, …).
    #[getter]
    fn name(&self) -> &str {
        self.model.name()
    }

    /// str: ``"crnn"`` or ``"fcn"``.
    #[getter]
    fn architecture(&self) -> &'static str {
        match self.model.architecture() {
            Architecture::Crnn => "crnn",
            Architecture::Fcn => "fcn",
        }
    }

    /// dict | None: where a trained model came from (strategy, base model, data, split,
    /// validation; the ``provenance`` metadata ``finetune`` writes); ``None`` for the
    /// published networks.
    #[getter]
    fn provenance(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.model
            .provenance()
            .map(|p| to_python(py, &p))
            .transpose()
    }

    /// Scores of a batch of log-mels.
    ///
    /// Args:
    ///     mels: ``(n, 96, 1366)`` (or one ``(96, 1366)``) log-mels, e.g. from
    ///         :func:`mgr.frames`; any real dtype.
    ///     batch: frames per forward pass (default 8 on the CPU, 64 on a GPU; the scores do
    ///         not depend on it).
    ///
    /// Returns:
    ///     numpy.ndarray: float32, shape ``(n, len(labels))``: the network's outputs
    ///     (sigmoids; a stacked model's fused scores).
    #[pyo3(signature = (mels, batch = None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        mels: &Bound<'py, PyAny>,
        batch: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let (x, n) = network_input(mels)?;
        let batch = self.batch(batch);
        let model = &self.model;
        let rows = released(py, || model.predict(&x, batch).map_err(py_err))?;
        let width = model.labels().len();
        PyArray1::from_vec(py, rows.concat()).reshape([n, width])
    }

    /// Activations of a batch of log-mels: the features the training recipes learn from.
    ///
    /// Args:
    ///     mels: ``(n, 96, 1366)`` (or one ``(96, 1366)``) log-mels.
    ///     layer: ``"features"`` — the penultimate layer (the CRNN's second GRU, 32 values;
    ///         the FCN's last conv block, 256), the paper's "network as feature extractor";
    ///         ``"pooled"`` — the mean over mel and time of every conv block's channels
    ///         (CRNN 448, FCN 736); ``"logits"`` — the output layer before its sigmoid;
    ///         ``"stack"`` — pooled, features and logits side by side, what the default
    ///         ``stack`` recipe's regression reads (490 for the GTZAN CRNN).
    ///     batch: frames per forward pass (as in :meth:`predict`).
    ///
    /// Returns:
    ///     numpy.ndarray: float32, shape ``(n, width of the layer)``.
    #[pyo3(signature = (mels, layer = "features", batch = None))]
    fn embed<'py>(
        &self,
        py: Python<'py>,
        mels: &Bound<'py, PyAny>,
        layer: &str,
        batch: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let layer = Layer::parse(layer)?;
        let (x, n) = network_input(mels)?;
        let batch = self.batch(batch);
        let model = &self.model;
        let rows = released(py, || {
            let mut rows = Vec::with_capacity(n);
            for chunk in x.chunks(FRAME_VALUES * batch) {
                rows.extend(embed_batch(model, chunk, layer).map_err(py_err)?);
            }
            Ok(rows)
        })?;
        let width = rows.first().map_or(0, Vec::len);
        PyArray1::from_vec(py, rows.concat()).reshape([n, width])
    }

    fn __repr__(&self) -> String {
        format!(
            "mgr.Model({:?}: {}, {} labels)",
            self.spec,
            self.model.name(),
            self.model.labels().len()
        )
    }
}

impl PyModel {
    fn batch(&self, batch: Option<usize>) -> usize {
        batch
            .unwrap_or_else(|| default_batch(self.model.device()))
            .max(1)
    }
}

/// One forward pass, traced: the rows of `layer` for each frame of `logmels`.
fn embed_batch(model: &Model, logmels: &[f32], layer: Layer) -> mgr_core::Result<Vec<Vec<f32>>> {
    let x = model.input_tensor(logmels)?;
    let mut taps = Taps::default();
    model.forward_traced(&x, &mut |name, t| taps.observe(name, t))?;
    let rows = |t: Option<mgr_core::model::CandleTensor>| -> mgr_core::Result<Vec<Vec<f32>>> {
        match t {
            Some(t) => Ok(t
                .flatten_from(1)?
                .to_device(&mgr_core::model::CandleDevice::Cpu)?
                .to_vec2::<f32>()?),
            None => Err(mgr_core::Error::InvalidModel {
                name: model.name().to_string(),
                reason: "the network did not report that layer".into(),
            }),
        }
    };
    let features = taps.features.take();
    let logits = taps.logits.take();
    Ok(match layer {
        Layer::Features => rows(features)?,
        Layer::Logits => rows(logits)?,
        Layer::Pooled => rows(taps.pooled()?)?,
        Layer::Stack => {
            let (f, l, p) = (rows(features)?, rows(logits)?, rows(taps.pooled()?)?);
            p.iter()
                .zip(&f)
                .zip(&l)
                .map(|((p, f), l)| stack_features(p, f, l))
                .collect()
        }
    })
}

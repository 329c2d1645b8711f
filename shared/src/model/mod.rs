//! The networks: loading any safetensors file in the published layout, choosing the device,
//! and batched inference on log-mel frames.

pub mod conv;
pub mod crnn;
pub mod fcn;
mod gemm;
pub mod gru;
pub mod head;
pub mod layers;
pub mod meta;
pub mod winograd;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

/// Re-exported so callers need not depend on candle to hold a device.
pub use candle_core::Device as CandleDevice;
/// Re-exported tensor type.
pub use candle_core::Tensor as CandleTensor;
use candle_nn::VarBuilder;

use crate::config::{N_FRAMES, N_MELS};
use crate::error::{Error, Result};

pub use layers::{argmax, ConvKernels};

/// Which network family a weights file holds (decided by its tensor names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Choi's 5-layer FCN.
    Fcn,
    /// Choi's CRNN (4 conv + 2 GRU).
    Crnn,
}

/// Compute device selection for `--device cpu|cuda|metal`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceKind {
    #[default]
    Cpu,
    Cuda,
    Metal,
}

impl std::str::FromStr for DeviceKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda),
            "metal" => Ok(Self::Metal),
            other => Err(format!("unknown device {other:?} (cpu|cuda|metal)")),
        }
    }
}

/// The one place that turns a [`DeviceKind`] into a candle device.
///
/// A build with the CUDA libraries loaded at run time (feature `cuda-dynamic-loading`, made by
/// `bench/cuda/build.sh`) first checks that they can be loaded: cudarc panics on a missing one,
/// this returns [`Error::DeviceUnavailable`] naming it instead.
pub fn device(kind: DeviceKind) -> Result<Device> {
    let unavailable = |name: &str, e: candle_core::Error| {
        // One line: candle appends a backtrace when RUST_BACKTRACE is set.
        let e = match e {
            candle_core::Error::WithBacktrace { inner, .. } => *inner,
            e => e,
        };
        let reason = match e {
            candle_core::Error::NotCompiledWithCudaSupport => {
                "this build has no CUDA support (docs/gpu.md says how to build it)".into()
            }
            candle_core::Error::NotCompiledWithMetalSupport => {
                "this build has no Metal support (cargo feature `metal`)".into()
            }
            e => e.to_string(),
        };
        Error::DeviceUnavailable {
            device: name.into(),
            reason,
        }
    };
    match kind {
        DeviceKind::Cpu => Ok(Device::Cpu),
        DeviceKind::Cuda => {
            #[cfg(feature = "cuda-dynamic-loading")]
            cuda_libraries::check().map_err(|reason| Error::DeviceUnavailable {
                device: "cuda".into(),
                reason,
            })?;
            // cuDNN (and cuBLAS where asked) run float32 work on TF32 tensor cores on Ampere
            // and later unless told otherwise; TF32 keeps 10 mantissa bits and would move the
            // scores by ~1e-3. mgr promises the CPU's scores within 1e-4, so it asks for strict
            // float32, unless the user set the variable themselves.
            #[cfg(feature = "cudnn")]
            if std::env::var_os("NVIDIA_TF32_OVERRIDE").is_none() {
                std::env::set_var("NVIDIA_TF32_OVERRIDE", "0");
            }
            Device::new_cuda(0).map_err(|e| unavailable("cuda", e))
        }
        DeviceKind::Metal => Device::new_metal(0).map_err(|e| unavailable("metal", e)),
    }
}

/// Can the CUDA libraries that candle's CUDA device opens be loaded?
#[cfg(feature = "cuda-dynamic-loading")]
mod cuda_libraries {
    /// Whether cuDNN loads (builds with the `cudnn` feature run every convolution through it).
    #[cfg(feature = "cudnn")]
    #[allow(unsafe_code)]
    fn cudnn_present() -> bool {
        // SAFETY: as for the probes below.
        unsafe { cudarc::cudnn::sys::is_culib_present() }
    }

    #[cfg(not(feature = "cudnn"))]
    fn cudnn_present() -> bool {
        true
    }

    /// `Err` names every library that cannot be loaded, in words a user can act on.
    ///
    /// These are the libraries `CudaDevice::new` opens: the driver (context), cuBLAS (which
    /// needs cuBLASLt) and cuRAND. The probes are cudarc's own, with the same file names
    /// (`libcublas.so.13`, `libcublas.so`, …) as the loader that would otherwise panic.
    pub fn check() -> Result<(), String> {
        // SAFETY: each probe `dlopen`s the library (running its initialisers) and closes it,
        // which cudarc does anyway before its first call into it.
        #[allow(unsafe_code)]
        let present = unsafe {
            [
                cudarc::driver::sys::is_culib_present(),
                cudarc::cublas::sys::is_culib_present(),
                cudarc::cublaslt::sys::is_culib_present(),
                cudarc::curand::sys::is_culib_present(),
                cfg!(not(feature = "cudnn")) || cudnn_present(),
            ]
        };
        let names = [
            "libcuda (the NVIDIA driver's)",
            "libcublas",
            "libcublasLt",
            "libcurand",
            "libcudnn",
        ];
        let missing: Vec<&str> = names
            .into_iter()
            .zip(present)
            .filter(|(_, ok)| !ok)
            .map(|(name, _)| name)
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "cannot load {}; put the folders that hold the CUDA libraries on LD_LIBRARY_PATH \
             (docs/gpu.md)",
            missing.join(", ")
        ))
    }
}

/// Weights built into the library (MIT licensed; notices in `weights/`).
pub mod builtin {
    /// Jiménez & Marqués' CRNN fine-tuned to 10 GTZAN genres (the default genre model).
    pub const GTZAN_CRNN: &[u8] = include_bytes!("../../../weights/jimenez_crnn_gtzan.safetensors");
    /// Choi's CRNN music tagger, 50 Million Song Dataset tags.
    pub const MSD_CRNN: &[u8] = include_bytes!("../../../weights/choi_crnn_msd.safetensors");
    /// Choi's FCN music tagger, 50 Million Song Dataset tags.
    pub const MSD_FCN: &[u8] = include_bytes!("../../../weights/choi_fcn_msd.safetensors");
    /// MIT notice of the Choi weights.
    pub const LICENSE_CHOI: &str =
        include_str!("../../../weights/LICENSE-music-auto_tagging-keras.md");
    /// MIT notice of the Jiménez weights.
    pub const LICENSE_JIMENEZ: &str =
        include_str!("../../../weights/LICENSE-Music-Genre-Classification-with-Deep-Learning.txt");

    /// The safetensors bytes of a built-in model by its name ([`super::BUILTIN_NAMES`]).
    pub fn bytes(name: &str) -> Option<&'static [u8]> {
        match name {
            "gtzan" => Some(GTZAN_CRNN),
            "crnn" => Some(MSD_CRNN),
            "fcn" => Some(MSD_FCN),
            _ => None,
        }
    }
}

/// Features a stacked head reads from a network with `n_out` outputs: the conv blocks'
/// channels, the penultimate features and the logits.
fn expected_head_dims(is_crnn: bool, n_out: usize) -> usize {
    let blocks: usize = if is_crnn {
        crnn::CHANNELS.iter().sum()
    } else {
        fcn::CHANNELS.iter().sum()
    };
    let features = if is_crnn {
        crnn::GRU_UNITS
    } else {
        fcn::CHANNELS[fcn::CHANNELS.len() - 1]
    };
    blocks + features + n_out
}

/// Names of the built-in models, as accepted by [`Model::builtin`].
pub const BUILTIN_NAMES: [&str; 3] = ["gtzan", "crnn", "fcn"];

enum Net {
    Fcn(fcn::Fcn),
    Crnn(crnn::Crnn),
}

/// A loaded network with its labels and metadata.
pub struct Model {
    net: Net,
    /// A stacked head (`finetune --strategy stack`) on top of the network, if any.
    head: Option<head::StackHead>,
    name: String,
    labels: Vec<String>,
    metadata: HashMap<String, String>,
    device: Device,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.name)
            .field("architecture", &self.architecture())
            .field("labels", &self.labels.len())
            .finish()
    }
}

impl Model {
    /// One of the embedded models: `gtzan` (genre CRNN), `crnn` (MSD tags), `fcn` (MSD tags).
    pub fn builtin(name: &str, device: &Device) -> Result<Self> {
        let bytes = builtin::bytes(name).ok_or_else(|| Error::InvalidModel {
            name: name.into(),
            reason: format!(
                "no built-in model of that name ({})",
                BUILTIN_NAMES.join("|")
            ),
        })?;
        Self::from_bytes(bytes, name, device)
    }

    /// A built-in model by name, or else a safetensors file at that path.
    pub fn from_spec(spec: &str, device: &Device) -> Result<Self> {
        if BUILTIN_NAMES.contains(&spec) {
            Self::builtin(spec, device)
        } else {
            Self::load(Path::new(spec), device)
        }
    }

    /// Load a safetensors file in the published layout (e.g. one written by `mgr-cli finetune`).
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(&bytes, &path.display().to_string(), device)
    }

    /// Load from in-memory safetensors bytes; `name` is used in messages and as a fallback
    /// model name when the metadata has none.
    pub fn from_bytes(bytes: &[u8], name: &str, device: &Device) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidModel {
            name: name.into(),
            reason,
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| invalid(format!("not a safetensors file: {e}")))?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| invalid(e.to_string()))?;
        let n_out = tensors
            .get("output.bias")
            .ok_or_else(|| invalid("no tensor output.bias".into()))?
            .dims1()
            .map_err(|e| invalid(e.to_string()))?;
        let head = head::StackHead::from_tensors(|n| tensors.get(n).cloned(), n_out)
            .map_err(|e| invalid(e.to_string()))?;
        let n_labels = head.as_ref().map_or(n_out, head::StackHead::labels);
        let labels: Vec<String> = match metadata.get(meta::keys::LABELS) {
            Some(json) => serde_json::from_str(json)
                .map_err(|e| invalid(format!("metadata labels is not a JSON list: {e}")))?,
            None => (0..n_labels).map(|i| format!("class{i}")).collect(),
        };
        if labels.len() != n_labels {
            return Err(invalid(format!(
                "{} labels for {n_labels} outputs",
                labels.len()
            )));
        }
        let is_crnn = tensors.contains_key("gru1.w_ih");
        if let Some(h) = &head {
            let dims = expected_head_dims(is_crnn, n_out);
            if h.dims != dims {
                return Err(invalid(format!(
                    "the stacked head reads {} features, the network gives {dims}",
                    h.dims
                )));
            }
        }
        let eps: f64 = match metadata.get(meta::keys::BN_EPS) {
            Some(v) => v
                .parse()
                .map_err(|_| invalid(format!("bn_eps {v:?} is not a number")))?,
            None => 1e-5,
        };
        let tensors = tensors
            .into_iter()
            .map(|(k, v)| Ok((k, v.to_device(device)?)))
            .collect::<candle_core::Result<HashMap<_, _>>>()?;
        let vb = VarBuilder::from_tensors(tensors, DType::F32, device);
        let net = if is_crnn {
            crnn::Crnn::new(n_out, eps, vb).map(Net::Crnn)
        } else {
            fcn::Fcn::new(n_out, eps, vb).map(Net::Fcn)
        }
        .map_err(|e| invalid(e.to_string()))?;
        let model_name = metadata
            .get(meta::keys::MODEL)
            .map(|m| m.split_whitespace().next().unwrap_or(m).to_string())
            .unwrap_or_else(|| name.to_string());
        Ok(Self {
            net,
            head,
            name: model_name,
            labels,
            metadata,
            device: device.clone(),
        })
    }

    /// Run the conv blocks with `kernels`. [`ConvKernels::Generic`] on the CPU runs the code
    /// path of CUDA and Metal (candle's conv2d, ELU and max-pool instead of the fused CPU
    /// kernels, contiguity checked at every matrix product), so the CPU can test it.
    pub fn with_conv_kernels(mut self, kernels: ConvKernels) -> Self {
        match &mut self.net {
            Net::Fcn(n) => n.set_conv_kernels(kernels),
            Net::Crnn(n) => n.set_conv_kernels(kernels),
        }
        self
    }

    /// Short model name from the metadata (e.g. `jimenez_crnn_gtzan`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Output labels in output order.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Where a trained model came from (`None` for the published models).
    pub fn provenance(&self) -> Option<meta::Provenance> {
        meta::Provenance::from_metadata(&self.metadata)
    }

    /// The full `model` entry of the metadata (name and description), else the short name.
    pub fn description(&self) -> &str {
        self.metadata
            .get(meta::keys::MODEL)
            .map_or(self.name.as_str(), String::as_str)
    }

    /// All safetensors metadata (string → string).
    pub fn metadata(&self) -> &HashMap<String, String> {
        &self.metadata
    }

    /// FCN or CRNN.
    pub fn architecture(&self) -> Architecture {
        match self.net {
            Net::Fcn(_) => Architecture::Fcn,
            Net::Crnn(_) => Architecture::Crnn,
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Turn `n` row-major `[96, 1366]` log-mels (concatenated) into a `[n, 1, 96, 1366]` tensor.
    pub fn input_tensor(&self, logmels: &[f32]) -> Result<Tensor> {
        let per = N_MELS * N_FRAMES;
        let n = logmels.len() / per;
        if n == 0 || logmels.len() % per != 0 {
            return Err(Error::InvalidModel {
                name: self.name.clone(),
                reason: format!(
                    "input of {} values is not a multiple of 96 × 1366",
                    logmels.len()
                ),
            });
        }
        Ok(Tensor::from_slice(
            logmels,
            (n, 1, N_MELS, N_FRAMES),
            &self.device,
        )?)
    }

    /// Probabilities `[batch, n_labels]` for an input tensor `[batch, 1, 96, 1366]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match &self.head {
            None => self.forward_base(x, None),
            Some(_) => self.forward_traced(x, &mut |_, _| {}),
        }
    }

    /// Like [`Model::forward`], reporting every intermediate activation of the network to
    /// `tap` (a stacked head's output is the return value).
    pub fn forward_traced(&self, x: &Tensor, tap: &mut dyn FnMut(&str, &Tensor)) -> Result<Tensor> {
        let Some(head) = &self.head else {
            return self.forward_base(x, Some(tap));
        };
        let mut taps = head::Taps::default();
        let base = self.forward_base(
            x,
            Some(&mut |name: &str, t: &Tensor| {
                taps.observe(name, t);
                tap(name, t);
            }),
        )?;
        let rows = |t: Option<Tensor>| -> Result<Vec<Vec<f32>>> {
            let t = t.ok_or_else(|| Error::InvalidModel {
                name: self.name.clone(),
                reason: "the network did not report what the stacked head reads".into(),
            })?;
            Ok(t.flatten_from(1)?
                .to_device(&Device::Cpu)?
                .to_vec2::<f32>()?)
        };
        let features = rows(taps.features.take())?;
        let logits = rows(taps.logits.take())?;
        let pooled = rows(taps.pooled()?)?;
        let probs = rows(Some(base))?;
        let mut out = Vec::with_capacity(probs.len() * head.labels());
        for i in 0..probs.len() {
            let z = head::stack_features(&pooled[i], &features[i], &logits[i]);
            out.extend(head.scores(&z, &probs[i]));
        }
        Ok(Tensor::from_vec(
            out,
            (probs.len(), head.labels()),
            &self.device,
        )?)
    }

    fn forward_base(&self, x: &Tensor, tap: Option<&mut layers::Tap<'_>>) -> Result<Tensor> {
        Ok(match (&self.net, tap) {
            (Net::Fcn(n), None) => n.forward(x)?,
            (Net::Crnn(n), None) => n.forward(x)?,
            (Net::Fcn(n), Some(t)) => n.forward_traced(x, t)?,
            (Net::Crnn(n), Some(t)) => n.forward_traced(x, t)?,
        })
    }

    /// Penultimate features: FCN 256-d, CRNN the second GRU's 32-d output.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.net {
            Net::Fcn(n) => n.features(x)?,
            Net::Crnn(n) => n.features(x)?,
        })
    }

    /// Scores for `n` concatenated log-mels, run in batches of at most `batch` frames.
    pub fn predict(&self, logmels: &[f32], batch: usize) -> Result<Vec<Vec<f32>>> {
        let per = N_MELS * N_FRAMES;
        let mut out = Vec::with_capacity(logmels.len() / per);
        for chunk in logmels.chunks(per * batch.max(1)) {
            let probs = self.forward(&self.input_tensor(chunk)?)?;
            out.extend(probs.to_device(&Device::Cpu)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }
}

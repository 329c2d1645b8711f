//! Loading a model file: its tensors and metadata parsed once ([`Weights`]), checked against
//! the architecture they claim (labels, stacked head), and built into a [`Model`] on a device.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use super::net::{crnn, fcn, head};
use super::{meta, Architecture, ConvKernels};
use crate::error::{Error, Result};

/// The tensors (on the CPU) and string metadata of a safetensors file.
#[derive(Debug, Clone)]
pub struct Weights {
    /// Every tensor by its name in the file.
    pub tensors: HashMap<String, Tensor>,
    /// The file's metadata (string → string; [`meta::keys`]).
    pub metadata: HashMap<String, String>,
}

impl Weights {
    /// Parse safetensors bytes; `name` says which model in an error.
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidModel {
            name: name.into(),
            reason,
        };
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
            .map_err(|e| invalid(format!("not a safetensors file: {e}")))?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self { tensors, metadata })
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

pub(super) enum Net {
    Fcn(fcn::Fcn),
    Crnn(crnn::Crnn),
}

/// A loaded network with its labels and metadata.
pub struct Model {
    pub(super) net: Net,
    /// A stacked head (`finetune --strategy stack`) on top of the network, if any.
    pub(super) head: Option<head::StackHead>,
    pub(super) name: String,
    pub(super) labels: Vec<String>,
    pub(super) metadata: HashMap<String, String>,
    pub(super) device: Device,
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
    /// Load from in-memory safetensors bytes; `name` is used in messages and as a fallback
    /// model name when the metadata has none.
    pub fn from_bytes(bytes: &[u8], name: &str, device: &Device) -> Result<Self> {
        Self::from_weights(&Weights::parse(bytes, name)?, name, device)
    }

    /// Build the network from parsed weights (they stay usable, e.g. as a training base).
    pub fn from_weights(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidModel {
            name: name.into(),
            reason,
        };
        let (tensors, metadata) = (&weights.tensors, &weights.metadata);
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
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.to_device(device)?)))
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
            metadata: metadata.clone(),
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
}

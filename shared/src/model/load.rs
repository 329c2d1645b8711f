//! Loading a model file: its tensors and metadata parsed once ([`Weights`]), checked against
//! the architecture they claim (labels, stacked head), and built into a [`Model`] on a device.
//!
//! A model file is untrusted input (fine-tuned models travel between people): before anything
//! is built, [`Weights::parse`] bounds the header and the metadata ([`meta::check`]) and checks
//! that every tensor is float32 and finite, and [`Weights::validate`] checks the tensors
//! against each other: labels against outputs, a stacked head against its base network, the
//! BatchNorm variances and epsilon. The network's own constructors then check every tensor's
//! shape. A file that fails any check loads nothing.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use safetensors::tensor::Metadata;
use safetensors::{Dtype, SafeTensors};

use super::net::{crnn, fcn, head};
use super::{meta, Architecture, Builtin, ConvKernels};
use crate::error::{Error, Result};

/// Longest safetensors header (tensor index and metadata) read, in bytes: the metadata may
/// hold [`meta::MAX_BYTES`], the index of the published files takes 4 KB.
pub const MAX_HEADER_BYTES: usize = 2 << 20;

/// [`Error::InvalidModel`], its reason cut to one line: candle appends a backtrace to its
/// messages when `RUST_BACKTRACE` is set (what the `model` fuzz target found first).
fn invalid_model(name: &str, reason: String) -> Error {
    let reason = match reason.split_once('\n') {
        Some((line, _)) => line.to_string(),
        None => reason,
    };
    Error::InvalidModel {
        name: name.into(),
        reason,
    }
}

/// The tensors (on the CPU) and string metadata of a safetensors file.
#[derive(Debug, Clone)]
pub struct Weights {
    /// Every tensor by its name in the file.
    pub tensors: HashMap<String, Tensor>,
    /// The file's metadata (string → string; [`meta::keys`]).
    pub metadata: HashMap<String, String>,
}

impl Weights {
    /// Parse safetensors bytes; `name` says which model in an error. The header is at most
    /// [`MAX_HEADER_BYTES`], the metadata within [`meta::check`]'s limits, and every tensor
    /// float32 and finite (see [`check_values`]).
    pub fn parse(bytes: &[u8], name: &str) -> Result<Self> {
        let invalid = |reason: String| invalid_model(name, reason);
        let header = bytes
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
        if let Some(n) = header.filter(|&n| n > MAX_HEADER_BYTES as u64) {
            return Err(invalid(format!(
                "a header of {n} bytes (at most {MAX_HEADER_BYTES})"
            )));
        }
        let (n, index) = SafeTensors::read_metadata(bytes)
            .map_err(|e| invalid(format!("not a safetensors file: {e}")))?;
        let metadata = index.metadata().clone().unwrap_or_default();
        meta::check(&metadata).map_err(invalid)?;
        check_values(&bytes[8 + n..], &index).map_err(invalid)?;
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Self { tensors, metadata })
    }

    /// Check the tensors against each other and the metadata, without building anything
    /// (what [`Model::from_weights`] checks before it builds the network): the output layer,
    /// the labels against the outputs, a stacked head against its base network, the
    /// BatchNorm variances and epsilon.
    pub fn validate(&self, name: &str) -> Result<()> {
        self.layout(name).map(|_| ())
    }

    /// What the tensors and the metadata say the model is, checked.
    fn layout(&self, name: &str) -> Result<Layout> {
        let invalid = |reason: String| invalid_model(name, reason);
        let (tensors, metadata) = (&self.tensors, &self.metadata);
        let n_out = tensors
            .get("output.bias")
            .ok_or_else(|| invalid("no tensor output.bias".into()))?
            .dims1()
            .map_err(|e| invalid(format!("output.bias: {e}")))?;
        if n_out == 0 || n_out > meta::MAX_LABELS {
            return Err(invalid(format!(
                "{n_out} outputs (1 to {} allowed)",
                meta::MAX_LABELS
            )));
        }
        let head = head::StackHead::from_tensors(|n| tensors.get(n).cloned(), n_out)
            .map_err(|e| invalid(e.to_string()))?;
        let n_labels = head.as_ref().map_or(n_out, head::StackHead::labels);
        if n_labels == 0 || n_labels > meta::MAX_LABELS {
            return Err(invalid(format!(
                "a stacked head of {n_labels} labels (1 to {} allowed)",
                meta::MAX_LABELS
            )));
        }
        let labels = meta::labels(metadata)
            .map_err(invalid)?
            .unwrap_or_else(|| (0..n_labels).map(|i| format!("class{i}")).collect());
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
            self.check_head_base().map_err(invalid)?;
        }
        let eps: f64 = match metadata.get(meta::keys::BN_EPS) {
            Some(v) => v
                .parse()
                .ok()
                .filter(|e: &f64| *e > 0.0 && *e <= 1.0)
                .ok_or_else(|| invalid(format!("bn_eps {v:?} is not a number in (0, 1]")))?,
            None => 1e-5,
        };
        self.check_variances().map_err(invalid)?;
        Ok(Layout {
            n_out,
            is_crnn,
            head,
            labels,
            eps,
        })
    }

    /// A stacked head's base network is named in the metadata (`base_model`), and when that
    /// is a built-in network, the file's network is that one, tensor for tensor: the head was
    /// fitted to exactly its activations.
    fn check_head_base(&self) -> std::result::Result<(), String> {
        let base = self
            .metadata
            .get(meta::keys::BASE_MODEL)
            .ok_or("a stacked head without its base model (metadata base_model)")?;
        let short = base.split_whitespace().next().unwrap_or_default();
        let Some(builtin) = Builtin::ALL.into_iter().find(|b| b.model_name() == short) else {
            // The base is a user's own model: only the head's shape can be checked.
            return Ok(());
        };
        let published =
            Weights::parse(builtin.bytes(), builtin.name()).map_err(|e| e.to_string())?;
        let mut names: Vec<&String> = published.tensors.keys().collect();
        names.sort();
        for n in names {
            let same = self
                .tensors
                .get(n)
                .is_some_and(|t| same_values(t, &published.tensors[n]));
            if !same {
                return Err(format!(
                    "the stacked head's base model is {short}, but tensor {n} is not {short}'s"
                ));
            }
        }
        Ok(())
    }

    /// Every BatchNorm's running variance is at least 0 (a negative one makes every score
    /// NaN through the square root).
    fn check_variances(&self) -> std::result::Result<(), String> {
        let mut names: Vec<&String> = self
            .tensors
            .keys()
            .filter(|n| n.ends_with(".running_var"))
            .collect();
        names.sort();
        for n in names {
            let v = self.tensors[n]
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|e| format!("{n}: {e}"))?;
            if let Some(x) = v.iter().find(|x| **x < 0.0) {
                return Err(format!("tensor {n} holds a negative variance ({x})"));
            }
        }
        Ok(())
    }
}

/// Same shape and the same values, bit for bit.
fn same_values(a: &Tensor, b: &Tensor) -> bool {
    let bits = |t: &Tensor| {
        t.flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map(|v| v.into_iter().map(f32::to_bits).collect::<Vec<_>>())
    };
    a.dims() == b.dims() && matches!((bits(a), bits(b)), (Ok(x), Ok(y)) if x == y)
}

/// Every tensor is float32 (what the published layout and `finetune` store) and finite; the
/// one exception is `head.bias`, where −∞ marks a label without training songs. The first
/// tensor that breaks the rule, in file order, is named. `data` is the file after its header.
fn check_values(data: &[u8], index: &Metadata) -> std::result::Result<(), String> {
    // An f32 is NaN or ±∞ exactly when its 8 exponent bits are all set.
    const EXP: u32 = 0x7f80_0000;
    for name in index.offset_keys() {
        let Some(info) = index.info(&name) else {
            continue;
        };
        if info.dtype != Dtype::F32 {
            return Err(format!("tensor {name} is {:?}, not F32", info.dtype));
        }
        let (start, end) = info.data_offsets;
        let words = data[start..end]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        // Blocks of 1024 values without a branch per value (the compiler vectorises the
        // fold): 0.3 ms for the 870,000 values of the FCN.
        let suspect = data[start..end].chunks(4096).any(|block| {
            block.chunks_exact(4).fold(false, |any, c| {
                any | (u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & EXP == EXP)
            })
        });
        if !suspect {
            continue;
        }
        let minus_inf_allowed = name == head::names::BIAS;
        for (i, w) in words.enumerate() {
            let v = f32::from_bits(w);
            if w & EXP == EXP && !(minus_inf_allowed && v == f32::NEG_INFINITY) {
                return Err(format!(
                    "tensor {name} holds {v} (value {i} of {})",
                    (end - start) / 4
                ));
            }
        }
    }
    Ok(())
}

/// A model file's checked description: what [`Model::from_weights`] builds.
struct Layout {
    n_out: usize,
    is_crnn: bool,
    head: Option<head::StackHead>,
    labels: Vec<String>,
    eps: f64,
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

    /// Build the network from parsed weights (they stay usable, e.g. as a training base),
    /// after [`Weights::validate`]'s checks.
    pub fn from_weights(weights: &Weights, name: &str, device: &Device) -> Result<Self> {
        let invalid = |reason: String| invalid_model(name, reason);
        let Layout {
            n_out,
            is_crnn,
            head,
            labels,
            eps,
        } = weights.layout(name)?;
        let metadata = &weights.metadata;
        let tensors = weights
            .tensors
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

#[cfg(test)]
mod tests {
    use super::*;

    type Edit<'a> = &'a dyn Fn(&mut HashMap<String, Tensor>, &mut HashMap<String, String>);

    /// The built-in `b`'s file with `edit` applied to its tensors and metadata.
    fn rewrite(b: Builtin, edit: Edit) -> Vec<u8> {
        let w = Weights::parse(b.bytes(), b.name()).unwrap();
        let (mut tensors, mut metadata) = (w.tensors, w.metadata);
        edit(&mut tensors, &mut metadata);
        safetensors::serialize(tensors, Some(metadata)).unwrap()
    }

    /// A stacked head on the GTZAN CRNN's 490 features, as `finetune` writes one.
    fn add_head(t: &mut HashMap<String, Tensor>, m: &mut HashMap<String, String>) {
        let dev = Device::Cpu;
        let f = |v: Vec<f32>, shape: &[usize]| Tensor::from_vec(v, shape, &dev).unwrap();
        t.insert("head.weight".into(), f(vec![0.01; 4900], &[10, 490]));
        t.insert("head.bias".into(), f(vec![0.0; 10], &[10]));
        t.insert("head.beta".into(), f(vec![0.5; 10], &[10]));
        let prior = (0..10).map(|i| i as f32).collect();
        t.insert("head.prior".into(), f(prior, &[10]));
        let base = m[meta::keys::MODEL].clone();
        m.insert(meta::keys::BASE_MODEL.into(), base);
    }

    /// Set value `at` of tensor `name` (flattened) to `v`.
    fn poke(t: &mut HashMap<String, Tensor>, name: &str, at: usize, v: f32) {
        let old = &t[name];
        let mut x = old.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        x[at] = v;
        let new = Tensor::from_vec(x, old.dims(), &Device::Cpu).unwrap();
        t.insert(name.into(), new);
    }

    fn error(bytes: &[u8]) -> String {
        let e = Weights::parse(bytes, "m.safetensors")
            .and_then(|w| w.validate("m.safetensors").map(|_| w))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(!e.contains('\n'), "{e}");
        e
    }

    #[test]
    fn the_built_in_models_and_a_stacked_head_pass_every_check() {
        for b in Builtin::ALL {
            let w = Weights::parse(b.bytes(), b.name()).unwrap();
            w.validate(b.name()).unwrap();
            let short = w.metadata[meta::keys::MODEL].split_whitespace().next();
            assert_eq!(short, Some(b.model_name()));
        }
        let stacked = rewrite(Builtin::Gtzan, &|t, m| add_head(t, m));
        Weights::parse(&stacked, "s")
            .unwrap()
            .validate("s")
            .unwrap();
        // −∞ marks a head label without training songs.
        let untrained = rewrite(Builtin::Gtzan, &|t, m| {
            add_head(t, m);
            poke(t, "head.bias", 3, f32::NEG_INFINITY);
        });
        Weights::parse(&untrained, "s")
            .unwrap()
            .validate("s")
            .unwrap();
    }

    #[test]
    fn the_first_non_finite_tensor_is_named() {
        let nan_head = rewrite(Builtin::Gtzan, &|t, m| {
            add_head(t, m);
            poke(t, "head.weight", 1234, f32::NAN);
        });
        let e = error(&nan_head);
        assert!(
            e.contains("tensor head.weight holds NaN (value 1234 of 4900)"),
            "{e}"
        );
        let inf = rewrite(Builtin::Fcn, &|t, _| {
            poke(t, "conv3.weight", 0, f32::INFINITY);
            poke(t, "output.bias", 2, f32::NAN);
        });
        // conv3 comes before output in the file.
        assert!(
            error(&inf).contains("tensor conv3.weight holds inf"),
            "{}",
            error(&inf)
        );
        let plus_inf_bias = rewrite(Builtin::Gtzan, &|t, m| {
            add_head(t, m);
            poke(t, "head.bias", 0, f32::INFINITY);
        });
        assert!(error(&plus_inf_bias).contains("head.bias holds inf"));
    }

    #[test]
    fn tensors_of_other_types_and_oversized_headers_are_refused() {
        let f16 = rewrite(Builtin::Gtzan, &|t, _| {
            let b = t["output.bias"].to_dtype(DType::F16).unwrap();
            t.insert("output.bias".into(), b);
        });
        assert!(error(&f16).contains("tensor output.bias is F16, not F32"));
        let mut lying = Builtin::Gtzan.bytes().to_vec();
        lying[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(
            error(&lying).contains("a header of 1099511627776 bytes"),
            "{}",
            error(&lying)
        );
        assert!(error(&[]).contains("not a safetensors file"));
    }

    #[test]
    fn metadata_and_labels_are_bounded() {
        let cases: [(Edit, &str); 8] = [
            (
                &|_, m| {
                    for i in 0..meta::MAX_ENTRIES {
                        m.insert(format!("k{i}"), "v".into());
                    }
                },
                "metadata entries (at most 64)",
            ),
            (
                &|_, m| {
                    m.insert("notes".into(), "x".repeat(meta::MAX_BYTES));
                },
                "bytes of metadata (at most 1048576)",
            ),
            (
                &|_, m| {
                    m.insert("model".into(), "evil\u{1b}[2J name".into());
                },
                "metadata entry \"model\" holds control characters",
            ),
            (
                &|_, m| {
                    let labels: Vec<String> = (0..1025).map(|i| format!("g{i}")).collect();
                    m.insert("labels".into(), serde_json::to_string(&labels).unwrap());
                },
                "1025 labels (at most 1024)",
            ),
            (
                &|_, m| {
                    m.insert("labels".into(), serde_json::to_string(&["a"; 11]).unwrap());
                },
                "11 labels for 10 outputs",
            ),
            (
                &|_, m| {
                    let mut l = vec!["rock".to_string(); 10];
                    l[4] = "two\nlines".into();
                    m.insert("labels".into(), serde_json::to_string(&l).unwrap());
                },
                "label 4 (\"two\\nlines\") is empty",
            ),
            (
                &|_, m| {
                    m.insert("labels".into(), "[1, 2]".into());
                },
                "metadata labels is not a JSON list of strings",
            ),
            (
                &|_, m| {
                    m.insert("bn_eps".into(), "NaN".into());
                },
                "bn_eps \"NaN\" is not a number in (0, 1]",
            ),
        ];
        for (edit, want) in cases {
            let e = error(&rewrite(Builtin::Gtzan, edit));
            assert!(e.contains(want), "{e}\nwanted: {want}");
        }
    }

    #[test]
    fn a_negative_variance_is_refused() {
        let bytes = rewrite(Builtin::Crnn, &|t, _| poke(t, "bn2.running_var", 7, -0.5));
        let e = error(&bytes);
        assert!(
            e.contains("tensor bn2.running_var holds a negative variance (-0.5)"),
            "{e}"
        );
    }

    #[test]
    fn a_stacked_head_needs_its_own_base_network() {
        let no_base = rewrite(Builtin::Gtzan, &|t, m| {
            add_head(t, m);
            m.remove(meta::keys::BASE_MODEL);
        });
        assert!(error(&no_base).contains("a stacked head without its base model"));
        // The published GTZAN CRNN, one weight changed: the head's features are not these.
        let changed = rewrite(Builtin::Gtzan, &|t, m| {
            add_head(t, m);
            poke(t, "conv2.weight", 5, 0.123);
        });
        let e = error(&changed);
        assert!(
            e.contains("base model is jimenez_crnn_gtzan, but tensor conv2.weight is not"),
            "{e}"
        );
        // The MSD CRNN's tensors under a head that says it was fitted on the GTZAN CRNN (a
        // 10-output network in both cases would pass the shape checks).
        let swapped = rewrite(Builtin::Gtzan, &|t, m| {
            add_head(t, m);
            let msd = Weights::parse(Builtin::Crnn.bytes(), "crnn").unwrap();
            for (n, v) in msd.tensors {
                if !n.starts_with("output") {
                    t.insert(n, v);
                }
            }
        });
        assert!(error(&swapped).contains("is not jimenez_crnn_gtzan's"));
        // A base that is a user's own model: its head is checked by shape only.
        let own = rewrite(Builtin::Gtzan, &|t, m| {
            add_head(t, m);
            poke(t, "conv2.weight", 5, 0.123);
            m.insert(
                meta::keys::BASE_MODEL.into(),
                "my_top (mgr-cli finetune)".into(),
            );
        });
        Weights::parse(&own, "own")
            .unwrap()
            .validate("own")
            .unwrap();
    }
}

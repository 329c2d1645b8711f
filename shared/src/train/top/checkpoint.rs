//! Checkpoints of a fine-tuning run: everything needed to continue it bit for bit (current and
//! best weights, optimiser moments, schedule, random state, history), written atomically as a
//! safetensors file whose metadata holds the run's state.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;

use super::config::TopConfig;
use super::params::TopParams;
use super::{EpochReport, TopTrainer};
use crate::rng::Rng;
use crate::train::export::{read_safetensors, write_safetensors};
use crate::train::TrainError;

/// Metadata key of the run state.
const STATE_KEY: &str = "mgr_checkpoint";

/// Bookkeeping of a run (saved with each checkpoint).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct State {
    pub config: TopConfig,
    pub n_classes: usize,
    pub epoch: usize,
    pub lr: f64,
    pub rng: u64,
    pub opt_t: u64,
    pub best_loss: Option<f64>,
    pub best_epoch: usize,
    pub bad_epochs: usize,
    pub lr_bad_epochs: usize,
    pub stopped: bool,
    pub history: Vec<EpochReport>,
}

impl TopTrainer {
    /// Write everything needed to continue (weights, best weights, optimiser, schedule, rng).
    pub fn save_checkpoint(&self, path: &Path) -> Result<(), TrainError> {
        let mut state = self.state.clone();
        state.rng = self.rng.state();
        state.opt_t = self.opt.t;
        let mut tensors = Vec::new();
        for ((name, var), (_, best)) in self.vars.named().into_iter().zip(self.best.named()) {
            tensors.push((format!("var.{name}"), var.as_tensor().detach()));
            tensors.push((format!("best.{name}"), best.clone()));
        }
        if let Some((m, inv)) = &self.norm {
            tensors.push(("norm.mean".into(), m.clone()));
            tensors.push(("norm.inv_std".into(), inv.clone()));
        }
        for (i, (m, v)) in self.opt.m.iter().zip(&self.opt.v).enumerate() {
            tensors.push((format!("opt.m.{i}"), m.clone()));
            tensors.push((format!("opt.v.{i}"), v.clone()));
        }
        let meta = HashMap::from([(
            STATE_KEY.to_string(),
            serde_json::to_string(&state).map_err(|e| TrainError::Format(e.to_string()))?,
        )]);
        write_safetensors(path, &tensors, meta)
    }

    /// Continue from a checkpoint written by [`TopTrainer::save_checkpoint`] for the same
    /// configuration and classes (only the epoch budget may differ).
    pub fn resume(&mut self, path: &Path) -> Result<(), TrainError> {
        let bytes = std::fs::read(path).map_err(crate::error::IoError::read(path))?;
        let (tensors, meta) = read_safetensors(&bytes, &path.display().to_string())?;
        let bad = |r: &str| TrainError::Checkpoint {
            path: path.to_path_buf(),
            reason: r.into(),
        };
        let state: State = meta
            .get(STATE_KEY)
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| bad("no training state in the metadata"))?;
        let mut same = state.config.clone();
        same.epochs = self.state.config.epochs;
        if same != self.state.config || state.n_classes != self.state.n_classes {
            return Err(bad("it was written with other settings or genres"));
        }
        let get = |n: &str| -> Result<Tensor, TrainError> {
            tensors
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| bad(&format!("tensor {n} missing")))
        };
        for (name, var) in self.vars.named() {
            var.set(&get(&format!("var.{name}"))?)?;
        }
        self.best = TopParams::try_from_names(|name| get(&format!("best.{name}")))?;
        for i in 0..self.opt.m.len() {
            self.opt.m[i] = get(&format!("opt.m.{i}"))?;
            self.opt.v[i] = get(&format!("opt.v.{i}"))?;
        }
        self.opt.t = state.opt_t;
        self.norm = match (get("norm.mean"), get("norm.inv_std")) {
            (Ok(m), Ok(inv)) => Some((m, inv)),
            _ => None,
        };
        self.rng = Rng::new(state.rng);
        let epochs = self.state.config.epochs;
        self.state = state;
        self.state.config.epochs = epochs;
        Ok(())
    }
}

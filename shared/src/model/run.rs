//! Inference: log-mel frames in, scores out, in batches; and the traced pass that reports
//! every intermediate activation (what training caches and a stacked head reads).

use candle_core::{Device, Tensor};

use super::load::Net;
use super::net::{head, layers};
use super::Model;
use crate::config::{N_FRAMES, N_MELS};
use crate::error::{Error, Result};

impl Model {
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

    /// Scores for `n` concatenated log-mels, run in batches of at most `batch` frames. A
    /// score that is not finite is an error, not an answer: the load checks every weight, but
    /// finite weights can still overflow.
    pub fn predict(&self, logmels: &[f32], batch: usize) -> Result<Vec<Vec<f32>>> {
        let per = N_MELS * N_FRAMES;
        let mut out = Vec::with_capacity(logmels.len() / per);
        for chunk in logmels.chunks(per * batch.max(1)) {
            let probs = self.forward(&self.input_tensor(chunk)?)?;
            out.extend(probs.to_device(&Device::Cpu)?.to_vec2::<f32>()?);
        }
        if out.iter().flatten().any(|v| !v.is_finite()) {
            return Err(Error::InvalidModel {
                name: self.name.clone(),
                reason: "the network gave a score that is not a number (NaN or ±∞)".into(),
            });
        }
        Ok(out)
    }
}

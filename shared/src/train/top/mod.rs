//! Fine-tuning the top of the CRNN on cached conv sequences: `gru1 → gru2 → dropout → output`,
//! with the layers below `--train-from` frozen (the paper's best setting: convs frozen, GRUs and
//! output trained; Jiménez & Marqués §4).
//!
//! Dropout as in Choi's CRNN: 0.1 on the conv output (the sequence the GRU reads) and 0.3
//! before the output layer. Masks come from our seeded [`Rng`], so `--seed` fixes a run.
//! Loss: binary cross-entropy on the sigmoid outputs against one-hot genres (the published
//! model's output layer is a sigmoid per genre, so `classify` reads our file the same way).
//! Model selection: the epoch with the lowest validation loss; early stopping after
//! `patience` epochs without improvement; the learning rate is halved after `lr_patience`
//! such epochs (reduce-on-plateau).

mod checkpoint;
pub mod config;
pub mod loss;
pub mod params;

use std::collections::HashMap;

use candle_core::Module;
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarBuilder;

use super::optim::Optimizer;
use super::TrainError;
use crate::aggregate::SongScores;
use crate::model::net::crnn::{CHANNELS, GRU_UNITS};
use crate::model::net::gru::KerasGru;
use crate::model::net::layers::Dense;
use crate::rng::Rng;
use checkpoint::State;
pub use config::{Init, TopConfig, TrainFrom};
use loss::{batch_loss, one_hot};
use params::TopParams;

/// Steps of the CRNN's conv sequence.
pub const SEQ_STEPS: usize = 15;
/// Features per step (channels of the last conv block).
pub const SEQ_DIM: usize = CHANNELS[3];

/// Examples for the top: conv sequences `[n, 15, 128]`, genre per example, song per example,
/// and the weight of each example in the training loss (`None`: all 1; `--balance`).
#[derive(Debug, Clone)]
pub struct TopData {
    /// `[n, 15, 128]` on the CPU: the CRNN's conv output per example (frame).
    pub seq: Tensor,
    /// Genre of each example, as an index into the labels.
    pub targets: Vec<usize>,
    /// Song of each example (an index into the songs it was made from): validation decides
    /// per song by the mean of its frames.
    pub songs: Vec<usize>,
    /// Loss weight of each example (`None`: all equal), from [`crate::train::Balance`].
    pub weights: Option<Vec<f32>>,
}

impl TopData {
    /// From flat `[15 × 128]` rows.
    pub fn new(
        rows: &[&[f32]],
        targets: Vec<usize>,
        songs: Vec<usize>,
    ) -> Result<Self, TrainError> {
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        if rows.iter().any(|r| r.len() != SEQ_STEPS * SEQ_DIM) {
            return Err(TrainError::Config(
                "conv sequences must be 15 × 128 (CRNN)".into(),
            ));
        }
        let seq = Tensor::from_vec(flat, (rows.len(), SEQ_STEPS, SEQ_DIM), &Device::Cpu)?;
        Ok(Self {
            seq,
            targets,
            songs,
            weights: None,
        })
    }

    /// The same examples with a weight each (one per example, or `None`: unweighted).
    pub fn weighted(self, weights: Option<&[f64]>) -> Result<Self, TrainError> {
        if weights.is_some_and(|w| w.len() != self.len()) {
            return Err(TrainError::Config(
                "one weight per training example is needed".into(),
            ));
        }
        Ok(Self {
            weights: weights.map(|w| w.iter().map(|&v| v as f32).collect()),
            ..self
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether there are no examples.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochReport {
    /// The epoch's number, from 1.
    pub epoch: usize,
    /// Learning rate the epoch ran at.
    pub lr: f64,
    /// Mean binary cross-entropy per output over the training frames (dropout on).
    pub train_loss: f64,
    /// Fraction of training frames whose top score is their genre, with dropout on.
    pub train_acc: f64,
    /// Mean binary cross-entropy per output over the validation frames (`None` without
    /// validation songs).
    pub val_loss: Option<f64>,
    /// Song-level accuracy on the validation songs (mean of the frame scores).
    pub val_acc: Option<f64>,
    /// Wall-clock seconds of the epoch, validation included.
    pub seconds: f64,
}

/// The trainer: variables, optimiser, schedule and history.
pub struct TopTrainer {
    state: State,
    /// Per-channel (mean `[128]`, 1/std `[128]`) of the conv sequence, see `TopConfig::input_norm`.
    norm: Option<(Tensor, Tensor)>,
    vars: TopParams<Var>,
    best: TopParams<Tensor>,
    opt: Optimizer,
    rng: Rng,
}

impl std::fmt::Debug for TopTrainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopTrainer")
            .field("epoch", &self.state.epoch)
            .finish()
    }
}

/// Glorot-uniform `[out, in]` (Keras' default initialiser).
fn glorot(rng: &mut Rng, out: usize, inp: usize) -> Result<Tensor, TrainError> {
    let limit = (6.0 / (out + inp) as f32).sqrt();
    let v: Vec<f32> = (0..out * inp).map(|_| rng.range(-limit, limit)).collect();
    Ok(Tensor::from_vec(v, (out, inp), &Device::Cpu)?)
}

impl TopTrainer {
    /// Start from the tensors of `base` (`gru1.*`, `gru2.*`, `output.*` by name). The output
    /// layer is re-initialised when `n_classes` differs from the base's or with `--init random`.
    pub fn new(
        cfg: TopConfig,
        base: &HashMap<String, Tensor>,
        n_classes: usize,
    ) -> Result<Self, TrainError> {
        let mut rng = Rng::new(cfg.seed);
        let u = GRU_UNITS;
        let init = TopParams::try_from_names(|name| -> Result<Tensor, TrainError> {
            let pretrained = base.get(name).cloned();
            let t = match (cfg.init, name, pretrained) {
                (Init::Msd, "output.weight" | "output.bias", Some(t)) if t.dim(0)? == n_classes => {
                    t
                }
                (_, "output.weight", _) => glorot(&mut rng, n_classes, u)?,
                (_, "output.bias", _) => Tensor::zeros(n_classes, DType::F32, &Device::Cpu)?,
                (Init::Msd, _, Some(t)) => t,
                (_, n, _) if n.ends_with("b_ih") => Tensor::zeros(3 * u, DType::F32, &Device::Cpu)?,
                (_, n, _) if n.ends_with("w_hh") => glorot(&mut rng, 3 * u, u)?,
                (_, n, _) => glorot(
                    &mut rng,
                    3 * u,
                    if n.starts_with("gru1") { SEQ_DIM } else { u },
                )?,
            };
            Ok(t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?)
        })?;
        let vars = init.try_map(Var::from_tensor)?;
        let opt = Optimizer::new(cfg.optim, &Self::trainable(&vars, cfg.train_from))?;
        Ok(Self {
            norm: None,
            state: State {
                lr: cfg.optim.lr,
                config: cfg,
                n_classes,
                epoch: 0,
                rng: 0,
                opt_t: 0,
                best_loss: None,
                best_epoch: 0,
                bad_epochs: 0,
                lr_bad_epochs: 0,
                stopped: false,
                history: Vec::new(),
            },
            vars,
            best: init,
            opt,
            rng,
        })
    }

    /// The optimiser's variables: the layers from `--train-from` up.
    fn trainable(vars: &TopParams<Var>, from: TrainFrom) -> Vec<&Var> {
        vars.trainable(from).into_iter().map(|(_, v)| v).collect()
    }

    /// Measure the input standardisation on the training data (before the first epoch).
    ///
    /// Why: on the authors' decibel input the MSD CRNN's conv outputs sit far outside the
    /// range its GRUs were trained for, and most hard-sigmoid gates are saturated, i.e. have
    /// zero gradient (weights README, "Input scale"). Jiménez re-estimated every BatchNorm
    /// statistic when fine-tuning; with the convs frozen and cached, re-centring their output
    /// is the part of that we can do without re-running them.
    pub fn fit_input_norm(&mut self, data: &TopData) -> Result<(), TrainError> {
        if !self.state.config.input_norm
            || self.state.config.train_from != TrainFrom::Gru1
            || self.state.epoch > 0
            || data.is_empty()
        {
            return Ok(());
        }
        let flat = data.seq.reshape(((), SEQ_DIM))?;
        let mean = flat.mean(0)?;
        let var = flat.broadcast_sub(&mean)?.sqr()?.mean(0)?;
        let inv = (var.sqrt()? + 1e-6)?.recip()?;
        self.norm = Some((mean, inv));
        Ok(())
    }

    /// Every epoch run so far, in order (replayed ones included after a resume).
    pub fn history(&self) -> &[EpochReport] {
        &self.state.history
    }

    /// True once early stopping fired or all epochs ran.
    pub fn finished(&self) -> bool {
        self.state.stopped || self.state.epoch >= self.state.config.epochs
    }

    /// Epoch with the lowest validation loss (the weights [`TopTrainer::best_tensors`] returns).
    pub fn best_epoch(&self) -> usize {
        self.state.best_epoch
    }

    fn varbuilder(&self, use_best: bool) -> VarBuilder<'static> {
        let trainable: Vec<&str> = self
            .vars
            .trainable(self.state.config.train_from)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let map: HashMap<String, Tensor> = self
            .vars
            .named()
            .into_iter()
            .zip(self.best.named())
            .map(|((name, var), (_, best))| {
                let t = if use_best {
                    best.clone()
                } else if trainable.contains(&name) {
                    var.as_tensor().clone()
                } else {
                    var.as_tensor().detach()
                };
                (name.to_string(), t)
            })
            .collect();
        VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
    }

    fn dropout(&mut self, x: &Tensor, p: f32) -> Result<Tensor, TrainError> {
        if p <= 0.0 {
            return Ok(x.clone());
        }
        let keep = 1.0 - p;
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| {
                if self.rng.uniform() < keep {
                    1.0 / keep
                } else {
                    0.0
                }
            })
            .collect();
        Ok((x * Tensor::from_vec(mask, x.dims(), x.device())?)?)
    }

    fn logits(&mut self, seq: &Tensor, train: bool, use_best: bool) -> Result<Tensor, TrainError> {
        let vb = self.varbuilder(use_best);
        let n = self.state.n_classes;
        let gru1 = KerasGru::new(SEQ_DIM, GRU_UNITS, vb.pp("gru1"))?;
        let gru2 = KerasGru::new(GRU_UNITS, GRU_UNITS, vb.pp("gru2"))?;
        let out = Dense::new(GRU_UNITS, n, vb.pp("output"))?;
        let (p_seq, p_out) = (self.state.config.dropout_seq, self.state.config.dropout_out);
        let seq = match &self.norm {
            Some((m, inv)) => seq.broadcast_sub(m)?.broadcast_mul(inv)?,
            None => seq.clone(),
        };
        let x = if train {
            self.dropout(&seq, p_seq)?
        } else {
            seq
        };
        let h = gru2.forward(&gru1.forward_sequence(&x)?)?;
        let h = if train { self.dropout(&h, p_out)? } else { h };
        Ok(out.forward(&h)?)
    }

    /// Sigmoid scores `[n][classes]` of `data` with the best weights so far (or the current).
    pub fn predict(&mut self, seq: &Tensor, use_best: bool) -> Result<Vec<Vec<f32>>, TrainError> {
        let mut out = Vec::new();
        let n = seq.dim(0)?;
        let bs = 64;
        for s in (0..n).step_by(bs) {
            let x = seq.narrow(0, s, bs.min(n - s))?;
            let p = candle_nn::ops::sigmoid(&self.logits(&x, false, use_best)?)?;
            out.extend(p.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    /// Run one epoch (shuffled mini-batches) and validate; updates the schedule.
    pub fn epoch(
        &mut self,
        train: &TopData,
        valid: Option<&TopData>,
    ) -> Result<EpochReport, TrainError> {
        let start = std::time::Instant::now();
        let cfg = self.state.config.clone();
        let mut order: Vec<usize> = (0..train.len()).collect();
        self.rng.shuffle(&mut order);
        let (mut loss_sum, mut correct) = (0f64, 0usize);
        for batch in order.chunks(cfg.batch_size.max(1)) {
            let idx = Tensor::from_vec(
                batch.iter().map(|&i| i as u32).collect::<Vec<_>>(),
                batch.len(),
                &Device::Cpu,
            )?;
            let x = train.seq.index_select(&idx, 0)?;
            let y = one_hot(
                batch.iter().map(|&i| train.targets[i]),
                self.state.n_classes,
            )?;
            let logits = self.logits(&x, true, false)?;
            let loss = batch_loss(&logits, &y, train.weights.as_deref(), batch)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?) * batch.len() as f64;
            for (row, &i) in logits.to_vec2::<f32>()?.iter().zip(batch) {
                correct += usize::from(crate::model::argmax(row) == Some(train.targets[i]));
            }
            let grads = loss.backward()?;
            let vars = Self::trainable(&self.vars, cfg.train_from);
            self.opt.step(&vars, &grads, self.state.lr)?;
        }
        let n = train.len().max(1) as f64;
        let (val_loss, val_acc) = match valid {
            Some(v) if !v.is_empty() => {
                let (l, a) = self.evaluate(v)?;
                (Some(l), Some(a))
            }
            _ => (None, None),
        };
        self.state.epoch += 1;
        let report = EpochReport {
            epoch: self.state.epoch,
            lr: self.state.lr,
            train_loss: loss_sum / n,
            train_acc: correct as f64 / n,
            val_loss,
            val_acc,
            seconds: start.elapsed().as_secs_f64(),
        };
        // Model selection and schedule on the validation loss (training loss without one).
        let monitored = val_loss.unwrap_or(report.train_loss);
        if self.state.best_loss.is_none_or(|b| monitored < b - 1e-6) {
            self.state.best_loss = Some(monitored);
            self.state.best_epoch = self.state.epoch;
            self.state.bad_epochs = 0;
            self.state.lr_bad_epochs = 0;
            // A real copy: `detach` would share storage that the optimiser updates in place.
            self.best = self.vars.try_map(|v| v.as_tensor().copy())?;
        } else {
            self.state.bad_epochs += 1;
            self.state.lr_bad_epochs += 1;
            if self.state.lr_bad_epochs >= cfg.lr_patience.max(1) {
                self.state.lr *= 0.5;
                self.state.lr_bad_epochs = 0;
            }
            if self.state.bad_epochs >= cfg.patience.max(1) {
                self.state.stopped = true;
            }
        }
        self.state.history.push(report.clone());
        Ok(report)
    }

    /// Validation loss and song-level accuracy (mean of frame scores per song).
    pub fn evaluate(&mut self, data: &TopData) -> Result<(f64, f64), TrainError> {
        let probs = self.predict(&data.seq, false)?;
        let mut loss = 0f64;
        for (p, &t) in probs.iter().zip(&data.targets) {
            for (c, &v) in p.iter().enumerate() {
                let v = f64::from(v).clamp(1e-7, 1.0 - 1e-7);
                loss -= if c == t { v.ln() } else { (1.0 - v).ln() };
            }
        }
        loss /= (data.len() * self.state.n_classes).max(1) as f64;
        let songs = song_decisions(&probs, &data.songs);
        let mut truth: HashMap<usize, usize> = HashMap::new();
        for (&s, &t) in data.songs.iter().zip(&data.targets) {
            truth.insert(s, t);
        }
        let correct = songs
            .iter()
            .filter(|(s, p)| truth.get(s) == Some(p))
            .count();
        Ok((loss, correct as f64 / songs.len().max(1) as f64))
    }

    /// The selected weights by name (`gru1.*`, `gru2.*`, `output.*`), with the input
    /// standardisation folded into `gru1`: `W' = W·diag(1/σ)`, `b' = b − W'·μ`.
    pub fn best_tensors(&self) -> Result<Vec<(String, Tensor)>, TrainError> {
        let mut best = self.best.clone();
        if let Some((m, inv)) = &self.norm {
            let w = best.gru1.w_ih.broadcast_mul(&inv.unsqueeze(0)?)?;
            let shift = w.matmul(&m.unsqueeze(1)?)?.squeeze(1)?;
            best.gru1.b_ih = (&best.gru1.b_ih - shift)?;
            best.gru1.w_ih = w;
        }
        Ok(best
            .named()
            .into_iter()
            .map(|(n, t)| (n.to_string(), t.clone()))
            .collect())
    }
}

/// Song → decided class by the mean of its frames' scores (the paper's average stage).
pub fn song_decisions(probs: &[Vec<f32>], songs: &[usize]) -> Vec<(usize, usize)> {
    let mut by_song: Vec<(usize, Vec<Vec<f32>>)> = Vec::new();
    for (p, &s) in probs.iter().zip(songs) {
        match by_song.iter_mut().find(|(k, _)| *k == s) {
            Some((_, v)) => v.push(p.clone()),
            None => by_song.push((s, vec![p.clone()])),
        }
    }
    by_song
        .into_iter()
        .filter_map(|(s, frames)| SongScores::from_frames(frames).map(|sc| (s, sc.by_mean())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim::{OptimConfig, OptimizerKind};

    fn cfg(kind: OptimizerKind, lr: f64, from: TrainFrom) -> TopConfig {
        TopConfig {
            train_from: from,
            init: Init::Random,
            optim: OptimConfig {
                kind,
                lr,
                momentum: 0.9,
                weight_decay: 0.0,
            },
            batch_size: 8,
            epochs: 40,
            patience: 40,
            lr_patience: 40,
            dropout_seq: 0.1,
            dropout_out: 0.3,
            input_norm: true,
            seed: 5,
            balance: crate::train::Balance::None,
        }
    }

    /// Two classes whose sequences differ in the mean of a few channels.
    fn toy(n: usize, seed: u64) -> TopData {
        let mut r = Rng::new(seed);
        let mut rows = Vec::new();
        let mut t = Vec::new();
        for i in 0..n {
            let c = i % 2;
            let row: Vec<f32> = (0..SEQ_STEPS * SEQ_DIM)
                .map(|j| r.normal() * 0.5 + if j % SEQ_DIM < 8 && c == 1 { 1.0 } else { 0.0 })
                .collect();
            rows.push(row);
            t.push(c);
        }
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        TopData::new(&refs, t, (0..n).collect()).unwrap()
    }

    #[test]
    fn learns_a_separable_toy_problem_and_is_deterministic() {
        let (train, valid) = (toy(48, 1), toy(20, 2));
        let run = || {
            let mut tr = TopTrainer::new(
                cfg(OptimizerKind::Adam, 0.01, TrainFrom::Gru1),
                &HashMap::new(),
                2,
            )
            .unwrap();
            let mut last = None;
            for _ in 0..12 {
                last = Some(tr.epoch(&train, Some(&valid)).unwrap());
            }
            (
                tr.best_tensors().unwrap()[0].1.to_vec2::<f32>().unwrap(),
                last.unwrap(),
            )
        };
        let (w1, r1) = run();
        let (w2, r2) = run();
        assert_eq!(w1, w2, "same seed, same weights");
        assert_eq!(r1.val_acc, r2.val_acc);
        assert!(r1.val_acc.unwrap() >= 0.9, "{r1:?}");
        assert!(r1.train_loss < 0.6, "{r1:?}");
    }

    #[test]
    fn input_norm_folds_exactly_into_gru1() {
        let (train, test) = (toy(24, 7), toy(6, 8));
        // Scale and shift the data far from 0 / 1 so that the standardisation matters.
        let shifted = |d: &TopData| TopData {
            seq: d.seq.affine(7.0, -20.0).unwrap(),
            ..d.clone()
        };
        let (train, test) = (shifted(&train), shifted(&test));
        let c = cfg(OptimizerKind::Adam, 0.01, TrainFrom::Gru1);
        let mut tr = TopTrainer::new(c.clone(), &HashMap::new(), 2).unwrap();
        tr.fit_input_norm(&train).unwrap();
        assert!(tr.norm.is_some());
        tr.epoch(&train, None).unwrap();
        let want = tr.predict(&test.seq, true).unwrap();
        // A plain top (no standardisation) from the exported tensors gives the same scores.
        let exported: HashMap<String, Tensor> = tr.best_tensors().unwrap().into_iter().collect();
        let mut plain_cfg = c;
        plain_cfg.init = Init::Msd;
        plain_cfg.input_norm = false;
        let mut plain = TopTrainer::new(plain_cfg, &exported, 2).unwrap();
        let got = plain.predict(&test.seq, true).unwrap();
        for (a, b) in want.iter().flatten().zip(got.iter().flatten()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    #[test]
    fn frozen_layers_do_not_move_and_resume_continues_exactly() {
        let train = toy(24, 3);
        let valid = toy(10, 4);
        let c = cfg(OptimizerKind::SgdNesterov, 0.05, TrainFrom::Gru2);
        let mut a = TopTrainer::new(c.clone(), &HashMap::new(), 2).unwrap();
        let gru1_before = a.vars.gru1.w_ih.as_tensor().to_vec2::<f32>().unwrap();
        let out_before = a.vars.output.weight.as_tensor().to_vec2::<f32>().unwrap();
        a.epoch(&train, Some(&valid)).unwrap();
        a.epoch(&train, Some(&valid)).unwrap();
        assert_eq!(
            a.vars.gru1.w_ih.as_tensor().to_vec2::<f32>().unwrap(),
            gru1_before
        );
        assert_ne!(
            a.vars.output.weight.as_tensor().to_vec2::<f32>().unwrap(),
            out_before
        );
        let dir = std::env::temp_dir().join(format!("mgr-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ck = dir.join("c.safetensors");
        a.save_checkpoint(&ck).unwrap();
        let ra = a.epoch(&train, Some(&valid)).unwrap();
        let mut b = TopTrainer::new(c.clone(), &HashMap::new(), 2).unwrap();
        b.resume(&ck).unwrap();
        assert_eq!(b.history().len(), 2);
        let rb = b.epoch(&train, Some(&valid)).unwrap();
        assert_eq!(
            ra.train_loss, rb.train_loss,
            "resumed run continues bit for bit"
        );
        assert_eq!(ra.val_loss, rb.val_loss);
        let mut longer = c.clone();
        longer.epochs = 80;
        let mut e = TopTrainer::new(longer, &HashMap::new(), 2).unwrap();
        e.resume(&ck).unwrap();
        assert!(!e.finished(), "a larger epoch budget continues a run");
        let mut other = c;
        other.seed = 6;
        let mut d = TopTrainer::new(other, &HashMap::new(), 2).unwrap();
        assert!(d.resume(&ck).is_err(), "other settings are refused");
        let _ = std::fs::remove_dir_all(dir);
    }
}

//! Optimisers written here (so their state can go into a checkpoint): Adam (D. Kingma, J. Ba,
//! ICLR 2015) and SGD with Nesterov momentum in the Keras formulation
//! (`v ← μv − lr·g; p ← p + μv − lr·g`). Weight decay is an L2 term added to the gradient.

use candle_core::{backprop::GradStore, Tensor, Var};

/// `--optimizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// Adam with β1 = 0.9, β2 = 0.999, ε = 1e-8 (Kingma & Ba's defaults).
    Adam,
    /// SGD with Nesterov momentum ([`OptimConfig::momentum`]).
    SgdNesterov,
}

crate::names::kebab_names!(OptimizerKind);

impl OptimizerKind {
    /// The learning rate when none is given: 1e-3 for Adam, 1e-2 for SGD-Nesterov.
    pub fn default_lr(self) -> f64 {
        match self {
            Self::Adam => 1e-3,
            Self::SgdNesterov => 1e-2,
        }
    }
}

/// Hyper-parameters of the optimiser.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimConfig {
    /// The update rule.
    pub kind: OptimizerKind,
    /// Initial learning rate (the schedule halves it on plateaus, [`super::top`]).
    pub lr: f64,
    /// Nesterov momentum μ (SGD only).
    pub momentum: f64,
    /// L2 coefficient: `weight_decay · p` is added to every gradient (0: none).
    pub weight_decay: f64,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// Optimiser state for a fixed list of variables.
#[derive(Debug)]
pub struct Optimizer {
    /// The hyper-parameters (its `lr` is the initial rate; [`Optimizer::step`] takes the current
    /// one).
    pub cfg: OptimConfig,
    /// Steps taken (Adam's bias correction).
    pub t: u64,
    /// Adam first moment / SGD velocity, one per variable.
    pub m: Vec<Tensor>,
    /// Adam second moment (unused by SGD, kept zero).
    pub v: Vec<Tensor>,
}

impl Optimizer {
    /// Fresh state (zero moments, step 0) for `vars`, in the order `step` will see them.
    pub fn new(cfg: OptimConfig, vars: &[&Var]) -> candle_core::Result<Self> {
        let zeros = |v: &&Var| v.as_tensor().zeros_like();
        Ok(Self {
            cfg,
            t: 0,
            m: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
            v: vars.iter().map(zeros).collect::<candle_core::Result<_>>()?,
        })
    }

    /// One update of every variable that has a gradient, at learning rate `lr`.
    pub fn step(&mut self, vars: &[&Var], grads: &GradStore, lr: f64) -> candle_core::Result<()> {
        self.t += 1;
        for (i, var) in vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let p = var.as_tensor().detach();
            let g = if self.cfg.weight_decay > 0.0 {
                (g + p.affine(self.cfg.weight_decay, 0.0)?)?
            } else {
                g.clone()
            };
            match self.cfg.kind {
                OptimizerKind::Adam => {
                    let m = ((&self.m[i] * BETA1)? + (&g * (1.0 - BETA1))?)?;
                    let v = ((&self.v[i] * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
                    let t = self.t as i32;
                    let mhat = (&m / (1.0 - BETA1.powi(t)))?;
                    let vhat = (&v / (1.0 - BETA2.powi(t)))?;
                    let upd = (mhat / (vhat.sqrt()? + EPS)?)?;
                    var.set(&(p - (upd * lr)?)?)?;
                    self.m[i] = m;
                    self.v[i] = v;
                }
                OptimizerKind::SgdNesterov => {
                    let mu = self.cfg.momentum;
                    let vel = ((&self.m[i] * mu)? - (&g * lr)?)?;
                    var.set(&((p + (&vel * mu)?)? - (&g * lr)?)?)?;
                    self.m[i] = vel;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Minimise (p − 3)² from 0: both optimisers must get close to 3.
    fn fit(kind: OptimizerKind, lr: f64, steps: usize) -> f32 {
        let dev = Device::Cpu;
        let p = Var::new(&[0f32], &dev).unwrap();
        let cfg = OptimConfig {
            kind,
            lr,
            momentum: 0.9,
            weight_decay: 0.0,
        };
        let mut opt = Optimizer::new(cfg, &[&p]).unwrap();
        for _ in 0..steps {
            let loss = (p.as_tensor() - 3.0)
                .unwrap()
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap();
            let g = loss.backward().unwrap();
            opt.step(&[&p], &g, lr).unwrap();
        }
        p.as_tensor().to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn both_optimisers_converge() {
        let a = fit(OptimizerKind::Adam, 0.1, 300);
        let s = fit(OptimizerKind::SgdNesterov, 0.02, 300);
        assert!((a - 3.0).abs() < 0.05, "adam {a}");
        assert!((s - 3.0).abs() < 1e-3, "sgd {s}");
    }

    #[test]
    fn first_adam_step_is_lr_times_sign() {
        // With bias correction the first Adam step is lr · g/|g| (up to eps).
        let dev = Device::Cpu;
        let p = Var::new(&[1f32, -1.0], &dev).unwrap();
        let cfg = OptimConfig {
            kind: OptimizerKind::Adam,
            lr: 0.01,
            momentum: 0.0,
            weight_decay: 0.0,
        };
        let mut opt = Optimizer::new(cfg, &[&p]).unwrap();
        let loss = (p.as_tensor() * 5.0).unwrap().sum_all().unwrap();
        opt.step(&[&p], &loss.backward().unwrap(), 0.01).unwrap();
        let v = p.as_tensor().to_vec1::<f32>().unwrap();
        assert!(
            (v[0] - 0.99).abs() < 1e-6 && (v[1] + 1.01).abs() < 1e-6,
            "{v:?}"
        );
    }
}

//! The loss of the fine-tune: binary cross-entropy on sigmoid outputs against one-hot genres
//! (the published model's output layer is a sigmoid per genre).

use candle_core::{Device, Tensor};

use crate::train::TrainError;

/// `[n, classes]` rows with a 1 at each target.
pub fn one_hot(targets: impl Iterator<Item = usize>, n: usize) -> Result<Tensor, TrainError> {
    let mut v = Vec::new();
    let mut rows = 0;
    for t in targets {
        v.extend((0..n).map(|c| if c == t { 1f32 } else { 0.0 }));
        rows += 1;
    }
    Ok(Tensor::from_vec(v, (rows, n), &Device::Cpu)?)
}

/// Mean binary cross-entropy of sigmoid(z) against y, in the stable form
/// `max(z, 0) − z·y + log(1 + e^{−|z|})`.
pub fn bce_with_logits(z: &Tensor, y: &Tensor) -> Result<Tensor, TrainError> {
    let l = ((z.relu()? - (z * y)?)? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok(l.mean_all()?)
}

/// [`bce_with_logits`] with each row's terms weighted by `w` (`[n, 1]`, mean 1 over the
/// training set: `--balance`).
pub fn weighted_bce_with_logits(z: &Tensor, y: &Tensor, w: &Tensor) -> Result<Tensor, TrainError> {
    let l = ((z.relu()? - (z * y)?)? + (z.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    Ok(l.broadcast_mul(w)?.mean_all()?)
}

/// The loss of a mini-batch (the examples `batch` of the training data): weighted by the
/// examples' `weights` when there are any, the plain mean otherwise.
pub fn batch_loss(
    z: &Tensor,
    y: &Tensor,
    weights: Option<&[f32]>,
    batch: &[usize],
) -> Result<Tensor, TrainError> {
    let Some(w) = weights else {
        return bce_with_logits(z, y);
    };
    let w: Vec<f32> = batch.iter().map(|&i| w[i]).collect();
    let w = Tensor::from_vec(w, (batch.len(), 1), &Device::Cpu)?;
    weighted_bce_with_logits(z, y, &w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_bce_matches_the_definition() {
        let z = Tensor::new(&[[2.0f32, -1.0], [0.0, 30.0]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[[1.0f32, 0.0], [1.0, 0.0]], &Device::Cpu).unwrap();
        let got = bce_with_logits(&z, &y).unwrap().to_scalar::<f32>().unwrap();
        let s = |x: f64| 1.0 / (1.0 + (-x).exp());
        let want = (-(s(2.0).ln()) - (1.0 - s(-1.0)).ln() - s(0.0).ln() + 30.0) / 4.0;
        assert!((f64::from(got) - want).abs() < 1e-4, "{got} {want}");
    }

    #[test]
    fn weights_scale_each_row() {
        let z = Tensor::new(&[[2.0f32, -1.0], [0.0, 30.0]], &Device::Cpu).unwrap();
        let y = Tensor::new(&[[1.0f32, 0.0], [1.0, 0.0]], &Device::Cpu).unwrap();
        let row = |r: usize| {
            let zr = z.narrow(0, r, 1).unwrap();
            let yr = y.narrow(0, r, 1).unwrap();
            bce_with_logits(&zr, &yr)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        };
        let w = Tensor::new(&[[0.5f32], [1.5]], &Device::Cpu).unwrap();
        let got = weighted_bce_with_logits(&z, &y, &w)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        let want = (0.5 * row(0) + 1.5 * row(1)) / 2.0;
        assert!((got - want).abs() < 1e-4, "{got} {want}");
    }

    #[test]
    fn one_hot_rows() {
        let t = one_hot([1, 0].into_iter(), 3).unwrap();
        assert_eq!(
            t.to_vec2::<f32>().unwrap(),
            [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
        );
    }
}

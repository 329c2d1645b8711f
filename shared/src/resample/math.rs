//! The pieces both resampling kernels share: the Bessel function behind their Kaiser windows
//! and librosa's output-length rule. A leaf: it imports nothing else of the crate but the
//! 12 kHz constant.

use crate::config::SAMPLE_RATE;

/// `ceil(n · r)` with `r = 12000 / rate` as an f64, exactly as librosa's `fix_length` computes
/// it: for 661,794 samples at 22,050 Hz the product is 360160.00000000006, so the reference
/// output (golden `gtzan-blues.00000`) has 360,161 samples, one more than exact arithmetic gives.
pub fn output_len(n: usize, rate: u32) -> usize {
    let ratio = f64::from(SAMPLE_RATE) / f64::from(rate);
    (n as f64 * ratio).ceil() as usize
}

/// Modified Bessel function of the first kind, order 0 (power series; converges fast for
/// the arguments used here, |x| ≤ 15).
pub(super) fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..200 {
        term *= q / (k as f64 * k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bessel_i0_known_values() {
        assert!((bessel_i0(0.0) - 1.0).abs() < 1e-15);
        assert!((bessel_i0(1.0) - 1.266_065_877_752_008_4).abs() < 1e-14);
        assert!((bessel_i0(10.0) - 2_815.716_628_466_254).abs() < 1e-9);
    }

    #[test]
    fn output_length_rule() {
        assert_eq!(output_len(1_378_944, 44_100), 375_223);
        assert_eq!(output_len(661_794, 22_050), 360_161);
        assert_eq!(output_len(0, 44_100), 0);
    }
}

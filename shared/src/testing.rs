//! Comparison helpers for the unit tests. A NaN difference (a NaN on either side, or ∞ − ∞)
//! counts as infinite, and an infinity against a finite value is infinite anyway, so neither
//! can pass a limit: `f32::max` / `f64::max` alone skip a NaN, and a kernel that outputs NaN
//! would then compare as equal.

/// `|x − y|`, infinite where it is NaN.
pub(crate) fn abs_diff(x: impl Into<f64>, y: impl Into<f64>) -> f64 {
    let d = (x.into() - y.into()).abs();
    if d.is_nan() {
        f64::INFINITY
    } else {
        d
    }
}

/// Largest [`abs_diff`] over two slices of the same length (0 for empty ones).
pub(crate) fn max_abs_diff<A, B>(a: &[A], b: &[B]) -> f64
where
    A: Copy + Into<f64>,
    B: Copy + Into<f64>,
{
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| abs_diff(x, y))
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinity_are_infinite_differences() {
        let want = [0.5f32, -1.0, 2.0];
        assert_eq!(max_abs_diff(&want, &want), 0.0);
        assert_eq!(max_abs_diff(&[0.5f32, -1.25, 2.0], &want), 0.25);
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            for i in 0..want.len() {
                let mut got = want;
                got[i] = bad;
                assert_eq!(max_abs_diff(&got, &want), f64::INFINITY, "{bad} at {i}");
                assert_eq!(max_abs_diff(&want, &got), f64::INFINITY, "{bad} at {i}");
            }
        }
        assert_eq!(abs_diff(f64::INFINITY, f64::INFINITY), f64::INFINITY);
        assert_eq!(abs_diff(f64::NAN, f64::NAN), f64::INFINITY);
    }
}

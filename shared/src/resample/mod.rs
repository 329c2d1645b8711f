//! Resampling to the networks' 12 kHz, two ways behind one type.
//!
//! * [`ResamplerKind::Reference`] — the band-limited interpolator of resampy ≤ 0.2.2 with its
//!   2016 `kaiser_best` filter, which produced the authors' published inputs (reference README,
//!   step 3). Matches the golden `clip_12k.npy` to ~1e-6.
//! * [`ResamplerKind::Fast`] — our polyphase windowed-sinc filter ([`polyphase`]), the
//!   same kind of filter with fewer taps and exact phases.
//!
//! Both run as a [`StreamResampler`] ([`stream`]): fed a file's packets as they are decoded,
//! the host's audio in the plugin, or a whole signal at once ([`Resampler::to_12k`]), with the
//! same bits in every case. How far `Fast` moves the log-mel and the scores is measured by the
//! golden tests (`tests/golden.rs`, `fast_resampler_drift`) and written down in
//! `docs/verification.md`.
//!
//! Modules: [`math`] (Bessel I0, output length; a leaf) ← [`reference`] (resampy port) and
//! [`polyphase`] (Fast), the kernels ← [`stream`], which runs either on a stream. This module
//! keeps the filter tables, built once per rate, and hands out streams.

mod math;
mod polyphase;
mod reference;
mod stream;

pub use math::output_len;
pub use reference::kaiser_best_table;
pub use stream::StreamResampler;

use std::sync::{Arc, Mutex};

use polyphase::Bank;
use reference::{KaiserTable, RefBank};

use crate::error::Result;

/// Which resampling algorithm to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResamplerKind {
    /// Bit-faithful port of the 2016 resampy `kaiser_best` interpolator (slow, exact).
    #[default]
    Reference,
    /// Polyphase windowed sinc (fast; a shorter filter of the same kind).
    Fast,
}

crate::names::kebab_names!(ResamplerKind);

/// Resamples to 12 kHz, keeping the filter tables it builds (the Kaiser table once, then one
/// bank per input rate) so that many files and streams share them.
pub struct Resampler {
    kind: ResamplerKind,
    table: Option<KaiserTable>,
    /// Fast: the phase tables built so far, one per input rate.
    banks: Mutex<Vec<Arc<Bank>>>,
    /// Reference: the scaled, regrouped tables built so far, one per input rate.
    ref_banks: Mutex<Vec<Arc<RefBank>>>,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("kind", &self.kind)
            .finish()
    }
}

impl Resampler {
    /// Build a resampler; the reference table (32,769 entries) is computed here.
    pub fn new(kind: ResamplerKind) -> Self {
        let table = (kind == ResamplerKind::Reference).then(KaiserTable::new);
        Self {
            kind,
            table,
            banks: Mutex::new(Vec::new()),
            ref_banks: Mutex::new(Vec::new()),
        }
    }

    /// The algorithm in use.
    pub fn kind(&self) -> ResamplerKind {
        self.kind
    }

    /// A stream from `rate` Hz to 12 kHz of this resampler's kind, sharing its tables. Rates
    /// below 8 kHz are refused.
    pub fn stream(&self, rate: u32) -> Result<StreamResampler> {
        stream::check_rate(rate)?;
        Ok(match &self.table {
            Some(table) => {
                let bank = cached(&self.ref_banks, rate, RefBank::rate, || {
                    RefBank::new(table, rate)
                });
                StreamResampler::reference(rate, bank)
            }
            None => StreamResampler::fast(
                rate,
                cached(&self.banks, rate, Bank::rate, || Bank::new(rate)),
            ),
        })
    }

    /// Resample `x` from `rate` Hz to 12 kHz. The output has `ceil(len · 12000 / rate)` samples
    /// (librosa's length rule, reference README step 3). Rates below 8 kHz are refused.
    pub fn to_12k(&self, x: &[f32], rate: u32) -> Result<Vec<f32>> {
        let mut y = Vec::new();
        self.to_12k_into(x, rate, &mut y)?;
        Ok(y)
    }

    /// [`Resampler::to_12k`] into `y` (cleared first; its capacity is reused from call to
    /// call): the stream fed `x` in one piece and flushed.
    pub fn to_12k_into(&self, x: &[f32], rate: u32, y: &mut Vec<f32>) -> Result<()> {
        y.clear();
        let mut s = self.stream(rate)?;
        y.reserve(output_len(x.len(), rate));
        s.push_into(x, y);
        s.flush_into(y);
        Ok(())
    }
}

/// The table in `cache` for `rate`, built by `make` on first use.
fn cached<T>(
    cache: &Mutex<Vec<Arc<T>>>,
    rate: u32,
    of: fn(&T) -> u32,
    make: impl FnOnce() -> T,
) -> Arc<T> {
    // A poisoned lock only means another thread panicked while pushing: the list is intact.
    let mut banks = cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = banks.iter().find(|b| of(b) == rate) {
        return Arc::clone(b);
    }
    let b = Arc::new(make());
    banks.push(Arc::clone(&b));
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::testing::max_abs_diff;

    fn sine(rate: u32, freq: f64, seconds: f64) -> Vec<f32> {
        let n = (f64::from(rate) * seconds) as usize;
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    #[test]
    fn rates_below_8khz_are_refused() {
        for kind in [ResamplerKind::Reference, ResamplerKind::Fast] {
            for rate in [0, 1, 7_999] {
                assert!(matches!(
                    Resampler::new(kind).to_12k(&[0.0; 16], rate),
                    Err(Error::SampleRateTooLow(r)) if r == rate
                ));
            }
        }
    }

    #[test]
    fn both_kinds_keep_a_1khz_sine() {
        let x = sine(44_100, 1000.0, 1.0);
        for kind in [ResamplerKind::Reference, ResamplerKind::Fast] {
            let y = Resampler::new(kind).to_12k(&x, 44_100).unwrap();
            assert_eq!(y.len(), output_len(x.len(), 44_100));
            let want = sine(12_000, 1000.0, 1.0);
            // Skip the edges where the filter sees zeros beyond the signal.
            let worst = max_abs_diff(&y[200..11_800], &want[200..11_800]);
            assert!(worst < 2e-3, "{kind:?}: worst deviation {worst}");
        }
    }

    #[test]
    fn both_kinds_remove_content_above_6khz() {
        let x = sine(48_000, 9000.0, 1.0);
        for kind in [ResamplerKind::Reference, ResamplerKind::Fast] {
            let y = Resampler::new(kind).to_12k(&x, 48_000).unwrap();
            let rms = (y[500..11_500].iter().map(|v| v * v).sum::<f32>() / 11_000.0).sqrt();
            assert!(rms < 1e-3, "{kind:?}: alias rms {rms}");
        }
    }
}

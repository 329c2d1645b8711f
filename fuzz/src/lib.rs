//! What every fuzz target asserts of a decode: valid audio, or a one-line error. A panic
//! anywhere (ours or symphonia's, even one the library would catch) aborts through
//! libFuzzer's panic hook and is reported as a crash.

use mgr_core::audio::{Audio, MAX_INPUT_RATE};
use mgr_core::config::MIN_INPUT_RATE;

/// Panics (a finding) unless `r` is valid audio or an error of one line.
pub fn check(r: &mgr_core::Result<Audio>) {
    match r {
        Ok(a) => {
            assert!((MIN_INPUT_RATE..=MAX_INPUT_RATE).contains(&a.sample_rate()));
            assert!(a.source_channels() > 0);
            assert!(!a.samples().is_empty());
            assert!(a.samples().iter().all(|v| v.is_finite()));
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.is_empty() && !msg.contains('\n'), "{msg:?}");
        }
    }
}

//! Fuzz target `stream`: the body is [`mgr_fuzz::stream`] (fuzz/src/lib.rs), which
//! tests/fuzz_regressions.rs also runs on stable.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mgr_fuzz::stream(data));

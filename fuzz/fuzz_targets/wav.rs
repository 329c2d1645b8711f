//! WAV through `decode_bytes` (screened, then symphonia).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgr_core::audio::decode_bytes;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    mgr_fuzz::check(&decode_bytes(data.to_vec(), Some("wav"), Path::new("f.wav")));
});

//! Our FLAC decoder alone, then the whole `decode_bytes` path (which falls back to
//! symphonia when ours declines).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgr_core::audio::{decode_bytes, decode_flac_own};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Some(a) = decode_flac_own(data) {
        mgr_fuzz::check(&Ok(a));
    }
    mgr_fuzz::check(&decode_bytes(data.to_vec(), Some("flac"), Path::new("f.flac")));
});

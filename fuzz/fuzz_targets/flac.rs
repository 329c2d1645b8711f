//! The whole `decode_bytes` path on FLAC-named input: our decoder first, symphonia where ours
//! declines. (A panic in our decoder surfaces here too; the differential target compares the
//! two decoders.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgr_core::audio::decode_bytes;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    mgr_fuzz::check(&decode_bytes(data.to_vec(), Some("flac"), Path::new("f.flac")));
});

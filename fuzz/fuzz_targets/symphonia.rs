//! Any format through the screened symphonia path, with no extension hint (the probe
//! decides: MP3, Ogg Vorbis, WAV, FLAC).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgr_core::audio::decode_bytes_symphonia;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    mgr_fuzz::check(&decode_bytes_symphonia(data.to_vec(), None, Path::new("f")));
});

//! Our Sun/NeXT `.au` reader: the input's first four bytes are replaced by the magic, so
//! every input reaches it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgr_core::audio::decode_bytes;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let mut bytes = b".snd".to_vec();
    bytes.extend_from_slice(data.get(4..).unwrap_or_default());
    mgr_fuzz::check(&decode_bytes(bytes, Some("au"), Path::new("f.au")));
});

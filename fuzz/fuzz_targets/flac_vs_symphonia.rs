//! Differential: whenever our FLAC decoder accepts the bytes, symphonia (the path it falls
//! back to) decodes them to the same rate, channel count and samples, bit for bit. Where
//! ours declines (a CRC error, a format it leaves to symphonia), symphonia's result is what
//! users get, and the `flac` target checks it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mgr_core::audio::{decode_bytes_symphonia, decode_flac_own};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Some(own) = decode_flac_own(data) else {
        return;
    };
    let sym = decode_bytes_symphonia(data.to_vec(), Some("flac"), Path::new("f.flac"))
        .unwrap_or_else(|e| panic!("ours decodes, symphonia refuses: {e}"));
    assert_eq!(own.sample_rate(), sym.sample_rate());
    assert_eq!(own.source_channels(), sym.source_channels());
    assert_eq!(own.samples().len(), sym.samples().len());
    let first_diff = own
        .samples()
        .iter()
        .zip(sym.samples())
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert_eq!(first_diff, None, "samples differ");
});

//! The fuzz targets' bodies and what every one asserts of a decode: valid audio, or a one-line
//! error. A panic anywhere (ours or symphonia's, even one the library would catch) aborts
//! through libFuzzer's panic hook and is reported as a crash.
//!
//! Each `fuzz_targets/NAME.rs` only hands its input to the function of the same name in
//! [`TARGETS`]; `tests/fuzz_regressions.rs` runs the same functions on stable over each
//! target's corpus and seeded mutations of it, so a target that rots fails `cargo test`.

use std::path::Path;

use mgr_core::audio::{
    decode_bytes, decode_bytes_symphonia, decode_flac_own, Audio, MAX_INPUT_RATE,
};
use mgr_core::config::MIN_INPUT_RATE;

/// A fuzz target's body: panics on a finding.
pub type Target = fn(&[u8]);

/// Every target by name (the name of its `fuzz_targets/` file and `corpus/` folder).
pub const TARGETS: [(&str, Target); 5] = [
    ("flac", flac),
    ("wav", wav),
    ("au", au),
    ("symphonia", symphonia),
    ("flac_vs_symphonia", flac_vs_symphonia),
];

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

/// The whole `decode_bytes` path on FLAC-named input: our decoder first, symphonia where ours
/// declines. (A panic in our decoder surfaces here too; the differential target compares the
/// two decoders.)
pub fn flac(data: &[u8]) {
    check(&decode_bytes(
        data.to_vec(),
        Some("flac"),
        Path::new("f.flac"),
    ));
}

/// WAV through `decode_bytes` (screened, then symphonia).
pub fn wav(data: &[u8]) {
    check(&decode_bytes(
        data.to_vec(),
        Some("wav"),
        Path::new("f.wav"),
    ));
}

/// Our Sun/NeXT `.au` reader: the input's first four bytes are replaced by the magic, so
/// every input reaches it.
pub fn au(data: &[u8]) {
    let mut bytes = b".snd".to_vec();
    bytes.extend_from_slice(data.get(4..).unwrap_or_default());
    check(&decode_bytes(bytes, Some("au"), Path::new("f.au")));
}

/// Any format through the screened symphonia path, with no extension hint (the probe decides:
/// MP3, Ogg Vorbis, WAV, FLAC).
pub fn symphonia(data: &[u8]) {
    check(&decode_bytes_symphonia(data.to_vec(), None, Path::new("f")));
}

/// Differential: whenever our FLAC decoder accepts the bytes, symphonia (the path it falls
/// back to) decodes them to the same rate, channel count and samples, bit for bit. Where ours
/// declines (a CRC error, a format it leaves to symphonia), symphonia's result is what users
/// get, and the `flac` target checks it.
pub fn flac_vs_symphonia(data: &[u8]) {
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
}

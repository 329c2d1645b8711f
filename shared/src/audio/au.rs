//! Sun/NeXT `.au` (GTZAN's original format; symphonia has no reader for it): a big-endian
//! header of six 32-bit words, an annotation, then interleaved samples.

use std::path::Path;

use super::mono::{reserve, Audio};
use crate::error::{Error, Result};

/// `.snd`: the file's magic number.
pub(super) const MAGIC: &[u8] = b".snd";

/// Decode a whole `.au` file (it starts with [`MAGIC`]) to mono. Every header field is
/// checked against the file: the data offset must lie inside it, a data size larger than the
/// file (a truncated copy) or `0xffffffff` ("unknown") reads to the end, and only the samples
/// actually present are allocated.
pub(super) fn decode(bytes: &[u8], path: &Path) -> Result<Audio> {
    let corrupt = |reason: &str| Error::CorruptAudio {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let word = |i: usize| -> Option<u32> {
        bytes
            .get(4 * i..4 * i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let (Some(offset), Some(size), Some(encoding), Some(rate), Some(channels)) =
        (word(1), word(2), word(3), word(4), word(5))
    else {
        return Err(corrupt("truncated .au header"));
    };
    let offset = offset as usize;
    if offset < 24 || offset > bytes.len() {
        return Err(corrupt("bad .au data offset"));
    }
    let channels = channels as usize;
    if channels == 0 {
        return Err(corrupt(".au header says 0 channels"));
    }
    let data = &bytes[offset..];
    let data = if size != u32::MAX && (size as usize) < data.len() {
        &data[..size as usize]
    } else {
        data
    };
    // Bytes per sample and how one sample becomes a float.
    let (width, decode_sample): (usize, fn(&[u8]) -> f32) = match encoding {
        1 => (1, |b| mulaw_to_linear(b[0])),
        2 => (1, |b| f32::from(b[0] as i8) / 128.0),
        3 => (2, |b| f32::from(i16::from_be_bytes([b[0], b[1]])) / 32768.0),
        4 => (3, |b| {
            (i32::from_be_bytes([b[0], b[1], b[2], 0]) >> 8) as f32 / 8_388_608.0
        }),
        5 => (4, |b| {
            i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as f32 / 2_147_483_648.0
        }),
        6 => (4, |b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])),
        7 => (8, |b| {
            f64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
        }),
        27 => (1, |b| alaw_to_linear(b[0])),
        other => {
            return Err(Error::UnsupportedFormat {
                path: path.to_path_buf(),
                reason: format!(".au encoding {other} is not supported"),
            })
        }
    };
    // `channels` < 2^32 and `width` ≤ 8: no overflow on 64-bit targets, and saturating
    // elsewhere (a frame wider than the data holds no frame at all).
    let frame_bytes = width.saturating_mul(channels);
    let frames = data.chunks_exact(frame_bytes);
    let mut samples = Vec::new();
    reserve(&mut samples, frames.len(), path)?;
    if channels == 1 {
        samples.extend(frames.map(decode_sample));
    } else {
        // The channel average with the same `f32` arithmetic as the other decoders.
        let scale = 1.0 / channels as f32;
        samples
            .extend(frames.map(|f| f.chunks_exact(width).map(decode_sample).sum::<f32>() * scale));
    }
    Ok(Audio {
        samples,
        sample_rate: rate,
        source_channels: channels,
    })
}

/// ITU-T G.711 µ-law expansion, scaled to [-1, 1].
fn mulaw_to_linear(code: u8) -> f32 {
    let u = !code;
    let sign = u & 0x80;
    let exponent = (u >> 4) & 0x07;
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
    let value = if sign != 0 { -magnitude } else { magnitude };
    value as f32 / 32768.0
}

/// ITU-T G.711 A-law expansion, scaled to [-1, 1].
fn alaw_to_linear(code: u8) -> f32 {
    let a = code ^ 0x55;
    let sign = a & 0x80;
    let exponent = (a >> 4) & 0x07;
    let mantissa = i32::from(a & 0x0f);
    let magnitude = match exponent {
        0 => (mantissa << 4) + 8,
        e => ((mantissa << 4) + 0x108) << (e - 1),
    };
    let value = if sign != 0 { magnitude } else { -magnitude };
    value as f32 / 32768.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::decode_bytes;
    use crate::error::Error;

    fn au_file(encoding: u32, rate: u32, channels: u32, data: &[u8]) -> Vec<u8> {
        let annotation = b"mgr test\0\0\0\0\0\0\0\0";
        let offset = 24 + annotation.len() as u32;
        let mut v = Vec::new();
        for w in [
            0x2e73_6e64,
            offset,
            data.len() as u32,
            encoding,
            rate,
            channels,
        ] {
            v.extend_from_slice(&u32::to_be_bytes(w));
        }
        v.extend_from_slice(annotation);
        v.extend_from_slice(data);
        v
    }

    #[test]
    fn au_16bit_stereo_is_averaged() {
        let mut data = Vec::new();
        for (l, r) in [(16384i16, 0i16), (-32768, -32768), (100, 300)] {
            data.extend_from_slice(&l.to_be_bytes());
            data.extend_from_slice(&r.to_be_bytes());
        }
        let audio = decode_bytes(au_file(3, 22050, 2, &data), None, Path::new("x.au")).unwrap();
        assert_eq!(audio.sample_rate, 22050);
        assert_eq!(audio.source_channels, 2);
        assert_eq!(audio.samples, vec![0.25, -1.0, 200.0 / 32768.0]);
    }

    #[test]
    fn au_unsupported_encoding_is_an_error() {
        let err = decode_bytes(au_file(23, 8000, 1, &[0; 8]), None, Path::new("x.au"));
        assert!(matches!(err, Err(Error::UnsupportedFormat { .. })));
    }

    #[test]
    fn au_low_rate_is_refused() {
        let err = decode_bytes(au_file(3, 4000, 1, &[0; 8]), None, Path::new("x.au"));
        assert!(matches!(err, Err(Error::SampleRateTooLow(4000))));
    }

    #[test]
    fn g711_known_codes() {
        // µ-law 0xff and 0x7f are the two zeros; 0x00 is the most negative value (-32124).
        assert_eq!(mulaw_to_linear(0xff), 0.0);
        assert_eq!(mulaw_to_linear(0x00), -32124.0 / 32768.0);
        assert_eq!(mulaw_to_linear(0x80), 32124.0 / 32768.0);
        // A-law 0xd5 is the smallest positive step (+8), 0x2a the most negative (-32256).
        assert_eq!(alaw_to_linear(0xd5), 8.0 / 32768.0);
        assert_eq!(alaw_to_linear(0x2a), -32256.0 / 32768.0);
    }
}

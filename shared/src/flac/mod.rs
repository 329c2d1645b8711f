//! A FLAC decoder for the common case (what GTZAN-style collections hold): 4–24 bits per
//! sample, 1–8 channels, every subframe type (constant, verbatim, fixed, LPC) and stereo
//! decorrelation mode, with the frame header's CRC-8 and the frame's CRC-16 checked.
//!
//! It exists for speed: on a 30 s GTZAN clip symphonia's FLAC path (packet parser, generic
//! bit reader, planar → interleaved copy, mixdown) took about two thirds of the front-end
//! (issue 6). Anything this decoder does not handle, or any inconsistency in the stream,
//! returns an error and [`crate::audio`] decodes the file with symphonia instead, so damaged
//! files behave exactly as before. Samples are the same bits as symphonia's: an integer `v`
//! of `b` bits becomes `v / 2^(b−1)` (exact in `f32` for `b ≤ 24`), and channels are averaged
//! with the same `f32` sum as the symphonia path (`tests/decode.rs` checks every FLAC in the
//! data pack against symphonia bit for bit).
//!
//! Format: RFC 9639 (the FLAC specification), sections 8 (metadata), 9 (frames, subframes,
//! residual coding) and 9.1.6 / 9.3 (CRCs).
//!
//! Modules, each importing only those listed before it: [`error`] and [`crc`] (leaves),
//! [`bits`] (the bit reader), [`predict`] (fixed and LPC predictors), [`subframe`] (one
//! channel of a frame), [`metadata`] (STREAMINFO), [`frame`] (header, subframes, stereo
//! decorrelation, CRCs), and this file, the entry point that walks the frames and mixes them
//! down.

mod bits;
mod crc;
mod error;
mod frame;
mod metadata;
mod predict;
mod subframe;

pub(crate) use error::Unsupported;
pub(crate) use metadata::streaminfo_only;

use error::Res;
use frame::frame;

/// Decoded FLAC stream, mixed down to mono (the tests' view of [`decode_into`]).
#[cfg(test)]
#[derive(Debug)]
struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
}

/// Decode a whole FLAC file held in memory (it must start with `fLaC`).
#[cfg(test)]
fn decode(bytes: &[u8]) -> Res<Decoded> {
    let mut samples = Vec::new();
    let (sample_rate, channels) = decode_into(bytes, &mut samples, usize::MAX)?;
    Ok(Decoded {
        samples,
        sample_rate,
        channels,
    })
}

/// Mono samples per byte of file reserved up front: a 16-bit stream compressed to a quarter
/// of its PCM size gives 2, 8-bit mono at an eighth gives 8. Past that (long silences) the
/// buffer grows with what is decoded; STREAMINFO's total alone never sizes an allocation.
const RESERVE_PER_BYTE: usize = 8;

/// Decode a whole FLAC file held in memory (it must start with `fLaC`) to mono samples in
/// `samples` (cleared first; its capacity is reused), declining past `max_samples`. Returns
/// the sample rate and the channel count.
pub(crate) fn decode_into(
    bytes: &[u8],
    samples: &mut Vec<f32>,
    max_samples: usize,
) -> Res<(u32, usize)> {
    let (info, mut pos) = metadata::read(bytes)?;
    // (STREAMINFO's channels are 1–8 by construction, its rate checked by `metadata::read`.)
    if !(4..=24).contains(&info.bits) {
        return Err(Unsupported("sample format"));
    }
    // The CRC-16 table (8 KiB), built once per process.
    static CRC16: std::sync::LazyLock<crc::Crc16> = std::sync::LazyLock::new(crc::Crc16::new);
    let ch = info.channels;
    // Grown by `frame` to each block's size as it comes (at most STREAMINFO's maximum).
    let mut block: Vec<Vec<i32>> = vec![Vec::new(); ch];
    samples.clear();
    let claimed = usize::try_from(info.total_samples).unwrap_or(usize::MAX);
    let expected = claimed
        .min(bytes.len().saturating_mul(RESERVE_PER_BYTE))
        .min(max_samples);
    grow(samples, expected)?;
    let scale = 1.0 / (1u32 << (info.bits - 1)) as f32;
    let mix = 1.0 / ch as f32;
    let mut frames = 0u64;
    while pos < bytes.len() {
        if info.total_samples > 0 && samples.len() as u64 >= info.total_samples {
            break; // trailing bytes (tags, padding) after the last frame
        }
        let seq = if info.fixed_block_size() {
            frames
        } else {
            samples.len() as u64
        };
        let (n, end) = frame(bytes, pos, seq, &info, &CRC16, &mut block)?;
        frames += 1;
        if n > max_samples - samples.len() {
            return Err(Unsupported("more samples than the limit"));
        }
        grow(samples, n)?;
        if ch == 1 {
            samples.extend(block[0][..n].iter().map(|&v| v as f32 * scale));
        } else {
            // Same arithmetic as the symphonia path: f32 sum over channels, times 1/channels.
            samples.extend(
                (0..n).map(|i| block.iter().map(|c| c[i] as f32 * scale).sum::<f32>() * mix),
            );
        }
        pos = end;
    }
    if samples.is_empty() {
        return Err(Unsupported("no audio frames"));
    }
    if info.total_samples > 0 && samples.len() as u64 != info.total_samples {
        return Err(Unsupported("sample count differs from STREAMINFO"));
    }
    Ok((info.sample_rate, ch))
}

/// Room for `more` samples, or a decline when the system will not give the memory.
fn grow(samples: &mut Vec<f32>, more: usize) -> Res<()> {
    samples
        .try_reserve(more)
        .map_err(|_| Unsupported("out of memory"))
}

#[cfg(test)]
mod tests;

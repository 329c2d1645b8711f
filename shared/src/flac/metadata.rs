//! The metadata blocks before the first frame (RFC 9639 8): only STREAMINFO is read, the others
//! (seek table, tags, pictures, padding) are skipped.

use std::ops::Range;

use super::error::{Res, Unsupported, EOF};
use super::ReadAt;

/// The STREAMINFO fields the decoder needs (RFC 9639 8.2).
pub(super) struct StreamInfo {
    pub(super) sample_rate: u32,
    pub(super) channels: usize,
    pub(super) bits: u32,
    /// Samples per channel; 0 means unknown.
    pub(super) total_samples: u64,
    pub(super) min_block: usize,
    pub(super) max_block: usize,
}

impl StreamInfo {
    /// Equal block size bounds announce a fixed-block-size stream (RFC 9639 8.2).
    pub(super) fn fixed_block_size(&self) -> bool {
        self.min_block == self.max_block
    }
}

/// Walk the metadata blocks of the stream that starts with `fLaC` at `at`; returns
/// STREAMINFO and the offset of the first frame.
pub(super) fn read(src: &impl ReadAt, at: u64) -> Res<(StreamInfo, u64)> {
    let (info, frames) = walk(src, at)?;
    if info.end - info.start < 34 {
        return Err(Unsupported("short STREAMINFO"));
    }
    Ok((stream_info(&get(src, info.start, 34)?)?, frames))
}

/// The start of the same stream with STREAMINFO as its only metadata block, and the offset
/// of the first frame: symphonia is given this header followed by the frames, so that the
/// blocks neither decoder needs (tags, pictures, seek tables, cue sheets), whose length fields
/// symphonia would allocate from, never reach it.
pub(crate) fn streaminfo_only(src: &impl ReadAt, at: u64) -> Res<(Vec<u8>, u64)> {
    let (info, frames) = walk(src, at)?;
    let len = (info.end - info.start) as usize;
    let mut head = Vec::new();
    head.try_reserve_exact(8 + len)
        .map_err(|_| Unsupported("out of memory"))?;
    head.extend_from_slice(b"fLaC");
    head.push(0x80); // last block, type 0
    head.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    head.extend_from_slice(&get(src, info.start, len)?);
    Ok((head, frames))
}

/// `n` bytes at `pos`, or [`EOF`].
fn get(src: &impl ReadAt, pos: u64, n: usize) -> Res<Vec<u8>> {
    let mut b = vec![0u8; n];
    match src.read_at(pos, &mut b) {
        Ok(k) if k == n => Ok(b),
        _ => Err(EOF),
    }
}

/// The byte range of the (single) STREAMINFO body and the offset of the first frame; every
/// block must lie inside the stream.
fn walk(src: &impl ReadAt, at: u64) -> Res<(Range<u64>, u64)> {
    if get(src, at, 4).ok().as_deref() != Some(b"fLaC") {
        return Err(Unsupported("no fLaC marker"));
    }
    // Metadata blocks: 1 bit last-block flag, 7 bits type, 24 bits length.
    let mut pos = at + 4;
    let mut info = None;
    loop {
        let h = get(src, pos, 4)?;
        let (last, kind) = (h[0] & 0x80 != 0, h[0] & 0x7f);
        let len = u64::from(h[1]) << 16 | u64::from(h[2]) << 8 | u64::from(h[3]);
        let body = pos + 4..pos + 4 + len;
        if body.end > src.len() {
            return Err(Unsupported("metadata block past the end of the file"));
        }
        if kind == 0 {
            if info.is_some() {
                return Err(Unsupported("more than one STREAMINFO"));
            }
            info = Some(body.clone());
        }
        pos = body.end;
        if last {
            break;
        }
    }
    let info = info.ok_or(Unsupported("no STREAMINFO"))?;
    Ok((info, pos))
}

/// STREAMINFO's fields, refused where symphonia refuses them (so that a stream either
/// decoder accepts, both do): block sizes of at least 16 and in order, frame sizes in order
/// when known, a rate of 1 to 655 350 Hz.
fn stream_info(b: &[u8]) -> Res<StreamInfo> {
    let min_block = usize::from(u16::from_be_bytes([b[0], b[1]]));
    let max_block = usize::from(u16::from_be_bytes([b[2], b[3]]));
    if min_block < 16 || max_block < min_block {
        return Err(Unsupported("STREAMINFO block sizes"));
    }
    let min_frame = u32::from_be_bytes([0, b[4], b[5], b[6]]);
    let max_frame = u32::from_be_bytes([0, b[7], b[8], b[9]]);
    if min_frame > 0 && max_frame > 0 && max_frame < min_frame {
        return Err(Unsupported("STREAMINFO frame sizes"));
    }
    // 20 bits rate, 3 bits channels − 1, 5 bits bits − 1, 36 bits total samples.
    let x = u64::from_be_bytes([b[10], b[11], b[12], b[13], b[14], b[15], b[16], b[17]]);
    let sample_rate = (x >> 44) as u32;
    if !(1..=655_350).contains(&sample_rate) {
        return Err(Unsupported("STREAMINFO sample rate"));
    }
    Ok(StreamInfo {
        sample_rate,
        channels: ((x >> 41) & 0x7) as usize + 1,
        bits: ((x >> 36) & 0x1f) as u32 + 1,
        total_samples: x & 0xf_ffff_ffff,
        min_block,
        max_block,
    })
}

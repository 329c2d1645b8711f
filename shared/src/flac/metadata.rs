//! The metadata blocks before the first frame (RFC 9639 8): only STREAMINFO is read, the others
//! (seek table, tags, pictures, padding) are skipped.

use super::error::{Res, Unsupported, EOF};

/// The STREAMINFO fields the decoder needs (RFC 9639 8.2).
pub(super) struct StreamInfo {
    pub(super) sample_rate: u32,
    pub(super) channels: usize,
    pub(super) bits: u32,
    /// Samples per channel; 0 means unknown.
    pub(super) total_samples: u64,
    pub(super) max_block: usize,
}

/// Walk the metadata blocks of a stream that starts with `fLaC`; returns STREAMINFO and the
/// offset of the first frame.
pub(super) fn read(bytes: &[u8]) -> Res<(StreamInfo, usize)> {
    if !bytes.starts_with(b"fLaC") {
        return Err(Unsupported("no fLaC marker"));
    }
    // Metadata blocks: 1 bit last-block flag, 7 bits type, 24 bits length.
    let mut pos = 4;
    let mut info = None;
    loop {
        let h = bytes.get(pos..pos + 4).ok_or(EOF)?;
        let (last, kind) = (h[0] & 0x80 != 0, h[0] & 0x7f);
        let len = usize::from(h[1]) << 16 | usize::from(h[2]) << 8 | usize::from(h[3]);
        let body = bytes.get(pos + 4..pos + 4 + len).ok_or(EOF)?;
        if kind == 0 {
            info = Some(stream_info(body)?);
        }
        pos += 4 + len;
        if last {
            break;
        }
    }
    let info = info.ok_or(Unsupported("no STREAMINFO"))?;
    Ok((info, pos))
}

fn stream_info(b: &[u8]) -> Res<StreamInfo> {
    if b.len() < 34 {
        return Err(Unsupported("short STREAMINFO"));
    }
    let max_block = usize::from(u16::from_be_bytes([b[2], b[3]]));
    // 20 bits rate, 3 bits channels − 1, 5 bits bits − 1, 36 bits total samples.
    let x = u64::from_be_bytes([b[10], b[11], b[12], b[13], b[14], b[15], b[16], b[17]]);
    Ok(StreamInfo {
        sample_rate: (x >> 44) as u32,
        channels: ((x >> 41) & 0x7) as usize + 1,
        bits: ((x >> 36) & 0x1f) as u32 + 1,
        total_samples: x & 0xf_ffff_ffff,
        max_block,
    })
}

//! One frame (RFC 9639 9.1 and 9.3): the header with its CRC-8, a subframe per channel, stereo
//! decorrelation, and the CRC-16 over the whole frame.

use super::bits::Bits;
use super::crc::{crc8, Crc16};
use super::error::{Res, Unsupported, EOF};
use super::metadata::StreamInfo;
use super::subframe::subframe;

/// Decode the frame at `start` into `block` (one buffer per channel, grown to the block size
/// when shorter); returns the block size and the offset of the next frame. `seq` is the
/// frame's expected coded number: its index in a fixed-block-size stream, the number of
/// samples before it in a variable one.
pub(super) fn frame(
    bytes: &[u8],
    start: usize,
    seq: u64,
    info: &StreamInfo,
    crc16: &Crc16,
    block: &mut [Vec<i32>],
) -> Res<(usize, usize)> {
    // Frame header (RFC 9639 9.1): 14-bit sync 0b11111111111110, reserved 0, blocking strategy.
    let h = bytes.get(start..start + 4).ok_or(EOF)?;
    if h[0] != 0xff || h[1] & 0xfe != 0xf8 {
        return Err(Unsupported("lost frame sync"));
    }
    // The strategy must be the one STREAMINFO implies, as symphonia requires (it drops such
    // frames), so that every stream accepted here decodes the same there.
    let variable = h[1] & 1 != 0;
    if variable == info.fixed_block_size() {
        return Err(Unsupported("blocking strategy differs from STREAMINFO"));
    }
    let (bs_code, sr_code) = (h[2] >> 4, h[2] & 0xf);
    let (ch_code, ss_code) = (h[3] >> 4, (h[3] >> 1) & 0x7);
    if h[3] & 1 != 0 {
        return Err(Unsupported("reserved header bit"));
    }
    // Coded frame or sample number (RFC 9639 9.1.5): UTF-8-like, 1 to 7 bytes. Frames must
    // come in order, none missing or repeated.
    let first = *bytes.get(start + 4).ok_or(EOF)?;
    let extra = match first.leading_ones() {
        0 => 0,
        n @ 2..=7 => n as usize - 1,
        _ => return Err(Unsupported("bad coded number")),
    };
    let tail = bytes.get(start + 5..start + 5 + extra).ok_or(EOF)?;
    let mut number = u64::from(first & (0x7f >> extra));
    for &b in tail {
        if b & 0xc0 != 0x80 {
            return Err(Unsupported("bad coded number"));
        }
        number = number << 6 | u64::from(b & 0x3f);
    }
    if number != seq {
        return Err(Unsupported("frame out of sequence"));
    }
    let mut p = start + 5 + extra;
    let mut take = |k: usize| -> Res<u32> {
        let v = bytes
            .get(p..p + k)
            .ok_or(EOF)?
            .iter()
            .fold(0u32, |a, &b| a << 8 | u32::from(b));
        p += k;
        Ok(v)
    };
    let n = match bs_code {
        1 => 192,
        2..=5 => 576 << (bs_code - 2),
        6 => take(1)? as usize + 1,
        7 => take(2)? as usize + 1,
        8..=15 => 256 << (bs_code - 8),
        _ => return Err(Unsupported("reserved block size")),
    };
    let rate = match sr_code {
        0 => info.sample_rate,
        1 => 88_200,
        2 => 176_400,
        3 => 192_000,
        4 => 8_000,
        5 => 16_000,
        6 => 22_050,
        7 => 24_000,
        8 => 32_000,
        9 => 44_100,
        10 => 48_000,
        11 => 96_000,
        12 => take(1)? * 1000,
        13 => take(2)?,
        14 => take(2)? * 10,
        _ => return Err(Unsupported("bad sample rate code")),
    };
    let bits = match ss_code {
        0 => info.bits,
        1 => 8,
        2 => 12,
        4 => 16,
        5 => 20,
        6 => 24,
        _ => return Err(Unsupported("sample size")),
    };
    let header_end = p;
    let crc = *bytes.get(header_end).ok_or(EOF)?;
    if crc8(&bytes[start..header_end]) != crc {
        return Err(Unsupported("frame header CRC-8 mismatch"));
    }
    if rate != info.sample_rate || bits != info.bits {
        return Err(Unsupported("format changes mid-stream"));
    }
    let channels = match ch_code {
        0..=7 => usize::from(ch_code) + 1,
        8..=10 => 2,
        _ => return Err(Unsupported("reserved channel assignment")),
    };
    if channels != block.len() || n > info.max_block {
        return Err(Unsupported(
            "channel count or block size differs from STREAMINFO",
        ));
    }
    for buf in block.iter_mut().filter(|b| b.len() < n) {
        buf.resize(n, 0);
    }

    let mut r = Bits::new(bytes, header_end + 1);
    // Side channels carry one extra bit (RFC 9639 9.2: left/side, side/right, mid/side).
    for (c, buf) in block.iter_mut().enumerate() {
        let side = matches!((ch_code, c), (8, 1) | (9, 0) | (10, 1));
        subframe(&mut r, bits + u32::from(side), &mut buf[..n])?;
    }
    if let [a, b] = block {
        let (a, b) = (&mut a[..n], &mut b[..n]);
        match ch_code {
            // left, side → right = left − side
            8 => b
                .iter_mut()
                .zip(a.iter())
                .for_each(|(s, &l)| *s = l.wrapping_sub(*s)),
            // side, right → left = side + right
            9 => a
                .iter_mut()
                .zip(b.iter())
                .for_each(|(s, &r)| *s = s.wrapping_add(r)),
            // mid, side → left = (2·mid + (side & 1) + side) / 2, right = that − side
            10 => a.iter_mut().zip(b.iter_mut()).for_each(|(m, s)| {
                let mid = m.wrapping_shl(1) | (*s & 1);
                *m = mid.wrapping_add(*s) >> 1;
                *s = mid.wrapping_sub(*s) >> 1;
            }),
            _ => {}
        }
    }
    r.align();
    let crc_at = r.byte_pos();
    let want = r.bits(16)? as u16;
    if crc16.checksum(&bytes[start..crc_at]) != want {
        return Err(Unsupported("frame CRC-16 mismatch"));
    }
    Ok((n, crc_at + 2))
}

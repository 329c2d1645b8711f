//! One frame (RFC 9639 9), in the order it is coded: the header with its CRC-8 (9.1), a
//! subframe per channel (9.2), the stereo decorrelation undone (4.2), and the footer's CRC-16
//! over the whole frame (9.3). [`frame`] runs the stages; each has its own function below.

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
    let header = read_header(bytes, start, seq, info)?;
    let n = header.block_size;
    if header.channels.count() != block.len() || n > info.max_block {
        return Err(Unsupported(
            "channel count or block size differs from STREAMINFO",
        ));
    }
    for buf in block.iter_mut().filter(|b| b.len() < n) {
        buf.resize(n, 0);
    }
    let mut r = Bits::new(bytes, header.subframes_at);
    read_subframes(&mut r, info.bits, header.channels, block, n)?;
    decorrelate(header.channels, block, n);
    let next = check_footer(&mut r, bytes, start, crc16)?;
    Ok((n, next))
}

/// What the rest of a frame needs from its header. The sample rate and depth are not kept:
/// [`read_header`] declines a frame whose values differ from STREAMINFO's.
struct FrameHeader {
    /// Samples per channel (RFC 9639 9.1.1).
    block_size: usize,
    channels: ChannelAssignment,
    /// Offset of the first subframe: the byte after the header's CRC-8.
    subframes_at: usize,
}

/// How a frame codes its channels (RFC 9639 9.1.3).
#[derive(Clone, Copy)]
enum ChannelAssignment {
    /// Codes 0–7: 1–8 channels (the code plus one), each coded as itself.
    Independent(usize),
    /// Code 8: left, then side = left − right.
    LeftSide,
    /// Code 9: side, then right.
    SideRight,
    /// Code 10: mid = (left + right) >> 1, then side.
    MidSide,
}

impl ChannelAssignment {
    /// The 4-bit code of the header's fourth byte (RFC 9639 9.1.3); 11–15 are reserved.
    fn from_code(code: u8) -> Res<Self> {
        Ok(match code {
            0..=7 => Self::Independent(usize::from(code) + 1),
            8 => Self::LeftSide,
            9 => Self::SideRight,
            10 => Self::MidSide,
            _ => return Err(Unsupported("reserved channel assignment")),
        })
    }

    /// Channels in the frame.
    fn count(self) -> usize {
        match self {
            Self::Independent(n) => n,
            Self::LeftSide | Self::SideRight | Self::MidSide => 2,
        }
    }

    /// The channel that holds the side signal. It is coded with one bit more than the stream's
    /// depth, as the difference of two samples needs it (RFC 9639 4.2).
    fn side(self) -> Option<usize> {
        match self {
            Self::Independent(_) => None,
            Self::LeftSide | Self::MidSide => Some(1),
            Self::SideRight => Some(0),
        }
    }
}

/// The frame header at `start` (RFC 9639 9.1), checked against STREAMINFO and against the
/// coded number `seq` this frame must carry.
fn read_header(bytes: &[u8], start: usize, seq: u64, info: &StreamInfo) -> Res<FrameHeader> {
    // 14-bit sync code 0b11111111111110, a reserved 0 bit, the blocking strategy bit (9.1).
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
    // Four 4-bit codes, block size and sample rate, then channels, bit depth (3 bits) and a
    // reserved 0 bit (9.1.1 to 9.1.4); the numbers they defer to follow the coded number.
    let (bs_code, sr_code) = (h[2] >> 4, h[2] & 0xf);
    let (ch_code, ss_code) = (h[3] >> 4, (h[3] >> 1) & 0x7);
    if h[3] & 1 != 0 {
        return Err(Unsupported("reserved header bit"));
    }
    // Frames must come in order, none missing or repeated.
    let (number, mut at) = coded_number(bytes, start + 4)?;
    if number != seq {
        return Err(Unsupported("frame out of sequence"));
    }
    let block_size = block_size(bs_code, bytes, &mut at)?;
    let rate = sample_rate(sr_code, info.sample_rate, bytes, &mut at)?;
    let bits = bit_depth(ss_code, info.bits)?;
    // CRC-8 of the header from the sync code on (9.1.8).
    let crc = *bytes.get(at).ok_or(EOF)?;
    if crc8(&bytes[start..at]) != crc {
        return Err(Unsupported("frame header CRC-8 mismatch"));
    }
    if rate != info.sample_rate || bits != info.bits {
        return Err(Unsupported("format changes mid-stream"));
    }
    Ok(FrameHeader {
        block_size,
        channels: ChannelAssignment::from_code(ch_code)?,
        subframes_at: at + 1,
    })
}

/// The coded frame or sample number at `at` (RFC 9639 9.1.5), and the offset after it. It is
/// coded like UTF-8, in 1 to 7 bytes: a lead byte whose leading ones count the bytes (none
/// for a single byte; 0b10xxxxxx and 0xff lead nothing), then bytes 0b10xxxxxx of six bits
/// each.
fn coded_number(bytes: &[u8], at: usize) -> Res<(u64, usize)> {
    let first = *bytes.get(at).ok_or(EOF)?;
    let extra = match first.leading_ones() {
        0 => 0,
        n @ 2..=7 => n as usize - 1,
        _ => return Err(Unsupported("bad coded number")),
    };
    let tail = bytes.get(at + 1..at + 1 + extra).ok_or(EOF)?;
    let mut number = u64::from(first & (0x7f >> extra));
    for &b in tail {
        if b & 0xc0 != 0x80 {
            return Err(Unsupported("bad coded number"));
        }
        number = number << 6 | u64::from(b & 0x3f);
    }
    Ok((number, at + 1 + extra))
}

/// Samples per channel from the header's 4-bit code (RFC 9639 9.1.1): 192 (code 1),
/// 576 · 2^(code − 2) (2–5), 256 · 2^(code − 8) (8–15), or the size minus one in the 8 or 16
/// bits after the coded number (6 and 7, 9.1.6). Code 0 is reserved.
fn block_size(code: u8, bytes: &[u8], at: &mut usize) -> Res<usize> {
    Ok(match code {
        1 => 192,
        2..=5 => 576 << (code - 2),
        6 => uncommon(bytes, at, 1)? as usize + 1,
        7 => uncommon(bytes, at, 2)? as usize + 1,
        8..=15 => 256 << (code - 8),
        _ => return Err(Unsupported("reserved block size")),
    })
}

/// Sample rate in Hz from the header's 4-bit code (RFC 9639 9.1.2): STREAMINFO's (code 0), a
/// table of common rates (1–11), or a number after the coded number (9.1.7): kHz in 8 bits
/// (12), Hz in 16 bits (13), tens of Hz in 16 bits (14). Code 15 is forbidden, so that a
/// header cannot imitate the sync code.
fn sample_rate(code: u8, streaminfo: u32, bytes: &[u8], at: &mut usize) -> Res<u32> {
    Ok(match code {
        0 => streaminfo,
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
        12 => uncommon(bytes, at, 1)? * 1000,
        13 => uncommon(bytes, at, 2)?,
        14 => uncommon(bytes, at, 2)? * 10,
        _ => return Err(Unsupported("bad sample rate code")),
    })
}

/// Bits per sample from the header's 3-bit code (RFC 9639 9.1.4): STREAMINFO's (code 0), 8,
/// 12, 16, 20, 24 (1, 2, 4, 5, 6). Code 3 is reserved; 7 (32 bits) is past this decoder.
fn bit_depth(code: u8, streaminfo: u32) -> Res<u32> {
    Ok(match code {
        0 => streaminfo,
        1 => 8,
        2 => 12,
        4 => 16,
        5 => 20,
        6 => 24,
        _ => return Err(Unsupported("sample size")),
    })
}

/// The `k`-byte big-endian number at `*at`: an uncommon block size or sample rate, coded
/// after the coded number (RFC 9639 9.1.6 and 9.1.7). `*at` moves past it.
fn uncommon(bytes: &[u8], at: &mut usize, k: usize) -> Res<u32> {
    let v = bytes
        .get(*at..*at + k)
        .ok_or(EOF)?
        .iter()
        .fold(0u32, |a, &b| a << 8 | u32::from(b));
    *at += k;
    Ok(v)
}

/// One subframe per channel (RFC 9639 9.2), `n` samples each, into the channels' buffers.
fn read_subframes(
    r: &mut Bits,
    bits: u32,
    channels: ChannelAssignment,
    block: &mut [Vec<i32>],
    n: usize,
) -> Res<()> {
    let side = channels.side();
    for (c, buf) in block.iter_mut().enumerate() {
        subframe(r, bits + u32::from(side == Some(c)), &mut buf[..n])?;
    }
    Ok(())
}

/// Undo the stereo decorrelation (RFC 9639 4.2) over the first `n` samples of a two-channel
/// block, leaving left and right; independent channels stay as they are.
fn decorrelate(channels: ChannelAssignment, block: &mut [Vec<i32>], n: usize) {
    let [a, b] = block else {
        return;
    };
    let (a, b) = (&mut a[..n], &mut b[..n]);
    match channels {
        ChannelAssignment::LeftSide => left_side(a, b),
        ChannelAssignment::SideRight => side_right(a, b),
        ChannelAssignment::MidSide => mid_side(a, b),
        ChannelAssignment::Independent(_) => {}
    }
}

/// Left and side: right = left − side, written over the side.
fn left_side(left: &[i32], side: &mut [i32]) {
    side.iter_mut()
        .zip(left)
        .for_each(|(s, &l)| *s = l.wrapping_sub(*s));
}

/// Side and right: left = side + right, written over the side.
fn side_right(side: &mut [i32], right: &[i32]) {
    side.iter_mut()
        .zip(right)
        .for_each(|(s, &r)| *s = s.wrapping_add(r));
}

/// Mid and side: mid lost its lowest bit to the shift, and that bit equals side's (left + right
/// and left − right have the same parity), so 2·mid + (side & 1) = left + right; left is that
/// plus side, halved, and right that minus side, halved.
fn mid_side(mid: &mut [i32], side: &mut [i32]) {
    mid.iter_mut().zip(side.iter_mut()).for_each(|(m, s)| {
        let sum = m.wrapping_shl(1) | (*s & 1);
        *m = sum.wrapping_add(*s) >> 1;
        *s = sum.wrapping_sub(*s) >> 1;
    });
}

/// The frame footer (RFC 9639 9.3): padding to the next byte, then the CRC-16 of the whole
/// frame from its sync code on. Returns the offset of the next frame.
fn check_footer(r: &mut Bits, bytes: &[u8], start: usize, crc16: &Crc16) -> Res<usize> {
    r.align();
    let crc_at = r.byte_pos();
    let want = r.bits(16)? as u16;
    if crc16.checksum(&bytes[start..crc_at]) != want {
        return Err(Unsupported("frame CRC-16 mismatch"));
    }
    Ok(crc_at + 2)
}

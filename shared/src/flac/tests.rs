//! A minimal FLAC writer for the stereo and 24-bit paths, checked against symphonia, and
//! garbage that must be refused.

use super::crc::{crc8, Crc16};
use super::error::Res;
use super::{FlacStream, ReadAt};

impl ReadAt for Vec<u8> {
    fn len(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, pos: u64, buf: &mut [u8]) -> std::io::Result<usize> {
        let from = self.get(pos as usize..).unwrap_or_default();
        let n = buf.len().min(from.len());
        buf[..n].copy_from_slice(&from[..n]);
        Ok(n)
    }
}

/// Decoded FLAC stream, mixed down to mono.
#[derive(Debug)]
struct Decoded {
    samples: Vec<f32>,
    sample_rate: u32,
    channels: usize,
}

/// A whole FLAC stream held in memory (it must start with `fLaC`), frame after frame.
fn decode(bytes: &[u8]) -> Res<Decoded> {
    let mut s = FlacStream::open(bytes.to_vec(), 0)?;
    let mut samples = Vec::new();
    while s.next(&mut samples)? {}
    Ok(Decoded {
        samples,
        sample_rate: s.sample_rate(),
        channels: s.channels(),
    })
}

/// Minimal FLAC writer for the stereo and 24-bit paths (the data pack has only mono
/// 16-bit files): verbatim, fixed order 2 (Rice-coded) and LPC order 2 subframes, one with
/// wasted bits, in all four stereo modes.
struct Writer {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Writer {
    fn put(&mut self, v: i64, k: u32) {
        for i in (0..k).rev() {
            self.acc = self.acc << 1 | ((v >> i) & 1) as u64;
            self.n += 1;
            if self.n == 8 {
                self.out.push(self.acc as u8);
                (self.acc, self.n) = (0, 0);
            }
        }
    }
    fn rice(&mut self, r: i64, k: u32) {
        let z = if r < 0 { -2 * r - 1 } else { 2 * r };
        for _ in 0..z >> k {
            self.put(0, 1);
        }
        self.put(1, 1);
        self.put(z, k);
    }
    fn pad(&mut self) {
        while self.n != 0 {
            self.put(0, 1);
        }
    }
}

fn write_subframe(w: &mut Writer, x: &[i64], bits: u32, kind: usize) {
    match kind {
        0 => {
            w.put(0x02, 8);
            x.iter().for_each(|&v| w.put(v, bits));
        }
        1 => {
            w.put(0x14, 8);
            w.put(x[0], bits);
            w.put(x[1], bits);
            w.put(0, 2); // Rice, 4-bit parameters
            w.put(0, 4); // one partition
            w.put(9, 4);
            for i in 2..x.len() {
                w.rice(x[i] - (2 * x[i - 1] - x[i - 2]), 9);
            }
        }
        2 => {
            // LPC order 2, precision 4, shift 1, coefficients 3 and −1: (3a − b) >> 1.
            w.put(0x42, 8);
            w.put(x[0], bits);
            w.put(x[1], bits);
            w.put(3, 4);
            w.put(1, 5);
            w.put(3, 4);
            w.put(-1, 4);
            w.put(1, 2); // Rice, 5-bit parameters
            w.put(1, 4); // two partitions
            let half = x.len() / 2;
            for (p, range) in [(2, 2..half), (10, half..x.len())] {
                w.put(p, 5);
                for i in range {
                    w.rice(x[i] - ((3 * x[i - 1] - x[i - 2]) >> 1), p as u32);
                }
            }
        }
        _ => {
            // Wasted bits: one, then verbatim with one bit less (values are even).
            w.put(0x03, 8);
            w.put(1, 1);
            x.iter().for_each(|&v| w.put(v >> 1, bits - 1));
        }
    }
}

fn stereo_stream(bits: u32, mode: u8, n: usize, frames: usize) -> Vec<u8> {
    let mut w = Writer {
        out: b"fLaC".to_vec(),
        acc: 0,
        n: 0,
    };
    w.put(0x80, 8);
    w.put(34, 24);
    w.put(n as i64, 16);
    w.put(n as i64, 16);
    w.put(0, 48);
    w.put(44_100, 20);
    w.put(1, 3);
    w.put(i64::from(bits) - 1, 5);
    w.put((n * frames) as i64, 36);
    w.put(0, 64);
    w.put(0, 64);
    let amp = f64::from(1u32 << (bits - 2));
    for f in 0..frames {
        let start = w.out.len();
        let t = |i: usize| (f * n + i) as f64;
        let l: Vec<i64> = (0..n)
            .map(|i| 2 * ((amp * (t(i) * 0.05).sin()) as i64 / 2))
            .collect();
        let r: Vec<i64> = (0..n)
            .map(|i| (amp * 0.7 * (t(i) * 0.031).cos()) as i64)
            .collect();
        w.put(0xfff8, 16);
        w.put(7, 4);
        w.put(0, 4);
        w.put(i64::from(mode), 4);
        w.put(0, 4);
        w.put(f as i64, 8);
        w.put(n as i64 - 1, 16);
        let c = crc8(&w.out[start..]);
        w.put(i64::from(c), 8);
        let side: Vec<i64> = l.iter().zip(&r).map(|(a, b)| a - b).collect();
        let mid: Vec<i64> = l.iter().zip(&r).map(|(a, b)| (a + b) >> 1).collect();
        let chans: [(&[i64], u32); 2] = match mode {
            1 => [(&l, bits), (&r, bits)],
            8 => [(&l, bits), (&side, bits + 1)],
            9 => [(&side, bits + 1), (&r, bits)],
            _ => [(&mid, bits), (&side, bits + 1)],
        };
        for (c, (x, b)) in chans.iter().enumerate() {
            let kind = if c == 0 && mode == 1 { 3 } else { (f + c) % 3 };
            write_subframe(&mut w, x, *b, kind);
        }
        w.pad();
        let crc = Crc16::new().checksum(&w.out[start..]);
        w.put(i64::from(crc), 16);
    }
    w.out
}

#[test]
fn stereo_modes_and_24_bit_equal_symphonia() {
    for bits in [16, 24] {
        for mode in [1u8, 8, 9, 10] {
            let bytes = stereo_stream(bits, mode, 1152, 3);
            let own = decode(&bytes).unwrap_or_else(|e| panic!("{bits} bit mode {mode}: {e:?}"));
            let sym = crate::audio::decode_bytes_symphonia(
                bytes,
                Some("flac"),
                std::path::Path::new("t.flac"),
            )
            .unwrap();
            assert_eq!(own.channels, 2);
            assert_eq!(own.sample_rate, sym.sample_rate());
            assert_eq!(own.samples.len(), 3 * 1152);
            assert!(
                own.samples == sym.samples(),
                "{bits} bit, channel mode {mode}: differs from symphonia"
            );
            assert!(own.samples.iter().any(|&v| v.abs() > 0.2));
        }
    }
}

#[test]
fn garbage_is_refused_without_panic() {
    assert!(decode(b"").is_err());
    assert!(decode(b"fLaC").is_err());
    assert!(decode(b"fLaC\x80\x00\x00\x22").is_err());
    let mut x = b"fLaC\x80\x00\x00\x22".to_vec();
    x.extend([0xffu8; 34]);
    x.extend([0xff, 0xf8, 0x69, 0x08, 0x00, 0x00]);
    assert!(decode(&x).is_err());
}

/// STREAMINFO's total is a claim, not a size: 2^36 − 1 samples in a 3-frame stream reserves
/// nothing from it, and the stream is declined for the mismatch at its end.
#[test]
fn a_huge_sample_count_claim_is_not_reserved() {
    let mut bytes = stereo_stream(16, 1, 1152, 3);
    // The 36-bit total ends STREAMINFO's 18th byte (offset 8 + 17 after marker and header).
    bytes[21] |= 0x0f;
    bytes[22..26].fill(0xff);
    let mut s = FlacStream::open(bytes, 0).unwrap();
    let mut samples = Vec::new();
    let mut frames = 0;
    let end = loop {
        match s.next(&mut samples) {
            Ok(true) => frames += 1,
            other => break other,
        }
    };
    assert_eq!(frames, 3);
    assert_eq!(
        end,
        Err(super::Unsupported("sample count differs from STREAMINFO"))
    );
    assert!(samples.capacity() < 8 * 1152, "{}", samples.capacity());
}

/// Frames past STREAMINFO's total are not decoded, and the stream says they were there.
#[test]
fn frames_past_the_announced_total_are_noticed() {
    let mut bytes = stereo_stream(16, 1, 1152, 3);
    // Announce two frames' samples: 2304 = 0x900 in the 36-bit total.
    bytes[21] &= 0xf0;
    bytes[22..26].copy_from_slice(&[0, 0, 0x09, 0x00]);
    let d = decode(&bytes).unwrap();
    assert_eq!(d.samples.len(), 2 * 1152);
    let mut s = FlacStream::open(bytes, 0).unwrap();
    let mut samples = Vec::new();
    while s.next(&mut samples).unwrap() {}
    assert!(s.trailing_frames());
    let mut s = FlacStream::open(stereo_stream(16, 1, 1152, 3), 0).unwrap();
    while s.next(&mut samples).unwrap() {}
    assert!(!s.trailing_frames());
}

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

/// Why the fast path gave up (the caller falls back to symphonia; never shown to users).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported(pub &'static str);

type Res<T> = std::result::Result<T, Unsupported>;

/// Decoded FLAC stream, mixed down to mono (the tests' view of [`decode_into`]).
#[cfg(test)]
#[derive(Debug)]
struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
}

/// Big-endian bit reader with a 64-bit cache (valid bits left-aligned).
#[derive(Clone, Copy)]
struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load into the cache.
    pos: usize,
    cache: u64,
    /// Valid bits in `cache`.
    n: u32,
}

const EOF: Unsupported = Unsupported("unexpected end of data");

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            cache: 0,
            n: 0,
        }
    }

    /// Fill the cache to at least 56 bits when the data allows.
    #[inline(always)]
    fn refill(&mut self) {
        if let Some(w) = self.data.get(self.pos..self.pos + 8) {
            let w = u64::from_be_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
            // Bits past the counted ones are the stream's next bits, so OR-ing them in again
            // on the next refill changes nothing.
            self.cache |= w >> self.n;
            let bytes = (63 - self.n) >> 3;
            self.pos += bytes as usize;
            self.n += bytes * 8;
        } else {
            // Stop at 56..=63 valid bits: shifts by `n` stay below 64.
            while self.n <= 55 {
                let Some(&b) = self.data.get(self.pos) else {
                    break;
                };
                self.cache |= u64::from(b) << (56 - self.n);
                self.pos += 1;
                self.n += 8;
            }
        }
    }

    /// Read `k ≤ 32` bits as an unsigned number.
    #[inline(always)]
    fn bits(&mut self, k: u32) -> Res<u32> {
        if k == 0 {
            return Ok(0);
        }
        if self.n < k {
            self.refill();
            if self.n < k {
                return Err(EOF);
            }
        }
        let v = (self.cache >> (64 - k)) as u32;
        self.cache <<= k;
        self.n -= k;
        Ok(v)
    }

    /// Read `k ≤ 32` bits as a two's-complement signed number.
    #[inline(always)]
    fn signed(&mut self, k: u32) -> Res<i32> {
        if k == 0 {
            return Ok(0);
        }
        let v = self.bits(k)?;
        Ok(((v << (32 - k)) as i32) >> (32 - k))
    }

    /// Count zero bits up to the next one bit and consume them with the one.
    #[inline(always)]
    fn unary(&mut self) -> Res<u32> {
        let mut q = 0u32;
        loop {
            let lz = self.cache.leading_zeros();
            if lz < self.n {
                self.cache <<= lz + 1;
                self.n -= lz + 1;
                return Ok(q + lz);
            }
            q += self.n;
            if q > 1 << 30 {
                return Err(Unsupported("unary code too long"));
            }
            self.cache = 0;
            self.n = 0;
            self.refill();
            if self.n == 0 {
                return Err(EOF);
            }
        }
    }

    /// Drop bits up to the next byte boundary.
    fn align(&mut self) {
        let r = self.n % 8;
        self.cache <<= r;
        self.n -= r;
    }

    /// Byte offset of the next unread bit (only meaningful when byte-aligned).
    fn byte_pos(&self) -> usize {
        self.pos - (self.n / 8) as usize
    }
}

/// CRC-8, polynomial x⁸ + x² + x + 1 (0x07), initial 0: the frame header check (RFC 9639 9.1.8).
fn crc8(data: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &b in data {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// CRC-16, polynomial x¹⁶ + x¹⁵ + x² + 1 (0x8005), initial 0: the whole-frame check
/// (RFC 9639 9.3), table-driven sixteen bytes at a time (slicing-by-16: the lookups of one
/// step are independent, so the serial chain through `crc` is paid once per 16 bytes).
struct Crc16 {
    /// `table[s][b]`: the CRC of byte `b` followed by `s` zero bytes.
    table: Box<[[u16; 256]; 16]>,
}

impl Crc16 {
    fn new() -> Self {
        let mut table = Box::new([[0u16; 256]; 16]);
        for (i, t) in table[0].iter_mut().enumerate() {
            let mut crc = (i as u16) << 8;
            for _ in 0..8 {
                crc = if crc & 0x8000 != 0 {
                    (crc << 1) ^ 0x8005
                } else {
                    crc << 1
                };
            }
            *t = crc;
        }
        for s in 1..16 {
            let (done, rest) = table.split_at_mut(s);
            for (d, &prev) in rest[0].iter_mut().zip(&done[s - 1]) {
                *d = (prev << 8) ^ done[0][usize::from(prev >> 8)];
            }
        }
        Self { table }
    }

    fn checksum(&self, data: &[u8]) -> u16 {
        let t = &*self.table;
        let mut crc = 0u16;
        let mut chunks = data.chunks_exact(16);
        for c in &mut chunks {
            // Byte i of the chunk is followed by 15 − i more bytes. The fourteen terms that
            // do not involve `crc` come first, so that only the last two wait for the
            // previous chunk.
            let mut x = 0u16;
            for (i, &b) in c.iter().enumerate().skip(2) {
                x ^= t[15 - i][usize::from(b)];
            }
            let [hi, lo] = crc.to_be_bytes();
            crc = x ^ t[15][usize::from(c[0] ^ hi)] ^ t[14][usize::from(c[1] ^ lo)];
        }
        for &b in chunks.remainder() {
            crc = (crc << 8) ^ t[0][usize::from((crc >> 8) as u8 ^ b)];
        }
        crc
    }
}

/// The STREAMINFO fields the decoder needs (RFC 9639 8.2).
struct StreamInfo {
    sample_rate: u32,
    channels: usize,
    bits: u32,
    total_samples: u64,
    max_block: usize,
}

/// Decode a whole FLAC file held in memory (it must start with `fLaC`).
#[cfg(test)]
fn decode(bytes: &[u8]) -> Res<Decoded> {
    let mut samples = Vec::new();
    let (sample_rate, channels) = decode_into(bytes, &mut samples)?;
    Ok(Decoded {
        samples,
        sample_rate,
        channels,
    })
}

/// Decode a whole FLAC file held in memory (it must start with `fLaC`) to mono samples in
/// `samples` (cleared first; its capacity is reused). Returns the sample rate and the
/// channel count.
pub(crate) fn decode_into(bytes: &[u8], samples: &mut Vec<f32>) -> Res<(u32, usize)> {
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
    if !(4..=24).contains(&info.bits) || info.channels == 0 || info.sample_rate == 0 {
        return Err(Unsupported("sample format"));
    }
    let crc16 = Crc16::new();
    let ch = info.channels;
    let mut block: Vec<Vec<i32>> = vec![vec![0; info.max_block.max(16)]; ch];
    samples.clear();
    samples.reserve(usize::try_from(info.total_samples).unwrap_or(0));
    let scale = 1.0 / (1u32 << (info.bits - 1)) as f32;
    let mix = 1.0 / ch as f32;
    while pos < bytes.len() {
        if info.total_samples > 0 && samples.len() as u64 >= info.total_samples {
            break; // trailing bytes (tags, padding) after the last frame
        }
        let (n, end) = frame(bytes, pos, &info, &crc16, &mut block)?;
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

/// Decode the frame at `start` into `block` (one buffer per channel); returns the block size
/// and the offset of the next frame.
fn frame(
    bytes: &[u8],
    start: usize,
    info: &StreamInfo,
    crc16: &Crc16,
    block: &mut [Vec<i32>],
) -> Res<(usize, usize)> {
    // Frame header (RFC 9639 9.1): 14-bit sync 0b11111111111110, reserved 0, blocking strategy.
    let h = bytes.get(start..start + 4).ok_or(EOF)?;
    if h[0] != 0xff || h[1] & 0xfe != 0xf8 {
        return Err(Unsupported("lost frame sync"));
    }
    let (bs_code, sr_code) = (h[2] >> 4, h[2] & 0xf);
    let (ch_code, ss_code) = (h[3] >> 4, (h[3] >> 1) & 0x7);
    if h[3] & 1 != 0 {
        return Err(Unsupported("reserved header bit"));
    }
    // Coded frame or sample number: UTF-8-like, 1 to 7 bytes; only its length matters here.
    let first = *bytes.get(start + 4).ok_or(EOF)?;
    let extra = match first.leading_ones() {
        0 => 0,
        n @ 2..=7 => n as usize - 1,
        _ => return Err(Unsupported("bad coded number")),
    };
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
    if channels != block.len() || n > block[0].len() {
        return Err(Unsupported(
            "channel count or block size differs from STREAMINFO",
        ));
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

/// One subframe (RFC 9639 9.2) of `bits` bits per sample into `out` (the block size long).
fn subframe(r: &mut Bits, bits: u32, out: &mut [i32]) -> Res<()> {
    let head = r.bits(8)?;
    if head & 0x80 != 0 {
        return Err(Unsupported("subframe padding bit"));
    }
    let kind = (head >> 1) & 0x3f;
    // Wasted bits: a unary count, the samples are coded with that many fewer bits.
    let wasted = if head & 1 != 0 { r.unary()? + 1 } else { 0 };
    if wasted >= bits {
        return Err(Unsupported("wasted bits"));
    }
    let bits = bits - wasted;
    match kind {
        0 => {
            let v = r.signed(bits)?;
            out.fill(v);
        }
        1 => {
            for s in out.iter_mut() {
                *s = r.signed(bits)?;
            }
        }
        8..=12 => {
            let order = (kind - 8) as usize;
            warm_up(r, bits, order, out)?;
            residual(r, order, out)?;
            fixed_predict(order, out);
        }
        32..=63 => {
            let order = (kind - 31) as usize;
            warm_up(r, bits, order, out)?;
            let precision = r.bits(4)? + 1;
            if precision == 16 {
                return Err(Unsupported("reserved LPC precision"));
            }
            let shift = r.signed(5)?;
            if shift < 0 {
                return Err(Unsupported("negative LPC shift"));
            }
            let mut coefs = [0i32; 32];
            for c in &mut coefs[..order] {
                *c = r.signed(precision)?;
            }
            residual(r, order, out)?;
            lpc_predict(&coefs[..order], shift as u32, out);
            // A valid stream's samples fit in `bits`; anything else is left to symphonia.
            let (lo, hi) = (-(1i32 << (bits - 1)), (1i32 << (bits - 1)) - 1);
            let out_of_range = out
                .chunks(256)
                .any(|c| c.iter().fold(false, |bad, &v| bad | (v < lo) | (v > hi)));
            if out_of_range {
                return Err(Unsupported("LPC output outside the sample range"));
            }
        }
        _ => return Err(Unsupported("reserved subframe type")),
    }
    if wasted > 0 {
        for s in out.iter_mut() {
            *s = s.wrapping_shl(wasted);
        }
    }
    Ok(())
}

fn warm_up(r: &mut Bits, bits: u32, order: usize, out: &mut [i32]) -> Res<()> {
    if order > out.len() {
        return Err(Unsupported("predictor order above block size"));
    }
    for s in &mut out[..order] {
        *s = r.signed(bits)?;
    }
    Ok(())
}

/// Rice-coded residual (RFC 9639 9.2.7) into `out[order..]`.
fn residual(r: &mut Bits, order: usize, out: &mut [i32]) -> Res<()> {
    let param_bits = match r.bits(2)? {
        0 => 4,
        1 => 5,
        _ => return Err(Unsupported("reserved residual coding")),
    };
    let partition_order = r.bits(4)?;
    let n = out.len();
    let per = n >> partition_order;
    if per << partition_order != n || per < order {
        return Err(Unsupported("bad partition order"));
    }
    let escape = (1 << param_bits) - 1;
    let mut at = order;
    for p in 0..1usize << partition_order {
        let end = (p + 1) * per;
        let k = r.bits(param_bits)?;
        let part = &mut out[at..end];
        if k == escape {
            let raw = r.bits(5)?;
            for s in part.iter_mut() {
                *s = r.signed(raw)?;
            }
        } else {
            rice_partition(r, k, part)?;
        }
        at = end;
    }
    Ok(())
}

/// Rice codes with parameter `k`: a unary quotient, then `k` low bits; zig-zag signed
/// (0, −1, 1, −2, … ↔ 0, 1, 2, 3, …). The common case — the whole code inside the bit cache —
/// is handled inline; long quotients and the end of the data take the general path.
fn rice_partition(reader: &mut Bits, k: u32, out: &mut [i32]) -> Res<()> {
    /// Compiled per instruction set: with x86-64-v3 the leading-zero count is one `lzcnt`
    /// instead of `bsr` and a fix-up, and shifts by a register do not touch the flags.
    struct Run<'r, 'a> {
        reader: &'r mut Bits<'a>,
        k: u32,
        out: &'r mut [i32],
    }
    impl pulp::WithSimd for Run<'_, '_> {
        type Output = Res<()>;
        #[inline(always)]
        fn with_simd<S: pulp::Simd>(self, _simd: S) -> Res<()> {
            rice_codes(self.reader, self.k, self.out)
        }
    }
    pulp::Arch::new().dispatch(Run { reader, k, out })
}

#[inline(always)]
fn rice_codes(reader: &mut Bits, k: u32, out: &mut [i32]) -> Res<()> {
    // A local copy, written back at the end: the reader's fields stay in registers instead of
    // going through memory (and store forwarding) on every code.
    let mut local = *reader;
    let r = &mut local;
    let zigzag = |v: u32| (v >> 1) as i32 ^ -((v & 1) as i32);
    for s in out.iter_mut() {
        if r.n < 32 {
            r.refill();
        }
        let lz = r.cache.leading_zeros();
        let used = lz + 1 + k;
        if used <= r.n && lz < 32 {
            // lz + 1 ≤ n ≤ 63 and k ≤ 31: every shift below is under 64.
            let low = if k == 0 {
                0
            } else {
                ((r.cache << (lz + 1)) >> (64 - k)) as u32
            };
            r.cache <<= used; // used ≤ n ≤ 63
            r.n -= used;
            *s = zigzag(lz << k | low);
        } else {
            let q = r.unary()?;
            let low = r.bits(k)?;
            let v = q.checked_shl(k).ok_or(Unsupported("residual overflow"))? | low;
            *s = zigzag(v);
        }
    }
    *reader = local;
    Ok(())
}

/// Fixed polynomial predictors of order 0–4 (RFC 9639 9.2.5), in place over the residual.
fn fixed_predict(order: usize, s: &mut [i32]) {
    let n = s.len();
    match order {
        1 => {
            for i in 1..n {
                s[i] = s[i].wrapping_add(s[i - 1]);
            }
        }
        2 => {
            for i in 2..n {
                let p = s[i - 1].wrapping_mul(2).wrapping_sub(s[i - 2]);
                s[i] = s[i].wrapping_add(p);
            }
        }
        3 => {
            for i in 3..n {
                let p = s[i - 1]
                    .wrapping_sub(s[i - 2])
                    .wrapping_mul(3)
                    .wrapping_add(s[i - 3]);
                s[i] = s[i].wrapping_add(p);
            }
        }
        4 => {
            for i in 4..n {
                let p = s[i - 1]
                    .wrapping_add(s[i - 3])
                    .wrapping_mul(4)
                    .wrapping_sub(s[i - 2].wrapping_mul(6))
                    .wrapping_sub(s[i - 4]);
                s[i] = s[i].wrapping_add(p);
            }
        }
        _ => {}
    }
}

/// Linear prediction `s[i] += (Σ_j c[j]·s[i−1−j]) >> shift` (RFC 9639 9.2.6), in place,
/// accumulated in `i64` (coefficients of up to 15 bits times samples of up to 25 bits, up to
/// 32 terms). Orders up to 12 (the streamable subset) run fixed-length, zero-padded loops.
fn lpc_predict(coefs: &[i32], shift: u32, s: &mut [i32]) {
    fn run<const N: usize>(coefs: &[i32], shift: u32, s: &mut [i32]) {
        let order = coefs.len();
        // Oldest tap first, zero-padded at the old end: acc = Σ_j taps[j]·s[i − N + j].
        let mut taps = [0i64; N];
        for (j, &c) in coefs.iter().enumerate() {
            taps[N - 1 - j] = i64::from(c);
        }
        let split = N.min(s.len()).max(order);
        for i in order..split {
            let acc: i64 = (0..order)
                .map(|j| i64::from(coefs[j]) * i64::from(s[i - 1 - j]))
                .sum();
            s[i] = s[i].wrapping_add((acc >> shift) as i32);
        }
        if s.len() <= split {
            return;
        }
        // The last N samples live in `hist` (registers), not re-read from `s`: a vector load
        // of samples just stored stalls on store forwarding. `hist` is a ring: within a chunk
        // of N samples, step t replaces slot t (the oldest) with the new sample, so with both
        // loops unrolled every index is a constant. Oldest term first, so only the last
        // multiply-add waits for the sample decoded one step before. (Scalar 64-bit multiplies
        // cost what 32-bit ones do.)
        let mut hist: [i64; N] = std::array::from_fn(|j| i64::from(s[split - N + j]));
        let mut step = |chunk: &mut [i32; N]| {
            for t in 0..N {
                let mut acc = 0i64;
                for j in 0..N {
                    acc += taps[j] * hist[(t + j) % N];
                }
                chunk[t] = chunk[t].wrapping_add((acc >> shift) as i32);
                hist[t] = i64::from(chunk[t]);
            }
        };
        let mut chunks = s[split..].chunks_exact_mut(N);
        for chunk in &mut chunks {
            if let Ok(chunk) = <&mut [i32; N]>::try_from(chunk) {
                step(chunk);
            }
        }
        // The last partial chunk through a padded copy (the padding's outputs are dropped).
        let rest = chunks.into_remainder();
        let mut tail = [0i32; N];
        tail[..rest.len()].copy_from_slice(rest);
        step(&mut tail);
        rest.copy_from_slice(&tail[..rest.len()]);
    }
    match coefs.len() {
        0 => {}
        1..=4 => run::<4>(coefs, shift, s),
        5..=8 => run::<8>(coefs, shift, s),
        9..=12 => run::<12>(coefs, shift, s),
        _ => run::<32>(coefs, shift, s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc8_and_crc16_check_values() {
        // The standard check input "123456789": CRC-8 (poly 0x07) = 0xF4, CRC-16/UMTS
        // (poly 0x8005, init 0, no reflection) = 0xFEE8.
        assert_eq!(crc8(b"123456789"), 0xf4);
        let c = Crc16::new();
        assert_eq!(c.checksum(b"123456789"), 0xfee8);
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut slow = 0u16;
        for &b in &long {
            slow ^= u16::from(b) << 8;
            for _ in 0..8 {
                slow = if slow & 0x8000 != 0 {
                    (slow << 1) ^ 0x8005
                } else {
                    slow << 1
                };
            }
        }
        assert_eq!(c.checksum(&long), slow);
    }

    #[test]
    fn bit_reader_unary_and_signed() {
        // 0b0001_1111 0b1111_0000 ...: unary 3, then 4 bits 0b1111 = -1 signed, ...
        let data = [0b0001_1111u8, 0b1111_0000, 0, 0, 0, 0, 0, 0, 0, 1];
        let mut r = Bits::new(&data, 0);
        assert_eq!(r.unary(), Ok(3));
        assert_eq!(r.signed(4), Ok(-1));
        assert_eq!(r.bits(4), Ok(0b1111));
        // 4 + 64 zero bits then a one: a unary run across refills.
        assert_eq!(r.unary(), Ok(4 + 8 * 7 + 7));
        assert_eq!(r.bits(1), Err(EOF));
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
                let own =
                    decode(&bytes).unwrap_or_else(|e| panic!("{bits} bit mode {mode}: {e:?}"));
                let sym = crate::audio::decode_symphonia(
                    bytes,
                    Some("flac"),
                    std::path::Path::new("t.flac"),
                )
                .unwrap();
                assert_eq!(own.channels, 2);
                assert_eq!(own.sample_rate, sym.sample_rate);
                assert_eq!(own.samples.len(), 3 * 1152);
                assert!(
                    own.samples == sym.samples,
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
}

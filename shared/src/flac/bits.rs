//! Big-endian bit reader over a byte slice, with the unary and two's-complement reads that
//! FLAC's subframes and Rice codes need (RFC 9639 9.2).

use super::error::{Res, Unsupported, EOF};

/// Big-endian bit reader with a 64-bit cache (valid bits left-aligned).
#[derive(Clone, Copy)]
pub(super) struct Bits<'a> {
    data: &'a [u8],
    /// Next byte to load into the cache.
    pos: usize,
    /// Unread bits, left-aligned (the Rice fast path reads it directly).
    pub(super) cache: u64,
    /// Valid bits in `cache`.
    pub(super) n: u32,
}

impl<'a> Bits<'a> {
    pub(super) fn new(data: &'a [u8], pos: usize) -> Self {
        Self {
            data,
            pos,
            cache: 0,
            n: 0,
        }
    }

    /// Fill the cache to at least 56 bits when the data allows.
    #[inline(always)]
    pub(super) fn refill(&mut self) {
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
    pub(super) fn bits(&mut self, k: u32) -> Res<u32> {
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
    pub(super) fn signed(&mut self, k: u32) -> Res<i32> {
        if k == 0 {
            return Ok(0);
        }
        let v = self.bits(k)?;
        Ok(((v << (32 - k)) as i32) >> (32 - k))
    }

    /// Count zero bits up to the next one bit and consume them with the one.
    #[inline(always)]
    pub(super) fn unary(&mut self) -> Res<u32> {
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
    pub(super) fn align(&mut self) {
        let r = self.n % 8;
        self.cache <<= r;
        self.n -= r;
    }

    /// Byte offset of the next unread bit (only meaningful when byte-aligned).
    pub(super) fn byte_pos(&self) -> usize {
        self.pos - (self.n / 8) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The two FLAC checksums (RFC 9639 9.1.8 and 9.3).

/// CRC-8, polynomial x⁸ + x² + x + 1 (0x07), initial 0: the frame header check (RFC 9639 9.1.8).
pub(super) fn crc8(data: &[u8]) -> u8 {
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
pub(super) struct Crc16 {
    /// `table[s][b]`: the CRC of byte `b` followed by `s` zero bytes.
    table: Box<[[u16; 256]; 16]>,
}

impl Crc16 {
    pub(super) fn new() -> Self {
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

    pub(super) fn checksum(&self, data: &[u8]) -> u16 {
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
}

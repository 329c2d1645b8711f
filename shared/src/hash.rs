//! FNV-1a (64-bit): a small, stable hash for cache file names, model identities and seed
//! derivation. Unlike std's hasher it gives the same value on every run and platform, which is
//! what an on-disk cache key or a reproducible seed needs. Not for anything adversarial.

const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME: u64 = 0x0100_0000_01b3;

/// FNV-1a of `bytes`, starting from the standard offset basis xor `seed`.
pub fn fnv1a(seed: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes
        .into_iter()
        .fold(OFFSET ^ seed, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(fnv1a(0, *b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(0, *b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(0, *b"foobar"), 0x8594_4171_f739_67e8);
    }
}

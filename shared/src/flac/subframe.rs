//! One subframe (RFC 9639 9.2): constant, verbatim, fixed or LPC, with its warm-up samples and
//! Rice-coded residual, predicted in place.

use super::bits::Bits;
use super::error::{Res, Unsupported};
use super::predict::{fixed_predict, lpc_predict};

/// One subframe (RFC 9639 9.2) of `bits` bits per sample into `out` (the block size long).
pub(super) fn subframe(r: &mut Bits, bits: u32, out: &mut [i32]) -> Res<()> {
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

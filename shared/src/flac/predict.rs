//! The two predictors that turn a residual back into samples: FLAC's fixed polynomials and
//! linear prediction with quantised coefficients (RFC 9639 9.2.5 and 9.2.6).

/// Fixed polynomial predictors of order 0–4 (RFC 9639 9.2.5), in place over the residual.
pub(super) fn fixed_predict(order: usize, s: &mut [i32]) {
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
pub(super) fn lpc_predict(coefs: &[i32], shift: u32, s: &mut [i32]) {
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

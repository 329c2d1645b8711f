//! A small seeded generator (SplitMix64, S. Vigna) so that shuffles, dropout masks,
//! initialisation and augmentation are reproducible with `--seed`, independent of any
//! dependency's generator or thread count.

/// SplitMix64: 64-bit state, full period, good enough statistics for shuffling and noise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fixed by `seed` (any value, 0 included).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The state, to store in a checkpoint.
    pub fn state(&self) -> u64 {
        self.state
    }

    /// The next 64 random bits (SplitMix64's increment `0x9E3779B97F4A7C15` and finaliser
    /// constants, as published by Vigna).
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 24 random bits.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = (self.uniform() as f64).max(1e-12);
        let u2 = self.uniform() as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }

    /// Uniform integer in [0, n) (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_and_well_spread() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(43).next_u64(), xs[0]);
        let mut r = Rng::new(1);
        let n = 20_000;
        let u: Vec<f32> = (0..n).map(|_| r.uniform()).collect();
        let mean = u.iter().sum::<f32>() / n as f32;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        assert!(u.iter().all(|&x| (0.0..1.0).contains(&x)));
        let g: Vec<f32> = (0..n).map(|_| r.normal()).collect();
        let gm = g.iter().sum::<f32>() / n as f32;
        let gv = g.iter().map(|x| (x - gm).powi(2)).sum::<f32>() / n as f32;
        assert!(gm.abs() < 0.03 && (gv - 1.0).abs() < 0.05, "{gm} {gv}");
        let mut p: Vec<usize> = (0..10).collect();
        r.shuffle(&mut p);
        let mut s = p.clone();
        s.sort_unstable();
        assert_eq!(s, (0..10).collect::<Vec<_>>());
        assert_ne!(p, s);
    }
}

//! Exact, order-independent summation of `f64` values.
//!
//! Each finite value is split into its integer mantissa and binary exponent and added, as an
//! integer, into one of 66 `i128` bins (32 exponents per bin, mantissa shifted by the exponent
//! within the bin). Integer addition is associative and commutative, so any grouping of the same
//! values (threads, shards, MPI ranks) gives the same bins, bit for bit; the final `f64` is a
//! deterministic function of the bins. A bin holds at least 2⁴¹ additions before it could
//! overflow (mantissa ≤ 2⁵³, shift < 32, i128 holds 2¹²⁷).

use serde::{Deserialize, Serialize};

const BINS: usize = 66;

/// Exact sum of finite `f64` values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExactSum {
    bins: Vec<i128>,
}

impl Default for ExactSum {
    fn default() -> Self {
        ExactSum {
            bins: vec![0; BINS],
        }
    }
}

impl ExactSum {
    /// Adds a finite value (non-finite values are ignored; callers count them separately).
    #[inline]
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() || x == 0.0 {
            return;
        }
        let bits = x.to_bits();
        let neg = bits >> 63 == 1;
        let biased = ((bits >> 52) & 0x7ff) as i64;
        let frac = (bits & ((1u64 << 52) - 1)) as i128;
        // value = mant · 2^(e − 1074) with e = biased − 1 for normals (e ≥ 0), 0 for subnormals.
        let (mant, e) = if biased == 0 {
            (frac, 0i64)
        } else {
            (frac | (1i128 << 52), biased - 1)
        };
        let bin = (e / 32) as usize;
        let v = mant << (e % 32);
        if let Some(b) = self.bins.get_mut(bin) {
            *b += if neg { -v } else { v };
        }
    }

    /// Adds another sum (exact).
    pub fn merge(&mut self, other: &ExactSum) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            *a += *b;
        }
    }

    /// The sum as `f64` (bins added from the smallest exponent up).
    pub fn value(&self) -> f64 {
        let mut s = 0.0f64;
        for (k, &b) in self.bins.iter().enumerate() {
            if b != 0 {
                s += libm::ldexp(b as f64, (32 * k) as i32 - 1074);
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_exactly_and_order_independently() {
        let xs = [
            1e16,
            1.0,
            -1e16,
            3.5e-300,
            2.0f64.powi(-1074),
            1e300,
            -1e300,
            0.1,
            0.2,
        ];
        let mut a = ExactSum::default();
        xs.iter().for_each(|&x| a.add(x));
        let mut b = ExactSum::default();
        xs.iter().rev().for_each(|&x| b.add(x));
        assert_eq!(a, b);
        // Exact value: 1 + 0.1 + 0.2 (+ tiny), the big terms cancel exactly.
        assert!((a.value() - (1.0 + 0.1 + 0.2)).abs() < 1e-15);
        let mut c = ExactSum::default();
        let mut d = ExactSum::default();
        xs[..4].iter().for_each(|&x| c.add(x));
        xs[4..].iter().for_each(|&x| d.add(x));
        c.merge(&d);
        assert_eq!(c, a);
    }

    #[test]
    fn matches_naive_sum_on_benign_values() {
        let mut s = ExactSum::default();
        let mut naive = 0.0;
        for i in 0..1000 {
            let x = (i as f64).sqrt() * 1.37 - 7.0;
            s.add(x);
            naive += x;
        }
        assert!((s.value() - naive).abs() < 1e-9 * naive.abs());
    }
}

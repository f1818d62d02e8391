//! Mergeable quantile accumulators: exact (all values kept) or streaming (bounded memory).
//!
//! The streaming sketch is a log-bucket histogram with relative accuracy α (DDSketch, Masson et
//! al., VLDB 2019): bucket `i` holds values in `(γ^(i−1), γ^i]`, `γ = (1 + α)/(1 − α)`, and is
//! represented by `2γ^i/(γ + 1)`, which is within a relative α of every value in it. Counts are
//! integers, so merging is exact, associative and commutative: any split of the same patients
//! merges to the same bits. Memory is bounded by the value range, not by the number of values.
//!
//! **Documented error**: a streaming quantile equals the order statistic at rank
//! `round(q·(n − 1))` to within a relative error α (values with magnitude below
//! [`Sketch::FLOOR`] count as 0). The exact mode uses type-7 interpolation (R's default), which
//! differs from that order statistic by at most the gap to its neighbour.

use serde::{Deserialize, Serialize};

/// Quantile accumulator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Sketch {
    /// Keeps every value; type-7 quantiles.
    Exact(Vec<f64>),
    /// Log-bucket histogram with relative accuracy α.
    Streaming(LogSketch),
}

/// Log-bucket histogram (see the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogSketch {
    alpha: f64,
    ln_gamma: f64,
    zero: u64,
    pos: Store,
    neg: Store,
}

/// Dense bucket counts from `offset` on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Store {
    offset: i32,
    counts: Vec<u64>,
}

impl Store {
    fn add(&mut self, i: i32, c: u64) {
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(c);
            return;
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            let mut v = vec![0u64; grow];
            v.extend_from_slice(&self.counts);
            self.counts = v;
            self.offset = i;
        }
        let k = (i - self.offset) as usize;
        if k >= self.counts.len() {
            self.counts.resize(k + 1, 0);
        }
        self.counts[k] += c;
    }

    fn merge(&mut self, o: &Store) {
        for (k, &c) in o.counts.iter().enumerate() {
            if c > 0 {
                self.add(o.offset + k as i32, c);
            }
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl LogSketch {
    fn new(alpha: f64) -> Self {
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        LogSketch {
            alpha,
            ln_gamma: gamma.ln(),
            zero: 0,
            pos: Store::default(),
            neg: Store::default(),
        }
    }

    #[inline]
    fn index(&self, x: f64) -> i32 {
        (x.ln() / self.ln_gamma).ceil() as i32
    }

    fn value(&self, i: i32) -> f64 {
        let gamma = self.ln_gamma.exp();
        2.0 * (i as f64 * self.ln_gamma).exp() / (gamma + 1.0)
    }

    fn add(&mut self, x: f64) {
        if x.abs() < Sketch::FLOOR {
            self.zero += 1;
        } else if x > 0.0 {
            let i = self.index(x);
            self.pos.add(i, 1);
        } else {
            let i = self.index(-x);
            self.neg.add(i, 1);
        }
    }

    fn count(&self) -> u64 {
        self.zero + self.pos.total() + self.neg.total()
    }

    /// Value at 0-based rank `r` (ascending).
    fn at_rank(&self, r: u64) -> f64 {
        let mut seen = 0u64;
        for (k, &c) in self.neg.counts.iter().enumerate().rev() {
            seen += c;
            if seen > r {
                return -self.value(self.neg.offset + k as i32);
            }
        }
        seen += self.zero;
        if seen > r {
            return 0.0;
        }
        for (k, &c) in self.pos.counts.iter().enumerate() {
            seen += c;
            if seen > r {
                return self.value(self.pos.offset + k as i32);
            }
        }
        f64::NAN
    }
}

impl Sketch {
    /// Magnitudes below this count as zero in streaming mode.
    pub const FLOOR: f64 = 1e-12;

    /// An exact accumulator.
    pub fn exact() -> Self {
        Sketch::Exact(Vec::new())
    }

    /// A streaming accumulator with relative accuracy `alpha` (0 < α < 1).
    pub fn streaming(alpha: f64) -> Self {
        Sketch::Streaming(LogSketch::new(alpha))
    }

    /// Adds a value; NaN is ignored (callers count missing values).
    #[inline]
    pub fn add(&mut self, x: f64) {
        if x.is_nan() {
            return;
        }
        match self {
            Sketch::Exact(v) => v.push(x),
            Sketch::Streaming(s) => s.add(x),
        }
    }

    /// Merges another accumulator of the same kind.
    ///
    /// # Errors
    /// A message when the kinds or accuracies differ.
    pub fn merge(&mut self, other: &Sketch) -> Result<(), String> {
        match (self, other) {
            (Sketch::Exact(a), Sketch::Exact(b)) => {
                a.extend_from_slice(b);
                Ok(())
            }
            (Sketch::Streaming(a), Sketch::Streaming(b)) if a.alpha == b.alpha => {
                a.zero += b.zero;
                a.pos.merge(&b.pos);
                a.neg.merge(&b.neg);
                Ok(())
            }
            _ => Err("cannot merge quantile accumulators of different kinds or accuracy".into()),
        }
    }

    /// Number of values.
    pub fn count(&self) -> u64 {
        match self {
            Sketch::Exact(v) => v.len() as u64,
            Sketch::Streaming(s) => s.count(),
        }
    }

    /// Quantiles for each probability in `qs` (NaN when empty).
    pub fn quantiles(&self, qs: &[f64]) -> Vec<f64> {
        match self {
            Sketch::Exact(v) => {
                let mut s = v.clone();
                s.sort_by(f64::total_cmp);
                qs.iter().map(|&q| type7(&s, q)).collect()
            }
            Sketch::Streaming(sk) => {
                let n = sk.count();
                qs.iter()
                    .map(|&q| {
                        if n == 0 {
                            f64::NAN
                        } else {
                            let r = (q.clamp(0.0, 1.0) * (n - 1) as f64).round() as u64;
                            sk.at_rank(r)
                        }
                    })
                    .collect()
            }
        }
    }
}

/// Type-7 quantile of sorted values.
pub fn type7(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = (sorted.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_quantiles_are_type7() {
        let mut s = Sketch::exact();
        for x in [5.0, 1.0, 3.0, 2.0, 4.0, f64::NAN] {
            s.add(x);
        }
        assert_eq!(s.count(), 5);
        assert_eq!(
            s.quantiles(&[0.0, 0.5, 1.0, 0.25]),
            vec![1.0, 3.0, 5.0, 2.0]
        );
    }

    #[test]
    fn streaming_is_within_alpha_of_the_order_statistic() {
        let alpha = 0.005;
        let mut s = Sketch::streaming(alpha);
        let mut xs = Vec::new();
        for i in 0..5000 {
            let x = ((i as f64 * 0.618034).fract() * 12.0 - 6.0).exp() - 0.01;
            xs.push(x);
            s.add(x);
        }
        xs.sort_by(f64::total_cmp);
        for q in [0.05, 0.25, 0.5, 0.75, 0.95] {
            let r = (q * (xs.len() - 1) as f64).round() as usize;
            let got = s.quantiles(&[q])[0];
            assert!(
                (got - xs[r]).abs() <= alpha * xs[r].abs() * (1.0 + 1e-9) + Sketch::FLOOR,
                "q={q}: {got} vs {}",
                xs[r]
            );
        }
    }

    #[test]
    fn merge_is_order_independent() {
        let vals: Vec<f64> = (0..300).map(|i| (i as f64 * 0.37).sin() * 50.0).collect();
        let mut whole = Sketch::streaming(0.01);
        vals.iter().for_each(|&v| whole.add(v));
        let mut a = Sketch::streaming(0.01);
        let mut b = Sketch::streaming(0.01);
        vals[..170].iter().for_each(|&v| a.add(v));
        vals[170..].iter().for_each(|&v| b.add(v));
        b.merge(&a).unwrap();
        assert_eq!(
            b.quantiles(&[0.1, 0.5, 0.9]),
            whole.quantiles(&[0.1, 0.5, 0.9])
        );
        assert!(b.merge(&Sketch::exact()).is_err());
    }
}

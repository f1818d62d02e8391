//! Mergeable quantile accumulators: exact (all values kept) or streaming (bounded memory).
//!
//! The streaming sketch is a log-bucket histogram with relative accuracy α (DDSketch, Masson et
//! al., VLDB 2019) using DDSketch's *linearly interpolated* logarithm: for `x = 2^e·m`,
//! `m ∈ [1, 2)`, `L(x) = e + (m − 1)` (read off the float's bits, no `ln`), and bucket `i` holds
//! the values with `⌊c·L(x)⌋ = i`, `c = 1/ln γ`, `γ = (1 + α)/(1 − α)`. Since `dL/d ln x = m ≥ 1`,
//! every bucket spans at most a factor γ, so its representative `2·lo·hi/(lo + hi)` is within a
//! relative α of every value in it. Counts are integers, so merging is exact, associative and
//! commutative: any split of the same patients merges to the same bits. Memory is bounded by the
//! value range, not by the number of values.
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
    /// Spare buckets added on each side when the store grows, so that growth is rare.
    const SLACK: i32 = 64;

    #[inline]
    fn add(&mut self, i: i32, c: u64) {
        let k = i.wrapping_sub(self.offset);
        if k >= 0 && (k as usize) < self.counts.len() {
            self.counts[k as usize] += c;
            return;
        }
        self.grow_to(i);
        let k = (i - self.offset) as usize;
        self.counts[k] += c;
    }

    #[cold]
    fn grow_to(&mut self, i: i32) {
        if self.counts.is_empty() {
            self.offset = i - Self::SLACK;
            self.counts = vec![0; 2 * Self::SLACK as usize + 1];
            return;
        }
        if i < self.offset {
            let new_offset = i - Self::SLACK.max(self.counts.len() as i32 / 2);
            let grow = (self.offset - new_offset) as usize;
            let mut v = vec![0u64; grow + self.counts.len()];
            v[grow..].copy_from_slice(&self.counts);
            self.counts = v;
            self.offset = new_offset;
        } else {
            let k = (i - self.offset) as usize;
            let extra = (Self::SLACK as usize).max(self.counts.len() / 2);
            self.counts.resize(k + 1 + extra, 0);
        }
    }

    /// First and last non-empty bucket (positions in `counts`), if any.
    fn occupied(&self) -> Option<(usize, usize)> {
        let first = self.counts.iter().position(|&c| c > 0)?;
        let last = self.counts.iter().rposition(|&c| c > 0).unwrap_or(first);
        Some((first, last))
    }

    fn merge(&mut self, o: &Store) {
        // The occupied range of `o`: grow `self` to cover it once, then add bucket by bucket
        // (a branch-free loop over the overlap instead of one checked `add` per bucket).
        let Some((first, last)) = o.occupied() else {
            return;
        };
        let (lo, hi) = (o.offset + first as i32, o.offset + last as i32);
        if self.counts.is_empty() || lo < self.offset {
            self.grow_to(lo);
        }
        if hi - self.offset >= self.counts.len() as i32 {
            self.grow_to(hi);
        }
        let start = (lo - self.offset) as usize;
        for (a, &b) in self.counts[start..].iter_mut().zip(&o.counts[first..=last]) {
            *a += b;
        }
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Drops the empty buckets at both ends: the canonical form, the same whatever order the
    /// counts arrived in.
    fn trim(&mut self) {
        let Some((first, last)) = self.occupied() else {
            self.counts = Vec::new();
            self.offset = 0;
            return;
        };
        self.counts.truncate(last + 1);
        self.counts.drain(..first);
        self.offset += first as i32;
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

    /// `L(x) = e + (m − 1)` for `x = 2^e·m` (x positive, normal).
    #[inline]
    fn log2_linear(x: f64) -> f64 {
        let bits = x.to_bits();
        let e = ((bits >> 52) & 0x7ff) as i64 - 1023;
        let frac = (bits & ((1u64 << 52) - 1)) as f64 * (1.0 / (1u64 << 52) as f64);
        e as f64 + frac
    }

    /// Inverse of [`LogSketch::log2_linear`].
    fn exp2_linear(v: f64) -> f64 {
        let e = v.floor();
        libm::ldexp(1.0 + (v - e), e as i32)
    }

    #[inline]
    fn index(&self, x: f64) -> i32 {
        // floor without a libm call (x86-64 baseline has no SSE4.1 rounding instruction).
        let v = Self::log2_linear(x) / self.ln_gamma;
        let t = v as i32;
        if (t as f64) > v { t - 1 } else { t }
    }

    /// Representative of bucket `i`: the harmonic midpoint of its bounds.
    fn value(&self, i: i32) -> f64 {
        let lo = Self::exp2_linear(i as f64 * self.ln_gamma);
        let hi = Self::exp2_linear((i + 1) as f64 * self.ln_gamma);
        2.0 * lo * hi / (lo + hi)
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

    /// Puts the accumulator in its canonical form: streaming stores trimmed to their occupied
    /// buckets, exact values sorted. Equal contents then compare and serialize equal, whatever
    /// the order values were added or accumulators merged in.
    pub fn canonicalize(&mut self) {
        match self {
            Sketch::Exact(v) => v.sort_by(f64::total_cmp),
            Sketch::Streaming(s) => {
                s.pos.trim();
                s.neg.trim();
            }
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

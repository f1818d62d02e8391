//! The solver's accepted steps as seen by a model: [`StepSpan`] (cubic Hermite dense output of
//! one step) and [`Cubic`] (one scalar quantity along it), for endpoints that must not depend on
//! the output grid: peaks, threshold crossings, exact areas and values at fixed times.

use nalgebra::SVector;

/// One accepted solver step, `[t0_day, t1_day]`, with the state and its derivative at both ends,
/// or a single time point (`t0_day == t1_day`: a segment start after its boluses, or the horizon
/// end after the last ones).
///
/// Between the ends the state is the cubic Hermite interpolant of the two states and
/// derivatives: the dense output the output grid is filled from too, with an error of the order
/// of the solver's local error.
#[derive(Debug, Clone, Copy)]
pub struct StepSpan<'a, const N: usize> {
    /// Step start, day.
    pub t0_day: f64,
    /// Step end, day.
    pub t1_day: f64,
    /// State at the start.
    pub y0: &'a SVector<f64, N>,
    /// Derivative at the start, state units per day (zero for a point).
    pub dy0: &'a SVector<f64, N>,
    /// State at the end.
    pub y1: &'a SVector<f64, N>,
    /// Derivative at the end, state units per day (zero for a point).
    pub dy1: &'a SVector<f64, N>,
}

impl<'a, const N: usize> StepSpan<'a, N> {
    /// The single time point `t_day` with state `y` (`zero`: a zero vector for the derivatives).
    #[inline]
    pub fn point(t_day: f64, y: &'a SVector<f64, N>, zero: &'a SVector<f64, N>) -> Self {
        StepSpan {
            t0_day: t_day,
            t1_day: t_day,
            y0: y,
            dy0: zero,
            y1: y,
            dy1: zero,
        }
    }

    /// Step length, day (0 for a point).
    #[inline]
    pub fn h_day(&self) -> f64 {
        self.t1_day - self.t0_day
    }

    /// Whether this is a single time point rather than a step.
    #[inline]
    pub fn is_point(&self) -> bool {
        self.t1_day <= self.t0_day
    }

    /// Position `s ∈ [0, 1]` of `t_day` in the step (1, the end, for a point).
    #[inline]
    pub fn fraction(&self, t_day: f64) -> f64 {
        let h = self.h_day();
        if h > 0.0 {
            ((t_day - self.t0_day) / h).clamp(0.0, 1.0)
        } else {
            1.0
        }
    }

    /// The dense-output state at `t_day` (clamped to the step).
    pub fn state_at(&self, t_day: f64) -> SVector<f64, N> {
        let s = self.fraction(t_day);
        let h = self.h_day();
        let (s2, s3) = (s * s, s * s * s);
        let h00 = 2.0 * s3 - 3.0 * s2 + 1.0;
        let h10 = (s3 - 2.0 * s2 + s) * h;
        let h01 = -2.0 * s3 + 3.0 * s2;
        let h11 = (s3 - s2) * h;
        let mut y = SVector::<f64, N>::zeros();
        for i in 0..N {
            y[i] = self.y0[i] * h00 + self.dy0[i] * h10 + self.y1[i] * h01 + self.dy1[i] * h11;
        }
        y
    }

    /// The dense output of state `i` (the same cubic as [`StepSpan::cubic`] of `[i]` with scale
    /// 1, without the sum).
    #[inline]
    pub fn state_cubic(&self, i: usize) -> Cubic {
        Cubic::hermite(
            self.y0[i],
            self.dy0[i],
            self.y1[i],
            self.dy1[i],
            self.h_day(),
        )
    }

    /// The dense output of the linear combination `Σ w_i · y_i` over the state indices `idx`,
    /// scaled by `scale` (e.g. a compartment sum converted to blood concentration).
    #[inline]
    pub fn cubic(&self, idx: &[usize], scale: f64) -> Cubic {
        let sum = |v: &SVector<f64, N>| {
            let mut acc = 0.0;
            for &i in idx {
                acc += v[i];
            }
            acc * scale
        };
        Cubic::hermite(
            sum(self.y0),
            sum(self.dy0),
            sum(self.y1),
            sum(self.dy1),
            self.h_day(),
        )
    }
}

/// A cubic `p(s) = a + b·s + c·s² + d·s³` on `s ∈ [0, 1]` standing for a quantity over a step of
/// `h_day` days (`s = (t − t0) / h`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cubic {
    /// Coefficients `[a, b, c, d]` in powers of `s`.
    pub coef: [f64; 4],
    /// Step length, day.
    pub h_day: f64,
}

impl Cubic {
    /// The Hermite cubic with values `v0`, `v1` and derivatives (per day) `d0`, `d1` at the ends
    /// of a step of `h_day` days.
    #[inline]
    pub fn hermite(v0: f64, d0: f64, v1: f64, d1: f64, h_day: f64) -> Cubic {
        let (g0, g1) = (d0 * h_day, d1 * h_day);
        Cubic {
            coef: [
                v0,
                g0,
                -3.0 * v0 - 2.0 * g0 + 3.0 * v1 - g1,
                2.0 * v0 + g0 - 2.0 * v1 + g1,
            ],
            h_day,
        }
    }

    /// Value at `s`.
    #[inline]
    pub fn value(&self, s: f64) -> f64 {
        let [a, b, c, d] = self.coef;
        a + s * (b + s * (c + s * d))
    }

    /// Derivative with respect to `s` at `s` (per step; divide by `h_day` for per day).
    #[inline]
    pub fn slope(&self, s: f64) -> f64 {
        let [_, b, c, d] = self.coef;
        b + s * (2.0 * c + s * 3.0 * d)
    }

    /// `∫₀ˢ p dt` in day units (`h_day · ∫₀ˢ p(σ) dσ`).
    #[inline]
    pub fn integral_to(&self, s: f64) -> f64 {
        let [a, b, c, d] = self.coef;
        self.h_day * s * (a + s * (b / 2.0 + s * (c / 3.0 + s * d / 4.0)))
    }

    /// Bernstein control points on `[0, 1]`: the cubic lies in their convex hull, and is
    /// monotone where they are.
    #[inline]
    pub fn bernstein(&self) -> [f64; 4] {
        let [a, b, c, d] = self.coef;
        [a, a + b / 3.0, a + (2.0 * b + c) / 3.0, a + b + c + d]
    }

    /// An upper bound of the cubic on `[0, 1]` (the largest control point).
    #[inline]
    pub fn upper_bound(&self) -> f64 {
        let p = self.bernstein();
        p[0].max(p[1]).max(p[2]).max(p[3])
    }

    /// A lower bound of the cubic on `[0, 1]` (the smallest control point).
    #[inline]
    pub fn lower_bound(&self) -> f64 {
        let p = self.bernstein();
        p[0].min(p[1]).min(p[2]).min(p[3])
    }

    /// The interior critical points in `(lo, hi)`, ascending (at most two; NaN marks none).
    fn critical_points(&self, lo: f64, hi: f64) -> [f64; 2] {
        let [_, b, c, d] = self.coef;
        // p'(s) = b + 2c·s + 3d·s².
        let (qa, qb, qc) = (3.0 * d, 2.0 * c, b);
        let mut roots = [f64::NAN; 2];
        let scale = qa.abs().max(qb.abs()).max(qc.abs());
        if scale == 0.0 || !scale.is_finite() {
            return roots;
        }
        if qa.abs() <= 1e-14 * scale {
            if qb != 0.0 {
                roots[0] = -qc / qb;
            }
        } else {
            let disc = qb * qb - 4.0 * qa * qc;
            if disc >= 0.0 {
                // Numerically stable pair.
                let q = -0.5 * (qb + qb.signum() * disc.sqrt());
                let (r1, r2) = if q != 0.0 {
                    (q / qa, qc / q)
                } else {
                    (0.0, 0.0)
                };
                roots = if r1 <= r2 { [r1, r2] } else { [r2, r1] };
            }
        }
        for r in &mut roots {
            if !(*r > lo && *r < hi) {
                *r = f64::NAN;
            }
        }
        if roots[0].is_nan() {
            roots.swap(0, 1);
        }
        roots
    }

    /// The maximum on `[lo, hi] ⊆ [0, 1]`: `(s, value)`.
    pub fn max_on(&self, lo: f64, hi: f64) -> (f64, f64) {
        let mut best = (lo, self.value(lo));
        let v_hi = self.value(hi);
        if v_hi > best.1 {
            best = (hi, v_hi);
        }
        // A monotone control polygon: no interior extremum.
        let p = self.bernstein();
        if (p[0] <= p[1] && p[1] <= p[2] && p[2] <= p[3])
            || (p[0] >= p[1] && p[1] >= p[2] && p[2] >= p[3])
        {
            return best;
        }
        for r in self.critical_points(lo, hi) {
            if r.is_finite() {
                let v = self.value(r);
                if v > best.1 {
                    best = (r, v);
                }
            }
        }
        best
    }

    /// The first `s` in `[lo, hi]` at which the cubic is below `level` (`Below`) or at or above
    /// it (`AtOrAbove`); `None` when it never is. Located by bisection on the first monotone
    /// piece where the condition starts to hold (to round-off).
    pub fn first_crossing(&self, level: f64, lo: f64, hi: f64, dir: Crossing) -> Option<f64> {
        let holds = |v: f64| match dir {
            Crossing::Below => v < level,
            Crossing::AtOrAbove => v >= level,
        };
        if holds(self.value(lo)) {
            return Some(lo);
        }
        // The hull of the control points excludes a crossing anywhere on [0, 1].
        let out_of_reach = match dir {
            Crossing::Below => self.lower_bound() >= level,
            Crossing::AtOrAbove => self.upper_bound() < level,
        };
        if out_of_reach {
            return None;
        }
        let cps = self.critical_points(lo, hi);
        let mut a = lo;
        for b in [cps[0], cps[1], hi] {
            if !b.is_finite() {
                continue;
            }
            if holds(self.value(b)) {
                // Condition false at `a`, true at `b`, monotone in between.
                let (mut x0, mut x1) = (a, b);
                for _ in 0..100 {
                    let m = 0.5 * (x0 + x1);
                    if m <= x0 || m >= x1 {
                        break;
                    }
                    if holds(self.value(m)) {
                        x1 = m;
                    } else {
                        x0 = m;
                    }
                }
                return Some(x1);
            }
            a = b;
        }
        None
    }
}

/// Direction of a threshold crossing for [`Cubic::first_crossing`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// The quantity falls below the level.
    Below,
    /// The quantity reaches the level or exceeds it.
    AtOrAbove,
}

/// `I_j(z) = ∫₀¹ exp(−z·(1 − x)) xʲ dx` for `j = 0..3`, `z ≥ 0`: the weights of the exact
/// solution of `v' = −k·v + q` over a step when `q` is a cubic in `s` (`z = k·h`).
///
/// A truncated power series for `z < 1/4`, where the recurrence `I_j = (1 − j·I_{j−1}) / z`
/// would cancel; the recurrence (error growth at most `3!/z³` ≈ 400 ulp) from
/// `I_0 = (1 − e^{−z}) / z` otherwise.
pub fn exp_kernel_moments(z: f64) -> [f64; 4] {
    /// `1/n` for the series, so that its Horner chains multiply instead of divide.
    const RECIP: [f64; 18] = {
        let mut r = [0.0; 18];
        let mut n = 1;
        while n < 18 {
            r[n] = 1.0 / n as f64;
            n += 1;
        }
        r
    };
    if z < 0.25 {
        // I_j = Σ_m (−z)^m · j! / (j + m + 1)! = 1/(j+1) · [1 − z/(j+2) · [1 − z/(j+3) · […]]],
        // 13 terms: the next is below 1e-17 at z = 1/4.
        const TERMS: usize = 13;
        let mut out = [0.0; 4];
        for (j, o) in out.iter_mut().enumerate() {
            let mut acc = 1.0;
            for m in (1..TERMS).rev() {
                acc = 1.0 - z * RECIP[j + m + 1] * acc;
            }
            *o = acc * RECIP[j + 1];
        }
        out
    } else {
        let inv_z = 1.0 / z;
        let mut out = [0.0; 4];
        out[0] = -(-z).exp_m1() * inv_z;
        for j in 1..4 {
            out[j] = (1.0 - j as f64 * out[j - 1]) * inv_z;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hermite_cubic_reproduces_a_cubic() {
        let p = |t: f64| 1.0 - 2.0 * t + 0.5 * t * t * t;
        let dp = |t: f64| -2.0 + 1.5 * t * t;
        let (t0, h) = (0.3, 1.7);
        let c = Cubic::hermite(p(t0), dp(t0), p(t0 + h), dp(t0 + h), h);
        for s in [0.0, 0.2, 0.5, 0.9, 1.0] {
            assert!((c.value(s) - p(t0 + s * h)).abs() < 1e-12);
            assert!((c.slope(s) / h - dp(t0 + s * h)).abs() < 1e-12);
        }
        // ∫ p from t0 to t0 + s·h.
        let big_p = |t: f64| t - t * t + 0.125 * t.powi(4);
        let s = 0.7;
        assert!((c.integral_to(s) - (big_p(t0 + s * h) - big_p(t0))).abs() < 1e-12);
    }

    #[test]
    fn bounds_enclose_the_cubic() {
        for c in [
            Cubic::hermite(1.0, 3.0, 0.5, -2.0, 1.3),
            Cubic::hermite(-1.0, 0.0, 2.0, 0.0, 0.4),
            Cubic::hermite(0.0, -5.0, 0.0, 5.0, 1.0),
        ] {
            let (lo, hi) = (c.lower_bound(), c.upper_bound());
            for i in 0..=100 {
                let v = c.value(i as f64 / 100.0);
                assert!(
                    lo <= v + 1e-15 && v <= hi + 1e-15,
                    "{v} not in [{lo}, {hi}]"
                );
            }
            let (_, m) = c.max_on(0.0, 1.0);
            let dense = (0..=10_000)
                .map(|i| c.value(i as f64 / 10_000.0))
                .fold(f64::MIN, f64::max);
            assert!(m >= dense - 1e-12 && m <= hi + 1e-15, "{m} vs {dense}");
        }
    }

    #[test]
    fn max_and_crossings() {
        // p(s) = 1 + 4s(1 − s): max 2 at s = 0.5.
        let c = Cubic {
            coef: [1.0, 4.0, -4.0, 0.0],
            h_day: 1.0,
        };
        let (s, v) = c.max_on(0.0, 1.0);
        assert!((s - 0.5).abs() < 1e-12 && (v - 2.0).abs() < 1e-12);
        // Rises above 1.75 at s = 0.25, falls back below it at 0.75.
        let up = c
            .first_crossing(1.75, 0.0, 1.0, Crossing::AtOrAbove)
            .unwrap();
        assert!((up - 0.25).abs() < 1e-12, "{up}");
        let down = c.first_crossing(1.75, 0.5, 1.0, Crossing::Below).unwrap();
        assert!((down - 0.75).abs() < 1e-12, "{down}");
        assert_eq!(c.first_crossing(2.5, 0.0, 1.0, Crossing::AtOrAbove), None);
        assert_eq!(c.first_crossing(1.5, 0.0, 1.0, Crossing::Below), Some(0.0));
    }

    #[test]
    fn kernel_moments_match_quadrature_on_both_branches() {
        for z in [0.0, 1e-6, 0.1, 0.2499, 0.25, 0.999, 2.5, 40.0] {
            let m = exp_kernel_moments(z);
            for (j, &mj) in m.iter().enumerate() {
                // Composite Simpson, 20,000 panels.
                let n = 20_000;
                let f = |x: f64| (-z * (1.0 - x)).exp() * x.powi(j as i32);
                let mut s = f(0.0) + f(1.0);
                for i in 1..n {
                    let x = i as f64 / n as f64;
                    s += f(x) * if i % 2 == 1 { 4.0 } else { 2.0 };
                }
                let q = s / (3.0 * n as f64);
                assert!(
                    (mj - q).abs() < 1e-11 * q.max(1e-3),
                    "z {z} j {j}: {mj} vs {q}"
                );
            }
        }
    }
}

//! Estimators and their bootstrap confidence intervals.
//!
//! Sobol' (per quantity, outputs centred on the mean of `f(A)` and `f(B)`; `V` = the variance
//! of `f(A) ∪ f(B)`, `E_j` = mean over base rows `j`):
//!
//! ```text
//! S_i   = E_j[ f(B)_j (f(AB_i)_j − f(A)_j) ] / V                    (Saltelli et al. 2010)
//! ST_i  = E_j[ (f(A)_j − f(AB_i)_j)² ] / (2V)                      (Jansen 1999)
//! S_ik  = E_j[ f(BA_i)_j f(AB_k)_j − f(A)_j f(B)_j ] / V − S_i − S_k  (Saltelli 2002)
//! ```
//!
//! Morris (per quantity and factor, over the `r` elementary effects
//! `EE = (f(x + Δe_i) − f(x)) / Δ` in unit-cube scale): `μ` = mean, `μ*` = mean of `|EE|`
//! (Campolongo et al. 2007), `σ` = sample standard deviation.
//!
//! Confidence intervals: percentile bootstrap over base rows (Sobol') or trajectories
//! (Morris); resample `b` draws its indices from
//! [`sensitivity_rng`](crate::variability::sensitivity_rng)`(seed, 1 + b)`, so the intervals
//! are the same at any thread count.

use rand::RngExt;
use rayon::prelude::*;

use super::design::{Design, MorrisStep, sobol_stride};
use crate::calibrate::Statistic;
use crate::variability::sensitivity_rng;

/// Sobol' estimates of one quantity from the base rows `rows` (indices into `0..N`).
pub(super) struct SobolEstimates {
    pub first: Vec<f64>,
    pub total: Vec<f64>,
    /// Upper triangle `(i, k)`, `i < k`, in row-major order (empty without second order).
    pub second: Vec<f64>,
}

/// Outputs of one quantity arranged by Sobol' block.
pub(super) struct SobolOutputs<'a> {
    pub y: &'a [f64],
    pub d: usize,
    pub second_order: bool,
}

impl SobolOutputs<'_> {
    fn at(&self, row: usize, k: usize) -> f64 {
        self.y[row * sobol_stride(self.d, self.second_order) + k]
    }

    /// Base rows whose outputs are all finite (a row with a NaN quantity — e.g. a median of
    /// no patient — is left out).
    pub fn finite_rows(&self) -> Vec<usize> {
        let stride = sobol_stride(self.d, self.second_order);
        (0..self.y.len() / stride)
            .filter(|&j| (0..stride).all(|k| self.at(j, k).is_finite()))
            .collect()
    }

    pub fn estimate(&self, rows: &[usize]) -> SobolEstimates {
        let d = self.d;
        let n = rows.len() as f64;
        let mean = rows
            .iter()
            .map(|&j| self.at(j, 0) + self.at(j, 1))
            .sum::<f64>()
            / (2.0 * n);
        let var = rows
            .iter()
            .map(|&j| {
                let (a, b) = (self.at(j, 0) - mean, self.at(j, 1) - mean);
                a * a + b * b
            })
            .sum::<f64>()
            / (2.0 * n);
        if !(var > 0.0 && var.is_finite()) {
            // A constant output (or no row): the shares of its variance are undefined.
            let pairs = if self.second_order {
                d * (d - 1) / 2
            } else {
                0
            };
            return SobolEstimates {
                first: vec![f64::NAN; d],
                total: vec![f64::NAN; d],
                second: vec![f64::NAN; pairs],
            };
        }
        let c = |j: usize, k: usize| self.at(j, k) - mean;
        let mut first = Vec::with_capacity(d);
        let mut total = Vec::with_capacity(d);
        for i in 0..d {
            let (mut s1, mut st) = (0.0, 0.0);
            for &j in rows {
                let (a, b, ab) = (c(j, 0), c(j, 1), c(j, 2 + i));
                s1 += b * (ab - a);
                st += (a - ab) * (a - ab);
            }
            first.push(s1 / n / var);
            total.push(st / (2.0 * n) / var);
        }
        let mut second = Vec::new();
        if self.second_order {
            for i in 0..d {
                for k in i + 1..d {
                    let mut v = 0.0;
                    for &j in rows {
                        v += c(j, 2 + d + i) * c(j, 2 + k) - c(j, 0) * c(j, 1);
                    }
                    second.push(v / n / var - first[i] - first[k]);
                }
            }
        }
        SobolEstimates {
            first,
            total,
            second,
        }
    }
}

/// Morris statistics of one quantity from the trajectories `trajectories`.
pub(super) struct MorrisEstimates {
    pub mu_star: Vec<f64>,
    pub mu: Vec<f64>,
    pub sigma: Vec<f64>,
}

/// Elementary effects `[trajectory][factor]` of one quantity (`y` in design order).
pub(super) fn elementary_effects(y: &[f64], design: &Design, d: usize) -> Vec<Vec<f64>> {
    let r = design.morris_steps.len() / d.max(1);
    (0..r)
        .map(|t| {
            let mut ee = vec![f64::NAN; d];
            for k in 0..d {
                let MorrisStep { factor, delta } = design.morris_steps[t * d + k];
                let (y0, y1) = (y[t * (d + 1) + k], y[t * (d + 1) + k + 1]);
                ee[factor] = (y1 - y0) / delta;
            }
            ee
        })
        .collect()
}

pub(super) fn morris_estimate(
    ee: &[Vec<f64>],
    d: usize,
    trajectories: &[usize],
) -> MorrisEstimates {
    let mut out = MorrisEstimates {
        mu_star: Vec::with_capacity(d),
        mu: Vec::with_capacity(d),
        sigma: Vec::with_capacity(d),
    };
    for i in 0..d {
        // Non-finite effects (a NaN quantity at either end) are left out.
        let e: Vec<f64> = trajectories
            .iter()
            .map(|&t| ee[t][i])
            .filter(|x| x.is_finite())
            .collect();
        let n = e.len() as f64;
        let mu = e.iter().sum::<f64>() / n;
        let mu_star = e.iter().map(|x| x.abs()).sum::<f64>() / n;
        let ss = e.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>();
        out.mu.push(mu);
        out.mu_star.push(mu_star);
        out.sigma.push((ss / (n - 1.0)).sqrt());
    }
    out
}

/// `resamples` bootstrap index sets of `n` indices each (with replacement).
pub(super) fn bootstrap_sets(seed: u64, resamples: usize, n: usize) -> Vec<Vec<usize>> {
    (0..resamples)
        .into_par_iter()
        .map(|b| {
            let mut rng = sensitivity_rng(seed, 1 + b as u64);
            (0..n).map(|_| rng.random_range(0..n)).collect()
        })
        .collect()
}

/// Percentile interval `[(1 − c)/2, (1 + c)/2]` of the finite bootstrap replicates (a
/// resample of a rare event can have no variance); NaN when fewer than half are finite.
pub(super) fn percentile_interval(replicates: &[f64], confidence: f64) -> (f64, f64) {
    let finite = replicates.iter().filter(|x| x.is_finite()).count();
    if finite == 0 || 2 * finite < replicates.len() {
        return (f64::NAN, f64::NAN);
    }
    let a = (1.0 - confidence) / 2.0;
    (
        Statistic::Quantile(a).of(replicates),
        Statistic::Quantile(1.0 - a).of(replicates),
    )
}

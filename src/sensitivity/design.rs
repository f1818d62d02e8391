//! Designs: where the model is evaluated. A pure function of the study and its seed.
//!
//! - **Sobol'** (Saltelli 2010): `N` points of a `2d`-dimensional Owen-scrambled Sobol'
//!   sequence (Joe–Kuo direction numbers, [`sobol_burley`], scramble seeded from the study
//!   seed) split into the matrices `A` (first `d` coordinates) and `B` (last `d`); for each
//!   factor `i` the matrix `AB_i` is `A` with column `i` taken from `B` (and, for second-order
//!   indices, `BA_i` is `B` with column `i` from `A`). Points are stored base row by base row:
//!   `A_j, B_j, AB_0j, …, AB_(d−1)j[, BA_0j, …, BA_(d−1)j]`, so any slice of whole base rows is
//!   self-contained.
//! - **Morris** (Morris 1991, the trajectory design of Campolongo et al. 2007 without the
//!   selection step): `r` trajectories of `d + 1` points on a `p`-level grid of the unit cube,
//!   each moving one factor at a time by `Δ = p / (2(p − 1))`, in a random order and
//!   direction, drawn from [`sensitivity_rng`](crate::variability::sensitivity_rng)`(seed, 0)`.

use rand::RngExt;

use super::{Factor, Method};
use crate::variability::sensitivity_rng;

/// One Morris step: trajectory point `k` (1-based within its trajectory) moved `factor` by
/// `delta` (signed, unit-cube scale) from point `k − 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct MorrisStep {
    pub factor: usize,
    pub delta: f64,
}

/// A study's design: the unit-cube coordinates and the factor values of every point.
#[derive(Debug, Clone, PartialEq)]
pub struct Design {
    /// Points in the unit cube `[0, 1]^d`, in evaluation order.
    pub unit: Vec<Vec<f64>>,
    /// The same points in the factors' units ([`Factor::value_at`]), in evaluation order.
    pub points: Vec<Vec<f64>>,
    /// Morris: the step of each non-initial trajectory point (`r · d` entries, trajectory by
    /// trajectory); empty for Sobol'.
    pub(super) morris_steps: Vec<MorrisStep>,
}

impl Design {
    /// Number of model evaluations (points).
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether the design has no point (never for a validated study).
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }
}

/// Points per Sobol' base row: `A, B, AB_0..AB_(d−1)` and, with second order, `BA_0..`.
pub(super) fn sobol_stride(d: usize, second_order: bool) -> usize {
    if second_order { 2 * d + 2 } else { d + 2 }
}

pub(super) fn generate(factors: &[Factor], method: &Method, seed: u64) -> Design {
    let d = factors.len();
    let (unit, morris_steps) = match *method {
        Method::Sobol {
            samples,
            second_order,
        } => (sobol_unit(d, samples, second_order, seed), Vec::new()),
        Method::Morris {
            trajectories,
            levels,
        } => morris_unit(d, trajectories, levels, seed),
    };
    let points = unit
        .iter()
        .map(|u| factors.iter().zip(u).map(|(f, &x)| f.value_at(x)).collect())
        .collect();
    Design {
        unit,
        points,
        morris_steps,
    }
}

/// The 32-bit scramble seed of the Sobol' sequence: the study seed folded (both halves).
fn scramble_seed(seed: u64) -> u32 {
    let mixed = seed ^ 0x9E37_79B9_7F4A_7C15;
    (mixed as u32) ^ ((mixed >> 32) as u32)
}

fn sobol_unit(d: usize, n: usize, second_order: bool, seed: u64) -> Vec<Vec<f64>> {
    let s = scramble_seed(seed);
    let mut out = Vec::with_capacity(n * sobol_stride(d, second_order));
    for j in 0..n {
        // Validated: n ≤ 2¹⁶ and 2d ≤ 256 (the crate's sequence length and dimensions).
        let row: Vec<f64> = (0..2 * d)
            .map(|k| f64::from(sobol_burley::sample(j as u32, k as u32, s)))
            .collect();
        let (a, b) = row.split_at(d);
        out.push(a.to_vec());
        out.push(b.to_vec());
        for i in 0..d {
            let mut ab = a.to_vec();
            ab[i] = b[i];
            out.push(ab);
        }
        if second_order {
            for i in 0..d {
                let mut ba = b.to_vec();
                ba[i] = a[i];
                out.push(ba);
            }
        }
    }
    out
}

fn morris_unit(d: usize, r: usize, p: usize, seed: u64) -> (Vec<Vec<f64>>, Vec<MorrisStep>) {
    let mut rng = sensitivity_rng(seed, 0);
    let step = p as f64 / (2.0 * (p as f64 - 1.0));
    let mut unit = Vec::with_capacity(r * (d + 1));
    let mut steps = Vec::with_capacity(r * d);
    for _ in 0..r {
        // Fixed draw order per trajectory: d base levels, d directions, then the order.
        let levels: Vec<usize> = (0..d).map(|_| rng.random_range(0..p / 2)).collect();
        let up: Vec<bool> = (0..d).map(|_| rng.random::<bool>()).collect();
        let mut order: Vec<usize> = (0..d).collect();
        for i in (1..d).rev() {
            let k = rng.random_range(0..=i);
            order.swap(i, k);
        }
        let mut x: Vec<f64> = levels
            .iter()
            .zip(&up)
            .map(|(&l, &u)| {
                let base = l as f64 / (p as f64 - 1.0);
                if u { base } else { base + step }
            })
            .collect();
        unit.push(x.clone());
        for &i in &order {
            let delta = if up[i] { step } else { -step };
            x[i] = (x[i] + delta).clamp(0.0, 1.0);
            unit.push(x.clone());
            steps.push(MorrisStep { factor: i, delta });
        }
    }
    (unit, steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sobol_rows_share_columns() {
        let f: Vec<Factor> = (0..3)
            .map(|i| Factor::linear(format!("x{i}"), 0.0, 1.0))
            .collect();
        let m = Method::Sobol {
            samples: 16,
            second_order: true,
        };
        let d = generate(&f, &m, 5);
        assert_eq!(d.len(), 16 * 8);
        let (a, b) = (&d.unit[0], &d.unit[1]);
        for i in 0..3 {
            let ab = &d.unit[2 + i];
            let ba = &d.unit[5 + i];
            for k in 0..3 {
                assert_eq!(ab[k], if k == i { b[k] } else { a[k] });
                assert_eq!(ba[k], if k == i { a[k] } else { b[k] });
            }
        }
        // Stratified: each column of A has one point in each eighth over the first 8 rows.
        let mut bins = [0; 8];
        for j in 0..8 {
            bins[(d.unit[j * 8][1] * 8.0) as usize] += 1;
        }
        assert_eq!(bins, [1; 8]);
        assert_eq!(generate(&f, &m, 5), d);
        assert_ne!(generate(&f, &m, 6).unit, d.unit);
    }

    #[test]
    fn morris_trajectories_move_one_factor_on_the_grid() {
        let f: Vec<Factor> = (0..4)
            .map(|i| Factor::linear(format!("x{i}"), 0.0, 1.0))
            .collect();
        let d = generate(
            &f,
            &Method::Morris {
                trajectories: 5,
                levels: 4,
            },
            1,
        );
        assert_eq!(d.len(), 25);
        assert_eq!(d.morris_steps.len(), 20);
        for t in 0..5 {
            let mut seen = [false; 4];
            for k in 0..4 {
                let (x0, x1) = (&d.unit[t * 5 + k], &d.unit[t * 5 + k + 1]);
                let s = d.morris_steps[t * 4 + k];
                seen[s.factor] = true;
                for i in 0..4 {
                    let moved = x1[i] - x0[i];
                    if i == s.factor {
                        assert!((moved - s.delta).abs() < 1e-12);
                        assert!((moved.abs() - 2.0 / 3.0).abs() < 1e-12);
                    } else {
                        assert_eq!(moved, 0.0);
                    }
                    let level = x1[i] * 3.0;
                    assert!((level - level.round()).abs() < 1e-12, "{level}");
                }
            }
            assert_eq!(seen, [true; 4]);
        }
    }
}

//! Exact simulation of a time-inhomogeneous birth–death process with immigration: the fate of
//! a clone of a handful of cells.
//!
//! A deterministic ODE describes a cell pool well while it holds many cells, but not its last
//! few: the ODE pool shrinks to 10⁻³⁰ cells and can regrow from there (the "atto-fox" problem),
//! while a real clone of a few cells either dies out or escapes. Models hand such a clone to
//! this module: `n` cells, each dividing at the per-cell rate `b(t, n)` and dying at `d(t, n)`,
//! plus new cells arriving at rate `ν(t)` (immigration: e.g. recruitment of new clones).
//!
//! The simulation is exact (Gillespie's direct method with **thinning** for time-varying rates,
//! Lewis & Shedler 1979): on each chunk of time the rates are bounded by
//! `n·c_max + ν_max` ([`BirthDeathRates::bounds`]); candidate events arrive at that rate and
//! are accepted with probability (true rate)/(bound), which gives the exact event times of the
//! inhomogeneous process. The bound is recomputed after every candidate (the exponential's
//! memorylessness keeps this exact).
//!
//! Known results the tests check (linear process, constant rates `b`, `d`, no immigration):
//! ultimate extinction is certain when `b ≤ d`, and has probability `(d/b)^n` from `n` cells
//! when `b > d`; absorbed at `N` cells first, the extinction probability is the gambler's-ruin
//! value `((d/b)^n − (d/b)^N)/(1 − (d/b)^N)`.

use rand::RngExt;
use rand_distr::Exp1;

use crate::variability::PatientRng;

/// Per-cell rates of a birth–death process with immigration.
pub trait BirthDeathRates {
    /// Per-cell birth (division) rate at `t_day` with `n` cells, 1/day (≥ 0).
    fn birth_per_day(&self, t_day: f64, n: u64) -> f64;
    /// Per-cell death rate at `t_day` with `n` cells, 1/day (≥ 0).
    fn death_per_day(&self, t_day: f64, n: u64) -> f64;
    /// Immigration (new cells from outside the clone) at `t_day`, cells/day (≥ 0).
    fn immigration_cells_per_day(&self, _t_day: f64) -> f64 {
        0.0
    }
    /// Bounds over `[t0_day, t1_day]` and every `n ≥ 1`: `(max of b + d per cell, max of ν)`.
    fn bounds(&self, t0_day: f64, t1_day: f64) -> (f64, f64);
    /// Bounds over `[t0_day, t1_day]` for a clone of exactly `n` cells: `(max of b + d per
    /// cell, max of ν)`. Default: [`bounds`](Self::bounds). A tighter bound (rates that depend
    /// on `n`) means fewer rejected candidates, not a different process.
    fn bounds_at(&self, t0_day: f64, t1_day: f64, _n: u64) -> (f64, f64) {
        self.bounds(t0_day, t1_day)
    }
    /// Whether immigration is zero for every `t ≥ t_day` (an empty clone then stays empty).
    fn no_immigration_after(&self, _t_day: f64) -> bool {
        true
    }
}

/// How a simulated clone ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Fate {
    /// No cell left at `day` (and, with no immigration afterwards, none ever again).
    Extinct {
        /// Day of extinction.
        day: f64,
    },
    /// The clone reached the stop size at `day`: it is large enough for deterministic
    /// equations again.
    Established {
        /// Day the stop size was reached.
        day: f64,
    },
    /// The horizon ended first, with `cells` cells (0 when extinct at the end but immigration
    /// could still found a new clone).
    Alive {
        /// Cells at the horizon end.
        cells: u64,
    },
}

/// Constant per-cell rates and no immigration: the linear birth–death process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConstantRates {
    /// Per-cell birth rate, 1/day.
    pub birth_per_day: f64,
    /// Per-cell death rate, 1/day.
    pub death_per_day: f64,
}

impl BirthDeathRates for ConstantRates {
    fn birth_per_day(&self, _t: f64, _n: u64) -> f64 {
        self.birth_per_day
    }
    fn death_per_day(&self, _t: f64, _n: u64) -> f64 {
        self.death_per_day
    }
    fn bounds(&self, _t0: f64, _t1: f64) -> (f64, f64) {
        (self.birth_per_day + self.death_per_day, 0.0)
    }
}

impl ConstantRates {
    /// Exact probability that a clone of `n` cells goes extinct before reaching `stop` cells
    /// (gambler's ruin with step probabilities `b/(b+d)` up and `d/(b+d)` down).
    pub fn extinction_before(&self, n: u64, stop: u64) -> f64 {
        let (b, d) = (self.birth_per_day, self.death_per_day);
        if n == 0 {
            return 1.0;
        }
        if n >= stop {
            return 0.0;
        }
        if b <= 0.0 {
            return 1.0;
        }
        let r = d / b;
        if (r - 1.0).abs() < 1e-12 {
            return 1.0 - n as f64 / stop as f64;
        }
        (r.powf(n as f64) - r.powf(stop as f64)) / (1.0 - r.powf(stop as f64))
    }

    /// Exact probability of ultimate extinction from `n` cells: `min(1, d/b)^n`.
    pub fn ultimate_extinction(&self, n: u64) -> f64 {
        let (b, d) = (self.birth_per_day, self.death_per_day);
        if b <= d { 1.0 } else { (d / b).powf(n as f64) }
    }
}

/// Simulates a clone of `n0` cells from `t0_day` until it dies out, reaches `stop_cells`, or
/// `t_end_day` comes. Rates are bounded chunk by chunk over `chunk_day` (use the grid step of
/// the rates' source).
///
/// Exact for any rates that respect [`BirthDeathRates::bounds`]; draws from `rng` only.
pub fn simulate_clone<R: BirthDeathRates + ?Sized>(
    rates: &R,
    n0: u64,
    t0_day: f64,
    t_end_day: f64,
    stop_cells: u64,
    chunk_day: f64,
    rng: &mut PatientRng,
) -> Fate {
    let mut n = n0;
    let mut t = t0_day;
    let chunk = if chunk_day > 0.0 && chunk_day.is_finite() {
        chunk_day
    } else {
        (t_end_day - t0_day).max(1e-9)
    };
    // Chunk boundaries are aligned on multiples of `chunk` from `t0_day`.
    let mut chunk_end = (t0_day + chunk).min(t_end_day);
    loop {
        if n >= stop_cells {
            return Fate::Established { day: t };
        }
        if n == 0 && rates.no_immigration_after(t) {
            return Fate::Extinct { day: t };
        }
        if t >= t_end_day {
            return Fate::Alive { cells: n };
        }
        let (c_max, nu_max) = rates.bounds_at(t, chunk_end, n);
        let bound = n as f64 * c_max + nu_max;
        if !(bound > 0.0 && bound.is_finite()) {
            // Nothing can happen in this chunk.
            t = chunk_end;
            chunk_end = (chunk_end + chunk).min(t_end_day);
            continue;
        }
        let tau = rng.sample::<f64, _>(Exp1) / bound;
        if t + tau >= chunk_end {
            t = chunk_end;
            chunk_end = (chunk_end + chunk).min(t_end_day);
            continue;
        }
        t += tau;
        let birth = n as f64 * rates.birth_per_day(t, n);
        let death = n as f64 * rates.death_per_day(t, n);
        let imm = rates.immigration_cells_per_day(t);
        let v: f64 = rng.random::<f64>() * bound;
        if v < birth + imm {
            n += 1;
        } else if v < birth + imm + death {
            n -= 1;
            if n == 0 && rates.no_immigration_after(t) {
                return Fate::Extinct { day: t };
            }
        }
        // Otherwise a rejected candidate (thinning): nothing happens.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variability::stochastic_rng;

    #[test]
    fn gamblers_ruin_formula_limits() {
        let r = ConstantRates {
            birth_per_day: 2.0,
            death_per_day: 1.0,
        };
        assert!((r.extinction_before(3, 1_000_000) - 0.125).abs() < 1e-12);
        assert_eq!(r.ultimate_extinction(3), 0.125);
        let even = ConstantRates {
            birth_per_day: 1.0,
            death_per_day: 1.0,
        };
        assert!((even.extinction_before(2, 10) - 0.8).abs() < 1e-9);
    }

    #[test]
    fn pure_death_goes_extinct_at_the_right_mean_time() {
        // b = 0, d = 1, one cell: extinction time ~ Exp(1).
        let r = ConstantRates {
            birth_per_day: 0.0,
            death_per_day: 1.0,
        };
        let n = 4000;
        let mut s = 0.0;
        for id in 0..n {
            match simulate_clone(&r, 1, 0.0, 1e6, 10, 0.25, &mut stochastic_rng(3, id)) {
                Fate::Extinct { day } => s += day,
                f => panic!("{f:?}"),
            }
        }
        let mean = s / n as f64;
        // SE of the mean of Exp(1) over 4000: 0.016.
        assert!((mean - 1.0).abs() < 0.065, "mean extinction time {mean}");
    }
}

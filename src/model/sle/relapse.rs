//! Relapse or lasting reset: the fate of the autoreactive memory clone once it is down to a
//! handful of cells (hybrid deterministic–stochastic switch).
//!
//! 1. **Deterministic phase.** The ODE's autoreactive memory pool `A(t)` (whole body, cells) is
//!    read off the trajectory until it first falls below `n_sw` cells
//!    ([`SleDefinitions::relapse_switch_cells`], default 100).
//! 2. **Stochastic phase.** From that moment the clone is a birth–death process with the ODE's
//!    own per-cell rates ([`birth_death::simulate_clone`], exact):
//!    birth `b = g_A·(1 − A/K_A)`, death `d(t, A) = δ_x·A_x/(A + A_x) + κ(t) + k_LD,B(t)`
//!    (Allee death of a small clone, CAR-T killing, lymphodepletion; `κ + k_LD,B` is the output
//!    `cd19_kill_rate_per_day`, linear between grid points), immigration `ν(t) = k_rec·Bn(t)`
//!    (new autoreactive clones recruited from naive B cells; output
//!    `autoreactive_recruitment_cells_per_day`, 0 by default).
//!    The clone dies out (**lasting reset**), or regrows to `n_back` cells
//!    ([`SleDefinitions::relapse_established_cells`], default 1000).
//! 3. **Regrowth.** An established clone grows deterministically,
//!    `dA/dt = [b − d(t, A)]·A + ν(t)` (exponential-Euler steps on the output grid with the
//!    mid-step rates). **Relapse** is the day it is back to `f_rel` of its baseline size
//!    ([`SleDefinitions::relapse_clone_fraction`], default ½) plus a delay for anti-dsDNA and
//!    disease activity to rise ([`SleDefinitions::relapse_delay_day`], default 30 days, ≈ 1.5
//!    IgG half-lives) — reported when it falls within the horizon. Should the regrowing clone
//!    fall below `n_sw` again (CAR-T still present), the stochastic phase resumes.
//!
//! A clone that never falls below `n_sw` is never eliminated: its relapse is deterministic, on
//! the day the ODE clone regrows to `f_rel` of baseline after having been below it (plus the
//! delay). A clone never brought below `f_rel` of baseline did not respond and does not relapse.
//!
//! The ODE trajectory itself keeps the course of an eliminated clone (the strong Allee term
//! makes elimination absorbing there); the relapse is reported through the endpoints.

use crate::model::birth_death::{BirthDeathRates, Fate, simulate_clone};
use crate::model::trajectory::Trajectory;
use crate::variability::PatientRng;

use super::{SleDefinitions, SlePatient, out};

/// The fate of one patient's autoreactive clone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct CloneFate {
    /// Day the clone died out (NaN: it did not).
    pub extinction_day: f64,
    /// Day of clinical relapse within the horizon (NaN: none).
    pub relapse_day: f64,
    /// Whether the clone is extinct at the horizon end.
    pub extinct: bool,
}

/// Per-cell rates of the small clone, from the trajectory's columns.
struct CloneRates<'a> {
    start_day: f64,
    step_day: f64,
    kill_per_day: &'a [f64],
    recruitment_cells_per_day: &'a [f64],
    /// Last grid index with non-zero recruitment (None: recruitment is zero throughout).
    last_recruitment: Option<usize>,
    growth_per_day: f64,
    capacity_cells: f64,
    allee_death_per_day: f64,
    allee_scale_cells: f64,
}

impl CloneRates<'_> {
    /// Linear interpolation of a grid column at `t`.
    fn at(&self, v: &[f64], t: f64) -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let x = ((t - self.start_day) / self.step_day).clamp(0.0, (v.len() - 1) as f64);
        let i = (x.floor() as usize).min(v.len() - 1);
        if i + 1 >= v.len() {
            return v[i];
        }
        let f = x - i as f64;
        v[i] * (1.0 - f) + v[i + 1] * f
    }

    /// Largest grid value of `v` on the grid points bracketing `[t0, t1]` (the interpolant's
    /// maximum on that interval).
    fn max_on(&self, v: &[f64], t0: f64, t1: f64) -> f64 {
        if v.is_empty() {
            return 0.0;
        }
        let last = v.len() - 1;
        let i0 = (((t0 - self.start_day) / self.step_day).floor().max(0.0) as usize).min(last);
        let i1 = (((t1 - self.start_day) / self.step_day).ceil().max(0.0) as usize).min(last);
        v[i0..=i1.max(i0)].iter().fold(0.0, |a, &b| a.max(b))
    }

    /// Net per-cell growth rate of a clone of `a` cells at `t` (deterministic), 1/day.
    fn net_per_day(&self, t: f64, a: f64) -> f64 {
        self.growth_per_day * (1.0 - a / self.capacity_cells).max(0.0)
            - self.allee_death_per_day * self.allee_scale_cells / (a + self.allee_scale_cells)
            - self.at(self.kill_per_day, t)
    }
}

impl BirthDeathRates for CloneRates<'_> {
    fn birth_per_day(&self, _t: f64, n: u64) -> f64 {
        self.growth_per_day * (1.0 - n as f64 / self.capacity_cells).max(0.0)
    }
    fn death_per_day(&self, t: f64, n: u64) -> f64 {
        self.allee_death_per_day * self.allee_scale_cells / (n as f64 + self.allee_scale_cells)
            + self.at(self.kill_per_day, t)
    }
    fn immigration_cells_per_day(&self, t: f64) -> f64 {
        if self.last_recruitment.is_some() {
            self.at(self.recruitment_cells_per_day, t)
        } else {
            0.0
        }
    }
    fn bounds(&self, t0: f64, t1: f64) -> (f64, f64) {
        // Allee death per cell is largest at n = 1.
        let allee =
            self.allee_death_per_day * self.allee_scale_cells / (1.0 + self.allee_scale_cells);
        let c = self.growth_per_day + allee + self.max_on(self.kill_per_day, t0, t1);
        let nu = if self.last_recruitment.is_some() {
            self.max_on(self.recruitment_cells_per_day, t0, t1)
        } else {
            0.0
        };
        (c, nu)
    }
    fn no_immigration_after(&self, t: f64) -> bool {
        match self.last_recruitment {
            None => true,
            Some(i) => t >= self.start_day + (i + 1) as f64 * self.step_day,
        }
    }
}

/// Resolves the fate of the autoreactive clone of one patient (see the module docs).
pub(super) fn clone_fate(
    pt: &SlePatient,
    defs: &SleDefinitions,
    tr: &Trajectory,
    rng: &mut PatientRng,
) -> CloneFate {
    let none = CloneFate {
        extinction_day: f64::NAN,
        relapse_day: f64::NAN,
        extinct: false,
    };
    let n = tr.len();
    if n < 2 {
        return none;
    }
    let dt = tr.step_day();
    let t_end = tr.time(n - 1);
    let cells_per_ul = pt.to_blood * 1e-6; // blood cells/µL per body cell
    let clone = tr.output(out::AUTOREACTIVE_B);
    let cells = |i: usize| clone[i] / cells_per_ul;
    let recruitment = tr.output(out::AUTOREACTIVE_RECRUITMENT);
    let rates = CloneRates {
        start_day: tr.time(0),
        step_day: dt,
        kill_per_day: tr.output(out::CD19_KILL_RATE),
        recruitment_cells_per_day: recruitment,
        last_recruitment: recruitment.iter().rposition(|&v| v > 0.0),
        growth_per_day: pt.p.autoreactive_growth_per_day,
        capacity_cells: pt.k_a * 1e6,
        allee_death_per_day: pt.p.allee_death_per_day,
        allee_scale_cells: pt.p.allee_scale_mcells * 1e6,
    };
    let baseline = pt.baseline_autoreactive_per_ul / cells_per_ul;
    let relapse_level = defs.relapse_clone_fraction * baseline;
    let n_sw = defs.relapse_switch_cells.max(1.0);
    let n_back = defs.relapse_established_cells.max(n_sw + 1.0);
    let relapse_at = |t: f64| {
        let d = t + defs.relapse_delay_day;
        if d <= t_end { d } else { f64::NAN }
    };

    // 1. Deterministic phase on the ODE trajectory.
    let mut responded = false;
    let mut switch = None;
    for i in 0..n {
        let a = cells(i);
        if a < relapse_level {
            responded = true;
        }
        if a < n_sw {
            let t = if i == 0 {
                tr.time(0)
            } else {
                tr.time(i - 1) + log_crossing(cells(i - 1), a, n_sw) * dt
            };
            switch = Some(t);
            break;
        }
        if responded && a >= relapse_level {
            // Never eliminated: deterministic relapse.
            return CloneFate {
                relapse_day: relapse_at(tr.time(i)),
                ..none
            };
        }
    }
    let Some(mut t) = switch else {
        return none;
    };

    // 2.–3. Stochastic phase, regrowth, and back while CAR-T persist.
    let mut n_cells = n_sw.round() as u64;
    loop {
        match simulate_clone(&rates, n_cells, t, t_end, n_back as u64, dt, rng) {
            Fate::Extinct { day } => {
                return CloneFate {
                    extinction_day: day,
                    relapse_day: f64::NAN,
                    extinct: true,
                };
            }
            Fate::Alive { cells } => {
                return CloneFate {
                    extinction_day: if cells == 0 { t_end } else { f64::NAN },
                    relapse_day: f64::NAN,
                    extinct: cells == 0,
                };
            }
            Fate::Established { day } => {
                // Deterministic regrowth from n_back cells at `day`.
                let mut a = n_back;
                let mut s = day;
                loop {
                    if a >= relapse_level {
                        return CloneFate {
                            relapse_day: relapse_at(s),
                            ..none
                        };
                    }
                    if s >= t_end {
                        return none;
                    }
                    // To the next grid point (a partial step first when off the grid).
                    let k = ((s - rates.start_day) / dt + 1e-9).floor() + 1.0;
                    let s_next = (rates.start_day + k * dt).min(t_end);
                    let h = s_next - s;
                    let mid = s + 0.5 * h;
                    let a_next = a * (rates.net_per_day(mid, a) * h).exp()
                        + rates.immigration_cells_per_day(mid) * h;
                    if a_next < n_sw {
                        t = s + log_crossing(a, a_next, n_sw) * h;
                        n_cells = n_sw.round() as u64;
                        break;
                    }
                    if a_next >= relapse_level {
                        let f = log_crossing(a, a_next, relapse_level);
                        return CloneFate {
                            relapse_day: relapse_at(s + f * h),
                            ..none
                        };
                    }
                    a = a_next;
                    s = s_next;
                }
            }
        }
    }
}

/// Fraction of a step from `a` to `b` (both > 0) at which `c` is crossed, log-linearly.
fn log_crossing(a: f64, b: f64, c: f64) -> f64 {
    if a > 0.0 && b > 0.0 && c > 0.0 && (a.ln() - b.ln()).abs() > 1e-300 {
        ((a.ln() - c.ln()) / (a.ln() - b.ln())).clamp(0.0, 1.0)
    } else {
        1.0
    }
}

//! Relapse or lasting reset: the fate of the autoreactive memory clone once it is down to a
//! handful of cells (hybrid deterministic–stochastic switch), and of the new autoreactive
//! clones that returning naive B cells found.
//!
//! 1. **Deterministic phase.** The ODE's autoreactive memory pool `A(t)` (whole body, cells) is
//!    read off the trajectory until it first falls below `n_sw` cells
//!    ([`SleDefinitions::relapse_switch_cells`], default 100).
//! 2. **Stochastic phase.** From that moment the patient's own clone is a birth–death process
//!    with the ODE's own per-cell rates ([`birth_death::simulate_clone`], exact):
//!    birth `b = g_A·(1 − A/K_A)`, death `d(t, A) = δ_x·A_x/(A + A_x) + κ(t) + k_LD,B(t)`
//!    (Allee death of a small clone, CAR-T killing, lymphodepletion; `κ + k_LD,B` is sampled on
//!    the solver's dense output every 0.25 day, linear in between — fixed knots, so the output
//!    grid changes no relapse endpoint). It dies out, or regrows to
//!    `n_back` cells ([`SleDefinitions::relapse_established_cells`], default 1000).
//! 3. **Regrowth.** An established clone grows deterministically, `dA/dt = [b − d(t, A)]·A`
//!    (exponential-Euler steps between the knots with the mid-step rates), back to `f_rel` of
//!    its baseline size ([`SleDefinitions::relapse_clone_fraction`], default ½). Should it
//!    fall below `n_sw` again (CAR-T still present), the stochastic phase resumes.
//! 4. **New clones (de novo autoreactivity).** Naive B cells are recruited into new
//!    autoreactive clones at `ν(t) = k_rec·Bn(t)` cells/day (output
//!    `autoreactive_recruitment_cells_per_day`): a Poisson process, simulated exactly by
//!    thinning. Each recruit founds a lineage of one cell with the same rates as in 2–3 (its
//!    own Allee barrier: a new clone is not helped by another). While CAR-T persist, recruits
//!    are killed; once CAR-T killing has faded and naive B cells have returned, a recruit can
//!    escape and regrow. So relapse comes after B-cell return, later with longer CAR-T
//!    persistence and sooner with a higher propensity `k_rec` (a patient-specific random
//!    effect), as after rituximab in SLE (relapse after B-cell repopulation, earlier with faster
//!    repopulation: Vital et al., Rheumatology 2012;51:1208).
//!
//! **Relapse** is the day the first lineage (own or new) is back to `f_rel` of the baseline
//! clone plus a delay for anti-dsDNA and disease activity to rise
//! ([`SleDefinitions::relapse_delay_day`], default 30 days, ≈ 1.5 IgG half-lives) — reported
//! when it falls within the horizon. The **reset** is lasting when the patient's own clone died
//! out and no lineage regrew within the horizon.
//!
//! A clone that never falls below `n_sw` is never eliminated: its relapse is deterministic, on
//! the day the ODE clone regrows to `f_rel` of baseline after having been below it (plus the
//! delay). A clone never brought below `f_rel` of baseline did not respond and does not relapse.
//!
//! The ODE trajectory itself keeps the course of an eliminated clone (the strong Allee term
//! makes elimination absorbing there, also for the trickle `k_rec·Bn` it receives); the relapse
//! is reported through the endpoints.

use rand::RngExt;

use crate::model::birth_death::{BirthDeathRates, Fate, simulate_clone};
use crate::model::trajectory::Trajectory;
use crate::variability::PatientRng;

use super::{SleDefinitions, SlePatient, track};

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

/// Per-cell rates of the small clone, from the knot series of the dense output.
struct CloneRates<'a> {
    start_day: f64,
    step_day: f64,
    kill_per_day: &'a [f64],
    recruitment_cells_per_day: &'a [f64],
    /// Last knot index with non-zero recruitment (None: recruitment is zero throughout).
    last_recruitment: Option<usize>,
    growth_per_day: f64,
    capacity_cells: f64,
    allee_death_per_day: f64,
    allee_scale_cells: f64,
}

impl CloneRates<'_> {
    /// Linear interpolation of a knot series at `t`.
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

    /// Largest knot value of `v` on the knots bracketing `[t0, t1]` (the interpolant's
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

impl CloneRates<'_> {
    /// The next arrival after `t` and before `t_max` of the recruitment process, a Poisson
    /// process of rate `ν(t)` (exact, by thinning against the knot intervals' maxima), or `None`.
    fn next_recruit(&self, mut t: f64, t_max: f64, rng: &mut PatientRng) -> Option<f64> {
        let last = self.last_recruitment?;
        let t_max = t_max.min(self.start_day + (last + 1) as f64 * self.step_day);
        while t < t_max {
            let k = ((t - self.start_day) / self.step_day + 1e-9).floor() + 1.0;
            let chunk_end = (self.start_day + k * self.step_day).min(t_max);
            let nu_max = self.max_on(self.recruitment_cells_per_day, t, chunk_end);
            if !(nu_max > 0.0 && nu_max.is_finite()) {
                t = chunk_end;
                continue;
            }
            let u: f64 = rng.random();
            let tau = -(1.0 - u).ln() / nu_max;
            if t + tau >= chunk_end {
                t = chunk_end;
                continue;
            }
            t += tau;
            let v: f64 = rng.random::<f64>() * nu_max;
            if v < self.at(self.recruitment_cells_per_day, t) {
                return Some(t);
            }
        }
        None
    }
}

/// A lineage's own birth–death rates (no immigration: recruits found lineages of their own).
impl BirthDeathRates for CloneRates<'_> {
    fn birth_per_day(&self, _t: f64, n: u64) -> f64 {
        self.growth_per_day * (1.0 - n as f64 / self.capacity_cells).max(0.0)
    }
    fn death_per_day(&self, t: f64, n: u64) -> f64 {
        self.allee_death_per_day * self.allee_scale_cells / (n as f64 + self.allee_scale_cells)
            + self.at(self.kill_per_day, t)
    }
    fn bounds(&self, t0: f64, t1: f64) -> (f64, f64) {
        // Allee death per cell is largest at n = 1.
        let allee =
            self.allee_death_per_day * self.allee_scale_cells / (1.0 + self.allee_scale_cells);
        (
            self.growth_per_day + allee + self.max_on(self.kill_per_day, t0, t1),
            0.0,
        )
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
    // The inputs sampled at fixed knots of the dense output (track module), not the output
    // grid: the relapse endpoints do not depend on `output_step_day`.
    let (origin, kill, recruitment, clone) = track::knot_series(tr.tracked());
    let n = kill.len();
    if n < 2 || tr.is_empty() {
        return none;
    }
    let dt = track::KNOT_STEP_DAY;
    let time = |i: usize| origin + i as f64 * dt;
    let t_end = tr.time(tr.len() - 1);
    let cells_per_ul = pt.to_blood * 1e-6; // blood cells/µL per body cell
    let cells = |i: usize| clone[i] / cells_per_ul;
    let rates = CloneRates {
        start_day: origin,
        step_day: dt,
        kill_per_day: kill,
        recruitment_cells_per_day: recruitment,
        last_recruitment: recruitment.iter().rposition(|&v| v > 0.0),
        growth_per_day: pt.p.autoreactive_growth_per_day,
        capacity_cells: pt.k_a * 1e6,
        allee_death_per_day: pt.p.allee_death_per_day,
        allee_scale_cells: pt.p.allee_scale_mcells * 1e6,
    };
    let baseline = pt.baseline_autoreactive_per_ul / cells_per_ul;
    let lineage = Lineage {
        rates: &rates,
        relapse_level: defs.relapse_clone_fraction * baseline,
        n_sw: defs.relapse_switch_cells.max(1.0),
        n_back: defs
            .relapse_established_cells
            .max(defs.relapse_switch_cells.max(1.0) + 1.0),
        t_end,
    };
    let relapse_at = |t: f64| {
        let d = t + defs.relapse_delay_day;
        if d <= t_end { d } else { f64::NAN }
    };

    // 1. Deterministic phase of the patient's own clone on the ODE trajectory.
    let mut responded = false;
    let mut switch = None;
    for i in 0..n {
        let a = cells(i);
        if a < lineage.relapse_level {
            responded = true;
        }
        if a < lineage.n_sw {
            let t = if i == 0 {
                time(0)
            } else {
                time(i - 1) + log_crossing(cells(i - 1), a, lineage.n_sw) * dt
            };
            switch = Some(t);
            break;
        }
        if responded && a >= lineage.relapse_level {
            // Never eliminated: deterministic relapse.
            return CloneFate {
                relapse_day: relapse_at(time(i)),
                ..none
            };
        }
    }
    let Some(t_switch) = switch else {
        return none;
    };

    // 2.–3. The patient's own clone: stochastic phase, regrowth, and back while CAR-T persist.
    let own = lineage.fate(lineage.n_sw.round() as u64, t_switch, rng);
    let mut regrown = own.regrown_day;

    // 4. New autoreactive clones founded by recruited naive B cells from the switch on, one
    //    lineage each, until one regrows earlier than any before it or the horizon ends.
    if rates.last_recruitment.is_some() {
        let mut t = t_switch;
        loop {
            let horizon = regrown.min(t_end);
            let Some(arrival) = rates.next_recruit(t, horizon, rng) else {
                break;
            };
            let f = lineage.fate(1, arrival, rng);
            if f.regrown_day < regrown {
                regrown = f.regrown_day;
            }
            t = arrival;
        }
    }
    let relapse_day = if regrown.is_finite() {
        relapse_at(regrown)
    } else {
        f64::NAN
    };
    CloneFate {
        extinction_day: own.extinction_day,
        relapse_day,
        // Reset: the own clone died out and no clone regrew within the horizon.
        extinct: own.extinction_day.is_finite() && !regrown.is_finite(),
    }
}

/// What became of one lineage (the patient's own clone or one founded by a recruit).
struct LineageFate {
    /// Day it died out (NaN: it did not).
    extinction_day: f64,
    /// Day it regrew to the relapse level (NaN: not within the horizon; +∞ never reached).
    regrown_day: f64,
}

/// Thresholds of the hybrid switch and relapse, in cells, with the clone's rates.
struct Lineage<'a, 'b> {
    rates: &'a CloneRates<'b>,
    relapse_level: f64,
    n_sw: f64,
    n_back: f64,
    t_end: f64,
}

impl Lineage<'_, '_> {
    /// Follows a lineage of `n0` cells from `t0`: stochastic below `n_back` cells, deterministic
    /// regrowth above it, stochastic again should it fall below `n_sw` (CAR-T still present).
    /// Its own cells only (no immigration: recruits found lineages of their own).
    fn fate(&self, n0: u64, t0: f64, rng: &mut PatientRng) -> LineageFate {
        let r = self.rates;
        let dt = r.step_day;
        let never = LineageFate {
            extinction_day: f64::NAN,
            regrown_day: f64::INFINITY,
        };
        let mut t = t0;
        let mut n_cells = n0;
        loop {
            match simulate_clone(r, n_cells, t, self.t_end, self.n_back as u64, dt, rng) {
                Fate::Extinct { day } => {
                    return LineageFate {
                        extinction_day: day,
                        ..never
                    };
                }
                Fate::Alive { cells } => {
                    return LineageFate {
                        extinction_day: if cells == 0 { self.t_end } else { f64::NAN },
                        ..never
                    };
                }
                Fate::Established { day } => {
                    // Deterministic regrowth from n_back cells at `day`.
                    let mut a = self.n_back;
                    let mut s = day;
                    loop {
                        if a >= self.relapse_level {
                            return LineageFate {
                                regrown_day: s,
                                ..never
                            };
                        }
                        if s >= self.t_end {
                            return never;
                        }
                        // To the next knot (a partial step first when off the knots).
                        let k = ((s - r.start_day) / dt + 1e-9).floor() + 1.0;
                        let s_next = (r.start_day + k * dt).min(self.t_end);
                        let h = s_next - s;
                        let mid = s + 0.5 * h;
                        let a_next = a * (r.net_per_day(mid, a) * h).exp();
                        if a_next < self.n_sw {
                            t = s + log_crossing(a, a_next, self.n_sw) * h;
                            n_cells = self.n_sw.round() as u64;
                            break;
                        }
                        if a_next >= self.relapse_level {
                            let f = log_crossing(a, a_next, self.relapse_level);
                            return LineageFate {
                                regrown_day: s + f * h,
                                ..never
                            };
                        }
                        a = a_next;
                        s = s_next;
                    }
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

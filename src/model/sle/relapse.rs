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
//!    inverting its cumulative rate. Each recruit founds a lineage of one cell with the same rates as in 2–3 (its
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
use rand_distr::Exp1;

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
    /// Largest kill rate from each knot on (`kill_per_day`'s suffix maxima).
    kill_bound_per_day: &'a [f64],
    recruitment_cells_per_day: &'a [f64],
    /// Cumulative recruitment from the first knot to each knot, cells.
    recruits_cumulative: &'a [f64],
    growth_per_day: f64,
    capacity_cells: f64,
    allee_death_per_day: f64,
    allee_scale_cells: f64,
}

impl CloneRates<'_> {
    /// The knot interval `[i, i + 1]` holding `t` and the fraction of it at `t` (clamped to the
    /// series; the series have at least two knots).
    #[inline]
    fn interval(&self, t: f64) -> (usize, f64) {
        let last = self.kill_per_day.len() - 1;
        // `max` maps NaN to 0; a non-negative value truncates to its floor.
        let x = ((t - self.start_day) / self.step_day).max(0.0);
        let i = (x as usize).min(last - 1);
        (i, (x - i as f64).min(1.0))
    }

    /// Linear interpolation of a knot series at `t`.
    #[inline]
    fn at(&self, v: &[f64], t: f64) -> f64 {
        let (i, f) = self.interval(t);
        v[i] * (1.0 - f) + v[i + 1] * f
    }

    /// Net per-cell growth rate of a clone of `a` cells at `t` (deterministic), 1/day.
    fn net_per_day(&self, t: f64, a: f64) -> f64 {
        self.growth_per_day * (1.0 - a / self.capacity_cells).max(0.0)
            - self.allee_death_per_day * self.allee_scale_cells / (a + self.allee_scale_cells)
            - self.at(self.kill_per_day, t)
    }

    /// Cumulative recruitment `Λ(t) = ∫ν` from the first knot to `t`, cells (exact for the
    /// piecewise-linear `ν`).
    fn cumulative_recruits(&self, t: f64) -> f64 {
        let (i, f) = self.interval(t);
        let (v0, v1) = (
            self.recruitment_cells_per_day[i],
            self.recruitment_cells_per_day[i + 1],
        );
        self.recruits_cumulative[i] + self.step_day * f * (v0 + 0.5 * f * (v1 - v0))
    }

    /// The next arrival after `t` and before `t_max` of the recruitment process, a Poisson
    /// process of rate `ν(t)`, or `None`. Exact, by inversion of the cumulative rate: the next
    /// arrival is where `Λ` has grown by an exponential variate (Çinlar 1975, §4.1), solved
    /// within its knot interval, where `Λ` is quadratic.
    fn next_recruit(&self, t: f64, t_max: f64, rng: &mut PatientRng) -> Option<f64> {
        let cum = self.recruits_cumulative;
        let e: f64 = rng.sample(Exp1);
        let target = self.cumulative_recruits(t) + e;
        // Beyond the last knot (or NaN): no arrival within the series.
        if target.partial_cmp(&cum[cum.len() - 1]) != Some(std::cmp::Ordering::Less) {
            return None;
        }
        // The interval [i, i + 1] with Λ_i < target <= Λ_{i+1} (Λ is non-decreasing).
        let i = cum.partition_point(|&c| c < target).max(1) - 1;
        let (v0, v1) = (
            self.recruitment_cells_per_day[i],
            self.recruitment_cells_per_day[i + 1],
        );
        let h = self.step_day;
        // v0·s + (v1 − v0)·s²/(2h) = r for s in (0, h], in the form without cancellation.
        let r = target - cum[i];
        let slope = (v1 - v0) / h;
        let den = v0 + (v0 * v0 + 2.0 * slope * r).max(0.0).sqrt();
        let s = if den > 0.0 { (2.0 * r / den).min(h) } else { h };
        let arrival = self.start_day + i as f64 * h + s;
        (arrival > t && arrival < t_max).then_some(arrival)
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
    /// Valid from `t0` to the horizon end, whatever `t1` (the kill rate's suffix maximum), so
    /// one chunk covers a lineage's life and the bound tightens as CAR-T killing fades.
    fn bounds(&self, t0: f64, _t1: f64) -> (f64, f64) {
        // Allee death per cell is largest at n = 1.
        let allee =
            self.allee_death_per_day * self.allee_scale_cells / (1.0 + self.allee_scale_cells);
        let (i, _) = self.interval(t0);
        (
            self.growth_per_day + allee + self.kill_bound_per_day[i],
            0.0,
        )
    }
    /// Birth and Allee death exact at `n`: only the kill rate's variation rejects candidates.
    fn bounds_at(&self, t0: f64, _t1: f64, n: u64) -> (f64, f64) {
        let (i, _) = self.interval(t0);
        (
            self.birth_per_day(t0, n)
                + self.allee_death_per_day * self.allee_scale_cells
                    / (n as f64 + self.allee_scale_cells)
                + self.kill_bound_per_day[i],
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
    let knots = track::knot_series(tr.tracked());
    let (origin, kill, clone) = (knots.origin_day, knots.kill, knots.clone);
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
        kill_bound_per_day: knots.kill_bound,
        recruitment_cells_per_day: knots.recruitment,
        recruits_cumulative: knots.recruits_cumulative,
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
    if knots.recruits_cumulative[n - 1] > 0.0 {
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
            // One chunk: the rates' bound holds to the horizon end.
            let chunk = f64::INFINITY;
            match simulate_clone(r, n_cells, t, self.t_end, self.n_back as u64, chunk, rng) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::variability::stochastic_rng;

    /// Rates over 8 knots 0.25 day apart: a recruitment ramp 0 → 14 cells/day with a plateau,
    /// and its cumulative series as the track module's `finish` derives it.
    fn ramp() -> ([f64; 8], [f64; 8], [f64; 8]) {
        let nu = [0.0, 2.0, 4.0, 6.0, 8.0, 14.0, 14.0, 0.0];
        let kill = [5.0, 7.0, 3.0, 1.0, 0.5, 0.0, 0.0, 0.0];
        let mut cum = [0.0; 8];
        for i in 1..8 {
            cum[i] = cum[i - 1] + 0.5 * 0.25 * (nu[i - 1] + nu[i]);
        }
        (nu, kill, cum)
    }

    fn rates<'a>(
        nu: &'a [f64],
        kill: &'a [f64],
        bound: &'a [f64],
        cum: &'a [f64],
    ) -> CloneRates<'a> {
        CloneRates {
            start_day: 10.0,
            step_day: 0.25,
            kill_per_day: kill,
            kill_bound_per_day: bound,
            recruitment_cells_per_day: nu,
            recruits_cumulative: cum,
            growth_per_day: 0.2,
            capacity_cells: 1e9,
            allee_death_per_day: 0.4,
            allee_scale_cells: 50.0,
        }
    }

    /// Arrivals by inversion of the cumulative rate are the Poisson process of the interpolated
    /// rate: mean count `Λ` over the series and `Λ(t)` before any `t`, none where `ν = 0`.
    #[test]
    fn recruit_arrivals_are_the_poisson_process_of_the_interpolated_rate() {
        let (nu, kill, cum) = ramp();
        let r = rates(&nu, &kill, &kill, &cum);
        let mut rng = stochastic_rng(7, 3);
        let (reps, mid) = (20_000, 11.0);
        let (mut total, mut before_mid, mut first_after_mid) = (0u64, 0u64, 0u64);
        for _ in 0..reps {
            let mut t = 10.0;
            let mut first = true;
            while let Some(a) = r.next_recruit(t, 12.0, &mut rng) {
                assert!(a > t && a < 11.75, "arrival {a} after {t}");
                total += 1;
                if a < mid {
                    before_mid += 1;
                } else if first {
                    first_after_mid += 1;
                }
                first = false;
                t = a;
            }
        }
        let lambda = cum[7];
        let lambda_mid = r.cumulative_recruits(mid);
        let mean = total as f64 / reps as f64;
        // Poisson counts: SE of the mean is sqrt(Λ / reps).
        assert!(
            (mean - lambda).abs() < 4.0 * (lambda / reps as f64).sqrt(),
            "{mean} vs {lambda}"
        );
        let mean_mid = before_mid as f64 / reps as f64;
        assert!(
            (mean_mid - lambda_mid).abs() < 4.0 * (lambda_mid / reps as f64).sqrt(),
            "{mean_mid} vs {lambda_mid}"
        );
        // P(no arrival before `mid`) = exp(−Λ(mid)).
        let p = (-lambda_mid).exp();
        let got = first_after_mid as f64 / reps as f64;
        assert!(
            (got - p).abs() < 4.0 * (p * (1.0 - p) / reps as f64).sqrt(),
            "{got} vs {p}"
        );
        // Nothing arrives from the last knots on (ν = 0 there, Λ flat).
        assert_eq!(r.next_recruit(11.75, 12.0, &mut rng), None);
    }

    /// The kill bound is valid from any time to the end: at least the interpolated kill rate.
    #[test]
    fn lineage_bounds_hold_to_the_horizon_end() {
        let (nu, kill, cum) = ramp();
        let mut bound = kill;
        for i in (0..7).rev() {
            bound[i] = bound[i].max(bound[i + 1]);
        }
        let r = rates(&nu, &kill, &bound, &cum);
        for i in 0..=70 {
            let t0 = 10.0 + i as f64 * 0.025;
            for n in [1u64, 7, 100] {
                let (c, _) = r.bounds_at(t0, t0, n);
                for j in i..=70 {
                    let t = 10.0 + j as f64 * 0.025;
                    let rate = r.birth_per_day(t, n) + r.death_per_day(t, n);
                    assert!(
                        rate <= c * (1.0 + 1e-12),
                        "t0 {t0} t {t} n {n}: {rate} > {c}"
                    );
                }
                assert!(c <= r.bounds(t0, t0).0);
            }
        }
    }
}

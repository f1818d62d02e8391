//! What the SLE model tracks along the solver's accepted steps, so that its endpoints and its
//! IL-6 column depend on the solution and the tolerance only, not on the output grid:
//!
//! - the CAR-T peak (value and day) and AUC over days 0–28, on each step's dense output (the
//!   Hermite cubic's maximum and exact integral);
//! - the first B-cell depletion and reappearance days, the first anti-dsDNA-negative day and
//!   the day CAR-T last fell below their detection limit, located on the dense output by
//!   bisection;
//! - blood values at fixed days (B cells at day 14, CAR-T at day 90, SLEDAI and anti-dsDNA at the
//!   month-3 visit, T cells at day 0);
//! - IL-6, the fast linear filter `v' = −k_IL·v + q(t)` of the CAR-T production `q`, integrated
//!   exactly over each step for `q` the Hermite cubic of its values and derivatives at the step
//!   ends (the exponential kernel's moments in closed form), with its peak.

use nalgebra::SVector;

use super::{
    ANTIGEN, SLE_STATES, SleDefinitions, SlePatient, antigen_mcells, il6_production_rate, ix, pos,
};
use crate::model::step::{Crossing, Cubic, StepSpan, exp_kernel_moments};

/// Slots of [`Trajectory::tracked`](crate::model::Trajectory::tracked).
pub(super) mod slot {
    /// CAR-T peak after day 0, cells/µL.
    pub const CAR_T_PEAK: usize = 0;
    /// Its day.
    pub const CAR_T_PEAK_DAY: usize = 1;
    /// CAR-T AUC over days 0–28, cells·day/µL.
    pub const CAR_T_AUC_0_28: usize = 2;
    /// First day blood B cells are below the threshold after day 0 (NaN: not yet).
    pub const B_DEPLETION_DAY: usize = 3;
    /// First day they are back at or above it after that (NaN: not yet).
    pub const B_REAPPEARANCE_DAY: usize = 4;
    /// First day anti-dsDNA is below the negativity cut-off after day 0 (NaN: not yet).
    pub const ANTI_DSDNA_NEGATIVE_DAY: usize = 5;
    /// IL-6 above baseline at the start of the last tracked step, pg/mL.
    pub const IL6_EXCESS_STEP_START: usize = 6;
    /// Its time derivative there, pg/mL/day.
    pub const IL6_SLOPE_STEP_START: usize = 14;
    /// Its time derivative at the end of the last tracked step, pg/mL/day.
    pub const IL6_SLOPE: usize = 15;
    /// IL-6 above baseline at the end of the last tracked step, pg/mL.
    pub const IL6_EXCESS: usize = 7;
    /// Largest IL-6 excess after day 0, pg/mL.
    pub const IL6_EXCESS_PEAK: usize = 8;
    /// Blood B cells at day 14, cells/µL.
    pub const B_DAY14: usize = 9;
    /// CAR-T at day 90, cells/µL.
    pub const CAR_T_DAY90: usize = 10;
    /// SLEDAI surrogate at the month-3 visit.
    pub const SLEDAI_MONTH3: usize = 11;
    /// Anti-dsDNA at the month-3 visit, IU/mL.
    pub const ANTI_DSDNA_MONTH3: usize = 12;
    /// Blood T cells at day 0 (after the infusion), cells/µL.
    pub const T_DAY0: usize = 13;
    /// Day of the first knot (the horizon start).
    pub const KNOT_ORIGIN: usize = 16;
    /// Day blood CAR-T last fell below the detection limit after day 0 (NaN while they are
    /// detectable).
    pub const CAR_T_UNDETECTABLE_DAY: usize = 17;
    /// IL-6 production and its slope at the end of the last tracked step, pg/mL/day and
    /// pg/mL/day²: the next step of the same segment starts from the same state and derivative
    /// (the stepper's last stage), so it starts from these values. NaN after a point span (a
    /// segment start, where the state may jump): recomputed there.
    pub const IL6_PRODUCTION_END: usize = 18;
    /// See [`IL6_PRODUCTION_END`].
    pub const IL6_PRODUCTION_SLOPE_END: usize = 19;
    /// Number of fixed slots; the knot series follow (see [`super::knot_series`]).
    pub const LEN: usize = 20;
}

/// Spacing of the knots at which the relapse step's inputs are sampled on the dense output,
/// day: fixed, so that the relapse endpoints do not depend on the output grid.
pub(super) const KNOT_STEP_DAY: f64 = 0.25;
/// Series at the knots: sampled on the dense output, CD19+ kill rate (1/day), recruitment into
/// new autoreactive clones (cells/day) and autoreactive memory B (cells/µL blood); derived from
/// them after the solve ([`finish`]), the kill rate's suffix maxima (1/day) and the cumulative
/// recruitment from the first knot (cells).
pub(super) const KNOT_SERIES: usize = 5;

/// Knots on `[start_day, end_day]` (both ends included).
pub(super) fn knot_count(start_day: f64, end_day: f64) -> usize {
    let span = end_day - start_day;
    if span.is_finite() && span >= 0.0 {
        (span / KNOT_STEP_DAY).floor() as usize + 1
    } else {
        0
    }
}

/// The knot series of a tracked vector, each of equal length (empty when it has none).
pub(super) struct Knots<'a> {
    /// Day of the first knot.
    pub origin_day: f64,
    /// CD19+ kill rate, 1/day.
    pub kill: &'a [f64],
    /// Largest kill rate from each knot to the last, 1/day.
    pub kill_bound: &'a [f64],
    /// Recruitment into new autoreactive clones, cells/day.
    pub recruitment: &'a [f64],
    /// Recruitment integrated from the first knot (trapezoids: exact for the linear
    /// interpolant), cells.
    pub recruits_cumulative: &'a [f64],
    /// Autoreactive memory B, cells/µL blood.
    pub clone: &'a [f64],
}

/// The knot series of a tracked vector.
pub(super) fn knot_series(tracked: &[f64]) -> Knots<'_> {
    let k = tracked.len().saturating_sub(slot::LEN) / KNOT_SERIES;
    let origin_day = if k == 0 {
        f64::NAN
    } else {
        tracked[slot::KNOT_ORIGIN]
    };
    let rest = &tracked[slot::LEN.min(tracked.len())..];
    let series = |j: usize| &rest[j * k..(j + 1) * k];
    Knots {
        origin_day,
        kill: series(0),
        recruitment: series(1),
        clone: series(2),
        kill_bound: series(3),
        recruits_cumulative: series(4),
    }
}

/// Derives the series the relapse step reads from the sampled ones, once the solve is done.
pub(super) fn finish(tracked: &mut [f64]) {
    let k = tracked.len().saturating_sub(slot::LEN) / KNOT_SERIES;
    if k == 0 {
        return;
    }
    let (sampled, derived) = tracked[slot::LEN..slot::LEN + KNOT_SERIES * k].split_at_mut(3 * k);
    let (kill, recruitment) = (&sampled[..k], &sampled[k..2 * k]);
    let (bound, cumulative) = derived.split_at_mut(k);
    let mut m = f64::NEG_INFINITY;
    for (b, &v) in bound.iter_mut().zip(kill).rev() {
        // NaN propagates: a series with a gap gives no bound.
        m = if v.is_nan() || m.is_nan() {
            f64::NAN
        } else {
            m.max(v)
        };
        *b = m;
    }
    let mut c = 0.0;
    cumulative[0] = 0.0;
    for i in 1..k {
        c += 0.5 * KNOT_STEP_DAY * (recruitment[i - 1] + recruitment[i]);
        cumulative[i] = c;
    }
}

/// States summed for each blood quantity.
const CAR_T: &[usize] = &[ix::E, ix::M];
const B_CELLS: &[usize] = &[ix::T3, ix::BN, ix::AM];
const T_CELLS: &[usize] = &[ix::TH, ix::E, ix::M];
/// IL-6 production `q` (see [`il6_production_rate`]), pg/mL/day, and its time derivative along
/// `dy` (states below zero count as zero, as in `observe`).
#[inline]
pub(super) fn il6_production(
    pt: &SlePatient,
    y: &SVector<f64, SLE_STATES>,
    dy: &SVector<f64, SLE_STATES>,
) -> (f64, f64) {
    let live = |i: usize| if y[i] > 0.0 { dy[i] } else { 0.0 };
    let e = pos(y[ix::E]);
    let de = live(ix::E);
    let u = antigen_mcells(y);
    let mut du = 0.0;
    for i in ANTIGEN {
        du += live(i);
    }
    let q = il6_production_rate(pt, e, u);
    let den = pt.p.expansion_half_saturation_mcells + e + u;
    let c = pt.p.il6_production_pg_per_ml_per_day_per_mcell;
    let dq = c * ((de * u + e * du) * den - e * u * (de + du)) / (den * den);
    (q, dq)
}

/// Fixed-day probes: slot, day, states summed, scale to the output unit.
fn probes(pt: &SlePatient, defs: &SleDefinitions) -> [(usize, f64, &'static [usize], f64); 5] {
    let b = pt.to_blood;
    [
        (slot::B_DAY14, 14.0, B_CELLS, b),
        (slot::CAR_T_DAY90, 90.0, CAR_T, b),
        (slot::SLEDAI_MONTH3, defs.month3_day, &[ix::SD, ix::SO], 1.0),
        (slot::ANTI_DSDNA_MONTH3, defs.month3_day, &[ix::AB], 1.0),
        (slot::T_DAY0, 0.0, T_CELLS, b),
    ]
}

pub(super) fn init(tracked: &mut [f64]) {
    if tracked.len() < slot::LEN {
        return;
    }
    tracked[slot::CAR_T_AUC_0_28] = 0.0;
    tracked[slot::IL6_EXCESS_STEP_START] = 0.0;
    tracked[slot::IL6_EXCESS] = 0.0;
    tracked[slot::IL6_SLOPE_STEP_START] = 0.0;
    tracked[slot::IL6_SLOPE] = 0.0;
    tracked[slot::IL6_PRODUCTION_END] = f64::NAN;
    tracked[slot::IL6_PRODUCTION_SLOPE_END] = f64::NAN;
}

/// Updates the tracked values with one step (or point).
#[inline]
pub(super) fn step(
    pt: &SlePatient,
    defs: &SleDefinitions,
    span: &StepSpan<'_, SLE_STATES>,
    tr: &mut [f64],
) {
    if tr.len() < slot::LEN {
        return;
    }
    fill_knots(pt, span, tr);
    let (t0, h) = (span.t0_day, span.h_day());
    let at = |s: f64| t0 + s * h;

    // IL-6: exact over the step (for the production's cubic), with the slopes v' = q − k·v at
    // both ends from this step's own production (a CAR-T dose makes it jump at a point).
    let k = pt.p.il6_clearance_per_day;
    let v0 = tr[slot::IL6_EXCESS];
    let (dv0, v1, dv1) = if span.is_point() {
        let (q, _) = il6_production(pt, span.y1, span.dy1);
        tr[slot::IL6_PRODUCTION_END] = f64::NAN;
        (q - k * v0, v0, q - k * v0)
    } else {
        let q = production_cubic(pt, span, tr);
        let m = exp_kernel_moments(k * h);
        // e^{−z} = 1 − z·I₀.
        let decay = 1.0 - k * h * m[0];
        let v1 = v0 * decay
            + h * (q.coef[0] * m[0] + q.coef[1] * m[1] + q.coef[2] * m[2] + q.coef[3] * m[3]);
        (q.coef[0] - k * v0, v1, q.value(1.0) - k * v1)
    };
    tr[slot::IL6_EXCESS_STEP_START] = v0;
    tr[slot::IL6_SLOPE_STEP_START] = dv0;
    tr[slot::IL6_EXCESS] = v1;
    tr[slot::IL6_SLOPE] = dv1;

    // Fixed days: inside the step (t0, t1], or at the point itself (post-dose state).
    for (k, day, idx, scale) in probes(pt, defs) {
        let inside = if span.is_point() {
            (day - t0).abs() <= 1e-9
        } else {
            t0 < day && day <= span.t1_day
        };
        if inside {
            tr[k] = pos(span.cubic(idx, scale).value(span.fraction(day)));
        }
    }

    if span.t1_day < 0.0 {
        return;
    }
    // The part of the step from day 0 on.
    let lo = if t0 < 0.0 { span.fraction(0.0) } else { 0.0 };
    let hi = if span.is_point() { 0.0 } else { 1.0 };
    let b = pt.to_blood;

    let car = span.cubic(CAR_T, b);
    // Past the peak, the control points' bound rules most steps out without a search.
    if tr[slot::CAR_T_PEAK].is_nan() || car.upper_bound() > tr[slot::CAR_T_PEAK] {
        let (s, peak) = car.max_on(lo, hi);
        if tr[slot::CAR_T_PEAK].is_nan() || peak > tr[slot::CAR_T_PEAK] {
            tr[slot::CAR_T_PEAK] = pos(peak);
            tr[slot::CAR_T_PEAK_DAY] = at(s);
        }
    }
    if t0 < 28.0 && !span.is_point() {
        let to = span.fraction(28.0);
        tr[slot::CAR_T_AUC_0_28] += car.integral_to(to) - car.integral_to(lo);
    }
    // Detection: each crossing of the limit flips the state (NaN: detectable); a step holds
    // at most a few (the cubic has at most three).
    let limit = defs.car_t_detection_per_ul;
    let mut from = lo;
    for _ in 0..4 {
        let detectable = tr[slot::CAR_T_UNDETECTABLE_DAY].is_nan();
        let dir = if detectable {
            Crossing::Below
        } else {
            Crossing::AtOrAbove
        };
        match car.first_crossing(limit, from, hi, dir) {
            Some(s) => {
                tr[slot::CAR_T_UNDETECTABLE_DAY] = if detectable { at(s) } else { f64::NAN };
                from = s;
            }
            None => break,
        }
    }

    let thr = defs.b_cell_threshold_per_ul;
    if tr[slot::B_REAPPEARANCE_DAY].is_nan() {
        let bc = span.cubic(B_CELLS, b);
        let mut from = lo;
        if tr[slot::B_DEPLETION_DAY].is_nan() {
            match bc.first_crossing(thr, lo, hi, Crossing::Below) {
                Some(s) => {
                    tr[slot::B_DEPLETION_DAY] = at(s);
                    from = s;
                }
                None => from = f64::NAN,
            }
        }
        if from.is_finite() {
            if let Some(s) = bc.first_crossing(thr, from, hi, Crossing::AtOrAbove) {
                tr[slot::B_REAPPEARANCE_DAY] = at(s);
            }
        }
    }

    if tr[slot::ANTI_DSDNA_NEGATIVE_DAY].is_nan() {
        let cut = defs
            .anti_dsdna_negative
            .below_iu_per_ml(pt.baseline_anti_dsdna);
        if let Some(s) = span
            .cubic(&[ix::AB], 1.0)
            .first_crossing(cut, lo, hi, Crossing::Below)
        {
            tr[slot::ANTI_DSDNA_NEGATIVE_DAY] = at(s);
        }
    }

    // IL-6 peak on the Hermite cubic of v.
    let il6 = il6_cubic(span, tr);
    if tr[slot::IL6_EXCESS_PEAK].is_nan() || il6.upper_bound() > tr[slot::IL6_EXCESS_PEAK] {
        let (_, v_peak) = il6.max_on(lo, hi);
        if tr[slot::IL6_EXCESS_PEAK].is_nan() || v_peak > tr[slot::IL6_EXCESS_PEAK] {
            tr[slot::IL6_EXCESS_PEAK] = pos(v_peak);
        }
    }
}

/// The Hermite cubic of the IL-6 excess over the step just tracked.
#[inline]
fn il6_cubic(span: &StepSpan<'_, SLE_STATES>, tr: &[f64]) -> Cubic {
    Cubic::hermite(
        tr[slot::IL6_EXCESS_STEP_START],
        tr[slot::IL6_SLOPE_STEP_START],
        tr[slot::IL6_EXCESS],
        tr[slot::IL6_SLOPE],
        span.h_day(),
    )
}

/// The Hermite cubic of IL-6 production over a step; its start is the end of the previous
/// step of the segment (the same state and derivative, so the same bits) when that was kept.
fn production_cubic(pt: &SlePatient, span: &StepSpan<'_, SLE_STATES>, tr: &mut [f64]) -> Cubic {
    let carried = tr[slot::IL6_PRODUCTION_END];
    let (q0, dq0) = if carried.is_nan() {
        il6_production(pt, span.y0, span.dy0)
    } else {
        (carried, tr[slot::IL6_PRODUCTION_SLOPE_END])
    };
    let (q1, dq1) = il6_production(pt, span.y1, span.dy1);
    tr[slot::IL6_PRODUCTION_END] = q1;
    tr[slot::IL6_PRODUCTION_SLOPE_END] = dq1;
    Cubic::hermite(q0, dq0, q1, dq1, span.h_day())
}

/// IL-6 above baseline at `t_day` inside the step just tracked, pg/mL: exact at the step ends,
/// the Hermite cubic of the values and slopes there in between (the dense output's accuracy).
pub(super) fn il6_excess_at(span: &StepSpan<'_, SLE_STATES>, t_day: f64, tracked: &[f64]) -> f64 {
    if tracked.len() < slot::LEN {
        return 0.0;
    }
    if span.is_point() {
        return tracked[slot::IL6_EXCESS];
    }
    il6_cubic(span, tracked).value(span.fraction(t_day))
}

/// Samples the relapse step's inputs at the knots inside `span` on its dense output (a point
/// span, after boluses, overwrites the knot at its time: the series are right-continuous).
#[inline]
fn fill_knots(pt: &SlePatient, span: &StepSpan<'_, SLE_STATES>, tr: &mut [f64]) {
    let k_total = (tr.len() - slot::LEN) / KNOT_SERIES;
    if k_total == 0 {
        return;
    }
    if tr[slot::KNOT_ORIGIN].is_nan() {
        tr[slot::KNOT_ORIGIN] = span.t0_day;
    }
    let origin = tr[slot::KNOT_ORIGIN];
    let first = ((span.t0_day - origin) / KNOT_STEP_DAY).ceil().max(0.0) as usize;
    let last = ((span.t1_day - origin) / KNOT_STEP_DAY).floor();
    if last < 0.0 {
        return;
    }
    let last = (last as usize).min(k_total - 1);
    if first > last {
        return;
    }
    // The dense output of the five quantities the series need, as cubics in the step fraction
    // (a point span gives constants).
    let (e, m, u) = (
        span.state_cubic(ix::E),
        span.state_cubic(ix::M),
        span.cubic(&ANTIGEN, 1.0),
    );
    let (bn, am) = (span.state_cubic(ix::BN), span.state_cubic(ix::AM));
    let recruit_per_mcell = pt.p.naive_to_autoreactive_per_day * 1e6;
    for k in first..=last {
        let t = origin + k as f64 * KNOT_STEP_DAY;
        let s = span.fraction(t.clamp(span.t0_day, span.t1_day));
        let kill = super::cd19_loss_rate(
            pt,
            pt.flu.concentration_at(t),
            pt.cy.concentration_at(t),
            pos(e.value(s)),
            pos(m.value(s)),
            pos(u.value(s)),
        );
        let base = slot::LEN + k;
        tr[base] = kill;
        tr[base + k_total] = recruit_per_mcell * pos(bn.value(s));
        tr[base + 2 * k_total] = pt.to_blood * pos(am.value(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finish_derives_the_kill_bound_and_cumulative_recruitment() {
        let k = 5;
        let mut tr = vec![f64::NAN; slot::LEN + KNOT_SERIES * k];
        tr[slot::KNOT_ORIGIN] = -6.0;
        let kill = [1.0, 4.0, 2.0, 3.0, 0.5];
        let nu = [0.0, 8.0, 8.0, 4.0, 0.0];
        tr[slot::LEN..slot::LEN + k].copy_from_slice(&kill);
        tr[slot::LEN + k..slot::LEN + 2 * k].copy_from_slice(&nu);
        finish(&mut tr);
        let knots = knot_series(&tr);
        assert_eq!(knots.origin_day, -6.0);
        assert_eq!(knots.kill, &kill);
        assert_eq!(knots.recruitment, &nu);
        assert_eq!(knots.kill_bound, &[4.0, 4.0, 3.0, 3.0, 0.5]);
        assert_eq!(knots.recruits_cumulative, &[0.0, 1.0, 3.0, 4.5, 5.0]);
        // A gap in the kill series leaves no bound before it.
        tr[slot::LEN + 2] = f64::NAN;
        finish(&mut tr);
        let b = knot_series(&tr).kill_bound;
        assert!(b[0].is_nan() && b[2].is_nan() && b[3] == 3.0);
    }
}

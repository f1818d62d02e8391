//! The crate's own explicit Runge–Kutta 5(4) steppers: seven stages, first same as last, an
//! embedded error estimate of order 4, allocation-free (stack vectors only, outputs written
//! straight into the grid through the [`GridFiller`]).
//!
//! Two pairs share the loop:
//! - [`Tsit5`], Tsitouras' 5(4) pair (Ch. Tsitouras, *Runge–Kutta pairs of order 5(4)
//!   satisfying only the first column simplifying assumption*, Comput. Math. Appl. 62 (2011)
//!   770–775; the error coefficients are the differences `b − b̂`, with the sign of the last one
//!   corrected as in the published implementations): smaller error constants than
//!   Dormand–Prince, so fewer steps at equal accuracy; the default
//!   [`Method::Tsit5`](super::Method::Tsit5);
//! - [`Dopri5`], the Dormand–Prince 5(4) pair (Hairer, Nørsett & Wanner, *Solving ODEs I*,
//!   §II.5, code DOPRI5) with the same error norm, PI step-size controller (α = 0.2 − 0.75β,
//!   β = 0.04, safety 0.9, step ratio in [0.2, 10]), initial-step heuristic and stiffness test
//!   as ode_solvers 0.6.2's `Dopri5`, so the two take the same steps (a test checks that they
//!   agree): [`Method::Dopri5`](super::Method::Dopri5).
//!
//! Both use that controller and Hairer's stiffness test (`h·‖k₇ − k₆‖/‖y₇ − y₆‖` of the two
//! stages at `c = 1`, above 3.25 for 15 tests in a row).
//!
//! Why not ode_solvers' own loop: it keeps every accepted step in a growing `Vec` (heap
//! reallocation and page faults on the cohort hot path) and builds fresh work vectors per call.
//! ode_solvers stays the reference path
//! ([`Method::OdeSolversDopri5`](super::Method::OdeSolversDopri5)).

use nalgebra::SVector;

use super::{GridFiller, SegmentProblem, SegmentWork, non_finite_error};
use crate::error::SolveError;
use crate::model::Model;

/// A 7-stage FSAL explicit Runge–Kutta 5(4) pair: nodes `C*`, coefficients `A*` (row 7 is the
/// solution's weights), error weights `E*` (`b − b̂`). Zero coefficients are skipped at compile
/// time.
pub(crate) trait Pair {
    const C2: f64;
    const C3: f64;
    const C4: f64;
    const C5: f64;
    const A21: f64;
    const A31: f64;
    const A32: f64;
    const A41: f64;
    const A42: f64;
    const A43: f64;
    const A51: f64;
    const A52: f64;
    const A53: f64;
    const A54: f64;
    const A61: f64;
    const A62: f64;
    const A63: f64;
    const A64: f64;
    const A65: f64;
    const A71: f64;
    const A72: f64;
    const A73: f64;
    const A74: f64;
    const A75: f64;
    const A76: f64;
    const E1: f64;
    const E2: f64;
    const E3: f64;
    const E4: f64;
    const E5: f64;
    const E6: f64;
    const E7: f64;
}

/// Dormand–Prince 5(4), the coefficients of DOPRI5 and ode_solvers.
pub(crate) struct Dopri5;

impl Pair for Dopri5 {
    const C2: f64 = 1.0 / 5.0;
    const C3: f64 = 3.0 / 10.0;
    const C4: f64 = 4.0 / 5.0;
    const C5: f64 = 8.0 / 9.0;
    const A21: f64 = 1.0 / 5.0;
    const A31: f64 = 3.0 / 40.0;
    const A32: f64 = 9.0 / 40.0;
    const A41: f64 = 44.0 / 45.0;
    const A42: f64 = -56.0 / 15.0;
    const A43: f64 = 32.0 / 9.0;
    const A51: f64 = 19372.0 / 6561.0;
    const A52: f64 = -25360.0 / 2187.0;
    const A53: f64 = 64448.0 / 6561.0;
    const A54: f64 = -212.0 / 729.0;
    const A61: f64 = 9017.0 / 3168.0;
    const A62: f64 = -355.0 / 33.0;
    const A63: f64 = 46732.0 / 5247.0;
    const A64: f64 = 49.0 / 176.0;
    const A65: f64 = -5103.0 / 18656.0;
    const A71: f64 = 35.0 / 384.0;
    const A72: f64 = 0.0;
    const A73: f64 = 500.0 / 1113.0;
    const A74: f64 = 125.0 / 192.0;
    const A75: f64 = -2187.0 / 6784.0;
    const A76: f64 = 11.0 / 84.0;
    const E1: f64 = 71.0 / 57600.0;
    const E2: f64 = 0.0;
    const E3: f64 = -71.0 / 16695.0;
    const E4: f64 = 71.0 / 1920.0;
    const E5: f64 = -17253.0 / 339200.0;
    const E6: f64 = 22.0 / 525.0;
    const E7: f64 = -1.0 / 40.0;
}

/// Tsitouras 5(4) (Tsitouras 2011, Table 1, to 16 digits).
pub(crate) struct Tsit5;

impl Pair for Tsit5 {
    const C2: f64 = 0.161;
    const C3: f64 = 0.327;
    const C4: f64 = 0.9;
    const C5: f64 = 0.980_025_540_904_509_7;
    const A21: f64 = 0.161;
    const A31: f64 = -0.008_480_655_492_356_989;
    const A32: f64 = 0.335_480_655_492_357;
    const A41: f64 = 2.897_153_057_105_493;
    const A42: f64 = -6.359_448_489_975_075;
    const A43: f64 = 4.362_295_432_869_581_5;
    const A51: f64 = 5.325_864_828_439_257;
    const A52: f64 = -11.748_883_564_062_828;
    const A53: f64 = 7.495_539_342_889_836_5;
    const A54: f64 = -0.092_495_066_361_755_25;
    const A61: f64 = 5.861_455_442_946_42;
    const A62: f64 = -12.920_969_317_847_11;
    const A63: f64 = 8.159_367_898_576_159;
    const A64: f64 = -0.071_584_973_281_401;
    const A65: f64 = -0.028_269_050_394_068_383;
    const A71: f64 = 0.096_460_766_818_065_23;
    const A72: f64 = 0.01;
    const A73: f64 = 0.479_889_650_414_499_6;
    const A74: f64 = 1.379_008_574_103_742;
    const A75: f64 = -3.290_069_515_436_081;
    const A76: f64 = 2.324_710_524_099_774;
    // b − b̂, with b̂ = (0.09824077787029123, 0.010816434459657, 0.4720087724042376,
    // 1.5237195812770048, −3.872426680888636, 2.7827926300289607, −1/66).
    const E1: f64 = Self::A71 - 0.098_240_777_870_291_23;
    const E2: f64 = Self::A72 - 0.010_816_434_459_657;
    const E3: f64 = Self::A73 - 0.472_008_772_404_237_6;
    const E4: f64 = Self::A74 - 1.523_719_581_277_004_8;
    const E5: f64 = Self::A75 + 3.872_426_680_888_636;
    const E6: f64 = Self::A76 - 2.782_792_630_028_960_7;
    const E7: f64 = 1.0 / 66.0;
}

const BETA: f64 = 0.04;
const ALPHA: f64 = 0.2 - BETA * 0.75;
const SAFETY: f64 = 0.9;
const FACC1: f64 = 1.0 / 0.2;
const FACC2: f64 = 1.0 / 10.0;
const STIFF_THRESHOLD: f64 = 3.25;
const STIFF_MAX: u32 = 15;
const NON_STIFF_RESET: u32 = 6;

/// `acc + Σ w_j·k_j` over the non-zero weights (zeros are skipped at compile time, so Dopri5's
/// sums are the same expressions as before, to the bit).
macro_rules! combine {
    ($first:expr, $w1:expr; $($k:expr, $w:expr);*) => {{
        let mut acc = $first * $w1;
        $(
            if $w != 0.0 {
                acc += $k * $w;
            }
        )*
        acc
    }};
}

/// Integrates one segment `[seg.start_day, seg.end_day]` from `y` (derivative `f0` at the start).
#[inline(always)] // into the AVX2 copy of the solve (`super::integrate`)
pub(crate) fn segment<P: Pair, M: Model<N>, const N: usize>(
    problem: SegmentProblem<'_, M, N>,
    mut filler: GridFiller<'_, N>,
) -> Result<(SVector<f64, N>, SegmentWork), SolveError> {
    let SegmentProblem {
        model,
        patient,
        segment: seg,
        y0: mut y,
        dy0: mut f0,
        options,
        rtol: problem_rtol,
        atol: problem_atol,
        h_start,
        remaining_steps,
    } = problem;
    let (a, b) = (seg.start_day, seg.end_day);
    let f = |t: f64, y: &SVector<f64, N>, out: &mut SVector<f64, N>| {
        model.rhs(patient, t, y, &seg, out);
    };
    let (rtol, atol) = (problem_rtol, problem_atol);
    let h_max = b - a;
    let mut work = SegmentWork {
        h_next: f64::NAN,
        accepted_steps: 0,
        rejected_steps: 0,
        rhs_evals: 0,
    };
    // Clock shifted to the horizon start, as in the ode_solvers path (identical round-off).
    let shift = filler.start_day;
    let mut x = a - shift;
    let x_end = b - shift;

    // Initial step (Hairer's HINIT, as ode_solvers).
    let mut h = if let Some(h0) = h_start.filter(|h| h.is_finite() && *h > 0.0) {
        h0.min(h_max)
    } else {
        let (mut d0, mut d1) = (0.0f64, 0.0f64);
        for i in 0..N {
            let sc = atol + y[i].abs() * rtol;
            d0 += (y[i] / sc) * (y[i] / sc);
            d1 += (f0[i] / sc) * (f0[i] / sc);
        }
        let mut h0 = if d0 < 1e-10 || d1 < 1e-10 {
            1e-6
        } else {
            0.01 * (d0 / d1).sqrt()
        };
        h0 = h0.min(h_max);
        let y1 = y + f0 * h0;
        let mut f1 = SVector::<f64, N>::zeros();
        f(x + h0 + shift, &y1, &mut f1);
        let mut d2 = 0.0f64;
        for i in 0..N {
            let sc = atol + y[i].abs() * rtol;
            d2 += ((f1[i] - f0[i]) / sc) * ((f1[i] - f0[i]) / sc);
        }
        d2 = d2.sqrt() / h0;
        let h1 = if d1.sqrt().max(d2.abs()) <= 1e-15 {
            1e-6f64.max(h0.abs() * 1e-3)
        } else {
            (0.01 / d1.sqrt().max(d2)).powf(0.2)
        };
        work.rhs_evals += 2; // counted as in ode_solvers (f0 is counted by the caller)
        (100.0 * h0).min(h1.min(h_max))
    };

    // ln of the previous accepted error (at least 1e-4): the controller's `fac_old^(−β)·err^α`
    // is one `exp` of logarithms instead of two `powf` (each a log and an exp inside).
    let ln_fac_min = 1e-4f64.ln();
    let mut ln_fac_old = ln_fac_min;
    let mut reject = false;
    let mut last = false;
    let mut h_wanted = f64::NAN;
    let mut n_step = 0u32;
    let (mut iasti, mut non_stiff) = (0u32, 0u32);
    let mut k2 = SVector::<f64, N>::zeros();
    let mut k3 = SVector::<f64, N>::zeros();
    let mut k4 = SVector::<f64, N>::zeros();
    let mut k5 = SVector::<f64, N>::zeros();
    let mut k6 = SVector::<f64, N>::zeros();
    let mut k7 = SVector::<f64, N>::zeros();

    while !last {
        if n_step > remaining_steps {
            return Err(SolveError::MaxSteps {
                t_day: x + shift,
                max_steps: options.max_steps,
            });
        }
        if 0.1 * h.abs() <= f64::EPSILON * x.abs() {
            return Err(SolveError::StepSizeUnderflow { t_day: x + shift });
        }
        if x + 1.01 * h - x_end > 0.0 {
            // The step the controller wanted, for the next segment's start.
            h_wanted = h;
            h = x_end - x;
            last = true;
        }
        n_step += 1;

        let t = x + shift;
        f(t + P::C2 * h, &(y + f0 * (h * P::A21)), &mut k2);
        f(
            t + P::C3 * h,
            &(y + combine!(f0, P::A31; k2, P::A32) * h),
            &mut k3,
        );
        f(
            t + P::C4 * h,
            &(y + combine!(f0, P::A41; k2, P::A42; k3, P::A43) * h),
            &mut k4,
        );
        f(
            t + P::C5 * h,
            &(y + combine!(f0, P::A51; k2, P::A52; k3, P::A53; k4, P::A54) * h),
            &mut k5,
        );
        let y_stiff = y + combine!(f0, P::A61; k2, P::A62; k3, P::A63; k4, P::A64; k5, P::A65) * h;
        f(t + h, &y_stiff, &mut k6);
        let y_next = y
            + combine!(f0, P::A71; k2, P::A72; k3, P::A73; k4, P::A74; k5, P::A75; k6, P::A76) * h;
        f(t + h, &y_next, &mut k7);
        work.rhs_evals += 6;

        let err_vec = combine!(
            f0, P::E1; k2, P::E2; k3, P::E3; k4, P::E4; k5, P::E5; k6, P::E6; k7, P::E7
        ) * h;
        let mut err = 0.0f64;
        for i in 0..N {
            let sc = atol + y[i].abs().max(y_next[i].abs()) * rtol;
            err += (err_vec[i] / sc) * (err_vec[i] / sc);
        }
        err = (err / N as f64).sqrt();

        // PI controller (ode_solvers' Controller::accept, in logarithms).
        let ln_err = err.ln();
        let fac = FACC2.max(FACC1.min((ALPHA * ln_err - BETA * ln_fac_old).exp() / SAFETY));
        let mut h_new = h / fac;
        if err <= 1.0 {
            work.h_next = if last { h_new.max(h_wanted) } else { h_new };
            ln_fac_old = ln_err.max(ln_fac_min);
            h_new = h_new.min(h_max);
            if reject {
                h_new = h_new.min(h);
            }
            reject = false;
            work.accepted_steps += 1;

            if work
                .accepted_steps
                .is_multiple_of(options.stiffness_check_interval)
                || iasti > 0
            {
                let dk = k7 - k6;
                let dy = y_next - y_stiff;
                let (num, den) = (dk.dot(&dk), dy.dot(&dy));
                let h_lamb = if den > 0.0 {
                    h * (num / den).sqrt()
                } else {
                    0.0
                };
                if h_lamb > STIFF_THRESHOLD {
                    iasti += 1;
                    non_stiff = 0;
                    if iasti == STIFF_MAX {
                        return Err(SolveError::Stiff { t_day: x + shift });
                    }
                } else {
                    non_stiff += 1;
                    if non_stiff == NON_STIFF_RESET {
                        iasti = 0;
                    }
                }
            }

            f0 = k7;
            y = y_next;
            x += h;
            let t_new = x + shift;
            // A sum is finite only if every term is: one test per step, the full scan only when
            // it fails (a finite sum that overflowed is not an error).
            if !y.sum().is_finite() {
                if let Some(e) = non_finite_error(model, t_new, &y) {
                    return Err(e);
                }
            }
            filler.step(model, patient, t_new, &y, &f0);
        } else {
            h_new = h / FACC1.min((ALPHA * ln_err).exp() / SAFETY);
            reject = true;
            last = false;
            if work.accepted_steps >= 1 {
                work.rejected_steps += 1;
            }
        }
        h = h_new;
    }
    Ok((y, work))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tableau as matrices: `a[i][j]` (row 6 is the solution's weights), `c`, error weights.
    fn tableau<P: Pair>() -> ([[f64; 7]; 7], [f64; 7], [f64; 7]) {
        let mut a = [[0.0; 7]; 7];
        a[1][0] = P::A21;
        a[2][..2].copy_from_slice(&[P::A31, P::A32]);
        a[3][..3].copy_from_slice(&[P::A41, P::A42, P::A43]);
        a[4][..4].copy_from_slice(&[P::A51, P::A52, P::A53, P::A54]);
        a[5][..5].copy_from_slice(&[P::A61, P::A62, P::A63, P::A64, P::A65]);
        a[6][..6].copy_from_slice(&[P::A71, P::A72, P::A73, P::A74, P::A75, P::A76]);
        let c = [0.0, P::C2, P::C3, P::C4, P::C5, 1.0, 1.0];
        let e = [P::E1, P::E2, P::E3, P::E4, P::E5, P::E6, P::E7];
        (a, c, e)
    }

    /// Order conditions of the 5th-order solution (all 17 trees up to order 5 would include
    /// these; the ones here fail for any wrong digit in a row), of the 4th-order embedded one
    /// (`b̂ = b − e`), and the row sums `Σ_j a_ij = c_i`.
    fn check_order<P: Pair>(name: &str) {
        let (a, c, e) = tableau::<P>();
        let b = a[6];
        let bh: Vec<f64> = b.iter().zip(&e).map(|(b, e)| b - e).collect();
        let close = |got: f64, want: f64, what: &str| {
            assert!(
                (got - want).abs() < 1e-12,
                "{name}: {what} = {got}, want {want}"
            );
        };
        for i in 1..7 {
            close(a[i].iter().sum(), c[i], &format!("row sum {i}"));
        }
        // FSAL: the last stage is evaluated at the solution.
        close(c[6], 1.0, "c7");
        let dot = |w: &[f64], f: &dyn Fn(usize) -> f64| (0..7).map(|i| w[i] * f(i)).sum::<f64>();
        let ac = |i: usize, p: i32| (0..7).map(|j| a[i][j] * c[j].powi(p)).sum::<f64>();
        let aac = |i: usize| {
            (0..7)
                .map(|j| a[i][j] * (0..7).map(|k| a[j][k] * c[k]).sum::<f64>())
                .sum::<f64>()
        };
        for (w, order, label) in [(&b[..], 5, "b"), (&bh[..], 4, "b̂")] {
            for q in 0..order {
                close(
                    dot(w, &|i| c[i].powi(q)),
                    1.0 / f64::from(q + 1),
                    &format!("{label}·c^{q}"),
                );
            }
            close(dot(w, &|i| ac(i, 1)), 1.0 / 6.0, &format!("{label}·Ac"));
            close(
                dot(w, &|i| c[i] * ac(i, 1)),
                1.0 / 8.0,
                &format!("{label}·(c∘Ac)"),
            );
            close(dot(w, &|i| ac(i, 2)), 1.0 / 12.0, &format!("{label}·Ac²"));
            close(dot(w, &|i| aac(i)), 1.0 / 24.0, &format!("{label}·AAc"));
        }
        close(
            dot(&b, &|i| c[i].powi(2) * ac(i, 1)),
            1.0 / 10.0,
            "b·(c²∘Ac)",
        );
        close(dot(&b, &|i| ac(i, 3)), 1.0 / 20.0, "b·Ac³");
        close(dot(&b, &|i| c[i] * aac(i)), 1.0 / 30.0, "b·(c∘AAc)");
        close(dot(&b, &|i| ac(i, 1).powi(2)), 1.0 / 20.0, "b·(Ac)²");
    }

    #[test]
    fn both_pairs_satisfy_their_order_conditions() {
        check_order::<Dopri5>("Dopri5");
        check_order::<Tsit5>("Tsit5");
    }
}

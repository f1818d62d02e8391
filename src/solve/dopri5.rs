//! The crate's own Dormand–Prince 5(4) stepper (Hairer, Nørsett & Wanner, *Solving ODEs I*,
//! §II.5, code DOPRI5): the same tableau, error norm, PI step-size controller (α = 0.2 − 0.75β,
//! β = 0.04, safety 0.9, step ratio in [0.2, 10]), initial-step heuristic and stiffness test as
//! ode_solvers 0.6.2's `Dopri5`, so the two take the same steps (a test checks that they agree).
//!
//! Why a second implementation: ode_solvers keeps every accepted step in a growing `Vec` (heap
//! reallocation and page faults on the cohort hot path) and builds fresh work vectors per call.
//! This one works on stack vectors only, writes outputs straight into the grid through the
//! [`GridFiller`], and is the default [`Method::Dopri5`](super::Method::Dopri5). ode_solvers
//! stays the reference path ([`Method::OdeSolversDopri5`](super::Method::OdeSolversDopri5)).

use nalgebra::SVector;

use super::{GridFiller, SegmentProblem, SegmentWork, non_finite_error};
use crate::error::SolveError;
use crate::model::Model;

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
const A73: f64 = 500.0 / 1113.0;
const A74: f64 = 125.0 / 192.0;
const A75: f64 = -2187.0 / 6784.0;
const A76: f64 = 11.0 / 84.0;
const E1: f64 = 71.0 / 57600.0;
const E3: f64 = -71.0 / 16695.0;
const E4: f64 = 71.0 / 1920.0;
const E5: f64 = -17253.0 / 339200.0;
const E6: f64 = 22.0 / 525.0;
const E7: f64 = -1.0 / 40.0;

const BETA: f64 = 0.04;
const ALPHA: f64 = 0.2 - BETA * 0.75;
const SAFETY: f64 = 0.9;
const FACC1: f64 = 1.0 / 0.2;
const FACC2: f64 = 1.0 / 10.0;
const STIFF_THRESHOLD: f64 = 3.25;
const STIFF_MAX: u32 = 15;
const NON_STIFF_RESET: u32 = 6;

/// Integrates one segment `[seg.start_day, seg.end_day]` from `y` (derivative `f0` at the start).
pub(crate) fn segment<M: Model<N>, const N: usize>(
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
        remaining_steps,
    } = problem;
    let (a, b) = (seg.start_day, seg.end_day);
    let f = |t: f64, y: &SVector<f64, N>, out: &mut SVector<f64, N>| {
        model.rhs(patient, t, y, &seg, out);
    };
    let (rtol, atol) = (options.rtol, options.atol);
    let h_max = b - a;
    let mut work = SegmentWork {
        accepted_steps: 0,
        rejected_steps: 0,
        rhs_evals: 0,
    };
    // Clock shifted to the horizon start, as in the ode_solvers path (identical round-off).
    let shift = filler.start_day;
    let mut x = a - shift;
    let x_end = b - shift;

    // Initial step (Hairer's HINIT, as ode_solvers).
    let mut h = {
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
            h = x_end - x;
            last = true;
        }
        n_step += 1;

        let t = x + shift;
        f(t + C2 * h, &(y + f0 * (h * A21)), &mut k2);
        f(t + C3 * h, &(y + (f0 * A31 + k2 * A32) * h), &mut k3);
        f(
            t + C4 * h,
            &(y + (f0 * A41 + k2 * A42 + k3 * A43) * h),
            &mut k4,
        );
        f(
            t + C5 * h,
            &(y + (f0 * A51 + k2 * A52 + k3 * A53 + k4 * A54) * h),
            &mut k5,
        );
        let y_stiff = y + (f0 * A61 + k2 * A62 + k3 * A63 + k4 * A64 + k5 * A65) * h;
        f(t + h, &y_stiff, &mut k6);
        let y_next = y + (f0 * A71 + k3 * A73 + k4 * A74 + k5 * A75 + k6 * A76) * h;
        f(t + h, &y_next, &mut k7);
        work.rhs_evals += 6;

        let err_vec = (f0 * E1 + k3 * E3 + k4 * E4 + k5 * E5 + k6 * E6 + k7 * E7) * h;
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

//! A small stiff solver: the linearly implicit Rosenbrock 2(3) pair of Shampine & Reichelt
//! (SIAM J Sci Comput 1997;18:1, MATLAB `ode23s`).
//!
//! One step from `(t, y)` with `W = I − h·d·J`, `d = 1/(2 + √2)`, `J = ∂f/∂y`, `T = ∂f/∂t`:
//!
//! ```text
//! F0 = f(t, y)
//! k1 = W⁻¹ (F0 + h·d·T)
//! F1 = f(t + h/2, y + h/2·k1)
//! k2 = W⁻¹ (F1 − k1) + k1
//! y1 = y + h·k2                                  (second order, L-stable)
//! F2 = f(t + h, y1)
//! k3 = W⁻¹ (F2 − e32·(k2 − F1) − 2·(k1 − F0) + h·d·T),   e32 = 6 + √2
//! err = h/6 · (k1 − 2·k2 + k3)                   (third-order estimate)
//! ```
//!
//! `J` and `T` are forward differences (N + 1 extra evaluations per step); the `N × N` LU
//! factorisation lives on the stack (`SMatrix`), so a step allocates nothing. It is used as the
//! fallback for patients whose explicit solve trips stiffness detection or the step limit.

use nalgebra::{SMatrix, SVector};

use super::{GridFiller, SegmentProblem, SegmentWork, non_finite_error};
use crate::error::SolveError;
use crate::model::Model;

const D: f64 = 0.292_893_218_813_452_5; // 1/(2 + √2)
const E32: f64 = 7.414_213_562_373_095; // 6 + √2

/// Integrates one segment from `y` (with derivative `dy0` at the start).
pub(crate) fn segment<M: Model<N>, const N: usize>(
    problem: SegmentProblem<'_, M, N>,
    mut filler: GridFiller<'_, N>,
) -> Result<(SVector<f64, N>, SegmentWork), SolveError> {
    let (model, patient, seg, options) = (
        problem.model,
        problem.patient,
        problem.segment,
        problem.options,
    );
    let (mut y, dy0, remaining_steps) = (problem.y0, problem.dy0, problem.remaining_steps);
    let (a, b) = (seg.start_day, seg.end_day);
    let f = |t: f64, y: &SVector<f64, N>, out: &mut SVector<f64, N>| {
        model.rhs(patient, t, y, &seg, out);
    };
    let mut work = SegmentWork {
        h_next: f64::NAN,
        accepted_steps: 0,
        rejected_steps: 0,
        rhs_evals: 0,
    };
    let (rtol, atol) = (problem.rtol, problem.atol);
    let mut t = a;
    let mut f0 = dy0;
    // Initial step from the derivative scale.
    let mut h = {
        let mut nrm = 0.0f64;
        for i in 0..N {
            let sc = atol + rtol * y[i].abs();
            nrm = nrm.max((f0[i] / sc).abs());
        }
        let h0 = if nrm > 0.0 {
            0.1 * rtol.cbrt() / nrm
        } else {
            b - a
        };
        h0.clamp(1e-10 * (b - a).max(1e-12), b - a)
    };
    let mut jac = SMatrix::<f64, N, N>::zeros();
    let mut fcol = SVector::<f64, N>::zeros();
    let mut need_jac = true;
    let mut dfdt = SVector::<f64, N>::zeros();
    while t < b {
        if work.accepted_steps + work.rejected_steps >= remaining_steps {
            return Err(SolveError::MaxSteps {
                t_day: t,
                max_steps: options.max_steps,
            });
        }
        let last = t + h >= b - 1e-12 * (b - a).abs().max(1.0);
        if last {
            h = b - t;
        }
        if need_jac {
            for j in 0..N {
                let mut yj = y;
                let del = f64::EPSILON.sqrt() * y[j].abs().max(atol.max(1e-8));
                yj[j] += del;
                f(t, &yj, &mut fcol);
                for i in 0..N {
                    jac[(i, j)] = (fcol[i] - f0[i]) / del;
                }
            }
            let dt = f64::EPSILON.sqrt() * t.abs().max(1.0);
            let tt = (t + dt).min(b);
            if tt > t {
                f(tt, &y, &mut fcol);
                dfdt = (fcol - f0) / (tt - t);
            } else {
                dfdt.fill(0.0);
            }
            work.rhs_evals += N as u32 + 1;
            need_jac = false;
        }
        let lu = Lu::new(SMatrix::<f64, N, N>::identity() - jac * (h * D));
        let solve = |rhs: SVector<f64, N>| lu.as_ref().map(|lu| lu.solve(rhs));
        let Some(k1) = solve(f0 + dfdt * (h * D)) else {
            return Err(SolveError::SingularMatrix { t_day: t });
        };
        let mut f1 = SVector::<f64, N>::zeros();
        f(t + 0.5 * h, &(y + k1 * (0.5 * h)), &mut f1);
        let Some(k2) = solve(f1 - k1).map(|v| v + k1) else {
            return Err(SolveError::SingularMatrix { t_day: t });
        };
        let y1 = y + k2 * h;
        let mut f2 = SVector::<f64, N>::zeros();
        f(t + h, &y1, &mut f2);
        let Some(k3) = solve(f2 - (k2 - f1) * E32 - (k1 - f0) * 2.0 + dfdt * (h * D)) else {
            return Err(SolveError::SingularMatrix { t_day: t });
        };
        work.rhs_evals += 2;
        let mut err = 0.0f64;
        for i in 0..N {
            let e = h / 6.0 * (k1[i] - 2.0 * k2[i] + k3[i]);
            let sc = atol + rtol * y[i].abs().max(y1[i].abs());
            err = err.max((e / sc).abs());
        }
        if !err.is_finite() {
            err = 1e10;
        }
        if err <= 1.0 {
            t = if last { b } else { t + h };
            if let Some(e) = non_finite_error(model, t, &y1) {
                return Err(e);
            }
            y = y1;
            f0 = f2;
            work.accepted_steps += 1;
            filler.step(model, patient, t, &y, &f0);
            need_jac = true;
            let fac = if err > 0.0 {
                (0.8 * err.powf(-1.0 / 3.0)).min(5.0)
            } else {
                5.0
            };
            h = (h * fac).min(b - a);
        } else {
            work.rejected_steps += 1;
            h *= (0.8 * err.powf(-1.0 / 3.0)).max(0.2);
        }
        if h < 1e-14 * t.abs().max(1.0) {
            return Err(SolveError::StepSizeUnderflow { t_day: t });
        }
    }
    Ok((y, work))
}

/// LU factorisation with partial pivoting of a stack matrix.
///
/// nalgebra's `lu()` needs typenum bounds (`Const<N>: DimMin<…>`) that would leak into every
/// function generic over the state size; this 20-line version keeps the solver generic.
struct Lu<const N: usize> {
    lu: SMatrix<f64, N, N>,
    perm: [usize; N],
}

impl<const N: usize> Lu<N> {
    fn new(mut a: SMatrix<f64, N, N>) -> Option<Self> {
        let mut perm = [0usize; N];
        for (i, p) in perm.iter_mut().enumerate() {
            *p = i;
        }
        for k in 0..N {
            let mut piv = k;
            for i in k + 1..N {
                if a[(i, k)].abs() > a[(piv, k)].abs() {
                    piv = i;
                }
            }
            if a[(piv, k)] == 0.0 || !a[(piv, k)].is_finite() {
                return None;
            }
            if piv != k {
                a.swap_rows(piv, k);
                perm.swap(piv, k);
            }
            let inv = 1.0 / a[(k, k)];
            for i in k + 1..N {
                let l = a[(i, k)] * inv;
                a[(i, k)] = l;
                for j in k + 1..N {
                    a[(i, j)] -= l * a[(k, j)];
                }
            }
        }
        Some(Lu { lu: a, perm })
    }

    fn solve(&self, b: SVector<f64, N>) -> SVector<f64, N> {
        let mut x = SVector::<f64, N>::zeros();
        for i in 0..N {
            let mut s = b[self.perm[i]];
            for j in 0..i {
                s -= self.lu[(i, j)] * x[j];
            }
            x[i] = s;
        }
        for i in (0..N).rev() {
            let mut s = x[i];
            for j in i + 1..N {
                s -= self.lu[(i, j)] * x[j];
            }
            x[i] = s / self.lu[(i, i)];
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::Matrix3;

    #[test]
    fn lu_solves() {
        let a = Matrix3::new(0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 4.0, -1.0, 3.0);
        let b = SVector::<f64, 3>::new(1.0, 2.0, 3.0);
        let x = Lu::new(a).unwrap().solve(b);
        assert!((a * x - b).norm() < 1e-12);
        assert!(Lu::new(Matrix3::<f64>::zeros()).is_none());
    }
}

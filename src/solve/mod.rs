//! How one patient is integrated.
//!
//! The horizon is cut into **segments** at every dose event (bolus times, infusion starts and
//! ends) and every model breakpoint. Within a segment the right-hand side is smooth and infusion
//! rates are constant, so one adaptive integration covers it; boluses are applied as jumps
//! between segments, and each segment starts from the last accepted step's state (not from
//! dense output, which can be off at the end point).
//!
//! Four [`Method`]s integrate a segment:
//! - [`Method::Tsit5`] (default): the crate's own allocation-free explicit stepper (`erk.rs`)
//!   with Tsitouras' 5(4) pair, which reaches the same accuracy in fewer steps than
//!   Dormand–Prince on the built-in models;
//! - [`Method::Dopri5`]: the same stepper with ode_solvers' Dormand–Prince 5(4) tableau,
//!   controller and stiffness test (it takes ode_solvers' steps);
//! - [`Method::OdeSolversDopri5`]: ode_solvers' `Dopri5`, the reference path the default is
//!   tested against (it keeps every step in a growing `Vec`, so it is slower); ode_solvers
//!   panics on negative times in its dense output, so it runs on a shifted clock
//!   `τ = t − start_day ≥ 0` (the crate's stepper uses the same clock, for identical round-off);
//! - [`Method::Rosenbrock23`]: a linearly implicit Rosenbrock 2(3) method for stiff patients,
//!   also the retry a cohort patient gets when the explicit solve trips stiffness detection or
//!   the step limit.
//!
//! Outputs are filled on a regular grid from inside the step callback by cubic Hermite
//! interpolation between accepted steps (state and derivative at both ends), so no per-step
//! result is stored. An output time that coincides with a bolus reports the post-dose state,
//! the last one included.
//!
//! **Tolerance schedule.** The endpoints that need a tight tolerance are those up to the
//! month-3 visit: lymphodepletion and expansion (CAR-T peak, day-14 B cells, IL-6 peak) and the
//! contraction to day 90 (CAR-T at day 90, whose relative error grows at any looser tolerance
//! before it). After that (B-cell return, the relapse step's inputs) a looser relative
//! tolerance keeps them. [`SolverOptions::late_from_day`] and
//! [`SolverOptions::late_rtol_factor`] multiply `rtol` by that factor from that day on (a
//! segment boundary there, so every step has one tolerance; `atol` stays, and loosening it
//! saved nothing). The default (rtol = atol = 5e-7, rtol ×100 from day 91) keeps every
//! deterministic endpoint of the default model within 1e-4 relative of an rtol = atol = 1e-10
//! reference over 1,000 patients and every discrete and stochastic one's count identical
//! (`tests/accuracy.rs`, `accuracy_guard_over_a_thousand_patients`), in 10% fewer steps than the
//! former default (Dopri5 at 1e-6 throughout, which missed that guard: 1.5e-4–2.1e-4 on the
//! IL-6 peak).
//!
//! Event times closer than 1e-9 × (time since the horizon start, at least 1 day) would leave a
//! segment too short to integrate: it is skipped and the amount its running infusions deliver is
//! applied as a bolus, so an infusion of round-off duration still delivers its dose.
//!
//! ode_solvers' Dop853 is not used: in 0.6.2 its tableau has c12 = c13 = 0 instead of 1, which is
//! silently wrong for right-hand sides that depend on t (infusions).

mod erk;
mod rosenbrock;

use nalgebra::SVector;
use ode_solvers::dop_shared::{IntegrationError, OutputType};
use ode_solvers::{Dopri5, System};

use crate::error::SolveError;
use crate::model::{Model, ResolvedDose, Segment, StepSpan, Trajectory};

/// Segments shorter than this fraction of the time since the horizon start (at least 1 day) are
/// not integrated: their running infusions are delivered as boluses.
const MIN_SEGMENT_REL: f64 = 1e-9;

/// Solver settings. Tolerances are scalar (ode_solvers' only option); the built-in models scale
/// their states so that one pair is meaningful for every state (cells in 1e6 cells: atol 1e-6 is
/// one cell).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverOptions {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance, in state units.
    pub atol: f64,
    /// Step limit for the whole horizon (accepted + rejected steps).
    pub max_steps: u32,
    /// Dopri5 stiffness test interval in accepted steps (ode_solvers aborts a solve that sits on
    /// the stability limit for 15 tests in a row).
    pub stiffness_check_interval: u32,
    /// Day from which `rtol` is multiplied by `late_rtol_factor` (the module's "tolerance
    /// schedule"; `f64::INFINITY`: one tolerance throughout). Default 91: after the default SLE
    /// model's last fixed-day endpoints (the month-3 visit, day 90).
    pub late_from_day: f64,
    /// Factor (≥ 1) on `rtol` from `late_from_day` on (`atol` stays). Default 100.
    pub late_rtol_factor: f64,
    /// Output grid spacing, day (default 1). The trajectory, cohort bands and anything a model
    /// computes from the grid (the SLE relapse step reads its kill-rate column) use it; endpoints
    /// a model tracks on the solver's steps ([`Model::track`]: all the built-in SLE model's
    /// deterministic ones) do not depend on it.
    pub output_step_day: f64,
    /// Integration method.
    pub method: Method,
}

/// Integration method (scenario files: `"dopri5"` or `"rosenbrock23"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Method {
    /// The crate's allocation-free explicit stepper with Tsitouras' 5(4) pair (Tsitouras 2011)
    /// (default): the controller and stiffness test of [`Method::Dopri5`], fewer steps at equal
    /// accuracy.
    #[default]
    Tsit5,
    /// The crate's allocation-free explicit Dormand–Prince 5(4): same tableau, controller and
    /// stiffness test as ode_solvers' `Dopri5` (the same steps), without its per-step result
    /// buffers.
    Dopri5,
    /// ode_solvers' explicit Dormand–Prince 5(4): the reference path the default is tested
    /// against. Not offered in scenario files.
    #[serde(skip)]
    OdeSolversDopri5,
    /// The crate's linearly implicit Rosenbrock 2(3) method (Shampine & Reichelt 1997, MATLAB
    /// `ode23s`): L-stable, for stiff patients. Jacobian by finite differences.
    Rosenbrock23,
}

impl Method {
    /// Short snake_case name, as in scenario files and tables: `tsit5`, `dopri5`,
    /// `ode_solvers_dopri5`, `rosenbrock23`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Tsit5 => "tsit5",
            Method::Dopri5 => "dopri5",
            Method::OdeSolversDopri5 => "ode_solvers_dopri5",
            Method::Rosenbrock23 => "rosenbrock23",
        }
    }
}

impl Default for SolverOptions {
    /// Tsit5, rtol = atol = 5e-7 and rtol 100× looser from day 91 on, daily output grid,
    /// 100 000 steps (the module's tolerance schedule).
    fn default() -> Self {
        SolverOptions {
            rtol: 5e-7,
            atol: 5e-7,
            max_steps: 100_000,
            stiffness_check_interval: 1000,
            late_from_day: 91.0,
            late_rtol_factor: 100.0,
            output_step_day: 1.0,
            method: Method::Tsit5,
        }
    }
}

impl SolverOptions {
    /// Checks every field.
    ///
    /// # Errors
    /// [`SolveError::BadOption`] naming the field.
    pub fn validate(&self) -> Result<(), SolveError> {
        let bad = |name: &str, reason: String| {
            Err(SolveError::BadOption {
                name: name.into(),
                reason,
            })
        };
        if !(self.rtol.is_finite() && self.rtol > 0.0 && self.rtol < 1.0) {
            return bad(
                "rtol",
                format!("must be finite and in (0, 1), got {}", self.rtol),
            );
        }
        if !(self.atol.is_finite() && self.atol > 0.0) {
            return bad("atol", format!("must be finite and > 0, got {}", self.atol));
        }
        if self.max_steps == 0 {
            return bad("max_steps", "must be > 0, got 0".into());
        }
        if self.stiffness_check_interval == 0 {
            return bad("stiffness_check_interval", "must be > 0, got 0".into());
        }
        if self.late_from_day.is_nan() {
            return bad("late_from_day", "must be a day or infinite, got NaN".into());
        }
        if !(self.late_rtol_factor.is_finite() && self.late_rtol_factor >= 1.0) {
            return bad(
                "late_rtol_factor",
                format!("must be finite and >= 1, got {}", self.late_rtol_factor),
            );
        }
        if self.rtol * self.late_rtol_factor >= 1.0 {
            return bad(
                "late_rtol_factor",
                format!(
                    "rtol × late_rtol_factor must stay below 1, got {} × {}",
                    self.rtol, self.late_rtol_factor
                ),
            );
        }
        if !(self.output_step_day.is_finite() && self.output_step_day > 0.0) {
            return bad(
                "output_step_day",
                format!("must be finite and > 0, got {}", self.output_step_day),
            );
        }
        Ok(())
    }

    /// [`SolverOptions::validate`], and that the output grid over the horizon
    /// `[start_day, end_day]` has at most [`MAX_GRID_POINTS`] points (each holds one value per
    /// output, per thread).
    ///
    /// # Errors
    /// [`SolveError::BadOption`] naming the option, its value and the allowed range.
    pub fn validate_for_horizon(&self, start_day: f64, end_day: f64) -> Result<(), SolveError> {
        self.validate()?;
        let points = (end_day - start_day) / self.output_step_day + 1.0;
        if !(points.is_finite() && points <= MAX_GRID_POINTS as f64) {
            return Err(SolveError::BadOption {
                name: "output_step_day".into(),
                reason: format!(
                    "{} day gives {points:.3e} output grid points over the horizon \
                     [{start_day}, {end_day}] day; at most {MAX_GRID_POINTS} are allowed \
                     (output_step_day >= {:e} day): use a coarser grid or a shorter horizon \
                     (endpoints do not depend on the grid)",
                    self.output_step_day,
                    (end_day - start_day) / (MAX_GRID_POINTS - 1) as f64
                ),
            });
        }
        Ok(())
    }
}

/// The most output grid points of one trajectory ([`SolverOptions::validate_for_horizon`]):
/// one million, e.g. a step of 0.001 day over a 2.7-year horizon.
pub const MAX_GRID_POINTS: u64 = 1_000_000;

/// Work counters of one solve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SolveStats {
    /// Accepted steps.
    pub accepted_steps: u32,
    /// Rejected steps.
    pub rejected_steps: u32,
    /// Right-hand-side evaluations.
    pub rhs_evals: u32,
    /// Number of integrated segments.
    pub segments: u32,
}

/// Reusable buffers for solving many patients without reallocating.
#[derive(Debug, Default)]
pub struct Workspace {
    /// Breakpoints of the current solve.
    timeline: Vec<f64>,
    /// Infusion rates of the current segment, per input.
    rates: Vec<f64>,
    /// One row of outputs.
    row: Vec<f64>,
    /// Output trajectory of the last solve.
    pub trajectory: Trajectory,
}

/// Integrates one prepared patient over `[start_day, end_day]` with the given doses, filling
/// `ws.trajectory` on the output grid.
///
/// `doses` must be sorted by time and lie within the horizon (as produced by
/// [`Regimen::resolve_into`](crate::regimen::Regimen::resolve_into)).
///
/// # Errors
/// [`SolveError::BadOption`] for invalid options; otherwise [`SolveError`] with the time
/// reached when the step limit is hit, the step size underflows, stiffness is detected or the
/// state becomes non-finite.
pub fn solve_into<M, const N: usize>(
    model: &M,
    patient: &M::Patient,
    doses: &[ResolvedDose],
    start_day: f64,
    end_day: f64,
    options: &SolverOptions,
    ws: &mut Workspace,
) -> Result<SolveStats, SolveError>
where
    M: Model<N>,
{
    options.validate()?;
    integrate(model, patient, doses, (start_day, end_day), options, ws)
}

/// [`solve_into`] over the horizon `(start_day, end_day)` with options already validated
/// ([`SolverOptions::validate`]): the per-patient path checks them once per study, not once per
/// patient.
///
/// On x86-64 CPUs with AVX2 and FMA (detected at run time), the whole solve runs in a copy
/// compiled for them: the compiler uses 4-wide vectors for the state arithmetic (8% fewer
/// instructions per patient on the default model). Rust never fuses a multiply and an add on its
/// own and vector lanes are independent, so both copies compute the same bits (a test checks).
pub(crate) fn integrate<M: Model<N>, const N: usize>(
    model: &M,
    patient: &M::Patient,
    doses: &[ResolvedDose],
    horizon: (f64, f64),
    options: &SolverOptions,
    ws: &mut Workspace,
) -> Result<SolveStats, SolveError> {
    integrate_dispatched(model, patient, doses, horizon, options, ws)
}

/// The solve, compiled once for the baseline target and once for x86-64 with AVX2 and FMA,
/// chosen at run time by the CPU's features (the `multiversion` crate; the stepper and the grid
/// filler are `#[inline(always)]`, so they are compiled into each copy; a model's methods are
/// inlined where the compiler finds it worth it: forcing the SLE model's in too saved another 2%
/// of instructions but made the test build 20% slower).
#[multiversion::multiversion(targets("x86_64+avx2+fma"), dispatcher = "direct")]
fn integrate_dispatched<M: Model<N>, const N: usize>(
    model: &M,
    patient: &M::Patient,
    doses: &[ResolvedDose],
    horizon: (f64, f64),
    options: &SolverOptions,
    ws: &mut Workspace,
) -> Result<SolveStats, SolveError> {
    integrate_body(model, patient, doses, horizon, options, ws)
}

/// Whether this CPU runs the solve's AVX2 + FMA copy (x86-64 with both features; see
/// `integrate`). Results are the same bits either way.
pub fn avx2_fma_dispatch() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[inline(always)]
fn integrate_body<M: Model<N>, const N: usize>(
    model: &M,
    patient: &M::Patient,
    doses: &[ResolvedDose],
    (start_day, end_day): (f64, f64),
    options: &SolverOptions,
    ws: &mut Workspace,
) -> Result<SolveStats, SolveError> {
    options.validate_for_horizon(start_day, end_day)?;
    let n_out = model.outputs().len();
    ws.trajectory
        .reset(start_day, end_day, options.output_step_day, n_out);
    ws.row.clear();
    ws.row.resize(n_out, 0.0);
    ws.rates.clear();
    ws.rates.resize(model.inputs().len(), 0.0);
    ws.trajectory.tracked.clear();
    ws.trajectory
        .tracked
        .resize(model.tracked_len(start_day, end_day), f64::NAN);
    model.track_init(patient, &mut ws.trajectory.tracked);
    let zero = SVector::<f64, N>::zeros();

    ws.timeline.clear();
    ws.timeline.push(start_day);
    ws.timeline.push(end_day);
    for d in doses {
        ws.timeline.push(d.time_day);
        ws.timeline.push(d.end_day());
    }
    model.breakpoints(patient, &mut ws.timeline);
    let scheduled = options.late_rtol_factor != 1.0;
    if scheduled && options.late_from_day > start_day && options.late_from_day < end_day {
        ws.timeline.push(options.late_from_day);
    }
    ws.timeline.sort_by(f64::total_cmp);
    ws.timeline.dedup();
    ws.timeline.retain(|&t| t >= start_day && t <= end_day);

    let mut y = model.initial_state(patient, start_day);
    let mut stats = SolveStats::default();
    let mut next_out = 0usize;
    let mut next_dose = 0usize;
    let mut carry_h = None;
    let n_seg = ws.timeline.len() - 1;

    for seg in 0..n_seg {
        let (a, b) = (ws.timeline[seg], ws.timeline[seg + 1]);
        // Boluses at the segment start.
        while next_dose < doses.len() && doses[next_dose].time_day <= a {
            let d = &doses[next_dose];
            if d.is_bolus() {
                model.apply_bolus(patient, d.input, d.amount, &mut y);
            }
            next_dose += 1;
        }
        // Infusion rates constant on (a, b).
        let mid = 0.5 * (a + b);
        ws.rates.iter_mut().for_each(|r| *r = 0.0);
        for d in doses {
            if let Some(rate) = d.rate_per_day() {
                if d.time_day <= mid && mid < d.end_day() {
                    ws.rates[d.input] += rate;
                }
            }
        }
        let last_segment = seg + 1 == n_seg;

        // The segment start after its boluses, as a point: tracked, then output points there
        // report the post-dose state.
        let traj = &mut ws.trajectory;
        let point = StepSpan::point(a, &y, &zero);
        model.track(patient, &point, &mut traj.tracked);
        while next_out < traj.len() && traj.time(next_out) <= a + 1e-9 {
            write_point(model, patient, &point, a, || y, traj, &mut ws.row, next_out);
            next_out += 1;
        }

        // A segment of round-off length (event times a few ULPs apart: a dose at a model
        // breakpoint, an infusion ending where the next one starts, computed differently) is too
        // short for Dopri5's step-size control, which reports underflow once h < 10·ε·τ. Nothing
        // happens in it but the running infusions: deliver their amount at once.
        if b - a <= MIN_SEGMENT_REL * (b - start_day).max(1.0) {
            for (input, &rate) in ws.rates.iter().enumerate() {
                if rate != 0.0 {
                    model.apply_bolus(patient, input, rate * (b - a), &mut y);
                }
            }
            continue;
        }

        let mut dy0 = SVector::<f64, N>::zeros();
        let segment = Segment {
            start_day: a,
            end_day: b,
            infusion_rates: &ws.rates,
        };
        model.rhs(patient, a, &y, &segment, &mut dy0);
        stats.rhs_evals += 1;

        let remaining = options
            .max_steps
            .saturating_sub(stats.accepted_steps + stats.rejected_steps);
        let filler = GridFiller {
            start_day,
            seg_end_day: b,
            prev_t: a,
            prev_y: y,
            prev_dy: dy0,
            next_out: &mut next_out,
            trajectory: &mut ws.trajectory,
            row: &mut ws.row,
        };
        let late = if scheduled && a >= options.late_from_day {
            options.late_rtol_factor
        } else {
            1.0
        };
        let problem = SegmentProblem {
            model,
            patient,
            segment,
            y0: y,
            dy0,
            options,
            rtol: options.rtol * late,
            atol: options.atol,
            // Tsit5 starts a segment with the step the controller proposed at the end of the
            // previous one (a rejected first step costs less than the heuristic's small first
            // step and the ramp-up after it); Dopri5 keeps ode_solvers' per-segment start.
            h_start: if options.method == Method::Tsit5 {
                carry_h
            } else {
                None
            },
            remaining_steps: remaining,
        };
        let (y_end, st) = match options.method {
            Method::Tsit5 => erk::segment::<erk::Tsit5, _, N>(problem, filler)?,
            Method::Dopri5 => erk::segment::<erk::Dopri5, _, N>(problem, filler)?,
            Method::OdeSolversDopri5 => dopri5_segment(problem, filler)?,
            Method::Rosenbrock23 => rosenbrock::segment(problem, filler)?,
        };
        y = y_end;
        carry_h = Some(st.h_next).filter(|h| h.is_finite());
        stats.accepted_steps += st.accepted_steps;
        stats.rejected_steps += st.rejected_steps;
        stats.rhs_evals += st.rhs_evals;
        stats.segments += 1;
        if stats.accepted_steps + stats.rejected_steps >= options.max_steps && !last_segment {
            return Err(SolveError::MaxSteps {
                t_day: b,
                max_steps: options.max_steps,
            });
        }
    }
    // Boluses at the horizon end, so that the last output reports the post-dose state.
    while next_dose < doses.len() && doses[next_dose].time_day <= end_day {
        let d = &doses[next_dose];
        if d.is_bolus() {
            model.apply_bolus(patient, d.input, d.amount, &mut y);
        }
        next_dose += 1;
    }
    // The horizon end after its boluses, as a point; output points at the very end (within
    // round-off of end_day).
    let traj = &mut ws.trajectory;
    let point = StepSpan::point(end_day, &y, &zero);
    model.track(patient, &point, &mut traj.tracked);
    while next_out < traj.len() {
        write_point(
            model,
            patient,
            &point,
            end_day,
            || y,
            traj,
            &mut ws.row,
            next_out,
        );
        next_out += 1;
    }
    model.finish(patient, &mut ws.trajectory);
    Ok(stats)
}

/// Writes grid point `i` at `t_day` from the state there (`state`: the point's own, or the
/// step's dense output) and the step or point around it, unless the trajectory does not fill
/// that point (a cohort fills only those its bands read).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn write_point<M: Model<N>, const N: usize>(
    model: &M,
    patient: &M::Patient,
    span: &StepSpan<'_, N>,
    t_day: f64,
    state: impl FnOnce() -> SVector<f64, N>,
    trajectory: &mut Trajectory,
    row: &mut [f64],
    i: usize,
) {
    if !trajectory.fills(i) {
        return;
    }
    model.observe(patient, t_day, &state(), row);
    model.observe_tracked(patient, span, t_day, &trajectory.tracked, row);
    trajectory.set_row(i, row);
}

/// Fills the output grid between accepted steps by cubic Hermite interpolation.
pub(crate) struct GridFiller<'a, const N: usize> {
    start_day: f64,
    seg_end_day: f64,
    prev_t: f64,
    prev_y: SVector<f64, N>,
    prev_dy: SVector<f64, N>,
    next_out: &'a mut usize,
    trajectory: &'a mut Trajectory,
    row: &'a mut Vec<f64>,
}

impl<const N: usize> GridFiller<'_, N> {
    /// Records the accepted step ending at `t` (day) with state `y` and derivative `dy`, and
    /// fills every grid point in `(prev_t, t]` that belongs to this segment.
    #[inline(always)]
    pub(crate) fn step<M: Model<N>>(
        &mut self,
        model: &M,
        patient: &M::Patient,
        t: f64,
        y: &SVector<f64, N>,
        dy: &SVector<f64, N>,
    ) {
        let span = StepSpan {
            t0_day: self.prev_t,
            t1_day: t,
            y0: &self.prev_y,
            dy0: &self.prev_dy,
            y1: y,
            dy1: dy,
        };
        model.track(patient, &span, &mut self.trajectory.tracked);
        // Points at the segment end belong to the next segment's start (post-dose state) or,
        // at the horizon end, to the final fill after the last boluses.
        let limit = self.seg_end_day - 1e-9;
        while *self.next_out < self.trajectory.len() {
            let to = self.trajectory.time(*self.next_out);
            if to > t + 1e-12 || to > limit {
                break;
            }
            write_point(
                model,
                patient,
                &span,
                to,
                || span.state_at(to),
                self.trajectory,
                self.row,
                *self.next_out,
            );
            *self.next_out += 1;
        }
        self.prev_t = t;
        self.prev_y = *y;
        self.prev_dy = *dy;
    }
}

/// One segment to integrate: the model and its prepared patient, the segment (bounds and
/// infusion rates), the state and its derivative at the segment start, the solver options and
/// the steps left of the horizon's budget.
pub(crate) struct SegmentProblem<'a, M: Model<N>, const N: usize> {
    pub(crate) model: &'a M,
    pub(crate) patient: &'a M::Patient,
    pub(crate) segment: Segment<'a>,
    pub(crate) y0: SVector<f64, N>,
    pub(crate) dy0: SVector<f64, N>,
    pub(crate) options: &'a SolverOptions,
    /// Tolerances of this segment (the schedule applied).
    pub(crate) rtol: f64,
    pub(crate) atol: f64,
    /// First step to try (None: the initial-step heuristic).
    pub(crate) h_start: Option<f64>,
    pub(crate) remaining_steps: u32,
}

/// Work of one segment.
pub(crate) struct SegmentWork {
    /// The controller's proposal for the step after the last accepted one, before it is cut
    /// to the segment (NaN: none).
    h_next: f64,
    accepted_steps: u32,
    rejected_steps: u32,
    rhs_evals: u32,
}

/// The first non-finite state, as an error.
fn non_finite_error<M: Model<N>, const N: usize>(
    model: &M,
    t_day: f64,
    y: &SVector<f64, N>,
) -> Option<SolveError> {
    y.iter()
        .position(|v| !v.is_finite())
        .map(|idx| SolveError::NonFinite {
            t_day,
            state: model.states().get(idx).map_or("?", |s| s.name).to_string(),
        })
}

/// Integrates one segment with ode_solvers' Dopri5.
fn dopri5_segment<M: Model<N>, const N: usize>(
    problem: SegmentProblem<'_, M, N>,
    filler: GridFiller<'_, N>,
) -> Result<(SVector<f64, N>, SegmentWork), SolveError> {
    let SegmentProblem {
        model,
        patient,
        segment,
        y0: y,
        options,
        rtol,
        atol,
        remaining_steps,
        ..
    } = problem;
    let (a, b) = (segment.start_day, segment.end_day);
    let start_day = filler.start_day;
    let mut non_finite = None;
    let system = SegmentSystem {
        model,
        patient,
        segment,
        filler,
        non_finite: &mut non_finite,
    };
    let mut stepper = Dopri5::from_param(
        system,
        a - start_day,
        b - start_day,
        b - a,
        y,
        rtol,
        atol,
        0.9,
        0.04,
        0.2,
        10.0,
        b - a,
        0.0,
        remaining_steps.max(1),
        options.stiffness_check_interval,
        OutputType::Sparse,
    );
    let result = stepper.integrate();
    let y_end = stepper.y_out().last().copied().unwrap_or(y);
    drop(stepper);
    let st = result.map_err(|e| match e {
        IntegrationError::MaxNumStepReached { x, .. } => SolveError::MaxSteps {
            t_day: start_day + x,
            max_steps: options.max_steps,
        },
        IntegrationError::StepSizeUnderflow { x } => SolveError::StepSizeUnderflow {
            t_day: start_day + x,
        },
        IntegrationError::StiffnessDetected { x } => SolveError::Stiff {
            t_day: start_day + x,
        },
    })?;
    if let Some(t_day) = non_finite {
        return Err(
            non_finite_error(model, t_day, &y_end).unwrap_or(SolveError::NonFinite {
                t_day,
                state: "?".into(),
            }),
        );
    }
    Ok((
        y_end,
        SegmentWork {
            h_next: f64::NAN,
            accepted_steps: st.accepted_steps,
            rejected_steps: st.rejected_steps,
            rhs_evals: st.num_eval,
        },
    ))
}

/// The ODE system of one segment, as ode_solvers sees it, plus the output-grid filler.
struct SegmentSystem<'a, M: Model<N>, const N: usize> {
    model: &'a M,
    patient: &'a M::Patient,
    segment: Segment<'a>,
    filler: GridFiller<'a, N>,
    non_finite: &'a mut Option<f64>,
}

impl<M: Model<N>, const N: usize> System<f64, SVector<f64, N>> for SegmentSystem<'_, M, N> {
    #[inline]
    fn system(&self, x: f64, y: &SVector<f64, N>, dy: &mut SVector<f64, N>) {
        self.model.rhs(
            self.patient,
            self.filler.start_day + x,
            y,
            &self.segment,
            dy,
        );
    }

    fn solout(&mut self, x: f64, y: &SVector<f64, N>, dy: &SVector<f64, N>) -> bool {
        let t = self.filler.start_day + x;
        if y.iter().any(|v| !v.is_finite()) {
            *self.non_finite = Some(t);
            return true;
        }
        self.filler.step(self.model, self.patient, t, y, dy);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SleModel;
    use crate::regimen::Regimen;
    use crate::variability::Covariates;

    /// The solve chosen at run time (the AVX2/FMA copy on a CPU that has both) and the baseline
    /// copy compute the same bits: trajectory, tracked values and work counters, for patients
    /// of different kinetics.
    #[test]
    fn dispatched_and_baseline_solves_agree_to_the_bit() {
        let model = SleModel::default();
        let mut doses = Vec::new();
        Regimen::mackensen_2022()
            .resolve_into(
                model.name(),
                model.inputs(),
                &Covariates::typical(),
                &mut doses,
            )
            .unwrap();
        let mut values = vec![0.0; model.info().parameters.len()];
        model.default_params().to_values(&mut values);
        let rho = model
            .info()
            .parameters
            .iter()
            .position(|p| p.name == "effector_proliferation_per_day")
            .unwrap();
        for scale in [0.6, 1.0, 1.4] {
            let mut v = values.clone();
            v[rho] *= scale;
            let params = model.params_from_values(&v).unwrap();
            let pt = model
                .prepare(&params, &Covariates::typical(), &doses)
                .unwrap();
            let options = SolverOptions::default();
            let (mut a, mut b) = (Workspace::default(), Workspace::default());
            let sa = integrate(&model, &pt, &doses, (-6.0, 365.0), &options, &mut a).unwrap();
            let sb = integrate_body(&model, &pt, &doses, (-6.0, 365.0), &options, &mut b).unwrap();
            assert_eq!(sa, sb, "scale {scale}");
            let bits = |w: &Workspace| {
                let t = &w.trajectory;
                (0..model.outputs().len())
                    .flat_map(|k| t.output(k).iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                    .chain(t.tracked().iter().map(|x| x.to_bits()))
                    .collect::<Vec<u64>>()
            };
            assert_eq!(bits(&a), bits(&b), "scale {scale}");
        }
    }
}

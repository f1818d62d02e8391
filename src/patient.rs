//! One patient, start to finish: the single path that [`simulate()`](crate::simulate()) and the
//! cohort runner ([`Cohort`](crate::cohort::Cohort)) share.
//!
//! validate the parameter values → resolve the bound regimen for this patient → prepare the
//! model → solve (with the optional Rosenbrock retry) → endpoints → stochastic endpoints.
//!
//! What is the same for every patient is checked once, before the first one: the regimen is
//! bound to the model's inputs ([`BoundRegimen`]) and the solver options are validated (by
//! [`CohortBuilder::build`](crate::cohort::CohortBuilder::build) or by `simulate`). Per patient,
//! the covariates are validated once and the parameter values against their table, so a value
//! out of bounds is a typed error naming the parameter, never a silent simulation.

use crate::error::{FailureCause, NonFiniteOutput, SolveError};
use crate::model::{Model, ResolvedDose, Trajectory};
use crate::regimen::BoundRegimen;
use crate::solve::{Method, SolveStats, SolverOptions, Workspace, integrate};
use crate::variability::{Covariates, PatientRng};

/// Which solver produced a patient's result.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SolverUsed {
    /// The configured method ([`SolverOptions::method`]) succeeded.
    Configured(Method),
    /// The configured explicit solve failed with `reason` (stiffness or the step limit); the
    /// Rosenbrock 2(3) retry succeeded.
    RosenbrockRetry {
        /// Why the explicit solve failed.
        reason: SolveError,
    },
}

impl SolverUsed {
    /// Short tag for tables: the method's [`name`](Method::name), or `rosenbrock23_retry`.
    pub fn tag(&self) -> &'static str {
        match self {
            SolverUsed::Configured(method) => method.name(),
            SolverUsed::RosenbrockRetry { .. } => "rosenbrock23_retry",
        }
    }

    /// Whether the result came from the stiff retry.
    pub fn is_retry(&self) -> bool {
        matches!(self, SolverUsed::RosenbrockRetry { .. })
    }
}

/// The settings every patient of a study shares: the model, the regimen bound to it, validated
/// solver options and whether a failed explicit solve is retried with Rosenbrock 2(3).
pub(crate) struct PatientPath<'a, M> {
    pub(crate) model: &'a M,
    pub(crate) regimen: &'a BoundRegimen,
    /// Validated ([`SolverOptions::validate`]).
    pub(crate) solver: &'a SolverOptions,
    pub(crate) stiff_retry: bool,
}

/// Buffers reused from one patient to the next.
#[derive(Debug, Default)]
pub(crate) struct PatientScratch {
    /// The solver's buffers; after a successful run, the patient's trajectory.
    pub(crate) ws: Workspace,
    doses: Vec<ResolvedDose>,
}

/// What a successful run produced besides the trajectory (in the scratch's workspace).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PatientOutcome {
    /// Endpoints, in the model's endpoint order.
    pub(crate) endpoints: Vec<f64>,
    /// Solver work.
    pub(crate) stats: SolveStats,
    /// Which solver produced the result.
    pub(crate) solver: SolverUsed,
}

impl<M> PatientPath<'_, M> {
    /// Simulates one patient with parameter values `values` (table order) and covariates
    /// `covariates`; stochastic endpoints draw from `rng`. The trajectory stays in
    /// `scratch.ws.trajectory`.
    ///
    /// # Errors
    /// [`FailureCause::Param`] for a parameter value that is non-finite or out of bounds, or an
    /// invalid covariate; [`FailureCause::Solve`] when the solve (and its retry) fails.
    pub(crate) fn run<const N: usize>(
        &self,
        values: &[f64],
        covariates: &Covariates,
        rng: &mut PatientRng,
        scratch: &mut PatientScratch,
    ) -> Result<PatientOutcome, FailureCause>
    where
        M: Model<N>,
    {
        let model = self.model;
        let params = model.params_from_values(values)?;
        covariates.validate()?;
        self.regimen.resolve_into(covariates, &mut scratch.doses);
        let patient = model.prepare(&params, covariates, &scratch.doses)?;
        let horizon = (self.regimen.start_day(), self.regimen.end_day());
        let (doses, ws) = (&scratch.doses, &mut scratch.ws);
        let first = integrate(model, &patient, doses, horizon, self.solver, ws);
        let (stats, solver) = match first {
            Ok(stats) => (stats, SolverUsed::Configured(self.solver.method)),
            Err(e @ (SolveError::Stiff { .. } | SolveError::MaxSteps { .. }))
                if self.stiff_retry && self.solver.method != Method::Rosenbrock23 =>
            {
                let opts = SolverOptions {
                    method: Method::Rosenbrock23,
                    ..*self.solver
                };
                let stats = integrate(model, &patient, doses, horizon, &opts, ws)?;
                (stats, SolverUsed::RosenbrockRetry { reason: e })
            }
            Err(e) => return Err(e.into()),
        };
        let trajectory = &scratch.ws.trajectory;
        let mut endpoints = vec![f64::NAN; model.endpoint_info().len()];
        model.endpoints(&patient, trajectory, &mut endpoints);
        model.stochastic_endpoints(&patient, trajectory, rng, &mut endpoints);
        check_finite(model, trajectory, &endpoints)?;
        Ok(PatientOutcome {
            endpoints,
            stats,
            solver,
        })
    }
}

/// A patient whose trajectory holds a NaN or ±∞, or whose endpoint is ±∞, is a failed patient:
/// such values must never reach a summary, a table or a dataset. NaN endpoints are legitimate
/// ("not reached within the horizon", a fixed day beyond it) and are counted as missing.
fn check_finite<M: Model<N>, const N: usize>(
    model: &M,
    trajectory: &Trajectory,
    endpoints: &[f64],
) -> Result<(), FailureCause> {
    for k in 0..trajectory.n_outputs() {
        // Only the points the solve filled (a cohort may fill only those its bands read).
        if let Some(i) = trajectory
            .output(k)
            .iter()
            .enumerate()
            .position(|(i, v)| !v.is_finite() && trajectory.fills(i))
        {
            return Err(NonFiniteOutput {
                kind: "output",
                name: model.outputs().get(k).map_or("?", |o| o.name).to_string(),
                value: trajectory.value(i, k),
                t_day: Some(trajectory.time(i)),
            }
            .into());
        }
    }
    if let Some(i) = endpoints.iter().position(|v| v.is_infinite()) {
        return Err(NonFiniteOutput {
            kind: "endpoint",
            name: model
                .endpoint_info()
                .get(i)
                .map_or("?", |e| e.name)
                .to_string(),
            value: endpoints.get(i).copied().unwrap_or(f64::NAN),
            t_day: None,
        }
        .into());
    }
    Ok(())
}

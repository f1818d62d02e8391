//! One patient alone, with typed parameters: [`simulate()`] checks its inputs and runs the same
//! per-patient path as a cohort patient ([`crate::patient`]).

use crate::error::{Error, FailureCause};
use crate::model::{EndpointInfo, Model, OutputInfo, Trajectory};
use crate::patient::{PatientPath, PatientScratch, SolverUsed};
use crate::regimen::Regimen;
use crate::solve::{SolveStats, SolverOptions};
use crate::variability::{Covariates, stochastic_rng};

/// The result of simulating one patient.
#[derive(Debug, Clone)]
pub struct Simulation {
    /// Outputs on the solver's output grid.
    pub trajectory: Trajectory,
    /// Endpoint values, in the order of `endpoint_info`.
    pub endpoints: Vec<f64>,
    /// Endpoint metadata.
    pub endpoint_info: &'static [EndpointInfo],
    /// Output metadata (columns of the trajectory).
    pub output_info: &'static [OutputInfo],
    /// Solver work counters.
    pub stats: SolveStats,
    /// Which solver produced the result (the configured method, or the stiff retry).
    pub solver: SolverUsed,
}

impl Simulation {
    /// Endpoint value by name.
    pub fn endpoint(&self, name: &str) -> Option<f64> {
        self.endpoint_info
            .iter()
            .position(|e| e.name == name)
            .and_then(|i| self.endpoints.get(i).copied())
    }

    /// Output column by name.
    pub fn output(&self, name: &str) -> Option<&[f64]> {
        self.output_info
            .iter()
            .position(|o| o.name == name)
            .map(|k| self.trajectory.output(k))
    }

    /// Output `name` at `t_day` (linear interpolation on the grid).
    pub fn output_at(&self, name: &str, t_day: f64) -> Option<f64> {
        self.output_info
            .iter()
            .position(|o| o.name == name)
            .map(|k| self.trajectory.value_at(k, t_day))
    }
}

/// Simulates one patient: the path of a cohort patient, with the parameters given instead of
/// sampled. Parameter values are checked against the model's table (finite, within bounds),
/// covariates and solver options are validated, and a failed explicit solve (stiffness or the
/// step limit) is retried with Rosenbrock 2(3), as in a cohort with the default
/// [`stiff_retry`](crate::cohort::CohortBuilder::stiff_retry). Stochastic endpoints
/// ([`Model::stochastic_endpoints`]) use the fixed stream
/// [`stochastic_rng`]`(0, 0)`.
///
/// ```
/// use cartsim::prelude::*;
///
/// let model = SleModel::default();
/// let sim = simulate(&model, &model.default_params(), &Covariates::typical(),
///                    &Regimen::mackensen_2022(), &SolverOptions::default())?;
/// let peak_day = sim.endpoint("car_t_peak_day").unwrap();
/// assert!(peak_day > 5.0 && peak_day < 15.0);
///
/// // A parameter out of its bounds is an error that names it.
/// let bad = SleParams { effector_proliferation_per_day: -3.0, ..model.default_params() };
/// let err = simulate(&model, &bad, &Covariates::typical(), &Regimen::mackensen_2022(),
///                    &SolverOptions::default()).unwrap_err();
/// assert!(err.to_string().contains("effector_proliferation_per_day"));
/// # Ok::<(), cartsim::Error>(())
/// ```
///
/// # Errors
/// [`Error::Param`] for a parameter value that is non-finite or out of bounds (naming it, its
/// value and bounds) or an invalid covariate, [`Error::Regimen`] when a dose names an input the
/// model lacks, [`Error::Solve`] for invalid solver options or when the solver (and its retry)
/// fails.
pub fn simulate<M: Model<N>, const N: usize>(
    model: &M,
    params: &M::Params,
    covariates: &Covariates,
    regimen: &Regimen,
    options: &SolverOptions,
) -> Result<Simulation, Error> {
    let regimen = regimen.bind(model.name(), model.inputs())?;
    options.validate_for_horizon(regimen.start_day(), regimen.end_day())?;
    let mut values = vec![0.0; model.parameters().len()];
    model.param_values(params, &mut values);
    let path = PatientPath {
        model,
        regimen: &regimen,
        solver: options,
        stiff_retry: true,
    };
    let mut scratch = PatientScratch::default();
    // One patient alone: the documented fixed stochastic stream (seed 0, id 0).
    let outcome = path
        .run(&values, covariates, &mut stochastic_rng(0, 0), &mut scratch)
        .map_err(|cause| match cause {
            FailureCause::Param(e) => Error::Param(e),
            FailureCause::Regimen(e) => Error::Regimen(e),
            FailureCause::Solve(e) => Error::Solve(e),
            FailureCause::Output(e) => Error::Output(e),
        })?;
    Ok(Simulation {
        trajectory: scratch.ws.trajectory,
        endpoints: outcome.endpoints,
        endpoint_info: model.endpoint_info(),
        output_info: model.outputs(),
        stats: outcome.stats,
        solver: outcome.solver,
    })
}

//! One patient, start to finish: resolve the regimen, prepare, solve, compute endpoints.

use crate::error::Error;
use crate::model::{EndpointInfo, Model, OutputInfo};
use crate::regimen::Regimen;
use crate::solve::{SolveStats, SolverOptions, Trajectory, Workspace, solve_into};
use crate::variability::Covariates;

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

/// Simulates one patient. Stochastic endpoints ([`Model::stochastic_endpoints`]) use the fixed
/// stream [`stochastic_rng`](crate::variability::stochastic_rng)`(0, 0)`.
///
/// ```
/// use cartsim::prelude::*;
///
/// let model = SleModel::default();
/// let sim = simulate(&model, &model.default_params(), &Covariates::typical(),
///                    &Regimen::mackensen_2022(), &SolverOptions::default())?;
/// let peak_day = sim.endpoint("car_t_peak_day").unwrap();
/// assert!(peak_day > 5.0 && peak_day < 15.0);
/// # Ok::<(), cartsim::Error>(())
/// ```
///
/// # Errors
/// [`Error::Param`] for invalid covariates, [`Error::Regimen`] when a dose names an input the
/// model lacks, [`Error::Solve`] when the solver fails.
pub fn simulate<M: Model<N>, const N: usize>(
    model: &M,
    params: &M::Params,
    covariates: &Covariates,
    regimen: &Regimen,
    options: &SolverOptions,
) -> Result<Simulation, Error> {
    covariates.validate()?;
    let mut doses = Vec::new();
    regimen.resolve_into(model.name(), model.inputs(), covariates, &mut doses)?;
    let patient = model.prepare(params, covariates, &doses)?;
    let mut ws = Workspace::default();
    let stats = solve_into(
        model,
        &patient,
        &doses,
        regimen.start_day(),
        regimen.end_day(),
        options,
        &mut ws,
    )?;
    let mut endpoints = vec![f64::NAN; model.endpoint_info().len()];
    model.endpoints(&patient, &ws.trajectory, &mut endpoints);
    // One patient alone: the documented fixed stochastic stream (seed 0, id 0).
    model.stochastic_endpoints(
        &patient,
        &ws.trajectory,
        &mut crate::variability::stochastic_rng(0, 0),
        &mut endpoints,
    );
    Ok(Simulation {
        trajectory: ws.trajectory,
        endpoints,
        endpoint_info: model.endpoint_info(),
        output_info: model.outputs(),
        stats,
    })
}

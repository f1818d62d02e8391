//! Reference scenarios shared by the integration tests (and, later, the benches): one place that
//! says what "the typical patient" and "the Stein oracle" are, so every test and bench simulates
//! the same thing.
//!
//! Each test binary compiles this module separately and uses only part of it.
#![allow(dead_code)]

use cartsim::cohort::CohortResult;
use cartsim::model::ResolvedDose;
use cartsim::model::stein::SteinPatient;
use cartsim::prelude::*;

/// The SLE reference scenario: model, parameters, covariates, regimen and solver options.
#[derive(Debug, Clone)]
pub struct SleScenario {
    /// The model with its default endpoint definitions.
    pub model: SleModel,
    /// Typical parameters (every table default).
    pub params: SleParams,
    /// The typical patient of PROTOTYPE.md §3.
    pub covariates: Covariates,
    /// Mackensen 2022: Flu/Cy then 1e6 CAR-T cells/kg on day 0, day −6 to 365.
    pub regimen: Regimen,
    /// Solver options.
    pub options: SolverOptions,
}

impl SleScenario {
    /// Simulates the scenario.
    pub fn simulate(&self) -> Result<Simulation, cartsim::Error> {
        simulate(
            &self.model,
            &self.params,
            &self.covariates,
            &self.regimen,
            &self.options,
        )
    }
}

/// The typical SLE patient under the Mackensen 2022 regimen with default solver options.
pub fn typical_sle() -> SleScenario {
    let model = SleModel::default();
    SleScenario {
        params: model.default_params(),
        model,
        covariates: Covariates::typical(),
        regimen: Regimen::mackensen_2022(),
        options: SolverOptions::default(),
    }
}

/// The typical SLE scenario with both tolerances set to `tol`.
pub fn typical_sle_at_tolerance(tol: f64) -> SleScenario {
    let mut s = typical_sle();
    s.options.rtol = tol;
    s.options.atol = tol;
    s
}

/// The Stein 2019 reference scenario: a flat CAR-T dose at `infusion_day`, horizon day −1 to 120.
#[derive(Debug, Clone)]
pub struct SteinScenario {
    /// The model.
    pub model: SteinModel,
    /// Typical tisagenlecleucel parameters (Stein 2019).
    pub params: SteinParams,
    /// Covariates (unused by the model, required by the API).
    pub covariates: Covariates,
    /// One CAR-T bolus of 1e8 cells.
    pub regimen: Regimen,
    /// Solver options.
    pub options: SolverOptions,
}

/// The Stein scenario with the infusion at `infusion_day` and default solver options.
pub fn stein(infusion_day: f64) -> SteinScenario {
    let regimen = Regimen::builder()
        .horizon(-1.0, 120.0)
        .car_t(cartsim::regimen::Amount::Cells(1e8), infusion_day)
        .build()
        .expect("the Stein reference regimen is valid");
    SteinScenario {
        model: SteinModel,
        params: SteinModel.default_params(),
        covariates: Covariates::typical(),
        regimen,
        options: SolverOptions::default(),
    }
}

impl SteinScenario {
    /// Resolves the doses and prepares the patient (gives access to its closed form).
    pub fn prepare(&self) -> (SteinPatient, Vec<ResolvedDose>) {
        let mut doses = Vec::new();
        self.regimen
            .resolve_into(
                self.model.name(),
                self.model.inputs(),
                &self.covariates,
                &mut doses,
            )
            .expect("the Stein regimen resolves");
        let patient = self
            .model
            .prepare(&self.params, &self.covariates, &doses)
            .expect("the Stein patient prepares");
        (patient, doses)
    }

    /// Simulates the scenario through the public entry point.
    pub fn simulate(&self) -> Result<Simulation, cartsim::Error> {
        simulate(
            &self.model,
            &self.params,
            &self.covariates,
            &self.regimen,
            &self.options,
        )
    }
}

/// Endpoint value by name, panicking with the name if the model has no such endpoint.
pub fn endpoint(sim: &Simulation, name: &str) -> f64 {
    sim.endpoint(name)
        .unwrap_or_else(|| panic!("no endpoint `{name}`"))
}

/// Output column by name, panicking with the name if the model has no such output.
pub fn output<'a>(sim: &'a Simulation, name: &str) -> &'a [f64] {
    sim.output(name)
        .unwrap_or_else(|| panic!("no output `{name}`"))
}

/// Every bit of what a cohort reports.
pub fn fingerprint(r: &CohortResult, n_outputs: usize) -> Vec<u64> {
    let mut v = Vec::new();
    for rec in &r.records {
        v.push(rec.id);
        v.extend(rec.params.iter().map(|x| x.to_bits()));
        v.extend(rec.endpoints.iter().map(|x| x.to_bits()));
    }
    for s in r.summary.endpoint_stats() {
        for x in [s.mean, s.sd, s.p05, s.p25, s.p50, s.p75, s.p95] {
            v.push(x.to_bits());
        }
        v.push(s.n);
        v.push(s.missing);
    }
    for k in 0..n_outputs {
        for q in r.summary.bands(k) {
            v.extend(q.iter().map(|x| x.to_bits()));
        }
    }
    for (_, p) in r.summary.target_attainment() {
        v.push(p.to_bits());
    }
    v
}

//! Reference scenarios shared by the integration tests and the benches (`benches/*.rs` include
//! this file with `#[path]`): one place that says what "the typical patient", "the Stein
//! oracle" and the right-hand-side probe are, so every test and bench simulates the same thing.
//!
//! Each test or bench binary compiles this module separately and uses only part of it.
#![allow(dead_code)]

use cartsim::cohort::CohortResult;
use cartsim::model::sle::{SLE_STATES, SlePatient};
use cartsim::model::stein::SteinPatient;
use cartsim::model::{
    EndpointInfo, EndpointKind, InputInfo, InputKind, ModelInfo, OutputInfo, ResolvedDose, SVector,
    Segment, StateInfo, Trajectory,
};
use cartsim::prelude::*;
use cartsim::summary::{Comparison, Target};

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

/// The typical SLE patient under the Mackensen 2022 regimen, prepared, with a mid-expansion
/// state to evaluate the right-hand side on (100 effector and 20 memory Mcells, 3 divisions):
/// the benches' probe of the model's cost.
pub struct RhsProbe {
    pub patient: SlePatient,
    pub doses: Vec<ResolvedDose>,
    pub y: SVector<f64, SLE_STATES>,
    rates: [f64; 3],
}

impl RhsProbe {
    pub fn new(model: &SleModel) -> Self {
        let cov = Covariates::typical();
        let mut doses = Vec::new();
        Regimen::mackensen_2022()
            .resolve_into(model.name(), model.inputs(), &cov, &mut doses)
            .expect("resolve");
        let patient = model
            .prepare(&model.default_params(), &cov, &doses)
            .expect("prepare");
        let mut y = model.initial_state(&patient, -6.0);
        let state = |name: &str| {
            model
                .states()
                .iter()
                .position(|s| s.name == name)
                .unwrap_or_else(|| panic!("no state {name}"))
        };
        y[state("car_t_effector")] = 100.0;
        y[state("car_t_memory")] = 20.0;
        y[state("divisions")] = 3.0;
        RhsProbe {
            patient,
            doses,
            y,
            rates: [0.0; 3],
        }
    }

    /// A segment after the lymphodepletion infusions (day 5–10), no infusion running.
    pub fn segment(&self) -> Segment<'_> {
        Segment {
            start_day: 5.0,
            end_day: 10.0,
            infusion_rates: &self.rates,
        }
    }
}

/// A one-state test model `dy/dt = rhs(t, y)`, `y(start) = y0`, observed as itself, with one
/// inert drug input `inert` (doses change nothing) and the end value as its endpoint.
#[derive(Debug, Clone, Copy)]
pub struct ScalarOde {
    pub rhs: fn(f64, f64) -> f64,
    pub y0: f64,
}

impl Model<1> for ScalarOde {
    type Params = ();
    type Patient = ();

    fn info(&self) -> &'static ModelInfo {
        &ModelInfo {
            name: "scalar_ode",
            states: &[StateInfo {
                name: "y",
                unit: "1",
                description: "the state",
            }],
            parameters: &[],
            inputs: &[InputInfo {
                name: "inert",
                kind: InputKind::DrugMg,
                description: "a dose that changes nothing",
            }],
            outputs: &[OutputInfo {
                name: "y",
                unit: "1",
                detection_limit: 0.0,
                log_scale: false,
                description: "the state",
            }],
            endpoints: &[EndpointInfo {
                name: "y_end",
                unit: "1",
                kind: EndpointKind::Continuous,
                description: "the state at the horizon end",
            }],
        }
    }
    fn params_from_values(&self, _values: &[f64]) -> Result<(), cartsim::error::ParamError> {
        Ok(())
    }
    fn param_values(&self, _params: &(), _out: &mut [f64]) {}
    fn default_params(&self) {}
    fn prepare(
        &self,
        _params: &(),
        _covariates: &Covariates,
        _doses: &[ResolvedDose],
    ) -> Result<(), cartsim::error::ParamError> {
        Ok(())
    }
    fn initial_state(&self, _patient: &(), _start_day: f64) -> SVector<f64, 1> {
        SVector::<f64, 1>::new(self.y0)
    }
    fn rhs(
        &self,
        _patient: &(),
        t_day: f64,
        y: &SVector<f64, 1>,
        _segment: &Segment<'_>,
        dy: &mut SVector<f64, 1>,
    ) {
        dy[0] = (self.rhs)(t_day, y[0]);
    }
    fn apply_bolus(&self, _patient: &(), _input: usize, _amount: f64, _y: &mut SVector<f64, 1>) {}
    fn observe(&self, _patient: &(), _t_day: f64, y: &SVector<f64, 1>, out: &mut [f64]) {
        out[0] = y[0];
    }
    fn endpoints(&self, _patient: &(), trajectory: &Trajectory, out: &mut [f64]) {
        out[0] = trajectory.value(trajectory.len() - 1, 0);
    }
}

/// The attainment target the cohort tests report: B cells below 1/µL on day 14.
pub fn b_below_1_day14() -> Target {
    Target {
        name: "b_below_1_day14".into(),
        endpoint: "b_cells_day14_cells_per_ul".into(),
        op: Comparison::Below,
        threshold: 1.0,
    }
}

/// Runs `f` in a rayon pool of `threads` threads (results must not depend on it).
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// How far a cohort at some solver options is from the same cohort at rtol = atol = 1e-10
/// (the accuracy guard of `tests/solver.rs` and `benches/throughput.rs`).
#[derive(Debug, Clone)]
pub struct Accuracy {
    /// Patients compared.
    pub patients: u64,
    /// Largest relative error `|x − x_ref| / max(|x_ref|, 1e-6)` over every continuous
    /// deterministic endpoint of every patient (∞ when one is defined and the other not).
    pub max_rel_err: f64,
    /// Its endpoint and patient.
    pub worst: (&'static str, u64),
    /// Discrete endpoints (flags, the CRS grade) whose cohort count differs from the
    /// reference's: name, count, reference count. Stochastic ones included.
    pub count_differences: Vec<(&'static str, u64, u64)>,
    /// Accepted steps and RHS evaluations per patient at the options compared.
    pub steps_per_patient: f64,
    pub rhs_evals_per_patient: f64,
}

/// The endpoints the default SLE model fills in its stochastic step (relapse, extinction):
/// compared as counts, not values.
pub fn is_stochastic(name: &str) -> bool {
    matches!(
        name,
        "autoreactive_extinction_day"
            | "relapse_day"
            | "autoreactive_extinct"
            | "relapse"
            | "lasting_remission"
    )
}

/// [`Accuracy`] of the default SLE cohort (seed `seed`, `n` patients, default IIV, population
/// and regimen) at `opts` against rtol = atol = 1e-10 with no tolerance schedule.
pub fn accuracy(opts: SolverOptions, n: u64, seed: u64) -> Accuracy {
    use cartsim::cohort::Cohort;
    let model = SleModel::default();
    let reference = SolverOptions {
        rtol: 1e-10,
        atol: 1e-10,
        late_rtol_factor: 1.0,
        ..opts
    };
    let run = |o: SolverOptions| {
        Cohort::builder(model)
            .patients(n)
            .seed(seed)
            .solver(o)
            .build()
            .expect("cohort")
            .run()
            .expect("run")
    };
    let (a, r) = (run(opts), run(reference));
    let info = model.endpoint_info();
    let mut acc = Accuracy {
        patients: n,
        max_rel_err: 0.0,
        worst: ("", 0),
        count_differences: Vec::new(),
        steps_per_patient: a
            .records
            .iter()
            .map(|p| p.stats.accepted_steps as f64)
            .sum::<f64>()
            / n as f64,
        rhs_evals_per_patient: a
            .records
            .iter()
            .map(|p| p.stats.rhs_evals as f64)
            .sum::<f64>()
            / n as f64,
    };
    assert_eq!(a.records.len(), r.records.len(), "failed patients");
    for (k, e) in info.iter().enumerate() {
        let discrete = e.kind == EndpointKind::Flag || e.name == "crs_grade";
        if discrete || is_stochastic(e.name) {
            // Counts (a flag's sum, the grade's sum, a day's number of patients with one).
            let count = |res: &CohortResult| {
                res.records
                    .iter()
                    .map(|p| p.endpoints[k])
                    .map(|v| {
                        if discrete {
                            v as u64
                        } else {
                            u64::from(v.is_finite())
                        }
                    })
                    .sum::<u64>()
            };
            let (ca, cr) = (count(&a), count(&r));
            if ca != cr {
                acc.count_differences.push((e.name, ca, cr));
            }
            continue;
        }
        for (x, y) in a.records.iter().zip(&r.records) {
            let (p, q) = (x.endpoints[k], y.endpoints[k]);
            let err = if p.is_finite() && q.is_finite() {
                (p - q).abs() / q.abs().max(1e-6)
            } else if p.is_finite() != q.is_finite() {
                f64::INFINITY
            } else {
                0.0
            };
            if err > acc.max_rel_err {
                acc.max_rel_err = err;
                acc.worst = (e.name, x.id);
            }
        }
    }
    acc
}

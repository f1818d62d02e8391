//! The solver path against exact solutions: the Stein 2019 closed form (time-dependent switch,
//! shifted clock), a linear toy model with bolus and infusion doses (segment boundaries, negative
//! start), Hermite output interpolation, tolerance convergence of the SLE model, and the
//! fludarabine exposure against an independently integrated three-compartment model.

mod common;

use cartsim::error::ParamError;
use cartsim::model::ResolvedDose;
use cartsim::model::{
    EndpointInfo, InputInfo, InputKind, Model, ModelInfo, OutputInfo, ParamInfo, Segment, Source,
    StateInfo,
};
use cartsim::prelude::*;
use cartsim::solve::{Workspace, solve_into};
use cartsim::{Simulation, model::EndpointKind};
use common::{endpoint, output};
use nalgebra::{Matrix3, SVector, Vector3};

// ---------------------------------------------------------------------------------------------
// Stein 2019 closed-form oracle
// ---------------------------------------------------------------------------------------------

/// Solves the Stein scenario at tight tolerance through `solve_into` and compares every grid
/// point with the closed form.
fn check_stein_against_closed_form(infusion_day: f64) {
    let sc = common::stein(infusion_day);
    let (patient, doses) = sc.prepare();
    let options = SolverOptions {
        rtol: 1e-10,
        atol: 1e-8, // copies/µg DNA; the peak is 24 000
        output_step_day: 0.25,
        // One tolerance throughout (no segment boundary at the schedule's day).
        late_from_day: f64::INFINITY,
        ..SolverOptions::default()
    };
    let mut ws = Workspace::default();
    let stats = solve_into(
        &sc.model,
        &patient,
        &doses,
        sc.regimen.start_day(),
        sc.regimen.end_day(),
        &options,
        &mut ws,
    )
    .unwrap();
    let tr = &ws.trajectory;
    assert_eq!(tr.len(), (121.0 / 0.25) as usize + 1);
    // Segments: start → infusion → infusion + Tmax → end.
    assert_eq!(stats.segments, 3, "{stats:?}");
    let peak = sc.params.peak_copies_per_ug;
    let mut compared = 0;
    for (i, t) in tr.times().enumerate() {
        let got = tr.value(i, 0);
        let want = patient.closed_form(t);
        if t < infusion_day {
            assert_eq!(got, 0.0, "day {t}: nothing before the infusion");
        } else if want > 1e-3 * peak {
            let rel = ((got - want) / want).abs();
            assert!(
                rel < 1e-6,
                "day {t}: solver {got} vs closed form {want} (rel {rel:e})"
            );
            compared += 1;
        } else {
            assert!((got - want).abs() < 1e-6 * peak, "day {t}: {got} vs {want}");
        }
    }
    // Most of the horizon is above 1e-3 of the peak (the memory phase holds FB·Cmax ≈ 190).
    assert!(compared > 400, "only {compared} points compared");

    // The public entry point gives the same trajectory.
    let sim = simulate(&sc.model, &sc.params, &sc.covariates, &sc.regimen, &options).unwrap();
    assert_eq!(sim.trajectory, *tr);
    // Endpoints are measured from the infusion.
    let peak_day = endpoint(&sim, "transgene_peak_day");
    assert!(
        (peak_day - sc.params.peak_day).abs() <= 0.25,
        "peak day {peak_day} vs Tmax {}",
        sc.params.peak_day
    );
    let peak_ep = endpoint(&sim, "transgene_peak_copies_per_ug");
    let grid_max = tr.output(0).iter().copied().fold(0.0, f64::max);
    assert!(peak_ep >= grid_max && peak_ep <= 1.01 * peak, "{peak_ep}");
}

#[test]
fn stein_matches_closed_form_infusion_on_grid() {
    check_stein_against_closed_form(0.0);
}

#[test]
fn stein_matches_closed_form_infusion_off_grid() {
    // Day 3.3 is not a grid point; Tmax then falls at day 12.6, not a grid point either.
    check_stein_against_closed_form(3.3);
}

#[test]
fn stein_default_tolerance_is_accurate_to_1e_4() {
    // The default options (rtol = atol = 1e-6) are what cohorts use.
    let sc = common::stein(0.0);
    let (patient, _) = sc.prepare();
    let sim = sc.simulate().unwrap();
    let tr = &sim.trajectory;
    for (i, t) in tr.times().enumerate() {
        let want = patient.closed_form(t);
        if want > 1e-3 * sc.params.peak_copies_per_ug {
            let rel = ((tr.value(i, 0) - want) / want).abs();
            assert!(rel < 1e-4, "day {t}: rel error {rel:e}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A linear toy model: dy/dt = −k·y + infusion rate, boluses add to y
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
struct DecayParams {
    k_per_day: f64,
    y0_mg: f64,
}

/// First-order elimination of one drug amount (mg), the simplest model with dose jumps.
struct Decay;

const DECAY_PARAMS: &[ParamInfo] = &[
    ParamInfo {
        name: "elimination_per_day",
        symbol: "k",
        unit: "1/day",
        default: 0.3,
        lower: 0.0,
        upper: 100.0,
        source: Source::Assumption("test model"),
    },
    ParamInfo {
        name: "initial_amount_mg",
        symbol: "y0",
        unit: "mg",
        default: 1.0,
        lower: 0.0,
        upper: 1e6,
        source: Source::Assumption("test model"),
    },
];

impl Model<1> for Decay {
    type Params = DecayParams;
    type Patient = DecayParams;
    fn info(&self) -> &'static ModelInfo {
        &ModelInfo {
            name: "decay",
            states: &[StateInfo {
                name: "amount",
                unit: "mg",
                description: "drug amount",
            }],
            parameters: DECAY_PARAMS,
            inputs: &[InputInfo {
                name: "drug",
                kind: InputKind::DrugMg,
                description: "the drug (mg)",
            }],
            outputs: &[OutputInfo {
                name: "amount_mg",
                unit: "mg",
                detection_limit: 0.0,
                log_scale: false,
                description: "drug amount",
            }],
            endpoints: &[EndpointInfo {
                name: "amount_day10_mg",
                unit: "mg",
                kind: EndpointKind::Continuous,
                description: "amount at day 10",
            }],
        }
    }
    fn params_from_values(&self, values: &[f64]) -> Result<DecayParams, ParamError> {
        cartsim::model::check_values(self.name(), DECAY_PARAMS, values)?;
        Ok(DecayParams {
            k_per_day: values[0],
            y0_mg: values[1],
        })
    }
    fn param_values(&self, p: &DecayParams, out: &mut [f64]) {
        out[0] = p.k_per_day;
        out[1] = p.y0_mg;
    }
    fn default_params(&self) -> DecayParams {
        DecayParams {
            k_per_day: 0.3,
            y0_mg: 1.0,
        }
    }
    fn prepare(
        &self,
        p: &DecayParams,
        _cov: &Covariates,
        _doses: &[ResolvedDose],
    ) -> Result<DecayParams, ParamError> {
        Ok(*p)
    }
    fn initial_state(&self, p: &DecayParams, _start_day: f64) -> SVector<f64, 1> {
        SVector::from([p.y0_mg])
    }
    fn rhs(
        &self,
        p: &DecayParams,
        _t_day: f64,
        y: &SVector<f64, 1>,
        segment: &Segment<'_>,
        dy: &mut SVector<f64, 1>,
    ) {
        dy[0] = -p.k_per_day * y[0] + segment.infusion_rates[0];
    }
    fn apply_bolus(&self, _p: &DecayParams, _input: usize, amount: f64, y: &mut SVector<f64, 1>) {
        y[0] += amount;
    }
    fn observe(&self, _p: &DecayParams, _t_day: f64, y: &SVector<f64, 1>, out: &mut [f64]) {
        out[0] = y[0];
    }
    fn endpoints(&self, _p: &DecayParams, tr: &Trajectory, out: &mut [f64]) {
        out[0] = tr.value_at(0, 10.0);
    }
}

/// The exact amount at `t` for the toy model started at `start` with `y0`.
fn decay_exact(p: &DecayParams, start: f64, doses: &[ResolvedDose], t: f64) -> f64 {
    let k = p.k_per_day;
    let mut y = p.y0_mg * (-k * (t - start)).exp();
    for d in doses {
        if t < d.time_day {
            continue;
        }
        // As simulated: an infusion of round-off length is a bolus (ResolvedDose::infusion_day).
        match d.infusion_day() {
            None => y += d.amount * (-k * (t - d.time_day)).exp(),
            Some(dur) => {
                // rate/k · (e^{−k(t−end)} − e^{−k(t−start)}), without cancellation for short
                // infusions.
                let rate = d.amount / dur;
                let end = t.min(d.time_day + dur);
                y += rate / k * (-k * (t - end)).exp() * -(-k * (end - d.time_day)).exp_m1();
            }
        }
    }
    y
}

fn decay_regimen(bolus_days: &[f64], infusion: (f64, f64)) -> Regimen {
    Regimen::builder()
        .horizon(-6.0, 20.0)
        .drug("drug", Amount::Mg(5.0), bolus_days, Administration::Bolus)
        .drug(
            "drug",
            Amount::Mg(8.0),
            &[infusion.0],
            Administration::Infusion {
                duration_day: infusion.1 - infusion.0,
            },
        )
        .build()
        .unwrap()
}

/// Tight tolerance on a 6-hourly grid (the checks below read jumps between grid points).
fn tight() -> SolverOptions {
    SolverOptions {
        rtol: 1e-10,
        atol: 1e-12,
        output_step_day: 0.25,
        ..SolverOptions::default()
    }
}

fn check_decay(regimen: &Regimen) -> Simulation {
    let p = Decay.default_params();
    let cov = Covariates::typical();
    let sim = simulate(&Decay, &p, &cov, regimen, &tight()).unwrap();
    let mut doses = Vec::new();
    regimen
        .resolve_into("decay", Decay.inputs(), &cov, &mut doses)
        .unwrap();
    let tr = &sim.trajectory;
    assert_eq!(tr.time(0), -6.0);
    for (i, t) in tr.times().enumerate() {
        let got = tr.value(i, 0);
        let want = decay_exact(&p, regimen.start_day(), &doses, t);
        assert!(
            (got - want).abs() <= 1e-8 * want.abs() + 1e-12,
            "day {t}: solver {got} vs exact {want}"
        );
    }
    let want10 = decay_exact(&p, regimen.start_day(), &doses, 10.0);
    let got10 = sim.endpoint("amount_day10_mg").unwrap();
    assert!((got10 - want10).abs() < 1e-8 * want10);
    sim
}

#[test]
fn bolus_and_infusion_match_exact_solution_with_negative_start() {
    // Boluses at day −3 (before zero on the shifted clock) and day 2; infusion from day 5 to 6.
    let regimen = decay_regimen(&[-3.0, 2.0], (5.0, 6.0));
    let sim = check_decay(&regimen);
    let tr = &sim.trajectory;
    // The grid point at the bolus time reports the post-dose state: a jump of the full dose
    // against the previous point (less the decay over a quarter day).
    let (i_before, i_at) = (tr.index_of(1.75), tr.index_of(2.0));
    assert_eq!(tr.time(i_at), 2.0);
    let jump = tr.value(i_at, 0) - tr.value(i_before, 0) * (-0.3f64 * 0.25).exp();
    assert!((jump - 5.0).abs() < 1e-8, "jump at the bolus {jump}");
    // Inside the infusion the amount rises; after its end it decays.
    let v = |d: f64| tr.value(tr.index_of(d), 0);
    assert!(v(5.25) > v(5.0) && v(5.75) > v(5.5) && v(6.0) > v(5.75));
    assert!(v(6.25) < v(6.0));
}

#[test]
fn dose_times_off_the_output_grid() {
    // Boluses and infusion bounds between grid points (and a bolus at the horizon start).
    let regimen = decay_regimen(&[-6.0, -2.9, 2.3], (5.1, 5.85));
    check_decay(&regimen);
}

#[test]
fn hermite_output_matches_exponential_between_steps() {
    // y' = −y from y(−3) = 1 on [−3, 7], no dose: output on a fine grid is interpolated between
    // accepted steps.
    let p = DecayParams {
        k_per_day: 1.0,
        y0_mg: 1.0,
    };
    let options = SolverOptions {
        rtol: 1e-8,
        atol: 1e-14,
        output_step_day: 0.01,
        ..SolverOptions::default()
    };
    let mut ws = Workspace::default();
    let stats = solve_into(&Decay, &p, &[], -3.0, 7.0, &options, &mut ws).unwrap();
    let tr = &ws.trajectory;
    assert_eq!(tr.len(), 1001);
    // Several output points per step: the interpolant, not the step ends, is being tested.
    assert!(
        (stats.accepted_steps as usize) * 5 < tr.len(),
        "{} steps for {} points",
        stats.accepted_steps,
        tr.len()
    );
    for (i, t) in tr.times().enumerate() {
        let want = (-(t + 3.0)).exp();
        let rel = ((tr.value(i, 0) - want) / want).abs();
        assert!(rel < 1e-6, "day {t}: rel error {rel:e}");
    }
}

// ---------------------------------------------------------------------------------------------
// SLE model: tolerance convergence
// ---------------------------------------------------------------------------------------------

#[test]
fn sle_endpoints_converge_between_default_and_tight_tolerance() {
    let loose = common::typical_sle_at_tolerance(1e-6).simulate().unwrap();
    let tight = common::typical_sle_at_tolerance(1e-10).simulate().unwrap();
    assert!(tight.stats.accepted_steps > loose.stats.accepted_steps);
    for (k, info) in loose.endpoint_info.iter().enumerate() {
        let (a, b) = (loose.endpoints[k], tight.endpoints[k]);
        match info.kind {
            EndpointKind::Flag => assert_eq!(a, b, "flag {}", info.name),
            EndpointKind::Continuous => {
                if a.is_nan() || b.is_nan() {
                    assert!(a.is_nan() && b.is_nan(), "{}: {a} vs {b}", info.name);
                } else {
                    let rel = (a - b).abs() / b.abs().max(f64::MIN_POSITIVE);
                    assert!(
                        rel < 5e-3 || a == b,
                        "{}: rtol 1e-6 gives {a}, 1e-10 gives {b} (rel {rel:e})",
                        info.name
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Fludarabine: the model's closed-form exposure vs an independent three-compartment solution
// ---------------------------------------------------------------------------------------------

/// Langenhorst 2019 F-ara-A model for one patient, integrated with matrix exponentials.
struct FluReference {
    /// Rate matrix of the amounts (mg) in the three compartments, 1/day.
    a: Matrix3<f64>,
    a_inv: Matrix3<f64>,
    v1_l: f64,
    cl_l_per_h: f64,
    /// Infusions: (start, end, rate mg F-ara-A/day).
    infusions: Vec<(f64, f64, f64)>,
    dose_mg: f64,
}

impl FluReference {
    fn new(p: &SleParams, cov: &Covariates, flu_mg_per_m2: f64) -> Self {
        let wr = cov.weight_kg / 70.0;
        let a75 = wr.powf(0.75);
        let egfr_l_per_h = cov.egfr_ml_per_min * 0.06;
        let cl_l_per_h = (p.flu_cl_nonrenal_l_per_h + p.flu_cl_renal_per_egfr * egfr_l_per_h) * a75;
        let (v1, v2, v3) = (p.flu_v1_l * wr, p.flu_v2_l * wr, p.flu_v3_l * wr);
        let cl = cl_l_per_h * 24.0;
        let q2 = p.flu_q2_l_per_h * a75 * 24.0;
        let q3 = p.flu_q3_l_per_h * a75 * 24.0;
        #[rustfmt::skip]
        let a = Matrix3::new(
            -(cl + q2 + q3) / v1, q2 / v2, q3 / v3,
            q2 / v1, -q2 / v2, 0.0,
            q3 / v1, 0.0, -q3 / v3,
        );
        let bsa = (cov.height_cm * cov.weight_kg / 3600.0).sqrt();
        let dose_mg = flu_mg_per_m2 * bsa * p.flu_salt_fraction;
        let dur = 0.5 / 24.0;
        let infusions = [-5.0, -4.0, -3.0]
            .iter()
            .map(|&t| (t, t + dur, dose_mg / dur))
            .collect();
        FluReference {
            a,
            a_inv: a.try_inverse().unwrap(),
            v1_l: v1,
            cl_l_per_h,
            infusions,
            dose_mg,
        }
    }

    /// x(t0 + s) = e^{As}·x + A⁻¹(e^{As} − I)·b for a constant input b over s.
    fn propagate(&self, x: Vector3<f64>, s: f64, rate: f64) -> Vector3<f64> {
        let e = (self.a * s).exp();
        let b = Vector3::new(rate, 0.0, 0.0);
        e * x + self.a_inv * (e - Matrix3::identity()) * b
    }

    /// Central concentration (mg/L) at `t`, from zero amounts at day −6.
    fn concentration(&self, t: f64) -> f64 {
        let mut times = vec![-6.0, t];
        for &(s, e, _) in &self.infusions {
            times.extend([s, e]);
        }
        times.retain(|&x| x <= t);
        times.sort_by(f64::total_cmp);
        times.dedup();
        let mut x = Vector3::zeros();
        for w in times.windows(2) {
            let mid = 0.5 * (w[0] + w[1]);
            let rate: f64 = self
                .infusions
                .iter()
                .filter(|&&(s, e, _)| s <= mid && mid < e)
                .map(|i| i.2)
                .sum();
            x = self.propagate(x, w[1] - w[0], rate);
        }
        x[0] / self.v1_l
    }
}

fn check_fludarabine(sim: &Simulation, reference: &FluReference) -> usize {
    let tr = &sim.trajectory;
    let c = output(sim, "fludarabine_mg_per_l");
    let mut compared = 0;
    for (i, t) in tr.times().enumerate() {
        let want = reference.concentration(t);
        if want > 1e-6 {
            let rel = ((c[i] - want) / want).abs();
            assert!(rel < 1e-6, "day {t}: model {} vs reference {want}", c[i]);
            compared += 1;
        } else {
            // Below 1e-6 mg/L the model may already report the washed-out zero.
            assert!((c[i] - want).abs() < 1e-6, "day {t}: {} vs {want}", c[i]);
        }
    }
    compared
}

#[test]
fn fludarabine_output_matches_independent_three_compartment_solution() {
    let mut sc = common::typical_sle();
    sc.options.output_step_day = 0.25;
    let reference = FluReference::new(&sc.params, &sc.covariates, 25.0);
    let sim = sc.simulate().unwrap();
    let compared = check_fludarabine(&sim, &reference);
    // Days −5 to roughly day 10 carry measurable F-ara-A (terminal t½ ≈ 1 day).
    assert!(compared > 40, "only {compared} grid points above 1e-6 mg/L");
    // Nothing before the first infusion.
    assert_eq!(sim.output_at("fludarabine_mg_per_l", -5.25), Some(0.0));
}

#[test]
fn fludarabine_output_matches_during_infusions_on_a_fine_grid() {
    // A 15-minute grid puts points inside each 30-minute infusion; a heavier patient with low
    // eGFR exercises the allometric and renal terms.
    let mut sc = common::typical_sle();
    sc.covariates.weight_kg = 92.0;
    sc.covariates.height_cm = 181.0;
    sc.covariates.egfr_ml_per_min = 35.0;
    sc.regimen = sc.regimen.with_horizon(-6.0, 3.0).unwrap();
    sc.options.output_step_day = 1.0 / 96.0;
    let reference = FluReference::new(&sc.params, &sc.covariates, 25.0);
    let sim = sc.simulate().unwrap();
    let compared = check_fludarabine(&sim, &reference);
    assert!(compared > 700, "only {compared} grid points compared");
    // A grid point inside the first infusion (15 min after its start) is compared.
    let i = sim.trajectory.index_of(-5.0 + 1.0 / 96.0);
    assert!(sim.trajectory.time(i) > -5.0 && sim.trajectory.time(i) < -5.0 + 0.5 / 24.0);
    assert!(output(&sim, "fludarabine_mg_per_l")[i] > 0.1);
}

#[test]
fn fludarabine_auc_is_dose_over_clearance() {
    for (weight_kg, egfr_ml_per_min) in [(65.0, 90.0), (92.0, 35.0), (48.0, 140.0)] {
        let mut sc = common::typical_sle();
        sc.covariates.weight_kg = weight_kg;
        sc.covariates.egfr_ml_per_min = egfr_ml_per_min;
        sc.regimen = sc.regimen.with_horizon(-6.0, 1.0).unwrap();
        let reference = FluReference::new(&sc.params, &sc.covariates, 25.0);
        let sim = sc.simulate().unwrap();
        let auc = endpoint(&sim, "fludarabine_auc_mg_h_per_l");
        let want = 3.0 * reference.dose_mg / reference.cl_l_per_h;
        assert!(
            ((auc - want) / want).abs() < 1e-9,
            "W {weight_kg} kg, eGFR {egfr_ml_per_min}: AUC {auc} vs dose/CL {want} mg·h/L"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Edge cases of the segment timeline
// ---------------------------------------------------------------------------------------------

#[test]
fn event_times_a_few_ulps_apart_are_handled() {
    // A dose at a time that differs from another event by round-off only (here 2e-15 day) used to
    // create a segment too short for Dopri5's step-size control ("step size underflow").
    let regimen = Regimen::builder()
        .horizon(-6.0, 20.0)
        .drug("drug", Amount::Mg(5.0), &[2.0], Administration::Bolus)
        .drug(
            "drug",
            Amount::Mg(8.0),
            &[2.0 + 2e-15, 5.0],
            Administration::Infusion { duration_day: 1.0 },
        )
        .drug(
            "drug",
            Amount::Mg(3.0),
            &[6.000_000_000_000_001],
            Administration::Bolus,
        )
        .build()
        .unwrap();
    check_decay(&regimen);

    // The Stein model's switch at infusion + Tmax next to a second dose (ignored by the model).
    let sc = common::stein(0.0);
    let regimen = Regimen::builder()
        .horizon(-1.0, 120.0)
        .car_t(Amount::Cells(1e8), 0.0)
        .car_t(Amount::Cells(1e8), sc.params.peak_day + 1e-15)
        .build()
        .unwrap();
    let sim = simulate(
        &sc.model,
        &sc.params,
        &sc.covariates,
        &regimen,
        &SolverOptions::default(),
    )
    .unwrap();
    let (patient, _) = sc.prepare();
    for (i, t) in sim.trajectory.times().enumerate() {
        let want = patient.closed_form(t);
        if want > 1e-3 * sc.params.peak_copies_per_ug {
            let rel = ((sim.trajectory.value(i, 0) - want) / want).abs();
            assert!(rel < 1e-4, "day {t}: rel error {rel:e}");
        }
    }
}

#[test]
fn an_infusion_shorter_than_round_off_delivers_its_whole_amount() {
    // A 1e-12-day infusion is a bolus for every practical purpose: its amount must arrive.
    let regimen = Regimen::builder()
        .horizon(-6.0, 20.0)
        .drug(
            "drug",
            Amount::Mg(8.0),
            &[3.0],
            Administration::Infusion {
                duration_day: 1e-12,
            },
        )
        .build()
        .unwrap();
    let sim = check_decay(&regimen);
    let after = sim.output_at("amount_mg", 3.25).unwrap();
    assert!(after > 8.0 * (-0.3f64 * 0.25).exp() * 0.999, "{after}");
}

#[test]
fn a_bolus_at_the_horizon_end_is_reported_in_the_last_output() {
    // MODULE DOC of solve: "An output time that coincides with a bolus reports the post-dose
    // state" — including the last grid point.
    let regimen = decay_regimen(&[2.0, 20.0], (5.0, 6.0));
    let sim = check_decay(&regimen);
    let tr = &sim.trajectory;
    let last = tr.len() - 1;
    assert_eq!(tr.time(last), 20.0);
    let jump = tr.value(last, 0) - tr.value(last - 1, 0) * (-0.3f64 * 0.25).exp();
    assert!((jump - 5.0).abs() < 1e-8, "jump at the end {jump}");
}

#[test]
fn car_t_given_as_an_infusion_enters_the_sle_model() {
    // A 30-minute CAR-T infusion must act like the bolus it approximates (it used to be dropped
    // silently: no expansion at all).
    let mut sc = common::typical_sle();
    sc.options.output_step_day = 0.25;
    let infused = Regimen::builder()
        .drug(
            "fludarabine",
            Amount::MgPerM2(25.0),
            &[-5.0, -4.0, -3.0],
            Administration::Infusion {
                duration_day: 0.5 / 24.0,
            },
        )
        .drug(
            "cyclophosphamide",
            Amount::MgPerM2(1000.0),
            &[-3.0],
            Administration::Infusion {
                duration_day: 1.0 / 24.0,
            },
        )
        .drug(
            "car_t",
            Amount::CellsPerKg(1e6),
            &[0.0],
            Administration::Infusion {
                duration_day: 0.5 / 24.0,
            },
        )
        .build()
        .unwrap();
    let bolus = sc.simulate().unwrap();
    let inf = simulate(&sc.model, &sc.params, &sc.covariates, &infused, &sc.options).unwrap();
    for name in [
        "car_t_peak_cells_per_ul",
        "car_t_peak_day",
        "b_cell_reappearance_day",
    ] {
        let (a, b) = (endpoint(&bolus, name), endpoint(&inf, name));
        assert!(
            ((a - b) / a).abs() < 0.02,
            "{name}: bolus {a}, infusion {b}"
        );
    }
    // The whole product arrives: at the end of the infusion the blood CAR-T count is the dose
    // spread over the blood and tissue pools (little expansion in 30 minutes).
    let dose_per_ul = 1e6 * sc.covariates.weight_kg * sc.params.blood_fraction
        / (sc.params.blood_volume_ml_per_kg * sc.covariates.weight_kg * 1000.0);
    let c = inf.output_at("car_t_cells_per_ul", 0.25).unwrap();
    let c_bolus = bolus.output_at("car_t_cells_per_ul", 0.25).unwrap();
    assert!(
        c > 0.9 * dose_per_ul && (c - c_bolus).abs() < 0.02 * c_bolus,
        "{c} vs {c_bolus}"
    );
}

#[test]
fn stein_model_rejects_an_infused_car_t_product() {
    // The Stein model starts its kinetics at R0 = Cmax/foldx at the infusion: it has no
    // meaning for a zero-order infusion, which it used to ignore silently (level 0 throughout).
    let sc = common::stein(0.0);
    let regimen = Regimen::builder()
        .horizon(-1.0, 120.0)
        .drug(
            "car_t",
            Amount::Cells(1e8),
            &[0.0],
            Administration::Infusion {
                duration_day: 0.5 / 24.0,
            },
        )
        .build()
        .unwrap();
    let e = simulate(&sc.model, &sc.params, &sc.covariates, &regimen, &sc.options).unwrap_err();
    assert!(
        matches!(&e, cartsim::Error::Param(ParamError::Invalid { name, .. }) if name == "car_t"),
        "{e:?}"
    );
    assert!(e.to_string().contains("bolus"), "{e}");
}

/// Endpoints are located on the solver's steps, so the output grid changes none of them (the
/// same steps are taken whatever the grid): every endpoint, the stochastic relapse step and the
/// elimination flag included (they read fixed knots of the dense output), is bit-identical on
/// a daily, a 6-hourly and an irregular 1/7-day grid, and so is IL-6 at the days the grids share.
#[test]
fn endpoints_do_not_depend_on_the_output_grid() {
    let model = SleModel::default();
    let run = |step: f64| {
        let opts = SolverOptions {
            output_step_day: step,
            ..SolverOptions::default()
        };
        simulate(
            &model,
            &model.default_params(),
            &Covariates::typical(),
            &Regimen::mackensen_2022(),
            &opts,
        )
        .unwrap()
    };
    let daily = run(1.0);
    for step in [0.25, 1.0 / 7.0] {
        let other = run(step);
        for info in model.endpoint_info() {
            let (a, b) = (
                daily.endpoint(info.name).unwrap(),
                other.endpoint(info.name).unwrap(),
            );
            assert!(
                a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
                "{}: {a} on a daily grid, {b} on a {step}-day grid",
                info.name
            );
        }
        for day in [-6, 0, 7, 14, 28, 63, 91, 364] {
            let (a, b) = (
                daily.output_at("il6_pg_per_ml", day as f64).unwrap(),
                other.output_at("il6_pg_per_ml", day as f64).unwrap(),
            );
            assert!(((a - b) / b).abs() < 1e-12, "day {day}: {a} vs {b}");
        }
    }
}

/// IL-6 (integrated exactly over each solver step for its production's Hermite cubic) against an
/// independent quadrature of `v' = −k·(v − IL0) + q` over the production column on a 0.005-day
/// grid (exact for `q` linear between grid points, error O(Δ²)), and its peak against the largest
/// value of that fine reference.
#[test]
fn il6_matches_an_independent_quadrature_of_its_production() {
    let model = SleModel::default();
    let params = model.default_params();
    let opts = SolverOptions {
        output_step_day: 0.005,
        rtol: 1e-10,
        atol: 1e-10,
        ..SolverOptions::default()
    };
    let sim = simulate(
        &model,
        &params,
        &Covariates::typical(),
        &Regimen::mackensen_2022(),
        &opts,
    )
    .unwrap();
    let names: Vec<&str> = model.outputs().iter().map(|o| o.name).collect();
    let col = |name: &str| {
        let k = names.iter().position(|n| *n == name).unwrap();
        sim.trajectory.output(k).to_vec()
    };
    let (q, il6) = (
        col("il6_production_pg_per_ml_per_day"),
        col("il6_pg_per_ml"),
    );
    let values = {
        let mut v = vec![0.0; model.parameters().len()];
        model.param_values(&params, &mut v);
        v
    };
    let par = |name: &str| values[model.param_index(name).unwrap()];
    let (k, il0) = (par("il6_clearance_per_day"), par("il6_baseline_pg_per_ml"));
    let dt = sim.trajectory.step_day();
    let decay = (-k * dt).exp();
    let a = (1.0 - decay) / k;
    let b = (dt - a) / (k * dt);
    let mut v = 0.0f64;
    let mut peak = 0.0f64;
    for i in 0..q.len() - 1 {
        let t = sim.trajectory.time(i + 1);
        // The CAR-T infusion at day 0 switches production on: nothing before it.
        let (q0, q1) = if t <= 1e-9 {
            (0.0, 0.0)
        } else {
            (q[i], q[i + 1])
        };
        v = decay * v + (a - b) * q0 + b * q1;
        if t >= 0.0 {
            peak = peak.max(v);
            let got = il6[i + 1] - il0;
            assert!(
                (got - v).abs() <= 2e-4 * v.max(1e-2),
                "day {t}: IL-6 excess {got} vs quadrature {v}"
            );
        }
    }
    let ep = sim.endpoint("il6_peak_pg_per_ml").unwrap() - il0;
    assert!(((ep - peak) / peak).abs() < 1e-4, "peak {ep} vs {peak}");
}

/// Endpoints at fixed days outside the horizon are undefined (NaN), not the last value: a 30-day
/// course has its CAR-T peak and day-14 B cells, but no day-90 CAR-T count or month-3 visit.
#[test]
fn fixed_day_endpoints_beyond_the_horizon_are_nan() {
    let model = SleModel::default();
    let short = Regimen::builder()
        .horizon(-6.0, 30.0)
        .drug(
            "car_t",
            Amount::CellsPerKg(1e6),
            &[0.0],
            Administration::Bolus,
        )
        .build()
        .unwrap();
    let sim = simulate(
        &model,
        &model.default_params(),
        &Covariates::typical(),
        &short,
        &SolverOptions::default(),
    )
    .unwrap();
    for name in ["car_t_peak_cells_per_ul", "b_cells_day14_cells_per_ul"] {
        assert!(sim.endpoint(name).unwrap().is_finite(), "{name}");
    }
    for name in ["car_t_day90_cells_per_ul", "sledai_month3"] {
        assert!(sim.endpoint(name).unwrap().is_nan(), "{name}");
    }
}

/// The endpoints located on the solver's steps against the same endpoints read off a 0.005-day
/// output grid of the same solve by the grid helpers of `Trajectory` (parabolic peak, log-linear
/// crossings, trapezoidal area), for varied cohort patients: two independent routes to each
/// number, which must agree to the fine grid's own accuracy.
#[test]
fn tracked_endpoints_match_a_fine_output_grid() {
    let model = SleModel::default();
    let cohort = cartsim::cohort::Cohort::builder(model)
        .patients(6)
        .seed(7)
        .solver(SolverOptions {
            output_step_day: 0.005,
            ..SolverOptions::default()
        })
        .build()
        .unwrap();
    let ep = |name: &str| {
        model
            .endpoint_info()
            .iter()
            .position(|e| e.name == name)
            .unwrap()
    };
    let col = |name: &str| model.output_index(name).unwrap();
    let thr = model.definitions.b_cell_threshold_per_ul;
    for id in 0..6 {
        let (rec, tr) = cohort.simulate_patient(id).unwrap();
        let e = |name: &str| rec.endpoints[ep(name)];
        let rel = |a: f64, b: f64| (a - b).abs() / b.abs().max(1e-9);

        let (day, peak) = tr.peak(col("car_t_cells_per_ul"), 0.0);
        assert!(
            rel(e("car_t_peak_cells_per_ul"), peak) < 1e-6,
            "patient {id}: peak"
        );
        assert!(
            (e("car_t_peak_day") - day).abs() < 1e-3,
            "patient {id}: peak day"
        );
        let auc = tr.auc(col("car_t_cells_per_ul"), 0.0, 28.0);
        assert!(
            rel(e("car_t_auc_0_28_cells_day_per_ul"), auc) < 1e-5,
            "patient {id}: AUC"
        );

        let b = col("b_cells_per_ul");
        let dep = tr.first_below(b, thr, 0.0);
        assert!(
            (e("b_cell_depletion_day") - dep).abs() < 1e-4,
            "patient {id}: depletion"
        );
        let back = tr.first_at_or_above(b, thr, dep + tr.step_day());
        let got = e("b_cell_reappearance_day");
        assert!(
            (got - back).abs() < 1e-4 || (got.is_nan() && back.is_nan()),
            "patient {id}: reappearance {got} vs {back}"
        );
        let b14 = tr.value_at(b, 14.0);
        assert!(
            rel(e("b_cells_day14_cells_per_ul"), b14) < 1e-9,
            "patient {id}: day 14"
        );

        let (_, il6) = tr.peak(col("il6_pg_per_ml"), 0.0);
        assert!(
            rel(e("il6_peak_pg_per_ml"), il6) < 1e-6,
            "patient {id}: IL-6 peak"
        );
    }
}

/// Issue 16 (class 4): a coarse output grid changed the relapse endpoints. Over a cohort whose
/// fates vary (1e5 CAR-T/kg: escapes, extinctions and relapses), every endpoint of every patient,
/// the stochastic ones included, is bit-identical on a 6-hourly and a 3-day grid.
#[test]
fn relapse_endpoints_do_not_depend_on_the_output_grid() {
    use cartsim::cohort::Cohort;
    let run = |step: f64| {
        Cohort::builder(SleModel::default())
            .patients(150)
            .seed(5)
            .regimen(Regimen::flu_cy(1e5, 25.0, 1000.0))
            .solver(SolverOptions {
                output_step_day: step,
                ..SolverOptions::default()
            })
            .build()
            .unwrap()
            .run()
            .unwrap()
    };
    let (fine, coarse) = (run(0.25), run(3.0));
    let info = SleModel::default().endpoint_info();
    let relapse = info.iter().position(|e| e.name == "relapse").unwrap();
    let relapses: f64 = fine.records.iter().map(|r| r.endpoints[relapse]).sum();
    assert!(
        relapses >= 5.0,
        "only {relapses} relapses: the test needs varied fates"
    );
    for (a, b) in fine.records.iter().zip(&coarse.records) {
        for (k, e) in info.iter().enumerate() {
            let (x, y) = (a.endpoints[k], b.endpoints[k]);
            assert!(
                x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                "patient {}: {} = {x} on a 0.25-day grid, {y} on a 3-day grid",
                a.id,
                e.name
            );
        }
    }
}

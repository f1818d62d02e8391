//! Every public door validates what it is given (issue 16, classes 2–4): regimens made without
//! the builder, Ω entries, merged results of different specifications, non-finite simulated
//! values, and sizes that would exhaust memory or overflow.

mod common;

use cartsim::cohort::{Cohort, CohortResult, OnFailure};
use cartsim::error::{FailureCause, RegimenError, SpecError};
use cartsim::model::{Model, ModelInfo, ResolvedDose, SVector, Segment, Trajectory};
use cartsim::prelude::*;
use cartsim::variability::Iiv;

fn bad_amount(e: &cartsim::Error) -> Option<(String, f64)> {
    match e {
        cartsim::Error::Regimen(RegimenError::BadAmount { input, value, .. }) => {
            Some((input.clone(), *value))
        }
        _ => None,
    }
}

// --- Class 2: library doors -----------------------------------------------------------------

#[test]
fn flu_cy_with_a_negative_or_non_finite_dose_is_rejected_not_simulated() {
    let model = SleModel::default();
    let p = model.default_params();
    let cov = Covariates::typical();
    let opts = SolverOptions::default();
    for (regimen, input) in [
        (Regimen::flu_cy(-1e6, 25.0, 1000.0), "car_t"),
        (Regimen::flu_cy(1e6, -25.0, -1000.0), "fludarabine"),
        (Regimen::flu_cy(1e6, 25.0, -1000.0), "cyclophosphamide"),
        (Regimen::flu_cy(f64::NAN, 25.0, 1000.0), "car_t"),
        (Regimen::flu_cy(1e6, f64::INFINITY, 1000.0), "fludarabine"),
        (Regimen::flu_cy(0.0, 25.0, 1000.0), "car_t"),
    ] {
        let e = simulate(&model, &p, &cov, &regimen, &opts).unwrap_err();
        let (got, _) = bad_amount(&e).unwrap_or_else(|| panic!("{e}"));
        assert_eq!(got, input, "{e}");
        assert!(e.to_string().contains("must be finite and > 0"), "{e}");
        let e = Cohort::builder(SleModel::default())
            .regimen(regimen.clone())
            .patients(2)
            .build()
            .unwrap_err();
        assert!(bad_amount(&e).is_some(), "{e}");
    }
    assert!(Regimen::try_flu_cy(1e6, -25.0, 1000.0).is_err());
    assert_eq!(
        Regimen::try_flu_cy(1e6, 25.0, 1000.0).unwrap(),
        Regimen::mackensen_2022()
    );
    // Zero omits a drug, as documented.
    assert_eq!(Regimen::flu_cy(1e6, 0.0, 0.0).doses().len(), 1);
}

#[test]
fn a_diagonal_omega_must_be_a_finite_non_negative_sd() {
    for w in [-0.1, f64::NAN, f64::INFINITY, 1e300] {
        let e =
            Iiv::diagonal("iiv", &[("memory_death_per_day", 0.2), ("flu_v1_l", w)]).unwrap_err();
        let s = e.to_string();
        assert!(matches!(e, SpecError::Invalid { .. }), "{s}");
        assert!(
            s.contains("flu_v1_l") && s.contains("[1]") && s.contains(&format!("{w:?}")),
            "{s}"
        );
    }
    assert!(Iiv::diagonal("iiv", &[("flu_v1_l", 0.0)]).is_ok());
}

#[test]
fn results_of_different_specifications_do_not_merge() {
    let a = Cohort::builder(SleModel::default())
        .patients(4)
        .seed(3)
        .build()
        .unwrap();
    let b = a.with_regimen(Regimen::flu_cy(3e5, 25.0, 1000.0)).unwrap();
    let (ra, rb) = (a.run_range(0..2).unwrap(), b.run_range(2..4).unwrap());
    assert_eq!(ra.fingerprint, a.fingerprint());
    let e = CohortResult::merge(vec![ra.clone(), rb])
        .unwrap_err()
        .to_string();
    assert!(e.contains("fingerprint") && e.contains("2..4"), "{e}");
    let same = CohortResult::merge(vec![ra, a.run_range(2..4).unwrap()]).unwrap();
    assert_eq!(same.patients(), 4);
}

// --- Class 4: no silent non-finite outputs ----------------------------------------------------

/// [`common::ScalarOde`] whose output or endpoint is poisoned with a non-finite value.
#[derive(Clone)]
struct Poisoned {
    inner: common::ScalarOde,
    output: f64,
    endpoint: f64,
}

impl Model<1> for Poisoned {
    type Params = ();
    type Patient = ();
    fn info(&self) -> &'static ModelInfo {
        self.inner.info()
    }
    fn params_from_values(&self, v: &[f64]) -> Result<(), cartsim::error::ParamError> {
        self.inner.params_from_values(v)
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
    fn initial_state(&self, patient: &(), start_day: f64) -> SVector<f64, 1> {
        self.inner.initial_state(patient, start_day)
    }
    fn rhs(
        &self,
        patient: &(),
        t_day: f64,
        y: &SVector<f64, 1>,
        segment: &Segment<'_>,
        dy: &mut SVector<f64, 1>,
    ) {
        self.inner.rhs(patient, t_day, y, segment, dy);
    }
    fn apply_bolus(&self, _patient: &(), _input: usize, _amount: f64, _y: &mut SVector<f64, 1>) {}
    fn observe(&self, _patient: &(), t_day: f64, y: &SVector<f64, 1>, out: &mut [f64]) {
        out[0] = if t_day >= 5.0 {
            y[0] * self.output
        } else {
            y[0]
        };
    }
    fn endpoints(&self, _patient: &(), _trajectory: &Trajectory, out: &mut [f64]) {
        out[0] = self.endpoint;
    }
}

fn poisoned(output: f64, endpoint: f64) -> Poisoned {
    Poisoned {
        inner: common::ScalarOde {
            rhs: |_, y| -0.1 * y,
            y0: 1.0,
        },
        output,
        endpoint,
    }
}

#[test]
fn a_non_finite_output_or_infinite_endpoint_fails_the_patient_by_name() {
    let regimen = Regimen::builder()
        .horizon(0.0, 10.0)
        .drug("inert", Amount::Mg(1.0), &[1.0], Administration::Bolus)
        .build()
        .unwrap();
    let opts = SolverOptions::default();
    let cov = Covariates::typical();
    for (model, what) in [
        (poisoned(f64::NAN, 1.0), "output `y` is NaN at t = 5 day"),
        (
            poisoned(f64::INFINITY, 1.0),
            "output `y` is inf at t = 5 day",
        ),
        (poisoned(1.0, f64::NEG_INFINITY), "endpoint `y_end` is -inf"),
    ] {
        let e = simulate(&model, &(), &cov, &regimen, &opts).unwrap_err();
        assert!(e.to_string().contains(what), "{e}");
        // In a cohort: a failed patient with its id and cause, never a summary value.
        let cohort = Cohort::builder(model)
            .regimen(regimen.clone())
            .iiv(Iiv::diagonal("none", &[]).unwrap())
            .patients(3)
            .on_failure(OnFailure::Continue)
            .build()
            .unwrap();
        let r = cohort.run().unwrap();
        assert_eq!((r.summary.patients, r.summary.failed), (0, 3));
        assert_eq!(r.failures[0].cause.stage(), "outputs");
        assert!(matches!(*r.failures[0].cause, FailureCause::Output(_)));
        assert!(r.check_failures(1.0).is_err(), "every patient failed");
    }
    // A NaN endpoint ("not reached") is legitimate: counted as missing, not a failure.
    let sim = simulate(&poisoned(1.0, f64::NAN), &(), &cov, &regimen, &opts).unwrap();
    assert!(sim.endpoints[0].is_nan());
}

/// An infusion whose duration is round-off next to its start (day −5 + 1e-17 = day −5) used to
/// deliver nothing — fludarabine through the closed-form PK, the CAR-T product through the
/// solver — while its dose and AUC were still reported. Now it is given as a bolus of the same
/// amount: the same numbers as the bolus, bit for bit.
#[test]
fn an_infusion_of_round_off_length_delivers_its_dose_as_a_bolus() {
    let model = SleModel::default();
    let p = model.default_params();
    let cov = Covariates::typical();
    let opts = SolverOptions::default();
    let regimen = |administration: Administration| {
        Regimen::builder()
            .drug(
                "fludarabine",
                Amount::MgPerM2(25.0),
                &[-5.0, -4.0, -3.0],
                administration,
            )
            .drug(
                "cyclophosphamide",
                Amount::MgPerM2(1000.0),
                &[-3.0],
                administration,
            )
            .dose(Dose {
                input: "car_t".into(),
                amount: Amount::CellsPerKg(1e6),
                time_day: 1.0,
                administration,
            })
            .build()
            .unwrap()
    };
    let bolus = simulate(&model, &p, &cov, &regimen(Administration::Bolus), &opts).unwrap();
    let car_t_peak = bolus.endpoint("car_t_peak_cells_per_ul").unwrap();
    assert!(car_t_peak > 1.0, "{car_t_peak}");
    for duration_day in [1e-17, 1e-300, 5e-324] {
        let sim = simulate(
            &model,
            &p,
            &cov,
            &regimen(Administration::Infusion { duration_day }),
            &opts,
        )
        .unwrap();
        // Bits: "not reached" endpoints are NaN.
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (k, o) in sim.output_info.iter().enumerate() {
            assert_eq!(
                bits(sim.trajectory.output(k)),
                bits(bolus.trajectory.output(k)),
                "output `{}` with infusions over {duration_day} day",
                o.name
            );
        }
        assert_eq!(bits(&sim.endpoints), bits(&bolus.endpoints));
    }
    // Short but resolvable infusions (a millisecond) stay infusions, and give nearly the same.
    let sim = simulate(
        &model,
        &p,
        &cov,
        &regimen(Administration::Infusion { duration_day: 1e-8 }),
        &opts,
    )
    .unwrap();
    let peak = sim.endpoint("car_t_peak_cells_per_ul").unwrap();
    assert!(
        (peak / car_t_peak - 1.0).abs() < 1e-4,
        "{peak} vs {car_t_peak}"
    );
}

// --- Class 3: accepted values that would crash, abort or wrap ----------------------------------

#[test]
fn a_grid_too_fine_for_memory_is_refused_naming_the_option() {
    let model = SleModel::default();
    let opts = SolverOptions {
        output_step_day: 1e-9,
        ..SolverOptions::default()
    };
    let e = simulate(
        &model,
        &model.default_params(),
        &Covariates::typical(),
        &Regimen::mackensen_2022(),
        &opts,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("output_step_day") && e.contains("1000000"),
        "{e}"
    );
    for step in [1e-9, 1e-300, f64::MIN_POSITIVE] {
        let e = Cohort::builder(SleModel::default())
            .solver(SolverOptions {
                output_step_day: step,
                ..SolverOptions::default()
            })
            .build()
            .unwrap_err()
            .to_string();
        assert!(e.contains("output_step_day"), "{e}");
    }
}

#[test]
fn sketch_accuracy_band_count_and_kept_records_are_bounded() {
    use cartsim::summary::SummaryMode;
    for alpha in [1e-12, 1e-5, 0.0, 0.5] {
        let e = Cohort::builder(SleModel::default())
            .summary_mode(SummaryMode::Streaming { alpha })
            .build()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("summary_mode.alpha") && e.contains("0.0001"),
            "{e}"
        );
    }
    let e = Cohort::builder(SleModel::default())
        .patients(1_000_000_000)
        .summary_mode(SummaryMode::Exact)
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("streaming"), "{e}");
    let e = Cohort::builder(SleModel::default())
        .band_times_day((0..200_000).map(|i| i as f64 * 1e-3).collect())
        .build()
        .unwrap_err()
        .to_string();
    assert!(e.contains("band_times_day"), "{e}");
    // A billion patients with their records kept: refused at once, with the way out.
    let big = Cohort::builder(SleModel::default())
        .patients(1_000_000_000)
        .build()
        .unwrap();
    let e = big.run().unwrap_err().to_string();
    assert!(
        e.contains("run_range_chunked") && e.contains("Discard"),
        "{e}"
    );
}

#[test]
fn ids_near_the_top_of_u64_run_without_overflow() {
    use cartsim::cohort::Records;
    let c = Cohort::builder(SleModel::default())
        .patients(u64::MAX)
        .records(Records::Discard)
        .build()
        .unwrap();
    let r = c.run_range(u64::MAX - 2..u64::MAX).unwrap();
    assert_eq!(r.summary.patients + r.summary.failed, 2);
}

// --- Class 6: messages ------------------------------------------------------------------------

#[test]
fn exploration_labels_keep_every_digit_of_the_dose() {
    let arms = cartsim::cohort::explore::flu_cy_grid(&[1.5e6, 2e6, 1e6], &[(25.0, 1000.0)]);
    let labels: Vec<&str> = arms.iter().map(|a| a.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "1.5e6/kg flu25 cy1000",
            "2e6/kg flu25 cy1000",
            "1e6/kg flu25 cy1000"
        ]
    );
}

// --- Properties: any accepted input simulates to finite numbers or a typed error --------------

fn dose() -> impl proptest::strategy::Strategy<Value = f64> {
    use proptest::prelude::*;
    prop_oneof![
        Just(0.0),
        Just(-1.0),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(1e300),
        1e-3f64..1e4,
        1e3f64..1e9,
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 32, failure_persistence: None, ..Default::default()
    })]

    #[test]
    fn accepted_regimens_and_grids_simulate_to_finite_outputs(
        car_t in dose(),
        flu in dose(),
        cy in dose(),
        step in proptest::prop_oneof![
            proptest::prelude::Just(1e-300), 1e-4f64..5.0, proptest::prelude::Just(1e300)
        ],
    ) {
        let model = SleModel::default();
        let opts = SolverOptions { output_step_day: step, ..SolverOptions::default() };
        match simulate(
            &model,
            &model.default_params(),
            &Covariates::typical(),
            &Regimen::flu_cy(car_t, flu, cy),
            &opts,
        ) {
            Ok(sim) => {
                for k in 0..sim.trajectory.n_outputs() {
                    proptest::prop_assert!(sim.trajectory.output(k).iter().all(|v| v.is_finite()));
                }
                proptest::prop_assert!(sim.endpoints.iter().all(|v| !v.is_infinite()));
            }
            Err(e) => {
                // A typed error that names what is wrong.
                let s = e.to_string();
                proptest::prop_assert!(!s.is_empty());
            }
        }
    }
}

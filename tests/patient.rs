//! One patient's path as `simulate()` takes it: every parameter checked against its table before
//! anything is solved, and solver failures reported as what they are.

mod common;

use cartsim::error::{Error, ParamError, SolveError};
use cartsim::model::{Model, SleModel};
use cartsim::prelude::*;
use cartsim::solve::Method;

/// Simulates the typical patient with parameter `name` set to `value` (no check on the way in,
/// as a user who fills the struct gets).
fn simulate_with(model: &SleModel, name: &str, value: f64) -> Result<Simulation, Error> {
    let mut params = model.default_params();
    assert!(params.set_by_name(name, value), "no parameter {name}");
    simulate(
        model,
        &params,
        &Covariates::typical(),
        &Regimen::mackensen_2022(),
        &SolverOptions::default(),
    )
}

#[test]
fn every_out_of_bounds_or_non_finite_parameter_is_named() {
    let model = SleModel::default();
    let mut checked = 0;
    for info in model.parameters() {
        let mut bad = vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
        bad.push(info.lower - info.lower.abs().max(1.0));
        if info.upper.is_finite() {
            bad.push(info.upper + info.upper.abs().max(1.0));
        }
        for value in bad {
            let err = simulate_with(&model, info.name, value).expect_err(info.name);
            let msg = err.to_string();
            assert!(msg.contains(info.name), "{}: {msg}", info.name);
            match err {
                Error::Param(ParamError::NotFinite { name, value: v }) => {
                    assert!(!value.is_finite(), "{msg}");
                    assert_eq!(name, info.name);
                    assert_eq!(v.to_bits(), value.to_bits());
                }
                Error::Param(ParamError::OutOfBounds {
                    name,
                    value: v,
                    lower,
                    upper,
                }) => {
                    assert!(value.is_finite(), "{msg}");
                    assert_eq!(name, info.name);
                    assert_eq!((v, lower, upper), (value, info.lower, info.upper));
                    assert!(
                        msg.contains(&format!("[{}, {}]", info.lower, info.upper)),
                        "{msg}"
                    );
                    assert!(msg.contains(&value.to_string()), "{msg}");
                }
                other => panic!("{}: unexpected error {other}", info.name),
            }
            checked += 1;
        }
    }
    assert!(checked > 4 * model.parameters().len(), "{checked} cases");
}

#[test]
fn the_reported_cases_of_the_issue_are_rejected() {
    // Accepted before: a negative proliferation rate simulated silently, and with a negative
    // memory death rate the CAR-T peak reached 2.4e77 cells/µL.
    let model = SleModel::default();
    let p = SleParams {
        effector_proliferation_per_day: -3.0,
        memory_death_per_day: -0.5,
        ..model.default_params()
    };
    let err = simulate(
        &model,
        &p,
        &Covariates::typical(),
        &Regimen::mackensen_2022(),
        &SolverOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "parameter `effector_proliferation_per_day` must lie in [0.01, 5], got -3"
        ),
        "{err}"
    );
}

#[test]
fn a_singular_rosenbrock_matrix_is_reported_as_such() {
    // The right-hand side jumps to +inf just above the start value, so the finite-difference
    // Jacobian is infinite and the iteration matrix cannot be factorised.
    let model = common::ScalarOde {
        rhs: |_, y| if y > 1.0 { f64::INFINITY } else { -y },
        y0: 1.0,
    };
    let regimen = Regimen::builder()
        .horizon(0.0, 1.0)
        .drug("inert", Amount::Mg(1.0), &[0.0], Administration::Bolus)
        .build()
        .unwrap();
    let options = SolverOptions {
        method: Method::Rosenbrock23,
        ..SolverOptions::default()
    };
    let err = simulate(&model, &(), &Covariates::typical(), &regimen, &options).unwrap_err();
    assert!(
        matches!(err, Error::Solve(SolveError::SingularMatrix { t_day }) if t_day == 0.0),
        "{err}"
    );
    assert!(
        err.to_string().contains("singular iteration matrix"),
        "{err}"
    );
}

//! Accuracy guard: speed must never silently trade accuracy. Twenty varied virtual patients at
//! the default solver tolerance against rtol = atol = 1e-10: every endpoint within 1e-4
//! (relative; absolute below 1e-6 of the unit) and every flag equal. Also the crate's own Dopri5
//! against the ode_solvers reference path.

use cartsim::cohort::Cohort;
use cartsim::prelude::*;
use cartsim::solve::Method;

fn endpoints(opts: SolverOptions) -> Vec<Vec<f64>> {
    let c = Cohort::builder(SleModel::default())
        .patients(20)
        .seed(31)
        .solver(opts)
        .build()
        .unwrap();
    c.run()
        .unwrap()
        .records
        .into_iter()
        .map(|r| r.endpoints)
        .collect()
}

fn compare(a: &[Vec<f64>], b: &[Vec<f64>], tol: f64, what: &str) {
    let info = SleModel::default().endpoint_info();
    for (pa, pb) in a.iter().zip(b) {
        for (k, (x, y)) in pa.iter().zip(pb).enumerate() {
            let name = info[k].name;
            if x.is_nan() || y.is_nan() {
                assert!(x.is_nan() && y.is_nan(), "{what}: {name}: {x} vs {y}");
                continue;
            }
            let err = (x - y).abs() / y.abs().max(1e-6);
            assert!(
                err <= tol,
                "{what}: {name}: {x} vs {y} (relative error {err:.2e})"
            );
        }
    }
}

#[test]
fn default_tolerance_is_within_1e_4_of_a_tight_reference() {
    let default = endpoints(SolverOptions::default());
    let tight = endpoints(SolverOptions {
        rtol: 1e-10,
        atol: 1e-10,
        ..SolverOptions::default()
    });
    compare(&default, &tight, 1e-4, "rtol 1e-6 vs 1e-10");
}

#[test]
fn own_dopri5_matches_the_ode_solvers_reference() {
    let own = endpoints(SolverOptions::default());
    let reference = endpoints(SolverOptions {
        method: Method::OdeSolversDopri5,
        ..SolverOptions::default()
    });
    // Same tableau, controller and steps: agreement to round-off accumulation.
    compare(&own, &reference, 1e-8, "own Dopri5 vs ode_solvers");
}

#[test]
fn rosenbrock_agrees_with_dopri5_on_the_sle_model() {
    let rb = endpoints(SolverOptions {
        method: Method::Rosenbrock23,
        rtol: 1e-7,
        atol: 1e-7,
        ..SolverOptions::default()
    });
    let tight = endpoints(SolverOptions {
        rtol: 1e-10,
        atol: 1e-10,
        ..SolverOptions::default()
    });
    compare(&rb, &tight, 2e-3, "Rosenbrock23 vs tight Dopri5");
}

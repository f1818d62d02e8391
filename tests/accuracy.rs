//! Accuracy guard: speed must never silently trade accuracy. A thousand virtual patients of a
//! fixed seed at the default solver options (Tsit5 and its tolerance schedule) against
//! rtol = atol = 1e-10: every continuous deterministic endpoint within 1e-4 (relative; absolute
//! below 1e-6 of the unit), and the count of every discrete endpoint (flags, CRS grade) and of
//! every stochastic one (relapse, extinction) identical. Also the crate's own Dopri5 against
//! the ode_solvers reference path.

mod common;

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
fn accuracy_guard_over_a_thousand_patients() {
    let a = common::accuracy(SolverOptions::default(), 1000, 77);
    assert!(
        a.max_rel_err <= 1e-4,
        "largest relative endpoint error {:.2e} ({} of patient {}) over {} patients",
        a.max_rel_err,
        a.worst.0,
        a.worst.1,
        a.patients
    );
    assert!(
        a.count_differences.is_empty(),
        "counts differ from the reference (name, count, reference): {:?}",
        a.count_differences
    );
}

/// The guard can fail: a tolerance 100× looser misses it.
#[test]
fn accuracy_guard_detects_a_loose_tolerance() {
    let loose = SolverOptions {
        rtol: 5e-5,
        atol: 5e-5,
        ..SolverOptions::default()
    };
    let a = common::accuracy(loose, 200, 77);
    assert!(a.max_rel_err > 1e-4, "{:.2e}", a.max_rel_err);
}

#[test]
fn own_dopri5_matches_the_ode_solvers_reference() {
    let own = endpoints(SolverOptions {
        method: Method::Dopri5,
        ..SolverOptions::default()
    });
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

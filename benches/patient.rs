//! One patient: solver cost per built-in model, and the right-hand side alone (the floor).
//!
//! Benchmark IDs:
//! - `patient/sle/{method}`: the typical SLE patient, Mackensen 2022 regimen, day −6 to 365,
//!   all endpoints, at the default tolerance, with the crate's Dopri5 (`dopri5`) and the
//!   ode_solvers reference (`ode_solvers`);
//! - `patient/stein`: the Stein 2019 model, day −1 to 120;
//! - `rhs/sle`: one evaluation of the SLE right-hand side on a mid-expansion state.
//!
//! `cargo bench --bench patient` (add `-- --quick` for a short run).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use cartsim::model::{Model, SleModel, SteinModel};
use cartsim::prelude::*;
use cartsim::solve::Method;
use criterion::{Criterion, criterion_group, criterion_main};

fn patient(c: &mut Criterion) {
    let model = SleModel::default();
    let params = model.default_params();
    let cov = Covariates::typical();
    let regimen = Regimen::mackensen_2022();
    let mut g = c.benchmark_group("patient");
    for (id, method) in [
        ("dopri5", Method::Dopri5),
        ("ode_solvers", Method::OdeSolversDopri5),
    ] {
        let opts = SolverOptions {
            method,
            ..SolverOptions::default()
        };
        g.bench_function(format!("sle/{id}"), |b| {
            b.iter(|| simulate(&model, black_box(&params), &cov, &regimen, &opts))
        });
    }
    let stein = SteinModel;
    let sp = stein.default_params();
    let sr = Regimen::builder()
        .horizon(-1.0, 120.0)
        .car_t(Amount::Cells(1e8), 0.0)
        .build()
        .expect("regimen");
    g.bench_function("stein", |b| {
        b.iter(|| simulate(&stein, black_box(&sp), &cov, &sr, &SolverOptions::default()))
    });
    g.finish();

    let probe = common::RhsProbe::new(&model);
    let (pt, y, seg) = (&probe.patient, probe.y, probe.segment());
    let mut dy = y;
    c.bench_function("rhs/sle", |b| {
        b.iter(|| {
            model.rhs(pt, black_box(7.3), black_box(&y), &seg, &mut dy);
            black_box(&dy);
        })
    });
}

criterion_group!(benches, patient);
criterion_main!(benches);

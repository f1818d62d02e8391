//! Cohorts: sequential vs parallel, streaming summaries vs exact, with throughput in patients/s.
//!
//! Benchmark IDs:
//! - `cohort/{seq,par}/{n}`: the default SLE cohort (seed 1, default IIV and population,
//!   Mackensen 2022 regimen), N patients, streaming summaries, records discarded;
//! - `cohort_summary/{streaming,exact}/1000`: the same 1,000 patients with both summary modes;
//! - `cohort_ci/par/200`: a short tier for CI.
//!
//! `cargo bench --bench cohort` (full tier: N = 1,000 and 10,000);
//! `cargo bench --bench cohort -- cohort_ci` (seconds).

use cartsim::cohort::{Cohort, Records};
use cartsim::prelude::*;
use cartsim::summary::SummaryMode;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn cohort(n: u64, mode: SummaryMode) -> Cohort<SleModel, { cartsim::model::sle::SLE_STATES }> {
    Cohort::builder(SleModel::default())
        .patients(n)
        .seed(1)
        .summary_mode(mode)
        .records(Records::Discard)
        .build()
        .expect("valid cohort")
}

fn full(c: &mut Criterion) {
    let mut g = c.benchmark_group("cohort");
    g.sample_size(10);
    for n in [1_000u64, 10_000] {
        let co = cohort(n, SummaryMode::Streaming { alpha: 0.005 });
        g.throughput(Throughput::Elements(n));
        g.bench_with_input(BenchmarkId::new("seq", n), &co, |b, co| {
            b.iter(|| co.run_sequential().expect("run"))
        });
        g.bench_with_input(BenchmarkId::new("par", n), &co, |b, co| {
            b.iter(|| co.run().expect("run"))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("cohort_summary");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1000));
    for (id, mode) in [
        ("streaming", SummaryMode::Streaming { alpha: 0.005 }),
        ("exact", SummaryMode::Exact),
    ] {
        let co = cohort(1000, mode);
        g.bench_function(BenchmarkId::new(id, 1000), |b| {
            b.iter(|| co.run().expect("run"))
        });
    }
    g.finish();
}

fn ci(c: &mut Criterion) {
    let mut g = c.benchmark_group("cohort_ci");
    g.sample_size(10);
    g.throughput(Throughput::Elements(200));
    let co = cohort(200, SummaryMode::Streaming { alpha: 0.005 });
    g.bench_function(BenchmarkId::new("par", 200), |b| {
        b.iter(|| co.run().expect("run"))
    });
    g.finish();
}

criterion_group!(benches, ci, full);
criterion_main!(benches);

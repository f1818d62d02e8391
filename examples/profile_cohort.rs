//! Where does a cohort's time go? Runs N patients on one thread (for profilers).
//!
//! ```text
//! cargo run --release --example profile_cohort -- 2000 [tsit5|dopri5|ode_solvers] [par]
//! perf record -g target/release/examples/profile_cohort 2000
//! ```

mod common;

use cartsim::cohort::{Cohort, Records};
use cartsim::prelude::*;
use cartsim::summary::SummaryMode;

fn main() -> std::process::ExitCode {
    common::exit_code(run())
}

fn run() -> Result<(), cartsim::Error> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let method = match std::env::args().nth(2).as_deref() {
        Some("ode_solvers") => cartsim::solve::Method::OdeSolversDopri5,
        Some("dopri5") => cartsim::solve::Method::Dopri5,
        _ => SolverOptions::default().method,
    };
    let c = Cohort::builder(SleModel::default())
        .solver(SolverOptions {
            method,
            ..SolverOptions::default()
        })
        .patients(n)
        .seed(2024)
        .records(Records::Discard)
        .summary_mode(SummaryMode::Streaming { alpha: 0.005 })
        .build()?;
    let t = std::time::Instant::now();
    // `par` as the third argument runs on all threads (e.g. for a peak-memory measurement of a
    // 1,000,000-patient streaming cohort: `/usr/bin/time -v ... 1000000 dopri5 par`).
    let r = if std::env::args().nth(3).as_deref() == Some("par") {
        c.run()?
    } else {
        c.run_sequential()?
    };
    let s = t.elapsed().as_secs_f64();
    println!(
        "{n} patients in {s:.3} s: {:.1} µs/patient, {:.0} patients/s ({} failed)",
        1e6 * s / n as f64,
        n as f64 / s,
        r.summary.failed
    );
    Ok(())
}

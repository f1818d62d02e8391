//! How does a virtual cohort of lupus patients respond to the Erlangen CAR-T regimen?
//!
//! Samples N virtual SLE patients (covariates and inter-individual variability from `seed`),
//! simulates each through the Mackensen 2022 regimen in parallel, and writes
//! `DIR/summary.json` (endpoint statistics and fractions), `DIR/patients.csv` (one row per
//! patient) and `DIR/bands.csv` (percentile bands over time).
//!
//! ```text
//! cargo run --release --example cohort -- --patients 2000 --seed 1 --out out/cohort
//! ```

use std::path::PathBuf;
use std::time::Instant;

use cartsim::cohort::Cohort;
use cartsim::io;
use cartsim::prelude::*;
use clap::Parser;

/// Simulate a virtual SLE cohort treated with CD19 CAR-T.
#[derive(Parser, Debug)]
struct Args {
    /// Number of virtual patients.
    #[arg(long, default_value_t = 1000)]
    patients: u64,
    /// Seed of the virtual population.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output directory.
    #[arg(long, default_value = "out/cohort")]
    out: PathBuf,
}

fn main() -> Result<(), cartsim::Error> {
    let args = Args::parse();
    let cohort = Cohort::builder(SleModel::default())
        .patients(args.patients)
        .seed(args.seed)
        .build()?;
    let t0 = Instant::now();
    let result = cohort.run()?;
    let secs = t0.elapsed().as_secs_f64();
    io::write_summary_json(&args.out.join("summary.json"), &cohort, &result)?;
    io::write_patients_csv(&args.out.join("patients.csv"), &cohort, &result)?;
    io::write_bands_csv(&args.out.join("bands.csv"), &cohort, &result)?;

    println!(
        "{} patients (seed {}) in {:.2} s = {:.0} patients/s on {} threads; {} failed, {} stiff retries",
        args.patients,
        args.seed,
        secs,
        args.patients as f64 / secs,
        rayon::current_num_threads(),
        result.summary.failed,
        result.stiff_retries
    );
    let info = cohort.model().endpoint_info();
    println!(
        "{:<36} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "endpoint", "mean", "sd", "p05", "p50", "p95"
    );
    for (e, s) in info.iter().zip(result.summary.endpoint_stats()) {
        if e.kind == cartsim::model::EndpointKind::Continuous {
            println!(
                "{:<36} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}  {}",
                e.name, s.mean, s.sd, s.p05, s.p50, s.p95, e.unit
            );
        }
    }
    for (name, f) in result.summary.fractions(info) {
        println!("{name:<36} {:>9.1}%", 100.0 * f);
    }
    println!("wrote {}", args.out.display());
    Ok(())
}

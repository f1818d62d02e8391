//! How does a virtual cohort of lupus patients respond to CD19 CAR-T?
//!
//! Samples N virtual SLE patients (covariates and inter-individual variability from `seed`),
//! simulates each through the regimen in parallel, and writes into `DIR`:
//! `summary.json` (endpoint statistics, fractions, targets), `patients.csv` (one row per
//! patient), `bands.csv` (percentile bands over time, long format), `bands.png`/`bands.svg`
//! (CAR-T, B cells, anti-dsDNA and SLEDAI bands) and `scenario.toml` (the scenario that was
//! run, for reproduction). With `--nonmem FILE` it also writes a NONMEM-style simulated
//! dataset.
//!
//! Without `--scenario` it runs the Erlangen study (Mackensen 2022, every default);
//! `--patients` and `--seed` override the scenario's values. Bad input (an unknown key, a
//! negative dose, a malformed number, …) stops the run before any file is written, with a
//! message naming the key and line, and exit code 1.
//!
//! ```text
//! cargo run --release --example cohort -- --patients 2000 --seed 1 --out out/cohort
//! cargo run --release --example cohort -- --scenario scenarios/kyv101_flat.toml --out out/kyv101 --nonmem out/kyv101/nonmem.csv
//! ```

mod common;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cartsim::cohort::{Cohort, CohortResult};
use cartsim::io::{self, nonmem, scenario::Scenario};
use cartsim::model::{Model, SleModel};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Simulate a virtual SLE cohort treated with CD19 CAR-T.
#[derive(Parser, Debug)]
#[command(after_help = "Without --scenario: the Erlangen study \
    (scenarios/mackensen_2022.toml), 1000 patients, seed 1.")]
struct Args {
    #[command(flatten)]
    study: common::ScenarioArgs,
    /// Output directory.
    #[arg(long, default_value = "out/cohort")]
    out: PathBuf,
    /// Also write a NONMEM-style simulated dataset (`ID,TIME,DV,AMT,EVID,MDV,CMT,…`) here.
    #[arg(long)]
    nonmem: Option<PathBuf>,
}

fn main() -> ExitCode {
    common::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<(), cartsim::Error> {
    // Everything is validated before the first file is created.
    let scenario = args.study.load(Scenario::mackensen_2022)?;
    let cohort = scenario.cohort()?;
    let nonmem_options = match &args.nonmem {
        Some(_) => Some(scenario.nonmem_options()?),
        None => None,
    };
    let scenario_toml = scenario.to_toml_string()?;

    let t0 = Instant::now();
    let result = run_with_progress(&cohort)?;
    let secs = t0.elapsed().as_secs_f64();

    let written = io::write_cohort_outputs(&args.out, &cohort, &result)?;
    let scenario_path = args.out.join("scenario.toml");
    io::write_atomic(&scenario_path, |w| w.write_all(scenario_toml.as_bytes()))?;

    let n = cohort.n_patients();
    if let Some(title) = &scenario.title {
        println!("{title}");
    }
    println!(
        "{n} patients (seed {}) in {secs:.2} s = {:.0} patients/s on {} threads; {} failed, {} stiff retries",
        cohort.seed(),
        n as f64 / secs,
        rayon::current_num_threads(),
        result.summary.failed,
        result.stiff_retries
    );
    print_summary(&cohort, &result);
    for p in written.iter().chain(std::iter::once(&scenario_path)) {
        println!("wrote {}", p.display());
    }
    if let (Some(path), Some(opts)) = (&args.nonmem, nonmem_options) {
        let s = nonmem::write_nonmem_csv(path, &cohort, &opts)?;
        println!(
            "wrote {} ({} patients, {} records; {} left out after failing); CMT: {}",
            path.display(),
            s.patients,
            s.records,
            s.failures.len(),
            nonmem::cmt_table(cohort.model())
                .iter()
                .map(|(c, name)| format!("{c}={name}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Runs the cohort with a progress bar (patients/s, ETA) when stderr is a terminal and the run
/// is expected to take more than about two seconds; the result is bit-identical to
/// `cohort.run()` (shards merge exactly).
fn run_with_progress(
    cohort: &Cohort<SleModel, { cartsim::model::sle::SLE_STATES }>,
) -> Result<CohortResult, cartsim::Error> {
    let n = cohort.n_patients();
    // About 1,000 patients/s per thread on the development machine.
    let expected_s = n as f64 / (1000.0 * rayon::current_num_threads() as f64);
    if !std::io::stderr().is_terminal() || expected_s < 2.0 {
        return cohort.run();
    }
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} patients  {per_sec}  ETA {eta}",
    )
    .map_err(|e| cartsim::Error::Input(format!("progress bar template: {e}")))?;
    let bar = ProgressBar::new(n).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    // Chunks of at least 2,048 patients keep the per-shard overhead (summary set-up and
    // merge) small; the merged result is bit-identical to one run.
    let chunk = (n / 50).clamp(2048, 16_384);
    let mut shards = Vec::new();
    let mut start = 0;
    while start < n {
        let end = (start + chunk).min(n);
        let base = start;
        shards.push(
            cohort.run_range_with_progress(start..end, &|p| bar.set_position(base + p.done))?,
        );
        start = end;
    }
    bar.finish_and_clear();
    CohortResult::merge(shards)
}

fn print_summary(
    cohort: &Cohort<SleModel, { cartsim::model::sle::SLE_STATES }>,
    result: &CohortResult,
) {
    print!(
        "{}",
        io::summary_table(cohort.model().endpoint_info(), &result.summary)
    );
}

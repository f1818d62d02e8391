//! Which CAR-T dose and which lymphodepletion give remission without severe CRS?
//!
//! Runs the same virtual SLE patients (common random numbers: same seed, same ids) through
//! every arm of a dose exploration — by default the Erlangen schedule over CAR-T doses 1e5, 3e5,
//! 1e6 and 3e6 cells/kg × lymphodepletion Flu 25/Cy 1000, Flu 25/Cy 500 and none — and writes
//! `DIR/dose_exploration.csv` (one row per arm: label, CAR-T dose, lymphodepletion, endpoint
//! statistics, fractions, target attainment) and `DIR/dose_response.png`/`.svg` (P(remission
//! at month 3), P(CRS grade ≥ 2) and median B-cell reappearance day against the dose, one line
//! per lymphodepletion).
//!
//! With `--scenario FILE` the cohort (population, Ω, targets, …) and the arms come from the
//! file's `[exploration]` table (see `scenarios/dose_finding.toml`). Bad input stops the run
//! before any file is written, with a message naming the key and line, and exit code 1.
//!
//! Failed patients (scenario `on_failure = "continue"`) are listed in `DIR/failures.csv` (id,
//! arm, stage, error, sampled parameters) and counted on stderr with the first ids; an arm with
//! more than `--max-failed-fraction` (default 1%) of its patients failed, or all of them, ends
//! the run with exit code 1 after the files are written, as in the `cohort` example.
//!
//! ```text
//! cargo run --release --example dose_exploration -- --patients 200 --seed 1 --out out/dose
//! cargo run --release --example dose_exploration -- --scenario scenarios/dose_finding.toml --out out/dose
//! ```

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use cartsim::cohort::explore::{Arm, explore, flu_cy_grid};
use cartsim::io::{self, scenario::Scenario};
use clap::Parser;

/// Explore CAR-T doses and lymphodepletion regimens on one virtual SLE population.
#[derive(Parser, Debug)]
#[command(
    after_help = "The scenario file may have an [exploration] table of arms. Without \
    --scenario: the Erlangen cohort, 200 patients per arm, seed 1, and the built-in grid."
)]
struct Args {
    #[command(flatten)]
    study: common::ScenarioArgs,
    /// Output directory.
    #[arg(long, default_value = "out/dose_exploration")]
    out: PathBuf,
}

fn main() -> ExitCode {
    common::remove_outputs_on_interrupt();
    common::exit_code(run(common::parse_args()))
}

/// The built-in grid: CAR-T cells/kg × (fludarabine mg/m²/day, cyclophosphamide mg/m²).
fn default_arms() -> Vec<Arm> {
    flu_cy_grid(
        &[1e5, 3e5, 1e6, 3e6],
        &[(25.0, 1000.0), (25.0, 500.0), (0.0, 0.0)],
    )
}

fn run(args: Args) -> Result<(), cartsim::Error> {
    // Everything is validated before the first file is created.
    let scenario = args.study.load(|| Scenario {
        patients: 200,
        ..Scenario::mackensen_2022()
    })?;
    let cohort = scenario.cohort()?;
    let mut arms = scenario.arms()?;
    if arms.is_empty() {
        arms = default_arms();
    }
    // The output folder is checked (created, locked, writable) before simulating; its files
    // appear together when every one is written (cartsim::io::output_set).
    let set = io::OutputSet::create(&args.out)?;

    let t0 = Instant::now();
    let results = explore(&cohort, &arms)?;
    let secs = t0.elapsed().as_secs_f64();

    let model = cohort.model();
    let csv_path = args.out.join("dose_exploration.csv");
    io::write_exploration_csv(&set.path("dose_exploration.csv")?, model, &arms, &results)?;
    let points = cartsim::plot::dose_response_points(model, &arms, &results);
    #[cfg(feature = "plot")]
    let figures = {
        let title = format!(
            "Dose response: {} virtual patients per arm (seed {}), same patients in every arm",
            cohort.n_patients(),
            cohort.seed()
        );
        let mut written = Vec::new();
        for name in ["dose_response.png", "dose_response.svg"] {
            cartsim::plot::draw_dose_response(&set.path(name)?, &title, &points)?;
            written.push(args.out.join(name));
        }
        written
    };
    #[cfg(not(feature = "plot"))]
    let figures: Vec<PathBuf> = Vec::new();
    let failed = results.iter().any(|r| !r.result.failures.is_empty());
    if failed {
        io::write_exploration_failures_csv(&set.path("failures.csv")?, &results)?;
    }
    set.commit()?;

    println!(
        "{} arms × {} patients (seed {}) in {secs:.2} s on {} threads",
        arms.len(),
        cohort.n_patients(),
        cohort.seed(),
        rayon::current_num_threads()
    );
    println!(
        "{:<36} {:>14} {:>12} {:>22}",
        "arm", "remission m3", "CRS >= 2", "B reappearance p50"
    );
    for (p, r) in points.iter().zip(&results) {
        // The median over all patients is undefined (NaN) when most never reappear (or never
        // deplete).
        let reappear = if p.b_reappearance_median_day.is_nan() {
            "n/a".to_string()
        } else {
            format!("{:.0} day", p.b_reappearance_median_day)
        };
        println!(
            "{:<36} {:>13.1}% {:>11.1}% {:>22}  ({} failed)",
            p.label,
            100.0 * p.remission_month3,
            100.0 * p.crs_ge2,
            reappear,
            r.result.summary.failed
        );
    }
    println!("wrote {}", csv_path.display());
    for p in &figures {
        println!("wrote {}", p.display());
    }
    let failures_csv = args.out.join("failures.csv");
    if failed {
        println!("wrote {}", failures_csv.display());
    }
    common::report_arm_failures(&results, &failures_csv);
    cartsim::cohort::explore::check_failures(&results, args.study.max_failed_fraction)
}

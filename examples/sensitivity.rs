//! Which parameters decide B-cell return, CRS grade ≥ 2 and relapse?
//!
//! A two-stage global sensitivity analysis of the SLE model under the Erlangen regimen, each
//! design point an inner virtual cohort of the same patients (common random numbers):
//!
//! 1. **Morris screening** of the typical values of 14 kinetic parameters and the CAR-T dose,
//!    each over ×/÷ 2 around its default (log scale; the dose over 1e5–1e7 cells/kg), on three
//!    quantities: median day of B-cell return, P(CRS grade ≥ 2), P(relapse within the year);
//! 2. **Sobol' indices** (first and total order, bootstrap 95% intervals) for the top factors
//!    of the screen (taken in turn from each quantity's μ* ranking).
//!
//! Writes `DIR/sensitivity.csv` (tidy: `quantity,factor,method,index,estimate,ci_low,ci_high`,
//! both stages), `DIR/morris.png`/`.svg` and `DIR/sobol.png`/`.svg` (tornado charts), prints
//! the rankings, the run time and the number of model evaluations (inner cohorts and patient
//! solves). With `--scenario FILE` the study of the file's `[sensitivity]` table runs instead
//! (one stage; see `scenarios/sensitivity.toml`).
//!
//! ```text
//! cargo run --release --example sensitivity -- --out out/sensitivity
//! cargo run --release --example sensitivity -- --patients 200 --trajectories 40 --samples 512 --out out/sensitivity
//! cargo run --release --example sensitivity -- --scenario scenarios/sensitivity.toml --out out/sensitivity
//! ```

mod common;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cartsim::calibrate::Statistic;
use cartsim::io::scenario::Scenario;
use cartsim::model::sle::SLE_STATES;
use cartsim::model::{Model, SleModel};
use cartsim::sensitivity::{
    CohortStudy, CohortStudyResult, Factor, IndexKind, Method, Progress, Quantity,
    SensitivityResult,
};
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};

/// Screen the SLE model's parameters with Morris, then Sobol' indices for the top factors.
#[derive(Parser, Debug)]
#[command(
    after_help = "Without --scenario: the Erlangen cohort (Mackensen 2022 regimen, SLE \
    population and IIV), 100 patients per inner cohort, seed 1; about a minute on 2 cores."
)]
struct Args {
    #[command(flatten)]
    study: common::ScenarioArgs,
    /// Morris trajectories (stage 1).
    #[arg(long, default_value_t = 20)]
    trajectories: usize,
    /// Sobol' base samples (stage 2; a power of two).
    #[arg(long, default_value_t = 256)]
    samples: usize,
    /// Factors carried from the screen to the Sobol' stage.
    #[arg(long, default_value_t = 5)]
    top: usize,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 1000)]
    bootstrap: usize,
    /// Output directory.
    #[arg(long, default_value = "out/sensitivity")]
    out: PathBuf,
}

type SleStudy = CohortStudy<SleModel, SLE_STATES>;

fn main() -> ExitCode {
    common::exit_code(run(Args::parse()))
}

/// The screened factors: typical value ×/÷ 2 around the default (log scale), and the dose.
const SCREENED: &[&str] = &[
    "effector_proliferation_per_day",
    "expansion_half_saturation_mcells",
    "homeostatic_boost_max",
    "potential_half_divisions",
    "effector_death_per_day",
    "effector_to_memory_per_day",
    "memory_death_per_day",
    "max_kill_per_car_t_per_day",
    "kill_half_saturation_mcells",
    "maturation_delay_day",
    "autoreactive_growth_per_day",
    "b_lineage_ld_sensitivity",
    "il6_production_pg_per_ml_per_day_per_mcell",
    "il6_clearance_per_day",
];

fn quantities() -> Vec<Quantity> {
    vec![
        Quantity::new("b_cell_reappearance_day", Statistic::Quantile(0.5)),
        Quantity::new("crs_grade_ge2", Statistic::Fraction),
        Quantity::new("relapse", Statistic::Fraction),
    ]
}

fn run(args: Args) -> Result<(), cartsim::Error> {
    // Everything is validated before the first file is created.
    let scenario = args.study.load(|| Scenario {
        patients: 100,
        ..Scenario::mackensen_2022()
    })?;
    let t0 = Instant::now();
    let mut stages: Vec<(&str, CohortStudyResult)> = Vec::new();
    if let Some(study) = SleStudy::from_scenario(&scenario)? {
        let name = study.study().method().name();
        stages.push((name, run_stage(&study, name)?));
    } else {
        let cohort = scenario.cohort()?;
        let model = cohort.model();
        let mut factors: Vec<Factor> = SCREENED
            .iter()
            .map(|&name| {
                let k = model
                    .parameters()
                    .iter()
                    .position(|p| p.name == name)
                    .ok_or_else(|| cartsim::Error::Input(format!("no parameter `{name}`")))?;
                let v = cohort.typical_values()[k];
                Ok(Factor::log(name, v / 2.0, v * 2.0))
            })
            .collect::<Result<_, cartsim::Error>>()?;
        factors.push(Factor::log("dose:car_t", 1e5, 1e7));
        let morris = CohortStudy::builder(cohort.clone())
            .factors(factors.clone())
            .method(Method::morris(args.trajectories))
            .bootstrap(args.bootstrap)
            .seed(scenario.seed);
        let morris = quantities()
            .into_iter()
            .fold(morris, |b, q| b.quantity(q))
            .build()?;
        // Validate the second stage's settings before simulating.
        if args.top == 0 || args.top > factors.len() {
            return Err(cartsim::Error::Input(format!(
                "--top must lie in 1..={}, got {}",
                factors.len(),
                args.top
            )));
        }
        let screen = run_stage(&morris, "morris")?;
        let top = top_factors(&screen.result, &morris, args.top);
        let sobol = CohortStudy::builder(cohort)
            .factors(factors.into_iter().filter(|f| top.contains(&f.name)))
            .method(Method::sobol(args.samples))
            .bootstrap(args.bootstrap)
            .seed(scenario.seed);
        let sobol = quantities()
            .into_iter()
            .fold(sobol, |b, q| b.quantity(q))
            .build()?;
        stages.push(("morris", screen));
        stages.push(("sobol", run_stage(&sobol, "sobol")?));
    }
    let secs = t0.elapsed().as_secs_f64();

    // Outputs: one tidy CSV for both stages, one figure per stage.
    let mut all = stages[0].1.result.clone();
    for (_, s) in &stages[1..] {
        all.indices.extend(s.result.indices.iter().cloned());
        all.evaluations += s.result.evaluations;
    }
    all.write_csv(&args.out.join("sensitivity.csv"))?;
    let mut written = vec!["sensitivity.csv".to_string()];
    #[cfg(feature = "plot")]
    for (name, s) in &stages {
        let title = format!(
            "{} sensitivity of the SLE model: {} inner cohorts of {} patients (seed {})",
            if *name == "morris" {
                "Morris"
            } else {
                "Sobol'"
            },
            s.cohort_simulations,
            scenario.patients,
            scenario.seed
        );
        for ext in ["png", "svg"] {
            let file = format!("{name}.{ext}");
            cartsim::plot::draw_sensitivity(&args.out.join(&file), &title, &s.result.panels())?;
            written.push(file);
        }
    }

    for (name, s) in &stages {
        print_stage(name, s);
    }
    let cohorts: u64 = stages.iter().map(|(_, s)| s.cohort_simulations).sum();
    let solves: u64 = stages.iter().map(|(_, s)| s.patient_solves).sum();
    let failed: u64 = stages.iter().map(|(_, s)| s.failed_patients).sum();
    println!(
        "\n{cohorts} model evaluations (inner cohorts of {} patients), {solves} patient solves \
         ({failed} failed), in {secs:.1} s on {} threads ({:.0} patients/s)",
        scenario.patients,
        rayon::current_num_threads(),
        solves as f64 / secs.max(1e-9)
    );
    println!("wrote {} in {}", written.join(", "), args.out.display());
    Ok(())
}

/// Runs one stage with a progress bar (inner cohorts/s, ETA) when stderr is a terminal and the
/// stage is expected to take more than about two seconds.
fn run_stage(study: &SleStudy, name: &str) -> Result<CohortStudyResult, cartsim::Error> {
    let total = study.study().evaluations() as u64;
    let patients = total * study.cohort().n_patients();
    // About 1,000 patients/s per thread on the development machine.
    let expected_s = patients as f64 / (1000.0 * rayon::current_num_threads() as f64);
    if !std::io::stderr().is_terminal() || expected_s < 2.0 {
        return study.run();
    }
    let style = ProgressStyle::with_template(&format!(
        "{{spinner}} {name} [{{elapsed_precise}}] {{wide_bar}} {{pos}}/{{len}} cohorts  {{per_sec}}  ETA {{eta}}"
    ))
    .map_err(|e| cartsim::Error::Input(format!("progress bar template: {e}")))?;
    let bar = ProgressBar::new(total).with_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    let update = |p: Progress| bar.set_position(p.done);
    let out = study.run_with_progress(Some(&update));
    bar.finish_and_clear();
    out
}

/// The `k` factors taken in turn from each quantity's μ* ranking (skipping repeats).
fn top_factors(screen: &SensitivityResult, study: &SleStudy, k: usize) -> Vec<String> {
    let rankings: Vec<Vec<(&str, f64)>> = study
        .study()
        .quantities()
        .iter()
        .map(|q| {
            screen
                .ranking(q, IndexKind::MuStar)
                .into_iter()
                .filter(|(_, v)| *v > 0.0)
                .collect()
        })
        .collect();
    let mut top: Vec<String> = Vec::new();
    let depth = rankings.iter().map(Vec::len).max().unwrap_or(0);
    'outer: for rank in 0..depth {
        for r in &rankings {
            if let Some((f, _)) = r.get(rank) {
                if !top.iter().any(|t| t == f) {
                    top.push(f.to_string());
                    if top.len() == k {
                        break 'outer;
                    }
                }
            }
        }
    }
    // Quantities with no effect at all (e.g. no relapse in any cohort): fill from the list.
    for f in study.study().factors() {
        if top.len() >= k {
            break;
        }
        if !top.contains(&f.name) {
            top.push(f.name.clone());
        }
    }
    top
}

fn print_stage(name: &str, s: &CohortStudyResult) {
    let r = &s.result;
    let (index, other, header) = if name == "morris" {
        (
            IndexKind::MuStar,
            IndexKind::Sigma,
            "mu_star [95% CI]            sigma",
        )
    } else {
        (
            IndexKind::Total,
            IndexKind::First,
            "ST [95% CI]                 S1 [95% CI]",
        )
    };
    println!(
        "\n== {} ({} evaluations, {} patient solves) ==",
        if name == "morris" {
            "Morris screening"
        } else {
            "Sobol' indices"
        },
        s.cohort_simulations,
        s.patient_solves
    );
    let mut quantities: Vec<&str> = Vec::new();
    for e in &r.indices {
        if !quantities.contains(&e.quantity.as_str()) {
            quantities.push(&e.quantity);
        }
    }
    for q in quantities {
        println!("\n{q}\n  {:<44} {header}", "factor");
        for (f, _) in r.ranking(q, index) {
            let (Some(a), Some(b)) = (
                r.get(q, f, &index.to_string()),
                r.get(q, f, &other.to_string()),
            ) else {
                continue;
            };
            println!(
                "  {f:<44} {:>8.4} [{:>8.4}, {:>8.4}]   {:>8.4}{}",
                a.estimate,
                a.ci_low,
                a.ci_high,
                b.estimate,
                if name == "morris" {
                    String::new()
                } else {
                    format!(" [{:>7.4}, {:>7.4}]", b.ci_low, b.ci_high)
                }
            );
        }
    }
}

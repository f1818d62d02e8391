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
//! The files form one output set (`cartsim::io::output_set`): `DIR` and the `--nonmem` file are
//! checked before anything is simulated, everything is written into a staging folder beside
//! `DIR` and published with one rename (an earlier set in `DIR` is replaced whole, with
//! `manifest.json` listing sizes and checksums); a second run into `DIR` is refused while the
//! first runs; Ctrl-C or an error leaves the earlier `DIR` as it was. Rows of `patients.csv`
//! are streamed to disk, so memory does not grow with the cohort. Failed patients (scenario
//! `on_failure = "continue"`) are listed in `DIR/failures.csv` and on stderr; more than
//! `--max-failed-fraction` (default 1%) of them, or all, end the run with exit code 1.
//!
//! ```text
//! cargo run --release --example cohort -- --patients 2000 --seed 1 --out out/cohort
//! cargo run --release --example cohort -- --scenario scenarios/kyv101_flat.toml --out out/kyv101 --nonmem out/kyv101/nonmem.csv
//! ```

mod common;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use cartsim::cohort::{Cohort, CohortResult, Records};
use cartsim::io::{self, OutputSet, nonmem, scenario::Scenario};
use cartsim::model::{Model, SleModel};
use cartsim::shard::run_range_chunked;
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
    common::remove_outputs_on_interrupt();
    common::exit_code(run(common::parse_args()))
}

type Sle = Cohort<SleModel, { cartsim::model::sle::SLE_STATES }>;

fn run(args: Args) -> Result<(), cartsim::Error> {
    // Everything is validated before the first file is created.
    let scenario = args.study.load(Scenario::mackensen_2022)?;
    let cohort = scenario.cohort()?;
    let nonmem_options = match &args.nonmem {
        Some(_) => Some(scenario.nonmem_options()?),
        None => None,
    };
    let scenario_toml = scenario.to_toml_string()?;
    // Every output path is checked (created, locked, writable) before simulating.
    let mut set = OutputSet::create(&args.out)?;
    let nonmem_stage = match &args.nonmem {
        Some(p) => Some(set.file(p)?),
        None => None,
    };

    let t0 = Instant::now();
    let result = run_streaming(&cohort, &set)?;
    let secs = t0.elapsed().as_secs_f64();

    let mut written = io::write_cohort_files(&set, &cohort, &result, false)?;
    if cohort.records() == Records::Keep {
        written.insert(1, "patients.csv");
    }
    io::write_atomic(&set.path("scenario.toml")?, |w| {
        w.write_all(scenario_toml.as_bytes())
    })?;
    written.push("scenario.toml");
    let nonmem_summary = match (&nonmem_stage, &nonmem_options) {
        (Some(stage), Some(opts)) => Some(nonmem::write_nonmem_csv(stage, &cohort, opts)?),
        _ => None,
    };
    set.commit()?;

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
    for f in &written {
        println!("wrote {}", args.out.join(f).display());
    }
    if let (Some(path), Some(s)) = (&args.nonmem, nonmem_summary) {
        println!(
            "wrote {} ({} patients, {} records; {} left out after failing, see failures.csv); CMT: {}",
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
    common::report_failures(&result, &args.out.join("failures.csv"));
    result.check_failures(args.study.max_failed_fraction)
}

/// Runs the cohort in chunks, streaming each chunk's rows of `patients.csv` into the output set
/// (memory does not grow with the cohort), with a progress bar (patients/s, ETA) when stderr is
/// a terminal and the run is expected to take more than about two seconds. Summaries merge
/// exactly, so the result is bit-identical to `cohort.run()` (without records). A scenario with
/// `records = false` gets no `patients.csv`.
fn run_streaming(cohort: &Sle, set: &OutputSet) -> Result<CohortResult, cartsim::Error> {
    let n = cohort.n_patients();
    if cohort.records() == Records::Discard {
        return cohort.run();
    }
    let path = set.path("patients.csv")?;
    let io_err = |source| cartsim::Error::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::File::create(&path).map_err(io_err)?;
    let mut w = std::io::BufWriter::new(file);
    io::write_csv_record(&mut w, &io::patients_header(cohort)).map_err(io_err)?;
    // About 1,000 patients/s per thread on the development machine.
    let expected_s = n as f64 / (1000.0 * rayon::current_num_threads() as f64);
    let bar = if std::io::stderr().is_terminal() && expected_s >= 2.0 {
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} patients  {per_sec}  ETA {eta}",
        )
        .map_err(|e| cartsim::Error::Input(format!("progress bar template: {e}")))?;
        let bar = ProgressBar::new(n).with_style(style);
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    } else {
        None
    };
    // Chunks of at least 2,048 patients keep the per-chunk overhead (summary set-up and
    // merge) small.
    let chunk = (n / 50).clamp(2048, 16_384);
    let result = run_range_chunked(cohort, 0..n, chunk, &mut |records| {
        io::write_patient_rows(&mut w, records).map_err(io_err)?;
        if let (Some(bar), Some(last)) = (&bar, records.last()) {
            bar.set_position(last.id + 1);
        }
        Ok(())
    })?;
    w.flush().map_err(io_err)?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(result)
}

fn print_summary(cohort: &Sle, result: &CohortResult) {
    print!(
        "{}",
        io::summary_table(cohort.model().endpoint_info(), &result.summary)
    );
}

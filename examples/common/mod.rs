//! Shared by the examples (each includes this file as `mod common;`): the scenario options the
//! cohort examples take, how every example parses its command line, cleans up on Ctrl-C,
//! reports failed patients, and ends.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cartsim::cohort::CohortResult;
use cartsim::cohort::explore::ArmResult;
use cartsim::io::scenario::Scenario;

/// Where the study comes from: a scenario file, with the cohort size and seed overridable.
#[derive(clap::Args, Debug)]
pub struct ScenarioArgs {
    /// Scenario file (TOML); default: the example's built-in study (see its help text).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Number of virtual patients (overrides the scenario).
    #[arg(long)]
    pub patients: Option<u64>,
    /// Seed of the virtual population (overrides the scenario; default 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Largest fraction of failed patients (scenario `on_failure = "continue"`) with which the
    /// run still exits 0; with more, it writes its files (failures.csv lists the failed
    /// patients) and exits 1. A run in which every patient failed always exits 1.
    #[arg(long, default_value_t = DEFAULT_MAX_FAILED_FRACTION, value_name = "FRACTION")]
    pub max_failed_fraction: f64,
}

/// Default of `--max-failed-fraction`: 1% of the patients.
pub const DEFAULT_MAX_FAILED_FRACTION: f64 = 0.01;

impl ScenarioArgs {
    /// The scenario file if one was given, else `default`, with the overrides applied.
    pub fn load(&self, default: impl FnOnce() -> Scenario) -> Result<Scenario, cartsim::Error> {
        cartsim::cohort::check_failed_fraction_limit(self.max_failed_fraction).map_err(|_| {
            cartsim::Error::Input(format!(
                "--max-failed-fraction must lie in [0, 1], got {}",
                self.max_failed_fraction
            ))
        })?;
        let mut scenario = match &self.scenario {
            Some(path) => Scenario::from_path(path)?,
            None => default(),
        };
        if let Some(n) = self.patients {
            scenario.patients = n;
        }
        if let Some(s) = self.seed {
            scenario.seed = s;
        }
        Ok(scenario)
    }
}

/// Parses the command line; on a malformed one prints clap's message and exits with status 1
/// (`--help` and `--version` exit 0), as the README promises for bad input.
pub fn parse_args<A: clap::Parser>() -> A {
    match A::try_parse() {
        Ok(a) => a,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    }
}

/// On SIGINT or SIGTERM, removes the staging files of unfinished output sets (the targets
/// keep their earlier content; a commit in progress finishes first) and exits with status 130.
pub fn remove_outputs_on_interrupt() {
    let _ = ctrlc::set_handler(|| {
        let removed = cartsim::io::output_set::remove_incomplete_outputs();
        if removed > 0 {
            eprintln!("interrupted: unfinished output files removed, earlier outputs unchanged");
        } else {
            eprintln!("interrupted");
        }
        std::process::exit(130);
    });
}

/// One line on stderr when patients failed: how many, the first ids, where they are listed.
pub fn report_failures(result: &CohortResult, failures_csv: &Path) {
    let ids = result.failures.iter().map(|f| f.id.to_string());
    report_failed(
        result.summary.failed,
        result.patients(),
        "",
        ids,
        failures_csv,
    );
}

/// [`report_failures`] for a dose exploration: the count over all arms, the first failed ids
/// with their arm.
pub fn report_arm_failures(results: &[ArmResult], failures_csv: &Path) {
    let failed = results.iter().map(|r| r.result.summary.failed).sum();
    let patients = results.iter().map(|r| r.result.patients()).sum();
    let arms = results
        .iter()
        .filter(|r| r.result.summary.failed > 0)
        .count();
    let ids = results.iter().flat_map(|r| {
        r.result
            .failures
            .iter()
            .map(move |f| format!("{} in `{}`", f.id, r.label))
    });
    let where_ = format!(" in {arms} of {} arms", results.len());
    report_failed(failed, patients, &where_, ids, failures_csv);
}

fn report_failed(
    failed: u64,
    patients: u64,
    where_: &str,
    ids: impl Iterator<Item = String>,
    failures_csv: &Path,
) {
    if failed == 0 {
        return;
    }
    let ids: Vec<String> = ids.take(5).collect();
    let more = if failed > ids.len() as u64 {
        ", …"
    } else {
        ""
    };
    eprintln!(
        "warning: {failed} of {patients} patients failed{where_} (ids {}{more}); causes and \
         parameters in {}",
        ids.join(", "),
        failures_csv.display()
    );
}

/// The exit code of a run: success, or the error's message on stderr and failure.
pub fn exit_code(result: Result<(), cartsim::Error>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

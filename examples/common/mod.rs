//! Shared by the cohort examples (each includes this file as `mod common;`): the scenario options
//! they all take, and how they end.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::ExitCode;

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
}

impl ScenarioArgs {
    /// The scenario file if one was given, else `default`, with the overrides applied.
    pub fn load(&self, default: impl FnOnce() -> Scenario) -> Result<Scenario, cartsim::Error> {
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

//! Scenario files: a whole virtual study — cohort size and seed, regimen, covariate
//! distributions, inter-individual variability, typical-parameter overrides, solver and summary
//! settings, targets, NONMEM export and dose-exploration arms — in one TOML file, so that a
//! modeler changes a dose, a lymphodepletion regimen, an Ω or a covariate distribution without
//! recompiling.
//!
//! Every table rejects unknown keys, and every value is checked by the same builders as the
//! Rust API when the file is read. Errors name the key and the line:
//!
//! ```text
//! scenario `my.toml`, line 14, column 1, key `regimen.doses[2].amount`: dose 4 (`car_t`): amount must be finite and > 0, got -1
//!     14 | amount = -1.0
//! ```
//!
//! A minimal file (everything not given takes the defaults of [`Cohort::builder`]):
//!
//! ```
//! use cartsim::io::scenario::Scenario;
//!
//! let scenario = Scenario::from_toml_str(r#"
//!     patients = 50
//!     seed = 7
//!
//!     [regimen]
//!     start_day = -8.0
//!
//!     [[regimen.doses]]
//!     input = "fludarabine"
//!     amount = 30.0
//!     unit = "mg/m2"
//!     times_day = [-7.0, -6.0, -5.0]
//!     infusion_duration_h = 0.5
//!
//!     [[regimen.doses]]
//!     input = "car_t"
//!     amount = 1e8
//!     unit = "cells"
//!     times_day = [0.0]
//! "#)?;
//! let cohort = scenario.cohort()?;
//! assert_eq!(cohort.n_patients(), 50);
//! assert_eq!(cohort.regimen().doses().len(), 4);
//! # Ok::<(), cartsim::Error>(())
//! ```
//!
//! The shipped files `scenarios/mackensen_2022.toml` (every default spelled out),
//! `scenarios/kyv101_flat.toml` and `scenarios/dose_finding.toml` document every key.
//!
//! Inside: the file format (one serde type per table), the table → builder mapping, and the
//! location of errors (key path, line, column) are separate modules; this one reads, writes
//! and builds.

mod build;
mod format;
mod locate;
mod sensitivity;

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use self::format::{
    ArmSpec, DefinitionsSpec, DistSpec, DoseSpec, DoseUnit, ExplorationSpec, IivPreset, IivSpec,
    ModeSpec, NonmemSpec, OpSpec, PopulationPreset, PopulationSpec, ProductSpec, RegimenPreset,
    RegimenSpec, SolverSpec, SummarySpec, TargetSpec,
};
use self::locate::KeyPath;
pub use self::sensitivity::{
    FactorSpec, QuantitySpec, ScaleSpec, SensitivityMethod, SensitivitySpec, StatisticSpec,
};
use crate::cohort::explore::Arm;
use crate::cohort::{Cohort, OnFailure};
use crate::error::{Error, ScenarioError};
#[cfg(doc)]
use crate::error::{ParamError, RegimenError, SolveError, SpecError};
use crate::io::nonmem::NonmemOptions;
use crate::model::SleModel;
#[cfg(doc)]
use crate::model::sle::SleDefinitions;
use crate::model::sle::{DEFAULT_OMEGA, SLE_STATES};
use crate::regimen::Regimen;
#[cfg(doc)]
use crate::solve::SolverOptions;
use crate::variability::Population;

/// A virtual study read from (or written to) a TOML file. Field names are the TOML keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Free-text title (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Number of virtual patients (> 0). Required.
    pub patients: u64,
    /// Seed of the virtual population (default 1).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `"stop"` (default) or `"continue"` when a patient fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// Whether one record per patient is kept (`patients.csv`, the bindings' per-patient
    /// table); default `true`. `false` keeps only the summary and bands, so memory stays
    /// bounded for large cohorts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<bool>,
    /// Dosing regimen and horizon. Required.
    pub regimen: RegimenSpec,
    /// The CAR-T product (default: none, the model's own values = the Erlangen product).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductSpec>,
    /// Covariate distributions (default: the SLE population).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub population: Option<PopulationSpec>,
    /// Inter-individual variability (default: the model's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iiv: Option<IivSpec>,
    /// Typical parameter values overriding the model's defaults, by parameter name (in the
    /// parameter's unit).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub typical: BTreeMap<String, f64>,
    /// Endpoint definitions (default: [`SleDefinitions::default`]): thresholds, assay cut-off,
    /// visit day, CRS grading, CAR-T detection limit, relapse definitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definitions: Option<DefinitionsSpec>,
    /// Solver settings (default: [`SolverOptions::default`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub solver: Option<SolverSpec>,
    /// Summary settings (quantile mode, band spacing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummarySpec>,
    /// Targets whose attainment probability is reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetSpec>,
    /// NONMEM-style dataset settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonmem: Option<NonmemSpec>,
    /// Dose-exploration arms (used by the `dose_exploration` example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exploration: Option<ExplorationSpec>,
    /// Global sensitivity study on this cohort (used by the `sensitivity` example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity: Option<SensitivitySpec>,
}

fn default_seed() -> u64 {
    1
}

impl Scenario {
    /// Reads a scenario from TOML text and checks every value (the cohort, the NONMEM options
    /// and the exploration arms are built once).
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the key, line and column: TOML syntax errors, unknown keys,
    /// missing required keys (`patients`, `regimen`, and inside tables), wrong types, and every
    /// invalid value (negative dose, bad Ω, unknown parameter or endpoint, …).
    pub fn from_toml_str(text: &str) -> Result<Scenario, Error> {
        let scenario: Scenario = locate::deserialize(text)?;
        scenario
            .check()
            .map_err(|l| Error::from(locate::in_text(text, l)))?;
        Ok(scenario)
    }

    /// Checks a scenario built or changed in code (e.g. `patients` or `seed` set after reading a
    /// file) as [`Scenario::from_toml_str`] checks a file: the cohort, the NONMEM options, the
    /// arms and the sensitivity study are built once.
    ///
    /// # Errors
    /// [`Error::Scenario`] naming the key (without a line: the values are not in a text).
    ///
    /// ```
    /// use cartsim::io::scenario::Scenario;
    /// let mut s = Scenario::mackensen_2022();
    /// s.patients = 0;
    /// let e = s.validate().unwrap_err().to_string();
    /// assert!(e.contains("key `patients`"), "{e}");
    /// ```
    pub fn validate(&self) -> Result<(), Error> {
        self.check().map_err(|l| {
            let mut e = ScenarioError::new(l.path.display(), l.error.to_string());
            e.cause = Some(Box::new(l.error));
            Error::from(e)
        })
    }

    /// Reads a scenario file.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; otherwise as [`Scenario::from_toml_str`],
    /// with the file name in the message.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Scenario, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })?;
        Scenario::from_toml_str(&text).map_err(|e| match e {
            Error::Scenario(s) => Error::from((*s).in_file(path.display().to_string())),
            other => other,
        })
    }

    /// The scenario as TOML text (reads back to an equal scenario).
    ///
    /// # Errors
    /// [`Error::Scenario`] if a value cannot be written as TOML (never for scenarios read
    /// from TOML).
    pub fn to_toml_string(&self) -> Result<String, Error> {
        toml::to_string(self).map_err(|e| Error::from(ScenarioError::new(None, e.to_string())))
    }

    /// The Erlangen study with every default spelled out: 1,000 patients, seed 1, the
    /// Mackensen 2022 regimen dose by dose, the SLE population and the SLE model's IIV.
    /// `scenarios/mackensen_2022.toml` is this scenario with comments.
    pub fn mackensen_2022() -> Scenario {
        let mut regimen = RegimenSpec::explicit(&Regimen::mackensen_2022());
        // Group the three fludarabine days into one line, durations in hours.
        regimen.doses = vec![
            DoseSpec {
                input: "fludarabine".into(),
                amount: 25.0,
                unit: DoseUnit::MgPerM2,
                times_day: vec![-5.0, -4.0, -3.0],
                infusion_duration_h: Some(0.5),
                infusion_duration_day: None,
            },
            DoseSpec {
                input: "cyclophosphamide".into(),
                amount: 1000.0,
                unit: DoseUnit::MgPerM2,
                times_day: vec![-3.0],
                infusion_duration_h: Some(1.0),
                infusion_duration_day: None,
            },
            DoseSpec {
                input: "car_t".into(),
                amount: 1e6,
                unit: DoseUnit::CellsPerKg,
                times_day: vec![0.0],
                infusion_duration_h: None,
                infusion_duration_day: None,
            },
        ];
        Scenario {
            title: Some("Erlangen CD19 CAR-T in refractory SLE (Mackensen 2022)".into()),
            patients: 1000,
            seed: 1,
            on_failure: Some(OnFailure::Stop),
            records: Some(true),
            regimen,
            product: None,
            population: Some(PopulationSpec::explicit(&Population::sle())),
            iiv: Some(IivSpec::diagonal(DEFAULT_OMEGA)),
            typical: BTreeMap::new(),
            definitions: None,
            solver: None,
            summary: None,
            targets: Vec::new(),
            nonmem: None,
            exploration: None,
            sensitivity: None,
        }
    }

    /// The regimen.
    ///
    /// # Errors
    /// [`RegimenError`] naming the dose.
    pub fn regimen(&self) -> Result<Regimen, Error> {
        self.regimen
            .build(&SleModel::default(), &KeyPath::root().key("regimen"))
            .map_err(|l| l.error)
    }

    /// The cohort of the SLE model this scenario describes, validated by
    /// [`CohortBuilder::build`](crate::cohort::CohortBuilder::build).
    ///
    /// # Errors
    /// The builders' typed errors: [`RegimenError`] for a bad dose (naming the dose),
    /// [`SpecError`] for a bad population, Ω, summary or target, [`ParamError`] for an unknown
    /// or out-of-bounds parameter, [`SolveError`] for bad solver options.
    pub fn cohort(&self) -> Result<Cohort<SleModel, SLE_STATES>, Error> {
        self.build_cohort().map_err(|l| l.error)
    }

    /// The NONMEM export options (defaults where the `[nonmem]` table is absent).
    ///
    /// # Errors
    /// [`SpecError`] for an unknown output, bad residual error or bad observation times.
    pub fn nonmem_options(&self) -> Result<NonmemOptions, Error> {
        let cohort = self.cohort()?;
        self.build_nonmem(&cohort).map_err(|l| l.error)
    }

    /// The dose-exploration arms: the grid (CAR-T doses × lymphodepletion pairs, on the
    /// Erlangen schedule) then the explicit arms; empty without an `[exploration]` table.
    ///
    /// # Errors
    /// [`RegimenError`] for a bad arm regimen, [`SpecError`] for a repeated label or half a
    /// grid.
    pub fn arms(&self) -> Result<Vec<Arm>, Error> {
        self.build_arms(&SleModel::default()).map_err(|l| l.error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> Box<ScenarioError> {
        match Scenario::from_toml_str(text) {
            Err(Error::Scenario(e)) => e,
            other => panic!("expected a scenario error, got {other:?}"),
        }
    }

    #[test]
    fn records_can_be_switched_off() {
        let text = "patients = 12\nrecords = false\n[regimen]\npreset = 'mackensen_2022'\n";
        let s = Scenario::from_toml_str(text).unwrap();
        let cohort = s.cohort().unwrap();
        assert_eq!(cohort.records(), crate::cohort::Records::Discard);
        let without = cohort.run().unwrap();
        assert!(without.records.is_empty());
        let with = Scenario::from_toml_str(&text.replace("records = false\n", ""))
            .unwrap()
            .cohort()
            .unwrap()
            .run()
            .unwrap();
        assert_eq!(with.records.len(), 12);
        assert_eq!(
            format!("{:?}", with.summary.endpoint_stats()),
            format!("{:?}", without.summary.endpoint_stats())
        );
        let again = Scenario::from_toml_str(&s.to_toml_string().unwrap()).unwrap();
        assert_eq!(again.records, Some(false));
        let e = error(&text.replace("false", "'no'"));
        assert_eq!(e.key.as_deref(), Some("records"));
    }

    #[test]
    fn product_table_takes_a_preset_and_names_bad_keys() {
        let base = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scenarios/kysa1_dl1.toml"
        ))
        .unwrap();
        let s = Scenario::from_toml_str(&base).unwrap();
        let p = s.cohort().unwrap().product().cloned().unwrap();
        assert_eq!(p, crate::product::Product::kyv101());
        // Round trip through the written scenario.
        let again = Scenario::from_toml_str(&s.to_toml_string().unwrap()).unwrap();
        assert_eq!(again.product, s.product);
        let e = error(&base.replace("preset = \"kyv101\"", "preset = \"tisa\""));
        assert_eq!(e.key.as_deref(), Some("product.preset"));
        assert!(e.to_string().contains("tisa"), "{e}");
        let e = error(&base.replace(
            "preset = \"kyv101\"",
            "preset = \"kyv101\"\npersistence_factor = -1.0",
        ));
        assert_eq!(e.key.as_deref(), Some("product.persistence_factor"));
        assert!(e.to_string().contains("-1"), "{e}");
    }

    #[test]
    fn keys_of_syntax_type_and_missing_key_errors() {
        let doses = "patients = 1\n[regimen]\n[[regimen.doses]]\ninput = 'car_t'\namount = 1.0\nunit = 'cells'\ntimes_day = [0.0]\n[[regimen.doses]]\n";
        // A syntax error: the parser stops before serde; the key is the one around the error.
        let e = error(&format!("{doses}amount = 1x\n"));
        assert_eq!(e.key.as_deref(), Some("regimen.doses[1].amount"));
        assert_eq!((e.line, e.column), (Some(9), Some(10)));
        // A missing key: the header of the table that misses it.
        let e = error(&format!("{doses}input = 'car_t'\namount = 1.0\n"));
        assert_eq!(e.key.as_deref(), Some("regimen.doses[1].unit"));
        assert_eq!(e.line, Some(8));
        assert_eq!(error("seed = 1\n").key.as_deref(), Some("patients"));
        // Inside an inline (internally tagged) table.
        let base = "patients = 1\n[regimen]\n[population]\n";
        let e = error(&format!(
            "{base}age_years = {{ dist = 'normal', mean = 1x }}\n"
        ));
        assert_eq!(e.key.as_deref(), Some("population.age_years.mean"));
        let e = error(&format!(
            "{base}age_years = {{ dist = 'normal', mean = 1.0, sdx = 1.0 }}\n"
        ));
        assert_eq!(e.key.as_deref(), Some("population.age_years.sdx"));
        assert!(e.message.contains("unknown field `sdx`"), "{e}");
    }

    #[test]
    fn method_and_failure_policy_read_as_library_types() {
        let s = Scenario::from_toml_str(
            "patients = 1\non_failure = 'continue'\n[regimen]\npreset = 'mackensen_2022'\n\
             [solver]\nmethod = 'rosenbrock23'\n",
        )
        .unwrap();
        assert_eq!(s.on_failure, Some(OnFailure::Continue));
        let method = s.solver.as_ref().and_then(|x| x.method);
        assert_eq!(method, Some(crate::solve::Method::Rosenbrock23));
        s.cohort().unwrap();
        // The tolerance schedule: off with `inf`, a factor below 1 rejected by name.
        let s = Scenario::from_toml_str(
            "patients = 1\n[regimen]\npreset = 'mackensen_2022'\n\
             [solver]\nmethod = 'dopri5'\nlate_from_day = inf\nlate_rtol_factor = 1.0\n",
        )
        .unwrap();
        let solver = s.solver.as_ref().unwrap();
        assert_eq!(solver.late_from_day, Some(f64::INFINITY));
        assert_eq!(solver.method, Some(crate::solve::Method::Dopri5));
        s.cohort().unwrap();
        let e = error(
            "patients = 1\n[regimen]\npreset = 'mackensen_2022'\n[solver]\nlate_rtol_factor = 0.5\n",
        );
        assert_eq!(e.key.as_deref(), Some("solver.late_rtol_factor"), "{e}");
        // The reference explicit solver is not offered in files.
        let e = error("patients = 1\n[regimen]\n[solver]\nmethod = 'ode_solvers_dopri5'\n");
        assert_eq!(e.key.as_deref(), Some("solver.method"));
        assert!(
            e.message.contains(
                "unknown variant `ode_solvers_dopri5`, expected one of `tsit5`, `dopri5`, \
                 `rosenbrock23`"
            ),
            "{e}"
        );
    }
}

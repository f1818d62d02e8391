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

use std::collections::BTreeMap;
use std::path::Path;

use nalgebra::DMatrix;
use serde::{Deserialize, Serialize};

use crate::cohort::explore::{Arm, flu_cy_grid};
use crate::cohort::{Cohort, OnFailure};
use crate::error::{Error, ParamError, RegimenError, ScenarioError, SolveError, SpecError};
use crate::io::nonmem::{Censoring, NonmemOptions, ObservedOutput, TimeOrigin};
use crate::model::sle::{DEFAULT_OMEGA, SLE_STATES};
use crate::model::{InputKind, Model, SleModel};
use crate::regimen::{Administration, Amount, Dose, Regimen};
use crate::solve::{Method, SolverOptions};
use crate::summary::{Comparison, SummaryMode, Target};
use crate::variability::{Dist, Iiv, Population, ResidualError};

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
    pub on_failure: Option<FailurePolicy>,
    /// Dosing regimen and horizon. Required.
    pub regimen: RegimenSpec,
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
}

fn default_seed() -> u64 {
    1
}

/// What to do when a patient fails (TOML: `"stop"` or `"continue"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// Stop at the lowest failing patient.
    Stop,
    /// Record the failure and go on.
    Continue,
}

/// A named regimen to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegimenPreset {
    /// [`Regimen::mackensen_2022`]: Flu 25 mg/m² days −5..−3, Cy 1000 mg/m² day −3,
    /// 1 × 10⁶ CAR-T cells/kg day 0, horizon −6..365 day.
    #[serde(rename = "mackensen_2022")]
    Mackensen2022,
}

/// Regimen table: an optional preset, extra doses, and the horizon.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegimenSpec {
    /// Start from a named regimen; `doses` are added to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<RegimenPreset>,
    /// Horizon start, day (default −6, or the preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_day: Option<f64>,
    /// Horizon end, day (default 365, or the preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_day: Option<f64>,
    /// Doses (`[[regimen.doses]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doses: Vec<DoseSpec>,
}

/// Unit of a dose amount (TOML strings `"cells/kg"`, `"cells"`, `"mg/m2"`, `"mg/kg"`, `"mg"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DoseUnit {
    /// CAR-T cells per kg body weight.
    #[serde(rename = "cells/kg")]
    CellsPerKg,
    /// Flat number of CAR-T cells.
    #[serde(rename = "cells")]
    Cells,
    /// Drug, mg per m² body-surface area (Mosteller).
    #[serde(rename = "mg/m2")]
    MgPerM2,
    /// Drug, mg per kg body weight.
    #[serde(rename = "mg/kg")]
    MgPerKg,
    /// Flat drug amount, mg.
    #[serde(rename = "mg")]
    Mg,
}

impl DoseUnit {
    fn amount(self, v: f64) -> Amount {
        match self {
            DoseUnit::CellsPerKg => Amount::CellsPerKg(v),
            DoseUnit::Cells => Amount::Cells(v),
            DoseUnit::MgPerM2 => Amount::MgPerM2(v),
            DoseUnit::MgPerKg => Amount::MgPerKg(v),
            DoseUnit::Mg => Amount::Mg(v),
        }
    }

    fn of(a: &Amount) -> (DoseUnit, f64) {
        match *a {
            Amount::CellsPerKg(v) => (DoseUnit::CellsPerKg, v),
            Amount::Cells(v) => (DoseUnit::Cells, v),
            Amount::MgPerM2(v) => (DoseUnit::MgPerM2, v),
            Amount::MgPerKg(v) => (DoseUnit::MgPerKg, v),
            Amount::Mg(v) => (DoseUnit::Mg, v),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DoseUnit::CellsPerKg => "cells/kg",
            DoseUnit::Cells => "cells",
            DoseUnit::MgPerM2 => "mg/m2",
            DoseUnit::MgPerKg => "mg/kg",
            DoseUnit::Mg => "mg",
        }
    }

    fn fits(self, kind: InputKind) -> bool {
        matches!(
            (self, kind),
            (DoseUnit::CellsPerKg | DoseUnit::Cells, InputKind::Cells)
                | (
                    DoseUnit::MgPerM2 | DoseUnit::MgPerKg | DoseUnit::Mg,
                    InputKind::DrugMg
                )
        )
    }
}

/// One line of dosing: the same amount of one input at one or more times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoseSpec {
    /// Input name: `car_t`, `fludarabine` or `cyclophosphamide` for the SLE model.
    pub input: String,
    /// Amount per administration, in `unit` (> 0).
    pub amount: f64,
    /// Unit of `amount`.
    pub unit: DoseUnit,
    /// Start times, day (0 = CAR-T infusion).
    pub times_day: Vec<f64>,
    /// Infusion duration, hours (omit both durations for a bolus).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infusion_duration_h: Option<f64>,
    /// Infusion duration, days (alternative to `infusion_duration_h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infusion_duration_day: Option<f64>,
}

/// Which population to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PopulationPreset {
    /// [`Population::sle`] (default).
    Sle,
    /// [`Population::typical`]: every patient is the typical patient.
    Typical,
}

/// A covariate distribution (TOML: an inline table with `dist = "normal"`, …).
///
/// `min`/`max` clip the draw and may be omitted (no clipping).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum DistSpec {
    /// `{ dist = "fixed", value = 65.0 }`.
    Fixed {
        /// The value.
        value: f64,
    },
    /// `{ dist = "normal", mean = 65.0, sd = 11.0, min = 42.0, max = 120.0 }`.
    Normal {
        /// Mean.
        mean: f64,
        /// Standard deviation (≥ 0).
        sd: f64,
        /// Lower clip.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Upper clip.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// `{ dist = "log_normal", median = 200.0, omega = 0.5, min = 30.0, max = 1200.0 }`.
    LogNormal {
        /// Median (> 0).
        median: f64,
        /// SD of the log (≥ 0).
        omega: f64,
        /// Lower clip.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<f64>,
        /// Upper clip.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<f64>,
    },
    /// `{ dist = "uniform", min = 18.0, max = 60.0 }`.
    Uniform {
        /// Lower bound.
        min: f64,
        /// Upper bound.
        max: f64,
    },
}

impl DistSpec {
    /// The distribution (omitted clips become ±`f64::MAX`).
    pub fn to_dist(&self) -> Dist {
        let lo = |m: Option<f64>| m.unwrap_or(-f64::MAX);
        let hi = |m: Option<f64>| m.unwrap_or(f64::MAX);
        match *self {
            DistSpec::Fixed { value } => Dist::Fixed(value),
            DistSpec::Normal { mean, sd, min, max } => Dist::Normal {
                mean,
                sd,
                min: lo(min),
                max: hi(max),
            },
            DistSpec::LogNormal {
                median,
                omega,
                min,
                max,
            } => Dist::LogNormal {
                median,
                omega,
                min: lo(min),
                max: hi(max),
            },
            DistSpec::Uniform { min, max } => Dist::Uniform { min, max },
        }
    }
}

impl From<Dist> for DistSpec {
    fn from(d: Dist) -> Self {
        match d {
            Dist::Fixed(value) => DistSpec::Fixed { value },
            Dist::Normal { mean, sd, min, max } => DistSpec::Normal {
                mean,
                sd,
                min: Some(min),
                max: Some(max),
            },
            Dist::LogNormal {
                median,
                omega,
                min,
                max,
            } => DistSpec::LogNormal {
                median,
                omega,
                min: Some(min),
                max: Some(max),
            },
            Dist::Uniform { min, max } => DistSpec::Uniform { min, max },
        }
    }
}

/// Population table: a preset and per-covariate overrides (units in the key names).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PopulationSpec {
    /// Population to start from (default `"sle"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<PopulationPreset>,
    /// Probability that a patient is female, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub female_fraction: Option<f64>,
    /// Age, years.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_years: Option<DistSpec>,
    /// Weight of women, kg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_female_kg: Option<DistSpec>,
    /// Weight of men, kg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_male_kg: Option<DistSpec>,
    /// Height of women, cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_female_cm: Option<DistSpec>,
    /// Height of men, cm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_male_cm: Option<DistSpec>,
    /// eGFR, mL/min.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egfr_ml_per_min: Option<DistSpec>,
    /// Baseline blood B cells, cells/µL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_b_cells_per_ul: Option<DistSpec>,
    /// Baseline blood T cells, cells/µL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_t_cells_per_ul: Option<DistSpec>,
    /// Baseline anti-dsDNA, IU/mL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_anti_dsdna_iu_per_ml: Option<DistSpec>,
    /// Baseline SLEDAI-2K, points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline_sledai: Option<DistSpec>,
}

impl PopulationSpec {
    /// The population (preset with overrides), not yet validated.
    pub fn to_population(&self) -> Population {
        let mut p = match self.preset.unwrap_or(PopulationPreset::Sle) {
            PopulationPreset::Sle => Population::sle(),
            PopulationPreset::Typical => Population::typical(),
        };
        if let Some(f) = self.female_fraction {
            p.female_fraction = f;
        }
        let set = |slot: &mut Dist, d: &Option<DistSpec>| {
            if let Some(d) = d {
                *slot = d.to_dist();
            }
        };
        set(&mut p.age_years, &self.age_years);
        set(&mut p.weight_female_kg, &self.weight_female_kg);
        set(&mut p.weight_male_kg, &self.weight_male_kg);
        set(&mut p.height_female_cm, &self.height_female_cm);
        set(&mut p.height_male_cm, &self.height_male_cm);
        set(&mut p.egfr_ml_per_min, &self.egfr_ml_per_min);
        set(
            &mut p.baseline_b_cells_per_ul,
            &self.baseline_b_cells_per_ul,
        );
        set(
            &mut p.baseline_t_cells_per_ul,
            &self.baseline_t_cells_per_ul,
        );
        set(
            &mut p.baseline_anti_dsdna_iu_per_ml,
            &self.baseline_anti_dsdna_iu_per_ml,
        );
        set(&mut p.baseline_sledai, &self.baseline_sledai);
        p
    }

    /// Every field of `p` spelled out.
    pub fn explicit(p: &Population) -> Self {
        PopulationSpec {
            preset: None,
            female_fraction: Some(p.female_fraction),
            age_years: Some(p.age_years.into()),
            weight_female_kg: Some(p.weight_female_kg.into()),
            weight_male_kg: Some(p.weight_male_kg.into()),
            height_female_cm: Some(p.height_female_cm.into()),
            height_male_cm: Some(p.height_male_cm.into()),
            egfr_ml_per_min: Some(p.egfr_ml_per_min.into()),
            baseline_b_cells_per_ul: Some(p.baseline_b_cells_per_ul.into()),
            baseline_t_cells_per_ul: Some(p.baseline_t_cells_per_ul.into()),
            baseline_anti_dsdna_iu_per_ml: Some(p.baseline_anti_dsdna_iu_per_ml.into()),
            baseline_sledai: Some(p.baseline_sledai.into()),
        }
    }
}

/// A named variability to start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IivPreset {
    /// The model's default IIV ([`Model::default_iiv`]).
    ModelDefault,
    /// No variability: every patient has the typical parameters.
    None,
}

/// IIV table: a preset, a diagonal Ω as `[parameter, ω]` pairs, or parameter names with a
/// full Ω.
///
/// ```toml
/// [iiv]
/// # [parameter, ω = SD of η]; random effects are drawn in this order
/// omega_sd = [["effector_proliferation_per_day", 0.10], ["memory_death_per_day", 0.20]]
/// ```
///
/// or
///
/// ```toml
/// [iiv]
/// parameters = ["effector_proliferation_per_day", "memory_death_per_day"]
/// omega_matrix = [[0.010, 0.004], [0.004, 0.040]]  # variances on the diagonal
/// ```
///
/// Parameters bounded to [0, 1] vary logit-normally, all others log-normally (see [`Iiv`]).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IivSpec {
    /// `"model_default"` or `"none"` (exclusive with the other keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<IivPreset>,
    /// Diagonal Ω: `[parameter name, ω]` pairs, ω the SD of η.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omega_sd: Option<Vec<(String, f64)>>,
    /// Varied parameter names, the rows and columns of `omega_matrix`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<String>,
    /// Full Ω (variances on the diagonal, covariances off it), rows in `parameters` order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omega_matrix: Option<Vec<Vec<f64>>>,
}

/// Solver table; omitted keys keep [`SolverOptions::default`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SolverSpec {
    /// Relative tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtol: Option<f64>,
    /// Absolute tolerance, state units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atol: Option<f64>,
    /// Step limit for the whole horizon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    /// Dopri5 stiffness test interval, accepted steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stiffness_check_interval: Option<u32>,
    /// Output grid spacing, day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_step_day: Option<f64>,
    /// `"dopri5"` (default) or `"rosenbrock23"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<MethodSpec>,
    /// Retry a failed explicit solve with Rosenbrock 2(3) (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stiff_retry: Option<bool>,
}

/// Integration method (TOML: `"dopri5"` or `"rosenbrock23"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodSpec {
    /// Explicit Dormand–Prince 5(4).
    Dopri5,
    /// Linearly implicit Rosenbrock 2(3).
    Rosenbrock23,
}

/// Summary table.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummarySpec {
    /// `"auto"` (default: exact up to 2,000 patients), `"exact"` or `"streaming"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<ModeSpec>,
    /// Relative accuracy of streaming quantiles, in (0, 0.5) (default 0.005).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Times of the percentile bands, day (default: daily to day 28, every 2 days to day 90,
    /// weekly after; see `cohort::default_band_times`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band_times_day: Option<Vec<f64>>,
}

/// Summary quantile mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeSpec {
    /// [`SummaryMode::auto`].
    Auto,
    /// [`SummaryMode::Exact`].
    Exact,
    /// [`SummaryMode::Streaming`].
    Streaming,
}

/// A target (`[[targets]]`): "endpoint op threshold".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Label in reports.
    pub name: String,
    /// Endpoint name (e.g. `b_cells_day14_cells_per_ul`).
    pub endpoint: String,
    /// Comparison: `"<"`, `"<="`, `">="`, `">"`.
    pub op: OpSpec,
    /// Threshold, in the endpoint's unit.
    pub threshold: f64,
}

/// A comparison (TOML: `"<"`, `"<="`, `">="`, `">"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpSpec {
    /// value < threshold.
    #[serde(rename = "<")]
    Below,
    /// value ≤ threshold.
    #[serde(rename = "<=")]
    AtMost,
    /// value ≥ threshold.
    #[serde(rename = ">=")]
    AtLeast,
    /// value > threshold.
    #[serde(rename = ">")]
    Above,
}

impl OpSpec {
    fn comparison(self) -> Comparison {
        match self {
            OpSpec::Below => Comparison::Below,
            OpSpec::AtMost => Comparison::AtMost,
            OpSpec::AtLeast => Comparison::AtLeast,
            OpSpec::Above => Comparison::Above,
        }
    }
}

/// NONMEM export table; omitted keys keep [`NonmemOptions::default`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NonmemSpec {
    /// Observation days (study days, strictly increasing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times_day: Option<Vec<f64>>,
    /// `"at_detection_limit"` (default) or `"keep"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub censoring: Option<Censoring>,
    /// `"horizon_start"` (default) or `"infusion"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_origin: Option<TimeOrigin>,
    /// Observed outputs (`[[nonmem.observations]]`); default: CAR-T, B cells, anti-dsDNA,
    /// SLEDAI, IL-6 without residual error.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observations: Vec<ObservationSpec>,
}

/// An observed output and its residual error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservationSpec {
    /// Output name (e.g. `b_cells_per_ul`).
    pub output: String,
    /// Residual error (default none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub residual: Option<ResidualError>,
}

/// Dose-exploration table: a grid on the Erlangen schedule and/or explicit arms.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplorationSpec {
    /// Grid CAR-T doses, cells/kg (crossed with `flu_cy_mg_per_m2`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub car_t_cells_per_kg: Vec<f64>,
    /// Grid lymphodepletion: `[fludarabine mg/m²/day on days −5..−3, cyclophosphamide mg/m²
    /// on day −3]` pairs; `[0, 0]` is no lymphodepletion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flu_cy_mg_per_m2: Vec<[f64; 2]>,
    /// Explicit arms (`[[exploration.arms]]`), after the grid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<ArmSpec>,
}

/// One explicit arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArmSpec {
    /// Label in tables and plots (unique).
    pub label: String,
    /// The arm's regimen.
    pub regimen: RegimenSpec,
}

// ---------------------------------------------------------------------------------------------
// Key paths and located errors.

/// One step of a key path.
#[derive(Debug, Clone, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

/// A dotted key path such as `regimen.doses[1].amount`.
#[derive(Debug, Clone, PartialEq, Default)]
struct KeyPath(Vec<Seg>);

impl KeyPath {
    fn root() -> Self {
        KeyPath(Vec::new())
    }
    fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }
    fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
    /// Parses `a.b[2].c` (as written by the builders' field names).
    fn parse(s: &str) -> Self {
        let mut v = Vec::new();
        for part in s.split('.') {
            let (name, rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                v.push(Seg::Key(name.to_string()));
            }
            for idx in rest.split('[').filter(|x| !x.is_empty()) {
                if let Ok(i) = idx.trim_end_matches(']').parse() {
                    v.push(Seg::Index(i));
                }
            }
        }
        KeyPath(v)
    }
    fn display(&self) -> Option<String> {
        if self.0.is_empty() {
            return None;
        }
        let mut s = String::new();
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k);
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        Some(s)
    }
}

/// An error with the key it is about.
struct Located {
    path: KeyPath,
    error: Error,
}

fn at(path: KeyPath, error: impl Into<Error>) -> Located {
    Located {
        path,
        error: error.into(),
    }
}

fn invalid(path: &KeyPath, reason: impl Into<String>) -> Located {
    at(
        path.clone(),
        SpecError::Invalid {
            field: path.display().unwrap_or_default(),
            reason: reason.into(),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Building.

impl RegimenSpec {
    fn build(&self, model: &SleModel, path: &KeyPath) -> Result<Regimen, Located> {
        let preset = self.preset.map(|p| match p {
            RegimenPreset::Mackensen2022 => Regimen::mackensen_2022(),
        });
        let (mut start_day, mut end_day) = (-6.0, 365.0);
        let mut b = Regimen::builder();
        // Expanded dose index → (dose spec, time index); `None` for preset doses.
        let mut origin: Vec<Option<(usize, usize)>> = Vec::new();
        if let Some(p) = &preset {
            (start_day, end_day) = (p.start_day(), p.end_day());
            for d in p.doses() {
                b = b.dose(d.clone());
                origin.push(None);
            }
        }
        let start_day = self.start_day.unwrap_or(start_day);
        let end_day = self.end_day.unwrap_or(end_day);
        b = b.horizon(start_day, end_day);
        let inputs = model.inputs();
        for (i, d) in self.doses.iter().enumerate() {
            let dp = path.key("doses").index(i);
            let info = inputs.iter().find(|x| x.name == d.input).ok_or_else(|| {
                at(
                    dp.key("input"),
                    RegimenError::UnknownInput {
                        input: d.input.clone(),
                        model: model.name().to_string(),
                        known: inputs.iter().map(|x| x.name).collect::<Vec<_>>().join(", "),
                    },
                )
            })?;
            if !d.unit.fits(info.kind) {
                return Err(at(
                    dp.key("unit"),
                    RegimenError::WrongUnit {
                        index: i,
                        input: d.input.clone(),
                        unit: d.unit.as_str().to_string(),
                        expected: match info.kind {
                            InputKind::Cells => "cells/kg or cells".into(),
                            InputKind::DrugMg => "mg/m2, mg/kg or mg".into(),
                        },
                    },
                ));
            }
            let administration = match (d.infusion_duration_h, d.infusion_duration_day) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        &dp.key("infusion_duration_day"),
                        "give either `infusion_duration_h` or `infusion_duration_day`, not both",
                    ));
                }
                (Some(h), None) => Administration::Infusion {
                    duration_day: h / 24.0,
                },
                (None, Some(day)) => Administration::Infusion { duration_day: day },
                (None, None) => Administration::Bolus,
            };
            if d.times_day.is_empty() {
                return Err(invalid(
                    &dp.key("times_day"),
                    "at least one dose time is needed",
                ));
            }
            for (j, &t) in d.times_day.iter().enumerate() {
                b = b.dose(Dose {
                    input: d.input.clone(),
                    amount: d.unit.amount(d.amount),
                    time_day: t,
                    administration,
                });
                origin.push(Some((i, j)));
            }
        }
        b.build().map_err(|mut e| {
            let dose_path = |index: usize, leaf: &str| -> KeyPath {
                match origin.get(index).copied().flatten() {
                    Some((i, j)) => {
                        let p = path.key("doses").index(i);
                        match leaf {
                            "times_day" => p.key("times_day").index(j),
                            "duration" => match self.doses.get(i) {
                                Some(d) if d.infusion_duration_h.is_some() => {
                                    p.key("infusion_duration_h")
                                }
                                _ => p.key("infusion_duration_day"),
                            },
                            other => p.key(other),
                        }
                    }
                    None => path.key("preset"),
                }
            };
            let p = match &e {
                RegimenError::BadAmount { index, .. } => dose_path(*index, "amount"),
                RegimenError::BadTime { index, .. }
                | RegimenError::OutsideHorizon { index, .. } => dose_path(*index, "times_day"),
                RegimenError::BadDuration { index, .. } => dose_path(*index, "duration"),
                RegimenError::BadHorizon { start_day, .. } => {
                    if !start_day.is_finite() || self.end_day.is_none() {
                        path.key("start_day")
                    } else {
                        path.key("end_day")
                    }
                }
                RegimenError::Missing { .. } => path.key("doses"),
                _ => path.clone(),
            };
            // Number doses as the file does (`regimen.doses[i]`), not as expanded times.
            if let RegimenError::BadAmount { index, .. }
            | RegimenError::BadTime { index, .. }
            | RegimenError::BadDuration { index, .. }
            | RegimenError::OutsideHorizon { index, .. } = &mut e
            {
                if let Some(Some((i, _))) = origin.get(*index) {
                    *index = *i;
                }
            }
            at(p, e)
        })
    }

    /// Every dose of `r` spelled out (durations in days), with its horizon.
    pub fn explicit(r: &Regimen) -> Self {
        RegimenSpec {
            preset: None,
            start_day: Some(r.start_day()),
            end_day: Some(r.end_day()),
            doses: r
                .doses()
                .iter()
                .map(|d| {
                    let (unit, amount) = DoseUnit::of(&d.amount);
                    DoseSpec {
                        input: d.input.clone(),
                        amount,
                        unit,
                        times_day: vec![d.time_day],
                        infusion_duration_h: None,
                        infusion_duration_day: match d.administration {
                            Administration::Bolus => None,
                            Administration::Infusion { duration_day } => Some(duration_day),
                        },
                    }
                })
                .collect(),
        }
    }
}

impl IivSpec {
    fn build(&self, model: &SleModel, path: &KeyPath) -> Result<Iiv, Located> {
        if let Some(p) = self.preset {
            if !self.parameters.is_empty() || self.omega_sd.is_some() || self.omega_matrix.is_some()
            {
                return Err(invalid(
                    &path.key("preset"),
                    "a preset excludes `omega_sd`, `parameters` and `omega_matrix`",
                ));
            }
            return Ok(match p {
                IivPreset::ModelDefault => model.default_iiv(),
                IivPreset::None => Iiv::none(),
            });
        }
        // Where the name of varied parameter `i` is written.
        let name_path = |i: usize| -> KeyPath {
            if self.omega_sd.is_some() {
                path.key("omega_sd").index(i)
            } else {
                path.key("parameters").index(i)
            }
        };
        let iiv = match (&self.omega_sd, &self.omega_matrix) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    &path.key("omega_matrix"),
                    "give either `omega_sd` or `parameters` with `omega_matrix`, not both",
                ));
            }
            (Some(_), None) if !self.parameters.is_empty() => {
                return Err(invalid(
                    &path.key("parameters"),
                    "`parameters` goes with `omega_matrix`; `omega_sd` names its parameters itself",
                ));
            }
            (None, None) if self.parameters.is_empty() => Iiv::none(),
            (None, None) => {
                return Err(invalid(
                    &path.key("parameters"),
                    "varied parameters need `omega_matrix`",
                ));
            }
            (Some(sd), None) => {
                if let Some(i) = sd.iter().position(|(_, w)| !(w.is_finite() && *w >= 0.0)) {
                    return Err(invalid(
                        &path.key("omega_sd").index(i),
                        format!(
                            "ω of `{}` must be finite and >= 0, got {}",
                            sd[i].0, sd[i].1
                        ),
                    ));
                }
                let entries: Vec<(&str, f64)> = sd.iter().map(|(n, w)| (n.as_str(), *w)).collect();
                Iiv::diagonal("iiv.omega_sd", &entries).map_err(|e| at(path.key("omega_sd"), e))?
            }
            (None, Some(rows)) => {
                let n = rows.len();
                if let Some(r) = rows.iter().position(|row| row.len() != n) {
                    return Err(invalid(
                        &path.key("omega_matrix").index(r),
                        format!(
                            "row {r} has {} values; Ω must be square ({n}x{n})",
                            rows[r].len()
                        ),
                    ));
                }
                let names: Vec<&str> = self.parameters.iter().map(String::as_str).collect();
                let m = DMatrix::from_fn(n, n, |r, c| rows[r][c]);
                Iiv::new("iiv.omega_matrix", &names, m)
                    .map_err(|e| at(path.key("omega_matrix"), e))?
            }
        };
        iiv.bind(model.name(), model.parameters()).map_err(|e| {
            let p = match &e {
                ParamError::Unknown { name, .. } => {
                    match iiv.names().iter().position(|x| x == name) {
                        Some(i) => name_path(i),
                        None => path.clone(),
                    }
                }
                _ => path.clone(),
            };
            at(p, e)
        })?;
        Ok(iiv)
    }

    /// A diagonal Ω from `(name, ω)` pairs.
    pub fn diagonal(entries: &[(&str, f64)]) -> Self {
        IivSpec {
            preset: None,
            omega_sd: Some(entries.iter().map(|e| (e.0.to_string(), e.1)).collect()),
            parameters: Vec::new(),
            omega_matrix: None,
        }
    }
}

impl SolverSpec {
    fn build(&self, path: &KeyPath) -> Result<SolverOptions, Located> {
        let d = SolverOptions::default();
        let o = SolverOptions {
            rtol: self.rtol.unwrap_or(d.rtol),
            atol: self.atol.unwrap_or(d.atol),
            max_steps: self.max_steps.unwrap_or(d.max_steps),
            stiffness_check_interval: self
                .stiffness_check_interval
                .unwrap_or(d.stiffness_check_interval),
            output_step_day: self.output_step_day.unwrap_or(d.output_step_day),
            method: match self.method {
                Some(MethodSpec::Dopri5) | None => Method::Dopri5,
                Some(MethodSpec::Rosenbrock23) => Method::Rosenbrock23,
            },
        };
        o.validate().map_err(|e| {
            let p = match &e {
                SolveError::BadOption { name, .. } => path.key(name),
                _ => path.clone(),
            };
            at(p, e)
        })?;
        Ok(o)
    }
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
        let scenario: Scenario =
            toml::from_str(text).map_err(|e| Error::from(from_toml_error(text, &e)))?;
        scenario.check().map_err(|l| {
            let mut e = ScenarioError::new(l.path.display(), l.error.to_string());
            if let Some((line, column, src)) = locate(text, &l.path) {
                e.line = Some(line);
                e.column = Some(column);
                e.source_line = Some(src);
            }
            e.cause = Some(Box::new(l.error));
            Error::from(e)
        })?;
        Ok(scenario)
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
            on_failure: Some(FailurePolicy::Stop),
            regimen,
            population: Some(PopulationSpec::explicit(&Population::sle())),
            iiv: Some(IivSpec::diagonal(DEFAULT_OMEGA)),
            typical: BTreeMap::new(),
            solver: None,
            summary: None,
            targets: Vec::new(),
            nonmem: None,
            exploration: None,
        }
    }

    /// Checks everything that can be checked without simulating.
    fn check(&self) -> Result<(), Located> {
        let cohort = self.build_cohort()?;
        self.build_nonmem(&cohort)?;
        self.build_arms(&SleModel::default())?;
        Ok(())
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

    fn build_cohort(&self) -> Result<Cohort<SleModel, SLE_STATES>, Located> {
        let root = KeyPath::root();
        let model = SleModel::default();
        if self.patients == 0 {
            return Err(invalid(&root.key("patients"), "must be > 0, got 0"));
        }
        let regimen = self.regimen.build(&model, &root.key("regimen"))?;
        let mut b = Cohort::builder(model)
            .patients(self.patients)
            .seed(self.seed)
            .regimen(regimen)
            .on_failure(match self.on_failure {
                Some(FailurePolicy::Continue) => OnFailure::Continue,
                Some(FailurePolicy::Stop) | None => OnFailure::Stop,
            });
        if let Some(p) = &self.population {
            let pop = p.to_population();
            pop.validate().map_err(|e| {
                let p = match &e {
                    SpecError::Invalid { field, .. } => KeyPath::parse(field),
                    _ => root.key("population"),
                };
                at(p, e)
            })?;
            b = b.population(pop);
        }
        if let Some(iiv) = &self.iiv {
            b = b.iiv(iiv.build(&model, &root.key("iiv"))?);
        }
        if !self.typical.is_empty() {
            let tp = root.key("typical");
            let mut values: Vec<f64> = model.parameters().iter().map(|p| p.default).collect();
            for (name, &v) in &self.typical {
                let i = model.param_index(name).map_err(|e| at(tp.key(name), e))?;
                values[i] = v;
            }
            let params = model.params_from_values(&values).map_err(|e| {
                let p = match &e {
                    ParamError::NotFinite { name, .. }
                    | ParamError::OutOfBounds { name, .. }
                    | ParamError::Invalid { name, .. }
                        if self.typical.contains_key(name) =>
                    {
                        tp.key(name)
                    }
                    _ => tp.clone(),
                };
                at(p, e)
            })?;
            b = b.typical_params(&params);
        }
        if let Some(s) = &self.solver {
            b = b.solver(s.build(&root.key("solver"))?);
            if let Some(r) = s.stiff_retry {
                b = b.stiff_retry(r);
            }
        }
        if let Some(s) = &self.summary {
            let sp = root.key("summary");
            let mode = match (s.mode, s.alpha) {
                (Some(ModeSpec::Streaming), alpha) => Some(SummaryMode::Streaming {
                    alpha: alpha.unwrap_or(0.005),
                }),
                (_, Some(_)) => {
                    return Err(invalid(
                        &sp.key("alpha"),
                        "only applies with mode = \"streaming\"",
                    ));
                }
                (Some(ModeSpec::Exact), None) => Some(SummaryMode::Exact),
                (Some(ModeSpec::Auto) | None, None) => None,
            };
            if let Some(SummaryMode::Streaming { alpha }) = mode {
                if !(alpha.is_finite() && alpha > 0.0 && alpha < 0.5) {
                    return Err(invalid(
                        &sp.key("alpha"),
                        format!("must lie in (0, 0.5), got {alpha}"),
                    ));
                }
            }
            if let Some(m) = mode {
                b = b.summary_mode(m);
            }
            if let Some(times) = &s.band_times_day {
                if let Some(t) = times.iter().find(|t| !t.is_finite()) {
                    return Err(invalid(
                        &sp.key("band_times_day"),
                        format!("must be finite, got {t}"),
                    ));
                }
                if times.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(invalid(
                        &sp.key("band_times_day"),
                        "must be strictly increasing".to_string(),
                    ));
                }
                b = b.band_times_day(times.clone());
            }
        }
        let endpoints = model.endpoint_info();
        for (i, t) in self.targets.iter().enumerate() {
            let tp = root.key("targets").index(i);
            if !endpoints.iter().any(|e| e.name == t.endpoint) {
                return Err(invalid(
                    &tp.key("endpoint"),
                    format!(
                        "unknown endpoint `{}` (known: {})",
                        t.endpoint,
                        endpoints
                            .iter()
                            .map(|e| e.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            if !t.threshold.is_finite() {
                return Err(invalid(
                    &tp.key("threshold"),
                    format!("must be finite, got {}", t.threshold),
                ));
            }
            b = b.target(Target {
                name: t.name.clone(),
                endpoint: t.endpoint.clone(),
                op: t.op.comparison(),
                threshold: t.threshold,
            });
        }
        b.build().map_err(|e| at(root.clone(), e))
    }

    fn build_nonmem(
        &self,
        cohort: &Cohort<SleModel, SLE_STATES>,
    ) -> Result<NonmemOptions, Located> {
        let mut o = NonmemOptions::default();
        let np = KeyPath::root().key("nonmem");
        if let Some(n) = &self.nonmem {
            if let Some(t) = &n.times_day {
                o.times_day = t.clone();
            }
            if let Some(c) = n.censoring {
                o.censoring = c;
            }
            if let Some(t) = n.time_origin {
                o.time_origin = t;
            }
            if !n.observations.is_empty() {
                o.observations = n
                    .observations
                    .iter()
                    .map(|x| ObservedOutput {
                        output: x.output.clone(),
                        residual: x.residual.unwrap_or(ResidualError::None),
                    })
                    .collect();
            }
        }
        o.validate(cohort).map_err(|e| {
            let p = match &e {
                SpecError::Invalid { field, .. } => KeyPath::parse(field),
                _ => np.clone(),
            };
            at(p, e)
        })?;
        Ok(o)
    }

    fn build_arms(&self, model: &SleModel) -> Result<Vec<Arm>, Located> {
        let Some(x) = &self.exploration else {
            return Ok(Vec::new());
        };
        let xp = KeyPath::root().key("exploration");
        let mut arms = Vec::new();
        match (
            x.car_t_cells_per_kg.is_empty(),
            x.flu_cy_mg_per_m2.is_empty(),
        ) {
            (true, true) => {}
            (false, true) => {
                return Err(invalid(
                    &xp.key("flu_cy_mg_per_m2"),
                    "the grid needs lymphodepletion pairs too (use [[0, 0]] for none)",
                ));
            }
            (true, false) => {
                return Err(invalid(
                    &xp.key("car_t_cells_per_kg"),
                    "the grid needs CAR-T doses too",
                ));
            }
            (false, false) => {
                for (i, &d) in x.car_t_cells_per_kg.iter().enumerate() {
                    if !(d.is_finite() && d > 0.0) {
                        return Err(invalid(
                            &xp.key("car_t_cells_per_kg").index(i),
                            format!("CAR-T dose must be finite and > 0 cells/kg, got {d}"),
                        ));
                    }
                }
                for (i, &[flu, cy]) in x.flu_cy_mg_per_m2.iter().enumerate() {
                    if !(flu.is_finite() && flu >= 0.0 && cy.is_finite() && cy >= 0.0) {
                        return Err(invalid(
                            &xp.key("flu_cy_mg_per_m2").index(i),
                            format!(
                                "fludarabine and cyclophosphamide must be finite and >= 0 mg/m2, got [{flu}, {cy}]"
                            ),
                        ));
                    }
                }
                let ld: Vec<(f64, f64)> = x.flu_cy_mg_per_m2.iter().map(|p| (p[0], p[1])).collect();
                arms.extend(flu_cy_grid(&x.car_t_cells_per_kg, &ld));
            }
        }
        for (i, a) in x.arms.iter().enumerate() {
            let ap = xp.key("arms").index(i);
            let r = a.regimen.build(model, &ap.key("regimen"))?;
            arms.push(Arm::new(a.label.clone(), r));
        }
        for (i, a) in arms.iter().enumerate() {
            if arms[..i].iter().any(|b| b.label == a.label) {
                let n_grid = x.car_t_cells_per_kg.len() * x.flu_cy_mg_per_m2.len();
                let p = if i >= n_grid {
                    xp.key("arms").index(i - n_grid).key("label")
                } else {
                    xp.clone()
                };
                return Err(invalid(&p, format!("arm label `{}` used twice", a.label)));
            }
        }
        Ok(arms)
    }
}

// ---------------------------------------------------------------------------------------------
// Positions in the TOML text.

/// 1-based line and column (in characters) of byte `offset`, and that line's text.
fn line_col(text: &str, offset: usize) -> (usize, usize, String) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text
        .get(line_start..offset)
        .map_or(1, |s| s.chars().count() + 1);
    let src = text
        .get(line_start..)
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches('\r')
        .to_string();
    (line, column, src)
}

/// Where `path` is in `text`: the key when it is present, else the deepest present ancestor.
fn locate(text: &str, path: &KeyPath) -> Option<(usize, usize, String)> {
    use toml::de::{DeTable, DeValue};
    let doc = DeTable::parse(text).ok()?;
    let mut table: Option<&DeTable<'_>> = Some(doc.get_ref());
    let mut value: Option<&toml::Spanned<DeValue<'_>>> = None;
    let mut span: Option<std::ops::Range<usize>> = None;
    for seg in &path.0 {
        match seg {
            Seg::Key(k) => {
                let t = match (table, value) {
                    (Some(t), _) => t,
                    (None, Some(v)) => match v.get_ref() {
                        DeValue::Table(t) => t,
                        _ => break,
                    },
                    _ => break,
                };
                let Some((key, v)) = t.iter().find(|(key, _)| key.get_ref() == k) else {
                    break;
                };
                span = Some(key.span());
                value = Some(v);
                table = None;
            }
            Seg::Index(i) => {
                let Some(DeValue::Array(a)) = value.map(|v| v.get_ref()) else {
                    break;
                };
                let Some(v) = a.get(*i) else {
                    break;
                };
                span = Some(v.span());
                value = Some(v);
                table = None;
            }
        }
    }
    span.map(|s| line_col(text, s.start))
}

/// Converts a TOML error into a [`ScenarioError`], naming the key from the text around it.
fn from_toml_error(text: &str, e: &toml::de::Error) -> ScenarioError {
    let message = e.message().trim().to_string();
    let mut err = ScenarioError::new(None, message.clone());
    if let Some(span) = e.span() {
        let (line, column, src) = line_col(text, span.start);
        err.line = Some(line);
        err.column = Some(column);
        err.source_line = Some(src.clone());
        err.key = key_at(text, line, column, &message);
    }
    err
}

/// The dotted key that an error at `line`/`column` is about, read from the text: the table
/// header in force, the key on that line, and the field a `missing field`/`unknown field`
/// message names.
fn key_at(text: &str, line: usize, column: usize, message: &str) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    // Table in force at `line`, with array-of-tables indices.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut table = String::new();
    let mut header_line = false;
    for (n, raw) in lines.iter().enumerate().take(line) {
        let l = raw.trim();
        let (name, array) = if let Some(r) = l.strip_prefix("[[") {
            (r.split("]]").next().unwrap_or("").trim(), true)
        } else if let Some(r) = l.strip_prefix('[') {
            (r.split(']').next().unwrap_or("").trim(), false)
        } else {
            continue;
        };
        let name = name.replace(' ', "");
        counts.retain(|k, _| !k.starts_with(&format!("{name}.")));
        if array {
            *counts.entry(name.clone()).or_insert(0) += 1;
        }
        // Display with indices for every array-of-tables prefix.
        let mut shown = String::new();
        let mut prefix = String::new();
        for part in name.split('.') {
            if !prefix.is_empty() {
                prefix.push('.');
                shown.push('.');
            }
            prefix.push_str(part);
            shown.push_str(part);
            if let Some(c) = counts.get(&prefix) {
                shown.push_str(&format!("[{}]", c.saturating_sub(1)));
            }
        }
        table = shown;
        header_line = n + 1 == line;
    }
    let quoted = |m: &str, what: &str| -> Option<String> {
        let rest = m.strip_prefix(what)?;
        let rest = rest.strip_prefix('`')?;
        Some(rest.split('`').next()?.to_string())
    };
    let join = |a: &str, b: &str| -> String {
        match (a.is_empty(), b.is_empty()) {
            (true, _) => b.to_string(),
            (_, true) => a.to_string(),
            _ => format!("{a}.{b}"),
        }
    };
    let src = lines.get(line.saturating_sub(1)).copied().unwrap_or("");
    // The key on this line (outer) and, inside an inline table, the nearest key before the
    // column (inner).
    let (outer, inner) = if header_line || line == 0 {
        (String::new(), String::new())
    } else {
        match src.split_once('=') {
            Some((k, _)) if !src.trim_start().starts_with('#') => {
                let outer = k.trim().trim_matches('"').to_string();
                let col_byte = src
                    .char_indices()
                    .nth(column.saturating_sub(1))
                    .map_or(src.len(), |(i, _)| i);
                let head = &src[..col_byte];
                let inner = match head.rfind(['{', ',']) {
                    Some(i) if head.contains('{') => head[i + 1..]
                        .split('=')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_string(),
                    _ => String::new(),
                };
                (outer, inner)
            }
            _ => (String::new(), String::new()),
        }
    };
    // A `missing field` error points at the table that misses it (a header, the document
    // start, or an inline table).
    let context = if message.starts_with("missing field") && !outer.is_empty() {
        // An inline table on this line.
        let starts_table = src
            .split_once('=')
            .is_some_and(|(_, v)| v.trim_start().starts_with('{'));
        if starts_table {
            join(&table, &outer)
        } else if line == 1 && !text.trim_start().starts_with('[') {
            String::new()
        } else {
            table.clone()
        }
    } else if message.starts_with("missing field") {
        table.clone()
    } else {
        let mut k = join(&table, &outer);
        if !inner.is_empty() && inner != outer {
            k = join(&k, &inner);
        }
        k
    };
    let field = quoted(message, "missing field ").or_else(|| quoted(message, "unknown field "));
    let key = match field {
        Some(f) if !context.ends_with(&f) => join(&context, &f),
        _ => context,
    };
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_paths_parse_and_display() {
        let p = KeyPath::parse("regimen.doses[2].times_day[0]");
        assert_eq!(
            p.display().as_deref(),
            Some("regimen.doses[2].times_day[0]")
        );
        assert_eq!(KeyPath::root().display(), None);
    }

    #[test]
    fn keys_are_read_from_the_text() {
        let t = "patients = 1\n[regimen]\n[[regimen.doses]]\ninput = 'x'\n[[regimen.doses]]\namount = 1x\n";
        assert_eq!(
            key_at(t, 6, 10, "invalid").as_deref(),
            Some("regimen.doses[1].amount")
        );
        assert_eq!(
            key_at(t, 5, 1, "missing field `unit`").as_deref(),
            Some("regimen.doses[1].unit")
        );
        assert_eq!(
            key_at("seed = 1\n", 1, 1, "missing field `patients`").as_deref(),
            Some("patients")
        );
        let t = "[population]\nage_years = { dist = 'normal', mean = 1x }\n";
        assert_eq!(
            key_at(t, 2, 39, "invalid").as_deref(),
            Some("population.age_years.mean")
        );
    }

    #[test]
    fn line_and_column_count_characters() {
        let (l, c, s) = line_col("a = 1\nµ = 2\n", 9);
        assert_eq!((l, c, s.as_str()), (2, 3, "µ = 2"));
    }
}

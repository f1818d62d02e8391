//! The file format: one serde type per TOML table, field names as keys. Every table rejects
//! unknown keys; omitted optional keys are not written back, so a file round-trips key for key.
//!
//! A table has its own type here only where the file says something differently from the
//! library type it builds: partial tables over defaults or presets (`RegimenSpec`,
//! `PopulationSpec`, `IivSpec`, `SolverSpec`, `SummarySpec`, `NonmemSpec`), one line for
//! several dose times with a separate unit (`DoseSpec`, `DoseUnit`), optional clips
//! (`DistSpec`), comparison symbols (`OpSpec`; summaries serialize [`Comparison`] by name).
//! Where the file format is the library type's, the library type derives serde itself
//! ([`OnFailure`](crate::cohort::OnFailure), [`Method`], [`ObservedOutput`],
//! [`ResidualError`](crate::variability::ResidualError), [`Censoring`], [`TimeOrigin`]).

use serde::{Deserialize, Serialize};

use crate::io::nonmem::{Censoring, ObservedOutput, TimeOrigin};
use crate::model::InputKind;
use crate::regimen::{Administration, Amount, Regimen};
use crate::solve::Method;
use crate::summary::Comparison;
use crate::variability::{Dist, Population};

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
    pub(super) fn amount(self, v: f64) -> Amount {
        match self {
            DoseUnit::CellsPerKg => Amount::CellsPerKg(v),
            DoseUnit::Cells => Amount::Cells(v),
            DoseUnit::MgPerM2 => Amount::MgPerM2(v),
            DoseUnit::MgPerKg => Amount::MgPerKg(v),
            DoseUnit::Mg => Amount::Mg(v),
        }
    }

    pub(super) fn of(a: &Amount) -> (DoseUnit, f64) {
        match *a {
            Amount::CellsPerKg(v) => (DoseUnit::CellsPerKg, v),
            Amount::Cells(v) => (DoseUnit::Cells, v),
            Amount::MgPerM2(v) => (DoseUnit::MgPerM2, v),
            Amount::MgPerKg(v) => (DoseUnit::MgPerKg, v),
            Amount::Mg(v) => (DoseUnit::Mg, v),
        }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            DoseUnit::CellsPerKg => "cells/kg",
            DoseUnit::Cells => "cells",
            DoseUnit::MgPerM2 => "mg/m2",
            DoseUnit::MgPerKg => "mg/kg",
            DoseUnit::Mg => "mg",
        }
    }

    pub(super) fn fits(self, kind: InputKind) -> bool {
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
    /// The model's default IIV ([`Model::default_iiv`](crate::model::Model::default_iiv)).
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
/// Parameters bounded to [0, 1] vary logit-normally, all others log-normally (see
/// [`Iiv`](crate::variability::Iiv)).
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

/// Product table: a preset ([`crate::product::PRESETS`]; default `mb_cart19_1`, the Erlangen
/// product) with any attribute overridden. Its own type because a file names the preset and
/// overrides only some attributes.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductSpec {
    /// Preset name: `mb_cart19_1` (default), `kyv101` or `rese_cel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Name of the product (default: the preset's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Memory-like share of the infused cells, in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_fraction: Option<f64>,
    /// Relative division rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expansion_rate_factor: Option<f64>,
    /// Relative proliferative capacity (burst size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proliferative_capacity_factor: Option<f64>,
    /// Relative memory persistence (half-life × factor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence_factor: Option<f64>,
    /// Relative killing per CAR-T cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_potency_factor: Option<f64>,
    /// Relative cytokine release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cytokine_factor: Option<f64>,
}

/// Solver table; omitted keys keep
/// [`SolverOptions::default`](crate::solve::SolverOptions::default).
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
    /// Day from which `rtol` is multiplied by `late_rtol_factor` (default 91; `inf`: one
    /// tolerance throughout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_from_day: Option<f64>,
    /// Factor (≥ 1) on `rtol` from `late_from_day` on (default 100; 1: no schedule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_rtol_factor: Option<f64>,
    /// Output grid spacing, day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_step_day: Option<f64>,
    /// `"tsit5"` (default), `"dopri5"` or `"rosenbrock23"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<Method>,
    /// Retry a failed explicit solve with Rosenbrock 2(3) (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stiff_retry: Option<bool>,
}

/// Definitions table: how trajectories become endpoints; omitted keys keep
/// [`SleDefinitions::default`](crate::model::sle::SleDefinitions::default) (see its fields for
/// each default and its source).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionsSpec {
    /// Blood B cells depleted below / returned at this count, cells/µL (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub b_cell_threshold_per_ul: Option<f64>,
    /// Anti-dsDNA negative below this titre of the named assay, IU/mL (default: EliA dsDNA,
    /// 10); excludes `anti_dsdna_negative_fraction_of_baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_dsdna_negative_below_iu_per_ml: Option<f64>,
    /// The assay of `anti_dsdna_negative_below_iu_per_ml` (a label; default "assay cut-off
    /// given in the scenario").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_dsdna_assay: Option<String>,
    /// Anti-dsDNA negative below this fraction of the patient's own baseline titre, in (0, 1)
    /// (a modelling convention, not a laboratory result).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_dsdna_negative_fraction_of_baseline: Option<f64>,
    /// Remission: SLEDAI surrogate below this value at the month-3 visit (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remission_sledai_below: Option<f64>,
    /// Day of the month-3 visit (default 90).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub month3_day: Option<f64>,
    /// IL-6 peak thresholds of CRS grades 1–4, pg/mL, increasing (default [20, 100, 500, 2000]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crs_il6_thresholds_pg_per_ml: Option<[f64; 4]>,
    /// CAR-T detection limit of the detection window, cells/µL (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub car_t_detection_per_ul: Option<f64>,
    /// Autoreactive compartment eliminated below this fraction of its baseline (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoreactive_eliminated_fraction: Option<f64>,
    /// Clone size (cells) below which its fate is simulated stochastically (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relapse_switch_cells: Option<f64>,
    /// Clone size (cells) at which a regrowing clone is established (default 1000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relapse_established_cells: Option<f64>,
    /// Relapse when the clone is back to this fraction of its baseline (default 0.5)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relapse_clone_fraction: Option<f64>,
    /// …plus this delay, day (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relapse_delay_day: Option<f64>,
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
    /// [`SummaryMode::auto`](crate::summary::SummaryMode::auto).
    Auto,
    /// [`SummaryMode::Exact`](crate::summary::SummaryMode::Exact).
    Exact,
    /// [`SummaryMode::Streaming`](crate::summary::SummaryMode::Streaming).
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
    pub(super) fn comparison(self) -> Comparison {
        match self {
            OpSpec::Below => Comparison::Below,
            OpSpec::AtMost => Comparison::AtMost,
            OpSpec::AtLeast => Comparison::AtLeast,
            OpSpec::Above => Comparison::Above,
        }
    }
}

/// NONMEM export table; omitted keys keep
/// [`NonmemOptions::default`](crate::io::nonmem::NonmemOptions::default).
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
    pub observations: Vec<ObservedOutput>,
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
    /// Grid products: preset names ([`crate::product::PRESETS`]) crossed with the doses and
    /// lymphodepletion pairs (empty: the cohort's own product only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<String>,
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
    /// The arm's product (default: the scenario's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<ProductSpec>,
}

impl RegimenSpec {
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

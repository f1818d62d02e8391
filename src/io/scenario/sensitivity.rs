//! The `[sensitivity]` table: a global sensitivity study on the scenario's cohort (read by
//! `CohortStudy::from_scenario` in [`crate::sensitivity`] and the `sensitivity` example).
//!
//! ```toml
//! [sensitivity]
//! method = "sobol"             # or "morris"
//! samples = 256                # Sobol' base samples N, or Morris trajectories r
//! seed = 1                     # design and bootstrap (the cohort keeps its own seed)
//!
//! [[sensitivity.factors]]
//! name = "effector_proliferation_per_day"   # a parameter's typical value, "dose:car_t" or
//!                                           # "covariate:baseline_b_cells_per_ul"
//! lower = 0.6
//! upper = 1.8
//! scale = "log"                # or "linear" (default)
//!
//! [[sensitivity.quantities]]
//! endpoint = "crs_grade_ge2"
//! statistic = "fraction"       # mean, sd, median, quantile (with q = 0.9), fraction
//! ```
//!
//! Every value is checked when the file is read, each error naming its key and line.

use serde::{Deserialize, Serialize};

use super::locate::{KeyPath, Located, invalid};
use crate::error::SpecError;
use crate::model::{Model, SleModel};
use crate::regimen::Regimen;
use crate::variability::Population;

/// Which method (`method = "morris"` or `"sobol"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SensitivityMethod {
    /// Morris elementary effects (screening).
    Morris,
    /// Sobol' first- and total-order indices (and second order with `second_order = true`).
    Sobol,
}

/// Sampling scale of a factor (`"linear"` or `"log"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleSpec {
    /// Uniform between the bounds.
    Linear,
    /// Log-uniform (bounds > 0).
    Log,
}

/// A statistic across the inner cohort's patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatisticSpec {
    /// Mean.
    Mean,
    /// Sample standard deviation.
    Sd,
    /// Median.
    Median,
    /// Quantile `q` (key `q`).
    Quantile,
    /// Fraction of patients with a flag endpoint set.
    Fraction,
}

/// The `[sensitivity]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SensitivitySpec {
    /// `"morris"` or `"sobol"`.
    pub method: SensitivityMethod,
    /// Sobol' base samples `N` (≥ 16, ≤ 65,536) or Morris trajectories `r` (≥ 2).
    pub samples: u64,
    /// Morris grid levels (even, ≥ 2; default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<u64>,
    /// Sobol' second-order indices too (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_order: Option<bool>,
    /// Seed of the design and the bootstrap (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Bootstrap resamples (default 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<u64>,
    /// Confidence level of the intervals (default 0.95).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Factors (`[[sensitivity.factors]]`).
    pub factors: Vec<FactorSpec>,
    /// Quantities of interest (`[[sensitivity.quantities]]`).
    pub quantities: Vec<QuantitySpec>,
}

/// One factor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactorSpec {
    /// A parameter name (its typical value varies), `dose:<input>` (the amount of every dose
    /// of that input, in the doses' unit), `product:<attribute>` (a numeric attribute of the
    /// scenario's product) or `covariate:<name>` (the centre of a covariate's
    /// distribution: mean, median or value).
    pub name: String,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound (> lower).
    pub upper: f64,
    /// `"linear"` (default) or `"log"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<ScaleSpec>,
}

/// One quantity of interest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantitySpec {
    /// Endpoint name.
    pub endpoint: String,
    /// Statistic across patients.
    pub statistic: StatisticSpec,
    /// Probability of a `"quantile"`, in (0, 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub q: Option<f64>,
}

impl SensitivitySpec {
    /// Checks every value against the SLE model and the scenario's regimen.
    pub(super) fn check(
        &self,
        regimen: &Regimen,
        population: &Population,
        path: &KeyPath,
    ) -> Result<(), Located> {
        let model = SleModel::default();
        let n = self.samples;
        match self.method {
            SensitivityMethod::Sobol => {
                if !(16..=65_536).contains(&n) {
                    return Err(invalid(
                        &path.key("samples"),
                        format!("Sobol' indices need 16 to 65536 base samples, got {n}"),
                    ));
                }
                if self.levels.is_some() {
                    return Err(invalid(&path.key("levels"), "only for method = \"morris\""));
                }
                if self.second_order == Some(true) && self.factors.len() < 2 {
                    return Err(invalid(
                        &path.key("second_order"),
                        "second-order indices need at least 2 factors",
                    ));
                }
            }
            SensitivityMethod::Morris => {
                if n < 2 {
                    return Err(invalid(
                        &path.key("samples"),
                        format!("Morris screening needs at least 2 trajectories, got {n}"),
                    ));
                }
                if let Some(l) = self.levels.filter(|l| *l < 2 || l % 2 != 0) {
                    return Err(invalid(
                        &path.key("levels"),
                        format!("Morris levels must be even and >= 2, got {l}"),
                    ));
                }
                if self.second_order.is_some() {
                    return Err(invalid(
                        &path.key("second_order"),
                        "only for method = \"sobol\"",
                    ));
                }
            }
        }
        if let Some(c) = self.confidence.filter(|c| !(*c > 0.0 && *c < 1.0)) {
            return Err(invalid(
                &path.key("confidence"),
                format!("must lie in (0, 1), got {c}"),
            ));
        }
        if self.factors.is_empty() {
            return Err(invalid(
                &path.key("factors"),
                "a study needs at least one factor",
            ));
        }
        for (i, f) in self.factors.iter().enumerate() {
            check_factor(
                &model,
                regimen,
                population,
                f,
                &path.key("factors").index(i),
            )?;
            if self.factors[..i].iter().any(|g| g.name == f.name) {
                return Err(invalid(
                    &path.key("factors").index(i).key("name"),
                    format!("factor `{}` named twice", f.name),
                ));
            }
        }
        if self.quantities.is_empty() {
            return Err(invalid(
                &path.key("quantities"),
                "a study needs at least one quantity",
            ));
        }
        for (i, q) in self.quantities.iter().enumerate() {
            let qp = path.key("quantities").index(i);
            if !model.endpoint_info().iter().any(|e| e.name == q.endpoint) {
                return Err(invalid(
                    &qp.key("endpoint"),
                    format!("unknown endpoint `{}` for model `sle`", q.endpoint),
                ));
            }
            match (q.statistic, q.q) {
                (StatisticSpec::Quantile, None) => {
                    return Err(invalid(&qp.key("statistic"), "a quantile needs `q`"));
                }
                (StatisticSpec::Quantile, Some(p)) if !(p > 0.0 && p < 1.0) => {
                    return Err(invalid(
                        &qp.key("q"),
                        format!("quantile must lie in (0, 1), got {p}"),
                    ));
                }
                (StatisticSpec::Quantile, Some(_)) | (_, None) => {}
                (_, Some(_)) => {
                    return Err(invalid(&qp.key("q"), "only for statistic = \"quantile\""));
                }
            }
        }
        Ok(())
    }
}

fn check_factor(
    model: &SleModel,
    regimen: &Regimen,
    population: &Population,
    f: &FactorSpec,
    fp: &KeyPath,
) -> Result<(), Located> {
    let name = &f.name;
    for (key, v) in [("lower", f.lower), ("upper", f.upper)] {
        if !v.is_finite() {
            return Err(invalid(
                &fp.key(key),
                format!("factor `{name}`: bound must be finite, got {v}"),
            ));
        }
    }
    if f.lower >= f.upper {
        return Err(invalid(
            &fp.key("upper"),
            format!(
                "factor `{name}`: lower bound {} must be < upper bound {} (empty range)",
                f.lower, f.upper
            ),
        ));
    }
    let positive = f.scale == Some(ScaleSpec::Log) || name.starts_with("dose:");
    if positive && f.lower <= 0.0 {
        return Err(invalid(
            &fp.key("lower"),
            format!(
                "factor `{name}`: a log-scale or dose range needs bounds > 0, got {}",
                f.lower
            ),
        ));
    }
    if let Some(covariate) = name.strip_prefix("covariate:") {
        for (key, v) in [("lower", f.lower), ("upper", f.upper)] {
            let Some(p) = population.with_center(covariate, v) else {
                return Err(invalid(
                    &fp.key("name"),
                    format!(
                        "unknown covariate `{covariate}` (known: {})",
                        Population::COVARIATES.join(", ")
                    ),
                ));
            };
            if let Err(SpecError::Invalid { reason, .. }) = p.validate() {
                return Err(invalid(
                    &fp.key(key),
                    format!("factor `{name}` at {v}: {reason}"),
                ));
            }
        }
        return Ok(());
    }
    if let Some(attribute) = name.strip_prefix("product:") {
        for (key, v) in [("lower", f.lower), ("upper", f.upper)] {
            let mut p = crate::product::Product::default();
            if !p.set_attribute(attribute, v) {
                return Err(invalid(
                    &fp.key("name"),
                    format!(
                        "unknown product attribute `{attribute}` (known: {})",
                        crate::product::Product::ATTRIBUTES.join(", ")
                    ),
                ));
            }
            if let Err(e) = p.validate() {
                return Err(invalid(
                    &fp.key(key),
                    format!("factor `{name}` at {v}: {e}"),
                ));
            }
        }
        return Ok(());
    }
    if let Some(input) = name.strip_prefix("dose:") {
        if !regimen.doses().iter().any(|d| d.input == input) {
            return Err(invalid(
                &fp.key("name"),
                format!("factor `{name}`: the regimen has no dose of `{input}` to vary"),
            ));
        }
        return Ok(());
    }
    let Some(p) = model.parameters().iter().find(|p| p.name == name.as_str()) else {
        return Err(invalid(
            &fp.key("name"),
            format!(
                "unknown factor `{name}`: neither a parameter of model `sle`, nor `dose:<input>`, nor `covariate:<name>`, nor `product:<attribute>`"
            ),
        ));
    };
    for (key, v) in [("lower", f.lower), ("upper", f.upper)] {
        if v < p.lower || v > p.upper {
            return Err(invalid(
                &fp.key(key),
                format!(
                    "factor `{name}`: {key} bound {v} lies outside the parameter's bounds [{}, {}]",
                    p.lower, p.upper
                ),
            ));
        }
    }
    Ok(())
}

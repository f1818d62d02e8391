//! Dose and regimen exploration on common random numbers: every arm simulates the *same*
//! virtual patients (same seed, same ids, so the same covariates and random effects), so
//! differences between arms are due to the regimen alone.

use crate::cohort::{Cohort, CohortResult};
use crate::error::{Error, SpecError};
use crate::io::{car_t_total_dose, describe_lymphodepletion};
use crate::model::Model;
use crate::regimen::Regimen;

/// One arm of an exploration: a label and a regimen.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// Label in tables and plots.
    pub label: String,
    /// Regimen.
    pub regimen: Regimen,
}

impl Arm {
    /// An arm.
    pub fn new(label: impl Into<String>, regimen: Regimen) -> Self {
        Arm {
            label: label.into(),
            regimen,
        }
    }
}

/// The Erlangen schedule (lymphodepletion days −5..−3, CAR-T on day 0) over a grid of CAR-T
/// doses (cells/kg) × lymphodepletion intensities (fludarabine mg/m²/day, cyclophosphamide
/// mg/m²). Labels read `"1e6/kg flu25 cy1000"`.
pub fn flu_cy_grid(car_t_cells_per_kg: &[f64], ld: &[(f64, f64)]) -> Vec<Arm> {
    let mut arms = Vec::with_capacity(car_t_cells_per_kg.len() * ld.len());
    for &dose in car_t_cells_per_kg {
        for &(flu, cy) in ld {
            arms.push(Arm::new(
                format!("{dose:.0e}/kg flu{flu} cy{cy}"),
                Regimen::flu_cy(dose, flu, cy),
            ));
        }
    }
    arms
}

/// Result of one arm.
#[derive(Debug, Clone)]
pub struct ArmResult {
    /// The arm's label.
    pub label: String,
    /// The arm's cohort result (summary, records, failures).
    pub result: CohortResult,
}

/// Runs every arm on the same virtual patients as `cohort`.
///
/// # Errors
/// [`SpecError`] when `arms` is empty or labels repeat; otherwise the first arm's error.
pub fn explore<M: Model<N> + Clone, const N: usize>(
    cohort: &Cohort<M, N>,
    arms: &[Arm],
) -> Result<Vec<ArmResult>, Error> {
    if arms.is_empty() {
        return Err(SpecError::Invalid {
            field: "arms".into(),
            reason: "at least one arm is needed".into(),
        }
        .into());
    }
    for (i, a) in arms.iter().enumerate() {
        if arms[..i].iter().any(|b| b.label == a.label) {
            return Err(SpecError::Invalid {
                field: format!("arm `{}`", a.label),
                reason: "label used twice".into(),
            }
            .into());
        }
    }
    arms.iter()
        .map(|arm| {
            let c = cohort.with_regimen(arm.regimen.clone())?;
            Ok(ArmResult {
                label: arm.label.clone(),
                result: c.run()?,
            })
        })
        .collect()
}

/// One arm of a dose exploration, reduced to what a dose–response chart shows.
#[derive(Debug, Clone, PartialEq)]
pub struct DoseResponsePoint {
    /// Arm label.
    pub label: String,
    /// Series the point belongs to: the lymphodepletion of the arm (e.g.
    /// `"Flu 25 mg/m2 ×3 + Cy 1000 mg/m2 ×1"`, or `"no lymphodepletion"`).
    pub group: String,
    /// Total CAR-T dose, in `dose_unit`.
    pub car_t_dose: f64,
    /// `"cells/kg"` or `"cells"`.
    pub dose_unit: &'static str,
    /// Fraction of patients in remission at month 3.
    pub remission_month3: f64,
    /// Fraction of patients with CRS grade ≥ 2.
    pub crs_ge2: f64,
    /// Median day of B-cell reappearance (NaN when most patients never reappear).
    pub b_reappearance_median_day: f64,
}

/// Reduces explored arms (as returned by [`crate::cohort::explore::explore`], in the order of
/// `arms`) to dose–response points, reading the model's `remission_month3`, `crs_grade_ge2`
/// and `b_cell_reappearance_day` endpoints (NaN where the model lacks one).
pub fn dose_response_points<M: Model<N>, const N: usize>(
    model: &M,
    arms: &[Arm],
    results: &[ArmResult],
) -> Vec<DoseResponsePoint> {
    let info = model.endpoint_info();
    let idx = |name: &str| info.iter().position(|e| e.name == name);
    let (rem, crs, reap) = (
        idx("remission_month3"),
        idx("crs_grade_ge2"),
        idx("b_cell_reappearance_day"),
    );
    arms.iter()
        .zip(results)
        .map(|(arm, r)| {
            let stats = r.result.summary.endpoint_stats();
            let mean = |i: Option<usize>| i.and_then(|i| stats.get(i)).map_or(f64::NAN, |s| s.mean);
            // With more than half missing (never reappeared), the median is undefined.
            let reappear = reap
                .and_then(|i| stats.get(i))
                .map_or(f64::NAN, |s| if s.n > s.missing { s.p50 } else { f64::NAN });
            let (dose, unit) = car_t_total_dose(&arm.regimen);
            DoseResponsePoint {
                label: arm.label.clone(),
                group: describe_lymphodepletion(&arm.regimen),
                car_t_dose: dose,
                dose_unit: unit,
                remission_month3: mean(rem),
                crs_ge2: mean(crs),
                b_reappearance_median_day: reappear,
            }
        })
        .collect()
}

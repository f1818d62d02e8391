//! Dose, regimen and product exploration on common random numbers: every arm simulates the
//! *same* virtual patients (same seed, same ids, so the same covariates and random effects), so
//! differences between arms are due to the regimen and the product alone.

use crate::cohort::{Cohort, CohortResult};
use crate::error::{Error, SpecError};
use crate::model::Model;
use crate::product::Product;
use crate::regimen::Regimen;

/// One arm of an exploration: a label, a regimen and optionally a product.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    /// Label in tables and plots.
    pub label: String,
    /// Regimen.
    pub regimen: Regimen,
    /// The CAR-T product of this arm (`None`: the cohort's own).
    pub product: Option<Product>,
}

impl Arm {
    /// An arm with the cohort's product.
    pub fn new(label: impl Into<String>, regimen: Regimen) -> Self {
        Arm {
            label: label.into(),
            regimen,
            product: None,
        }
    }

    /// The same arm with `product`.
    pub fn with_product(mut self, product: Product) -> Self {
        self.product = Some(product);
        self
    }
}

/// The Erlangen schedule (lymphodepletion days −5..−3, CAR-T on day 0) over a grid of CAR-T
/// doses (cells/kg) × lymphodepletion intensities (fludarabine mg/m²/day, cyclophosphamide
/// mg/m²). Labels read `"1e6/kg flu25 cy1000"` (`"1.5e6/kg …"`: every dose keeps its digits).
pub fn flu_cy_grid(car_t_cells_per_kg: &[f64], ld: &[(f64, f64)]) -> Vec<Arm> {
    let mut arms = Vec::with_capacity(car_t_cells_per_kg.len() * ld.len());
    for &dose in car_t_cells_per_kg {
        for &(flu, cy) in ld {
            arms.push(Arm::new(
                format!("{dose:e}/kg flu{flu} cy{cy}"),
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

/// Holds every arm to a largest fraction of failed patients, as
/// [`CohortResult::check_failures`] holds one cohort run: an arm with more than `max_fraction`
/// of its patients failed, or all of them, fails the exploration (an arm is a study of its
/// own; a whole-arm failure must not hide behind the other arms' patients).
///
/// # Errors
/// [`Error::ArmFailures`] naming the first such arm, with its [`Error::Failures`];
/// [`SpecError::Invalid`] for a `max_fraction` outside `[0, 1]`.
pub fn check_failures(results: &[ArmResult], max_fraction: f64) -> Result<(), Error> {
    crate::cohort::check_failed_fraction_limit(max_fraction)?;
    for r in results {
        r.result
            .check_failures(max_fraction)
            .map_err(|e| Error::ArmFailures {
                arm: r.label.clone(),
                source: Box::new(e),
            })?;
    }
    Ok(())
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
            let mut c = cohort.with_regimen(arm.regimen.clone())?;
            if let Some(p) = &arm.product {
                c = c.with_product(p.clone())?;
            }
            Ok(ArmResult {
                label: arm.label.clone(),
                result: c.run()?,
            })
        })
        .collect()
}

//! What is given when: CAR-T products and lymphodepleting drugs, validated by a builder and
//! resolved per patient into absolute amounts (cells, mg).
//!
//! ```
//! use cartsim::regimen::{Administration, Amount, Regimen};
//!
//! let regimen = Regimen::builder()
//!     .horizon(-6.0, 365.0)
//!     .drug("fludarabine", Amount::MgPerM2(25.0), &[-5.0, -4.0, -3.0],
//!           Administration::Infusion { duration_day: 0.5 / 24.0 })
//!     .drug("cyclophosphamide", Amount::MgPerM2(1000.0), &[-3.0],
//!           Administration::Infusion { duration_day: 1.0 / 24.0 })
//!     .car_t(Amount::CellsPerKg(1e6), 0.0)
//!     .build()?;
//! assert_eq!(regimen.doses().len(), 5);
//! # Ok::<(), cartsim::Error>(())
//! ```

use crate::error::RegimenError;
use crate::model::dose::{CAR_T, ResolvedDose};
use crate::model::info::{InputInfo, InputKind};
use crate::variability::Covariates;

/// A dose amount with its unit. Per-kg and per-m² amounts are scaled by the patient's weight
/// and Mosteller body-surface area when the regimen is resolved.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Amount {
    /// CAR-T cells per kg body weight.
    CellsPerKg(f64),
    /// Flat number of CAR-T cells.
    Cells(f64),
    /// Drug, mg per m² body-surface area (Mosteller).
    MgPerM2(f64),
    /// Drug, mg per kg body weight.
    MgPerKg(f64),
    /// Flat drug amount, mg.
    Mg(f64),
}

impl Amount {
    fn value(&self) -> f64 {
        match *self {
            Amount::CellsPerKg(v)
            | Amount::Cells(v)
            | Amount::MgPerM2(v)
            | Amount::MgPerKg(v)
            | Amount::Mg(v) => v,
        }
    }

    fn unit(&self) -> &'static str {
        match self {
            Amount::CellsPerKg(_) => "cells/kg",
            Amount::Cells(_) => "cells",
            Amount::MgPerM2(_) => "mg/m2",
            Amount::MgPerKg(_) => "mg/kg",
            Amount::Mg(_) => "mg",
        }
    }

    fn fits(&self, kind: InputKind) -> bool {
        matches!(
            (self, kind),
            (Amount::CellsPerKg(_) | Amount::Cells(_), InputKind::Cells)
                | (
                    Amount::MgPerM2(_) | Amount::MgPerKg(_) | Amount::Mg(_),
                    InputKind::DrugMg
                )
        )
    }

    /// Absolute amount for a patient: cells or mg.
    pub fn absolute(&self, covariates: &Covariates) -> f64 {
        match *self {
            Amount::CellsPerKg(v) | Amount::MgPerKg(v) => v * covariates.weight_kg,
            Amount::MgPerM2(v) => v * covariates.bsa_m2(),
            Amount::Cells(v) | Amount::Mg(v) => v,
        }
    }
}

/// How a dose is given.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Administration {
    /// Instantaneous.
    Bolus,
    /// Zero-order infusion over `duration_day` days.
    Infusion {
        /// Duration, day (> 0).
        duration_day: f64,
    },
}

/// One dose of one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Dose {
    /// Input name (`car_t`, `fludarabine`, `cyclophosphamide`, or a custom model's input).
    pub input: String,
    /// Amount and unit.
    pub amount: Amount,
    /// Start time, day (0 = CAR-T infusion by convention; negative before).
    pub time_day: f64,
    /// Bolus or infusion.
    pub administration: Administration,
}

impl Dose {
    /// End of the dose (start + infusion duration), day.
    pub fn end_day(&self) -> f64 {
        match self.administration {
            Administration::Bolus => self.time_day,
            Administration::Infusion { duration_day } => self.time_day + duration_day,
        }
    }
}

/// A renal dose adjustment of one input (applied when the regimen is resolved for a patient).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum RenalAdjustment {
    /// Multiply the dose by `factor` when eGFR is below `egfr_below_ml_per_min` (the fludarabine
    /// label's rule: −20% for creatinine clearance 30–70 mL/min).
    Step {
        /// eGFR threshold, mL/min.
        egfr_below_ml_per_min: f64,
        /// Dose factor in (0, 1].
        factor: f64,
    },
    /// Scale the dose by `eGFR / reference_egfr_ml_per_min`, capped at 1 and floored at
    /// `min_factor` (keeps renally cleared exposure near the reference patient's).
    Proportional {
        /// Reference eGFR, mL/min.
        reference_egfr_ml_per_min: f64,
        /// Smallest factor in (0, 1].
        min_factor: f64,
    },
}

impl RenalAdjustment {
    /// The dose factor for a patient's eGFR (mL/min).
    pub fn factor(&self, egfr_ml_per_min: f64) -> f64 {
        match *self {
            RenalAdjustment::Step {
                egfr_below_ml_per_min,
                factor,
            } => {
                if egfr_ml_per_min < egfr_below_ml_per_min {
                    factor
                } else {
                    1.0
                }
            }
            RenalAdjustment::Proportional {
                reference_egfr_ml_per_min,
                min_factor,
            } => (egfr_ml_per_min / reference_egfr_ml_per_min).clamp(min_factor, 1.0),
        }
    }

    fn check(&self, input: &str) -> Result<(), RegimenError> {
        let (a, b) = match *self {
            RenalAdjustment::Step {
                egfr_below_ml_per_min,
                factor,
            } => (egfr_below_ml_per_min, factor),
            RenalAdjustment::Proportional {
                reference_egfr_ml_per_min,
                min_factor,
            } => (reference_egfr_ml_per_min, min_factor),
        };
        if !(a.is_finite() && a > 0.0 && b.is_finite() && b > 0.0 && b <= 1.0) {
            return Err(RegimenError::BadRenalAdjustment {
                input: input.to_string(),
                reason: format!(
                    "eGFR must be finite and > 0 and the factor in (0, 1], got {a} and {b}"
                ),
            });
        }
        Ok(())
    }
}

/// A validated dosing regimen with its simulation horizon.
#[derive(Debug, Clone, PartialEq)]
pub struct Regimen {
    doses: Vec<Dose>,
    start_day: f64,
    end_day: f64,
    renal: Vec<(String, RenalAdjustment)>,
}

impl Regimen {
    /// Starts a builder. The default horizon is day −6 to day 365.
    pub fn builder() -> RegimenBuilder {
        RegimenBuilder {
            doses: Vec::new(),
            start_day: -6.0,
            end_day: 365.0,
            renal: Vec::new(),
        }
    }

    /// The Erlangen SLE regimen (Mackensen 2022): fludarabine phosphate 25 mg/m²/day as 30-min
    /// infusions on days −5, −4, −3; cyclophosphamide 1000 mg/m² as a 1-h infusion on day −3;
    /// 1 × 10⁶ CAR-T cells/kg on day 0; horizon day −6 to 365.
    /// Infusion durations are assumptions (usual practice).
    pub fn mackensen_2022() -> Self {
        Self::flu_cy(1e6, 25.0, 1000.0)
    }

    /// The Mackensen schedule with another CAR-T dose (cells/kg) and lymphodepletion intensity
    /// (fludarabine mg/m²/day on days −5..−3, cyclophosphamide mg/m² on day −3; 0 omits a drug).
    /// Values must be finite and non-negative (CAR-T dose > 0). The values are not checked
    /// here: a negative, zero CAR-T or non-finite dose gives a regimen that
    /// [`Regimen::bind`] (and so `simulate`, a cohort's `build` and `with_regimen`) rejects
    /// with [`RegimenError::BadAmount`] naming the dose; [`Regimen::try_flu_cy`] checks at once.
    pub fn flu_cy(car_t_cells_per_kg: f64, flu_mg_per_m2: f64, cy_mg_per_m2: f64) -> Self {
        let mut doses = Vec::with_capacity(5);
        if flu_mg_per_m2 != 0.0 {
            for t in [-5.0, -4.0, -3.0] {
                doses.push(Dose {
                    input: "fludarabine".into(),
                    amount: Amount::MgPerM2(flu_mg_per_m2),
                    time_day: t,
                    administration: Administration::Infusion {
                        duration_day: 0.5 / 24.0,
                    },
                });
            }
        }
        if cy_mg_per_m2 != 0.0 {
            doses.push(Dose {
                input: "cyclophosphamide".into(),
                amount: Amount::MgPerM2(cy_mg_per_m2),
                time_day: -3.0,
                administration: Administration::Infusion {
                    duration_day: 1.0 / 24.0,
                },
            });
        }
        doses.push(Dose {
            input: CAR_T.into(),
            amount: Amount::CellsPerKg(car_t_cells_per_kg),
            time_day: 0.0,
            administration: Administration::Bolus,
        });
        Regimen {
            doses,
            start_day: -6.0,
            end_day: 365.0,
            renal: Vec::new(),
        }
    }

    /// [`Regimen::flu_cy`], checked.
    ///
    /// # Errors
    /// [`RegimenError::BadAmount`] naming the first dose that is not finite and > 0.
    pub fn try_flu_cy(
        car_t_cells_per_kg: f64,
        flu_mg_per_m2: f64,
        cy_mg_per_m2: f64,
    ) -> Result<Self, RegimenError> {
        let r = Self::flu_cy(car_t_cells_per_kg, flu_mg_per_m2, cy_mg_per_m2);
        check_doses(&r.doses, r.start_day, r.end_day, &r.renal)?;
        Ok(r)
    }

    /// The doses, sorted by start time (stable: equal times keep insertion order).
    pub fn doses(&self) -> &[Dose] {
        &self.doses
    }

    /// Horizon start, day.
    pub fn start_day(&self) -> f64 {
        self.start_day
    }

    /// Horizon end, day.
    pub fn end_day(&self) -> f64 {
        self.end_day
    }

    /// A copy with another horizon.
    ///
    /// # Errors
    /// As [`RegimenBuilder::build`].
    pub fn with_horizon(&self, start_day: f64, end_day: f64) -> Result<Self, RegimenError> {
        let mut b = Regimen::builder().horizon(start_day, end_day);
        for d in &self.doses {
            b = b.dose(d.clone());
        }
        for (input, adj) in &self.renal {
            b = b.renal_adjustment(input, *adj);
        }
        b.build()
    }

    /// A copy with a renal dose adjustment of `input` (e.g. fludarabine by eGFR).
    ///
    /// # Errors
    /// As [`RegimenBuilder::build`].
    pub fn with_renal_adjustment(
        &self,
        input: &str,
        adjustment: RenalAdjustment,
    ) -> Result<Self, RegimenError> {
        let mut r = self.clone();
        adjustment.check(input)?;
        r.renal.retain(|(i, _)| i != input);
        r.renal.push((input.to_string(), adjustment));
        Ok(r)
    }

    /// Renal dose adjustments, by input.
    pub fn renal_adjustments(&self) -> &[(String, RenalAdjustment)] {
        &self.renal
    }

    /// Checks that every dose names an input of `inputs` with a fitting unit.
    ///
    /// # Errors
    /// [`RegimenError::UnknownInput`] or [`RegimenError::WrongUnit`].
    pub fn check_inputs(&self, model: &str, inputs: &[InputInfo]) -> Result<(), RegimenError> {
        for (input, _) in &self.renal {
            if !inputs.iter().any(|i| i.name == input) {
                return Err(RegimenError::UnknownInput {
                    input: input.clone(),
                    model: model.to_string(),
                    known: inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", "),
                });
            }
        }
        for (index, d) in self.doses.iter().enumerate() {
            let info = inputs.iter().find(|i| i.name == d.input).ok_or_else(|| {
                RegimenError::UnknownInput {
                    input: d.input.clone(),
                    model: model.to_string(),
                    known: inputs.iter().map(|i| i.name).collect::<Vec<_>>().join(", "),
                }
            })?;
            if !d.amount.fits(info.kind) {
                return Err(RegimenError::WrongUnit {
                    index,
                    input: d.input.clone(),
                    unit: d.amount.unit().to_string(),
                    expected: match info.kind {
                        InputKind::Cells => "cells/kg or cells".into(),
                        InputKind::DrugMg => "mg/m2, mg/kg or mg".into(),
                    },
                });
            }
        }
        Ok(())
    }

    /// The lymphodepletion in words: each non-CAR-T drug's amount per administration and count,
    /// e.g. `"Flu 25 mg/m2 ×3 + Cy 1000 mg/m2 ×1"`, or `"no lymphodepletion"`.
    pub fn lymphodepletion_description(&self) -> String {
        let mut parts: Vec<(String, String, usize)> = Vec::new();
        for d in self.doses.iter().filter(|d| d.input != CAR_T) {
            let (v, unit) = match d.amount {
                Amount::MgPerM2(v) => (v, "mg/m2"),
                Amount::MgPerKg(v) => (v, "mg/kg"),
                Amount::Mg(v) => (v, "mg"),
                Amount::CellsPerKg(v) => (v, "cells/kg"),
                Amount::Cells(v) => (v, "cells"),
            };
            let name = match d.input.as_str() {
                "fludarabine" => "Flu".to_string(),
                "cyclophosphamide" => "Cy".to_string(),
                other => other.to_string(),
            };
            let what = format!("{v} {unit}");
            match parts.iter_mut().find(|p| p.0 == name && p.1 == what) {
                Some(p) => p.2 += 1,
                None => parts.push((name, what, 1)),
            }
        }
        if parts.is_empty() {
            return "no lymphodepletion".into();
        }
        parts
            .iter()
            .map(|(n, w, c)| format!("{n} {w} ×{c}"))
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// Total CAR-T dose and its unit: `"cells/kg"` or `"cells"`, the first CAR-T dose's unit
    /// (doses in the other unit are not added).
    pub fn car_t_total_dose(&self) -> (f64, &'static str) {
        let mut total = 0.0;
        let mut unit = "cells/kg";
        let mut first = true;
        for d in self.doses.iter().filter(|d| d.input == CAR_T) {
            let (v, u) = match d.amount {
                Amount::CellsPerKg(v) => (v, "cells/kg"),
                Amount::Cells(v) => (v, "cells"),
                _ => continue,
            };
            if first {
                unit = u;
                first = false;
            }
            if u == unit {
                total += v;
            }
        }
        (total, unit)
    }

    /// Binds the regimen to a model's inputs: checks the horizon, every dose and renal
    /// adjustment once (the builder's checks, and [`Regimen::check_inputs`]) and stores each
    /// dose's input index, so that resolving it for a patient ([`BoundRegimen::resolve_into`])
    /// matches no names.
    ///
    /// # Errors
    /// As [`RegimenBuilder::build`] and [`Regimen::check_inputs`].
    pub fn bind(&self, model: &str, inputs: &[InputInfo]) -> Result<BoundRegimen, RegimenError> {
        let (start_day, end_day) = (self.start_day, self.end_day);
        if !(start_day.is_finite() && end_day.is_finite() && start_day < end_day) {
            return Err(RegimenError::BadHorizon { start_day, end_day });
        }
        check_doses(&self.doses, start_day, end_day, &self.renal)?;
        self.check_inputs(model, inputs)?;
        let doses = self
            .doses
            .iter()
            .map(|d| BoundDose {
                // check_inputs found every input.
                input: inputs.iter().position(|i| i.name == d.input).unwrap_or(0),
                amount: d.amount,
                time_day: d.time_day,
                duration_day: match d.administration {
                    Administration::Bolus => None,
                    Administration::Infusion { duration_day } => Some(duration_day),
                },
                renal: self
                    .renal
                    .iter()
                    .find(|(i, _)| *i == d.input)
                    .map(|(_, adj)| *adj),
            })
            .collect();
        Ok(BoundRegimen {
            regimen: self.clone(),
            doses,
        })
    }

    /// Resolves the doses for one patient into `out` (cleared first), in time order: a
    /// one-off [`Regimen::bind`] followed by [`BoundRegimen::resolve_into`]. For many patients
    /// bind once instead.
    ///
    /// # Errors
    /// As [`Regimen::check_inputs`].
    pub fn resolve_into(
        &self,
        model: &str,
        inputs: &[InputInfo],
        covariates: &Covariates,
        out: &mut Vec<ResolvedDose>,
    ) -> Result<(), RegimenError> {
        self.bind(model, inputs)?.resolve_into(covariates, out);
        Ok(())
    }
}

/// A [`Regimen`] checked against one model's inputs ([`Regimen::bind`]): every dose knows its
/// input index and renal adjustment, so resolving it for a patient is arithmetic only.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundRegimen {
    regimen: Regimen,
    doses: Vec<BoundDose>,
}

/// One dose of a [`BoundRegimen`].
#[derive(Debug, Clone, Copy, PartialEq)]
struct BoundDose {
    input: usize,
    amount: Amount,
    time_day: f64,
    duration_day: Option<f64>,
    renal: Option<RenalAdjustment>,
}

impl BoundRegimen {
    /// The regimen that was bound.
    pub fn regimen(&self) -> &Regimen {
        &self.regimen
    }

    /// Horizon start, day.
    pub fn start_day(&self) -> f64 {
        self.regimen.start_day
    }

    /// Horizon end, day.
    pub fn end_day(&self) -> f64 {
        self.regimen.end_day
    }

    /// Resolves the doses for one patient into `out` (cleared first), in time order: per-kg and
    /// per-m² amounts scaled by the patient's weight and body-surface area, renal adjustments
    /// applied by the patient's eGFR. `covariates` must be valid
    /// ([`Covariates::validate`]).
    pub fn resolve_into(&self, covariates: &Covariates, out: &mut Vec<ResolvedDose>) {
        out.clear();
        out.extend(self.doses.iter().map(|d| {
            let renal = d
                .renal
                .map_or(1.0, |adj| adj.factor(covariates.egfr_ml_per_min));
            ResolvedDose {
                input: d.input,
                time_day: d.time_day,
                amount: d.amount.absolute(covariates) * renal,
                duration_day: d.duration_day,
            }
        }));
    }
}

/// Builder for [`Regimen`]; nothing is checked until [`RegimenBuilder::build`].
#[derive(Debug, Clone)]
#[must_use]
pub struct RegimenBuilder {
    doses: Vec<Dose>,
    start_day: f64,
    end_day: f64,
    renal: Vec<(String, RenalAdjustment)>,
}

impl RegimenBuilder {
    /// Simulated horizon, days (start may be negative: lymphodepletion precedes day 0).
    pub fn horizon(mut self, start_day: f64, end_day: f64) -> Self {
        self.start_day = start_day;
        self.end_day = end_day;
        self
    }

    /// Adjusts every dose of `input` for renal function (replaces an earlier adjustment of the
    /// same input).
    pub fn renal_adjustment(mut self, input: &str, adjustment: RenalAdjustment) -> Self {
        self.renal.retain(|(i, _)| i != input);
        self.renal.push((input.to_string(), adjustment));
        self
    }

    /// Adds one dose.
    pub fn dose(mut self, dose: Dose) -> Self {
        self.doses.push(dose);
        self
    }

    /// Adds a CAR-T infusion (bolus) at `time_day`. Call again for split doses or redosing.
    pub fn car_t(self, amount: Amount, time_day: f64) -> Self {
        self.dose(Dose {
            input: CAR_T.to_string(),
            amount,
            time_day,
            administration: Administration::Bolus,
        })
    }

    /// Splits a CAR-T dose: `total` is given as fractions at days, e.g.
    /// `&[(0.0, 0.1), (1.0, 0.3), (2.0, 0.6)]`. Fractions must be > 0 and sum to 1.
    pub fn car_t_split(mut self, total: Amount, parts: &[(f64, f64)]) -> Self {
        let sum: f64 = parts.iter().map(|p| p.1).sum();
        for &(time_day, fraction) in parts {
            // A fraction sum far from 1 is reported by `build` via a NaN-free amount check below.
            let scale = if (sum - 1.0).abs() <= 1e-9 {
                fraction
            } else {
                f64::NAN
            };
            let amount = match total {
                Amount::CellsPerKg(v) => Amount::CellsPerKg(v * scale),
                Amount::Cells(v) => Amount::Cells(v * scale),
                other => other,
            };
            self.doses.push(Dose {
                input: CAR_T.to_string(),
                amount,
                time_day,
                administration: Administration::Bolus,
            });
        }
        self
    }

    /// Adds a drug given at each of `times_day`.
    pub fn drug(
        mut self,
        input: &str,
        amount: Amount,
        times_day: &[f64],
        administration: Administration,
    ) -> Self {
        for &time_day in times_day {
            self.doses.push(Dose {
                input: input.to_string(),
                amount,
                time_day,
                administration,
            });
        }
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`RegimenError`] for a bad horizon, no dose, a non-finite or non-positive amount, a
    /// non-finite time, a non-positive infusion duration, or a dose outside the horizon.
    pub fn build(self) -> Result<Regimen, RegimenError> {
        let (start_day, end_day) = (self.start_day, self.end_day);
        if !(start_day.is_finite() && end_day.is_finite() && start_day < end_day) {
            return Err(RegimenError::BadHorizon { start_day, end_day });
        }
        if self.doses.is_empty() {
            return Err(RegimenError::Missing {
                field: "doses".into(),
            });
        }
        check_doses(&self.doses, start_day, end_day, &self.renal)?;
        let mut doses = self.doses;
        doses.sort_by(|a, b| a.time_day.total_cmp(&b.time_day));
        Ok(Regimen {
            doses,
            start_day,
            end_day,
            renal: self.renal,
        })
    }
}

/// The checks of [`RegimenBuilder::build`] on every dose (amount finite and > 0, time finite,
/// infusion duration finite and > 0, inside the horizon) and renal adjustment: run again when a
/// regimen is bound, so that a regimen made without the builder ([`Regimen::flu_cy`]) is
/// checked before it is simulated.
fn check_doses(
    doses: &[Dose],
    start_day: f64,
    end_day: f64,
    renal: &[(String, RenalAdjustment)],
) -> Result<(), RegimenError> {
    for (index, d) in doses.iter().enumerate() {
        let v = d.amount.value();
        if !(v.is_finite() && v > 0.0) {
            return Err(RegimenError::BadAmount {
                index,
                input: d.input.clone(),
                value: v,
            });
        }
        if !d.time_day.is_finite() {
            return Err(RegimenError::BadTime {
                index,
                input: d.input.clone(),
                value: d.time_day,
            });
        }
        if let Administration::Infusion { duration_day } = d.administration {
            if !(duration_day.is_finite() && duration_day > 0.0) {
                return Err(RegimenError::BadDuration {
                    index,
                    input: d.input.clone(),
                    value: duration_day,
                });
            }
        }
        if d.time_day < start_day || d.end_day() > end_day {
            return Err(RegimenError::OutsideHorizon {
                index,
                input: d.input.clone(),
                time_day: d.time_day,
                end_day: d.end_day(),
                start_day,
                horizon_end_day: end_day,
            });
        }
    }
    for (input, adj) in renal {
        adj.check(input)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lymphodepletion_and_car_t_dose_are_described() {
        let r = Regimen::mackensen_2022();
        assert_eq!(
            r.lymphodepletion_description(),
            "Flu 25 mg/m2 ×3 + Cy 1000 mg/m2 ×1"
        );
        assert_eq!(
            Regimen::flu_cy(1e6, 0.0, 0.0).lymphodepletion_description(),
            "no lymphodepletion"
        );
        assert_eq!(r.car_t_total_dose(), (1e6, "cells/kg"));
    }

    fn base() -> RegimenBuilder {
        Regimen::builder().car_t(Amount::CellsPerKg(1e6), 0.0)
    }

    #[test]
    fn mackensen_preset_matches_builder() {
        let r = Regimen::builder()
            .drug(
                "fludarabine",
                Amount::MgPerM2(25.0),
                &[-5.0, -4.0, -3.0],
                Administration::Infusion {
                    duration_day: 0.5 / 24.0,
                },
            )
            .drug(
                "cyclophosphamide",
                Amount::MgPerM2(1000.0),
                &[-3.0],
                Administration::Infusion {
                    duration_day: 1.0 / 24.0,
                },
            )
            .car_t(Amount::CellsPerKg(1e6), 0.0)
            .build()
            .unwrap();
        assert_eq!(r, Regimen::mackensen_2022());
    }

    #[test]
    fn resolves_per_kg_and_per_m2() {
        let cov = Covariates {
            weight_kg: 80.0,
            height_cm: 180.0,
            ..Covariates::typical()
        };
        let inputs = crate::model::sle::INPUTS;
        let mut out = Vec::new();
        Regimen::mackensen_2022()
            .resolve_into("sle", inputs, &cov, &mut out)
            .unwrap();
        assert_eq!(out.len(), 5);
        assert!((out[0].amount - 50.0).abs() < 1e-9); // 25 mg/m² × 2 m²
        assert!((out[3].amount - 2000.0).abs() < 1e-9); // Cy 1000 mg/m² × 2 m² (sorted: -3 flu, -3 cy)
        assert!((out[4].amount - 8e7).abs() < 1e-3); // 1e6/kg × 80 kg
        assert_eq!(out[4].duration_day, None);
    }

    #[test]
    fn rejects_bad_inputs() {
        assert!(matches!(
            Regimen::builder()
                .car_t(Amount::CellsPerKg(-1.0), 0.0)
                .build(),
            Err(RegimenError::BadAmount { .. })
        ));
        assert!(matches!(
            Regimen::builder()
                .car_t(Amount::CellsPerKg(f64::NAN), 0.0)
                .build(),
            Err(RegimenError::BadAmount { .. })
        ));
        assert!(matches!(
            Regimen::builder()
                .car_t(Amount::CellsPerKg(1e6), f64::INFINITY)
                .build(),
            Err(RegimenError::BadTime { .. })
        ));
        assert!(matches!(
            base()
                .drug(
                    "fludarabine",
                    Amount::Mg(10.0),
                    &[-3.0],
                    Administration::Infusion { duration_day: 0.0 }
                )
                .build(),
            Err(RegimenError::BadDuration { .. })
        ));
        assert!(matches!(
            base().horizon(0.0, 0.0).build(),
            Err(RegimenError::BadHorizon { .. })
        ));
        assert!(matches!(
            base().horizon(5.0, 1.0).build(),
            Err(RegimenError::BadHorizon { .. })
        ));
        assert!(matches!(
            base().car_t(Amount::Cells(1e8), 400.0).build(),
            Err(RegimenError::OutsideHorizon { .. })
        ));
        assert!(matches!(
            Regimen::builder().build(),
            Err(RegimenError::Missing { .. })
        ));
        let e = base()
            .car_t_split(Amount::Cells(1e8), &[(0.0, 0.5), (1.0, 0.2)])
            .build()
            .unwrap_err();
        assert!(matches!(e, RegimenError::BadAmount { .. }), "{e}");
    }

    #[test]
    fn unknown_input_and_wrong_unit_are_named() {
        let inputs = crate::model::sle::INPUTS;
        let r = base()
            .drug(
                "bendamustine",
                Amount::Mg(10.0),
                &[-3.0],
                Administration::Bolus,
            )
            .build()
            .unwrap();
        let e = r.check_inputs("sle", inputs).unwrap_err();
        assert!(e.to_string().contains("bendamustine"), "{e}");
        let r = Regimen::builder()
            .car_t(Amount::MgPerM2(1.0), 0.0)
            .build()
            .unwrap();
        assert!(matches!(
            r.check_inputs("sle", inputs),
            Err(RegimenError::WrongUnit { .. })
        ));
    }

    #[test]
    fn renal_adjustment_scales_fludarabine_only() {
        let inputs = crate::model::sle::INPUTS;
        let r = Regimen::mackensen_2022()
            .with_renal_adjustment(
                "fludarabine",
                RenalAdjustment::Step {
                    egfr_below_ml_per_min: 70.0,
                    factor: 0.8,
                },
            )
            .unwrap();
        let mut low = Vec::new();
        let mut normal = Vec::new();
        let c = Covariates::typical();
        r.resolve_into(
            "sle",
            inputs,
            &Covariates {
                egfr_ml_per_min: 50.0,
                ..c
            },
            &mut low,
        )
        .unwrap();
        r.resolve_into("sle", inputs, &c, &mut normal).unwrap();
        assert!((low[0].amount / normal[0].amount - 0.8).abs() < 1e-12);
        assert_eq!(low[3].amount, normal[3].amount); // cyclophosphamide unchanged
        assert_eq!(low[4].amount, normal[4].amount); // CAR-T unchanged
        let p = RenalAdjustment::Proportional {
            reference_egfr_ml_per_min: 90.0,
            min_factor: 0.5,
        };
        assert_eq!(p.factor(45.0), 0.5);
        assert!((p.factor(60.0) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(p.factor(120.0), 1.0);
        let bad = Regimen::mackensen_2022().with_renal_adjustment(
            "fludarabine",
            RenalAdjustment::Step {
                egfr_below_ml_per_min: 70.0,
                factor: 1.5,
            },
        );
        assert!(matches!(bad, Err(RegimenError::BadRenalAdjustment { .. })));
    }

    #[test]
    fn split_doses_sum_to_total() {
        let r = Regimen::builder()
            .car_t_split(Amount::Cells(1e8), &[(0.0, 0.1), (1.0, 0.3), (2.0, 0.6)])
            .build()
            .unwrap();
        let total: f64 = r.doses().iter().map(|d| d.amount.value()).sum();
        assert!((total - 1e8).abs() < 1e-3);
    }
}

//! Patient covariates: who the patient is.

use crate::error::ParamError;

/// Biological sex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
}

/// Covariates of one patient. Units are in the field names.
///
/// Construct with [`Covariates::typical`] and struct update syntax, then [`Covariates::validate`]
/// (every simulation entry point validates again).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Covariates {
    /// Biological sex.
    pub sex: Sex,
    /// Age, years.
    pub age_years: f64,
    /// Body weight, kg.
    pub weight_kg: f64,
    /// Height, cm.
    pub height_cm: f64,
    /// Estimated glomerular filtration rate, mL/min (drives fludarabine exposure).
    pub egfr_ml_per_min: f64,
    /// Baseline blood CD19+ B cells, cells/µL.
    pub baseline_b_cells_per_ul: f64,
    /// Baseline blood T cells, cells/µL.
    pub baseline_t_cells_per_ul: f64,
    /// Baseline anti-dsDNA titre, IU/mL.
    pub baseline_anti_dsdna_iu_per_ml: f64,
    /// Baseline SLEDAI-2K score, points.
    pub baseline_sledai: f64,
}

impl Covariates {
    /// The typical patient of PROTOTYPE.md §3: a 65 kg, 166 cm woman of 22 years (Mackensen 2022
    /// median age), eGFR 90 mL/min, blood B 200/µL and T 1000/µL (SLE medians 206 and 962/µL,
    /// PMC1954659), anti-dsDNA 80 IU/mL on the EliA dsDNA scale (the population median, an
    /// assumption), SLEDAI-2K 16 (Mackensen 2022 median).
    pub fn typical() -> Self {
        Covariates {
            sex: Sex::Female,
            age_years: 22.0,
            weight_kg: 65.0,
            height_cm: 166.0,
            egfr_ml_per_min: 90.0,
            baseline_b_cells_per_ul: 200.0,
            baseline_t_cells_per_ul: 1000.0,
            baseline_anti_dsdna_iu_per_ml: 80.0,
            baseline_sledai: 16.0,
        }
    }

    /// Body surface area by Mosteller, m²: `sqrt(height_cm · weight_kg / 3600)`.
    pub fn bsa_m2(&self) -> f64 {
        (self.height_cm * self.weight_kg / 3600.0).sqrt()
    }

    /// Sets the numeric covariate `name` (a field name: `age_years`, `weight_kg`, `height_cm`,
    /// `egfr_ml_per_min`, `baseline_b_cells_per_ul`, `baseline_t_cells_per_ul`,
    /// `baseline_anti_dsdna_iu_per_ml`, `baseline_sledai`) to `value`, unchecked
    /// ([`Covariates::validate`] checks). The body surface area is derived, not set.
    ///
    /// # Errors
    /// [`ParamError::Unknown`] for any other name.
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), ParamError> {
        let field = match name {
            "age_years" => &mut self.age_years,
            "weight_kg" => &mut self.weight_kg,
            "height_cm" => &mut self.height_cm,
            "egfr_ml_per_min" => &mut self.egfr_ml_per_min,
            "baseline_b_cells_per_ul" => &mut self.baseline_b_cells_per_ul,
            "baseline_t_cells_per_ul" => &mut self.baseline_t_cells_per_ul,
            "baseline_anti_dsdna_iu_per_ml" => &mut self.baseline_anti_dsdna_iu_per_ml,
            "baseline_sledai" => &mut self.baseline_sledai,
            _ => {
                return Err(ParamError::Unknown {
                    name: name.to_string(),
                    model: "covariates (bsa_m2 is derived from height and weight)".into(),
                });
            }
        };
        *field = value;
        Ok(())
    }

    /// Checks every field is finite and within physiological bounds.
    ///
    /// # Errors
    /// [`ParamError`] naming the first bad covariate.
    pub fn validate(&self) -> Result<(), ParamError> {
        let checks: [(&str, f64, f64, f64); 8] = [
            ("age_years", self.age_years, 0.0, 120.0),
            ("weight_kg", self.weight_kg, 2.0, 400.0),
            ("height_cm", self.height_cm, 40.0, 250.0),
            ("egfr_ml_per_min", self.egfr_ml_per_min, 1.0, 250.0),
            (
                "baseline_b_cells_per_ul",
                self.baseline_b_cells_per_ul,
                1.0,
                5000.0,
            ),
            (
                "baseline_t_cells_per_ul",
                self.baseline_t_cells_per_ul,
                10.0,
                10000.0,
            ),
            (
                "baseline_anti_dsdna_iu_per_ml",
                self.baseline_anti_dsdna_iu_per_ml,
                1e-3,
                1e5,
            ),
            ("baseline_sledai", self.baseline_sledai, 0.0, 105.0),
        ];
        for (name, value, lower, upper) in checks {
            if !value.is_finite() {
                return Err(ParamError::NotFinite {
                    name: name.to_string(),
                    value,
                });
            }
            if value < lower || value > upper {
                return Err(ParamError::OutOfBounds {
                    name: name.to_string(),
                    value,
                    lower,
                    upper,
                });
            }
        }
        Ok(())
    }
}

/// A numeric covariate as a column of the per-patient tables (`patients.csv`, the typed
/// columns of [`crate::cohort::PatientColumn`], the bindings) and of NONMEM datasets: the one
/// list of covariate columns, in table order, after `sex` ([`Covariates::COLUMNS`]).
#[derive(Debug, Clone, Copy)]
pub struct CovariateColumn {
    /// Column name in `patients.csv` (`age_years`).
    pub name: &'static str,
    /// Unit (`years`).
    pub unit: &'static str,
    /// Column name in NONMEM datasets (`AGE`).
    pub nonmem: &'static str,
    /// The patient's value.
    pub value: fn(&Covariates) -> f64,
}

impl Covariates {
    /// The numeric covariate columns, in the order of `patients.csv` and of NONMEM datasets
    /// (both put `sex` first: `F`/`M` in `patients.csv`, `SEX` 1/0 in NONMEM datasets). The
    /// body surface area is derived ([`Covariates::bsa_m2`]).
    pub const COLUMNS: [CovariateColumn; 9] = [
        CovariateColumn {
            name: "age_years",
            unit: "years",
            nonmem: "AGE",
            value: |c| c.age_years,
        },
        CovariateColumn {
            name: "weight_kg",
            unit: "kg",
            nonmem: "WT",
            value: |c| c.weight_kg,
        },
        CovariateColumn {
            name: "height_cm",
            unit: "cm",
            nonmem: "HT",
            value: |c| c.height_cm,
        },
        CovariateColumn {
            name: "bsa_m2",
            unit: "m²",
            nonmem: "BSA",
            value: Covariates::bsa_m2,
        },
        CovariateColumn {
            name: "egfr_ml_per_min",
            unit: "mL/min",
            nonmem: "EGFR",
            value: |c| c.egfr_ml_per_min,
        },
        CovariateColumn {
            name: "baseline_b_cells_per_ul",
            unit: "cells/µL",
            nonmem: "BCELL0",
            value: |c| c.baseline_b_cells_per_ul,
        },
        CovariateColumn {
            name: "baseline_t_cells_per_ul",
            unit: "cells/µL",
            nonmem: "TCELL0",
            value: |c| c.baseline_t_cells_per_ul,
        },
        CovariateColumn {
            name: "baseline_anti_dsdna_iu_per_ml",
            unit: "IU/mL",
            nonmem: "DSDNA0",
            value: |c| c.baseline_anti_dsdna_iu_per_ml,
        },
        CovariateColumn {
            name: "baseline_sledai",
            unit: "points",
            nonmem: "SLEDAI0",
            value: |c| c.baseline_sledai,
        },
    ];
}

impl Default for Covariates {
    fn default() -> Self {
        Self::typical()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_settable_column_is_set_by_name() {
        for col in Covariates::COLUMNS.iter().filter(|c| c.name != "bsa_m2") {
            let mut c = Covariates::typical();
            c.set(col.name, 42.5).unwrap();
            assert_eq!((col.value)(&c), 42.5, "{}", col.name);
        }
        let e = Covariates::typical().set("bsa_m2", 2.0).unwrap_err();
        assert!(e.to_string().contains("bsa_m2"), "{e}");
    }

    #[test]
    fn mosteller_bsa() {
        let c = Covariates {
            height_cm: 180.0,
            weight_kg: 80.0,
            ..Covariates::typical()
        };
        assert!((c.bsa_m2() - 2.0).abs() < 1e-12);
    }

    #[test]
    fn rejects_nan_and_out_of_range() {
        let c = Covariates {
            weight_kg: f64::NAN,
            ..Covariates::typical()
        };
        let e = c.validate().unwrap_err();
        assert!(e.to_string().contains("weight_kg"));
        let c = Covariates {
            egfr_ml_per_min: -5.0,
            ..Covariates::typical()
        };
        assert!(matches!(c.validate(), Err(ParamError::OutOfBounds { .. })));
        assert!(Covariates::typical().validate().is_ok());
    }
}

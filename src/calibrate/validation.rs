//! Validation of a simulated cohort against the published trial: each MODEL.md §1 target as a
//! statistic of an endpoint with an acceptance interval, its published value, the simulated
//! value and pass/fail.
//!
//! [`sle_targets`] lists the targets of the default SLE model (Mackensen et al., Nat Med
//! 2022;28:2124; Mougiakakos et al., NEJM 2021): the intervals are the acceptance
//! criteria for a 2,000-patient default cohort. `examples/validation.rs` prints the table and
//! writes it as CSV; `tests/validation_targets.rs` asserts every row.

use std::path::Path;

use crate::calibrate::Statistic;
use crate::cohort::PatientRecord;
use crate::error::{Error, SpecError};
use crate::io::write_atomic;
use crate::model::EndpointInfo;

/// One published target: `lower ≤ statistic(endpoint) ≤ upper`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationTarget {
    /// Short name (CSV `target` column).
    pub name: &'static str,
    /// Endpoint.
    pub endpoint: &'static str,
    /// Statistic across patients.
    pub statistic: Statistic,
    /// The published value, as reported.
    pub published: &'static str,
    /// Lower end of the acceptance interval.
    pub lower: f64,
    /// Upper end of the acceptance interval.
    pub upper: f64,
    /// Where the published value comes from.
    pub source: &'static str,
}

/// One row of a validation table.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationRow {
    /// The target.
    pub target: ValidationTarget,
    /// The simulated statistic.
    pub simulated: f64,
    /// Whether it lies in `[lower, upper]`.
    pub pass: bool,
}

/// The MODEL.md §1 targets of the default SLE cohort (1 × 10⁶ CAR-T cells/kg after Flu/Cy).
pub fn sle_targets() -> Vec<ValidationTarget> {
    use Statistic::{Fraction, Mean, Quantile, Sd};
    let mk = |name, endpoint, statistic, published, lower, upper, source| ValidationTarget {
        name,
        endpoint,
        statistic,
        published,
        lower,
        upper,
        source,
    };
    vec![
        mk(
            "b_cell_reappearance_mean_day",
            "b_cell_reappearance_day",
            Mean,
            "110 day",
            70.0,
            150.0,
            "Mackensen 2022: 110 ± 32 days (mean ± SD), n = 5: 95% t interval of the mean \
             110 ± 2.776·32/√5 = 70–150",
        ),
        mk(
            "b_cell_reappearance_sd_day",
            "b_cell_reappearance_day",
            Sd,
            "32 day",
            19.0,
            92.0,
            "Mackensen 2022: 110 ± 32 days (mean ± SD), n = 5: 95% χ² interval of the SD \
             32·√(4/11.14) to 32·√(4/0.484) = 19–92",
        ),
        mk(
            "car_t_peak_day_median",
            "car_t_peak_day",
            Quantile(0.5),
            "about day 9",
            8.0,
            10.0,
            "Mackensen 2022 Fig. 2",
        ),
        mk(
            "car_t_peak_day_p05",
            "car_t_peak_day",
            Quantile(0.05),
            "individual peaks from about day 6",
            5.0,
            8.0,
            "Mackensen 2022 Fig. 2 (individual peaks ~day 6–14)",
        ),
        mk(
            "car_t_peak_day_p95",
            "car_t_peak_day",
            Quantile(0.95),
            "individual peaks to about day 14",
            10.0,
            15.0,
            "Mackensen 2022 Fig. 2 (individual peaks ~day 6–14)",
        ),
        mk(
            "car_t_peak_median_cells_per_ul",
            "car_t_peak_cells_per_ul",
            Quantile(0.5),
            "tens to low hundreds cells/µL",
            10.0,
            300.0,
            "Mackensen 2022 Fig. 2 (order of magnitude)",
        ),
        mk(
            "b_cells_below_1_per_ul_day14",
            "b_depleted_day14",
            Fraction,
            "≈ 0/µL within days (5/5)",
            0.95,
            1.0,
            "Mackensen 2022",
        ),
        mk(
            "anti_dsdna_negative_month3",
            "anti_dsdna_negative_month3",
            Fraction,
            "all patients (5/5) seroconverted",
            0.72,
            1.0,
            "Mackensen 2022; Mougiakakos 2021. Negative on the EliA dsDNA assay (< 10 IU/mL); 5/5 \
             is likely (P ≥ 0.2) from a 72% rate",
        ),
        mk(
            "remission_month3",
            "remission_month3",
            Fraction,
            "DORIS remission 5/5",
            0.72,
            1.0,
            "Mackensen 2022: 5/5 in remission at month 3 is likely (P ≥ 0.2) only when the \
             remission rate is ≥ 72% (0.72⁵ = 0.19)",
        ),
        mk(
            "sledai_month3_median",
            "sledai_month3",
            Quantile(0.5),
            "SLEDAI-2K median 0 (range 0–2)",
            0.0,
            2.0,
            "Mackensen 2022",
        ),
        mk(
            "crs_grade_ge2",
            "crs_grade_ge2",
            Fraction,
            "0/5 (grade 1 in 3/5); programme about 10%",
            0.04,
            0.20,
            "Mackensen 2022 (0/5: 95% upper bound 0.52); rese-cel programme under the same \
             regimen, 90% no CRS or grade 1 (EULAR 2025 OP0338)",
        ),
        mk(
            "crs_grade_ge3",
            "crs_grade_ge3",
            Fraction,
            "0/5; possible but rare",
            0.0,
            0.03,
            "Mackensen 2022; rese-cel programme (EULAR 2025 OP0338)",
        ),
        mk(
            "autoreactive_eliminated_day365",
            "autoreactive_eliminated",
            Fraction,
            "returning B cells naive (5/5)",
            0.90,
            1.0,
            "Mackensen 2022",
        ),
        mk(
            "lasting_remission_day365",
            "lasting_remission",
            Fraction,
            "remission maintained 5/5 (up to 17 months); programme > 40 patients largely \
             drug-free up to 4 years",
            0.72,
            1.0,
            "Mackensen 2022 (5/5 maintained: P ≥ 0.2 needs ≥ 72%); Erlangen programme, Schett \
             2025 (MODEL.md §7)",
        ),
        mk(
            "relapse_day365",
            "relapse",
            Fraction,
            "1 relapse (at 9 months) among > 40 patients",
            0.005,
            0.13,
            "Erlangen programme (Schett 2025; anti-synthetase relapse at 9 months, Nat Med \
             2025): Clopper–Pearson 95% interval of 1/40 is 0.1–13%; a few percent, not none",
        ),
    ]
}

/// Computes each target's statistic over `records` (endpoints in the order of `info`).
///
/// # Errors
/// [`SpecError::Invalid`] naming a target whose endpoint `info` does not have.
pub fn validate(
    records: &[PatientRecord],
    info: &[EndpointInfo],
    targets: &[ValidationTarget],
) -> Result<Vec<ValidationRow>, Error> {
    targets
        .iter()
        .map(|t| {
            let k = info
                .iter()
                .position(|e| e.name == t.endpoint)
                .ok_or_else(|| SpecError::Invalid {
                    field: format!("validation target `{}`", t.name),
                    reason: format!("unknown endpoint `{}`", t.endpoint),
                })?;
            let v: Vec<f64> = records
                .iter()
                .filter_map(|r| r.endpoints.get(k).copied())
                .collect();
            let simulated = t.statistic.of(&v);
            Ok(ValidationRow {
                target: t.clone(),
                simulated,
                pass: simulated >= t.lower && simulated <= t.upper,
            })
        })
        .collect()
}

/// Writes the table as CSV: `target,published,simulated,lower,upper,pass`.
///
/// # Errors
/// [`Error::Io`].
pub fn write_validation_csv(path: &Path, rows: &[ValidationRow]) -> Result<(), Error> {
    write_atomic(path, |w| {
        let mut wr = csv::Writer::from_writer(&mut *w);
        wr.write_record(["target", "published", "simulated", "lower", "upper", "pass"])?;
        for r in rows {
            wr.write_record([
                r.target.name.to_string(),
                r.target.published.to_string(),
                r.simulated.to_string(),
                r.target.lower.to_string(),
                r.target.upper.to_string(),
                r.pass.to_string(),
            ])?;
        }
        wr.flush()?;
        drop(wr);
        w.flush()
    })
}

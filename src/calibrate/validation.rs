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

impl ValidationTarget {
    /// A target: `lower ≤ statistic(endpoint) ≤ upper`, with the published value and its source.
    pub const fn new(
        name: &'static str,
        endpoint: &'static str,
        statistic: Statistic,
        published: &'static str,
        lower: f64,
        upper: f64,
        source: &'static str,
    ) -> Self {
        ValidationTarget {
            name,
            endpoint,
            statistic,
            published,
            lower,
            upper,
            source,
        }
    }
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
    use Statistic::{Fraction, FractionAtMost, Mean, Quantile, Sd};
    let mk = ValidationTarget::new;
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
            "car_t_undetectable_by_day60",
            "car_t_undetectable_day",
            FractionAtMost(60.0),
            "low levels after about a month, low-level detection for months",
            0.0,
            0.5,
            "Mackensen 2022 (MODEL.md §1): detection for months in the typical patient, so at \
             most half lose it within 2 months (detection limit: SleDefinitions::\
             car_t_detection_per_ul)",
        ),
        mk(
            "car_t_undetectable_by_day365",
            "car_t_undetectable_day",
            FractionAtMost(365.0),
            "persistence consistently shorter in SLE than in lymphoma",
            0.5,
            1.0,
            "Erlangen comparison of SLE and lymphoma patients (ASTCT summary Oct 2025, MODEL.md \
             §7); in lymphoma most responders keep detectable tisagenlecleucel beyond 6 months, \
             up to 554 days by flow and 693 by qPCR (JULIET, Awasthi et al., Blood Adv \
             2020;4:560): shorter in SLE read as most patients losing detection within a year",
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

/// One trial or programme of the cross-trial table: what was given, to whom, where it was
/// published, the scenario file that simulates it and the targets it supports.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial {
    /// Short name (CSV `trial` column).
    pub name: &'static str,
    /// Publication(s).
    pub source: &'static str,
    /// Product (preset name of [`crate::product`]).
    pub product: &'static str,
    /// Regimen, as given.
    pub regimen: &'static str,
    /// Population, as enrolled (and how the simulation represents it).
    pub population: &'static str,
    /// Scenario file under `scenarios/` that simulates the trial.
    pub scenario: &'static str,
    /// Published targets with acceptance bands sized by the trial's evidence.
    pub targets: Vec<ValidationTarget>,
}

/// The cross-trial validation table (MODEL.md §1 and §7): the Erlangen trial (every
/// [`sle_targets`] row), KYSA-1 with the CD28 product KYV-101 at both dose levels, and the
/// rese-cel programme. Each band follows from the size of the evidence behind it (binomial
/// intervals for counts, "ordinary outcome" for single patients: inside the simulated 5–95%
/// range), not from the fit. `tests/validation_targets.rs` asserts every row;
/// `examples/validation.rs` prints the table and runs any scenario against any trial's rows.
pub fn cross_trial_targets() -> Vec<Trial> {
    use Statistic::{Fraction, FractionAtMost};
    let mk = ValidationTarget::new;
    vec![
        Trial {
            name: "Mackensen 2022",
            source: "Mackensen et al., Nat Med 2022;28:2124; Mougiakakos et al., NEJM 2021; \
                     Erlangen programme (Schett 2025)",
            product: "mb_cart19_1",
            regimen: "1e6 CAR-T/kg after Flu 25 mg/m2 x 3 + Cy 1000 mg/m2",
            population: "refractory SLE, n = 5 (SLE population defaults)",
            scenario: "mackensen_2022.toml",
            targets: sle_targets(),
        },
        Trial {
            name: "KYSA-1 DL1",
            source: "Lupus Sci Med 2024;11(Suppl 1):A109 (MODEL.md §7)",
            product: "kyv101",
            regimen: "flat 0.5e8 CAR-T after Flu 30 + Cy 300 mg/m2 on days -7..-5",
            population: "refractory lupus nephritis, n = 2 (SLE population defaults)",
            scenario: "kysa1_dl1.toml",
            targets: vec![
                mk(
                    "b_cell_return_by_day56",
                    "b_cell_reappearance_day",
                    FractionAtMost(56.0),
                    "B-cell recovery in patient 1 from day 56",
                    0.05,
                    0.95,
                    "one patient: day 56 must be an ordinary outcome, inside the simulated \
                     5–95% range of the return day",
                ),
                mk(
                    "b_cells_below_1_per_ul_day14",
                    "b_depleted_day14",
                    Fraction,
                    "B-cell depletion (2/2)",
                    0.72,
                    1.0,
                    "2/2 depleted: likely (P ≥ 0.5) from a 72% rate",
                ),
                mk(
                    "crs_grade_ge1",
                    "crs_grade_ge1",
                    Fraction,
                    "grade 1 CRS in 2/2 (fever days 5–6 and 10–11)",
                    0.22,
                    1.0,
                    "2/2 with fever: P ≥ 0.05 needs a rate ≥ 22%",
                ),
                mk(
                    "car_t_undetectable_by_day28",
                    "car_t_undetectable_day",
                    FractionAtMost(28.0),
                    "KYV-101 rapidly expanded",
                    0.0,
                    0.5,
                    "expansion and B-cell depletion in 2/2 (Lupus Sci Med 2024;11(Suppl \
                     1):A109): CAR-T detectable through the first month in most patients",
                ),
                mk(
                    "car_t_undetectable_by_day180",
                    "car_t_undetectable_day",
                    FractionAtMost(180.0),
                    "CD28 product: shorter persistence than 4-1BB products",
                    0.5,
                    1.0,
                    "CD28 axicabtagene persists a median of about 6 months in lymphoma (label, \
                     follicular lymphoma), 4-1BB tisagenlecleucel to 554–693 days (Awasthi \
                     2020), and persistence is shorter in SLE than in lymphoma (MODEL.md §7): \
                     most KYV-101 patients lose detection within 6 months",
                ),
                mk(
                    "crs_grade_ge2",
                    "crs_grade_ge2",
                    Fraction,
                    "no grade ≥ 2 (0/2): mostly grade 1",
                    0.0,
                    0.5,
                    "0/2: a rate above 50% would make it unlikely (P < 0.25)",
                ),
            ],
        },
        Trial {
            name: "KYSA-1 DL2",
            source: "Lupus Sci Med 2024;11(Suppl 1):A109; relapse about 5 months after a \
                     response, EULAR 2024 industry symposium (MODEL.md §7)",
            product: "kyv101",
            regimen: "flat 1e8 CAR-T after Flu 30 + Cy 300 mg/m2 on days -7..-5",
            population: "refractory lupus nephritis (SLE population defaults)",
            scenario: "kyv101_flat.toml",
            targets: vec![
                mk(
                    "relapse_day365",
                    "relapse",
                    Fraction,
                    "a KYV-101 patient relapsed after a response",
                    0.005,
                    0.30,
                    "relapse after response occurs with the CD28 product: possible, a \
                     minority (one report)",
                ),
                mk(
                    "relapse_by_day240",
                    "relapse_day",
                    FractionAtMost(240.0),
                    "relapse about 5 months after an initial response",
                    0.0005,
                    1.0,
                    "one patient, relapsing ≈ 5 months after a response reached within the \
                     first 3 months, so by day ≈ 240: must be possible (at least 1 in 2,000 \
                     virtual patients). Measured 2026-12-03: the earliest simulated relapse is \
                     day 219; none by day 180, so 5 months after infusion is outside the model",
                ),
            ],
        },
        Trial {
            name: "rese-cel programme",
            source: "EULAR 2025 OP0338 (RESET-SLE/SSc; MODEL.md §7)",
            product: "rese_cel",
            regimen: "1e6 CAR-T/kg after Flu 25 mg/m2 x 3 + Cy 1000 mg/m2",
            population: "SLE and SSc (SLE population defaults)",
            scenario: "rese_cel.toml",
            targets: vec![
                mk(
                    "crs_grade_ge2",
                    "crs_grade_ge2",
                    Fraction,
                    "90% no CRS or grade 1",
                    0.04,
                    0.20,
                    "about 10% grade ≥ 2 in a programme of some tens of patients",
                ),
                mk(
                    "crs_grade_ge3",
                    "crs_grade_ge3",
                    Fraction,
                    "grade ≥ 3 rare",
                    0.0,
                    0.03,
                    "EULAR 2025 OP0338",
                ),
            ],
        },
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

//! NONMEM-style simulated datasets: one CSV that NONMEM, nlmixr2/rxode2, Monolix and Pumas
//! load as they load clinical data.
//!
//! Every virtual patient of a cohort contributes
//! - **dose records** (`EVID=1`, `MDV=1`): one per dose of the regimen resolved for that
//!   patient, `AMT` in the input's absolute unit (cells for the CAR-T product, mg for drugs),
//!   `RATE` in amount/day for infusions (0 for a bolus), `CMT` = input number;
//! - **observation records** (`EVID=0`, `MDV=0`): one per observed output and observation
//!   time, `DV` in the output's unit, optionally with residual error, censored at the output's
//!   detection limit (`CENS=1`, `DV=LLOQ`, the Monolix/nlmixr2 convention for the M3 method);
//! - **covariate columns**, constant within a patient.
//!
//! Records are sorted by `ID`, then `TIME`, with dose records before observations at equal
//! times (NONMEM's order: the dose acts first).
//!
//! Columns: `ID,TIME,DAY,DV,AMT,RATE,EVID,MDV,CMT,CENS,LLOQ,SEX,AGE,WT,HT,BSA,EGFR,BCELL0,
//! TCELL0,DSDNA0,SLEDAI0` — `TIME` in days (see [`TimeOrigin`]), `DAY` the study day (0 =
//! CAR-T infusion), `SEX` 1 = female and 0 = male, `AGE` years, `WT` kg, `HT` cm, `BSA` m²
//! (Mosteller), `EGFR` mL/min, `BCELL0`/`TCELL0` baseline blood B/T cells per µL, `DSDNA0`
//! baseline anti-dsDNA IU/mL, `SLEDAI0` baseline SLEDAI-2K points.
//!
//! Compartment numbers: dose inputs are `1..=n_inputs` in the model's input order; output `k`
//! (model output order) is `n_inputs + 1 + k` ([`cmt_table`] lists them). For the SLE model:
//! `car_t` 1, `fludarabine` 2, `cyclophosphamide` 3, `car_t_cells_per_ul` 4, …
//!
//! Determinism: residual errors are drawn from a stream of their own,
//! [`residual_rng`]`(seed, id)`, one normal deviate per observation in (time,
//! output) order, so the dataset is a pure function of `(seed, id)` and never disturbs the
//! patient's own draws.
//!
//! ```
//! use cartsim::cohort::Cohort;
//! use cartsim::io::nonmem::{self, NonmemOptions};
//! use cartsim::prelude::*;
//!
//! let cohort = Cohort::builder(SleModel::default()).patients(2).seed(3).build()?;
//! let (records, failed) = nonmem::records(&cohort, &NonmemOptions::default(), 0..2)?;
//! assert!(failed.is_empty());
//! assert_eq!(records.iter().filter(|r| r.evid == 1).count(), 2 * 5); // 5 doses each
//! # Ok::<(), cartsim::Error>(())
//! ```

use std::ops::Range;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::cohort::Cohort;
use crate::error::{Error, NonFiniteOutput, PatientError, SpecError};
use crate::io::write_atomic;
use crate::model::Model;
use crate::model::ResolvedDose;
use crate::variability::{Covariates, ResidualError, Sex, residual_rng};

/// Default observation days: a dense early schedule for expansion and depletion, then the
/// usual study visits up to one year.
pub const DEFAULT_TIMES_DAY: &[f64] = &[
    0.0, 1.0, 2.0, 4.0, 7.0, 9.0, 11.0, 14.0, 21.0, 28.0, 42.0, 56.0, 90.0, 120.0, 180.0, 270.0,
    365.0,
];

/// Default observed outputs of the SLE model.
pub const DEFAULT_OUTPUTS: &[&str] = &[
    "car_t_cells_per_ul",
    "b_cells_per_ul",
    "anti_dsdna_iu_per_ml",
    "sledai",
    "il6_pg_per_ml",
];

/// The dataset's columns, in order.
pub const COLUMNS: &[&str] = &[
    "ID", "TIME", "DAY", "DV", "AMT", "RATE", "EVID", "MDV", "CMT", "CENS", "LLOQ", "SEX", "AGE",
    "WT", "HT", "BSA", "EGFR", "BCELL0", "TCELL0", "DSDNA0", "SLEDAI0",
];

/// How observations below an output's detection limit are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Censoring {
    /// `CENS=1` and `DV` = the detection limit (`LLOQ`), as Monolix and nlmixr2 expect for
    /// left-censored data (NONMEM's M3 method reads the same columns).
    #[default]
    AtDetectionLimit,
    /// `DV` as simulated, `CENS=0` everywhere (compare `DV` with `LLOQ` yourself).
    Keep,
}

/// What `TIME = 0` means in the dataset (`DAY` is always the study day).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeOrigin {
    /// `TIME` = days since the start of the simulated horizon (day −6 for the Erlangen
    /// regimen), so it is never negative, which NONMEM requires.
    #[default]
    HorizonStart,
    /// `TIME` = study day (0 = CAR-T infusion; lymphodepletion at negative times).
    Infusion,
}

/// One observed output and its residual error (scenario files: `[[nonmem.observations]]`
/// with `output` and an optional `residual`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservedOutput {
    /// Output name (e.g. `b_cells_per_ul`), as in [`Model::outputs`].
    pub output: String,
    /// Residual error added to the prediction (in the output's unit; default none).
    #[serde(default, skip_serializing_if = "is_exact")]
    pub residual: ResidualError,
}

fn is_exact(residual: &ResidualError) -> bool {
    *residual == ResidualError::None
}

impl ObservedOutput {
    /// An output observed without residual error.
    pub fn exact(output: impl Into<String>) -> Self {
        ObservedOutput {
            output: output.into(),
            residual: ResidualError::None,
        }
    }
}

/// What the dataset contains.
#[derive(Debug, Clone, PartialEq)]
pub struct NonmemOptions {
    /// Observed outputs, in the order written at each time.
    pub observations: Vec<ObservedOutput>,
    /// Observation days (study days, 0 = CAR-T infusion), strictly increasing, inside the
    /// regimen's horizon.
    pub times_day: Vec<f64>,
    /// Treatment of values below the detection limit.
    pub censoring: Censoring,
    /// Origin of the `TIME` column.
    pub time_origin: TimeOrigin,
}

impl Default for NonmemOptions {
    /// [`DEFAULT_OUTPUTS`] without residual error at [`DEFAULT_TIMES_DAY`], censored at the
    /// detection limit, `TIME` from the horizon start.
    fn default() -> Self {
        NonmemOptions {
            observations: DEFAULT_OUTPUTS
                .iter()
                .map(|o| ObservedOutput::exact(*o))
                .collect(),
            times_day: DEFAULT_TIMES_DAY.to_vec(),
            censoring: Censoring::default(),
            time_origin: TimeOrigin::default(),
        }
    }
}

/// One record (row) of the dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NonmemRecord {
    /// Patient id (the cohort's id).
    pub id: u64,
    /// Time, day, from the chosen [`TimeOrigin`].
    pub time_day: f64,
    /// Study day (0 = CAR-T infusion).
    pub study_day: f64,
    /// Observation in the output's unit (0 on dose records).
    pub dv: f64,
    /// Dose amount: cells for cell products, mg for drugs (0 on observations).
    pub amt: f64,
    /// Infusion rate, amount/day (0 for boluses and observations).
    pub rate_per_day: f64,
    /// 1 = dose, 0 = observation.
    pub evid: u8,
    /// 1 = missing DV (dose records), 0 = observation.
    pub mdv: u8,
    /// Compartment number (see [`cmt_table`]).
    pub cmt: u32,
    /// 1 when the observation is censored at the detection limit.
    pub cens: u8,
    /// Lower limit of quantification in the output's unit (0 on doses and outputs without one).
    pub lloq: f64,
    /// The patient's covariates.
    pub covariates: Covariates,
}

impl NonmemRecord {
    /// A record of patient `id` with every field zero (time 0, an observation, compartment 0),
    /// to fill in with struct-update syntax.
    pub fn zero(id: u64, covariates: Covariates) -> Self {
        NonmemRecord {
            id,
            time_day: 0.0,
            study_day: 0.0,
            dv: 0.0,
            amt: 0.0,
            rate_per_day: 0.0,
            evid: 0,
            mdv: 0,
            cmt: 0,
            cens: 0,
            lloq: 0.0,
            covariates,
        }
    }

    /// The record as CSV fields, in [`COLUMNS`] order.
    pub fn fields(&self) -> Vec<String> {
        let c = &self.covariates;
        let mut f = vec![
            self.id.to_string(),
            fmt_num(self.time_day),
            fmt_num(self.study_day),
            fmt_num(self.dv),
            fmt_num(self.amt),
            fmt_num(self.rate_per_day),
            self.evid.to_string(),
            self.mdv.to_string(),
            self.cmt.to_string(),
            self.cens.to_string(),
            fmt_num(self.lloq),
            match c.sex {
                Sex::Female => "1".into(),
                Sex::Male => "0".into(),
            },
        ];
        // The covariate columns of the per-patient table, under their NONMEM names.
        f.extend(
            Covariates::COLUMNS
                .iter()
                .map(|col| fmt_num((col.value)(c))),
        );
        f
    }
}

/// A number with 8 significant digits, plain when moderate, `1.2345e-7` style otherwise
/// (readable by NONMEM, R, Python and Julia alike).
fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if !v.is_finite() {
        return ".".into();
    }
    let a = v.abs();
    if v.fract() == 0.0 && a < 1e15 {
        return format!("{v:.0}");
    }
    if (1e-3..1e7).contains(&a) {
        let digits = a.log10().floor() as i32 + 1;
        let decimals = (8 - digits).max(0) as usize;
        let s = format!("{v:.decimals$}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        return s.to_string();
    }
    let s = format!("{v:.7e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let m = m.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{e}")
        }
        None => s,
    }
}

/// Compartment numbers used in the dataset: `(CMT, name)` for every dose input, then every
/// output of the model.
pub fn cmt_table<M: Model<N>, const N: usize>(model: &M) -> Vec<(u32, &'static str)> {
    let inputs = model.inputs();
    let n_in = inputs.len() as u32;
    inputs
        .iter()
        .enumerate()
        .map(|(i, x)| (i as u32 + 1, x.name))
        .chain(
            model
                .outputs()
                .iter()
                .enumerate()
                .map(|(k, o)| (n_in + 1 + k as u32, o.name)),
        )
        .collect()
}

/// Options checked against a cohort: output indices and detection limits.
struct Resolved {
    outputs: Vec<(usize, u32, f64, ResidualError)>,
    times_day: Vec<f64>,
    origin_day: f64,
    censoring: Censoring,
}

impl NonmemOptions {
    /// Checks the options against a cohort's model and regimen.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming `nonmem.observations[i].output` for an unknown output,
    /// `nonmem.observations[i].residual` for bad residual parameters, `nonmem.times_day` for
    /// times that are empty, not finite, not strictly increasing or outside the horizon.
    pub fn validate<M: Model<N>, const N: usize>(
        &self,
        cohort: &Cohort<M, N>,
    ) -> Result<(), SpecError> {
        self.resolve(cohort).map(|_| ())
    }

    fn resolve<M: Model<N>, const N: usize>(
        &self,
        cohort: &Cohort<M, N>,
    ) -> Result<Resolved, SpecError> {
        let model = cohort.model();
        let n_in = model.inputs().len() as u32;
        let mut outputs = Vec::with_capacity(self.observations.len());
        if self.observations.is_empty() {
            return Err(SpecError::Invalid {
                field: "nonmem.observations".into(),
                reason: "at least one observed output is needed".into(),
            });
        }
        for (i, o) in self.observations.iter().enumerate() {
            let k = model
                .output_index(&o.output)
                .ok_or_else(|| SpecError::Invalid {
                    field: format!("nonmem.observations[{i}].output"),
                    reason: format!(
                        "unknown output `{}` (known: {})",
                        o.output,
                        model
                            .outputs()
                            .iter()
                            .map(|x| x.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
            o.residual
                .validate(&format!("nonmem.observations[{i}].residual"))?;
            let lloq = model.outputs().get(k).map_or(0.0, |x| x.detection_limit);
            outputs.push((k, n_in + 1 + k as u32, lloq, o.residual));
        }
        let regimen = cohort.regimen();
        let (a, b) = (regimen.start_day(), regimen.end_day());
        let bad = |reason: String| SpecError::Invalid {
            field: "nonmem.times_day".into(),
            reason,
        };
        if self.times_day.is_empty() {
            return Err(bad("at least one observation time is needed".into()));
        }
        for (i, &t) in self.times_day.iter().enumerate() {
            if !t.is_finite() || t < a || t > b {
                return Err(bad(format!(
                    "time {i} = {t} day lies outside the horizon [{a}, {b}] day"
                )));
            }
            if i > 0 && t <= self.times_day[i - 1] {
                return Err(bad(format!(
                    "times must be strictly increasing, got {} then {t} day",
                    self.times_day[i - 1]
                )));
            }
        }
        Ok(Resolved {
            outputs,
            times_day: self.times_day.clone(),
            origin_day: match self.time_origin {
                TimeOrigin::HorizonStart => a,
                TimeOrigin::Infusion => 0.0,
            },
            censoring: self.censoring,
        })
    }
}

/// One patient's records, sorted by time (doses first at equal times).
fn patient_records<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    opts: &Resolved,
    id: u64,
) -> Result<Vec<NonmemRecord>, PatientError> {
    let (rec, tr) = cohort.simulate_patient(id)?;
    let model = cohort.model();
    let cov = rec.covariates;
    let mut doses: Vec<ResolvedDose> = Vec::new();
    cohort
        .regimen()
        .resolve_into(model.name(), model.inputs(), &cov, &mut doses)
        .map_err(|e| PatientError {
            id,
            cause: Box::new(e.into()),
            params: Vec::new(),
        })?;
    let base = NonmemRecord::zero(id, cov);
    let mut out = Vec::with_capacity(doses.len() + opts.times_day.len() * opts.outputs.len());
    for d in &doses {
        out.push(NonmemRecord {
            time_day: d.time_day - opts.origin_day,
            study_day: d.time_day,
            amt: d.amount,
            rate_per_day: d.rate_per_day().unwrap_or(0.0),
            evid: 1,
            mdv: 1,
            cmt: d.input as u32 + 1,
            ..base
        });
    }
    let mut rng = residual_rng(cohort.seed(), id);
    for &t in &opts.times_day {
        for &(k, cmt, lloq, residual) in &opts.outputs {
            let f = tr.value_at(k, t);
            let y = residual.sample(f, &mut rng);
            if !y.is_finite() {
                // Never `DV = .` on an observation (NONMEM reads it as 0): a failed patient.
                return Err(PatientError {
                    id,
                    cause: Box::new(
                        NonFiniteOutput {
                            kind: "observation",
                            name: cohort
                                .model()
                                .outputs()
                                .get(k)
                                .map_or("?", |o| o.name)
                                .to_string(),
                            value: y,
                            t_day: Some(t),
                        }
                        .into(),
                    ),
                    params: cohort
                        .iiv()
                        .names()
                        .iter()
                        .cloned()
                        .zip(rec.params.iter().copied())
                        .collect(),
                });
            }
            let censored = opts.censoring == Censoring::AtDetectionLimit && lloq > 0.0 && y < lloq;
            out.push(NonmemRecord {
                time_day: t - opts.origin_day,
                study_day: t,
                dv: if censored { lloq } else { y },
                cmt,
                cens: u8::from(censored),
                lloq,
                ..base
            });
        }
    }
    // Stable: doses (EVID 1) before observations at equal times; otherwise insertion order.
    out.sort_by(|a, b| a.time_day.total_cmp(&b.time_day).then(b.evid.cmp(&a.evid)));
    Ok(out)
}

/// Simulates patients `range` (in parallel) and returns their records in `(ID, TIME)` order,
/// with the failures of patients that could not be simulated (left out of the records).
///
/// # Errors
/// [`SpecError`] for invalid options (see [`NonmemOptions::validate`]) or a range outside the
/// cohort.
pub fn records<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    options: &NonmemOptions,
    range: Range<u64>,
) -> Result<(Vec<NonmemRecord>, Vec<PatientError>), Error> {
    let opts = options.resolve(cohort)?;
    check_range(cohort, &range)?;
    let per: Vec<Result<Vec<NonmemRecord>, PatientError>> = range
        .into_par_iter()
        .map(|id| patient_records(cohort, &opts, id))
        .collect();
    let mut recs = Vec::new();
    let mut failed = Vec::new();
    for p in per {
        match p {
            Ok(r) => recs.extend(r),
            Err(e) => failed.push(e),
        }
    }
    Ok((recs, failed))
}

fn check_range<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    range: &Range<u64>,
) -> Result<(), SpecError> {
    if range.start >= range.end || range.end > cohort.n_patients() {
        return Err(SpecError::Invalid {
            field: "range".into(),
            reason: format!(
                "must be a non-empty range within 0..{}, got {}..{}",
                cohort.n_patients(),
                range.start,
                range.end
            ),
        });
    }
    Ok(())
}

/// What [`write_nonmem_csv`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct NonmemSummary {
    /// Patients in the file.
    pub patients: u64,
    /// Records (rows, header excluded).
    pub records: u64,
    /// Patients that failed to simulate and were left out, in id order.
    pub failures: Vec<PatientError>,
}

/// Simulates every patient of `cohort` and writes the dataset to `path` (atomically), in
/// blocks of 1,024 patients so memory stays bounded for large cohorts.
///
/// # Errors
/// [`SpecError`] for invalid options (checked before the file is created); [`Error::Io`].
pub fn write_nonmem_csv<M: Model<N>, const N: usize>(
    path: &Path,
    cohort: &Cohort<M, N>,
    options: &NonmemOptions,
) -> Result<NonmemSummary, Error> {
    const BLOCK: u64 = 1024;
    let opts = options.resolve(cohort)?;
    let n = cohort.n_patients();
    let mut summary = NonmemSummary {
        patients: 0,
        records: 0,
        failures: Vec::new(),
    };
    write_atomic(path, |w| {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record(COLUMNS)?;
        let mut start = 0;
        while start < n {
            let end = start.saturating_add(BLOCK).min(n);
            let per: Vec<Result<Vec<NonmemRecord>, PatientError>> = (start..end)
                .into_par_iter()
                .map(|id| patient_records(cohort, &opts, id))
                .collect();
            for p in per {
                match p {
                    Ok(rs) => {
                        summary.patients += 1;
                        for r in &rs {
                            wr.write_record(r.fields())?;
                        }
                        summary.records += rs.len() as u64;
                    }
                    Err(e) => summary.failures.push(e),
                }
            }
            start = end;
        }
        wr.flush()
    })?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariate_columns_are_the_per_patient_tables() {
        let names: Vec<&str> = Covariates::COLUMNS.iter().map(|c| c.nonmem).collect();
        assert_eq!(COLUMNS[COLUMNS.len() - names.len()..], names[..]);
        assert_eq!(COLUMNS[COLUMNS.len() - names.len() - 1], "SEX");
        let r = NonmemRecord {
            cmt: 1,
            ..NonmemRecord::zero(0, Covariates::typical())
        };
        let f = r.fields();
        assert_eq!(f.len(), COLUMNS.len());
        assert_eq!(f[COLUMNS.iter().position(|&c| c == "WT").unwrap()], "65");
    }

    #[test]
    fn numbers_are_compact_and_exact_enough() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(65_000_000.0), "65000000");
        assert_eq!(fmt_num(-5.0), "-5");
        assert_eq!(fmt_num(12.345678912), "12.345679");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(fmt_num(1.5e-7), "1.5e-7");
        assert_eq!(fmt_num(2.0e20), "2e20");
        assert_eq!(fmt_num(f64::NAN), ".");
        let x = 0.012_345_678_9_f64;
        assert!((fmt_num(x).parse::<f64>().unwrap() / x - 1.0).abs() < 1e-7);
    }
}

//! Files: JSON summaries, tidy CSV tables, percentile bands, NONMEM-style datasets
//! ([`nonmem`]), scenario files ([`scenario`]) and, with the `plot` feature, figures
//! (`cartsim::plot`).
//!
//! [`write_cohort_outputs`] writes everything the cohort example writes.
//!
//! Every writer writes to a temporary file next to the target and renames it into place, so a
//! failed run never leaves a half-written file; [`write_cohort_outputs`] writes its whole set
//! through an [`output_set::OutputSet`] (a staging folder published with one rename, a lock
//! against concurrent runs, a manifest), so a failed or interrupted run never leaves a partial
//! or mixed set either. Floats are written in Rust's shortest
//! round-trip form, so equal results give byte-identical files.

pub mod atomic;
pub mod nonmem;
pub mod output_set;
pub mod scenario;

pub use atomic::write_atomic;
pub use output_set::OutputSet;

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::cohort::explore::{Arm, ArmResult};
use crate::cohort::{Cell, Cohort, CohortResult, PatientColumn, PatientRecord, patient_columns};
use crate::error::{Error, PatientError};
use crate::model::{EndpointKind, Model};
use crate::summary::{Stats, SummaryMode};

/// A float for JSON: finite values as numbers, others as `null`.
fn num(x: f64) -> Value {
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// What the writers need to know about a cohort, without the cohort itself: endpoint names and
/// kinds, output names, the per-patient table's header and the summary mode.
///
/// [`OutputLayout::of`] takes it from a [`Cohort`]; shard files ([`crate::shard`]) carry it so
/// that a merge step writes the same files as the single-process run without rebuilding the
/// cohort. Every `*_with` writer below is the code path of the cohort-based writer of the same
/// name, so both give byte-identical files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputLayout {
    /// Endpoint names and kinds, in the model's endpoint order.
    pub endpoints: Vec<(String, EndpointKind)>,
    /// Output names, in the model's output order.
    pub outputs: Vec<String>,
    /// Columns of the per-patient table ([`patient_columns`]).
    pub columns: Vec<PatientColumn>,
    /// Summary mode of the cohort.
    pub summary_mode: SummaryMode,
    /// The CAR-T product, described ([`Product::describe`](crate::product::Product::describe)),
    /// when the cohort names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

impl OutputLayout {
    /// The layout of `cohort`'s outputs.
    pub fn of<M: Model<N>, const N: usize>(cohort: &Cohort<M, N>) -> Self {
        let m = cohort.model();
        OutputLayout {
            endpoints: m
                .endpoint_info()
                .iter()
                .map(|e| (e.name.to_string(), e.kind))
                .collect(),
            outputs: m.outputs().iter().map(|o| o.name.to_string()).collect(),
            columns: patient_columns(cohort),
            summary_mode: cohort.summary_mode(),
            product: cohort.product().map(|p| p.describe()),
        }
    }

    /// Header of the per-patient table (the names of [`OutputLayout::columns`]).
    pub fn patients_header(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// The unit of the per-patient column `name` (`""` when there is none).
    fn unit(&self, name: &str) -> &str {
        self.columns
            .iter()
            .find(|c| c.name == name)
            .map_or("", |c| c.unit.as_str())
    }
}

/// Statistics of one continuous endpoint across a cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSummary {
    /// Endpoint name.
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// `n, missing, mean, sd, p05..p95` (NaN where undefined, e.g. no patient with a value).
    pub stats: Stats,
}

/// A cohort's summary as types: what `summary.json` holds ([`CohortSummary::to_json`]), in
/// the model's endpoint order, with units.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortSummary {
    /// Patients in the run.
    pub patients: u64,
    /// Seed.
    pub seed: u64,
    /// Patients that failed.
    pub failed: u64,
    /// Patients retried with the stiff solver.
    pub stiff_retries: u64,
    /// The summary mode, as in `summary.json` (`Exact`, `Streaming { alpha: 0.01 }`).
    pub summary_mode: String,
    /// The CAR-T product, described, when the cohort names one.
    pub product: Option<String>,
    /// Continuous endpoints.
    pub endpoints: Vec<EndpointSummary>,
    /// Fractions of patients with each flag endpoint set (`NaN` when no patient succeeded).
    pub fractions: Vec<(String, f64)>,
    /// Probability of attaining each target.
    pub targets: Vec<(String, f64)>,
}

impl CohortSummary {
    /// The summary of `result`, a run of `cohort`.
    pub fn of<M: Model<N>, const N: usize>(cohort: &Cohort<M, N>, result: &CohortResult) -> Self {
        Self::with(&OutputLayout::of(cohort), result)
    }

    /// [`CohortSummary::of`] from an [`OutputLayout`].
    pub fn with(layout: &OutputLayout, result: &CohortResult) -> Self {
        let stats = result.summary.endpoint_stats();
        let mut endpoints = Vec::new();
        let mut fractions = Vec::new();
        for ((name, kind), s) in layout.endpoints.iter().zip(&stats) {
            match kind {
                EndpointKind::Continuous => endpoints.push(EndpointSummary {
                    name: name.clone(),
                    unit: layout.unit(name).to_string(),
                    stats: *s,
                }),
                EndpointKind::Flag => fractions.push((name.clone(), s.mean)),
            }
        }
        CohortSummary {
            patients: result.range.end - result.range.start,
            seed: result.seed,
            failed: result.summary.failed,
            stiff_retries: result.stiff_retries,
            summary_mode: format!("{:?}", layout.summary_mode),
            product: layout.product.clone(),
            endpoints,
            fractions,
            targets: result
                .summary
                .target_attainment()
                .into_iter()
                .map(|(t, p)| (t.name.clone(), p))
                .collect(),
        }
    }

    /// The summary as JSON (what `summary.json` holds; keys sorted, NaN as `null`, no units):
    /// `{"patients", "seed", "failed", "endpoints": {name: {n, missing, mean, sd, p05..p95}},
    /// "fractions": {name: value}, "targets": {name: probability}, "stiff_retries",
    /// "summary_mode"}`, plus `"product"` when the cohort names one.
    pub fn to_json(&self) -> Value {
        let endpoints: Map<String, Value> = self
            .endpoints
            .iter()
            .map(|e| {
                let s = &e.stats;
                let v = json!({
                    "n": s.n, "missing": s.missing, "mean": num(s.mean), "sd": num(s.sd),
                    "p05": num(s.p05), "p25": num(s.p25), "p50": num(s.p50),
                    "p75": num(s.p75), "p95": num(s.p95),
                });
                (e.name.clone(), v)
            })
            .collect();
        let pairs = |v: &[(String, f64)]| -> Map<String, Value> {
            v.iter().map(|(n, x)| (n.clone(), num(*x))).collect()
        };
        let mut json = json!({
            "patients": self.patients,
            "seed": self.seed,
            "failed": self.failed,
            "stiff_retries": self.stiff_retries,
            "summary_mode": self.summary_mode,
            "endpoints": endpoints,
            "fractions": pairs(&self.fractions),
            "targets": pairs(&self.targets),
        });
        if let (Some(p), Some(map)) = (&self.product, json.as_object_mut()) {
            map.insert("product".into(), Value::String(p.clone()));
        }
        json
    }
}

/// The cohort summary as JSON:
/// `{"patients", "seed", "failed", "endpoints": {name: {n, missing, mean, sd, p05..p95}},
/// "fractions": {name: value}, "targets": {name: probability}, "stiff_retries", "summary_mode"}`,
/// plus `"product"` (its description) when the cohort names a product.
pub fn summary_json<M: Model<N>, const N: usize>(
    cohort: &Cohort<M, N>,
    result: &CohortResult,
) -> Value {
    summary_json_with(&OutputLayout::of(cohort), result)
}

/// [`summary_json`] from an [`OutputLayout`] ([`CohortSummary::to_json`]).
pub fn summary_json_with(layout: &OutputLayout, result: &CohortResult) -> Value {
    CohortSummary::with(layout, result).to_json()
}

/// The summary as a plain-text table for terminals: continuous endpoints (mean, SD, p05, p50,
/// p95 with units), then flag fractions and target attainment in percent.
pub fn summary_table(
    info: &[crate::model::EndpointInfo],
    summary: &crate::summary::SummaryAccumulator,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<36} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "endpoint", "mean", "sd", "p05", "p50", "p95"
    );
    for (e, st) in info.iter().zip(summary.endpoint_stats()) {
        if e.kind == EndpointKind::Continuous {
            let _ = writeln!(
                s,
                "{:<36} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>10.3}  {}",
                e.name, st.mean, st.sd, st.p05, st.p50, st.p95, e.unit
            );
        }
    }
    for (name, f) in summary.fractions(info) {
        let _ = writeln!(s, "{name:<36} {:>9.1}%", 100.0 * f);
    }
    for (t, p) in summary.target_attainment() {
        let _ = writeln!(s, "target: {:<28} {:>9.1}%", t.name, 100.0 * p);
    }
    s
}

/// Writes [`summary_json`] to `path` (pretty-printed).
///
/// # Errors
/// [`Error::Io`].
pub fn write_summary_json<M: Model<N>, const N: usize>(
    path: &Path,
    cohort: &Cohort<M, N>,
    result: &CohortResult,
) -> Result<(), Error> {
    write_summary_json_with(path, &OutputLayout::of(cohort), result)
}

/// [`write_summary_json`] from an [`OutputLayout`].
///
/// # Errors
/// [`Error::Io`].
pub fn write_summary_json_with(
    path: &Path,
    layout: &OutputLayout,
    result: &CohortResult,
) -> Result<(), Error> {
    let v = summary_json_with(layout, result);
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, &v)?;
        writeln!(w)
    })
}

/// Header of the per-patient table: the names of [`patient_columns`].
pub fn patients_header<M: Model<N>, const N: usize>(cohort: &Cohort<M, N>) -> Vec<String> {
    patient_columns(cohort)
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// One row of the per-patient table: [`PatientRecord::cells`] as text.
pub fn patient_row(r: &PatientRecord) -> Vec<String> {
    r.cells().iter().map(Cell::to_string).collect()
}

/// Writes the per-patient table (one row per successful patient, in id order).
///
/// # Errors
/// [`Error::Io`].
pub fn write_patients_csv<M: Model<N>, const N: usize>(
    path: &Path,
    cohort: &Cohort<M, N>,
    result: &CohortResult,
) -> Result<(), Error> {
    let header = patients_header(cohort);
    write_atomic(path, |w| {
        write_csv_record(w, &header)?;
        write_patient_rows(w, &result.records)
    })
}

/// Writes one CSV record (e.g. the per-patient header) as [`write_patients_csv`] does.
///
/// # Errors
/// The writer's error.
pub fn write_csv_record(w: &mut dyn Write, record: &[String]) -> std::io::Result<()> {
    let mut wr = csv::Writer::from_writer(w);
    wr.write_record(record)?;
    wr.flush()
}

/// Writes the rows of the per-patient table ([`patient_row`]) for `records`, without header, as
/// [`write_patients_csv`] does: tables written in id-ordered parts concatenate to the same bytes.
///
/// # Errors
/// The writer's error.
pub fn write_patient_rows(w: &mut dyn Write, records: &[PatientRecord]) -> std::io::Result<()> {
    let mut wr = csv::Writer::from_writer(w);
    for r in records {
        wr.write_record(patient_row(r))?;
    }
    wr.flush()
}

/// Writes percentile bands in long format: `time_day,output,p05,p25,p50,p75,p95`.
///
/// # Errors
/// [`Error::Io`].
pub fn write_bands_csv<M: Model<N>, const N: usize>(
    path: &Path,
    cohort: &Cohort<M, N>,
    result: &CohortResult,
) -> Result<(), Error> {
    write_bands_csv_with(path, &OutputLayout::of(cohort), result)
}

/// [`write_bands_csv`] from an [`OutputLayout`].
///
/// # Errors
/// [`Error::Io`].
pub fn write_bands_csv_with(
    path: &Path,
    layout: &OutputLayout,
    result: &CohortResult,
) -> Result<(), Error> {
    write_atomic(path, |w| {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record(["time_day", "output", "p05", "p25", "p50", "p75", "p95"])?;
        for row in band_rows(layout, result) {
            let mut rec = vec![row.time_day.to_string(), row.output.to_string()];
            rec.extend(row.quantiles.iter().map(|v| v.to_string()));
            wr.write_record(&rec)?;
        }
        wr.flush()
    })
}

/// One row of the percentile bands (`bands.csv`): an output's quantiles
/// ([`crate::summary::QUANTILES`]: 5, 25, 50, 75, 95%) across patients at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BandRow<'a> {
    /// Time, day.
    pub time_day: f64,
    /// Output name.
    pub output: &'a str,
    /// `p05, p25, p50, p75, p95`, in the output's unit.
    pub quantiles: [f64; 5],
}

/// The percentile bands in long format, output by output, then by time: the rows of
/// `bands.csv`.
pub fn band_rows<'a>(layout: &'a OutputLayout, result: &CohortResult) -> Vec<BandRow<'a>> {
    let times = result.summary.band_times_day();
    let mut rows = Vec::with_capacity(times.len() * layout.outputs.len());
    for (k, o) in layout.outputs.iter().enumerate() {
        for (t, q) in times.iter().zip(result.summary.bands(k)) {
            rows.push(BandRow {
                time_day: *t,
                output: o,
                quantiles: q,
            });
        }
    }
    rows
}

/// The files [`write_cohort_outputs`] writes, in order (the figures only with the `plot`
/// feature), besides `failures.csv` (only when a patient failed) and the set's
/// [`output_set::MANIFEST`].
pub const COHORT_OUTPUTS: &[&str] = &[
    "summary.json",
    "patients.csv",
    "bands.csv",
    #[cfg(feature = "plot")]
    "bands.png",
    #[cfg(feature = "plot")]
    "bands.svg",
];

/// Writes everything the cohort example writes as one output set in the folder `dir` (see
/// [`output_set`]: nothing appears in `dir` unless every file was written, an earlier set in
/// `dir` is replaced whole, a concurrent run into `dir` is refused):
/// - `summary.json`: endpoint statistics, fractions, target attainment ([`summary_json`]);
/// - `patients.csv`: one row per patient: covariates, sampled parameters, endpoints (not when
///   the cohort discards its records);
/// - `bands.csv`: percentile bands of every output over time, long format;
/// - with the `plot` feature, `bands.png` and `bands.svg`: CAR-T, B cells, anti-dsDNA and
///   SLEDAI bands (`cartsim::plot::write_band_figure`; the model must have those outputs);
/// - `failures.csv` when a patient failed ([`write_failures_csv`]);
/// - `manifest.json`: every file with its size and checksum, written last.
///
/// Returns the paths written, in [`COHORT_OUTPUTS`] order, then `failures.csv` if written.
///
/// # Errors
/// [`Error::Io`] naming the file; [`Error::Input`] when `dir` is locked by another run or holds
/// files that are not cartsim outputs; [`Error::Plot`] from the figures.
pub fn write_cohort_outputs<M: Model<N>, const N: usize>(
    dir: &Path,
    cohort: &Cohort<M, N>,
    result: &CohortResult,
) -> Result<Vec<PathBuf>, Error> {
    let set = OutputSet::create(dir)?;
    let names = write_cohort_files(&set, cohort, result, true)?;
    set.commit()?;
    Ok(names.iter().map(|f| dir.join(f)).collect())
}

/// Writes the files of [`write_cohort_outputs`] into an open [`OutputSet`] (without
/// committing it), `patients.csv` only when `patients` is true (a caller that streamed the rows
/// writes it itself) and the cohort keeps its records ([`Records::Keep`](crate::cohort::Records);
/// a scenario's `records = false` leaves it out). Returns the names written.
///
/// # Errors
/// As [`write_cohort_outputs`].
pub fn write_cohort_files<M: Model<N>, const N: usize>(
    set: &OutputSet,
    cohort: &Cohort<M, N>,
    result: &CohortResult,
    patients: bool,
) -> Result<Vec<&'static str>, Error> {
    let mut names = Vec::with_capacity(COHORT_OUTPUTS.len() + 1);
    write_summary_json(&set.path("summary.json")?, cohort, result)?;
    names.push("summary.json");
    if patients && cohort.records() == crate::cohort::Records::Keep {
        write_patients_csv(&set.path("patients.csv")?, cohort, result)?;
        names.push("patients.csv");
    }
    write_bands_csv(&set.path("bands.csv")?, cohort, result)?;
    names.push("bands.csv");
    #[cfg(feature = "plot")]
    {
        crate::plot::write_band_figure(&set.path("bands.png")?, cohort, result)?;
        crate::plot::write_band_figure(&set.path("bands.svg")?, cohort, result)?;
        names.extend(["bands.png", "bands.svg"]);
    }
    if !result.failures.is_empty() {
        write_failures_csv(&set.path("failures.csv")?, &result.failures)?;
        names.push("failures.csv");
    }
    Ok(names)
}

/// Writes failed patients, one row each in the order given: `id, stage, error`, then one column
/// per sampled parameter (their union, in order of first appearance; empty where a failure
/// carries no value). `stage` is [`FailureCause::stage`](crate::error::FailureCause::stage)
/// (`parameters`, `regimen`, `solve`, `outputs`); `error` is the cause's message.
///
/// # Errors
/// [`Error::Io`].
pub fn write_failures_csv(path: &Path, failures: &[PatientError]) -> Result<(), Error> {
    write_failures(path, false, failures.iter().map(|f| (None, f)))
}

/// Writes the failed patients of a dose exploration, as [`write_failures_csv`] with the arm's
/// label after the id: `id, arm, stage, error`, then the sampled parameters. Arms in order,
/// patients in id order within an arm (the same id may fail in several arms).
///
/// # Errors
/// [`Error::Io`].
pub fn write_exploration_failures_csv(path: &Path, results: &[ArmResult]) -> Result<(), Error> {
    write_failures(
        path,
        true,
        results.iter().flat_map(|r| {
            r.result
                .failures
                .iter()
                .map(move |f| (Some(r.label.as_str()), f))
        }),
    )
}

/// `failures.csv`, with an `arm` column when `arms`.
fn write_failures<'a>(
    path: &Path,
    arms: bool,
    failures: impl Iterator<Item = (Option<&'a str>, &'a PatientError)> + Clone,
) -> Result<(), Error> {
    let mut names: Vec<&str> = Vec::new();
    for (_, f) in failures.clone() {
        for (n, _) in &f.params {
            if !names.contains(&n.as_str()) {
                names.push(n);
            }
        }
    }
    write_atomic(path, |w| {
        let mut wr = csv::Writer::from_writer(w);
        let mut header = vec!["id"];
        if arms {
            header.push("arm");
        }
        header.extend(["stage", "error"]);
        header.extend(names.iter().copied());
        wr.write_record(&header)?;
        for (arm, f) in failures {
            let mut row = vec![f.id.to_string()];
            if arms {
                row.push(arm.unwrap_or_default().to_string());
            }
            row.extend([f.cause.stage().to_string(), f.cause.to_string()]);
            for n in &names {
                row.push(
                    f.params
                        .iter()
                        .find(|(m, _)| m == n)
                        .map_or_else(String::new, |(_, v)| v.to_string()),
                );
            }
            wr.write_record(&row)?;
        }
        wr.flush()
    })
}

/// Writes a dose exploration as one row per arm: `label, product, lymphodepletion, car_t_dose,
/// car_t_dose_unit, patients, failed`, then for every continuous endpoint `NAME_mean`,
/// `NAME_p05`, `NAME_p50`, `NAME_p95` (in the endpoint's unit), for every flag endpoint
/// `NAME_fraction`, and for every target `target: NAME` (probability).
///
/// # Errors
/// [`Error::Input`] when `arms` and `results` differ in length; [`Error::Io`].
pub fn write_exploration_csv<M: Model<N>, const N: usize>(
    path: &Path,
    model: &M,
    arms: &[Arm],
    results: &[ArmResult],
) -> Result<(), Error> {
    if arms.len() != results.len() {
        return Err(Error::Input(format!(
            "{} arms but {} results",
            arms.len(),
            results.len()
        )));
    }
    let info = model.endpoint_info();
    let mut header: Vec<String> = [
        "label",
        "product",
        "lymphodepletion",
        "car_t_dose",
        "car_t_dose_unit",
        "patients",
        "failed",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for e in info {
        match e.kind {
            EndpointKind::Continuous => {
                for s in ["mean", "p05", "p50", "p95"] {
                    header.push(format!("{}_{s}", e.name));
                }
            }
            EndpointKind::Flag => header.push(format!("{}_fraction", e.name)),
        }
    }
    if let Some(r) = results.first() {
        for (t, _) in r.result.summary.target_attainment() {
            header.push(format!("target: {}", t.name));
        }
    }
    write_atomic(path, |w| {
        let mut wr = csv::Writer::from_writer(w);
        wr.write_record(&header)?;
        for (arm, r) in arms.iter().zip(results) {
            let (dose, unit) = arm.regimen.car_t_total_dose();
            let s = &r.result.summary;
            let mut row = vec![
                r.label.clone(),
                arm.product
                    .as_ref()
                    .map_or(String::new(), |p| p.name.clone()),
                arm.regimen.lymphodepletion_description(),
                dose.to_string(),
                unit.to_string(),
                s.patients.to_string(),
                s.failed.to_string(),
            ];
            for (e, st) in info.iter().zip(s.endpoint_stats()) {
                match e.kind {
                    EndpointKind::Continuous => {
                        for v in [st.mean, st.p05, st.p50, st.p95] {
                            row.push(v.to_string());
                        }
                    }
                    EndpointKind::Flag => row.push(st.mean.to_string()),
                }
            }
            for (_, p) in s.target_attainment() {
                row.push(p.to_string());
            }
            wr.write_record(&row)?;
        }
        wr.flush()
    })
}

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
use crate::cohort::{Cohort, CohortResult, PatientRecord};
use crate::error::{Error, PatientError};
use crate::model::{EndpointKind, Model};
use crate::summary::SummaryMode;
use crate::variability::Sex;

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
    /// Header of the per-patient table ([`patients_header`]).
    pub patients_header: Vec<String>,
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
            patients_header: patients_header(cohort),
            summary_mode: cohort.summary_mode(),
            product: cohort.product().map(|p| p.describe()),
        }
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

/// [`summary_json`] from an [`OutputLayout`].
pub fn summary_json_with(layout: &OutputLayout, result: &CohortResult) -> Value {
    let stats = result.summary.endpoint_stats();
    let mut endpoints = Map::new();
    let mut fractions = Map::new();
    for ((name, kind), s) in layout.endpoints.iter().zip(&stats) {
        match kind {
            EndpointKind::Continuous => {
                endpoints.insert(
                    name.clone(),
                    json!({
                        "n": s.n, "missing": s.missing, "mean": num(s.mean), "sd": num(s.sd),
                        "p05": num(s.p05), "p25": num(s.p25), "p50": num(s.p50),
                        "p75": num(s.p75), "p95": num(s.p95),
                    }),
                );
            }
            EndpointKind::Flag => {
                fractions.insert(name.clone(), num(s.mean));
            }
        }
    }
    let targets: Map<String, Value> = result
        .summary
        .target_attainment()
        .into_iter()
        .map(|(t, p)| (t.name.clone(), num(p)))
        .collect();
    let mut json = json!({
        "patients": result.range.end - result.range.start,
        "seed": result.seed,
        "failed": result.summary.failed,
        "stiff_retries": result.stiff_retries,
        "summary_mode": format!("{:?}", layout.summary_mode),
        "endpoints": endpoints,
        "fractions": fractions,
        "targets": targets,
    });
    if let (Some(p), Some(map)) = (&layout.product, json.as_object_mut()) {
        map.insert("product".into(), Value::String(p.clone()));
    }
    json
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

/// Header of the per-patient table.
pub fn patients_header<M: Model<N>, const N: usize>(cohort: &Cohort<M, N>) -> Vec<String> {
    let mut h: Vec<String> = [
        "id",
        "sex",
        "age_years",
        "weight_kg",
        "height_cm",
        "bsa_m2",
        "egfr_ml_per_min",
        "baseline_b_cells_per_ul",
        "baseline_t_cells_per_ul",
        "baseline_anti_dsdna_iu_per_ml",
        "baseline_sledai",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(cohort.iiv().names().iter().cloned());
    h.extend(
        cohort
            .model()
            .endpoint_info()
            .iter()
            .map(|e| e.name.to_string()),
    );
    h.extend(
        ["solver", "steps", "rhs_evals"]
            .iter()
            .map(|s| s.to_string()),
    );
    h
}

/// One row of the per-patient table.
pub fn patient_row(r: &PatientRecord) -> Vec<String> {
    let c = &r.covariates;
    let mut row = vec![
        r.id.to_string(),
        match c.sex {
            Sex::Female => "F".into(),
            Sex::Male => "M".into(),
        },
        c.age_years.to_string(),
        c.weight_kg.to_string(),
        c.height_cm.to_string(),
        c.bsa_m2().to_string(),
        c.egfr_ml_per_min.to_string(),
        c.baseline_b_cells_per_ul.to_string(),
        c.baseline_t_cells_per_ul.to_string(),
        c.baseline_anti_dsdna_iu_per_ml.to_string(),
        c.baseline_sledai.to_string(),
    ];
    row.extend(r.params.iter().map(|v| v.to_string()));
    row.extend(r.endpoints.iter().map(|v| v.to_string()));
    row.push(r.solver.tag().into());
    row.push(r.stats.accepted_steps.to_string());
    row.push(r.stats.rhs_evals.to_string());
    row
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
        let times = result.summary.band_times_day();
        for (k, o) in layout.outputs.iter().enumerate() {
            for (t, q) in times.iter().zip(result.summary.bands(k)) {
                let mut rec = vec![t.to_string(), o.clone()];
                rec.extend(q.iter().map(|v| v.to_string()));
                wr.write_record(&rec)?;
            }
        }
        wr.flush()
    })
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
/// - `patients.csv`: one row per patient: covariates, sampled parameters, endpoints;
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
/// writes it itself). Returns the names written.
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
    if patients {
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

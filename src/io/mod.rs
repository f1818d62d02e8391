//! Files: JSON summaries, tidy CSV tables, percentile bands.
//!
//! Every writer writes to a temporary file next to the target and renames it into place, so a
//! failed run never leaves a half-written file. Floats are written in Rust's shortest
//! round-trip form, so equal results give byte-identical files.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::cohort::{Cohort, CohortResult, PatientRecord, SolverUsed};
use crate::error::Error;
use crate::model::{EndpointKind, Model};
use crate::summary::SummaryMode;
use crate::variability::Sex;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes `path` atomically: `fill` writes into a temporary sibling, which is then renamed.
///
/// # Errors
/// [`Error::Io`] naming the file.
pub fn write_atomic(
    path: &Path,
    fill: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), Error> {
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
    }
    let mut tmp = PathBuf::from(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    tmp.set_file_name(format!(".{name}.tmp{}", std::process::id()));
    let res = (|| {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    })();
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_err(path)(e));
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(path)(e)
    })
}

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
        }
    }
}

/// The cohort summary as JSON:
/// `{"patients", "seed", "failed", "endpoints": {name: {n, missing, mean, sd, p05..p95}},
/// "fractions": {name: value}, "targets": {name: probability}, "stiff_retries", "summary_mode"}`.
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
    json!({
        "patients": result.range.end - result.range.start,
        "seed": result.seed,
        "failed": result.summary.failed,
        "stiff_retries": result.stiff_retries,
        "summary_mode": format!("{:?}", layout.summary_mode),
        "endpoints": endpoints,
        "fractions": fractions,
        "targets": targets,
    })
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
    row.push(match &r.solver {
        SolverUsed::Dopri5 => "dopri5".into(),
        SolverUsed::RosenbrockRetry { .. } => "rosenbrock23_retry".into(),
    });
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

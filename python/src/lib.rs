//! `cartsim._cartsim`: the native half of the `cartsim` Python package.
//!
//! Thin by design: every number, table, file and message comes from the `cartsim` crate
//! (scenarios, cohort runner, typed per-patient columns, typed summary, band rows, writers,
//! NONMEM export, error kinds). This module only moves values across the language boundary,
//! releases the GIL while simulating, and turns Ctrl-C into the crate's cancellation. The
//! Python half (`python/cartsim/__init__.py`) turns the columns into pandas DataFrames or numpy
//! arrays.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use cartsim::cohort::{
    Cohort, CohortResult, ColumnGroup, ColumnKind, ColumnValues, OnFailure, RunControl,
    patient_columns, patient_table,
};
use cartsim::error::{Error, ErrorKind};
use cartsim::io::scenario::Scenario;
use cartsim::io::{self, CohortSummary, OutputLayout, OutputSet, nonmem};
use cartsim::model::sle::SLE_STATES;
use cartsim::model::{Model, SleModel};
use cartsim::variability::{Covariates, Sex};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};

type Sle = Cohort<SleModel, SLE_STATES>;

create_exception!(
    cartsim,
    ScenarioError,
    PyValueError,
    "An invalid scenario: the message names the key, the line and column (for a file or text), \
     the value and what was expected. Attributes: `key`, `line`, `column`, `file` (None when \
     unknown)."
);

/// The crate's error as a Python exception: scenario errors as `ScenarioError` (a
/// `ValueError`), other bad input as `ValueError`, I/O as `OSError` (its subclass by errno,
/// e.g. `FileNotFoundError`), everything else as `RuntimeError`; the message is the crate's.
fn py_err(py: Python<'_>, e: Error) -> PyErr {
    let msg = e.to_string();
    match (e.kind(), e) {
        (_, Error::Scenario(s)) => {
            let err = ScenarioError::new_err(msg);
            let v = err.value(py);
            let _ = v.setattr("key", s.key.clone());
            let _ = v.setattr("line", s.line);
            let _ = v.setattr("column", s.column);
            let _ = v.setattr("file", s.file.clone());
            err
        }
        (ErrorKind::Input, _) => PyValueError::new_err(msg),
        (ErrorKind::Io, Error::Io { path, source }) => match source.raw_os_error() {
            Some(errno) => PyOSError::new_err((errno, msg, path)),
            None => PyOSError::new_err(msg),
        },
        (ErrorKind::Io, _) => PyOSError::new_err(msg),
        _ => PyRuntimeError::new_err(msg),
    }
}

fn input_err(py: Python<'_>, key: &str, message: String) -> PyErr {
    py_err(
        py,
        cartsim::error::ScenarioError::new(Some(key.to_string()), message).into(),
    )
}

/// f64 values as native-endian bytes (numpy: `frombuffer(b, float64)`).
fn f64_bytes<'py>(py: Python<'py>, v: &[f64]) -> Bound<'py, PyBytes> {
    let b: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
    PyBytes::new(py, &b)
}

fn u64_bytes<'py>(py: Python<'py>, v: &[u64]) -> Bound<'py, PyBytes> {
    let b: Vec<u8> = v.iter().flat_map(|x| x.to_ne_bytes()).collect();
    PyBytes::new(py, &b)
}

fn kind_name(k: ColumnKind) -> &'static str {
    match k {
        ColumnKind::Count => "count",
        ColumnKind::Text => "text",
        ColumnKind::Flag => "flag",
        _ => "float",
    }
}

fn group_name(g: ColumnGroup) -> &'static str {
    match g {
        ColumnGroup::Id => "id",
        ColumnGroup::Covariate => "covariate",
        ColumnGroup::Parameter => "parameter",
        ColumnGroup::Endpoint => "endpoint",
        _ => "solver",
    }
}

/// A scenario: a whole virtual study (cohort size, seed, regimen, population, variability,
/// product, solver, summary, targets, NONMEM export), validated.
#[pyclass(frozen, module = "cartsim._cartsim", name = "Scenario")]
struct PyScenario {
    scenario: Scenario,
    cohort: Arc<Sle>,
}

const OVERRIDES: &str = "patients, seed, title, on_failure, records";

impl PyScenario {
    fn build(py: Python<'_>, scenario: Scenario) -> PyResult<Self> {
        let cohort = scenario.cohort().map_err(|e| py_err(py, e))?;
        Ok(PyScenario {
            scenario,
            cohort: Arc::new(cohort),
        })
    }

    /// Applies keyword overrides, then checks the whole scenario again.
    fn with_overrides(
        py: Python<'_>,
        mut s: Scenario,
        overrides: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        if let Some(kw) = overrides {
            for (k, v) in kw.iter() {
                let key: String = k.extract()?;
                match key.as_str() {
                    "patients" => s.patients = v.extract()?,
                    "seed" => s.seed = v.extract()?,
                    "title" => s.title = v.extract()?,
                    "records" => s.records = Some(v.extract()?),
                    "on_failure" => {
                        let text: String = v.extract()?;
                        s.on_failure = Some(match text.as_str() {
                            "stop" => OnFailure::Stop,
                            "continue" => OnFailure::Continue,
                            other => {
                                return Err(input_err(
                                    py,
                                    "on_failure",
                                    format!("must be \"stop\" or \"continue\", got {other:?}"),
                                ));
                            }
                        });
                    }
                    other => {
                        return Err(input_err(
                            py,
                            other,
                            format!("unknown override `{other}` (known: {OVERRIDES})"),
                        ));
                    }
                }
            }
            s.validate().map_err(|e| py_err(py, e))?;
        }
        Self::build(py, s)
    }
}

#[pymethods]
impl PyScenario {
    /// Reads a scenario from a file (a path, or a string naming an existing `.toml` file) or
    /// from TOML text, then applies keyword overrides (`patients`, `seed`, `title`,
    /// `on_failure`, `records`).
    #[staticmethod]
    #[pyo3(signature = (source, **overrides))]
    fn from_toml(
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        overrides: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let path: Option<PathBuf> = if let Ok(s) = source.cast::<PyString>() {
            let text: String = s.extract()?;
            let looks_like_path = !text.contains('\n')
                && !text.contains('=')
                && (text.ends_with(".toml") || Path::new(&text).is_file());
            looks_like_path.then(|| PathBuf::from(&text))
        } else {
            Some(source.extract()?)
        };
        let scenario = match path {
            Some(p) => Scenario::from_path(&p),
            None => Scenario::from_toml_str(&source.extract::<String>()?),
        }
        .map_err(|e| py_err(py, e))?;
        Self::with_overrides(py, scenario, overrides)
    }

    /// The Erlangen study (Mackensen 2022) with every default: 1,000 patients, seed 1.
    #[staticmethod]
    #[pyo3(signature = (**overrides))]
    fn default(py: Python<'_>, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::with_overrides(py, Scenario::mackensen_2022(), overrides)
    }

    /// A copy with keyword overrides applied (`patients`, `seed`, `title`, `on_failure`,
    /// `records`).
    #[pyo3(signature = (**overrides))]
    fn replace(&self, py: Python<'_>, overrides: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        Self::with_overrides(py, self.scenario.clone(), overrides)
    }

    /// Number of virtual patients.
    #[getter]
    fn patients(&self) -> u64 {
        self.scenario.patients
    }
    /// Seed of the virtual population.
    #[getter]
    fn seed(&self) -> u64 {
        self.scenario.seed
    }
    /// Title, if any.
    #[getter]
    fn title(&self) -> Option<String> {
        self.scenario.title.clone()
    }
    /// Whether per-patient records are kept.
    #[getter]
    fn records(&self) -> bool {
        self.scenario.records != Some(false)
    }
    /// The scenario as TOML text (reads back to an equal scenario).
    fn to_toml(&self, py: Python<'_>) -> PyResult<String> {
        self.scenario.to_toml_string().map_err(|e| py_err(py, e))
    }

    /// Runs the cohort with the GIL released; `progress(done, total)` is called about every
    /// 0.2 s from the calling thread; Ctrl-C (or an exception raised by `progress`) cancels
    /// the run and is raised. `threads`: worker threads (default: all cores, or
    /// `RAYON_NUM_THREADS`).
    #[pyo3(signature = (threads = None, progress = None))]
    fn run(
        &self,
        py: Python<'_>,
        threads: Option<usize>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<PyCohortResult> {
        let cohort = Arc::clone(&self.cohort);
        let t0 = Instant::now();
        let (result, used) = run_cancellable(
            py,
            threads,
            progress.as_ref(),
            cohort.n_patients(),
            |control| cohort.run_with_control(control),
        )?;
        Ok(PyCohortResult {
            cohort: Arc::clone(&self.cohort),
            scenario: self.scenario.clone(),
            result,
            elapsed_s: t0.elapsed().as_secs_f64(),
            threads: used,
        })
    }

    /// Writes the scenario's NONMEM-style simulated dataset to `path` (CSV, atomically);
    /// returns `{"patients", "records", "failed"}`.
    #[pyo3(signature = (path, threads = None))]
    fn write_nonmem<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let opts = self.scenario.nonmem_options().map_err(|e| py_err(py, e))?;
        let cohort = Arc::clone(&self.cohort);
        let (s, _) = run_cancellable(py, threads, None, 0, |_| {
            nonmem::write_nonmem_csv(&path, &cohort, &opts)
        })?;
        let d = PyDict::new(py);
        d.set_item("patients", s.patients)?;
        d.set_item("records", s.records)?;
        d.set_item(
            "failed",
            s.failures.iter().map(|f| f.id).collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!(
            "Scenario(title={:?}, patients={}, seed={}, records={})",
            self.scenario.title.as_deref().unwrap_or(""),
            self.scenario.patients,
            self.scenario.seed,
            self.records()
        )
    }
}

/// Runs `job` on a worker thread (in a pool of `threads` rayon threads, or rayon's global
/// pool) with the GIL released; the calling thread waits, checking for signals (Ctrl-C) and
/// calling `progress(done, total)` about every 0.2 s. A signal or an exception from `progress`
/// cancels the run through [`RunControl`] and is raised once the run has stopped.
fn run_cancellable<T: Send>(
    py: Python<'_>,
    threads: Option<usize>,
    progress: Option<&Py<PyAny>>,
    total: u64,
    job: impl FnOnce(&RunControl) -> Result<T, Error> + Send,
) -> PyResult<(T, usize)> {
    let pool = match threads {
        Some(0) => return Err(PyValueError::new_err("threads must be >= 1 (or None)")),
        Some(n) => Some(
            rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build()
                .map_err(|e| PyRuntimeError::new_err(format!("cannot start {n} threads: {e}")))?,
        ),
        None => None,
    };
    let used = pool
        .as_ref()
        .map_or_else(rayon::current_num_threads, |p| p.current_num_threads());
    let control = RunControl::new();
    let (outcome, interrupt) = py.detach(|| {
        std::thread::scope(|s| {
            let (tx, rx) = mpsc::channel::<()>();
            let control = &control;
            let handle = s.spawn(move || {
                let r = match &pool {
                    Some(p) => p.install(|| job(control)),
                    None => job(control),
                };
                let _ = tx.send(());
                r
            });
            let mut interrupt: Option<PyErr> = None;
            // Woken at once when the run ends, else every 0.2 s.
            while let Err(mpsc::RecvTimeoutError::Timeout) =
                rx.recv_timeout(Duration::from_millis(200))
            {
                if interrupt.is_some() {
                    continue;
                }
                Python::attach(|py| {
                    let mut check = py.check_signals();
                    if check.is_ok() {
                        if let Some(cb) = progress {
                            check = cb.call1(py, (control.done(), total)).map(|_| ());
                        }
                    }
                    if let Err(e) = check {
                        control.cancel();
                        interrupt = Some(e);
                    }
                });
            }
            let joined = handle.join();
            (joined, interrupt)
        })
    });
    if let Some(e) = interrupt {
        return Err(e);
    }
    match outcome {
        Ok(Ok(v)) => {
            if let Some(cb) = progress {
                cb.call1(py, (control.done(), total))?;
            }
            Ok((v, used))
        }
        Ok(Err(e)) => Err(py_err(py, e)),
        Err(_) => Err(PyRuntimeError::new_err(
            "internal error: the simulation thread panicked",
        )),
    }
}

/// The result of a cohort run: the typed summary, the per-patient columns, the percentile
/// bands and the failed patients, and the writers of the cohort example's files.
#[pyclass(frozen, module = "cartsim._cartsim", name = "CohortResult")]
struct PyCohortResult {
    cohort: Arc<Sle>,
    scenario: Scenario,
    result: CohortResult,
    elapsed_s: f64,
    threads: usize,
}

#[pymethods]
impl PyCohortResult {
    /// Wall-clock seconds of the run.
    #[getter]
    fn elapsed_s(&self) -> f64 {
        self.elapsed_s
    }
    /// Worker threads of the run.
    #[getter]
    fn threads(&self) -> usize {
        self.threads
    }
    /// Patients in the run.
    #[getter]
    fn n_patients(&self) -> u64 {
        self.result.patients()
    }

    /// The summary as a dict: what `summary.json` holds, NaN where undefined, with units.
    fn summary<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = CohortSummary::of(&self.cohort, &self.result);
        let d = PyDict::new(py);
        d.set_item("patients", s.patients)?;
        d.set_item("seed", s.seed)?;
        d.set_item("failed", s.failed)?;
        d.set_item("stiff_retries", s.stiff_retries)?;
        d.set_item("summary_mode", s.summary_mode)?;
        d.set_item("product", s.product)?;
        let eps = PyDict::new(py);
        for e in s.endpoints {
            let x = PyDict::new(py);
            let st = e.stats;
            x.set_item("unit", e.unit)?;
            x.set_item("n", st.n)?;
            x.set_item("missing", st.missing)?;
            for (k, v) in [
                ("mean", st.mean),
                ("sd", st.sd),
                ("p05", st.p05),
                ("p25", st.p25),
                ("p50", st.p50),
                ("p75", st.p75),
                ("p95", st.p95),
            ] {
                x.set_item(k, v)?;
            }
            eps.set_item(e.name, x)?;
        }
        d.set_item("endpoints", eps)?;
        let pairs = |v: Vec<(String, f64)>| -> PyResult<Bound<'py, PyDict>> {
            let m = PyDict::new(py);
            for (k, x) in v {
                m.set_item(k, x)?;
            }
            Ok(m)
        };
        d.set_item("fractions", pairs(s.fractions)?)?;
        d.set_item("targets", pairs(s.targets)?)?;
        Ok(d)
    }

    /// The per-patient table as columns: `[(name, unit, kind, group, values)]` with `kind` in
    /// `count`, `text`, `float`, `flag`; values as native bytes (`count`: uint64, `float` and
    /// `flag`: float64) or a list of str (`text`).
    fn patient_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let cols = patient_columns(&self.cohort);
        let table = patient_table(&cols, &self.result.records).map_err(|e| py_err(py, e))?;
        let out = PyList::empty(py);
        for (c, v) in cols.into_iter().zip(table) {
            let values: Bound<'py, PyAny> = match v {
                ColumnValues::Float(x) => f64_bytes(py, &x).into_any(),
                ColumnValues::Count(x) => u64_bytes(py, &x).into_any(),
                ColumnValues::Text(x) => PyList::new(py, x)?.into_any(),
            };
            out.append(PyTuple::new(
                py,
                [
                    c.name.into_pyobject(py)?.into_any(),
                    c.unit.into_pyobject(py)?.into_any(),
                    kind_name(c.kind).into_pyobject(py)?.into_any(),
                    group_name(c.group).into_pyobject(py)?.into_any(),
                    values,
                ],
            )?)?;
        }
        Ok(out)
    }

    /// The percentile bands in long format (the rows of `bands.csv`), as columns:
    /// `{"time_day": bytes, "output": [str], "p05".."p95": bytes}` (float64).
    fn band_columns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let layout = OutputLayout::of(&self.cohort);
        let rows = io::band_rows(&layout, &self.result);
        let d = PyDict::new(py);
        let t: Vec<f64> = rows.iter().map(|r| r.time_day).collect();
        d.set_item("time_day", f64_bytes(py, &t))?;
        d.set_item("output", rows.iter().map(|r| r.output).collect::<Vec<_>>())?;
        for (i, name) in ["p05", "p25", "p50", "p75", "p95"].iter().enumerate() {
            let q: Vec<f64> = rows.iter().map(|r| r.quantiles[i]).collect();
            d.set_item(*name, f64_bytes(py, &q))?;
        }
        let units = PyDict::new(py);
        for o in self.cohort.model().outputs() {
            units.set_item(o.name, o.unit)?;
        }
        d.set_item("units", units)?;
        Ok(d)
    }

    /// Failed patients (scenario `on_failure = "continue"`), in id order:
    /// `[{"id", "stage", "error", "params": {name: value}}]`.
    fn failures<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for f in &self.result.failures {
            let d = PyDict::new(py);
            d.set_item("id", f.id)?;
            d.set_item("stage", f.cause.stage())?;
            d.set_item("error", f.cause.to_string())?;
            let p = PyDict::new(py);
            for (n, v) in &f.params {
                p.set_item(n, v)?;
            }
            d.set_item("params", p)?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Writes the cohort example's files into the folder `dir` as one output set (all or
    /// nothing): `summary.json`, `patients.csv` (unless records are off), `bands.csv`,
    /// `bands.png`, `bands.svg`, `scenario.toml`, `failures.csv` when patients failed,
    /// `manifest.json`; with `nonmem`, also the NONMEM-style dataset at that path. Returns the
    /// paths written.
    #[pyo3(signature = (dir, nonmem = None))]
    fn write(
        &self,
        py: Python<'_>,
        dir: PathBuf,
        nonmem: Option<PathBuf>,
    ) -> PyResult<Vec<PathBuf>> {
        let scenario_toml = self.scenario.to_toml_string().map_err(|e| py_err(py, e))?;
        let nonmem_options = match &nonmem {
            Some(_) => Some(self.scenario.nonmem_options().map_err(|e| py_err(py, e))?),
            None => None,
        };
        let written = py
            .detach(|| -> Result<Vec<PathBuf>, Error> {
                let mut set = OutputSet::create(&dir)?;
                let stage = match &nonmem {
                    Some(p) => Some(set.file(p)?),
                    None => None,
                };
                let mut names = io::write_cohort_files(&set, &self.cohort, &self.result, true)?;
                io::write_atomic(&set.path("scenario.toml")?, |w| {
                    std::io::Write::write_all(w, scenario_toml.as_bytes())
                })?;
                names.push("scenario.toml");
                if let (Some(stage), Some(opts)) = (&stage, &nonmem_options) {
                    nonmem::write_nonmem_csv(stage, &self.cohort, opts)?;
                }
                set.commit()?;
                let mut paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
                paths.extend(nonmem.clone());
                Ok(paths)
            })
            .map_err(|e| py_err(py, e))?;
        Ok(written)
    }

    fn __repr__(&self) -> String {
        format!(
            "CohortResult(patients={}, failed={}, seed={}, elapsed_s={:.3}, threads={})",
            self.result.patients(),
            self.result.summary.failed,
            self.result.seed,
            self.elapsed_s,
            self.threads
        )
    }
}

/// One patient: the typical patient of `scenario` (its regimen, product, typical values and
/// solver) with optional `covariates` and `params` overrides by name, or virtual patient
/// `patient` of the scenario's cohort (the same numbers as that patient's row of the cohort).
/// Returns `{"time_day": bytes, "outputs": [(name, unit, bytes)], "endpoints": [(name, unit,
/// kind, value)], "covariates": {name: value}, "params": {name: value}, "solver": str}`.
#[pyfunction]
#[pyo3(signature = (scenario = None, patient = None, covariates = None, params = None))]
fn simulate<'py>(
    py: Python<'py>,
    scenario: Option<&PyScenario>,
    patient: Option<u64>,
    covariates: Option<HashMap<String, Bound<'py, PyAny>>>,
    params: Option<HashMap<String, f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    let default;
    let scenario = match scenario {
        Some(s) => s,
        None => {
            default = PyScenario::build(py, Scenario::mackensen_2022())?;
            &default
        }
    };
    let cohort = &scenario.cohort;
    let model = cohort.model();
    let table = model.parameters();
    let (trajectory, endpoints, cov, values, solver) = match patient {
        Some(id) => {
            if covariates.is_some() || params.is_some() {
                return Err(PyValueError::new_err(
                    "patient= simulates the cohort's sampled patient; covariates= and params= \
                     apply to the typical patient (patient=None)",
                ));
            }
            if id >= cohort.n_patients() {
                return Err(PyValueError::new_err(format!(
                    "patient must be an id in 0..{}, got {id}",
                    cohort.n_patients()
                )));
            }
            let (_, values) = cohort.sample_patient(id);
            let (rec, tr) = py
                .detach(|| cohort.simulate_patient(id))
                .map_err(|e| py_err(py, e.into()))?;
            (tr, rec.endpoints, rec.covariates, values, rec.solver.tag())
        }
        None => {
            let mut cov = Covariates::typical();
            for (k, v) in covariates.unwrap_or_default() {
                if k == "sex" {
                    cov.sex = match v.extract::<String>()?.as_str() {
                        "F" | "female" => Sex::Female,
                        "M" | "male" => Sex::Male,
                        other => {
                            return Err(PyValueError::new_err(format!(
                                "covariate `sex` must be \"F\" or \"M\", got {other:?}"
                            )));
                        }
                    };
                } else {
                    cov.set(&k, v.extract()?)
                        .map_err(|e| py_err(py, e.into()))?;
                }
            }
            let mut values = cohort.typical_values().to_vec();
            for (k, v) in params.unwrap_or_default() {
                let i = model.param_index(&k).map_err(|e| py_err(py, e.into()))?;
                values[i] = v;
            }
            let p = model
                .params_from_values(&values)
                .map_err(|e| py_err(py, e.into()))?;
            let sim = py
                .detach(|| cartsim::simulate(model, &p, &cov, cohort.regimen(), cohort.solver()))
                .map_err(|e| py_err(py, e))?;
            (sim.trajectory, sim.endpoints, cov, values, sim.solver.tag())
        }
    };
    let d = PyDict::new(py);
    let times: Vec<f64> = trajectory.times().collect();
    d.set_item("time_day", f64_bytes(py, &times))?;
    let outs = PyList::empty(py);
    for (k, o) in model.outputs().iter().enumerate() {
        outs.append((o.name, o.unit, f64_bytes(py, trajectory.output(k))))?;
    }
    d.set_item("outputs", outs)?;
    let eps = PyList::empty(py);
    for (e, v) in model.endpoint_info().iter().zip(&endpoints) {
        let kind = match e.kind {
            cartsim::model::EndpointKind::Continuous => "float",
            cartsim::model::EndpointKind::Flag => "flag",
        };
        eps.append((e.name, e.unit, kind, *v))?;
    }
    d.set_item("endpoints", eps)?;
    // The covariates under the names of the per-patient table (the one list of columns).
    let c = PyDict::new(py);
    c.set_item(
        "sex",
        match cov.sex {
            Sex::Female => "F",
            Sex::Male => "M",
        },
    )?;
    for col in &Covariates::COLUMNS {
        c.set_item(col.name, (col.value)(&cov))?;
    }
    d.set_item("covariates", c)?;
    let p = PyDict::new(py);
    for (info, v) in table.iter().zip(&values) {
        p.set_item(info.name, *v)?;
    }
    d.set_item("params", p)?;
    d.set_item("solver", solver)?;
    Ok(d)
}

/// The native half of the `cartsim` package (import `cartsim`, not this module).
#[pymodule]
fn _cartsim(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyScenario>()?;
    m.add_class::<PyCohortResult>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add("ScenarioError", m.py().get_type::<ScenarioError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CARTSIM_VERSION", cartsim::shard::CRATE_VERSION)?;
    Ok(())
}

//! Many patients: a validated cohort specification and its runners (parallel, sequential,
//! shard range), all sharing one per-patient function.
//!
//! One patient's path: `(seed, id)` → [`patient_rng`] → covariates ([`Population`]) →
//! random effects η ([`Iiv`]) → individual parameters → regimen resolved for this patient →
//! prepared model → segment-wise solve (Dopri5; a Rosenbrock retry if the explicit solve trips
//! stiffness detection or the step limit) → endpoints → stochastic endpoints (own stream,
//! [`stochastic_rng`]) → folded into a mergeable
//! [`SummaryAccumulator`].
//!
//! Determinism: a patient depends only on `(seed, id)` and the specification, and every
//! accumulator merges exactly, so [`Cohort::run`] gives the same bits at any thread count, and
//! shards from [`Cohort::run_range`] merge ([`CohortResult::merge`]) to the same bits as one run.
//!
//! ```
//! use cartsim::prelude::*;
//! use cartsim::cohort::Cohort;
//!
//! let cohort = Cohort::builder(SleModel::default()).patients(8).seed(1).build()?;
//! let result = cohort.run()?;
//! assert_eq!(result.summary.patients + result.summary.failed, 8);
//! # Ok::<(), cartsim::Error>(())
//! ```

pub mod explore;
pub mod table;

use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use rayon::prelude::*;

use crate::error::{Error, PatientError, SpecError};
use crate::model::{Model, Trajectory};
use crate::patient::{PatientPath, PatientScratch};
use crate::product::Product;
use crate::regimen::{BoundRegimen, Regimen};
use crate::solve::{SolveStats, SolverOptions};
use crate::summary::{SummaryAccumulator, SummaryMode, Target};
use crate::variability::{
    BoundIiv, Covariates, Iiv, Population, patient_rng, replicate_rng, stochastic_rng,
};

pub use crate::patient::SolverUsed;
pub use table::{
    Cell, ColumnGroup, ColumnKind, ColumnValues, PatientColumn, patient_columns, patient_table,
};

/// What to do when a patient fails (scenario files: `"stop"` or `"continue"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop the run and return the failure of the lowest failing patient id.
    #[default]
    Stop,
    /// Record the failure (id, cause, sampled parameters) and go on.
    Continue,
}

/// Whether per-patient records are kept in the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Records {
    /// Keep one [`PatientRecord`] per patient (memory grows with the cohort).
    #[default]
    Keep,
    /// Keep only the summary (bounded memory for very large cohorts).
    Discard,
}

/// One simulated patient.
///
/// Equality compares every field, with floats (parameters, endpoints) equal when they are equal
/// numbers or both NaN: an endpoint that is undefined for a patient (NaN: "not reached") does not
/// make two identical records unequal.
#[derive(Debug, Clone)]
pub struct PatientRecord {
    /// Patient id.
    pub id: u64,
    /// Sampled covariates.
    pub covariates: Covariates,
    /// Individual values of the varied parameters, in the order of the IIV names.
    pub params: Vec<f64>,
    /// Endpoints, in the model's endpoint order.
    pub endpoints: Vec<f64>,
    /// Solver work.
    pub stats: SolveStats,
    /// Which solver produced the result.
    pub solver: SolverUsed,
}

impl PartialEq for PatientRecord {
    fn eq(&self, o: &Self) -> bool {
        fn same(a: &[f64], b: &[f64]) -> bool {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(x, y)| x == y || (x.is_nan() && y.is_nan()))
        }
        self.id == o.id
            && self.covariates == o.covariates
            && same(&self.params, &o.params)
            && same(&self.endpoints, &o.endpoints)
            && self.stats == o.stats
            && self.solver == o.solver
    }
}

/// A handle to a running cohort, shared between the run and its caller (another thread, a
/// signal handler, a binding's event loop): [`RunControl::cancel`] stops the run at the next
/// patient, and [`RunControl::done`] counts the patients finished so far.
///
/// A cancelled run returns [`Error::Cancelled`], never a partial result.
///
/// ```
/// use cartsim::prelude::*;
/// use cartsim::cohort::{Cohort, RunControl};
///
/// let cohort = Cohort::builder(SleModel::default()).patients(40).seed(1).build()?;
/// let control = RunControl::new();
/// control.cancel(); // e.g. from another thread on Ctrl-C
/// let err = cohort.run_with_control(&control).unwrap_err();
/// assert_eq!(err.kind(), cartsim::error::ErrorKind::Cancelled);
/// # Ok::<(), cartsim::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct RunControl {
    cancelled: AtomicBool,
    done: AtomicU64,
}

impl RunControl {
    /// A control that is not cancelled, no patient done.
    pub fn new() -> Self {
        Self::default()
    }
    /// Asks the run to stop: patients not yet started are skipped and the run returns
    /// [`Error::Cancelled`].
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
    /// Whether [`RunControl::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
    /// Patients finished (simulated or failed) so far.
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Relaxed)
    }
}

/// Progress of a run, passed to a progress callback after each block of patients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Patients done.
    pub done: u64,
    /// Patients in the run.
    pub total: u64,
}

/// A validated cohort: model, population, variability, regimen, solver, seed, size.
#[derive(Debug, Clone)]
pub struct Cohort<M: Model<N>, const N: usize> {
    model: M,
    typical: Vec<f64>,
    /// Typical values before the product and the uncertainty draw (for [`Cohort::with_product`]).
    base_typical: Vec<f64>,
    product: Option<Product>,
    uncertainty: Option<(Iiv, u64)>,
    population: Population,
    iiv: Iiv,
    bound_iiv: BoundIiv,
    regimen: BoundRegimen,
    solver: SolverOptions,
    seed: u64,
    n_patients: u64,
    on_failure: OnFailure,
    records: Records,
    summary_mode: SummaryMode,
    band_times_day: Vec<f64>,
    targets: Vec<(usize, Target)>,
    stiff_retry: bool,
    block_size: u64,
}

/// Builder for [`Cohort`]; validated by [`CohortBuilder::build`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CohortBuilder<M: Model<N>, const N: usize> {
    model: M,
    typical: Option<Vec<f64>>,
    product: Option<Product>,
    uncertainty: Option<(Iiv, u64)>,
    population: Population,
    iiv: Option<Iiv>,
    regimen: Regimen,
    solver: SolverOptions,
    seed: u64,
    n_patients: u64,
    on_failure: OnFailure,
    records: Records,
    summary_mode: Option<SummaryMode>,
    band_times_day: Option<Vec<f64>>,
    targets: Vec<Target>,
    stiff_retry: bool,
}

impl<M: Model<N> + Clone, const N: usize> Cohort<M, N> {
    /// Starts a builder: 1,000 patients, seed 1, the SLE population, the model's default IIV
    /// ([`Model::default_iiv`]), the Mackensen 2022 regimen, default solver options, stop on
    /// failure, records kept, summary mode by size, daily bands.
    pub fn builder(model: M) -> CohortBuilder<M, N> {
        CohortBuilder {
            model,
            typical: None,
            product: None,
            uncertainty: None,
            population: Population::sle(),
            iiv: None,
            regimen: Regimen::mackensen_2022(),
            solver: SolverOptions::default(),
            seed: 1,
            n_patients: 1000,
            on_failure: OnFailure::Stop,
            records: Records::Keep,
            summary_mode: None,
            band_times_day: None,
            targets: Vec::new(),
            stiff_retry: true,
        }
    }
}

impl<M: Model<N>, const N: usize> CohortBuilder<M, N> {
    /// Number of patients (> 0).
    pub fn patients(mut self, n: u64) -> Self {
        self.n_patients = n;
        self
    }
    /// Seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Covariate distributions.
    pub fn population(mut self, p: Population) -> Self {
        self.population = p;
        self
    }
    /// Inter-individual variability.
    pub fn iiv(mut self, iiv: Iiv) -> Self {
        self.iiv = Some(iiv);
        self
    }
    /// Typical parameter values (default: the model's defaults).
    pub fn typical_params(mut self, p: &M::Params) -> Self {
        let mut v = vec![0.0; self.model.parameters().len()];
        self.model.param_values(p, &mut v);
        self.typical = Some(v);
        self
    }
    /// The CAR-T product (default: none, i.e. the model's own typical values, which for the SLE
    /// model are the Erlangen product's). Applied to the typical values at build
    /// ([`Product::apply`]), before any uncertainty draw.
    pub fn product(mut self, p: Product) -> Self {
        self.product = Some(p);
        self
    }
    /// Parameter uncertainty: typical values of this replicate are drawn (log-normal, or
    /// logit-normal for fractions) from `uncertainty` with the replicate's own stream.
    pub fn uncertainty(mut self, uncertainty: Iiv, replicate: u64) -> Self {
        self.uncertainty = Some((uncertainty, replicate));
        self
    }
    /// Dosing regimen.
    pub fn regimen(mut self, r: Regimen) -> Self {
        self.regimen = r;
        self
    }
    /// Solver options.
    pub fn solver(mut self, o: SolverOptions) -> Self {
        self.solver = o;
        self
    }
    /// Failure policy.
    pub fn on_failure(mut self, f: OnFailure) -> Self {
        self.on_failure = f;
        self
    }
    /// Whether per-patient records are kept.
    pub fn records(mut self, r: Records) -> Self {
        self.records = r;
        self
    }
    /// Summary mode (default: [`SummaryMode::auto`] of the cohort size).
    pub fn summary_mode(mut self, m: SummaryMode) -> Self {
        self.summary_mode = Some(m);
        self
    }
    /// Times of the percentile bands, day (strictly increasing, within the horizon). Default:
    /// [`default_band_times`] of the regimen's horizon.
    pub fn band_times_day(mut self, times: Vec<f64>) -> Self {
        self.band_times_day = Some(times);
        self
    }
    /// Adds a target whose attainment probability is reported.
    pub fn target(mut self, t: Target) -> Self {
        self.targets.push(t);
        self
    }
    /// Whether a failed explicit solve is retried with the Rosenbrock method (default true).
    pub fn stiff_retry(mut self, on: bool) -> Self {
        self.stiff_retry = on;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`SpecError`] for zero patients, a bad population, Ω or band step; [`ParamError`](crate::error::ParamError) for
    /// unknown parameter names or invalid typical values; [`RegimenError`](crate::error::RegimenError)
    /// for doses the model cannot take; [`SolveError`](crate::error::SolveError) for bad solver options.
    pub fn build(self) -> Result<Cohort<M, N>, Error> {
        let model = self.model;
        if self.n_patients == 0 {
            return Err(SpecError::Invalid {
                field: "patients".into(),
                reason: "must be > 0, got 0".into(),
            }
            .into());
        }
        let (h0, h1) = (self.regimen.start_day(), self.regimen.end_day());
        // The output grid is bounded before anything is sized by the horizon.
        self.solver.validate_for_horizon(h0, h1)?;
        let band_times_day = match self.band_times_day {
            Some(t) => t,
            None if (h1 - h0) / 7.0 + 120.0 > MAX_BAND_TIMES as f64 => {
                return Err(SpecError::Invalid {
                    field: "band_times_day".into(),
                    reason: format!(
                        "the default weekly bands over the horizon [{h0}, {h1}] day would exceed \
                         {MAX_BAND_TIMES} band times; give band times yourself"
                    ),
                }
                .into());
            }
            None => default_band_times(h0, h1),
        };
        if band_times_day.len() > MAX_BAND_TIMES {
            return Err(SpecError::Invalid {
                field: "band_times_day".into(),
                reason: format!(
                    "{} band times given; at most {MAX_BAND_TIMES} are allowed",
                    band_times_day.len()
                ),
            }
            .into());
        }
        if band_times_day.is_empty()
            || band_times_day
                .windows(2)
                .any(|w| w[0] >= w[1] || w[1].is_nan())
            || band_times_day
                .iter()
                .any(|t| !(t.is_finite() && *t >= h0 && *t <= h1))
        {
            return Err(SpecError::Invalid {
                field: "band_times_day".into(),
                reason: format!(
                    "must be non-empty, finite, strictly increasing and within [{h0}, {h1}] day"
                ),
            }
            .into());
        }
        if let Some(SummaryMode::Streaming { alpha }) = self.summary_mode {
            if !(alpha.is_finite() && (MIN_STREAMING_ALPHA..0.5).contains(&alpha)) {
                return Err(SpecError::Invalid {
                    field: "summary_mode.alpha".into(),
                    reason: format!(
                        "must lie in [{MIN_STREAMING_ALPHA}, 0.5), got {alpha} (a finer sketch \
                         needs memory proportional to 1/alpha for every band time and output; \
                         for exact quantiles use the exact summary mode)"
                    ),
                }
                .into());
            }
        }
        let mode = self
            .summary_mode
            .unwrap_or_else(|| SummaryMode::auto(self.n_patients));
        let per_patient =
            (band_times_day.len() * model.outputs().len() + model.endpoint_info().len()) as f64;
        if mode == SummaryMode::Exact && self.n_patients as f64 * per_patient > MAX_EXACT_VALUES {
            return Err(SpecError::Invalid {
                field: "summary_mode".into(),
                reason: format!(
                    "the exact summary of {} patients keeps {:.3e} values (at most {MAX_EXACT_VALUES:e}); \
                     use the streaming summary mode (bounded memory) or fewer band times",
                    self.n_patients,
                    self.n_patients as f64 * per_patient
                ),
            }
            .into());
        }
        self.population.validate()?;
        let regimen = self.regimen.bind(model.name(), model.inputs())?;
        let table = model.parameters();
        let base_typical = match self.typical {
            Some(v) => v,
            None => table.iter().map(|p| p.default).collect(),
        };
        let typical = derive_typical(
            &model,
            &base_typical,
            self.product.as_ref(),
            self.uncertainty.as_ref(),
            self.seed,
        )?;
        let iiv = self.iiv.unwrap_or_else(|| model.default_iiv());
        let bound_iiv = iiv.bind(model.name(), table)?;
        let endpoints = model.endpoint_info();
        let mut targets = Vec::with_capacity(self.targets.len());
        for t in self.targets {
            let i = endpoints
                .iter()
                .position(|e| e.name == t.endpoint)
                .ok_or_else(|| SpecError::Invalid {
                    field: format!("target `{}`", t.name),
                    reason: format!("unknown endpoint `{}`", t.endpoint),
                })?;
            if !t.threshold.is_finite() {
                return Err(SpecError::Invalid {
                    field: format!("target `{}`", t.name),
                    reason: format!("threshold must be finite, got {}", t.threshold),
                }
                .into());
            }
            targets.push((i, t));
        }
        Ok(Cohort {
            model,
            typical,
            base_typical,
            product: self.product,
            uncertainty: self.uncertainty,
            population: self.population,
            iiv,
            bound_iiv,
            regimen,
            solver: self.solver,
            seed: self.seed,
            n_patients: self.n_patients,
            on_failure: self.on_failure,
            records: self.records,
            summary_mode: mode,
            band_times_day,
            targets,
            stiff_retry: self.stiff_retry,
            block_size: 4096,
        })
    }
}

/// Typical values from `base`: the product applied, checked, then this replicate's uncertainty
/// draw, checked again.
fn derive_typical<M: Model<N>, const N: usize>(
    model: &M,
    base: &[f64],
    product: Option<&Product>,
    uncertainty: Option<&(Iiv, u64)>,
    seed: u64,
) -> Result<Vec<f64>, Error> {
    let table = model.parameters();
    let mut typical = base.to_vec();
    if let Some(p) = product {
        p.apply(model.name(), table, &mut typical)?;
    }
    model.params_from_values(&typical)?;
    if let Some((unc, replicate)) = uncertainty {
        let bound = unc.bind(model.name(), table)?;
        let mut rng = replicate_rng(seed, *replicate);
        let (mut z, mut eta) = (vec![0.0; bound.dim()], vec![0.0; bound.dim()]);
        bound.sample_eta(&mut rng, &mut z, &mut eta);
        bound.apply(&eta, &mut typical);
        model.params_from_values(&typical)?;
    }
    Ok(typical)
}

/// Default band times: daily from the horizon start to day 28 (expansion, depletion, CRS),
/// every 2 days to day 90, then weekly to the horizon end (reconstitution), plus the end.
/// Bands are for reading and plotting cohort courses; each band time costs one accumulator
/// update per output and patient, so the grid thins where courses change slowly.
pub fn default_band_times(start_day: f64, end_day: f64) -> Vec<f64> {
    let mut t = Vec::new();
    let mut d = start_day.ceil();
    while d <= end_day + 1e-9 {
        t.push(d);
        d += if d < 28.0 {
            1.0
        } else if d < 90.0 {
            2.0
        } else {
            7.0
        };
    }
    if t.last().is_none_or(|&l| l < end_day) {
        t.push(end_day);
    }
    if t.first().is_none_or(|&f| f > start_day) {
        t.insert(0, start_day);
    }
    t
}

/// Checks a largest allowed fraction of failed patients: finite and within `[0, 1]`.
///
/// # Errors
/// [`SpecError::Invalid`] naming `max_failed_fraction`, the value and the range.
pub fn check_failed_fraction_limit(max_fraction: f64) -> Result<(), SpecError> {
    if !(0.0..=1.0).contains(&max_fraction) {
        return Err(SpecError::Invalid {
            field: "max_failed_fraction".into(),
            reason: format!("must lie in [0, 1], got {max_fraction}"),
        });
    }
    Ok(())
}

/// The most band times of a cohort (each costs one accumulator per output).
pub const MAX_BAND_TIMES: usize = 100_000;

/// The finest relative accuracy α of the streaming summary.
pub const MIN_STREAMING_ALPHA: f64 = 1e-4;

/// The most values an exact summary may keep (patients × (band times × outputs + endpoints)):
/// 10⁹, 8 GB.
pub const MAX_EXACT_VALUES: f64 = 1e9;

/// The most per-patient records one run may keep in memory ([`Records::Keep`]); larger runs
/// stream them ([`crate::shard::run_range_chunked`]) or discard them ([`Records::Discard`]).
pub const MAX_KEPT_RECORDS: u64 = 10_000_000;

/// Patients per rayon task (the unit of work stealing within a block).
const PATIENTS_PER_TASK: u64 = 16;

/// Per-thread scratch reused across patients.
#[derive(Debug, Default)]
struct Scratch {
    patient: PatientScratch,
    values: Vec<f64>,
    z: Vec<f64>,
    eta: Vec<f64>,
    /// Grid positions of the band times on the trajectory grid (every patient of a cohort has
    /// the same grid, set up before the scratch's first solve), and that grid:
    /// `(start, step, points)`.
    band_positions: Vec<(usize, f64)>,
    band_grid: (f64, f64, usize),
}

/// Partial result of a contiguous set of patients.
struct Partial {
    summary: SummaryAccumulator,
    records: Vec<PatientRecord>,
    failures: Vec<PatientError>,
}

/// The result of running a cohort (or a shard of it).
#[derive(Debug, Clone)]
pub struct CohortResult {
    /// Patient ids covered.
    pub range: Range<u64>,
    /// Seed.
    pub seed: u64,
    /// Mergeable summary.
    pub summary: SummaryAccumulator,
    /// Per-patient records in id order (empty with [`Records::Discard`]).
    pub records: Vec<PatientRecord>,
    /// Failed patients in id order (with [`OnFailure::Continue`]).
    pub failures: Vec<PatientError>,
    /// Patients retried with the stiff solver.
    pub stiff_retries: u64,
    /// [`Cohort::fingerprint`] of the cohort that was run: results merge only with results
    /// of the same specification.
    pub fingerprint: String,
}

impl CohortResult {
    /// Patients in the run (its id range).
    pub fn patients(&self) -> u64 {
        self.range.end - self.range.start
    }

    /// Checks the fraction of failed patients (with [`OnFailure::Continue`]): a run in which
    /// every patient failed is always an error, and so is one in which more than
    /// `max_fraction` of the patients failed. The examples call it after writing their files
    /// (`--max-failed-fraction`, default 0.01).
    ///
    /// # Errors
    /// [`Error::Failures`] with the counts and the lowest failed ids;
    /// [`SpecError::Invalid`] for a `max_fraction` outside `[0, 1]`.
    pub fn check_failures(&self, max_fraction: f64) -> Result<(), Error> {
        check_failed_fraction_limit(max_fraction)?;
        let (failed, patients) = (self.summary.failed, self.patients());
        if failed > 0 && (failed == patients || failed as f64 > max_fraction * patients as f64) {
            let mut first_ids: Vec<u64> = self.failures.iter().map(|f| f.id).take(5).collect();
            first_ids.sort_unstable();
            return Err(Error::Failures {
                failed,
                patients,
                max_fraction,
                first_ids,
            });
        }
        Ok(())
    }

    /// Merges shards of the same cohort into one result. Shards may come in any order but must
    /// tile a contiguous id range without gaps or overlaps.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the shard when seeds or cohort fingerprints differ, shards
    /// overlap or leave a gap, or summaries have different shapes.
    pub fn merge(mut shards: Vec<CohortResult>) -> Result<CohortResult, Error> {
        shards.sort_by_key(|s| s.range.start);
        let mut it = shards.into_iter();
        let Some(mut acc) = it.next() else {
            return Err(SpecError::Invalid {
                field: "shards".into(),
                reason: "no shard to merge".into(),
            }
            .into());
        };
        for s in it {
            let bad = |reason: String| -> Error {
                SpecError::Invalid {
                    field: format!("shard {}..{}", s.range.start, s.range.end),
                    reason,
                }
                .into()
            };
            if s.seed != acc.seed {
                return Err(bad(format!("seed {} differs from {}", s.seed, acc.seed)));
            }
            if s.fingerprint != acc.fingerprint {
                return Err(bad(format!(
                    "cohort fingerprint {} differs from {} of the shard at ids {}..{}: it was \
                     run with another model, typical values, population, variability, regimen, \
                     solver or summary settings",
                    s.fingerprint, acc.fingerprint, acc.range.start, acc.range.end
                )));
            }
            if s.range.start != acc.range.end {
                return Err(bad(if s.range.start < acc.range.end {
                    format!("overlaps ids before {}", acc.range.end)
                } else {
                    format!("gap: ids {}..{} missing", acc.range.end, s.range.start)
                }));
            }
            acc.summary.merge(&s.summary).map_err(bad)?;
            acc.range.end = s.range.end;
            acc.records.extend(s.records);
            acc.failures.extend(s.failures);
            acc.stiff_retries += s.stiff_retries;
        }
        Ok(acc)
    }
}

impl<M: Model<N>, const N: usize> Cohort<M, N> {
    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// Number of patients.
    pub fn n_patients(&self) -> u64 {
        self.n_patients
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The covariate distributions.
    pub fn population(&self) -> &Population {
        &self.population
    }
    /// Regimen.
    pub fn regimen(&self) -> &Regimen {
        self.regimen.regimen()
    }
    /// The variability specification.
    pub fn iiv(&self) -> &Iiv {
        &self.iiv
    }
    /// The CAR-T product, when one was given.
    pub fn product(&self) -> Option<&Product> {
        self.product.as_ref()
    }
    /// Typical parameter values in table order (after the product and any uncertainty draw).
    pub fn typical_values(&self) -> &[f64] {
        &self.typical
    }
    /// Summary mode in use.
    pub fn summary_mode(&self) -> SummaryMode {
        self.summary_mode
    }
    /// Whether per-patient records are kept.
    pub fn records(&self) -> Records {
        self.records
    }
    /// Solver options (validated).
    pub fn solver(&self) -> &SolverOptions {
        &self.solver
    }

    /// A canonical text description of everything that decides a patient's result and how it
    /// is summarised, except the seed and the cohort size: model (name, states, parameters with
    /// their typical values, inputs, outputs, endpoints), population, IIV, regimen, solver
    /// options, stiff retry, failure and record policies, summary mode, band step and targets.
    /// Floats are written in Rust's shortest round-trip form, so equal specifications give equal
    /// text on every platform.
    pub fn spec_description(&self) -> String {
        use std::fmt::Write as _;
        let m = &self.model;
        let mut s = String::from("cartsim cohort specification 1\n");
        let names = |it: &mut dyn Iterator<Item = &str>| it.collect::<Vec<_>>().join(",");
        let _ = writeln!(s, "model: {}", m.name());
        let _ = writeln!(
            s,
            "states: {}",
            names(&mut m.states().iter().map(|x| x.name))
        );
        let _ = writeln!(
            s,
            "inputs: {}",
            names(&mut m.inputs().iter().map(|x| x.name))
        );
        let _ = writeln!(
            s,
            "outputs: {}",
            names(&mut m.outputs().iter().map(|x| x.name))
        );
        let _ = writeln!(
            s,
            "endpoints: {}",
            names(&mut m.endpoint_info().iter().map(|x| x.name))
        );
        let _ = writeln!(s, "model settings: {}", m.settings_description());
        if let Some(p) = &self.product {
            let _ = writeln!(s, "product: {p:?}");
        }
        s.push_str("typical:");
        for (p, v) in m.parameters().iter().zip(&self.typical) {
            let _ = write!(s, " {}={v:?}", p.name);
        }
        s.push('\n');
        let _ = writeln!(s, "population: {:?}", self.population);
        let _ = writeln!(s, "iiv: {:?}", self.iiv);
        let _ = writeln!(s, "regimen: {:?}", self.regimen.regimen());
        let _ = writeln!(s, "solver: {:?}", self.solver);
        let _ = writeln!(s, "stiff_retry: {:?}", self.stiff_retry);
        let _ = writeln!(s, "on_failure: {:?}", self.on_failure);
        let _ = writeln!(s, "records: {:?}", self.records);
        let _ = writeln!(s, "summary_mode: {:?}", self.summary_mode);
        let _ = writeln!(s, "band_times_day: {:?}", self.band_times_day);
        let _ = writeln!(s, "targets: {:?}", self.targets);
        s
    }

    /// A 64-bit FNV-1a hash of [`Cohort::spec_description`], as 16 hex digits: shards and
    /// distributed runs of the same specification carry the same fingerprint.
    pub fn fingerprint(&self) -> String {
        crate::hash::fnv64_hex(self.spec_description().as_bytes())
    }
    /// A copy of this cohort with another regimen (same patients: common random numbers).
    ///
    /// # Errors
    /// When the regimen has doses the model cannot take.
    pub fn with_regimen(&self, regimen: Regimen) -> Result<Self, Error>
    where
        M: Clone,
    {
        let regimen = regimen.bind(self.model.name(), self.model.inputs())?;
        let mut c = self.clone();
        c.regimen = regimen;
        Ok(c)
    }

    /// A copy of this cohort with another CAR-T product, same patients (common random numbers):
    /// the typical values are derived again from the cohort's base values (its own or the model's
    /// defaults) with `product` applied, then the replicate's uncertainty draw if it has one.
    ///
    /// # Errors
    /// When the product is invalid, changes a parameter the model lacks, or moves a typical
    /// value out of its bounds.
    pub fn with_product(&self, product: Product) -> Result<Self, Error>
    where
        M: Clone,
    {
        let typical = derive_typical(
            &self.model,
            &self.base_typical,
            Some(&product),
            self.uncertainty.as_ref(),
            self.seed,
        )?;
        let mut c = self.clone();
        c.typical = typical;
        c.product = Some(product);
        Ok(c)
    }

    /// A copy of this cohort with other typical parameter values (table order), same patients
    /// (common random numbers): each patient draws the same covariates and η and applies them to
    /// the new typical values.
    ///
    /// The values replace [`Cohort::typical_values`] as they are. When the cohort was built with
    /// [`CohortBuilder::uncertainty`], its typical values are that replicate's draw; the draw is
    /// not applied again on top of `values`, which are taken as the replicate's typical values.
    ///
    /// # Errors
    /// [`ParamError`](crate::error::ParamError) when the model rejects the values (wrong length, out of range).
    pub fn with_typical_values(&self, values: Vec<f64>) -> Result<Self, Error>
    where
        M: Clone,
    {
        self.model.params_from_values(&values)?;
        let mut c = self.clone();
        c.typical = values;
        Ok(c)
    }

    /// A copy of this cohort with another population, same patients (common random numbers:
    /// each patient's standard-normal draws, mapped through the new covariate distributions).
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the covariate when the population is invalid.
    pub fn with_population(&self, population: Population) -> Result<Self, Error>
    where
        M: Clone,
    {
        population.validate()?;
        let mut c = self.clone();
        c.population = population;
        Ok(c)
    }

    /// A copy of this cohort with another inter-individual variability, same patients (common
    /// random numbers: with the same names, the same standard-normal draws, scaled by the new
    /// Ω).
    ///
    /// # Errors
    /// [`ParamError`](crate::error::ParamError) when Ω names a parameter the model does not have.
    pub fn with_iiv(&self, iiv: Iiv) -> Result<Self, Error>
    where
        M: Clone,
    {
        let bound_iiv = iiv.bind(self.model.name(), self.model.parameters())?;
        let mut c = self.clone();
        c.iiv = iiv;
        c.bound_iiv = bound_iiv;
        Ok(c)
    }

    /// A copy of this cohort that yields per-patient endpoints at the least cost, for fitting
    /// summary statistics of them (calibration): records kept, failures recorded and skipped
    /// ([`OnFailure::Continue`]), an exact summary with one band time (the horizon start) and no
    /// attainment targets. What decides a patient's result (model, typical values, population,
    /// Ω, regimen, solver, stiff retry, seed, size) is unchanged.
    pub(crate) fn for_endpoint_statistics(&self) -> Self
    where
        M: Clone,
    {
        let mut c = self.clone();
        c.records = Records::Keep;
        c.on_failure = OnFailure::Continue;
        c.summary_mode = SummaryMode::Exact;
        c.band_times_day = vec![self.regimen.start_day()];
        c.targets.clear();
        c
    }

    fn band_times(&self) -> Vec<f64> {
        self.band_times_day.clone()
    }

    fn empty_summary(&self) -> SummaryAccumulator {
        SummaryAccumulator::new(
            self.summary_mode,
            self.model.endpoint_info().len(),
            self.model.outputs().len(),
            self.band_times(),
            self.targets.clone(),
        )
    }

    /// Patient `id`'s covariates and individual parameter values (in table order), without
    /// simulating.
    pub fn sample_patient(&self, id: u64) -> (Covariates, Vec<f64>) {
        let mut s = Scratch::default();
        let c = self.sample(id, &mut s);
        (c, s.values)
    }

    /// Samples patient `id`'s covariates and parameter values (in table order) into scratch.
    fn sample(&self, id: u64, s: &mut Scratch) -> Covariates {
        let mut rng = patient_rng(self.seed, id);
        let cov = self.population.sample(&mut rng);
        s.values.clear();
        s.values.extend_from_slice(&self.typical);
        let d = self.bound_iiv.dim();
        s.z.resize(d, 0.0);
        s.eta.resize(d, 0.0);
        self.bound_iiv.sample_eta(&mut rng, &mut s.z, &mut s.eta);
        self.bound_iiv.apply(&s.eta, &mut s.values);
        cov
    }

    fn varied(&self, values: &[f64]) -> Vec<f64> {
        self.bound_iiv
            .indices()
            .iter()
            .map(|&i| values[i])
            .collect()
    }

    fn varied_named(&self, values: &[f64]) -> Vec<(String, f64)> {
        self.iiv
            .names()
            .iter()
            .zip(self.bound_iiv.indices())
            .map(|(n, &i)| (n.clone(), values[i]))
            .collect()
    }

    /// Simulates one patient; its trajectory stays in `s.patient.ws.trajectory`.
    fn simulate_into(&self, id: u64, s: &mut Scratch) -> Result<PatientRecord, PatientError> {
        let cov = self.sample(id, s);
        let path = PatientPath {
            model: &self.model,
            regimen: &self.regimen,
            solver: &self.solver,
            stiff_retry: self.stiff_retry,
        };
        let mut rng = stochastic_rng(self.seed, id);
        match path.run(&s.values, &cov, &mut rng, &mut s.patient) {
            Ok(outcome) => Ok(PatientRecord {
                id,
                covariates: cov,
                params: self.varied(&s.values),
                endpoints: outcome.endpoints,
                stats: outcome.stats,
                solver: outcome.solver,
            }),
            Err(cause) => Err(PatientError {
                id,
                cause: Box::new(cause),
                params: self.varied_named(&s.values),
            }),
        }
    }

    /// Simulates one patient and returns its record and full trajectory.
    ///
    /// # Errors
    /// The patient's failure.
    pub fn simulate_patient(&self, id: u64) -> Result<(PatientRecord, Trajectory), PatientError> {
        let mut s = Scratch::default();
        let r = self.simulate_into(id, &mut s)?;
        Ok((r, s.patient.ws.trajectory))
    }

    /// Sets up the scratch's output grid before its first solve: the grid positions of the band
    /// times and, when the model's endpoints read no grid point, the points a solve fills (those
    /// the bands read: the grid is never output by a cohort). Every patient, whichever thread
    /// and scratch it lands on, is solved with the same fill mask.
    fn prepare_band_grid(&self, s: &mut Scratch) {
        let tr = &mut s.patient.ws.trajectory;
        tr.reset(
            self.regimen.start_day(),
            self.regimen.end_day(),
            self.solver.output_step_day,
            self.model.outputs().len(),
        );
        s.band_positions.clear();
        s.band_positions
            .extend(self.band_times_day.iter().map(|&t| tr.grid_position(t)));
        s.band_grid = (tr.time(0), tr.step_day(), tr.len());
        tr.fill_mask.clear();
        if !self.model.endpoints_read_grid() {
            tr.fill_mask.resize(tr.len(), false);
            for &(i, f) in &s.band_positions {
                for j in [i, i + usize::from(f != 0.0)] {
                    if let Some(m) = tr.fill_mask.get_mut(j) {
                        *m = true;
                    }
                }
            }
        }
    }

    fn fold_patient(&self, p: &mut Partial, s: &mut Scratch, id: u64) {
        if s.band_grid.2 == 0 {
            self.prepare_band_grid(s);
        }
        match self.simulate_into(id, s) {
            Ok(rec) => {
                let tr = &s.patient.ws.trajectory;
                debug_assert_eq!(s.band_grid, (tr.time(0), tr.step_day(), tr.len()));
                let at = &s.band_positions;
                p.summary
                    .add_patient_by_index(&rec.endpoints, |k, i| tr.value_at_position(k, at[i]));
                if self.records == Records::Keep {
                    p.records.push(rec);
                } else if rec.solver.is_retry() {
                    // Keep the retry visible even without records.
                    p.records.push(PatientRecord {
                        params: Vec::new(),
                        endpoints: Vec::new(),
                        ..rec
                    });
                }
            }
            Err(e) => {
                p.summary.add_failure();
                p.failures.push(e);
            }
        }
    }

    fn new_partial(&self) -> Partial {
        Partial {
            summary: self.empty_summary(),
            records: Vec::new(),
            failures: Vec::new(),
        }
    }

    fn merge_partials(mut a: Partial, b: Partial) -> Result<Partial, Error> {
        // Same shape by construction; a mismatch is a bug, reported rather than dropped.
        a.summary
            .merge(&b.summary)
            .map_err(|reason| SpecError::Invalid {
                field: "summary".into(),
                reason: format!("partial summaries of one run do not merge: {reason}"),
            })?;
        a.records.extend(b.records);
        a.failures.extend(b.failures);
        Ok(a)
    }

    /// Runs every patient in parallel (rayon's global pool: `RAYON_NUM_THREADS` threads).
    ///
    /// # Errors
    /// With [`OnFailure::Stop`], the failure of the lowest failing patient id.
    pub fn run(&self) -> Result<CohortResult, Error> {
        self.run_range_with(0..self.n_patients, true, None, None)
    }

    /// Runs every patient in parallel, as [`Cohort::run`], under `control`: the run stops at the
    /// next patient once [`RunControl::cancel`] is called, and [`RunControl::done`] counts the
    /// patients finished.
    ///
    /// # Errors
    /// [`Error::Cancelled`] when cancelled (no partial result); otherwise as [`Cohort::run`].
    pub fn run_with_control(&self, control: &RunControl) -> Result<CohortResult, Error> {
        self.run_range_with(0..self.n_patients, true, None, Some(control))
    }

    /// Runs every patient on the calling thread.
    ///
    /// # Errors
    /// As [`Cohort::run`].
    pub fn run_sequential(&self) -> Result<CohortResult, Error> {
        self.run_range_with(0..self.n_patients, false, None, None)
    }

    /// Runs patients `range` (a shard) in parallel.
    ///
    /// # Errors
    /// [`SpecError`] for an empty range or one beyond the cohort; otherwise as [`Cohort::run`].
    pub fn run_range(&self, range: Range<u64>) -> Result<CohortResult, Error> {
        self.run_range_with(range, true, None, None)
    }

    /// Runs patients `range` in parallel, calling `progress` after each block.
    ///
    /// # Errors
    /// As [`Cohort::run_range`].
    pub fn run_range_with_progress(
        &self,
        range: Range<u64>,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<CohortResult, Error> {
        self.run_range_with(range, true, Some(progress), None)
    }

    fn run_range_with(
        &self,
        range: Range<u64>,
        parallel: bool,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
        control: Option<&RunControl>,
    ) -> Result<CohortResult, Error> {
        if range.start >= range.end || range.end > self.n_patients {
            return Err(SpecError::Invalid {
                field: "range".into(),
                reason: format!(
                    "must be a non-empty range within 0..{}, got {}..{}",
                    self.n_patients, range.start, range.end
                ),
            }
            .into());
        }
        let total = range.end - range.start;
        if self.records == Records::Keep && total > MAX_KEPT_RECORDS {
            return Err(SpecError::Invalid {
                field: "records".into(),
                reason: format!(
                    "keeping the records of {total} patients in memory is refused (at most \
                     {MAX_KEPT_RECORDS}): stream them to disk with shard::run_range_chunked (as \
                     the cohort example does), run shards, or build with Records::Discard"
                ),
            }
            .into());
        }
        let done = AtomicU64::new(0);
        let done_before = control.map_or(0, RunControl::done);
        let cancelled = || control.is_some_and(RunControl::is_cancelled);
        let count = |n: u64| {
            if let Some(c) = control {
                c.done.fetch_add(n, Ordering::Relaxed);
            }
        };
        // One partial result and one scratch per worker thread for the whole run, merged at the
        // end: summaries merge exactly, so which thread simulated which patient changes no bit,
        // and a partial's set-up (band sketches, a band batch buffer of a few MB) and merge are
        // paid once per thread instead of once per rayon task.
        let workers = if parallel {
            rayon::current_num_threads().max(1)
        } else {
            1
        };
        let slots: Vec<Mutex<(Partial, Scratch)>> = (0..workers)
            .map(|_| Mutex::new((self.new_partial(), Scratch::default())))
            .collect();
        let lock = |i: usize| slots[i % workers].lock().unwrap_or_else(|e| e.into_inner());
        let mut start = range.start;
        while start < range.end {
            let end = start.saturating_add(self.block_size).min(range.end);
            if parallel {
                let tasks = (end - start).div_ceil(PATIENTS_PER_TASK);
                (0..tasks).into_par_iter().for_each(|task| {
                    let mut slot = lock(rayon::current_thread_index().unwrap_or(0));
                    let (p, s) = &mut *slot;
                    let a = start + task * PATIENTS_PER_TASK;
                    for id in a..a.saturating_add(PATIENTS_PER_TASK).min(end) {
                        if cancelled() {
                            return;
                        }
                        self.fold_patient(p, s, id);
                        count(1);
                    }
                });
            } else {
                let mut slot = lock(0);
                let (p, s) = &mut *slot;
                for id in start..end {
                    if cancelled() {
                        break;
                    }
                    self.fold_patient(p, s, id);
                    count(1);
                }
            }
            if cancelled() {
                // Patients of this block may have been skipped: no result, however far it got.
                return Err(Error::Cancelled {
                    done: control.map_or(0, |c| c.done().saturating_sub(done_before)),
                    total,
                });
            }
            if self.on_failure == OnFailure::Stop {
                // The lowest failing id of the blocks run so far, whichever thread met it.
                let mut failures: Vec<PatientError> = (0..workers)
                    .flat_map(|i| std::mem::take(&mut lock(i).0.failures))
                    .collect();
                if !failures.is_empty() {
                    failures.sort_by_key(|f| f.id);
                    return Err(failures.swap_remove(0).into());
                }
            }
            let d = done.fetch_add(end - start, Ordering::Relaxed) + (end - start);
            if let Some(cb) = progress {
                cb(Progress { done: d, total });
            }
            start = end;
        }
        // Summary merges leave the result canonical (sketches trimmed, exact values sorted).
        let mut acc = self.new_partial();
        for slot in slots {
            let (p, _) = slot.into_inner().unwrap_or_else(|e| e.into_inner());
            acc = Self::merge_partials(acc, p)?;
        }
        acc.records.sort_by_key(|r| r.id);
        acc.failures.sort_by_key(|f| f.id);
        let stiff_retries = acc.records.iter().filter(|r| r.solver.is_retry()).count() as u64;
        if self.records == Records::Discard {
            acc.records.clear();
        }
        Ok(CohortResult {
            range,
            seed: self.seed,
            summary: acc.summary,
            records: acc.records,
            failures: acc.failures,
            stiff_retries,
            fingerprint: self.fingerprint(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SleModel;

    fn cohort(n: u64) -> Cohort<SleModel, { crate::model::sle::SLE_STATES }> {
        Cohort::builder(SleModel::default())
            .patients(n)
            .seed(11)
            .build()
            .unwrap()
    }

    /// Before its first solve a scratch knows the band positions and, for the SLE model (whose
    /// endpoints read no grid point), fills only the grid points the bands read.
    #[test]
    fn the_grid_is_filled_only_where_the_bands_read_it() {
        let c = cohort(3);
        let mut s = Scratch::default();
        c.prepare_band_grid(&mut s);
        let tr = &s.patient.ws.trajectory;
        assert_eq!(tr.len(), 372);
        assert_eq!(tr.fill_mask.len(), tr.len());
        let filled = tr.fill_mask.iter().filter(|&&m| m).count();
        assert_eq!(s.band_positions.len(), c.band_times_day.len());
        for &(i, f) in &s.band_positions {
            assert!(tr.fills(i) && (f == 0.0 || tr.fills(i + 1)));
        }
        assert!(
            filled < tr.len() / 2,
            "{filled} of {} points filled",
            tr.len()
        );
        // A patient solved with the mask has the same endpoints as one solved alone.
        c.fold_patient(&mut c.new_partial(), &mut s, 2);
        let alone = c.simulate_patient(2).unwrap().0;
        let rec = c.simulate_into(2, &mut s).unwrap();
        assert_eq!(
            format!("{:?}", rec.endpoints),
            format!("{:?}", alone.endpoints)
        );
    }

    #[test]
    fn a_controlled_run_equals_a_plain_one_and_counts_patients() {
        let c = cohort(40);
        let control = RunControl::new();
        let a = c.run_with_control(&control).unwrap();
        let b = c.run().unwrap();
        assert_eq!(control.done(), 40);
        assert!(!control.is_cancelled());
        assert_eq!(a.records, b.records);
        assert_eq!(
            format!("{:?}", a.summary.endpoint_stats()),
            format!("{:?}", b.summary.endpoint_stats())
        );
    }

    #[test]
    fn cancelling_from_another_thread_stops_the_run_without_a_result() {
        let c = cohort(3000);
        let control = RunControl::new();
        let err = std::thread::scope(|s| {
            s.spawn(|| {
                while control.done() < 20 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                control.cancel();
            });
            c.run_with_control(&control).unwrap_err()
        });
        match err {
            Error::Cancelled { done, total } => {
                assert_eq!(total, 3000);
                assert!((20..3000).contains(&done), "done {done}");
            }
            other => panic!("expected a cancellation, got {other}"),
        }
        assert!(control.done() < 3000);
    }

    #[test]
    fn records_with_nan_endpoints_compare_equal_to_their_copies() {
        let c = cohort(30);
        let r = c.run().unwrap();
        let with_nan = r
            .records
            .iter()
            .find(|x| x.endpoints.iter().any(|v| v.is_nan()))
            .expect("some patient has an undefined endpoint");
        assert_eq!(with_nan, &with_nan.clone());
        let mut other = with_nan.clone();
        let i = other.endpoints.iter().position(|v| v.is_nan()).unwrap();
        other.endpoints[i] = 1.0;
        assert_ne!(with_nan, &other);
        let mut other = with_nan.clone();
        other.params[0] = f64::NAN;
        assert_ne!(with_nan, &other);
    }
}

//! Calibration: fit typical parameter values (and optionally IIV ω) so that simulated cohorts
//! reproduce target summary statistics; select virtual populations ([`vpop`]); compare the
//! default cohort with the published trial ([`validation`]).
//!
//! # The fit
//! A [`Calibration`] starts from a validated [`Cohort`] (model, typical values, population, Ω,
//! regimen, solver, stiff retry, seed, number of patients: everything a patient's result
//! depends on, as the user built it) and adds only what is its own: the quantities to fit
//! ([`Fit`]: a typical value or the ω of a parameter, each with bounds), the
//! [`CalibrationTarget`]s (an endpoint, a statistic ([`Statistic`]: mean, SD, quantile or
//! fraction of patients), a target value, a scale and a weight), start values and the
//! optimiser's settings. Each evaluation derives the cohort at the trial values from the given
//! one ([`Cohort::with_typical_values`], [`Cohort::with_iiv`]), so it simulates **the same
//! virtual patients** (same seed, same ids: common random numbers) and the loss is a
//! deterministic, nearly smooth function of the fitted values; differences between evaluations
//! come from the parameters alone.
//!
//! The fit needs each patient's endpoints, not the cohort's output settings, so it replaces
//! those: records are kept (the statistics are computed from them), failed patients are
//! recorded, left out of the statistics and counted ([`Evaluation::failed`]) whatever the
//! cohort's [`OnFailure`](crate::cohort::OnFailure) (a single failing patient must not end a
//! fit), and the summary is reduced to its cheapest form (exact, one band time, no attainment
//! targets) because only its failure count is read. A cohort built with parameter uncertainty
//! ([`CohortBuilder::uncertainty`](crate::cohort::CohortBuilder::uncertainty)) is fitted at
//! that replicate: its drawn typical values are the start and stay in place for the parameters
//! not fitted.
//!
//! **Loss** (weighted least squares on scaled statistics):
//!
//! ```text
//! L(θ) = Σ_k w_k · ((s_k(θ) − y_k) / σ_k)²   +   P(θ)
//! ```
//!
//! with `s_k` the simulated statistic, `y_k` its target, `σ_k` its scale (the tolerated error,
//! e.g. the published SD of a mean or a fraction of the target) and `w_k` its weight. A
//! statistic that cannot be computed (no patient with a value) adds `w_k · 10⁶`.
//!
//! **Optimiser**: Nelder–Mead (argmin) on `x = ln θ`, so that steps are relative and every value
//! stays positive. Bounds `[lo, hi]` (defaults: the parameter table's, tightened to > 0) are
//! enforced by projection plus penalty: the cohort is simulated at the projected point
//! `clamp(x, ln lo, ln hi)` and `P = 10⁴·‖x − clamp(x)‖²` is added, so the simplex is pushed back
//! inside (unbounded fits find degenerate optima such as immortal memory CAR-T,
//! PROTOTYPE.md §6). The initial simplex is the start and one vertex per fitted quantity moved
//! by `initial_step` (log scale). It stops when the SD of the simplex's losses falls below
//! `sd_tolerance` or after `max_iters` iterations.
//!
//! ```no_run
//! use cartsim::calibrate::{Calibration, CalibrationTarget, Fit, Statistic};
//! use cartsim::cohort::Cohort;
//! use cartsim::prelude::*;
//!
//! let cohort = Cohort::builder(SleModel::default()).patients(300).seed(1).build()?;
//! let cal = Calibration::builder(cohort)
//!     .fit(Fit::typical("effector_to_memory_per_day"))
//!     .target(CalibrationTarget::new("b_cell_reappearance_day", Statistic::Mean, 110.0, 10.0))
//!     .build()?;
//! let result = cal.run()?;
//! println!("k_EM = {:.4} /day, loss {:.3e}", result.fitted[0], result.loss);
//! # Ok::<(), cartsim::Error>(())
//! ```

pub mod validation;
pub mod vpop;

use std::sync::Mutex;

use argmin::core::{CostFunction, Executor, State};
use argmin::solver::neldermead::NelderMead;
use nalgebra::DMatrix;

use crate::cohort::Cohort;
use crate::error::{Error, ParamError, SpecError};
use crate::model::Model;
use crate::variability::Iiv;

/// A summary statistic of one endpoint across the patients that have a value.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Statistic {
    /// Mean.
    Mean,
    /// Sample standard deviation.
    Sd,
    /// Quantile of probability `q` in (0, 1) (type 7, linear interpolation).
    Quantile(f64),
    /// Fraction of patients with the flag set (mean of a 0/1 endpoint).
    Fraction,
    /// Fraction of **all** patients whose value is at most `x` (a patient without a value,
    /// e.g. no B-cell return within the horizon, counts as above).
    FractionAtMost(f64),
}

impl std::fmt::Display for Statistic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Statistic::Mean => write!(f, "mean"),
            Statistic::Sd => write!(f, "sd"),
            Statistic::Quantile(q) => write!(f, "q{:02}", (q * 100.0).round()),
            Statistic::Fraction => write!(f, "fraction"),
            Statistic::FractionAtMost(x) => write!(f, "fraction <= {x}"),
        }
    }
}

impl Statistic {
    /// The statistic of `values` (non-finite values are ignored; NaN when none is left, or
    /// fewer than two for the SD).
    pub fn of(&self, values: &[f64]) -> f64 {
        if let Statistic::FractionAtMost(x) = *self {
            if values.is_empty() {
                return f64::NAN;
            }
            return values.iter().filter(|&&v| v <= x).count() as f64 / values.len() as f64;
        }
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        let n = v.len();
        if n == 0 {
            return f64::NAN;
        }
        let mean = v.iter().sum::<f64>() / n as f64;
        match *self {
            Statistic::Mean | Statistic::Fraction | Statistic::FractionAtMost(_) => mean,
            Statistic::Sd => {
                if n < 2 {
                    f64::NAN
                } else {
                    (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64).sqrt()
                }
            }
            Statistic::Quantile(q) => {
                v.sort_by(f64::total_cmp);
                let h = (n - 1) as f64 * q.clamp(0.0, 1.0);
                let i = h.floor() as usize;
                let f = h - i as f64;
                if i + 1 < n {
                    v[i] + f * (v[i + 1] - v[i])
                } else {
                    v[n - 1]
                }
            }
        }
    }
}

/// One target of a calibration: `statistic(endpoint) ≈ value`, with a scale and a weight.
#[derive(Debug, Clone, PartialEq)]
pub struct CalibrationTarget {
    /// Endpoint name (as in [`Model::endpoint_info`]).
    pub endpoint: String,
    /// Statistic across patients.
    pub statistic: Statistic,
    /// Target value, in the endpoint's unit (a fraction for [`Statistic::Fraction`]).
    pub value: f64,
    /// Scale σ: the error counted as one unit of loss (> 0).
    pub scale: f64,
    /// Weight w (≥ 0, default 1).
    pub weight: f64,
}

impl CalibrationTarget {
    /// A target with weight 1.
    pub fn new(endpoint: impl Into<String>, statistic: Statistic, value: f64, scale: f64) -> Self {
        CalibrationTarget {
            endpoint: endpoint.into(),
            statistic,
            value,
            scale,
            weight: 1.0,
        }
    }

    /// The same target with another weight.
    pub fn weight(mut self, w: f64) -> Self {
        self.weight = w;
        self
    }

    /// Label `endpoint:statistic`.
    pub fn label(&self) -> String {
        format!("{}:{}", self.endpoint, self.statistic)
    }
}

/// What a fitted quantity is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FitKind {
    /// The typical value of the parameter.
    Typical,
    /// The ω (SD of η, log or logit scale) of the parameter's random effect.
    Omega,
}

/// A quantity to fit, with bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// Parameter name.
    pub name: String,
    /// Typical value or ω.
    pub kind: FitKind,
    /// Lower bound (> 0; `None`: the table's lower bound, or 1e-6 of the start when that is ≤ 0;
    /// for ω: 1e-3).
    pub lower: Option<f64>,
    /// Upper bound (`None`: the table's upper bound; for ω: 2).
    pub upper: Option<f64>,
}

impl Fit {
    /// Fit the typical value of `name` within the parameter table's bounds.
    pub fn typical(name: impl Into<String>) -> Self {
        Fit {
            name: name.into(),
            kind: FitKind::Typical,
            lower: None,
            upper: None,
        }
    }

    /// Fit the ω of `name`'s random effect (which must be in the cohort's Ω).
    pub fn omega(name: impl Into<String>) -> Self {
        Fit {
            name: name.into(),
            kind: FitKind::Omega,
            lower: None,
            upper: None,
        }
    }

    /// The same fit with explicit bounds.
    pub fn bounds(mut self, lower: f64, upper: f64) -> Self {
        self.lower = Some(lower);
        self.upper = Some(upper);
        self
    }

    /// Label: the name, or `omega(name)`.
    pub fn label(&self) -> String {
        match self.kind {
            FitKind::Typical => self.name.clone(),
            FitKind::Omega => format!("omega({})", self.name),
        }
    }
}

/// One evaluation of the loss.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// Fitted quantities at which the cohort was simulated (natural units, after projection
    /// onto the bounds).
    pub values: Vec<f64>,
    /// Simulated statistic of each target.
    pub simulated: Vec<f64>,
    /// Loss including the bound penalty.
    pub loss: f64,
    /// Patients that failed (excluded from the statistics).
    pub failed: u64,
}

/// The result of [`Calibration::run`].
#[derive(Debug, Clone)]
pub struct CalibrationResult {
    /// Labels of the fitted quantities.
    pub labels: Vec<String>,
    /// Starting values.
    pub start: Vec<f64>,
    /// Fitted values (natural units).
    pub fitted: Vec<f64>,
    /// Loss at the fitted values.
    pub loss: f64,
    /// Simulated statistics at the fitted values, in target order.
    pub simulated: Vec<f64>,
    /// Every evaluation, in the order the optimiser asked for them.
    pub history: Vec<Evaluation>,
    /// Nelder–Mead iterations.
    pub iterations: u64,
    /// Why the optimiser stopped.
    pub termination: String,
    /// All typical values (table order) with the fitted ones in place.
    pub typical_values: Vec<f64>,
    /// The cohort's Ω with the fitted ω in place.
    pub iiv: Iiv,
}

impl CalibrationResult {
    /// Best loss so far after each evaluation (a non-increasing loss history).
    pub fn best_loss_history(&self) -> Vec<f64> {
        let mut best = f64::INFINITY;
        self.history
            .iter()
            .map(|e| {
                best = best.min(e.loss);
                best
            })
            .collect()
    }
}

/// A validated calibration problem; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct Calibration<M: Model<N>, const N: usize> {
    /// The user's cohort, set up for endpoint statistics; every evaluation derives from it.
    cohort: Cohort<M, N>,
    fits: Vec<Fit>,
    /// Per fit: parameter index in the table (typical) or in the Ω (omega).
    fit_index: Vec<usize>,
    lower: Vec<f64>,
    upper: Vec<f64>,
    start: Vec<f64>,
    targets: Vec<CalibrationTarget>,
    target_index: Vec<usize>,
    max_iters: u64,
    sd_tolerance: f64,
    initial_step: f64,
}

/// Builder of a [`Calibration`]; validated by [`CalibrationBuilder::build`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CalibrationBuilder<M: Model<N>, const N: usize> {
    cohort: Cohort<M, N>,
    fits: Vec<Fit>,
    start: Option<Vec<f64>>,
    targets: Vec<CalibrationTarget>,
    max_iters: u64,
    sd_tolerance: f64,
    initial_step: f64,
}

impl<M: Model<N> + Clone, const N: usize> Calibration<M, N> {
    /// Starts a builder on a validated cohort, whose patients every evaluation simulates (its
    /// typical values, Ω, population, regimen, solver, stiff retry, seed and size; see the
    /// [module docs](self) for the output settings the fit replaces). Defaults: at most 300
    /// iterations, SD tolerance 1e-8, initial step 0.1 (log scale).
    pub fn builder(cohort: Cohort<M, N>) -> CalibrationBuilder<M, N> {
        CalibrationBuilder {
            cohort,
            fits: Vec::new(),
            start: None,
            targets: Vec::new(),
            max_iters: 300,
            sd_tolerance: 1e-8,
            initial_step: 0.1,
        }
    }
}

impl<M: Model<N> + Clone, const N: usize> CalibrationBuilder<M, N> {
    /// Adds a quantity to fit.
    pub fn fit(mut self, f: Fit) -> Self {
        self.fits.push(f);
        self
    }
    /// Starting values of the fitted quantities, in fit order (default: their values in the
    /// cohort).
    pub fn start(mut self, values: Vec<f64>) -> Self {
        self.start = Some(values);
        self
    }
    /// Adds a target.
    pub fn target(mut self, t: CalibrationTarget) -> Self {
        self.targets.push(t);
        self
    }
    /// Adds targets.
    pub fn targets(mut self, t: impl IntoIterator<Item = CalibrationTarget>) -> Self {
        self.targets.extend(t);
        self
    }
    /// Most Nelder–Mead iterations (> 0).
    pub fn max_iters(mut self, n: u64) -> Self {
        self.max_iters = n;
        self
    }
    /// Stop when the SD of the simplex's losses is below this (≥ 0).
    pub fn sd_tolerance(mut self, tol: f64) -> Self {
        self.sd_tolerance = tol;
        self
    }
    /// Size of the initial simplex on the log scale (> 0; 0.1 ≈ ±10%).
    pub fn initial_step(mut self, step: f64) -> Self {
        self.initial_step = step;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`ParamError::Unknown`] for an unknown parameter; [`SpecError::Invalid`] naming the field
    /// for no fit, a repeated fit, an ω fit of a parameter not in Ω, bad bounds or start, an
    /// unknown endpoint, a non-finite target, a scale ≤ 0, a negative weight, a quantile outside
    /// (0, 1) or bad optimiser settings; errors of the cohort at the start values.
    pub fn build(self) -> Result<Calibration<M, N>, Error> {
        let cohort = self.cohort.for_endpoint_statistics();
        let model = cohort.model();
        let bad = |field: String, reason: String| -> Error {
            SpecError::Invalid { field, reason }.into()
        };
        if self.fits.is_empty() {
            return Err(bad(
                "calibration.fits".into(),
                "at least one quantity to fit is needed".into(),
            ));
        }
        if self.targets.is_empty() {
            return Err(bad(
                "calibration.targets".into(),
                "at least one target is needed".into(),
            ));
        }
        if self.max_iters == 0 {
            return Err(bad("calibration.max_iters".into(), "must be > 0".into()));
        }
        if !(self.sd_tolerance.is_finite() && self.sd_tolerance >= 0.0) {
            return Err(bad(
                "calibration.sd_tolerance".into(),
                format!("must be finite and >= 0, got {}", self.sd_tolerance),
            ));
        }
        if !(self.initial_step.is_finite() && self.initial_step > 0.0) {
            return Err(bad(
                "calibration.initial_step".into(),
                format!("must be finite and > 0, got {}", self.initial_step),
            ));
        }
        let table = model.parameters();
        let typical = cohort.typical_values();
        let iiv = cohort.iiv();
        let mut fit_index = Vec::with_capacity(self.fits.len());
        let mut current = Vec::with_capacity(self.fits.len());
        let mut lower = Vec::with_capacity(self.fits.len());
        let mut upper = Vec::with_capacity(self.fits.len());
        for (j, f) in self.fits.iter().enumerate() {
            let field = format!("calibration.fit `{}`", f.label());
            if self.fits[..j]
                .iter()
                .any(|g| g.name == f.name && g.kind == f.kind)
            {
                return Err(bad(field, "listed twice".into()));
            }
            let pi = model.param_index(&f.name)?;
            let (idx, value, lo, hi) = match f.kind {
                FitKind::Typical => {
                    let v = typical[pi];
                    let info = table[pi];
                    let lo = if info.lower > 0.0 {
                        info.lower
                    } else {
                        (v.abs() * 1e-6).max(f64::MIN_POSITIVE)
                    };
                    (pi, v, lo, info.upper)
                }
                FitKind::Omega => {
                    let k = iiv
                        .names()
                        .iter()
                        .position(|n| n == &f.name)
                        .ok_or_else(|| bad(field.clone(), "parameter is not in Ω".into()))?;
                    let w = iiv.omega()[(k, k)].max(0.0).sqrt();
                    (k, w, 1e-3, 2.0)
                }
            };
            let lo = f.lower.unwrap_or(lo);
            let hi = f.upper.unwrap_or(hi);
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo < hi) {
                return Err(bad(
                    field,
                    format!("bounds must be finite with 0 < lower < upper, got [{lo}, {hi}]"),
                ));
            }
            fit_index.push(idx);
            current.push(value);
            lower.push(lo);
            upper.push(hi);
        }
        let start = match self.start {
            Some(s) => {
                if s.len() != self.fits.len() {
                    return Err(bad(
                        "calibration.start".into(),
                        format!("needs {} values, got {}", self.fits.len(), s.len()),
                    ));
                }
                s
            }
            None => current,
        };
        for (j, &v) in start.iter().enumerate() {
            if !(v.is_finite() && v >= lower[j] && v <= upper[j]) {
                return Err(bad(
                    format!("calibration.start `{}`", self.fits[j].label()),
                    format!("must lie in [{}, {}], got {v}", lower[j], upper[j]),
                ));
            }
        }
        let info = model.endpoint_info();
        let mut target_index = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            let field = format!("calibration.target `{}`", t.label());
            let k = info
                .iter()
                .position(|e| e.name == t.endpoint)
                .ok_or_else(|| bad(field.clone(), "unknown endpoint".into()))?;
            if !t.value.is_finite() {
                return Err(bad(field, format!("value must be finite, got {}", t.value)));
            }
            if !(t.scale.is_finite() && t.scale > 0.0) {
                return Err(bad(
                    field,
                    format!("scale must be finite and > 0, got {}", t.scale),
                ));
            }
            if !(t.weight.is_finite() && t.weight >= 0.0) {
                return Err(bad(
                    field,
                    format!("weight must be finite and >= 0, got {}", t.weight),
                ));
            }
            if let Statistic::Quantile(q) = t.statistic {
                if !(q > 0.0 && q < 1.0) {
                    return Err(bad(field, format!("quantile must lie in (0, 1), got {q}")));
                }
            }
            target_index.push(k);
        }
        let cal = Calibration {
            cohort,
            fits: self.fits,
            fit_index,
            lower,
            upper,
            start,
            targets: self.targets,
            target_index,
            max_iters: self.max_iters,
            sd_tolerance: self.sd_tolerance,
            initial_step: self.initial_step,
        };
        // The cohort must take the start values (typical values the model accepts, a valid Ω).
        cal.cohort_at(&cal.start)?;
        Ok(cal)
    }
}

impl<M: Model<N> + Clone, const N: usize> Calibration<M, N> {
    /// The cohort every evaluation derives from: the one given to [`Calibration::builder`]
    /// with the fit's output settings (see the [module docs](self)).
    pub fn cohort(&self) -> &Cohort<M, N> {
        &self.cohort
    }
    /// The fitted quantities.
    pub fn fits(&self) -> &[Fit] {
        &self.fits
    }
    /// The targets.
    pub fn target_list(&self) -> &[CalibrationTarget] {
        &self.targets
    }
    /// Starting values of the fitted quantities.
    pub fn start_values(&self) -> &[f64] {
        &self.start
    }
    /// Lower and upper bounds of each fitted quantity.
    pub fn bounds(&self) -> (&[f64], &[f64]) {
        (&self.lower, &self.upper)
    }

    /// Typical values and Ω with the fitted quantities set to `values` (fit order).
    fn apply(&self, values: &[f64]) -> Result<(Vec<f64>, Iiv), Error> {
        let mut typical = self.cohort.typical_values().to_vec();
        let mut omega: DMatrix<f64> = self.cohort.iiv().omega().clone();
        for ((f, &i), &v) in self.fits.iter().zip(&self.fit_index).zip(values) {
            match f.kind {
                FitKind::Typical => typical[i] = v,
                FitKind::Omega => {
                    // Scale row and column i: correlations are kept.
                    let w0 = omega[(i, i)].max(0.0).sqrt();
                    if w0 > 0.0 {
                        let r = v / w0;
                        for j in 0..omega.ncols() {
                            omega[(i, j)] *= r;
                            omega[(j, i)] *= r;
                        }
                    } else {
                        omega[(i, i)] = v * v;
                    }
                }
            }
        }
        let names: Vec<&str> = self
            .cohort
            .iiv()
            .names()
            .iter()
            .map(|s| s.as_str())
            .collect();
        let iiv = Iiv::new("omega", &names, omega)?;
        Ok((typical, iiv))
    }

    /// The cohort simulated at `values` (fit order, natural units): [`Calibration::cohort`]
    /// with the fitted typical values and ω in place.
    ///
    /// # Errors
    /// When the values are invalid for the model or give an invalid Ω.
    pub fn cohort_at(&self, values: &[f64]) -> Result<Cohort<M, N>, Error> {
        if values.len() != self.fits.len() {
            return Err(ParamError::WrongLength {
                model: "calibration".into(),
                expected: self.fits.len(),
                got: values.len(),
            }
            .into());
        }
        let (typical, iiv) = self.apply(values)?;
        self.cohort.with_typical_values(typical)?.with_iiv(iiv)
    }

    /// Simulates the common cohort at `values` (fit order, natural units) and returns each
    /// target's statistic and the number of failed patients.
    ///
    /// # Errors
    /// When the values are invalid for the model or the cohort cannot run.
    pub fn simulate_statistics(&self, values: &[f64]) -> Result<(Vec<f64>, u64), Error> {
        let cohort = self.cohort_at(values)?;
        let result = cohort.run()?;
        let stats = self
            .targets
            .iter()
            .zip(&self.target_index)
            .map(|(t, &k)| {
                let v: Vec<f64> = result
                    .records
                    .iter()
                    .filter_map(|r| r.endpoints.get(k).copied())
                    .collect();
                t.statistic.of(&v)
            })
            .collect();
        Ok((stats, result.summary.failed))
    }

    /// The loss (without bound penalty) of simulated statistics, in target order.
    pub fn loss_of(&self, simulated: &[f64]) -> f64 {
        self.targets
            .iter()
            .zip(simulated)
            .map(|(t, &s)| {
                if s.is_finite() {
                    let z = (s - t.value) / t.scale;
                    t.weight * z * z
                } else {
                    t.weight * 1e6
                }
            })
            .sum()
    }

    /// Evaluates the loss at `values` (natural units; projected onto the bounds, with the
    /// penalty for the distance on the log scale).
    ///
    /// # Errors
    /// As [`Calibration::simulate_statistics`].
    pub fn evaluate(&self, values: &[f64]) -> Result<Evaluation, Error> {
        let x: Vec<f64> = values
            .iter()
            .map(|v| v.max(f64::MIN_POSITIVE).ln())
            .collect();
        self.evaluate_log(&x)
    }

    fn evaluate_log(&self, x: &[f64]) -> Result<Evaluation, Error> {
        let mut penalty = 0.0;
        let values: Vec<f64> = x
            .iter()
            .enumerate()
            .map(|(j, &xj)| {
                let (lo, hi) = (self.lower[j].ln(), self.upper[j].ln());
                let c = if xj.is_nan() { lo } else { xj.clamp(lo, hi) };
                let excess = if xj.is_nan() { 1e3 } else { xj - c };
                penalty += 1e4 * excess * excess;
                c.exp()
            })
            .collect();
        let (simulated, failed) = self.simulate_statistics(&values)?;
        let loss = self.loss_of(&simulated) + penalty;
        Ok(Evaluation {
            values,
            simulated,
            loss,
            failed,
        })
    }

    /// Runs Nelder–Mead from the start values; see the [module docs](self).
    ///
    /// # Errors
    /// When the first evaluation fails, or the optimiser reports an error. Evaluations that
    /// fail later (values the model rejects) count as a loss of 10¹², so the simplex moves away.
    pub fn run(&self) -> Result<CalibrationResult, Error> {
        let x0: Vec<f64> = self.start.iter().map(|v| v.ln()).collect();
        // Fail early and clearly when the problem cannot be evaluated at all.
        self.evaluate_log(&x0)?;
        let mut simplex = vec![x0.clone()];
        for j in 0..x0.len() {
            let mut v = x0.clone();
            // Step inwards when the start sits at the upper bound.
            let hi = self.upper[j].ln();
            v[j] = if v[j] + self.initial_step <= hi {
                v[j] + self.initial_step
            } else {
                v[j] - self.initial_step
            };
            simplex.push(v);
        }
        let problem = LogProblem {
            cal: self,
            history: Mutex::new(Vec::new()),
        };
        let opt_err = |e: argmin::core::Error| -> Error {
            SpecError::Invalid {
                field: "calibration".into(),
                reason: format!("optimiser: {e}"),
            }
            .into()
        };
        let solver = NelderMead::new(simplex)
            .with_sd_tolerance(self.sd_tolerance)
            .map_err(opt_err)?;
        let res = Executor::new(problem, solver)
            .configure(|s| s.max_iters(self.max_iters))
            .run()
            .map_err(opt_err)?;
        let state = res.state();
        let best_x = state.get_best_param().cloned().unwrap_or(x0);
        let iterations = state.get_iter();
        let termination = state
            .get_termination_reason()
            .map(|r| r.text().to_string())
            .unwrap_or_default();
        let history = res
            .problem
            .problem
            .map(|p| p.history.into_inner().unwrap_or_else(|e| e.into_inner()))
            .unwrap_or_default();
        let best = self.evaluate_log(&best_x)?;
        let (typical_values, iiv) = self.apply(&best.values)?;
        Ok(CalibrationResult {
            labels: self.fits.iter().map(Fit::label).collect(),
            start: self.start.clone(),
            fitted: best.values.clone(),
            loss: best.loss,
            simulated: best.simulated,
            history,
            iterations,
            termination,
            typical_values,
            iiv,
        })
    }
}

/// The cost function handed to argmin: the loss on the log scale, every evaluation recorded.
struct LogProblem<'a, M: Model<N>, const N: usize> {
    cal: &'a Calibration<M, N>,
    history: Mutex<Vec<Evaluation>>,
}

impl<M: Model<N> + Clone, const N: usize> CostFunction for LogProblem<'_, M, N> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, x: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        let e = match self.cal.evaluate_log(x) {
            Ok(e) => e,
            Err(_) => Evaluation {
                values: x.iter().map(|v| v.exp()).collect(),
                simulated: vec![f64::NAN; self.cal.targets.len()],
                loss: 1e12,
                failed: self.cal.cohort.n_patients(),
            },
        };
        let loss = e.loss;
        if let Ok(mut h) = self.history.lock() {
            h.push(e);
        }
        Ok(loss)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_a_sample() {
        let v = [1.0, 2.0, 3.0, 4.0, f64::NAN];
        assert_eq!(Statistic::Mean.of(&v), 2.5);
        assert!((Statistic::Sd.of(&v) - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(Statistic::Quantile(0.5).of(&v), 2.5);
        assert_eq!(Statistic::Quantile(0.25).of(&v), 1.75);
        assert_eq!(Statistic::Fraction.of(&[1.0, 0.0, 1.0, 1.0]), 0.75);
        assert_eq!(
            Statistic::FractionAtMost(56.0).of(&[40.0, 56.0, 90.0, f64::NAN]),
            0.5
        );
        assert!(Statistic::Mean.of(&[f64::NAN]).is_nan());
        assert_eq!(Statistic::Quantile(0.05).to_string(), "q05");
    }
}

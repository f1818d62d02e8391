//! Global sensitivity analysis: which factors decide a quantity, and how much.
//!
//! A [`Study`] names the **factors** (each a range on a linear or log scale, [`Factor`]), the
//! **quantities of interest** (names of the outputs of a function of the factors) and the
//! **method** ([`Method`]):
//!
//! - **Morris elementary effects** for screening many factors: `μ*` (mean absolute effect:
//!   importance), `μ` (mean effect: direction) and `σ` (spread: non-linearity and
//!   interactions), in output units per unit of the factor's range (so factors compare);
//!   `r · (d + 1)` evaluations for `r` trajectories and `d` factors.
//! - **Sobol' indices**: first order `S_i` (the share of the output variance that factor `i`
//!   explains alone) and total order `ST_i` (alone and in every interaction) with the
//!   Saltelli 2010 and Jansen 1999 estimators on an Owen-scrambled Sobol' design
//!   (`N · (d + 2)` evaluations for `N` base samples); optional second-order indices `S_ik`
//!   (`N · (2d + 2)` evaluations).
//!
//! Every estimate comes with a percentile bootstrap confidence interval, and every result
//! reports its number of evaluations. The formulas are in the `estimate` submodule's
//! docs, the designs in [`Design`].
//!
//! The engine is generic: [`Study::run`] takes any `f(&[f64]) -> Result<Vec<f64>, Error>`
//! from factor values to quantities. [`CohortStudy`] binds it to a virtual cohort of any
//! [`Model`](crate::model::Model): factors are typical parameter values or dose amounts, and
//! quantities are statistics of an endpoint over an inner cohort that simulates the same
//! patients (same seed and ids: common random numbers) at every design point.
//!
//! ```
//! use cartsim::sensitivity::{Factor, Method, Study};
//! use std::f64::consts::PI;
//!
//! // The Ishigami function: S = (0.314, 0.442, 0), ST = (0.558, 0.442, 0.244).
//! let study = Study::builder()
//!     .factors((1..=3).map(|i| Factor::linear(format!("x{i}"), -PI, PI)))
//!     .quantity("y")
//!     .method(Method::sobol(1024))
//!     .seed(1)
//!     .build()?;
//! let result = study.run(|x| Ok(vec![x[0].sin() + 7.0 * x[1].sin().powi(2)
//!                                    + 0.1 * x[2].powi(4) * x[0].sin()]))?;
//! let s1 = result.get("y", "x1", "S1").unwrap();
//! assert!((s1.estimate - 0.314).abs() < 0.05);
//! assert_eq!(result.evaluations, 1024 * 5);
//! # Ok::<(), cartsim::Error>(())
//! ```
//!
//! # Determinism and large studies
//!
//! The design is generated whole from the study and its seed (the Sobol' scramble and the
//! Morris trajectories), the points are evaluated in parallel and collected in index order,
//! and the bootstrap draws come from keyed ChaCha8 streams, so results are bit-identical at any
//! thread count. [`Study::evaluate_range`] evaluates a slice of the design points
//! (`run_range`-style): split a large study over jobs, [`Evaluations::merge`] the slices and
//! [`Study::analyse`] them, with the same bits as one [`Study::run`].
//!
//! # Convergence
//!
//! Ishigami function `sin x1 + 7 sin² x2 + 0.1 x3⁴ sin x1` on `[−π, π]³`, seed 1, 1,000
//! bootstrap resamples, 95% intervals (measured; `tests/sensitivity.rs` checks N = 4,096):
//!
#![doc = include_str!("convergence.md")]

mod cohort;
mod design;
mod estimate;
mod scenario;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use crate::error::{Error, SpecError};
use crate::plot::{IndexPanel, IndexSeries};

pub use self::cohort::{CohortStudy, CohortStudyBuilder, CohortStudyResult, Quantity};
pub use self::design::Design;
use self::estimate::{
    SobolOutputs, bootstrap_sets, elementary_effects, morris_estimate, percentile_interval,
};

/// The most Sobol' base samples (the sequence's length, 2¹⁶).
pub const MAX_SOBOL_SAMPLES: usize = 1 << 16;
/// The most factors of a Sobol' study (the sequence has 256 dimensions, two per factor).
pub const MAX_SOBOL_FACTORS: usize = 128;
/// The fewest Sobol' base samples accepted.
pub const MIN_SOBOL_SAMPLES: usize = 16;
/// The fewest Morris trajectories accepted (σ needs two).
pub const MIN_MORRIS_TRAJECTORIES: usize = 2;

/// How a factor's range is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Uniform between the bounds.
    #[default]
    Linear,
    /// Uniform in the logarithm (log-uniform): for rates and amounts spanning decades; the
    /// bounds must be > 0.
    Log,
}

/// A factor: a named input varied over `[lower, upper]` on a linear or log scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    /// Name (unique in a study; for [`CohortStudy`] a parameter name or `dose:<input>`).
    pub name: String,
    /// Lower bound, in the factor's unit.
    pub lower: f64,
    /// Upper bound, in the factor's unit (> lower).
    pub upper: f64,
    /// Sampling scale.
    pub scale: Scale,
}

impl Factor {
    /// A factor uniform on `[lower, upper]`.
    pub fn linear(name: impl Into<String>, lower: f64, upper: f64) -> Self {
        Factor {
            name: name.into(),
            lower,
            upper,
            scale: Scale::Linear,
        }
    }

    /// A factor log-uniform on `[lower, upper]` (bounds > 0).
    pub fn log(name: impl Into<String>, lower: f64, upper: f64) -> Self {
        Factor {
            name: name.into(),
            lower,
            upper,
            scale: Scale::Log,
        }
    }

    /// The value at unit-cube coordinate `u` ∈ [0, 1]: `lower + u (upper − lower)`, or its
    /// geometric counterpart on the log scale.
    pub fn value_at(&self, u: f64) -> f64 {
        match self.scale {
            Scale::Linear => self.lower + u * (self.upper - self.lower),
            Scale::Log => (self.lower.ln() + u * (self.upper.ln() - self.lower.ln())).exp(),
        }
    }

    /// Checks the range.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the factor and the value: an empty name, a bound that is
    /// not finite, `lower ≥ upper`, or a log-scale bound ≤ 0.
    pub fn validate(&self) -> Result<(), SpecError> {
        let bad = |reason: String| SpecError::Invalid {
            field: format!("factor {}", self.name),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(SpecError::Invalid {
                field: "factor name".into(),
                reason: "must not be empty".into(),
            });
        }
        if !(self.lower.is_finite() && self.upper.is_finite()) {
            return Err(bad(format!(
                "bounds must be finite, got [{}, {}]",
                self.lower, self.upper
            )));
        }
        if self.lower >= self.upper {
            return Err(bad(format!(
                "lower bound {} must be < upper bound {} (empty range)",
                self.lower, self.upper
            )));
        }
        if self.scale == Scale::Log && self.lower <= 0.0 {
            return Err(bad(format!(
                "a log-scale range needs bounds > 0, got lower bound {}",
                self.lower
            )));
        }
        Ok(())
    }
}

/// The method and its sample size.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Method {
    /// Morris elementary effects: `trajectories` trajectories on a `levels`-level grid (even,
    /// ≥ 2; 4 is usual).
    Morris {
        /// Number of trajectories `r` (≥ 2; 10–50 is usual).
        trajectories: usize,
        /// Grid levels `p`.
        levels: usize,
    },
    /// Sobol' first- and total-order indices from `samples` base samples (≥ 16; a power of
    /// two keeps the Sobol' sequence balanced), with second-order indices if asked.
    Sobol {
        /// Number of base samples `N`.
        samples: usize,
        /// Whether to estimate second-order indices (`N · (2d + 2)` evaluations).
        second_order: bool,
    },
}

impl Method {
    /// Morris with `trajectories` trajectories on 4 levels.
    pub fn morris(trajectories: usize) -> Self {
        Method::Morris {
            trajectories,
            levels: 4,
        }
    }

    /// Sobol' first and total order from `samples` base samples.
    pub fn sobol(samples: usize) -> Self {
        Method::Sobol {
            samples,
            second_order: false,
        }
    }

    /// `"morris"` or `"sobol"`.
    pub fn name(&self) -> &'static str {
        match self {
            Method::Morris { .. } => "morris",
            Method::Sobol { .. } => "sobol",
        }
    }

    /// Number of model evaluations for `d` factors.
    pub fn evaluations(&self, d: usize) -> usize {
        match *self {
            Method::Morris { trajectories, .. } => trajectories * (d + 1),
            Method::Sobol {
                samples,
                second_order,
            } => samples * design::sobol_stride(d, second_order),
        }
    }
}

/// What an index measures (the `index` column of the CSV: its [`Display`](std::fmt::Display)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IndexKind {
    /// Morris `μ*`, mean absolute elementary effect (`mu_star`).
    MuStar,
    /// Morris `μ`, mean elementary effect (`mu`).
    Mu,
    /// Morris `σ`, standard deviation of the elementary effects (`sigma`).
    Sigma,
    /// Sobol' first order (`S1`).
    First,
    /// Sobol' total order (`ST`).
    Total,
    /// Sobol' second order (`S2`; the factor column names the pair `a:b`).
    Second,
}

impl std::fmt::Display for IndexKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IndexKind::MuStar => "mu_star",
            IndexKind::Mu => "mu",
            IndexKind::Sigma => "sigma",
            IndexKind::First => "S1",
            IndexKind::Total => "ST",
            IndexKind::Second => "S2",
        })
    }
}

/// One estimated index with its bootstrap interval.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexEstimate {
    /// Quantity name.
    pub quantity: String,
    /// Factor name (`a:b` for a second-order index).
    pub factor: String,
    /// `"morris"` or `"sobol"`.
    pub method: &'static str,
    /// Which index.
    pub index: IndexKind,
    /// Point estimate from all evaluations.
    pub estimate: f64,
    /// Lower end of the percentile bootstrap interval (NaN without bootstrap).
    pub ci_low: f64,
    /// Upper end of the percentile bootstrap interval.
    pub ci_high: f64,
}

/// The result of a study.
#[derive(Debug, Clone, PartialEq)]
pub struct SensitivityResult {
    /// Every index, quantity by quantity, then factor by factor (study order), then index.
    pub indices: Vec<IndexEstimate>,
    /// Number of model evaluations.
    pub evaluations: usize,
    /// Bootstrap resamples behind the intervals.
    pub bootstrap: usize,
    /// Confidence level of the intervals.
    pub confidence: f64,
}

impl SensitivityResult {
    /// The index `index` (its CSV name: `mu_star`, `mu`, `sigma`, `S1`, `ST`, `S2`) of
    /// `factor` on `quantity`.
    pub fn get(&self, quantity: &str, factor: &str, index: &str) -> Option<&IndexEstimate> {
        self.indices
            .iter()
            .find(|e| e.quantity == quantity && e.factor == factor && e.index.to_string() == index)
    }

    /// The factors of `quantity` ranked by `index` (`mu_star` for Morris, `ST` for Sobol'),
    /// largest first (non-finite estimates last): `(factor, estimate)`.
    pub fn ranking(&self, quantity: &str, index: IndexKind) -> Vec<(&str, f64)> {
        let mut v: Vec<(&str, f64)> = self
            .indices
            .iter()
            .filter(|e| e.quantity == quantity && e.index == index)
            .map(|e| (e.factor.as_str(), e.estimate))
            .collect();
        v.sort_by(|a, b| {
            let key = |x: f64| if x.is_finite() { x } else { f64::NEG_INFINITY };
            key(b.1).total_cmp(&key(a.1))
        });
        v
    }

    /// The tidy table `quantity,factor,method,index,estimate,ci_low,ci_high`, one row per
    /// index, numbers in Rust's shortest round-trip form.
    pub fn to_csv_string(&self) -> String {
        let mut s = String::from("quantity,factor,method,index,estimate,ci_low,ci_high\n");
        for e in &self.indices {
            s.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                csv_field(&e.quantity),
                csv_field(&e.factor),
                e.method,
                e.index,
                e.estimate,
                e.ci_low,
                e.ci_high
            ));
        }
        s
    }

    /// The figure data of a tornado chart ([`crate::plot::draw_sensitivity`]): one panel per
    /// quantity, factors ranked by `ST` (Sobol') or `μ*` (Morris), largest on top, with the
    /// series `ST` and `S1` (Sobol') or `μ*` and `σ` (Morris) and their intervals.
    pub fn panels(&self) -> Vec<IndexPanel> {
        let mut quantities: Vec<&str> = Vec::new();
        for e in &self.indices {
            if !quantities.contains(&e.quantity.as_str()) {
                quantities.push(&e.quantity);
            }
        }
        let morris = self.indices.first().is_some_and(|e| e.method == "morris");
        let (kinds, x_label) = if morris {
            (
                [
                    (IndexKind::MuStar, "μ* (mean |elementary effect|)"),
                    (IndexKind::Sigma, "σ (interactions, non-linearity)"),
                ],
                "effect (quantity units per factor range)",
            )
        } else {
            (
                [
                    (IndexKind::Total, "ST (total order)"),
                    (IndexKind::First, "S1 (first order)"),
                ],
                "share of the variance",
            )
        };
        quantities
            .into_iter()
            .map(|q| {
                let factors: Vec<String> = self
                    .ranking(q, kinds[0].0)
                    .into_iter()
                    .map(|(f, _)| f.to_string())
                    .collect();
                let series = kinds
                    .iter()
                    .map(|&(kind, name)| {
                        let found: Vec<Option<&IndexEstimate>> = factors
                            .iter()
                            .map(|f| {
                                self.indices
                                    .iter()
                                    .find(|e| e.quantity == q && &e.factor == f && e.index == kind)
                            })
                            .collect();
                        IndexSeries {
                            name: name.to_string(),
                            estimates: found
                                .iter()
                                .map(|e| e.map_or(f64::NAN, |e| e.estimate))
                                .collect(),
                            intervals: found
                                .iter()
                                .map(|e| e.map_or((f64::NAN, f64::NAN), |e| (e.ci_low, e.ci_high)))
                                .collect(),
                        }
                    })
                    .collect();
                IndexPanel {
                    title: q.to_string(),
                    x_label: x_label.to_string(),
                    factors,
                    series,
                }
            })
            .collect()
    }

    /// Writes [`SensitivityResult::to_csv_string`] to `path` atomically.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn write_csv(&self, path: &std::path::Path) -> Result<(), Error> {
        let text = self.to_csv_string();
        crate::io::atomic::write_atomic(path, |w| w.write_all(text.as_bytes()))
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Model outputs at a slice of the design points.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluations {
    /// Design points covered.
    pub range: Range<usize>,
    /// Quantities at each point, in point order.
    pub outputs: Vec<Vec<f64>>,
}

impl Evaluations {
    /// Merges slices of one design into one. Slices may come in any order but must tile a
    /// contiguous range without gaps or overlaps.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the slice for no slice, an overlap or a gap.
    pub fn merge(mut slices: Vec<Evaluations>) -> Result<Evaluations, Error> {
        slices.sort_by_key(|s| s.range.start);
        let mut it = slices.into_iter();
        let Some(mut acc) = it.next() else {
            return Err(SpecError::Invalid {
                field: "evaluations".into(),
                reason: "no slice to merge".into(),
            }
            .into());
        };
        for s in it {
            if s.range.start != acc.range.end {
                return Err(SpecError::Invalid {
                    field: format!("evaluations {}..{}", s.range.start, s.range.end),
                    reason: if s.range.start < acc.range.end {
                        format!("overlaps points before {}", acc.range.end)
                    } else {
                        format!("gap: points {}..{} missing", acc.range.end, s.range.start)
                    },
                }
                .into());
            }
            acc.range.end = s.range.end;
            acc.outputs.extend(s.outputs);
        }
        Ok(acc)
    }
}

/// A validated sensitivity study: factors, quantities, method, seed and bootstrap settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Study {
    factors: Vec<Factor>,
    quantities: Vec<String>,
    method: Method,
    seed: u64,
    bootstrap: usize,
    confidence: f64,
}

/// Builder for [`Study`]; validated by [`StudyBuilder::build`].
#[derive(Debug, Clone, PartialEq)]
#[must_use]
pub struct StudyBuilder {
    /// The study being described, unchecked until [`StudyBuilder::build`].
    study: Study,
}

impl StudyBuilder {
    /// Adds a factor.
    pub fn factor(mut self, f: Factor) -> Self {
        self.study.factors.push(f);
        self
    }
    /// Adds factors.
    pub fn factors(mut self, f: impl IntoIterator<Item = Factor>) -> Self {
        self.study.factors.extend(f);
        self
    }
    /// Adds a quantity of interest (the next output of the evaluated function).
    pub fn quantity(mut self, name: impl Into<String>) -> Self {
        self.study.quantities.push(name.into());
        self
    }
    /// The method (default: Sobol' with 1,024 base samples).
    pub fn method(mut self, m: Method) -> Self {
        self.study.method = m;
        self
    }
    /// Seed of the design and the bootstrap (default 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.study.seed = seed;
        self
    }
    /// Bootstrap resamples for the intervals (default 1,000; 0 for none).
    pub fn bootstrap(mut self, resamples: usize) -> Self {
        self.study.bootstrap = resamples;
        self
    }
    /// Confidence level of the intervals (default 0.95).
    pub fn confidence(mut self, level: f64) -> Self {
        self.study.confidence = level;
        self
    }

    /// Validates the study.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] naming the factor, quantity or setting and its value: no factor,
    /// an invalid range ([`Factor::validate`]), a repeated factor or quantity, no quantity,
    /// too few samples for the method (fewer than [`MIN_SOBOL_SAMPLES`] Sobol' samples or
    /// [`MIN_MORRIS_TRAJECTORIES`] trajectories), too many (more than [`MAX_SOBOL_SAMPLES`]
    /// samples or [`MAX_SOBOL_FACTORS`] factors for Sobol'), odd or fewer than 2 Morris
    /// levels, second order with one factor, a confidence level outside (0, 1).
    pub fn build(self) -> Result<Study, Error> {
        let invalid = |field: &str, reason: String| -> Error {
            SpecError::Invalid {
                field: field.into(),
                reason,
            }
            .into()
        };
        if self.study.factors.is_empty() {
            return Err(invalid(
                "factors",
                "a study needs at least one factor".into(),
            ));
        }
        for (i, f) in self.study.factors.iter().enumerate() {
            f.validate()?;
            if self.study.factors[..i].iter().any(|g| g.name == f.name) {
                return Err(invalid(&format!("factor {}", f.name), "named twice".into()));
            }
        }
        if self.study.quantities.is_empty() {
            return Err(invalid(
                "quantities",
                "a study needs at least one quantity".into(),
            ));
        }
        for (i, q) in self.study.quantities.iter().enumerate() {
            if self.study.quantities[..i].contains(q) {
                return Err(invalid(&format!("quantity {q}"), "named twice".into()));
            }
        }
        let d = self.study.factors.len();
        match self.study.method {
            Method::Sobol {
                samples,
                second_order,
            } => {
                if samples < MIN_SOBOL_SAMPLES {
                    return Err(invalid(
                        "samples",
                        format!(
                            "Sobol' indices need at least {MIN_SOBOL_SAMPLES} base samples, got {samples}"
                        ),
                    ));
                }
                if samples > MAX_SOBOL_SAMPLES {
                    return Err(invalid(
                        "samples",
                        format!("at most {MAX_SOBOL_SAMPLES} Sobol' base samples, got {samples}"),
                    ));
                }
                if d > MAX_SOBOL_FACTORS {
                    return Err(invalid(
                        "factors",
                        format!(
                            "Sobol' indices take at most {MAX_SOBOL_FACTORS} factors, got {d} (screen them with Morris first)"
                        ),
                    ));
                }
                if second_order && d < 2 {
                    return Err(invalid(
                        "second_order",
                        format!("second-order indices need at least 2 factors, got {d}"),
                    ));
                }
            }
            Method::Morris {
                trajectories,
                levels,
            } => {
                if trajectories < MIN_MORRIS_TRAJECTORIES {
                    return Err(invalid(
                        "samples",
                        format!(
                            "Morris screening needs at least {MIN_MORRIS_TRAJECTORIES} trajectories, got {trajectories}"
                        ),
                    ));
                }
                if levels < 2 || levels % 2 != 0 {
                    return Err(invalid(
                        "levels",
                        format!("Morris levels must be even and >= 2, got {levels}"),
                    ));
                }
            }
        }
        if !(self.study.confidence > 0.0 && self.study.confidence < 1.0) {
            return Err(invalid(
                "confidence",
                format!("must lie in (0, 1), got {}", self.study.confidence),
            ));
        }
        Ok(self.study)
    }
}

/// Progress of an evaluation, passed to a progress callback after each point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Points done.
    pub done: u64,
    /// Points in the run.
    pub total: u64,
}

impl Study {
    /// Starts a builder: no factor, no quantity, Sobol' with 1,024 samples, seed 1, 1,000
    /// bootstrap resamples, 95% intervals.
    pub fn builder() -> StudyBuilder {
        StudyBuilder {
            study: Study {
                factors: Vec::new(),
                quantities: Vec::new(),
                method: Method::sobol(1024),
                seed: 1,
                bootstrap: 1000,
                confidence: 0.95,
            },
        }
    }

    /// The factors.
    pub fn factors(&self) -> &[Factor] {
        &self.factors
    }
    /// The quantities.
    pub fn quantities(&self) -> &[String] {
        &self.quantities
    }
    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }
    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Number of model evaluations the study needs.
    pub fn evaluations(&self) -> usize {
        self.method.evaluations(self.factors.len())
    }

    /// The design: every point, a pure function of the study and its seed.
    pub fn design(&self) -> Design {
        design::generate(&self.factors, &self.method, self.seed)
    }

    /// Evaluates `f` at the design points in `range` (in parallel, collected in point order).
    ///
    /// # Errors
    /// [`SpecError::Invalid`] for a range outside the design; the error of the lowest failing
    /// point (with its index and factor values); [`SpecError::Invalid`] when `f` returns
    /// another number of values than there are quantities.
    pub fn evaluate_range<F>(
        &self,
        design: &Design,
        range: Range<usize>,
        f: F,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<Evaluations, Error>
    where
        F: Fn(&[f64]) -> Result<Vec<f64>, Error> + Sync,
    {
        if range.start > range.end || range.end > design.len() {
            return Err(SpecError::Invalid {
                field: "range".into(),
                reason: format!(
                    "points {}..{} lie outside the design of {} points",
                    range.start,
                    range.end,
                    design.len()
                ),
            }
            .into());
        }
        let done = AtomicU64::new(0);
        let total = range.len() as u64;
        let results: Vec<Result<Vec<f64>, Error>> = design.points[range.clone()]
            .par_iter()
            .map(|x| {
                let y = f(x);
                if let Some(p) = progress {
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    p(Progress { done: n, total });
                }
                y
            })
            .collect();
        let mut outputs = Vec::with_capacity(results.len());
        for (k, r) in results.into_iter().enumerate() {
            let point = range.start + k;
            let y = r.map_err(|e| {
                Error::Input(format!(
                    "design point {point} [{}]: {e}",
                    self.describe_point(&design.points[point])
                ))
            })?;
            if y.len() != self.quantities.len() {
                return Err(SpecError::Invalid {
                    field: format!("design point {point}"),
                    reason: format!(
                        "the function returned {} values for {} quantities",
                        y.len(),
                        self.quantities.len()
                    ),
                }
                .into());
            }
            outputs.push(y);
        }
        Ok(Evaluations { range, outputs })
    }

    fn describe_point(&self, x: &[f64]) -> String {
        self.factors
            .iter()
            .zip(x)
            .map(|(f, v)| format!("{}={v:.6e}", f.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Estimates the indices from the outputs at every design point.
    ///
    /// # Errors
    /// [`SpecError::Invalid`] when `evaluations` does not cover the whole design.
    pub fn analyse(
        &self,
        design: &Design,
        evaluations: &Evaluations,
    ) -> Result<SensitivityResult, Error> {
        let n_points = self.evaluations();
        if evaluations.range != (0..n_points)
            || evaluations.outputs.len() != n_points
            || design.len() != n_points
        {
            return Err(SpecError::Invalid {
                field: "evaluations".into(),
                reason: format!(
                    "cover points {}..{} but the design has {n_points}",
                    evaluations.range.start, evaluations.range.end
                ),
            }
            .into());
        }
        let d = self.factors.len();
        let mut indices = Vec::new();
        for (q, quantity) in self.quantities.iter().enumerate() {
            let y: Vec<f64> = evaluations
                .outputs
                .iter()
                .map(|o| o.get(q).copied().unwrap_or(f64::NAN))
                .collect();
            match self.method {
                Method::Sobol { second_order, .. } => self.analyse_sobol(
                    quantity,
                    &SobolOutputs {
                        y: &y,
                        d,
                        second_order,
                    },
                    &mut indices,
                ),
                Method::Morris { trajectories, .. } => {
                    let ee = elementary_effects(&y, design, d);
                    self.analyse_morris(quantity, &ee, trajectories, &mut indices);
                }
            }
        }
        Ok(SensitivityResult {
            indices,
            evaluations: n_points,
            bootstrap: self.bootstrap,
            confidence: self.confidence,
        })
    }

    fn analyse_sobol(
        &self,
        quantity: &str,
        out: &SobolOutputs<'_>,
        indices: &mut Vec<IndexEstimate>,
    ) {
        let d = self.factors.len();
        let rows = out.finite_rows();
        let point = out.estimate(&rows);
        let boots: Vec<_> = bootstrap_sets(self.seed, self.bootstrap, rows.len())
            .par_iter()
            .map(|set| out.estimate(&set.iter().map(|&k| rows[k]).collect::<Vec<_>>()))
            .collect();
        let mut push = |factor: String, index: IndexKind, estimate: f64, reps: Vec<f64>| {
            let (ci_low, ci_high) = percentile_interval(&reps, self.confidence);
            indices.push(IndexEstimate {
                quantity: quantity.to_string(),
                factor,
                method: "sobol",
                index,
                estimate,
                ci_low,
                ci_high,
            });
        };
        for i in 0..d {
            let name = self.factors[i].name.clone();
            push(
                name.clone(),
                IndexKind::First,
                point.first[i],
                boots.iter().map(|b| b.first[i]).collect(),
            );
            push(
                name,
                IndexKind::Total,
                point.total[i],
                boots.iter().map(|b| b.total[i]).collect(),
            );
        }
        let mut pair = 0;
        for i in 0..d {
            for k in i + 1..d {
                if let Some(&s) = point.second.get(pair) {
                    push(
                        format!("{}:{}", self.factors[i].name, self.factors[k].name),
                        IndexKind::Second,
                        s,
                        boots
                            .iter()
                            .map(|b| b.second.get(pair).copied().unwrap_or(f64::NAN))
                            .collect(),
                    );
                }
                pair += 1;
            }
        }
    }

    fn analyse_morris(
        &self,
        quantity: &str,
        ee: &[Vec<f64>],
        r: usize,
        indices: &mut Vec<IndexEstimate>,
    ) {
        let d = self.factors.len();
        let all: Vec<usize> = (0..r).collect();
        let point = morris_estimate(ee, d, &all);
        let boots: Vec<_> = bootstrap_sets(self.seed, self.bootstrap, r)
            .par_iter()
            .map(|t| morris_estimate(ee, d, t))
            .collect();
        for i in 0..d {
            type Pick = fn(&estimate::MorrisEstimates, usize) -> f64;
            let kinds: [(IndexKind, Pick); 3] = [
                (IndexKind::MuStar, |m, i| m.mu_star[i]),
                (IndexKind::Mu, |m, i| m.mu[i]),
                (IndexKind::Sigma, |m, i| m.sigma[i]),
            ];
            for (index, pick) in kinds {
                let reps: Vec<f64> = boots.iter().map(|b| pick(b, i)).collect();
                let (ci_low, ci_high) = percentile_interval(&reps, self.confidence);
                indices.push(IndexEstimate {
                    quantity: quantity.to_string(),
                    factor: self.factors[i].name.clone(),
                    method: "morris",
                    index,
                    estimate: pick(&point, i),
                    ci_low,
                    ci_high,
                });
            }
        }
    }

    /// Generates the design, evaluates `f` at every point and estimates the indices.
    ///
    /// # Errors
    /// As [`Study::evaluate_range`].
    pub fn run<F>(&self, f: F) -> Result<SensitivityResult, Error>
    where
        F: Fn(&[f64]) -> Result<Vec<f64>, Error> + Sync,
    {
        self.run_with_progress(f, None)
    }

    /// [`Study::run`] with a progress callback, called after each point.
    ///
    /// # Errors
    /// As [`Study::evaluate_range`].
    pub fn run_with_progress<F>(
        &self,
        f: F,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<SensitivityResult, Error>
    where
        F: Fn(&[f64]) -> Result<Vec<f64>, Error> + Sync,
    {
        let design = self.design();
        let ev = self.evaluate_range(&design, 0..design.len(), f, progress)?;
        self.analyse(&design, &ev)
    }
}

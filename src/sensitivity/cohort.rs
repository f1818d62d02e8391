//! The binding to virtual cohorts: factors are typical parameter values or dose amounts,
//! quantities are statistics of endpoints over an inner cohort with common random numbers.

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    Design, Evaluations, Factor, Method, Progress, SensitivityResult, Study, StudyBuilder,
};
use crate::calibrate::Statistic;
use crate::cohort::Cohort;
use crate::error::{Error, SpecError};
use crate::model::Model;
use crate::product::Product;
use crate::regimen::{Amount, Regimen};
use crate::variability::Population;

/// A quantity of interest: a statistic of one endpoint across the inner cohort's patients
/// (those with a finite value; failed patients left out and counted).
///
/// `Quantity::new("crs_grade_ge2", Statistic::Fraction)` is P(CRS ≥ 2);
/// `Quantity::new("b_cell_reappearance_day", Statistic::Quantile(0.5))` the median day of
/// B-cell return among the patients whose B cells return; a patient-level endpoint is the
/// statistic of a one-patient cohort without variability.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    /// Endpoint name (as in [`Model::endpoint_info`]).
    pub endpoint: String,
    /// Statistic across patients.
    pub statistic: Statistic,
}

impl Quantity {
    /// `statistic` of `endpoint`.
    pub fn new(endpoint: impl Into<String>, statistic: Statistic) -> Self {
        Quantity {
            endpoint: endpoint.into(),
            statistic,
        }
    }

    /// Label `endpoint:statistic` (`crs_grade_ge2:fraction`), the quantity's name in results.
    pub fn label(&self) -> String {
        format!("{}:{}", self.endpoint, self.statistic)
    }
}

/// What a factor sets.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    /// The typical value of the parameter at this index (table order).
    Typical(usize),
    /// The amount of every dose of this input, in each dose's own unit.
    Dose(String),
    /// The centre of this covariate's distribution ([`Population::with_center`]).
    Covariate(String),
    /// A numeric attribute of the cohort's product ([`Product::ATTRIBUTES`]).
    Product(String),
}

/// A sensitivity study on a virtual cohort of any [`Model`].
///
/// Factors are named like the model's parameters (their **typical values** vary; each
/// patient keeps their covariates and random effects), `dose:<input>` (the **amount of every
/// dose** of that input, in the unit of the regimen's doses: `dose:car_t` in cells/kg for the
/// Erlangen regimen) or `covariate:<name>` (the **centre of a covariate's distribution**, e.g.
/// `covariate:baseline_b_cells_per_ul` moves the median baseline B-cell count; each patient
/// keeps their draw; [`Population::with_center`]) or `product:<attribute>` (a numeric attribute
/// of the cohort's CAR-T product, [`Product::ATTRIBUTES`]: the product is applied again with the
/// attribute in place, before typical-value factors). Every design point simulates the given cohort — same seed, same patient
/// ids, so the same virtual patients (common random numbers) — with the factor values in
/// place, and reduces its endpoints to the quantities. Records are kept and failed patients
/// are left out of the statistics and counted ([`CohortStudyResult::failed_patients`]),
/// whatever the cohort's failure policy.
///
/// ```
/// use cartsim::calibrate::Statistic;
/// use cartsim::cohort::Cohort;
/// use cartsim::prelude::*;
/// use cartsim::sensitivity::{CohortStudy, Factor, Method, Quantity};
///
/// let cohort = Cohort::builder(SleModel::default()).patients(4).seed(1).build()?;
/// let study = CohortStudy::builder(cohort)
///     .factor(Factor::log("effector_proliferation_per_day", 0.8, 1.6))
///     .factor(Factor::log("dose:car_t", 2e5, 5e6))
///     .quantity(Quantity::new("car_t_peak_cells_per_ul", Statistic::Quantile(0.5)))
///     .method(Method::morris(2))
///     .build()?;
/// let out = study.run()?;
/// assert_eq!(out.cohort_simulations, 2 * 3);
/// assert_eq!(out.patient_solves, 6 * 4);
/// let top = out.result.ranking("car_t_peak_cells_per_ul:q50",
///                              cartsim::sensitivity::IndexKind::MuStar);
/// assert_eq!(top.len(), 2);
/// # Ok::<(), cartsim::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CohortStudy<M: Model<N>, const N: usize> {
    cohort: Cohort<M, N>,
    study: Study,
    targets: Vec<Target>,
    quantities: Vec<Quantity>,
    endpoint_index: Vec<usize>,
}

/// Builder for [`CohortStudy`]; validated by [`CohortStudyBuilder::build`].
#[derive(Debug, Clone)]
#[must_use]
pub struct CohortStudyBuilder<M: Model<N>, const N: usize> {
    cohort: Cohort<M, N>,
    study: StudyBuilder,
    factors: Vec<Factor>,
    quantities: Vec<Quantity>,
}

/// A cohort study's result with its cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CohortStudyResult {
    /// The indices (quantities named by [`Quantity::label`]).
    pub result: SensitivityResult,
    /// Inner cohorts simulated (= model evaluations).
    pub cohort_simulations: u64,
    /// Patients simulated over all inner cohorts.
    pub patient_solves: u64,
    /// Patients that failed over all inner cohorts (left out of the statistics).
    pub failed_patients: u64,
}

impl<M: Model<N> + Clone + Sync, const N: usize> CohortStudy<M, N> {
    /// Starts a builder on `cohort` (its model, population, Ω, regimen, solver, seed and size
    /// make the inner cohort), Sobol' with 1,024 samples, seed 1.
    pub fn builder(cohort: Cohort<M, N>) -> CohortStudyBuilder<M, N> {
        CohortStudyBuilder {
            cohort,
            study: Study::builder(),
            factors: Vec::new(),
            quantities: Vec::new(),
        }
    }

    /// The generic study (factors, quantity labels, method, seed).
    pub fn study(&self) -> &Study {
        &self.study
    }

    /// The inner cohort at the base values.
    pub fn cohort(&self) -> &Cohort<M, N> {
        &self.cohort
    }

    /// The quantities.
    pub fn quantities(&self) -> &[Quantity] {
        &self.quantities
    }

    /// The inner cohort at factor values `x` (study order).
    ///
    /// # Errors
    /// When the model rejects the values.
    pub fn cohort_at(&self, x: &[f64]) -> Result<Cohort<M, N>, Error> {
        // Product attributes first: a product re-derives the typical values.
        let mut product: Option<Product> = None;
        for (t, &v) in self.targets.iter().zip(x) {
            if let Target::Product(name) = t {
                let p = product
                    .get_or_insert_with(|| self.cohort.product().cloned().unwrap_or_default());
                p.set_attribute(name, v);
            }
        }
        let base = match product {
            Some(p) => self.cohort.with_product(p)?,
            None => self.cohort.clone(),
        };
        let mut typical = base.typical_values().to_vec();
        let mut regimen: Option<Regimen> = None;
        let mut population: Option<Population> = None;
        for (t, &v) in self.targets.iter().zip(x) {
            match t {
                Target::Product(_) => {}
                Target::Typical(k) => {
                    if let Some(slot) = typical.get_mut(*k) {
                        *slot = v;
                    }
                }
                Target::Dose(input) => {
                    let base = regimen.as_ref().unwrap_or(self.cohort.regimen());
                    regimen = Some(with_dose_amount(base, input, v)?);
                }
                Target::Covariate(name) => {
                    let base = population.as_ref().unwrap_or(self.cohort.population());
                    population = base.with_center(name, v);
                }
            }
        }
        let mut c = base.with_typical_values(typical)?;
        if let Some(r) = regimen {
            c = c.with_regimen(r)?;
        }
        if let Some(p) = population {
            c = c.with_population(p)?;
        }
        Ok(c)
    }

    /// Simulates the inner cohort at `x` and returns the quantities and the number of failed
    /// patients.
    ///
    /// # Errors
    /// As [`CohortStudy::cohort_at`] and [`Cohort::run`].
    pub fn evaluate(&self, x: &[f64]) -> Result<(Vec<f64>, u64), Error> {
        let result = self.cohort_at(x)?.run()?;
        let values = self
            .quantities
            .iter()
            .zip(&self.endpoint_index)
            .map(|(q, &k)| {
                let v: Vec<f64> = result
                    .records
                    .iter()
                    .filter_map(|r| r.endpoints.get(k).copied())
                    .collect();
                q.statistic.of(&v)
            })
            .collect();
        Ok((values, result.summary.failed))
    }

    /// Simulates the inner cohorts of the design points in `range` only (split a large study
    /// over jobs; [`Evaluations::merge`] the slices and [`Study::analyse`] them with
    /// [`Study::design`]: the same bits as one [`CohortStudy::run`]).
    ///
    /// # Errors
    /// As [`Study::evaluate_range`].
    pub fn evaluate_range(
        &self,
        design: &Design,
        range: Range<usize>,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<Evaluations, Error> {
        self.study
            .evaluate_range(design, range, |x| Ok(self.evaluate(x)?.0), progress)
    }

    /// Runs the study.
    ///
    /// # Errors
    /// The error of the lowest failing design point.
    pub fn run(&self) -> Result<CohortStudyResult, Error> {
        self.run_with_progress(None)
    }

    /// Runs the study with a progress callback, called after each inner cohort.
    ///
    /// # Errors
    /// The error of the lowest failing design point.
    pub fn run_with_progress(
        &self,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<CohortStudyResult, Error> {
        let failed = AtomicU64::new(0);
        let result = self.study.run_with_progress(
            |x| {
                let (v, f) = self.evaluate(x)?;
                failed.fetch_add(f, Ordering::Relaxed);
                Ok(v)
            },
            progress,
        )?;
        let sims = result.evaluations as u64;
        Ok(CohortStudyResult {
            result,
            cohort_simulations: sims,
            patient_solves: sims * self.cohort.n_patients(),
            failed_patients: failed.into_inner(),
        })
    }
}

/// `regimen` with every dose of `input` given `amount` in its own unit.
fn with_dose_amount(regimen: &Regimen, input: &str, amount: f64) -> Result<Regimen, Error> {
    let mut b = Regimen::builder().horizon(regimen.start_day(), regimen.end_day());
    for (i, adj) in regimen.renal_adjustments() {
        b = b.renal_adjustment(i, *adj);
    }
    for d in regimen.doses() {
        let mut d = d.clone();
        if d.input == input {
            d.amount = match d.amount {
                Amount::CellsPerKg(_) => Amount::CellsPerKg(amount),
                Amount::Cells(_) => Amount::Cells(amount),
                Amount::MgPerM2(_) => Amount::MgPerM2(amount),
                Amount::MgPerKg(_) => Amount::MgPerKg(amount),
                Amount::Mg(_) => Amount::Mg(amount),
            };
        }
        b = b.dose(d);
    }
    Ok(b.build()?)
}

impl<M: Model<N> + Clone + Sync, const N: usize> CohortStudyBuilder<M, N> {
    /// Adds a factor: a parameter name (its typical value), `dose:<input>` or
    /// `covariate:<name>`.
    pub fn factor(mut self, f: Factor) -> Self {
        self.factors.push(f);
        self
    }
    /// Adds factors.
    pub fn factors(mut self, f: impl IntoIterator<Item = Factor>) -> Self {
        self.factors.extend(f);
        self
    }
    /// Adds a quantity.
    pub fn quantity(mut self, q: Quantity) -> Self {
        self.quantities.push(q);
        self
    }
    /// The method (default: Sobol' with 1,024 base samples).
    pub fn method(mut self, m: Method) -> Self {
        self.study = self.study.method(m);
        self
    }
    /// Seed of the design and the bootstrap (default 1; the inner cohort keeps its own seed).
    pub fn seed(mut self, seed: u64) -> Self {
        self.study = self.study.seed(seed);
        self
    }
    /// Bootstrap resamples (default 1,000).
    pub fn bootstrap(mut self, resamples: usize) -> Self {
        self.study = self.study.bootstrap(resamples);
        self
    }
    /// Confidence level of the intervals (default 0.95).
    pub fn confidence(mut self, level: f64) -> Self {
        self.study = self.study.confidence(level);
        self
    }

    /// Validates the study against the cohort's model and regimen.
    ///
    /// # Errors
    /// As [`StudyBuilder::build`], and [`SpecError::Invalid`] naming the factor or quantity:
    /// an unknown factor (neither a parameter of the model, nor `dose:<input>` of an input the
    /// regimen doses, nor `covariate:<name>` of [`Population::COVARIATES`]), a parameter range
    /// outside the parameter's bounds, a dose range not > 0, a covariate range that makes the
    /// population invalid,
    /// an unknown endpoint, a quantile outside (0, 1).
    pub fn build(self) -> Result<CohortStudy<M, N>, Error> {
        let cohort = self.cohort.for_endpoint_statistics();
        let model = cohort.model();
        let bad = |field: String, reason: String| -> Error {
            SpecError::Invalid { field, reason }.into()
        };
        let mut targets = Vec::with_capacity(self.factors.len());
        for f in &self.factors {
            f.validate()?;
            let field = format!("factor {}", f.name);
            if let Some(attribute) = f.name.strip_prefix("product:") {
                let base = cohort.product().cloned().unwrap_or_default();
                for v in [f.lower, f.upper] {
                    let mut p = base.clone();
                    if !p.set_attribute(attribute, v) {
                        return Err(bad(
                            field,
                            format!(
                                "unknown product attribute `{attribute}` (known: {})",
                                Product::ATTRIBUTES.join(", ")
                            ),
                        ));
                    }
                    if let Err(e) = p.validate() {
                        return Err(bad(field, format!("at {v}: {e}")));
                    }
                    cohort.with_product(p)?;
                }
                targets.push(Target::Product(attribute.to_string()));
            } else if let Some(covariate) = f.name.strip_prefix("covariate:") {
                for v in [f.lower, f.upper] {
                    let Some(p) = cohort.population().with_center(covariate, v) else {
                        return Err(bad(
                            field,
                            format!(
                                "unknown covariate `{covariate}` (known: {})",
                                Population::COVARIATES.join(", ")
                            ),
                        ));
                    };
                    if let Err(SpecError::Invalid { reason, .. }) = p.validate() {
                        return Err(bad(field, format!("at {v}: {reason}")));
                    }
                }
                targets.push(Target::Covariate(covariate.to_string()));
            } else if let Some(input) = f.name.strip_prefix("dose:") {
                if !model.inputs().iter().any(|i| i.name == input) {
                    let known: Vec<&str> = model.inputs().iter().map(|i| i.name).collect();
                    return Err(bad(
                        field,
                        format!(
                            "unknown dose input `{input}` for model `{}` (known: {})",
                            model.name(),
                            known.join(", ")
                        ),
                    ));
                }
                if !cohort.regimen().doses().iter().any(|d| d.input == input) {
                    return Err(bad(
                        field,
                        format!("the regimen has no dose of `{input}` to vary"),
                    ));
                }
                if f.lower <= 0.0 {
                    return Err(bad(
                        field,
                        format!("dose amounts must be > 0, got lower bound {}", f.lower),
                    ));
                }
                targets.push(Target::Dose(input.to_string()));
            } else {
                let Some(k) = model.parameters().iter().position(|p| p.name == f.name) else {
                    return Err(bad(
                        field,
                        format!(
                            "unknown factor: neither a parameter of model `{}`, nor `dose:<input>`, nor `covariate:<name>`, nor `product:<attribute>`",
                            model.name()
                        ),
                    ));
                };
                let p = &model.parameters()[k];
                for (which, v) in [("lower", f.lower), ("upper", f.upper)] {
                    if v < p.lower || v > p.upper {
                        return Err(bad(
                            field,
                            format!(
                                "{which} bound {v} lies outside the parameter's bounds [{}, {}]",
                                p.lower, p.upper
                            ),
                        ));
                    }
                }
                targets.push(Target::Typical(k));
            }
        }
        let mut endpoint_index = Vec::with_capacity(self.quantities.len());
        for q in &self.quantities {
            let field = format!("quantity {}", q.label());
            let Some(k) = model
                .endpoint_info()
                .iter()
                .position(|e| e.name == q.endpoint)
            else {
                return Err(bad(
                    field,
                    format!(
                        "unknown endpoint `{}` for model `{}`",
                        q.endpoint,
                        model.name()
                    ),
                ));
            };
            if let Statistic::Quantile(p) = q.statistic {
                if !(p > 0.0 && p < 1.0) {
                    return Err(bad(field, format!("quantile must lie in (0, 1), got {p}")));
                }
            }
            endpoint_index.push(k);
        }
        let study = self
            .study
            .factors(self.factors)
            .build_with_quantities(self.quantities.iter().map(Quantity::label))?;
        Ok(CohortStudy {
            cohort,
            study,
            targets,
            quantities: self.quantities,
            endpoint_index,
        })
    }
}

impl StudyBuilder {
    fn build_with_quantities(
        mut self,
        labels: impl Iterator<Item = String>,
    ) -> Result<Study, Error> {
        for l in labels {
            self = self.quantity(l);
        }
        self.build()
    }
}
